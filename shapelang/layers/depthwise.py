"""`depthwiseconv` — one window per input channel (times a depth multiplier), channels last.

    depthwiseconv k=3 s=2 pad=same bias=false
    depthwiseconv k=3 multiplier=2 relu

Parameters: kh·kw·C·multiplier + C·multiplier (bias).
MACs: out_h·out_w·C·multiplier·kh·kw. Keras: `DepthwiseConv2D` (1D too).
"""
import sympy

from ..diagnostics import error
from .base import Boolean, Integer, LayerKind, Opt, product
from .window import CONVOLUTION_OPTIONS, window


class DepthwiseConv(LayerKind):
    op = "depthwiseconv"
    doc = __doc__
    takes_activation = True
    options = (
        *CONVOLUTION_OPTIONS,
        Opt("multiplier", Integer(1), sympy.Integer(1), doc="outputs per input channel",
            aliases=("depth_multiplier",)),
        Opt("bias", Boolean(), True, aliases=("use_bias",)),
    )

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        if len(shape) - 1 == 3:
            raise error("SL304", "depthwiseconv works on 1 or 2 spatial axes (Keras has no 3D "
                        "depthwise convolution)", a.layer.span)
        sizes, a.geometry = window(a, shape, a.kernel, a.stride, a.dilation, a.padding, ctx)
        return sizes + (shape[-1] * a.multiplier,)

    def parameters(self, a, shapes, out):
        channels = shapes[0][-1] * a.multiplier
        return (product(a.geometry.kernel) * channels + (channels if a.bias else 0), sympy.Integer(0))

    def macs(self, a, shapes, out):
        return product(out) * product(a.geometry.kernel)
