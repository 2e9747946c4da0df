"""`add`, `multiply` and `concat` — merge two or more tensors.

    add @shortcut                     # the previous line's output + shortcut
    add @a @b @c
    multiply @gate
    concat @left @right               # along the channels (axis=-1)
    concat @a @b axis=1

`add` and `multiply` need equal shapes; `concat` needs equal shapes on every axis but the one
it joins. With unbound parameters, shapes proven equal for every valid value pass; shapes equal
for some values only are an error that states the condition (e.g. `H ≡ 0 (mod 2)`, or
`H ∈ {1, 2}`), which `--set` values satisfying it lift; where the budget cannot decide, a
warning says so (`check --strict` fails on it). No parameters; MACs 0.
"""
import sympy

from ..diagnostics import error
from .base import Integer, LayerKind, Opt


class _Elementwise(LayerKind):
    inputs = -1

    def output_shape(self, a, shapes, ctx):
        ctx.require_equal(shapes, range(max(len(s) for s in shapes)), self.op, a.layer)
        return shapes[0]


class Add(_Elementwise):
    op = "add"
    doc = __doc__


class Multiply(_Elementwise):
    op = "multiply"
    doc = __doc__


class Concat(LayerKind):
    op = "concat"
    doc = __doc__
    inputs = -1
    options = (Opt("axis", Integer(), sympy.Integer(-1), doc="the axis joined; -1: channels"),)

    def output_shape(self, a, shapes, ctx):
        rank = len(shapes[0])
        axis = int(a.axis)
        if not -rank <= axis < rank:
            raise error("SL209", f"concat axis {axis} is outside a rank-{rank} tensor "
                        f"(axes 0 … {rank - 1}, or −1 … −{rank})", a.span("axis"))
        axis %= rank
        others = [i for i in range(rank) if i != axis]
        ctx.require_equal(shapes, others, self.op, a.layer)
        joined = sum((s[axis] for s in shapes), sympy.Integer(0))
        return tuple(joined if i == axis else shapes[0][i] for i in range(rank))
