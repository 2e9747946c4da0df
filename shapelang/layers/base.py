"""What every layer kind is made of: an option schema, and the rules for shape, parameters,
MACs (no backend: the code generators' emitters live in `shapelang/codegen/`). The types
here are shared; each kind lives in a module of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy

from .. import ir, limits
from ..diagnostics import did_you_mean, error
from ..expr import Keyword, evaluate, require_integer, show
from ..float64 import require_float64

Shape = tuple  # of sympy expressions, channels last, no batch axis
REQUIRED = object()

#: Whose parameter count a layer reports: Keras's (the analysis's, by default) or PyTorch's.
#: They differ where PyTorch's layer holds other weights (its RNNs carry two bias vectors).
KERAS, TORCH = "keras", "torch"
CONVENTIONS = (KERAS, TORCH)


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
    """A number at least `low` (if given) and below `high` (at most, if `high_inclusive`)."""

    describe = "a number"

    def __init__(self, low=None, high=None, high_inclusive=False):
        self.low, self.high, self.high_inclusive = low, high, high_inclusive

    def range(self) -> str:
        """The allowed values in words: `in [0, 1)`, `at least 0`, `at most 1`."""
        low = None if self.low is None else show(sympy.Rational(self.low))
        high = None if self.high is None else show(sympy.Rational(self.high))
        if low is not None and high is not None:
            return f"in [{low}, {high}{']' if self.high_inclusive else ')'}"
        if low is not None:
            return f"at least {low}"
        if high is not None:
            return f"at most {high}" if self.high_inclusive else f"below {high}"
        return "a number"

    def convert(self, value, span, what):
        if not isinstance(value, sympy.Basic) or not value.is_number or not value.is_real:
            raise error("SL204", f"{what} must be a number, got {show(value)}", span)
        too_high = self.high is not None and (
            value > self.high if self.high_inclusive else value >= self.high
        )
        if (self.low is not None and value < self.low) or too_high:
            raise error("SL209", f"{what} must be {self.range()}, got {show(value)}", span)
        return require_float64(value, span, what)


class Boolean(OptionType):
    describe = "`true` or `false`"
    keywords = True

    def convert(self, value, span, what):
        if isinstance(value, Keyword) and value.name.lower() in ("true", "false"):
            return value.name.lower() == "true"  # Keras users write `use_bias=False`
        if isinstance(value, sympy.Integer) and value in (0, 1):
            return bool(value)
        raise error("SL204", f"{what} must be `true` or `false`, got {show(value)}", span)


class Choice(OptionType):
    keywords = True

    def __init__(self, *choices: str):
        self.choices = choices
        quoted = [f"`{c}`" for c in choices]
        self.describe = (" or ".join(quoted) if len(quoted) <= 3
                         else "one of " + ", ".join(quoted))

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
        check_rank(value, span, what)
        return tuple(require_integer(v, span, f"{what}'s dimension", 1) for v in value)


class Label(OptionType):
    """The label of another line (`tie=embed`): its name, resolved by the walk."""

    describe = "a line's label"
    keywords = True

    def convert(self, value, span, what):
        if isinstance(value, Keyword):
            return value.name
        raise error("SL204", f"{what} must be a line's label, got {show(value)}", span)


def axis_of(axis, rank: int, span: ir.Span, op: str) -> int:
    """A non-batch axis (negative counts from the end, as Python), as 0 … rank − 1."""
    axis = int(axis)
    if not -rank <= axis < rank:
        raise error("SL209", f"`{op}` axis {axis} is outside a rank-{rank} tensor (axes 0 … "
                    f"{rank - 1}, or −1 … −{rank}; the batch axis is not counted)", span)
    return axis % rank


def check_rank(dims, span: ir.Span, what: str):
    if len(dims) > limits.MAX_RANK:
        raise error("SL209", f"{what} has {len(dims)} dimensions, more than shapelang's limit "
                    f"of {limits.MAX_RANK}", span, limits.LIMIT_HINT)


@dataclass(frozen=True)
class Opt:
    """One option (or positional value) of a layer kind. It may be written `name=…`, `short=…`
    or with any of its `aliases` (Keras's keyword for it, say `kernel_size`); a positional
    value may be written by name too (`conv filters=32`)."""

    name: str
    type: OptionType
    default: object = REQUIRED
    short: str | None = None
    doc: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every key that sets this option, the shortest first."""
        return (*((self.short,) if self.short else ()), self.name, *self.aliases)

    def shown(self) -> str:
        """`kernel (k, kernel_size)`: the name, then its other spellings."""
        others = [s for s in self.spellings if s != self.name]
        return f"{self.name} ({', '.join(others)})" if others else self.name


# ---- the activations a layer line may end with (and the standalone activation layers) ------
ACTIVATIONS = (
    "relu", "relu6", "tanh", "sigmoid", "softmax", "elu", "selu", "gelu", "swish", "silu",
    "softplus", "softsign", "hard_sigmoid", "hard_swish", "leaky_relu", "mish", "linear",
    "exponential", "log_softmax",
)

#: `activation=relu`: the long spelling of a trailing activation, for every kind that takes one.
ACTIVATION = Opt("activation", Choice(*ACTIVATIONS), None,
                 doc="the activation applied to the output; also written last on the line")


@dataclass
class Args:
    """A layer's options after binding: attributes by long name, plus their spans."""

    values: dict
    spans: dict
    layer: ir.Layer
    activation: str | None = None
    # what the shape rule derived besides the shape, typed: a window's geometry
    # (`window.WindowGeometry`), a `zeropad`'s (before, after) per axis, an `upsample`'s factors
    geometry: object = None
    pads: tuple | None = None
    factors: tuple | None = None

    def __getattr__(self, name):
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def span(self, name: str) -> ir.Span:
        return self.spans.get(name, self.layer.span)


class LayerKind:
    """Base of every layer kind. Subclasses set `op`, the schema, and override the rules."""

    op: ClassVar[str]
    positional: ClassVar[tuple[Opt, ...]] = ()
    options: ClassVar[tuple[Opt, ...]] = ()
    takes_activation: ClassVar[bool] = False
    # how many tensors it reads; -1 for "two or more"; 2 for "one or two" (attention: a query,
    # and a memory of keys and values that is the query unless named)
    inputs: ClassVar[int] = 1
    doc: ClassVar[str] = ""
    # integer tensors (token ids): whether this kind reads only them (`embedding`), and
    # whether it only moves elements, so that its output is integer when its input is
    reads_ids: ClassVar[bool] = False
    moves_elements: ClassVar[bool] = False

    def output_shape(self, a: Args, shapes: list[Shape], ctx) -> Shape:
        return shapes[0]

    def parameters(self, a: Args, shapes: list[Shape], out: Shape) -> tuple:
        """(trainable, non-trainable), as Keras counts them."""
        return (sympy.Integer(0), sympy.Integer(0))

    def parameters_under(self, convention: str, a: Args, shapes: list[Shape], out: Shape
                         ) -> tuple:
        """(trainable, non-trainable) as `convention`'s framework counts them (`CONVENTIONS`);
        Keras's unless a kind's frameworks differ."""
        return self.parameters(a, shapes, out)

    def macs(self, a: Args, shapes: list[Shape], out: Shape):
        """Multiply-accumulates for one example; bias additions are not counted."""
        return sympy.Integer(0)

    # ---- binding a layer line to this schema ----------------------------------------------
    def schema(self) -> tuple[Opt, ...]:
        """Everything a line of this kind may name as `key=value`: its positional values, its
        options, and `activation` when it takes one."""
        return (*self.positional, *self.options,
                *((ACTIVATION,) if self.takes_activation else ()))

    def bind(self, layer: ir.Layer, env: dict) -> Args:
        values, spans = {}, {}
        given = {}  # option name → how the line gave it, for "given twice"
        positional = list(layer.positional)
        if self.takes_activation and positional:
            last = positional[-1]
            if isinstance(last, ir.Name) and last.id not in env and last.id in ACTIVATIONS:
                values["activation"], spans["activation"] = last.id, last.span
                given["activation"] = f"`{last.id}` at the end of the line"
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
            given[opt.name] = f"the value after `{self.op}`"
        by_key = {key: opt for opt in self.schema() for key in opt.spellings}
        for option in layer.options:
            opt = by_key.get(option.key)
            if opt is None:
                raise error("SL202", f"`{self.op}` has no option `{option.key}`",
                            option.key_span, self._unknown_option_hint(option.key))
            if opt.name in given:
                raise error("SL219", f"option `{opt.name}` is given twice: as {given[opt.name]}"
                            f" and as `{option.key}=`", option.span, "keep one of them")
            values[opt.name] = opt.type.convert(
                evaluate(option.value, env, opt.type.keywords), option.value.span,
                f"`{self.op}` option {option.key}")
            spans[opt.name] = option.value.span
            given[opt.name] = f"`{option.key}=`"
        for opt in self.positional + self.options:
            if opt.name not in values:
                if opt.default is REQUIRED:
                    how = (f"`{opt.spellings[0]}=…`" if opt in self.options
                           else f"its {opt.name} after `{self.op}`")
                    raise error("SL203", f"`{self.op}` needs {opt.name} ({opt.type.describe})",
                                layer.span, f"write {how}")
                values[opt.name] = opt.default
        activation = values.pop("activation", None)
        return Args(values, spans, layer, activation)

    def _unknown_option_hint(self, key: str) -> str:
        """The spelling meant, when one is close; else every option with its spellings."""
        schema = self.schema()
        close = did_you_mean(key, [k for opt in schema for k in opt.spellings])
        if close:
            return close
        if key == ACTIVATION.name:
            return (f"`{self.op}` takes no activation: put it on a line of its own after this "
                    "one (`relu`, …)")
        if not schema:
            return f"`{self.op}` takes no options"
        return f"`{self.op}` takes {', '.join(opt.shown() for opt in schema)}"


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


def sign_of(value, span: ir.Span, what: str) -> bool:
    """Whether an index counts from the end (is negative), as Python's; an index whose sign
    depends on unbound parameters is an error."""
    if value.is_negative is None:
        raise error("SL204", f"{what} must be known to be negative or not, got {show(value)}",
                    span, "write a number, or an expression of positive sizes")
    return bool(value.is_negative)


def require_within(ctx, size, least, most, layer: ir.Layer, what: str, condition: str):
    """`least` ≤ `size` (≤ `most`, if given) along an axis an index reads: SL320 stating
    `condition` where the size is a number outside, else conditions of the valid domain."""
    size = sympy.Integer(size) if isinstance(size, int) else size
    outside = size.is_number and (size < least or (most is not None and size > most))
    if outside:
        raise error("SL320", f"{what} falls outside the axis: it needs {condition}, but the axis "
                    f"has {size}", layer.span, "choose an index within the axis (negative "
                    "indices count from its end)")
    ctx.require_at_least(size, least, "positions", layer, what)
    if most is not None:
        ctx.require_at_most(size, most, "positions", layer, what)
