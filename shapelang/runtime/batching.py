"""How examples held in memory pass through an epoch, for `data`'s sources and `named`'s: the
order of one pass, its batches (or a process's share of each), and the training and
validation data sets of Keras's `fit`."""
import numpy as np


def in_batches(count, batch_size, share=(0, 1)):
    """(start, stop) of consecutive batches of `batch_size` over `count` items, or of the
    part of each batch that is the share ``(rank, processes)``."""
    rank, processes = share
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        yield start + rank * size // processes, start + (rank + 1) * size // processes


def epoch_order(source, epoch, training):
    """The examples of one pass: the training ones shuffled by (seed, epoch), the same in
    every process, or the validation ones in order."""
    if training:
        return np.random.default_rng([source.seed, epoch]).permutation(source.train_index)
    return source.validation_index


def training_and_validation(dataset, source):
    """`dataset(index, shuffle)` of the training examples and of the validation ones (None
    when none are held out)."""
    validation = source.validation_index
    return (
        dataset(source.train_index, shuffle=True),
        dataset(validation, shuffle=False) if len(validation) else None,
    )
