"""The layer registry: every layer kind, by op name. Adding a kind means one module here and
one line in `_KINDS`."""
from .activation import activation_kinds
from .base import ACTIVATIONS, Args, KerasLayer, LayerKind, Shape
from .batchnorm import BatchNorm
from .conv import Conv
from .dense import Dense
from .dropout import Dropout
from .flatten import Flatten
from .global_pool import GlobalAvgPool, GlobalMaxPool
from .input import Input
from .lrn import LRN
from .pooling import AvgPool, MaxPool

_KINDS = [Input(), Conv(), MaxPool(), AvgPool(), GlobalAvgPool(), GlobalMaxPool(), Dense(),
          Flatten(), Dropout(), BatchNorm(), LRN(), *activation_kinds()]

REGISTRY: dict[str, LayerKind] = {kind.op: kind for kind in _KINDS}

__all__ = ["ACTIVATIONS", "Args", "KerasLayer", "LayerKind", "REGISTRY", "Shape"]
