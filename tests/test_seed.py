"""The seed article's networks against numbers from outside shapelang: the article's own tables
and Keras (tests/oracles/seed_keras.json, a copy of ../shared/oracles/, made by Keras itself)."""
import json

import pytest
from conftest import EXAMPLES, ROOT

import shapelang

ORACLE = json.loads((ROOT / "tests" / "oracles" / "seed_keras.json").read_text())

KERAS_OP = {"InputLayer": "input", "Conv2D": "conv", "MaxPooling2D": "maxpool",
            "Flatten": "flatten", "Dense": "dense", "Dropout": "dropout"}


def test_oracle_copy_is_the_shared_one():
    shared = ROOT.parent / "shared" / "oracles" / "seed_keras.json"
    if not shared.exists():
        pytest.skip("../shared is not beside this checkout")
    assert json.loads(shared.read_text()) == ORACLE


@pytest.mark.parametrize("example, oracle", [
    ("alexnet.net", "alexnet_227"),
    ("alexnet_adapted.net", "alexnet_270x480_29"),
    ("alexnet_scaled.net", "alexnet_scaled_270x480_29"),
    ("lenet.net", "lenet_seed"),
])
def test_every_layer_matches_keras(example, oracle):
    result = shapelang.load(EXAMPLES / example).analyse()
    # Keras's seed models have no LRN layer: LRN keeps the shape and has no parameters.
    layers = []
    for r in result.layers:
        if r.op == "lrn":
            assert r.shape == layers[-1].shape and r.params == 0
            continue
        layers.append(r)
    expected = ORACLE[oracle]["layers"]
    assert len(layers) == len(expected)
    for r, (keras_class, shape, params) in zip(layers, expected):
        assert (r.op, [int(d) for d in r.shape], int(r.params)) == (
            KERAS_OP[keras_class], shape, params), r.name
    assert int(result.total("params")) == ORACLE[oracle]["total_params"]


# The article's tables, per parametrised layer (conv and dense), in order.
SEED_TABLES = {
    "alexnet.net": [34_944, 614_656, 885_120, 1_327_488, 884_992, 37_752_832, 16_781_312,
                    4_097_000],
    "alexnet_scaled.net": [1_456, 808, 876, 1_308, 872, 87_480, 14_520, 3_509],
    "lenet.net": [608, 3_216, 48_120, 10_164, 850],
}
SEED_TOTALS = {"alexnet.net": 62_378_344, "alexnet_adapted.net": 116_071_837,
               "alexnet_scaled.net": 110_829, "lenet.net": 62_958}


@pytest.mark.parametrize("example", sorted(SEED_TOTALS))
def test_seed_tables(example):
    result = shapelang.load(EXAMPLES / example).analyse()
    if example in SEED_TABLES:
        counts = [int(r.params) for r in result.layers if r.op in ("conv", "dense")]
        assert counts == SEED_TABLES[example]
    assert int(result.total("params")) == SEED_TOTALS[example]


def test_adapted_dense_layers_from_the_seed():
    result = shapelang.load(EXAMPLES / "alexnet_adapted.net").analyse()
    dense = [int(r.params) for r in result.layers if r.op == "dense"]
    assert dense[0] == 95_424_512 and dense[-1] == 118_813


def test_convnet_walkthrough():
    result = shapelang.load(EXAMPLES / "convnet.net").analyse()
    convs = [r for r in result.layers if r.op == "conv"]
    assert [[int(d) for d in r.shape] for r in convs] == [[37, 37, 10], [17, 17, 20], [7, 7, 40]]
    assert [int(r.size) for r in convs] == [13_690, 5_780, 1_960]
    assert int(convs[-1].params) == 20_040


def test_lenet_activation_sizes_from_the_seed():
    result = shapelang.load(EXAMPLES / "lenet.net").analyse()
    sizes = [int(r.size) for r in result.layers]
    assert sizes[:5] == [3_072, 6_272, 1_568, 1_600, 400]
