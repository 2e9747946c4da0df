"""Memory against outside figures: torchinfo's "Params size" and "Forward/backward pass size"
on torchvision's own models (the oracle for examples/torchvision_*.net), Keras's optimizers'
own state variables for the slots per weight, Keras's layer outputs for the activations kept,
and a brute-force liveness for the inference peak."""
import json
import math
import re

import pytest
import sympy
from conftest import EXAMPLES

import shapelang
from shapelang.analysis import analyse
from shapelang.memory import (
    OPTIMIZER_SLOTS,
    VIEWS,
    estimate,
    optimizer_of,
    parse_bytes,
)
from shapelang.parser import parse

TORCHVISION = {"alexnet": "alexnet", "vgg16": "vgg16", "resnet50": "resnet50",
               "mobilenetv2": "mobilenet_v2"}


def graph_of(name: str, **bindings):
    path = EXAMPLES / f"{name}.net"
    return analyse(parse(path.read_text(), str(path)),
                   {k: sympy.Integer(v) for k, v in bindings.items()})


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(TORCHVISION))
def test_torchinfo_figures(example):
    """torchinfo's own statistics and its printed lines, at batch 2, equal the analysis's
    figures under torchinfo's convention — in bytes, not only to the printed digits."""
    torchinfo = pytest.importorskip("torchinfo")
    torchvision = pytest.importorskip("torchvision")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = getattr(torchvision.models, TORCHVISION[example])(weights=None)
    stats = torchinfo.summary(model, input_size=(2, 3, 224, 224), verbose=0, device="cpu")
    memory = estimate(graph_of(f"torchvision_{example}"), 2)
    assert memory.torchinfo_params == stats.total_param_bytes
    assert memory.torchinfo_forward_backward == stats.total_output_bytes
    printed = str(stats)
    params = re.search(r"Params size \(MB\): ([\d.]+)", printed)[1]
    passes = re.search(r"Forward/backward pass size \(MB\): ([\d.]+)", printed)[1]
    assert f"{int(memory.torchinfo_params) / 1e6:0.2f}" == params
    assert f"{int(memory.torchinfo_forward_backward) / 1e6:0.2f}" == passes


@pytest.mark.keras
@pytest.mark.parametrize("name, options, slots", [
    ("sgd", {}, 0), ("sgd", {"momentum": 0.9}, 1), ("adam", {}, 2), ("adamw", {}, 2),
    ("rmsprop", {}, 1), ("rmsprop", {"momentum": 0.9}, 2), ("adagrad", {}, 1),
    ("adadelta", {}, 2), ("adamax", {}, 2), ("nadam", {}, 2), ("lion", {}, 1), ("ftrl", {}, 2),
])
def test_optimizer_slots_are_keras_state(name, options, slots):
    """Keras's optimizer, built for one 10×3 weight, keeps `slots` values per weight (its
    scalar counters and learning rate aside)."""
    keras = pytest.importorskip("keras")
    weight = keras.Variable(keras.ops.zeros((10, 3)))
    optimizer = keras.optimizers.get({"class_name": name, "config": options})
    optimizer.build([weight])
    state = sum(math.prod(v.shape) for v in optimizer.variables if len(v.shape) > 0)
    assert state == 30 * slots
    ours = optimizer_of({"optimizer": name, "optimizer_options": options})
    assert ours.slots == slots
    if not options:
        assert OPTIMIZER_SLOTS[name] == slots


@pytest.mark.keras
@pytest.mark.parametrize("example", ["lenet", "alexnet", "resnet50"])
def test_activations_kept_are_keras_layer_outputs(example):
    """Every Keras layer's output, once, at batch 3 (its views — Flatten, Reshape — left out):
    the activations kept for backward, in float32 and in float16."""
    pytest.importorskip("keras")
    model = shapelang.load(EXAMPLES / f"{example}.net").to_keras()
    values = sum(math.prod(layer.output.shape[1:]) for layer in model.layers
                 if type(layer).__name__ not in ("Flatten", "Reshape"))
    graph = graph_of(example)
    assert estimate(graph, 3).activations == 4 * 3 * values
    assert estimate(graph, 3, mixed_precision=True).activations == 2 * 3 * values


def _brute_force_peak(graph) -> int:
    """The most values alive at once: at layer i, its output and every earlier output that
    layer i or a later one reads (the network's output lives to the end)."""
    nodes = graph.nodes
    readers = {n.path: [m.index for m in nodes if n.path in m.inputs] for n in nodes}
    readers[nodes[-1].path].append(len(nodes))
    peak = 0
    for i in range(len(nodes)):
        alive = [n for n in nodes[:i + 1] if n.index == i or any(r >= i for r in readers[n.path])]
        peak = max(peak, sum(int(n.size) for n in alive if n.op not in VIEWS))
    return peak


@pytest.mark.parametrize("example", ["lenet", "alexnet", "resnet50", "mobilenetv2",
                                     "torchvision_mobilenetv2"])
def test_inference_peak_by_brute_force(example):
    graph = graph_of(example)
    memory = estimate(graph, 5)
    assert memory.inference_activations == 4 * 5 * _brute_force_peak(graph)
    assert memory.inference == memory.parameters + memory.inference_activations


def test_training_total_adds_up():
    """Weights float32 (batch norm's statistics included), gradients and two Adam slots per
    trainable weight, activations at the batch size: added."""
    graph = graph_of("resnet50")
    memory = estimate(graph, 7, optimizer_of({}, "adam"))
    params, trainable = 25_636_712, 25_583_592  # keras.applications.ResNet50's
    kept = sum(int(n.size) for n in graph.nodes if n.op not in VIEWS)
    assert memory.training == 4 * params + 4 * trainable + 8 * trainable + 4 * 7 * kept
    assert estimate(graph, 7, optimizer_of({}, "sgd")).training == (
        4 * params + 4 * trainable + 4 * 7 * kept)


def test_optimizer_from_train_block_and_override():
    assert optimizer_of({"optimizer": "sgd", "optimizer_options": {"momentum": 0.9}}).slots == 1
    assert optimizer_of({"optimizer": "sgd", "optimizer_options": {}}).slots == 0
    assert optimizer_of({}).name == "adam"  # the runtime's default
    assert optimizer_of({"optimizer": "sgd"}, "adam").slots == 2
    with pytest.raises(ValueError):
        optimizer_of({}, "sgdd")


@pytest.mark.parametrize("text, expected", [
    ("16GiB", 16 * 2**30), ("80 GiB", 80 * 2**30), ("80GB", 80 * 10**9), ("1.5e9", 1_500_000_000),
    ("512MiB", 512 * 2**20), ("1_000", 1000), ("2KiB", 2048), ("0.5KB", 500),
])
def test_parse_bytes(text, expected):
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["16 GiBs", "1e999GiB", "0.5B", "GiB", "1/2GB", "__import__"])
def test_parse_bytes_refuses(text):
    with pytest.raises(ValueError):
        parse_bytes(text)


def test_symbolic_memory_is_the_bound_one_at_a_point():
    """With H and W unbound the memory is a closed form; at 227×227 it is the bound network's."""
    symbolic = estimate(graph_of("alexnet_symbolic"), 16)
    bound = estimate(graph_of("alexnet_symbolic", H=227, W=227), 16)
    at = {sympy.Symbol("H", positive=True, integer=True): 227,
          sympy.Symbol("W", positive=True, integer=True): 227}
    for key in ("parameters", "gradients", "optimizer_state", "activations"):
        value = getattr(symbolic, key)
        assert value.free_symbols
        point = value.subs({s: at[next(t for t in at if t.name == s.name)]
                            for s in value.free_symbols})
        assert point == getattr(bound, key), key
    assert symbolic.inference is None and bound.inference is not None


def test_table_memory_cli(run_cli):
    code, out, _ = run_cli("table", EXAMPLES / "resnet50.net", "--batch-size", "32",
                           "--format", "json", "--optimizer", "sgd")
    assert code == 0
    memory = json.loads(out)["memory"]
    assert memory["batch_size"] == 32 and memory["optimizer_slots"] == 0
    assert memory["training"] == (memory["parameters"] + memory["gradients"]
                                  + memory["optimizer_state"] + memory["activations"])
    code, out, _ = run_cli("table", EXAMPLES / "alexnet.net", "--batch-size", "64")
    assert code == 0 and "memory at batch size 64" in out and "Params size (MB): 249.51" in out
    code, out, _ = run_cli("table", EXAMPLES / "alexnet.net", "--batch-size", "64",
                           "--mixed-precision", "--format", "markdown")
    assert code == 0 and "activations float16" in out


@pytest.mark.parametrize("args", [
    ("--batch-size", "0"), ("--batch-size", "1.5"), ("--batch-size", "1e99"),
    ("--batch-size", "x"), ("--optimizer", "adam"), ("--mixed-precision",),
    ("--batch-size", "2", "--optimizer", "nope"), ("--batch-size", "2", "--format", "csv"),
])
def test_table_memory_usage_errors(run_cli, args):
    code, _, err = run_cli("table", EXAMPLES / "alexnet.net", *args)
    assert code == 2 and "Traceback" not in err


def test_memory_benchmark_runs_on_cpu():
    """bench/memory_peak.py: on a machine without a GPU it prints the estimates only."""
    import subprocess
    import sys

    from conftest import ROOT

    done = subprocess.run([sys.executable, str(ROOT / "bench" / "memory_peak.py"), "--batch", "2",
                           "--networks", "torchvision_alexnet", "alexnet", "--frameworks",
                           "torch"], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr
    expected = shapelang.load(EXAMPLES / "torchvision_alexnet.net").analyse().memory(2)
    from shapelang.memory import human

    assert human(expected["training"]) in done.stdout
    gpu = "no GPU" not in done.stdout
    if not gpu:
        assert "—" in done.stdout


def test_readme_shows_real_output(run_cli, monkeypatch):
    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    code, out, _ = run_cli("table", "examples/torchvision_resnet50.net", "--batch-size", "32",
                           "--optimizer", "adam")
    assert code == 0
    section = out[out.index("memory at batch size"):].rstrip()
    assert f"```\n{section}\n```" in (ROOT / "README.md").read_text(encoding="utf-8")
