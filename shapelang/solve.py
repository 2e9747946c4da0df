"""Closed forms, solved: validity domains, exact sizes, paddings, and `expect` over symbols.

Every size rule (floor((n + pads − k)/s) + 1, ceil(n/s), …) is non-decreasing in its input,
so a constraint "size ≥ m" in one symbol holds from some least value on: we find it by
exponential then binary search on exact integer evaluation. Whether a stride drops rows
depends on the input size modulo the product of the strides on that axis (shifting the input
by that product shifts every later size by a multiple of its stride), so scanning one period
gives the exact sizes as a congruence; a second period is scanned to confirm.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import sympy
from sympy.printing.str import StrPrinter

from . import ir
from .analysis import Analysis, analyse
from .diagnostics import ERROR, WARNING, Diagnostic, error
from .expr import evaluate, show

_SEARCH_LIMIT = 2**48
_MAX_PERIOD = 1 << 16


# ---- printing closed forms ---------------------------------------------------------------
class _Printer(StrPrinter):
    """sympy's printer, but `floor((H - 11)/4)` rather than `floor(H/4 - 11/4)`."""

    def _print_floor(self, expr):
        return f"floor({self._print(sympy.together(expr.args[0]))})"

    def _print_ceiling(self, expr):
        return f"ceil({self._print(sympy.together(expr.args[0]))})"


_printer = _Printer()


def pretty(value) -> str:
    if isinstance(value, sympy.Basic):
        if value.is_Integer:
            return str(int(value))
        return _printer.doprint(value)
    return show(value)


# ---- evaluating and searching ----------------------------------------------------------------
def _at(expr, symbol, value):
    return expr.xreplace({symbol: sympy.Integer(value)})


def least_value(expr, minimum, symbol, start: int = 1) -> int | None:
    """The least integer v ≥ start with expr(v) ≥ minimum, for expr non-decreasing in symbol;
    None if there is none below 2**48."""
    def holds(v):
        return bool(_at(expr, symbol, v) >= minimum)

    if holds(start):
        return start
    high = max(start, 1) * 2
    while not holds(high):
        if high > _SEARCH_LIMIT:
            return None
        high *= 2
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle
    return high


@dataclass
class Domain:
    """What solve knows of one symbol: the least valid value and, along a spatial axis, the
    residues (mod `period`) of the sizes at which no stride drops rows."""

    symbol: sympy.Symbol
    least: int | None
    period: int | None = None
    residues: tuple[int, ...] | None = None

    def describe_least(self) -> str:
        return f"{self.symbol} ≥ {self.least}" if self.least else f"no value of {self.symbol}"

    def describe_exact(self) -> str | None:
        if self.period is None or self.residues is None:
            return None
        if self.period == 1:
            return f"every {self.symbol}"
        if not self.residues:
            return "none"
        residues = ", ".join(str(r) for r in self.residues)
        return f"{self.symbol} ≡ {residues} (mod {self.period})"

    def nearest_exact(self, value: int) -> tuple[int | None, int | None]:
        """The exact sizes nearest below and above `value` (both `value` if it is one)."""
        if not self.residues or not self.period:
            return (None, None)
        least = self.least or 1

        def is_exact(v):
            return v >= least and v % self.period in self.residues

        below = next((v for v in range(value, max(least, value - self.period) - 1, -1)
                      if is_exact(v)), None)
        above = next(v for v in range(max(value, least), value + self.period + least + 1)
                     if is_exact(v))
        return below, above


def domains(analysis: Analysis) -> dict[str, Domain]:
    """A `Domain` for each symbol that some constraint or stride depends on."""
    result: dict[str, Domain] = {}
    for name, symbol in analysis.symbols.items():
        constraints = [c for c in analysis.minimum_sizes if c.value.free_symbols == {symbol}
                       and not c.minimum.free_symbols]
        remainders = [r for r in analysis.remainders if r.size.free_symbols == {symbol}
                      and r.stride.is_number]
        if not constraints and not remainders:
            continue
        least = 1
        for c in constraints:
            found = least_value(c.value, c.minimum, symbol, least)
            least = found if found is not None else None
            if least is None:
                break
        domain = Domain(symbol, least)
        if least is not None and remainders:
            period = math.prod(int(r.stride) for r in remainders)
            residues = _exact_residues(remainders, symbol, least, period) if (
                period <= _MAX_PERIOD) else None
            if residues is not None:
                domain.residues, domain.period = smallest_period(residues, period)
        result[name] = domain
    return result


def smallest_period(residues, period: int) -> tuple[tuple[int, ...], int]:
    """The same set of integers, written with the smallest modulus: {0, 2} mod 4 is 0 mod 2."""
    residues = set(residues)
    for d in range(1, period + 1):
        if period % d == 0:
            reduced = {r % d for r in residues}
            if residues == {r for r in range(period) if r % d in reduced}:
                return tuple(sorted(reduced)), d
    return tuple(sorted(residues)), period


def _exact_residues(remainders, symbol, least, period):
    def exact(v):
        return all(_at(r.numerator, symbol, v) % r.stride == 0 for r in remainders)

    residues = sorted(v % period for v in range(least, least + period) if exact(v))
    confirmed = sorted(v % period for v in range(least + period, least + 2 * period) if exact(v))
    return tuple(residues) if residues == confirmed else None


def equality_condition(difference, analysis: Analysis) -> tuple[str, str | None]:
    """Whether `difference` (one axis of two shapes) is 0: ("always", None), ("never", None),
    ("sometimes", "H ≡ 0 (mod 2)") or ("unknown", None) where the search cannot tell."""
    difference = sympy.expand(difference)
    if difference == 0:
        return "always", None
    if difference.is_number:
        return "never", None
    symbols = difference.free_symbols
    if len(symbols) != 1:
        samples = [difference.xreplace({s: sympy.Integer(v) for s in symbols})
                   for v in (1, 2, 3, 7, 64, 224, 1000)]
        return ("never", None) if all(v != 0 for v in samples) else ("unknown", None)
    (symbol,) = symbols
    known = domains(analysis).get(str(symbol))
    least = known.least if known and known.least else 1
    period = math.prod(int(r.stride) for r in analysis.remainders
                       if symbol in r.size.free_symbols and r.stride.is_number)
    period = min(period, _MAX_PERIOD)
    zero = [v for v in range(least, least + 2 * period) if _at(difference, symbol, v) == 0]
    first = {v % period for v in zero if v < least + period}
    second = {v % period for v in zero if v >= least + period}
    if first != second:
        return "unknown", None
    if not first:
        return "never", None
    if len(first) == period:
        return "always", None
    residues, period = smallest_period(first, period)
    return "sometimes", f"{symbol} ≡ {', '.join(map(str, residues))} (mod {period})"


# ---- checks run at the end of every analysis -----------------------------------------------
def check_domain(analysis: Analysis):
    """SL307 for a symbol no value of which makes the network valid."""
    for name, domain in domains(analysis).items():
        if domain.least is None:
            constraint = next(c for c in analysis.minimum_sizes
                              if domain.symbol in c.value.free_symbols)
            analysis.diagnostics.append(Diagnostic(
                "SL307", ERROR, f"no value of `{name}` makes this layer valid: it needs "
                f"{pretty(constraint.value)} ≥ {constraint.minimum} {constraint.axis}",
                constraint.layer.span, "a stride or window shrinks the input faster than it grows"))


_COMPARE = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b}


def _subject_value(analysis: Analysis, expect: ir.Expect):
    subject = expect.subject
    if subject in ("params", "trainable", "non_trainable", "macs", "size"):
        if subject == "size":
            return analysis.output.size
        return analysis.total(subject)
    if subject == "flops":
        return 2 * analysis.total("macs")
    if subject == "output":
        return list(analysis.output.shape)
    result = analysis.by_name(analysis.tensors.get(subject, subject))
    if result is None:
        from .analysis import EXPECT_SUBJECTS
        from .diagnostics import did_you_mean

        names = list(EXPECT_SUBJECTS) + list(analysis.tensors)
        raise error("SL403", f"`expect {subject}`: no such quantity or layer", expect.subject_span,
                    did_you_mean(subject, names) or f"expect one of {', '.join(EXPECT_SUBJECTS)}"
                    " or a layer's label")
    return list(result.shape)


def check_expects(analysis: Analysis, expect: ir.Expect, env: dict):
    actual = _subject_value(analysis, expect)
    wanted = evaluate(expect.value, env)
    if isinstance(actual, list) != isinstance(wanted, list):
        kind = "a shape `[…]`" if isinstance(actual, list) else "a number"
        raise error("SL204", f"`expect {expect.subject}` compares {kind}, got {show(wanted)}",
                    expect.value.__dict__.get("span", expect.span))
    if isinstance(actual, list):
        if expect.comparison not in ("==", "!="):
            raise error("SL204", "shapes compare with `==` or `!=` only", expect.span)
        if len(actual) != len(wanted):
            holds = expect.comparison == "!="
            if not holds:
                _fail(expect, actual, wanted)
            return
        differences = [sympy.expand(a - w) for a, w in zip(actual, wanted)]
    else:
        differences = [sympy.expand(actual - wanted)]
    compare = _COMPARE[expect.comparison]
    symbols = set().union(*(d.free_symbols for d in differences))
    if not symbols:
        if expect.comparison in ("==", "!="):
            holds = compare(all(d == 0 for d in differences), True)
        else:
            holds = bool(compare(differences[0], 0))
        if not holds:
            _fail(expect, actual, wanted)
        return
    # With unbound symbols: proven if the difference vanishes identically (for == / !=);
    # otherwise search the valid domain for a counterexample.
    if expect.comparison == "==" and all(d == 0 for d in differences):
        return
    counter = _counterexample(analysis, expect, differences, symbols)
    if counter is not None:
        values = ", ".join(f"{s} = {v}" for s, v in counter.items())
        at = {s: sympy.Integer(v) for s, v in counter.items()}
        shown = _shown(actual)
        actual_there = _shown([a.xreplace(at) for a in actual] if isinstance(actual, list)
                              else actual.xreplace(at))
        raise error("SL402", f"`expect {expect.subject} {expect.comparison} {show(wanted)}` does "
                    f"not hold for every value of {', '.join(sorted(map(str, symbols)))}: "
                    f"{expect.subject} = {shown}, which is {actual_there} at {values}",
                    expect.span, "bind the symbols with --set or defaults, or expect the closed "
                    "form")
    analysis.diagnostics.append(Diagnostic(
        "SL402", WARNING, f"`expect {expect.subject}` held at every value tried but could not be "
        f"proven for every value of {', '.join(sorted(map(str, symbols)))}", expect.span, None))


def _shown(value):
    if isinstance(value, list):
        return "[" + ", ".join(pretty(v) for v in value) + "]"
    return pretty(value)


def _fail(expect, actual, wanted):
    raise error("SL401", f"expect {expect.subject} {expect.comparison} {_shown(wanted)} failed: "
                f"{expect.subject} is {_shown(actual)}", expect.span,
                "the network or the expectation is wrong; `shapelang table` shows every layer")


def _counterexample(analysis, expect, differences, symbols):
    compare = _COMPARE[expect.comparison]
    known = domains(analysis)
    ordered = sorted(symbols, key=str)
    starts = {s: (known[str(s)].least if str(s) in known and known[str(s)].least else 1)
              for s in ordered}
    for offset in (0, 1, 2, 3, 5, 8, 13, 100, 1000, 10**6):
        at = {s: sympy.Integer(starts[s] + offset) for s in ordered}
        values = [d.xreplace(at) for d in differences]
        if not all(v.is_number for v in values):
            return None
        if expect.comparison in ("==", "!="):
            holds = compare(all(v == 0 for v in values), True)
        else:
            holds = bool(compare(values[0], 0))
        if not holds:
            return {s: int(v) for s, v in at.items()}
    return None


# ---- the whole solve report ----------------------------------------------------------------
@dataclass
class AxisReport:
    axis: str
    symbol: str
    value: object  # the bound size, or None when symbolic
    domain: Domain | None
    undecided: str | None = None  # why nothing can be said: the re-analysis hit a limit


def input_axes(analysis: Analysis):
    """The spatial axes of the input, each as (axis name, its expression in the .net file)."""
    from .layers.window import AXIS_NAMES

    first = analysis.layers[0]
    rank = len(first.shape) - 1
    return [(AXIS_NAMES.get(rank, ())[i] if rank in AXIS_NAMES else f"axis {i}", dim)
            for i, dim in enumerate(first.shape[:-1])]


def input_size_report(analysis: Analysis) -> list[AxisReport]:
    """Re-analyse with every spatial input size unbound, and solve each for its least valid
    value and its exact sizes."""
    if not analysis.layers or analysis.layers[0].op != "input":
        return []
    axes = input_axes(analysis)
    if not axes:
        return []
    fresh = []
    input_layer = analysis.layers[0].layer
    items = input_layer.positional[0].items if input_layer.positional else ()
    for i, (axis, _) in enumerate(axes):
        node = items[i] if i < len(items) else None
        fresh.append(node.id if isinstance(node, ir.Name) else axis)
    symbols = [sympy.Symbol(name, integer=True, positive=True) for name in fresh]
    override = tuple(symbols) + tuple(analysis.layers[0].shape[-1:])
    bindings = {**analysis.bindings}
    unbound = analyse(analysis.network, bindings, input_override=override, checks=False)
    if not unbound.complete:  # past a limit with the sizes unbound: a partial walk proves nothing
        reason = next((d.message for d in unbound.diagnostics if d.severity == ERROR),
                      "the analysis with unbound sizes is incomplete")
        return [AxisReport(axis, str(sym), dim if dim.is_number else None, None, reason)
                for (axis, dim), sym in zip(axes, symbols)]
    # The unbound parameters of the original stay symbols in the re-analysis too.
    found = domains(_with_symbols(unbound, symbols))
    return [AxisReport(axis, str(sym), dim if dim.is_number else None, found.get(str(sym)))
            for (axis, dim), sym in zip(axes, symbols)]


def _with_symbols(analysis: Analysis, symbols) -> Analysis:
    for s in symbols:
        analysis.symbols.setdefault(str(s), s)
    return analysis


def nearest_exact_hint(analysis: Analysis) -> dict[str, str]:
    """For SL305, by axis: the nearest input sizes at which no stride drops anything."""
    hints = {}
    for report in input_size_report(analysis):
        if report.domain is None or report.value is None:
            continue
        below, above = report.domain.nearest_exact(int(report.value))
        exact = report.domain.describe_exact()
        if exact is None or exact == "none":
            continue
        near = " or ".join(str(v) for v in dict.fromkeys((below, above)) if v is not None)
        hints[report.axis] = (f"input {report.axis} that no stride drops any of: {exact}; "
                              f"nearest to {report.value}: {near}")
    return hints


def least_input_hint(analysis: Analysis) -> str | None:
    """For SL302: the smallest input that works."""
    parts = [f"{r.symbol} ≥ {r.domain.least}" if r.symbol != r.axis
             else f"at least {r.domain.least} {r.axis}"
             for r in input_size_report(analysis) if r.domain and r.domain.least]
    return ("the smallest input that works: " + ", ".join(parts)) if parts else None
