"""`take` — one position along a non-batch axis, which disappears.

    take 0                            # [197, 768] → [768]: ViT's class token
    take (-1) axis=0                  # the last position
    take 2 axis=1                     # [8, 8, 16] → [8, 16]

Negative indices count from the end, as in Python (in parentheses: `take (-1)`). The index must lie on the axis: with a
bound size an error stating the condition, with an unbound one a condition of the valid
domain (`take 4` on [T, D]: T ≥ 5). Integer ids stay ids. No parameters; MACs 0.
"""
from ..diagnostics import error
from .base import Integer, LayerKind, Opt, axis_of, require_within, sign_of


class Take(LayerKind):
    op = "take"
    doc = __doc__
    moves_elements = True
    positional = (Opt("index", Integer(), doc="the position taken; negative from the end"),)
    options = (Opt("axis", Integer(), 0, doc="the non-batch axis it is taken along"),)

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        axis = axis_of(a.axis, len(shape), a.span("axis"), self.op)
        if len(shape) == 1:
            raise error("SL304", f"`take` of a vector {list(shape)} leaves no axis",
                        a.layer.span, "keep the position with `slice I I+1`")
        size = shape[axis]
        what = f"`take {f'({a.index})' if a.index.is_negative else a.index}`"
        if sign_of(a.index, a.span("index"), what):
            require_within(ctx, size, -a.index, None, a.layer, what, f"size ≥ {-a.index}")
        else:
            require_within(ctx, size, a.index + 1, None, a.layer, what,
                           f"size ≥ {a.index + 1}")
        return shape[:axis] + shape[axis + 1:]
