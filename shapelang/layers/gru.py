"""`gru` — Keras's `GRU` (gates z, r, h), on a sequence [T, D].

    gru 32                                # [20, 8] → [32]: the last step's output
    gru 32 return_sequences=true          # [20, 8] → [20, 32]
    gru 32 reset_after=false              # the reset gate before the recurrent product
    gru 32 bidirectional=ave              # [20, 8] → [32]

`reset_after=true` (Keras 3's default, and PyTorch's `nn.GRU`) applies the reset gate after
the recurrent kernel's product and keeps two bias vectors: 3·(U·(D + U) + 2U) in both
frameworks. `reset_after=false` (the original GRU) keeps one: 3·(U·(D + U) + U); PyTorch has no
such layer, and the generated program defines it (`GRUResetBefore`), with Keras's one bias.
Twice that with `bidirectional`. MACs: T·3·U·(D + U) per direction.
"""
from typing import ClassVar

from .base import KERAS, TORCH, Boolean, Opt
from .recurrent import Recurrent


class GRU(Recurrent):
    op = "gru"
    doc = __doc__
    classes: ClassVar[dict] = {KERAS: "GRU", TORCH: "GRU"}
    gates = 3
    options = (*Recurrent.options,
               Opt("reset_after", Boolean(), True,
                   doc="the reset gate after the recurrent product (Keras 3, PyTorch)"))

    def bias_vectors(self, a, convention):
        if not a.reset_after:
            return 1  # Keras's, and the generated PyTorch program's own module
        return 2
