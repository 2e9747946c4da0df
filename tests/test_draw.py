"""`shapelang draw` for every example: DOT parsed back by pydot (every node, label and edge),
Mermaid holding every node and edge, SVG (Graphviz's `dot`) parsed by xml.etree holding every
node's name, PNG's signature; nodes and edges compared with the `table` JSON's layers and
inputs (the analysis's contract), not with the drawing code's own data."""
import json
import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from conftest import EXAMPLES

EVERY = sorted(EXAMPLES.glob("*.net"))
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` is not installed "
                               "(.ci/run installs it with apt-get where it can)")


def _layers(run_cli, path, *extra):
    code, out, err = run_cli("table", path, "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)["layers"]


def _draw(run_cli, path, fmt, *extra):
    code, out, err = run_cli("draw", path, "--format", fmt, *extra)
    assert code == 0, err
    return out


@pytest.mark.parametrize("path", EVERY, ids=lambda p: p.stem)
def test_dot_parsed_back_by_pydot(run_cli, path):
    pydot = pytest.importorskip("pydot")
    layers = _layers(run_cli, path)
    (graph,) = pydot.graph_from_dot_data(_draw(run_cli, path, "dot"))
    nodes = {}

    def collect(g):
        for n in g.get_nodes():
            if n.get_name() not in ("node", "edge", "graph"):
                nodes[n.get_name()] = n.get_label().strip('"').split("\\n")
        for sub in g.get_subgraphs():
            collect(sub)

    collect(graph)
    by_name = {label[0]: node_id for node_id, label in nodes.items()}
    assert sorted(by_name) == sorted(r["name"] for r in layers)
    for r in layers:
        label = nodes[by_name[r["name"]]]
        assert label[1] == r["op"]
        assert label[2] == "[" + ", ".join(map(str, r["shape"])) + "]"
        params = r["params"]
        assert label[3] == (f"{params:,}" if isinstance(params, int) else params) + " params"
    edges = sorted((e.get_source(), e.get_destination()) for e in graph.get_edges())
    assert edges == sorted((by_name[i], by_name[r["name"]]) for r in layers for i in r["inputs"])


@pytest.mark.parametrize("path", EVERY, ids=lambda p: p.stem)
def test_mermaid_has_every_node_and_edge(run_cli, path):
    layers = _layers(run_cli, path)
    text = _draw(run_cli, path, "mermaid")
    lines = text.splitlines()
    assert "flowchart TD" in lines
    ids = {}
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("n") and '"' in stripped and " " not in stripped.split('"')[0]:
            node_id = stripped.split('"')[0].rstrip("[{(")
            ids[stripped.split('"')[1].split("<br/>")[0]] = node_id
    assert sorted(ids) == sorted(r["name"] for r in layers)
    edges = {tuple(line.split(" --> ")) for line in (x.strip() for x in lines) if " --> " in line}
    assert edges == {(ids[i], ids[r["name"]]) for r in layers for i in r["inputs"]}
    opened = sum(line.strip().startswith("subgraph ") for line in lines)
    assert opened == sum(line.strip() == "end" for line in lines)


@needs_dot
@pytest.mark.parametrize("path", EVERY, ids=lambda p: p.stem)
def test_svg_parsed_has_every_node_name(run_cli, path):
    layers = _layers(run_cli, path)
    root = ET.fromstring(_draw(run_cli, path, "svg"))
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    missing = [r["name"] for r in layers if r["name"] not in texts]
    assert not missing


@needs_dot
def test_png_and_output_file(run_cli, tmp_path):
    target = tmp_path / "alexnet.png"
    code, _, err = run_cli("draw", EXAMPLES / "alexnet.net", "--format", "png", "-o", target)
    assert code == 0, err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_needs_an_output_file(run_cli):
    code, out, err = run_cli("draw", EXAMPLES / "alexnet.net", "--format", "png")
    assert code == 2 and out == "" and "-o FILE" in err


def test_missing_dot_says_how_to_install(run_cli, monkeypatch, tmp_path):
    pytest.importorskip("graphviz")
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on it
    code, out, err = run_cli("draw", EXAMPLES / "lenet.net", "--format", "svg")
    assert code == 2 and out == ""
    assert "apt-get install graphviz" in err and "--format dot" in err
    assert "Traceback" not in err
    code, out, _ = run_cli("draw", EXAMPLES / "lenet.net", "--format", "dot")
    assert code == 0 and out.startswith("digraph")  # DOT and Mermaid need nothing


def test_missing_graphviz_package_says_how_to_install(run_cli, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "graphviz", None)  # `import graphviz` raises ImportError
    code, _, err = run_cli("draw", EXAMPLES / "lenet.net", "--format", "svg")
    assert code == 2 and "shapelang[draw]" in err


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_depth_folds_nodes_and_keeps_clusters_of_open_uses(run_cli, depth):
    pydot = pytest.importorskip("pydot")
    path = EXAMPLES / "resnet50.net"
    rows = _layers(run_cli, path, "--depth", str(depth))
    (graph,) = pydot.graph_from_dot_data(_draw(run_cli, path, "dot", "--depth", str(depth)))

    def count(g):
        own = [n for n in g.get_nodes() if n.get_name() not in ("node", "edge", "graph")]
        return len(own) + sum(count(s) for s in g.get_subgraphs())

    def clusters(g):
        return sum(1 + clusters(s) for s in g.get_subgraphs())

    assert count(graph) == len(rows)
    # open clusters: the block uses fewer than depth − 1 deep (stages at 2; + blocks at 3)
    assert clusters(graph) == {1: 0, 2: 4, 3: 4 + 16}[depth]
    folded = [r for r in rows if r["kind"] == "block"]
    assert all(r["name"].count(".") == {1: 0, 2: 1, 3: 2}[depth] or "repeat" in r["name"]
               for r in folded)


def test_within_one_block_use(run_cli):
    path = EXAMPLES / "resnet50.net"
    text = _draw(run_cli, path, "mermaid", "--within", "conv3")
    inside = [r["name"] for r in _layers(run_cli, path) if r["name"].startswith("conv3.")]
    for name in inside:
        assert f'"{name}<br/>' in text
    assert '"conv2.repeat2.identity_1.relu_1"' in text  # the tensor it reads, as an entry
    assert "conv4." not in text
    code, _, err = run_cli("draw", path, "--format", "dot", "--within", "conv9")
    assert code == 2 and "did you mean `conv5`" in err and "Traceback" not in err
    code, _, err = run_cli("draw", path, "--format", "dot", "--within", "conv2", "--depth", "1")
    assert code == 2 and "folded at --depth 1" in err


def test_labels_are_escaped():
    pydot = pytest.importorskip("pydot")
    from shapelang import draw

    hostile = 'a"b\\c\x1b}\n];"'
    text = f"digraph g {{ n0 [label={draw._dot_quote(hostile)}]; }}"
    (graph,) = pydot.graph_from_dot_data(text)
    assert [n.get_name() for n in graph.get_nodes()] == ["n0"]
    mermaid = draw._mermaid_text(hostile)
    assert not set(mermaid) & set('"<>\n\x1b')


def test_a_broken_file_is_reported(run_cli):
    code, out, err = run_cli("draw", EXAMPLES / "bad" / "dense_on_tensor.net", "--format", "dot")
    assert code == 1 and out == "" and "SL301" in err


@pytest.mark.parametrize("svg, args", [
    ("alexnet_adapted.svg", ("alexnet_adapted.net",)),
    ("resnet50_conv2.svg", ("resnet50.net", "--within", "conv2", "--depth", "3")),
])
def test_readme_pictures_show_what_draw_draws(run_cli, svg, args):
    """docs/*.svg (in the README) were drawn by `shapelang draw`: each holds every node of the
    DOT that draw writes now (names, and the network's heading)."""
    from conftest import ROOT

    root = ET.parse(ROOT / "docs" / svg).getroot()
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    dot = _draw(run_cli, EXAMPLES / args[0], "dot", *args[1:])
    labels = {label.split("\\n")[0] for label in re.findall(r'label="((?:[^"\\]|\\.)*)"', dot)}
    assert labels and labels <= texts
