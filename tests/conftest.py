import contextlib
import os
import sys
from pathlib import Path

# TensorFlow (2.21) and triton (PyTorch's kernel compiler, which torchvision and torch.compile
# load) crash the interpreter with SIGSEGV when TensorFlow is loaded first; the test session
# loads both, so triton goes first.
with contextlib.suppress(ImportError):
    import triton  # noqa: F401

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# Property tests: the full counts in CI (which sets CI=true), a tenth of them locally;
# HYPOTHESIS_PROFILE=ci (or dev) chooses explicitly.
settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile("dev", max_examples=10, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI", "").lower() == "true" else "dev"))


def examples(full: int) -> int:
    """A property test's example count: `full` under the ci profile, scaled to the loaded one."""
    scale = settings().max_examples / settings.get_profile("ci").max_examples
    return max(1, round(full * scale))


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


#: The environment the test session started with: an in-process `shapelang train` sets
#: TF_CPP_MIN_LOG_LEVEL in this process, and a subprocess must not inherit what it set.
_STARTING_ENVIRONMENT = dict(os.environ)


def python_env():
    env = dict(_STARTING_ENVIRONMENT)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


PYTHON = sys.executable
