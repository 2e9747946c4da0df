"""`shapelang fit`: the values of some parameters at which a network meets its budgets.

    shapelang fit NET --budget params<=1e6 --vary scale=0.01..1 --step 0.001
    shapelang fit NET --budget memory<=80GiB --vary batch=1..4096 --optimizer adam
    shapelang fit NET --vary H=200..300 --exact

Budgets (`QUANTITY<=LIMIT` or `<`) and ranges (`NAME=LOW..HIGH`, a step per range) are read by
the small parsers below, digit by digit — never evaluated. The grid is the product of the
ranges; the last range is searched, for each point of the others. A point is feasible when the
network analyses without errors there (its `expect`s aside: they describe its defaults) and
every budget holds.

A search is monotone only where that is proven: the network is analysed once with the searched
parameter unbound, and each budget's closed form (and each of the network's minimum-size
conditions) is shown nondecreasing in it by its structure — sums, products of nonnegative
factors, floor / ceil / max / min of nondecreasing arguments (`_nondecreasing`). Then the
feasible values are one run, found by bisection. Otherwise every value is analysed (a scan,
bounded by `limits.MAX_FIT_SCAN`), and the report says so. Each boundary it reports — the
largest feasible value and the next step beyond it — is analysed afresh at that point.
"""
from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from fractions import Fraction

import sympy

from . import ir, limits
from .analysis import analyse
from .closedform import pretty
from .diagnostics import ERROR
from .graph import AnalysedGraph
from .memory import estimate, optimizer_of, parse_bytes

#: What a budget may bound; `memory` is the training total, `inference_memory` inference's.
QUANTITIES = ("params", "trainable", "non_trainable", "macs", "flops", "size", "memory",
              "inference_memory")
MEMORY = ("memory", "inference_memory")
BATCH = "batch"


class FitError(ValueError):
    """A budget, range or option that cannot be used: a usage error, with its reason."""


@dataclass(frozen=True)
class Budget:
    quantity: str
    limit: Fraction
    strict: bool  # `<` rather than `<=`
    text: str

    def holds(self, value) -> bool:
        return value < self.limit if self.strict else value <= self.limit

    def describe(self) -> str:
        return f"{self.quantity} {'<' if self.strict else '≤'} {_show_limit(self)}"


def _show_limit(budget: Budget) -> str:
    if budget.quantity in MEMORY:
        from .memory import human

        return f"{int(budget.limit):,} B ({human(int(budget.limit))})"
    if budget.limit.denominator == 1:
        return f"{budget.limit.numerator:,}"
    return _show(budget.limit)


_BUDGET = re.compile(r"\s*(?P<quantity>[A-Za-z_]+)\s*(?P<op><=|<)\s*(?P<limit>.+?)\s*")


def parse_budget(text: str) -> Budget:
    """`params<=5e6`, `macs < 1_000_000_000`, `memory<=16GiB`."""
    match = _BUDGET.fullmatch(text)
    if not match:
        raise FitError(f"--budget {limits.shorten(text)}: expected QUANTITY<=LIMIT, e.g. "
                       "params<=5e6 or memory<=16GiB")
    quantity = match["quantity"]
    if quantity not in QUANTITIES:
        raise FitError(f"--budget {limits.shorten(text)}: `{limits.shorten(quantity)}` is not "
                       f"one of {', '.join(QUANTITIES)}")
    try:
        if quantity in MEMORY:
            limit = Fraction(parse_bytes(match["limit"]))
        else:
            limit = limits.read_decimal(match["limit"])
    except ValueError as exc:
        raise FitError(f"--budget {limits.shorten(text)}: {exc}") from None
    return Budget(quantity, limit, match["op"] == "<", text)


@dataclass
class Vary:
    """One range: `name` from `low` to `high` by `step`."""

    name: str
    low: Fraction
    high: Fraction
    step: Fraction | None = None  # None until --step or the default (1) sets it

    @property
    def count(self) -> int:
        return int((self.high - self.low) // self.step) + 1

    def value(self, index: int) -> Fraction:
        return self.low + index * self.step

    def describe(self) -> str:
        return (f"{self.name} from {_show(self.low)} to {_show(self.value(self.count - 1))} "
                f"step {_show(self.step)} ({self.count:,} values)")


_VARY = re.compile(r"\s*(?P<name>[A-Za-z_][A-Za-z_0-9]*)\s*=\s*(?P<low>[^.]*(?:\.\d*)?)\s*"
                   r"\.\.\s*(?P<high>.+?)\s*")


def parse_vary(text: str) -> Vary:
    """`alpha=0.25..1.5`, `H=200..400`, `batch=1..4096`."""
    match = _VARY.fullmatch(text)
    if not match:
        raise FitError(f"--vary {limits.shorten(text)}: expected NAME=LOW..HIGH, e.g. "
                       "alpha=0.25..1.5 or H=200..400")
    try:
        low, high = limits.read_decimal(match["low"]), limits.read_decimal(match["high"])
    except ValueError as exc:
        raise FitError(f"--vary {limits.shorten(text)}: {exc}") from None
    if low > high:
        raise FitError(f"--vary {limits.shorten(text)}: the low end is above the high end")
    return Vary(match["name"], low, high)


def parse_step(text: str) -> Fraction:
    try:
        step = limits.read_decimal(text)
    except ValueError as exc:
        raise FitError(f"--step {limits.shorten(text)}: {exc}") from None
    if step <= 0:
        raise FitError(f"--step {limits.shorten(text)}: a step must be above 0")
    return step


def _show(value) -> str:
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.12g}"
    return text if Fraction(text) == value else f"{value.numerator}/{value.denominator}"


# ---- one point --------------------------------------------------------------------------------
@dataclass
class Settings:
    network: ir.Network
    bindings: dict  # --set, as exact numbers
    budgets: list[Budget]
    varies: list[Vary]
    batch_size: int | None
    optimizer: str | None
    mixed_precision: bool
    exact: bool


@dataclass(frozen=True)
class Point:
    """One point of the grid, analysed: what it binds, whether the network is valid there,
    each budget's value, and which input axes read every row (`exact`)."""

    values: tuple  # one per --vary, in order
    valid: bool
    problem: str | None  # the first error's code and message where not valid
    quantities: dict  # budget quantity → value
    feasible: bool
    exact_axes: frozenset


class Evaluator:
    """Analyses points (each network binding once: batch sizes share an analysis)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.analyses = 0
        self._graphs: dict = {}
        self.started = time.monotonic()
        self._parameters = {p.name for p in settings.network.parameters}

    def is_batch(self, vary: Vary) -> bool:
        """Whether `vary` is the batch size (`batch`, where no network parameter has the name)."""
        return vary.name == BATCH and BATCH not in self._parameters

    def bindings_at(self, values) -> tuple[dict, int]:
        bindings = dict(self.settings.bindings)
        batch = None
        for vary, value in zip(self.settings.varies, values):
            if self.is_batch(vary):
                batch = int(value)
            else:
                bindings[vary.name] = sympy.Rational(value.numerator, value.denominator)
        return bindings, batch

    def graph(self, bindings: dict, fresh: bool = False) -> AnalysedGraph:
        key = tuple(sorted((k, str(v)) for k, v in bindings.items()))
        if fresh or key not in self._graphs:
            self.count_analysis()
            graph = analyse(self.settings.network, bindings, checks=False)
            if fresh:
                return graph
            self._graphs[key] = graph
        return self._graphs[key]

    def count_analysis(self):
        """One more analysis, unless the fit's time is up (then a FitError)."""
        if time.monotonic() - self.started > limits.MAX_FIT_SECONDS:
            raise FitError(f"fit stopped after {limits.MAX_FIT_SECONDS:g} s and "
                           f"{self.analyses:,} analyses: narrow the ranges or coarsen --step")
        self.analyses += 1

    def batch_of(self, graph: AnalysedGraph, batch: int | None) -> int:
        if batch is not None:
            return batch
        if self.settings.batch_size is not None:
            return self.settings.batch_size
        return int(graph.train.get("batch", 1))

    def point(self, values, fresh: bool = False) -> Point:
        bindings, batch = self.bindings_at(values)
        graph = self.graph(bindings, fresh)
        errors = [d for d in graph.diagnostics if d.severity == ERROR]
        valid = graph.complete and not errors and bool(graph.nodes)
        if not valid:
            problem = (f"{errors[0].code} at line {errors[0].span.line}: {errors[0].message}"
                       if errors else "the network could not be analysed")
            return Point(tuple(values), False, problem, {}, False, frozenset())
        quantities = self.quantities(graph, self.batch_of(graph, batch))
        feasible = all(b.holds(quantities[b.quantity]) for b in self.settings.budgets)
        unread = {r.axis for r in graph.remainders if r.unread}
        axes = {axis for axis, _, _ in (graph.input_sizes.axes if graph.input_sizes else ())}
        return Point(tuple(values), True, None, quantities, feasible, frozenset(axes - unread))

    def memory(self, graph: AnalysedGraph, batch):
        settings = self.settings
        return estimate(graph, batch, optimizer_of(dict(graph.train), settings.optimizer),
                        settings.mixed_precision)

    def quantities(self, graph: AnalysedGraph, batch) -> dict:
        found = {}
        for budget in self.settings.budgets:
            if budget.quantity == "memory":
                found["memory"] = self.memory(graph, batch).training
            elif budget.quantity == "inference_memory":
                found["inference_memory"] = self.memory(graph, batch).inference
            else:
                found[budget.quantity] = graph.total(budget.quantity)
        return found


# ---- monotonicity ------------------------------------------------------------------------------
def _nondecreasing(expr, x, at) -> bool:
    """Whether `expr` is provably nondecreasing in `x` for x ≥ `at` (a sufficient condition:
    False means "not shown", not "decreasing")."""
    if isinstance(expr, int):
        expr = sympy.Integer(expr)
    if x not in expr.free_symbols:
        return True
    if expr == x:
        return True
    if isinstance(expr, sympy.Add):
        return all(_nondecreasing(a, x, at) for a in expr.args)
    if isinstance(expr, sympy.Mul):
        constant = [a for a in expr.args if x not in a.free_symbols]
        varying = [a for a in expr.args if x in a.free_symbols]
        if not all(_nonnegative(a, x, at) for a in constant):
            return False
        if len(varying) == 1:  # c·f with c ≥ 0
            return _nondecreasing(varying[0], x, at)
        return all(_nonnegative(a, x, at) and _nondecreasing(a, x, at) for a in varying)
    if isinstance(expr, (sympy.floor, sympy.ceiling, sympy.Max, sympy.Min)):
        return all(_nondecreasing(a, x, at) for a in expr.args)
    if isinstance(expr, sympy.Pow):
        base, exponent = expr.args
        return bool(exponent.is_Integer and exponent.is_positive and _nonnegative(base, x, at)
                    and _nondecreasing(base, x, at))
    return False


def _nonnegative(expr, x, at) -> bool:
    """Nonnegative for x ≥ `at`: a nonnegative number, or nondecreasing and nonnegative at `at`."""
    if x not in expr.free_symbols:
        return bool(expr.is_nonnegative)
    if not _nondecreasing(expr, x, at):
        return False
    value = expr.subs(x, at)
    return bool(value.is_number and value.is_nonnegative)


@dataclass
class Proof:
    monotone: bool
    reason: str
    axis: str | None = None  # the input axis whose size is the searched parameter
    symbol: sympy.Symbol | None = None  # the searched parameter, unbound
    quantities: dict | None = None  # each budget's closed form in it


def prove_valid_from(evaluator: Evaluator, outer_values: tuple, vary: Vary) -> Proof:
    """Analyse once with `vary` unbound (the other ranges at `outer_values`) and show every
    minimum-size condition nondecreasing in it: then the values where the network is valid
    are those from some value on. The proof keeps that analysis for `prove_budgets`."""
    is_batch = evaluator.is_batch(vary)
    bindings, batch = evaluator.bindings_at((*outer_values, vary.low))
    integer = vary.low.denominator == 1 and vary.step.denominator == 1
    x = sympy.Symbol(vary.name, positive=True, integer=integer or None)
    if is_batch:
        graph = evaluator.graph(bindings)
    else:
        bindings[vary.name] = x
        evaluator.count_analysis()
        graph = analyse(evaluator.settings.network, bindings, checks=False)
    axes = graph.input_sizes.axes if graph.input_sizes and not is_batch else ()
    axis = next((name for name, _, size in axes if size == x), None)
    # a check left undecided with the parameter unbound may be an error at some values
    errors = [d for d in graph.diagnostics
              if d.severity == ERROR or d.code in ("SL312", "SL313", "SL404")]
    if errors or not graph.complete:
        why = f"{errors[0].code}: {errors[0].message}" if errors else "incomplete"
        return Proof(False, f"the network with {vary.name} unbound has an error ({why})", axis)
    bounded = next((c for c in graph.maximum_sizes if x in c.value.free_symbols), None)
    if bounded is not None:  # valid up to a bound only: the monotone search does not apply
        return Proof(False, f"an upper bound at line {bounded.layer.span.line} "
                     f"({pretty(bounded.value)} ≤ {bounded.maximum})", axis)
    for condition in graph.minimum_sizes:
        if not _nondecreasing(condition.value - condition.minimum, x, vary.low):
            return Proof(False, f"a minimum-size condition at line {condition.layer.span.line} "
                         f"is not shown nondecreasing in {vary.name}", axis)
    batch_value = x if is_batch else evaluator.batch_of(graph, batch)
    return Proof(True, "", axis, x, evaluator.quantities(graph, batch_value))


def prove_budgets(evaluator: Evaluator, proof: Proof, vary: Vary, valid_from) -> Proof:
    """Show every budget's closed form nondecreasing in `vary` from its first valid value."""
    for budget in evaluator.settings.budgets:
        value = proof.quantities[budget.quantity]
        if value is None:
            return Proof(False, f"{budget.quantity} needs bound sizes", proof.axis)
        if not _nondecreasing(value, proof.symbol, valid_from):
            return Proof(False, f"{budget.quantity} is not shown nondecreasing in {vary.name}",
                         proof.axis)
    names = ["validity", *(b.quantity for b in evaluator.settings.budgets)]
    shown = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    return Proof(True, f"{shown} nondecreasing in {vary.name} (proven from the closed forms)",
                 proof.axis)


# ---- the search ------------------------------------------------------------------------------
@dataclass
class Line:
    """The searched range at one point of the others: what was found."""

    outer: tuple
    method: str  # "bisection" or "scan"
    reason: str
    feasible: list[tuple[Fraction, Fraction]]  # runs of feasible values (first, last)
    largest: Point | None  # the largest feasible value, re-analysed
    beyond: Point | None  # the next step beyond it, re-analysed (None at the range's end)
    exact: list[Point] = field(default_factory=list)  # feasible values whose axis is exact
    first: Point | None = None  # where nothing fits: the range's first value, for its reason
    axis: str | None = None  # the input axis the searched parameter sizes
    exact_note: str | None = None


def search_line(evaluator: Evaluator, outer: tuple, vary: Vary) -> Line:
    proof = prove_valid_from(evaluator, outer, vary)
    n = vary.count
    at = {}

    def point(i):
        if i not in at:
            at[i] = evaluator.point((*outer, vary.value(i)))
        return at[i]

    first_valid = _first(lambda i: point(i).valid, 0, n) if proof.monotone else None
    if proof.monotone and first_valid < n:
        proof = prove_budgets(evaluator, proof, vary, vary.value(first_valid))
    elif proof.monotone:
        proof = Proof(True, f"validity nondecreasing in {vary.name} (proven from the closed "
                      "forms)", proof.axis)
    if proof.monotone:
        last = _first(lambda i: not point(i).feasible, first_valid, n) - 1
        runs = [] if last < first_valid else [(vary.value(first_valid), vary.value(last))]
        method = "bisection"
        largest = last if last >= first_valid else None
    else:
        if n > limits.MAX_FIT_SCAN:
            raise FitError(
                f"--vary {vary.name}: {n:,} values to scan (no monotone search: {proof.reason}); "
                f"the limit is {limits.MAX_FIT_SCAN:,} analyses — narrow the range or coarsen "
                "--step")
        runs, start = [], None
        for i in range(n):
            if point(i).feasible and start is None:
                start = i
            if not point(i).feasible and start is not None:
                runs.append((vary.value(start), vary.value(i - 1)))
                start = None
        if start is not None:
            runs.append((vary.value(start), vary.value(n - 1)))
        method = "scan"
        largest = max((i for i in range(n) if point(i).feasible), default=None)
    line = Line(outer, method, proof.reason, runs, None, None, axis=proof.axis)
    if not runs:
        line.first = point(0)
    if largest is not None:
        line.largest = evaluator.point((*outer, vary.value(largest)), fresh=True)
        if largest + 1 < n:
            line.beyond = evaluator.point((*outer, vary.value(largest + 1)), fresh=True)
    if evaluator.settings.exact:
        _exact_values(evaluator, line, vary, runs, point)
    return line


def _first(predicate, low: int, high: int) -> int:
    """The least i in [low, high) with predicate(i) — which holds from some i on — else high."""
    while low < high:
        middle = (low + high) // 2
        if predicate(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _exact_values(evaluator, line: Line, vary: Vary, runs, point):
    """The feasible values at which no stride leaves the searched axis's rows unread: from the
    congruences solve derives (the network analysed with the size unbound), each one then
    re-analysed; without them, a scan of the feasible values."""
    from .checks import input_size_report

    if line.axis is None:
        line.exact_note = f"{vary.name} is no input size: --exact does not apply"
        return
    candidates = []
    graph = evaluator.graph(evaluator.bindings_at((*line.outer, vary.low))[0])
    report = {r.axis: r for r in input_size_report(graph)}.get(line.axis)
    domain = report.domain if report else None
    for first, last in runs:
        i, j = int((first - vary.low) / vary.step), int((last - vary.low) / vary.step)
        if domain is not None and domain.exact_known and not domain.undecided:
            values = [k for k in range(i, j + 1) if vary.value(k).denominator == 1 and any(
                int(vary.value(k)) % m == r for r, m in domain.classes)]
        else:
            if j - i + 1 > limits.MAX_FIT_SCAN:
                line.exact_note = "exact sizes undecided and too many values to scan"
                return
            values = [k for k in range(i, j + 1) if line.axis in point(k).exact_axes]
        candidates += values
    for k in candidates:
        checked = evaluator.point((*line.outer, vary.value(k)), fresh=True)
        if line.axis not in checked.exact_axes:  # the congruence and the analysis disagree
            raise RuntimeError(f"{vary.name}={_show(vary.value(k))}: solved exact, but the "
                               "analysis there leaves rows unread")
        line.exact.append(checked)


@dataclass
class FitResult:
    settings: Settings
    lines: list[Line]
    analyses: int
    points: int


def fit(settings: Settings) -> FitResult:
    for vary in settings.varies:
        if vary.step is None:
            if vary.low.denominator != 1 or vary.high.denominator != 1:
                raise FitError(f"--vary {vary.name}: a range of non-integers needs --step")
            vary.step = Fraction(1)
    _check_varies(settings)
    evaluator = Evaluator(settings)
    *others, searched = settings.varies
    grid = list(itertools.product(*(range(v.count) for v in others)))
    if len(grid) > limits.MAX_FIT_SCAN:
        raise FitError(f"{len(grid):,} combinations of the ranges other than the last; the "
                       f"limit is {limits.MAX_FIT_SCAN:,} — narrow them or coarsen --step")
    lines = [search_line(evaluator, tuple(v.value(i) for v, i in zip(others, indices)),
                         searched) for indices in grid]
    points = searched.count * max(1, len(grid))
    return FitResult(settings, lines, evaluator.analyses, points)


def _check_varies(settings: Settings):
    parameters = {p.name for p in settings.network.parameters}
    seen = set()
    points = 1
    for vary in settings.varies:
        if vary.name in seen:
            raise FitError(f"--vary {vary.name}: given twice")
        seen.add(vary.name)
        if vary.name in settings.bindings:
            raise FitError(f"--vary {vary.name}: also bound by --set")
        if vary.name not in parameters and vary.name != BATCH:
            hint = ", ".join(sorted(parameters)) or "none"
            raise FitError(f"--vary {vary.name}: `{settings.network.name}` has no parameter "
                           f"`{vary.name}` (its parameters: {hint}; `batch` is the batch size)")
        if vary.name == BATCH and BATCH not in parameters:
            if vary.low < 1 or vary.step.denominator != 1 or vary.low.denominator != 1:
                raise FitError("--vary batch: whole batch sizes of at least 1")
            if vary.high > limits.MAX_BATCH_SIZE:
                raise FitError(f"--vary batch: at most {limits.MAX_BATCH_SIZE:,}")
            if not any(b.quantity in MEMORY for b in settings.budgets):
                raise FitError("--vary batch: only a memory budget depends on the batch size")
        if (vary.high - vary.low) / vary.step >= limits.MAX_FIT_POINTS:
            raise FitError(f"--vary {vary.name}: more than {limits.MAX_FIT_POINTS:,} values; "
                           "narrow the range or coarsen --step")
        points *= vary.count
        if points > limits.MAX_FIT_POINTS:
            raise FitError(f"the ranges make more than {limits.MAX_FIT_POINTS:,} points")
    if settings.batch_size is not None and any(v.name == BATCH for v in settings.varies):
        raise FitError("--batch-size and --vary batch: give one")


# ---- the report --------------------------------------------------------------------------------
def _quantity_text(budget: Budget, value) -> str:
    if budget.quantity in MEMORY:
        from .memory import human

        return f"{int(value):,} B ({human(int(value))})"
    return f"{int(value):,}"


def _point_text(settings: Settings, point: Point, feasible_word: bool = True) -> str:
    names = ", ".join(f"{v.name} = {_show(x)}" for v, x in zip(settings.varies, point.values))
    if not point.valid:
        return f"{names}: not valid ({point.problem})"
    parts = []
    for budget in settings.budgets:
        value = point.quantities[budget.quantity]
        mark = "≤" if budget.holds(value) and not budget.strict else "<" if budget.holds(
            value) else ">"
        if not budget.holds(value) and budget.strict:
            mark = "≥"
        parts.append(f"{budget.quantity} {_quantity_text(budget, value)} {mark} "
                     f"{_show_limit(budget)}")
    verdict = "fits" if point.feasible else "does not fit"
    return f"{names}: {'; '.join(parts) or 'valid'} — {verdict}"


def report_text(result: FitResult, path: str) -> str:
    settings = result.settings
    out = [f"fit {path}: network {settings.network.name}"]
    fixed = ", ".join(f"{k}={_show(Fraction(int(v.p), int(v.q)))}"
                      for k, v in settings.bindings.items())
    if fixed:
        out.append(f"  with {fixed}")
    out.append("  budgets: " + ("; ".join(b.describe() for b in settings.budgets) or "none "
                                "(feasible: the network is valid)"))
    if any(b.quantity in MEMORY for b in settings.budgets):
        batch = ("varied" if any(v.name == BATCH for v in settings.varies)
                 else settings.batch_size or "the train: block's (else 1)")
        out.append(f"  memory: batch size {batch}; optimizer "
                   f"{settings.optimizer or 'the train: block’s (else adam)'}; activations "
                   f"{'float16' if settings.mixed_precision else 'float32'}")
    for vary in settings.varies:
        out.append(f"  vary: {vary.describe()}")
    searched = settings.varies[-1]
    for line in result.lines:
        out.append("")
        if line.outer:
            out.append(", ".join(f"{v.name} = {_show(x)}"
                                 for v, x in zip(settings.varies, line.outer)) + ":")
        if line.method == "bisection":
            out.append(f"  search: bisection — {line.reason}")
        else:
            out.append(f"  search: scan of every value — no monotone search: {line.reason}")
        if not line.feasible:
            out.append(f"  feasible: no value of {searched.name} in the range")
            if line.first is not None:
                out.append(f"  first value: {_point_text(settings, line.first)}")
        else:
            runs = ", ".join(_show(a) if a == b else f"{_show(a)}..{_show(b)}"
                             for a, b in line.feasible)
            out.append(f"  feasible {searched.name}: {runs}")
        if line.largest is not None:
            out.append(f"  largest: {_point_text(settings, line.largest)} (re-analysed)")
            if line.beyond is not None:
                out.append(f"  next step: {_point_text(settings, line.beyond)} (re-analysed)")
            else:
                out.append(f"  next step: beyond the range ({_show(searched.high)})")
        if settings.exact:
            if line.exact_note:
                out.append(f"  exact: {line.exact_note}")
            else:
                values = ", ".join(_show(p.values[-1]) for p in line.exact) or "none"
                out.append(f"  exact {line.axis} ({searched.name}: no stride leaves "
                           f"{line.axis} unread), each re-analysed: {values}")
    if len(result.lines) > 1:
        out += ["", f"boundary: the largest {searched.name} that fits, for each "
                + ", ".join(v.name for v in settings.varies[:-1])]
        for line in result.lines:
            at = ", ".join(f"{v.name} = {_show(x)}" for v, x in zip(settings.varies, line.outer))
            largest = _show(line.largest.values[-1]) if line.largest else "none"
            out.append(f"  {at}: {searched.name} = {largest}")
    out += ["", f"{result.analyses:,} analyses for {result.points:,} points"]
    return "\n".join(out)


def report_json(result: FitResult) -> dict:
    settings = result.settings

    def number(value):
        value = Fraction(value)
        return value.numerator if value.denominator == 1 else _show(value)

    def point(p: Point | None):
        if p is None:
            return None
        return {"values": {v.name: number(x) for v, x in zip(settings.varies, p.values)},
                "valid": p.valid, "problem": p.problem, "feasible": p.feasible,
                "quantities": {k: int(v) for k, v in p.quantities.items()}}

    return {
        "network": settings.network.name,
        "budgets": [{"quantity": b.quantity, "limit": number(b.limit), "strict": b.strict}
                    for b in settings.budgets],
        "vary": [{"name": v.name, "low": number(v.low), "high": number(v.high),
                  "step": number(v.step)} for v in settings.varies],
        "lines": [{"at": {v.name: number(x) for v, x in zip(settings.varies, line.outer)},
                   "search": line.method, "why": line.reason,
                   "feasible": [[number(a), number(b)] for a, b in line.feasible],
                   "largest": point(line.largest), "next": point(line.beyond),
                   "exact": [number(p.values[-1]) for p in line.exact] if settings.exact
                   else None}
                  for line in result.lines],
        "analyses": result.analyses,
    }
