"""`shapelang draw`: the analysed graph as a picture — Graphviz DOT or Mermaid text, or SVG /
PNG rendered from the DOT by Graphviz's `dot` (through the `graphviz` package, the `draw`
extra). Each node shows its path, its op (a folded block use: the block's name and how many
layers it holds), its output shape and its parameters; block uses still open at the depth are
clusters (nested); merges (rows that read several tensors) stand out as ellipses.

Node identifiers are generated (`n0`, `n1`, …), never taken from the file; every label is
escaped for its format.
"""
from __future__ import annotations

from dataclasses import dataclass

from .fold import BLOCK, Row, block_uses, enclosing_uses, fold
from .graph import AnalysedGraph
from .report import heading
from .solve import pretty

FORMATS = ("svg", "png", "dot", "mermaid")
#: Nodes `dot` lays out for SVG / PNG: layout time grows faster than the graph (the largest
#: example has 177 layers; `--depth` folds larger ones).
MAX_RENDERED_NODES = 2_000

INSTALL_DOT = ("Graphviz's `dot` program is not installed (SVG and PNG need it): install "
               "Graphviz — `apt-get install graphviz` (Debian, Ubuntu), `dnf install graphviz` "
               "(Fedora), `brew install graphviz` (macOS), `choco install graphviz` (Windows) — "
               "or draw `--format dot` or `--format mermaid`, which need nothing")
INSTALL_PACKAGE = ("SVG and PNG need the `graphviz` Python package: pip install "
                   "'shapelang[draw]' (and Graphviz's `dot` program); `--format dot` and "
                   "`--format mermaid` need nothing")


class RendererMissing(Exception):
    """The `graphviz` package or the `dot` program is missing; the message says how to
    install it."""


@dataclass(frozen=True)
class Picture:
    """What is drawn: the rows, their generated ids, the open block uses as nested clusters,
    and the tensors read from outside (`within` a block use) as entry nodes."""

    title: str
    rows: tuple[Row, ...]
    ids: dict  # row name → node id
    clusters: dict  # block-use path → (block name, the enclosing cluster's path or "")
    entries: tuple[str, ...]  # rows outside `within` that rows inside read

    def cluster_of(self, row: Row) -> str:
        return row.parents[-1] if row.parents and row.parents[-1] in self.clusters else ""

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(source, row.name) for row in self.rows for source in row.inputs]

    @property
    def nesting(self) -> tuple[dict[str, list[str]], dict[str, list[Row]]]:
        """Each cluster's clusters, and each cluster's rows ("" is the picture itself)."""
        children: dict[str, list[str]] = {}
        for name, (_, outer) in self.clusters.items():
            children.setdefault(outer, []).append(name)
        by_cluster: dict[str, list[Row]] = {}
        for row in self.rows:
            by_cluster.setdefault(self.cluster_of(row), []).append(row)
        return children, by_cluster


def picture(graph: AnalysedGraph, depth: int | None = None, within: str | None = None
            ) -> Picture:
    """The rows of `graph` at `depth` (every layer with None), only those inside the block
    use `within` if given (a ValueError if it names none)."""
    rows = fold(graph, depth)
    open_uses = block_uses(graph, depth)
    if within is not None:
        if within not in open_uses:
            raise ValueError(within)
        rows = tuple(r for r in rows if r.name.startswith(within + "."))
        open_uses = {name: block for name, block in open_uses.items()
                     if name == within or name.startswith(within + ".")}
    names = {r.name for r in rows}
    entries = tuple(dict.fromkeys(p for r in rows for p in r.inputs if p not in names))
    ids = {name: f"n{i}" for i, name in enumerate([*entries, *(r.name for r in rows)])}
    clusters = {}
    for name, block in open_uses.items():
        outer = enclosing_uses(name, open_uses)
        clusters[name] = (block, outer[-1] if outer else "")
    return Picture(heading(graph), rows, ids, clusters, entries)


def _label_lines(row: Row) -> list[str]:
    op = f"{row.op} ({row.layers} layers)" if row.kind == BLOCK else row.op
    shape = "[" + ", ".join(pretty(d) for d in row.shape) + "]"
    params = row.params
    count = f"{int(params):,}" if params.is_Integer else pretty(params)
    return [row.name, op, shape, f"{count} params"]


def _is_merge(row: Row) -> bool:
    return row.kind != BLOCK and len(row.inputs) > 1


def _dot_quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, control characters shown."""
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            out.append(f"\\\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _dot_label(lines) -> str:
    return '"' + "\\n".join(_dot_quote(line)[1:-1] for line in lines) + '"'


def to_dot(pic: Picture) -> str:
    out = ["digraph network {",
           f"  graph [rankdir=TB, fontname=Helvetica, labelloc=t, label={_dot_quote(pic.title)}];",
           "  node [shape=box, style=rounded, fontname=Helvetica, fontsize=10];",
           "  edge [arrowsize=0.6];"]
    for name in pic.entries:
        out.append(f"  {pic.ids[name]} [label={_dot_quote(name)}, style=dashed];")
    children, by_cluster = pic.nesting

    def node(row: Row, indent: str) -> str:
        style = ""
        if row.kind == BLOCK:
            style = ', shape=box3d, style=filled, fillcolor="#dde8f7"'
        elif _is_merge(row):
            style = ', shape=ellipse, style=filled, fillcolor="#ffe9a8"'
        return f"{indent}{pic.ids[row.name]} [label={_dot_label(_label_lines(row))}{style}];"

    def cluster(name: str, depth: int):
        indent = "  " * depth
        number = len(out)
        block = pic.clusters[name][0]
        out.append(f"{indent}subgraph cluster_{number} {{")
        out.append(f"{indent}  label={_dot_quote(f'{name}: {block}')}; style=rounded; "
                   'color="#7a8ca8";')
        for row in by_cluster.get(name, ()):
            out.append(node(row, indent + "  "))
        for inner in children.get(name, ()):
            cluster(inner, depth + 1)
        out.append(f"{indent}}}")

    for row in by_cluster.get("", ()):
        out.append(node(row, "  "))
    for name in children.get("", ()):
        cluster(name, 1)
    for source, target in pic.edges:
        out.append(f"  {pic.ids[source]} -> {pic.ids[target]};")
    out.append("}")
    return "\n".join(out) + "\n"


def _mermaid_text(text: str) -> str:
    """Text inside a Mermaid quoted label: its markup characters as entity codes."""
    out = []
    for ch in text:
        if ch in '"#<>&' or ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            out.append(f"#{ord(ch)};")
        else:
            out.append(ch)
    return "".join(out)


def to_mermaid(pic: Picture) -> str:
    out = ["---", f"title: {_mermaid_text(pic.title)}", "---", "flowchart TD"]
    for name in pic.entries:
        out.append(f'  {pic.ids[name]}["{_mermaid_text(name)}"]')
    children, by_cluster = pic.nesting

    def node(row: Row, indent: str) -> str:
        label = "<br/>".join(_mermaid_text(line) for line in _label_lines(row))
        opening, closing = ("[[", "]]") if row.kind == BLOCK else (
            ("{{", "}}") if _is_merge(row) else ("[", "]"))
        return f'{indent}{pic.ids[row.name]}{opening}"{label}"{closing}'

    numbers: dict[str, int] = {}

    def cluster(name: str, depth: int):
        indent = "  " * depth
        numbers[name] = len(numbers)
        block = pic.clusters[name][0]
        out.append(f'{indent}subgraph c{numbers[name]}["{_mermaid_text(f"{name}: {block}")}"]')
        for row in by_cluster.get(name, ()):
            out.append(node(row, indent + "  "))
        for inner in children.get(name, ()):
            cluster(inner, depth + 1)
        out.append(f"{indent}end")

    for row in by_cluster.get("", ()):
        out.append(node(row, "  "))
    for name in children.get("", ()):
        cluster(name, 1)
    entries = set(pic.entries)
    for source, target in pic.edges:
        arrow = "-.->" if source in entries else "-->"
        out.append(f"  {pic.ids[source]} {arrow} {pic.ids[target]}")
    return "\n".join(out) + "\n"


def render(dot_text: str, fmt: str) -> bytes:
    """SVG or PNG from DOT text, by Graphviz's `dot`; RendererMissing says how to install
    what is missing."""
    try:
        import graphviz
    except ImportError:
        raise RendererMissing(INSTALL_PACKAGE) from None
    try:
        return graphviz.Source(dot_text).pipe(format=fmt, quiet=True)
    except graphviz.ExecutableNotFound:
        raise RendererMissing(INSTALL_DOT) from None
