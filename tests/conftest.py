import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def pytest_configure(config):
    config.addinivalue_line("markers", "keras: needs TensorFlow / Keras (skipped without it)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.fixture
def run_cli(capsys):
    """Run `shapelang ARGS…` in this process; return (exit code, stdout, stderr)."""
    from shapelang.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def python_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


PYTHON = sys.executable
