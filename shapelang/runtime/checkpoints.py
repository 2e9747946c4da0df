"""The checkpoint directory: its lock, ``state.json``, checkpoints written atomically, which are
kept, and what ``--resume`` checks.
"""

import contextlib
import csv
import dataclasses
import json
import math
import os
import re
import socket
import time

from .checks import _shape_text
from .errors import DataError, _OutputError, _reason
from .fingerprint import _fingerprint_difference, _fingerprint_parameters

_STATE_FILE = "state.json"


_LOG_FILE = "training-log.csv"


_LOCK_FILE = "lock"


#: The checkpoint file's suffix by backend: ``epoch-NNNN.keras`` or ``epoch-NNNN.pt``.
_SUFFIXES = {"keras": ".keras", "torch": ".pt"}


def _checkpoint_name(suffix):
    """The pattern of a checkpoint file's name (NNNN: the epochs completed)."""
    return re.compile(r"epoch-(\d{4,})" + re.escape(suffix))


def _restored_model(checkpoint, network, lr, jit):
    """The checkpoint's model, optimizer state included, checked against the network: its
    input shape, and its parameter count against the fingerprint's."""
    import keras

    try:
        model = keras.saving.load_model(checkpoint)
    except Exception as error:  # noqa: BLE001 -- a damaged file fails in many ways
        first_line = (str(error) or type(error).__name__).splitlines()[0]
        raise DataError(
            "SL510",
            f"cannot load checkpoint {checkpoint}: {first_line}",
            "start again with --overwrite, or train into another --checkpoint-dir",
        ) from None
    shapes = model.input_shape
    several = isinstance(shapes, (list, tuple)) and shapes and isinstance(shapes[0], (list, tuple))
    taken = ([tuple(s[1:]) for s in shapes] if several else
             [tuple(shapes[1:])] if isinstance(shapes, tuple) else None)
    wanted = ([s.shape for s in network.inputs] if network.inputs is not None
              else [network.input_shape])
    if taken != wanted:
        raise DataError(
            "SL510",
            f"checkpoint {checkpoint} is of a network with input {model.input_shape}, "
            f"but this network's input is {_shape_text(network.input_shape)}",
            "start again with --overwrite, or train into another --checkpoint-dir",
        )
    expected = _fingerprint_parameters(network.fingerprint)
    if expected is not None and model.count_params() != expected:
        raise DataError(
            "SL510",
            f"checkpoint {checkpoint} holds {model.count_params():,} parameters, "
            f"but this network has {expected:,}",
            "start again with --overwrite, or train into another --checkpoint-dir",
        )
    if lr is not None:
        model.optimizer.learning_rate = lr
    if jit:
        model.jit_compile = True
    return model


def _make_directory(directory):
    """Create the checkpoint directory, or say in one line why it cannot be one."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise _OutputError(directory, "is a file, not a directory") from None
    except NotADirectoryError:
        raise _OutputError(directory, "cannot be created: a part of its path is a file") from None
    except OSError as error:
        raise _OutputError(directory, f"cannot be created: {_reason(error)}") from None
    if not directory.is_dir():
        raise _OutputError(directory, "is not a directory")


def _try_lock(stream):
    """Take the kernel's lock on an open file without waiting; False if another holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(stream.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def _locked(directory):
    """Hold ``DIR/lock`` while training into DIR, so that a second training into it refuses.

    The lock is the kernel's lock on the open file (``flock``; ``msvcrt.locking`` on Windows),
    not the file's existence: it ends with the process that holds it, however that process
    ends (SIGKILL and power loss included), so a lock can never be stale. The file records the
    holder's pid, host and start time for the message of a refused run, and stays in place.
    """
    _make_directory(directory)
    path = directory / _LOCK_FILE
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise _OutputError(directory, f"is not writable: {_reason(error)}") from None
    with open(descriptor, "r+", encoding="utf-8") as stream:
        if not _try_lock(stream):
            try:
                holder = stream.read().strip() or "holder unknown"
            except (OSError, ValueError):
                holder = "holder unknown"
            raise DataError(
                "SL510",
                f"{directory} is in use by another training ({holder})",
                "wait for it to end, or train into another --checkpoint-dir (the lock ends "
                "with the process that holds it, even a killed one)",
            )
        try:
            stream.seek(0)
            stream.truncate()
            since = time.strftime("%Y-%m-%d %H:%M:%S")
            stream.write(f"pid {os.getpid()} on {socket.gethostname()}, since {since}\n")
            stream.flush()
        except OSError as error:
            raise _OutputError(path, f"cannot be written: {_reason(error)}") from None
        yield


def _write_atomically(path, text):
    partial = path.with_name(f"partial-{path.name}")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise _OutputError(path, f"cannot be written: {_reason(error)}") from None


def _float_logs(logs):
    values = {}
    for key, value in (logs or {}).items():
        with contextlib.suppress(TypeError, ValueError):
            values[key] = float(value)
    return values


def _state_text(state):
    """state.json: one key a line, and one line per layer of the fingerprint."""
    parts = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in state.items() if k != "fingerprint"]
    if state.get("fingerprint") is not None:
        rows = ",\n".join(f"    {json.dumps(row)}" for row in state["fingerprint"])
        parts.append(f'  "fingerprint": [\n{rows}\n  ]')
    return "{\n" + ",\n".join(parts) + "\n}\n"


class _Keeper:
    """Which checkpoints stay: the last `keep` (every one when `keep` is None) and the best
    by `monitor` (``val_loss``, or ``loss`` without validation; lower is better)."""

    def __init__(self, keep, monitor, best=None, suffix=".keras"):
        self.keep = keep
        self.monitor = monitor
        self.suffix = suffix
        same = isinstance(best, dict) and best.get("monitor") == monitor
        self.best = best if same and isinstance(best.get("value"), (int, float)) else None

    def record(self, epoch, name, logs):
        value = _float_logs(logs).get(self.monitor)
        better = self.best is None or (value is not None and value < self.best["value"])
        if value is not None and math.isfinite(value) and better:
            self.best = {"epoch": epoch, "checkpoint": name, "monitor": self.monitor}
            self.best["value"] = value

    def prune(self, directory, epoch):
        if self.keep is None:
            return
        found = {}
        for path in directory.glob(f"epoch-*{self.suffix}"):
            match = _checkpoint_name(self.suffix).fullmatch(path.name)
            if match:
                found[int(match.group(1))] = path
        kept = set(sorted(number for number in found if number <= epoch)[-self.keep :])
        if self.best is not None:
            kept.add(self.best["epoch"])
        for number, path in found.items():
            if number not in kept:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


def _save_checkpoint(write, directory, epoch, network, logs, keeper):
    """Write ``epoch-NNNN.keras`` (``.pt``) with ``write(path)`` under a temporary name and
    rename it, then ``state.json``; then delete the checkpoints that `keeper` does not keep."""
    final = directory / f"epoch-{epoch:04d}{_SUFFIXES[network.backend]}"
    partial = final.with_name(f"partial-{final.name}")
    try:
        write(partial)
        os.replace(partial, final)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise _OutputError(final, f"cannot be written: {_reason(error)}") from None
    keeper.record(epoch, final.name, logs)
    state = {
        "model": network.name,
        "epoch": epoch,
        "checkpoint": final.name,
        "logs": _float_logs(logs),
        "best": keeper.best,
        "fingerprint": network.fingerprint,
    }
    if network.backend != "keras":  # a Keras state.json names no backend
        state = {"backend": network.backend, **state}
    _write_atomically(directory / _STATE_FILE, _state_text(state))
    keeper.prune(directory, epoch)


def _checkpoint_callback(directory, network, keeper):
    import keras

    class _EpochCheckpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            loss = _float_logs(logs).get("loss")
            if loss is not None and not math.isfinite(loss):
                return  # a diverged epoch: its weights are not worth keeping
            _save_checkpoint(self.model.save, directory, epoch + 1, network, logs, keeper)

    return _EpochCheckpoint()


def _read_state(directory):
    path = directory / _STATE_FILE
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            raise TypeError("not a JSON object")
        epoch = state["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch {epoch!r} is not a count of epochs")
        if not isinstance(state["checkpoint"], str):
            raise TypeError("checkpoint is not a file name")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(
            "SL510",
            f"cannot read {path}: {error!r}",
            "delete the checkpoint directory, or choose another --checkpoint-dir",
        ) from None
    return state


def _checkpoint_file(directory, name, suffix=".keras"):
    """The checkpoint state.json names: a file ``epoch-NNNN.keras`` (``.pt``) in DIR itself,
    no link."""
    path = directory / name
    inside = _checkpoint_name(suffix).fullmatch(name) is not None and not path.is_symlink()
    if inside and path.exists():
        inside = path.resolve().parent == directory.resolve()
    if not inside:
        raise DataError(
            "SL510",
            f"{directory / _STATE_FILE} names the checkpoint {name!r}, which is not a "
            f"checkpoint file in {directory}",
            f"a checkpoint is a file epoch-NNNN{suffix} in the checkpoint directory itself; "
            "start again with --overwrite",
        )
    if not path.is_file():
        raise DataError(
            "SL510",
            f"{directory / _STATE_FILE} names {path}, which does not exist",
            "start again with --overwrite",
        )
    return path


def _check_same_network(directory, state, network):
    """Refuse to resume from checkpoints of another network (SL510, naming what changed)."""
    fresh = "start again with --overwrite (it deletes these checkpoints), or train into another "
    fresh += "--checkpoint-dir"
    written_by = state.get("backend", "keras")
    if written_by != network.backend:
        raise DataError(
            "SL510",
            f"{directory} holds checkpoints of the {written_by} program of "
            f"{state.get('model')!r}, and this is its {network.backend} program",
            fresh,
        )
    if state.get("model") != network.name:
        raise DataError(
            "SL510",
            f"{directory} holds checkpoints of {state.get('model')!r}, not {network.name!r}",
            fresh,
        )
    if network.fingerprint is None:
        return
    stored = state.get("fingerprint")
    if stored is None:
        raise DataError(
            "SL510",
            f"{directory / _STATE_FILE} does not record which network its checkpoints are of "
            "(no fingerprint), so resuming could train another network",
            fresh,
        )
    try:
        difference = _fingerprint_difference(stored, network.fingerprint)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError):
        difference = "its fingerprint in state.json is damaged"
    if difference is not None:
        raise DataError(
            "SL510",
            f"{directory} holds checkpoints of another network: {difference}",
            fresh,
        )


def _clear_checkpoints(directory):
    patterns = [f"epoch-*{suffix}" for suffix in _SUFFIXES.values()]
    for pattern in (*patterns, "partial-*", _STATE_FILE, _LOG_FILE):
        for path in directory.glob(pattern):
            path.unlink()


@dataclasses.dataclass
class _Plan:
    """Where a run starts: its first epoch, the checkpoint it restores (None: fresh weights),
    the state it continues, and whether the directory's old checkpoints are deleted first."""

    epoch: int = 0
    checkpoint: object = None
    state: dict = None
    clear: bool = False


def _plan_checkpoints(directory, network, resume, overwrite):
    """Check the checkpoint directory before any data is read; delete nothing yet."""
    state = _read_state(directory)
    if resume and state is None:
        print(f"note: no checkpoint in {directory}; training starts at epoch 0")
        return _Plan()
    if resume:
        _check_same_network(directory, state, network)
        suffix = _SUFFIXES[network.backend]
        checkpoint = _checkpoint_file(directory, state["checkpoint"], suffix)
        return _Plan(state["epoch"], checkpoint, state)
    found = any(any(directory.glob(f"epoch-*{suffix}")) for suffix in _SUFFIXES.values())
    if (state is not None or found) and not overwrite:
        done = f" (last completed epoch: {state['epoch']})" if state else ""
        raise DataError(
            "SL510",
            f"{directory} already holds checkpoints of an earlier run{done}",
            "continue it with --resume, start again with --overwrite, "
            "or choose another --checkpoint-dir",
        )
    return _Plan(clear=True)


def _truncate_log(path, epochs):
    """Keep only the log rows of the first `epochs` epochs (those the checkpoint has seen)."""
    if not path.exists():
        return
    with path.open(newline="") as stream:
        rows = list(csv.reader(stream))
    if not rows:
        return
    header, kept = rows[0], [rows[0]]
    column = header.index("epoch") if "epoch" in header else 0
    for row in rows[1:]:
        with contextlib.suppress(ValueError, IndexError):
            if len(row) == len(header) and int(row[column]) < epochs:
                kept.append(row)
    partial = path.with_name(f"partial-{path.name}")
    with partial.open("w", newline="") as stream:
        csv.writer(stream).writerows(kept)
    os.replace(partial, path)
