"""What the recurrent kinds (`simplernn`, `lstm`, `gru`) share: a sequence `[T, D]` in, the
last step's output `[UNITS]` out, or every step's `[T, UNITS]` with `return_sequences=true`;
`bidirectional=concat|sum|mul|ave` runs a second layer over the reversed sequence and merges
the two as Keras's `Bidirectional(merge_mode=…)` does (`concat`: 2·UNITS wide;
`bidirectional=true` is `concat`).

Parameters per direction: `gates` blocks of input and recurrent kernels, U·(D + U) each, and
the bias vectors: Keras's layers hold one per gate block (its GRU two with `reset_after`),
PyTorch's `nn.RNN`, `nn.LSTM` and `nn.GRU` two (the input's and the recurrent one), which the
`torch` convention counts. MACs: the kernels' products, gates·U·(D + U) per step and
direction; gate arithmetic and bias additions excluded.
"""
from __future__ import annotations

from typing import ClassVar

import sympy

from ..diagnostics import error
from ..expr import Keyword, show
from .base import KERAS, TORCH, Boolean, Integer, LayerKind, Opt, OptionType

MERGE_MODES = ("concat", "sum", "mul", "ave")


class MergeMode(OptionType):
    """`concat`, `sum`, `mul` or `ave` (Keras's `merge_mode`); `true` is `concat`, `false`
    one direction."""

    describe = "`concat`, `sum`, `mul`, `ave`, `true` or `false`"
    keywords = True

    def convert(self, value, span, what):
        if isinstance(value, Keyword):
            word = value.name.lower() if value.name.lower() in ("true", "false") else value.name
            if word in MERGE_MODES:
                return word
            if word in ("true", "false"):
                return "concat" if word == "true" else None
        raise error("SL204", f"{what} must be {self.describe}, got {show(value)}", span)


class Recurrent(LayerKind):
    """A recurrent layer: `gates` kernel blocks per direction."""

    gates: ClassVar[int]
    classes: ClassVar[dict]  # convention → the framework's class
    # convention → why it counts otherwise than the other (a table's note)
    why_counts_differ: ClassVar[dict] = {TORCH: "two bias vectors", KERAS: "one bias vector"}
    positional = (Opt("units", Integer(1)),)
    options = (
        Opt("return_sequences", Boolean(), False,
            doc="every step's output [T, UNITS], not the last step's [UNITS]"),
        Opt("bias", Boolean(), True, aliases=("use_bias",)),
        Opt("bidirectional", MergeMode(), None, aliases=("merge_mode",),
            doc="also run over the reversed sequence, merged as Keras's Bidirectional"),
    )

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        if len(shape) != 2:
            shown = ", ".join(str(d) for d in shape)
            raise error("SL304", f"`{self.op}` reads a sequence [T, D], got [{shown}]",
                        a.layer.span, "a sequence of vectors: `reshape [T, D]` before it, or "
                        "a `conv` on [T, C] (channels last)")
        width = a.units * (2 if a.bidirectional == "concat" else 1)
        return (shape[0], width) if a.return_sequences else (width,)

    def bias_vectors(self, a, convention: str) -> int:
        """Bias vectors of UNITS per gate block and direction, as `convention` counts them."""
        return 1 if convention == KERAS else 2

    def parameters(self, a, shapes, out):
        return self.parameters_under(KERAS, a, shapes, out)

    def parameters_under(self, convention, a, shapes, out):
        features, units = shapes[0][-1], a.units
        per_gate = units * (features + units) + (units * self.bias_vectors(a, convention)
                                                 if a.bias else 0)
        return (self.gates * per_gate * self.directions(a), sympy.Integer(0))

    def macs(self, a, shapes, out):
        steps, features = shapes[0]
        return steps * self.gates * a.units * (features + a.units) * self.directions(a)

    @staticmethod
    def directions(a) -> int:
        return 2 if a.bidirectional else 1
