"""The layer registry: every kind registered and documented, its docstring's examples run, and
each rule against an independent formula."""
import re

import pytest

import shapelang
from shapelang.layers import ACTIVATIONS, REGISTRY

MODULE_KINDS = [k for k in REGISTRY.values() if k.op not in ACTIVATIONS]


def test_every_module_in_layers_is_registered():
    from pathlib import Path

    import shapelang.layers as package

    modules = {p.stem for p in Path(package.__file__).parent.glob("*.py")} - {
        "__init__", "base", "window", "recurrent"}  # recurrent: the RNN kinds' base
    registered = {type(k).__module__.rsplit(".", 1)[1] for k in REGISTRY.values()}
    assert modules == registered


#: the input the sequence kinds' examples read (seqops)
SEQUENCE_INPUTS = {"embedding": "input [1024] dtype=int32", "posembed": "input [197, 768]",
                   "clstoken": "input [196, 768]"}


@pytest.mark.parametrize("kind", MODULE_KINDS, ids=lambda k: k.op)
def test_kind_is_documented_with_runnable_examples(kind):
    assert kind.doc and kind.doc.strip()
    examples = [line.strip().split("#")[0].strip() for line in kind.doc.splitlines()
                if line.startswith("    ") and re.match(r"\s+\w", line)]
    examples = [e for e in examples if e.split()[0] == kind.op or kind.op in e]
    assert examples, f"{kind.op}: no example in its docstring"
    # what the examples read: an input of a fitting shape, and the tensors merges name
    tensors = "".join(f"    {name}: relu @input\n" for name in (
        "a", "b", "c", "shortcut", "gate", "left", "right", "memory"))
    first = {"dense": "input [64]", "reshape": "input [3136]", "mha": "input [16, 64]",
             **SEQUENCE_INPUTS}.get(kind.op, "input [32, 32, 64]")
    if kind.op in ("simplernn", "lstm", "gru"):  # a sequence [T, D]
        first = "input [20, 128]"
    if kind.op in SEQUENCE_INPUTS:  # they read the input itself (ids stay ids up to them)
        tensors = ""
    for line in examples:
        if line.startswith("input"):
            text = f"network t(classes = 10):\n    {line.replace('[H, W, 3]', '[32, 32, 3]')}\n"
        else:
            text = f"network t(classes = 10):\n    {first}\n{tensors}    {line}\n"
        diagnostics = shapelang.loads(text).check()
        assert not [d for d in diagnostics if d.severity == "error"], (line, diagnostics)


LAYER_CASES = [
    # (input, line, shape, trainable, non-trainable, macs) — hand-computed from the definitions
    ("[227, 227, 3]", "conv 96 k=11 s=4", [55, 55, 96], 34_944, 0, 55 * 55 * 96 * 363),
    ("[8, 8, 16]", "conv 32 k=(3, 5) groups=4 bias=false", [6, 4, 32], 3 * 5 * 4 * 32, 0,
     6 * 4 * 32 * 15 * 4),
    ("[10, 10, 3]", "conv 4 k=3 d=2", [6, 6, 4], 112, 0, 6 * 6 * 4 * 27),
    ("[10, 10, 3]", "conv 4 k=3 pad=2", [12, 12, 4], 112, 0, 12 * 12 * 4 * 27),
    ("[10, 10, 3]", "conv 4 k=3 pad=(1, 0)", [10, 8, 4], 112, 0, 10 * 8 * 4 * 27),
    ("[10, 3]", "conv 4 k=3", [8, 4], 40, 0, 8 * 4 * 9),
    ("[5, 10, 10, 3]", "conv 4 k=3 pad=same", [5, 10, 10, 4], 328, 0, 500 * 4 * 81),
    ("[55, 55, 96]", "maxpool k=3 s=2", [27, 27, 96], 0, 0, 0),
    ("[9, 9, 2]", "avgpool", [4, 4, 2], 0, 0, 0),
    ("[9, 9, 2]", "maxpool k=2 pad=same", [5, 5, 2], 0, 0, 0),
    ("[7, 7, 2048]", "globalavgpool", [2048], 0, 0, 0),
    ("[7, 7, 8]", "globalmaxpool", [8], 0, 0, 0),
    ("[9216]", "dense 4096", [4096], 37_752_832, 0, 9216 * 4096),
    ("[10]", "dense 3 bias=false", [3], 30, 0, 30),
    ("[6, 6, 256]", "flatten", [9216], 0, 0, 0),
    ("[4096]", "dropout 0.5", [4096], 0, 0, 0),
    ("[8, 8, 64]", "batchnorm", [8, 8, 64], 128, 128, 0),
    ("[8, 8, 64]", "batchnorm scale=false", [8, 8, 64], 64, 128, 0),
    ("[8, 8, 64]", "lrn", [8, 8, 64], 0, 0, 0),
    ("[8, 8, 64]", "relu", [8, 8, 64], 0, 0, 0),
    ("[10, 64]", "layernorm", [10, 64], 128, 0, 0),
    ("[10, 64]", "layernorm center=false", [10, 64], 64, 0, 0),
    ("[4, 5, 6]", "layernorm axis=(0, -1) eps=1e-6", [4, 5, 6], 2 * 4 * 6, 0, 0),
    # 4 projections of 64·64 (8 heads of 8) + biases; MACs: projections + QKᵀ + AV
    ("[10, 64]", "mha 8", [10, 64], 4 * 64 * 64 + 4 * 64, 0,
     4 * 10 * 64 * 64 + 8 * 10 * 10 * (8 + 8)),
]


@pytest.mark.parametrize("shape, line, out, trainable, non_trainable, macs", LAYER_CASES,
                         ids=[c[1] for c in LAYER_CASES])
def test_layer_rules(shape, line, out, trainable, non_trainable, macs):
    result = shapelang.loads(f"network t():\n    input {shape}\n    {line}\n").analyse()
    layer = result.layers[1]
    assert ([int(d) for d in layer.shape], int(layer.trainable), int(layer.non_trainable),
            int(layer.macs)) == (out, trainable, non_trainable, macs)


def test_expression_functions():
    text = ("network t(c = 29):\n    let n = c / 1000\n    input [8]\n"
            "    dense (roundeven(96 * n) + ceil(7 / 2) + floor(7 / 2) + round(5 / 2) + abs(-2) "
            "+ min(3, 4) + max(3, 4) + 7 // 2 + 7 % 4 + 2 ** 3)\n")
    # roundeven(2.784) = 4 (the seed's: next even), 4, 3, 3 (half up), 2, 3, 4, 3, 3, 8
    units = shapelang.loads(text).analyse().layers[1].shape[0]
    assert int(units) == 4 + 4 + 3 + 3 + 2 + 3 + 4 + 3 + 3 + 8
