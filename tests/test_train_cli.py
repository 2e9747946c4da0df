"""`shapelang train`: the generated program's training entry point, run from the CLI."""
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
