"""The command line of a generated program: ``summary`` and ``train`` and their options, and
:func:`run_main`.
"""

import argparse
import os
import sys
import traceback
from pathlib import Path

import numpy as np

from .checkpoints import _locked, _plan_checkpoints
from .checks import _check_output_metrics
from .data import load_network_data
from .errors import DataError, _OutputError
from .fingerprint import _as_json
from .grid import _GRID_KEYS, _apply_combination, _grid_combinations, _train_grid
from .named import output_units_of
from .settings import _check_numbers, _check_settings, _Network, _settings
from .strategies import _make_strategy, _precision_policy, _worker_directory
from .torch_summary import _torch_summary
from .torch_training import _train_torch
from .training import _final_line, _train_single

#: what the frameworks raise when an allocation fails (TensorFlow, PyTorch, Python)
_OUT_OF_MEMORY = ("ResourceExhaustedError", "OutOfMemoryError", "MemoryError")


def _out_of_memory(error) -> DataError:
    first_line = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
    return DataError(
        "SL513",
        f"out of memory while building or training the model ({type(error).__name__}: "
        f"{first_line})",
        "`shapelang table --batch-size B` estimates the memory a batch needs: choose a "
        "smaller --batch-size or a smaller network",
    )


def _check_fits_in_memory(network):
    """SL513 before anything is built: the weights alone (float32, the counts of the analysis)
    larger than this machine's memory — an allocation that big may not fail cleanly."""
    if not network.fingerprint:
        return
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # not a POSIX system: nothing to compare
        return
    weights = 4 * sum(int(row[3]) + int(row[4]) for row in network.fingerprint)
    if weights > memory:
        raise DataError(
            "SL513",
            f"the model's weights alone take {weights / 2**30:,.1f} GiB as float32, more than "
            f"this machine's {memory / 2**30:,.1f} GiB of memory",
            "`shapelang table` shows which layers hold the parameters: make them smaller",
        )


def _train(args, network, defaults):
    """The ``train`` command: settings; the checkpoint directory, locked and checked; the
    strategy; the data; then one run or a grid."""
    settings = _settings(defaults, args)
    if args.resume and args.grid:
        raise DataError(
            "SL509",
            "--resume cannot be combined with --grid",
            "grid runs are not checkpointed; run the grid again",
        )
    for combination in _grid_combinations(args.grid):
        _check_numbers(_apply_combination(settings, combination))
    _check_output_metrics(network.output_units, settings.metrics)
    _check_fits_in_memory(network)
    if network.backend == "torch":
        return _train_torch(args, network, settings)
    base = Path(args.checkpoint_dir or os.path.join("checkpoints", network.name))
    directory = base if args.grid else _worker_directory(base, args.strategy)
    with _locked(directory):
        if not args.grid:
            plan = _plan_checkpoints(directory, network, args.resume, args.overwrite)
            if plan.epoch >= settings.epochs:
                print(
                    f"{network.name}: {plan.epoch} epochs already trained (--epochs "
                    f"{settings.epochs}); nothing to do"
                )
                print(_final_line(plan.state.get("logs", {}), plan.epoch, 0.0, 0))
                return 0
        import keras

        with _precision_policy(args.mixed_precision):
            # a multi-worker strategy must exist before TensorFlow runs anything
            strategy = _make_strategy(args.strategy)
            if strategy is not None:
                print(f"strategy: {args.strategy}, {strategy.num_replicas_in_sync} replicas")
            _check_settings(settings)
            data = load_network_data(args, network, settings)
            print(
                f"data: {data.description}: {data.train_count} training, "
                f"{data.validation_count} validation examples"
            )
            keras.utils.set_random_seed(args.seed)
            if args.grid:
                return _train_grid(args, network, settings, data, strategy, directory, args.grid)
            return _train_single(args, network, settings, data, strategy, directory, plan)


def _summary(network):
    """The ``summary`` command: Keras's summary (or the PyTorch one) and the parameter count."""
    if network.backend == "torch":
        return _torch_summary(network)
    model = network.build_model()
    model.summary()
    total = model.count_params()
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    print(
        f"{network.name}: {total:,} parameters "
        f"({trainable:,} trainable, {total - trainable:,} non-trainable)"
    )
    return 0


def _positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _seed(text):
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 4294967295, got {text}")
    return value


def _keep(text):
    if text == "all":
        return None
    try:
        return _positive_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer or `all`, got {text}"
        ) from None


def _fraction(text):
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _grid_axis(text):
    """``KEY=V1,V2,...`` -> (key, (v1, v2, ...))."""
    key, sep, values = text.partition("=")
    key = key.strip().replace("-", "_").replace("batch_size", "batch")
    if not sep or key not in _GRID_KEYS:
        raise argparse.ArgumentTypeError(
            f"expected KEY=V1,V2,... with KEY one of {', '.join(_GRID_KEYS)}, got {text!r}"
        )
    convert = _positive_int if _GRID_KEYS[key] is int else float
    try:
        return key, tuple(convert(v.strip()) for v in values.split(","))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"bad value in --grid {text!r}") from None


def _add_train_arguments(train, model_name):
    """The options of ``train`` (also listed by ``shapelang train --help``)."""
    train.add_argument(
        "--data",
        required=True,
        metavar="SPEC",
        help="FILE.npz, 'GLOB*.npz', an image directory, digits or synthetic",
    )
    train.add_argument("--epochs", type=_positive_int, metavar="N")
    train.add_argument("--batch-size", type=_positive_int, metavar="B")
    train.add_argument("--lr", type=float, metavar="X", help="learning rate (finite, above 0)")
    train.add_argument("--momentum", type=float, metavar="M")
    train.add_argument("--optimizer", metavar="NAME", help="e.g. sgd, adam, rmsprop")
    train.add_argument("--loss", metavar="NAME", help="e.g. categorical_crossentropy")
    train.add_argument("--validation-split", type=_fraction, metavar="F")
    train.add_argument("--checkpoint-dir", metavar="DIR", help=f"default: checkpoints/{model_name}")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last checkpoint in the checkpoint directory (refused when it "
        "holds checkpoints of another network)",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the checkpoints of an earlier run and start again",
    )
    train.add_argument(
        "--keep",
        type=_keep,
        default=1,
        metavar="N",
        help="keep the last N checkpoints besides the best one (default 1; `all` keeps every "
        "epoch's)",
    )
    train.add_argument(
        "--mixed-precision",
        action="store_true",
        help="mixed_float16 policy (PyTorch: autocast, float16 on CUDA, bfloat16 on CPU)",
    )
    train.add_argument(
        "--jit", action="store_true", help="compile with XLA (PyTorch: torch.compile)"
    )
    train.add_argument(
        "--strategy",
        choices=("default", "mirrored", "multiworker"),
        default="default",
        help="TensorFlow's distribution (PyTorch: default only; distributed by torchrun)",
    )
    train.add_argument(
        "--grid",
        type=_grid_axis,
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="keys: batch, lr, epochs, momentum",
    )
    train.add_argument("--results", metavar="FILE", help="grid results CSV")
    train.add_argument("--seed", type=_seed, default=0, help="0 to 4294967295 (default 0)")
    train.add_argument("--synthetic-size", type=_positive_int, default=512, metavar="N")
    train.add_argument(
        "--verbose",
        type=int,
        nargs="?",
        const=3,
        choices=(0, 1, 2, 3),
        default=1,
        metavar="N",
        help="Keras progress: 0 silent, 1 progress bar, 2 one line per epoch; 3 (or --verbose "
        "alone) as 2, and `shapelang train` shows TensorFlow's own log lines too",
    )
    train.add_argument("-q", "--quiet", dest="verbose", action="store_const", const=0)


def _build_parser(model_name):
    parser = argparse.ArgumentParser(
        description=f"Inspect or train the {model_name} network (generated by shapelang)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("summary", help="print the model summary and its parameter count")
    _add_train_arguments(commands.add_parser("train", help="train the network"), model_name)
    return parser


def run_main(
    argv,
    *,
    build_model,
    model_name,
    input_shape,
    output_units,
    defaults,
    fingerprint=None,
    backend="keras",
    from_logits=False,
    input_dtypes=None,
) -> int:
    """Run the ``summary`` or ``train`` command of a generated program; return the exit code.

    `build_model()` returns a new, uncompiled ``keras.Model`` (`backend` ``"keras"``) or a new
    float32 ``torch.nn.Module`` on the CPU that takes channels-first input (`backend`
    ``"torch"``; its output holds logits when `from_logits`, else probabilities);
    `input_shape` is one example's shape (channels last, no batch axis); `output_units` the
    width of the last layer (its shape ``(T, V)`` for a class distribution per position);
    `defaults`
    the ``train:`` block: optional keys ``optimizer``, ``optimizer_options``, ``loss``,
    ``batch``, ``epochs``, ``metrics`` and ``validation_split``; `fingerprint` the analysis's
    fingerprint of the network (rows of name, op, shape, trainable, non-trainable, inputs and
    options), stored with every checkpoint and compared by ``--resume``.
    """
    if backend not in ("keras", "torch"):
        raise ValueError(f"backend must be 'keras' or 'torch', not {backend!r}")
    try:
        args = _build_parser(model_name).parse_args(argv)
    except SystemExit as exit_request:
        return exit_request.code if isinstance(exit_request.code, int) else 2
    inputs = None
    if isinstance(input_shape, dict):  # several inputs (or an integer one), by name
        from .named import input_specs

        inputs = input_specs(input_shape, input_dtypes)
        input_shape = inputs[0].shape
    network = _Network(
        build_model,
        model_name,
        tuple(int(d) for d in input_shape),
        ({str(k): output_units_of(v) for k, v in output_units.items()}
         if isinstance(output_units, dict) else output_units_of(output_units)),
        None if fingerprint is None else _as_json(fingerprint),
        backend,
        bool(from_logits),
        inputs,
    )
    try:
        if args.command == "summary":
            return _summary(network)
        return _train(args, network, dict(defaults or {}))
    except DataError as error:
        print(error.render(), file=sys.stderr)
        return 1
    except _OutputError as error:
        print(error.render(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; continue with `train ... --resume`", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 -- the last resort: exit code 2 with the traceback
        if type(error).__name__ in _OUT_OF_MEMORY:
            print(_out_of_memory(error).render(), file=sys.stderr)
            return 1
        traceback.print_exc()
        print(f"error: internal error in the training runtime of {model_name}", file=sys.stderr)
        return 2
