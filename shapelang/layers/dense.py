"""`dense` — a fully connected layer on a vector.

    dense 4096 tanh                   # [9216] → [4096], 37,752,832 parameters
    dense classes softmax
    dense 10 bias=false
    dense 64 last_axis=true           # [49, 128] → [49, 64]: the same weights at every position

On a vector only, unless `last_axis=true` applies it to the last axis of a larger tensor (as
Keras's `Dense` does): a tensor that reaches `dense` by mistake is an error, not a surprise.
Parameters: in·units + units (bias), `in` the last axis. MACs: in·units per position.

`tie=LABEL` (GPT-2's head: `dense 50257 tie=wte bias=false`, [T, 768] → [T, 50257] with 0
parameters) reuses the matrix of the `embedding` line LABEL, transposed (weight tying): LABEL must be
among the layers that compute the input, units its vocabulary and the input's last axis its
width; the layer maps the last axis of
any input (a tied head maps every position) and owns no weights but its bias, so the matrix
is counted once, at the embedding (`table` notes the tie on the dense layer's row).
"""
import sympy

from ..diagnostics import error
from .base import Boolean, Integer, Label, LayerKind, Opt, product


class Dense(LayerKind):
    op = "dense"
    doc = __doc__
    takes_activation = True
    positional = (Opt("units", Integer(1)),)
    options = (Opt("bias", Boolean(), True, aliases=("use_bias",)),
               Opt("last_axis", Boolean(), False),
               Opt("tie", Label(), None, doc="the `embedding` line whose matrix it reuses"))

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        if a.last_axis or a.tie is not None:
            return shape[:-1] + (a.units,)
        if len(shape) != 1:
            shown = ", ".join(str(d) for d in shape)
            raise error("SL301", f"dense expects a vector, got [{shown}]", a.layer.span,
                        "insert `flatten` (or `globalavgpool`) before this layer")
        return (a.units,)

    def parameters(self, a, shapes, out):
        if a.tie is not None:
            return (a.units if a.bias else sympy.Integer(0), sympy.Integer(0))
        return (shapes[0][-1] * a.units + (a.units if a.bias else 0), sympy.Integer(0))

    def macs(self, a, shapes, out):
        return product(shapes[0]) * a.units
