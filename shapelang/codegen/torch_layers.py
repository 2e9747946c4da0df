"""The PyTorch backend's emitters: one function per op, `emit_<op>(a, shapes, out)`, found by
name as the Keras backend's are. Each returns the `torch.nn` modules one analysed layer becomes,
built from the analysis's channels-last shapes for PyTorch's channels-first tensors:

- windows: TensorFlow's `same` padding is the geometry's (before, after) pads; a symmetric
  padding is the layer's own `padding`, an asymmetric (or size-dependent) one an
  `nn.ZeroPadNd` before it (`NAME_pad`); a pool's `same` padding must not count as input
  (`MaxPoolSame`: −∞, `AvgPoolSame`: averages over the input rows only, as TensorFlow does);
- `flatten` flattens in the analysis's channels-last order (`Flatten`: channels moved last
  first), so a dense layer after it has the Keras model's weight layout; `reshape` likewise;
- a trailing activation is a function of the layer's output in `forward` (`activation`);
- batch norm: PyTorch's momentum is 1 − Keras's; LRN: PyTorch's `LocalResponseNorm` divides
  alpha by the window, so it gets alpha·(2·radius + 1).

The modules marked `custom` are defined by the generated program (`torch.py`).
"""
from __future__ import annotations

import sympy

from ..layers import ACTIVATIONS, Args
from ..layers.layernorm import normalised_axes
from .backend import Call, LayerCall

#: A trailing activation as PyTorch code applied to `{}` (the layer's output, channels first).
ACTIVATION_FUNCTIONS = {
    "relu": "F.relu({})", "relu6": "F.relu6({})", "tanh": "torch.tanh({})",
    "sigmoid": "torch.sigmoid({})", "softmax": "F.softmax({}, dim=1)",
    "log_softmax": "F.log_softmax({}, dim=1)", "elu": "F.elu({})", "selu": "F.selu({})",
    "gelu": "F.gelu({})", "swish": "F.silu({})", "silu": "F.silu({})",
    "softplus": "F.softplus({})", "softsign": "F.softsign({})",
    "hard_sigmoid": "F.hardsigmoid({})", "hard_swish": "F.hardswish({})",
    "leaky_relu": "F.leaky_relu({}, 0.2)", "mish": "F.mish({})", "exponential": "torch.exp({})",
    "linear": "{}",
}

#: An activation line as a module: (class, arguments, whether the program defines it).
_ACTIVATION_MODULES = {
    "relu": ("nn.ReLU", {}), "relu6": ("nn.ReLU6", {}), "tanh": ("nn.Tanh", {}),
    "sigmoid": ("nn.Sigmoid", {}), "softmax": ("nn.Softmax", {"dim": 1}),
    "log_softmax": ("nn.LogSoftmax", {"dim": 1}), "elu": ("nn.ELU", {}), "selu": ("nn.SELU", {}),
    "gelu": ("nn.GELU", {}), "swish": ("nn.SiLU", {}), "silu": ("nn.SiLU", {}),
    "softplus": ("nn.Softplus", {}), "softsign": ("nn.Softsign", {}),
    "hard_sigmoid": ("nn.Hardsigmoid", {}), "hard_swish": ("nn.Hardswish", {}),
    "leaky_relu": ("nn.LeakyReLU", {"negative_slope": sympy.Rational(1, 5)}),
    "mish": ("nn.Mish", {}), "linear": ("nn.Identity", {}), "exponential": ("Exponential", {}),
}


def emitter(op: str):
    """The emitter of `op`, or None where this backend has none."""
    if op in ACTIVATIONS:
        return emit_activation
    return globals().get(f"emit_{op}")


def torch_layers(op: str, a: Args, shapes, out) -> list[LayerCall]:
    found = emitter(op)
    if found is None:  # every registered op has one: tests/test_architecture.py
        raise LookupError(f"the PyTorch backend has no emitter for `{op}`")
    return found(a, shapes, out)


def _module(cls: str, kwargs=None, suffix: str = "", activation: str | None = None):
    """A `torch.nn` class (`nn.X`) or one the generated program defines."""
    custom = None if cls.startswith("nn.") else cls
    if activation == "linear":
        activation = None
    return LayerCall(cls, dict(kwargs or {}), suffix, custom, activation)


def _rank(out) -> int:
    return len(out) - 1


def _torch_pads(pads) -> tuple:
    """(before, after) per spatial axis, first axis first → `F.pad`'s order: the last axis's
    pair first."""
    return tuple(p for pair in reversed(pads) for p in pair)


def _padding(a: Args, rank: int) -> tuple[list[LayerCall], dict]:
    """A window's padding: for `same`, an `nn.ZeroPadNd` with TensorFlow's (before, after) pads
    before the layer (they depend on the input's size; a 1-wide window has none); an explicit
    padding (symmetric) is the layer's own `padding`. Decided by the padding's mode and the
    kernel alone, never by a size, so that a block's class pads alike at every use."""
    geometry = a.geometry
    if geometry.mode == "same" and _wider_than_one(geometry):
        return [_module(f"nn.ZeroPad{rank}d", {"padding": _torch_pads(geometry.pads)}, "_pad")], {}
    if geometry.mode == "explicit":
        return [], {"padding": tuple(before for before, _ in geometry.pads)}
    return [], {}


def _wider_than_one(geometry) -> bool:
    return any(k != 1 for k in geometry.effective_kernel)


def _window(a: Args, rank: int) -> dict:
    kwargs = {"kernel_size": a.geometry.kernel, "stride": a.geometry.stride}
    if any(d != 1 for d in a.geometry.dilation):
        kwargs["dilation"] = a.geometry.dilation
    return kwargs


# ---- one emitter per op ---------------------------------------------------------------------
def emit_input(a, shapes, out):
    return [LayerCall("Input", {"shape": a.shape})]


def emit_conv(a, shapes, out):
    rank = _rank(out)
    calls, padding = _padding(a, rank)
    kwargs = {"in_channels": shapes[0][-1], "out_channels": a.filters, **_window(a, rank),
              **padding}
    if a.groups != 1:
        kwargs["groups"] = a.groups
    if not a.bias:
        kwargs["bias"] = False
    return calls + [_module(f"nn.Conv{rank}d", kwargs, activation=a.activation)]


def emit_depthwiseconv(a, shapes, out):
    rank = _rank(out)
    channels = shapes[0][-1]
    calls, padding = _padding(a, rank)
    kwargs = {"in_channels": channels, "out_channels": channels * a.multiplier,
              **_window(a, rank), **padding, "groups": channels}
    if not a.bias:
        kwargs["bias"] = False
    return calls + [_module(f"nn.Conv{rank}d", kwargs, activation=a.activation)]


def emit_sepconv(a, shapes, out):
    rank = _rank(out)
    calls, padding = _padding(a, rank)
    kwargs = {"in_channels": shapes[0][-1], "out_channels": a.filters, **_window(a, rank),
              **padding}
    if a.multiplier != 1:
        kwargs["multiplier"] = a.multiplier
    if not a.bias:
        kwargs["bias"] = False
    return calls + [_module(f"SeparableConv{rank}d", kwargs, activation=a.activation)]


def _pooling(kind):
    def emit(a, shapes, out):
        rank = _rank(out)
        geometry = a.geometry
        kwargs = {"kernel_size": geometry.kernel, "stride": geometry.stride}
        pads = _torch_pads(geometry.pads)
        if geometry.mode == "same" and _wider_than_one(geometry):
            # TensorFlow's `same` pool reads no padding: a max over the input, an average
            # over the input rows in the window
            return [_module(f"{kind}PoolSame", {**kwargs, "padding": pads})]
        # an explicit padding is zeros that the pool reads, as Keras's ZeroPadding before it
        calls = ([_module(f"nn.ZeroPad{rank}d", {"padding": pads}, "_pad")]
                 if geometry.mode == "explicit" else [])
        return calls + [_module(f"nn.{kind}Pool{rank}d", kwargs)]
    return emit


emit_maxpool = _pooling("Max")
emit_avgpool = _pooling("Avg")


def _global_pooling(kind):
    def emit(a, shapes, out):
        return [_module(f"Global{kind}Pool", {"keepdim": True} if a.keepdims else {})]
    return emit


emit_globalavgpool = _global_pooling("Avg")
emit_globalmaxpool = _global_pooling("Max")


def emit_zeropad(a, shapes, out):
    return [_module(f"nn.ZeroPad{_rank(out)}d", {"padding": _torch_pads(a.pads)})]


def emit_upsample(a, shapes, out):
    rank = _rank(out)
    mode = a.interpolation if rank == 2 else "nearest"
    kwargs = {"scale_factor": a.factors, "mode": "bilinear" if mode == "bilinear" else "nearest"}
    return [_module("nn.Upsample", kwargs)]


def emit_reshape(a, shapes, out):
    return [_module("Reshape", {"shape": tuple(out)})]


def emit_dense(a, shapes, out):
    if a.tie is not None:
        return emit_tied_dense(a, shapes, out)
    kwargs = {"in_features": shapes[0][-1], "out_features": a.units}
    if not a.bias:
        kwargs["bias"] = False
    # a dense layer reads the last axis: the channels, which PyTorch holds at axis 1
    cls = "nn.Linear" if len(shapes[0]) == 1 else "ChannelsLinear"
    return [_module(cls, kwargs, activation=a.activation)]


def emit_flatten(a, shapes, out):
    return [_module("Flatten")]


def emit_dropout(a, shapes, out):
    return [_module("nn.Dropout", {"p": a.rate})]


def emit_batchnorm(a, shapes, out):
    rank = max(len(shapes[0]) - 1, 1)
    kwargs = {"num_features": shapes[0][-1], "eps": a.epsilon, "momentum": 1 - a.momentum}
    if a.scale != a.center:  # PyTorch's affine is both or neither
        return [_module("BatchNorm", {**kwargs, "scale": a.scale, "center": a.center})]
    if not a.scale:
        kwargs["affine"] = False
    return [_module(f"nn.BatchNorm{rank}d", kwargs)]


def emit_lrn(a, shapes, out):
    size = 2 * a.radius + 1
    return [_module("nn.LocalResponseNorm", {"size": size, "alpha": a.alpha * size,
                                             "beta": a.beta, "k": a.bias})]


def emit_add(a, shapes, out):
    return [_module("Add")]


def emit_multiply(a, shapes, out):
    return [_module("Multiply")]


def emit_concat(a, shapes, out):
    rank = len(shapes[0])  # the analysis's axes, channels last, no batch
    axis = int(a.axis) % rank
    return [_module("Concatenate", {"dim": 1 if axis == rank - 1 else axis + 2})]


def emit_activation(a, shapes, out):
    cls, kwargs = _ACTIVATION_MODULES[a.layer.op]
    return [_module(cls, kwargs)]


# ---- attention ---------------------------------------------------------------------------
def emit_layernorm(a, shapes, out):
    axes = normalised_axes(a.axis, len(out))
    kwargs = {"normalized_shape": tuple(shapes[0][axis] for axis in axes), "eps": a.epsilon}
    if len(out) == 1 and (a.scale or not a.center):  # a vector: PyTorch's own layer fits
        if not a.scale:
            kwargs["elementwise_affine"] = False
        elif not a.center:
            kwargs["bias"] = False
        return [_module("nn.LayerNorm", kwargs)]
    # channels moved last, the normalised axes to the end; γ and β each optional
    kwargs["axes"] = axes
    if not a.scale:
        kwargs["scale"] = False
    if not a.center:
        kwargs["center"] = False
    return [_module("LayerNorm", kwargs)]


def emit_mha(a, shapes, out):
    kwargs = {"query_dim": shapes[0][-1], "memory_dim": shapes[-1][-1], "heads": a.heads}
    if a.key_dim is not None:  # else the module's default: the query's width over the heads
        kwargs["key_dim"] = a.key_dim
    if a.value_dim is not None and a.value_dim != a.key_dim:  # else the key size
        kwargs["value_dim"] = a.value_dim
    if a.dropout:
        kwargs["dropout"] = a.dropout
    if a.causal:
        kwargs["causal"] = True
    if not a.bias:
        kwargs["bias"] = False
    return [_module("MultiHeadAttention", kwargs)]


# ---- recurrent layers (rnn) -----------------------------------------------------------------
_RECURRENT = {"simplernn": "nn.RNN", "lstm": "nn.LSTM", "gru": "nn.GRU"}


def _recurrent(a, shapes, out):
    """`Recurrent` around `nn.RNN`, `nn.LSTM` or `nn.GRU` (batch first), or around the
    program's `GRUResetBefore` (Keras's `reset_after=False`, which PyTorch lacks)."""
    kwargs = {"input_size": shapes[0][-1], "hidden_size": a.units}
    if not a.bias:
        kwargs["bias"] = False
    if a.bidirectional:
        kwargs["bidirectional"] = True
    if a.layer.op == "gru" and not a.reset_after:
        rnn = Call("GRUResetBefore", kwargs, custom="GRUResetBefore")
    else:
        rnn = Call(_RECURRENT[a.layer.op], {**kwargs, "batch_first": True})
    wrapper = {"rnn": rnn}
    if a.return_sequences:
        wrapper["return_sequences"] = True
    if a.bidirectional and a.bidirectional != "concat":
        wrapper["merge_mode"] = a.bidirectional
    return [_module("Recurrent", wrapper)]


emit_simplernn = emit_lstm = emit_gru = _recurrent


# ---- sequences (seqops): modules of the program that move the channels where they need them --
def emit_embedding(a, shapes, out):
    return [_module("Embedding", {"num_embeddings": a.vocab, "embedding_dim": a.dim})]


def emit_posembed(a, shapes, out):
    return [_module("PositionEmbedding", {"max_len": a.max_len, "dim": shapes[0][-1]})]


def emit_clstoken(a, shapes, out):
    return [_module("ClassToken", {"dim": shapes[0][-1]})]


def emit_take(a, shapes, out):
    return [_module("Take", {"index": a.index, "axis": int(a.axis) % len(shapes[0])})]


def emit_slice(a, shapes, out):
    return [_module("Slice", {"start": a.start, "stop": a.stop,
                              "axis": int(a.axis) % len(shapes[0])})]


def emit_transpose(a, shapes, out):
    return [_module("Permute", {"dims": a.perm})]


def emit_mean(a, shapes, out):
    from ..layers.mean import Mean

    kwargs = {"axis": Mean.axes(a, len(shapes[0]))}
    if a.keepdims:
        kwargs["keepdim"] = True
    return [_module("Mean", kwargs)]


def emit_tied_dense(a, shapes, out):
    kwargs = {"in_features": shapes[0][-1], "out_features": a.units, "tied_to": a.tie}
    if not a.bias:
        kwargs["bias"] = False
    return [_module("TiedLinear", kwargs, activation=a.activation)]
