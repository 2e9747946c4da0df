"""Acceleration and distribution: the mixed-precision policy, ``tf.distribute`` strategies and each
worker's directory.
"""

import contextlib
import json
import os

from .errors import DataError


@contextlib.contextmanager
def _precision_policy(mixed):
    """Use the ``mixed_float16`` policy inside the block when `mixed`; restore it after."""
    import keras

    previous = keras.mixed_precision.global_policy()
    if mixed:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _make_strategy(name):
    """The ``tf.distribute`` strategy for ``--strategy`` (None for ``default``)."""
    if name == "default":
        return None
    import tensorflow as tf

    if name == "multiworker":
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except ValueError as error:
            raise DataError("SL509", f"cannot use TF_CONFIG: {error}") from None
    if tf.config.list_logical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    devices = [device.name for device in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices)


def _scope(strategy):
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def _worker_directory(directory, strategy_name):
    """Where this worker writes: the directory itself, or a sub-directory for a non-chief."""
    if strategy_name != "multiworker":
        return directory
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    except ValueError as error:
        raise DataError("SL509", f"TF_CONFIG is not JSON: {error}") from None
    task = config.get("task") or {}
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    chief = kind == "chief" or (
        kind == "worker" and index == 0 and "chief" not in config.get("cluster", {})
    )
    return directory if chief else directory / f"{kind}-{index}"
