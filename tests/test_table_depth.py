"""`table --depth N` and `--columns`: block uses folded into one row (torchinfo's `depth`).
Oracles: the full table's own layer rows summed by path (an independent sum over the JSON
contract), and torchvision's ResNet-50 modules (layer1 … layer4: parameters, buffers, output
shapes from forward hooks)."""
import importlib.util
import json
import subprocess
import sys

import pytest
import sympy
from conftest import EXAMPLES

EVERY = sorted(p for p in EXAMPLES.glob("*.net"))
COUNTS = ("size", "params", "trainable", "non_trainable", "macs")


def _json(run_cli, path, *extra):
    code, out, err = run_cli("table", path, "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)




def _value(count):
    """A JSON count: an integer, or (unbound symbols) the closed form's text, read back."""
    return sympy.sympify(count) if isinstance(count, str) else count


def _equal(a, b) -> bool:
    return sympy.expand(_value(a) - b) == 0


@pytest.mark.parametrize("path", EVERY, ids=lambda p: p.stem)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_folded_rows_are_the_sums_of_their_layers(run_cli, path, depth):
    full = _json(run_cli, path)["layers"]
    folded = _json(run_cli, path, "--depth", str(depth))
    assert folded["depth"] == depth
    covered = 0
    for row in folded["layers"]:
        if row["kind"] == "layer":
            members = [x for x in full if x["name"] == row["name"]]
            assert len(members) == 1
            assert {k: members[0][k] for k in (*COUNTS, "shape", "op")} == \
                {k: row[k] for k in (*COUNTS, "shape", "op")}
        else:
            members = [x for x in full if x["name"].startswith(row["name"] + ".")]
            assert row["layers"] == len(members) > 0
            for k in ("params", "trainable", "non_trainable", "macs"):
                assert _equal(row[k], sum(_value(x[k]) for x in members)), (row["name"], k)
            # nested no deeper than the depth: a folded row's path is a use `depth` deep
            assert row["name"].count(".") >= depth - 1
        covered += len(members)
    assert covered == len(full)  # every layer in exactly one row (names are unique)
    names = [r["name"] for r in folded["layers"]]
    assert len(set(names)) == len(names)


def test_resnet50_depth_1_fits_100_columns(run_cli):
    code, out, _ = run_cli("table", EXAMPLES / "resnet50.net", "--depth", "1")
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100
    rows = {line.split()[1]: line.split() for line in lines if line[:3].strip().isdigit()}
    assert [rows[s][2] for s in ("conv2", "conv3", "conv4", "conv5")] == ["stage"] * 4
    total = next(line.split() for line in lines if line.split()[:1] == ["total"])
    macs = _json(run_cli, EXAMPLES / "resnet50.net")["total"]["macs"]
    assert total == ["total", "25,636,712", f"{macs:,}"]  # Keras's published parameter count


# torchvision's ResNet-50, built in a process of its own: in one process with TensorFlow loaded
# (other test modules import it), importing torchvision can crash the interpreter.
TORCHVISION_STAGES = """
import json, torch, torchvision
model = torchvision.models.resnet50(weights=None).eval()
shapes = {}
for name in ("layer1", "layer2", "layer3", "layer4"):
    getattr(model, name).register_forward_hook(
        lambda _m, _i, out, name=name: shapes.__setitem__(name, list(out.shape)))
with torch.no_grad():
    model(torch.zeros(1, 3, 224, 224))
print(json.dumps({name: {
    "trainable": sum(p.numel() for p in getattr(model, name).parameters()),
    "running": sum(b.numel() for n, b in getattr(model, name).named_buffers() if "running" in n),
    "shape": shapes[name]} for name in shapes}))
"""


def test_resnet50_depth_1_against_torchvision(run_cli):
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed (the torch extra)")
    result = subprocess.run([sys.executable, "-c", TORCHVISION_STAGES], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    stages = json.loads(result.stdout.strip().splitlines()[-1])
    rows = {r["name"]: r for r in _json(run_cli, EXAMPLES / "torchvision_resnet50.net",
                                        "--depth", "1")["layers"]}
    assert sorted(stages) == ["layer1", "layer2", "layer3", "layer4"]
    for name, stage in stages.items():
        assert (rows[name]["trainable"], rows[name]["non_trainable"]) == (
            stage["trainable"], stage["running"])
        _, c, h, w = stage["shape"]
        assert rows[name]["shape"] == [h, w, c]
        assert rows[name]["kind"] == "block" and rows[name]["op"] == "stage"


@pytest.mark.parametrize("fmt", ["text", "markdown", "csv"])
def test_columns_choose_and_order(run_cli, fmt):
    code, out, _ = run_cli("table", EXAMPLES / "lenet.net", "--format", fmt,
                           "--columns", "params,layer,shape")
    assert code == 0
    header = next(line for line in out.splitlines() if "layer" in line or "name" in line)
    if fmt == "csv":
        assert header == "params,name,shape"
        full = _json(run_cli, EXAMPLES / "lenet.net")
        body = out.splitlines()[1:-1]
        assert body == [f"{x['params']},{x['name']},\"[{', '.join(map(str, x['shape']))}]\""
                        if len(x["shape"]) > 1 else
                        f"{x['params']},{x['name']},[{x['shape'][0]}]" for x in full["layers"]]
    else:
        words = header.replace("|", " ").split()
        assert words == ["#params", "layer", "activation", "shape"]


@pytest.mark.parametrize("args, message", [
    (("--columns", "layer,bogus"), "unknown column 'bogus'"),
    (("--columns", "layer,layer"), "named twice"),
    (("--columns", "layer", "--format", "json"), "JSON holds every column"),
])
def test_column_errors_are_usage_errors(run_cli, args, message):
    code, out, err = run_cli("table", EXAMPLES / "lenet.net", *args)
    assert code == 2 and out == "" and message in err and "Traceback" not in err


@pytest.mark.parametrize("depth", ["0", "-1", "x", "1.5", "99999"])
def test_bad_depth_is_a_usage_error(run_cli, depth):
    code, _, err = run_cli("table", EXAMPLES / "lenet.net", "--depth", depth)
    assert code == 2 and "--depth" in err


def test_without_depth_the_table_is_unchanged(run_cli):
    """The golden files cover the default; a depth deeper than any nesting is the full table's
    rows (and the same counts)."""
    full = _json(run_cli, EXAMPLES / "resnet50.net")["layers"]
    deep = _json(run_cli, EXAMPLES / "resnet50.net", "--depth", "9")["layers"]
    assert [(r["name"], r["params"], r["shape"]) for r in deep] == \
        [(r["name"], r["params"], r["shape"]) for r in full]
