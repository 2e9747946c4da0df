"""Numbers as the generated program holds them: float64. A number option (`epsilon=1e-400`,
`lr=1e999`) is exact while shapelang analyses it; the program gets the nearest float64, which
must still be that number — not 0.0, not infinity, not a subnormal that has lost its digits.
"""
from __future__ import annotations

import math
import sys
from fractions import Fraction

import sympy

from . import ir
from .diagnostics import error


def float64(value) -> float | None:
    """The float64 that a generated program holds for the exact number `value`, or None when
    that float is not `value` to float64's precision: it overflows to infinity, or underflows
    to zero or to a subnormal that has lost digits."""
    exact = _exact(value)
    try:
        nearest = float(exact)
    except OverflowError:
        return None
    if not math.isfinite(nearest):
        return None
    if exact and abs(nearest) < sys.float_info.min and Fraction(nearest) != exact:
        return None
    return nearest


def require_float64(value, span: ir.Span, what: str):
    """Return `value` if a float64 holds it (see `float64`), else raise SL209."""
    if not (isinstance(value, sympy.Rational) and float64(value) is None):
        return value
    exact = _exact(value)
    if abs(exact) > 1:
        problem = "it overflows: the generated program would hold infinity"
    else:
        nearest = float(exact)
        problem = ("it underflows: the generated program would hold "
                   f"{'0.0' if not nearest else format(nearest, '.17g')}")
    raise error("SL209", f"{what} is {_scientific(exact)}, which a float64 cannot hold "
                f"({problem})", span,
                "use 0 or a magnitude between 2.2250738585072014e-308 and "
                "1.7976931348623157e308")


def _exact(value) -> Fraction:
    if isinstance(value, sympy.Rational):
        return Fraction(int(value.p), int(value.q))
    return Fraction(value)


def _scientific(exact: Fraction) -> str:
    """An exact rational in scientific notation, `1e-400`, without going through a float."""
    magnitude = abs(exact)
    exponent = len(str(magnitude.numerator)) - len(str(magnitude.denominator))
    if magnitude < Fraction(10) ** exponent:
        exponent -= 1
    mantissa = float(magnitude / Fraction(10) ** exponent)
    return f"{'-' if exact < 0 else ''}{mantissa:.6g}e{exponent}"
