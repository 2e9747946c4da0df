"""`flatten` — all axes of one example into a vector.

    flatten                           # 6×6×256 → [9216]
"""
from .base import LayerKind, product


class Flatten(LayerKind):
    op = "flatten"
    doc = __doc__

    def output_shape(self, a, shapes, ctx):
        return (product(shapes[0]),)
