"""Sizes as quasi-affine functions of the input sizes, and the integers at which they meet a
congruence — decided by composition, never by scanning a period.

A size along one axis is a sum of rational multiples of symbols and of floors of such sums
(`ceil(N/d)` is `floor((N + d − 1)/d)`): every window rule (floor((n + 2p − k)/s) + 1, ceil(n/s)), padding
(n + 2p), upsampling (f·n) and any chain of them is one. On a congruence class n = r + M·t
(t any integer) such a function is affine in t as soon as M is a multiple of the denominator
inside each floor: floor(a·t + b) = a·t + floor(b) for an integer a. So "for which n is this
size ≡ ρ (mod s)" is answered class by class: find the affine form (splitting a class by the
denominator of a floor that is not yet affine), then keep the t mod s that satisfy the
congruence. A chain of stride-s layers that must each be exact keeps one class per step
(the class of the input sizes at which every layer so far is exact), so k stride-2 layers
cost k steps, not 2^k. Every step spends from a `Budget`; past it the answer is `Undecided`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import sympy

#: Floors nested deeper than this are not decided (each level is a recursion step).
MAX_DEPTH = 64


class Undecided(Exception):
    """The question could not be decided within the budget, or is outside what this module
    decides (a product of sizes, a power, `max`); the message says which."""


class NotQuasiAffine(Undecided):
    """The expression is not a quasi-affine function (e.g. H**2 or max(H, 8))."""


class _Split(Exception):
    """A floor is not affine on the class yet: split the class into `factor` classes."""

    def __init__(self, factor: int):
        super().__init__(factor)
        self.factor = factor


@dataclass
class Budget:
    """How many class steps a decision may take before it gives up (`Undecided`)."""

    steps: int = 30_000
    max_classes: int = 4_096

    def spend(self, count: int = 1):
        self.steps -= count
        if self.steps < 0:
            raise Undecided("more work than the budget allows")

    def check_classes(self, count: int):
        if count > self.max_classes:
            raise Undecided(f"more than {self.max_classes:,} residue classes")


# ---- the functions ------------------------------------------------------------------------
@dataclass(frozen=True)
class Floor:
    """floor(inner); an integer-valued atom like a symbol."""

    inner: Linear
    depth: int = field(compare=False, default=1)


@dataclass(frozen=True)
class Linear:
    """(constant + Σ coefficient·atom) / denominator, in integers; an atom is a symbol's name
    or a `Floor`. Integers throughout keep the arithmetic exact and fast."""

    terms: frozenset  # of (atom, int), no zero coefficients
    constant: int = 0
    denominator: int = 1  # positive, coprime with the constant and the coefficients together
    depth: int = field(compare=False, default=0)

    def __add__(self, other: Linear) -> Linear:
        d = math.lcm(self.denominator, other.denominator)
        x, y = d // self.denominator, d // other.denominator
        terms = {a: c * x for a, c in self.terms}
        for atom, c in other.terms:
            terms[atom] = terms.get(atom, 0) + c * y
        return make_linear(terms, self.constant * x + other.constant * y, d)

    def scaled(self, factor) -> Linear:
        factor = Fraction(factor)
        p, q = factor.numerator, factor.denominator
        return make_linear({a: c * p for a, c in self.terms}, self.constant * p,
                           self.denominator * q)

    def __neg__(self) -> Linear:
        return self.scaled(-1)

    def __sub__(self, other: Linear) -> Linear:
        return self + (-other)

    def symbols(self) -> set[str]:
        found: set[str] = set()
        stack = [self]
        while stack:
            linear = stack.pop()
            for atom, _ in linear.terms:
                if isinstance(atom, str):
                    found.add(atom)
                else:
                    stack.append(atom.inner)
        return found

    def floors(self) -> set[Floor]:
        """Every floor in it, nested ones included."""
        found: set[Floor] = set()
        stack = [self]
        while stack:
            linear = stack.pop()
            for atom, _ in linear.terms:
                if isinstance(atom, Floor) and atom not in found:
                    found.add(atom)
                    stack.append(atom.inner)
        return found

    def substitute(self, atom, replacement: Linear) -> Linear:
        """This function with `atom` (a symbol's name or a floor) replaced, at any depth."""
        total = constant(Fraction(self.constant, self.denominator))
        for a, c in self.terms:
            if a == atom:
                part = replacement
            elif isinstance(a, str):
                part = variable(a)
            else:
                part = floor_of(a.inner.substitute(atom, replacement))
            total = total + part.scaled(Fraction(c, self.denominator))
        return total


def make_linear(terms: dict, constant=0, denominator=1) -> Linear:
    """A `Linear` in lowest terms; `constant` may be a Fraction when `denominator` is 1."""
    constant = Fraction(constant)
    if constant.denominator != 1:
        terms = {a: c * constant.denominator for a, c in terms.items()}
        denominator *= constant.denominator
    constant = constant.numerator
    kept = {a: int(c) for a, c in terms.items() if c != 0}
    if denominator < 0:
        kept = {a: -c for a, c in kept.items()}
        constant, denominator = -constant, -denominator
    g = math.gcd(denominator, constant, *kept.values())
    if g > 1:
        kept = {a: c // g for a, c in kept.items()}
        constant, denominator = constant // g, denominator // g
    depth = max((a.depth for a in kept if isinstance(a, Floor)), default=0)
    return Linear(frozenset(kept.items()), constant, denominator, depth)


def constant(value) -> Linear:
    return make_linear({}, value)


def variable(name: str) -> Linear:
    return make_linear({name: 1})


def floor_of(x: Linear) -> Linear:
    """floor(x) in a canonical form: what is already an integer taken out (floor(n + y + 5/2)
    = n + 2 + floor(y + 1/2) for an integer-valued n), and nested floors composed:
    floor((floor(y) + m)/d) = floor((y + m)/d) for integers m and d > 0 — so a chain of
    windows is one floor, and two chains that compute the same size have the same form."""
    d = x.denominator
    whole = {a: c // d for a, c in x.terms if c % d == 0}
    rest = {a: c for a, c in x.terms if c % d}
    if not rest:
        return make_linear(whole, x.constant // d)
    if len(rest) == 1:
        ((atom, c),) = rest.items()
        if c == 1 and isinstance(atom, Floor):
            inner = atom.inner.scaled(Fraction(1, d)) + constant(Fraction(x.constant % d, d))
            return make_linear(whole, x.constant // d) + floor_of(inner)
    inner = make_linear(rest, x.constant % d, d)
    if inner.depth + 1 > MAX_DEPTH:
        raise Undecided(f"floors nested more than {MAX_DEPTH} deep")
    atom = Floor(inner, inner.depth + 1)
    whole[atom] = whole.get(atom, 0) + 1
    return make_linear(whole, x.constant // d)


def ceiling_of(x: Linear) -> Linear:
    """ceil(N/d) = floor((N + d − 1)/d) for an integer-valued N: one form for both."""
    return floor_of(x + constant(Fraction(x.denominator - 1, x.denominator)))


_CACHE: dict = {}


def from_sympy(expr) -> Linear:
    """The quasi-affine function a sympy size expression is, or `NotQuasiAffine` (an
    `Undecided`). Walks the tree with an explicit stack (sizes nest as deep as the network
    is long)."""
    if expr in _CACHE:
        return _CACHE[expr]
    if len(_CACHE) > 50_000:
        _CACHE.clear()
    stack = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in _CACHE:
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((arg, False) for arg in node.args if arg not in _CACHE)
            continue
        _CACHE[node] = _convert(node)
    return _CACHE[expr]


def _convert(node) -> Linear:
    if node.is_Rational:
        return constant(Fraction(int(node.p), int(node.q)))
    if node.is_Symbol:
        if not node.is_integer:
            raise NotQuasiAffine(f"`{node.name}` is not an integer")
        return variable(node.name)
    if node.is_Add:
        total = constant(0)
        for arg in node.args:
            total = total + _CACHE[arg]
        return total
    if node.is_Mul:
        factor = Fraction(1)
        others = []
        for arg in node.args:
            if arg.is_Rational:
                factor *= Fraction(int(arg.p), int(arg.q))
            else:
                others.append(arg)
        if len(others) != 1:
            raise NotQuasiAffine(f"{node} is a product of sizes")
        return _CACHE[others[0]].scaled(factor)
    if isinstance(node, sympy.floor):
        return floor_of(_CACHE[node.args[0]])
    if isinstance(node, sympy.ceiling):
        return ceiling_of(_CACHE[node.args[0]])
    if isinstance(node, sympy.Mod) and node.args[1].is_Integer and node.args[1] > 0:
        m = int(node.args[1])
        a = _CACHE[node.args[0]]
        return a - floor_of(a.scaled(Fraction(1, m))).scaled(m)
    raise NotQuasiAffine(f"{node} is not a floor or ceiling of affine maps")


to_linear = from_sympy


# ---- values --------------------------------------------------------------------------------
def value_at(f: Linear, values: dict) -> Fraction:
    """f with its symbols bound to integers, in exact arithmetic."""
    memo: dict = {}

    def numerator(linear: Linear) -> int:
        total = linear.constant
        for atom, c in linear.terms:
            if isinstance(atom, str):
                total += c * values[atom]
            else:
                if atom not in memo:
                    memo[atom] = numerator(atom.inner) // atom.inner.denominator
                total += c * memo[atom]
        return total

    return Fraction(numerator(f), f.denominator)


def non_decreasing(f: Linear, sign: int = 1) -> bool:
    """Whether sign·f is non-decreasing in each of its symbols, by its form: a floor of a
    non-decreasing function is one, and −floor(x) is one for a non-increasing x."""
    for atom, c in f.terms:
        if isinstance(atom, str):
            if sign * c < 0:
                return False
        elif not non_decreasing(atom.inner, 1 if sign * c > 0 else -1):
            return False
    return True


def slope(f: Linear) -> Fraction:
    """How fast f grows with its symbols together: floor(x) grows as x does."""
    total = Fraction(0)
    for atom, c in f.terms:
        total += c * (1 if isinstance(atom, str) else slope(atom.inner))
    return total / f.denominator


# ---- affine forms on congruence classes -----------------------------------------------------
def affine_on(f: Linear, symbol: str, r: int, modulus: int, memo: dict,
              budget: Budget) -> tuple[int, int, int]:
    """(A, B, D) with f(r + modulus·t) = (A·t + B)/D for every integer t, or `_Split` when a
    floor needs a finer class first. f must be a function of `symbol` alone."""
    a_total, b_total = 0, f.constant
    for atom, c in f.terms:
        if isinstance(atom, str):
            if atom != symbol:
                raise Undecided(f"the size depends on `{atom}` as well as `{symbol}`")
            a_total += c * modulus
            b_total += c * r
            continue
        key = (atom, r, modulus)
        if key not in memo:
            budget.spend()
            a, b, d = affine_on(atom.inner, symbol, r, modulus, memo, budget)
            if a % d:
                raise _Split(d // math.gcd(a, d))
            memo[key] = (a // d, b // d)  # floor(a/d·t + b/d) = (a/d)·t + floor(b/d)
        a, b = memo[key]
        a_total += c * a
        b_total += c * b
    return a_total, b_total, f.denominator


def _forms(factors, symbol, r, modulus, memo, budget):
    """The affine forms of `factors` on the class r mod `modulus`, splitting it as needed:
    yields (r', modulus', forms) for the classes that partition it."""
    work = [(r, modulus)]
    while work:
        r, modulus = work.pop()
        budget.spend()
        try:
            forms = [affine_on(f, symbol, r, modulus, memo, budget) for f in factors]
        except _Split as split:
            budget.spend(split.factor)
            work.extend((r + modulus * j, modulus * split.factor) for j in range(split.factor))
            continue
        yield r, modulus, forms


@dataclass(frozen=True)
class Congruence:
    """The product of `factors` (integer-valued) is ≡ one of `allowed` modulo `modulus`."""

    factors: tuple  # of Linear
    modulus: int
    allowed: frozenset


def classes_where(conditions, symbol: str, budget: Budget) -> list[tuple[int, int]]:
    """The integers n at which every `Congruence` holds, as disjoint classes (r, M): n ≡ r
    (mod M). Conditions are composed in order: each refines only the classes that survived
    the ones before it."""
    classes = [(0, 1)]
    memo: dict = {}
    for condition in conditions:
        s = condition.modulus
        if len(condition.allowed) >= s:
            continue
        survivors = []
        for r, modulus in classes:
            for r2, m2, forms in _forms(condition.factors, symbol, r, modulus, memo, budget):
                if any(a % d or b % d for a, b, d in forms):
                    raise Undecided("a size that is not an integer")
                forms = [(a // d, b // d) for a, b, d in forms]
                step = s // math.gcd(forms[0][0], s) if len(forms) == 1 else s
                budget.spend(step)
                for j in range(step):
                    value = math.prod(a * j + b for a, b in forms)
                    if value % s in condition.allowed:
                        survivors.append((r2 + m2 * j, m2 * step))
                budget.check_classes(len(survivors))
        classes = survivors
        if not classes:
            break
    return sorted(_reduced(classes), key=lambda c: (c[1], c[0]))


def zero_set(f: Linear, symbol: str, budget: Budget) -> tuple[list[tuple[int, int]], list[int]]:
    """Where f (a function of `symbol`) is 0 over the integers: whole classes (r, M), and single
    points where f is 0 in a class on which it is not constant."""
    classes, points = [], []
    for r, modulus, ((alpha, beta, _),) in _forms([f], symbol, 0, 1, {}, budget):
        if alpha == 0:
            if beta == 0:
                classes.append((r, modulus))
        elif beta % alpha == 0:
            points.append(r + modulus * (-beta // alpha))
        budget.check_classes(len(classes) + len(points))
    return sorted(_reduced(classes), key=lambda c: (c[1], c[0])), sorted(points)


def _reduced(classes) -> list[tuple[int, int]]:
    """Classes normalised (0 ≤ r < M), complete families merged back ((0, 4) and (2, 4) are
    (0, 2)), and classes inside coarser ones dropped."""
    by_modulus: dict = {}
    for r, m in classes:
        by_modulus.setdefault(m, set()).add(r % m)
    changed = True
    while changed:
        changed = False
        for m in sorted(by_modulus, reverse=True):
            residues = by_modulus[m]
            for p in sorted(_prime_factors(m)):
                coarse = m // p
                families: dict = {}
                for r in residues:
                    families.setdefault(r % coarse, set()).add(r)
                for base, members in families.items():
                    if len(members) == p:
                        residues -= members
                        by_modulus.setdefault(coarse, set()).add(base)
                        changed = True
    moduli = sorted(m for m, residues in by_modulus.items() if residues)
    kept = []
    for m in moduli:
        for r in sorted(by_modulus[m]):
            if not any(m % m2 == 0 and r % m2 in by_modulus[m2] for m2 in moduli if m2 < m):
                kept.append((r, m))
    return kept


def _prime_factors(n: int) -> set[int]:
    found, p = set(), 2
    while p * p <= n:
        while n % p == 0:
            found.add(p)
            n //= p
        p += 1
    if n > 1:
        found.add(n)
    return found


def as_residues(classes, limit: int = 4_096) -> tuple[int, tuple[int, ...]] | None:
    """The classes as one modulus and its residues (the smallest modulus that writes them), or
    None when that takes more than `limit` residues."""
    if not classes:
        return 1, ()
    period = math.lcm(*(m for _, m in classes))
    if sum(period // m for _, m in classes) > limit:
        return None
    residues = sorted({(r + m * j) % period for r, m in classes for j in range(period // m)})
    return smallest_period(residues, period)


def smallest_period(residues, period: int) -> tuple[int, tuple[int, ...]]:
    """The same set of integers, written with the smallest modulus: {0, 2} mod 4 is 0 mod 2.
    A divisor d writes them iff the residues mod d, repeated period/d times, are as many."""
    residues = set(residues)
    for d in sorted(_divisors(period)):
        reduced = {r % d for r in residues}
        if len(reduced) * (period // d) == len(residues):
            return d, tuple(sorted(reduced))
    return period, tuple(sorted(residues))


def _divisors(n: int) -> set[int]:
    found = {1}
    for p in _prime_factors(n):
        power, m = 1, n
        powers = []
        while m % p == 0:
            power *= p
            m //= p
            powers.append(power)
        found |= {d * q for d in found for q in powers}
    return found
