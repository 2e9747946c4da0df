"""The analysed graph as rows at a depth (torchinfo's `depth`): every layer one row, or each
block use at nesting depth N (and every use inside it) folded into one row whose counts are
its layers' sums. `table --depth`, `diff` and `draw` read these rows.

Depth counts block uses: at depth 1 the network's own layers are rows and each block use in
its body is one row; at depth 2 those uses are opened and the uses inside them folded; and so
on. A `repeat` is no level of its own (its iterations are lines of the body it is in).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy

from .graph import AnalysedGraph, DerivedCounts

LAYER, BLOCK = "layer", "block"


@dataclass(frozen=True)
class Row(DerivedCounts):
    """A layer, or a block use folded into one row (`kind` says which)."""

    index: int  # the index of its (first) layer
    name: str  # the layer's path, or the block use's
    op: str  # the layer's op, or the block's name
    kind: str
    shape: tuple  # the layer's output shape, or the block use's
    trainable: sympy.Expr
    non_trainable: sympy.Expr
    macs: sympy.Expr
    inputs: tuple[str, ...]  # the rows it reads
    parents: tuple[str, ...]  # the block uses it lies in, outermost first (all unfolded)
    layers: int  # how many layers the row stands for
    line: int  # the source line of its (first) layer, or of the block use


def enclosing_uses(path: str, uses) -> tuple[str, ...]:
    """The block-use paths that `path` lies in, outermost first."""
    parts = path.split(".")
    found = (".".join(parts[:k]) for k in range(1, len(parts)))
    return tuple(prefix for prefix in found if prefix in uses)


def fold(graph: AnalysedGraph, depth: int | None = None) -> tuple[Row, ...]:
    """The rows of `graph` with block uses below `depth` folded; every layer with `depth`
    None."""
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    uses = {use.name: use for use in graph.instances}
    chains = {node.path: enclosing_uses(node.path, uses) for node in graph.nodes}

    def row_of(path: str) -> str:
        chain = chains.get(path, ())
        return chain[depth - 1] if depth is not None and len(chain) >= depth else path

    members: dict[str, list] = {}
    for node in graph.nodes:
        members.setdefault(row_of(node.path), []).append(node)
    rows = []
    for name, nodes in members.items():
        inputs = dict.fromkeys(row_of(p) for n in nodes for p in n.inputs)
        inputs.pop(name, None)
        if name not in uses:
            (node,) = nodes
            rows.append(Row(node.index, name, node.op, LAYER, node.shape, node.trainable,
                            node.non_trainable, node.macs, tuple(inputs), chains[name], 1,
                            node.span.line))
            continue
        use = uses[name]
        rows.append(Row(
            nodes[0].index, name, use.block.name, BLOCK, tuple(graph.shapes[use.output]),
            _sum(n.trainable for n in nodes), _sum(n.non_trainable for n in nodes),
            _sum(n.macs for n in nodes), tuple(inputs), enclosing_uses(name, uses), len(nodes),
            use.layer.span.line))
    return tuple(rows)


def _sum(values):
    return sum(values, sympy.Integer(0))


def block_uses(graph: AnalysedGraph, depth: int | None = None) -> dict[str, str]:
    """The block uses that stay open at `depth` (those drawn as clusters): path → block name."""
    limit = None if depth is None else depth - 1
    uses = {use.name: use for use in graph.instances}
    return {name: use.block.name for name, use in uses.items()
            if limit is None or len(enclosing_uses(name, uses)) < limit}
