"""`dropout` — zeroes a fraction of the activations while training; shape unchanged.

    dropout 0.5

The rate must be in [0, 1): a rate of 1 would drop everything.
"""
from .base import LayerKind, Number, Opt


class Dropout(LayerKind):
    op = "dropout"
    doc = __doc__
    positional = (Opt("rate", Number(0, 1), doc="fraction dropped, in [0, 1)"),)
