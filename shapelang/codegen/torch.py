"""The PyTorch program emitter: an `Analysis` in, one Python module out.

The plan is the Keras program's (`program.py`: the same ops, followed tensor by tensor, checked
against the analysis before a line is written — here against the PyTorch backend's own layer
calls, `torch_layers.py`). It is written as `nn.Module` classes: the network's, and one per
block. A class's `__init__` builds its layers into `self.layers` (an `nn.ModuleDict` keyed by
the analysis's layer names, `.` written `/`), in the plan's order, loops and block uses
included; its `forward` runs the same ops on tensors. A block's class is built with its
input's shape (channels last, as the analysis writes it) and its numeric parameters, so that
every size depending on them is exact arithmetic, as in the Keras program.

Tensors are channels first, `(N, C, H, W)`; where the analysis's channels-last order matters
(`flatten`, `reshape`, `concat`'s axis, a dense layer on a feature map) the modules say so.
`frame.py` puts the classes in a program with the runtime's `main()` (`backend="torch"`).
"""
from __future__ import annotations

import functools
import re

from .. import conventions
from ..analysis import Analysis
from ..fingerprint import network_fingerprint
from ..solve import pretty
from ..version import __version__
from . import frame, pywriter
from .backend import Backend, LayerCall, is_output
from .names import module_namespace
from .program import (
    STRUCTURES,
    AliasOp,
    CallOp,
    FunctionPlan,
    IfOp,
    Index,
    LayerOp,
    LoopOp,
    ModelOp,
    PlanMismatch,
    Program,
    ReturnOp,
    check_writable,
    plan_program,
)
from .pywriter import Emitter, Namespace, literal
from .torch_layers import ACTIVATION_FUNCTIONS, torch_layers

_IMPORTS = {"import sys", "import torch", "from torch import nn",
            "import torch.nn.functional as F", "import math", "from fractions import Fraction"}

# ---- the modules the generated program defines, where torch.nn has none ----------------------
_CUSTOM = {
    "Layers": '''
class Layers(nn.ModuleDict):
    """The layers of a module by name. Any name is a key, also one that `nn.Module` has as an
    attribute (`float`, `train`, `training`), which `nn.ModuleDict` refuses: `layers["float"]`
    is the layer, `layers.float` still the method."""

    def __setitem__(self, key, module):
        if not isinstance(module, nn.Module) or not key or "." in key:
            raise ValueError(f"not a layer: {key!r}")
        self._modules[key] = module

    def __setattr__(self, name, value):
        if isinstance(value, nn.Module) or name not in self.__dict__.get("_modules", {}):
            super().__setattr__(name, value)
        else:  # the attribute a layer is named after (`training`), not the layer
            object.__setattr__(self, name, value)
''',
    "Flatten": '''
class Flatten(nn.Module):
    """Flattens each example in the channels-last order of the analysis (and of Keras), so that
    a dense layer after it has the same weight layout as the Keras model's."""

    def forward(self, x):
        return x.movedim(1, -1).flatten(1) if x.dim() > 2 else x
''',
    "Reshape": '''
class Reshape(nn.Module):
    """Each example to `shape`, given channels last as the analysis writes it."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        x = x.movedim(1, -1) if x.dim() > 2 else x
        x = x.reshape(x.shape[0], *self.shape)
        return x.movedim(-1, 1) if x.dim() > 2 else x
''',
    "ChannelsLinear": '''
class ChannelsLinear(nn.Linear):
    """A dense layer on a feature map: it maps the channels (the analysis's last axis)."""

    def forward(self, x):
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)
''',
    "MaxPoolSame": '''
class MaxPoolSame(nn.Module):
    """A max pool with TensorFlow's `same` padding (`padding` in `F.pad`'s order): the padding
    is -inf, so it is never the maximum."""

    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[len(self.kernel_size) - 1]
        return pool(F.pad(x, self.padding, value=-math.inf), self.kernel_size, self.stride)
''',
    "AvgPoolSame": '''
class AvgPoolSame(nn.Module):
    """An average pool with TensorFlow's `same` padding (`padding` in `F.pad`'s order): each
    window averages the input positions it covers, not the padding."""

    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[len(self.kernel_size) - 1]
        total = pool(F.pad(x, self.padding), self.kernel_size, self.stride)
        covered = pool(
            F.pad(torch.ones_like(x[:1, :1]), self.padding), self.kernel_size, self.stride
        )
        return total / covered
''',
    "GlobalAvgPool": '''
class GlobalAvgPool(nn.Module):
    """The mean over every spatial axis."""

    def __init__(self, keepdim=False):
        super().__init__()
        self.keepdim = keepdim

    def forward(self, x):
        return x.mean(dim=tuple(range(2, x.dim())), keepdim=self.keepdim)
''',
    "GlobalMaxPool": '''
class GlobalMaxPool(nn.Module):
    """The maximum over every spatial axis."""

    def __init__(self, keepdim=False):
        super().__init__()
        self.keepdim = keepdim

    def forward(self, x):
        return x.amax(dim=tuple(range(2, x.dim())), keepdim=self.keepdim)
''',
    "BatchNorm": '''
class BatchNorm(nn.Module):
    """Batch normalisation with a scale but no offset, or an offset but no scale (PyTorch's
    `affine` is both or neither); the running statistics as `nn.BatchNorm2d` keeps them."""

    def __init__(self, num_features, eps, momentum, scale, center):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features)) if scale else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if center else None
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )
''',
    "Add": '''
class Add(nn.Module):
    """The sum of its inputs."""

    def forward(self, *inputs):
        total = inputs[0]
        for tensor in inputs[1:]:
            total = total + tensor
        return total
''',
    "Multiply": '''
class Multiply(nn.Module):
    """The element-wise product of its inputs."""

    def forward(self, *inputs):
        product = inputs[0]
        for tensor in inputs[1:]:
            product = product * tensor
        return product
''',
    "Concatenate": '''
class Concatenate(nn.Module):
    """Its inputs joined along `dim` (PyTorch's axis: the channels are 1)."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, *inputs):
        return torch.cat(inputs, dim=self.dim)
''',
    "Exponential": '''
class Exponential(nn.Module):
    def forward(self, x):
        return torch.exp(x)
''',
    "LayerNorm": '''
class LayerNorm(nn.LayerNorm):
    """Keras's `LayerNormalization` over `axes` of the analysis's channels-last shape (counted
    from the end): the channels moved last and the axes to the end for `nn.LayerNorm`, then
    back. γ (`scale`) and β (`center`) each optional (PyTorch's `elementwise_affine` is both
    or neither)."""

    def __init__(self, normalized_shape, eps, axes=(-1,), scale=True, center=True):
        super().__init__(normalized_shape, eps, elementwise_affine=scale or center, bias=center)
        if not scale and center:
            self.weight = None
        self.axes = tuple(axes)

    def forward(self, x):
        last = x.movedim(1, -1) if x.dim() > 2 else x
        ends = tuple(range(-len(self.axes), 0))
        y = super().forward(last.movedim(self.axes, ends)).movedim(ends, self.axes)
        return y.movedim(-1, 1) if x.dim() > 2 else y
''',
    "MultiHeadAttention": '''
class MultiHeadAttention(nn.Module):
    """Keras's `MultiHeadAttention` on sequences: the query and the memory of keys and values
    (the query itself when not given) channels first, (N, D, T), as this program's tensors are,
    the features moved last and back. The projections are `nn.Linear`s with Keras's kernels
    flattened, heads first (query, key, value: width → heads·size; output: heads·value_dim →
    the query's width); by default each head's key size is the query's width over the heads,
    its value size the key size. `causal`: query position i attends to key positions 0 … i
    (Keras's lower-triangular mask, also where the lengths differ)."""

    def __init__(
        self,
        query_dim,
        memory_dim,
        heads,
        key_dim=None,
        value_dim=None,
        dropout=0.0,
        causal=False,
        bias=True,
    ):
        super().__init__()
        key_dim = query_dim // heads if key_dim is None else key_dim
        value_dim = key_dim if value_dim is None else value_dim
        self.heads, self.key_dim, self.value_dim = heads, key_dim, value_dim
        self.dropout, self.causal = dropout, causal
        self.query = nn.Linear(query_dim, heads * key_dim, bias)
        self.key = nn.Linear(memory_dim, heads * key_dim, bias)
        self.value = nn.Linear(memory_dim, heads * value_dim, bias)
        self.output = nn.Linear(heads * value_dim, query_dim, bias)

    def forward(self, query, memory=None):
        query = query.movedim(1, -1)
        memory = query if memory is None else memory.movedim(1, -1)
        attended = F.scaled_dot_product_attention(
            self.query(query).unflatten(-1, (self.heads, self.key_dim)).transpose(1, 2),
            self.key(memory).unflatten(-1, (self.heads, self.key_dim)).transpose(1, 2),
            self.value(memory).unflatten(-1, (self.heads, self.value_dim)).transpose(1, 2),
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=self.causal,
        )
        return self.output(attended.transpose(1, 2).flatten(2)).movedim(-1, 1)
''',
    "Recurrent": '''
class Recurrent(nn.Module):
    """Keras's SimpleRNN, LSTM or GRU, and Bidirectional around them, on a sequence held
    channels first, (N, D, T): `rnn` (batch first) reads it moved to (N, T, D). The output is
    every step's, moved back to (N, UNITS, T), with `return_sequences`; else the last step's,
    (N, UNITS): bidirectional, the forward direction's last output and the backward
    direction's final state (it ends at the first step), as Keras's Bidirectional returns them.
    `merge_mode` joins the two directions as Keras's does: concat, sum, mul or ave."""

    def __init__(self, rnn, return_sequences=False, merge_mode="concat"):
        super().__init__()
        self.rnn = rnn
        self.return_sequences, self.merge_mode = return_sequences, merge_mode

    def forward(self, x):
        outputs, state = self.rnn(x.movedim(1, -1))
        if self.return_sequences:
            y = outputs
        else:
            final = state[0] if isinstance(state, tuple) else state  # an LSTM's (h, c)
            y = final.movedim(0, 1).flatten(1)  # each direction's final state, forward first
        if self.merge_mode != "concat":
            forward, backward = y.chunk(2, dim=-1)
            if self.merge_mode == "sum":
                y = forward + backward
            elif self.merge_mode == "mul":
                y = forward * backward
            else:
                y = (forward + backward) / 2
        return y.movedim(-1, 1) if self.return_sequences else y
''',
    "GRUResetBefore": '''
class GRUResetBefore(nn.Module):
    """Keras's GRU with reset_after=False, which PyTorch lacks: the reset gate scales the state
    before the recurrent product, n = tanh(x W_n + b_n + (r * h) U_n), with one bias vector.
    nn.GRU's interface, batch first: (N, T, D) in; every step's output (N, T, directions * U)
    and the final states (directions, N, U) out; its weights in nn.GRU's gate order r, z, n."""

    def __init__(self, input_size, hidden_size, bias=True, bidirectional=False):
        super().__init__()
        self.hidden_size = hidden_size
        self.suffixes = ("", "_reverse") if bidirectional else ("",)
        for suffix in self.suffixes:
            weights = {
                "weight_ih_l0": (3 * hidden_size, input_size),
                "weight_hh_l0": (3 * hidden_size, hidden_size),
                "bias_l0": (3 * hidden_size,) if bias else None,
            }
            for name, shape in weights.items():
                weight = None if shape is None else nn.Parameter(torch.empty(shape))
                self.register_parameter(name + suffix, weight)
        bound = 1 / math.sqrt(hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def direction(self, x, suffix):
        weight, bias = getattr(self, "weight_ih_l0" + suffix), getattr(self, "bias_l0" + suffix)
        inputs = F.linear(x, weight, bias)
        reset, update, new = getattr(self, "weight_hh_l0" + suffix).chunk(3)
        h = x.new_zeros(x.shape[0], self.hidden_size)
        steps = []
        for step in inputs.unbind(1):
            x_r, x_z, x_n = step.chunk(3, dim=-1)
            r = torch.sigmoid(x_r + F.linear(h, reset))
            z = torch.sigmoid(x_z + F.linear(h, update))
            n = torch.tanh(x_n + F.linear(r * h, new))
            h = (1 - z) * n + z * h
            steps.append(h)
        return torch.stack(steps, 1), h

    def forward(self, x):
        outputs, final = self.direction(x, "")
        if len(self.suffixes) == 1:
            return outputs, final[None]
        backward, backward_final = self.direction(x.flip(1), "_reverse")
        return torch.cat([outputs, backward.flip(1)], -1), torch.stack([final, backward_final])
''',
}

_SEPARABLE = '''
class SeparableConvRd(nn.Module):
    """Keras's `SeparableConvRD`: a depthwise convolution without bias (`multiplier` filters
    per channel), then a 1x1 convolution."""

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        multiplier=1,
        bias=True,
    ):
        super().__init__()
        middle = in_channels * multiplier
        self.depthwise = nn.ConvRd(
            in_channels,
            middle,
            kernel_size,
            stride,
            padding,
            dilation,
            groups=in_channels,
            bias=False,
        )
        self.pointwise = nn.ConvRd(middle, out_channels, 1, bias=bias)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))
'''


# the sequence modules (seqops): each works on the program's channels-first tensors, moving the
# channels where it needs them, as `ChannelsLinear` does
_CUSTOM.update({
    "Embedding": '''
class Embedding(nn.Embedding):
    """Token ids (N, T) → vectors channels first (N, D, T), as the program holds every tensor
    of rank 2 or more; ids of rank 2 or more arrive channels first too and are moved back."""

    def forward(self, x):
        x = x.movedim(1, -1) if x.dim() > 2 else x
        return super().forward(x.long()).movedim(-1, 1)
''',
    "PositionEmbedding": '''
class PositionEmbedding(nn.Module):
    """A learned (max_len, D) table of positions; its first T rows are added to a sequence
    (N, D, T)."""

    def __init__(self, max_len, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(max_len, dim))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        return x + self.weight[: x.shape[-1]].transpose(0, 1).to(x.dtype)
''',
    "ClassToken": '''
class ClassToken(nn.Module):
    """One learned token prepended to a sequence: (N, D, T) → (N, D, T + 1); the weight is
    (1, 1, D), as torchvision's ViT `class_token`."""

    def __init__(self, dim):
        super().__init__()
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x):
        token = self.class_token.to(x.dtype).transpose(1, 2).expand(x.shape[0], -1, -1)
        return torch.cat([token, x], dim=2)
''',
    "Take": '''
class Take(nn.Module):
    """One position along the analysis's non-batch axis `axis` (channels last, as the analysis
    writes it), which disappears."""

    def __init__(self, index, axis):
        super().__init__()
        self.index, self.axis = index, axis

    def forward(self, x):
        x = x.movedim(1, -1) if x.dim() > 2 else x
        x = x.select(self.axis + 1, self.index)
        return x.movedim(-1, 1) if x.dim() > 2 else x
''',
    "Slice": '''
class Slice(nn.Module):
    """Positions start up to stop (Python's slice) along the analysis's non-batch axis `axis`
    (channels last, as the analysis writes it)."""

    def __init__(self, start, stop, axis):
        super().__init__()
        self.start, self.stop, self.axis = start, stop, axis

    def forward(self, x):
        x = x.movedim(1, -1) if x.dim() > 2 else x
        x = x[(slice(None),) * (self.axis + 1) + (slice(self.start, self.stop),)]
        return x.movedim(-1, 1) if x.dim() > 2 else x
''',
    "Permute": '''
class Permute(nn.Module):
    """The analysis's non-batch axes permuted (channels last, as the analysis writes them):
    output axis i is input axis dims[i]."""

    def __init__(self, dims):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x):
        x = x.movedim(1, -1) if x.dim() > 2 else x
        x = x.permute(0, *(d + 1 for d in self.dims))
        return x.movedim(-1, 1) if x.dim() > 2 else x
''',
    "Mean": '''
class Mean(nn.Module):
    """The mean over the analysis's non-batch axes `axis` (channels last, as the analysis
    writes them)."""

    def __init__(self, axis, keepdim=False):
        super().__init__()
        self.axis, self.keepdim = tuple(axis), keepdim

    def forward(self, x):
        x = x.movedim(1, -1) if x.dim() > 2 else x
        x = x if x.is_floating_point() else x.float()
        x = x.mean(dim=tuple(a + 1 for a in self.axis), keepdim=self.keepdim)
        return x.movedim(-1, 1) if x.dim() > 2 else x
''',
    "TiedLinear": '''
class TiedLinear(nn.Module):
    """A dense layer on the channels that reuses the (vocab, dim) weight of the `Embedding`
    layer `tied_to` (weight tying, GPT-2's head). `tie_weights` hands it that module once the
    network is built: the weight stays the embedding's one `nn.Parameter` (not registered
    here), so `parameters()` yields it once and both uses train it."""

    def __init__(self, in_features, out_features, tied_to, bias=True):
        super().__init__()
        self.tied_to = tied_to
        self.tied = []  # the embedding, a plain reference: its weight is not this module's
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x):
        weight = self.tied[0].weight
        if x.dim() > 2:
            return F.linear(x.movedim(1, -1), weight, self.bias).movedim(-1, 1)
        return F.linear(x, weight, self.bias)


def tie_weights(model):
    """Hands every `TiedLinear` of `model` the embedding it names (by the analysis's layer
    name: the keys of the `layers` dicts joined by `.`, `/` written `.`)."""
    named = {}

    def walk(module, prefix):
        for key, child in module.layers.items():
            name = prefix + key.replace("/", ".")
            named[name] = child
            if isinstance(getattr(child, "layers", None), nn.ModuleDict):
                walk(child, name + ".")

    walk(model, "")
    for module in named.values():
        if isinstance(module, TiedLinear):
            module.tied = [named[module.tied_to]]
    return model
''',
})


def _custom_source(name: str) -> str:
    if name.startswith("SeparableConv"):
        rank = name[len("SeparableConv"):-1]
        return _SEPARABLE.replace("Rd", f"{rank}d").replace("RD", f"{rank}D")
    return _CUSTOM[name]


_PROGRAM_NAMES = (*_CUSTOM, "tie_weights", "SeparableConv1d", "SeparableConv2d", "INPUT_SHAPE",
                  "INPUT_SHAPES", "INPUT_DTYPES",
                  "OUTPUT_UNITS", "TRAIN_DEFAULTS", "NETWORK_FINGERPRINT", "build_model", "main",
                  "self", "super")


# ---- the backend: the analysis's layers as torch.nn modules --------------------------------
def torch_calls(analysis: Analysis, r, output_name: str | None, *,
                logits: bool = False) -> list[LayerCall]:
    """The modules of one analysed layer; with `logits`, the network's output layer without its
    softmax."""
    shapes = [analysis.shapes[name] for name in r.inputs]
    calls = torch_layers(r.op, r.args, shapes, r.shape)
    if logits and is_output(r.name, output_name):
        last = calls[-1]
        if last.activation == "softmax":
            calls[-1] = LayerCall(last.cls, last.kwargs, last.suffix, last.custom, None)
        elif last.cls == "nn.Softmax":
            calls[-1] = LayerCall("nn.Identity", {}, last.suffix)
    return calls


def torch_backend(logits: bool = False) -> Backend:
    return Backend("PyTorch", functools.partial(torch_calls, logits=logits), block_shapes=True)


def _class_name(module: Namespace, name: str) -> str:
    """A block's or the network's class: its name in CamelCase (`bottleneck_v2` →
    `BottleneckV2`), a name of the generator's, so it never takes a user's spelling."""
    camel = "".join(part[:1].upper() + part[1:] for part in re.split(r"_+", name) if part)
    return module.claim(camel or "Block")


# ---- rendering the plan -----------------------------------------------------------------------
def _key_code(parts) -> str:
    """Python for a layer's key in its module's `self.layers`: its name within the module
    (a block's own name is the sub-module's), `.` written `/` (a `ModuleDict` key has no dot),
    with `str(i)` for a loop's iteration."""
    parts = list(parts)
    if parts and not isinstance(parts[0], (str, Index)):  # a block function's name variable
        parts = parts[1:]
        if parts and isinstance(parts[0], str):
            parts[0] = parts[0].removeprefix(".")
    pieces = [literal(p.replace(".", "/")) if isinstance(p, str) else f"str({p.name})"
              for p in parts if p != ""]
    return " + ".join(pieces) or literal("")


def _targets(targets, skip=()) -> str:
    return "".join(f"{t} = " for t in targets if t not in skip)


def _count_attribute(loop: LoopOp) -> str | None:
    """Where a loop's count that depends on the parameters is kept for `forward` (which does
    not see `__init__`'s parameters): `self.repeat_LINE`."""
    return None if loop.count.value.is_number else f"self.repeat_{loop.line}"


def _count(loop: LoopOp) -> str:
    return _count_attribute(loop) or loop.count.code


def _shape_code(shape, own_shape: str | None) -> str:
    """A block use's input shape: a tuple, or the enclosing block's own `in_shape` where it is
    that one."""
    codes = [v.code for v in shape]
    if own_shape and codes == [f"{own_shape}[{k}]" for k in range(len(codes))]:
        return own_shape
    return "(" + ", ".join(codes) + ("," if len(codes) == 1 else "") + ")"


def _condition_attribute(op: IfOp) -> str:
    """Where an `if`'s condition on the parameters is kept for `forward`: `self.if_LINE`."""
    return f"self.if_{op.line}"


def _render_sides(op: IfOp, out: Emitter, render):
    """`if self.if_LINE:` and `else:`, each side rendered by `render` (`pass` if empty)."""
    for header, side in ((f"if {_condition_attribute(op)}:", op.then), ("else:", op.otherwise)):
        if header == "else:" and not side:
            continue
        out.line(header)
        out.level += 1
        before = len(out.lines)
        render(side)
        if len(out.lines) == before:
            out.line("pass")
        out.level -= 1


def _render_init(ops, out: Emitter, path: str, own_shape: str | None):
    """The ops that build modules, as `self.layers[KEY] = …` lines."""
    for op in ops:
        if isinstance(op, LayerOp) and op.cls != "Input":
            if op.line is not None:
                out.comment(f"{path}:{op.line}")
            arguments = [f"{key}={value.code}" for key, value in op.kwargs]
            out.call(f"self.layers[{_key_code(op.name)}] = {op.cls}", arguments)
        elif isinstance(op, CallOp):
            out.comment(f"{path}:{op.line}")
            arguments = [_shape_code(op.shape, own_shape),
                         *(f"{variable}={value.code}" for variable, value in op.arguments)]
            out.call(f"self.layers[{_key_code(op.name)}] = {op.function}", arguments)
        elif isinstance(op, LoopOp):
            out.comment(f"{path}:{op.line}")
            if _count_attribute(op):
                out.line(f"{_count_attribute(op)} = {op.count.code}")
            out.line(f"for {op.index} in range(1, {_count(op)} + 1):")
            out.level += 1
            before = len(out.lines)
            _render_init(op.body, out, path, own_shape)
            if len(out.lines) == before:
                out.line("pass")
            out.level -= 1
        elif isinstance(op, IfOp):
            out.comment(f"{path}:{op.line}")
            out.line(f"{_condition_attribute(op)} = {op.condition.code()}")
            _render_sides(op, out, lambda side: _render_init(side, out, path, own_shape))


def _statement(out: Emitter, text: str):
    """One line; one wider than the program's lines (a layer's long key and its activation)
    is kept as it is, where `ruff format` would split it in ways this writer does not copy."""
    too_wide = pywriter.display_width(out.indent + text) > out.width
    out.line(text + ("  # fmt: skip" if too_wide else ""))


def _render_forward(ops, out: Emitter, path: str, input_variable: str):
    """The ops on tensors: `x = self.layers[KEY](x)`."""
    for op in ops:
        if isinstance(op, LayerOp):
            if op.cls == "Input":  # its variable is forward's parameter
                out.line(f"{_targets(op.targets, op.targets[:1])}{op.targets[0]}")
                continue
            if op.line is not None:
                out.comment(f"{path}:{op.line}")
            module = f"{_targets(op.targets)}self.layers[{_key_code(op.name)}]"
            if not op.activation:
                out.call(module, list(op.inputs))
                continue
            call = ACTIVATION_FUNCTIONS[op.activation].format(
                f"self.layers[{_key_code(op.name)}]({', '.join(op.inputs)})")
            _statement(out, f"{_targets(op.targets)}{call}")
        elif isinstance(op, CallOp):
            out.comment(f"{path}:{op.line}")
            out.call(f"{_targets(op.targets)}self.layers[{_key_code(op.name)}]", [op.input])
        elif isinstance(op, AliasOp):
            out.line(f"{op.target} = {op.source}")
        elif isinstance(op, LoopOp):
            out.comment(f"{path}:{op.line}")
            out.line(f"for {op.index} in range(1, {_count(op)} + 1):")
            out.level += 1
            _render_forward(op.body, out, path, input_variable)
            out.level -= 1
        elif isinstance(op, IfOp):
            out.comment(f"{path}:{op.line}")
            _render_sides(op, out, lambda side: _render_forward(side, out, path, input_variable))
        elif isinstance(op, ReturnOp):
            out.line(f"return {op.source}")
        elif isinstance(op, ModelOp):
            out.line(f"return {', '.join(op.outputs)}")


_TRAIN_USAGE = ("    python THIS_FILE.py train --data digits|synthetic|FILE.npz|'SHARDS-*.npz'|"
                "IMAGE_DIR [...]")
_RENAMED = "Parameters renamed here (in the file they have a name Python or this program uses):"


def _render_class(plan: FunctionPlan, class_name: str, out: Emitter, path: str,
                  program: Program, docstring: list[str]):
    out.line(f"class {class_name}(nn.Module):")
    out.level += 1
    out.docstring(docstring)
    out.line()
    if plan.block is None:
        signature = ", ".join(f"{p.variable}={p.default.code}" for p in plan.parameters)
    else:
        signature = ", ".join([plan.shape_parameter, *(p.variable for p in plan.parameters)])
    out.line(f"def __init__(self{', ' if signature else ''}{signature}):")
    out.level += 1
    out.line("super().__init__()")
    out.line("self.layers = Layers()")
    _render_init(plan.body, out, path, plan.shape_parameter)
    out.level -= 1
    out.line()
    out.line(f"def forward(self, {', '.join(plan.inputs or (plan.input,))}):")
    out.level += 1
    _render_forward(plan.body, out, path, plan.input)
    out.level -= 2


def _output_kind(analysis: Analysis, logits: bool) -> str:
    output = analysis.output
    softmax = output.op == "softmax" or output.args.activation == "softmax"
    if not softmax:
        return "the last layer's output"
    if logits:
        return ("logits: the last layer without its softmax (generated with --logits; train "
                "with nn.CrossEntropyLoss)")
    return "probabilities (the last layer's softmax)"


def _named_io_lines(analysis: Analysis, logits: bool) -> list[str]:
    """The docstring's lines on inputs by name (several, or one that is not float32:
    forward's arguments, with their dtypes) and outputs (several: a tuple)."""
    from .backend import input_dtype

    def torch_shape(node):
        shape = tuple(int(d) for d in node.shape)
        shape = (shape[-1], *shape[:-1]) if len(shape) > 1 else shape
        return "(N" + "".join(f", {d}" for d in shape) + ")"

    lines = ["Inputs, forward's arguments in this order (channels first as PyTorch has it;",
             "`shapelang table` writes shapes channels last, as Keras does: INPUT_SHAPES):"]
    lines += [f"    {n.path}: {input_dtype(n.args)} {torch_shape(n)}"
              for n in analysis.input_nodes]
    outputs = analysis.output_nodes
    if len(outputs) == 1:
        return [*lines, f"Output: {_output_kind(analysis, logits)}."]
    return [*lines, "Outputs, a tuple in this order:",
            *(f"    {name}: {torch_shape(n)}"
              for name, n in zip(analysis.output_names, outputs))]


def emit_torch(analysis: Analysis, structures=STRUCTURES, *, standalone: bool = False,
               logits: bool = False) -> str:
    """The PyTorch program for an analysed, error-free network; `structures`: the plans to try;
    `standalone`: import the runtime copied beside the program; `logits`: leave out the final
    softmax."""
    analysis = conventions.under(analysis, conventions.TORCH)  # the module's own counts
    keras_counts = conventions.differences(analysis, conventions.KERAS)
    table = f"shapelang table {analysis.network.path}{' --backend torch' if keras_counts else ''}"
    network = analysis.network
    backend = torch_backend(logits)
    check_writable(analysis, backend)
    classes = {}

    def module():
        namespace = module_namespace(network, _IMPORTS, _PROGRAM_NAMES, in_classes=True)
        classes["network"] = _class_name(namespace, network.name)
        return namespace

    try:
        program = plan_program(analysis, module, structures, backend, block_name=_class_name)
    except PlanMismatch as exc:
        raise RuntimeError(f"the generated program would not be the analysed network: {exc}") \
            from None
    program.network_name = network.name
    path = network.path
    bound = ", ".join(f"{k}={pretty(v)}" for k, v in analysis.bindings.items())
    trainable, buffers = int(analysis.total("trainable")), int(analysis.total("non_trainable"))
    input_shape = tuple(int(d) for d in analysis.input_nodes[0].shape)
    channels_first = (input_shape[-1], *input_shape[:-1]) if len(input_shape) > 1 else input_shape
    example = ", ".join(map(str, channels_first))
    if analysis.several_io or frame.io_fields(analysis)["input_shapes"] is not None:
        io_lines = _named_io_lines(analysis, logits)  # the frame's INPUT_SHAPES by name
    else:
        io_lines = [
            f"Input: float32 (N, {example}), channels first as PyTorch has it; `shapelang table`",
            f"writes shapes channels last, as Keras does: INPUT_SHAPE = {input_shape}.",
            f"Output: {_output_kind(analysis, logits)}."]
    docstring = (
        f"{network.name} — a PyTorch module generated by shapelang {__version__} from {path}.",
        "",
        f"Regenerate it rather than edit it: `shapelang torch {path} -o FILE`.",
        "Every layer's output shape and parameter count is the one that",
        f"`{table}` shows; at {bound or 'its defaults'} the module has",
        f"{trainable:,} parameters" + (f" and {buffers:,} values in buffers" if buffers else "."),
        *(["(batch norm's running statistics, which Keras counts as non-trainable parameters)."]
          if buffers else []),
        *([f"Counted as PyTorch counts them ({', '.join(keras_counts)}: two bias vectors, where",
           "Keras's layers hold one)."] if keras_counts else []),
        "",
        *io_lines,
        "",
        "    python THIS_FILE.py summary",
        _TRAIN_USAGE,
        "    torchrun --nproc_per_node=GPUS THIS_FILE.py train ...",
    )
    body = [_custom_source(name).strip("\n") for name in sorted({"Layers", *program.custom})]
    for plan in [*program.functions, program.model]:  # blocks before the network
        out = Emitter()
        if plan.block is None:
            lines = [f"The network `{network.name}`; "
                     + ("its inputs as the module's docstring lists them." if analysis.several_io
                        else f"input (N, {example})"
                        + (", channels first." if len(input_shape) > 1 else "."))]
            renamed = [p for p in plan.parameters if p.variable != p.source_name]
            if renamed:
                lines += ["", _RENAMED]
                lines += [f"`{p.variable}` is the network's `{p.source_name}`." for p in renamed]
            _render_class(plan, classes["network"], out, path, program, lines)
        else:
            lines = [f"Block `{plan.block.name}` ({path}:{plan.block.span.line}).", "",
                     (f"`{plan.shape_parameter}`: its input's shape as the analysis writes "
                      "it (channels last, no batch axis).")]
            _render_class(plan, plan.name, out, path, program, lines)
        body.append("\n".join(out.lines))
    out = Emitter()
    model = program.model
    signature = ", ".join(f"{p.variable}={p.default.code}" for p in model.parameters)
    out.line(f"def build_model({signature}):")
    out.level += 1
    out.docstring([f"A new `{classes['network']}`, its weights initialised by PyTorch."])
    arguments = ", ".join(f"{p.variable}={p.variable}" for p in model.parameters)
    built = f"{classes['network']}({arguments})"
    out.line(f"return tie_weights({built})" if "TiedLinear" in program.custom else
             f"return {built}")
    body.append("\n".join(out.lines))
    text = "\n\n\n".join(body)
    imports = {"import torch", "from torch import nn"}
    if "F." in text:
        imports.add("import torch.nn.functional as F")
    if "math." in text:
        imports.add("import math")
    if "Fraction(" in text:
        imports.add("from fractions import Fraction")
    return frame.program_source(frame.Frame(
        network_name=network.name,
        docstring=docstring,
        imports=frozenset(imports),
        body=text,
        **frame.io_fields(analysis),
        train=analysis.train,
        fingerprint=network_fingerprint(analysis),
        backend="torch",
        from_logits=logits,
    ), standalone=standalone)


# ---- using the generated program in this process --------------------------------------------
def load_generated_module(analysis: Analysis, *, logits: bool = False):
    """The program `shapelang torch` writes, imported as a module."""
    name = analysis.network.name
    return frame.import_program(emit_torch(analysis, logits=logits), f"{name}_torch.py",
                                f"shapelang_generated_torch_{name}")


def build_torch_model(analysis: Analysis, *, logits: bool = False):
    return load_generated_module(analysis, logits=logits).build_model()


__all__ = ["build_torch_model", "emit_torch", "load_generated_module", "torch_backend"]
