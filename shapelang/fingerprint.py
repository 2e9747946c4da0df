"""The fingerprint of an analysed network: what `--resume` compares before it trains on.

One row per layer, in the analysis's order:

    (name, op, shape, trainable, non_trainable, inputs, options)

`options` maps every option the layer was bound with (defaults included, and its activation)
to the value as shapelang shows it; `shape` is the activation shape, `trainable` and
`non_trainable` the parameter counts, `inputs` the names of the layers it reads (the wiring).
Every entry is a str, an int, or a tuple or dict of them, so that the generated program can
hold the fingerprint as a literal written with `repr()` and `state.json` as JSON. The training
runtime stores it with every checkpoint and refuses to resume into a network whose fingerprint
differs, naming the first layer that differs (shapelang/runtime.py, `_fingerprint_difference`).
"""
from __future__ import annotations

from .analysis import Analysis, LayerResult
from .expr import Keyword, show

FIELDS = ("name", "op", "shape", "trainable", "non_trainable", "inputs", "options")


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, Keyword):
        return value.name
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_value(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    return show(value)


def _count(value):
    """A size or count: an int, or (with unbound parameters) its closed form as text."""
    if isinstance(value, int):
        return value
    return int(value) if value.is_Integer else str(value)


def _options(result: LayerResult) -> dict:
    options = {key: _value(value) for key, value in result.args.values.items()
               if not key.startswith("_")}  # `_`-keys are derived, not written by the user
    if result.args.activation is not None:
        options["activation"] = result.args.activation
    return dict(sorted(options.items()))


def layer_row(result: LayerResult) -> tuple:
    return (result.name, result.op, tuple(_count(d) for d in result.shape),
            _count(result.trainable), _count(result.non_trainable), tuple(result.inputs),
            _options(result))


def network_fingerprint(analysis: Analysis) -> tuple:
    """The fingerprint of an analysed network: one row per layer (see the module docstring)."""
    return tuple(layer_row(r) for r in analysis.layers)


def fingerprint_source(fingerprint: tuple, width: int = 99) -> str:
    """`NETWORK_FINGERPRINT = (...)` for the generated program, one row per line (its options
    on continuation lines where the row is wider than `width`); every value is written with
    `repr()`."""
    lines = [
        "# What shapelang analysed, one row per layer: (name, op, shape, trainable, non-trainable,",
        "# inputs, options). `train --resume` refuses checkpoints of any other network.",
        "NETWORK_FINGERPRINT = (",
    ]
    for row in fingerprint:
        _require_plain(row)
        one_line = f"    {row!r},"
        if len(one_line) <= width:
            lines.append(one_line)
            continue
        head = ", ".join(repr(field) for field in row[:-1])
        lines.append(f"    ({head},")
        items = [f"{key!r}: {value!r}" for key, value in row[-1].items()]
        current = "     {"
        for k, item in enumerate(items):
            piece = item + (", " if k < len(items) - 1 else "")
            if len(current) + len(piece.rstrip()) > width and current.strip() != "{":
                lines.append(current.rstrip())
                current = "      "
            current += piece
        lines.append(current + "}),")
    lines.append(")")
    return "\n".join(lines)


def _require_plain(value):
    """Only str, int, tuple and dict reach the program: repr() of them is a literal."""
    if isinstance(value, (tuple, list)):
        for item in value:
            _require_plain(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _require_plain(key)
            _require_plain(item)
    elif not isinstance(value, (str, int)) or isinstance(value, bool):
        raise TypeError(f"a fingerprint holds no {type(value).__name__}")
