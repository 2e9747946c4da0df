"""Keras Applications are the oracle for the architectures in examples/: VGG16, ResNet50 and
MobileNetV2 (weights=None, 224×224×3, 1000 classes) against shapelang's analysis of vgg16.net,
resnet50.net and mobilenetv2.net — the totals, the published numbers, and every layer's output
shape and trainable / non-trainable counts. Layer names and classes differ between the two
(Keras's `conv1_conv` is shapelang's `conv1`, …); shapes and counts must not, so the layers are
compared as multisets of (shape, trainable, non-trainable).

Also: MobileNetV2's width multiplier against Keras's `alpha`, the validity domain that `solve`
reports for the symbolic ResNet-50 (checked by brute force), and the residual network whose
branches agree only for even H (examples/bad/residual_even_only.net)."""
import json
from collections import Counter

import pytest
import sympy
from conftest import EXAMPLES

import shapelang
from shapelang.analysis import analyse, parse_binding
from shapelang.diagnostics import ERROR

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")
np = pytest.importorskip("numpy")

# The published numbers (Keras's documentation, the papers' reference implementations).
PUBLISHED = {  # total, trainable, non-trainable
    "vgg16": (138_357_544, 138_357_544, 0),
    "resnet50": (25_636_712, 25_583_592, 53_120),
    "mobilenetv2": (3_538_984, 3_504_872, 34_112),
}
BUILDERS = {"vgg16": "VGG16", "resnet50": "ResNet50", "mobilenetv2": "MobileNetV2"}


def weight_count(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def keras_summary(builder: str, **kwargs) -> dict:
    """Build `keras.applications.<builder>(weights=None, **kwargs)` in a fresh session and keep
    only numbers: each layer's class, output shape, counts (and ZeroPadding2D's padding)."""
    keras.backend.clear_session()
    model = getattr(keras.applications, builder)(weights=None, **kwargs)
    layers = []
    for layer in model.layers:
        layers.append({
            "class": type(layer).__name__,
            "key": (tuple(int(d) for d in layer.output.shape[1:]),
                    weight_count(layer.trainable_weights),
                    weight_count(layer.non_trainable_weights)),
            "padding": getattr(layer, "padding", None),
            "strides": tuple(getattr(layer, "strides", ()) or ()),
        })
    summary = {"layers": layers, "params": model.count_params(),
               "trainable": weight_count(model.trainable_weights),
               "non_trainable": weight_count(model.non_trainable_weights)}
    del model
    keras.backend.clear_session()
    return summary


def shapelang_keys(analysis) -> Counter:
    return Counter((tuple(int(d) for d in r.shape), int(r.trainable), int(r.non_trainable))
                   for r in analysis.layers)


def stride_two_depthwise(analysis) -> list:
    def strided(r):
        stride = r.args.stride
        return any(s != 1 for s in (stride if isinstance(stride, tuple) else (stride,)))

    return [r for r in analysis.layers if r.op == "depthwiseconv" and strided(r)]


def comparable_keras_layers(summary: dict, example: str, analysis) -> list:
    """Keras's layers that have a shapelang counterpart. The one exception: Keras's MobileNetV2
    pads each stride-2 depthwise convolution with an explicit ZeroPadding2D layer
    (`imagenet_utils.correct_pad`: (0, 1) on even sizes, (1, 1) on odd ones) and then runs a
    `valid` DepthwiseConv2D; mobilenetv2.net writes `pad=same`, which is that same padding
    (TensorFlow's `same` puts the odd pixel after) in one layer. So those ZeroPadding2D layers
    are dropped — exactly one per stride-2 depthwise layer, each padding as shapelang solved."""
    layers = summary["layers"]
    if example != "mobilenetv2":
        return layers
    pads = [i for i, layer in enumerate(layers) if layer["class"] == "ZeroPadding2D"]
    strided = stride_two_depthwise(analysis)
    assert len(pads) == len(strided) == 4
    for i in pads:  # each pads the input of a valid stride-2 depthwise convolution
        assert layers[i + 1]["class"] == "DepthwiseConv2D" and layers[i + 1]["strides"] == (2, 2)
    keras_pads = Counter(tuple(tuple(p) for p in layers[i]["padding"]) for i in pads)
    solved = Counter(tuple((int(a), int(b)) for a, b in r.padding) for r in strided)
    assert keras_pads == solved
    return [layer for i, layer in enumerate(layers) if i not in set(pads)]


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def application(request):
    """(example name, Keras summary, shapelang analysis): each Keras model built once."""
    example = request.param
    analysis = shapelang.load(EXAMPLES / f"{example}.net").analyse().analysis
    return example, keras_summary(BUILDERS[example]), analysis


def test_totals(application):
    example, summary, analysis = application
    ours = tuple(int(analysis.total(q)) for q in ("params", "trainable", "non_trainable"))
    assert ours == (summary["params"], summary["trainable"], summary["non_trainable"])
    assert ours == PUBLISHED[example]


def test_every_layer(application):
    example, summary, analysis = application
    keras_layers = comparable_keras_layers(summary, example, analysis)
    keras_keys = Counter(layer["key"] for layer in keras_layers)
    ours = shapelang_keys(analysis)
    assert (keras_keys - ours, ours - keras_keys) == (Counter(), Counter())
    assert len(keras_layers) == len(analysis.layers)


def test_examples_are_short():
    for example in ("resnet50", "mobilenetv2"):
        assert len((EXAMPLES / f"{example}.net").read_text().splitlines()) <= 60


# ---- MobileNetV2's width multiplier ------------------------------------------------------------
@pytest.mark.parametrize("alpha", ["0.35", "0.5", "0.75", "1.3"])
def test_mobilenetv2_alpha(alpha):
    net = shapelang.load(EXAMPLES / "mobilenetv2.net")
    analysis = analyse(net.ir, {"alpha": parse_binding("alpha", alpha)}, checks=False)
    assert [d for d in analysis.diagnostics if d.severity == ERROR] == []
    # Keras warns that it has no weights for this alpha at 224 (weights=None: harmless).
    summary = keras_summary("MobileNetV2", alpha=float(alpha))
    ours = tuple(int(analysis.total(q)) for q in ("params", "trainable", "non_trainable"))
    assert ours == (summary["params"], summary["trainable"], summary["non_trainable"])
    keras_keys = Counter(layer["key"] for layer in
                         comparable_keras_layers(summary, "mobilenetv2", analysis))
    assert keras_keys == shapelang_keys(analysis)


def test_mobilenetv2_alpha_from_the_api():
    """`Network.analyse` reads a decimal string as an exact rational (not a float)."""
    net = shapelang.load(EXAMPLES / "mobilenetv2.net")
    by_string = net.analyse(alpha="0.35")
    exact = analyse(net.ir, {"alpha": sympy.Rational(35, 100)}, checks=False)
    assert int(by_string.total("params")) == int(exact.total("params")) == 1_691_208


# ---- the symbolic ResNet-50 --------------------------------------------------------------------
def test_resnet50_symbolic_solve(run_cli):
    code, out, _ = run_cli("solve", EXAMPLES / "resnet50_symbolic.net")
    assert code == 0
    assert "valid for H ≥ 1" in out and "H ≡ 1 (mod 32)" in out
    assert "valid for W ≥ 1" in out and "W ≡ 1 (mod 32)" in out


@pytest.mark.parametrize("H", [1, 2, 31, 32, 33, 63, 65, 97, 224, 225])
def test_resnet50_symbolic_brute_force(H):
    """Every H ≥ 1 is valid; no stride leaves a row unread (SL305) exactly when H ≡ 1 (mod 32).
    W stays unbound, so every SL305 here is about rows."""
    net = shapelang.load(EXAMPLES / "resnet50_symbolic.net")
    analysis = analyse(net.ir, {"H": sympy.Integer(H)}, checks=False)
    assert analysis.complete
    assert [d for d in analysis.diagnostics if d.severity == ERROR] == []
    dropped = [d for d in analysis.diagnostics if d.code == "SL305"]
    assert bool(dropped) == (H % 32 != 1), [d.message for d in dropped]
    assert analysis.output.shape == (1000,)


# ---- a residual network whose branches agree only for even H ------------------------------------
RESIDUAL_EVEN_ONLY = EXAMPLES / "bad" / "residual_even_only.net"


def test_residual_even_only_unbound(run_cli):
    code, out, _ = run_cli("check", "--format", "json", RESIDUAL_EVEN_ONLY)
    assert code == 1
    (diagnostic,) = json.loads(out)
    assert diagnostic["code"] == "SL310"
    assert "H ≡ 0 (mod 2)" in diagnostic["message"]
    assert "[floor(H/2), floor(H/2), 8]" in diagnostic["message"]  # the maxpool branch
    assert "[ceil(H/2), ceil(H/2), 8]" in diagnostic["message"]  # the strided conv branch


def test_residual_even_only_even_size_passes(run_cli):
    code, out, _ = run_cli("check", "--strict", "--set", "H=224", RESIDUAL_EVEN_ONLY)
    assert code == 0, out


def test_residual_even_only_odd_size_fails(run_cli):
    code, out, _ = run_cli("check", "--format", "json", "--set", "H=225", RESIDUAL_EVEN_ONLY)
    assert code == 1
    codes = {d["code"] for d in json.loads(out)}
    assert "SL309" in codes and "SL310" not in codes
    (never,) = [d for d in json.loads(out) if d["code"] == "SL309"]
    assert "[112, 112, 8]" in never["message"] and "[113, 113, 8]" in never["message"]
