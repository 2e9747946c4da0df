"""torchvision's model zoo is the oracle for examples/torchvision_*.net: AlexNet, VGG16, ResNet-50
and MobileNetV2 written the torchvision way, against `torchvision.models.X(weights=None)` itself.

Compared, exactly: the totals (torch parameters = the analysis's trainable count; buffers, the
BatchNorm2d running means and variances without `num_batches_tracked`, = its non-trainable
count), the multiset of per-layer parameter counts (torchvision: each leaf module with
parameters; shapelang: each analysed layer with parameters — one to one in these four networks,
no grouping differs), the multiset of the convolutions' output shapes, and the multiset of
(kind, output shape, parameters, buffers) over every convolution, batch norm, linear, max pool
and dropout, the output shapes recorded by forward hooks on a 1×3×224×224 input (channels first,
turned to the analysis's channels last). The published numbers are asserted literally: the
parameter totals, torchvision's "_ops" (what its documentation calls GFLOPS is
multiply-accumulates, the analysis's `macs`, to the published digits) and its "min_size" (the
smallest input the analysis finds valid).

torchvision's AlexNet and VGG16 average-pool their features adaptively to 6×6 and 7×7; at 224×224
that is the identity, which the hooks check, and the .net files leave it out.
"""
from collections import Counter
from decimal import Decimal

import pytest
from conftest import EXAMPLES

import shapelang

torchvision = pytest.importorskip("torchvision")
torch = pytest.importorskip("torch")
nn = torch.nn

# The published numbers: torchvision's documented num_params, and its "_ops" in billions.
PUBLISHED = {  # example: (torchvision builder, parameters, "_ops")
    "alexnet": ("alexnet", 61_100_840, "0.714"),
    "vgg16": ("vgg16", 138_357_544, "15.47"),
    "resnet50": ("resnet50", 25_557_032, "4.089"),
    "mobilenetv2": ("mobilenet_v2", 3_504_872, "0.301"),
}
WEIGHTS = {"alexnet": "AlexNet_Weights", "vgg16": "VGG16_Weights",
           "resnet50": "ResNet50_Weights", "mobilenetv2": "MobileNet_V2_Weights"}
KINDS = {nn.BatchNorm2d: "batchnorm", nn.Linear: "dense", nn.MaxPool2d: "maxpool",
         nn.Dropout: "dropout"}  # and nn.Conv2d: conv or depthwiseconv, below


def _numel(tensors) -> int:
    return sum(t.numel() for t in tensors)


def _buffers(module) -> int:
    return _numel(b for name, b in module.named_buffers(recurse=False)
                  if name != "num_batches_tracked")


def _kind(module) -> str | None:
    if isinstance(module, nn.Conv2d):
        depthwise = module.groups > 1 and module.groups == module.in_channels == module.out_channels
        return "depthwiseconv" if depthwise else "conv"
    return next((kind for cls, kind in KINDS.items() if isinstance(module, cls)), None)


def _channels_last(shape) -> tuple:
    """(1, C, H, W) → (H, W, C); (1, N) → (N,)."""
    dims = tuple(int(d) for d in shape[1:])
    return dims[1:] + dims[:1]


def torchvision_summary(builder: str, **kwargs) -> dict:
    """Build `torchvision.models.<builder>(weights=None, **kwargs)`, run it once in eval mode on
    zeros and keep only numbers: totals, per-module counts, each compared module's output."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, builder)(weights=None, **kwargs).eval()
    leaves = [m for m in model.modules() if not list(m.children())]
    outputs = []  # (kind, output shape channels last, parameters, buffers), one per call
    identities = []  # AdaptiveAvgPool2d calls that change nothing: (input shape, output shape)

    def record(module, inputs, output):
        if isinstance(module, nn.AdaptiveAvgPool2d):
            identities.append((tuple(inputs[0].shape), tuple(output.shape)))
            return
        outputs.append((_kind(module), _channels_last(output.shape),
                        _numel(module.parameters(recurse=False)), _buffers(module)))

    hooks = [m.register_forward_hook(record) for m in leaves
             if _kind(m) is not None or isinstance(m, nn.AdaptiveAvgPool2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    for hook in hooks:
        hook.remove()
    return {
        "params": _numel(model.parameters()),
        "buffers": sum(_buffers(m) for m in model.modules()),
        "module_params": Counter(_numel(m.parameters()) for m in leaves if _numel(m.parameters())),
        "module_buffers": Counter(_buffers(m) for m in leaves if _buffers(m)),
        "modules_compared": sum(1 for m in leaves if _kind(m) is not None),
        "outputs": Counter(outputs),
        "pools": identities,
    }


def shapelang_outputs(result) -> Counter:
    return Counter((layer.op, layer.shape, layer.trainable, layer.non_trainable)
                   for layer in result.layers if layer.op in {*KINDS.values(), "conv", "depthwiseconv"})


def _difference(ours: Counter, theirs: Counter) -> tuple:
    return ours - theirs, theirs - ours


@pytest.fixture(scope="module", params=sorted(PUBLISHED))
def network(request):
    """(example, torchvision summary, shapelang result): each torchvision model built once."""
    example = request.param
    result = shapelang.load(EXAMPLES / f"torchvision_{example}.net").analyse()
    assert result.ok, [str(d) for d in result.errors]
    return example, torchvision_summary(PUBLISHED[example][0]), result


def test_totals(network):
    example, theirs, result = network
    _, published, _ = PUBLISHED[example]
    assert (result.total("trainable"), result.total("non_trainable")) == \
        (theirs["params"], theirs["buffers"])
    assert result.total("trainable") == published
    assert theirs["params"] == published


def test_published_metadata(network):
    """torchvision's weight metadata (no download: the numbers are in the package)."""
    example, _, result = network
    _, published, ops = PUBLISHED[example]
    for weights in getattr(torchvision.models, WEIGHTS[example]):
        assert weights.meta["num_params"] == published
        assert Decimal(str(weights.meta["_ops"])) == Decimal(ops)
    macs = Decimal(result.total("macs")) / 10**9
    assert macs.quantize(Decimal(ops)) == Decimal(ops)


def test_published_min_size(network):
    """The smallest square input the network is valid for: no SL302 there, one just below."""
    example, _, _ = network
    (smallest, _), = {w.meta["min_size"] for w in getattr(torchvision.models, WEIGHTS[example])}
    net = shapelang.load(EXAMPLES / f"torchvision_{example}.net")
    codes = {d.code for d in net.analyse(H=smallest, W=smallest).errors}
    assert codes <= {"SL401"}  # the `expect`s are written for 224×224
    if smallest > 1:
        assert "SL302" in {d.code for d in net.analyse(H=smallest - 1, W=smallest - 1).errors}


def test_per_layer_parameter_counts(network):
    _, theirs, result = network
    ours = Counter(layer.trainable for layer in result.layers if layer.trainable)
    assert _difference(ours, theirs["module_params"]) == (Counter(), Counter())
    buffers = Counter(layer.non_trainable for layer in result.layers if layer.non_trainable)
    assert _difference(buffers, theirs["module_buffers"]) == (Counter(), Counter())


def test_convolution_output_shapes(network):
    _, theirs, result = network
    ours = Counter(layer.shape for layer in result.layers if layer.op in ("conv", "depthwiseconv"))
    convs = Counter()
    for (kind, shape, _, _), count in theirs["outputs"].items():
        if kind in ("conv", "depthwiseconv"):
            convs[shape] += count
    assert _difference(ours, convs) == (Counter(), Counter())


def test_every_compared_layer(network):
    """Kind, output shape, parameters and buffers of every convolution, batch norm, linear, max
    pool and dropout; each torchvision module runs exactly once."""
    _, theirs, result = network
    assert sum(theirs["outputs"].values()) == theirs["modules_compared"]
    assert _difference(shapelang_outputs(result), theirs["outputs"]) == (Counter(), Counter())


def test_adaptive_pools_are_identities_or_global(network):
    example, theirs, _ = network
    for before, after in theirs["pools"]:
        assert after == before or after[2:] == (1, 1), (example, before, after)
    assert len(theirs["pools"]) == {"alexnet": 1, "vgg16": 1, "resnet50": 1, "mobilenetv2": 0}[example]


@pytest.mark.parametrize("width_mult", ["0.5", "0.75", "1.4"])
def test_mobilenetv2_width_multiplier(width_mult):
    theirs = torchvision_summary("mobilenet_v2", width_mult=float(width_mult))
    result = shapelang.load(EXAMPLES / "torchvision_mobilenetv2.net").analyse(width_mult=width_mult)
    assert not result.errors or {d.code for d in result.errors} == {"SL401"}  # the 1.0 expects
    assert (result.total("trainable"), result.total("non_trainable")) == \
        (theirs["params"], theirs["buffers"])
    assert _difference(shapelang_outputs(result), theirs["outputs"]) == (Counter(), Counter())
