"""The `train` command: the generated program of an analysed network (Keras, or PyTorch with
`--backend torch`), imported and run, so that what trains is what was analysed.

The program is written to a temporary directory that is removed when the run ends. A missing
framework is a message saying how to install it. For Keras, TensorFlow is imported first, here: its start-up log lines (which it prints even under
TF_CPP_MIN_LOG_LEVEL=2) are held back unless `--verbose 3` (or `--verbose` alone) or
TF_CPP_MIN_LOG_LEVEL is set, and its absence is a message saying how to install it.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import re
import sys
import tempfile
from pathlib import Path

from .analysis import Analysis
from .codegen.keras import emit_keras
from .codegen.torch import emit_torch
from .runtime import cli as runtime_cli  # the standard library and numpy only: no TensorFlow

#: TensorFlow's own log lines (`I0000 00:00:… port.cc:153] …`) and absl's notice about them.
_TENSORFLOW_CHATTER = re.compile(
    r"[IW]\d{4} [\d:. ]+\d+ \S+:\d+\] |WARNING: All log messages before absl::InitializeLog"
)


class FrameworkMissing(Exception):
    """The backend's framework cannot be imported; the message says how to install it."""


def _tensorflow_missing(error: ImportError) -> FrameworkMissing:
    return FrameworkMissing(
        f"training needs TensorFlow and Keras, which cannot be imported here ({error}); "
        "install shapelang's `tensorflow` extra: pip install 'shapelang[tensorflow]' "
        "(GPU users: pip install 'tensorflow[and-cuda]')")


def _torch_missing(error: ImportError) -> FrameworkMissing:
    return FrameworkMissing(
        f"training with --backend torch needs PyTorch, which cannot be imported here ({error}); "
        "install shapelang's `torch` extra: pip install 'shapelang[torch]'")


def train_help() -> str:
    """`shapelang train --help`: PATH and --set, then the generated program's own options."""
    parser = argparse.ArgumentParser(
        prog="shapelang train",
        description="Generate the Keras (or PyTorch) program of the network and run its "
        "training: what trains is what was analysed. Needs the `tensorflow` (or `torch`) extra.")
    parser.add_argument("path", metavar="PATH", help="the .net file")
    parser.add_argument("--backend", choices=("keras", "torch"), default="keras",
                        help="the framework that trains (default keras)")
    parser.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="bind a network parameter (repeatable)")
    runtime_cli._add_train_arguments(parser, "NAME")
    return parser.format_help()


def train(analysis: Analysis, argv: list[str], backend: str = "keras") -> int:
    """Run `train ARGV` of the network's generated program; its exit code."""
    if backend == "torch":
        source = emit_torch(analysis)
        frameworks, missing = ("torch",), _torch_missing
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            raise _torch_missing(exc) from None
    else:
        source = emit_keras(analysis)
        frameworks, missing = ("keras", "tensorflow"), _tensorflow_missing
        _import_tensorflow(argv)
    name = analysis.network.name
    with tempfile.TemporaryDirectory(prefix="shapelang-train-") as directory:
        path = Path(directory) / f"{name}_{backend}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"shapelang_train_{name}", path)
        program = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(program)
        except ImportError as exc:  # a part of the framework missing
            if (exc.name or "").partition(".")[0] not in frameworks:
                raise
            raise missing(exc) from None
        command, sys.argv[:1] = sys.argv[:1], ["shapelang"]  # the program's usage lines say so
        try:
            return program.main(["train", *argv])
        finally:
            sys.argv[:1] = command


def _verbosity(argv) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--verbose", type=int, nargs="?", const=3, default=1)
    parser.add_argument("-q", "--quiet", dest="verbose", action="store_const", const=0)
    try:
        return parser.parse_known_args(argv)[0].verbose
    except SystemExit:  # the program's own parser reports the bad value
        return 1


@contextlib.contextmanager
def file_descriptor_2_held():
    """Hold what is written to file descriptor 2 (where TensorFlow's C++ code logs); on the
    way out, write back what is not TensorFlow's start-up chatter."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", "replace").splitlines(keepends=True)
            kept = [line for line in lines if not _TENSORFLOW_CHATTER.match(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def _import_tensorflow(argv):
    quiet = _verbosity(argv) < 3 and "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    if quiet:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # read when TensorFlow is imported
    held = file_descriptor_2_held() if quiet else contextlib.nullcontext()
    try:
        with held:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
    except ImportError as exc:
        raise _tensorflow_missing(exc) from None
