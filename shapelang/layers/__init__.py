"""The layer registry: every layer kind, by op name. Adding a kind means one module here and
one line in `_KINDS`."""
from .activation import activation_kinds
from .attention import MultiHeadAttention
from .base import ACTIVATIONS, Args, LayerKind, Shape
from .batchnorm import BatchNorm
from .clstoken import ClsToken
from .conv import Conv
from .dense import Dense
from .depthwise import DepthwiseConv
from .dropout import Dropout
from .embedding import Embedding
from .flatten import Flatten
from .global_pool import GlobalAvgPool, GlobalMaxPool
from .gru import GRU
from .input import Input
from .layernorm import LayerNorm
from .lrn import LRN
from .lstm import LSTM
from .mean import Mean
from .merge import Add, Concat, Multiply
from .pooling import AvgPool, MaxPool
from .posembed import PosEmbed
from .reshape import Reshape
from .sepconv import SepConv
from .simplernn import SimpleRNN
from .slice import Slice
from .take import Take
from .transpose import Transpose
from .upsample import Upsample
from .zeropad import ZeroPad

_KINDS = [
    Input(), Conv(), DepthwiseConv(), SepConv(), MaxPool(), AvgPool(), GlobalAvgPool(),
    GlobalMaxPool(), ZeroPad(), Upsample(), Reshape(), Dense(), Flatten(), Dropout(),
    BatchNorm(), LRN(), Add(), Multiply(), Concat(), *activation_kinds(),
    SimpleRNN(), LSTM(), GRU(),  # recurrent
    Embedding(), PosEmbed(), ClsToken(), Take(), Slice(), Transpose(), Mean(),  # sequences
    LayerNorm(), MultiHeadAttention(),  # attention
]

REGISTRY: dict[str, LayerKind] = {kind.op: kind for kind in _KINDS}

__all__ = ["ACTIVATIONS", "REGISTRY", "Args", "LayerKind", "Shape"]
