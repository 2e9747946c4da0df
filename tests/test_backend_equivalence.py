"""The two backends mean the same network: Keras is the oracle for what the analysis means, and
the PyTorch module must compute what the Keras model computes.

For each network (the seed's AlexNet at its real size, the other examples small enough to run
quickly, and random networks of `random_network` below, which cover every op and option both
backends have), the Keras model (`net.to_keras()`) gets random weights (its kernels as Keras
initialises them; biases, batch norm's scale, offset and running statistics drawn at random, so
that a misplaced one shows), those weights are copied into the torch module (`net.to_torch()`)
layer by layer by name — Conv HWIO→OIHW, Dense (in, out)→(out, in), DepthwiseConv
(k…, C, m)→(C·m, 1, k…), SeparableConv's two kernels, BatchNorm's γ, β, moving mean and
variance — and every weight on each side must be used exactly once. Both run on the same random
input in inference mode (torch: `eval()`, the input with its channel axis moved to 1), and the
output of every layer that both sides name (Keras: a model with every layer's output; torch:
forward hooks, the line's trailing activation applied as Keras applies it, the result turned
channels last) must agree, and the network's output.

Random sequence networks (`random_sequence_networks.py`, 16 of them: token ids, several inputs
and outputs) run through `compare_sequence_network`, the same comparison fed a list of inputs.

Tolerance: float32 on both sides; |keras − torch| ≤ 1e-4 · max(1, |keras|) elementwise (1e-4
absolute, relative where values exceed 1). Summation order differs between the frameworks
(oneDNN and TensorFlow's kernels vs PyTorch's), which costs a few float32 ulps per
accumulation: about 1e-6 here.
"""
import random
import re

import numpy as np
import pytest
from conftest import EXAMPLES
from random_sequence_networks import covering_indices, numeric_sequence_network

import shapelang
import shapelang.layers
from shapelang.layers import ACTIVATIONS

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.keras

TOLERANCE = 1e-4


# ---- Keras → torch: the weights -------------------------------------------------------------
def _conv_kernel(kernel):
    """Keras (k…, in/groups, out) → torch (out, in/groups, k…)."""
    spatial = kernel.ndim - 2
    return np.transpose(kernel, (spatial + 1, spatial, *range(spatial)))


def _depthwise_kernel(kernel):
    """Keras (k…, C, m) → torch (C·m, 1, k…): output channel c·m + j is group c's j-th."""
    *k, channels, multiplier = kernel.shape
    flat = kernel.reshape(*k, channels * multiplier)
    return np.moveaxis(flat, -1, 0)[:, None]


def _dense_kernel(kernel):
    return kernel.T


def _projection_kernel(kernel):
    """Keras's attention projection (in, heads, size) → torch Linear (heads·size, in)."""
    return kernel.reshape(kernel.shape[0], -1).T


def _output_kernel(kernel):
    """Keras's attention output (heads, value size, out) → torch Linear (out, heads·size)."""
    return kernel.reshape(-1, kernel.shape[-1]).T


def _flat(bias):
    return bias.reshape(-1)


#: Keras layer class → {Keras weight name: (torch attribute path, conversion)}.
WEIGHT_MAP = {
    "Conv": {"kernel": ("weight", _conv_kernel), "bias": ("bias", None)},
    "DepthwiseConv": {"kernel": ("weight", _depthwise_kernel), "bias": ("bias", None)},
    "SeparableConv": {"depthwise_kernel": ("depthwise.weight", _depthwise_kernel),
                      "pointwise_kernel": ("pointwise.weight", _conv_kernel),
                      "bias": ("pointwise.bias", None)},
    "Dense": {"kernel": ("weight", _dense_kernel), "bias": ("bias", None)},
    "BatchNormalization": {"gamma": ("weight", None), "beta": ("bias", None),
                           "moving_mean": ("running_mean", None),
                           "moving_variance": ("running_var", None)},
    "LayerNormalization": {"gamma": ("weight", None), "beta": ("bias", None)},
    # keyed by the sub-layer's name too: every projection's weights are `kernel` and `bias`
    "MultiHeadAttention": {
        **{f"{part}/kernel": (f"{part}.weight", _projection_kernel)
           for part in ("query", "key", "value")},
        **{f"{part}/bias": (f"{part}.bias", _flat) for part in ("query", "key", "value")},
        "attention_output/kernel": ("output.weight", _output_kernel),
        "attention_output/bias": ("output.bias", None)},
    # seqops: the embedding's (vocab, dim) table is torch's weight as it is; a tied dense layer
    # owns only its bias (its matrix is the embedding's, copied there)
    "Embedding": {"embeddings": ("weight", None)},
    "PositionEmbedding": {"position_embeddings": ("weight", None)},
    "ClassToken": {"class_token": ("class_token", None)},
    "TiedDense": {"bias": ("bias", None)},
}


def _weight_map(layer):
    if isinstance(layer, (keras.layers.SimpleRNN, keras.layers.LSTM, keras.layers.GRU,
                          keras.layers.Bidirectional)):
        return _recurrent_map(layer)
    kind = re.sub(r"[123]D$", "", type(layer).__name__)
    if kind not in WEIGHT_MAP:
        raise AssertionError(f"Keras layer {layer.name} ({type(layer).__name__}) has weights "
                             "and no mapping to torch")
    return WEIGHT_MAP[kind]


# ---- recurrent layers: Keras's gate blocks side by side in (D, gates·U) kernels; torch's
# stacked in (gates·U, D), two bias vectors (Keras's one goes to bias_ih, bias_hh is 0; a GRU
# with reset_after keeps both, as its (2, 3U) bias). LSTM gates i, f, c, o in both; GRU
# z, r, h in Keras, r, z, n in torch.
def _gru_order(array, axis=-1):
    """Keras's GRU blocks z, r, h → torch's r, z, n along `axis`."""
    z, r, h = np.split(array, 3, axis=axis)
    return np.concatenate([r, z, h], axis=axis)


def _recurrent_map(layer) -> dict:
    """Keras weight key (`_weight_key`) → (torch attribute(s) of the `Recurrent` module,
    conversion)."""
    mapping = {}
    directions = {"": layer}
    if isinstance(layer, keras.layers.Bidirectional):
        directions = {"forward/": layer.forward_layer, "backward/": layer.backward_layer}
    for prefix, rnn in directions.items():
        suffix = "_reverse" if prefix == "backward/" else ""
        gru = isinstance(rnn, keras.layers.GRU)
        order = _gru_order if gru else (lambda a, axis=-1: a)
        mapping[prefix + "kernel"] = (f"rnn.weight_ih_l0{suffix}", lambda k, o=order: o(k).T)
        mapping[prefix + "recurrent_kernel"] = (f"rnn.weight_hh_l0{suffix}",
                                                lambda k, o=order: o(k).T)
        if gru and not rnn.cell.reset_after:  # the program's GRUResetBefore: one bias
            mapping[prefix + "bias"] = (f"rnn.bias_l0{suffix}", _gru_order)
        elif gru:
            mapping[prefix + "bias"] = ((f"rnn.bias_ih_l0{suffix}", f"rnn.bias_hh_l0{suffix}"),
                                        lambda b: (_gru_order(b[0]), _gru_order(b[1])))
        else:
            mapping[prefix + "bias"] = ((f"rnn.bias_ih_l0{suffix}", f"rnn.bias_hh_l0{suffix}"),
                                        lambda b: (b, np.zeros_like(b)))
    return mapping


def _weight_key(layer, variable) -> str:
    """A Keras weight's name in its layer; a Bidirectional's prefixed with its direction."""
    if isinstance(layer, keras.layers.Bidirectional):
        direction = "backward" if "backward" in variable.path.split("/")[-3] else "forward"
        return f"{direction}/{variable.name}"
    return variable.name


def torch_layers(module) -> dict:
    """Every module of the `layers` ModuleDicts, by the analysis's layer name with `/` for
    `.`: `layers.repeat1/unit_1.layers.conv_1` → `repeat1/unit_1/conv_1`."""
    found = {}
    for path, sub in module.named_modules():
        parts = path.split(".")
        if len(parts) % 2 == 0 and parts[0::2] == ["layers"] * (len(parts) // 2):
            found["/".join(parts[1::2])] = sub
    return found


def keras_name(layer) -> str:
    return layer.name.replace(".", "/")


def randomise_keras_weights(model, rng):
    """Biases, γ, β and the running statistics at random (Keras starts them at 0 or 1, where
    a weight copied to the wrong place, or not at all, would go unnoticed); kernels stay as
    Keras initialises them (Glorot, seeded)."""
    for layer in model.layers:
        for variable in layer.weights:
            shape = tuple(variable.shape)
            if variable.name in ("gamma", "moving_variance"):
                value = rng.uniform(0.5, 1.5, shape)
            elif variable.name in ("bias", "beta", "moving_mean", "class_token"):
                value = rng.normal(0.0, 0.2, shape)
            else:
                continue
            variable.assign(value.astype(np.float32))


def copy_weights(model, module):
    """Every Keras weight into its torch tensor(s); fails on a weight left unmapped on either
    side, or a shape that does not fit."""
    targets = torch_layers(module)
    state = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    by_tensor = {id(t): key for key, t in state.items()}
    filled = set()
    with torch.no_grad():
        for layer in model.layers:
            if not layer.weights:
                continue
            name = keras_name(layer)
            assert name in targets, f"Keras layer {layer.name} has no torch module {name}"
            mapping = _weight_map(layer)
            for variable in layer.weights:
                key = _weight_key(layer, variable)
                if key not in mapping:  # a sublayer's weight: `query/kernel`
                    key = "/".join(variable.path.split("/")[-2:])
                assert key in mapping, \
                    f"{layer.name}: Keras weight {key} has no torch counterpart"
                attributes, convert = mapping[key]
                value = np.asarray(variable.numpy())
                value = convert(value) if convert else value
                # one Keras weight may fill several torch tensors (an RNN's two bias vectors)
                several = isinstance(attributes, tuple)
                for attribute, part in zip(attributes if several else (attributes,),
                                           value if several else (value,)):
                    tensor = targets[name]
                    for step in attribute.split("."):
                        tensor = getattr(tensor, step, None)
                    assert isinstance(tensor, torch.Tensor), \
                        f"{layer.name}/{key}: torch's {name} has no {attribute}"
                    assert tuple(tensor.shape) == part.shape, (
                        f"{layer.name}/{key}: Keras {tuple(variable.shape)} → "
                        f"{part.shape}, torch {attribute} {tuple(tensor.shape)}")
                    tensor.copy_(torch.from_numpy(np.ascontiguousarray(part)))
                    filled.add(by_tensor[id(tensor)])
    unused = sorted(k for k in state if k not in filled and not k.endswith("num_batches_tracked"))
    assert not unused, f"torch weights no Keras weight was copied into: {unused}"


# ---- running both -----------------------------------------------------------------------------
#: A line's trailing activation on the torch side, as Keras defines it, applied channels last
#: (independently of the backend's own table: a wrong slope or axis there shows here).
KERAS_ACTIVATIONS = {
    "relu": F.relu, "relu6": F.relu6, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "softmax": lambda x: F.softmax(x, dim=-1), "log_softmax": lambda x: F.log_softmax(x, dim=-1),
    "elu": F.elu, "selu": F.selu, "gelu": F.gelu, "swish": F.silu, "silu": F.silu,
    "softplus": F.softplus, "softsign": F.softsign,
    "hard_sigmoid": lambda x: F.relu6(x + 3) / 6, "hard_swish": lambda x: x * F.relu6(x + 3) / 6,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2), "mish": F.mish, "exponential": torch.exp,
    "linear": lambda x: x,
}


def _example(rng, batch, tensor):
    """A random batch for a Keras input: normal floats, or ids 0 and 1 for an integer one."""
    shape = (batch, *tensor.shape[1:])
    if "int" in str(tensor.dtype):
        return rng.integers(0, 2, shape).astype(str(tensor.dtype))
    return rng.standard_normal(shape).astype(np.float32)


def _channels_last(tensor):
    array = tensor.detach()
    if array.dim() > 2:
        array = array.movedim(1, -1)
    return array


def _far(expected, actual) -> str | None:
    """None when `actual` is `expected` within the tolerance; otherwise what differs."""
    if expected.shape != actual.shape:
        return f"shape Keras {expected.shape}, torch {actual.shape}"
    error = np.abs(expected.astype(np.float64) - actual) / np.maximum(1.0, np.abs(expected))
    if not np.all(np.isfinite(expected)):
        return "Keras's output is not finite"
    if np.all(error <= TOLERANCE):
        return None
    worst = np.unravel_index(np.nanargmax(np.where(np.isnan(error), np.inf, error)), error.shape)
    return (f"max error {float(np.nanmax(error)):.3g} at {worst}: Keras {expected[worst]!r}, "
            f"torch {actual[worst]!r}")


def compare(net: shapelang.Network, seed: int = 0, batch: int = 2, inputs=None,
            **bindings) -> int:
    """Build both, copy the weights, run both; assert every shared layer's output and every
    network output agree. `inputs`: one array per input line in order (channels last; token
    ids among them), else random ones. Keras gets the arrays (a list when several), torch the
    same arrays as `forward`'s arguments (float ones of rank ≥ 2 channels first). Returns how
    many layers were compared."""
    analysis = net.analyse(**bindings).raise_for_errors().analysis
    activation = {r.name.replace(".", "/"): getattr(r.args, "activation", None)
                  for r in analysis.layers}
    keras.utils.set_random_seed(seed)
    model = net.to_keras(**bindings)
    module = net.to_torch(**bindings).eval()
    randomise_keras_weights(model, np.random.default_rng(seed))
    copy_weights(model, module)

    if inputs is None:
        rng = np.random.default_rng(seed + 1)
        inputs = [_example(rng, batch, tensor) for tensor in model.inputs]
    feed = inputs[0] if len(inputs) == 1 else inputs
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    every = keras.Model(model.inputs if len(inputs) > 1 else model.inputs[0],
                        [layer.output for layer in layers])
    computed = every(feed, training=False)
    computed = computed if isinstance(computed, (list, tuple)) else [computed]
    expected = dict(zip([keras_name(layer) for layer in layers],
                        [np.asarray(t) for t in computed]))

    outputs, hooks = {}, []
    for name, sub in torch_layers(module).items():
        def record(_module, _inputs, output, name=name):
            assert name not in outputs, f"torch module {name} ran twice"
            outputs[name] = output
        hooks.append(sub.register_forward_hook(record))
    with torch.no_grad():
        final = module(*[torch.from_numpy(np.moveaxis(a, -1, 1) if a.ndim > 2 else a)
                         for a in inputs])
    for hook in hooks:
        hook.remove()

    problems, compared = [], 0
    for name, value in expected.items():
        if name not in outputs:
            continue  # a Keras-only helper (an explicit padding inside a torch layer)
        got = _channels_last(outputs[name])
        if activation.get(name):
            got = KERAS_ACTIVATIONS[activation[name]](got)
        far = _far(value, got.numpy())
        if far:
            problems.append(f"{name}: {far}")
        compared += 1
    keras_final = model(feed, training=False)
    keras_final = keras_final if isinstance(keras_final, (list, tuple)) else [keras_final]
    torch_final = final if isinstance(final, (list, tuple)) else [final]
    if len(keras_final) != len(torch_final):
        problems.append(f"{len(keras_final)} Keras outputs, {len(torch_final)} torch outputs")
    for k, (wanted, got) in enumerate(zip(keras_final, torch_final)):
        far = _far(np.asarray(wanted), _channels_last(got).numpy())
        if far:
            problems.append(f"network output {k}: {far}")
    assert not problems, "Keras and torch differ:\n" + "\n".join(problems)
    input_paths = set(analysis.input_paths) or {analysis.layers[0].name}
    analysed = {name for name in activation if name not in input_paths}
    assert analysed <= set(outputs), f"layers torch did not run: {analysed - set(outputs)}"
    return compared


# ---- the examples -------------------------------------------------------------------------
def example(name: str, bindings: dict) -> shapelang.Network:
    """An example as written; bound to other sizes, without its `expect` lines (they state the
    sizes at its defaults)."""
    path = EXAMPLES / f"{name}.net"
    text = path.read_text(encoding="utf-8")
    if bindings:
        text = re.sub(r"(?m)^[ \t]*expect\b.*\n", "", text)
    return shapelang.loads(text, str(path))


EXAMPLE_CASES = [  # (example, bindings): the small ones as written, the large ones smaller
    ("alexnet_adapted", {}),  # the seed's AlexNet at its real size: 270×480×3, 29 classes
    ("alexnet_scaled", {}),
    ("convnet", {}),
    ("digits", {}),
    ("lenet", {}),
    ("same_padding", {"H": 13, "W": 10}),
    ("alexnet_symbolic", {"H": 67, "W": 99, "classes": 7}),
    # resnet50 and torchvision_mobilenetv2: the same blocks as these two (≈ 10 s each more)
    ("torchvision_resnet50", {"H": 32, "W": 40, "classes": 5}),
    ("mobilenetv2", {"H": 33, "W": 32, "classes": 5}),
    ("torchvision_alexnet", {"H": 64, "W": 70, "classes": 5}),
    ("vgg16", {"H": 32, "W": 32, "classes": 5}),
    # the sequence examples: short sequences and small vocabularies, every layer as written
    ("text_cnn", {"T": 60, "max_features": 50}),
    ("imdb_bilstm", {"T": 12, "max_features": 50}),
    ("gpt2_small", {"T": 6, "vocab": 64}),
    ("bert_base", {"T": 6, "vocab": 64}),
    # vit_b16_symbolic (H=112, W=448) passes too, in ≈ 25 s: its table of 197 rows is pinned
]


@pytest.mark.slow
@pytest.mark.parametrize("name, bindings", EXAMPLE_CASES, ids=[c[0] for c in EXAMPLE_CASES])
def test_examples_compute_the_same_in_both_backends(name, bindings):
    net = example(name, bindings)
    assert compare(net, batch=1 if name == "alexnet_adapted" else 2, **bindings) > 0


# ---- networks that once differed (or failed to build) --------------------------------------
REGRESSIONS = {
    # Keras's ZeroPadding1D takes one (before, after) pair, and refused the tuple of pairs the
    # Keras program gave it: no 1D network with an explicit padding could be built
    "one_dimensional_padding": """
network one_dimensional_padding:
    input [12, 3]
    conv 4 k=3 pad=1
    zeropad ((2, 0),)
    maxpool k=3 pad=1
    flatten
""",
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_networks_that_once_differed(name):
    assert compare(shapelang.loads(REGRESSIONS[name], f"{name}.net")) > 0


# ---- random networks ------------------------------------------------------------------------
RANDOM_NETWORKS = 24
INPUT_RANKS = (2, 2, 1, 3, 0, 2)  # spatial axes of network i's input, by i mod 6 (0: a vector)


BOUNDED = tuple(a for a in ACTIVATIONS if a != "exponential")


class RandomNetwork:
    """One network's text, drawn op by op from the ops its current tensor allows, the shapes
    followed here (channels last, as the analysis writes them) so that every line is valid:
    windows of every padding mode (`same` with even kernels and strides 2: asymmetric), groups,
    dilation, depthwise and separable convolutions, pools, global pools, asymmetric zero
    padding, nearest and bilinear upsampling, reshapes that move data across axes, dense on
    vectors and on the last axis, batch norm with its options, LRN, residual add / multiply,
    concatenation along the channels and a spatial axis, every activation (network i has
    ACTIVATIONS[i mod 19] as a line of its own), a block used in a `repeat`; layer norms, and
    on a sequence, self- and cross-attention (causal or not)."""

    def __init__(self, index: int):
        self.rng = random.Random(index)
        self.attention_rng = random.Random(-1 - index)
        self.index = index
        self.lines: list[str] = []
        self.labels = 0
        self.block = None  # "conv" or "dense": the block's kind, from its first use
        rank = INPUT_RANKS[index % len(INPUT_RANKS)]
        r = self.rng
        if rank == 0:
            self.shape = [r.randint(4, 8)]
        else:
            sizes = {1: (10, 18), 2: (7, 13), 3: (4, 6)}[rank]
            self.shape = [r.randint(*sizes) for _ in range(rank)] + [r.randint(2, 4)]
        self.lines.append(f"input {list(self.shape)}")

    # ---- helpers ----
    @property
    def spatial(self) -> int:
        return len(self.shape) - 1

    def activation(self, chance=0.5) -> str:
        """A trailing activation, or none. `exponential` only as a line of its own after a
        `tanh` (elsewhere products of exponentials overflow float32)."""
        return f" {self.rng.choice(BOUNDED)}" if self.rng.random() < chance else ""

    def label_last(self) -> str:
        """A label on the last line's tensor (an op of its own after the input line or a
        repeat)."""
        if self.lines[-1].startswith(("input", " ")):
            self.emit("linear")
        self.labels += 1
        label = f"t{self.labels}"
        self.lines[-1] = f"{label}: {self.lines[-1]}"
        return label

    def emit(self, line: str, shape=None):
        self.lines.append(line)
        if shape is not None:
            self.shape = list(shape)

    def window(self, max_kernel=4):
        """(options text, output spatial sizes) of a random window over the current tensor,
        or None where none fits."""
        r, sizes = self.rng, self.shape[:-1]
        for _ in range(20):
            if self.spatial == 2 and r.random() < 0.3:
                kernel = (r.randint(1, max_kernel), r.randint(1, max_kernel))
            else:
                kernel = (r.randint(1, max_kernel),) * self.spatial
            stride = (r.choice((1, 1, 2)),) * self.spatial
            if self.spatial == 2 and r.random() < 0.2:
                stride = (2, 1)
            dilation = r.choice((1, 2)) if set(stride) == {1} else 1
            padding = r.choice(("valid", "same", "same", "explicit"))
            pad = r.randint(1, 2)
            if r.random() < 0.2:  # TensorFlow's asymmetric `same`: more padding after
                kernel, stride, dilation = (r.choice((2, 4)),) * self.spatial, \
                    (2,) * self.spatial, 1
                padding = "same"
            effective = [dilation * (k - 1) + 1 for k in kernel]
            out = []
            for n, k, s in zip(sizes, effective, stride):
                if padding == "same":
                    out.append(-(-n // s))
                else:
                    total = n + (2 * pad if padding == "explicit" else 0)
                    out.append((total - k) // s + 1 if total >= k else 0)
            if min(out) < 1:
                continue
            text = f"k={kernel[0] if len(set(kernel)) == 1 else kernel}"
            if set(stride) != {1}:
                text += f" s={stride[0] if len(set(stride)) == 1 else stride}"
            if dilation != 1:
                text += f" d={dilation}"
            if padding != "valid":
                text += f" pad={'same' if padding == 'same' else pad}"
            return text, out
        return None

    # ---- ops on a feature map ----
    def conv(self):
        found = self.window()
        if not found:
            return self.activation_line()
        text, out = found
        channels = self.shape[-1]
        filters = self.rng.randint(2, 6)
        groups = ""
        if channels % 2 == 0 and self.rng.random() < 0.4:
            filters += filters % 2
            groups = " groups=2"
        bias = " bias=false" if self.rng.random() < 0.2 else ""
        self.emit(f"conv {filters} {text}{groups}{bias}{self.activation()}", out + [filters])

    def depthwiseconv(self):
        found = self.window() if self.spatial <= 2 else None
        if not found:
            return self.conv()
        text, out = found
        multiplier = self.rng.choice((1, 2))
        bias = " bias=false" if self.rng.random() < 0.2 else ""
        self.emit(f"depthwiseconv {text} multiplier={multiplier}{bias}{self.activation()}",
                  out + [self.shape[-1] * multiplier])

    def sepconv(self):
        found = self.window() if self.spatial <= 2 else None
        if not found:
            return self.conv()
        text, out = found
        filters = self.rng.randint(2, 5)
        multiplier = self.rng.choice((1, 2))
        self.emit(f"sepconv {filters} {text} multiplier={multiplier}{self.activation()}",
                  out + [filters])

    def pool(self):
        r, sizes = self.rng, self.shape[:-1]
        op = r.choice(("maxpool", "avgpool"))
        k = r.choice((2, 3))
        s = r.choice((None, 1, 2))
        stride = s or k
        padding = r.choice(("valid", "same", "explicit"))
        out = []
        for n in sizes:
            if padding == "same":
                out.append(-(-n // stride))
            else:
                total = n + (2 if padding == "explicit" else 0)
                out.append((total - k) // stride + 1 if total >= k else 0)
        if min(out) < 1:
            return self.activation_line()
        text = f"{op} k={k}" + (f" s={s}" if s else "")
        text += {"valid": "", "same": " pad=same", "explicit": " pad=1"}[padding]
        self.emit(text, out + [self.shape[-1]])

    def global_pool(self):
        op = self.rng.choice(("globalavgpool", "globalmaxpool"))
        if self.rng.random() < 0.5:
            self.emit(f"{op} keepdims=true", [1] * self.spatial + [self.shape[-1]])
        else:
            self.emit(op, [self.shape[-1]])

    def zeropad(self):
        r = self.rng
        pairs = [(r.randint(0, 2), r.randint(0, 2)) for _ in range(self.spatial)]
        text = "(" + ", ".join(f"({a}, {b})" for a, b in pairs) + ("," if self.spatial == 1 else "") + ")"
        self.emit(f"zeropad {text}",
                  [n + a + b for n, (a, b) in zip(self.shape[:-1], pairs)] + [self.shape[-1]])

    def upsample(self):
        if np.prod(self.shape[:-1]) > 150:
            return self.pool()
        r = self.rng
        factors = [r.choice((1, 2)) for _ in range(self.spatial)]
        if max(factors) == 1:
            factors[0] = 2
        text = f"upsample {factors[0] if self.spatial == 1 else tuple(factors)}"
        if self.spatial == 2:
            text += f" interpolation={r.choice(('nearest', 'bilinear'))}"
        self.emit(text, [n * f for n, f in zip(self.shape[:-1], factors)] + [self.shape[-1]])

    def reshape(self):
        """Data moved across axes: spatial axes swapped or merged, or a vector."""
        r, shape = self.rng, self.shape
        if len(shape) == 1:
            if shape[0] % 2 == 0:
                self.emit("reshape [-1, 2]", [shape[0] // 2, 2])
            else:
                self.emit(f"reshape [1, {shape[0]}]", [1, shape[0]])
            return
        choice = r.choice(("merge", "swap", "vector"))
        if choice == "swap" and self.spatial >= 2:
            new = [shape[1], shape[0], *shape[2:]]
        elif choice == "vector":
            new = [int(np.prod(shape))]
        else:
            new = [int(np.prod(shape[:-1])), shape[-1]]
        self.emit(f"reshape {new}", new)

    def dense(self):
        units = self.rng.randint(2, 6)
        bias = " bias=false" if self.rng.random() < 0.2 else ""
        last_axis = " last_axis=true" if len(self.shape) > 1 else ""
        self.emit(f"dense {units}{last_axis}{bias}{self.activation()}", self.shape[:-1] + [units])

    def flatten(self):
        self.emit("flatten", [int(np.prod(self.shape))])

    def dropout(self):
        self.emit(f"dropout {self.rng.choice(('0.25', '0.5'))}")

    def batchnorm(self):
        r = self.rng
        options = r.choice(("", " scale=false", " center=false", " scale=false center=false",
                            " epsilon=0.01 momentum=0.9", " epsilon=1.001e-5"))
        self.emit(f"batchnorm{options}")

    # ---- attention, drawn by a generator of its own (the other draws stay) ----
    def attention(self):
        """On a sequence [L, C]: cross-attention from a memory of another length and width
        (causal or not, key_dim or not), self-attention, layer norms."""
        r = self.attention_rng
        length, width = self.shape
        query = self.label_last()
        stride = r.choice((1, 2, 3))
        self.emit(f"conv {r.randint(2, 6)} k={r.randint(1, 3)} s={stride} pad=same")
        memory = self.label_last()
        heads = r.randint(1, 4)
        options = f" key_dim={r.randint(1, 5)}" if width % heads or r.random() < 0.3 else ""
        options += r.choice(("", " causal=true")) + r.choice(("", "", " bias=false"))
        self.emit(f"mha {heads} @{query} @{memory}{options}", [length, width])
        self.layernorm()
        heads = r.choice([h for h in (1, 2, 3, 4) if width % h == 0])
        self.emit(f"mha {heads}{r.choice(('', ' causal=true'))}")

    def layernorm(self):
        r = self.attention_rng
        options = r.choice(("", " center=false", " scale=false", " eps=1e-6"))
        if len(self.shape) > 1 and r.random() < 0.3:
            options += r.choice((" axis=(-2, -1)", " axis=0"))
        self.emit(f"layernorm{options}")

    def lrn(self):
        if self.spatial != 2:
            return self.batchnorm()
        r = self.rng
        self.emit(f"lrn radius={r.randint(1, 3)} bias={r.choice((1, 2))} "
                  f"alpha={r.choice(('0.1', '0.5', '1e-4'))} beta={r.choice(('0.5', '0.75'))}")

    def activation_line(self, name=None):
        name = name or self.rng.choice(BOUNDED)
        if name == "exponential":
            self.emit("tanh")
        self.emit(name)

    def branch(self, keep_channels=True):
        """A line from the current tensor that keeps its spatial shape."""
        channels = self.shape[-1]
        if len(self.shape) == 1:
            units = channels if keep_channels else self.rng.randint(2, 5)
            self.emit(f"dense {units}{self.activation()}", [units])
        elif keep_channels and self.rng.random() < 0.3:
            self.emit(self.rng.choice(("batchnorm", "sigmoid", "tanh")))
        else:
            filters = channels if keep_channels else self.rng.randint(2, 5)
            self.emit(f"conv {filters} k={self.rng.choice((1, 2, 3))} pad=same{self.activation()}",
                      self.shape[:-1] + [filters])

    def merge(self):
        r = self.rng
        op = r.choice(("add", "multiply", "concat", "concat"))
        label = self.label_last()
        before = list(self.shape)
        if op == "add":
            self.branch()
            self.emit(f"add @{label}")
            return
        if op == "multiply":  # by a gate in (0, 1), as networks multiply
            self.branch()
            self.emit("sigmoid")
            self.emit(f"multiply @{label}")
            return
        if self.spatial >= 1 and r.random() < 0.4:
            axis = r.randrange(self.spatial)
            self.branch()
            shape = list(self.shape)
            shape[axis] += before[axis]
            self.emit(f"concat axis={axis} @{label}", shape)
        else:
            self.branch(keep_channels=False)
            self.emit(f"concat @{label}", self.shape[:-1] + [self.shape[-1] + before[-1]])

    def repeat(self):
        """A block (a residual unit) used once or twice in a `repeat`."""
        kind = "dense" if len(self.shape) == 1 else "conv"
        if self.block not in (None, kind):
            return self.batchnorm()
        self.block = kind
        if self.lines[-1].startswith("input"):
            self.emit("linear")
        self.emit(f"repeat {self.rng.randint(1, 2)}:")
        self.emit(f"    unit {self.shape[-1]}")

    def recurrent(self):
        """A recurrent layer over the positions of the feature map (reshaped to a sequence
        [T, C] first where it has more than one spatial axis)."""
        r = self.rng
        if self.spatial != 1:
            self.emit(f"reshape [{int(np.prod(self.shape[:-1]))}, {self.shape[-1]}]",
                      [int(np.prod(self.shape[:-1])), self.shape[-1]])
        op = r.choice(("simplernn", "lstm", "lstm", "gru"))
        units = r.randint(2, 5)
        options = ""
        if op == "gru" and r.random() < 0.4:
            options += " reset_after=false"
        if r.random() < 0.2:
            options += " bias=false"
        merge = r.choice((None, None, "concat", "sum", "mul", "ave"))
        if merge:
            options += f" bidirectional={merge}"
        width = units * (2 if merge == "concat" else 1)
        if r.random() < 0.5:
            self.emit(f"{op} {units} return_sequences=true{options}", [self.shape[0], width])
        else:
            self.emit(f"{op} {units}{options}", [width])

    # ---- drawing ----
    MAP_OPS = ("conv", "conv", "depthwiseconv", "sepconv", "pool", "pool", "global_pool",
               "zeropad", "upsample", "reshape", "dense", "flatten", "dropout", "batchnorm",
               "lrn", "lrn", "merge", "merge", "activation_line", "repeat", "recurrent",
               "recurrent")
    VECTOR_OPS = ("dense", "dense", "dropout", "batchnorm", "merge", "activation_line",
                  "reshape", "repeat")

    def text(self) -> str:
        if self.spatial == 1:
            self.attention()
        steps = self.rng.randint(6, 10)
        forced = self.rng.randrange(steps)
        for step in range(steps):
            if step == forced:
                self.activation_line(ACTIVATIONS[self.index % len(ACTIVATIONS)])
                continue
            ops = self.VECTOR_OPS if len(self.shape) == 1 else self.MAP_OPS
            getattr(self, self.rng.choice(ops))()
        self.layernorm()
        if len(self.shape) > 1 and self.rng.random() < 0.5:
            self.flatten()
        if self.rng.random() < 0.7:
            last_axis = " last_axis=true" if len(self.shape) > 1 else ""
            self.emit(f"out: dense {self.rng.randint(2, 5)}{last_axis}{self.activation(0.8)}")
        block = ""
        if self.block == "conv":
            block = ("block unit(f):\n"
                     f"    conv f k=3 pad=same{self.activation()}\n"
                     "    batchnorm\n"
                     f"    conv f k=1{self.activation()}\n"
                     "    add @input\n\n")
        elif self.block == "dense":
            block = ("block unit(f):\n"
                     f"    dense f{self.activation()}\n"
                     "    batchnorm\n"
                     f"    dense f{self.activation()}\n"
                     "    add @input\n\n")
        body = "\n".join(f"    {line}" for line in self.lines)
        return f"{block}network random{self.index}:\n{body}\n"


def random_network(index: int) -> str:
    return RandomNetwork(index).text()


def test_the_random_networks_cover_every_op_and_option():
    texts = [random_network(i) for i in range(RANDOM_NETWORKS)]
    texts += [numeric_sequence_network(i).text for i in covering_indices(SEQUENCE_NETWORKS)]
    words = set(" ".join(texts).replace("\n", " ").split())
    ops = set(shapelang.layers.REGISTRY) - {"input"}
    missing = {op for op in ops if op not in words}
    options = ["groups=2", "d=2", "pad=same", "pad=1", "pad=2", "interpolation=bilinear",
               "interpolation=nearest", "last_axis=true", "scale=false", "center=false",
               "momentum=0.9", "keepdims=true", "multiplier=2", "bias=false", "repeat",
               "causal=true"]
    missing |= {option for option in options if option not in words}
    joined = "\n".join(texts)
    patterns = {
        "even kernel, stride 2, same": r"k=[24]\S* s=2\S* pad=same",
        "a concat on a spatial axis": r"concat axis=[01] ",
        "a 1D input": r"input \[\d+, \d+\]",
        "a 3D input": r"input \[\d+, \d+, \d+, \d+\]",
        "a vector input": r"input \[\d+\]",
        "a reshape across axes": r"reshape \[",
    }
    missing |= {what for what, pattern in patterns.items() if not re.search(pattern, joined)}
    assert not missing, f"not drawn in {RANDOM_NETWORKS} networks: {sorted(missing)}"


@pytest.mark.slow
@pytest.mark.parametrize("index", range(RANDOM_NETWORKS))
def test_random_networks_compute_the_same_in_both_backends(index):
    text = random_network(index)
    net = shapelang.loads(text, f"random{index}.net")
    try:
        compared = compare(net, seed=index)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n\nthe network:\n{text}") from None
    assert compared > 0


# ---- random sequence networks (random_sequence_networks.py) -----------------------------------
SEQUENCE_NETWORKS = 20  # their indices draw every sequence op and option between them


def _sequence_inputs(drawn, rng, batch=2):
    """One array per input line, in order: token ids below the vocabulary of every embedding
    that reads them, floats elsewhere."""
    arrays = []
    for name, shape, dtype in drawn.inputs:
        if dtype == "float32":
            arrays.append(rng.standard_normal((batch, *shape)).astype(np.float32))
        else:
            arrays.append(rng.integers(0, drawn.vocabulary[name], (batch, *shape)).astype(dtype))
    return arrays


def compare_sequence_network(drawn, seed: int) -> int:
    """`compare` for a drawn sequence network, fed token ids each embedding can look up."""
    net = shapelang.loads(drawn.text, "seq_random.net")
    return compare(net, seed=seed, inputs=_sequence_inputs(drawn, np.random.default_rng(seed + 1)))


@pytest.mark.slow
@pytest.mark.parametrize("index", covering_indices(SEQUENCE_NETWORKS))
def test_random_sequence_networks_compute_the_same_in_both_backends(index):
    drawn = numeric_sequence_network(index)
    try:
        compared = compare_sequence_network(drawn, seed=index)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n\nthe network:\n{drawn.text}") from None
    assert compared > 0


def test_batch_norm_running_statistics_follow_the_same_momentum():
    """In training, Keras's moving mean becomes m·old + (1 − m)·batch mean and PyTorch's
    (1 − p)·old + p·batch mean: the module's p must be 1 − m. The variances differ by design:
    PyTorch keeps the unbiased batch variance (× n/(n − 1), n values per channel), Keras the
    biased one; the comparison accounts for it."""
    momentum = 0.9
    net = shapelang.loads(f"""
network bn_momentum:
    input [5, 6, 3]
    batchnorm momentum={momentum} epsilon=0.01
""", "bn_momentum.net")
    keras.utils.set_random_seed(3)
    model = net.to_keras()
    module = net.to_torch()
    randomise_keras_weights(model, np.random.default_rng(3))
    copy_weights(model, module)
    (layer,) = [la for la in model.layers if la.weights]
    old_mean, old_var = (np.asarray(layer.moving_mean), np.asarray(layer.moving_variance))
    x = np.random.default_rng(4).standard_normal((4, 5, 6, 3)).astype(np.float32) * 2 + 1
    model(x, training=True)
    module.train()
    with torch.no_grad():
        module(torch.from_numpy(np.moveaxis(x, -1, 1)))
    (bn,) = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._NormBase)]
    keras_mean, keras_var = np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)
    assert not np.allclose(keras_mean, old_mean)  # the statistics did move
    assert _far(keras_mean, bn.running_mean.numpy()) is None
    n = 4 * 5 * 6
    biased = (keras_var - momentum * old_var) / (1 - momentum)
    unbiased_update = momentum * old_var + (1 - momentum) * biased * n / (n - 1)
    assert _far(unbiased_update.astype(np.float32), bn.running_var.numpy()) is None
