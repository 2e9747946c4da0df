"""The network as analysed: what one walk of a `.net` file found, frozen.

Every consumer — `check`, `table`, `solve`, the API, the code generator — reads this and
nothing else; none walks the IR or runs the analysis again. Values are sympy numbers where the
network's parameters are bound and closed forms in its symbols where they are not.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import sympy

from . import ir
from .diagnostics import ERROR, Diagnostic
from .layers.base import product
from .layers.window import WindowGeometry


class DerivedCounts:
    """What a layer's shape and counts imply: its activation size, its parameters in all, its
    FLOPs (2·MACs). Shared by the walk's results and the graph's nodes."""

    @property
    def size(self):
        return product(self.shape)

    @property
    def params(self):
        return self.trainable + self.non_trainable

    @property
    def flops(self):
        return 2 * self.macs


def enclosing_instance(path: str, instance_paths) -> str:
    """The path of the innermost block use `path` lies in ("" at top level)."""
    parts = path.split(".")[:-1]
    while parts:
        if ".".join(parts) in instance_paths:
            return ".".join(parts)
        parts.pop()
    return ""


@dataclass(frozen=True)
class Node(DerivedCounts):
    """One layer instance of the analysed network."""

    index: int
    path: str  # `conv3.block1.bottleneck_1.conv_2`
    op: str
    options: Any  # resolved values by long option name (read-only mapping)
    activation: str | None
    geometry: WindowGeometry | None
    inputs: tuple[str, ...]  # the paths of the nodes it reads
    shape: tuple
    trainable: sympy.Expr
    non_trainable: sympy.Expr
    macs: sympy.Expr
    span: ir.Span
    instance: str  # the path of the innermost block instance, "" at top level
    label: str | None
    statement: ir.Layer = field(repr=False)  # the source line
    args: Any = field(repr=False, default=None)  # the bound arguments the rules saw
    # ((before, after), …) per spatial axis as applied: a window's, or a `zeropad`'s
    padding: tuple | None = None
    # the arguments and shape relative to the node's root (the network, or its block use:
    # `instance`), when asked for and derivable; None otherwise
    relative: Any = None

    @property
    def name(self) -> str:
        return self.path

    @property
    def layer(self) -> ir.Layer:
        return self.statement



@dataclass(frozen=True)
class BlockInstance:
    """One use of a block: where it is, what it was given, what it reads and returns."""

    block: ir.Block
    name: str  # its instance path, e.g. `stage2.block1`
    layer: ir.Layer
    arguments: dict  # block parameter → value
    input: str
    output: str
    # relative values (with `relative`): the arguments in the enclosing root's symbols, the
    # block's parameters as symbols (a word or shape argument stays itself), the symbols of
    # its input's dimensions and that input's shape in the enclosing root's symbols
    relative_arguments: dict | None = None
    parameter_symbols: dict | None = None
    input_symbols: tuple = ()
    relative_input: tuple | None = None


@dataclass(frozen=True)
class BranchTaken:
    """What an `if` produced: which branch was walked (`then` True: the `if`'s lines), and
    the condition decided relative to its root (the network's parameters as symbols, or in a
    block use the block's): None where it depends on them, so that a program written in
    those symbols cannot take one branch for every value."""

    then: bool
    relative: bool | None = None


@dataclass(frozen=True)
class RepeatInstance:
    """What a `repeat` produced: its count, the iterations walked, the stem of their names
    (`repeat`, `stage_`), and the count relative to the root (None where not derivable)."""

    count: sympy.Expr
    walked: int
    stem: str
    relative_count: sympy.Expr | None = None


@dataclass(frozen=True)
class InputSizes:
    """The network with its spatial input sizes as symbols, derived in the same walk as the
    bound values: the constraints solve's domains and exact sizes are computed from.
    `undecided` says why nothing can be said (the walk with unbound sizes was incomplete)."""

    axes: tuple  # (axis name, symbol, the size in the file) per spatial input axis
    symbols: Any  # name → Symbol: the network's unbound parameters and these sizes
    minimum_sizes: tuple
    remainders: tuple
    undecided: str | None = None
    maximum_sizes: tuple = ()


@dataclass(frozen=True)
class PaddingFix:
    """A padding for the first layer that leaves input rows unread, tried in the same walk:
    `still` counts the later layers that would still leave rows unread, None where the fix
    fails or does not read every row of that layer."""

    text: str  # `pad=same`, `pad=(1, 2)`
    padding: object
    still: int | None


@dataclass(frozen=True)
class AnalysedGraph:
    """One analysis of one network with its bindings."""

    network: ir.Network
    bindings: Any  # parameter name → bound value (sympy number)
    symbols: Any  # parameter name → sympy Symbol, for the unbound ones
    nodes: tuple[Node, ...]
    by_path: Any
    instances: tuple  # every block use, in walk order
    tensors: Any  # the network body's labels → node paths
    shapes: Any  # every tensor's shape, by path
    minimum_sizes: tuple
    remainders: tuple
    diagnostics: tuple[Diagnostic, ...]
    complete: bool
    train: Any
    input_sizes: InputSizes | None
    padding_fixes: tuple[PaddingFix, ...]
    # (scope prefix, statement span) → what a line produced (a node path, a block use, a
    # repeat): how a backend follows the source's structure through the graph.
    produced: Any = field(repr=False, default=None)
    # a block use's or `repeat` iteration's path (`mixed3.b3`, `stage2.block3`) → the path
    # of its output tensor
    outputs: Any = field(repr=False, default=None)
    # whose parameter counts the nodes hold: "keras" (the default) or "torch" (conventions.py)
    convention: str = "keras"
    # the paths of the network's inputs (file order) and of its outputs (`output @a @b`'s
    # order, else the last line's)
    input_paths: tuple = ()
    output_paths: tuple = ()
    output_labels: tuple = ()  # as `output @a @b` names them; see `output_names`
    maximum_sizes: tuple = ()  # upper bounds of the valid domain (`walk.MaximumSize`)

    @property
    def layers(self) -> tuple[Node, ...]:
        return self.nodes

    @property
    def input_nodes(self) -> tuple[Node, ...]:
        return tuple(self.by_path[p] for p in self.input_paths if p in self.by_path)

    @property
    def output_nodes(self) -> tuple[Node, ...]:
        return tuple(self.by_path[p] for p in self.output_paths if p in self.by_path)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The outputs' names for the generated programs' `OUTPUT_UNITS` and the training
        data's `y_<name>`: as `output @a @b` names them (`@encoder`, a repeat whose last layer is
        `encoder12.layernorm_1`), else their paths."""
        return self.output_labels or tuple(n.path for n in self.output_nodes)

    @property
    def several_io(self) -> bool:
        """More than one input or more than one output."""
        return len(self.input_paths) > 1 or len(self.output_paths) > 1

    @property
    def ok(self) -> bool:
        return not any(d.severity == ERROR for d in self.diagnostics)

    @property
    def output(self) -> Node | None:
        """The network's (first) output."""
        if self.output_paths and self.output_paths[0] in self.by_path:
            return self.by_path[self.output_paths[0]]
        return self.nodes[-1] if self.nodes else None

    def total(self, what: str):
        return sum((getattr(n, what) for n in self.nodes), sympy.Integer(0))

    def by_name(self, path: str) -> Node | None:
        return self.by_path.get(path)

    @property
    def labels(self):
        """The network body's labels → node paths."""
        return self.tensors

    def nodes_in(self, instance: str) -> tuple[Node, ...]:
        """The nodes of a block use (its nested uses' included), in order."""
        return tuple(n for n in self.nodes if n.path.startswith(instance + "."))

    def children(self, instance: str) -> tuple[BlockInstance, ...]:
        """The block uses directly inside `instance` ("" for the network's own)."""
        prefix = instance + "." if instance else ""
        inside = [i for i in self.instances if i.name.startswith(prefix)]
        return tuple(i for i in inside if not any(
            i.name.startswith(o.name + ".") for o in inside))


def frozen_mapping(values: dict):
    return MappingProxyType(dict(values))
