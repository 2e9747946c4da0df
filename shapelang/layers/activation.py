"""Activation layers — `relu`, `tanh`, `sigmoid`, `softmax`, … as lines of their own.

    conv 64 k=3
    batchnorm
    relu

Shape unchanged, no parameters, MACs 0. The same names may end a `conv` or `dense` line.
"""
from .base import ACTIVATIONS, LayerKind


class Activation(LayerKind):
    op = "activation"  # one instance per name, see `activation_kinds`
    doc = __doc__

    def __init__(self, name: str):
        self.op = name

def activation_kinds():
    return [Activation(name) for name in ACTIVATIONS]
