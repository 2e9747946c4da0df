"""The ``train:`` block's Keras names in PyTorch: the optimizer and its options, the loss (with
Keras's arithmetic on probabilities, or on logits) and the metrics. Checked before any data is
read; torch is imported inside the functions that build things.
"""

import dataclasses

from .errors import DataError

#: Keras's fuzz factor: probabilities are clipped to [EPSILON, 1 - EPSILON] before the log.
_EPSILON = 1e-7


#: Keras optimizer name -> (torch.optim class, {Keras option: (torch keyword, Keras default)}).
#: ``beta_1`` and ``beta_2`` become torch's ``betas`` pair.
_OPTIMIZERS = {
    "sgd": (
        "SGD",
        {"learning_rate": ("lr", 0.01), "momentum": ("momentum", 0.0),
         "nesterov": ("nesterov", False)},
    ),
    "adam": (
        "Adam",
        {"learning_rate": ("lr", 1e-3), "beta_1": ("beta_1", 0.9), "beta_2": ("beta_2", 0.999),
         "epsilon": ("eps", 1e-7), "amsgrad": ("amsgrad", False)},
    ),
    "adamw": (
        "AdamW",
        {"learning_rate": ("lr", 1e-3), "beta_1": ("beta_1", 0.9), "beta_2": ("beta_2", 0.999),
         "epsilon": ("eps", 1e-7), "amsgrad": ("amsgrad", False),
         "weight_decay": ("weight_decay", 0.004)},
    ),
    "rmsprop": (
        "RMSprop",
        {"learning_rate": ("lr", 1e-3), "rho": ("alpha", 0.9), "momentum": ("momentum", 0.0),
         "epsilon": ("eps", 1e-7), "centered": ("centered", False)},
    ),
    "adagrad": (
        "Adagrad",
        {"learning_rate": ("lr", 1e-3),
         "initial_accumulator_value": ("initial_accumulator_value", 0.1),
         "epsilon": ("eps", 1e-7)},
    ),
    "adadelta": (
        "Adadelta",
        {"learning_rate": ("lr", 1e-3), "rho": ("rho", 0.95), "epsilon": ("eps", 1e-7)},
    ),
    "adamax": (
        "Adamax",
        {"learning_rate": ("lr", 1e-3), "beta_1": ("beta_1", 0.9), "beta_2": ("beta_2", 0.999),
         "epsilon": ("eps", 1e-7)},
    ),
}  # fmt: skip


#: Options the runtime applies itself, for every optimizer, as Keras 3 does: weight decay
#: decoupled from the gradient (``w -= lr * weight_decay * w`` before the step; AdamW's own),
#: and clipping of each gradient by its norm or its values.
_RUNTIME_OPTIONS = ("weight_decay", "clipnorm", "clipvalue")


#: Keras loss names and their aliases -> the loss.
_LOSSES = {
    "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
    "categorical_crossentropy": "categorical_crossentropy",
    "binary_crossentropy": "binary_crossentropy",
    "mean_squared_error": "mean_squared_error",
    "mse": "mean_squared_error",
    "mean_absolute_error": "mean_absolute_error",
    "mae": "mean_absolute_error",
}


_ACCURACIES = ("accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy")


_METRIC_ERRORS = {"mean_squared_error": "mean_squared_error", "mse": "mean_squared_error",
                  "mean_absolute_error": "mean_absolute_error", "mae": "mean_absolute_error"}  # fmt: skip


@dataclasses.dataclass
class _Recipe:
    """How a PyTorch model trains: the optimizer class and its keyword arguments, the options
    the runtime applies, the loss and the metrics (by name)."""

    optimizer: str
    keywords: dict
    learning_rate: float
    weight_decay: float
    clipnorm: object
    clipvalue: object
    loss: str
    metrics: list
    from_logits: bool


def _recipe(settings, from_logits):
    """The settings in PyTorch's terms, or SL509 naming what the torch runtime cannot do."""
    name = str(settings.optimizer).lower()
    if name not in _OPTIMIZERS:
        raise DataError(
            "SL509",
            f"optimizer {settings.optimizer!r} is not one the PyTorch runtime knows",
            f"use one of {', '.join(_OPTIMIZERS)}",
        )
    torch_class, known = _OPTIMIZERS[name]
    keywords = {keyword: default for keyword, default in known.values()}
    runtime = {"weight_decay": 0.0, "clipnorm": None, "clipvalue": None}
    for option, value in settings.optimizer_options.items():
        if option in known:
            keywords[known[option][0]] = value
        elif option in _RUNTIME_OPTIONS:
            runtime[option] = value
        else:
            raise DataError(
                "SL509",
                f"optimizer {name!r} has no option {option!r} in the PyTorch runtime",
                f"its options: {', '.join([*known, *_RUNTIME_OPTIONS])}",
            )
    if "beta_1" in keywords:
        keywords["betas"] = (keywords.pop("beta_1"), keywords.pop("beta_2"))
    if name == "adamw" and runtime["weight_decay"]:  # AdamW decouples it itself
        keywords["weight_decay"] = runtime["weight_decay"]
        runtime["weight_decay"] = 0.0
    loss = _LOSSES.get(str(settings.loss).lower())
    if loss is None:
        raise DataError(
            "SL509",
            f"unknown loss {settings.loss!r} for the PyTorch runtime",
            f"use one of {', '.join(sorted(set(_LOSSES)))}",
        )
    metrics = []
    for metric in settings.metrics:
        if metric not in _ACCURACIES and metric not in _METRIC_ERRORS:
            raise DataError(
                "SL509",
                f"metric {metric!r} is not one the PyTorch runtime computes",
                f"use {', '.join(_ACCURACIES + tuple(_METRIC_ERRORS))}",
            )
        metrics.append(str(metric))
    return _Recipe(
        optimizer=torch_class,
        keywords=keywords,
        learning_rate=float(keywords["lr"]),
        weight_decay=float(runtime["weight_decay"] or 0.0),
        clipnorm=runtime["clipnorm"],
        clipvalue=runtime["clipvalue"],
        loss=loss,
        metrics=metrics,
        from_logits=bool(from_logits),
    )


def _make_optimizer(recipe, parameters):
    import torch

    try:
        return getattr(torch.optim, recipe.optimizer)(parameters, **recipe.keywords)
    except (ValueError, TypeError) as error:
        raise DataError(
            "SL509",
            f"optimizer {recipe.optimizer} with {recipe.keywords}: {error}",
            "fix the optimizer's options on the command line or in the train: block",
        ) from None


def _per_example_loss(recipe, output, labels):
    """The loss of every example of a batch, as Keras computes it: on probabilities, clipped
    to [1e-7, 1 - 1e-7] before the log (categorical cross-entropy renormalises the rows
    first; the sparse one applies a log-softmax to the clipped log-probabilities, as
    TensorFlow does); on logits with ``from_logits`` (``F.cross_entropy``)."""
    import torch
    import torch.nn.functional as F

    output = output.float()
    if output.dim() >= 3:  # a class distribution per position: (N, V, T)
        return _per_position_loss(recipe, output, labels)
    if recipe.loss == "sparse_categorical_crossentropy":
        labels = labels.reshape(-1).long()
        if not recipe.from_logits:
            output = torch.log(output.clamp(_EPSILON, 1 - _EPSILON))
        return F.cross_entropy(output, labels, reduction="none")
    labels = labels.float().reshape(output.shape)
    if recipe.loss == "categorical_crossentropy":
        if recipe.from_logits:
            return F.cross_entropy(output, labels, reduction="none")
        probabilities = output / output.sum(dim=1, keepdim=True)
        probabilities = probabilities.clamp(_EPSILON, 1 - _EPSILON)
        return -(labels * torch.log(probabilities)).sum(dim=1)
    if recipe.loss == "binary_crossentropy":
        if recipe.from_logits:
            losses = F.binary_cross_entropy_with_logits(output, labels, reduction="none")
        else:
            clipped = output.clamp(_EPSILON, 1 - _EPSILON)
            losses = -(labels * torch.log(clipped) + (1 - labels) * torch.log(1 - clipped))
        return losses.reshape(len(output), -1).mean(dim=1)
    difference = output - labels
    if recipe.loss == "mean_squared_error":
        return (difference * difference).reshape(len(output), -1).mean(dim=1)
    return difference.abs().reshape(len(output), -1).mean(dim=1)


def _per_position_loss(recipe, output, labels):
    """Each example's loss of a sequence output, logits or probabilities channels first
    ``(N, V, T)`` against ``(N, T)`` class ids or ``(N, T, V)`` one-hot rows: the mean over the
    positions of each position's loss (Keras averages over examples and positions alike)."""
    import torch
    import torch.nn.functional as F

    if recipe.loss == "sparse_categorical_crossentropy":
        if not recipe.from_logits:
            output = torch.log(output.clamp(_EPSILON, 1 - _EPSILON))
        losses = F.cross_entropy(output, labels.long(), reduction="none")
    elif recipe.loss == "categorical_crossentropy":
        labels = labels.float().movedim(-1, 1)
        if recipe.from_logits:
            losses = F.cross_entropy(output, labels, reduction="none")
        else:
            probabilities = output / output.sum(dim=1, keepdim=True)
            probabilities = probabilities.clamp(_EPSILON, 1 - _EPSILON)
            losses = -(labels * torch.log(probabilities)).sum(dim=1)
    else:  # the data checks refuse other losses for a sequence output (SL512)
        raise ValueError(f"loss {recipe.loss!r} on an output of shape {tuple(output.shape)}")
    return losses.reshape(len(output), -1).mean(dim=1)


def _per_example_metric(recipe, name, output, labels):
    """One metric of every example (Keras's choice for ``accuracy``: binary with one output
    unit -- probabilities over 0.5, logits over 0 --, by class index against index labels,
    else against one-hot rows)."""
    output = output.float()
    if output.dim() >= 3 and name not in _METRIC_ERRORS:  # per position: (N, V, T)
        predicted = output.argmax(dim=1)
        if labels.dim() == predicted.dim():
            correct = predicted == labels.long()
        else:
            correct = predicted == labels.argmax(dim=-1)
        return correct.float().reshape(len(output), -1).mean(dim=1)
    if name in _METRIC_ERRORS:
        difference = output - labels.float().reshape(output.shape)
        if _METRIC_ERRORS[name] == "mean_squared_error":
            return (difference * difference).reshape(len(output), -1).mean(dim=1)
        return difference.abs().reshape(len(output), -1).mean(dim=1)
    if output.shape[1] == 1 and name in ("accuracy", "acc"):
        threshold = 0.0 if recipe.from_logits else 0.5
        predicted = (output > threshold).float()
        return (predicted == labels.float().reshape(output.shape)).float().mean(dim=1)
    predicted = output.argmax(dim=1)
    if labels.dim() == 1 or (labels.dim() == 2 and labels.shape[1] == 1):
        return (predicted == labels.reshape(-1).long()).float()
    return (predicted == labels.argmax(dim=1)).float()
