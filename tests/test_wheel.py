"""The wheel ships the grammar: build it, install it non-editable into a fresh virtual
environment, and parse an example from there.

The wheel is built from a copy of the sources, so that the build's `build/` and `*.egg-info`
(which older setuptools write next to the sources) neither land in the checkout nor make pip
believe shapelang is installed already. It is built in this environment when this environment
has what `[build-system]` requires (`pip install ".[test]"` brings it: offline), else in pip's
isolated build environment, which fetches it."""
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from importlib import metadata

import pytest
from conftest import EXAMPLES, ROOT
from packaging.requirements import Requirement
from packaging.version import Version

SOURCES = ("pyproject.toml", "README.md", "shapelang", "grammar")


def build_requirements() -> list[Requirement]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[build-system]", 1)[1].split("\n[", 1)[0]
    requires = re.search(r"requires\s*=\s*\[(.*?)\]", section, re.DOTALL).group(1)
    return [Requirement(r) for r in re.findall(r"[\"']([^\"']+)[\"']", requires)]


def installed(name: str) -> Version | None:
    try:
        return Version(metadata.version(name))
    except metadata.PackageNotFoundError:
        return None


def can_build_here() -> bool:
    """Whether this environment satisfies `[build-system]` and can make a wheel: setuptools
    has its own `bdist_wheel` from 70.1, before that it needs the `wheel` package."""
    for requirement in build_requirements():
        version = installed(requirement.name)
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            return False
    setuptools = installed("setuptools")
    return setuptools is not None and (setuptools >= Version("70.1") or installed("wheel"))


def clean_env(**extra) -> dict:
    """This environment's variables without PYTHONPATH (which may reach the checkout)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(extra)
    return env


def test_build_requirements_are_read():
    assert "setuptools" in [r.name for r in build_requirements()]


@pytest.mark.slow
def test_wheel_installs_and_parses(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path / "dist"
    isolation = ["--no-build-isolation"] if can_build_here() else []
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation,
                            "-w", str(dist), str(source)], check=False, capture_output=True,
                           text=True, cwd=tmp_path, env=clean_env())
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = dist.glob("shapelang-*.whl")
    import zipfile

    assert "shapelang/grammar/shapelang.lark" in zipfile.ZipFile(wheel).namelist()
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index",
                              "-q", str(wheel)], check=False, capture_output=True, text=True,
                             cwd=tmp_path, env=clean_env())
    assert install.returncode == 0, install.stdout + install.stderr
    # lark, sympy and numpy come from this environment's site-packages (offline), through a
    # folder of links to them alone — this environment may hold shapelang too, and the fresh
    # one must import it from the wheel only; run from a folder without the source tree.
    dependencies = tmp_path / "dependencies"
    dependencies.mkdir()
    purelib = sysconfig.get_paths()["purelib"]
    for entry in os.listdir(purelib):
        if entry.split("-")[0].split(".")[0].lower() in {"lark", "sympy", "mpmath", "numpy"}:
            (dependencies / entry).symlink_to(os.path.join(purelib, entry))
    env = clean_env(PYTHONPATH=str(dependencies))
    script = ("import shapelang, sys; net = shapelang.load(sys.argv[1]); "
              "print(shapelang.__file__); print(int(net.analyse().total('params')))")
    result = subprocess.run([str(python), "-c", script, str(EXAMPLES / "alexnet.net")],
                            capture_output=True, text=True, cwd=tmp_path, env=env, check=False)
    assert result.returncode == 0, result.stderr
    location, params = result.stdout.split()
    assert location.startswith(str(env_dir)) and params == "62378344"
    cli = subprocess.run([str(env_dir / "bin" / "shapelang"), "check", str(EXAMPLES / "lenet.net")],
                         check=False, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert cli.returncode == 0, cli.stdout + cli.stderr
