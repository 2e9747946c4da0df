"""The command line's faults (issue 8), none of which needs TensorFlow: `train --help`,
`train` without TensorFlow, TensorFlow's start-up lines held back, `python -m shapelang`, and
`keras -o` to a path that cannot be written."""
import os
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLES, PYTHON, python_env


def test_train_help_lists_the_options_without_a_path():
    result = subprocess.run([PYTHON, "-m", "shapelang", "train", "--help"], check=False,
                            capture_output=True, text=True, env=python_env())  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: shapelang train ")
    for option in ("--data", "--resume", "--overwrite", "--keep", "--seed", "--set", "--verbose"):
        assert option in result.stdout
    missing = subprocess.run([PYTHON, "-m", "shapelang", "train"], check=False,
                             capture_output=True, text=True, env=python_env())  # fmt: skip
    assert missing.returncode == 2 and "PATH" in missing.stderr and "Traceback" not in missing.stderr


BLOCK_TENSORFLOW = """
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("keras", "tensorflow"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Missing())
from shapelang.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_train_without_tensorflow_says_how_to_install_it(tmp_path):
    result = subprocess.run(
        [PYTHON, "-c", BLOCK_TENSORFLOW, "train", str(EXAMPLES / "digits.net"), "--data",
         "digits", "--checkpoint-dir", str(tmp_path / "ckpt")],
        check=False, capture_output=True, text=True, cwd=tmp_path, env=python_env())  # fmt: skip
    assert result.returncode == 2
    assert "No module named 'keras'" in result.stderr
    assert "`tensorflow` extra" in result.stderr and "pip install 'shapelang[tensorflow]'" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_tensorflow_chatter_is_held_back_and_other_lines_are_not(capfd):
    from shapelang.train_command import file_descriptor_2_held

    with file_descriptor_2_held():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                    b"written to STDERR\n")  # fmt: skip
        os.write(2, b"I0000 00:00:1795982368.068464    6578 port.cc:153] oneDNN custom "
                    b"operations are on.\n")  # fmt: skip
        os.write(2, b"E0000 00:00:1795982368.068464    6578 cuda_dnn.cc:8579] a real error\n")
        os.write(2, b"some other line\n")
    assert capfd.readouterr().err == (
        "E0000 00:00:1795982368.068464    6578 cuda_dnn.cc:8579] a real error\nsome other line\n"
    )


def test_python_dash_m_shapelang_works():
    result = subprocess.run([PYTHON, "-m", "shapelang", "check", str(EXAMPLES / "lenet.net")],
                            check=False, capture_output=True, text=True, env=python_env())  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 file checked" in result.stdout


# --------------------------------------------------------------------------------------------
# keras -o: one line naming the path, exit 2, nothing half-written


def keras_to(path, cwd):
    return subprocess.run([PYTHON, "-m", "shapelang", "keras", str(EXAMPLES / "lenet.net"), "-o",
                           str(path)], check=False, capture_output=True, text=True, cwd=cwd,
                          env=python_env())  # fmt: skip


@pytest.mark.parametrize("target", ["missing/model.py", ".", "/dev/full"])
def test_keras_output_that_cannot_be_written(tmp_path, target):
    if target == "/dev/full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    result = keras_to(target, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"shapelang: error: {target}: "), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_keras_output_is_written_whole_or_not_at_all(tmp_path, monkeypatch, run_cli):
    target = tmp_path / "lenet_keras.py"
    target.write_text("the earlier program\n")
    target.chmod(0o640)

    def failing_replace(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    code, _, err = run_cli("keras", EXAMPLES / "lenet.net", "-o", target, "--force")
    assert code == 2 and f"{target}: cannot write: No space left on device" in err
    assert target.read_text() == "the earlier program\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet_keras.py"]  # no partial file
    monkeypatch.undo()
    code, _, err = run_cli("keras", EXAMPLES / "lenet.net", "-o", target, "--force")
    assert code == 0, err
    assert target.read_text().split("\n", 1)[1].startswith('"""lenet')  # under the hash line
    assert target.stat().st_mode & 0o777 == 0o640  # the file it replaced kept its mode


def test_keras_prints_no_tensorflow_lines_and_imports_no_tensorflow(tmp_path):
    code = ("import sys; from shapelang.cli import main; rc = main(sys.argv[1:]); "
            "assert 'tensorflow' not in sys.modules; sys.exit(rc)")  # fmt: skip
    result = subprocess.run([PYTHON, "-c", code, "keras", str(EXAMPLES / "lenet.net"), "-o",
                             "m.py"], check=False, capture_output=True, text=True, cwd=tmp_path,
                            env=python_env())  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == "wrote m.py\n"
