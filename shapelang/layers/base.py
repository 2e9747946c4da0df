"""What every layer kind is made of: an option schema, and the rules for shape, parameters,
MACs and Keras emission. The types here are shared; each kind lives in a module of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import sympy

from .. import ir
from ..diagnostics import did_you_mean, error
from ..expr import Keyword, evaluate, require_integer, show
from ..float64 import require_float64

Shape = tuple  # of sympy expressions, channels last, no batch axis
REQUIRED = object()


# ---- option types: each converts an evaluated value or raises a diagnostic ------------------
class OptionType:
    describe = "a value"
    keywords = False  # whether bare unknown names reach `convert` as Keywords

    def convert(self, value, span: ir.Span, what: str):
        return value


class Integer(OptionType):
    def __init__(self, minimum: int | None = None):
        self.minimum = minimum
        self.describe = "an integer" if minimum is None else f"an integer ≥ {minimum}"

    def convert(self, value, span, what):
        return require_integer(value, span, what, self.minimum)


class IntegerOrTuple(OptionType):
    """A single integer (the same on every spatial axis) or a tuple, one per axis."""

    def __init__(self, minimum: int = 1):
        self.minimum = minimum
        self.describe = f"an integer ≥ {minimum} or a tuple of them"

    def convert(self, value, span, what):
        if isinstance(value, (tuple, list)):
            return tuple(require_integer(v, span, what, self.minimum) for v in value)
        return require_integer(value, span, what, self.minimum)


class Number(OptionType):
    describe = "a number"

    def __init__(self, low=None, high=None, high_inclusive=False):
        self.low, self.high, self.high_inclusive = low, high, high_inclusive

    def convert(self, value, span, what):
        if not isinstance(value, sympy.Basic) or not value.is_number:
            raise error("SL204", f"{what} must be a number, got {show(value)}", span)
        too_high = self.high is not None and (
            value > self.high if self.high_inclusive else value >= self.high
        )
        if (self.low is not None and value < self.low) or too_high:
            upper = "]" if self.high_inclusive else ")"
            raise error("SL209", f"{what} must be in [{self.low}, {self.high}{upper}, "
                        f"got {show(value)}", span)
        return require_float64(value, span, what)


class Boolean(OptionType):
    describe = "`true` or `false`"
    keywords = True

    def convert(self, value, span, what):
        if isinstance(value, Keyword) and value.name in ("true", "false"):
            return value.name == "true"
        if isinstance(value, sympy.Integer) and value in (0, 1):
            return bool(value)
        raise error("SL204", f"{what} must be `true` or `false`, got {show(value)}", span)


class Choice(OptionType):
    keywords = True

    def __init__(self, *choices: str):
        self.choices = choices
        self.describe = " or ".join(f"`{c}`" for c in choices)

    def convert(self, value, span, what):
        if isinstance(value, Keyword) and value.name in self.choices:
            return value.name
        hint = did_you_mean(value.name, self.choices) if isinstance(value, Keyword) else None
        raise error("SL204", f"{what} must be {self.describe}, got {show(value)}", span, hint)


class Padding(OptionType):
    """`valid`, `same`, an integer P (P on both sides of every axis), or a tuple (PH, PW)."""

    describe = "`valid`, `same`, an integer or a tuple of integers"
    keywords = True

    def convert(self, value, span, what):
        if isinstance(value, Keyword):
            if value.name in ("valid", "same"):
                return value.name
            raise error("SL204", f"{what} must be {self.describe}, got `{value.name}`", span,
                        did_you_mean(value.name, ("valid", "same")))
        if isinstance(value, (tuple, list)):
            return tuple(require_integer(v, span, what, 0) for v in value)
        return require_integer(value, span, what, 0)


class ShapeList(OptionType):
    describe = "a shape `[d1, d2, …]`"

    def convert(self, value, span, what):
        if not isinstance(value, list):
            raise error("SL204", f"{what} must be a shape in brackets such as [H, W, 3], got "
                        f"{show(value)}", span)
        if not value:
            raise error("SL209", f"{what} must have at least one dimension", span)
        return tuple(require_integer(v, span, f"{what}'s dimension", 1) for v in value)


@dataclass(frozen=True)
class Opt:
    """One option (or positional value) of a layer kind."""

    name: str
    type: OptionType
    default: object = REQUIRED
    short: str | None = None
    doc: str = ""


# ---- the activations a layer line may end with (and the standalone activation layers) ------
ACTIVATIONS = (
    "relu", "relu6", "tanh", "sigmoid", "softmax", "elu", "selu", "gelu", "swish", "silu",
    "softplus", "softsign", "hard_sigmoid", "hard_swish", "leaky_relu", "mish", "linear",
    "exponential", "log_softmax",
)


@dataclass
class Args:
    """A layer's options after binding: attributes by long name, plus their spans."""

    values: dict
    spans: dict
    layer: ir.Layer
    activation: str | None = None

    def __getattr__(self, name):
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def span(self, name: str) -> ir.Span:
        return self.spans.get(name, self.layer.span)


@dataclass(frozen=True)
class KerasLayer:
    """One Keras layer call the code generator writes: `layers.CLASS(**kwargs)`."""

    cls: str
    kwargs: dict = field(default_factory=dict)
    name_suffix: str = ""  # appended to the layer's name when one line becomes several layers
    custom: str | None = None  # a helper layer the generated module must define


class LayerKind:
    """Base of every layer kind. Subclasses set `op`, the schema, and override the rules."""

    op: ClassVar[str]
    positional: ClassVar[tuple[Opt, ...]] = ()
    options: ClassVar[tuple[Opt, ...]] = ()
    takes_activation: ClassVar[bool] = False
    inputs: ClassVar[int] = 1  # how many tensors it reads; -1 for "two or more"
    doc: ClassVar[str] = ""

    def output_shape(self, a: Args, shapes: list[Shape], ctx) -> Shape:
        return shapes[0]

    def parameters(self, a: Args, shapes: list[Shape], out: Shape) -> tuple:
        """(trainable, non-trainable)."""
        return (sympy.Integer(0), sympy.Integer(0))

    def macs(self, a: Args, shapes: list[Shape], out: Shape):
        """Multiply-accumulates for one example; bias additions are not counted."""
        return sympy.Integer(0)

    def keras(self, a: Args, shapes: list[Shape], out: Shape, ctx) -> list[KerasLayer]:
        raise NotImplementedError(self.op)

    # ---- binding a layer line to this schema ----------------------------------------------
    def bind(self, layer: ir.Layer, env: dict) -> Args:
        values, spans = {}, {}
        positional = list(layer.positional)
        activation = None
        if self.takes_activation and positional:
            last = positional[-1]
            if isinstance(last, ir.Name) and last.id not in env and last.id in ACTIVATIONS:
                activation = last.id
                spans["activation"] = last.span
                positional.pop()
        if len(positional) > len(self.positional):
            extra = positional[len(self.positional)]
            if isinstance(extra, ir.Name) and extra.id not in env and self.takes_activation:
                raise error("SL204", f"`{extra.id}` is no activation", extra.span,
                            did_you_mean(extra.id, ACTIVATIONS)
                            or f"activations: {', '.join(ACTIVATIONS)}")
            wanted = ", ".join(o.name for o in self.positional) or "none"
            raise error("SL208", f"`{self.op}` takes {len(self.positional)} positional "
                        f"value(s) ({wanted}), got {len(positional)}", extra.span)
        for opt, node in zip(self.positional, positional):
            values[opt.name] = opt.type.convert(
                evaluate(node, env, opt.type.keywords), node.span, f"`{self.op}` {opt.name}")
            spans[opt.name] = node.span
        by_key = {}
        for opt in self.options:
            by_key[opt.name] = opt
            if opt.short:
                by_key[opt.short] = opt
        for option in layer.options:
            opt = by_key.get(option.key)
            if opt is None:
                known = [o.name for o in self.options] + [o.short for o in self.options if o.short]
                hint = did_you_mean(option.key, known) or (
                    f"`{self.op}` takes {', '.join(o.name for o in self.options)}"
                    if self.options else f"`{self.op}` takes no options")
                raise error("SL202", f"`{self.op}` has no option `{option.key}`",
                            option.key_span, hint)
            if opt.name in values:
                raise error("SL207", f"option `{opt.name}` is given twice", option.span)
            values[opt.name] = opt.type.convert(
                evaluate(option.value, env, opt.type.keywords), option.value.span,
                f"`{self.op}` option {opt.name}")
            spans[opt.name] = option.value.span
        for opt in self.positional + self.options:
            if opt.name not in values:
                if opt.default is REQUIRED:
                    how = f"{opt.name}=…" if opt in self.options else f"its {opt.name}"
                    raise error("SL203", f"`{self.op}` needs {opt.name} ({opt.type.describe})",
                                layer.span, f"write {how}")
                values[opt.name] = opt.default
        return Args(values, spans, layer, activation)


def per_axis(value, rank: int, span: ir.Span, what: str) -> tuple:
    """A scalar option broadcast to `rank` spatial axes, or a tuple checked to have `rank`."""
    if isinstance(value, tuple):
        if len(value) != rank:
            raise error("SL209", f"{what} has {len(value)} values for {rank} spatial axes",
                        span, f"give one value or {rank}")
        return value
    return (value,) * rank


def product(values):
    result = sympy.Integer(1)
    for v in values:
        result *= v
    return result
