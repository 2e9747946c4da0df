"""Training settings: the ``train:`` block's defaults, the command-line overrides, their checks,
the optimizer and the compiled model.
"""

import dataclasses
import math

from .errors import DataError

_DEFAULT_SETTINGS = {
    "optimizer": "adam",
    "optimizer_options": {},
    "loss": "sparse_categorical_crossentropy",
    "batch": 32,
    "epochs": 10,
    "metrics": ["accuracy"],
    "validation_split": 0.2,
}


@dataclasses.dataclass
class _Network:
    build_model: object
    name: str
    input_shape: tuple
    output_units: int
    fingerprint: list = None  # the analysis's, as JSON holds it; None for a hand-written model
    backend: str = "keras"  # or "torch": what build_model returns
    from_logits: bool = False  # the model's output: logits (True) or probabilities
    # several inputs (or an integer one): `named.InputSpec`s in the network's order; None
    # for one float32 input (`input_shape`). `output_units` a dict by name for several outputs
    inputs: tuple = None


def network_inputs(network):
    """`load_dataset`'s input shape and `input_dtypes`: one shape and None, or with named
    inputs dicts by name."""
    if network.inputs is None:
        return network.input_shape, None
    return ({s.name: s.shape for s in network.inputs}, {s.name: s.dtype for s in network.inputs})


@dataclasses.dataclass
class _Settings:
    optimizer: str
    optimizer_options: dict
    loss: str
    metrics: list
    batch: int
    epochs: int
    validation_split: float


def _settings(defaults, args):
    """The ``train:`` block's settings, overridden by the command line."""
    unknown = sorted(set(defaults) - set(_DEFAULT_SETTINGS))
    if unknown:
        raise DataError("SL509", f"unknown training settings {unknown}")
    merged = {**_DEFAULT_SETTINGS, **{k: v for k, v in defaults.items() if v is not None}}
    optimizer = merged["optimizer"]
    options = dict(merged["optimizer_options"])
    if "lr" in options:
        options["learning_rate"] = options.pop("lr")
    if args.optimizer and args.optimizer != optimizer:
        optimizer = args.optimizer
        options = {k: v for k, v in options.items() if k == "learning_rate"}
    if args.lr is not None:
        options["learning_rate"] = args.lr
    if args.momentum is not None:
        options["momentum"] = args.momentum
    split = merged["validation_split"] if args.validation_split is None else args.validation_split
    return _Settings(
        optimizer=optimizer,
        optimizer_options=options,
        loss=args.loss or merged["loss"],
        metrics=list(merged["metrics"]),
        batch=args.batch_size or int(merged["batch"]),
        epochs=args.epochs or int(merged["epochs"]),
        validation_split=float(split),
    )


def _make_optimizer(settings):
    import keras

    try:
        optimizer_class = type(keras.optimizers.get(settings.optimizer))
        return optimizer_class(**settings.optimizer_options)
    except (ValueError, TypeError) as error:
        raise DataError(
            "SL509",
            f"optimizer {settings.optimizer!r} with options {settings.optimizer_options}: {error}",
            "use a Keras optimizer (sgd, adam, rmsprop, ...) and its own options",
        ) from None


def _check_numbers(settings):
    """Optimizer options are finite numbers (``nesterov`` a flag), none negative, and the
    learning rate above 0: ``--lr nan`` or ``--lr -1`` would train to NaN or backwards."""
    for key, value in settings.optimizer_options.items():
        if isinstance(value, bool):
            continue
        number = isinstance(value, (int, float)) and math.isfinite(value)
        if key == "learning_rate" and not (number and value > 0):
            raise DataError(
                "SL509",
                f"the learning rate must be a finite number above 0, got {value}",
                "e.g. --lr 1e-3 (or `lr=` in the train: block's optimizer line)",
            )
        if not (number and value >= 0):
            raise DataError(
                "SL509",
                f"optimizer option {key} must be a finite number of at least 0, got {value}",
                "fix it on the command line or in the train: block's optimizer line",
            )


def _check_settings(settings):
    """Fail early, before any data is read, on an unknown loss or optimizer."""
    import keras

    try:
        keras.losses.get(settings.loss)
    except ValueError:
        raise DataError(
            "SL509",
            f"unknown loss {settings.loss!r}",
            "use a Keras loss such as categorical_crossentropy",
        ) from None
    _make_optimizer(settings)


def _compile(model, settings, jit):
    outputs = len(model.outputs)  # several: the loss and the metrics of each, Keras's way
    model.compile(
        optimizer=_make_optimizer(settings),
        loss=settings.loss if outputs == 1 else [settings.loss] * outputs,
        metrics=list(settings.metrics) if outputs == 1 else [list(settings.metrics)] * outputs,
        jit_compile=bool(jit),
    )
    return model


def _fresh_model(network, settings, jit):
    return _compile(network.build_model(), settings, jit)
