"""Values as Python source: a layer argument — a number, a word, a tuple, or a closed form in
the network's or a block's parameters — written as exact Python arithmetic.

Symbols are written through `names` (a symbol's name → the Python identifier or expression
that holds it), never from the symbol's own text. Rationals stay exact: p/q·x is
`Fraction(p * x, q)`; floor and ceiling are `math.floor` and `math.ceil`.
"""
from __future__ import annotations

import sympy

from ..float64 import float64
from .backend import Call
from .pywriter import NoLiteral, is_identifier, literal


class Unwritable(Exception):
    """A value with no exact Python form here (an unknown symbol, a function Python lacks)."""


class NotAFloat64(Unwritable):
    """A number that a float64 cannot hold: it would overflow or underflow."""


def python_value(value, names: dict[str, str]) -> str:
    """Python source for a layer argument."""
    if isinstance(value, Call):  # the callee and keywords are the generator's, never the user's
        words = [*value.callee.split("."), *value.kwargs]
        if not all(is_identifier(word) for word in words):
            raise Unwritable(f"no call {value.callee}({', '.join(value.kwargs)})")
        arguments = ", ".join(f"{key}={python_value(v, names)}" for key, v in value.kwargs.items())
        return f"{value.callee}({arguments})"
    if isinstance(value, (tuple, list)):
        items = [python_value(v, names) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if not isinstance(value, sympy.Basic):
        try:
            return literal(value)
        except NoLiteral as exc:
            raise Unwritable(str(exc)) from None
    if value.is_number:
        if value.is_Integer:
            return literal(int(value))
        if value.is_Rational:  # a number option such as a dropout rate
            number = float64(value)
            if number is None:
                raise NotAFloat64(f"{value} does not fit a float64")
            return literal(number)
        raise Unwritable(f"the number {value}")
    code = _expression(value, names)
    if value.is_Symbol or (value.is_integer and isinstance(value, (sympy.floor, sympy.ceiling))):
        return code
    return f"int({code})" if value.is_integer else f"float({code})"


_ATOM, _POWER, _PRODUCT, _SUM = 4, 3, 2, 1  # Python's precedences, highest first


def _expression(e, names, context: int = _SUM) -> str:
    """A closed form, parenthesised only where Python's precedence needs it."""
    code, precedence = _with_precedence(e, names)
    return f"({code})" if precedence < context else code


def _with_precedence(e, names):
    if e.is_Integer:
        return literal(int(e)), (_ATOM if e >= 0 else _SUM)
    if e.is_Rational:
        return f"Fraction({literal(int(e.p))}, {literal(int(e.q))})", _ATOM
    if e.is_Symbol:
        if str(e) not in names:
            raise Unwritable(f"unknown symbol {e}")
        return names[str(e)], _ATOM
    if isinstance(e, sympy.Add):
        terms = [_expression(a, names, _SUM) for a in e.as_ordered_terms()]
        code = terms[0]
        for term in terms[1:]:
            code += f" - {term[1:]}" if term.startswith("-") else f" + {term}"
        return code, _SUM
    if isinstance(e, sympy.Mul):
        coefficient, rest = e.as_coeff_Mul()
        # `*` and `%` bind alike, from the left: a factor `a % b` needs its parentheses
        factors = [_expression(f, names, _POWER) for f in sympy.Mul.make_args(rest)]
        product = " * ".join(factors)
        if coefficient.is_Rational and not coefficient.is_Integer:
            numerator = (product if coefficient.p == 1
                         else f"{literal(int(coefficient.p))} * {product}")
            return f"Fraction({numerator}, {literal(int(coefficient.q))})", _ATOM
        if coefficient == -1:
            return f"-{product}", _SUM
        if coefficient != 1:
            return f"{literal(int(coefficient))} * {product}", _PRODUCT
        return product, _PRODUCT
    if isinstance(e, sympy.Pow) and e.exp.is_Integer:
        base = _expression(e.base, names, _ATOM)
        if e.exp == -1:
            return f"Fraction(1, {_expression(e.base, names)})", _ATOM
        if e.exp < 0:
            return f"Fraction(1, {base} ** {literal(int(-e.exp))})", _ATOM
        return f"{base} ** {literal(int(e.exp))}", _POWER
    functions = {sympy.floor: "math.floor", sympy.ceiling: "math.ceil", sympy.Min: "min",
                 sympy.Max: "max", sympy.Abs: "abs"}
    for kind, function in functions.items():
        if isinstance(e, kind):
            return f"{function}({', '.join(_expression(a, names) for a in e.args)})", _ATOM
    if isinstance(e, sympy.Mod):
        left, right = (_expression(a, names, _POWER) for a in e.args)
        return f"{left} % {right}", _PRODUCT
    raise Unwritable(f"no Python form for {type(e).__name__}")
