"""`input` — one example's shape, channels last; the batch axis is implicit. First, once.

    input [H, W, 3]
"""
from .base import LayerKind, Opt, ShapeList


class Input(LayerKind):
    op = "input"
    doc = __doc__
    inputs = 0
    positional = (Opt("shape", ShapeList()),)

    def output_shape(self, a, shapes, ctx):
        return a.shape
