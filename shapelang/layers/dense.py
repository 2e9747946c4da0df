"""`dense` — a fully connected layer on a vector.

    dense 4096 tanh                   # [9216] → [4096], 37,752,832 parameters
    dense classes softmax
    dense 10 bias=false

Parameters: in·units + units (bias). MACs: in·units.
"""
from ..diagnostics import error
from .base import Boolean, Integer, KerasLayer, LayerKind, Opt

import sympy


class Dense(LayerKind):
    op = "dense"
    doc = __doc__
    takes_activation = True
    positional = (Opt("units", Integer(1)),)
    options = (Opt("bias", Boolean(), True),)

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        if len(shape) != 1:
            shown = ", ".join(str(d) for d in shape)
            raise error("SL301", f"dense expects a vector, got [{shown}]", a.layer.span,
                        "insert `flatten` (or `globalavgpool`) before this layer")
        return (a.units,)

    def parameters(self, a, shapes, out):
        return (shapes[0][0] * a.units + (a.units if a.bias else 0), sympy.Integer(0))

    def macs(self, a, shapes, out):
        return shapes[0][0] * a.units

    def keras(self, a, shapes, out, ctx):
        kwargs = {"units": a.units}
        if not a.bias:
            kwargs["use_bias"] = False
        if a.activation:
            kwargs["activation"] = a.activation
        return [KerasLayer("Dense", kwargs)]
