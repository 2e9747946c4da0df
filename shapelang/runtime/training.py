"""One training run: the callbacks (checkpoints, logs, divergence), ``fit`` and the ``final:``
line; the ``train`` and ``summary`` commands.
"""

import importlib.util
import math
import time

from .checkpoints import (
    _LOG_FILE,
    _checkpoint_callback,
    _clear_checkpoints,
    _float_logs,
    _Keeper,
    _read_state,
    _restored_model,
    _truncate_log,
)
from .errors import DataError, _OutputError, _reason
from .settings import _fresh_model
from .strategies import _scope


def _divergence_guard():
    """A callback that stops training at the first batch whose loss is NaN or infinite and
    remembers where (``where``: epoch and batch, counted from 1, and the loss)."""
    import keras

    class _StopOnNonFiniteLoss(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.where = None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            loss = _float_logs(logs).get("loss")
            if loss is not None and not math.isfinite(loss) and self.where is None:
                self.where = (self.epoch + 1, batch + 1, loss)
                self.model.stop_training = True

    return _StopOnNonFiniteLoss()


def _diverged(where, checkpointed):
    epoch, batch, loss = where
    kept = f"the last checkpoint is of epoch {checkpointed}" if checkpointed else "none saved"
    return DataError(
        "SL511",
        f"the loss became {loss} in epoch {epoch}, batch {batch}; training stopped ({kept})",
        "lower the learning rate (--lr), and check the data and the loss; "
        "--resume continues from the last checkpoint",
    )


def _callbacks(directory, network, keeper, append):
    import keras

    callbacks = [
        keras.callbacks.CSVLogger(str(directory / _LOG_FILE), append=append),
        _checkpoint_callback(directory, network, keeper),
    ]
    if importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(directory / "logs")))
    return callbacks


def _accuracy(logs, validation):
    """The final accuracy in `logs` (``accuracy`` or another ``*acc*`` metric), or None."""
    keys = sorted((k for k in logs if "acc" in k and k.startswith("val_") == validation), key=len)
    return float(logs[keys[0]]) if keys else None


def _final_line(logs, epochs, seconds, examples):
    parts = [f"epochs={epochs}"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        value = logs.get(key)
        if value is None and key.endswith("accuracy"):
            value = _accuracy(logs, key.startswith("val_"))
        if value is not None:
            parts.append(f"{key}={float(value):.4f}")
    parts.append(f"time={seconds:.1f}s")
    if seconds > 0 and examples:
        parts.append(f"examples/s={examples / seconds:.1f}")
    return "final: " + " ".join(parts)


def _last_logs(history):
    return {key: values[-1] for key, values in history.history.items() if values}


def _fit(model, data, directory, **arguments):
    """``model.fit``, with a failure explained: a write that failed names its file, a corrupt
    shard or image found while reading names the file (TensorFlow's own error does not)."""
    try:
        return model.fit(**arguments)
    except (DataError, _OutputError):
        raise
    except OSError as error:  # the callbacks' writes: checkpoints, the CSV log, TensorBoard
        raise _OutputError(
            error.filename or directory, f"cannot be written: {_reason(error)}"
        ) from None
    except Exception as error:
        explained = data.explain_failure(error)
        if explained is None:
            raise
        raise explained from None


def _train_single(args, network, settings, data, strategy, directory, plan):
    """One training run with checkpoints, resumable."""
    if plan.clear:
        _clear_checkpoints(directory)
    with _scope(strategy):
        if plan.checkpoint is not None:
            model = _restored_model(plan.checkpoint, network, args.lr, args.jit)
        else:
            model = _fresh_model(network, settings, args.jit)
    if plan.checkpoint is not None:
        print(f"resuming from epoch {plan.epoch} ({plan.checkpoint})")
        _truncate_log(directory / _LOG_FILE, plan.epoch)
    monitor = "val_loss" if data.validation_count else "loss"
    keeper = _Keeper(args.keep, monitor, (plan.state or {}).get("best"))
    guard = _divergence_guard()
    train, validation = data.datasets(settings.batch)
    start = time.perf_counter()
    history = _fit(
        model,
        data,
        directory,
        x=train,
        validation_data=validation,
        epochs=settings.epochs,
        initial_epoch=plan.epoch,
        callbacks=[guard, *_callbacks(directory, network, keeper, plan.checkpoint is not None)],
        shuffle=False,  # the datasets shuffle themselves
        verbose=min(args.verbose, 2),
    )
    seconds = time.perf_counter() - start
    if guard.where is not None:
        state = _read_state(directory)
        raise _diverged(guard.where, state["epoch"] if state else 0)
    examples = data.train_count * (settings.epochs - plan.epoch)
    best = keeper.best
    kept = f" (best by {best['monitor']}: {best['checkpoint']})" if best else ""
    print(f"checkpoints: {directory}{kept}")
    print(_final_line(_last_logs(history), settings.epochs, seconds, examples))
    return 0
