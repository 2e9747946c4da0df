"""Training networks whose output is a sequence: a class distribution per position `[T, V]`
(a language model, a sequence tagger) trains against one class id per position in both
backends. The validation loss each run logs is recomputed here from its checkpoint with numpy
(the cross entropy of every held-out position, averaged); the data checks are a table of bad
arrays and the diagnostics they must give; outputs that `train` cannot train are refused with
SL512, never an internal error."""
import math

import numpy as np
import pytest

import shapelang
from shapelang.runtime import DataError, load_dataset
from shapelang.runtime.named import input_vocabularies

# the reproducer of the issue: logits per position, the head tied to the embedding
LM = """\
network lm(T = 8, vocab = 50):
    input [T] dtype=int32
    wte: embedding vocab 16
    posembed 8
    mha 2 causal=true
    dense vocab tie=wte bias=false
"""
LM_SOFTMAX = LM.replace("bias=false", "bias=false softmax")

TAGGER = """\
network tagger(T = 6, F = 3):
    input [T, F]
    lstm 16 return_sequences=true
    dense 5 last_axis=true softmax
"""

SPARSE = "sparse_categorical_crossentropy"


def analysed(text, name):
    return shapelang.loads(text, name).analyse().raise_for_errors().analysis


def program_of(text, name, backend, logits=False):
    analysis = analysed(text, name)
    if backend == "keras":
        from shapelang.codegen.keras import load_generated_module

        return load_generated_module(analysis)
    from shapelang.codegen.torch import load_generated_module

    return load_generated_module(analysis, logits=logits)


def final_values(text):
    line = next(line for line in text.splitlines() if line.startswith("final:"))
    return {key: float(value) for key, value in (part.split("=") for part in line.split()[1:-2])}


def checkpoint_outputs(program, backend, directory, x):
    """The network's output for `x` (channels last), from the run's checkpoint."""
    if backend == "keras":
        import keras

        model = keras.saving.load_model(next(directory.glob("epoch-*.keras")))
        return np.asarray(model(x, training=False))
    import torch

    module = program.build_model()
    payload = torch.load(next(directory.glob("epoch-*.pt")), weights_only=True)
    module.load_state_dict(payload["model"])
    module.eval()
    tensor = torch.from_numpy(x)
    if tensor.dim() >= 3:  # the program's layout: channels first
        tensor = tensor.movedim(-1, 1)
    with torch.no_grad():
        return module(tensor).movedim(1, -1).numpy()  # (N, V, T) -> (N, T, V)


def cross_entropy(outputs, labels, logits):
    """The mean over examples and positions of -log p(label): on logits a log-softmax; on
    probabilities Keras's clip to [1e-7, 1 - 1e-7] and renormalisation of each row."""
    if logits:
        shifted = outputs - outputs.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    else:
        clipped = np.clip(outputs.astype(np.float64), 1e-7, 1 - 1e-7)
        log_p = np.log(clipped / clipped.sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_p, labels[..., np.newaxis].astype(np.int64), axis=-1)
    return float(-picked.mean())


def position_accuracy(outputs, labels):
    return float(np.mean(outputs.argmax(axis=-1) == labels))


def train(program, tmp_path, data, *extra):
    directory = tmp_path / "checkpoints"
    code = program.main(["train", "--data", str(data), "--epochs", "1", "--batch-size", "16",
                         "--checkpoint-dir", str(directory), *extra])
    return code, directory


# (network, its name, backend, torch --logits, x of 64 examples, y: ids per position)
def lm_arrays(count=64, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 50, (count, 8)).astype(np.int32)
    return {"x": x, "y": np.roll(x, -1, axis=1)}  # the next token, as a language model


def tagger_arrays(count=64, seed=4):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, 6, 3)).astype(np.float32)
    return {"x": x, "y": rng.integers(0, 5, (count, 6))}


RUNS = [
    ("lm, keras", LM_SOFTMAX, "lm", "keras", False, lm_arrays),
    ("lm, torch", LM_SOFTMAX, "lm", "torch", False, lm_arrays),
    ("lm, torch --logits", LM_SOFTMAX, "lm", "torch", True, lm_arrays),
    ("lm without softmax, keras", LM, "lm", "keras", False, lm_arrays),
    ("tagger, keras", TAGGER, "tagger", "keras", False, tagger_arrays),
    ("tagger, torch", TAGGER, "tagger", "torch", False, tagger_arrays),
]


@pytest.mark.parametrize("what, text, name, backend, logits, arrays", RUNS,
                         ids=[run[0] for run in RUNS])
def test_one_epoch_against_labels_per_position(tmp_path, capsys, what, text, name, backend,
                                               logits, arrays):
    """One epoch on an .npz of (N, T) labels; the logged validation loss and accuracy are
    recomputed from the checkpoint over the held-out examples (the first ceil(0.2 n) of the
    permutation seeded with --seed 0)."""
    pytest.importorskip(backend)
    data = arrays()
    np.savez(tmp_path / "data.npz", **data)
    program = program_of(text, name, backend, logits)
    code, directory = train(program, tmp_path, tmp_path / "data.npz")
    out = capsys.readouterr().out
    assert code == 0, out
    logged = final_values(out)
    held = np.random.default_rng(0).permutation(len(data["x"]))[:math.ceil(0.2 * len(data["x"]))]
    outputs = checkpoint_outputs(program, backend, directory, data["x"][held])
    labels = data["y"][held]
    assert outputs.shape == (len(held), *labels.shape[1:], outputs.shape[-1])
    assert logged["val_loss"] == pytest.approx(cross_entropy(outputs, labels, logits),
                                               rel=2e-3, abs=2e-4)
    assert logged["val_accuracy"] == pytest.approx(position_accuracy(outputs, labels),
                                                   abs=1e-3)


@pytest.mark.parametrize("backend", ["keras", "torch"])
def test_the_reproducer_trains_on_synthetic_data(tmp_path, capsys, backend):
    pytest.importorskip(backend)
    program = program_of(LM, "lm", backend)
    code, _ = train(program, tmp_path, "synthetic", "--synthetic-size", "40")
    out = capsys.readouterr().out
    assert code == 0, out
    assert all(math.isfinite(value) for value in final_values(out).values())


@pytest.mark.parametrize("backend", ["keras", "torch"])
def test_one_hot_labels_per_position_train_a_categorical_loss(tmp_path, capsys, backend):
    pytest.importorskip(backend)
    data = tagger_arrays()
    one_hot = np.eye(5, dtype=np.float32)[data["y"]]
    np.savez(tmp_path / "data.npz", x=data["x"], y=one_hot)
    program = program_of(TAGGER, "tagger", backend)
    code, directory = train(program, tmp_path, tmp_path / "data.npz",
                            "--loss", "categorical_crossentropy")
    out = capsys.readouterr().out
    assert code == 0, out
    held = np.random.default_rng(0).permutation(64)[:13]
    outputs = checkpoint_outputs(program, backend, directory, data["x"][held])
    logged = final_values(out)
    assert logged["val_loss"] == pytest.approx(
        cross_entropy(outputs, data["y"][held], False), rel=2e-3, abs=2e-4)
    assert logged["val_accuracy"] == pytest.approx(
        position_accuracy(outputs, data["y"][held]), abs=1e-3)


# ---- the data: what synthetic draws, what the checks refuse -------------------------------------
def test_the_vocabulary_comes_from_the_embedding_that_reads_the_input():
    program = program_of(LM, "lm", "keras")
    assert input_vocabularies(program.NETWORK_FINGERPRINT) == {"input": 50}
    assert program.OUTPUT_UNITS == (8, 50)


TWO_EMBEDDINGS = """\
network two(T = 6):
    ids: input [T] dtype=int32
    types: input [T] dtype=int32
    a: embedding 30 8 @ids
    b: embedding 3 8 @types
    c: embedding 20 8 @ids
    add @a @b
    add @c
    dense 30 last_axis=true softmax
"""


def test_an_input_read_by_two_embeddings_gets_the_smaller_vocabulary():
    program = program_of(TWO_EMBEDDINGS, "two", "keras")
    assert input_vocabularies(program.NETWORK_FINGERPRINT) == {"ids": 20, "types": 3}
    assert input_vocabularies(None) == {}


@pytest.mark.parametrize("loss", [SPARSE, "categorical_crossentropy"])
def test_synthetic_ids_and_labels_fit_the_network(loss):
    data = load_dataset("synthetic", {"input": (8,)}, (8, 50), loss, synthetic_size=300,
                        input_dtypes={"input": "int32"}, input_vocabularies={"input": 50})
    x, y = next(data.batches(300, training=True))
    ids = x["input"]
    assert ids.dtype == np.int32 and ids.shape == (data.train_count, 8)
    assert ids.min() >= 0 and ids.max() < 50 and len(np.unique(ids)) > 40
    labels = y if loss == SPARSE else y.argmax(axis=-1)
    assert labels.shape == (data.train_count, 8) and 0 <= labels.min() and labels.max() < 50
    if loss != SPARSE:
        assert y.shape == (data.train_count, 8, 50) and np.all(y.sum(axis=-1) == 1)


def test_synthetic_labels_per_position_for_a_float_input():
    pytest.importorskip("tensorflow")
    data = load_dataset("synthetic", (6, 3), (6, 5), SPARSE, synthetic_size=20)
    x, y = next(data.batches(20, training=True))
    assert x.shape == (16, 6, 3) and y.shape == (16, 6) and 0 <= y.min() and y.max() < 5
    example, label = next(iter(data.train))
    assert tuple(example.shape) == (6, 3) and tuple(label.shape) == (6,)


IDS = {"input": "int32"}
VOCABULARY = {"input": 50}


def lm_bad(**changes):
    arrays = lm_arrays(count=20)
    arrays.update(changes)
    return arrays


# (what, arrays, output units, loss, the code, words the message must hold)
BAD_DATA = [
    ("one label per example", lm_bad(y=np.zeros(20, np.int64)), (8, 50), SPARSE, "SL507",
     ["(8,)", "(8, 50)", "per position"]),
    ("labels of another length", lm_bad(y=np.zeros((20, 7), np.int64)), (8, 50), SPARSE,
     "SL507", ["(7,)", "(8,)"]),
    ("one-hot rows of another width", lm_bad(y=np.zeros((20, 8, 49), np.float32)), (8, 50),
     SPARSE, "SL507", ["(8, 49)"]),
    ("label ids out of range", lm_bad(y=np.full((20, 8), 50)), (8, 50), SPARSE, "SL507",
     ["50", "classes 0 to 49"]),
    ("fractional labels", lm_bad(y=np.full((20, 8), 0.5)), (8, 50), SPARSE, "SL507",
     ["whole numbers"]),
    ("input ids at the vocabulary", lm_bad(x=np.full((20, 8), 50, np.int32)), (8, 50), SPARSE,
     "SL506", ["`x_input`", "`input`", "50 ids", "0 to 49"]),
    ("float input ids", lm_bad(x=np.full((20, 8), 1.5, np.float32)), (8, 50), SPARSE, "SL506",
     ["`x_input`", "not integers"]),
    ("negative input ids", lm_bad(x=np.full((20, 8), -1, np.int32)), (8, 50), SPARSE, "SL506",
     ["`x_input`", "negative"]),
    ("a regression loss", lm_arrays(count=20), (8, 50), "mean_squared_error", "SL512",
     ["(8, 50)", "class distribution per position"]),
    ("an output of rank 3", lm_arrays(count=20), (8, 4, 50), SPARSE, "SL512",
     ["(8, 4, 50)", "[T, V]"]),
]


@pytest.mark.parametrize("what, arrays, units, loss, code, words", BAD_DATA,
                         ids=[b[0] for b in BAD_DATA])
def test_bad_sequence_data_is_named(tmp_path, what, arrays, units, loss, code, words):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    for spec in (str(path), arrays):  # the file, and the same arrays as a dict
        with pytest.raises(DataError) as caught:
            load_dataset(spec, {"input": (8,)}, units, loss, input_dtypes=IDS,
                         input_vocabularies=VOCABULARY)
        assert caught.value.code == code, caught.value.render()
        for word in words:
            assert word in caught.value.render(), caught.value.render()


def test_a_float_input_sequence_output_checks_its_labels(tmp_path):
    data = tagger_arrays(count=20)
    data["y"] = data["y"][:, :5]
    np.savez(tmp_path / "data.npz", **data)
    with pytest.raises(DataError) as caught:
        load_dataset(str(tmp_path / "data.npz"), (6, 3), (6, 5), SPARSE)
    assert caught.value.code == "SL507" and "(5,)" in caught.value.render()
    with pytest.raises(DataError) as caught:
        load_dataset("digits", (8, 8, 1), (6, 5), SPARSE)
    assert caught.value.code == "SL507" and "per position" in caught.value.render()


IMAGE_TO_IMAGE = """\
network pixels(H = 4, W = 4):
    input [H, W, 2]
    conv 3 k=1 softmax
"""


@pytest.mark.parametrize("backend", ["keras", "torch"])
@pytest.mark.parametrize("text, name, extra, words", [
    (IMAGE_TO_IMAGE, "pixels", [], ["(4, 4, 3)"]),
    (TAGGER, "tagger", ["--loss", "mean_squared_error"], ["(6, 5)", "sparse_"]),
], ids=["rank 3", "regression"])
def test_train_refuses_outputs_it_cannot_train(capsys, tmp_path, backend, text, name, extra,
                                               words):
    pytest.importorskip(backend)
    program = program_of(text, name, backend)
    code, _ = train(program, tmp_path, "synthetic", "--synthetic-size", "10", *extra)
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error[SL512]: "), err
    assert "internal error" not in err
    for word in words:
        assert word in err


def test_shards_of_sequence_labels_stream_in_both_readers(tmp_path):
    pytest.importorskip("tensorflow")
    data = tagger_arrays(count=30)
    for index, part in enumerate((slice(0, 20), slice(20, 30))):
        np.savez(tmp_path / f"shard-{index}.npz", x=data["x"][part], y=data["y"][part])
    loaded = load_dataset(str(tmp_path / "shard-*.npz"), (6, 3), (6, 5),
                          "categorical_crossentropy", validation_split=0)
    seen = np.concatenate([y for _, y in loaded.batches(7, training=True)])
    assert seen.shape == (30, 6, 5)
    assert sorted(map(tuple, seen.argmax(axis=-1))) == sorted(map(tuple, data["y"]))
    labels = np.stack([np.asarray(y) for _, y in loaded.train])
    assert sorted(map(tuple, labels.argmax(axis=-1))) == sorted(map(tuple, data["y"]))
    bad = tmp_path / "bad"
    bad.mkdir()
    np.savez(bad / "shard.npz", x=data["x"], y=np.full((30, 6), 5))
    with pytest.raises(DataError) as caught:
        load_dataset(str(bad / "*.npz"), (6, 3), (6, 5), SPARSE)
    assert caught.value.code == "SL507" and "classes 0 to 4" in caught.value.render()


def test_a_sequence_output_beside_a_vector_output():
    """Labels per output: one id per position for the sequence output, one per example for
    the vector output."""
    rng = np.random.default_rng(5)
    arrays = {"x": rng.integers(0, 50, (20, 8)), "y_tokens": rng.integers(0, 50, (20, 8)),
              "y_kind": rng.integers(0, 3, 20)}
    data = load_dataset(arrays, {"input": (8,)}, {"tokens": (8, 50), "kind": 3}, SPARSE,
                        input_dtypes=IDS, validation_split=0)
    _, y = next(data.batches(20, training=True))
    assert y["tokens"].shape == (20, 8) and y["kind"].shape == (20,)
    arrays["y_tokens"] = arrays["y_kind"]
    with pytest.raises(DataError) as caught:
        load_dataset(arrays, {"input": (8,)}, {"tokens": (8, 50), "kind": 3}, SPARSE,
                     input_dtypes=IDS)
    assert caught.value.code == "SL507" and "`y_tokens`" in caught.value.render()


@pytest.mark.parametrize("backend", ["keras", "torch"])
def test_a_sequence_output_is_measured_by_accuracy_only(capsys, tmp_path, backend):
    pytest.importorskip(backend)
    from shapelang.runtime import run_main

    program = program_of(TAGGER, "tagger", backend)
    code = run_main(["train", "--data", "synthetic", "--synthetic-size", "10",
                     "--checkpoint-dir", str(tmp_path / "ck")],
                    build_model=program.build_model, model_name="tagger",
                    input_shape=program.INPUT_SHAPE, output_units=program.OUTPUT_UNITS,
                    defaults={"metrics": ["accuracy", "mae"]},
                    fingerprint=program.NETWORK_FINGERPRINT, backend=backend)
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error[SL512]: metric 'mae'"), err
