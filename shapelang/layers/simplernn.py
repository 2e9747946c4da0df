"""`simplernn` — Keras's `SimpleRNN` (tanh): h = tanh(x·W + h·U + b), on a sequence [T, D].

    simplernn 32                          # [20, 8] → [32]: the last step's output
    simplernn 32 return_sequences=true    # [20, 8] → [20, 32]
    simplernn 16 bidirectional=concat     # [20, 8] → [32]

Parameters: U·(D + U) + U (Keras); PyTorch's `nn.RNN` holds two bias vectors, U·(D + U) + 2U.
Twice that with `bidirectional`. MACs: T·U·(D + U) per direction.
"""
from typing import ClassVar

from .base import KERAS, TORCH
from .recurrent import Recurrent


class SimpleRNN(Recurrent):
    op = "simplernn"
    doc = __doc__
    classes: ClassVar[dict] = {KERAS: "SimpleRNN", TORCH: "RNN"}
    gates = 1
