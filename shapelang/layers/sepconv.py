"""`sepconv` — a separable convolution: depthwise (per channel) then pointwise (1×1).

    sepconv 128 k=3 pad=same relu
    sepconv 64 k=3 s=2 multiplier=2 bias=false

Parameters: kh·kw·C·multiplier + C·multiplier·filters + filters (bias).
MACs: out_h·out_w·(C·multiplier·kh·kw + C·multiplier·filters). Keras: `SeparableConv2D`.
"""
import sympy

from ..diagnostics import error
from .base import Boolean, Integer, KerasLayer, LayerKind, Opt, product
from .window import CONVOLUTION_OPTIONS, as_tuple, padding_layer, window


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

    def keras(self, a, shapes, out, ctx):
        rank = len(out) - 1
        calls, padding = padding_layer(a, rank)
        strides = as_tuple(a.stride, rank)
        kwargs = {"filters": a.filters, "kernel_size": a.geometry.kernel, "strides": strides,
                  "padding": padding}
        if a.multiplier != 1:
            kwargs["depth_multiplier"] = a.multiplier
        dilation = as_tuple(a.dilation, rank)
        if any(d != 1 for d in dilation):
            kwargs["dilation_rate"] = dilation
        if not a.bias:
            kwargs["use_bias"] = False
        if a.activation:
            kwargs["activation"] = a.activation
        return calls + [KerasLayer(f"SeparableConv{rank}D", kwargs)]
