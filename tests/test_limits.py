"""The limits themselves, each against an independent oracle: Python's `Fraction` for decimal
literals, `str()` for long integers, brute-force recursion for the size of closed forms and
for the cycles of a block graph, sympy's `Poly` for degrees."""
import itertools
import random
import re
from fractions import Fraction

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from shapelang import limits
from shapelang.expr import exact_decimal

# ---- decimal literals ------------------------------------------------------------------------
LITERALS = st.builds(
    lambda whole, fraction, exponent: whole + (f".{fraction}" if fraction is not None else "")
    + (f"e{exponent}" if exponent is not None else ""),
    st.text("0123456789", min_size=1, max_size=90),
    st.none() | st.text("0123456789", min_size=0, max_size=250),
    st.none() | st.integers(-320, 320),
)


def within_limits(value: Fraction) -> bool:
    return abs(value) <= 10**60 and value.denominator <= 10**60


@settings(max_examples=300, deadline=None)
@given(LITERALS)
def test_read_decimal_agrees_with_fraction_within_the_limits(text):
    exact = Fraction(text)  # exponents of at most 320 keep Python's own reading cheap
    if within_limits(exact):
        assert limits.read_decimal(text) == exact
    else:
        with pytest.raises(limits.LimitError):
            limits.read_decimal(text)


@pytest.mark.parametrize("text", ["1e10000000000", "1e-10000000000", "9" * 5000,
                                  "0." + "0" * 5000 + "1", "1" + "0" * 100_000])
def test_read_decimal_refuses_huge_literals_from_their_text(text):
    with pytest.raises(limits.LimitError):
        limits.read_decimal(text)


@pytest.mark.parametrize(("text", "value"), [
    ("0e10000000000", 0), ("62_378_344", 62378344), ("1e-3", Fraction(1, 1000)),
    (".5", Fraction(1, 2)), (str(5**199) + "e-199", Fraction(1, 2**199)),  # 2^-199 is exact
])
def test_read_decimal_table(text, value):
    assert limits.read_decimal(text) == value


# ---- showing numbers -------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.integers(-10**70, 10**70), st.integers(1, 10**12))
def test_exact_decimal_is_exact_or_none(p, q):
    shown = exact_decimal(p, q)
    reduced = Fraction(p, q).denominator
    while reduced % 2 == 0:
        reduced //= 2
    while reduced % 5 == 0:
        reduced //= 5
    if reduced == 1:
        assert Fraction(shown) == Fraction(p, q)
    else:
        assert shown is None


@settings(max_examples=100, deadline=None)
@given(st.integers(62, 4000).flatmap(lambda d: st.integers(10 ** (d - 1), 10**d - 1)))
def test_describe_integer_gives_digit_count_and_leading_digits(n):
    text = str(n)  # fewer than Python's 4,300 digits: str() is the oracle
    match = re.fullmatch(r"a number of ([\d,]+) digits \((\d)\.(\d\d)…·10\^(\d+)\)",
                         limits.describe_integer(n))
    digits, first, next_two, power = match.groups()
    assert int(digits.replace(",", "")) == len(text) == int(power) + 1
    assert first + next_two == text[:3]


def test_describe_integer_is_plain_within_the_limit():
    assert limits.describe_integer(10**60) == str(10**60)
    assert limits.describe_integer(-(10**59)) == str(-(10**59))


# ---- closed forms -----------------------------------------------------------------------------
H, W = sympy.symbols("H W", integer=True, positive=True)


def tree(expr):
    """(nodes, depth) by plain recursion: the oracle for small expressions."""
    sizes = [tree(a) for a in expr.args]
    return 1 + sum(s[0] for s in sizes), 1 + max((s[1] for s in sizes), default=0)


def random_closed_form(rng: random.Random, depth: int):
    if depth == 0:
        return rng.choice([H, W, sympy.Integer(rng.randint(1, 9)), sympy.Rational(1, 3)])
    a, b = random_closed_form(rng, depth - 1), random_closed_form(rng, depth - 1)
    return rng.choice([a + b, a * b, a - 2 * b, sympy.floor(a / 3), sympy.Max(a, b), a**2])


@pytest.mark.parametrize("seed", range(40))
def test_measure_agrees_with_recursion(seed):
    expr = random_closed_form(random.Random(seed), 4)
    nodes, depth, _, _ = limits.measure(expr)
    assert (nodes, depth) == tree(expr)


@pytest.mark.parametrize("seed", range(40))
def test_degree_agrees_with_poly(seed):
    rng = random.Random(seed)
    expr = sympy.Integer(1)
    for _ in range(rng.randint(1, 4)):
        factor = sympy.Add(*(rng.randint(1, 5) * H ** rng.randint(0, 2) * W ** rng.randint(0, 2)
                             for _ in range(rng.randint(1, 3))))
        expr = expr * factor ** rng.randint(1, 2)
    assert limits.measure(expr)[2] == sympy.Poly(sympy.expand(expr), H, W).total_degree()


def test_measure_of_shared_subexpressions_is_linear():
    """a_i = (a_{i-1} + i)·(a_{i-1} + 1) is a tree that doubles at each step: measured exactly
    by recursion while small, then by the recurrence those small cases follow, at 2^59."""
    a, measured = H + 1, []
    for i in range(1, 60):
        a = (a + i) * (a + 1)
        measured.append(limits.measure(a))
        if i <= 12:
            assert measured[-1][:2] == tree(a)
    for (nodes, depth, degree, _), (before, before_depth, before_degree, _) in zip(
            measured[2:], measured[1:]):
        assert (nodes, depth, degree) == (2 * before + 5, before_depth + 2, 2 * before_degree)
    assert measured[-1][2] == 2**59


@pytest.mark.parametrize(("value", "code"), [
    (sympy.Integer(10**60), None), (sympy.Integer(10**60 + 1), "SL209"),
    (sympy.Rational(1, 10**60), None), (sympy.Rational(1, 10**60 + 1), "SL209"),
    (sympy.sqrt(-1), "SL209"), (sympy.zoo, "SL209"), (H**8 + W, None), (H**9, "SL217"),
    (10**61 * H, "SL209"),
])
def test_check_value_table(value, code):
    if code is None:
        limits.check_value(value)
    else:
        with pytest.raises(limits.LimitError) as caught:
            limits.check_value(value)
        assert caught.value.code == code


# ---- block cycles -------------------------------------------------------------------------
def reachable(uses, start):
    seen, stack = set(), [start]
    while stack:
        for successor in uses[stack.pop()]:
            if successor not in seen:
                seen.add(successor)
                stack.append(successor)
    return seen


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.lists(
    st.sets(st.integers(0, n - 1), max_size=n), min_size=n, max_size=n)))
def test_one_shortest_cycle_per_strongly_connected_component(edges):
    from shapelang.analysis import _cycles

    names = [f"b{i:02d}" for i in range(len(edges))]
    uses = {names[i]: {names[j] for j in targets} for i, targets in enumerate(edges)}
    reach = {n: reachable(uses, n) for n in names}
    components = {frozenset(m for m in names if m in reach[n] and n in reach[m]) | {n}
                  for n in names}
    cyclic = {c for c in components if len(c) > 1 or next(iter(c)) in uses[next(iter(c))]}
    found = _cycles(uses)
    assert len(found) == len(cyclic)
    for cycle in found:
        component = next(c for c in cyclic if cycle[0] in c)
        assert cycle[0] == min(component) == cycle[-1]
        assert all(b in uses[a] for a, b in itertools.pairwise(cycle))
        # shortest: no shorter path from the first block back to itself (breadth first)
        frontier, steps = {cycle[0]}, 0
        while cycle[0] not in {s for f in frontier for s in uses[f]}:
            frontier, steps = {s for f in frontier for s in uses[f]}, steps + 1
        assert len(cycle) - 1 == steps + 1


def test_forty_blocks_using_each_other_are_checked_at_once():
    from shapelang.analysis import _cycles

    names = [f"b{i}" for i in range(40)]
    dag = {n: set(names[:i]) for i, n in enumerate(names)}
    assert _cycles(dag) == []
    complete = {n: set(names) - {n} for n in names}
    assert _cycles(complete) == [["b0", "b1", "b0"]]
