"""Checks of data against the network: example shape, dtype, finite values, labels, the validation
split.
"""

import math

import numpy as np

from .errors import DataError

_SPARSE, _CATEGORICAL, _RAW = "sparse", "categorical", "raw"


_FINITE_CHUNK = 1 << 20  # values checked for NaN / infinity at a time (bounded memory)


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


def _classes(units):
    """The class count (the last axis's width) of an output's `units`: its width, or its shape
    ``(T, V)`` for a sequence output (a class distribution per position)."""
    return units[-1] if isinstance(units, tuple) else units


def _positions(units):
    """The positions ``(T,)`` of a sequence output, ``()`` of a vector one."""
    return units[:-1] if isinstance(units, tuple) else ()


def _check_trainable_output(units, mode, where="the network"):
    """Refuse outputs the runtime cannot train: of rank 3 or more, and a sequence output with
    a loss that is no classification (a class distribution per position is what it trains)."""
    if not isinstance(units, tuple):
        return
    shape = _shape_text(units)
    if len(units) > 2:
        raise DataError(
            "SL512",
            f"{where}: the output has shape {shape} per example; `train` trains outputs of "
            "shape [V] (a vector) and [T, V] (a class distribution per position)",
            "end the network with a vector (flatten, a pooling, `take`) or a [T, V] "
            "class distribution",
        )
    if mode not in (_SPARSE, _CATEGORICAL):
        raise DataError(
            "SL512",
            f"{where}: the output has shape {shape} per example, which `train` trains as a "
            "class distribution per position: it needs a sparse_ or categorical loss",
            "use --loss sparse_categorical_crossentropy (labels: one class id per position)",
        )


_POSITION_METRICS = ("accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy")


def _check_output_metrics(output_units, metrics):
    """A sequence output is measured by its accuracy per position; other metrics (errors of
    a regression) are refused with SL512 before training."""
    outputs = output_units if isinstance(output_units, dict) else {"": output_units}
    for name, units in outputs.items():
        if not isinstance(units, tuple):
            continue
        for metric in metrics:
            if str(metric).lower() not in _POSITION_METRICS:
                where = f"the output `{name}`" if name else "the output"
                raise DataError(
                    "SL512",
                    f"metric {metric!r}: {where} {_shape_text(units)} is a class distribution "
                    "per position, measured by its accuracy per position",
                    f"use the metric `accuracy` (one of {', '.join(_POSITION_METRICS)})",
                )


def _label_kind(tail, units, mode, where):
    """Classify one label's shape `tail`: 'index' (a class number, or one per position of a
    sequence output), 'onehot' or 'value'."""
    tail = tuple(int(d) for d in tail)
    if isinstance(units, tuple):
        return _sequence_label_kind(tail, units, where)
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


def _sequence_label_kind(tail, units, where):
    """Labels of a sequence output ``(T, V)``: ``(T,)`` class ids or ``(T, V)`` one-hot rows."""
    if tail == units[:-1]:
        return "index"
    if tail == units:
        return "onehot"
    positions = ", ".join(str(d) for d in units[:-1])
    raise DataError(
        "SL507",
        f"{where}: labels have shape {_shape_text(tail)} per example, but the output "
        f"{_shape_text(units)} is a class distribution per position: expected one class id "
        f"per position, shape {_shape_text(units[:-1])}, or one-hot rows, shape "
        f"{_shape_text(units)}",
        f"store y as shape (n, {positions}) class ids from 0 to {units[-1] - 1}",
    )


def _check_label_values(y, kind, units, where):
    """Class indices must be whole numbers in ``0 .. units-1``."""
    if kind != "index" or y.size == 0:
        return
    units = _classes(units)
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
    shape = (len(y), *_positions(units))
    if kind == "index" and mode == _CATEGORICAL:
        indices = y.reshape(shape).astype(np.int64)
        return np.eye(_classes(units), dtype=np.float32)[indices]
    if kind == "index":
        return y.reshape(shape).astype(np.int32)
    if kind == "onehot" and mode == _SPARSE:
        return np.argmax(y, axis=-1).astype(np.int32)
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
