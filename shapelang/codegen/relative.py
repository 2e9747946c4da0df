"""The analysed graph seen from one root, with every value relative to it: what the planner
writes as expressions. From the network (`root` ""), values are in the network's parameters;
from a block use (`root` its path), in the block's parameters and its input's dimensions, the
use's path prefix dropped from every name. Nothing is analysed again: a node's relative values
were derived in the walk relative to its own root (its innermost block use), and a value is
carried up to an outer root by substituting each block use's relative arguments and input
shape for the block's symbols.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from ..graph import AnalysedGraph, BranchTaken, enclosing_instance
from ..layers import Args
from ..walk import Instance, RepeatRecord


class NotRelative(Exception):
    """Some value has no form relative to the root asked for: the planner writes bound values
    there instead."""


class ViewLayer:
    """A node seen from the root: its names local to it, its arguments and shape relative to
    it (carried up when first read: a substitution simplifies, which costs)."""

    def __init__(self, index: int, name: str, node, inputs: tuple, lifter: _Lifter):
        self.index, self.name, self.inputs = index, name, inputs
        self.layer = node.statement
        self._node, self._lifter = node, lifter
        self._shape = self._args = None

    @property
    def op(self) -> str:
        return self.layer.op

    @property
    def shape(self) -> tuple:
        if self._shape is None:
            self._shape = self._lifter.lift(self._node.relative.shape, self._node.instance)
        return self._shape

    @property
    def args(self) -> Args:
        if self._args is None:
            self._args = _lift_args(self._node.relative.args, self._lifter, self._node.instance)
        return self._args


class _Shapes(dict):
    """Tensor → relative shape, each read from its layer when first asked for."""

    def __init__(self, layers: dict, known: dict):
        super().__init__(known)
        self.layers = layers

    def __missing__(self, name):
        shape = self[name] = self.layers[name].shape
        return shape


@dataclass
class RelativeView:
    """What the planner reads of an analysis, relative to one root."""

    network: object
    layers: list
    shapes: dict
    instances: list
    produced: dict
    bindings: dict
    ok: bool = True
    complete: bool = True
    _by_name: dict = field(default_factory=dict, repr=False)

    def by_name(self, name: str):
        return self._by_name.get(name)

    @property
    def output(self):
        return self.layers[-1] if self.layers else None


class _Lifter:
    def __init__(self, graph: AnalysedGraph, root: str, rename: dict):
        self.instances = {i.name: i for i in graph.instances}
        self.root = root
        self.rename = rename  # the root's own symbols → the ones the planner names
        self.substitutions: dict = {}

    def substitution(self, path: str) -> dict:
        if path not in self.substitutions:
            self.substitutions[path] = self._substitution(path)
        return self.substitutions[path]

    def _substitution(self, path: str) -> dict:
        instance = self.instances[path]
        if instance.relative_arguments is None or instance.relative_input is None:
            raise NotRelative(f"the use `{path}` has no relative arguments")
        found = {}
        for name, symbol in (instance.parameter_symbols or {}).items():
            if isinstance(symbol, sympy.Symbol):
                found[symbol] = instance.relative_arguments[name]
        found.update(zip(instance.input_symbols, instance.relative_input))
        return found

    def lift(self, value, from_root: str):
        """`value`, relative to `from_root` (the root or a block use inside it), relative to
        the root."""
        while from_root != self.root:
            value = _replace(value, self.substitution(from_root))
            from_root = enclosing_instance(from_root, self.instances)
        return _replace(value, self.rename) if self.rename else value


def _roots_between(path: str, root: str, instances: dict):
    """The block uses from `path` (a node's root) out to `root`, `root` excluded."""
    while path != root:
        yield path
        path = enclosing_instance(path, instances)


def _replace(value, mapping: dict):
    if isinstance(value, sympy.Basic):
        return value.xreplace(mapping)
    if isinstance(value, (tuple, list)):
        return type(value)(_replace(v, mapping) for v in value)
    return value


def _lift_args(args: Args, lifter: _Lifter, root: str) -> Args:
    values = {k: lifter.lift(v, root) for k, v in args.values.items()}
    geometry = args.geometry
    if geometry is not None:
        geometry = type(geometry)(*(lifter.lift(getattr(geometry, f), root) if f != "mode"
                                    else geometry.mode for f in
                                    ("kernel", "stride", "dilation", "pads", "mode")))
    return Args(values, args.spans, args.layer, args.activation, geometry,
                lifter.lift(args.pads, root), lifter.lift(args.factors, root))


def relative_view(graph: AnalysedGraph, root: str = "", rename: dict | None = None
                  ) -> RelativeView:
    """The graph from `root` with relative values; `NotRelative` where one is missing.
    `rename` maps the root block's parameter symbols to the planner's."""
    lifter = _Lifter(graph, root, rename or {})
    prefix = root + "." if root else ""
    source = lifter.instances[root].input if root else None

    def local(path: str) -> str:
        if root and path == source:
            return "input"
        if not path.startswith(prefix):
            raise NotRelative(f"`{path}` lies outside `{root}`")
        return path[len(prefix):]

    layers, by_name = [], {}
    for node in graph.nodes:
        if not node.path.startswith(prefix):
            continue
        if node.relative is None:
            raise NotRelative(f"`{node.path}` has no relative values")
        for path in _roots_between(node.instance, root, lifter.instances):
            lifter.substitution(path)  # raises where a use has no relative values
        layer = ViewLayer(len(layers), local(node.path), node,
                          tuple(local(i) for i in node.inputs), lifter)
        layers.append(layer)
        by_name[layer.name] = layer
    shapes = _Shapes(by_name, {"input": lifter.lift(lifter.instances[root].input_symbols,
                                                    root)} if root else {})
    instances, seen = [], {}
    for instance in graph.instances:
        if not instance.name.startswith(prefix):
            continue
        parent = enclosing_instance(instance.name, lifter.instances)
        if instance.relative_arguments is None:
            raise NotRelative(f"the use `{instance.name}` has no relative arguments")
        arguments = {k: lifter.lift(v, parent) for k, v in instance.relative_arguments.items()}
        seen[instance.name] = Instance(instance.block, local(instance.name), instance.layer,
                                       arguments, local(instance.input), local(instance.output))
        instances.append(seen[instance.name])
    produced = {}
    for (scope, key), value in graph.produced.items():
        if not scope.startswith(prefix):
            continue
        if isinstance(value, Instance):
            value = seen[value.name]
        elif isinstance(value, RepeatRecord):
            count = value.count if value.relative_count is None else lifter.lift(
                value.relative_count, enclosing_instance(scope.rstrip(".") + ".x", lifter.instances)
                if scope else "")
            value = RepeatRecord(count, value.walked, value.stem)
        elif isinstance(value, BranchTaken):
            pass
        else:
            value = local(value)
        produced[(scope[len(prefix):], key)] = value
    return RelativeView(graph.network, layers, shapes, instances, produced,
                        dict(graph.bindings), _by_name=by_name)
