"""Training runtime of the programs that ``shapelang keras`` generates.

A package that generated programs import (``from shapelang.runtime import run_main``), or,
with ``shapelang keras --standalone``, a copy of it beside the program (``shapelang_runtime/``).
It is self-contained: its modules import only the Python standard library, numpy and each other
(relative imports, so a copy works under any name); TensorFlow, Keras and scikit-learn are
imported inside the functions that use them. It never imports the analysis. Modules, by concern:
``errors`` (diagnostics), ``checks`` (data against the network), ``data`` (sources),
``settings``, ``strategies``, ``fingerprint``, ``checkpoints`` (lock, state, keep, resume),
``training`` (one run), ``grid``, ``cli`` (the command line and :func:`run_main`).
The generated ``main()`` calls :func:`run_main`::

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

from .cli import run_main
from .data import LoadedData, load_dataset
from .errors import DataError

__all__ = ["DataError", "LoadedData", "load_dataset", "run_main"]
