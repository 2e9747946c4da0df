"""`shapelang diff`: the seed article's comparison — AlexNet at 227×227 × 1000 classes against
270×480 × 29 — against the article's own numbers and Keras's layers for both
(tests/oracles/seed_keras.json); rows added and removed; the formats; errors."""
import json

import pytest
from conftest import EXAMPLES, ROOT

ALEXNET = EXAMPLES / "alexnet.net"
SEED = ("--a", "H=227", "--b", "H=270,W=480,classes=29")
ORACLE = json.loads((ROOT / "tests" / "oracles" / "seed_keras.json").read_text())
KERAS_OP = {"InputLayer": "input", "Conv2D": "conv", "MaxPooling2D": "maxpool",
            "Flatten": "flatten", "Dense": "dense", "Dropout": "dropout"}


def _diff_json(run_cli, *args):
    code, out, err = run_cli("diff", *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_seed_comparison_json_against_the_article_and_keras(run_cli):
    document = _diff_json(run_cli, ALEXNET, *SEED)
    assert document["a"]["bindings"] == {"H": 227, "W": 227, "classes": 1000}
    assert document["b"]["bindings"] == {"H": 270, "W": 480, "classes": 29}
    # the article's two tables: the first dense layer and the totals
    first_dense = next(r for r in document["layers"] if r["a"]["op"] == "dense")
    assert (first_dense["a"]["params"], first_dense["b"]["params"]) == (37_752_832, 95_424_512)
    assert first_dense["delta"]["params"] == 95_424_512 - 37_752_832
    total = document["total"]
    assert (total["a"]["params"], total["b"]["params"]) == (62_378_344, 116_071_837)
    assert total["delta"]["params"] == 116_071_837 - 62_378_344
    # every layer of both sides against Keras (which has no LRN: same shape, no parameters)
    rows = [r for r in document["layers"] if r["a"]["op"] != "lrn"]
    for side, oracle in (("a", "alexnet_227"), ("b", "alexnet_270x480_29")):
        expected = ORACLE[oracle]["layers"]
        assert [(r[side]["op"], r[side]["shape"], r[side]["params"]) for r in rows] == \
            [(KERAS_OP[k], shape, params) for k, shape, params in expected]
    for r in document["layers"]:
        assert r["status"] in ("same", "changed")
        for k, d in r["delta"].items():
            assert d == r["b"][k] - r["a"][k]
        changed = r["a"] != r["b"]
        assert r["status"] == ("changed" if changed else "same"), r["name"]


def test_seed_comparison_text(run_cli):
    code, out, err = run_cli("diff", ALEXNET, *SEED)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("A: network alexnet with H=227, W=227, classes=1000")
    assert lines[1].startswith("B: network alexnet with H=270, W=480, classes=29")
    dense = next(line.split() for line in lines if line.split()[1:2] == ["dense_1"])
    assert dense[0] == "~" and "37,752,832" in dense and "95,424,512" in dense
    assert "+57,671,680" in dense
    total = next(line.split() for line in lines if line.split()[:1] == ["total"])
    assert total[:4] == ["total", "62,378,344", "116,071,837", "+53,693,493"]
    same = next(line for line in lines if "dense_2" in line)
    assert same.startswith(" ")  # unchanged: no mark


def test_markdown(run_cli):
    code, out, _ = run_cli("diff", ALEXNET, *SEED, "--format", "markdown",
                           "--columns", "shape,params")
    assert code == 0
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert table[0] == "|  | layer | op | shape A | shape B | params A | params B | Δ params |"
    assert len(table) == 2 + 18 + 1  # heading, rule, the 18 layers, total
    assert "| **total** |" in table[-1] and "**62,378,344**" in table[-1]


def test_two_files_by_path_and_by_order(run_cli):
    adapted = EXAMPLES / "alexnet_adapted.net"
    by_path = _diff_json(run_cli, ALEXNET, adapted)
    status = {r["name"]: r["status"] for r in by_path["layers"]}
    # adapted labels its first and last dense `fc1` and `out`: paths that alexnet.net lacks
    assert status["fc1"] == status["out"] == "added"
    assert status["dense_3"] == "removed"
    names = [r["name"] for r in by_path["layers"]]
    assert names.index("dense_3") > names.index("dropout_2")  # kept where A had it
    by_order = _diff_json(run_cli, ALEXNET, adapted, "--match", "order")
    assert {r["status"] for r in by_order["layers"]} == {"same", "changed"}
    assert len(by_order["layers"]) == 18
    fc1 = next(r for r in by_order["layers"] if r["name"] == "fc1")
    assert (fc1["a"]["params"], fc1["b"]["params"]) == (37_752_832, 95_424_512)


def test_added_and_removed_blocks_at_a_depth(run_cli):
    document = _diff_json(run_cli, EXAMPLES / "resnet50.net", EXAMPLES /
                          "torchvision_resnet50.net", "--depth", "1")
    status = {r["name"]: r["status"] for r in document["layers"]}
    assert status["conv2"] == "removed" and status["layer1"] == "added"
    assert status["input"] == "same"


def test_symbolic_deltas_are_closed_forms(run_cli):
    document = _diff_json(run_cli, EXAMPLES / "alexnet_symbolic.net", ALEXNET)
    dense = next(r for r in document["layers"] if r["name"] == "dense_1")
    assert isinstance(dense["a"]["params"], str) and isinstance(dense["delta"]["params"], str)
    assert document["b"]["symbols"] == [] and document["a"]["symbols"] == ["H", "W"]


def test_exit_code_and_identity(run_cli):
    code, out, _ = run_cli("diff", ALEXNET, ALEXNET, "--exit-code")
    assert code == 0 and "0 changed" in out
    code, _, _ = run_cli("diff", ALEXNET, *SEED, "--exit-code")
    assert code == 1


@pytest.mark.parametrize("args, code, message", [
    ((ALEXNET, "--a", "H"), 2, "--a"),
    ((ALEXNET, "--columns", "shape,bogus"), 2, "'bogus'"),
    ((ALEXNET, ALEXNET, ALEXNET), 2, "two files"),
    ((ALEXNET, EXAMPLES / "nonexistent.net"), 2, "no such file"),
    ((ALEXNET, EXAMPLES / "bad" / "dense_on_tensor.net"), 1, "SL301"),
    ((ALEXNET, "--b", "nope=3"), 1, "SL213"),
])
def test_errors(run_cli, args, code, message):
    got, _, err = run_cli("diff", *args)
    assert got == code and message in err and "Traceback" not in err
