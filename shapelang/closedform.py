"""Closed forms, solved: printing, validity domains, exact sizes, merges and reshapes over
symbols. Below the analysis: it reads only the constraints a walk collected (any object with
`symbols`, `minimum_sizes` and `remainders`), never runs one.

Every size rule (floor((n + pads − k)/s) + 1, ceil(n/s), …) is non-decreasing in its input, so
a constraint "size ≥ m" in one symbol holds from some least value on: found by exponential then
binary search on exact integer evaluation (and only where the size is provably non-decreasing).
Exact sizes, and where two sizes are equal, are congruences composed layer by layer on the
quasi-affine closed forms (`quasiaffine.py`), never a scan of a period. Whatever cannot be
decided within the budget is said to be undecided.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from fractions import Fraction

import sympy
from sympy.printing.str import StrPrinter

from .expr import show
from .quasiaffine import (
    Budget,
    Congruence,
    Undecided,
    as_residues,
    classes_where,
    constant,
    make_linear,
    non_decreasing,
    slope,
    to_linear,
    value_at,
    variable,
    zero_set,
)

_SEARCH_LIMIT = 2**48
_UNBOUNDED_LIMIT = 2**4096  # a size with a positive slope gets there long before


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


def _evaluator(expr, symbol):
    """A function v ↦ expr at symbol = v, exact: quasi-affine forms are evaluated directly,
    anything else through sympy."""
    try:
        linear = to_linear(expr)
    except Undecided:
        return lambda v: _at(expr, symbol, v)
    name = str(symbol)
    return lambda v: value_at(linear, {name: v})


def _non_decreasing(expr) -> bool:
    """Whether expr is provably non-decreasing in each (positive) symbol."""
    try:
        return non_decreasing(to_linear(expr))
    except Undecided:
        pass
    try:
        return _non_decreasing_and_sign(expr)[0]
    except RecursionError:
        return False


def _non_decreasing_and_sign(expr) -> tuple[bool, bool]:
    """(non-decreasing, non-negative) of a sympy expression in positive symbols, by its shape;
    False where not provable."""
    if expr.is_number:
        return True, bool(expr >= 0)
    if expr.is_Symbol:
        return True, bool(expr.is_positive)
    parts = [_non_decreasing_and_sign(a) for a in expr.args]
    if expr.is_Add:
        return all(p[0] for p in parts), all(p[1] for p in parts)
    if expr.is_Mul:
        if all(p[0] and p[1] for p in parts):
            return True, True
        return False, False
    if expr.is_Pow and expr.args[1].is_Integer and expr.args[1] > 0:
        return parts[0][0] and parts[0][1], parts[0][1]
    if isinstance(expr, (sympy.floor, sympy.ceiling)):
        return parts[0]
    if isinstance(expr, sympy.Max):
        return all(p[0] for p in parts), any(p[1] for p in parts)
    if isinstance(expr, sympy.Min):
        return all(p[0] for p in parts), all(p[1] for p in parts)
    return False, False


@functools.lru_cache(maxsize=4096)
def least_value(expr, minimum, symbol, start: int = 1) -> int | None:
    """The least integer v ≥ start with expr(v) ≥ minimum, or None if provably there is none
    (expr never exceeds a bound below the minimum). `Undecided` unless expr is provably
    non-decreasing in symbol (then the bisection is exact) and reaches the minimum below 2**48
    (2**4096 for a quasi-affine size with a positive slope, which always gets there)."""
    if not _non_decreasing(expr):
        raise Undecided(f"a size that is not provably non-decreasing in {symbol}")
    try:
        if _upper_bound(expr) < minimum:
            return None
    except RecursionError:
        pass
    at = _evaluator(expr, symbol)
    unbounded = _grows(expr)
    limit = _UNBOUNDED_LIMIT if unbounded else _SEARCH_LIMIT

    def holds(v):
        return bool(at(v) >= minimum)

    if holds(start):
        return start
    high = max(start, 1) * 2
    while not holds(high):
        if high > limit:
            raise Undecided(f"no size of {symbol} below 2**{limit.bit_length() - 1} makes it "
                            "large enough")
        high *= 2
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle
    return high


def _upper_bound(expr):
    """A number no value of expr exceeds (for positive symbols), or ∞ where none is known:
    min(H, 4) is at most 4."""
    if expr.is_number:
        return expr
    if expr.is_Add:
        return sympy.Add(*(_upper_bound(a) for a in expr.args))
    if expr.is_Mul and len(expr.args) == 2 and expr.args[0].is_number and expr.args[0] > 0:
        return expr.args[0] * _upper_bound(expr.args[1])
    if isinstance(expr, sympy.Min):
        return min(_upper_bound(a) for a in expr.args)
    if isinstance(expr, sympy.Max):
        return max(_upper_bound(a) for a in expr.args)
    if isinstance(expr, sympy.floor):
        return _upper_bound(expr.args[0])
    if isinstance(expr, sympy.ceiling):
        return _upper_bound(expr.args[0]) + 1
    return sympy.oo


def _grows(expr) -> bool:
    """Whether a quasi-affine size has a positive slope (so it exceeds every bound)."""
    try:
        return slope(to_linear(expr)) > 0
    except Undecided:
        return False


def _least_of(constraints, symbol) -> int | None:
    """The least value of `symbol` meeting every (value ≥ minimum) constraint in it alone."""
    least = 1
    for c in constraints:
        least = least_value(c.value, c.minimum, symbol, least)
        if least is None:
            return None
    return least


def _one_symbol_constraints(analysis, symbol):
    return [c for c in analysis.minimum_sizes if c.value.free_symbols == {symbol}
            and not c.minimum.free_symbols]


def _one_symbol_maxima(analysis, symbol):
    return [c for c in getattr(analysis, "maximum_sizes", ()) if c.value.free_symbols == {symbol}
            and not c.maximum.free_symbols]


def _greatest_of(constraints, symbol) -> int | None:
    """The greatest value of `symbol` meeting every (value ≤ maximum) constraint in it alone
    (each value non-decreasing: it holds up to the value before the least that exceeds it);
    None where none bounds it."""
    greatest = None
    for c in constraints:
        first_over = least_value(c.value, c.maximum + 1, symbol)
        if first_over is not None:
            greatest = first_over - 1 if greatest is None else min(greatest, first_over - 1)
    return greatest


def least_so_far(analysis, symbol) -> int:
    """The least valid value of `symbol` given the constraints found so far (1 when they give
    none or cannot be solved): the domain a merge's equality is decided on."""
    try:
        found = _least_of(_one_symbol_constraints(analysis, symbol), symbol)
    except Undecided:
        return 1
    return found or 1


@dataclass
class Domain:
    """What solve knows of one symbol: the least valid value and, along a spatial axis, the
    sizes at which no stride leaves rows unread — as classes (r, M): n ≡ r (mod M), written
    with one modulus (`period`, `residues`) where that is short."""

    symbol: sympy.Symbol
    least: int | None
    period: int | None = None
    residues: tuple[int, ...] | None = None
    classes: tuple = ()
    undecided: str | None = None  # why the exact sizes are not known
    least_undecided: str | None = None  # why the least valid value is not known
    exact_known: bool = field(default=False, repr=False)
    greatest: int | None = None  # the greatest valid value, None where none bounds it

    @property
    def empty(self) -> bool:
        return self.least is None or (self.greatest is not None and self.greatest < self.least)

    def describe_least(self) -> str:
        if self.least_undecided:
            return f"undecided ({self.least_undecided})"
        if self.empty:
            return f"no value of {self.symbol}"
        if self.greatest is not None:
            return (f"{self.symbol} = {self.least}" if self.greatest == self.least else
                    f"{self.least} ≤ {self.symbol} ≤ {self.greatest}")
        return f"{self.symbol} ≥ {self.least}"

    def describe_exact(self) -> str | None:
        if self.undecided:
            return f"undecided ({self.undecided})"
        if not self.exact_known:
            return None
        if not self.classes:
            return "none"
        if self.period == 1:
            return f"every {self.symbol}"
        if self.period is not None:
            return f"{self.symbol} ≡ {_runs(self.residues)} (mod {self.period})"
        shown = " or ".join(f"{self.symbol} ≡ {r} (mod {m})" for r, m in self.classes[:8])
        more = len(self.classes) - 8
        return shown + (f" or … ({more} more classes)" if more > 0 else "")

    def is_exact(self, value: int) -> bool:
        return (self.least is not None and value >= self.least
                and (self.greatest is None or value <= self.greatest)
                and any(value % m == r for r, m in self.classes))

    def nearest_exact(self, value: int) -> tuple[int | None, int | None]:
        """The exact sizes nearest below and above `value` (both `value` if it is one)."""
        if not self.classes or self.least is None:
            return (None, None)
        belows = [value - (value - r) % m for r, m in self.classes]
        belows = [v for v in belows if v >= self.least]
        start = max(value, self.least)
        above = min(start + (r - start) % m for r, m in self.classes)
        return (max(belows) if belows else None), above


def _runs(residues) -> str:
    """0, 1, 2, 3, 7 → "0–3, 7": long lists of residues stay readable."""
    parts, run = [], []
    for r in residues:
        if run and r == run[-1] + 1:
            run.append(r)
            continue
        if run:
            parts.append(run)
        run = [r]
    if run:
        parts.append(run)
    return ", ".join(f"{p[0]}–{p[-1]}" if len(p) > 2 else ", ".join(map(str, p)) for p in parts)


def domains(analysis, exact: bool = True) -> dict[str, Domain]:
    """A `Domain` for each symbol that some constraint or stride depends on; with `exact`,
    its exact sizes too."""
    result: dict[str, Domain] = {}
    for name, symbol in analysis.symbols.items():
        constraints = _one_symbol_constraints(analysis, symbol)
        remainders = [r for r in analysis.remainders if symbol in r.size.free_symbols]
        maxima = _one_symbol_maxima(analysis, symbol)
        if not constraints and not remainders and not maxima:
            continue
        domain = Domain(symbol, 1)
        try:
            domain.least = _least_of(constraints, symbol)
            domain.greatest = _greatest_of(maxima, symbol)
        except Undecided as exc:
            domain.least_undecided = str(exc)
        if exact and domain.least is not None:
            try:
                _solve_exact(domain, remainders, name)
            except Undecided as exc:
                domain.undecided = str(exc)
        result[name] = domain
    return result


def _solve_exact(domain: Domain, remainders, name: str):
    conditions = []
    for r in remainders:
        if r.size.free_symbols != {domain.symbol}:
            raise Undecided(f"a stride's input size depends on {pretty(r.size)}")
        if r.exact is None:
            raise Undecided(f"the window or stride of `{r.name}` is symbolic or too large")
        conditions.append(Congruence((to_linear(r.size),), int(r.stride), r.exact))
    classes = classes_where(conditions, name, Budget())
    written = as_residues(classes)
    domain.classes = tuple(classes)
    domain.period, domain.residues = written if written else (None, None)
    domain.exact_known = True


# ---- where two sizes agree, and where a quotient is an integer ------------------------------
def equality_condition(first, second, analysis) -> tuple[str, str | None]:
    """Whether two sizes (one axis of two shapes) are equal over the valid values of the
    parameters: ("always", None), ("never", None), ("sometimes", "H ≡ 0 (mod 2)"), or
    ("unknown", why) where it cannot be decided within the budget."""
    difference = sympy.expand(first - second)
    if difference == 0:
        return "always", None
    if difference.is_number:
        return "never", None
    try:
        linear = to_linear(first) - to_linear(second)
        if not linear.terms:  # the canonical forms differ by a constant
            return ("always", None) if linear.constant == 0 else ("never", None)
    except Undecided:
        pass
    symbols = sorted(difference.free_symbols, key=str)
    reason = "the sizes depend on several parameters"
    if len(symbols) == 1:
        (symbol,) = symbols
        least = least_so_far(analysis, symbol)
        try:
            return _equality_in_one(to_linear(first), to_linear(second), symbol, least)
        except Undecided as exc:
            reason = str(exc)
    return _equality_by_witness(first, second, analysis, reason)


def _equality_in_one(a, b, symbol, least: int):
    name = str(symbol)
    try:
        classes, points = zero_set(a - b, name, Budget())
    except Undecided:
        return _equality_of_common_part(a, b, name, least), None
    if classes == [(0, 1)]:
        return "always", None
    points = [p for p in points if p >= least and not any(p % m == r for r, m in classes)]
    if not classes and not points:
        return "never", None
    return "sometimes", describe_set(name, classes, points)


def _equality_of_common_part(a, b, name: str, least: int) -> str:
    """Deep sizes that share their innermost part X (two branches from one tensor): decide
    a(x) = b(x) over the integers x ≥ X(least) with X a fresh variable. Decides "always" and
    "never" (sound for any range of X); anything else is `Undecided`."""
    common = a.floors() & b.floors()
    inside = set().union(*(f.inner.floors() for f in common)) if common else set()
    outermost = common - inside
    if len(outermost) != 1:
        raise Undecided("the sizes are too deep to compare within the budget")
    (shared,) = outermost
    fresh = f"{name}'"
    a2, b2 = (f.substitute(shared, variable(fresh)) for f in (a, b))
    if (a2 - b2).symbols() - {fresh}:
        raise Undecided("the sizes are too deep to compare within the budget")
    classes, points = zero_set(a2 - b2, fresh, Budget())
    if classes == [(0, 1)]:
        return "always"
    shared_linear = make_linear({shared: 1})
    lowest = (value_at(shared_linear, {name: least}) if non_decreasing(shared_linear)
              else None)
    if not classes and all(lowest is not None and p < lowest for p in points):
        return "never"
    raise Undecided("the sizes are too deep to compare within the budget")


def describe_set(name: str, classes, points) -> str:
    """Classes and single values of `name` as a condition: "H ≡ 0 (mod 2)", "H ∈ {1, 2}",
    "H ≡ 1 (mod 4) or H ∈ {2, 6–9}"."""
    parts = []
    written = as_residues(classes) if classes else None
    if written:
        period, residues = written
        parts.append(f"{name} ≡ {_runs(residues)} (mod {period})")
    else:
        parts += [f"{name} ≡ {r} (mod {m})" for r, m in classes]
    if len(points) == 1:
        parts.append(f"{name} = {points[0]}")
    elif points:
        parts.append(f"{name} ∈ {{{_runs(sorted(points))}}}")
    return " or ".join(parts)


def _samples(analysis, symbols):
    """Valid-looking values of several symbols together: each from its least value on."""
    offsets = (0, 1, 2, 3, 4, 5, 7, 10, 13, 31, 100, 1001)
    starts = [least_so_far(analysis, s) for s in symbols]
    if len(symbols) == 1:
        return [{symbols[0]: starts[0] + o} for o in offsets]
    chosen = list(itertools.product(offsets[:6], repeat=len(symbols)))[:64]
    chosen += [(o,) * len(symbols) for o in offsets[6:]]
    return [{s: start + o for s, start, o in zip(symbols, starts, combo)} for combo in chosen]


def _equality_by_witness(first, second, analysis, reason: str):
    """Where the closed forms cannot be compared: a value at which they differ makes the
    merge hold only where they are equal; none found leaves it undecided."""
    symbols = sorted((first - second).free_symbols, key=str)
    for values in _samples(analysis, symbols):
        at = {s: sympy.Integer(v) for s, v in values.items()}
        if (first - second).xreplace(at) != 0:
            return "sometimes", f"{pretty(first)} = {pretty(second)}"
    return "unknown", reason


def divisibility_condition(count, known, analysis) -> tuple[str, str | None]:
    """Whether count/known (a reshape's inferred dimension) is an integer over the valid
    values of the parameters: "always", "never", ("sometimes", condition), ("unknown", why)."""
    numerator, denominator, coefficient = _cancelled(count, known)
    if not denominator and coefficient.denominator == 1:
        return "always", None
    quotient = count / known
    if not numerator and not denominator:
        return "never", None
    symbols = sorted(quotient.free_symbols, key=str)
    if not denominator and len(symbols) == 1:
        try:
            return _divisible_in_one(numerator, coefficient, symbols[0], analysis)
        except Undecided:
            pass
    top = pretty(coefficient.numerator * sympy.Mul(*numerator))
    bottom = pretty(coefficient.denominator * sympy.Mul(*denominator))
    for values in _samples(analysis, symbols):
        at = {s: sympy.Integer(v) for s, v in values.items()}
        if quotient.xreplace(at).is_integer is False:
            return "sometimes", f"{bottom} divides {top}"
    return "unknown", f"{bottom} may not divide {top}"


def _cancelled(count, known):
    """count/known as (numerator factors, denominator factors, rational coefficient), with the
    factors the two have in common cancelled (as written: sizes are products of dimensions)."""
    def factors(expr):
        coefficient, found = Fraction(1), []
        for f in sympy.Mul.make_args(expr):
            if f.is_Rational:
                coefficient *= Fraction(int(f.p), int(f.q))
            elif f.is_Pow and f.args[1].is_Integer and 0 < f.args[1] <= 64:
                found += [f.args[0]] * int(f.args[1])
            else:
                found.append(f)
        return coefficient, found

    top_coefficient, top = factors(count)
    bottom_coefficient, bottom = factors(known)
    remaining = []
    for f in bottom:
        if f in top:
            top.remove(f)
        else:
            remaining.append(f)
    return top, remaining, top_coefficient / bottom_coefficient


def _divisible_in_one(numerator, coefficient: Fraction, symbol, analysis):
    name = str(symbol)
    factors = tuple(to_linear(f) for f in numerator) + (constant(coefficient.numerator),)
    modulus = coefficient.denominator
    classes = classes_where([Congruence(factors, modulus, frozenset({0}))], name, Budget())
    if classes == [(0, 1)]:
        return "always", None
    if not classes:
        return "never", None
    return "sometimes", describe_set(name, classes, [])


