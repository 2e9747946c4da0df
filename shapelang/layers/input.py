"""`input` — one example's shape, channels last; the batch axis is implicit. First, once.

    input [H, W, 3]
    input [128] dtype=int32           # 128 token ids: read by `embedding`

`dtype` is `float32` (the default), `int32` or `int64`. An integer input holds ids: a layer
with parameters other than `embedding` reading it is an error (embed them first).
"""
from .base import Choice, LayerKind, Opt, ShapeList

DTYPES = ("float32", "int32", "int64")


class Input(LayerKind):
    op = "input"
    doc = __doc__
    inputs = 0
    positional = (Opt("shape", ShapeList()),)
    options = (Opt("dtype", Choice(*DTYPES), "float32", doc="the element type of the input"),)

    def output_shape(self, a, shapes, ctx):
        return a.shape
