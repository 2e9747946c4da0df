"""Every bound on what shapelang reads and derives, so that no file, flag or value makes a
command hang, exhaust memory or overflow the stack. Each limit, when reached, is a diagnostic
with the limit in its message; the README lists them.

The numbers are chosen far above any real network (the largest example has 177 layers, values
below 10^12 and closed forms of a few dozen operations) and low enough that a file at every
limit at once is still checked in seconds.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from fractions import Fraction

import sympy

#: Bytes of a `.net` file; Lark parses about 100 KB a second on a slow core.
MAX_FILE_BYTES = 256 * 1024
#: Nesting of brackets, operators and calls in one expression (`a + b + c` nests 2 deep).
MAX_EXPRESSION_DEPTH = 100
#: Nesting of an evaluation through the calls of `let` functions, and its operations (a
#: function that calls another twice, which calls another twice, … doubles at each level).
MAX_EVALUATION_DEPTH = 150
MAX_EVALUATION_STEPS = 20_000
#: Nesting of statements (`repeat` in `repeat`), and of block uses and repeats at analysis.
MAX_NESTING = 32
#: Layers a network unrolls to, blocks and repeats expanded.
MAX_LAYERS = 50_000
#: Any number read or derived: |value| ≤ 10^60, and no finer than 10^-60.
MAX_MAGNITUDE_DIGITS = 60
MAX_MAGNITUDE = 10**MAX_MAGNITUDE_DIGITS
#: Dimensions of one shape.
MAX_RANK = 16
#: A closed form in unbound parameters: operations (as a tree), nesting, polynomial degree.
MAX_CLOSED_FORM_NODES = 5_000
MAX_CLOSED_FORM_DEPTH = 80
MAX_CLOSED_FORM_DEGREE = 8

#: Wall-clock seconds for one file's analysis, its variants and checks included: the backstop for
#: what the limits above cannot price, such as sympy's proofs about many closed forms that
#: are each within the limits (a few milliseconds to a second each).
MAX_ANALYSIS_SECONDS = 30.0

LIMIT_HINT = "these limits keep every command bounded; real networks stay far below them"


class LimitError(ValueError):
    """A value, literal or closed form past one of the limits; the message says which, and
    `code` is the diagnostic's: SL209 for a number out of range, SL217 for a closed form too
    large to analyse."""

    def __init__(self, message: str, code: str = "SL209"):
        super().__init__(message)
        self.code = code


# ---- time ------------------------------------------------------------------------------------
_deadline: ContextVar[float | None] = ContextVar("shapelang_deadline", default=None)


@contextmanager
def time_limit() -> Iterator[None]:
    """Bound the analysis inside to `MAX_ANALYSIS_SECONDS`; an analysis nested in another
    (a re-analysis with unbound sizes) shares the outer one's deadline."""
    if _deadline.get() is not None:
        yield
        return
    token = _deadline.set(time.monotonic() + MAX_ANALYSIS_SECONDS)
    try:
        yield
    finally:
        _deadline.reset(token)


def out_of_time() -> bool:
    deadline = _deadline.get()
    return deadline is not None and time.monotonic() > deadline


def time_message() -> str:
    return (f"the analysis took longer than shapelang's limit of {MAX_ANALYSIS_SECONDS:g} "
            "seconds and stopped here")


# ---- numbers ---------------------------------------------------------------------------------
_DECIMAL = re.compile(r"(?P<whole>\d*)(?:\.(?P<fraction>\d*))?(?:[eE](?P<exponent>[+-]?\d+))?")


def read_decimal(text: str) -> Fraction:
    """A decimal literal (`62_378_344`, `1e-3`, `.5`) as an exact Fraction, without ever
    building a number past the limits: `1e10000000000` is refused from its text."""
    cleaned = text.strip().replace("_", "")
    match = _DECIMAL.fullmatch(cleaned)
    if not match or not (match["whole"] or match["fraction"]):
        raise ValueError(f"not a decimal number: {shorten(text)}")
    whole, fraction = match["whole"], match["fraction"] or ""
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return Fraction(0)
    exponent_text = (match["exponent"] or "0").lstrip("+")
    negative_exponent = exponent_text.startswith("-")
    exponent_digits = exponent_text.lstrip("-").lstrip("0")
    if len(exponent_digits) > 6:  # far beyond any limit either way: no need to read it
        too_large = not negative_exponent
        raise LimitError(_magnitude_message(shorten(text), too_large))
    # value = int(digits) · 10^scale, with int(digits) of len(digits) digits
    scale = int(exponent_text or "0") - len(fraction)
    if len(digits) - 1 + scale > MAX_MAGNITUDE_DIGITS:
        raise LimitError(_magnitude_message(shorten(text), True))
    significant = digits.rstrip("0")
    scale += len(digits) - len(significant)
    # significant · 10^scale in lowest terms has a denominator of at least 2^-scale
    if scale < 0 and 2 ** min(-scale, 4 * MAX_MAGNITUDE_DIGITS) > MAX_MAGNITUDE:
        raise LimitError(_magnitude_message(shorten(text), False))
    value = Fraction(int(significant)) * Fraction(10) ** scale
    if abs(value) > MAX_MAGNITUDE:
        raise LimitError(_magnitude_message(shorten(text), True))
    if value.denominator > MAX_MAGNITUDE:
        raise LimitError(_magnitude_message(shorten(text), False))
    return value


def _magnitude_message(shown: str, too_large: bool) -> str:
    if too_large:
        return f"{shown} is larger than shapelang's limit of 10^{MAX_MAGNITUDE_DIGITS}"
    return (f"{shown} is finer than shapelang's limit of 10^-{MAX_MAGNITUDE_DIGITS} "
            "(its exact value needs a larger denominator)")


def shorten(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def describe_integer(n: int) -> str:
    """An integer exactly up to the magnitude limit, past it in a short faithful form, even
    one too long for `str()`: 2^4096 is `a number of 1,234 digits (1.04…·10^1233)`."""
    if abs(n) <= MAX_MAGNITUDE:
        return str(n)
    sign, n = ("-" if n < 0 else ""), abs(n)
    digits = _digit_count(n)
    leading = n // 10 ** (digits - 3)
    return (f"{sign}a number of {digits:,} digits "
            f"({leading // 100}.{leading % 100:02d}…·10^{digits - 1})")


def _digit_count(n: int) -> int:
    estimate = max(int(n.bit_length() * 0.30102999566398120) - 1, 1)
    while 10**estimate <= n:
        estimate += 1
    return estimate


def check_number(value: sympy.Basic) -> None:
    """Raise `LimitError` if a number is past the magnitude limits, or is not real."""
    if value.is_Rational:
        p, q = int(value.p), int(value.q)
        if abs(p) > MAX_MAGNITUDE * q:
            raise LimitError(f"{describe_integer(p // q if p > 0 else -(-p // q))} is larger "
                             f"than shapelang's limit of 10^{MAX_MAGNITUDE_DIGITS}")
        if q > MAX_MAGNITUDE:
            raise LimitError(f"the result is finer than shapelang's limit of "
                             f"10^-{MAX_MAGNITUDE_DIGITS} (its denominator has "
                             f"{_digit_count(q):,} digits)")
        return
    if value.is_extended_real is not True or value.has(sympy.zoo, sympy.nan, sympy.oo):
        raise LimitError(f"{shorten(str(value), 40)} is not a real number")
    check_closed_form(value)


# ---- closed forms -----------------------------------------------------------------------------
_measures: dict = {}  # closed form → (nodes, depth, degree, a number out of range); bounded


def measure(expr: sympy.Basic) -> tuple[int, int, int, bool]:
    """(operations as a tree, nesting depth, polynomial degree, whether it holds a number past
    the magnitude limits) of a closed form, computed without recursion and in time linear in
    its distinct sub-expressions, however much they are shared (a product of lets that use
    each other twice is a tree of 2^n nodes)."""
    if len(_measures) > 200_000:
        _measures.clear()
    stack = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in _measures:
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in _measures)
            continue
        children = [_measures[a] for a in node.args]
        nodes = 1 + sum(c[0] for c in children)
        depth = 1 + max((c[1] for c in children), default=0)
        out_of_range = any(c[3] for c in children) or (
            node.is_Rational and (abs(node.p) > MAX_MAGNITUDE * node.q or node.q > MAX_MAGNITUDE))
        _measures[node] = (nodes, depth, _degree(node, children), out_of_range)
    return _measures[expr]


def _degree(node, children) -> int:
    if node.is_Symbol:
        return 1
    if not children:
        return 0
    if node.is_Mul:
        return sum(c[2] for c in children)
    if node.is_Pow:
        base, exponent = children
        if node.exp.is_Rational:
            return base[2] * int(abs(sympy.ceiling(node.exp))) if base[2] else 0
        return base[2] + exponent[2] * MAX_CLOSED_FORM_DEGREE  # a power in a parameter
    return max(c[2] for c in children)


def check_closed_form(expr: sympy.Basic) -> None:
    """Raise `LimitError` if a closed form is past the size, depth or degree budget, or holds
    a number past the magnitude limits."""
    nodes, depth, degree, out_of_range = measure(expr)
    if nodes > MAX_CLOSED_FORM_NODES:
        raise LimitError(f"the closed form has {nodes:,} operations, more than shapelang's "
                         f"limit of {MAX_CLOSED_FORM_NODES:,}", "SL217")
    if depth > MAX_CLOSED_FORM_DEPTH:
        raise LimitError(f"the closed form nests {depth} operations deep, more than "
                         f"shapelang's limit of {MAX_CLOSED_FORM_DEPTH}", "SL217")
    if degree > MAX_CLOSED_FORM_DEGREE:
        raise LimitError(f"the closed form has degree {degree} in the parameters, more than "
                         f"shapelang's limit of {MAX_CLOSED_FORM_DEGREE}", "SL217")
    if out_of_range:
        for atom in expr.atoms(sympy.Rational):  # a tree of at most MAX_CLOSED_FORM_NODES
            check_number(atom)


def check_value(value) -> None:
    """Raise `LimitError` for a number or closed form past the limits; anything else (a
    keyword, a tuple checked item by item by its caller) passes."""
    if isinstance(value, (tuple, list)):
        for item in value:
            check_value(item)
        return
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        value = sympy.Integer(value)
    if not isinstance(value, sympy.Basic):
        return
    if value.is_number:
        check_number(value)
    else:
        check_closed_form(value)


# ---- memory and `fit` ------------------------------------------------------------------------
#: A batch size (`table --batch-size`, `fit --vary batch=…`).
MAX_BATCH_SIZE = 10**9
#: Points of one `fit` grid (every --vary's values multiplied): a monotone search reads about
#: log2 of them; more are refused, not searched.
MAX_FIT_POINTS = 10**7
#: Analyses one `fit` may run where no monotonicity is proven (a scan): a larger grid is a
#: diagnostic telling how to narrow it, not minutes of work.
MAX_FIT_SCAN = 1_000
#: Wall-clock seconds for one `fit`, all its analyses together.
MAX_FIT_SECONDS = 120.0
