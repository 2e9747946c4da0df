"""`upsample` — repeats rows and columns (nearest) or interpolates (bilinear).

    upsample 2                        # 14×14×256 → 28×28×256
    upsample (2, 3) interpolation=bilinear

No parameters; MACs 0. Keras: `UpSampling2D` (`UpSampling1D`, `UpSampling3D`: nearest only).
"""
import sympy

from .base import Choice, IntegerOrTuple, LayerKind, Opt, per_axis
from .window import spatial_rank


class Upsample(LayerKind):
    op = "upsample"
    doc = __doc__
    positional = (Opt("size", IntegerOrTuple(1), sympy.Integer(2)),)
    options = (Opt("interpolation", Choice("nearest", "bilinear"), "nearest"),)

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        rank = spatial_rank(a, shape, self.op)
        size = per_axis(a.size, rank, a.span("size"), "upsample size")
        a.factors = size
        return tuple(n * f for n, f in zip(shape[:-1], size)) + (shape[-1],)
