"""`lstm` — Keras's `LSTM` (gates i, f, c, o; tanh and sigmoid), on a sequence [T, D].

    lstm 64                               # [20, 128] → [64]: the last step's output
    lstm 64 return_sequences=true         # [20, 128] → [20, 64]
    lstm 64 bidirectional=concat          # [20, 128] → [128] (Keras's Bidirectional)
    lstm 64 bidirectional=sum bias=false  # [20, 128] → [64]

Parameters: 4·(U·(D + U) + U) (Keras); PyTorch's `nn.LSTM` holds two bias vectors,
4·(U·(D + U) + 2U) (`table --backend torch`). Twice that with `bidirectional`.
MACs: T·4·U·(D + U) per direction.
"""
from typing import ClassVar

from .base import KERAS, TORCH
from .recurrent import Recurrent


class LSTM(Recurrent):
    op = "lstm"
    doc = __doc__
    classes: ClassVar[dict] = {KERAS: "LSTM", TORCH: "LSTM"}
    gates = 4
