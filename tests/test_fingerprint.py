"""The network fingerprint that `train --resume` compares (shapelang/fingerprint.py).

It must tell networks apart wherever they differ (op, option, shape, count, wiring), be the
same for the same network, reach the generated program unchanged, and agree with Keras's own
layers where Keras can say (shapes and parameter counts)."""
import ast

import pytest
from conftest import EXAMPLES

import shapelang
from shapelang.codegen.keras import emit_keras
from shapelang.fingerprint import FIELDS, network_fingerprint
from shapelang.runtime import fingerprint as runtime

BASE = """network m():
    input [16, 16, 3]
    a: conv 8 k=3 pad=same relu
    b: conv 8 k=3 pad=same
    conv 8 k=3 pad=same
    add @a
    maxpool
    batchnorm
    flatten
    dropout 0.5
    dense 10 softmax
"""

# (id, the line of BASE replaced, its replacement, the layer named, texts of the difference)
CHANGES = [
    ("stride", "maxpool\n", "maxpool s=1\n", "maxpool_1", ["stride none → 1", "shape [8, 8, 8] → [15, 15, 8]"]),
    ("kernel", "    conv 8 k=3 pad=same\n", "    conv 8 k=5 pad=same\n", "conv_1", ["kernel 3 → 5"]),
    ("activation", "pad=same relu", "pad=same tanh", "a", ["activation relu → tanh"]),
    ("wiring", "add @a", "add @b", "add_1", ["inputs [conv_1, a] → [conv_1, b]"]),
    ("input", "input [16, 16, 3]", "input [16, 16, 4]", "input", ["shape [16, 16, 3] → [16, 16, 4]"]),
    ("pooling", "maxpool\n", "maxpool k=4\n", "maxpool_1", ["kernel 2 → 4"]),
    ("epsilon", "batchnorm\n", "batchnorm epsilon=1e-5\n", "batchnorm_1", ["epsilon"]),
    ("rate", "dropout 0.5", "dropout 0.25", "dropout_1", ["rate 0.5 → 0.25"]),
    ("units", "dense 10", "dense 12", "dense_1", ["units 10 → 12", "shape [10] → [12]"]),
]  # fmt: skip


def fingerprint(text):
    return network_fingerprint(shapelang.loads(text).analyse().analysis)


def test_the_same_network_has_the_same_fingerprint():
    assert fingerprint(BASE) == fingerprint(BASE)
    assert [row[0] for row in fingerprint(BASE)][:4] == ["input", "a", "b", "conv_1"]
    assert all(len(row) == len(FIELDS) for row in fingerprint(BASE))


@pytest.mark.parametrize("old, new, layer, texts", [c[1:] for c in CHANGES],
                         ids=[c[0] for c in CHANGES])  # fmt: skip
def test_a_change_is_named_by_the_runtime(old, new, layer, texts):
    assert old in BASE
    difference = runtime._fingerprint_difference(
        fingerprint(BASE), fingerprint(BASE.replace(old, new, 1))
    )
    assert difference is not None
    assert difference.startswith(f"layer `{layer}` ")
    for text in texts:
        assert text in difference


def test_wiring_alone_changes_the_fingerprint():
    # `add @b` instead of `add @a`: a different graph with every shape and count the same
    old, new = fingerprint(BASE), fingerprint(BASE.replace("add @a", "add @b"))
    assert [row[2:5] for row in old] == [row[2:5] for row in new]
    assert old != new


@pytest.mark.parametrize("example", ["lenet", "convnet", "resnet50"])
def test_the_program_carries_the_analysis_fingerprint(example):
    analysis = shapelang.load(EXAMPLES / f"{example}.net").analyse().analysis
    source = emit_keras(analysis)
    tree = ast.parse(source)
    (assigned,) = [node.value for node in tree.body if isinstance(node, ast.Assign)
                   and ast.unparse(node.targets[0]) == "NETWORK_FINGERPRINT"]  # fmt: skip
    assert ast.literal_eval(assigned) == network_fingerprint(analysis)
    assert "fingerprint=NETWORK_FINGERPRINT" in source


@pytest.mark.keras
@pytest.mark.parametrize("example", ["lenet", "convnet", "alexnet_adapted", "digits"])
def test_rows_agree_with_the_keras_layers(example):
    """Every row's shape and parameter count is that of the Keras layer of its name (with the
    padding layer a row may bring along)."""
    pytest.importorskip("tensorflow")
    net = shapelang.load(EXAMPLES / f"{example}.net")
    model = net.to_keras()
    rows = network_fingerprint(net.analyse().analysis)
    layers = {layer.name: layer for layer in model.layers}
    for name, _, shape, trainable, non_trainable, _, _ in rows:
        own = [layer for layer_name, layer in layers.items()
               if layer_name == name or layer_name.startswith(name + ".")]  # fmt: skip
        assert own, name
        assert sum(layer.count_params() for layer in own) == trainable + non_trainable, name
        assert tuple(layers[name].output.shape[1:]) == shape, name
