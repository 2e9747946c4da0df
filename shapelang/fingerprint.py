"""The fingerprint of an analysed network: what `--resume` compares before it trains on.

One row per layer, in the analysis's order:

    (name, op, shape, trainable, non_trainable, inputs, options)

`options` maps every option the layer was bound with (defaults included, and its activation)
to the value as shapelang shows it; `shape` is the activation shape, `trainable` and
`non_trainable` the parameter counts, `inputs` the names of the layers it reads (the wiring).
Every entry is a str, an int, or a tuple or dict of them, so that the generated program can
hold the fingerprint as a literal (codegen/frame.py writes it) and `state.json` as JSON. The training
runtime stores it with every checkpoint and refuses to resume into a network whose fingerprint
differs, naming the first layer that differs (shapelang/runtime/fingerprint.py).
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
