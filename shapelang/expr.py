"""Expressions, evaluated from the IR into sympy objects by shapelang's own code.

Nothing here turns text into code: no eval, no exec, no sympify of text. Numbers arrive as
exact `Fraction`s (`1e-3` is 1/1000, `0.5` is 1/2), names are looked up in an environment,
and the only functions are those in `FUNCTIONS`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy

from . import ir
from .diagnostics import did_you_mean, error

Value = object  # a sympy expression, a tuple or list of them, or a Keyword


class Poisoned(Exception):
    """A name whose definition already failed (and was reported): its uses are not errors of
    their own."""


POISON = object()  # the value of such a name


@dataclass(frozen=True)
class Keyword:
    """A bare name that is no variable — `same`, `valid`, `relu`, `true` — left for the option
    that receives it to interpret. Equal by name: where it was written does not matter."""

    name: str
    span: ir.Span = field(compare=False)


@dataclass(frozen=True)
class UserFunction:
    """`let f(v, d = 8) = …`: evaluated in the environment it was defined in, plus its
    arguments."""

    definition: ir.Function
    env: dict


#: The environment key of the tensor resolver: `env[TENSORS](name, span)` is that tensor's
#: shape, for `channels(@input)` and the like.
TENSORS = "@"
_MAX_CALL_DEPTH = 50


def _roundeven(x):
    # The seed article's `roundeven`: the next even integer at or above x (ceil(x/2)·2).
    return 2 * sympy.ceiling(x / 2)


def _round(x):
    # Round half up: floor(x + 1/2). Defined for symbolic x too, unlike banker's rounding.
    return sympy.floor(x + sympy.Rational(1, 2))


FUNCTIONS: dict[str, tuple[int | None, Callable]] = {
    # name: (number of arguments or None for "one or more", implementation)
    "roundeven": (1, _roundeven),
    "ceil": (1, sympy.ceiling),
    "floor": (1, sympy.floor),
    "round": (1, _round),
    "abs": (1, sympy.Abs),
    "min": (None, sympy.Min),
    "max": (None, sympy.Max),
}
#: Functions of a tensor's shape: `channels(@input)` is its last axis.
SHAPE_FUNCTIONS = {"channels": -1, "height": 0, "width": 1}

_MAX_EXPONENT = 64


def positive_integer_symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, integer=True, positive=True)


def evaluate(node: ir.Expr, env: dict[str, Value], keywords: bool = False) -> Value:
    """Evaluate `node` in `env`. With `keywords`, an unknown bare name is returned as a
    `Keyword` (the caller decides whether it is one it accepts); without, it is SL206."""
    if isinstance(node, ir.Number):
        return sympy.Rational(node.value.numerator, node.value.denominator)
    if isinstance(node, ir.Name):
        if node.id in env:
            if env[node.id] is POISON:
                raise Poisoned(node.id)
            return env[node.id]
        if keywords:
            return Keyword(node.id, node.span)
        raise error("SL206", f"undefined name `{node.id}`", node.span,
                    did_you_mean(node.id, visible_names(env))
                    or "define it with `let` or as a parameter")
    if isinstance(node, ir.Neg):
        return -_scalar(evaluate(node.operand, env), node.operand)
    if isinstance(node, ir.BinOp):
        left = _scalar(evaluate(node.left, env), node.left)
        right = _scalar(evaluate(node.right, env), node.right)
        return _binary(node, left, right)
    if isinstance(node, ir.Call):
        return _call(node, env)
    if isinstance(node, ir.Ref):
        if TENSORS not in env:
            raise error("SL206", f"`@{node.name}` names a tensor, and there are none here",
                        node.span)
        return list(env[TENSORS](node.name, node.span))
    if isinstance(node, ir.TupleExpr):  # may nest: zeropad ((0, 1), (0, 1))
        values = [evaluate(item, env, keywords) for item in node.items]
        return tuple(v if isinstance(v, tuple) else _scalar(v, item)
                     for v, item in zip(values, node.items))
    if isinstance(node, ir.ListExpr):
        return [_scalar(evaluate(item, env, keywords), item) for item in node.items]
    raise AssertionError(f"unknown expression node {type(node).__name__}")


def visible_names(env: dict) -> list[str]:
    """The names a user could mean (not the evaluator's own entries)."""
    return [k for k in env if k[0].isalpha()]


def _scalar(value: Value, node: ir.Expr):
    if isinstance(value, Keyword):
        return value
    if not isinstance(value, sympy.Basic):
        raise error("SL204", f"expected a number here, got {show(value)}", node.span)
    return value


def _binary(node: ir.BinOp, left, right):
    op = node.op
    for side, value in (("left", left), ("right", right)):
        if isinstance(value, Keyword):
            raise error("SL206", f"undefined name `{value.name}`", value.span)
    if op in ("/", "//", "%") and right.is_zero:
        raise error("SL211", f"division by zero in `{show(left)} {op} {show(right)}`", node.span)
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        return left / right
    if op == "//":
        return sympy.floor(left / right)
    if op == "%":
        return left - right * sympy.floor(left / right)
    if op == "**":
        if right.is_number and abs(right) > _MAX_EXPONENT:
            raise error("SL209", f"exponent {show(right)} is larger than {_MAX_EXPONENT}",
                        node.right.span)
        return left**right
    raise AssertionError(op)


def _call(node: ir.Call, env):
    user = env.get(node.function)
    if isinstance(user, UserFunction):
        return _call_user(node, user, env)
    if node.function in SHAPE_FUNCTIONS:
        if len(node.args) != 1 or not isinstance(node.args[0], ir.Ref):
            raise error("SL210", f"`{node.function}` takes one tensor, e.g. "
                        f"`{node.function}(@input)`", node.span)
        shape = evaluate(node.args[0], env)
        axis = SHAPE_FUNCTIONS[node.function]
        if not -len(shape) <= axis < len(shape) or (axis >= 0 and len(shape) < 2):
            raise error("SL304", f"`{node.function}` of a tensor of shape {show(shape)}",
                        node.span)
        return shape[axis]
    if node.function not in FUNCTIONS:
        known = [*FUNCTIONS, *SHAPE_FUNCTIONS,
                 *(k for k, v in env.items() if isinstance(v, UserFunction))]
        raise error("SL210", f"unknown function `{node.function}`", node.span,
                    did_you_mean(node.function, known)
                    or f"the functions are {', '.join(sorted(FUNCTIONS))}")
    arity, function = FUNCTIONS[node.function]
    if (arity is None and not node.args) or (arity is not None and len(node.args) != arity):
        wanted = "at least one argument" if arity is None else f"{arity} argument(s)"
        raise error("SL210", f"`{node.function}` takes {wanted}, got {len(node.args)}", node.span)
    args = [_scalar(evaluate(a, env), a) for a in node.args]
    for arg, a in zip(args, node.args):
        if isinstance(arg, Keyword):
            raise error("SL206", f"undefined name `{arg.name}`", a.span)
    return function(*args)


def _call_user(node: ir.Call, user: UserFunction, env):
    definition = user.definition
    parameters = definition.parameters
    if len(node.args) > len(parameters):
        raise error("SL210", f"`{definition.name}` takes {len(parameters)} argument(s), got "
                    f"{len(node.args)}", node.span)
    depth = env.get("__depth__", 0) + 1
    if depth > _MAX_CALL_DEPTH:
        raise error("SL210", f"`{definition.name}` calls itself without end", node.span,
                    "a function may not use itself")
    local = dict(user.env)
    local["__depth__"] = depth
    if TENSORS in env:
        local[TENSORS] = env[TENSORS]
    for i, parameter in enumerate(parameters):
        if i < len(node.args):
            local[parameter.name] = _scalar(evaluate(node.args[i], env), node.args[i])
        elif parameter.default is not None:
            local[parameter.name] = evaluate(parameter.default, local)
        else:
            raise error("SL210", f"`{definition.name}` needs its argument `{parameter.name}`",
                        node.span)
    return evaluate(definition.body, local)


# ---- checking and showing values ------------------------------------------------------------
def show(value) -> str:
    """A value as a user would write it: 2.784 rather than 348/125; closed forms as sympy
    prints them."""
    if isinstance(value, Keyword):
        return value.name
    if isinstance(value, (tuple, list)):
        inner = ", ".join(show(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if isinstance(value, sympy.Rational) and not isinstance(value, sympy.Integer):
        q = value.q
        while q % 2 == 0:
            q //= 2
        while q % 5 == 0:
            q //= 5
        if q == 1:  # a terminating decimal
            return format(sympy.Float(value, 30).evalf(30), "f").rstrip("0").rstrip(".")
        return f"{value} (≈ {float(value):.6g})"
    return str(value)


INTEGER_HINT = "round it explicitly with `roundeven()`, `ceil()` or `floor()`"


def require_integer(value, span: ir.Span, what: str, minimum: int | None = None):
    """Return `value` if it is an integer (for every value of its symbols), else raise SL205;
    with `minimum`, a number below it is SL209."""
    if isinstance(value, Keyword) or not isinstance(value, sympy.Basic):
        raise error("SL204", f"{what} must be an integer, got {show(value)}", span)
    if value.is_integer is not True:
        if value.free_symbols:
            raise error("SL205", f"{what} must be an integer, but {value} may not be one",
                        span, INTEGER_HINT)
        raise error("SL205", f"{what} must be an integer, got {show(value)}", span, INTEGER_HINT)
    if minimum is not None and value.is_number and value < minimum:
        raise error("SL209", f"{what} must be at least {minimum}, got {show(value)}", span)
    return value
