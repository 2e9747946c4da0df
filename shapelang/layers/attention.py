"""`mha` — multi-head attention over sequences `[T, D]`, as Keras's `MultiHeadAttention`.

    mha 8                             # self-attention: [T, 64] → [T, 64], 16,640 parameters
    mha 8 causal=true                 # position i attends to positions 0 … i only
    mha 8 @memory                     # cross-attention: queries from the previous line, keys
                                      # and values from `memory` (of any length and width)
    mha 4 @a @b key_dim=16 value_dim=8 dropout=0.1 bias=false

Reads a query `[Tq, Dq]` (the previous line's output, or the first `@x` of two) and a memory
`[Tk, Dm]` of keys and values (the query itself unless named): heads `h`, each with a key size
`kd` (`key_dim`, default Dq/h — h must divide Dq, for every valid value of unbound sizes) and
a value size `vd` (`value_dim`, default kd). Output: `[Tq, Dq]` (the output projection maps
back to the query's width). `causal=true`: query position i attends to key positions 0 … i
(Keras's lower-triangular mask over (query, key) positions, also where Tq ≠ Tk; PyTorch's
`is_causal` is the same). `dropout`: on the attention weights, in training.

Parameters (Keras's): the query, key and value projections and the output projection, each
with a bias unless `bias=false`:
Dq·h·kd + Dm·h·kd + Dm·h·vd + h·vd·Dq, plus biases 2·h·kd + h·vd + Dq.
MACs: the projections Tq·Dq·h·kd + Tk·Dm·h·(kd + vd) + Tq·h·vd·Dq, plus the attention itself:
QKᵀ h·Tq·Tk·kd and the weighted values h·Tq·Tk·vd (softmax and scaling not counted; a causal
mask counts the full products, as a dense kernel computes them).
"""
import sympy

from ..diagnostics import error
from ..expr import show
from .base import Boolean, Integer, LayerKind, Number, Opt


class MultiHeadAttention(LayerKind):
    op = "mha"
    doc = __doc__
    inputs = 2
    positional = (Opt("heads", Integer(1), aliases=("num_heads",)),)
    options = (
        Opt("key_dim", Integer(1), None, doc="each head's query and key size; default D/heads"),
        Opt("value_dim", Integer(1), None, doc="each head's value size; default key_dim"),
        Opt("dropout", Number(0, 1), sympy.Integer(0), doc="on the attention weights"),
        Opt("causal", Boolean(), False, aliases=("use_causal_mask",),
            doc="each position attends to itself and the positions before it"),
        Opt("bias", Boolean(), True, aliases=("use_bias",)),
    )

    def output_shape(self, a, shapes, ctx):
        for what, shape in zip(("query", "memory"), (shapes[0], shapes[-1])):
            if len(shape) != 2:
                raise error("SL304", f"`mha` attends over sequences [T, D]; its {what} is "
                            f"{show(list(shape))}", a.layer.span,
                            "reshape it to [positions, features] first")
        if a.key_dim is None:
            self._check_heads_divide(a, shapes[0][-1], ctx)
        return shapes[0]

    @staticmethod
    def _check_heads_divide(a, width, ctx):
        heads = a.heads
        if width.is_number and heads.is_number:
            if width % heads:
                divisors = [d for d in range(1, int(width) + 1) if width % d == 0]
                nearest = sorted(divisors, key=lambda d: (abs(d - int(heads)), d))[:2]
                raise error("SL314", f"`mha` with {heads} heads cannot split the query's "
                            f"{width} features evenly (key_dim defaults to the width over the "
                            f"heads, {width}/{heads})", a.span("heads"),
                            f"use a number of heads that divides {width} "
                            f"({' or '.join(map(str, sorted(nearest)))}), or set `key_dim`")
            return
        verdict, condition = ctx.divides(width, heads)
        if verdict == "always":
            return
        when = ("for no value of the parameters" if verdict == "never" else
                f"only when {condition}" if verdict == "sometimes" else
                f"— undecided for every value of the parameters ({condition})")
        raise error("SL314", f"`mha` gives each of its {show(heads)} heads {show(width / heads)} "
                    f"features (key_dim defaults to the query's width over the heads), an "
                    f"integer {when}", a.span("heads"),
                    "bind the sizes with --set to values that satisfy it, or set `key_dim`")

    def parameters(self, a, shapes, out):
        query, memory = shapes[0][-1], shapes[-1][-1]
        heads, key, value = a.heads, key_size(a, shapes), value_size(a, shapes)
        weights = query * heads * key + memory * heads * (key + value) + heads * value * query
        biases = 2 * heads * key + heads * value + query
        return (weights + (biases if a.bias else 0), sympy.Integer(0))

    def macs(self, a, shapes, out):
        (t_query, query), (t_memory, memory) = shapes[0], shapes[-1]
        heads, key, value = a.heads, key_size(a, shapes), value_size(a, shapes)
        projections = (t_query * query * heads * key + t_memory * memory * heads * (key + value)
                       + t_query * heads * value * query)
        return projections + heads * t_query * t_memory * (key + value)


def key_size(a, shapes):
    """Each head's query and key size: `key_dim`, or the query's width over the heads."""
    return a.key_dim if a.key_dim is not None else shapes[0][-1] / a.heads


def value_size(a, shapes):
    """Each head's value size: `value_dim`, or the key size."""
    return a.value_dim if a.value_dim is not None else key_size(a, shapes)
