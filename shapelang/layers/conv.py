"""`conv` — a convolution over 1 to 3 spatial axes, channels last.

    conv 96 k=11 s=4 relu             # 227×227×3 → 55×55×96, 34,944 parameters
    conv 256 k=5 pad=same relu        # keeps the spatial size
    conv 64 k=(3, 5) pad=1 d=2 groups=4 bias=false

The spatial axes are every axis but the last: on a sequence `[T, C]` it is a 1-D convolution
over the positions (Keras `Conv1D`, PyTorch `Conv1d`; examples/text_cnn.net): `conv 128 k=7
s=3` maps `[500, 128]` to `[165, 128]`.

Parameters: kh·kw·(C_in/groups)·filters + filters (bias).
MACs: out_h·out_w·filters·kh·kw·C_in/groups (bias additions not counted).
Keras: `ConvND`; explicit padding becomes `ZeroPaddingND` followed by a `valid` convolution.
"""
import sympy

from ..diagnostics import error
from .base import Boolean, Integer, LayerKind, Opt, product
from .window import CONVOLUTION_OPTIONS, as_tuple, window


class Conv(LayerKind):
    op = "conv"
    doc = __doc__
    takes_activation = True
    positional = (Opt("filters", Integer(1), doc="output channels"),)
    options = (
        *CONVOLUTION_OPTIONS,
        Opt("groups", Integer(1), sympy.Integer(1)),
        Opt("bias", Boolean(), True, aliases=("use_bias",)),
    )

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        channels = shape[-1]
        for what, count in (("input channels", channels), ("filters", a.filters)):
            if a.groups != 1 and sympy.Mod(count, a.groups).is_zero is False:
                raise error("SL303", f"groups={a.groups} does not divide the {count} {what}",
                            a.span("groups"), f"use a divisor of {count}")
        if any(s != 1 for s in as_tuple(a.stride, 1)) and any(d != 1 for d in as_tuple(a.dilation, 1)):
            raise error("SL209", "a convolution cannot have both a stride and a dilation above 1"
                        " (TensorFlow / Keras refuse it)", a.span("dilation"),
                        "use s=1 with the dilation, then pool or stride in a separate layer")
        sizes, a.geometry = window(a, shape, a.kernel, a.stride, a.dilation, a.padding, ctx)
        return sizes + (a.filters,)

    def parameters(self, a, shapes, out):
        weights = product(a.geometry.kernel) * shapes[0][-1] / a.groups * a.filters
        return (weights + (a.filters if a.bias else 0), sympy.Integer(0))

    def macs(self, a, shapes, out):
        return product(out) * product(a.geometry.kernel) * shapes[0][-1] / a.groups
