"""Tests of the training runtime that generated Keras programs import (shapelang/runtime/).

The models are written by hand in Keras here. The subprocess tests write the model code and an
import of the runtime, as the code generator does.
"""

import ast
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.keras

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from shapelang import runtime
from shapelang.runtime import data as runtime_data
from shapelang.runtime import strategies as runtime_strategies

RUNTIME_MODULES = sorted(Path(runtime.__file__).parent.glob("*.py"))
RUNTIME_SOURCE = "\n".join(path.read_text() for path in RUNTIME_MODULES)
FINAL = re.compile(r"^final: .*$", re.MULTILINE)


# --------------------------------------------------------------------------------------------
# Helpers


def dense_model(input_shape, units, *, hidden=16):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    x = keras.layers.Dense(hidden, activation="relu")(x)
    outputs = keras.layers.Dense(units, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs)


def conv_model(input_shape, units):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(units, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs)


def digits_convnet():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="digits")


def run(capsys, argv, *, build_model, input_shape, units, defaults=None, name="net"):
    """Call run_main in this process; return (exit code, stdout, stderr)."""
    code = runtime.run_main(
        [str(arg) for arg in argv],
        build_model=build_model,
        model_name=name,
        input_shape=input_shape,
        output_units=units,
        defaults=defaults or {},
    )
    out, err = capsys.readouterr()
    return code, out, err


def final_metrics(out):
    """The key=value pairs of the runtime's ``final:`` line."""
    line = FINAL.search(out).group(0)
    return dict(pair.split("=", 1) for pair in line.split()[1:])


def separable(n, features=6, classes=2, seed=0):
    """An easy data set: the class is decided by the first feature(s)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = np.argmax(x[:, :classes], axis=1)
    return x, y


def read_csv(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def program(path, model_code, call):
    """Write a program like a generated one: model code, the runtime verbatim, a main call."""
    path.write_text(
        textwrap.dedent(model_code)
        + "\n\nfrom shapelang.runtime import run_main\n\n"
        + textwrap.dedent(call)
    )
    return path


def subprocess_env():
    repo = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": repo}


# --------------------------------------------------------------------------------------------
# The source itself


@pytest.mark.parametrize("path", RUNTIME_MODULES, ids=lambda path: path.name)
def test_runtime_source_is_self_contained(path):
    """Each module imports the standard library, numpy and its siblings (relative, so that a
    copy beside a --standalone program works under another name): never the analysis."""
    tree = ast.parse(path.read_text())
    allowed = set(sys.stdlib_module_names) | {"numpy"}
    for node in tree.body:
        if isinstance(node, ast.Import):
            assert all(alias.name.split(".")[0] in allowed for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            sibling = node.level == 1 and (node.module or "").count(".") == 0
            assert sibling or (
                node.level == 0
                and node.module.split(".")[0] in allowed
                and node.module != "__future__"
            )
        elif isinstance(node, ast.If):
            assert "__main__" not in ast.unparse(node.test)
        else:
            assert isinstance(node, (ast.Expr, ast.Assign, ast.FunctionDef, ast.ClassDef))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names] + [getattr(node, "module", "") or ""]
            assert not any(name.startswith("shapelang") for name in names)


def test_runtime_public_names():
    public = set(runtime.__all__)
    assert {name for name in public if not name.startswith("_")} == {
        "DataError",
        "LoadedData",
        "load_dataset",
        "run_main",
    }


def test_module_docstring_documents_every_code():
    codes = set(re.findall(r"\bSL5\d\d\b", RUNTIME_SOURCE))
    table = set(re.findall(r"^(SL5\d\d) ", runtime.__doc__, re.MULTILINE))
    assert codes == table


# --------------------------------------------------------------------------------------------
# Commands


def test_summary_prints_parameter_count(capsys):
    code, out, _ = run(
        capsys, ["summary"], build_model=digits_convnet, input_shape=(8, 8, 1), units=10
    )
    assert code == 0
    assert "Total params: 28,714" in out
    assert "net: 28,714 parameters (28,714 trainable, 0 non-trainable)" in out


def test_digits_convnet_reaches_95_percent(capsys, tmp_path):
    start = time.perf_counter()
    code, out, err = run(
        capsys,
        ["train", "--data", "digits", "--checkpoint-dir", tmp_path, "--quiet"],
        build_model=digits_convnet,
        input_shape=(8, 8, 1),
        units=10,
        defaults={
            "optimizer": "adam",
            "optimizer_options": {"learning_rate": 0.002},
            "loss": "categorical_crossentropy",
            "batch": 32,
            "epochs": 12,
        },
    )
    seconds = time.perf_counter() - start
    assert code == 0, err
    metrics = final_metrics(out)
    print(f"digits: val_accuracy={metrics['val_accuracy']} in {seconds:.1f}s", file=sys.stderr)
    assert float(metrics["val_accuracy"]) >= 0.95
    assert seconds < 120
    assert "digits: 1437 training, 360 validation examples" in out
    assert [row["epoch"] for row in read_csv(tmp_path / "training-log.csv")] == [
        str(i) for i in range(12)
    ]
    assert max(p.name for p in tmp_path.glob("epoch-*.keras")) == "epoch-0012.keras"
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 12


# --------------------------------------------------------------------------------------------
# Data checked against the network: each problem is one diagnostic, exit code 1


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def _one_shard(directory, **arrays):
    _npz(directory / "s-0.npz", **arrays)
    return str(directory / "s-*.npz")


def _shards(tmp_path, *shapes):
    for i, shape in enumerate(shapes):
        _npz(tmp_path / f"part-{i}.npz", x=np.zeros(shape, np.float32), y=np.zeros(shape[0]))
    return str(tmp_path / "part-*.npz")


# (id, data spec maker, input shape, units, loss, code, texts the message must contain)
DATA_ERRORS = [
    (
        "transposed-images",
        lambda d: _npz(d / "a.npz", x=np.zeros((5, 12, 8, 3)), y=np.zeros(5, int)),
        (8, 12, 3), 4, "sparse_categorical_crossentropy",
        "SL503", ["(12, 8, 3)", "(8, 12, 3)", "transpose(0, 2, 1, 3)", "never reshape"],
    ),
    (
        "missing-channel-axis",
        lambda d: _npz(d / "a.npz", x=np.zeros((5, 8, 8)), y=np.zeros(5, int)),
        (8, 8, 1), 4, "sparse_categorical_crossentropy",
        "SL503", ["(8, 8)", "(8, 8, 1)", "x[..., np.newaxis]"],
    ),
    (
        "one-hot-width",
        lambda d: _npz(d / "a.npz", x=np.zeros((5, 6)), y=np.eye(3)[[0, 1, 2, 0, 1]]),
        (6,), 5, "categorical_crossentropy",
        "SL507", ["width 3", "5 output units"],
    ),
    (
        "class-index-out-of-range",
        lambda d: _npz(d / "a.npz", x=np.zeros((5, 6)), y=np.array([0, 1, 7, 2, 3])),
        (6,), 5, "categorical_crossentropy",
        "SL507", ["from 0 to 7", "5 output units", "make it 8 wide"],
    ),
    (
        "empty",
        lambda d: _npz(d / "a.npz", x=np.zeros((0, 6)), y=np.zeros(0, int)),
        (6,), 5, "sparse_categorical_crossentropy",
        "SL505", ["empty"],
    ),
    (
        "glob-matching-nothing",
        lambda d: str(d / "nothing-*.npz"),
        (6,), 5, "sparse_categorical_crossentropy",
        "SL501", ["no file matches", "nothing-*.npz"],
    ),
    (
        "missing-file",
        lambda d: str(d / "absent.npz"),
        (6,), 5, "sparse_categorical_crossentropy",
        "SL501", ["absent.npz", "not found"],
    ),
    (
        "string-labels",
        lambda d: _npz(d / "a.npz", x=np.zeros((3, 6)), y=np.array(["cat", "dog", "cat"])),
        (6,), 5, "sparse_categorical_crossentropy",
        "SL506", ["`y`", "not numeric"],
    ),
    (
        "string-examples-in-shard",
        lambda d: _one_shard(d, x=np.array([["a"] * 6] * 3), y=np.zeros(3, int)),
        (6,), 5, "sparse_categorical_crossentropy",
        "SL506", ["`x`", "not numeric"],
    ),
    (
        "no-y-array",
        lambda d: _npz(d / "a.npz", x=np.zeros((3, 6)), labels=np.zeros(3)),
        (6,), 5, "sparse_categorical_crossentropy",
        "SL502", ["no array 'y'", "'labels'"],
    ),
    (
        "lengths-differ",
        lambda d: _npz(d / "a.npz", x=np.zeros((4, 6)), y=np.zeros(3, int)),
        (6,), 5, "sparse_categorical_crossentropy",
        "SL504", ["4 examples", "3 labels"],
    ),
    (
        "shards-disagree",
        lambda d: _shards(d, (4, 6), (4, 7)),
        (6,), 5, "sparse_categorical_crossentropy",
        "SL508", ["(7,)", "(6,)", "part-1.npz"],
    ),
    (
        "shard-shape",
        lambda d: _shards(d, (4, 7), (4, 7)),
        (6,), 5, "sparse_categorical_crossentropy",
        "SL503", ["(7,)", "(6,)"],
    ),
    (
        "digits-for-another-input",
        lambda d: "digits",
        (28, 28, 1), 10, "sparse_categorical_crossentropy",
        "SL503", ["(8, 8, 1)", "(28, 28, 1)"],
    ),
    (
        "digits-for-another-class-count",
        lambda d: "digits",
        (64,), 29, "sparse_categorical_crossentropy",
        "SL507", ["10 classes", "29 output units"],
    ),
    (
        "unknown-loss",
        lambda d: "synthetic",
        (6,), 5, "hinge_of_doom",
        "SL509", ["hinge_of_doom"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    "make_spec, input_shape, units, loss, code, texts",
    [case[1:] for case in DATA_ERRORS],
    ids=[case[0] for case in DATA_ERRORS],
)
def test_data_problem_is_one_diagnostic(
    capsys, tmp_path, make_spec, input_shape, units, loss, code, texts
):
    spec = make_spec(tmp_path)
    exit_code, _, err = run(
        capsys,
        ["train", "--data", spec, "--checkpoint-dir", tmp_path / "ckpt", "--loss", loss],
        build_model=lambda: pytest.fail("the model must not be built for bad data"),
        input_shape=input_shape,
        units=units,
    )
    assert exit_code == 1
    assert err.startswith(f"error[{code}]: ")
    for text in texts:
        assert text in err
    assert "Traceback" not in err


def test_labels_are_encoded_for_the_loss(tmp_path):
    indices = _npz(tmp_path / "i.npz", x=np.zeros((10, 6)), y=np.arange(10) % 3)
    one_hot = _npz(tmp_path / "o.npz", x=np.zeros((10, 6)), y=np.eye(3)[np.arange(10) % 3])
    for spec, loss, shape, dtype in [
        (indices, "categorical_crossentropy", (3,), tf.float32),
        (indices, "sparse_categorical_crossentropy", (), tf.int32),
        (one_hot, "sparse_categorical_crossentropy", (), tf.int32),
        (one_hot, "categorical_crossentropy", (3,), tf.float32),
    ]:
        data = runtime.load_dataset(spec, (6,), 3, loss, validation_split=0.2)
        x_spec, y_spec = data.train.element_spec
        assert (tuple(x_spec.shape), x_spec.dtype) == ((6,), tf.float32)
        assert (tuple(y_spec.shape), y_spec.dtype) == (shape, dtype)
        assert (data.train_count, data.validation_count) == (8, 2)
    data = runtime.load_dataset(one_hot, (6,), 3, "sparse_categorical_crossentropy")
    labels = [int(y) for part in (data.train, data.validation) for _, y in part]
    assert sorted(labels) == sorted(np.arange(10) % 3)  # argmax of the one-hot rows


def test_validation_split_is_deterministic():
    def validation_labels(seed):
        data = runtime.load_dataset(
            "digits", (64,), 10, "sparse_categorical_crossentropy", seed=seed
        )
        return [int(y) for _, y in data.validation]

    assert validation_labels(0) == validation_labels(0)
    assert validation_labels(0) != validation_labels(1)


def test_fresh_run_refuses_existing_checkpoints(capsys, tmp_path):
    (tmp_path / "state.json").write_text(
        json.dumps({"model": "net", "epoch": 3, "checkpoint": "epoch-0003.keras"})
    )
    code, _, err = run(
        capsys,
        ["train", "--data", "synthetic", "--checkpoint-dir", tmp_path],
        build_model=lambda: dense_model((6,), 2),
        input_shape=(6,),
        units=2,
    )
    assert code == 1
    assert err.startswith("error[SL510]: ") and "epoch: 3" in err and "--resume" in err


# --------------------------------------------------------------------------------------------
# Training on the data sources


def test_npz_shards_are_streamed(capsys, tmp_path, monkeypatch):
    for i in range(3):
        x, y = separable(40, seed=i)
        _npz(tmp_path / f"part-{i:02d}.npz", x=x, y=np.eye(2, dtype=np.float32)[y])
    reads = []
    read_npz = runtime_data._read_npz
    monkeypatch.setattr(
        runtime_data, "_read_npz", lambda path, *a: reads.append(Path(path).name) or read_npz(path, *a)
    )
    code, out, err = run(
        capsys,
        ["train", "--data", tmp_path / "part-*.npz", "--epochs", 4, "--batch-size", 8,
         "--lr", 0.05, "--checkpoint-dir", tmp_path / "ckpt", "-q"],
        build_model=lambda: dense_model((6,), 2),
        input_shape=(6,),
        units=2,
        defaults={"loss": "sparse_categorical_crossentropy", "optimizer": "sgd"},
    )  # fmt: skip
    assert code == 0, err
    assert "3 shards" in out and "96 training, 24 validation examples" in out
    assert float(final_metrics(out)["val_accuracy"]) >= 0.8
    # whole shards are read one at a time, each once per pass (training and validation)
    shards = ["part-00.npz", "part-01.npz", "part-02.npz"]
    assert len(reads) == 3 * (4 + 4)
    assert all(sorted(reads[i : i + 3]) == shards for i in range(0, len(reads), 3))
    assert len(read_csv(tmp_path / "ckpt" / "training-log.csv")) == 4


def test_image_directory(capsys, tmp_path):
    rng = np.random.default_rng(0)
    images = tmp_path / "images"
    for label, level in (("dark", 40), ("light", 210)):
        (images / label).mkdir(parents=True)
        for i in range(6):  # 10x14 images for an 8x8 input: resized
            pixels = np.clip(rng.normal(level, 20, (10, 14, 3)), 0, 255).astype(np.uint8)
            (images / label / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    common = ["train", "--data", images, "--epochs", 1, "-q"]
    code, out, err = run(
        capsys,
        [*common, "--checkpoint-dir", tmp_path / "ckpt"],
        build_model=lambda: conv_model((8, 8, 3), 2),
        input_shape=(8, 8, 3),
        units=2,
        defaults={"loss": "categorical_crossentropy"},
    )
    assert code == 0, err
    assert "10 training, 2 validation examples" in out
    code, _, err = run(
        capsys,
        [*common, "--checkpoint-dir", tmp_path / "ckpt3"],
        build_model=lambda: conv_model((8, 8, 3), 3),
        input_shape=(8, 8, 3),
        units=3,
    )
    assert code == 1 and err.startswith("error[SL507]: ") and "2 class folders" in err


def test_grid_writes_one_row_per_combination(capsys, tmp_path):
    x, y = separable(200)
    data = _npz(tmp_path / "data.npz", x=x, y=y)
    results = tmp_path / "grid.csv"
    code, out, err = run(
        capsys,
        ["train", "--data", data, "--grid", "batch=16,32", "--grid", "lr=0.05,0.001",
         "--epochs", 2, "--results", results, "--checkpoint-dir", tmp_path / "ckpt", "-q"],
        build_model=lambda: dense_model((6,), 2),
        input_shape=(6,),
        units=2,
        defaults={"optimizer": "sgd", "optimizer_options": {"momentum": 0.9}},
    )  # fmt: skip
    assert code == 0, err
    rows = read_csv(results)
    assert [(row["batch"], float(row["lr"])) for row in rows] == [
        ("16", 0.05), ("16", 0.001), ("32", 0.05), ("32", 0.001)
    ]  # fmt: skip
    assert [row["best"] for row in rows].count("*") == 1
    best = next(row for row in rows if row["best"] == "*")
    assert float(best["val_accuracy"]) == max(float(row["val_accuracy"]) for row in rows)
    for row in rows:
        assert float(row["seconds"]) > 0 and float(row["examples_per_second"]) > 0
        assert row["train_loss"] and row["val_loss"] and row["train_accuracy"]
    table = [line for line in out.splitlines() if line.startswith("* ")]
    assert len(table) == 2 and table[1].startswith("* best: batch=")
    assert len(list((tmp_path / "ckpt" / "grid-logs").glob("*.csv"))) == 4


def test_grid_rejects_resume(capsys, tmp_path):
    code, _, err = run(
        capsys,
        ["train", "--data", "synthetic", "--grid", "batch=8,16", "--resume"],
        build_model=lambda: dense_model((6,), 2),
        input_shape=(6,),
        units=2,
    )
    assert code == 1 and err.startswith("error[SL509]: ")


@pytest.mark.parametrize("flag", ["--mixed-precision", "--jit"])
def test_acceleration_flags(capsys, tmp_path, flag):
    built = []

    def build_model():
        built.append(conv_model((8, 8, 1), 3))
        return built[-1]

    code, out, err = run(
        capsys,
        ["train", "--data", "synthetic", "--synthetic-size", 64, "--epochs", 1, flag,
         "--checkpoint-dir", tmp_path, "-q"],
        build_model=build_model,
        input_shape=(8, 8, 1),
        units=3,
    )  # fmt: skip
    assert code == 0, err
    assert "val_accuracy" in final_metrics(out)
    (model,) = built
    if flag == "--jit":
        assert model.jit_compile is True
    else:
        assert model.layers[1].dtype_policy.name == "mixed_float16"
        assert model.layers[-1].dtype_policy.name == "float32"
        assert keras.mixed_precision.global_policy().name == "float32"  # restored


# --------------------------------------------------------------------------------------------
# In fresh processes: SIGKILL and --resume; two logical CPUs under MirroredStrategy


SLOW_MODEL = """
    import sys

    import keras


    def build_model():
        inputs = keras.Input((32, 32, 3))
        x = keras.layers.Conv2D(32, 3, activation="relu")(inputs)
        x = keras.layers.Conv2D(32, 3, activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(4, activation="softmax")(x)
        return keras.Model(inputs, outputs)
"""

MAIN_CALL = """
    sys.exit(run_main(sys.argv[1:], build_model=build_model, model_name="slow",
                      input_shape=(32, 32, 3), output_units=4,
                      defaults={"epochs": 30, "batch": 32, "optimizer": "sgd"}))
"""


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    script = program(tmp_path / "slow.py", SLOW_MODEL, MAIN_CALL)
    checkpoints = tmp_path / "ckpt"
    argv = [sys.executable, str(script), "train", "--data", "synthetic", "--synthetic-size",
            "640", "--checkpoint-dir", str(checkpoints), "--verbose", "2", "--keep", "all"]  # fmt: skip
    first = subprocess.Popen(argv, env=subprocess_env(), stdout=subprocess.PIPE, text=True)
    state = checkpoints / "state.json"
    deadline = time.monotonic() + 90
    while not state.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # well inside the next epoch
    first.send_signal(signal.SIGKILL)
    first_out = first.communicate()[0]
    assert first.returncode == -signal.SIGKILL, first_out
    done = json.loads(state.read_text())["epoch"]
    assert 1 <= done < 30
    rows_before = read_csv(checkpoints / "training-log.csv")
    assert len(rows_before) in (done, done + 1)  # a row may precede its checkpoint

    second = subprocess.run(
        [*argv, "--resume", "--epochs", str(done + 1)],
        env=subprocess_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert f"resuming from epoch {done} " in second.stdout
    assert f"Epoch {done + 1}/{done + 1}" in second.stdout
    assert "Epoch 1/" not in second.stdout
    epochs = [int(row["epoch"]) for row in read_csv(checkpoints / "training-log.csv")]
    assert epochs == list(range(done + 1))
    assert json.loads(state.read_text())["epoch"] == done + 1
    names = sorted(path.name for path in checkpoints.iterdir() if path.suffix == ".keras")
    assert names == [f"epoch-{i:04d}.keras" for i in range(1, done + 2)]
    # the optimizer state came back too: 16 steps an epoch (512 examples, batch 32)
    resumed = keras.saving.load_model(checkpoints / names[-1])
    assert int(resumed.optimizer.iterations.numpy()) == 16 * (done + 1)


MIRRORED_MODEL = """
    import sys

    import tensorflow as tf

    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras


    def build_model():
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
        x = keras.layers.Flatten()(x)
        outputs = keras.layers.Dense(4, activation="softmax")(x)
        return keras.Model(inputs, outputs)
"""


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    call = MAIN_CALL.replace("(32, 32, 3)", "(8, 8, 1)")
    script = program(tmp_path / "mirrored.py", MIRRORED_MODEL, call)
    result = subprocess.run(
        [sys.executable, str(script), "train", "--data", "synthetic", "--synthetic-size", "128",
         "--epochs", "1", "--strategy", "mirrored", "--checkpoint-dir", str(tmp_path / "ckpt"),
         "--verbose", "2"],
        env=subprocess_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "strategy: mirrored, 2 replicas" in result.stdout
    assert "epochs=1 " in FINAL.search(result.stdout).group(0)
    assert (tmp_path / "ckpt" / "epoch-0001.keras").is_file()


def test_multiworker_strategy_with_one_worker(tmp_path):
    model = MIRRORED_MODEL.split("    (cpu,)")[0] + MIRRORED_MODEL.split("* 2)")[1]
    call = MAIN_CALL.replace("(32, 32, 3)", "(8, 8, 1)")
    script = program(tmp_path / "multiworker.py", model, call)
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    config = {"cluster": {"worker": [f"localhost:{port}"]}, "task": {"type": "worker", "index": 0}}
    result = subprocess.run(
        [sys.executable, str(script), "train", "--data", "synthetic", "--synthetic-size", "64",
         "--epochs", "1", "--strategy", "multiworker", "--checkpoint-dir", str(tmp_path / "ckpt"),
         "--verbose", "2"],
        env={**subprocess_env(), "TF_CONFIG": json.dumps(config)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "strategy: multiworker, 1 replicas" in result.stdout
    assert (tmp_path / "ckpt" / "epoch-0001.keras").is_file()  # worker 0 is the chief


@pytest.mark.parametrize(
    "config, subdirectory",
    [
        (None, None),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, None),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}},
         "worker-1"),
        ({"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "chief"}}, None),
        ({"cluster": {"chief": ["a:1"], "worker": ["b:1"]},
          "task": {"type": "worker", "index": 0}}, "worker-0"),
    ],
)  # fmt: skip
def test_only_the_chief_writes_to_the_checkpoint_directory(monkeypatch, config, subdirectory):
    if config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    base = Path("ckpt")
    expected = base / subdirectory if subdirectory else base
    assert runtime_strategies._worker_directory(base, "multiworker") == expected
    assert runtime_strategies._worker_directory(base, "mirrored") == base
