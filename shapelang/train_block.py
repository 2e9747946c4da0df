"""The `train:` block: training defaults of the generated program, checked like everything else.

    train:
        optimizer sgd lr=1e-3 momentum=0.9
        loss categorical_crossentropy
        batch 64
        epochs 5
        metrics accuracy
        validation_split 0.2

The result is a plain dict (numbers as Python ints and floats) that the generated program's
`main()` takes as its defaults; every command-line option of `train` overrides it.
"""
from __future__ import annotations

import sympy

from . import ir
from .diagnostics import Diagnostic, DiagnosticError, did_you_mean, error
from .expr import Keyword, Poisoned, evaluate, require_integer, show
from .float64 import require_float64

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam",
              "lion", "ftrl")
#: optimizer option → Keras keyword (lr is the short spelling of learning_rate)
OPTIMIZER_OPTIONS = {"lr": "learning_rate", "learning_rate": "learning_rate",
                     "momentum": "momentum", "nesterov": "nesterov", "beta_1": "beta_1",
                     "beta_2": "beta_2", "epsilon": "epsilon", "rho": "rho",
                     "weight_decay": "weight_decay", "clipnorm": "clipnorm",
                     "clipvalue": "clipvalue"}
LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
          "mean_squared_error", "mean_absolute_error", "huber", "kl_divergence",
          "categorical_hinge", "hinge")
METRICS = ("accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
           "top_k_categorical_accuracy",
           "auc", "precision", "recall", "mean_squared_error", "mean_absolute_error")
SETTINGS = ("optimizer", "loss", "batch", "epochs", "metrics", "validation_split")


def _keyword(node: ir.Expr, env, choices, what) -> str:
    value = evaluate(node, env, keywords=True)
    if isinstance(value, Keyword) and value.name in choices:
        return value.name
    name = value.name if isinstance(value, Keyword) else show(value)
    raise error("SL204", f"{what} `{name}` is not one shapelang knows", node.span,
                did_you_mean(name, choices) or f"choose one of {', '.join(choices)}")


def _number(node: ir.Expr, env, what):
    value = evaluate(node, env, keywords=True)
    if isinstance(value, Keyword) and value.name in ("true", "false"):
        return value.name == "true"
    if not isinstance(value, sympy.Basic) or not value.is_number:
        raise error("SL204", f"{what} must be a number, got {show(value)}", node.span)
    return int(value) if value.is_Integer else float(require_float64(value, node.span, what))


def _one(setting: ir.Setting):
    if len(setting.positional) != 1 or (setting.options and setting.key != "optimizer"):
        raise error("SL208", f"`{setting.key}` takes one value", setting.span)
    return setting.positional[0]


def train_settings(settings: tuple[ir.Setting, ...], env: dict,
                   diagnostics: list[Diagnostic]) -> dict:
    """The `train:` block as the generated program's defaults; problems go to `diagnostics`."""
    result: dict = {}
    for setting in settings:
        try:
            _apply(setting, env, result)
        except DiagnosticError as exc:
            diagnostics.append(exc.diagnostic)
        except Poisoned:
            pass
    return result


def _apply(setting: ir.Setting, env, result: dict):
    key = setting.key
    if key not in SETTINGS:
        raise error("SL214", f"unknown `train:` setting `{key}`", setting.span,
                    did_you_mean(key, SETTINGS) or f"the settings: {', '.join(SETTINGS)}")
    if key in result:
        raise error("SL219", f"`train:` setting `{key}` is given twice", setting.span)
    if key == "optimizer":
        if len(setting.positional) != 1:
            raise error("SL208", "`optimizer` takes one name and key=value options",
                        setting.span, "e.g. `optimizer sgd lr=1e-3 momentum=0.9`")
        result["optimizer"] = _keyword(setting.positional[0], env, OPTIMIZERS, "optimizer")
        options = {}
        for option in setting.options:
            keras_key = OPTIMIZER_OPTIONS.get(option.key)
            if keras_key is None:
                raise error("SL202", f"optimizer option `{option.key}` is not one shapelang "
                            "knows", option.key_span,
                            did_you_mean(option.key, OPTIMIZER_OPTIONS))
            options[keras_key] = _number(option.value, env, f"optimizer option {option.key}")
        result["optimizer_options"] = options
    elif key == "loss":
        result["loss"] = _keyword(_one(setting), env, LOSSES, "loss")
    elif key == "metrics":
        if setting.options or not setting.positional:
            raise error("SL208", "`metrics` takes one or more metric names", setting.span)
        result["metrics"] = [_keyword(node, env, METRICS, "metric")
                             for node in setting.positional]
    elif key in ("batch", "epochs"):
        node = _one(setting)
        result[key] = int(require_integer(evaluate(node, env), node.span, f"`{key}`", 1))
    elif key == "validation_split":
        node = _one(setting)
        value = _number(node, env, "validation_split")
        if isinstance(value, bool) or not 0 <= value < 1:
            raise error("SL209", f"validation_split must be in [0, 1), got {value}", node.span)
        result[key] = value
