"""The checks over an analysed graph, run once after the walk: input domains (SL307), the
`expect` lines (SL40x), and the hints of SL302 (the smallest input that works) and SL305 (a
padding that reads every row, the input sizes that drop none). Each reads the graph only:
the constraints with the input sizes unbound and the paddings tried were derived in the one
walk, so nothing here analyses the network again.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import sympy

from . import ir
from .closedform import Domain, domains, pretty
from .diagnostics import ERROR, WARNING, Diagnostic, DiagnosticError, did_you_mean, error
from .expr import Poisoned, evaluate, show
from .graph import AnalysedGraph
from .walk import EXPECT_SUBJECTS


def run_checks(graph: AnalysedGraph, env: dict) -> list[Diagnostic]:
    """The graph's diagnostics with the hints filled in and the checks' findings added."""
    found = _with_size_hints(graph)
    if graph.complete:
        check_domain(graph, found)
        for statement in _expects(graph, graph.network.statements):
            if isinstance(statement, ir.Expect):
                try:
                    check_expects(graph, statement, env, found)
                except DiagnosticError as exc:
                    found.append(exc.diagnostic)
                except Poisoned:
                    pass
    return found


def _expects(graph: AnalysedGraph, statements):
    """The network's `expect` lines, those in the branches its `if`s took included."""
    for statement in statements:
        if isinstance(statement, ir.Expect):
            yield statement
        elif isinstance(statement, ir.If):
            taken = graph.produced.get(("", statement.span)) if graph.produced else None
            if taken is not None:
                yield from _expects(graph, statement.then if taken.then else statement.otherwise)


def _with_size_hints(graph: AnalysedGraph) -> list[Diagnostic]:
    """SL302 gets the smallest input that works, SL305 a padding for its layer that reads
    every row and the input sizes that drop none."""
    found, hints = [], {}
    for d in graph.diagnostics:
        if d.code == "SL302" and d.hint is None:
            if "SL302" not in hints:
                hints["SL302"] = least_input_hint(graph)
            d = replace(d, hint=hints["SL302"])
        elif d.code == "SL305" and d.hint is None:
            d = replace(d, hint=unread_rows_hint(graph))
        found.append(d)
    return found


# ---- the checks -------------------------------------------------------------------------
def check_domain(analysis: AnalysedGraph, found: list):
    """SL307 for a symbol no value of which makes the network valid."""
    for name, domain in domains(analysis, exact=False).items():
        if domain.least is None and not domain.least_undecided:
            constraint = next(c for c in analysis.minimum_sizes
                              if domain.symbol in c.value.free_symbols)
            found.append(Diagnostic(
                "SL307", ERROR, f"no value of `{name}` makes this layer valid: it needs "
                f"{pretty(constraint.value)} ≥ {constraint.minimum} {constraint.axis}",
                constraint.layer.span, "a stride or window shrinks the input faster than it grows"))
        elif domain.empty and not domain.least_undecided:
            bound = next(c for c in analysis.maximum_sizes
                         if domain.symbol in c.value.free_symbols)
            found.append(Diagnostic(
                "SL307", ERROR, f"no value of `{name}` makes this layer valid: it needs "
                f"{pretty(bound.value)} ≤ {bound.maximum} {bound.axis}, but the network needs "
                f"{name} ≥ {domain.least}", bound.layer.span,
                "a bound from above (a position table's length) and one from below (a window, "
                "an index) leave no size between them"))


_COMPARE = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b}


def _subject_value(analysis: AnalysedGraph, expect: ir.Expect):
    subject = expect.subject
    if subject in ("output", "size") and len(analysis.output_paths) > 1:
        names = ", ".join(f"`{p}`" for p in analysis.output_paths)
        raise error("SL403", f"`expect {subject}`: the network has {len(analysis.output_paths)} "
                    f"outputs ({names})", expect.subject_span,
                    f"expect each output by its label: `expect {analysis.output_paths[0]} == …`")
    if subject in ("params", "trainable", "non_trainable", "macs", "size"):
        if subject == "size":
            return analysis.output.size
        return analysis.total(subject)
    if subject == "flops":
        return 2 * analysis.total("macs")
    if subject == "output":
        return list(analysis.output.shape)
    path = analysis.tensors.get(subject, subject)
    uses = analysis.outputs or {}
    path = uses.get(path, path)  # a block use or a repeat iteration: its output
    if path not in analysis.shapes:
        names = list(EXPECT_SUBJECTS) + list(analysis.tensors)
        if "." in subject:
            names += [*analysis.by_path, *uses]
        raise error("SL403", f"`expect {subject}`: no such quantity, layer or block use",
                    expect.subject_span, did_you_mean(subject, names)
                    or f"expect one of {', '.join(EXPECT_SUBJECTS)}, a layer's label, or a "
                    "path as `shapelang table` prints it (`stage2.block1`)")
    return list(analysis.shapes[path])


def check_expects(analysis: AnalysedGraph, expect: ir.Expect, env: dict, found: list):
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
    found.append(Diagnostic(
        "SL404", WARNING, f"`expect {expect.subject}` held at every value tried but could not be "
        f"proven for every value of {', '.join(sorted(map(str, symbols)))}", expect.span))


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
    known = domains(analysis, exact=False)
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


# ---- the input sizes, solved --------------------------------------------------------------
@dataclass
class AxisReport:
    axis: str
    symbol: str
    value: object  # the bound size, or None when symbolic
    domain: Domain | None
    undecided: str | None = None  # why nothing can be said: the walk with them unbound failed


def input_size_report(graph: AnalysedGraph) -> list[AxisReport]:
    """Each spatial input size's least valid value and exact sizes, solved from the
    constraints the walk derived with the sizes unbound."""
    sizes = graph.input_sizes
    if sizes is None or not graph.nodes or graph.nodes[0].op != "input":
        return []
    if sizes.undecided:
        return [AxisReport(axis, str(symbol), dim if dim.is_number else None, None,
                           sizes.undecided) for axis, symbol, dim in sizes.axes]
    found = domains(sizes)
    return [AxisReport(axis, str(symbol), dim if dim.is_number else None,
                       found.get(str(symbol))) for axis, symbol, dim in sizes.axes]


def unread_rows_hint(graph: AnalysedGraph) -> str | None:
    """For SL305: first a padding of the first layer that leaves rows unread under which it
    reads every row — each one tried in the walk —, then the input sizes at which no stride
    leaves any unread, where those sizes are network parameters."""
    unread = [r for r in graph.remainders if r.unread]
    if not unread:
        return None
    fixes = []
    for fix in graph.padding_fixes:
        if fix.still is None:
            continue
        then = (f" ({fix.still} later layer{'s' if fix.still > 1 else ''} would still drop "
                "rows)" if fix.still else "")
        fixes.append(f"`{fix.text}`{then}")
    sizes = _exact_input_sizes(graph, {r.axis for r in unread})
    parts = []
    if fixes:
        parts.append(f"{' or '.join(fixes)} on this line reads all of its input")
    if sizes:
        parts.append(f"{'or ' if parts else ''}choose input sizes that no stride drops rows of: "
                     f"{sizes}")
    return "; ".join(parts) or None


def _exact_input_sizes(graph: AnalysedGraph, axes: set) -> str | None:
    """'H ≡ 3 (mod 32), nearest to 270: 259 or 291' for each input axis that is a network
    parameter and has unread rows somewhere."""
    parameters = {p.name for p in graph.network.parameters}
    found = []
    for report in input_size_report(graph):
        domain = report.domain
        if (report.axis not in axes or report.symbol not in parameters or domain is None
                or report.value is None or not domain.classes):
            continue
        below, above = domain.nearest_exact(int(report.value))
        near = " or ".join(str(v) for v in dict.fromkeys((below, above)) if v is not None)
        found.append(f"{domain.describe_exact()}, nearest to {report.value}: {near}")
    return "; ".join(found) or None


def least_input_hint(graph: AnalysedGraph) -> str | None:
    """For SL302: the smallest input that works."""
    parts = [f"{r.symbol} ≥ {r.domain.least}" if r.symbol != r.axis
             else f"at least {r.domain.least} {r.axis}"
             for r in input_size_report(graph) if r.domain and r.domain.least]
    return ("the smallest input that works: " + ", ".join(parts)) if parts else None
