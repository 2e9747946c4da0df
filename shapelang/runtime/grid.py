"""``--grid``: every combination of settings trained from fresh weights, and the results table."""

import csv
import dataclasses
import io
import itertools
import math
import time
from pathlib import Path

from .checkpoints import _make_directory, _write_atomically
from .errors import DataError
from .settings import _fresh_model
from .strategies import _scope
from .training import _accuracy, _diverged, _divergence_guard, _fit, _last_logs

_GRID_KEYS = {"batch": int, "lr": float, "epochs": int, "momentum": float}


def _grid_combinations(axes):
    """Every combination of the ``--grid`` axes, as a list of {key: value} dicts."""
    keys = [key for key, _ in axes]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise DataError(
            "SL509",
            f"--grid gives {', '.join(repeated)} more than once",
            "list all values of a key in one --grid KEY=V1,V2,...",
        )
    values = [vals for _, vals in axes]
    return [dict(zip(keys, combination)) for combination in itertools.product(*values)]


def _apply_combination(settings, combination):
    options = dict(settings.optimizer_options)
    for key in ("lr", "momentum"):
        if key in combination:
            options["learning_rate" if key == "lr" else key] = combination[key]
    return dataclasses.replace(
        settings,
        optimizer_options=options,
        batch=combination.get("batch", settings.batch),
        epochs=combination.get("epochs", settings.epochs),
    )


def _train_combination(network, settings, data, strategy, args, log_path):
    """Train one grid combination from fresh weights; return its results row and where its
    loss became NaN or infinite (None if it did not)."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(args.seed)
    with _scope(strategy):
        model = _fresh_model(network, settings, args.jit)
    train, validation = data.datasets(settings.batch)
    guard = _divergence_guard()
    start = time.perf_counter()
    history = _fit(
        model,
        data,
        log_path.parent,
        x=train,
        validation_data=validation,
        epochs=settings.epochs,
        callbacks=[guard, keras.callbacks.CSVLogger(str(log_path))],
        shuffle=False,  # the datasets shuffle themselves
        verbose=min(args.verbose, 2),
    )
    seconds = time.perf_counter() - start
    learning_rate = settings.optimizer_options.get("learning_rate")
    if learning_rate is None:  # the optimizer's default, a float32 variable
        learning_rate = float(f"{float(model.optimizer.learning_rate.numpy()):.7g}")
    row = _grid_row(settings, _last_logs(history), learning_rate, seconds, data.train_count)
    return row, guard.where


def _grid_row(settings, logs, learning_rate, seconds, train_count):
    """One combination's row of the results: its settings and final metrics in `logs`."""
    return {
        "batch": settings.batch,
        "lr": float(learning_rate),
        "epochs": settings.epochs,
        "momentum": settings.optimizer_options.get("momentum"),
        "train_loss": logs.get("loss"),
        "train_accuracy": _accuracy(logs, validation=False),
        "val_loss": logs.get("val_loss"),
        "val_accuracy": _accuracy(logs, validation=True),
        "seconds": seconds,
        "examples_per_second": train_count * settings.epochs / seconds if seconds > 0 else None,
    }


def _silent(*_args, **_kwargs):
    pass


def _best_index(rows):
    """The row with the best validation accuracy (else training accuracy, else loss)."""
    for key, sign in (
        ("val_accuracy", 1),
        ("train_accuracy", 1),
        ("val_loss", -1),
        ("train_loss", -1),
    ):
        scored = [
            (sign * row[key], -i)
            for i, row in enumerate(rows)
            if row[key] is not None and math.isfinite(row[key])
        ]
        if scored:
            return -max(scored)[1]
    return None


def _format_cell(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.4f}"
    return str(value)


def _grid_table(rows, columns, best):
    """The results as an aligned text table, the best row marked with ``*``."""
    cells = [[_format_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    for i, row in enumerate(cells):
        mark = "* " if i == best else "  "
        lines.append(mark + "  ".join(v.ljust(w) for v, w in zip(row, widths)))
    return "\n".join(lines)


def _write_results(path, rows, columns, best):
    _make_directory(path.parent)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow([*columns, "best"])
    for i, row in enumerate(rows):
        values = ["" if row[c] is None else row[c] for c in columns]
        writer.writerow([*values, "*" if i == best else ""])
    _write_atomically(path, text.getvalue())


def _train_grid(args, network, settings, data, strategy, directory, axes, train=None, chief=True):
    """Train every grid combination; write the results CSV and print the table. A combination
    whose loss becomes NaN or infinite stops there and is never the best; the grid fails
    (SL511) only when every combination does. `train(settings, log_path)` trains one
    combination and returns its row and where it diverged (by default with Keras); only the
    `chief` of a distributed run prints and writes."""
    if train is None:

        def train(run_settings, log_path):
            return _train_combination(network, run_settings, data, strategy, args, log_path)

    say = print if chief else _silent
    logs = directory / "grid-logs"
    if chief:
        _make_directory(logs)
    rows, diverged = [], []
    combinations = _grid_combinations(axes)
    for number, combination in enumerate(combinations, 1):
        label = " ".join(f"{key}={value}" for key, value in combination.items())
        say(f"grid {number}/{len(combinations)}: {label}")
        log_path = logs / ("_".join(f"{k}-{v}" for k, v in combination.items()) + ".csv")
        row, where = train(_apply_combination(settings, combination), log_path)
        rows.append(row)
        if where is not None:
            diverged.append(where)
            say(f"grid {number}/{len(combinations)}: the loss became {where[2]} in epoch "
                f"{where[0]}, batch {where[1]}; this combination stopped there")  # fmt: skip
    if len(diverged) == len(rows):
        raise _diverged(diverged[0], 0)
    if not chief:
        return 0
    keys = ["batch", "lr", "epochs"] + (["momentum"] if "momentum" in dict(axes) else [])
    columns = keys + [
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
        "examples_per_second",
    ]
    best = _best_index(rows)
    results = Path(args.results) if args.results else directory / "grid-results.csv"
    _write_results(results, rows, columns, best)
    print(_grid_table(rows, columns, best))
    if best is not None:
        print("* best: " + " ".join(f"{k}={_format_cell(rows[best][k])}" for k in keys))
    print(f"results: {results}")
    return 0
