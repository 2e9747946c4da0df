"""`shapelang diff`: two analysed networks side by side — two files, or one file at two
bindings — their rows matched by path (or, with `match="order"`, aligned by their ops in
order), with each quantity's value in A and B and its delta B − A; rows only in A are
removed, rows only in B added. As text, Markdown or JSON.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass

import sympy

from .fold import Row, fold
from .graph import AnalysedGraph
from .report import CONVENTION, heading, json_count
from .solve import pretty

SAME, CHANGED, ADDED, REMOVED = "same", "changed", "added", "removed"
MARKS = {SAME: " ", CHANGED: "~", ADDED: "+", REMOVED: "-"}
# quantity key → heading; `--columns` picks and orders them
QUANTITIES = {"shape": "shape", "size": "size", "params": "params", "trainable": "trainable",
              "non_trainable": "non-trainable", "macs": "MACs"}
DEFAULT_QUANTITIES = ("shape", "size", "params", "macs")
_COUNTS = ("size", "params", "trainable", "non_trainable", "macs")
_TOTALS = ("params", "trainable", "non_trainable", "macs")


@dataclass(frozen=True)
class Side:
    """One side of the comparison: its file and analysis."""

    path: str
    graph: AnalysedGraph


@dataclass(frozen=True)
class Pair:
    """A row in A, in B, or in both (`name` is B's where both)."""

    name: str
    a: Row | None
    b: Row | None

    @property
    def status(self) -> str:
        if self.a is None:
            return ADDED
        if self.b is None:
            return REMOVED
        same = (self.a.op == self.b.op and tuple(self.a.shape) == tuple(self.b.shape)
                and all(_equal(getattr(self.a, k), getattr(self.b, k)) for k in _COUNTS))
        return SAME if same else CHANGED


def _expr(value) -> sympy.Expr:
    """A count as a sympy value (a Python int from a sum of none becomes an Integer)."""
    return sympy.Integer(value) if isinstance(value, int) else value


def _equal(x, y) -> bool:
    return delta(x, y) == 0


def delta(a, b):
    """B − A, simplified (a closed form when either is)."""
    return sympy.expand(_expr(b) - _expr(a))


def parse_quantities(text: str) -> tuple[str, ...]:
    keys = tuple(k.strip().replace("-", "_") for k in text.split(","))
    unknown = [k for k in keys if k not in QUANTITIES]
    if unknown or len(set(keys)) != len(keys):
        raise ValueError(f"--columns: {', '.join(map(repr, unknown)) or 'a column named twice'};"
                         f" the columns of a diff are {', '.join(QUANTITIES)}")
    return keys


def compare(a: AnalysedGraph, b: AnalysedGraph, depth: int | None = None,
            match: str = "path") -> list[Pair]:
    """The rows of A and B paired: by path (`match="path"`), or aligned as two sequences of
    ops (`"order"`, for two files whose layers are named differently). In B's order, each row
    only in A placed after the A row before it."""
    rows_a, rows_b = fold(a, depth), fold(b, depth)
    if match == "order":
        partner = _aligned(rows_a, rows_b)
    else:
        by_name = {r.name: i for i, r in enumerate(rows_a)}
        partner = {j: by_name[r.name] for j, r in enumerate(rows_b) if r.name in by_name}
    paired_a = set(partner.values())
    pairs, next_a = [], 0

    def removed_before(limit):
        nonlocal next_a
        while next_a < limit:
            if next_a not in paired_a:
                pairs.append(Pair(rows_a[next_a].name, rows_a[next_a], None))
            next_a += 1

    for j, row in enumerate(rows_b):
        if j in partner:
            removed_before(partner[j])
            next_a = max(next_a, partner[j] + 1)
            pairs.append(Pair(row.name, rows_a[partner[j]], row))
        else:
            pairs.append(Pair(row.name, None, row))
    removed_before(len(rows_a))
    return pairs


def _aligned(rows_a, rows_b) -> dict[int, int]:
    """B index → A index for the rows that line up when the two op sequences are aligned."""
    matcher = difflib.SequenceMatcher(None, [r.op for r in rows_a], [r.op for r in rows_b],
                                      autojunk=False)
    return {block.b + k: block.a + k for block in matcher.get_matching_blocks()
            for k in range(block.size)}


def _show(value) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(pretty(d) for d in value) + "]"
    value = _expr(value)
    return f"{int(value):,}" if value.is_Integer else pretty(value)


def _signed(value) -> str:
    value = _expr(value)
    if value.is_Integer:
        return f"{int(value):+,}" if value else "0"
    return pretty(value)


def _cells(pair: Pair, quantities) -> list[str]:
    """A row of the text / Markdown table: mark, name, op, then A, B (and Δ) per quantity."""
    op = pair.b.op if pair.b else pair.a.op
    if pair.a and pair.b and pair.a.op != pair.b.op:
        op = f"{pair.a.op} → {pair.b.op}"
    cells = [MARKS[pair.status], pair.name, op]
    for key in quantities:
        a = getattr(pair.a, key) if pair.a else None
        b = getattr(pair.b, key) if pair.b else None
        cells += ["" if a is None else _show(a), "" if b is None else _show(b)]
        if key != "shape":
            cells.append(_signed(delta(a, b)) if a is not None and b is not None else "")
    return cells


def _total_cells(side_a: Side, side_b: Side, quantities) -> list[str]:
    cells = ["", "total", ""]
    for key in quantities:
        if key in _TOTALS:
            a, b = side_a.graph.total(key), side_b.graph.total(key)
            cells += [_show(a), _show(b), _signed(delta(a, b))]
        else:
            cells += ["", ""] + ([] if key == "shape" else [""])
    return cells


def _headings(quantities) -> list[str]:
    out = ["", "layer", "op"]
    for key in quantities:
        name = QUANTITIES[key]
        out += [f"{name} A", f"{name} B"] + ([] if key == "shape" else [f"Δ {name}"])
    return out


def _numeric(quantities) -> set[int]:
    columns, i = set(), 3
    for key in quantities:
        width = 2 if key == "shape" else 3
        if key != "shape":
            columns.update(range(i, i + width))
        i += width
    return columns


def _side_line(letter: str, side: Side) -> str:
    return f"{letter}: {heading(side.graph)} ({side.path})"


def _summary(pairs) -> str:
    counts = {status: sum(p.status == status for p in pairs) for status in MARKS}
    both = counts[SAME] + counts[CHANGED]
    return (f"{both} rows in both ({counts[CHANGED]} changed), {counts[ADDED]} added (+), "
            f"{counts[REMOVED]} removed (-); Δ = B − A")


def diff_text(side_a: Side, side_b: Side, pairs, quantities=DEFAULT_QUANTITIES) -> str:
    rows = [_headings(quantities), *(_cells(p, quantities) for p in pairs),
            _total_cells(side_a, side_b, quantities)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    numeric = _numeric(quantities)

    def line(row):
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    rule = "  ".join(("-" if i else " ") * w for i, w in enumerate(widths))  # "-" marks rows
    out = [_side_line("A", side_a), _side_line("B", side_b), "", line(rows[0]), rule,
           *(line(r) for r in rows[1:-1]), rule]
    if any(k in _TOTALS for k in quantities):
        out.append(line(rows[-1]))
    return "\n".join([*out, "", _summary(pairs), CONVENTION])


def diff_markdown(side_a: Side, side_b: Side, pairs, quantities=DEFAULT_QUANTITIES) -> str:
    numeric = _numeric(quantities)
    headings = _headings(quantities)
    out = [f"**{_side_line('A', side_a)}**  ", f"**{_side_line('B', side_b)}**", "",
           "| " + " | ".join(headings) + " |",
           "|" + "|".join("---:" if i in numeric else "---" for i in range(len(headings))) + "|"]

    def row(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out += [row(_cells(p, quantities)) for p in pairs]
    if any(k in _TOTALS for k in quantities):
        out.append(row([f"**{c}**" if c else c for c in _total_cells(side_a, side_b,
                                                                       quantities)]))
    return "\n".join([*out, "", f"_{_summary(pairs)}_", "", f"_{CONVENTION}_"])


def _json_row(row: Row | None):
    if row is None:
        return None
    return {"op": row.op, "kind": row.kind, "line": row.line,
            "shape": [json_count(d) for d in row.shape],
            **{k: json_count(getattr(row, k)) for k in _COUNTS}}


def _json_side(side: Side) -> dict:
    graph = side.graph
    return {"path": side.path, "network": graph.network.name,
            "bindings": {k: json_count(v) if v.is_integer else pretty(v)
                         for k, v in graph.bindings.items()},
            "symbols": list(graph.symbols)}


def diff_json(side_a: Side, side_b: Side, pairs) -> str:
    layers = []
    for p in pairs:
        both = p.a is not None and p.b is not None
        layers.append({
            "name": p.name, "status": p.status, "a": _json_row(p.a), "b": _json_row(p.b),
            "delta": {k: json_count(delta(getattr(p.a, k), getattr(p.b, k)))
                      for k in _COUNTS} if both else None})
    totals = {}
    for letter, side in (("a", side_a), ("b", side_b)):
        totals[letter] = {k: json_count(side.graph.total(k)) for k in _TOTALS}
    totals["delta"] = {k: json_count(delta(side_a.graph.total(k), side_b.graph.total(k)))
                       for k in _TOTALS}
    document = {"a": _json_side(side_a), "b": _json_side(side_b), "layers": layers,
                "total": totals}
    return json.dumps(document, indent=2, ensure_ascii=False)
