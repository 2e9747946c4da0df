"""Tests of the training runtime's PyTorch side (shapelang/runtime/torch_*.py and the
framework-neutral data).

The models are small `nn.Module`s written by hand here, following the contract of the generated
PyTorch program (channels-first input, probabilities out unless `from_logits`), driven through
`run_main(..., backend="torch")` as a generated program drives it. Expected numbers come from
outside the code under test: the data's own sizes, hand counts of parameters, PyTorch's own
modules.
"""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
PIL_Image = pytest.importorskip("PIL.Image")

from shapelang import runtime
from shapelang.runtime import data as runtime_data

ROOT = Path(__file__).resolve().parents[1]
FINAL = re.compile(r"^final: .*$", re.MULTILINE)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread for these small models: on a loaded two-core machine, PyTorch's
    OpenMP threads wait for each other ten times longer than they compute."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------------
# Models (channels first, as the generated program's)


class Dense(nn.Module):
    """(N, features) -> (N, units) probabilities (or logits)."""

    def __init__(self, features, units, hidden=16, logits=False):
        super().__init__()
        self.layers = nn.ModuleDict(
            {"hidden": nn.Linear(features, hidden), "out": nn.Linear(hidden, units)}
        )
        self.logits = logits

    def forward(self, x):
        x = self.layers["out"](torch.relu(self.layers["hidden"](x)))
        return x if self.logits else torch.softmax(x, dim=1)


class Conv(nn.Module):
    """(N, C, 8, 8) -> (N, units); refuses any other layout, so that a test fails when the
    runtime hands it channels-last examples."""

    def __init__(self, channels, units):
        super().__init__()
        self.channels = channels
        self.layers = nn.ModuleDict(
            {"conv": nn.Conv2d(channels, 8, 3, padding=1), "out": nn.Linear(8, units)}
        )

    def forward(self, x):
        assert tuple(x.shape[1:]) == (self.channels, 8, 8), x.shape
        x = torch.relu(self.layers["conv"](x)).mean(dim=(2, 3))
        return torch.softmax(self.layers["out"](x), dim=1)


class Digits(nn.Module):
    """examples/digits.net written by hand: 43,050 parameters."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleDict(
            {
                "conv1": nn.Conv2d(1, 32, 3, padding=1),
                "conv2": nn.Conv2d(32, 32, 3, padding=1),
                "pool": nn.MaxPool2d(2),
                "hidden": nn.Linear(512, 64),
                "dropout": nn.Dropout(0.25),
                "out": nn.Linear(64, 10),
            }
        )

    def forward(self, x):
        layers = self.layers
        x = layers["pool"](torch.relu(layers["conv2"](torch.relu(layers["conv1"](x)))))
        x = x.permute(0, 2, 3, 1).flatten(1)  # the analysis's channels-last flatten
        x = layers["dropout"](torch.relu(layers["hidden"](x)))
        return torch.softmax(layers["out"](x), dim=1)


class Normalised(nn.Module):
    """A convolution and a batch norm: 8*3*3*3 + 8 = 224 and 2*8 = 16 trainable; 2*8 = 16
    non-trainable (running mean and variance; num_batches_tracked is no parameter)."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleDict({"conv": nn.Conv2d(3, 8, 3), "norm": nn.BatchNorm2d(8)})

    def forward(self, x):
        return self.layers["norm"](self.layers["conv"](x))


DIGITS_DEFAULTS = {
    "optimizer": "adam",
    "optimizer_options": {"learning_rate": 2e-3},
    "loss": "categorical_crossentropy",
    "batch": 32,
    "epochs": 15,
    "metrics": ["accuracy"],
    "validation_split": 0.2,
}  # examples/digits.net's train: block


def run(capsys, argv, *, build_model, input_shape, units, defaults=None, name="net", **extra):
    """Call run_main with backend="torch" in this process; return (exit code, out, err)."""
    code = runtime.run_main(
        [str(arg) for arg in argv],
        build_model=build_model,
        model_name=name,
        input_shape=input_shape,
        output_units=units,
        defaults=defaults or {},
        backend="torch",
        **extra,
    )
    out, err = capsys.readouterr()
    return code, out, err


def final_metrics(out):
    line = FINAL.search(out).group(0)
    return dict(pair.split("=", 1) for pair in line.split()[1:])


def separable(n, features=6, classes=2, seed=0):
    """An easy data set: the class is decided by the first feature(s)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    return x, np.argmax(x[:, :classes], axis=1)


def npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def read_csv(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def image_directory(directory, classes=("dark", "light"), count=6, size=(10, 14)):
    """PNG images (written with Pillow) in class folders, dark and light: easy to tell."""
    rng = np.random.default_rng(0)
    for index, label in enumerate(classes):
        (directory / label).mkdir(parents=True)
        level = 40 + 170 * index / max(1, len(classes) - 1)
        for i in range(count):
            pixels = np.clip(rng.normal(level, 20, (*size, 3)), 0, 255).astype(np.uint8)
            PIL_Image.fromarray(pixels).save(directory / label / f"{i}.png")
    return directory


def environment():
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


# --------------------------------------------------------------------------------------------
# The runtime stays light; the data is framework-neutral


def test_importing_the_runtime_imports_no_framework():
    script = (
        "import sys, shapelang.runtime\n"
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=environment(), check=True).stdout  # fmt: skip
    assert out.strip() == "[]"


WITHOUT_TENSORFLOW = """
import sys
sys.modules["tensorflow"] = None  # `import tensorflow` now fails, as where it is not installed
sys.modules["keras"] = None
from pathlib import Path
import numpy as np
from shapelang.runtime import load_dataset

work = Path(sys.argv[1])
for spec, shape, loss in [
    (str(work / "data.npz"), (6,), "sparse_categorical_crossentropy"),
    (str(work / "part-*.npz"), (6,), "categorical_crossentropy"),
    (str(work / "images"), (8, 8, 3), "sparse_categorical_crossentropy"),
    ("digits", (8, 8, 1), "categorical_crossentropy"),
    ("synthetic", (8, 8, 3), "sparse_categorical_crossentropy"),
]:
    data = load_dataset(spec, shape, 2 if "digits" not in spec else 10, loss, seed=3,
                        synthetic_size=40)
    for training in (True, False):
        batches = list(data.batches(16, 0, training=training))
        xs = np.concatenate([x for x, _ in batches])
        ys = np.concatenate([y for _, y in batches])
        print("batches:", training, len(xs), xs.shape[1:], xs.dtype, ys.shape[1:],
              ys.dtype, max(len(x) for x, _ in batches))
import torch
from shapelang.runtime import run_main


def build_model():
    return torch.nn.Sequential(torch.nn.Linear(6, 2), torch.nn.Softmax(dim=1))


code = run_main(["train", "--data", str(work / "data.npz"), "--epochs", "1", "-q",
                 "--checkpoint-dir", str(work / "ckpt")], build_model=build_model,
                model_name="net", input_shape=(6,), output_units=2, defaults={},
                backend="torch")
assert code == 0 and (work / "ckpt" / "epoch-0001.pt").exists()
assert "tensorflow" not in [m for m, v in sys.modules.items() if v is not None]
"""


def test_data_sources_read_and_train_without_tensorflow(tmp_path):
    x, y = separable(50)
    npz(tmp_path / "data.npz", x=x, y=y)
    for i in range(3):  # 3 shards of 20: 16 + 4 held out each
        x, y = separable(20, seed=i)
        npz(tmp_path / f"part-{i}.npz", x=x, y=y)
    image_directory(tmp_path / "images", count=10)
    script = tmp_path / "no_tf.py"
    script.write_text(WITHOUT_TENSORFLOW)
    result = subprocess.run([sys.executable, script, tmp_path], capture_output=True, text=True,
                            env=environment(), timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line.split(maxsplit=1) for line in result.stdout.splitlines()
            if line.startswith("batches:")]  # fmt: skip
    # held out: ceil(0.2 n) of an array or of each shard; int(0.2 n) of an image directory
    assert [row[1] for row in rows] == [
        "True 40 (6,) float32 () int32 16",
        "False 10 (6,) float32 () int32 10",
        "True 48 (6,) float32 (2,) float32 16",
        "False 12 (6,) float32 (2,) float32 12",
        "True 16 (8, 8, 3) float32 () int32 16",
        "False 4 (8, 8, 3) float32 () int32 4",
        "True 1437 (8, 8, 1) float32 (10,) float32 16",
        "False 360 (8, 8, 1) float32 (10,) float32 16",
        "True 32 (8, 8, 3) float32 () int32 16",
        "False 8 (8, 8, 3) float32 () int32 8",
    ]


def test_batches_are_shuffled_per_epoch_from_the_seed_and_hold_every_example():
    x = np.arange(100, dtype=np.float32).reshape(100, 1)
    y = np.arange(100) % 2
    split = runtime_data._from_arrays("test", x, y, 0.2, 7)

    def order(epoch):
        return np.concatenate([b[:, 0] for b, _ in split.batches(32, epoch, training=True)])

    assert np.array_equal(order(0), order(0)) and not np.array_equal(order(0), order(1))
    held_out = np.concatenate([b[:, 0] for b, _ in split.batches(32, 0, training=False)])
    assert sorted(np.concatenate([order(1), held_out])) == list(range(100))


@pytest.mark.parametrize("source", ["npz", "shards", "images", "synthetic"])
def test_each_process_reads_its_share_of_every_global_batch(tmp_path, source):
    x, y = separable(50)
    npz(tmp_path / "data.npz", x=x, y=y)
    for i in range(3):
        npz(tmp_path / f"part-{i}.npz", x=x[i * 15 : i * 15 + 15], y=y[i * 15 : i * 15 + 15])
    image_directory(tmp_path / "images", count=12)
    spec, shape = {"npz": (tmp_path / "data.npz", (6,)), "shards": (tmp_path / "part-*.npz", (6,)),
                   "images": (tmp_path / "images", (8, 8, 3)),
                   "synthetic": ("synthetic", (4, 4, 2))}[source]  # fmt: skip
    data = runtime.load_dataset(spec, shape, 2, "sparse_categorical_crossentropy",
                                synthetic_size=30)  # fmt: skip
    for training in (True, False):
        whole = list(data.batches(7, 2, training=training))
        shares = [list(data.batches(7, 2, training=training, share=(r, 3))) for r in range(3)]
        assert all(len(batches) == len(whole) for batches in shares)
        for number, (x_all, y_all) in enumerate(whole):
            parts = [batches[number] for batches in shares]
            sizes = [len(part_x) for part_x, _ in parts]
            assert sum(sizes) == len(x_all) and max(sizes) - min(sizes) <= 1
            assert np.array_equal(np.concatenate([part_x for part_x, _ in parts]), x_all)
            assert np.array_equal(np.concatenate([part_y for _, part_y in parts]), y_all)


def test_images_are_decoded_scaled_and_resized_like_the_input(tmp_path):
    images = tmp_path / "images"
    (images / "a").mkdir(parents=True)
    (images / "b").mkdir()
    PIL_Image.new("RGB", (20, 10), (255, 0, 51)).save(images / "a" / "red.png")
    PIL_Image.new("L", (3, 3), 102).save(images / "b" / "gray.png")
    data = runtime.load_dataset(images, (4, 6, 3), 2, "sparse_categorical_crossentropy",
                                validation_split=0)  # fmt: skip
    ((x, y),) = list(data.batches(8, 0, training=True))
    by_label = {int(label): example for example, label in zip(x, y)}
    assert x.shape == (2, 4, 6, 3) and x.dtype == np.float32
    assert np.allclose(by_label[0], [1.0, 0.0, 0.2]) and np.allclose(by_label[1], 0.4)
    gray = runtime.load_dataset(images, (4, 6, 1), 2, "sparse_categorical_crossentropy",
                                validation_split=0)  # fmt: skip
    assert next(iter(gray.batches(8, 0, training=True)))[0].shape == (2, 4, 6, 1)


BESIDE_TENSORFLOW = """
import sys

import tensorflow  # loaded first, as in a test session that ran the Keras tests before
import torch

from shapelang.runtime import run_main

code = run_main(["train", "--data", "synthetic", "--synthetic-size", "64", "--epochs", "1", "-q",
                 "--checkpoint-dir", sys.argv[1]], model_name="net", input_shape=(6,),
                build_model=lambda: torch.nn.Sequential(torch.nn.Linear(6, 2), torch.nn.Softmax(1)),
                output_units=2, defaults={}, backend="torch")
print("exit", code)
"""


def test_training_in_a_process_that_loaded_tensorflow(tmp_path):
    """Triton (imported by torch._dynamo, which building an optimizer imports) crashes beside
    TensorFlow; the runtime keeps it out there."""
    pytest.importorskip("tensorflow")
    script = tmp_path / "beside.py"
    script.write_text(BESIDE_TENSORFLOW)
    result = subprocess.run([sys.executable, script, tmp_path / "ckpt"], capture_output=True,
                            text=True, env={**environment(), "TF_CPP_MIN_LOG_LEVEL": "2"},
                            timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0 and "exit 0" in result.stdout, result.stderr[-2000:]


# --------------------------------------------------------------------------------------------
# summary


def test_summary_prints_layers_in_both_orders_and_the_parameter_count(capsys):
    code, out, err = run(capsys, ["summary"], build_model=Digits, input_shape=(8, 8, 1),
                         units=10, name="digits")  # fmt: skip
    assert code == 0, err
    assert re.search(r"layers\.conv2\s+Conv2d\s+\(32, 8, 8\)\s+\(8, 8, 32\)\s+9,248", out)
    assert re.search(r"layers\.pool\s+MaxPool2d\s+\(32, 4, 4\)\s+\(4, 4, 32\)\s+0", out)
    # 320 + 9,248 + 32,832 + 650, examples/digits.net's `expect params`
    assert "digits: 43,050 parameters (43,050 trainable, 0 non-trainable)" in out


def test_summary_counts_running_statistics_as_non_trainable(capsys):
    code, out, _ = run(capsys, ["summary"], build_model=Normalised, input_shape=(8, 8, 3),
                       units=8)  # fmt: skip
    assert code == 0
    assert "net: 256 parameters (240 trainable, 16 non-trainable)" in out
    assert re.search(r"layers\.norm\s+BatchNorm2d\s+\(8, 6, 6\)\s+\(6, 6, 8\)\s+32", out)


# --------------------------------------------------------------------------------------------
# Training on every source


def test_digits_reach_95_percent_with_the_digits_defaults(capsys, tmp_path):
    code, out, err = run(capsys, ["train", "--data", "digits", "--checkpoint-dir", tmp_path],
                         build_model=Digits, input_shape=(8, 8, 1), units=10,
                         defaults=DIGITS_DEFAULTS, name="digits")  # fmt: skip
    assert code == 0, err
    assert "data: digits: 1437 training, 360 validation examples" in out
    assert float(final_metrics(out)["val_accuracy"]) >= 0.95
    rows = read_csv(tmp_path / "training-log.csv")
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [int(row["epoch"]) for row in rows] == list(range(15))
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["backend"] == "torch" and state["epoch"] == 15
    kept = sorted(path.name for path in tmp_path.glob("*.pt"))
    assert kept == sorted({"epoch-0015.pt", state["best"]["checkpoint"]})
    saved = torch.load(tmp_path / "epoch-0015.pt", weights_only=True)
    assert saved["epoch"] == 15 and saved["parameters"] == 43_050
    assert saved["optimizer"]["state"][0]["step"] == 15 * 45  # ceil(1437 / 32) steps an epoch


def test_npz_with_logits_and_a_sparse_loss(capsys, tmp_path):
    x, y = separable(200)
    data = npz(tmp_path / "data.npz", x=x, y=y)
    code, out, err = run(capsys, ["train", "--data", data, "--epochs", 10, "--lr", 0.2, "-q",
                                  "--checkpoint-dir", tmp_path / "ckpt"],
                         build_model=lambda: Dense(6, 2, logits=True), input_shape=(6,),
                         units=2, from_logits=True, defaults={"optimizer": "sgd"})  # fmt: skip
    assert code == 0, err
    assert "160 training, 40 validation examples" in out
    assert float(final_metrics(out)["val_accuracy"]) >= 0.9


def test_npz_shards_are_streamed_one_at_a_time(capsys, tmp_path, monkeypatch):
    for i in range(3):
        x, y = separable(40, seed=i)
        npz(tmp_path / f"part-{i:02d}.npz", x=x, y=np.eye(2, dtype=np.float32)[y])
    reads = []
    read_npz = runtime_data._read_npz
    monkeypatch.setattr(runtime_data, "_read_npz",
                        lambda path, *a: reads.append(Path(path).name) or read_npz(path, *a))  # fmt: skip
    code, out, err = run(capsys, ["train", "--data", tmp_path / "part-*.npz", "--epochs", 4,
                                  "--batch-size", 8, "--lr", 0.2, "--checkpoint-dir",
                                  tmp_path / "ckpt", "-q"],
                         build_model=lambda: Dense(6, 2), input_shape=(6,), units=2,
                         defaults={"loss": "categorical_crossentropy", "optimizer": "sgd"})  # fmt: skip
    assert code == 0, err
    assert "3 shards" in out and "96 training, 24 validation examples" in out
    assert float(final_metrics(out)["val_accuracy"]) >= 0.8
    shards = ["part-00.npz", "part-01.npz", "part-02.npz"]
    assert len(reads) == 3 * (4 + 4)  # each shard once per pass, training and validation
    assert all(sorted(reads[i : i + 3]) == shards for i in range(0, len(reads), 3))


def test_image_directory_trains_channels_first(capsys, tmp_path):
    images = image_directory(tmp_path / "images")
    code, out, err = run(capsys, ["train", "--data", images, "--epochs", 2, "-q",
                                  "--checkpoint-dir", tmp_path / "ckpt"],
                         build_model=lambda: Conv(3, 2), input_shape=(8, 8, 3), units=2,
                         defaults={"loss": "categorical_crossentropy"})  # fmt: skip
    assert code == 0, err
    assert "10 training, 2 validation examples" in out


def test_synthetic_binary_output(capsys, tmp_path):
    class Binary(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleDict({"out": nn.Linear(6, 1)})

        def forward(self, x):
            return torch.sigmoid(self.layers["out"](x))

    code, out, err = run(capsys, ["train", "--data", "synthetic", "--synthetic-size", 64,
                                  "--epochs", 1, "-q", "--checkpoint-dir", tmp_path],
                         build_model=Binary, input_shape=(6,), units=1,
                         defaults={"loss": "binary_crossentropy"})  # fmt: skip
    assert code == 0, err
    metrics = final_metrics(out)
    assert "51 training, 13 validation examples" in out
    assert 0 <= float(metrics["accuracy"]) <= 1 and float(metrics["loss"]) > 0


def test_keras_losses_on_probabilities_and_logits():
    """The loss of one batch against Keras's formulas, written out here with numpy."""
    from shapelang.runtime.settings import _Settings
    from shapelang.runtime.torch_settings import _per_example_loss, _recipe

    probabilities = np.array([[0.7, 0.3, 0.0], [0.2, 0.2, 0.6]], dtype=np.float32)
    one_hot = np.array([[0, 0, 1], [0, 0, 1]], dtype=np.float32)
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)

    def loss(name, output, labels, logits=False):
        settings = _Settings("adam", {}, name, [], 32, 1, 0.2)
        recipe = _recipe(settings, logits)
        return _per_example_loss(recipe, torch.tensor(output), torch.tensor(labels)).numpy()

    expected = -np.log(clipped[:, 2] / clipped.sum(axis=1))  # TF: log-softmax of log p
    assert np.allclose(loss("sparse_categorical_crossentropy", probabilities, np.array([2, 2])),
                       expected, rtol=1e-5)  # fmt: skip
    assert np.allclose(loss("categorical_crossentropy", probabilities, one_hot),
                       -np.log(clipped[:, 2]), rtol=1e-5)  # fmt: skip
    logits = np.log(probabilities + 0.1)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(loss("categorical_crossentropy", logits, one_hot, logits=True),
                       -np.log(softmax[:, 2]), rtol=1e-5)  # fmt: skip
    p = np.array([[0.9], [0.0]], dtype=np.float32)
    t = np.array([[1.0], [0.0]], dtype=np.float32)
    q = np.clip(p, 1e-7, 1 - 1e-7)
    bce = -(t * np.log(q) + (1 - t) * np.log(1 - q))[:, 0]
    assert np.allclose(loss("binary_crossentropy", p, t), bce, rtol=1e-5)
    assert np.allclose(loss("mse", probabilities, one_hot),
                       ((probabilities - one_hot) ** 2).mean(axis=1))  # fmt: skip


# --------------------------------------------------------------------------------------------
# Every SL5xx check, reached through the PyTorch path


def _bad_sources(tmp_path):
    x, y = separable(20)
    nan = x.copy()
    nan[3, 2] = np.nan
    return {
        "missing": tmp_path / "nothing.npz",
        "damaged": tmp_path / "damaged.npz",
        "transposed": npz(tmp_path / "t.npz", x=np.zeros((20, 2, 3)), y=y),
        "short": npz(tmp_path / "s.npz", x=x, y=y[:10]),
        "empty": npz(tmp_path / "e.npz", x=np.zeros((0, 6)), y=np.zeros(0)),
        "nan": npz(tmp_path / "n.npz", x=nan, y=y),
        "labels": npz(tmp_path / "l.npz", x=x, y=y + 5),
    }


@pytest.mark.parametrize(
    "source, argv, code, text",
    [
        ("missing", [], "SL501", "not found"),
        ("damaged", [], "SL502", "cannot read"),
        ("transposed", [], "SL503", "examples have shape (2, 3)"),
        ("short", [], "SL504", "20 examples but `y` has 10"),
        ("empty", [], "SL505", "empty"),
        ("nan", [], "SL506", "NaN or infinite"),
        ("labels", [], "SL507", "class indices range from 5 to 6"),
        ("shards", [], "SL508", "shards disagree"),
        (None, ["--optimizer", "lion"], "SL509", "optimizer 'lion'"),
        (None, ["--strategy", "mirrored"], "SL509", "torchrun"),
        (None, ["--loss", "huber"], "SL509", "unknown loss 'huber'"),
        (None, ["--lr", "nan"], "SL509", "learning rate"),
        ("existing", [], "SL510", "already holds checkpoints"),
        (None, ["--lr", "1e30", "--optimizer", "sgd"], "SL511", "the loss became"),
    ],
)
def test_each_data_and_setting_problem_is_one_diagnostic(capsys, tmp_path, source, argv, code,
                                                         text):  # fmt: skip
    sources = _bad_sources(tmp_path)
    sources["damaged"].write_bytes(b"PK\x03\x04 not a zip archive")
    npz(tmp_path / "part-0.npz", x=np.zeros((4, 6), np.float32), y=np.zeros(4))
    npz(tmp_path / "part-1.npz", x=np.zeros((4, 6), np.float64), y=np.zeros(4))
    sources["shards"] = tmp_path / "part-*.npz"
    x, y = separable(100)
    sources[None] = npz(tmp_path / "good.npz", x=x * 1e3, y=y)
    checkpoints = tmp_path / "ckpt"
    if source == "existing":
        checkpoints.mkdir()
        (checkpoints / "epoch-0002.pt").write_bytes(b"")
        source = None
    exit_code, out, err = run(capsys, ["train", "--data", sources[source], "--epochs", 2,
                                       "--checkpoint-dir", checkpoints, "-q", *argv],
                              build_model=lambda: Dense(6, 2), input_shape=(6,), units=2)  # fmt: skip
    assert exit_code == 1, (out, err)
    assert err.startswith(f"error[{code}]: ") and text in err, err
    assert "Traceback" not in err and "final:" not in out


def test_an_undecodable_image_is_named_when_it_is_read(capsys, tmp_path):
    images = image_directory(tmp_path / "images", count=4)
    good = (images / "dark" / "0.png").read_bytes()
    (images / "light" / "broken.png").write_bytes(good[: len(good) // 2])
    code, out, err = run(capsys, ["train", "--data", images, "--epochs", 1, "-q",
                                  "--validation-split", 0, "--checkpoint-dir", tmp_path / "c"],
                         build_model=lambda: Conv(3, 2), input_shape=(8, 8, 3), units=2)  # fmt: skip
    assert code == 1 and "data:" in out
    assert err.startswith(f"error[SL502]: {images / 'light' / 'broken.png'} is corrupt"), err
    assert "Traceback" not in err


def test_a_diverged_epoch_is_not_checkpointed(capsys, tmp_path):
    x, y = separable(100)
    data = npz(tmp_path / "data.npz", x=x * 1e3, y=y)
    code, _, err = run(capsys, ["train", "--data", data, "--lr", "1e30", "--optimizer", "sgd",
                                "--checkpoint-dir", tmp_path / "ckpt", "-q"],
                       build_model=lambda: Dense(6, 2), input_shape=(6,), units=2)  # fmt: skip
    assert code == 1 and "epoch 1, batch" in err and "none saved" in err
    assert not list((tmp_path / "ckpt").glob("*.pt"))


# --------------------------------------------------------------------------------------------
# Checkpoints: resume, other networks, the Keras program's


FINGERPRINT = [  # Dense(6, 2): 6 * 16 + 16 and 16 * 2 + 2 parameters
    ["in", "input", [6], 0, 0, [], {}],
    ["hidden", "dense", [16], 112, 0, ["in"], {}],
    ["out", "dense", [2], 34, 0, ["hidden"], {}],
]


def test_resume_continues_and_refuses_another_network_or_backend(capsys, tmp_path):
    x, y = separable(100)
    data = npz(tmp_path / "data.npz", x=x, y=y)
    common = ["train", "--data", data, "--checkpoint-dir", tmp_path / "ckpt", "-q"]

    def train(argv, fingerprint=FINGERPRINT, hidden=16):
        return run(capsys, [*common, *argv], build_model=lambda: Dense(6, 2, hidden=hidden),
                   input_shape=(6,), units=2, fingerprint=fingerprint)  # fmt: skip

    assert train(["--epochs", 2])[0] == 0
    code, out, err = train(["--epochs", 3, "--resume"])
    assert code == 0, err
    assert "resuming from epoch 2" in out and "epochs=3" in out
    assert [row["epoch"] for row in read_csv(tmp_path / "ckpt" / "training-log.csv")] == ["0", "1", "2"]
    changed = [*FINGERPRINT[:2], ["out", "dense", [3], 51, 0, ["hidden"], {}]]
    code, _, err = train(["--epochs", 4, "--resume"], fingerprint=changed)
    assert code == 1 and "error[SL510]" in err and "layer `out` (dense) differs" in err
    code, _, err = train(["--epochs", 4, "--resume"], fingerprint=None, hidden=8)
    assert code == 1 and "error[SL510]: cannot load checkpoint" in err
    state = tmp_path / "ckpt" / "state.json"
    keras_state = {k: v for k, v in json.loads(state.read_text()).items() if k != "backend"}
    state.write_text(json.dumps(keras_state))
    code, _, err = train(["--epochs", 4, "--resume"])
    assert code == 1 and "checkpoints of the keras program" in err


def test_overwrite_deletes_the_checkpoints_and_a_full_disk_keeps_the_last_good_one(
    capsys, tmp_path, monkeypatch
):
    x, y = separable(100)
    data = npz(tmp_path / "data.npz", x=x, y=y)
    checkpoints = tmp_path / "ckpt"
    common = ["train", "--data", data, "--checkpoint-dir", checkpoints, "-q", "--keep", "all"]

    def train(*argv):
        return run(capsys, [*common, *argv], build_model=lambda: Dense(6, 2), input_shape=(6,),
                   units=2)  # fmt: skip

    assert train("--epochs", 3)[0] == 0
    assert train("--epochs", 1, "--overwrite")[0] == 0
    assert sorted(path.name for path in checkpoints.glob("*.pt")) == ["epoch-0001.pt"]
    save = torch.save

    def save_until_full(contents, path):
        if "epoch-0003" in str(path):
            Path(path).write_bytes(b"half a checkpoint")
            raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
        save(contents, path)

    monkeypatch.setattr(torch, "save", save_until_full)
    code, out, err = train("--epochs", 4, "--resume")
    assert code == 2 and "epoch-0003.pt: cannot be written" in err and "Traceback" not in err
    assert "final:" not in out
    assert json.loads((checkpoints / "state.json").read_text())["checkpoint"] == "epoch-0002.pt"
    assert sorted(path.name for path in checkpoints.iterdir() if "epoch" in path.name) == [
        "epoch-0001.pt", "epoch-0002.pt"]  # fmt: skip


KILLED_PROGRAM = """
import sys

import torch
from torch import nn

from shapelang.runtime import run_main


class Slow(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleDict({"conv": nn.Conv2d(3, 32, 3), "out": nn.Linear(32, 4)})

    def forward(self, x):
        x = torch.relu(self.layers["conv"](x)).mean(dim=(2, 3))
        return torch.softmax(self.layers["out"](x), dim=1)


sys.exit(run_main(sys.argv[1:], build_model=Slow, model_name="slow", input_shape=(32, 32, 3),
                  output_units=4, defaults={"epochs": 40, "batch": 32}, backend="torch"))
"""


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(KILLED_PROGRAM)
    checkpoints = tmp_path / "ckpt"
    argv = [sys.executable, str(script), "train", "--data", "synthetic", "--synthetic-size",
            "640", "--checkpoint-dir", str(checkpoints), "--keep", "all"]  # fmt: skip
    first = subprocess.Popen(argv, env=environment(), stdout=subprocess.PIPE, text=True)
    state = checkpoints / "state.json"
    deadline = time.monotonic() + 90
    while not state.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # inside the next epoch
    first.send_signal(signal.SIGKILL)
    first_out = first.communicate()[0]
    assert first.returncode == -signal.SIGKILL, first_out
    done = json.loads(state.read_text())["epoch"]
    assert 1 <= done < 40
    second = subprocess.run([*argv, "--resume", "--epochs", str(done + 1)], env=environment(),
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert f"resuming from epoch {done} " in second.stdout
    assert f"Epoch {done + 1}/{done + 1}" in second.stdout and "Epoch 1/" not in second.stdout
    epochs = [int(row["epoch"]) for row in read_csv(checkpoints / "training-log.csv")]
    assert epochs == list(range(done + 1))
    assert json.loads(state.read_text())["epoch"] == done + 1
    names = sorted(path.name for path in checkpoints.glob("*.pt"))
    assert names == [f"epoch-{i:04d}.pt" for i in range(1, done + 2)]
    assert not list(checkpoints.glob("partial-*"))
    # the optimizer's state came back too: 16 steps an epoch (512 examples, batch 32)
    last = torch.load(checkpoints / names[-1], weights_only=True)
    assert last["optimizer"]["state"][0]["step"] == 16 * (done + 1)


# --------------------------------------------------------------------------------------------
# Grid, acceleration


def test_grid_writes_one_row_per_combination(capsys, tmp_path):
    x, y = separable(200)
    data = npz(tmp_path / "data.npz", x=x, y=y)
    results = tmp_path / "grid.csv"
    code, _, err = run(capsys, ["train", "--data", data, "--epochs", 2, "--grid",
                                  "batch=16,64", "--grid", "lr=0.01,0.05", "--results", results,
                                  "--checkpoint-dir", tmp_path / "ckpt", "-q"],
                         build_model=lambda: Dense(6, 2), input_shape=(6,), units=2,
                         defaults={"optimizer": "sgd"})  # fmt: skip
    assert code == 0, err
    rows = read_csv(results)
    assert [(row["batch"], row["lr"]) for row in rows] == [
        ("16", "0.01"), ("16", "0.05"), ("64", "0.01"), ("64", "0.05")]  # fmt: skip
    assert [row["best"] for row in rows].count("*") == 1
    best = max(rows, key=lambda row: float(row["val_accuracy"]))
    assert best["best"] == "*"
    assert len(list((tmp_path / "ckpt" / "grid-logs").glob("*.csv"))) == 4
    assert not list((tmp_path / "ckpt").glob("*.pt"))


def test_mixed_precision_trains_in_bfloat16_on_the_cpu(capsys, tmp_path):
    seen = []

    class Recording(Conv):
        def forward(self, x):
            seen.append(torch.relu(self.layers["conv"](x)).dtype)
            return super().forward(x)

    code, out, err = run(capsys, ["train", "--data", "synthetic", "--synthetic-size", 64,
                                  "--epochs", 1, "--mixed-precision", "-q",
                                  "--checkpoint-dir", tmp_path],
                         build_model=lambda: Recording(3, 2), input_shape=(8, 8, 3), units=2)  # fmt: skip
    assert code == 0, err
    assert set(seen) == {torch.bfloat16}
    assert np.isfinite(float(final_metrics(out)["loss"]))


def test_jit_compiles_with_torch_compile(capsys, tmp_path, monkeypatch):
    compiled = []
    original = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **k: compiled.append(model) or original(model, **k))
    x, y = separable(64)
    data = npz(tmp_path / "data.npz", x=x, y=y)
    code, _, err = run(capsys, ["train", "--data", data, "--epochs", 1, "--jit", "-q",
                                  "--checkpoint-dir", tmp_path / "ckpt"],
                         build_model=lambda: Dense(6, 2), input_shape=(6,), units=2)  # fmt: skip
    assert code == 0, err
    assert len(compiled) == 1 and isinstance(compiled[0], Dense)
    saved = torch.load(tmp_path / "ckpt" / "epoch-0001.pt", weights_only=True)
    assert set(saved["model"]) == {"layers.hidden.weight", "layers.hidden.bias",
                                   "layers.out.weight", "layers.out.bias"}  # fmt: skip


# --------------------------------------------------------------------------------------------
# Distribution: torchrun, two processes on Gloo


DDP_PROGRAM = """
import os
import sys

import torch
from torch import nn

from shapelang.runtime import run_main

built = []


def build_model():
    torch.manual_seed(int(os.environ.get("RANK", 0)) + 100)  # different weights on each rank:
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(288, 10),
                          nn.Softmax(dim=1))  # DistributedDataParallel makes them agree
    built.append(model)
    return model


code = run_main(sys.argv[1:], build_model=build_model, model_name="ddp", input_shape=(8, 8, 1),
                output_units=10, defaults={"batch": 64}, backend="torch")
if built:
    torch.save(built[-1].state_dict(), f"weights-{os.environ['RANK']}.pt")
sys.exit(code)
"""


def test_two_processes_under_torchrun_train_one_model(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(DDP_PROGRAM))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2", str(script), "train", "--data", "digits",
                "--checkpoint-dir", str(tmp_path / "ckpt")]  # fmt: skip
    first = subprocess.run([*torchrun, "--epochs", "1"], cwd=tmp_path, env=environment(),
                           capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.count("final:") == 1 and "distributed: 2 processes (gloo" in first.stdout
    assert "1437 training, 360 validation" in first.stdout
    assert sorted(path.name for path in (tmp_path / "ckpt").glob("*.pt")) == ["epoch-0001.pt"]
    weights = [torch.load(tmp_path / f"weights-{rank}.pt", weights_only=True) for rank in (0, 1)]
    saved = torch.load(tmp_path / "ckpt" / "epoch-0001.pt", weights_only=True)
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]) and torch.equal(tensor, saved["model"][name])
    # 23 global batches of 64 (the last 29), each split between the ranks: one step each
    assert saved["optimizer"]["state"][0]["step"] == 23
    second = subprocess.run([*torchrun, "--epochs", "2", "--resume"], cwd=tmp_path,
                            env=environment(), capture_output=True, text=True, timeout=180,
                            check=False)  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.count("resuming from epoch 1 ") == 1
    assert "Epoch 2/2" in second.stdout and "Epoch 1/2" not in second.stdout
    rows = read_csv(tmp_path / "ckpt" / "training-log.csv")
    assert [row["epoch"] for row in rows] == ["0", "1"]
