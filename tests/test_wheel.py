"""The wheel ships the grammar: build it, install it non-editable into a fresh virtual
environment, and parse an example from there."""
import os
import subprocess
import sys
import sysconfig
import venv

import pytest
from conftest import EXAMPLES, ROOT


@pytest.mark.slow
def test_wheel_installs_and_parses(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(ROOT)], check=True, capture_output=True)
    (wheel,) = dist.glob("shapelang-*.whl")
    import zipfile

    assert "shapelang/grammar/shapelang.lark" in zipfile.ZipFile(wheel).namelist()
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True)
    # lark, sympy and numpy come from this environment's site-packages (offline), through a
    # folder of links to them alone — this environment may hold shapelang too, and the fresh
    # one must import it from the wheel only; run from a folder without the source tree.
    dependencies = tmp_path / "dependencies"
    dependencies.mkdir()
    purelib = sysconfig.get_paths()["purelib"]
    for entry in os.listdir(purelib):
        if entry.split("-")[0].split(".")[0].lower() in {"lark", "sympy", "mpmath", "numpy"}:
            (dependencies / entry).symlink_to(os.path.join(purelib, entry))
    env = dict(os.environ, PYTHONPATH=str(dependencies))
    script = ("import shapelang, sys; net = shapelang.load(sys.argv[1]); "
              "print(shapelang.__file__); print(int(net.analyse().total('params')))")
    result = subprocess.run([str(python), "-c", script, str(EXAMPLES / "alexnet.net")],
                            capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    location, params = result.stdout.split()
    assert location.startswith(str(env_dir)) and params == "62378344"
    cli = subprocess.run([str(env_dir / "bin" / "shapelang"), "check", str(EXAMPLES / "lenet.net")],
                         check=False, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert cli.returncode == 0, cli.stdout + cli.stderr
