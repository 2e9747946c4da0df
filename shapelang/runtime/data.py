"""Data sources: ``.npz``, streamed ``.npz`` shards, image directories, ``digits``, ``synthetic``
-- each checked and split when it is opened, then read either with ``tf.data`` (Keras, built
lazily) or as numpy batches (PyTorch, without TensorFlow).
"""

import dataclasses
import glob
import itertools
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .batching import epoch_order, in_batches, training_and_validation
from .checks import (
    _SPARSE,
    _check_arrays,
    _check_dtype,
    _check_example_shape,
    _check_finite,
    _check_label_values,
    _check_trainable_output,
    _classes,
    _convert_labels,
    _label_kind,
    _label_mode,
    _positions,
    _shape_text,
    _validation_count,
)
from .errors import DataError, _reason
from .named import input_specs, input_vocabularies, load_named, output_units_of
from .settings import network_inputs

_SHARD_CHUNK = 256


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


class LoadedData:
    """Training and validation examples, checked against the network.

    Two ways to read them: :meth:`datasets` (``tf.data``, for Keras; ``train`` and
    ``validation`` are the unbatched datasets of ``(example, label)`` pairs, ``validation`` None
    without a validation split) and :meth:`batches` (numpy arrays, for PyTorch). Nothing of
    TensorFlow is imported until the first is used. `explain` finds the data problem behind an
    error that reading the data raised during training (a corrupt shard or image): see
    :meth:`explain_failure`.
    """

    def __init__(self, description, source, train_count, validation_count, explain=None):
        self.description = description
        self.train_count = train_count
        self.validation_count = validation_count
        self._source = source
        self._explain = explain
        self._tf_datasets = None

    def _unbatched(self):
        if self._tf_datasets is None:
            self._tf_datasets = self._source.tf_datasets()
        return self._tf_datasets

    @property
    def train(self):
        """The unbatched ``tf.data`` dataset of the training examples."""
        return self._unbatched()[0]

    @property
    def validation(self):
        """The unbatched ``tf.data`` dataset of the held-out examples, or None."""
        return self._unbatched()[1] if self.validation_count else None

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

    def batches(self, batch_size, epoch=0, *, training, share=(0, 1)):
        """The training (`training` True) or held-out examples as numpy ``(x, y)`` batches of
        `batch_size` (the last one may be smaller): ``x`` float32 in the network's input layout
        (channels last), ``y`` encoded for the loss. The training examples come in an order
        drawn from the seed and `epoch`, the held-out ones always in the same order.

        With ``share=(rank, processes)`` every batch is that process's contiguous part of the
        global batch (sizes that differ by at most one; empty where the global batch has fewer
        examples than processes), and only that part is decoded or generated."""
        if not training and not self.validation_count:
            return iter(())
        rank, processes = (int(n) for n in share)
        if not 0 <= rank < processes:
            raise ValueError(f"share {share}: the rank must be in 0 .. processes - 1")
        return self._source.batches(int(batch_size), int(epoch), training, (rank, processes))


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
    spec,
    input_shape,
    output_units,
    loss,
    *,
    validation_split=0.2,
    seed=0,
    synthetic_size=512,
    input_dtypes=None,
    input_vocabularies=None,
):
    """Open the data source `spec` (see the module docstring) and check it against the network.

    `input_shape` is one example's shape (channels last, no batch axis), `output_units` the width
    of the last layer (or the output's shape ``(T, V)`` for a class distribution per position,
    trained against one class id per position) and `loss` the loss name (it decides the label
    encoding); `input_vocabularies` the number of ids of each integer input (by name; checked,
    and drawn by ``synthetic``). Returns a
    :class:`LoadedData`; raises :class:`DataError` for every problem with the data.
    """
    mode = _label_mode(loss)
    split = float(validation_split)
    if isinstance(output_units, dict):
        for name, one_output in output_units.items():
            _check_trainable_output(output_units_of(one_output), mode, f"the output `{name}`")
    else:
        _check_trainable_output(output_units_of(output_units), mode)
    if isinstance(input_shape, dict) or isinstance(output_units, dict) or isinstance(spec, dict):
        # several inputs or outputs (`input_shape`, `output_units` by name), or a dict of arrays
        shapes = input_shape if isinstance(input_shape, dict) else {"x": input_shape}
        units = ({k: output_units_of(v) for k, v in output_units.items()}
                 if isinstance(output_units, dict) else output_units_of(output_units))
        specs = input_specs(shapes, input_dtypes, input_vocabularies)
        return LoadedData(*load_named(spec, specs, units, mode,
                                      split, seed, synthetic_size, _read_npz))
    spec = str(spec)
    input_shape = tuple(int(d) for d in input_shape)
    units = output_units_of(output_units)
    if isinstance(units, tuple) and (spec == "digits" or Path(spec).is_dir()):
        raise DataError(
            "SL507",
            f"{spec}: holds one class per image, but the network's output "
            f"{_shape_text(units)} is a class distribution per position",
            "train a sequence output on an .npz with labels y of one class id per position",
        )
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


@dataclasses.dataclass
class _ArraySource:
    """Examples in memory, split by a seeded shuffle."""

    x: np.ndarray
    y: np.ndarray
    train_index: np.ndarray
    validation_index: np.ndarray
    seed: int

    def tf_datasets(self):
        import tensorflow as tf

        def dataset(index, shuffle):
            examples = tf.data.Dataset.from_tensor_slices((self.x[index], self.y[index]))
            if shuffle:  # before the cast: the buffer holds the data in its own dtype
                examples = examples.shuffle(min(len(index), 10_000), seed=self.seed)
            return examples.map(_as_float, num_parallel_calls=tf.data.AUTOTUNE)

        return training_and_validation(dataset, self)

    def batches(self, batch_size, epoch, training, share):
        index = epoch_order(self, epoch, training)
        for start, stop in in_batches(len(index), batch_size, share):
            chosen = index[start:stop]
            yield self.x[chosen].astype(np.float32), self.y[chosen]


def _from_arrays(description, x, y, split, seed):
    """In-memory arrays, split by a seeded shuffle, as a :class:`LoadedData`."""
    order = np.random.default_rng(seed).permutation(len(x))
    held_out = _validation_count(len(x), split, description)
    validation_index, train_index = order[:held_out], order[held_out:]
    source = _ArraySource(x, y, train_index, validation_index, seed)
    return LoadedData(description, source, len(train_index), held_out)


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


@dataclasses.dataclass
class _SyntheticSource:
    """Random normal examples and random labels, generated from the seed and the example's
    index (``tf.random`` for Keras, numpy for PyTorch: the two draw different numbers)."""

    size: int
    held_out: int
    input_shape: tuple
    units: int
    mode: str
    seed: int

    def tf_datasets(self):
        import tensorflow as tf

        units = _classes(self.units)
        classes = 2 if units == 1 else units
        first_seed = tf.constant(self.seed, tf.int64)
        input_shape, positions, mode = self.input_shape, _positions(self.units), self.mode

        def example(index):
            x = tf.random.stateless_normal(input_shape, seed=tf.stack([first_seed, index]))
            label = tf.random.stateless_uniform(
                positions, seed=tf.stack([first_seed + 1, index]), maxval=classes,
                dtype=tf.int64,
            )
            if units == 1:
                return x, tf.cast(tf.reshape(label, (1,)), tf.float32)
            if mode == _SPARSE:
                return x, tf.cast(label, tf.int32)
            return x, tf.one_hot(label, units)

        def dataset(start, stop):
            indices = tf.data.Dataset.range(start, stop)
            return indices.map(example, num_parallel_calls=tf.data.AUTOTUNE)

        validation = dataset(0, self.held_out) if self.held_out else None
        return dataset(self.held_out, self.size), validation

    def batches(self, batch_size, epoch, training, share):
        start, stop = (self.held_out, self.size) if training else (0, self.held_out)
        units, positions = _classes(self.units), _positions(self.units)
        classes = 2 if units == 1 else units
        for first, last in in_batches(stop - start, batch_size, share):
            generators = [np.random.default_rng([self.seed, start + i]) for i in range(first, last)]
            x = np.zeros((len(generators), *self.input_shape), np.float32)
            for row, generator in zip(x, generators):
                row[...] = generator.standard_normal(self.input_shape, np.float32)
            labels = np.array([g.integers(classes, size=positions) if positions
                               else g.integers(classes) for g in generators], dtype=np.int64)
            if units == 1:
                yield x, labels.astype(np.float32).reshape(-1, 1)
            elif self.mode == _SPARSE:
                yield x, labels.astype(np.int32)
            else:
                yield x, np.eye(units, dtype=np.float32)[labels]


def _load_synthetic(size, input_shape, units, mode, split, seed):
    """Random normal examples and random labels, generated on the fly from the seed."""
    if size <= 0:
        raise DataError("SL505", "synthetic: --synthetic-size must be at least 1")
    held_out = _validation_count(size, split, "synthetic")
    source = _SyntheticSource(size, held_out, input_shape, units, mode, seed)
    description = f"synthetic {_shape_text(input_shape)}"
    return LoadedData(description, source, size - held_out, held_out)


@dataclasses.dataclass
class _ImageSource:
    """An image directory, split like Keras's ``image_dataset_from_directory`` (the files
    shuffled by a ``RandomState`` of the seed, the last ``int(F * n)`` held out): read by Keras
    for Keras, decoded with Pillow for PyTorch."""

    directory: Path
    files: list
    labels: np.ndarray
    held_out: int
    input_shape: tuple
    units: int
    mode: str
    split: float
    seed: int

    def tf_datasets(self):
        import keras
        import tensorflow as tf

        color_mode = {1: "grayscale", 3: "rgb", 4: "rgba"}[self.input_shape[-1]]
        try:
            datasets = keras.utils.image_dataset_from_directory(
                self.directory,
                label_mode=_image_label_mode(self.units, self.mode),
                color_mode=color_mode,
                batch_size=None,
                image_size=self.input_shape[:2],
                shuffle=True,
                seed=self.seed,
                validation_split=self.split or None,
                subset="both" if self.split else None,
                verbose=False,
            )
        except ValueError as error:
            raise DataError("SL505", f"{self.directory}: {error}") from None
        train, validation = datasets if self.split else (datasets, None)

        def scaled(dataset):
            return dataset.map(lambda x, y: (x / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE)

        return scaled(train), scaled(validation) if validation is not None else None

    def batches(self, batch_size, epoch, training, share):
        import concurrent.futures

        try:
            import PIL.Image  # noqa: F401 -- decodes the images, in _decode_image
        except ImportError:
            raise DataError(
                "SL501", "reading an image directory here needs Pillow", "pip install pillow"
            ) from None
        cut = len(self.files) - self.held_out
        if training:
            index = np.random.default_rng([self.seed, epoch]).permutation(cut)
        else:
            index = np.arange(cut, len(self.files))
        encode = {"binary": _binary_labels, "int": _index_labels, "categorical": _one_hot}
        labels = encode[_image_label_mode(self.units, self.mode)]
        with concurrent.futures.ThreadPoolExecutor(_decoding_threads()) as pool:
            for start, stop in in_batches(len(index), batch_size, share):
                chosen = index[start:stop]
                images = np.zeros((len(chosen), *self.input_shape), np.float32)
                paths = [self.files[i] for i in chosen]
                for row, image in zip(images, pool.map(self._decode, paths)):
                    row[...] = image
                yield images, labels(self.labels[chosen], self.units)

    def _decode(self, path):
        return _decode_image(path, self.input_shape)


def _image_label_mode(units, mode):
    return "binary" if units == 1 else ("int" if mode == _SPARSE else "categorical")


def _binary_labels(labels, _units):
    return labels.astype(np.float32).reshape(-1, 1)


def _index_labels(labels, _units):
    return labels.astype(np.int32)


def _one_hot(labels, units):
    return np.eye(units, dtype=np.float32)[labels]


def _decoding_threads():
    return max(1, min(8, os.cpu_count() or 1))


def _decode_image(path, input_shape):
    """One image with Pillow: its first frame in the input's colour mode (grayscale, RGB or
    RGBA by the channel count), resized bilinearly to the input's height and width, scaled to
    [0, 1], as float32 of the input's shape."""
    from PIL import Image

    height, width, channels = input_shape
    try:
        with Image.open(path) as image:
            image = image.convert({1: "L", 3: "RGB", 4: "RGBA"}[channels])
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        message = (str(error) or type(error).__name__).splitlines()[0]
        raise DataError(
            "SL502", f"{path} is corrupt: {message}", "remove the file or replace it"
        ) from None
    return pixels.reshape(input_shape) / np.float32(255.0)


def _load_image_directory(directory, input_shape, units, mode, split, seed):
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
    files, labels = [], []
    for label, name in enumerate(classes):
        found = list(_image_files(directory, [name]))
        files += found
        labels += [label] * len(found)
    for path in files:
        _check_image_signature(path)
    if not files:
        raise DataError(
            "SL505",
            f"{directory}: no images in the class folders (the formats read are "
            f"{', '.join(_IMAGE_SUFFIXES)})",
        )
    # Keras's index_directory: both lists shuffled by a RandomState of the seed, alike
    np.random.RandomState(seed).shuffle(files)
    labels = np.array(labels, dtype=np.int64)
    np.random.RandomState(seed).shuffle(labels)
    held_out = int(split * len(files)) if split else 0
    if split and held_out == 0:  # Keras then trains on nothing (its files[:-0])
        raise DataError(
            "SL505",
            f"{directory}: no training images ({len(files)} image(s) are too few for a "
            f"validation split of {split})",
            "use more images, or --validation-split 0",
        )
    source = _ImageSource(directory, files, labels, held_out, input_shape, units, mode, split, seed)

    def explain(error):
        if "decode" not in str(error).lower():  # not worth decoding every image to look
            return None
        return _undecodable_image(files, input_shape[-1])

    return LoadedData(
        str(directory), source, len(files) - held_out, held_out, explain=explain
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
    source = _ShardSource(shards, kind, mode, units, seed, failures)
    return LoadedData(
        description,
        source,
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


@dataclasses.dataclass
class _ShardSource:
    """``.npz`` shards streamed one at a time: every epoch, the shards in an order drawn from
    the seed and the epoch, each one's training part shuffled (the held-out part in order).
    A shard found corrupt is recorded in `failures` before the error reaches TensorFlow,
    which reports it without the file's name."""

    shards: list
    kind: str
    mode: str
    units: int
    seed: int
    failures: list

    def chunks(self, epoch, training):
        """The examples in chunks of at most ``_SHARD_CHUNK``, about one shard in memory."""
        shards = self.shards
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(shards)) if training else range(len(shards))
        for index in order:
            shard = shards[index]
            try:
                x, y = _read_shard(shard)
            except DataError as error:
                self.failures.append(error)
                raise
            cut = shard.count - shard.held_out
            part = slice(0, cut) if training else slice(cut, shard.count)
            x, y = x[part], _convert_labels(y[part], self.kind, self.mode, self.units)
            picks = rng.permutation(len(x)) if training else np.arange(len(x))
            for start in range(0, len(picks), _SHARD_CHUNK):
                chosen = picks[start : start + _SHARD_CHUNK]
                yield x[chosen], y[chosen]

    def tf_datasets(self):
        held_out = sum(shard.held_out for shard in self.shards)
        train = self._tf_dataset(training=True)
        return train, self._tf_dataset(training=False) if held_out else None

    def _tf_dataset(self, *, training):
        import tensorflow as tf

        epochs = itertools.count()

        def chunks():
            return self.chunks(next(epochs), training)

        first = self.shards[0]
        label = np.zeros((0, *first.label_tail), first.y_dtype)
        label = _convert_labels(label, self.kind, self.mode, self.units)
        signature = (
            tf.TensorSpec((None, *first.sample), tf.as_dtype(first.x_dtype)),
            tf.TensorSpec((None, *label.shape[1:]), tf.as_dtype(label.dtype)),
        )
        dataset = tf.data.Dataset.from_generator(chunks, output_signature=signature)
        return dataset.unbatch().map(_as_float, num_parallel_calls=tf.data.AUTOTUNE)

    def batches(self, batch_size, epoch, training, share):
        """The chunks regrouped into batches of `batch_size` (a batch may span two shards);
        every process reads every shard and keeps its share of each batch."""
        left_x = left_y = None  # fewer than batch_size examples, carried into the next chunk
        for x, y in self.chunks(epoch, training):
            if left_x is not None:
                x, y = np.concatenate([left_x, x]), np.concatenate([left_y, y])
            full = len(x) - len(x) % batch_size
            for start, stop in in_batches(full, batch_size, share):
                yield x[start:stop].astype(np.float32), y[start:stop]
            left_x, left_y = (x[full:], y[full:]) if full < len(x) else (None, None)
        if left_x is not None:
            ((start, stop),) = in_batches(len(left_x), batch_size, share)
            yield left_x[start:stop].astype(np.float32), left_y[start:stop]


def load_network_data(args, network, settings):
    """`load_dataset` as `train` calls it in both backends: the network's inputs (shapes,
    dtypes, the vocabularies of the embeddings reading them) and outputs, the settings' loss
    and validation split, the command line's data, seed and synthetic size."""
    shapes, dtypes = network_inputs(network)
    return load_dataset(
        args.data,
        shapes,
        network.output_units,
        settings.loss,
        validation_split=settings.validation_split,
        seed=args.seed,
        synthetic_size=args.synthetic_size,
        input_dtypes=dtypes,
        input_vocabularies=input_vocabularies(network.fingerprint),
    )
