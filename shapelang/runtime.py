"""Training runtime of the programs that ``shapelang keras`` generates.

The code generator copies this file, verbatim, into every generated program after the
model-building code, so it is self-contained: at the top level it imports only the Python
standard library and numpy; TensorFlow, Keras and scikit-learn are imported inside the functions
that use them. The generated ``main()`` calls :func:`run_main`::

    python model.py summary
    python model.py train --data SPEC [--epochs N] [--batch-size B] [--lr X] [--resume] ...

Settings: the ``train:`` block's values (the ``defaults`` of :func:`run_main`), where given,
else ``adam``, ``sparse_categorical_crossentropy``, batch 32, 10 epochs, metrics
``["accuracy"]`` and a validation split of 0.2; ``--optimizer``, ``--lr``, ``--momentum``,
``--loss``, ``--batch-size``, ``--epochs`` and ``--validation-split`` override them (a different
``--optimizer`` keeps only the block's learning rate of its options). ``--seed`` (default 0)
seeds the weights and the data. A run ends with a line ``final: epochs=.. loss=.. accuracy=..
val_loss=.. val_accuracy=.. time=..s examples/s=..`` (the time of ``fit`` itself).

Data sources (``--data SPEC``), all read with ``tf.data`` and prefetched:

- ``data.npz``: one file with arrays ``x`` (examples) and ``y`` (labels), loaded into memory.
- ``'shards/part-*.npz'`` (a glob; quote it): several such files, streamed one file after
  another from a generator, so that about one shard is in memory at a time (the order of the
  shards and of the examples in each is shuffled every epoch). Every shard must have the same
  example shape and dtypes; their headers are checked before training.
- ``images/``: a directory of class sub-folders of images (``images/cat/*.png``, ...), decoded
  with ``keras.utils.image_dataset_from_directory``, resized to the network's input height and
  width and scaled to [0, 1]; the input's channel count picks grayscale (1), RGB (3) or RGBA (4).
- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 examples, 10 classes, no
  download), scaled to [0, 1] and laid out as ``(8, 8, 1)``, ``(8, 8)`` or ``(64,)`` to match the
  network's input.
- ``synthetic``: ``--synthetic-size`` random normal examples of the input shape with random
  labels, generated on the fly (smoke tests and benchmarks).

Examples are never reshaped or transposed to fit the network: an array of ``(480, 270, 3)``
examples for a ``(270, 480, 3)`` input is an error naming both shapes. Values are used as they
are (cast to float32); only decoded image files and ``digits`` are scaled to [0, 1]. NaN and
infinite values are refused: in an ``.npz`` before training; in a shard when it is read (the
shards are streamed, so a shard's values are first seen in the first epoch). A damaged file is
an error naming it: an ``.npz`` before training; a shard when it is read; an image whose first
bytes are no image's before training, any other undecodable image when decoding fails, after
which every image is decoded once to find it.

Labels: ``y`` holds class indices (shape ``(n,)`` or ``(n, 1)``) or one-hot rows (``(n, units)``),
where ``units`` is the width of the network's last layer. For a categorical loss (one whose name
contains ``categorical`` but not ``sparse``) integer labels are one-hot encoded; for a sparse loss
one-hot rows are turned into indices with argmax. Other losses get the labels as they are, which
must then be rows of ``units`` values (or single values when ``units`` is 1).

Validation split (``--validation-split F``, default from the ``train:`` block, else 0.2):
``.npz``, ``digits`` and ``synthetic`` hold out ``ceil(F * n)`` examples, chosen by a shuffle
seeded with ``--seed`` (the same split every run); shards hold out the last ``ceil(F * n_i)``
examples of every shard (a tail hold-out, the same every run); an image directory uses Keras's
seeded split. ``--validation-split 0`` trains without validation.

Checkpoints (``--checkpoint-dir``, default ``checkpoints/<model name>``): after every epoch the
model (with its optimizer state) is written to ``epoch-NNNN.keras`` (NNNN = epochs completed)
under a temporary name and renamed, then ``state.json`` records the last completed epoch, its
metrics, the best checkpoint so far and the network's fingerprint; ``training-log.csv``
(``keras.callbacks.CSVLogger``) has one row per epoch; TensorBoard logs go to ``logs/`` when the
``tensorboard`` package is installed. Kept are the last checkpoint and the best one (lowest
``val_loss``, or ``loss`` without validation); ``--keep N`` keeps the last N and the best,
``--keep all`` every one. ``--resume`` loads the checkpoint named in ``state.json`` and continues
at that epoch, so a run killed at any moment (even with SIGKILL) loses at most the epoch it was
in; log rows of epochs that were not checkpointed are dropped. A resumed run keeps the
checkpoint's optimizer, its state and its loss; ``--lr`` still applies. ``--resume`` without a
checkpoint starts at epoch 0, so a job script can always pass it. A fresh run refuses a
directory that already holds checkpoints unless ``--overwrite`` is given (which deletes them).

The fingerprint (``run_main(fingerprint=...)``; shapelang passes the analysis's) has one row per
layer: name, op, shape, trainable and non-trainable parameter counts, the layers it reads and
its options. ``--resume`` refuses checkpoints whose fingerprint differs, naming the first layer
that differs and what differs in it, or whose ``state.json`` records none; it also refuses a
checkpoint whose input shape or parameter count is not the network's, and a ``state.json``
that names anything but a file ``epoch-NNNN.keras`` in the checkpoint directory itself.

Two runs never train into one directory: a run holds the kernel's lock (``flock``;
``msvcrt.locking`` on Windows) on ``DIR/lock`` from start to end, and a second run refuses,
naming the holder's pid, host and start time (which the file records). The lock belongs to the
open file, not to the file's existence, so it ends with its process however that ends (SIGKILL
included): no stale lock can block a later run. A directory that cannot be created or written
(a file, no permission, a full disk) is a one-line error naming it, exit code 2; a checkpoint
that fails to be written leaves no partial file, and ``state.json`` still names the last good one.

A loss that becomes NaN or infinite stops training at that batch (SL511, exit code 1); that
epoch is not checkpointed. In a grid, such a combination stops and cannot be the best; the grid
fails only when every combination does.

Grid (``--grid batch=32,64 --grid lr=1e-3,1e-4``; keys ``batch``, ``lr``, ``epochs``,
``momentum``): every combination is trained from fresh weights with the same seed, without
checkpoints; each one's epoch log goes to ``grid-logs/`` in the checkpoint directory, and one
results CSV (``--results``, default ``grid-results.csv`` there) gets one row per combination:
the combination, final training and validation loss and accuracy, seconds and examples per
second, and a ``*`` in the ``best`` column of the row with the best validation accuracy.

Acceleration and distribution: ``--mixed-precision`` sets the ``mixed_float16`` policy before
the model is built (the generated model keeps its softmax in float32); ``--jit`` compiles with XLA
(``jit_compile=True``; without it XLA is off). ``--strategy mirrored`` builds and trains under
``tf.distribute.MirroredStrategy`` over all local GPUs (without GPUs, over all logical CPU
devices); ``--batch-size`` is then the global batch, split between the replicas.
``--strategy multiworker`` uses ``tf.distribute.MultiWorkerMirroredStrategy``, configured by the
``TF_CONFIG`` environment variable, which every machine sets to the same cluster and its own
task, e.g. ``{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker",
"index": 0}}``; without ``TF_CONFIG`` it runs as a single worker. Every worker runs the same
command; the chief (worker 0, or the task of type ``chief``) writes to the checkpoint directory,
the others to a sub-directory of their own (``worker-1``, ...). Known limitation: Keras 3
(checked with 3.15.1 on TensorFlow 2.21) fails inside ``model.fit`` when the strategy spans more
than one worker -- it averages the first batch and every step's metrics with reductions that a
multi-worker collective all-reduce rejects (keras-team/keras#20585); a one-worker cluster trains.

Exit codes: 0 success; 1 a data or settings problem, printed as a diagnostic (below); 2 a
command-line error (argparse), a file or directory that cannot be written, or an internal error
(with its traceback); 130 interrupted.

Diagnostics are printed to stderr as ``error[CODE]: message`` and ``hint: ...``:

======  =======================================================================================
code    problem
======  =======================================================================================
SL501   data source not found: no such file or directory, a glob that matches nothing, or a
        missing optional package (scikit-learn for ``digits``)
SL502   a file that cannot be read as ``.npz`` (damaged, e.g. a bad CRC), one without the arrays
        ``x`` and ``y``, or an image that cannot be decoded
SL503   the examples' shape differs from the network's input shape (both are named)
SL504   ``x`` and ``y`` hold different numbers of examples
SL505   no examples (an empty array, shard set or image directory), or too few to hold out a
        validation set
SL506   ``x`` or ``y`` is not numeric (strings, objects, complex numbers), or holds NaN or
        infinite values
SL507   labels that do not fit the output layer: a class index outside ``0 .. units-1``, one-hot
        rows of another width, a class-folder count other than ``units``, labels of another rank
SL508   shards that disagree with each other (example shape or dtypes), or a shard rewritten
        during training
SL509   an invalid training setting: unknown optimizer, optimizer option or loss, a learning
        rate that is not a finite number above 0 (or another optimizer option that is not
        finite and at least 0), a bad grid, ``--grid`` with ``--resume``, or an unreadable
        ``TF_CONFIG``
SL510   a checkpoint problem: a fresh run into a directory with checkpoints, checkpoints of
        another model or of another network (the first differing layer is named), a
        directory in use by another training, an unreadable or damaged ``state.json`` or
        checkpoint, or a ``state.json`` naming a file outside the checkpoint directory
SL511   the loss became NaN or infinite during training
======  =======================================================================================
"""

import argparse
import contextlib
import csv
import dataclasses
import glob
import importlib.util
import io
import itertools
import json
import math
import os
import re
import socket
import sys
import time
import traceback
import zipfile
import zlib
from pathlib import Path

import numpy as np

_SPARSE, _CATEGORICAL, _RAW = "sparse", "categorical", "raw"
_DEFAULT_SETTINGS = {
    "optimizer": "adam",
    "optimizer_options": {},
    "loss": "sparse_categorical_crossentropy",
    "batch": 32,
    "epochs": 10,
    "metrics": ["accuracy"],
    "validation_split": 0.2,
}
_GRID_KEYS = {"batch": int, "lr": float, "epochs": int, "momentum": float}
_STATE_FILE = "state.json"
_LOG_FILE = "training-log.csv"
_LOCK_FILE = "lock"
_CHECKPOINT_NAME = re.compile(r"epoch-(\d{4,})\.keras")
_FINGERPRINT_FIELDS = ("name", "op", "shape", "trainable", "non_trainable", "inputs", "options")
_SHARD_CHUNK = 256
_FINITE_CHUNK = 1 << 20  # values checked for NaN / infinity at a time (bounded memory)
#: Image files Keras reads from a class folder, and how the formats that
#: ``tf.io.decode_image`` decodes begin (PNG, JPEG, BMP, GIF, WebP, JPEG XL).
_IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_IMAGE_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"BM",
    b"GIF87a",
    b"GIF89a",
    b"RIFF",
    b"\xff\x0a",
    b"\x00\x00\x00\x0cJXL ",
)
_DATA_HINT = (
    "--data takes a .npz file with arrays x and y, a quoted glob of .npz shards, "
    "a directory of class sub-folders of images, `digits` or `synthetic`"
)


class DataError(Exception):
    """A problem with the data or the training settings, shown as ``error[CODE]`` and a hint."""

    def __init__(self, code, message, hint=""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def render(self):
        """The diagnostic text: ``error[CODE]: message`` and, if known, ``hint: ...``."""
        text = f"error[{self.code}]: {self.message}"
        return f"{text}\nhint: {self.hint}" if self.hint else text


class _OutputError(Exception):
    """A file or directory that cannot be written: one line naming it, exit code 2."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def render(self):
        return f"error: {self.path}: {self.reason}"


def _reason(error):
    """The operating system's words for an OSError, without its errno number."""
    return error.strerror or str(error) or type(error).__name__


# --------------------------------------------------------------------------------------------
# Checking data against the network


def _shape_text(shape):
    return str(tuple(int(d) for d in shape))


def _label_mode(loss):
    """How a loss wants its labels: class indices, one-hot rows, or as they are."""
    name = str(loss).lower()
    if name.startswith("sparse_"):
        return _SPARSE
    if "categorical" in name or name in ("kl_divergence", "kld"):
        return _CATEGORICAL
    return _RAW


def _check_dtype(dtype, array_name, where):
    dtype = np.dtype(dtype)
    numeric = np.issubdtype(dtype, np.number) and not np.issubdtype(dtype, np.complexfloating)
    if not (numeric or dtype == np.bool_):
        raise DataError(
            "SL506",
            f"{where}: `{array_name}` has dtype {dtype}, which is not numeric",
            "store numbers in the array: float or uint8 examples, integer class labels",
        )


def _check_finite(array, array_name, where):
    """Refuse NaN and infinite values before training: one of them makes every loss after it
    NaN. Checked in slices, so that the check needs little memory besides the array."""
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.inexact) or array.size == 0:
        return
    flat = array.reshape(-1)
    bad, first = 0, None
    for start in range(0, flat.size, _FINITE_CHUNK):
        wrong = ~np.isfinite(flat[start : start + _FINITE_CHUNK])
        count = int(np.count_nonzero(wrong))
        if count and first is None:
            first = start + int(np.argmax(wrong))
        bad += count
    if bad:
        example = first // max(1, flat.size // max(1, len(array)))
        raise DataError(
            "SL506",
            f"{where}: `{array_name}` holds {bad} NaN or infinite value(s) "
            f"(the first in example {example})",
            "remove or repair those examples; a single NaN makes the loss NaN",
        )


def _axis_order(sample, expected):
    """A permutation `p` with ``sample[p[i]] == expected[i]`` (same sizes, other order)."""
    order = []
    for i, size in enumerate(expected):
        candidates = [j for j, s in enumerate(sample) if s == size and j not in order]
        order.append(i if i in candidates else candidates[0])
    return order


def _shape_hint(sample, expected):
    if len(sample) == len(expected) and sorted(sample) == sorted(expected):
        axes = tuple([0] + [j + 1 for j in _axis_order(sample, expected)])
        return (
            f"the axes are in another order: transpose the examples, e.g. x.transpose{axes}; "
            "never reshape them, which scrambles every example"
        )
    if expected[-1:] == (1,) and sample == expected[:-1]:
        return "add the channel axis: x[..., np.newaxis]"
    if math.prod(sample) == math.prod(expected):
        return "the sizes agree but the layout does not; reshaping would scramble the examples"
    return "resize the data to the network's input, or change the network's input size"


def _check_example_shape(sample, input_shape, where):
    sample = tuple(int(d) for d in sample)
    if sample != input_shape:
        raise DataError(
            "SL503",
            f"{where}: examples have shape {_shape_text(sample)}, "
            f"but the network's input is {_shape_text(input_shape)}",
            _shape_hint(sample, input_shape),
        )


def _label_kind(tail, units, mode, where):
    """Classify one label's shape `tail`: 'index' (a class number), 'onehot' or 'value'."""
    tail = tuple(int(d) for d in tail)
    if units == 1 and tail in ((), (1,)):
        return "value"
    if tail in ((), (1,)):
        if mode == _RAW:
            raise DataError(
                "SL507",
                f"{where}: labels are class indices, but this loss needs rows of {units} values",
                "use a sparse_ or categorical loss, or store one-hot rows",
            )
        return "index"
    if len(tail) == 1 and tail[0] == units:
        return "onehot"
    if len(tail) == 1:
        raise DataError(
            "SL507",
            f"{where}: labels are one-hot rows of width {tail[0]}, "
            f"but the network has {units} output units",
            f"the last layer needs one unit per class: make it {tail[0]} wide, or fix the labels",
        )
    raise DataError(
        "SL507",
        f"{where}: labels have shape {_shape_text(tail)} per example; expected class indices "
        f"(one number each) or one-hot rows of width {units}",
        "store y as shape (n,) class indices or (n, classes) one-hot rows",
    )


def _check_label_values(y, kind, units, where):
    """Class indices must be whole numbers in ``0 .. units-1``."""
    if kind != "index" or y.size == 0:
        return
    values = y.reshape(-1)
    whole = np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_
    if not whole and not (np.all(np.isfinite(values)) and np.all(values == np.round(values))):
        raise DataError(
            "SL507",
            f"{where}: labels are single numbers but not all whole numbers (class indices)",
            "store class indices 0 .. classes-1, or one-hot rows",
        )
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= units:
        raise DataError(
            "SL507",
            f"{where}: class indices range from {low} to {high}, "
            f"but the network has {units} output units (classes 0 to {units - 1})",
            f"the last layer needs one unit per class: make it {high + 1} wide, "
            "or relabel the data",
        )


def _convert_labels(y, kind, mode, units):
    """Labels in the form the loss wants (see the module docstring)."""
    if kind == "index" and mode == _CATEGORICAL:
        return np.eye(units, dtype=np.float32)[y.reshape(-1).astype(np.int64)]
    if kind == "index":
        return y.reshape(-1).astype(np.int32)
    if kind == "onehot" and mode == _SPARSE:
        return np.argmax(y, axis=1).astype(np.int32)
    return y.astype(np.float32)


def _check_arrays(x, y, input_shape, units, mode, where):
    """Check in-memory examples and labels against the network; return the label kind."""
    _check_dtype(x.dtype, "x", where)
    _check_dtype(y.dtype, "y", where)
    if x.ndim == 0 or y.ndim == 0:
        raise DataError("SL503", f"{where}: `x` and `y` must have a leading example axis")
    _check_finite(x, "x", where)
    _check_finite(y, "y", where)
    if len(x) != len(y):
        raise DataError(
            "SL504",
            f"{where}: `x` has {len(x)} examples but `y` has {len(y)} labels",
            "save exactly one label per example",
        )
    if len(x) == 0:
        raise DataError("SL505", f"{where}: the data set is empty (0 examples)")
    _check_example_shape(x.shape[1:], input_shape, where)
    kind = _label_kind(y.shape[1:], units, mode, where)
    _check_label_values(y, kind, units, where)
    return kind


def _validation_count(n, split, where):
    """How many of `n` examples a validation split holds out (at least one, if any)."""
    if split <= 0:
        return 0
    count = math.ceil(n * split)
    if count >= n:
        raise DataError(
            "SL505",
            f"{where}: {n} example(s) are too few for a validation split of {split}",
            "use more data, or --validation-split 0",
        )
    return count


# --------------------------------------------------------------------------------------------
# Data sources


class LoadedData:
    """Training and validation examples, checked against the network.

    ``train`` and ``validation`` are unbatched ``tf.data`` datasets of ``(example, label)`` pairs
    (``validation`` is None without a validation split); :meth:`datasets` batches them.
    `explain` finds the data problem behind an error that reading the data raised during
    training (a corrupt shard or image): see :meth:`explain_failure`.
    """

    def __init__(self, description, train, validation, train_count, validation_count, explain=None):
        self.description = description
        self.train = train
        self.validation = validation
        self.train_count = train_count
        self.validation_count = validation_count
        self._explain = explain

    def explain_failure(self, error):
        """The :class:`DataError` behind `error`, raised while the data was read in training
        (a shard or an image found corrupt), or None when the data is not to blame."""
        return self._explain(error) if self._explain is not None else None

    def datasets(self, batch_size):
        """The training and validation datasets in batches of `batch_size`, prefetched."""
        train = _batched(self.train, self.train_count, batch_size)
        if self.validation is None:
            return train, None
        return train, _batched(self.validation, self.validation_count, batch_size)


def _batched(dataset, count, batch_size):
    import tensorflow as tf

    if int(dataset.cardinality()) < 0:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(count))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    batched = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return batched.with_options(options)


def _as_float(x, y):
    import tensorflow as tf

    return tf.cast(x, tf.float32), y


def load_dataset(
    spec, input_shape, output_units, loss, *, validation_split=0.2, seed=0, synthetic_size=512
):
    """Open the data source `spec` (see the module docstring) and check it against the network.

    `input_shape` is one example's shape (channels last, no batch axis), `output_units` the width
    of the last layer and `loss` the loss name (it decides the label encoding). Returns a
    :class:`LoadedData`; raises :class:`DataError` for every problem with the data.
    """
    spec = str(spec)
    input_shape = tuple(int(d) for d in input_shape)
    units = int(output_units)
    mode = _label_mode(loss)
    split = float(validation_split)
    if spec == "digits":
        return _load_digits(input_shape, units, mode, split, seed)
    if spec == "synthetic":
        return _load_synthetic(int(synthetic_size), input_shape, units, mode, split, seed)
    if any(char in spec for char in "*?["):
        paths = sorted(glob.glob(spec, recursive=True))
        if not paths:
            raise DataError(
                "SL501",
                f"no file matches {spec!r}",
                "check the pattern, and quote it so that the shell passes it unexpanded",
            )
        return _load_shards(paths, input_shape, units, mode, split, seed)
    path = Path(spec)
    if path.is_dir():
        return _load_image_directory(path, input_shape, units, mode, split, seed)
    if path.is_file():
        return _load_npz(path, input_shape, units, mode, split, seed)
    raise DataError("SL501", f"data source {spec!r} not found", _DATA_HINT)


def _from_arrays(description, x, y, split, seed):
    """In-memory arrays, split by a seeded shuffle, as a :class:`LoadedData`."""
    import tensorflow as tf

    order = np.random.default_rng(seed).permutation(len(x))
    held_out = _validation_count(len(x), split, description)
    validation_index, train_index = order[:held_out], order[held_out:]

    def dataset(index, shuffle):
        examples = tf.data.Dataset.from_tensor_slices((x[index], y[index]))
        if shuffle:  # before the cast: the buffer holds the data in its own dtype
            examples = examples.shuffle(min(len(index), 10_000), seed=seed)
        return examples.map(_as_float, num_parallel_calls=tf.data.AUTOTUNE)

    train = dataset(train_index, shuffle=True)
    validation = dataset(validation_index, shuffle=False) if held_out else None
    return LoadedData(description, train, validation, len(train_index), held_out)


def _read_npz(path, names=("x", "y")):
    """The arrays `names` (by default ``x`` and ``y``) of an ``.npz`` file."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise DataError("SL502", f"cannot read {path} as .npz: {error}") from None
    if not hasattr(loaded, "files"):
        raise DataError(
            "SL502",
            f"{path} holds a single array, not arrays `x` and `y`",
            "save the data with np.savez(path, x=examples, y=labels)",
        )
    with loaded as npz:
        missing = [name for name in names if name not in npz.files]
        if missing:
            raise DataError(
                "SL502",
                f"{path} has no array {' or '.join(map(repr, missing))} "
                f"(it holds {sorted(npz.files)})",
                "save the data with np.savez(path, x=examples, y=labels)",
            )
        try:
            return tuple(npz[name] for name in names)
        except ValueError as error:
            if "allow_pickle" in str(error):
                raise DataError(
                    "SL506", f"{path}: holds arrays of Python objects, which are not numeric"
                ) from None
            raise DataError("SL502", f"{path} is corrupt: {error}") from None
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise DataError(
                "SL502",
                f"{path} is corrupt: {error}",
                "write the file again (np.savez), or remove it from the data",
            ) from None


def _load_npz(path, input_shape, units, mode, split, seed):
    x, y = _read_npz(path)
    kind = _check_arrays(x, y, input_shape, units, mode, str(path))
    return _from_arrays(str(path), x, _convert_labels(y, kind, mode, units), split, seed)


def _load_digits(input_shape, units, mode, split, seed):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(
            "SL501", "the `digits` data set needs scikit-learn", "pip install scikit-learn"
        ) from None
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    layouts = {(8, 8, 1): images[..., np.newaxis], (8, 8): images, (64,): images.reshape(-1, 64)}
    if input_shape not in layouts:
        raise DataError(
            "SL503",
            f"digits: examples are 8x8 images, (8, 8, 1), (8, 8) or (64,), "
            f"but the network's input is {_shape_text(input_shape)}",
            "give the network the input [8, 8, 1] for the digits data set",
        )
    if units != 10:
        raise DataError(
            "SL507",
            f"digits: the data set has 10 classes, but the network has {units} output units",
            "make the last layer 10 units wide",
        )
    x, y = layouts[input_shape], digits.target
    kind = _check_arrays(x, y, input_shape, units, mode, "digits")
    return _from_arrays("digits", x, _convert_labels(y, kind, mode, units), split, seed)


def _load_synthetic(size, input_shape, units, mode, split, seed):
    """Random normal examples and random labels, generated on the fly from the seed."""
    import tensorflow as tf

    if size <= 0:
        raise DataError("SL505", "synthetic: --synthetic-size must be at least 1")
    held_out = _validation_count(size, split, "synthetic")
    classes = 2 if units == 1 else units
    first_seed = tf.constant(seed, tf.int64)

    def example(index):
        x = tf.random.stateless_normal(input_shape, seed=tf.stack([first_seed, index]))
        label = tf.random.stateless_uniform(
            (), seed=tf.stack([first_seed + 1, index]), maxval=classes, dtype=tf.int64
        )
        if units == 1:
            return x, tf.cast(tf.reshape(label, (1,)), tf.float32)
        if mode == _SPARSE:
            return x, tf.cast(label, tf.int32)
        return x, tf.one_hot(label, units)

    def dataset(start, stop):
        indices = tf.data.Dataset.range(start, stop)
        return indices.map(example, num_parallel_calls=tf.data.AUTOTUNE)

    validation = dataset(0, held_out) if held_out else None
    description = f"synthetic {_shape_text(input_shape)}"
    return LoadedData(description, dataset(held_out, size), validation, size - held_out, held_out)


def _load_image_directory(directory, input_shape, units, mode, split, seed):
    import keras
    import tensorflow as tf

    if len(input_shape) != 3 or input_shape[-1] not in (1, 3, 4):
        raise DataError(
            "SL503",
            f"{directory}: images have 1, 3 or 4 channels (height, width, channels), "
            f"but the network's input is {_shape_text(input_shape)}",
        )
    classes = sorted(entry.name for entry in directory.iterdir() if entry.is_dir())
    if not classes:
        raise DataError(
            "SL505",
            f"{directory}: no class sub-folders (and so no images)",
            "put each class's images in a folder of its own; for .npz shards use a glob",
        )
    expected = 2 if units == 1 else units
    if len(classes) != expected:
        raise DataError(
            "SL507",
            f"{directory}: {len(classes)} class folders, but the network has {units} output units",
            f"the last layer needs one unit per class: make it {len(classes)} wide",
        )
    label_mode = "binary" if units == 1 else ("int" if mode == _SPARSE else "categorical")
    color_mode = {1: "grayscale", 3: "rgb", 4: "rgba"}[input_shape[-1]]
    files = list(_image_files(directory, classes))
    for path in files:
        _check_image_signature(path)
    try:
        datasets = keras.utils.image_dataset_from_directory(
            directory,
            label_mode=label_mode,
            color_mode=color_mode,
            batch_size=None,
            image_size=input_shape[:2],
            shuffle=True,
            seed=seed,
            validation_split=split or None,
            subset="both" if split else None,
            verbose=False,
        )
    except ValueError as error:
        raise DataError("SL505", f"{directory}: {error}") from None
    train, validation = datasets if split else (datasets, None)
    counts = [int(d.cardinality()) if d is not None else 0 for d in (train, validation)]
    if counts[0] <= 0:
        raise DataError("SL505", f"{directory}: no training images")

    def scaled(dataset):
        return dataset.map(lambda x, y: (x / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE)

    validation = scaled(validation) if validation is not None else None

    def explain(error):
        if "decode" not in str(error).lower():  # not worth decoding every image to look
            return None
        return _undecodable_image(files, input_shape[-1])

    return LoadedData(
        str(directory), scaled(train), validation, counts[0], counts[1], explain=explain
    )


def _image_files(directory, classes):
    """The files Keras reads from the class folders (its walk: sorted, links not followed)."""
    for name in classes:
        for root, _, files in sorted(os.walk(directory / name), key=lambda walk: walk[0]):
            for file in sorted(files):
                if file.lower().endswith(_IMAGE_SUFFIXES):
                    yield Path(root) / file


def _check_image_signature(path):
    """A cheap check of every image before training: it can be read and begins like an
    image. Damage further in is found by decoding (:func:`_undecodable_image`)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(16)
    except OSError as error:
        raise DataError("SL502", f"cannot read {path}: {_reason(error)}") from None
    if not head.startswith(_IMAGE_SIGNATURES):
        what = "is empty" if not head else "is not an image (PNG, JPEG, BMP, GIF or WebP)"
        raise DataError("SL502", f"{path} {what}", "remove the file or replace it")


def _undecodable_image(files, channels):
    """After decoding failed in training: the first image that TensorFlow cannot decode."""
    import tensorflow as tf

    for path in files:
        try:
            tf.io.decode_image(
                tf.io.read_file(str(path)), channels=channels, expand_animations=False
            )
        except (tf.errors.OpError, ValueError) as error:
            message = getattr(error, "message", None) or str(error)
            return DataError(
                "SL502",
                f"{path} is corrupt: {message.splitlines()[0]}",
                "remove the file or replace it",
            )
    return None


# --------------------------------------------------------------------------------------------
# Shards: many .npz files, checked by their headers and streamed one after another


@dataclasses.dataclass
class _Shard:
    path: str
    count: int
    sample: tuple
    x_dtype: np.dtype
    label_tail: tuple
    y_dtype: np.dtype
    held_out: int = 0


def _npy_header(archive, name, path):
    """(shape, dtype) of array `name` in an open ``.npz`` archive, without reading its data."""
    member = f"{name}.npy"
    if member not in archive.namelist():
        raise DataError(
            "SL502",
            f"{path} has no array {name!r}",
            "save every shard with np.savez(path, x=examples, y=labels)",
        )
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        readers = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }
        if version in readers:
            shape, _, dtype = readers[version](stream)
            return shape, dtype
    (array,) = _read_npz(path, (name,))
    return array.shape, array.dtype


def _inspect_shard(path):
    try:
        with zipfile.ZipFile(path) as archive:
            x_shape, x_dtype = _npy_header(archive, "x", path)
            y_shape, y_dtype = _npy_header(archive, "y", path)
    except (OSError, zipfile.BadZipFile, ValueError) as error:
        raise DataError("SL502", f"cannot read {path} as .npz: {error}") from None
    _check_dtype(x_dtype, "x", path)
    _check_dtype(y_dtype, "y", path)
    if not x_shape or not y_shape:
        raise DataError("SL503", f"{path}: `x` and `y` must have a leading example axis")
    if x_shape[0] != y_shape[0]:
        raise DataError(
            "SL504",
            f"{path}: `x` has {x_shape[0]} examples but `y` has {y_shape[0]} labels",
            "save exactly one label per example",
        )
    return _Shard(path, x_shape[0], tuple(x_shape[1:]), x_dtype, tuple(y_shape[1:]), y_dtype)


def _check_shards_agree(shards):
    first = shards[0]
    for shard in shards[1:]:
        for what, mine, theirs in (
            ("examples have shape", shard.sample, first.sample),
            ("`x` has dtype", shard.x_dtype, first.x_dtype),
            ("labels have shape", shard.label_tail, first.label_tail),
            ("`y` has dtype", shard.y_dtype, first.y_dtype),
        ):
            if mine != theirs:
                raise DataError(
                    "SL508",
                    f"shards disagree: in {shard.path} {what} {mine}, in {first.path} {theirs}",
                    "write every shard with the same example shape and dtypes",
                )


def _load_shards(paths, input_shape, units, mode, split, seed):
    shards = [_inspect_shard(path) for path in paths]
    _check_shards_agree(shards)
    description = f"{len(shards)} shards ({paths[0]} ...)"
    _check_example_shape(shards[0].sample, input_shape, shards[0].path)
    kind = _label_kind(shards[0].label_tail, units, mode, shards[0].path)
    for shard in shards:
        if kind == "index":
            (labels,) = _read_npz(shard.path, ("y",))
            _check_label_values(labels, kind, units, shard.path)
        shard.held_out = math.ceil(shard.count * split) if split > 0 else 0
    total = sum(shard.count for shard in shards)
    held_out = sum(shard.held_out for shard in shards)
    if total == 0:
        raise DataError("SL505", f"{description}: the shards hold no examples")
    if total - held_out <= 0:
        raise DataError(
            "SL505",
            f"{description}: {total} example(s) are too few for a validation split of {split}",
            "use more data, or --validation-split 0",
        )
    failures = []  # the DataError of a shard found corrupt while streaming
    train = _shard_dataset(shards, kind, mode, units, seed, failures, training=True)
    validation = _shard_dataset(shards, kind, mode, units, seed, failures, training=False)
    return LoadedData(
        description,
        train,
        validation if held_out else None,
        total - held_out,
        held_out,
        explain=lambda _error: failures[0] if failures else None,
    )


def _read_shard(shard):
    """A shard's arrays, read in full while streaming: the data that the header check before
    training could not see (damage, NaN, a file rewritten since) is checked here."""
    x, y = _read_npz(shard.path)
    header = (shard.count, shard.sample, shard.x_dtype, shard.label_tail, shard.y_dtype)
    if (len(x), x.shape[1:], x.dtype, y.shape[1:], y.dtype) != header or len(y) != len(x):
        raise DataError(
            "SL508",
            f"{shard.path} changed while training: it now holds {len(x)} examples of shape "
            f"{_shape_text(x.shape[1:])}, dtype {x.dtype}",
            "do not rewrite shards during training",
        )
    _check_finite(x, "x", shard.path)
    _check_finite(y, "y", shard.path)
    return x, y


def _shard_dataset(shards, kind, mode, units, seed, failures, *, training):
    """A dataset streaming the training (or held-out) part of every shard, one at a time.
    A shard found corrupt is recorded in `failures` before the error reaches TensorFlow,
    which reports it without the file's name."""
    import tensorflow as tf

    epochs = itertools.count()

    def chunks():
        rng = np.random.default_rng([seed, next(epochs)])
        order = rng.permutation(len(shards)) if training else range(len(shards))
        for index in order:
            shard = shards[index]
            try:
                x, y = _read_shard(shard)
            except DataError as error:
                failures.append(error)
                raise
            cut = shard.count - shard.held_out
            part = slice(0, cut) if training else slice(cut, shard.count)
            x, y = x[part], _convert_labels(y[part], kind, mode, units)
            picks = rng.permutation(len(x)) if training else np.arange(len(x))
            for start in range(0, len(picks), _SHARD_CHUNK):
                chosen = picks[start : start + _SHARD_CHUNK]
                yield x[chosen], y[chosen]

    first = shards[0]
    label = _convert_labels(np.zeros((0, *first.label_tail), first.y_dtype), kind, mode, units)
    signature = (
        tf.TensorSpec((None, *first.sample), tf.as_dtype(first.x_dtype)),
        tf.TensorSpec((None, *label.shape[1:]), tf.as_dtype(label.dtype)),
    )
    dataset = tf.data.Dataset.from_generator(chunks, output_signature=signature)
    return dataset.unbatch().map(_as_float, num_parallel_calls=tf.data.AUTOTUNE)


# --------------------------------------------------------------------------------------------
# Settings, model, strategy


@dataclasses.dataclass
class _Network:
    build_model: object
    name: str
    input_shape: tuple
    output_units: int
    fingerprint: list = None  # the analysis's, as JSON holds it; None for a hand-written model


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
    model.compile(
        optimizer=_make_optimizer(settings),
        loss=settings.loss,
        metrics=list(settings.metrics),
        jit_compile=bool(jit),
    )
    return model


def _fresh_model(network, settings, jit):
    return _compile(network.build_model(), settings, jit)


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
    taken = tuple(model.input_shape[1:]) if isinstance(model.input_shape, tuple) else None
    if taken != network.input_shape:
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


# --------------------------------------------------------------------------------------------
# Checkpoints


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

    def __init__(self, keep, monitor, best=None):
        self.keep = keep
        self.monitor = monitor
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
        for path in directory.glob("epoch-*.keras"):
            match = _CHECKPOINT_NAME.fullmatch(path.name)
            if match:
                found[int(match.group(1))] = path
        kept = set(sorted(number for number in found if number <= epoch)[-self.keep :])
        if self.best is not None:
            kept.add(self.best["epoch"])
        for number, path in found.items():
            if number not in kept:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


def _save_checkpoint(model, directory, epoch, network, logs, keeper):
    """Write ``epoch-NNNN.keras`` under a temporary name and rename it, then ``state.json``;
    then delete the checkpoints that `keeper` does not keep."""
    final = directory / f"epoch-{epoch:04d}.keras"
    partial = final.with_name(f"partial-{final.name}")
    try:
        model.save(partial)
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
    _write_atomically(directory / _STATE_FILE, _state_text(state))
    keeper.prune(directory, epoch)


def _checkpoint_callback(directory, network, keeper):
    import keras

    class _EpochCheckpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            loss = _float_logs(logs).get("loss")
            if loss is not None and not math.isfinite(loss):
                return  # a diverged epoch: its weights are not worth keeping
            _save_checkpoint(self.model, directory, epoch + 1, network, logs, keeper)

    return _EpochCheckpoint()


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


def _checkpoint_file(directory, name):
    """The checkpoint state.json names: a file ``epoch-NNNN.keras`` in DIR itself, no link."""
    path = directory / name
    inside = _CHECKPOINT_NAME.fullmatch(name) is not None and not path.is_symlink()
    if inside and path.exists():
        inside = path.resolve().parent == directory.resolve()
    if not inside:
        raise DataError(
            "SL510",
            f"{directory / _STATE_FILE} names the checkpoint {name!r}, which is not a "
            f"checkpoint file in {directory}",
            "a checkpoint is a file epoch-NNNN.keras in the checkpoint directory itself; "
            "start again with --overwrite",
        )
    if not path.is_file():
        raise DataError(
            "SL510",
            f"{directory / _STATE_FILE} names {path}, which does not exist",
            "start again with --overwrite",
        )
    return path


def _as_json(value):
    return json.loads(json.dumps(value))


def _fingerprint_parameters(fingerprint):
    """The network's parameter count from its fingerprint (None without one)."""
    if fingerprint is None:
        return None
    counts = [count for row in fingerprint for count in row[3:5]]
    return sum(counts) if all(isinstance(count, int) for count in counts) else None


def _show_field(value):
    if isinstance(value, list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)


def _row_difference(old, new):
    changes = []
    for field, was, now in zip(_FINGERPRINT_FIELDS[2:], old[2:], new[2:]):
        if field == "options":
            for key in sorted(set(was) | set(now)):
                if was.get(key) != now.get(key):
                    changes.append(f"{key} {was.get(key, '(none)')} → {now.get(key, '(none)')}")
        elif was != now:
            what = field.replace("_", "-") + (" parameters" if "trainable" in field else "")
            changes.append(f"{what} {_show_field(was)} → {_show_field(now)}")
    return f"layer `{new[0]}` ({new[1]}) differs: {', '.join(changes)}"


def _fingerprint_difference(stored, current):
    """The first difference between the checkpoint's fingerprint and this network's, in
    words; None when they are equal."""
    stored, current = _as_json(stored), _as_json(current)
    if stored == current:
        return None
    for index, (old, new) in enumerate(zip(stored, current)):
        if old == new:
            continue
        if old[:2] != new[:2]:
            return (
                f"layer {index} is `{new[0]}` ({new[1]}) in this network but "
                f"`{old[0]}` ({old[1]}) in the checkpoint's"
            )
        return _row_difference(old, new)
    longer, owner = (current, "this network") if len(current) > len(stored) else (
        stored, "the checkpoint's network")  # fmt: skip
    first = longer[min(len(stored), len(current))]
    return (
        f"{owner} has {abs(len(current) - len(stored))} more layer(s), "
        f"from `{first[0]}` ({first[1]})"
    )


def _check_same_network(directory, state, network):
    """Refuse to resume from checkpoints of another network (SL510, naming what changed)."""
    fresh = "start again with --overwrite (it deletes these checkpoints), or train into another "
    fresh += "--checkpoint-dir"
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
    for pattern in ("epoch-*.keras", "partial-*", _STATE_FILE, _LOG_FILE):
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
        checkpoint = _checkpoint_file(directory, state["checkpoint"])
        return _Plan(state["epoch"], checkpoint, state)
    if (state is not None or any(directory.glob("epoch-*.keras"))) and not overwrite:
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


def _callbacks(directory, network, keeper, append):
    import keras

    callbacks = [
        keras.callbacks.CSVLogger(str(directory / _LOG_FILE), append=append),
        _checkpoint_callback(directory, network, keeper),
    ]
    if importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(directory / "logs")))
    return callbacks


# --------------------------------------------------------------------------------------------
# Training


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
    logs = _last_logs(history)
    learning_rate = settings.optimizer_options.get("learning_rate")
    if learning_rate is None:  # the optimizer's default, a float32 variable
        learning_rate = float(f"{float(model.optimizer.learning_rate.numpy()):.7g}")
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
        "examples_per_second": data.train_count * settings.epochs / seconds,
    }, guard.where


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


def _train_grid(args, network, settings, data, strategy, directory, axes):
    """Train every grid combination; write the results CSV and print the table. A combination
    whose loss becomes NaN or infinite stops there and is never the best; the grid fails
    (SL511) only when every combination does."""
    logs = directory / "grid-logs"
    _make_directory(logs)
    rows, diverged = [], []
    combinations = _grid_combinations(axes)
    for number, combination in enumerate(combinations, 1):
        label = " ".join(f"{key}={value}" for key, value in combination.items())
        print(f"grid {number}/{len(combinations)}: {label}")
        log_path = logs / ("_".join(f"{k}-{v}" for k, v in combination.items()) + ".csv")
        run_settings = _apply_combination(settings, combination)
        row, where = _train_combination(network, run_settings, data, strategy, args, log_path)
        rows.append(row)
        if where is not None:
            diverged.append(where)
            print(f"grid {number}/{len(combinations)}: the loss became {where[2]} in epoch "
                  f"{where[0]}, batch {where[1]}; this combination stopped there")  # fmt: skip
    if len(diverged) == len(rows):
        raise _diverged(diverged[0], 0)
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
            data = load_dataset(
                args.data,
                network.input_shape,
                network.output_units,
                settings.loss,
                validation_split=settings.validation_split,
                seed=args.seed,
                synthetic_size=args.synthetic_size,
            )
            print(
                f"data: {data.description}: {data.train_count} training, "
                f"{data.validation_count} validation examples"
            )
            keras.utils.set_random_seed(args.seed)
            if args.grid:
                return _train_grid(args, network, settings, data, strategy, directory, args.grid)
            return _train_single(args, network, settings, data, strategy, directory, plan)


def _summary(network):
    """The ``summary`` command: Keras's summary and the parameter count."""
    model = network.build_model()
    model.summary()
    total = model.count_params()
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    print(
        f"{network.name}: {total:,} parameters "
        f"({trainable:,} trainable, {total - trainable:,} non-trainable)"
    )
    return 0


# --------------------------------------------------------------------------------------------
# Command line


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
    train.add_argument("--mixed-precision", action="store_true", help="mixed_float16 policy")
    train.add_argument("--jit", action="store_true", help="compile with XLA")
    train.add_argument(
        "--strategy", choices=("default", "mirrored", "multiworker"), default="default"
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
    argv, *, build_model, model_name, input_shape, output_units, defaults, fingerprint=None
) -> int:
    """Run the ``summary`` or ``train`` command of a generated program; return the exit code.

    `build_model()` returns a new, uncompiled ``keras.Model``; `input_shape` is one example's
    shape (channels last, no batch axis); `output_units` the width of the last layer; `defaults`
    the ``train:`` block: optional keys ``optimizer``, ``optimizer_options``, ``loss``,
    ``batch``, ``epochs``, ``metrics`` and ``validation_split``; `fingerprint` the analysis's
    fingerprint of the network (rows of name, op, shape, trainable, non-trainable, inputs and
    options), stored with every checkpoint and compared by ``--resume``.
    """
    try:
        args = _build_parser(model_name).parse_args(argv)
    except SystemExit as exit_request:
        return exit_request.code if isinstance(exit_request.code, int) else 2
    network = _Network(
        build_model,
        model_name,
        tuple(int(d) for d in input_shape),
        int(output_units),
        None if fingerprint is None else _as_json(fingerprint),
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
    except Exception:  # noqa: BLE001 -- the last resort: exit code 2 with the traceback
        traceback.print_exc()
        print(f"error: internal error in the training runtime of {model_name}", file=sys.stderr)
        return 2
