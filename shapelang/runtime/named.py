"""Data for a network with several named inputs (or one integer input): an ``.npz`` with an
array ``x_<name>`` per input (a single input may use ``x``) and labels ``y`` (or ``y_<name>``
per output with several outputs), a dict of such arrays (the Python API), or ``synthetic``.
Every input is checked on its own (its dtype -- integer ids for an integer input --, finite
values, its example shape) and all of them and the labels must hold one count of examples.
Batches are dicts by input name (Keras feeds a functional model by its inputs' names; the
PyTorch runtime passes them to ``forward`` in the network's input order).
"""

import dataclasses
from pathlib import Path

import numpy as np

from .batching import epoch_order, in_batches, training_and_validation
from .checks import (
    _check_dtype,
    _check_example_shape,
    _check_finite,
    _check_label_values,
    _convert_labels,
    _label_kind,
    _shape_text,
    _validation_count,
)
from .errors import DataError

_INTEGER_DTYPES = ("int32", "int64")


@dataclasses.dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple
    dtype: str = "float32"
    vocabulary: int | None = None  # an integer input's number of ids (0 .. vocabulary - 1)


def input_specs(input_shapes, input_dtypes=None, input_vocabularies=None):
    """The inputs of `run_main(input_shape=…)` given as a mapping name → shape."""
    dtypes = dict(input_dtypes or {})
    vocabularies = dict(input_vocabularies or {})
    return tuple(
        InputSpec(str(name), tuple(int(d) for d in shape), str(dtypes.get(name, "float32")),
                  vocabularies.get(name))
        for name, shape in input_shapes.items()
    )


def output_units_of(units):
    """One output's `units` as the runtime holds them: its width (an int), or its shape per
    example (a tuple of two or more ints) when its rank is 2 or more."""
    if isinstance(units, (tuple, list)):
        shape = tuple(int(d) for d in units)
        return shape[0] if len(shape) == 1 else shape
    return int(units)


def input_vocabularies(fingerprint):
    """The number of ids of each input that an `embedding` reads directly, by input name (the
    least vocabulary where several read it), from the analysis's fingerprint rows (name, op,
    shape, trainable, non-trainable, inputs, options); {} without a fingerprint."""
    vocabularies = {}
    names = {row[0] for row in fingerprint or () if row[1] == "input"}
    for row in fingerprint or ():
        if row[1] != "embedding" or len(row) < 7:
            continue
        try:
            vocabulary = int(str(row[6].get("vocab")))
        except (AttributeError, ValueError):
            continue
        for name in row[5]:
            if name in names:
                vocabularies[name] = min(vocabulary, vocabularies.get(name, vocabulary))
    return vocabularies


def _hint(inputs, outputs=()):
    keys = ", ".join(f"x_{spec.name}=…" for spec in inputs)
    labels = ", ".join(f"y_{name}=…" for name in outputs) if len(outputs) > 1 else "y=labels"
    return f"save the data with np.savez(path, {keys}, {labels})"


def _arrays_of(spec, inputs, outputs, where, read_npz):
    """The examples by input name and the labels (one array, or a dict by output name) of an
    ``.npz`` path (read by `read_npz`, with a one-input file's errors) or a dict of arrays."""
    if isinstance(spec, dict):
        found = dict(spec)
    else:
        try:
            with np.load(spec, allow_pickle=False) as npz:
                names = list(npz.files)
        except Exception:  # noqa: BLE001 -- _read_npz names the problem
            names = ["x", "y"]
        found = dict(zip(names, read_npz(spec, tuple(names))))
    x = {}
    for spec_ in inputs:
        key = f"x_{spec_.name}"
        if key not in found and len(inputs) == 1 and "x" in found:
            key = "x"
        if key not in found:
            raise DataError(
                "SL502",
                f"{where} has no array `x_{spec_.name}` for the input `{spec_.name}` "
                f"(it holds {sorted(found)})",
                _hint(inputs, outputs),
            )
        x[spec_.name] = np.asarray(found[key])
    if len(outputs) > 1:
        missing = [f"y_{name}" for name in outputs if f"y_{name}" not in found]
        if missing:
            raise DataError(
                "SL502",
                f"{where} has no array {' or '.join(f'`{m}`' for m in missing)} "
                f"(it holds {sorted(found)})",
                _hint(inputs, outputs),
            )
        y = {name: np.asarray(found[f"y_{name}"]) for name in outputs}
    else:
        if "y" not in found:
            raise DataError(
                "SL502", f"{where} has no array `y` (it holds {sorted(found)})",
                _hint(inputs),
            )
        y = np.asarray(found["y"])
    return x, y


def _check_input(array, spec, where):
    name = f"x_{spec.name}"
    _check_dtype(array.dtype, name, where)
    if array.ndim == 0:
        raise DataError("SL503", f"{where}: `{name}` must have a leading example axis")
    _check_finite(array, name, where)
    if spec.dtype in _INTEGER_DTYPES:
        integral = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.bool_)
        if not integral and array.size and not np.all(np.mod(array, 1) == 0):
            raise DataError(
                "SL506",
                f"{where}: `{name}` holds values that are not integers, but the input "
                f"`{spec.name}` is {spec.dtype} (token or category ids)",
                "store integer ids in it",
            )
        if array.size and np.min(array) < 0:
            raise DataError(
                "SL506",
                f"{where}: `{name}` holds negative values, but the input `{spec.name}` is "
                f"{spec.dtype} ids (from 0)",
                "store ids from 0",
            )
        if spec.vocabulary is not None and array.size and np.max(array) >= spec.vocabulary:
            raise DataError(
                "SL506",
                f"{where}: `{name}` holds ids up to {int(np.max(array))}, but the input "
                f"`{spec.name}` is read by an embedding of {spec.vocabulary} ids "
                f"(0 to {spec.vocabulary - 1})",
                "map the ids into the vocabulary, or make the embedding's vocabulary larger",
            )
    try:
        _check_example_shape(array.shape[1:], spec.shape, where)
    except DataError as error:
        raise DataError(
            "SL503",
            f"{where}: `{name}` (the input `{spec.name}`) has examples of shape "
            f"{_shape_text(array.shape[1:])}, but the input is {_shape_text(spec.shape)}",
            error.hint,
        ) from None


def _check_counts(x, y, where):
    counts = {f"x_{name}": len(array) for name, array in x.items()}
    labels = y if isinstance(y, dict) else {"": y}
    for name, array in labels.items():
        if np.ndim(array) == 0:
            raise DataError("SL503", f"{where}: `y{'_' + name if name else ''}` must have a "
                            "leading example axis")
        counts[f"y_{name}" if name else "y"] = len(array)
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"`{k}` {v}" for k, v in counts.items())
        raise DataError(
            "SL504",
            f"{where}: the arrays hold different numbers of examples ({listed})",
            "save one example of every input and one label per example",
        )
    if next(iter(counts.values())) == 0:
        raise DataError("SL505", f"{where}: the data set is empty (0 examples)")


def _labels(y, units, mode, where):
    if isinstance(y, dict):
        return {name: _labels(y[name], units[name], mode, f"{where} (`y_{name}`)")
                for name in y}
    _check_dtype(y.dtype, "y", where)
    _check_finite(y, "y", where)
    kind = _label_kind(y.shape[1:], units, mode, where)
    _check_label_values(y, kind, units, where)
    return _convert_labels(y, kind, mode, units)


def load_named(spec, inputs, units, mode, split, seed, synthetic_size, read_npz):
    """The data of a network with named inputs (see the module docstring): its description,
    source, and training and validation counts, for a :class:`~.data.LoadedData`. `units`:
    the output's width, or a dict by output name; `read_npz` is `data`'s."""
    outputs = tuple(units) if isinstance(units, dict) else ()
    if isinstance(spec, dict):
        where = "the data"
    elif str(spec) == "synthetic":
        return _synthetic(int(synthetic_size), inputs, units, mode, split, seed)
    else:
        where = str(spec)
        refusal = (f"data source {where!r}: a network with several inputs (or an integer "
                   "input) reads one .npz file, a dict of arrays or `synthetic`")
        if not Path(where).exists():
            raise DataError("SL501", refusal, _hint(inputs, outputs))
        if not Path(where).is_file():  # shards' directories, image directories
            raise DataError("SL502", refusal, _hint(inputs, outputs))
    x, y = _arrays_of(spec, inputs, outputs, where, read_npz)
    for input_spec in inputs:
        _check_input(x[input_spec.name], input_spec, where)
    _check_counts(x, y, where)
    y = _labels(y, units, mode, where)
    x = {spec_.name: x[spec_.name].astype(_numpy_dtype(spec_.dtype)) for spec_ in inputs}
    count = len(next(iter(x.values())))
    order = np.random.default_rng(seed).permutation(count)
    held_out = _validation_count(count, split, where)
    source = _NamedSource(x, y, order[held_out:], order[:held_out], seed)
    return where, source, count - held_out, held_out


def _numpy_dtype(dtype):
    return np.int64 if dtype == "int64" else np.int32 if dtype == "int32" else np.float32


def _synthetic(size, inputs, units, mode, split, seed):
    """Random normal float inputs, random ids below the vocabulary of the embedding that reads
    an integer input (zero ids where none is known: any vocabulary reads id 0), random labels
    (one per position for a sequence output): smoke tests."""
    from .checks import _CATEGORICAL, _SPARSE, _classes, _positions

    rng = np.random.default_rng(seed)
    x = {}
    for spec in inputs:
        if spec.dtype in _INTEGER_DTYPES:
            shape = (size, *spec.shape)
            ids = np.zeros(shape) if spec.vocabulary is None else rng.integers(
                0, spec.vocabulary, shape)
            x[spec.name] = ids.astype(_numpy_dtype(spec.dtype))
        else:
            x[spec.name] = rng.standard_normal((size, *spec.shape), np.float32)

    def labels(units):
        width, shape = _classes(units), (size, *_positions(units))
        if mode == _SPARSE:
            return rng.integers(0, width, shape).astype(np.int32)
        if mode == _CATEGORICAL:
            return np.eye(width, dtype=np.float32)[rng.integers(0, width, shape)]
        return rng.standard_normal((size, width), np.float32)

    y = {name: labels(w) for name, w in units.items()} if isinstance(units, dict) else labels(
        units)
    order = rng.permutation(size)
    held_out = _validation_count(size, split, "synthetic")
    source = _NamedSource(x, y, order[held_out:], order[:held_out], seed)
    shapes = ", ".join(f"{s.name} {_shape_text(s.shape)}" for s in inputs)
    return f"synthetic {shapes}", source, size - held_out, held_out


def _take(value, index):
    if isinstance(value, dict):
        return {name: array[index] for name, array in value.items()}
    return value[index]


@dataclasses.dataclass
class _NamedSource:
    """Examples in memory by input name, split by a seeded shuffle (as ``_ArraySource``)."""

    x: dict
    y: object  # an array, or a dict by output name
    train_index: np.ndarray
    validation_index: np.ndarray
    seed: int

    def tf_datasets(self):
        import tensorflow as tf

        def dataset(index, shuffle):
            y = _take(self.y, index)
            if isinstance(y, dict):  # several outputs: a tuple in the model's output order
                y = tuple(y.values())
            x = _take(self.x, index)
            if len(x) == 1:  # one (integer) input: the array, as a one-input model is called
                (x,) = x.values()
            examples = tf.data.Dataset.from_tensor_slices((x, y))
            if shuffle:
                examples = examples.shuffle(min(len(index), 10_000), seed=self.seed)
            return examples

        return training_and_validation(dataset, self)

    def batches(self, batch_size, epoch, training, share):
        index = epoch_order(self, epoch, training)
        for start, stop in in_batches(len(index), batch_size, share):
            chosen = index[start:stop]
            yield _take(self.x, chosen), _take(self.y, chosen)
