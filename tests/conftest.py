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

#: the symbolic examples, at sizes that are valid, odd, even and uneven (the first: what one
#: build per example uses); the sequence examples at one size each: their parameters do not
#: depend on it
SYMBOLIC_EXAMPLE_SIZES = {
    "alexnet_symbolic": [{"H": 270, "W": 480}, {"H": 227, "W": 227}, {"H": 67, "W": 67}],
    "resnet50_symbolic": [{"H": 225, "W": 193}, {"H": 97, "W": 130}, {"H": 33, "W": 40}],
    "same_padding": [{"H": 31}, {"H": 32}, {"H": 57}, {"H": 5}],
    "vit_b16_symbolic": [{"H": 112, "W": 448}],
    "gpt2_small": [{"T": 8}],
    "bert_base": [{"T": 8}],
}

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
