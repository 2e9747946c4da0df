"""The analysis: walk the IR, apply each layer kind's rules, collect shapes, parameter counts,
MACs, paddings, the constraints on the input size, and every problem as a diagnostic.

Unbound network parameters are positive-integer sympy symbols, so every result is a closed
form in them; bound ones are plain integers and the same code yields numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

import sympy

from . import ir
from .diagnostics import ERROR, NOTE, WARNING, Diagnostic, DiagnosticError, did_you_mean, error
from .expr import POISON, Poisoned, evaluate, positive_integer_symbol, require_integer, show
from .layers import REGISTRY, Args, Shape
from .layers.base import product
from .train_block import train_settings

#: What `expect` can name besides a layer label.
EXPECT_SUBJECTS = ("params", "trainable", "non_trainable", "macs", "flops", "output", "size")


@dataclass
class LayerResult:
    index: int
    name: str
    layer: ir.Layer
    inputs: tuple[str, ...]
    shape: Shape
    trainable: sympy.Expr
    non_trainable: sympy.Expr
    macs: sympy.Expr
    args: Args
    padding: tuple | None = None  # ((before, after), …) per spatial axis, for windowed layers

    @property
    def op(self) -> str:
        return self.layer.op

    @property
    def size(self):
        return product(self.shape)

    @property
    def params(self):
        return self.trainable + self.non_trainable


@dataclass(frozen=True)
class MinimumSize:
    """`value` ≥ `minimum` must hold along one axis of one layer's input."""

    value: sympy.Expr
    minimum: sympy.Expr
    axis: str
    layer: ir.Layer
    what: str


@dataclass(frozen=True)
class StrideRemainder:
    """`numerator` mod `stride` rows (or columns) of `size` are never read by one layer.
    A `pad=same` layer reads every row (`numerator` 0) but its stride still counts in the
    period of the exact sizes."""

    numerator: sympy.Expr
    stride: sympy.Expr
    axis: str
    layer: ir.Layer
    size: sympy.Expr


@dataclass
class Analysis:
    network: ir.Network
    bindings: dict  # parameter name → bound value (sympy number)
    symbols: dict  # parameter name → sympy Symbol, for the unbound ones
    layers: list[LayerResult] = field(default_factory=list)
    minimum_sizes: list[MinimumSize] = field(default_factory=list)
    remainders: list[StrideRemainder] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    complete: bool = True  # every layer's shape was derived
    train: dict = field(default_factory=dict)  # the `train:` block, as the program's defaults
    hint_axes: dict = field(default_factory=dict, repr=False)  # SL305 diagnostic → its axis

    @property
    def ok(self) -> bool:
        return not any(d.severity == ERROR for d in self.diagnostics)

    @property
    def output(self) -> LayerResult | None:
        return self.layers[-1] if self.layers else None

    def total(self, what: str):
        return sum((getattr(r, what) for r in self.layers), sympy.Integer(0))

    def by_name(self, name: str) -> LayerResult | None:
        for r in self.layers:
            if r.name == name:
                return r
        return None


class _LayerContext:
    """What a layer rule may report while it derives a shape."""

    def __init__(self, analysis: Analysis):
        self.analysis = analysis

    def require_at_least(self, value, minimum, axis, layer, what):
        value, minimum = as_expr(value), as_expr(minimum)
        if value.is_number and minimum.is_number:
            if value < minimum:
                raise error("SL302", f"`{layer.op}` needs at least {minimum} {axis} for {what}, "
                            f"but its input has {value}", layer.span)
            return
        self.analysis.minimum_sizes.append(MinimumSize(value, minimum, axis, layer, what))

    def stride_remainder(self, numerator, stride, axis, layer, size):
        numerator, stride = as_expr(numerator), as_expr(stride)
        if stride == 1:
            return
        remainder = StrideRemainder(numerator, stride, axis, layer, as_expr(size))
        self.analysis.remainders.append(remainder)
        if numerator.is_number and stride.is_number and numerator % stride:
            dropped = numerator % stride
            unit = axis if dropped > 1 else axis[:-1]
            diagnostic = Diagnostic(
                "SL305", WARNING,
                f"stride {stride} leaves the last {dropped} {unit} of this layer's input unread "
                f"(({axis} + padding − window) = {numerator} is not a multiple of {stride})",
                layer.span, None)
            self.analysis.diagnostics.append(diagnostic)
            self.analysis.hint_axes[diagnostic] = axis

    def note(self, code, message, span, hint=None):
        self.analysis.diagnostics.append(Diagnostic(code, NOTE, message, span, hint))


def parse_binding(name: str, text: str):
    """A `--set NAME=VALUE` value: a decimal number only, read by `Fraction`, never evaluated."""
    try:
        value = Fraction(text.strip().replace("_", ""))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"--set {name}={text}: the value must be a number") from None
    return sympy.Rational(value.numerator, value.denominator)


def analyse(network: ir.Network, bindings: dict | None = None, *,
            input_override: Shape | None = None, checks: bool = True,
            all_symbolic: bool = False) -> Analysis:
    """Analyse `network` with some parameters bound (`bindings`: name → number). Parameters
    neither bound nor defaulted stay symbols. Never raises for a problem in the network: every
    problem is in `.diagnostics`. `checks=False` skips the domain and `expect` checks and the
    hints that need a second analysis (solve's re-analyses use it). `all_symbolic` makes every
    parameter a symbol, defaults and bindings aside (a positive integer, or a positive real where
    the default is not an integer): the code generator writes layer arguments from it."""
    bindings = dict(bindings or {})
    analysis = Analysis(network, {}, {})
    env: dict = {}
    declared = {p.name for p in network.parameters}
    for name in bindings:
        if name not in declared:
            analysis.diagnostics.append(Diagnostic(
                "SL213", ERROR, f"--set {name}: the network `{network.name}` has no parameter "
                f"`{name}`", network.span,
                did_you_mean(name, declared) or f"its parameters: {', '.join(sorted(declared))}"
                if declared else "it has no parameters"))
    for parameter in network.parameters:
        if parameter.name in env:
            analysis.diagnostics.append(_duplicate(parameter.name, parameter.span))
            continue
        if all_symbolic:
            default = evaluate_default(parameter, env)
            integer = default is None or default.is_integer is not False
            value = sympy.Symbol(parameter.name, positive=True, integer=integer or None)
        elif parameter.name in bindings:
            value = bindings[parameter.name]
            value = value if isinstance(value, sympy.Basic) else sympy.Rational(value)
        elif parameter.default is not None:
            try:
                value = evaluate(parameter.default, env)
            except DiagnosticError as exc:
                analysis.diagnostics.append(exc.diagnostic)
                value = positive_integer_symbol(parameter.name)
            except Poisoned:
                value = positive_integer_symbol(parameter.name)
        else:
            value = positive_integer_symbol(parameter.name)
        if isinstance(value, sympy.Symbol):
            analysis.symbols[parameter.name] = value
        else:
            analysis.bindings[parameter.name] = value
        env[parameter.name] = value

    _walk(network, analysis, env, input_override)
    analysis.train = train_settings(network.train, env, analysis.diagnostics)
    if not checks:
        return analysis
    _add_size_hints(analysis)
    if analysis.complete:
        from .solve import check_domain, check_expects  # solve builds on this module

        check_domain(analysis)
        for statement in network.statements:
            if isinstance(statement, ir.Expect):
                try:
                    check_expects(analysis, statement, env)
                except DiagnosticError as exc:
                    analysis.diagnostics.append(exc.diagnostic)
                except Poisoned:
                    pass
    analysis.diagnostics.sort(key=Diagnostic.sort_key)
    return analysis


def evaluate_default(parameter: ir.Parameter, env: dict):
    """A parameter's default as a number, or None (no default, or one that needs symbols)."""
    if parameter.default is None:
        return None
    try:
        value = evaluate(parameter.default, env)
    except (DiagnosticError, Poisoned):
        return None
    return value if isinstance(value, sympy.Basic) and value.is_number else None


def _add_size_hints(analysis: Analysis):
    """SL302 gets the smallest input that works, SL305 the nearest sizes that drop nothing;
    both need a re-analysis with the input size unbound, done only when needed."""
    from .solve import least_input_hint, nearest_exact_hint

    hints = {}
    for i, d in enumerate(analysis.diagnostics):
        if d.code == "SL302" and d.hint is None:
            if "SL302" not in hints:
                hints["SL302"] = least_input_hint(analysis)
            analysis.diagnostics[i] = replace(d, hint=hints["SL302"])
        elif d.code == "SL305" and d.hint is None:
            if "SL305" not in hints:
                hints["SL305"] = nearest_exact_hint(analysis)
            analysis.diagnostics[i] = replace(d, hint=hints["SL305"].get(analysis.hint_axes[d]))


def _duplicate(name, span):
    return Diagnostic("SL207", ERROR, f"`{name}` is defined twice", span,
                      "give each parameter, `let` and label its own name")


def _walk(network: ir.Network, analysis: Analysis, env: dict, input_override):
    names_taken = {s.label for s in network.layers if s.label}
    labels_seen: set[str] = set()
    counters: dict[str, int] = {}
    previous: LayerResult | None = None
    shapes: dict[str, Shape] = {}
    ctx = _LayerContext(analysis)
    seen_input = False
    for statement in network.statements:
        if isinstance(statement, ir.Let):
            if statement.name in env:
                analysis.diagnostics.append(_duplicate(statement.name, statement.span))
                continue
            try:
                env[statement.name] = evaluate(statement.value, env)
            except DiagnosticError as exc:
                analysis.diagnostics.append(exc.diagnostic)
                env[statement.name] = POISON
                analysis.complete = False
            except Poisoned:
                env[statement.name] = POISON
                analysis.complete = False
            continue
        if not isinstance(statement, ir.Layer):
            continue
        layer = statement
        kind = REGISTRY.get(layer.op)
        if kind is None:
            analysis.diagnostics.append(Diagnostic(
                "SL201", ERROR, f"unknown layer kind `{layer.op}`", layer.op_span,
                did_you_mean(layer.op, REGISTRY) or "see the layer table in the README"))
            analysis.complete = False
            continue
        if layer.label:
            if layer.label in labels_seen:
                analysis.diagnostics.append(_duplicate(layer.label, layer.span))
            labels_seen.add(layer.label)
            name = layer.label
        else:
            name = _default_name(layer.op, counters, names_taken)
        if layer.op == "input":
            if seen_input or previous is not None:
                analysis.diagnostics.append(Diagnostic(
                    "SL212", ERROR, "`input` must be the network's first layer, and only one",
                    layer.span, None))
                analysis.complete = False
                continue
            seen_input = True
        elif not seen_input:
            analysis.diagnostics.append(Diagnostic(
                "SL212", ERROR, f"`{layer.op}` comes before any `input`", layer.span,
                "begin the network with `input [d1, d2, …]`"))
            seen_input = True  # report it once
            analysis.complete = False
        try:
            args = kind.bind(layer, env)
        except DiagnosticError as exc:
            analysis.diagnostics.append(exc.diagnostic)
            analysis.complete = False
            continue
        except Poisoned:
            analysis.complete = False
            continue
        if not analysis.complete:
            continue  # an earlier layer has no shape: check arguments only
        inputs = layer.inputs or ((previous.name,) if previous else ())
        in_shapes = [shapes[i] for i in inputs]
        try:
            if layer.op == "input" and input_override is not None:
                out = tuple(input_override)
            else:
                out = tuple(kind.output_shape(args, in_shapes, ctx))
            trainable, non_trainable = kind.parameters(args, in_shapes, out)
            macs = kind.macs(args, in_shapes, out)
        except DiagnosticError as exc:
            analysis.diagnostics.append(exc.diagnostic)
            analysis.complete = False
            continue
        result = LayerResult(len(analysis.layers), name, layer, inputs, out,
                             as_expr(trainable), as_expr(non_trainable), as_expr(macs),
                             args, args.values.get("_padding"))
        analysis.layers.append(result)
        shapes[name] = out
        previous = result
    if not seen_input:
        analysis.diagnostics.append(Diagnostic(
            "SL212", ERROR, f"the network `{network.name}` has no `input`", network.span,
            "begin the network with `input [d1, d2, …]`"))
        analysis.complete = False


def _default_name(op: str, counters: dict, taken: set) -> str:
    while True:
        counters[op] = counters.get(op, 0) + 1
        name = op if op == "input" and counters[op] == 1 else f"{op}_{counters[op]}"
        if name not in taken:
            taken.add(name)
            return name


def as_expr(value) -> sympy.Expr:
    """A Python int (or bool) from a layer rule as a sympy Integer; sympy values unchanged."""
    return value if isinstance(value, sympy.Basic) else sympy.Integer(int(value))


def as_int(value):
    """A bound sympy integer as a Python int; anything else as the string of its closed form."""
    if isinstance(value, sympy.Basic) and value.is_Integer:
        return int(value)
    return show_expr(value)


def show_expr(value) -> str:
    from .solve import pretty  # the printer lives with the rest of the closed-form handling

    return pretty(value)


__all__ = ["Analysis", "LayerResult", "analyse", "as_int", "parse_binding", "require_integer",
           "show", "NOTE"]
