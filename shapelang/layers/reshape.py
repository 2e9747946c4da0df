"""`reshape` — the same elements in another shape; one dimension may be -1 (inferred).

    reshape [7, 7, 64]                # [3136] → [7, 7, 64]
    reshape [-1, 16]

The element count must be equal: [3136] → [7, 7, 65] is an error showing both counts. With
unbound parameters the inferred dimension must be an integer for every value of them
(`reshape [H ** 2, -1]` of [H, W, 3] infers 3*W/H: an error stating when it is one).
No parameters; MACs 0. Keras: `Reshape`.
"""
import sympy

from ..diagnostics import error
from ..expr import require_integer, show
from .base import LayerKind, Opt, OptionType, check_rank, product


class _Target(OptionType):
    describe = "a shape `[d1, d2, …]`, one of which may be -1"

    def convert(self, value, span, what):
        if not isinstance(value, list) or not value:
            raise error("SL204", f"{what} must be a shape such as [7, 7, 64], got {show(value)}",
                        span)
        check_rank(value, span, what)
        dims = tuple(require_integer(v, span, f"{what}'s dimension") for v in value)
        inferred = [d for d in dims if d == -1]
        if len(inferred) > 1 or any(d.is_number and d < 1 and d != -1 for d in dims):
            raise error("SL209", f"{what} dimensions must be ≥ 1, with at most one -1, got "
                        f"{show(list(dims))}", span)
        return dims


class Reshape(LayerKind):
    op = "reshape"
    doc = __doc__
    positional = (Opt("shape", _Target(), aliases=("target_shape",)),)
    moves_elements = True

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        count = product(shape)
        known = product(d for d in a.shape if d != -1)
        if -1 in a.shape:
            inferred = count / known
            if inferred.is_integer is False:
                raise error("SL311", f"reshape cannot infer -1: {count} elements are not a "
                            f"multiple of {known}", a.span("shape"))
            if inferred.free_symbols:
                ctx.require_divisible(count, known, a.layer, a.span("shape"))
            target = tuple(inferred if d == -1 else d for d in a.shape)
        else:
            target = a.shape
            if sympy.expand(product(target) - count) != 0:
                raise error("SL311", f"reshape to {show(list(target))} ({product(target)} "
                            f"elements) from {show(list(shape))} ({count} elements): the counts "
                            "must be equal", a.span("shape"),
                            "write one dimension as -1 to have it inferred")
        return target
