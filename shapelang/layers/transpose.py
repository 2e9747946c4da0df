"""`transpose` — permutes the non-batch axes.

    transpose [1, 0, 2]               # [H, W, C] → [W, H, C]
    transpose [2, 0, 1]               # [H, W, C] → [C, H, W]

(`transpose [1, 0]` swaps a sequence's axes: [T, D] → [D, T].)

The permutation lists every non-batch axis once (axis 0 is the first after the batch axis):
the output's axis i is the input's axis perm[i]. Integer ids stay ids. No parameters; MACs 0.
Keras: `Permute` (whose axes count from 1).
"""
from ..diagnostics import error
from ..expr import show
from .base import LayerKind, Opt, OptionType


class _Permutation(OptionType):
    describe = "a permutation of the axes `[1, 0]`"

    def convert(self, value, span, what):
        if not isinstance(value, list) or not all(
                getattr(v, "is_Integer", False) for v in value):
            raise error("SL204", f"{what} must be a list of axes such as [1, 0], got "
                        f"{show(value)}", span)
        return tuple(int(v) for v in value)


class Transpose(LayerKind):
    op = "transpose"
    doc = __doc__
    moves_elements = True
    positional = (Opt("perm", _Permutation(), aliases=("dims",),
                      doc="the input axis each output axis is"),)

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        if sorted(a.perm) != list(range(len(shape))):
            raise error("SL209", f"`transpose {list(a.perm)}` must list each of the input's "
                        f"{len(shape)} axes (0 … {len(shape) - 1}) once", a.span("perm"),
                        f"the input is {list(shape)}; the batch axis is not counted")
        return tuple(shape[i] for i in a.perm)
