"""`sepconv` — a separable convolution: depthwise (per channel) then pointwise (1×1).

    sepconv 128 k=3 pad=same relu
    sepconv 64 k=3 s=2 multiplier=2 bias=false

Parameters: kh·kw·C·multiplier + C·multiplier·filters + filters (bias).
MACs: out_h·out_w·(C·multiplier·kh·kw + C·multiplier·filters). Keras: `SeparableConv2D`.
"""
import sympy

from ..diagnostics import error
from .base import Boolean, Integer, LayerKind, Opt, product
from .window import CONVOLUTION_OPTIONS, window


class SepConv(LayerKind):
    op = "sepconv"
    doc = __doc__
    takes_activation = True
    positional = (Opt("filters", Integer(1)),)
    options = (
        *CONVOLUTION_OPTIONS,
        Opt("multiplier", Integer(1), sympy.Integer(1), aliases=("depth_multiplier",)),
        Opt("bias", Boolean(), True, aliases=("use_bias",)),
    )

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        if len(shape) - 1 == 3:
            raise error("SL304", "sepconv works on 1 or 2 spatial axes", a.layer.span)
        sizes, a.geometry = window(a, shape, a.kernel, a.stride, a.dilation, a.padding, ctx)
        return sizes + (a.filters,)

    def parameters(self, a, shapes, out):
        middle = shapes[0][-1] * a.multiplier
        weights = product(a.geometry.kernel) * middle + middle * a.filters
        return (weights + (a.filters if a.bias else 0), sympy.Integer(0))

    def macs(self, a, shapes, out):
        middle = shapes[0][-1] * a.multiplier
        return product(out[:-1]) * (middle * product(a.geometry.kernel) + middle * a.filters)
