"""`shapelang train`: the generated program's training entry point, run from the CLI."""
import json
import re
import subprocess

import numpy as np
import pytest
from conftest import EXAMPLES, PYTHON, python_env

pytestmark = pytest.mark.keras
pytest.importorskip("tensorflow")


def train(tmp_path, *args):
    return subprocess.run([PYTHON, "-m", "shapelang.cli", "train", *map(str, args),
                           "--checkpoint-dir", str(tmp_path / "ckpt")],
                          check=False, capture_output=True, text=True, cwd=tmp_path, env=python_env())


@pytest.mark.slow
def test_digits_reaches_95_percent(tmp_path):
    result = train(tmp_path, EXAMPLES / "digits.net", "--data", "digits")
    assert result.returncode == 0, result.stderr[-2000:]
    accuracy = float(re.search(r"val_accuracy=([0-9.]+)", result.stdout).group(1))
    assert accuracy >= 0.95
    assert (tmp_path / "ckpt" / "training-log.csv").exists()


def test_transposed_npz_is_an_error_naming_both_shapes(tmp_path):
    # the seed's mistake: (480, 270, 3) frames for a (270, 480, 3) input — small sizes here
    (tmp_path / "net.net").write_text(
        "network frames(H = 12, W = 20, classes = 3):\n    input [H, W, 3]\n"
        "    conv 2 k=3\n    flatten\n    dense classes softmax\n")
    np.savez(tmp_path / "frames.npz", x=np.zeros((6, 20, 12, 3), "float32"),
             y=np.zeros(6, "int64"))
    result = train(tmp_path, tmp_path / "net.net", "--data", tmp_path / "frames.npz")
    assert result.returncode == 1
    assert "error[SL503]" in result.stderr
    assert "(20, 12, 3)" in result.stderr and "(12, 20, 3)" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_of_a_broken_file_stops_before_keras(tmp_path):
    result = train(tmp_path, EXAMPLES / "bad" / "dense_on_tensor.net", "--data", "synthetic")
    assert result.returncode == 1 and "SL301" in result.stderr


# --------------------------------------------------------------------------------------------
# issue 8: --resume trains only the network it checkpointed; faults end in one clear message

TINY = "network tiny():\n    input [{features}]\n    dense {units} relu\n    dense 3 softmax\n"


def train_tiny(tmp_path, *args, units=8, features=6, env=None):
    net = tmp_path / "tiny.net"
    net.write_text(TINY.format(units=units, features=features))
    return subprocess.run(
        [PYTHON, "-m", "shapelang", "train", str(net), "--data", "synthetic", "--synthetic-size",
         "40", "--checkpoint-dir", str(tmp_path / "ckpt"), "-q", *map(str, args)],
        check=False, capture_output=True, text=True, cwd=tmp_path, env=env or python_env())  # fmt: skip


def test_resume_refuses_a_changed_network(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**python_env(), "TMPDIR": str(temporary)}
    first = train_tiny(tmp_path, "--epochs", 1, env=env)
    assert first.returncode == 0, first.stderr
    # what TensorFlow prints while it starts stays out of the output, and no program is left
    assert first.stderr == ""
    assert not list(temporary.iterdir())
    state = json.loads((tmp_path / "ckpt" / "state.json").read_text())
    assert [row[0] for row in state["fingerprint"]] == ["input", "dense_1", "dense_2"]

    wider = train_tiny(tmp_path, "--epochs", 2, "--resume", units=64)
    assert wider.returncode == 1
    assert wider.stderr.startswith("error[SL510]: ")
    assert "layer `dense_1` (dense) differs" in wider.stderr and "units 8 → 64" in wider.stderr
    assert "--overwrite" in wider.stderr
    assert "Traceback" not in wider.stderr

    other_input = train_tiny(tmp_path, "--epochs", 2, "--resume", features=7)
    assert other_input.returncode == 1
    assert "layer `input` (input) differs" in other_input.stderr
    assert "Traceback" not in other_input.stderr

    again = train_tiny(tmp_path, "--epochs", 2, "--overwrite", units=64)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "ckpt" / "state.json").read_text())["fingerprint"][1][2] == [64]


def test_bad_seed_is_a_usage_error_of_shapelang_train(tmp_path):
    result = train_tiny(tmp_path, "--seed", "-5")
    assert result.returncode == 2
    assert "shapelang train: error: argument --seed" in result.stderr
    assert "Traceback" not in result.stderr
