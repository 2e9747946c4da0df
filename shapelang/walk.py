"""The analysis: walk the IR, apply each layer kind's rules, collect shapes, parameter counts,
MACs, paddings, the constraints on the input size, and every problem as a diagnostic.

Unbound network parameters are positive-integer sympy symbols, so every result is a closed
form in them; bound ones are plain integers and the same code yields numbers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from fractions import Fraction

import sympy

from . import ir, limits
from .closedform import divisibility_condition, equality_condition, pretty
from .diagnostics import (
    DEFAULT_HINT,
    ERROR,
    NOTE,
    WARNING,
    Diagnostic,
    DiagnosticError,
    did_you_mean,
    error,
)
from .expr import (
    POISON,
    TENSORS,
    Keyword,
    Poisoned,
    UserFunction,
    evaluate,
    positive_integer_symbol,
    require_integer,
    show,
)
from .graph import (
    BlockInstance,
    BranchTaken,
    DerivedCounts,
    InputSizes,
    PaddingFix,
    RepeatInstance,
)
from .layers import REGISTRY, Args, Shape
from .layers.base import product
from .layers.window import AXIS_NAMES, paddings_reading_every_row
from .train_block import train_settings

#: What `expect` can name besides a layer label.
EXPECT_SUBJECTS = ("params", "trainable", "non_trainable", "macs", "flops", "output", "size")


@dataclass
class LayerResult(DerivedCounts):
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
    relative: Relative | None = None  # the same line relative to its scope's root

    @property
    def op(self) -> str:
        return self.layer.op



@dataclass(frozen=True)
class Relative:
    """A layer's arguments and shape relative to its root — the network (its parameters as
    symbols) or, inside a block use, the block (its parameters and its input's dimensions as
    symbols): what a backend writes as expressions."""

    args: Args
    shape: Shape


def input_dimension(axis: int) -> sympy.Symbol:
    """The symbol of a block's input dimension `axis` (batch axis excluded) in relative values:
    never a `.net` name (it has a dot)."""
    return sympy.Symbol(f"input.{axis}", integer=True, positive=True)


@dataclass(frozen=True)
class MinimumSize:
    """`value` ≥ `minimum` must hold along one axis of one layer's input."""

    value: sympy.Expr
    minimum: sympy.Expr
    axis: str
    layer: ir.Layer
    what: str


@dataclass(frozen=True)
class MaximumSize:
    """`value` ≤ `maximum` must hold along one axis of one layer's input (a position table's
    length, an index counted from the end)."""

    value: sympy.Expr
    maximum: sympy.Expr
    axis: str
    layer: ir.Layer
    what: str


@dataclass(frozen=True)
class StrideRemainder:
    """One stride along one axis of one layer: its input `size`, and the residues of that size
    mod the stride (`exact`, None when the window is symbolic) at which no input row is left
    unread. `unread` counts the rows left unread when the size is a number."""

    numerator: sympy.Expr  # size + padding − window
    stride: sympy.Expr
    axis: str
    layer: ir.Layer
    size: sympy.Expr
    name: str = ""  # the layer's full name
    exact: frozenset | None = None
    unread: int | None = None
    window: sympy.Expr | None = None  # the effective kernel
    padding: sympy.Expr | None = None  # the padding applied, before and after together


@dataclass
class Analysis:
    network: ir.Network
    bindings: dict  # parameter name → bound value (sympy number)
    symbols: dict  # parameter name → sympy Symbol, for the unbound ones
    layers: list[LayerResult] = field(default_factory=list)
    minimum_sizes: list[MinimumSize] = field(default_factory=list)
    remainders: list[StrideRemainder] = field(default_factory=list)
    maximum_sizes: list[MaximumSize] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    instances: list = field(default_factory=list)  # every block use, as `BlockInstance`s
    tensors: dict = field(default_factory=dict)  # the network body's labels → layer names
    shapes: dict = field(default_factory=dict, repr=False)  # every tensor's shape, by name
    # (scope prefix, the statement's span) → the layer name, `BlockInstance` or
    # `RepeatInstance` it produced: how a backend follows the source's structure.
    produced: dict = field(default_factory=dict, repr=False)
    complete: bool = True  # every layer's shape was derived
    train: dict = field(default_factory=dict)  # the `train:` block, as the program's defaults
    env: dict = field(default_factory=dict, repr=False)  # the network body's names, at its end
    input_sizes: InputSizes | None = None
    padding_fixes: tuple = ()
    outputs: dict = field(default_factory=dict)  # a repeat iteration's path → its output
    input_paths: list = field(default_factory=list)  # the network's inputs, in file order
    # the network's outputs in order: `output @a @b`'s, else the last line's
    output_paths: list = field(default_factory=list)
    # the outputs' names as `output @a @b` writes them (a repeat's or block use's label names
    # its last layer's tensor); empty without `output`: then the paths name them
    output_names: list = field(default_factory=list)
    # errors raised by a bound layer rule after every variant of the walk derived that layer:
    # the variants (sizes unbound, another padding) are not made incomplete by them
    bound_only: list = field(default_factory=list, repr=False)
    _by_name: dict = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not any(d.severity == ERROR for d in self.diagnostics)

    @property
    def output(self) -> LayerResult | None:
        """The network's (first) output."""
        if self.output_paths and self.by_name(self.output_paths[0]) is not None:
            return self.by_name(self.output_paths[0])
        return self.layers[-1] if self.layers else None

    def total(self, what: str):
        return sum((getattr(r, what) for r in self.layers), sympy.Integer(0))

    def add(self, result: LayerResult):
        self.layers.append(result)
        self._by_name[result.name] = result

    def by_name(self, name: str) -> LayerResult | None:
        return self._by_name.get(name)


class _LayerContext:
    """What a layer rule may report while it derives a shape."""

    def __init__(self, analysis: Analysis, checked: bool = True):
        self.analysis = analysis
        self.inputs: list = []  # (full name, LayerResult) of the layer being derived
        self.name = ""  # the full name of the layer being derived
        # Off for a layer derived relative to its block (parameters and input as symbols):
        # only its arguments matter there, so size and merge checks are off.
        self.checked = checked

    def require_at_least(self, value, minimum, axis, layer, what):
        value, minimum = as_expr(value), as_expr(minimum)
        if not self.checked:
            return
        if value.is_number and minimum.is_number:
            if value < minimum:
                raise error("SL302", f"`{layer.op}` needs at least {minimum} {axis} for {what}, "
                            f"but its input has {value}", layer.span)
            return
        self.analysis.minimum_sizes.append(MinimumSize(value, minimum, axis, layer, what))

    def require_at_most(self, value, maximum, axis, layer, what):
        """`value` ≤ `maximum`: an upper bound of the valid domain where `value` has symbols
        (the layer rule reports a bound value past it itself)."""
        value, maximum = as_expr(value), as_expr(maximum)
        if not self.checked or (value.is_number and maximum.is_number):
            return
        self.analysis.maximum_sizes.append(MaximumSize(value, maximum, axis, layer, what))

    def stride_remainder(self, numerator, stride, axis, layer, size, exact=None, unread=None,
                         window=None, padding=None):
        numerator, stride = as_expr(numerator), as_expr(stride)
        if stride == 1 or not self.checked:
            return
        self.analysis.remainders.append(StrideRemainder(
            numerator, stride, axis, layer, as_expr(size), self.name, exact, unread, window,
            padding))

    def require_equal(self, shapes, axes, op, layer):
        """Every input shape equal to the first on `axes` — for every valid value of the
        unbound parameters, or an error that says for which values it holds; a warning where
        that cannot be decided."""
        if not self.checked:
            return

        def show_shape(shape):
            return "[" + ", ".join(pretty(d) for d in shape) + "]"

        def operands(k):
            (name_a, first), (name_b, other) = self.inputs[0], self.inputs[k]
            return (f"`{name_a}` is {show_shape(shapes[0])} (line {first.layer.span.line}), "
                    f"`{name_b}` is {show_shape(shapes[k])} (line {other.layer.span.line})")

        for k, shape in enumerate(shapes[1:], 1):
            if len(shape) != len(shapes[0]):
                raise error("SL309", f"`{op}` needs tensors of one rank: {operands(k)}",
                            layer.span)
            conditions, undecided = [], []
            joined = sorted(set(range(len(shape))) - set(axes))
            rule = ("equal shapes" if not joined else
                    f"equal shapes except on the axis it joins (axis {joined[0]})")
            for axis in axes:
                verdict, condition = equality_condition(shapes[0][axis], shape[axis],
                                                        self.analysis)
                if verdict == "never":
                    channels_only = axis == len(shape) - 1 and len(shape) > 1
                    hint = (f"project one branch to {pretty(shapes[0][axis])} channels with a "
                            "1×1 conv" if channels_only else
                            "make both branches stride and pad alike")
                    raise error("SL309", f"`{op}` needs {rule}: {operands(k)}", layer.span, hint)
                if verdict == "sometimes":
                    conditions.append(condition)
                if verdict == "unknown":
                    undecided.append(condition)
            if conditions:
                raise error("SL310", f"`{op}` needs {rule}, which holds only when "
                            f"{' and '.join(dict.fromkeys(conditions))}: {operands(k)}",
                            layer.span, "bind the sizes with --set to values that satisfy it, "
                            "or make both branches stride and pad alike")
            if undecided:
                self.analysis.diagnostics.append(Diagnostic(
                    "SL312", WARNING, f"`{op}`: undecided whether the shapes agree for every "
                    f"value of the parameters ({'; '.join(dict.fromkeys(undecided))}): "
                    f"{operands(k)}", layer.span,
                    "bind the parameters with --set to check a particular size "
                    "(`check --strict` fails on this)"))

    def require_divisible(self, count, known, layer, span):
        """count/known (the dimension a reshape infers) an integer for every valid value of
        the unbound parameters, or SL311 stating when it is; a warning where that cannot be
        decided."""
        if not self.checked:
            return
        verdict, condition = divisibility_condition(count, known, self.analysis)
        if verdict == "always":
            return
        inferred = pretty(count / known)
        if verdict == "never":
            raise error("SL311", f"reshape cannot infer -1: {pretty(count)} elements are not a "
                        f"multiple of {pretty(known)} for any value of the parameters", span)
        if verdict == "sometimes":
            raise error("SL311", f"reshape infers -1 as {inferred}, an integer only when "
                        f"{condition}", span, "bind the sizes with --set to values that satisfy "
                        "it, or reshape to dimensions that divide the element count")
        self.analysis.diagnostics.append(Diagnostic(
            "SL313", WARNING, f"reshape infers -1 as {inferred}: undecided whether it is an "
            f"integer for every value of the parameters ({condition})", span,
            "bind the parameters with --set to check a particular size "
            "(`check --strict` fails on this)"))

    def divides(self, count, known) -> tuple[str, str | None]:
        """Whether count/known is an integer for every valid value of the unbound parameters:
        `divisibility_condition`'s verdict and condition ("always" where sizes are not
        checked)."""
        if not self.checked:
            return "always", None
        return divisibility_condition(count, known, self.analysis)

    def note(self, code, message, span, hint=DEFAULT_HINT):
        self.analysis.diagnostics.append(Diagnostic(code, NOTE, message, span, hint))


def parse_binding(name: str, text: str):
    """A `--set NAME=VALUE` value: a decimal number only, read digit by digit, never evaluated.
    Raises `ValueError` for anything else, and `limits.LimitError` (a `ValueError`) for a
    number past shapelang's limits."""
    body = text.strip()
    sign = -1 if body.startswith("-") else 1
    numerator, _, denominator = body[1:].partition("/") if body.startswith(("+", "-")) else (
        body.partition("/"))
    try:
        value = sign * limits.read_decimal(numerator)
        if denominator:
            value /= limits.read_decimal(denominator)
        limits.check_value(sympy.Rational(value.numerator, value.denominator))
    except limits.LimitError as exc:
        raise limits.LimitError(f"--set {name}={limits.shorten(text)}: {exc}") from None
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"--set {name}={limits.shorten(text)}: the value must be a number"
                         ) from None
    return sympy.Rational(value.numerator, value.denominator)


def _binding_value(name: str, value, network: ir.Network, diagnostics: list):
    """A binding as a sympy number, or None after an SL213 for a value that is no number or
    is past the limits (`--set` text is read here, so that its problem is the file's)."""
    if isinstance(value, (int, Fraction)):
        value = sympy.Rational(value)  # an int or Fraction from the Python API
    elif not isinstance(value, (str, sympy.Basic)):
        diagnostics.append(Diagnostic("SL213", ERROR, f"--set {name}: a {type(value).__name__}"
                                      " is no number", network.span,
                                      "give a number within the limits"))
        return None
    try:
        if isinstance(value, str):
            value = parse_binding(name, value)
        limits.check_value(value)
        return value
    except ValueError as exc:
        message = str(exc) if str(exc).startswith("--set") else f"--set {name}: {exc}"
        diagnostics.append(Diagnostic("SL213", ERROR, message, network.span,
                                      "give a number within the limits"))
        return None


def walk_network(network: ir.Network, bindings: dict | None = None, *,
                 input_override: Shape | None = None, relative: bool = False,
                 hints: bool = True) -> Analysis:
    """Walk `network` with some parameters bound (`bindings`: name → number). Parameters
    neither bound nor defaulted stay symbols. Never raises for a problem in the network: every
    problem is in `.diagnostics`. In the same walk, every layer is derived again with the
    spatial input sizes as symbols (solve's domains and the SL302 hint read those) and, with
    `hints`, with each padding that would make the first row-dropping layer read every row
    (the SL305 hint). With `relative`, every layer is derived a third time relative to its
    root (`Relative`): at top level every network parameter a symbol (a positive integer, or a
    positive real where the default is not an integer), inside a block use the block's
    parameters and input dimensions. The caller bounds it in time (`limits.time_limit`)."""
    return _analyse(network, bindings, input_override, hints, relative)


def _analyse(network, bindings, input_override, hints, relative) -> Analysis:
    bindings = dict(bindings or {})
    analysis = Analysis(network, {}, {})
    env: dict = {}
    relative_env: dict | None = {} if relative else None
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
        if relative:
            default = evaluate_default(parameter, env)
            integer = default is None or default.is_integer is not False
            relative_env[parameter.name] = sympy.Symbol(parameter.name, positive=True,
                                                        integer=integer or None)
        if parameter.name in bindings:
            value = _binding_value(parameter.name, bindings[parameter.name], network,
                                   analysis.diagnostics)
            if value is None:  # reported once: what uses it is no error of its own
                env[parameter.name] = POISON
                continue
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

    functions = {}
    for function in network.functions:
        functions[function.name] = UserFunction(function, functions)
    env.update(functions)
    if relative_env is not None:
        relative_env.update(functions)
    walker = _Walker(network, analysis, input_override, functions, hints=hints,
                     relative_env=relative_env)
    walker.run(env)
    analysis.env = env
    analysis.train = train_settings(network.train, env, analysis.diagnostics)
    walker.finish_shadows()
    if stopped_for_time(analysis):
        return analysis
    _report_unread_rows(analysis)
    return analysis


def stopped_for_time(analysis: Analysis) -> bool:
    """Past the time limit the analysis stopped where it was: its SL217 is the last finding
    (what came after, such as "no input", is a consequence of stopping, not of the file)."""
    message = limits.time_message()
    for i, d in enumerate(analysis.diagnostics):
        if d.code == "SL217" and d.message == message:
            del analysis.diagnostics[i + 1:]
            analysis.complete = False
            return True
    return False


def merge_repeats(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per code and place: a line inside a block used twelve times (or a
    stride dropping both rows and columns) reports once, with the first case's values and how
    many more there are."""
    groups: dict = {}
    for d in diagnostics:
        # the same message but for its numbers: rows and columns stay apart
        shape_of_message = re.sub(r"\d+", "#", d.message)
        groups.setdefault((d.code, d.span, shape_of_message), []).append(d)
    merged = []
    for group in groups.values():
        first = group[0]
        if len(group) > 1 and first.code not in (  # not properties of a use
                "SL207", "SL216", "SL218", "SL219", "SL220"):
            more = len(group) - 1
            first = replace(first, message=f"{first.message} — and in {more} more use"
                            f"{'s' if more > 1 else ''} of this line's block")
        merged.append(first)
    return merged


def evaluate_default(parameter: ir.Parameter, env: dict):
    """A parameter's default as a number, or None (no default, or one that needs symbols)."""
    if parameter.default is None:
        return None
    try:
        value = evaluate(parameter.default, env)
    except (DiagnosticError, Poisoned):
        return None
    return value if isinstance(value, sympy.Basic) and value.is_number else None


def _report_unread_rows(analysis: Analysis):
    """One SL305 for the network: the first layer whose stride leaves input rows or columns
    unread, its axes together, and the later layers that do too — one change (a padding on
    that layer, or other input sizes) is what fixes them, so one warning says so."""
    by_layer: dict = {}
    for r in analysis.remainders:
        if r.unread:
            by_layer.setdefault(r.name, []).append(r)
    if not by_layer:
        return
    (_, axes), *later = by_layer.items()
    strides = list(dict.fromkeys(int(r.stride) for r in axes))
    who = (f"stride {strides[0]} leaves" if len(strides) == 1 else
           f"strides {', '.join(map(str, strides))} leave")
    lost = " and ".join(f"the last {r.unread} {r.axis if r.unread > 1 else r.axis[:-1]}"
                        for r in axes)
    sums = ", ".join(f"{r.axis} + padding − window = {pretty_number(r.size)} + "
                     f"{pretty_number(r.padding)} − {pretty_number(r.window)} = "
                     f"{pretty_number(r.numerator)}" for r in axes)
    multiple = ("not a multiple" if len(axes) == 1 else "not multiples") + " of " + " and ".join(
        map(str, strides))
    message = f"{who} {lost} of this layer's input unread ({sums}: {multiple})"
    if later:
        names = ", ".join(f"`{name}` (line {rs[0].layer.span.line})" for name, rs in later[:3])
        more = f" and {len(later) - 3} more" if len(later) > 3 else ""
        message += (f"; {len(later)} later layer{'s' if len(later) > 1 else ''} "
                    f"leave{'' if len(later) > 1 else 's'} rows or columns unread too: "
                    f"{names}{more}")
    analysis.diagnostics.append(Diagnostic("SL305", WARNING, message, axes[0].layer.span, None))


def pretty_number(value) -> str:
    return str(int(value)) if value is not None and value.is_Integer else show_expr(value)


def _duplicate(name, span):
    return Diagnostic("SL207", ERROR, f"`{name}` is defined twice", span,
                      "give each parameter, `let` and label its own name")


@dataclass
class _Scope:
    """The names visible while walking one body: the network's, a block instance's, or one
    iteration of a `repeat` (which also sees the enclosing body's tensors)."""

    env: dict
    prefix: str  # instance path with a trailing dot, or ""
    parent: _Scope | None = None
    tensors: dict = field(default_factory=dict)  # local name → full name of its layer result
    counters: dict = field(default_factory=dict)
    taken: set = field(default_factory=set)
    # the first name of every path that starts here (a block use's, a repeat iteration's) →
    # what gave it, for the message when two would give their layers the same names
    paths: dict = field(default_factory=dict)
    previous: str | None = None  # full name of the latest tensor
    output: str | None = None  # set by `return`
    blocks_in_use: tuple = ()
    in_block: bool = False
    depth: int = 0  # block uses and repeats around this body
    relative_env: dict | None = None  # the names relative to the root (see `Relative`)
    root: str = ""  # the path of the block use whose body this is, "" for the network's
    # the block uses this body lies in, outermost first: (block name, line of the use, path)
    uses: tuple = ()
    iteration: bool = False  # the body of one `repeat` iteration

    def lookup(self, name: str) -> str | None:
        scope = self
        while scope is not None:
            if name in scope.tensors:
                return scope.tensors[name]
            scope = scope.parent
        return None

    def outside_repeat(self, name: str) -> bool:
        """Whether `@name` resolves to a tensor defined before the innermost `repeat` this
        body is an iteration of (the same tensor in every iteration)."""
        scope, inside = self, True
        while scope is not None:
            if name in scope.tensors:
                return not inside
            if scope.iteration:
                inside = False
            scope = scope.parent
        return False

    def notes(self) -> tuple[str, ...]:
        """Where this body was instantiated, innermost use first."""
        return tuple(f"in block `{block}`, used at line {line} as `{path}`"
                     for block, line, path in reversed(self.uses))

    def visible(self) -> list[str]:
        names, scope = [], self
        while scope is not None:
            names += list(scope.tensors)
            scope = scope.parent
        return names

    def default_name(self, op: str) -> str:
        while True:
            self.counters[op] = self.counters.get(op, 0) + 1
            name = op if op == "input" and self.counters[op] == 1 else f"{op}_{self.counters[op]}"
            if name not in self.taken:
                self.taken.add(name)
                return name


@dataclass(frozen=True)
class _Source:
    """What a merge's message names of an input: its line."""

    layer: ir.Layer


@dataclass
class _Shadow:
    """The network walked again, in lockstep with the bound walk, with other values: the
    spatial input sizes as symbols, or another padding on the layer `root`. It collects what
    the layer rules report (minimum sizes, strides) as the bound walk does."""

    symbols: dict
    root: str | None = None
    line: ir.Layer | None = None
    padding: object = None
    text: str = ""
    shapes: dict = field(default_factory=dict)
    minimum_sizes: list = field(default_factory=list)
    remainders: list = field(default_factory=list)
    diagnostics: list = field(default_factory=list)
    failed: str | None = None
    maximum_sizes: list = field(default_factory=list)

    def fail(self, reason: str):
        if self.failed is None:
            self.failed = reason


class _LimitReached(Exception):
    """The network unrolls past `limits.MAX_LAYERS`, or its analysis past the time limit: the
    walk stops where it is, and nothing after it is reported."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _blocks_used(statements) -> set[str]:
    return {line.op for line in ir.layer_lines(statements)}


def _labels(statements) -> set[str]:
    """The labels a body's lines claim, in both branches of its `if`s (a label inside an
    `if` names a tensor of the body around it)."""
    found = set()
    for s in statements:
        if isinstance(s, (ir.Layer, ir.Repeat)) and s.label:
            found.add(s.label)
        elif isinstance(s, ir.If):
            found |= _labels(s.then) | _labels(s.otherwise)
    return found


_COMPARISONS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b,
                "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
                "<": lambda a, b: a < b, ">": lambda a, b: a > b}


def _free_symbols(value) -> set:
    if isinstance(value, (tuple, list)):
        return set().union(*(_free_symbols(v) for v in value)) if value else set()
    return set(value.free_symbols) if isinstance(value, sympy.Basic) else set()


def decide(condition: ir.Condition, env: dict) -> bool:
    """An `if` condition's value in `env`: SL225 where it depends on an unbound symbol, SL204
    where it is no truth value, SL206 for a bare word that names nothing (`strid == 2`)."""
    if condition.kind == "not":
        return not decide(condition.operands[0], env)
    if condition.kind == "and":
        return all(decide(c, env) for c in condition.operands)
    if condition.kind == "or":
        return any(decide(c, env) for c in condition.operands)
    values = [evaluate(e, env, keywords=True) for e in condition.operands]
    free = set().union(*(_free_symbols(v) for v in values))
    if free:
        names = ", ".join(f"`{s}`" for s in sorted(map(str, free)))
        bind = " ".join(f"--set {s}=…" for s in sorted(map(str, free)))
        raise error("SL225", f"this condition depends on {names}, which "
                    f"{'is' if len(free) == 1 else 'are'} unbound: `if` is decided from the "
                    "parameters' values", condition.span,
                    f"bind {'it' if len(free) == 1 else 'them'} ({bind}) or give "
                    f"{'it' if len(free) == 1 else 'them'} a default")
    words = [isinstance(v, Keyword) for v in values]
    literal = [isinstance(e, ir.Name) and e.id not in env and w
               for e, w in zip(condition.operands, words)]
    if condition.kind == "test":
        (value,) = values
        if isinstance(value, Keyword) and value.name in ("true", "True", "false", "False"):
            return value.name in ("true", "True")
        if literal[0]:
            raise error("SL206", f"no name `{value.name}` here", condition.span,
                        did_you_mean(value.name, [k for k in env if isinstance(k, str)])
                        or "a condition alone is `true` or `false`, or a name holding one")
        raise error("SL204", f"a condition is a comparison or `true`/`false`, got "
                    f"{show(value)}", condition.span, "compare it: `if s == 2:`")
    left, right = values
    if isinstance(left, (tuple, list)) != isinstance(right, (tuple, list)):
        raise error("SL204", f"`{condition.comparison}` compares a shape or tuple with a "
                    f"number or word: {show(left)} and {show(right)}", condition.span,
                    "compare a dimension: `channels(@x) == 64`")
    if any(words):
        if all(literal) or (literal[0] and not words[1]) or (literal[1] and not words[0]):
            name = condition.operands[0 if literal[0] else 1]
            raise error("SL206", f"no name `{name.id}` here", name.span,
                        did_you_mean(name.id, [k for k in env if isinstance(k, str)])
                        or "compare a parameter or `let` with a number or a word")
        if condition.comparison not in ("==", "!="):
            raise error("SL204", f"words compare with `==` or `!=` only, got "
                        f"`{condition.comparison}`", condition.span)
        same = (isinstance(left, Keyword) and isinstance(right, Keyword)
                and left.name == right.name)
        return same if condition.comparison == "==" else not same
    if not all(isinstance(v, sympy.Basic) and v.is_number and v.is_real for v in values):
        if condition.comparison in ("==", "!="):
            same = left == right
            return same if condition.comparison == "==" else not same
        raise error("SL204", f"`{condition.comparison}` compares numbers, got {show(left)} and "
                    f"{show(right)}", condition.span)
    return bool(_COMPARISONS[condition.comparison](left, right))


def _cycles(uses: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of the block-use graph that has one, as
    `[a, b, …, a]` from the component's first name: Tarjan's algorithm, iterative and linear
    in blocks and uses (a search of every path is exponential in 40 blocks)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    for start in sorted(uses):
        if start in index:
            continue
        work = [(start, iter(sorted(uses[start] & uses.keys())))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(uses[successor] & uses.keys()))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
    cycles = []
    for component in components:
        first = min(component)
        if len(component) > 1 or first in uses[first]:
            cycles.append(_shortest_cycle(first, component, uses))
    return sorted(cycles)


def _shortest_cycle(first: str, component: set[str], uses) -> list[str]:
    """The shortest path from `first` back to itself inside its component (breadth first)."""
    parents: dict[str, str] = {}
    frontier = [first]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(uses[node] & component):
                if successor == first:
                    path = [node]
                    while path[-1] != first:
                        path.append(parents[path[-1]])
                    return [*reversed(path), first]
                if successor not in parents:
                    parents[successor] = node
                    following.append(successor)
        frontier = following
    raise AssertionError("a strongly connected component without a cycle")


class _Walker:
    """Walks a network's statements — into block instances and `repeat` iterations — and fills
    the analysis with one `LayerResult` per layer."""

    def __init__(self, network: ir.Network, analysis: Analysis, input_override, functions,
                 hints: bool = False, relative_env: dict | None = None):
        self.network = network
        self.network_functions = functions  # file-level `let f(…)`, visible in every block
        self.analysis = analysis
        self.input_override = input_override
        self.shapes: dict[str, Shape] = analysis.shapes
        self.consumers: dict[str, int] = {}
        self.blocks = {b.name: b for b in network.blocks}
        self.ctx = _LayerContext(analysis)
        self.seen_input = False
        self.relative_env = relative_env
        # relative shapes by (root, tensor path); the checks of the network-relative
        # derivation report here (only whether it raises matters)
        self.relative_shapes: dict = {}
        self.relative_sink = _Shadow({})
        # block use → what its relative values depend on (block, input rank, parameters as
        # symbols or words); (that, line, local prefix) → the line's relative values
        self.signatures: dict = {}
        self.relative_layers: dict = {}
        self.unrolled = 0  # layer lines walked, in every block use and repeat iteration
        self._sizes: dict = {}  # (block, arguments) → layers one use unrolls to
        self._sizing: set[str] = set()  # blocks whose size is being counted
        self.sources: dict[str, _Source] = {}  # layer path → its line
        self.tensor_reads = 0  # sizes of tensors read by the lines' values (`channels(@x)`)
        self.binding_layer = False
        # the variants derived in lockstep with the bound values (`_Shadow`)
        self.shadows: list[_Shadow] = []
        self.sizes: _Shadow | None = None
        self.sizes_axes: tuple = ()
        self.sizes_wanted = input_override is None
        self.hints = hints
        self.fixes_started = False
        self.outside_reported: set = set()  # SL224 once per line and block use
        self.output_statement: ir.Output | None = None
        self.integer: set[str] = set()  # the tensors that hold integer ids

    # ---- entry ------------------------------------------------------------------------------
    def run(self, env: dict):
        self._check_definitions()
        scope = self._scope(env, "", None, relative_env=self.relative_env)
        scope.taken |= _labels(self.network.statements)
        self.walk_to_the_limit(self.network.statements, scope)
        self.analysis.tensors = scope.tensors
        if not self.seen_input:
            self.error("SL212", f"the network `{self.network.name}` has no `input`",
                       self.network.span, "begin the network with `input [d1, d2, …]`")
        self._check_input_labels()
        if not self.analysis.output_paths and self.analysis.layers:
            last = scope.previous  # the last line's output (a block use's `return` too)
            self.analysis.output_paths = [last if self.analysis.by_name(last) is not None
                                          else self.analysis.layers[-1].name]
        if self.analysis.complete:
            self._report_unused()

    def _check_input_labels(self):
        """With several inputs, each has a label: the generated programs' input names."""
        found = [self.analysis.by_name(p) for p in self.analysis.input_paths]
        if len(found) < 2:
            return
        for r in found:
            if r is not None and not r.layer.label:
                self.error("SL212", f"this network has {len(found)} inputs: each needs a label, "
                           "its name in the generated programs and the training data",
                           r.layer.span, "label it: `ids: input [T]`")

    def _check_definitions(self):
        """Blocks: unique names that are not layer kinds, and none using itself (even unused)."""
        uses: dict[str, set[str]] = {}
        for b in self.network.blocks:
            uses.setdefault(b.name, set()).update(_blocks_used(b.statements))
        for found in _cycles(uses):
            block = next(b for b in self.network.blocks if b.name == found[0])
            self.error("SL216", f"block `{block.name}` uses itself ({' → '.join(found)})",
                       block.span, "a block may use other blocks, but not itself")
        seen = {}
        for block in self.network.blocks:
            if block.name in seen:
                self.warn_or_error("SL207", ERROR, f"block `{block.name}` is defined twice",
                                   block.span)
            elif block.name in REGISTRY:
                self.warn_or_error("SL218", ERROR, f"block `{block.name}` has the name of a "
                                   "layer kind", block.span, "rename the block")
            seen[block.name] = block

    def _scope(self, env, prefix, parent, **kwargs) -> _Scope:
        scope = _Scope(env=env, prefix=prefix, parent=parent, **kwargs)

        def shape_of(name, span):
            full = self.resolve(scope, name, span)
            if full not in self.shapes:  # after an earlier error: reported already
                raise Poisoned(name)
            self.tensor_reads += 1
            if not self.binding_layer:  # a layer line is bound again in each variant
                for shadow in self.shadows:
                    if shadow.shapes.get(full, self.shapes[full]) != self.shapes[full]:
                        shadow.fail(f"a line reads the size of `{full}`, which depends on them")
            return self.shapes[full]

        env[TENSORS] = shape_of
        if scope.relative_env is not None:
            def relative_shape_of(name, span):
                full = self.resolve(scope, name, span)
                if (scope.root, full) not in self.relative_shapes:
                    raise Poisoned(name)
                return self.relative_shapes[(scope.root, full)]

            scope.relative_env[TENSORS] = relative_shape_of
        return scope

    # ---- reporting -------------------------------------------------------------------------
    def warn_or_error(self, code, severity, message, span, hint=DEFAULT_HINT):
        self.analysis.diagnostics.append(Diagnostic(code, severity, message, span, hint))

    def error(self, code, message, span, hint=DEFAULT_HINT):
        self.warn_or_error(code, ERROR, message, span, hint)
        self.analysis.complete = False

    def resolve(self, scope: _Scope, name: str, span) -> str:
        full = scope.lookup(name)
        if full is None:
            raise error("SL206", f"no tensor `@{name}` here", span,
                        did_you_mean(name, scope.visible())
                        or "`@NAME` reads the output of an earlier line labelled `NAME:`")
        return full

    # ---- statements ------------------------------------------------------------------------
    def walk_to_the_limit(self, statements, scope: _Scope):
        """`walk`, stopped for good where the network unrolls past `limits.MAX_LAYERS` or the
        analysis runs out of time."""
        try:
            self.walk(statements, scope)
        except _LimitReached as exc:
            self.analysis.diagnostics.append(exc.diagnostic)
            self.analysis.complete = False

    def walk(self, statements, scope: _Scope):
        for statement in statements:
            if limits.out_of_time():
                raise _LimitReached(Diagnostic("SL217", ERROR, limits.time_message(),
                                               statement.span, limits.LIMIT_HINT))
            try:
                if (self.output_statement is not None and not scope.in_block
                        and isinstance(statement, (ir.Layer, ir.Repeat, ir.If, ir.Output))):
                    raise error("SL220", f"a line after `output` (line "
                                f"{self.output_statement.span.line}): nothing can read it, "
                                "since `output` names the network's outputs and comes last",
                                statement.span, "move `output @…` below the network's last "
                                "layer line, or remove this line")
                if isinstance(statement, ir.Let):
                    self.let(statement, scope)
                elif isinstance(statement, ir.Function):
                    self.function(statement, scope)
                elif isinstance(statement, ir.Layer):
                    if statement.op in self.blocks and statement.op not in REGISTRY:
                        self.instance(statement, scope)
                    else:
                        self.layer(statement, scope)
                elif isinstance(statement, ir.Repeat):
                    self.repeat(statement, scope)
                elif isinstance(statement, ir.If):
                    self.if_(statement, scope)
                elif isinstance(statement, ir.Return):
                    self.return_(statement, scope)
                elif isinstance(statement, ir.Output):
                    self.output_(statement, scope)
                elif isinstance(statement, ir.Expect) and scope.in_block:
                    self.error("SL220", "`expect` belongs in the network, not in a block",
                               statement.span, "expect the labelled layer from the network")
            except DiagnosticError as exc:
                found = exc.diagnostic
                if scope.uses and not found.notes:
                    found = replace(found, notes=scope.notes())
                self.analysis.diagnostics.append(found)
                self.analysis.complete = False
            except Poisoned:
                self.analysis.complete = False

    def if_(self, statement: ir.If, scope: _Scope):
        """The branch the condition takes, walked in the enclosing body (its labels are the
        body's); the other branch does not exist."""
        taken = decide(statement.condition, scope.env)
        relative = None
        if scope.relative_env is not None:
            try:
                relative = decide(statement.condition, scope.relative_env)
            except (DiagnosticError, Poisoned):
                relative = None
        self.analysis.produced[(scope.prefix, statement.span)] = BranchTaken(taken, relative)
        self.walk(statement.then if taken else statement.otherwise, scope)

    def let(self, statement: ir.Let, scope: _Scope):
        if statement.name in scope.env and not callable(scope.env[statement.name]):
            self.analysis.diagnostics.append(_duplicate(statement.name, statement.span))
            return
        if scope.relative_env is not None:
            try:
                scope.relative_env[statement.name] = evaluate(statement.value, scope.relative_env)
            except (DiagnosticError, Poisoned):
                scope.relative_env[statement.name] = POISON
        try:
            scope.env[statement.name] = evaluate(statement.value, scope.env)
        except (DiagnosticError, Poisoned):
            scope.env[statement.name] = POISON
            raise

    def function(self, statement: ir.Function, scope: _Scope):
        if statement.name in scope.env:
            self.analysis.diagnostics.append(_duplicate(statement.name, statement.span))
            return
        scope.env[statement.name] = UserFunction(statement, scope.env)
        if scope.relative_env is not None:
            scope.relative_env[statement.name] = UserFunction(statement, scope.relative_env)

    def return_(self, statement: ir.Return, scope: _Scope):
        if not scope.in_block:
            raise error("SL220", "`return` belongs in a block; a network's output is its last "
                        "line", statement.span)
        scope.output = self.resolve(scope, statement.ref.name, statement.ref.span)
        self.consumers[scope.output] = self.consumers.get(scope.output, 0) + 1

    def output_(self, statement: ir.Output, scope: _Scope):
        """`output @a @b`: the network's outputs, in order."""
        if scope.in_block or scope.parent is not None:
            raise error("SL220", "`output` belongs in the network's own body, not in a block "
                        "or `repeat`", statement.span,
                        "a block's output is `return @x`; name the network's outputs after "
                        "its last line")
        if statement.stray:
            raise error("SL221", "`output` names tensors only: `output @a @b`",
                        statement.stray[0], "remove the values, options or label")
        if not statement.refs:
            raise error("SL221", "`output` names the network's outputs: `output @a @b`",
                        statement.span, "name each output with `@label`")
        self.output_statement = statement
        paths, seen = [], {}
        for ref in statement.refs:
            path = self.resolve(scope, ref.name, ref.span)
            if path in seen:
                raise error("SL219", f"`@{ref.name}` is listed twice in `output`"
                            + (f" (as `@{seen[path]}` first)" if seen[path] != ref.name else ""),
                            ref.span, "list each output once")
            seen[path] = ref.name
            paths.append(path)
        for path in paths:
            self.consumers[path] = self.consumers.get(path, 0) + 1
        self.analysis.output_paths = paths
        self.analysis.output_names = [ref.name for ref in statement.refs]

    def _name(self, layer: ir.Layer, scope: _Scope) -> str:
        return layer.label if layer.label else scope.default_name(layer.op)

    def _claim(self, name: str, statement, scope: _Scope):
        if name in scope.tensors:
            where = f" in block `{scope.blocks_in_use[-1]}`" if scope.in_block else ""
            raise error("SL207", f"the label `{name}` is used twice{where}", statement.span,
                        "give each label its own name")

    def _claim_path(self, name: str, what: str, statement, scope: _Scope):
        """`name` starts the layer names of a block use or a repeat iteration (`name.conv_1`):
        two of those with one name would give two layers one name."""
        if name in scope.paths:
            first, line = scope.paths[name]
            raise error("SL207", f"{what} would name its layers `{scope.prefix}{name}.…`, as "
                        f"{first} at line {line} already does", statement.span,
                        "give the block use or the repeat a label of its own (`NAME: …`) so "
                        "that their layers' names differ")
        scope.paths[name] = (what, statement.span.line)

    def _inputs(self, layer: ir.Layer, scope: _Scope, wanted: int) -> tuple[str, ...]:
        """The full names of the tensors a line reads. `wanted`: 0 (input), 1, -1 (a merge
        of two or more: one `@x` means the previous output and x), or 2 (attention: the
        previous output alone, the previous output and `@x`, or `@q @kv`)."""
        refs = tuple(self.resolve(scope, r.name, r.span) for r in layer.refs)
        if wanted == 0:
            if refs:
                raise error("SL221", "`input` reads no tensor", layer.refs[0].span)
            return ()
        if scope.previous is None:
            if not self.seen_input:
                self.seen_input = True  # report it once
                raise error("SL212", f"`{layer.op}` comes before any `input`", layer.span,
                            "begin the network with `input [d1, d2, …]`")
            raise error("SL212", "no tensor to read", layer.span)
        if wanted == 1:
            if len(refs) > 1:
                raise error("SL221", f"`{layer.op}` reads one tensor, got {len(refs)}",
                            layer.refs[1].span, "merge them first with `add` or `concat`")
            return refs or (scope.previous,)
        if wanted == 2:  # a query, and keys and values that are the query unless named
            if len(refs) > 2:
                raise error("SL221", f"`{layer.op}` reads a query and a memory (keys and "
                            f"values), got {len(refs)} tensors", layer.refs[2].span,
                            f"`{layer.op} … @memory` (the query: the previous line's output) "
                            f"or `{layer.op} … @query @memory`")
            return (scope.previous, *refs) if len(refs) < 2 else refs
        if not refs:
            raise error("SL221", f"`{layer.op}` merges tensors: name them", layer.span,
                        f"`{layer.op} @a @b`, or `{layer.op} @a` for the previous line and a")
        self._outside_repeat(layer, scope)
        return (scope.previous, *refs) if len(refs) == 1 else refs

    def _outside_repeat(self, layer: ir.Layer, scope: _Scope):
        """SL224 for a merge inside a `repeat` that reads a tensor from before it."""
        for ref in layer.refs:
            key = (ref.span, scope.uses)
            if scope.outside_repeat(ref.name) and key not in self.outside_reported:
                self.outside_reported.add(key)
                self.analysis.diagnostics.append(Diagnostic(
                    "SL224", WARNING, f"`{layer.op}` inside a `repeat` reads `@{ref.name}`, "
                    "which is defined outside it: the same tensor in every iteration, not the "
                    "iteration's input", ref.span, notes=scope.notes()))

    def layer(self, layer: ir.Layer, scope: _Scope):
        kind = REGISTRY.get(layer.op)
        if kind is None:
            raise error("SL201", f"unknown layer kind `{layer.op}`", layer.op_span,
                        did_you_mean(layer.op, [*REGISTRY, *self.blocks])
                        or "see the layer table in the README")
        self.unrolled += 1
        if self.unrolled > limits.MAX_LAYERS:
            raise _LimitReached(error(
                "SL217", f"the network unrolls to more than {limits.MAX_LAYERS:,} layers; "
                "analysis stopped here", layer.span, limits.LIMIT_HINT).diagnostic)
        if layer.op == "input" and (scope.in_block or scope.parent is not None):
            raise error("SL212", "`input` belongs in the network's own body, not in a block "
                        "or `repeat`", layer.span, "a block reads its use's input as `@input`")
        name = self._name(layer, scope)
        self._claim(name, layer, scope)
        full = scope.prefix + name
        try:
            self._layer(layer, kind, scope, full)
        except (DiagnosticError, Poisoned):
            # Its output has no shape, and later lines reading it are no errors of their own.
            scope.tensors[name] = full
            scope.previous = full
            raise
        scope.tensors[name] = full
        scope.previous = full

    def _layer(self, layer: ir.Layer, kind, scope: _Scope, full: str):
        if layer.op == "input":
            self.seen_input = True
            self.analysis.input_paths.append(full)
        inputs = self._inputs(layer, scope, kind.inputs)
        reads = self.tensor_reads
        self.binding_layer = True
        try:
            args = kind.bind(layer, scope.env)
        finally:
            self.binding_layer = False
        rebind = scope if self.tensor_reads != reads else None
        if args.values.get("tie") is not None and self.analysis.complete:
            args.values["tie"] = self._tied(args, scope, inputs)
        self.sources[full] = _Source(layer)
        for shadow in self.shadows:
            self._derive_in(shadow, layer, kind, args, inputs, full, rebind)
        if not self.analysis.complete:
            return  # an earlier layer has no shape: check arguments only
        in_shapes = [self.shapes[i] for i in inputs]
        self.ctx.inputs = [(i, self.sources.get(i)) for i in inputs]
        self.ctx.name = full
        if (layer.op == "input" and self.input_override is not None
                and full == self.analysis.input_paths[0]):
            out = tuple(self.input_override)
        else:
            try:
                out = tuple(as_expr(d) for d in kind.output_shape(args, in_shapes, self.ctx))
            except DiagnosticError as exc:
                self.analysis.bound_only.append(exc.diagnostic)
                raise
            if layer.op == "input" and self.sizes_wanted:
                self._start_sizes(layer, out, full,
                                  ids=args.values.get("dtype", "float32") != "float32")
            elif self.hints and not self.fixes_started:
                self._start_fixes(layer, kind, args, inputs, out, full)
        trainable, non_trainable = kind.parameters(args, in_shapes, out)
        self._check_integer(layer, kind, args, inputs, in_shapes, out, trainable, full)
        macs = kind.macs(args, in_shapes, out)
        result = LayerResult(len(self.analysis.layers), full, layer, inputs, out,
                             as_expr(trainable), as_expr(non_trainable), as_expr(macs),
                             args, args.geometry.pads if args.geometry else args.pads)
        _check_results(result)
        if self.analysis.by_name(full) is not None:
            first = self.analysis.by_name(full).layer.span.line
            raise error("SL207", f"two layers would be named `{full}` (lines {first} and "
                        f"{layer.span.line})", layer.span, "label one of them differently")
        if scope.relative_env is not None:
            result.relative = self._relative(layer, kind, scope, inputs)
            if result.relative is not None:
                self.relative_shapes[(scope.root, full)] = result.relative.shape
        self.analysis.add(result)
        self.analysis.produced[(scope.prefix, layer.span)] = full
        for i in inputs:
            self.consumers[i] = self.consumers.get(i, 0) + 1
        self.shapes[full] = out

    # ---- token ids and tied weights (seqops) ---------------------------------------------------
    def _check_integer(self, layer, kind, args, inputs, in_shapes, out, trainable, full):
        """Token ids flow from an integer input through layers that only move elements; an
        `embedding` reads only them, no other layer with parameters reads them."""
        integer = any(i in self.integer for i in inputs)
        if kind.reads_ids and not integer:
            raise error("SL322", f"`{layer.op}` reads token ids, but its input is a float "
                        "tensor", layer.span, "declare the network's input as ids: "
                        "`input [T] dtype=int32`")
        if integer and not kind.reads_ids and as_expr(trainable) != 0:
            raise error("SL323", f"`{layer.op}` reads integer token ids: embed them first, "
                        "a layer with parameters would learn from their numbering", layer.span,
                        "put `embedding VOCAB DIM` before it")
        if (layer.op == "input" and args.values.get("dtype", "float32") != "float32") or (
                integer and kind.moves_elements):
            self.integer.add(full)

    def _tied(self, args: Args, scope: _Scope, inputs) -> str:
        """The path of the `embedding` a `tie=LABEL` names, its sizes checked against the
        tied layer's."""
        span = args.span("tie")
        tied = self.resolve(scope, args.values["tie"], span)
        embedding = self.analysis.by_name(tied)
        if embedding is None or embedding.op != "embedding":
            raise error("SL324", f"`tie={args.values['tie']}` must name an `embedding` line, "
                        f"but it names a `{embedding.op if embedding else 'block'}` output",
                        span, "label the embedding whose matrix this layer reuses")
        if not self._computes(tied, inputs[0]):
            raise error("SL324", f"`tie={args.values['tie']}`: the embedding `{tied}` does not "
                        f"compute this layer's input `{inputs[0]}`", span,
                        "tie the layer to the embedding its input is computed from (a tied "
                        "head maps back into the vocabulary its tokens were embedded from)")
        vocab, dim = embedding.args.vocab, embedding.args.dim
        width = self.shapes[inputs[0]][-1]
        problems = []
        if sympy.expand(args.values["units"] - vocab) != 0:
            problems.append(f"its units are {pretty(args.values['units'])}, the embedding's "
                            f"vocabulary {pretty(vocab)}")
        if sympy.expand(width - dim) != 0:
            problems.append(f"its input is {pretty(width)} wide, the embedding's vectors "
                            f"{pretty(dim)}")
        if problems:
            raise error("SL324", f"`tie={args.values['tie']}` reuses the embedding's "
                        f"{pretty(vocab)}×{pretty(dim)} matrix, but {'; '.join(problems)}",
                        args.layer.span, "make the units the vocabulary and the input as wide "
                        "as the embedding's vectors")
        return tied

    def _computes(self, ancestor: str, tensor: str) -> bool:
        """Whether the layer `ancestor` is among those that compute `tensor` (itself included)."""
        seen, pending = set(), [tensor]
        while pending:
            name = pending.pop()
            if name == ancestor:
                return True
            found = self.analysis.by_name(name)
            if name in seen or found is None:
                continue
            seen.add(name)
            pending.extend(found.inputs)
        return False

    # ---- the variants derived in the same walk ------------------------------------------------
    def _relative(self, layer: ir.Layer, kind, scope: _Scope, inputs) -> Relative | None:
        """The line relative to its root; None where that cannot be derived (a value that
        needs a number, an input without a relative shape)."""
        shapes = [self.relative_shapes.get((scope.root, i)) for i in inputs]
        if any(shape is None for shape in shapes):
            return None
        # inside a block use, the same as in an earlier use with the same symbols and words
        key = (self.signatures.get(scope.root), layer.span, scope.prefix[len(scope.root):])
        if scope.root and key in self.relative_layers:
            return self.relative_layers[key]
        found = self._derive_relative(layer, kind, scope, inputs, shapes)
        if scope.root:
            self.relative_layers[key] = found
        return found

    def _derive_relative(self, layer: ir.Layer, kind, scope: _Scope, inputs, shapes
                         ) -> Relative | None:
        ctx = _LayerContext(self.relative_sink, checked=scope.root == "")
        ctx.inputs = [(i, self.sources.get(i)) for i in inputs]
        ctx.name = scope.prefix + (layer.label or "")
        try:
            args = kind.bind(layer, scope.relative_env)
            shape = tuple(as_expr(d) for d in kind.output_shape(args, shapes, ctx))
        except (DiagnosticError, Poisoned):
            return None
        return Relative(args, shape)

    def _derive_in(self, shadow: _Shadow, layer: ir.Layer, kind, args: Args, inputs, full: str,
                   rebind: _Scope | None = None):
        """Derive one layer's shape in `shadow`, from its inputs' shapes there (the bound ones
        where the variant does not differ): the same rules on other values. A line whose
        values read tensors' sizes (`rebind`, its scope) is bound again on the variant's."""
        if shadow.failed:
            return
        shapes = [shadow.shapes.get(i, self.shapes.get(i)) for i in inputs]
        if any(shape is None for shape in shapes):
            shadow.fail("an earlier line has no shape")
            return
        if rebind is not None:
            def shape_of(name, span):
                found = self.resolve(rebind, name, span)
                shape = shadow.shapes.get(found, self.shapes.get(found))
                if shape is None:
                    raise Poisoned(name)
                return shape

            try:
                args = kind.bind(layer, {**rebind.env, TENSORS: shape_of})
            except DiagnosticError as exc:
                shadow.fail(exc.diagnostic.message)
                return
            except Poisoned:
                shadow.fail("an earlier line has no shape")
                return
        values = dict(args.values)
        if shadow.line is layer:  # the line changed: every use of it
            values["padding"] = shadow.padding
        bound = Args(values, args.spans, args.layer, args.activation)
        ctx = _LayerContext(shadow)
        ctx.inputs = [(i, self.sources.get(i)) for i in inputs]
        ctx.name = full
        try:
            out = tuple(as_expr(d) for d in kind.output_shape(bound, shapes, ctx))
            _check_shape(layer, out)
            shadow.shapes[full] = out
        except DiagnosticError as exc:
            shadow.fail(exc.diagnostic.message)
        except Poisoned:
            shadow.fail("an earlier line has no shape")

    def _start_sizes(self, layer: ir.Layer, out, full: str, ids: bool = False):
        """The variant with every spatial input size a symbol, named as in the file (`H`) or
        after its axis."""
        rank = len(out) - (0 if ids else 1)  # token ids have no channels axis
        if rank < 1:
            return
        # a later input's sizes named after it where they are numbers in the file (`ids
        # length`): two inputs' sizes are one symbol only where the file names them alike
        owner = "" if len(self.analysis.input_paths) < 2 else f"{full} "
        items = layer.positional[0].items if layer.positional else ()
        names, axis_names = [], []
        for i in range(rank):
            node = items[i] if i < len(items) else None
            axis = AXIS_NAMES[rank][i] if rank in AXIS_NAMES else f"axis {i}"
            axis_names.append(owner + axis)
            names.append(node.id if isinstance(node, ir.Name) else owner + axis)
        symbols = [sympy.Symbol(name, integer=True, positive=True) for name in names]
        axes = tuple((axis, symbol, dim)
                     for axis, symbol, dim in zip(axis_names, symbols, out[:rank]))
        if self.sizes is None:
            self.sizes = _Shadow(dict(self.analysis.symbols))
            self.shadows.append(self.sizes)
        for symbol in symbols:
            self.sizes.symbols.setdefault(str(symbol), symbol)
        self.sizes.shapes[full] = tuple(symbols) + (() if ids else tuple(out[-1:]))
        self.sizes_axes = (*self.sizes_axes, *axes)

    def _start_fixes(self, layer: ir.Layer, kind, args: Args, inputs, out, full: str):
        """At the first layer whose stride leaves input rows unread: a variant per padding
        under which that layer reads every row, derived from here on."""
        unread = [r for r in self.analysis.remainders if r.name == full and r.unread]
        if not unread:
            return
        self.fixes_started = True
        candidates = paddings_reading_every_row(args.values.get("padding"), len(out) - 1,
                                                unread)
        for text, padding in candidates:
            shadow = _Shadow(self.analysis.symbols, root=full, line=layer, padding=padding,
                             text=text)
            self._derive_in(shadow, layer, kind, args, inputs, full)
            self.shadows.append(shadow)

    def finish_shadows(self):
        """What the variants found, for the graph: a variant is incomplete where it failed
        itself, or where the walk reported an error that no variant survived."""
        failed = next((d.message for d in self.analysis.diagnostics if d.severity == ERROR
                       and not any(d is b for b in self.analysis.bound_only)), None)
        if self.sizes is not None:
            sizes = self.sizes
            self.analysis.input_sizes = InputSizes(
                self.sizes_axes, sizes.symbols, tuple(sizes.minimum_sizes),
                tuple(sizes.remainders), sizes.failed or failed, tuple(sizes.maximum_sizes))
        fixes = []
        for shadow in self.shadows:
            if shadow.root is None:
                continue
            names = {r.name for r in shadow.remainders if r.unread}
            still = (None if shadow.failed or failed or shadow.root in names else len(names))
            fixes.append(PaddingFix(shadow.text, shadow.padding, still))
        self.analysis.padding_fixes = tuple(fixes)

    def instance(self, layer: ir.Layer, scope: _Scope):
        block = self.blocks[layer.op]
        if block.name in scope.blocks_in_use:  # reported with its definition already
            self.analysis.complete = False
            raise Poisoned(block.name)
        name = self._name(layer, scope)
        self._claim(name, layer, scope)
        self._claim_path(name, f"the `{block.name}` block use", layer, scope)
        full = scope.prefix + name
        try:
            (source,) = self._inputs(layer, scope, 1)
            arguments = self._block_arguments(block, layer, scope.env)
            self._within_nesting(scope.depth, layer.span)
            size = self._block_size(block, arguments, scope.depth + 1)
            if self.unrolled + size > limits.MAX_LAYERS:
                raise error("SL217", _too_many_layers(f"this use of block `{block.name}`",
                                                      size, self.unrolled),
                            layer.span, limits.LIMIT_HINT)
        except (DiagnosticError, Poisoned):
            scope.tensors[name] = full  # no shape: later lines reading it report nothing
            scope.previous = full
            raise
        env = {k: v for k, v in self.network_functions.items()}
        env.update(arguments)
        relative = {}
        if self.relative_env is not None:
            relative = self._relative_instance(block, layer, scope, arguments, source, full)
        inner = self._scope(env, full + ".", None, previous=source,
                            blocks_in_use=(*scope.blocks_in_use, block.name), in_block=True,
                            depth=scope.depth + 1, relative_env=relative.pop("env", None),
                            root=full, uses=(*scope.uses, (block.name, layer.span.line, full)))
        inner.tensors["input"] = source
        inner.taken |= _labels(block.statements)
        self.walk(block.statements, inner)
        output = inner.output or inner.previous
        if output == source and self.analysis.complete:
            raise error("SL222", f"block `{block.name}` has no layers", block.span)
        instance = BlockInstance(block, full, layer, arguments, source, output, **relative)
        self._relative_output(instance, scope)
        self.analysis.instances.append(instance)
        self.analysis.produced[(scope.prefix, layer.span)] = instance
        scope.tensors[name] = output
        scope.previous = output

    def _relative_instance(self, block: ir.Block, layer: ir.Layer, scope: _Scope,
                           arguments: dict, source: str, full: str) -> dict:
        """A block use's relative values: its arguments in the enclosing root's symbols, and
        the names its body sees relative to the block (numeric parameters as symbols, words
        and shapes as given; the input's dimensions as `input_dimension` symbols)."""
        relative_arguments = None
        if scope.relative_env is not None:
            try:
                relative_arguments = self._block_arguments(block, layer, scope.relative_env)
            except (DiagnosticError, Poisoned):
                relative_arguments = None
        symbols = {}
        for name, value in arguments.items():
            if isinstance(value, sympy.Basic) and value.is_number and value.is_real:
                symbols[name] = sympy.Symbol(name, integer=value.is_integer or None,
                                             positive=(value > 0) or None,
                                             nonnegative=(value >= 0) or None)
            else:
                symbols[name] = value
        rank = len(self.shapes[source]) if source in self.shapes else 0
        dimensions = tuple(input_dimension(axis) for axis in range(rank))
        self.signatures[full] = (block.name, rank,
                                 tuple((k, _hashable(v)) for k, v in symbols.items()))
        self.relative_shapes[(full, source)] = dimensions
        return {"env": {**self.network_functions, **symbols},
                "relative_arguments": relative_arguments, "parameter_symbols": symbols,
                "input_symbols": dimensions,
                "relative_input": self.relative_shapes.get((scope.root, source))}

    def _relative_output(self, instance: BlockInstance, scope: _Scope):
        """The block use's output relative to the enclosing root: its shape relative to the
        block, with the use's relative arguments and input shape put for the block's
        symbols."""
        inner = self.relative_shapes.get((instance.name, instance.output))
        if (scope.relative_env is None or inner is None or instance.relative_arguments is None
                or instance.relative_input is None):
            return
        mapping = {symbol: instance.relative_arguments[name]
                   for name, symbol in instance.parameter_symbols.items()
                   if isinstance(symbol, sympy.Symbol)}
        mapping.update(zip(instance.input_symbols, instance.relative_input))
        self.relative_shapes[(scope.root, instance.output)] = tuple(
            d.xreplace(mapping) for d in inner)

    def _block_arguments(self, block: ir.Block, layer: ir.Layer, env: dict) -> dict:
        parameters = block.parameters
        values = {}
        if len(layer.positional) > len(parameters):
            raise error("SL208", f"block `{block.name}` takes {len(parameters)} value(s) "
                        f"({', '.join(p.name for p in parameters) or 'none'}), got "
                        f"{len(layer.positional)}", layer.positional[len(parameters)].span)
        for parameter, node in zip(parameters, layer.positional):
            values[parameter.name] = evaluate(node, env)
        names = {p.name for p in parameters}
        for option in layer.options:
            if option.key not in names:
                raise error("SL202", f"block `{block.name}` has no parameter `{option.key}`",
                            option.key_span, did_you_mean(option.key, names)
                            or f"its parameters: {', '.join(sorted(names)) or 'none'}")
            if option.key in values:
                raise error("SL219", f"`{option.key}` is given twice", option.span)
            values[option.key] = evaluate(option.value, env, keywords=True)
        local = dict(self.network_functions)
        for parameter in parameters:
            if parameter.name not in values:
                if parameter.default is None:
                    raise error("SL203", f"block `{block.name}` needs `{parameter.name}`",
                                layer.span, f"write {parameter.name}=…")
                values[parameter.name] = evaluate(parameter.default, {**local, **values},
                                                  keywords=True)
        return {p.name: values[p.name] for p in parameters}

    def repeat(self, statement: ir.Repeat, scope: _Scope):
        value = evaluate(statement.count, scope.env)
        if isinstance(value, sympy.Basic) and value.is_number and value < 0:
            raise error("SL209", f"a repeat count must be at least 0, got {show(value)}",
                        statement.count.span, "`repeat 0:` skips its lines")
        count = require_integer(value, statement.count.span, "a repeat count", 0)
        walked = count
        if not count.is_number:
            raise error("SL223", f"a repeat count must be a number, got {count}",
                        statement.count.span, "bind the parameters it depends on")
        relative_count = None
        if scope.relative_env is not None:
            try:
                relative_count = evaluate(statement.count, scope.relative_env)
            except (DiagnosticError, Poisoned):
                relative_count = None
        label = statement.label
        if label:
            self._claim(label, statement, scope)
        else:
            label = self._default_repeat_label(scope)
        separator = "_" if label[-1].isdigit() else ""
        self._within_nesting(scope.depth, statement.span)
        size = int(walked) * self._unrolled(statement.statements, scope.env, scope.depth + 1)
        if self.unrolled + size > limits.MAX_LAYERS:
            raise error("SL217", _too_many_layers("this `repeat`", size, self.unrolled),
                        statement.count.span, limits.LIMIT_HINT)
        self.analysis.produced[(scope.prefix, statement.span)] = RepeatInstance(
            count, int(walked), label + separator, relative_count)
        for i in range(1, int(walked) + 1):
            self._claim_path(f"{label}{separator}{i}", f"iteration {i} of the `repeat`",
                             statement, scope)
            iteration = self._scope(
                dict(scope.env), f"{scope.prefix}{label}{separator}{i}.", scope,
                previous=scope.previous, blocks_in_use=scope.blocks_in_use,
                in_block=scope.in_block, depth=scope.depth + 1, root=scope.root,
                relative_env=None if scope.relative_env is None else dict(scope.relative_env),
                uses=scope.uses, iteration=True)
            if statement.label and scope.previous is not None:
                # inside its lines, the repeat's label is the iteration's input
                iteration.tensors[statement.label] = scope.previous
            iteration.taken |= _labels(statement.statements)
            self.walk(statement.statements, iteration)
            self.analysis.outputs[iteration.prefix[:-1]] = iteration.previous
            if iteration.output:
                raise error("SL220", "`return` belongs at a block's level, not in `repeat`",
                            statement.span)
            scope.previous = iteration.previous
        if statement.label:
            scope.tensors[statement.label] = scope.previous

    # ---- sizes before expansion -------------------------------------------------------------
    @staticmethod
    def _within_nesting(depth: int, span):
        if depth >= limits.MAX_NESTING:
            raise error("SL217", f"block uses and repeats nest more than {limits.MAX_NESTING} "
                        "deep here", span, limits.LIMIT_HINT)

    def _unrolled(self, statements, env: dict, depth: int) -> int:
        """How many layers `statements` unroll to in `env`, counted without analysing them, and
        no further than just past the limit. What cannot be evaluated counts once: the walk
        reports it. Nesting past the limit is an error here already."""
        env = dict(env)
        total = 0
        for statement in statements:
            if total > limits.MAX_LAYERS:
                break
            if isinstance(statement, (ir.Layer, ir.Repeat)) and (
                    isinstance(statement, ir.Repeat) or statement.op in self.blocks):
                self._within_nesting(depth, statement.span)
            if isinstance(statement, ir.Let):
                try:
                    env[statement.name] = evaluate(statement.value, env)
                except (DiagnosticError, Poisoned):
                    env[statement.name] = POISON
            elif isinstance(statement, ir.Function):
                env.setdefault(statement.name, UserFunction(statement, env))
            elif isinstance(statement, ir.Layer):
                block = self.blocks.get(statement.op)
                if block is None or statement.op in REGISTRY:
                    total += 1
                    continue
                try:
                    arguments = self._block_arguments(block, statement, env)
                except (DiagnosticError, Poisoned):
                    total += 1
                    continue
                total += self._block_size(block, arguments, depth + 1)
            elif isinstance(statement, ir.Repeat):
                try:
                    count = evaluate(statement.count, env)
                except (DiagnosticError, Poisoned):
                    count = None
                times = int(count) if isinstance(count, sympy.Integer) and count > 1 else 1
                total += times * self._unrolled(statement.statements, env, depth + 1)
            elif isinstance(statement, ir.If):
                self._within_nesting(depth, statement.span)
                try:
                    branches = [statement.then if decide(statement.condition, env)
                                else statement.otherwise]
                except (DiagnosticError, Poisoned):
                    branches = [statement.then, statement.otherwise]
                total += max(self._unrolled(b, env, depth + 1) for b in branches)
        return total

    def _block_size(self, block: ir.Block, arguments: dict, depth: int) -> int:
        """Layers one use of `block` with `arguments` unrolls to, remembered per arguments."""
        key = (block.name, tuple((k, _hashable(v)) for k, v in arguments.items()))
        if key in self._sizes:
            return self._sizes[key]
        if block.name in self._sizing:  # it uses itself: reported with its definition
            return 1
        self._sizing.add(block.name)
        try:
            size = self._unrolled(block.statements, {**self.network_functions, **arguments},
                                  depth)
        finally:
            self._sizing.discard(block.name)
        self._sizes[key] = size
        return size

    @staticmethod
    def _default_repeat_label(scope: _Scope) -> str:
        while True:
            scope.counters["repeat"] = scope.counters.get("repeat", 0) + 1
            k = scope.counters["repeat"]
            label = "repeat" if k == 1 else f"repeat_{k}"
            if label not in scope.taken:
                return label

    def _report_unused(self):
        outputs = set(self.analysis.output_paths)
        for r in self.analysis.layers:
            if r.name in outputs or self.consumers.get(r.name):
                continue
            if r.op == "input":
                self.warn_or_error("SL308", WARNING, f"the input `{r.name}` is never read",
                                   r.layer.span, "read it on the next line or with "
                                   f"`@{r.name}`, or remove it")
                continue
            self.warn_or_error("SL308", WARNING, f"the output of `{r.name}` is never used",
                               r.layer.span, "read it with `@label`, or remove the line")


def _hashable(value):
    """A value as a key: a shape `[…]` as a tuple (tagged, so that it is no tuple value)."""
    if isinstance(value, list):
        return ("shape", tuple(_hashable(v) for v in value))
    if isinstance(value, tuple):
        return tuple(_hashable(v) for v in value)
    return value


def _too_many_layers(what: str, size: int, before: int) -> str:
    limit = f"shapelang's limit of {limits.MAX_LAYERS:,} layers for the whole network"
    if size > limits.MAX_LAYERS:
        return f"{what} unrolls to more than {limit}"
    return f"{what} unrolls to {size:,} layers, which with the {before:,} before it pass {limit}"


def _check_results(result: LayerResult):
    """SL209 / SL217 for a layer whose shape, size, parameters or MACs are past the limits:
    dimensions first, so that the size (their product) is bounded when it is computed."""
    _check_values(result.layer, result.shape, (
        ("dimension", lambda: result.shape), ("activation size", lambda: result.size),
        ("parameter count", lambda: result.params), ("MACs", lambda: result.macs)))


def _check_shape(layer: ir.Layer, shape):
    """The limits on a variant's shape (its dimensions and their product)."""
    _check_values(layer, shape, (("dimension", lambda: shape),
                                 ("activation size", lambda: product(shape))))


def _check_values(layer: ir.Layer, shape, checked):
    span = layer.span
    if len(shape) > limits.MAX_RANK:
        raise error("SL209", f"`{layer.op}` makes a tensor of {len(shape)} dimensions, "
                    f"more than shapelang's limit of {limits.MAX_RANK}", span, limits.LIMIT_HINT)
    for what, compute in checked:  # each computed once the ones before it are bounded
        value = compute()
        try:
            limits.check_value(value)
        except limits.LimitError as exc:
            problem = "is out of range" if exc.code == "SL209" else "is too large to analyse"
            raise error(exc.code, f"`{layer.op}`: its {what} {problem}: {exc}", span,
                        limits.LIMIT_HINT) from None


def as_expr(value) -> sympy.Expr:
    """A Python int (or bool) from a layer rule as a sympy Integer; sympy values unchanged."""
    return value if isinstance(value, sympy.Basic) else sympy.Integer(int(value))


def as_int(value):
    """A bound integer (Python or sympy) as a Python int; anything else as the string of its
    closed form."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, sympy.Basic) and value.is_Integer:
        return int(value)
    return show_expr(value)


def show_expr(value) -> str:
    return pretty(value)


Instance = BlockInstance  # the names the walk and its readers have used
RepeatRecord = RepeatInstance

__all__ = [
    "Analysis",
    "Instance",
    "LayerResult",
    "Relative",
    "RepeatRecord",
    "as_int",
    "input_dimension",
    "parse_binding",
    "walk_network",
]
