"""The analysed graph against the bound truth: every value a backend writes as an expression
(relative to the network, or to a block use) gives back, at the bound values, exactly what the
bound walk derived for that layer."""
from __future__ import annotations

from pathlib import Path

import pytest
import sympy

import shapelang
from shapelang.codegen.relative import NotRelative, relative_view

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.net"))


def _at(value, values: dict):
    if isinstance(value, tuple):
        return tuple(_at(v, values) for v in value)
    if isinstance(value, sympy.Basic):
        return value.xreplace({s: values[str(s)] for s in value.free_symbols})
    return value


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_network_relative_values_at_the_bindings_are_the_bound_ones(path):
    graph = shapelang.load(path).analyse().analysis
    view = relative_view(graph)
    assert len(view.layers) == len(graph.nodes)
    values = {**graph.bindings, **graph.symbols}  # an unbound parameter stays itself
    for layer, node in zip(view.layers, graph.nodes):
        assert layer.name == node.path
        assert _at(layer.shape, values) == node.shape, node.path
        if node.geometry is not None:
            assert _at(layer.args.geometry.kernel, values) == node.geometry.kernel
            assert _at(layer.args.geometry.pads, values) == node.geometry.pads, node.path


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_block_relative_values_at_each_use_are_the_bound_ones(path):
    """Seen from every block use, with the use's arguments and input shape put for the
    block's symbols."""
    graph = shapelang.load(path).analyse().analysis
    checked = 0
    for instance in graph.instances:
        try:
            view = relative_view(graph, instance.name)
        except NotRelative:
            continue
        values = {str(s): instance.arguments[name]
                  for name, s in instance.parameter_symbols.items()
                  if isinstance(s, sympy.Symbol)}
        values.update({str(s): d for s, d in zip(instance.input_symbols,
                                                  graph.shapes[instance.input])})
        for layer in view.layers:
            node = graph.by_path[f"{instance.name}.{layer.name}"]
            assert _at(layer.shape, values) == node.shape, node.path
            checked += 1
    assert checked or not graph.instances


def test_the_graph_is_immutable():
    graph = shapelang.load(EXAMPLES[0]).analyse().analysis
    with pytest.raises(AttributeError):
        graph.nodes[0].path = "x"
    with pytest.raises(TypeError):
        graph.by_path["x"] = graph.nodes[0]
    assert isinstance(graph.diagnostics, tuple) and isinstance(graph.nodes, tuple)


def test_the_instance_tree_covers_every_node_inside_a_block_use():
    graph = shapelang.load(EXAMPLES[0].parent / "resnet50.net").analyse().analysis
    top = graph.children("")
    assert [i.name for i in top] == ["conv2", "conv3", "conv4", "conv5"]
    # ResNet-50's conv3: a projection, then `repeat blocks - 1` identities (blocks = 4)
    assert [i.name for i in graph.children("conv3")] == [
        "conv3.block1", *(f"conv3.repeat{k}.identity_1" for k in (1, 2, 3))]
    inside = {n.path for i in top for n in graph.nodes_in(i.name)}
    assert inside == {n.path for n in graph.nodes if n.instance}
    for node in graph.nodes:
        assert node.instance == "" or node.path.startswith(node.instance + ".")
