"""Whose parameter counts an analysis reports: Keras's (the default, and what `expect` and
`check` read) or PyTorch's (`table --backend torch`, the PyTorch program). Only some kinds'
counts differ — PyTorch's RNNs carry two bias vectors where Keras's carry one — so the other
convention's graph is the same graph with each node's counts derived again by its kind's
`parameters_under` from the node's own arguments and input shapes: nothing is walked again.
"""
from __future__ import annotations

from dataclasses import replace

import sympy

from .graph import AnalysedGraph, Node, frozen_mapping
from .layers import REGISTRY
from .layers.base import CONVENTIONS, KERAS, TORCH
from .walk import as_expr

#: How a table names a convention.
FRAMEWORKS = {KERAS: "Keras", TORCH: "PyTorch"}


def counts_under(graph: AnalysedGraph, node: Node, convention: str) -> tuple:
    """(trainable, non-trainable) of `node` as `convention` counts them."""
    shapes = [graph.shapes[name] for name in node.inputs]
    trainable, non_trainable = REGISTRY[node.op].parameters_under(convention, node.args, shapes,
                                                                   node.shape)
    return as_expr(trainable), as_expr(non_trainable)


def under(graph: AnalysedGraph, convention: str) -> AnalysedGraph:
    """`graph` with every node's counts as `convention` counts them."""
    if convention not in CONVENTIONS:
        raise ValueError(f"no parameter convention {convention!r}; {', '.join(CONVENTIONS)}")
    if convention == graph.convention:
        return graph
    nodes = []
    for node in graph.nodes:
        if node.args is None:
            nodes.append(node)
            continue
        trainable, non_trainable = counts_under(graph, node, convention)
        nodes.append(replace(node, trainable=trainable, non_trainable=non_trainable))
    return replace(graph, nodes=tuple(nodes), by_path=frozen_mapping({n.path: n for n in nodes}),
                   convention=convention)


def differences(graph: AnalysedGraph, convention: str) -> dict[str, sympy.Expr]:
    """Op → how many more parameters `convention` counts than `graph`'s convention, summed
    over the network's layers of that op; only ops where they differ, in first-use order."""
    more: dict[str, sympy.Expr] = {}
    for node in graph.nodes:
        if node.args is None:
            continue
        other = sum(counts_under(graph, node, convention))
        difference = sympy.expand(other - node.params)
        if difference != 0:
            more[node.op] = more.get(node.op, sympy.Integer(0)) + difference
    return {op: sympy.expand(n) for op, n in more.items() if sympy.expand(n) != 0}


__all__ = ["CONVENTIONS", "FRAMEWORKS", "KERAS", "TORCH", "counts_under", "differences", "under"]
