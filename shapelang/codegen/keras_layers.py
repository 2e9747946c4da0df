"""The Keras backend's emitters: one function per op, `emit_<op>(a, shapes, out)`, found by
name (in the manner of sqlglot's `<key>_sql` generators). Each returns the Keras layer calls one
analysed layer becomes — usually one, two where an explicit padding becomes a `ZeroPaddingND`
before a `valid` layer. The layer kinds themselves (`shapelang/layers/`) know no backend.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from ..layers import ACTIVATIONS, Args
from ..layers.attention import key_size
from ..layers.layernorm import normalised_axes
from ..layers.window import as_tuple
from .backend import Call, input_dtype


@dataclass(frozen=True)
class KerasLayer:
    """One Keras layer call the code generator writes: `layers.CLASS(**kwargs)`."""

    cls: str
    kwargs: dict = field(default_factory=dict)
    name_suffix: str = ""  # appended to the layer's name when one line becomes several layers
    custom: str | None = None  # a helper layer the generated module must define
    call_kwargs: dict = field(default_factory=dict)  # `layer(query, value, use_causal_mask=…)`


def emitter(op: str):
    """The emitter of `op`, or None where this backend has none."""
    if op in ACTIVATIONS:
        return emit_activation
    return globals().get(f"emit_{op}")


def keras_layers(op: str, a: Args, shapes, out) -> list[KerasLayer]:
    found = emitter(op)
    if found is None:  # every registered op has one: tests/test_architecture.py
        raise LookupError(f"the Keras backend has no emitter for `{op}`")
    return found(a, shapes, out)


def _rank(out) -> int:
    return len(out) - 1


def _padding(a: Args, rank: int) -> tuple[list[KerasLayer], str]:
    """Keras calls for an explicit padding (`ZeroPaddingND` before a `valid` layer), and the
    Keras padding word for the layer itself."""
    if a.padding in ("valid", "same"):
        return [], a.padding
    pads = _zero_padding(a.geometry.pads, rank)
    return [KerasLayer(f"ZeroPadding{rank}D", {"padding": pads}, "_pad")], "valid"


def _zero_padding(pads, rank: int):
    """`ZeroPaddingND`'s `padding`: a (before, after) pair per axis; `ZeroPadding1D` takes its
    one pair alone (it refuses a tuple of pairs)."""
    pads = tuple(tuple(p) for p in pads)
    return pads[0] if rank == 1 else pads


def _common(a: Args, kwargs: dict, rank: int) -> dict:
    """Dilation, bias and activation, written only where they differ from Keras's defaults."""
    dilation = as_tuple(a.dilation, rank)
    if any(d != 1 for d in dilation):
        kwargs["dilation_rate"] = dilation
    if not a.bias:
        kwargs["use_bias"] = False
    if a.activation:
        kwargs["activation"] = a.activation
    return kwargs


# ---- one emitter per op ---------------------------------------------------------------------
def emit_input(a, shapes, out):
    dtype = input_dtype(a)
    return [KerasLayer("Input", {"shape": a.shape, **({} if dtype == "float32" else
                                                      {"dtype": dtype})})]


def emit_conv(a, shapes, out):
    rank = _rank(out)
    calls, padding = _padding(a, rank)
    kwargs = {"filters": a.filters, "kernel_size": a.geometry.kernel,
              "strides": as_tuple(a.stride, rank), "padding": padding}
    if any(d != 1 for d in as_tuple(a.dilation, rank)):
        kwargs["dilation_rate"] = as_tuple(a.dilation, rank)
    if a.groups != 1:
        kwargs["groups"] = a.groups
    if not a.bias:
        kwargs["use_bias"] = False
    if a.activation:
        kwargs["activation"] = a.activation
    return calls + [KerasLayer(f"Conv{rank}D", kwargs)]


def emit_depthwiseconv(a, shapes, out):
    rank = _rank(out)
    calls, padding = _padding(a, rank)
    kwargs = {"kernel_size": a.geometry.kernel, "strides": as_tuple(a.stride, rank),
              "padding": padding}
    if a.multiplier != 1:
        kwargs["depth_multiplier"] = a.multiplier
    return calls + [KerasLayer(f"DepthwiseConv{rank}D", _common(a, kwargs, rank))]


def emit_sepconv(a, shapes, out):
    rank = _rank(out)
    calls, padding = _padding(a, rank)
    kwargs = {"filters": a.filters, "kernel_size": a.geometry.kernel,
              "strides": as_tuple(a.stride, rank), "padding": padding}
    if a.multiplier != 1:
        kwargs["depth_multiplier"] = a.multiplier
    return calls + [KerasLayer(f"SeparableConv{rank}D", _common(a, kwargs, rank))]


def _pooling(keras_name):
    def emit(a, shapes, out):
        rank = _rank(out)
        calls, padding = _padding(a, rank)
        return calls + [KerasLayer(f"{keras_name}{rank}D", {
            "pool_size": a.geometry.kernel, "strides": a.geometry.stride, "padding": padding})]
    return emit


emit_maxpool = _pooling("MaxPooling")
emit_avgpool = _pooling("AveragePooling")


def _global_pooling(keras_name):
    def emit(a, shapes, out):
        kwargs = {"keepdims": True} if a.keepdims else {}
        return [KerasLayer(f"{keras_name}{len(shapes[0]) - 1}D", kwargs)]
    return emit


emit_globalavgpool = _global_pooling("GlobalAveragePooling")
emit_globalmaxpool = _global_pooling("GlobalMaxPooling")


def emit_zeropad(a, shapes, out):
    rank = _rank(out)
    return [KerasLayer(f"ZeroPadding{rank}D", {"padding": _zero_padding(a.pads, rank)})]


def emit_upsample(a, shapes, out):
    rank = _rank(out)
    if rank == 1:
        return [KerasLayer("UpSampling1D", {"size": a.factors[0]})]
    kwargs = {"size": a.factors}
    if rank == 2 and a.interpolation != "nearest":
        kwargs["interpolation"] = a.interpolation
    return [KerasLayer(f"UpSampling{rank}D", kwargs)]


def emit_reshape(a, shapes, out):
    return [KerasLayer("Reshape", {"target_shape": a.shape})]


def emit_dense(a, shapes, out):
    if a.tie is not None:
        return emit_tied_dense(a, shapes, out)
    kwargs = {"units": a.units}
    if not a.bias:
        kwargs["use_bias"] = False
    if a.activation:
        kwargs["activation"] = a.activation
    return [KerasLayer("Dense", kwargs)]


def emit_flatten(a, shapes, out):
    return [KerasLayer("Flatten")]


def emit_dropout(a, shapes, out):
    return [KerasLayer("Dropout", {"rate": a.rate})]


def emit_batchnorm(a, shapes, out):
    kwargs = {"axis": -1}
    if a.epsilon != sympy.Rational(1, 1000):
        kwargs["epsilon"] = a.epsilon
    if a.momentum != sympy.Rational(99, 100):
        kwargs["momentum"] = a.momentum
    if not a.scale:
        kwargs["scale"] = False
    if not a.center:
        kwargs["center"] = False
    return [KerasLayer("BatchNormalization", kwargs)]


def emit_lrn(a, shapes, out):
    return [KerasLayer("LocalResponseNormalization", {
        "depth_radius": a.radius, "bias": a.bias, "alpha": a.alpha, "beta": a.beta},
        custom="LocalResponseNormalization")]


def emit_add(a, shapes, out):
    return [KerasLayer("Add")]


def emit_multiply(a, shapes, out):
    return [KerasLayer("Multiply")]


def emit_concat(a, shapes, out):
    axis = int(a.axis)
    return [KerasLayer("Concatenate", {"axis": axis if axis < 0 else axis + 1})]


def emit_activation(a, shapes, out):
    return [KerasLayer("Activation", {"activation": a.layer.op})]



# ---- attention ---------------------------------------------------------------------------
def emit_layernorm(a, shapes, out):
    axes = normalised_axes(a.axis, len(out))
    kwargs = {} if axes == (-1,) else {"axis": axes[0] if len(axes) == 1 else list(axes)}
    if a.epsilon != sympy.Rational(1, 1000):
        kwargs["epsilon"] = a.epsilon
    if not a.center:
        kwargs["center"] = False
    if not a.scale:
        kwargs["scale"] = False
    return [KerasLayer("LayerNormalization", kwargs)]


def emit_mha(a, shapes, out):
    # a key size derived from the width is an integer (the analysis checked it): floor writes
    # it as one where the width is a block's symbol
    kwargs = {"num_heads": a.heads, "key_dim": sympy.floor(key_size(a, shapes))}
    if a.value_dim is not None and a.value_dim != a.key_dim:
        kwargs["value_dim"] = a.value_dim
    if a.dropout:
        kwargs["dropout"] = a.dropout
    if not a.bias:
        kwargs["use_bias"] = False
    return [KerasLayer("MultiHeadAttention", kwargs,
                       call_kwargs={"use_causal_mask": True} if a.causal else {})]


# ---- recurrent layers (rnn) -----------------------------------------------------------------
_RECURRENT = {"simplernn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def _recurrent(a, shapes, out):
    """`layers.LSTM(…)`, or with `bidirectional` Keras's `Bidirectional` wrapping it."""
    cls = _RECURRENT[a.layer.op]
    kwargs = {"units": a.units}
    if a.return_sequences:
        kwargs["return_sequences"] = True
    if not a.bias:
        kwargs["use_bias"] = False
    if a.layer.op == "gru" and not a.reset_after:
        kwargs["reset_after"] = False
    if not a.bidirectional:
        return [KerasLayer(cls, kwargs)]
    return [KerasLayer("Bidirectional", {"layer": Call(f"layers.{cls}", kwargs),
                                         "merge_mode": a.bidirectional})]


emit_simplernn = emit_lstm = emit_gru = _recurrent


# ---- sequences (seqops): Keras's own layers where it has them, else the program's -------------
def emit_embedding(a, shapes, out):
    return [KerasLayer("Embedding", {"input_dim": a.vocab, "output_dim": a.dim})]


def emit_posembed(a, shapes, out):
    return [KerasLayer("PositionEmbedding", {"max_len": a.max_len}, custom="PositionEmbedding")]


def emit_clstoken(a, shapes, out):
    return [KerasLayer("ClassToken", custom="ClassToken")]


def emit_take(a, shapes, out):
    axis = int(a.axis) % len(shapes[0])
    return [KerasLayer("Take", {"index": a.index, "axis": axis}, custom="Take")]


def emit_slice(a, shapes, out):
    axis = int(a.axis) % len(shapes[0])
    return [KerasLayer("Slice", {"start": a.start, "stop": a.stop, "axis": axis},
                       custom="Slice")]


def emit_transpose(a, shapes, out):
    return [KerasLayer("Permute", {"dims": tuple(p + 1 for p in a.perm)})]


def emit_mean(a, shapes, out):
    from ..layers.mean import Mean

    kwargs = {"axis": Mean.axes(a, len(shapes[0]))}
    if a.keepdims:
        kwargs["keepdims"] = True
    return [KerasLayer("Mean", kwargs, custom="Mean")]


def emit_tied_dense(a, shapes, out):
    kwargs = {"units": a.units, "tied_to": a.tie}
    if not a.bias:
        kwargs["use_bias"] = False
    if a.activation:
        kwargs["activation"] = a.activation
    return [KerasLayer("TiedDense", kwargs, custom="TiedDense")]
