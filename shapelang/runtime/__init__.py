"""Training runtime of the programs that ``shapelang keras`` and ``shapelang torch`` generate.

A package that generated programs import (``from shapelang.runtime import run_main``), or,
with ``--standalone``, a copy of it beside the program (``shapelang_runtime/``). It is
self-contained: its modules import only the Python standard library, numpy and each other
(relative imports, so a copy works under any name); TensorFlow, Keras, PyTorch, Pillow and
scikit-learn are imported inside the functions that use them, so a PyTorch user needs no
TensorFlow. It never imports the analysis. Modules, by concern: ``errors`` (diagnostics),
``checks`` (data against the network), ``data`` (sources), ``settings``, ``strategies``,
``fingerprint``, ``checkpoints`` (lock, state, keep, resume), ``training`` (one Keras run),
``grid``, ``cli`` (the command line and :func:`run_main`); for PyTorch ``torch_settings``
(optimizers, losses, metrics), ``torch_summary``, ``torch_distributed`` (torchrun) and
``torch_training`` (the loop, checkpoints, one run or a grid's combination). The generated
``main()`` calls :func:`run_main` (``backend="torch"`` for the PyTorch program)::

    python model.py summary
    python model.py train --data SPEC [--epochs N] [--batch-size B] [--lr X] [--resume] ...

``summary`` prints Keras's summary, or for PyTorch one row per sub-module that runs (its name,
class, output shape channels first as PyTorch has it and channels last as the analysis has it,
and its parameter count, buffers included), recorded with forward hooks on one zero example;
then, for both, ``NAME: N parameters (T trainable, B non-trainable)`` (PyTorch: trainable = the
parameters, non-trainable = the buffers but ``num_batches_tracked``).

Settings: the ``train:`` block's values (the ``defaults`` of :func:`run_main`), where given,
else ``adam``, ``sparse_categorical_crossentropy``, batch 32, 10 epochs, metrics
``["accuracy"]`` and a validation split of 0.2; ``--optimizer``, ``--lr``, ``--momentum``,
``--loss``, ``--batch-size``, ``--epochs`` and ``--validation-split`` override them (a different
``--optimizer`` keeps only the block's learning rate of its options). ``--seed`` (default 0)
seeds the weights and the data. A run ends with a line ``final: epochs=.. loss=.. accuracy=..
val_loss=.. val_accuracy=.. time=..s examples/s=..`` (the time of ``fit`` itself).

Data sources (``--data SPEC``), opened and checked the same way for both backends, then read
with ``tf.data`` and prefetched (Keras) or as numpy batches read ahead by a thread (PyTorch;
:meth:`LoadedData.batches`):

- ``data.npz``: one file with arrays ``x`` (examples) and ``y`` (labels), loaded into memory.
- ``'shards/part-*.npz'`` (a glob; quote it): several such files, streamed one file after
  another from a generator, so that about one shard is in memory at a time (the order of the
  shards and of the examples in each is shuffled every epoch). Every shard must have the same
  example shape and dtypes; their headers are checked before training.
- ``images/``: a directory of class sub-folders of images (``images/cat/*.png``, ...), decoded
  with ``keras.utils.image_dataset_from_directory`` (Keras) or Pillow (PyTorch; a batch's images
  in parallel threads), resized bilinearly to the network's input height and width and scaled to
  [0, 1]; the input's channel count picks grayscale (1), RGB (3) or RGBA (4).
- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 examples, 10 classes, no
  download), scaled to [0, 1] and laid out as ``(8, 8, 1)``, ``(8, 8)`` or ``(64,)`` to match the
  network's input.
- ``synthetic``: ``--synthetic-size`` random normal examples of the input shape with random
  labels, generated on the fly from the seed and each example's index (smoke tests and
  benchmarks; ``tf.random`` for Keras and numpy for PyTorch draw different numbers).

Several inputs (``run_main(input_shape={name: shape}, input_dtypes={name: dtype})``) or
several outputs (``output_units={name: width}``), and an integer input: an ``.npz`` (or, from
Python, a dict) with an array ``x_<name>`` per input (one input may keep ``x``) and ``y``, or
``y_<name>`` per output; or ``synthetic`` (id 0 for an integer input). Each input is checked on
its own, by name (shape, dtype, finite values, whole non-negative ids for an integer input),
and every array must hold one count of examples (:mod:`.named`). Keras gets a dict by input
name and one loss per output; PyTorch ``forward``'s arguments in the network's input order and
the sum of the outputs' losses.

Examples are never reshaped or transposed to fit the network (the PyTorch model gets them
channels first: for examples of rank >= 2 the runtime moves the last axis to position 1, which
is the generated module's layout, not a fix of the data): an array of ``(480, 270, 3)``
examples for a ``(270, 480, 3)`` input is an error naming both shapes. Values are used as they
are (cast to float32); only decoded image files and ``digits`` are scaled to [0, 1]. NaN and
infinite values are refused: in an ``.npz`` before training; in a shard when it is read (the
shards are streamed, so a shard's values are first seen in the first epoch). A damaged file is
an error naming it: an ``.npz`` before training; a shard when it is read; an image whose first
bytes are no image's before training, any other undecodable image when decoding fails, after
which every image is decoded once to find it (PyTorch: Pillow names it when it fails).

Labels: ``y`` holds class indices (shape ``(n,)`` or ``(n, 1)``) or one-hot rows (``(n, units)``),
where ``units`` is the width of the network's last layer. For a categorical loss (one whose name
contains ``categorical`` but not ``sparse``) integer labels are one-hot encoded; for a sparse loss
one-hot rows are turned into indices with argmax. Other losses get the labels as they are, which
must then be rows of ``units`` values (or single values when ``units`` is 1).
A sequence output ``[T, V]`` (a class distribution per position, the program's
``OUTPUT_UNITS = (T, V)``) trains against one class id per position, ``y`` of shape ``(n, T)``,
or one-hot rows ``(n, T, V)``, with a sparse or categorical loss; the metric ``accuracy`` is
then the accuracy per position. Other outputs of rank 2 or more are refused (SL512).

Validation split (``--validation-split F``, default from the ``train:`` block, else 0.2):
``.npz``, ``digits`` and ``synthetic`` hold out ``ceil(F * n)`` examples, chosen by a shuffle
seeded with ``--seed`` (the same split every run); shards hold out the last ``ceil(F * n_i)``
examples of every shard (a tail hold-out, the same every run); an image directory uses Keras's
seeded split (for both backends: the files shuffled by ``RandomState(seed)``, the last
``int(F * n)`` held out). ``--validation-split 0`` trains without validation. Training examples
are shuffled every epoch (Keras: ``tf.data``'s seeded shuffle; PyTorch: a permutation drawn from
the seed and the epoch, so a resumed run sees the order the killed one would have).

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

PyTorch checkpoints are ``epoch-NNNN.pt`` files (``torch.save`` of a dict: the model's and the
optimizer's ``state_dict``, the gradient scaler's, the epoch, the input shape, the parameter
count, and the optimizer, its options and the loss, which a resumed run keeps), loaded with
``torch.load(..., weights_only=True)``; ``state.json`` then also records ``"backend": "torch"``,
and each backend's program refuses to resume from the other's checkpoints (SL510). The CSV log
has Keras's CSVLogger's columns (``epoch`` from 0, then the metrics sorted); there are no
TensorBoard logs on the PyTorch side.

A loss that becomes NaN or infinite stops training at that batch (SL511, exit code 1); that
epoch is not checkpointed. In a grid, such a combination stops and cannot be the best; the grid
fails only when every combination does.

Grid (``--grid batch=32,64 --grid lr=1e-3,1e-4``; keys ``batch``, ``lr``, ``epochs``,
``momentum``): every combination is trained from fresh weights with the same seed, without
checkpoints; each one's epoch log goes to ``grid-logs/`` in the checkpoint directory, and one
results CSV (``--results``, default ``grid-results.csv`` there) gets one row per combination:
the combination, final training and validation loss and accuracy, seconds and examples per
second, and a ``*`` in the ``best`` column of the row with the best validation accuracy.

Acceleration and distribution (Keras): ``--mixed-precision`` sets the ``mixed_float16`` policy before
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

PyTorch: the model trains on CUDA when it is available, else on the CPU; ``--seed`` seeds
``torch.manual_seed`` before the model is built, and the data order. Optimizers by their Keras
names and options, with Keras's defaults: ``sgd`` (``momentum``, ``nesterov``), ``adam``,
``adamw`` (``beta_1``, ``beta_2``, ``epsilon`` 1e-7, ``amsgrad``; AdamW's ``weight_decay``
0.004), ``rmsprop`` (``rho`` as torch's ``alpha``, ``momentum``, ``epsilon``, ``centered``),
``adagrad``, ``adadelta``, ``adamax``; ``weight_decay`` (decoupled, as Keras 3 applies it),
``clipnorm`` (each gradient by its own norm) and ``clipvalue`` for any of them; other names
(``nadam``, ``lion``, ``ftrl``) are SL509. Losses: ``sparse_categorical_crossentropy``,
``categorical_crossentropy``, ``binary_crossentropy``, ``mean_squared_error`` (``mse``) and
``mean_absolute_error`` (``mae``), on probabilities as Keras computes them (clipped to
[1e-7, 1 - 1e-7], then the log), or on logits when the program was generated with ``--logits``
(``run_main(from_logits=True)``: ``F.cross_entropy``, ``binary_cross_entropy_with_logits``);
others are SL509. Metrics: ``accuracy`` (Keras's choice: binary for one output unit, else by
class), ``categorical_accuracy``, ``sparse_categorical_accuracy``, ``mean_squared_error``,
``mean_absolute_error``. ``--mixed-precision`` runs the forward pass under ``torch.autocast``:
float16 with a ``GradScaler`` on CUDA, bfloat16 on the CPU (the loss in float32). ``--jit``
compiles the model with ``torch.compile`` (on a CPU it needs a C++ compiler; the first steps
then take tens of seconds). ``--strategy`` takes only ``default`` (``mirrored`` and
``multiworker`` are TensorFlow's: SL509): a PyTorch program is distributed by ``torchrun``, e.g.
``torchrun --nproc_per_node 8 model.py train --data ...`` on one machine, or with ``--nnodes``
and ``--rdzv-endpoint`` on several. With ``WORLD_SIZE`` > 1 every process joins
``torch.distributed`` (NCCL on CUDA, each process on the GPU ``LOCAL_RANK``; Gloo on the CPU),
trains the model in ``DistributedDataParallel`` and reads its own contiguous share of every
global batch (``--batch-size`` is the global batch, as under Keras's mirrored strategy; a last
global batch with fewer examples than processes is left out), and the metrics are summed over
the processes. Rank 0 alone holds the lock, plans and writes the checkpoints, the log and
``state.json``, and prints; the others get its plan (and, with ``--resume``, the checkpoint it
read) through the process group, so the checkpoint directory needs to be on rank 0's machine
only.

Exit codes: 0 success; 1 a data or settings problem, printed as a diagnostic (below); 2 a
command-line error (argparse), a file or directory that cannot be written, or an internal error
(with its traceback); 130 interrupted.

Diagnostics are printed to stderr as ``error[CODE]: message`` and ``hint: ...``:

======  =======================================================================================
code    problem
======  =======================================================================================
SL501   data source not found: no such file or directory, a glob that matches nothing, or a
        missing optional package (scikit-learn for ``digits``, Pillow for PyTorch's images)
SL502   a file that cannot be read as ``.npz`` (damaged, e.g. a bad CRC), one without the arrays
        ``x`` and ``y``, or an image that cannot be decoded
SL503   the examples' shape differs from the network's input shape (both are named)
SL504   ``x`` and ``y`` hold different numbers of examples
SL505   no examples (an empty array, shard set or image directory), or too few to hold out a
        validation set
SL506   ``x`` or ``y`` is not numeric (strings, objects, complex numbers), or holds NaN or
        infinite values; an integer input's ids that are not whole, negative, or not below
        the vocabulary of the embedding that reads it
SL507   labels that do not fit the output layer: a class index outside ``0 .. units-1``, one-hot
        rows of another width, a class-folder count other than ``units``, labels of another rank
SL508   shards that disagree with each other (example shape or dtypes), or a shard rewritten
        during training
SL509   an invalid training setting: unknown optimizer, optimizer option or loss, a learning
        rate that is not a finite number above 0 (or another optimizer option that is not
        finite and at least 0), a bad grid, ``--grid`` with ``--resume``, or an unreadable
        ``TF_CONFIG``; for PyTorch also an optimizer, option, loss or metric it does not
        know, a TensorFlow ``--strategy``, or a process group that cannot be joined
SL510   a checkpoint problem: a fresh run into a directory with checkpoints, checkpoints of
        another model or of another network (the first differing layer is named), a
        directory in use by another training, an unreadable or damaged ``state.json`` or
        checkpoint, a ``state.json`` naming a file outside the checkpoint directory, or
        checkpoints of the other backend's program
SL511   the loss became NaN or infinite during training
SL512   an output that ``train`` cannot train: of rank 3 or more, or a sequence output
        ``(T, V)`` with a loss that is no classification or a metric other than accuracy
SL513   out of memory: the weights alone (float32) larger than the machine's memory, refused
        before building; or TensorFlow / PyTorch ran out of memory building or training
======  =======================================================================================
"""

from .cli import run_main
from .data import LoadedData, load_dataset
from .errors import DataError

__all__ = ["DataError", "LoadedData", "load_dataset", "run_main"]
