"""Faults of the training runtime (shapelang/runtime/), each a test: damaged and non-finite
data, bad settings, checkpoint directories that cannot be written, two runs into one
directory, checkpoints of another network, a diverging loss, and which checkpoints are kept.

The models are tiny and written by hand in Keras; every run is one to four epochs of a few
dozen examples, so that the whole file stays quick on two CPU cores.
"""

import csv
import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.keras

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from shapelang import runtime
from shapelang.runtime import checkpoints as runtime_checkpoints
from shapelang.runtime import checks as runtime_checks
from shapelang.runtime import fingerprint as runtime_fingerprint

ROOT = Path(__file__).resolve().parents[1]


def dense_model(features=6, units=3):
    inputs = keras.Input((features,))
    x = keras.layers.Dense(4, activation="relu")(inputs)
    outputs = keras.layers.Dense(units, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def run(capsys, *argv, build_model=dense_model, input_shape=(6,), units=3, fingerprint=None,
        defaults=None):  # fmt: skip
    """run_main in this process: (exit code, stdout, stderr)."""
    code = runtime.run_main(
        [str(arg) for arg in argv],
        build_model=build_model,
        model_name="net",
        input_shape=input_shape,
        output_units=units,
        defaults=defaults or {"optimizer": "sgd"},
        fingerprint=fingerprint,
    )
    out, err = capsys.readouterr()
    return code, out, err


def never_built():
    pytest.fail("the model must not be built when the run is refused")


def train(capsys, directory, *extra, **options):
    return run(capsys, "train", "--data", "synthetic", "--synthetic-size", 40, "--batch-size",
               20, "--checkpoint-dir", directory, "-q", *extra, **options)  # fmt: skip


def checkpoints(directory):
    return sorted(path.name for path in Path(directory).glob("epoch-*.keras"))


def state(directory):
    return json.loads((Path(directory) / "state.json").read_text())


def one_line_error(err, path):
    """A one-line error naming `path`, and nothing else (no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and str(path) in lines[0], err


# --------------------------------------------------------------------------------------------
# Data: damaged files and NaN / infinite values are refused before training, naming the file


def npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def damage(path, member="x.npy"):
    """Flip one of the last bytes of the array data of `member` (stored, not compressed): its
    CRC no longer matches, while the zip directory and the array's header still read."""
    data = bytearray(path.read_bytes())
    start = data.find(member.encode())
    data[data.find(b"PK\x03\x04", start) - 5] ^= 0xFF  # just before the next member
    path.write_bytes(bytes(data))
    return path


def damage_compressed(path):
    """Flip a byte in the middle of a compressed archive's first member."""
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def examples(n=40, features=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)).astype(np.float32), rng.integers(0, 3, n)


def with_value(array, index, value):
    array = array.copy()
    array[index] = value
    return array


X, Y = examples()
BAD_NPZ = [
    ("bad-crc", lambda d: damage(npz(d / "a.npz", x=X, y=Y)), "SL502", ["a.npz", "CRC"]),
    ("truncated", lambda d: d.joinpath("a.npz").write_bytes(
        npz(d / "b.npz", x=X, y=Y).read_bytes()[:300]) and d / "a.npz", "SL502", ["a.npz"]),
    ("compressed-damaged", lambda d: damage_compressed(_compressed(d / "a.npz")), "SL502",
     ["a.npz"]),
    ("nan-in-x", lambda d: npz(d / "a.npz", x=with_value(X, (7, 2), np.nan), y=Y), "SL506",
     ["`x`", "NaN or infinite", "example 7"]),
    ("inf-in-x", lambda d: npz(d / "a.npz", x=with_value(X, (0, 0), -np.inf), y=Y), "SL506",
     ["`x`", "example 0"]),
    ("nan-in-y", lambda d: npz(d / "a.npz", x=X, y=with_value(Y.astype(float), 3, np.nan)),
     "SL506", ["`y`", "example 3"]),
]  # fmt: skip


def _compressed(path):
    np.savez_compressed(path, x=X, y=Y)
    return path


@pytest.mark.parametrize("make, code, texts", [c[1:] for c in BAD_NPZ], ids=[c[0] for c in BAD_NPZ])
def test_bad_npz_is_refused_before_training(capsys, tmp_path, make, code, texts):
    path = make(tmp_path)
    exit_code, _, err = run(capsys, "train", "--data", path, "--checkpoint-dir",
                            tmp_path / "ckpt", build_model=never_built)  # fmt: skip
    assert exit_code == 1
    assert err.startswith(f"error[{code}]: "), err
    for text in texts:
        assert text in err
    assert "Traceback" not in err


def shards(directory, count=3):
    """Shards large enough (9,600 bytes of `x`) that checking a header reads only its start."""
    for i in range(count):
        npz(directory / f"part-{i}.npz", *(), **dict(zip("xy", examples(400, seed=i))))
    return directory / "part-*.npz"


@pytest.mark.parametrize(
    "spoil, code, text",
    [
        (lambda p: damage(p), "SL502", "CRC"),
        (lambda p: npz(p, x=with_value(examples(400)[0], (5, 1), np.nan), y=examples(400)[1]),
         "SL506", "NaN"),
    ],
    ids=["bad-crc", "nan"],
)  # fmt: skip
def test_shard_found_bad_while_training_is_named(capsys, tmp_path, spoil, code, text):
    pattern = shards(tmp_path)
    spoil(tmp_path / "part-1.npz")  # the header check before training still passes
    exit_code, out, err = run(capsys, "train", "--data", pattern, "--epochs", 2, "--checkpoint-dir",
                              tmp_path / "ckpt", "-q")  # fmt: skip
    assert "3 shards" in out  # training had begun
    assert exit_code == 1
    assert err.startswith(f"error[{code}]: ") and "part-1.npz" in err and text in err, err
    assert "Traceback" not in err
    assert "final:" not in out


def png(pixels):
    return tf.io.encode_png(pixels).numpy()


def image_directory(directory):
    rng = np.random.default_rng(0)
    for label in ("a", "b", "c"):
        (directory / label).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 255, (9, 9, 3), dtype=np.uint8)
            (directory / label / f"{i}.png").write_bytes(png(pixels))
    return directory


@pytest.mark.parametrize(
    "content, before_training",
    [
        (lambda good: b"", True),
        (lambda good: b"<html>not an image</html>", True),
        (lambda good: good[: len(good) // 2], False),  # truncated: found when decoding fails
    ],
    ids=["empty", "not-an-image", "truncated"],
)
def test_corrupt_image_is_named(capsys, tmp_path, content, before_training):
    images = image_directory(tmp_path / "images")
    good = (images / "a" / "0.png").read_bytes()
    (images / "b" / "broken.png").write_bytes(content(good))
    exit_code, out, err = run(
        capsys, "train", "--data", images, "--epochs", 1, "--checkpoint-dir", tmp_path / "ckpt",
        "-q", build_model=never_built if before_training else lambda: conv_model(),
        input_shape=(8, 8, 3),
    )  # fmt: skip
    assert exit_code == 1, err
    assert err.startswith("error[SL502]: ") and str(images / "b" / "broken.png") in err, err
    assert "Traceback" not in err
    assert ("data:" in out) is not before_training


def conv_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


# --------------------------------------------------------------------------------------------
# Settings refused before training


@pytest.mark.parametrize(
    "argv, text",
    [
        (["--lr", "nan"], "learning rate"),
        (["--lr", "-1"], "learning rate"),
        (["--lr", "0"], "learning rate"),
        (["--lr", "inf"], "learning rate"),
        (["--momentum", "nan"], "momentum"),
        (["--grid", "lr=0.1,nan"], "learning rate"),
    ],
)
def test_bad_number_is_refused_before_training(capsys, tmp_path, argv, text):
    code, _, err = run(capsys, "train", "--data", "synthetic", "--checkpoint-dir", tmp_path,
                       *argv, build_model=never_built)  # fmt: skip
    assert code == 1
    assert err.startswith("error[SL509]: ") and text in err, err
    assert not checkpoints(tmp_path)


def test_train_block_learning_rate_is_checked_too(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--data", "synthetic", "--checkpoint-dir", tmp_path,
                       build_model=never_built,
                       defaults={"optimizer": "sgd", "optimizer_options": {"lr": -0.5}})  # fmt: skip
    assert code == 1 and err.startswith("error[SL509]: ") and "-0.5" in err


@pytest.mark.parametrize("seed", ["-5", "4294967296", "x"])
def test_bad_seed_is_a_usage_error(capsys, tmp_path, seed):
    code, _, err = run(capsys, "train", "--data", "synthetic", "--seed", seed,
                       "--checkpoint-dir", tmp_path, build_model=never_built)  # fmt: skip
    assert code == 2
    assert "--seed" in err and "Traceback" not in err


def test_loss_that_becomes_nan_stops_training_with_an_error(capsys, tmp_path):
    code, out, err = train(capsys, tmp_path, "--epochs", 3, "--lr", "1e30")
    assert code == 1
    assert err.startswith("error[SL511]: the loss became ") and "epoch 1" in err, err
    assert "final:" not in out
    assert checkpoints(tmp_path) == []  # the diverged epoch is not kept
    assert not (tmp_path / "state.json").exists()


def test_a_grid_goes_on_past_a_diverging_combination(capsys, tmp_path):
    code, out, err = train(capsys, tmp_path, "--epochs", 2, "--grid", "lr=1e30,0.01")
    assert code == 0, err
    assert "grid 1/2: the loss became" in out
    rows = list(csv.DictReader((tmp_path / "grid-results.csv").open()))
    assert [row["best"] for row in rows] == ["", "*"]
    code, _, err = train(capsys, tmp_path, "--epochs", 2, "--grid", "lr=1e30,1e31")
    assert code == 1 and err.startswith("error[SL511]: ")


# --------------------------------------------------------------------------------------------
# Checkpoint directories that cannot be written: one line naming the path, exit code 2


def test_checkpoint_directory_that_is_a_file(capsys, tmp_path):
    path = tmp_path / "file"
    path.write_text("not a directory")
    for directory in (path, path / "below"):
        code, _, err = train(capsys, directory, build_model=never_built)
        assert code == 2
        one_line_error(err, directory)
    assert path.read_text() == "not a directory"


def test_checkpoint_directory_that_is_not_writable(capsys, tmp_path, monkeypatch):
    directory = tmp_path / "ckpt"
    real_open = os.open

    def refusing_open(path, *args, **kwargs):
        if Path(path).parent == directory:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)  # as root, chmod would not refuse
    code, _, err = train(capsys, directory, build_model=never_built)
    assert code == 2
    one_line_error(err, directory)
    assert "Permission denied" in err


def test_a_full_disk_keeps_the_last_good_checkpoint(capsys, tmp_path, monkeypatch):
    saved = []
    real_save = keras.Model.save

    def save_until_full(model, path, *args, **kwargs):
        if saved:  # the second checkpoint: half of it written, then the disk is full
            Path(path).write_bytes(b"PK\x03\x04 half")
            raise OSError(errno.ENOSPC, "No space left on device")
        saved.append(path)
        return real_save(model, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save_until_full)
    code, out, err = train(capsys, tmp_path, "--epochs", 3)
    assert code == 2
    one_line_error(err, tmp_path / "epoch-0002.keras")
    assert "No space left on device" in err
    assert sorted(p.name for p in tmp_path.iterdir() if "keras" in p.name) == ["epoch-0001.keras"]
    assert state(tmp_path)["checkpoint"] == "epoch-0001.keras"
    monkeypatch.undo()
    code, out, err = train(capsys, tmp_path, "--epochs", 2, "--resume")
    assert code == 0, err
    assert "resuming from epoch 1" in out


def test_a_full_disk_while_writing_state_json(capsys, tmp_path, monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    code, _, err = train(capsys, tmp_path, "--epochs", 1)
    assert code == 2
    one_line_error(err, tmp_path / "state.json")
    assert not list(tmp_path.glob("partial-*"))


# --------------------------------------------------------------------------------------------
# Two trainings into one directory: the second refuses; a dead holder blocks nothing

HOLDER = """
import sys, time
from pathlib import Path
from shapelang.runtime import checkpoints
with checkpoints._locked(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_second_training_into_a_directory_refuses_and_a_killed_holder_blocks_nothing(
    capsys, tmp_path
):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, _, err = train(capsys, tmp_path, build_model=never_built)
        assert code == 1
        assert err.startswith(f"error[SL510]: {tmp_path} is in use by another training (pid "
                              f"{holder.pid} on ")  # fmt: skip
        assert "--checkpoint-dir" in err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / "lock").exists()  # left behind by the killed holder, and harmless:
    code, _, err = train(capsys, tmp_path, "--epochs", 1)
    assert code == 0, err
    assert checkpoints(tmp_path) == ["epoch-0001.keras"]


def test_lock_is_released_at_the_end_of_a_run(capsys, tmp_path):
    assert train(capsys, tmp_path, "--epochs", 1)[0] == 0
    with runtime_checkpoints._locked(tmp_path):  # would raise SL510 if the run still held it
        pass


# --------------------------------------------------------------------------------------------
# Which checkpoints are kept: the last and the best by default


def logged_losses(directory):
    rows = csv.DictReader((Path(directory) / "training-log.csv").open())
    return {int(row["epoch"]) + 1: float(row["val_loss"]) for row in rows}


@pytest.mark.parametrize("keep, last", [(None, 1), ("2", 2), ("all", 5)])
def test_checkpoints_kept(capsys, tmp_path, keep, last):
    extra = ["--keep", keep] if keep else []
    code, out, err = train(capsys, tmp_path, "--epochs", 5, "--lr", "0.5", *extra)
    assert code == 0, err
    losses = logged_losses(tmp_path)  # what Keras's own CSV logger saw
    best = min(losses, key=losses.get)
    expected = {epoch for epoch in range(6 - last, 6)} | {best}
    assert checkpoints(tmp_path) == [f"epoch-{epoch:04d}.keras" for epoch in sorted(expected)]
    recorded = state(tmp_path)["best"]
    assert (recorded["epoch"], recorded["monitor"]) == (best, "val_loss")
    assert f"best by val_loss: epoch-{best:04d}.keras" in out


def test_keep_must_be_positive_or_all(capsys, tmp_path):
    code, _, err = train(capsys, tmp_path, "--keep", "0", build_model=never_built)
    assert code == 2 and "--keep" in err


# --------------------------------------------------------------------------------------------
# --resume: the checkpoints must be of this network

ROWS = [
    ["input", "input", [6], 0, 0, [], {"shape": "(6)"}],
    ["dense_1", "dense", [4], 28, 0, ["input"], {"activation": "relu", "units": "4"}],
    ["dense_2", "dense", [3], 15, 0, ["dense_1"], {"activation": "softmax", "units": "3"}],
]


def changed(row, **fields):
    index = {name: i for i, name in enumerate(runtime_fingerprint._FINGERPRINT_FIELDS)}
    row = list(row)
    for name, value in fields.items():
        row[index[name]] = value
    return row


# (id, the network now, texts the difference must contain)
DIFFERENCES = [
    ("units", [ROWS[0], changed(ROWS[1], shape=[64], trainable=448,
                                options={"activation": "relu", "units": "64"}), ROWS[2]],
     ["layer `dense_1` (dense) differs", "units 4 → 64", "shape [4] → [64]",
      "trainable parameters 28 → 448"]),
    ("activation", [ROWS[0], changed(ROWS[1], options={"activation": "tanh", "units": "4"}),
                    ROWS[2]],
     ["layer `dense_1`", "activation relu → tanh"]),
    ("wiring", [ROWS[0], ROWS[1], changed(ROWS[2], inputs=["input"])],
     ["layer `dense_2`", "inputs [dense_1] → [input]"]),
    ("input-shape", [changed(ROWS[0], shape=[7], options={"shape": "(7)"}), *ROWS[1:]],
     ["layer `input` (input) differs", "shape [6] → [7]"]),
    ("renamed", [ROWS[0], changed(ROWS[1], name="hidden"), ROWS[2]],
     ["layer 1 is `hidden` (dense) in this network but `dense_1` (dense)"]),
    ("added", [*ROWS, ["dense_3", "dense", [3], 12, 0, ["dense_2"], {}]],
     ["this network has 1 more layer(s), from `dense_3` (dense)"]),
    ("removed", ROWS[:2], ["the checkpoint's network has 1 more layer(s), from `dense_2`"]),
]  # fmt: skip


@pytest.mark.parametrize("now, texts", [c[1:] for c in DIFFERENCES], ids=[c[0] for c in DIFFERENCES])
def test_fingerprint_difference_names_the_first_differing_layer(now, texts):
    difference = runtime_fingerprint._fingerprint_difference(ROWS, now)
    for text in texts:
        assert text in difference
    assert runtime_fingerprint._fingerprint_difference(ROWS, [list(row) for row in ROWS]) is None


def test_resume_refuses_checkpoints_of_another_network(capsys, tmp_path):
    assert train(capsys, tmp_path, "--epochs", 1, fingerprint=ROWS)[0] == 0
    assert state(tmp_path)["fingerprint"] == ROWS
    now = DIFFERENCES[0][1]
    code, _, err = train(capsys, tmp_path, "--epochs", 2, "--resume", fingerprint=now,
                         build_model=never_built)  # fmt: skip
    assert code == 1
    assert err.startswith("error[SL510]: ") and "layer `dense_1` (dense) differs" in err
    assert "--overwrite" in err
    code, out, err = train(capsys, tmp_path, "--epochs", 2, "--resume", fingerprint=ROWS)
    assert code == 0 and "resuming from epoch 1" in out, err


def test_resume_refuses_a_state_without_fingerprint(capsys, tmp_path):
    assert train(capsys, tmp_path, "--epochs", 1)[0] == 0  # a hand-written program: none
    code, _, err = train(capsys, tmp_path, "--resume", fingerprint=ROWS, build_model=never_built)
    assert code == 1 and "no fingerprint" in err and "--overwrite" in err


def test_resume_checks_the_checkpoint_itself(capsys, tmp_path):
    assert train(capsys, tmp_path, "--epochs", 1, fingerprint=ROWS)[0] == 0
    # a checkpoint swapped behind state.json's back: another parameter count
    wider = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    wider.compile("sgd", "mse")
    wider.save(tmp_path / "epoch-0001.keras")
    code, _, err = train(capsys, tmp_path, "--epochs", 2, "--resume", fingerprint=ROWS)
    assert code == 1 and "21 parameters" in err and "43" in err, err


@pytest.mark.parametrize(
    "name",
    ["../outside.keras", "/etc/passwd", "sub/epoch-0001.keras", "epoch-1.keras", "link"],
)
def test_resume_refuses_a_state_json_pointing_outside(capsys, tmp_path, name):
    directory = tmp_path / "ckpt"
    assert train(capsys, directory, "--epochs", 1, fingerprint=ROWS)[0] == 0
    outside = tmp_path / "outside.keras"
    outside.write_bytes((directory / "epoch-0001.keras").read_bytes())
    recorded = state(directory)
    if name == "link":  # a well-named checkpoint that is a link to a file elsewhere
        (directory / "epoch-0001.keras").unlink()
        (directory / "epoch-0001.keras").symlink_to(outside)
        name = "epoch-0001.keras"
    recorded["checkpoint"] = name
    (directory / "state.json").write_text(json.dumps(recorded))
    code, _, err = train(capsys, directory, "--epochs", 2, "--resume", fingerprint=ROWS,
                         build_model=never_built)  # fmt: skip
    assert code == 1
    assert err.startswith("error[SL510]: ") and "not a checkpoint file in" in err, err


@pytest.mark.parametrize(
    "text", ["[]", '{"epoch": -1, "checkpoint": "epoch-0001.keras"}', "{", '{"epoch": 1}']
)
def test_resume_refuses_a_damaged_state_json(capsys, tmp_path, text):
    (tmp_path / "state.json").write_text(text)
    code, _, err = train(capsys, tmp_path, "--resume", build_model=never_built)
    assert code == 1 and err.startswith("error[SL510]: cannot read ") and "Traceback" not in err


def test_non_finite_values_are_found_across_slices():
    # 2.1 million values: the check reads them a million at a time
    x = np.zeros((3, 700_000), np.float32)
    x[2, 650_000] = np.inf
    x[1, 10] = np.nan
    with pytest.raises(runtime.DataError, match=r"holds 2 NaN or infinite value\(s\) \(the first in example 1\)"):
        runtime_checks._check_finite(x, "x", "data.npz")
    runtime_checks._check_finite(np.zeros((3, 700_000), np.float32), "x", "data.npz")
    runtime_checks._check_finite(np.arange(5), "y", "data.npz")  # integers hold no NaN


# ---- a model larger than the machine --------------------------------------------------------
def test_weights_larger_than_memory_are_refused_before_anything_is_built(capsys, tmp_path):
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    parameters = memory // 4 + 1  # float32 weights one parameter past this machine's memory
    rows = [["input", "input", [6], 0, 0, [], {}],
            ["dense_1", "dense", [parameters // 6], parameters, 0, ["input"], {}]]
    code, _, err = train(capsys, tmp_path, build_model=never_built, fingerprint=rows)
    assert code == 1 and "error[SL513]" in err and "Traceback" not in err
    assert f"{memory / 2**30:,.1f} GiB of memory" in err


@pytest.mark.parametrize("raised", [MemoryError("cannot allocate"),
                                    tf.errors.ResourceExhaustedError(None, None, "OOM when "
                                                                     "allocating tensor")])
def test_running_out_of_memory_is_a_diagnostic_not_an_internal_error(capsys, tmp_path, raised):
    def build_model():
        raise raised

    code, _, err = train(capsys, tmp_path, build_model=build_model)
    assert code == 1, err
    assert "error[SL513]: out of memory" in err and type(raised).__name__ in err
    assert "Traceback" not in err and "internal error" not in err
