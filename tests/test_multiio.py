"""Several named inputs and several outputs: the language's rules (a table of files and the
diagnostics they must give), the analysis against brute force (every input's sizes in the
validity domain), the generated programs against Keras and PyTorch themselves (every layer's
shape, parameters and wiring, which layers are the model's inputs and outputs, equal outputs
with the weights copied), and training on tiny data in both backends, with the data checks per
input as a table of bad files."""
import csv
import math

import numpy as np
import pytest

import shapelang
from shapelang.runtime import DataError, load_dataset

# A siamese pair: one block definition used for each of two inputs, the distance of the two
# embeddings scored, and the first embedding as a second output.
SIAMESE = """\
block tower(width):
    conv 8 k=3 relu
    globalavgpool
    dense width relu

network siamese(H=12, W=12, width=6):
    left: input [H, W, 1]
    a: tower width
    right: input [H, W, 1]
    b: tower width
    both: concat @a @b
    score: dense 1 sigmoid
    output @score @a
"""

# Two towers of different kinds concatenated: an image and a vector of features.
TWO_TOWER = """\
network twotower(classes=4):
    image: input [10, 10, 3]
    conv 4 k=3 s=2 relu
    flatten
    seen: dense 8 relu
    features: input [5]
    dense 8 relu
    concat @seen
    logits: dense classes softmax
"""

# Three inputs, added and multiplied; the outputs in another order than their lines.
THREE = """\
network three(D=6):
    p: input [D]
    q: input [D]
    r: input [D]
    s: add @p @q
    m: multiply @s @r
    head: dense 3 softmax
    aux: dense 2 @s
    output @aux @head
"""

NETWORKS = {"siamese": SIAMESE, "twotower": TWO_TOWER, "three": THREE}


def analysed(name, **bindings):
    return shapelang.loads(NETWORKS[name], f"{name}.net").analyse(**bindings)


# ---- the language ------------------------------------------------------------------------------
# (what, source, [(code, line)] of every error and warning, in order)
DIAGNOSED = [
    ("an unlabelled input among several",
     "network n:\n    a: input [4]\n    input [3]\n    concat @a\n", [("SL212", 3)]),
    ("two inputs with one name",
     "network n:\n    a: input [4]\n    a: input [3]\n    dense 2\n", [("SL207", 3)]),
    ("an input inside a block (its use)",
     "block b:\n    input [3]\n    dense 2\nnetwork n:\n    input [4]\n    b\n",
     [("SL212", 2)]),
    ("an input inside a repeat",
     "network n:\n    input [4]\n    repeat 1:\n        x: input [4]\n    dense 2\n",
     [("SL212", 4)]),
    ("an input nothing reads",
     "network n:\n    a: input [4]\n    b: input [3]\n    dense 2 @a\n", [("SL308", 3)]),
    ("an unknown output",
     "network n:\n    a: input [4]\n    d: dense 2\n    output @d @e\n", [("SL206", 4)]),
    ("an output listed twice",
     "network n:\n    a: input [4]\n    d: dense 2\n    output @d @d\n", [("SL219", 4)]),
    ("the same tensor listed under two names",
     ("network n:\n    a: input [4]\n    d: dense 2\n    r: repeat 0:\n        relu\n"
     "    output @d @r\n"), [("SL219", 6)]),
    ("output in a block",
     "block b:\n    d: dense 2\n    output @d\nnetwork n:\n    input [4]\n    b\n",
     [("SL220", 3)]),
    ("a line after output",
     "network n:\n    a: input [4]\n    d: dense 2\n    output @d\n    dense 3\n",
     [("SL220", 5)]),
    ("output with a value",
     "network n:\n    a: input [4]\n    d: dense 2\n    output @d 3\n", [("SL221", 4)]),
    ("output naming nothing",
     "network n:\n    a: input [4]\n    d: dense 2\n    output\n", [("SL221", 4)]),
    ("a line nothing reads before output",
     "network n:\n    a: input [4]\n    d: dense 2\n    e: dense 3 @a\n    output @d\n",
     [("SL308", 4)]),
    ("expect output with several outputs",
     ("network n:\n    a: input [4]\n    d: dense 2\n    e: dense 3 @a\n    output @d @e\n"
     "    expect output == [2]\n"), [("SL403", 6)]),
    ("expect of each output by its label",
     ("network n:\n    a: input [4]\n    d: dense 2\n    e: dense 3 @a\n    output @d @e\n"
     "    expect d == [2]\n    expect e == [3]\n"), []),
    ("an input after layers, read by name",
     "network n:\n    a: input [4]\n    d: dense 2\n    b: input [2]\n    add @d\n", []),
    ("one unlabelled input, as before", "network n:\n    input [4]\n    dense 2\n", []),
]


@pytest.mark.parametrize("what, source, expected", DIAGNOSED, ids=[d[0] for d in DIAGNOSED])
def test_the_rules_of_inputs_and_outputs(what, source, expected):
    result = shapelang.loads(source, "n.net").analyse()
    assert [(d.code, d.span.line) for d in result.diagnostics] == expected, \
        [d.message for d in result.diagnostics]


def test_inputs_and_outputs_in_order():
    three = analysed("three")
    assert [layer.name for layer in three.inputs] == ["p", "q", "r"]
    assert [layer.name for layer in three.outputs] == ["aux", "head"]
    assert three.output.name == "aux"
    siamese = analysed("siamese")
    assert [layer.name for layer in siamese.outputs] == ["score", "a.dense_1"]
    # without `output`: the last line's
    assert [layer.name for layer in analysed("twotower").outputs] == ["logits"]


def test_table_names_the_inputs_and_outputs(capsys):
    from shapelang.report import table_document, table_text

    text = table_text(analysed("three").analysis)
    assert "inputs: p [6], q [6], r [6]" in text
    assert "outputs: aux [2], head [3]" in text
    document = table_document(analysed("three").analysis)
    assert (document["inputs"], document["outputs"]) == (["p", "q", "r"], ["aux", "head"])


def test_the_validity_domain_covers_every_input_by_brute_force():
    """`solve`'s ranges for two inputs of unbound sizes against analysing each size."""
    from shapelang.checks import input_size_report

    source = ("network two(A, B):\n    x: input [A, 2]\n    conv 2 k=4 s=3\n    flatten\n"
              "    u: dense 2\n    y: input [B, 2]\n    conv 2 k=2 s=2\n"
              "    globalavgpool\n    concat @u\n")
    net = shapelang.loads(source, "two.net")
    reports = {r.axis: r for r in input_size_report(net.analyse(A=22, B=10).analysis)}
    assert set(reports) == {"steps", "y steps"}
    for symbol, axis in (("A", "steps"), ("B", "y steps")):
        domain = reports[axis].domain
        assert reports[axis].symbol == symbol
        for value in range(1, 30):
            result = net.analyse(**{"A": 22, "B": 10, symbol: value})
            valid = result.ok
            assert valid == (value >= domain.least), (symbol, value, domain.least)
            if valid:  # exact: no stride leaves a row unread (no SL305)
                unread = any(d.code == "SL305" for d in result.diagnostics)
                assert domain.is_exact(value) == (not unread), (symbol, value)


def test_memory_counts_every_input_and_keeps_every_output_alive():
    """Activations kept for the backward pass: every layer's output but views, the inputs
    included; summed here from the layers' shapes as Keras builds them."""
    keras = pytest.importorskip("keras")
    result = analysed("twotower")
    model = shapelang.loads(TWO_TOWER, "twotower.net").to_keras()
    elements = sum(math.prod(layer.output.shape[1:]) for layer in model.layers
                   if not isinstance(layer, keras.layers.Flatten))
    memory = result.memory(batch_size=3)
    assert memory["activations"] == 4 * 3 * elements


# ---- the generated programs against the frameworks ----------------------------------------------
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_keras_builds_the_analysed_network(name):
    pytest.importorskip("keras")
    from keras_oracle import differences, model_io

    net = shapelang.loads(NETWORKS[name], f"{name}.net")
    analysis = net.analyse().raise_for_errors().analysis
    model = net.to_keras()
    assert differences(analysis, model) == []
    assert model_io(model) == (list(analysis.input_paths), list(analysis.output_paths))


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_torch_builds_the_analysed_network(name):
    pytest.importorskip("torch")
    from torch_oracle import differences

    net = shapelang.loads(NETWORKS[name], f"{name}.net")
    analysis = net.analyse().raise_for_errors().analysis
    assert differences(analysis, net.to_torch(), batch=2) == []


def test_the_oracles_see_a_miswired_model():
    """The oracles' checks of inputs and outputs are no formality: a model whose inputs or
    outputs are swapped is caught."""
    keras = pytest.importorskip("keras")
    from keras_oracle import differences

    net = shapelang.loads(THREE, "three.net")
    analysis = net.analyse().analysis
    model = net.to_keras()
    swapped = keras.Model([model.inputs[1], model.inputs[0], model.inputs[2]],
                          model.outputs[::-1])
    found = differences(analysis, swapped)
    assert any("model inputs" in p for p in found) and any("model outputs" in p for p in found)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_both_backends_compute_the_same(name):
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_backend_equivalence import compare

    assert compare(shapelang.loads(NETWORKS[name], f"{name}.net")) > 0


def test_the_programs_name_their_inputs():
    net = shapelang.loads(THREE, "three.net")
    keras_source, torch_source = net.keras_source(), net.torch_source()
    # the outputs in `output`'s order: aux (the last line's, held in x), then head
    assert 'return keras.Model([p, q, r], [x, head], name="three")' in keras_source
    assert 'p = x = keras.Input(shape=(D,), name="p")' in keras_source  # parametric in D
    assert "def forward(self, p, q, r):" in torch_source
    assert "return x, head" in torch_source
    for source in (keras_source, torch_source):
        assert 'INPUT_SHAPES = {"p": (6,), "q": (6,), "r": (6,)}' in source
        assert 'OUTPUT_UNITS = {"aux": 2, "head": 3}' in source
        assert "INPUT_SHAPE =" not in source


def test_outputs_are_named_as_output_names_them():
    """A repeat's label names its last layer's tensor (`encoder3.layernorm_1`); the programs'
    OUTPUT_UNITS, the torch docstring and so the training data (`y_encoder`) use the label."""
    net = shapelang.loads(
        "block layer:\n    dense 4 last_axis=true\n    layernorm\n\n"
        "network named:\n    input [3, 4]\n    encoder: repeat 3:\n        layer\n"
        "    first: take 0\n    pooled: dense 2 softmax\n    output @encoder @pooled\n",
        "named.net")
    analysis = net.analyse().raise_for_errors().analysis
    assert analysis.output_paths[0] == "encoder3.layer_1.layernorm_1"
    assert analysis.output_names == ("encoder", "pooled")
    for source in (net.keras_source(), net.torch_source()):
        assert 'OUTPUT_UNITS = {"encoder": (3, 4), "pooled": 2}' in source
    assert "    encoder: (N, 4, 3)\n    pooled: (N, 2)" in net.torch_source()


# ---- training data ------------------------------------------------------------------------------
def two_tower_arrays(count=20, seed=0):
    rng = np.random.default_rng(seed)
    return {"x_image": rng.standard_normal((count, 10, 10, 3)).astype(np.float32),
            "x_features": rng.standard_normal((count, 5)).astype(np.float32),
            "y": rng.integers(0, 4, count)}


SHAPES = {"image": (10, 10, 3), "features": (5,)}


def bad(**changes):
    arrays = two_tower_arrays()
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    return arrays


# (what, the arrays, the input dtypes, the code, words the message must hold)
BAD_DATA = [
    ("an input's array missing", bad(x_features=None), None, "SL502", ["x_features"]),
    ("labels missing", bad(y=None), None, "SL502", ["`y`"]),
    ("an input of another shape", bad(x_features=np.zeros((20, 6), np.float32)), None,
     "SL503", ["x_features", "features", "(6,)", "(5,)"]),
    ("an input with other example counts", bad(x_features=np.zeros((19, 5), np.float32)),
     None, "SL504", ["x_features` 19", "x_image` 20"]),
    ("labels of another count", bad(y=np.zeros(21, np.int64)), None, "SL504", ["`y` 21"]),
    ("a NaN in one input", bad(x_features=np.full((20, 5), np.nan, np.float32)), None, "SL506",
     ["x_features", "NaN"]),
    ("text in an input", bad(x_image=np.full((20, 10, 10, 3), "a")), None, "SL506",
     ["x_image", "not numeric"]),
    ("fractions in an integer input", bad(x_features=np.full((20, 5), 0.5, np.float32)),
     {"features": "int32"}, "SL506", ["x_features", "not integers", "int32"]),
    ("negative ids", bad(x_features=np.full((20, 5), -1, np.int64)),
     {"features": "int32"}, "SL506", ["x_features", "negative"]),
    ("no examples", {"x_image": np.zeros((0, 10, 10, 3), np.float32),
                     "x_features": np.zeros((0, 5), np.float32), "y": np.zeros(0, np.int64)},
     None, "SL505", ["empty"]),
    ("a class outside the output", bad(y=np.full(20, 4)), None, "SL507", []),
]


@pytest.mark.parametrize("what, arrays, dtypes, code, words", BAD_DATA,
                         ids=[b[0] for b in BAD_DATA])
def test_bad_data_is_named_by_input(tmp_path, what, arrays, dtypes, code, words):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    for spec in (str(path), arrays):  # the file, and the same arrays as a dict
        with pytest.raises(DataError) as caught:
            load_dataset(spec, SHAPES, 4, "sparse_categorical_crossentropy",
                         input_dtypes=dtypes)
        assert caught.value.code == code, caught.value.render()
        for word in words:
            assert word in caught.value.render()


def test_several_outputs_want_labels_per_output(tmp_path):
    arrays = two_tower_arrays()
    with pytest.raises(DataError) as caught:
        load_dataset(arrays, SHAPES, {"a": 4, "b": 2}, "sparse_categorical_crossentropy")
    assert caught.value.code == "SL502" and "`y_a` or `y_b`" in caught.value.render()
    arrays.update(y_a=arrays.pop("y"), y_b=np.zeros(20, np.int64))
    data = load_dataset(arrays, SHAPES, {"a": 4, "b": 2}, "sparse_categorical_crossentropy",
                        validation_split=0.25)
    assert (data.train_count, data.validation_count) == (15, 5)
    x, y = next(data.batches(32, training=False))
    assert list(x) == ["image", "features"] and list(y) == ["a", "b"]
    assert x["image"].shape == (5, 10, 10, 3) and y["a"].shape == (5,)


def test_integer_inputs_stay_integers():
    arrays = two_tower_arrays()
    arrays["x_features"] = np.arange(100).reshape(20, 5)
    data = load_dataset(arrays, SHAPES, 4, "sparse_categorical_crossentropy",
                        input_dtypes={"features": "int32"}, validation_split=0)
    x, _ = next(data.batches(50, training=True))
    assert x["features"].dtype == np.int32 and x["image"].dtype == np.float32
    assert sorted(x["features"][:, 0]) == list(range(0, 100, 5))  # every example, once


# ---- training -----------------------------------------------------------------------------------
def final_values(text):
    line = next(line for line in text.splitlines() if line.startswith("final:"))
    return dict(part.split("=") for part in line.split()[1:])


@pytest.mark.parametrize("backend", ["keras", "torch"])
def test_one_epoch_on_several_inputs_and_outputs(tmp_path, capsys, backend):
    """The three-input network with two outputs trains one epoch; the validation loss the
    run logs is recomputed here from the checkpoint: the sum of each output's cross entropy
    (Keras's total loss with weights 1) over the held-out examples."""
    pytest.importorskip(backend)
    rng = np.random.default_rng(1)
    count = 24
    arrays = {f"x_{k}": rng.standard_normal((count, 6)).astype(np.float32) for k in "pqr"}
    arrays.update(y_aux=rng.integers(0, 2, count), y_head=rng.integers(0, 3, count))
    np.savez(tmp_path / "data.npz", **arrays)
    net = shapelang.loads(THREE.replace("dense 2 @s", "dense 2 softmax @s"), "three.net")
    analysis = net.analyse().raise_for_errors().analysis
    if backend == "keras":
        from shapelang.codegen.keras import load_generated_module
    else:
        from shapelang.codegen.torch import load_generated_module
    program = load_generated_module(analysis)
    directory = tmp_path / "checkpoints"
    code = program.main(["train", "--data", str(tmp_path / "data.npz"), "--epochs", "1",
                         "--batch-size", "8", "--checkpoint-dir", str(directory)])
    out = capsys.readouterr().out
    assert code == 0, out
    logged = float(final_values(out)["val_loss"])

    # the held-out examples: the first ceil(0.2 n) of a permutation seeded with --seed 0
    held = np.random.default_rng(0).permutation(count)[:math.ceil(0.2 * count)]
    inputs = [arrays[f"x_{k}"][held] for k in "pqr"]
    labels = [arrays["y_aux"][held], arrays["y_head"][held]]
    if backend == "keras":
        import keras

        model = keras.saving.load_model(next(directory.glob("epoch-*.keras")))
        outputs = [np.asarray(o) for o in model(inputs, training=False)]
    else:
        import torch

        module = program.build_model()
        payload = torch.load(next(directory.glob("epoch-*.pt")), weights_only=True)
        module.load_state_dict(payload["model"])
        module.eval()
        with torch.no_grad():
            outputs = [o.numpy() for o in module(*(torch.from_numpy(a) for a in inputs))]
    recomputed = sum(
        float(np.mean(-np.log(np.clip(p[np.arange(len(t)), t], 1e-7, 1 - 1e-7))))
        for p, t in zip(outputs, labels))
    assert logged == pytest.approx(recomputed, rel=2e-3, abs=2e-4)
    # a second epoch resumed: the checkpoint's inputs are checked against the network's
    code = program.main(["train", "--data", str(tmp_path / "data.npz"), "--epochs", "2",
                         "--batch-size", "8", "--checkpoint-dir", str(directory), "--resume"])
    out = capsys.readouterr().out
    assert code == 0 and "resuming from epoch 1" in out, out
    with open(directory / "training-log.csv", newline="") as log:
        rows = list(csv.DictReader(log))
    assert len(rows) == 2
