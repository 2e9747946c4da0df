"""Keras is the oracle: every layer of every generated model has exactly the shape and the
trainable / non-trainable parameter counts that shapelang's analysis derived."""
import ast
import subprocess

import pytest
from conftest import EXAMPLES, PYTHON, SYMBOLIC_EXAMPLE_SIZES, examples, python_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shapelang

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")
np = pytest.importorskip("numpy")


def weight_count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def assert_model_matches(analysis, model):
    """Every analysed layer against the Keras layer of the same name."""
    by_name = {layer.name: layer for layer in model.layers}
    for r in analysis.layers:
        layer = by_name[r.name]
        shape = tuple(layer.output.shape[1:])
        assert shape == tuple(int(d) for d in r.shape), r.name
        assert weight_count(layer.trainable_weights) == int(r.trainable), r.name
        assert weight_count(layer.non_trainable_weights) == int(r.non_trainable), r.name
    assert model.count_params() == int(analysis.total("params"))


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.net"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_every_example(path):
    """Each example as written, a symbolic one at its first size of SYMBOLIC_EXAMPLE_SIZES."""
    net = shapelang.load(path)
    bindings = SYMBOLIC_EXAMPLE_SIZES.get(path.stem, [{}])[0]
    analysis = net.analyse(**bindings)
    assert not analysis.symbols, f"{path.stem}: bind it in SYMBOLIC_EXAMPLE_SIZES"
    keras.backend.clear_session()
    assert_model_matches(analysis, net.to_keras(**bindings))


@pytest.mark.parametrize("example, bindings", [
    ("resnet50_symbolic.net", {"H": 225, "W": 193}),
    ("same_padding.net", {"H": 31}),
])
def test_symbolic_examples_bound_to_odd_sizes(example, bindings):
    net = shapelang.load(EXAMPLES / example)
    keras.backend.clear_session()
    assert_model_matches(net.analyse(**bindings), net.to_keras(**bindings))


def test_symbolic_example_bound():
    net = shapelang.load(EXAMPLES / "alexnet_symbolic.net")
    analysis = net.analyse(H=270, W=480)
    assert_model_matches(analysis, net.to_keras(H=270, W=480))
    assert int(analysis.total("params")) == 116_071_837 - 118_813 + 4_097_000


def test_build_model_recomputes_for_other_parameters():
    """build_model(**params) is written from closed forms: other values give other layers."""
    from shapelang.analysis import analyse
    from shapelang.codegen.keras import load_generated_module

    net = shapelang.load(EXAMPLES / "alexnet_scaled.net")
    module = load_generated_module(net.analyse().analysis)
    for classes in (29, 58, 100):
        model = module.build_model(classes=classes)
        # checks=False: the file's `expect params == 110_829` holds at 29 classes only
        assert_model_matches(analyse(net.ir, {"classes": classes}, checks=False), model)
    alexnet = load_generated_module(shapelang.load(EXAMPLES / "alexnet.net").analyse().analysis)
    # the seed's adapted network, from the generated AlexNet with other arguments
    assert alexnet.build_model(H=270, W=480, classes=29).count_params() == 116_071_837


def test_generated_source_is_deterministic_valid_and_clean(tmp_path):
    net = shapelang.load(EXAMPLES / "alexnet.net")
    first, second = net.keras_source(), shapelang.load(EXAMPLES / "alexnet.net").keras_source()
    assert first == second
    ast.parse(first)
    path = tmp_path / "alexnet_keras.py"
    path.write_text(first)
    ruff = subprocess.run([PYTHON, "-m", "ruff", "check", "--no-cache", str(path)],
                          check=False, capture_output=True, text=True)
    if "No module named ruff" in ruff.stderr:
        pytest.skip("ruff is not installed")
    assert ruff.returncode == 0, ruff.stdout


@pytest.mark.slow
def test_cli_keras_then_summary(tmp_path):
    out = tmp_path / "alexnet_keras.py"
    subprocess.run([PYTHON, "-m", "shapelang.cli", "keras", str(EXAMPLES / "alexnet.net"), "-o",
                    str(out)], check=True, env=python_env())
    summary = subprocess.run([PYTHON, str(out), "summary"], check=False, capture_output=True, text=True,
                             cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr
    assert "Total params: 62,378,344" in summary.stdout


def test_unbound_symbol_is_a_codegen_error(run_cli):
    code, _, err = run_cli("keras", EXAMPLES / "alexnet_symbolic.net")
    assert code == 1 and "SL551" in err and "--set H=" in err


def test_parameter_named_like_a_python_keyword(run_cli, tmp_path):
    path = tmp_path / "k.net"
    path.write_text("network k(lambda = 3):\n    input [8]\n    dense lambda\n")
    code, _, err = run_cli("keras", path)
    assert code == 1 and "SL550" in err


# ---- the differential test: random networks --------------------------------------------------
ACTIVATION = st.sampled_from(["", " relu", " tanh", " sigmoid", " softmax", " elu"])


@st.composite
def conv_line(draw, channels):
    groups = draw(st.sampled_from([g for g in (1, 2, 4) if channels % g == 0]))
    filters = groups * draw(st.integers(1, 4))
    kernel = draw(st.one_of(st.integers(1, 7).map(str),
                            st.tuples(st.integers(1, 7), st.integers(1, 7)).map(
                                lambda k: f"({k[0]}, {k[1]})")))
    stride = draw(st.integers(1, 3))
    dilation = 1 if stride > 1 else draw(st.integers(1, 3))
    padding = draw(st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 3).map(str),
                             st.tuples(st.integers(0, 3), st.integers(0, 3)).map(
                                 lambda p: f"({p[0]}, {p[1]})")))
    bias = draw(st.sampled_from(["", " bias=false"]))
    return ((f"conv {filters} k={kernel} s={stride} d={dilation} pad={padding} groups={groups}"
            f"{bias}{draw(ACTIVATION)}"), filters)


# A residual block and a concatenating one, used by the random graphs below.
BLOCKS = """
block residual(f, k = 3):
    conv f k=k pad=same relu
    conv f k=k pad=same
    add @input
    relu

block widen(f, n = 1):
    left: conv f k=1
    repeat n:
        conv f k=3 pad=same relu
    concat @left
"""


@st.composite
def network_text(draw):
    channels = draw(st.integers(1, 8))
    lines = [f"input [{draw(st.integers(8, 40))}, {draw(st.integers(8, 40))}, {channels}]"]
    for i in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["conv", "conv", "conv", "pool", "batchnorm", "dropout",
                                     "lrn", "activation", "residual", "branch", "block"]))
        if kind == "residual":  # a branch added back: same shape by construction
            lines += [f"r{i}: batchnorm", (f"conv {channels} k={draw(st.integers(1, 5))} "
                      f"pad=same{draw(ACTIVATION)}"), f"add @r{i}"]
            continue
        if kind == "branch":  # two branches concatenated along the channels
            extra = draw(st.integers(1, 4))
            lines += [f"b{i}: relu", f"conv {extra} k=3 pad=same @b{i}", f"concat @b{i}"]
            channels += extra
            continue
        if kind == "block":
            if draw(st.booleans()):
                lines.append(f"residual {channels} k={draw(st.sampled_from([1, 3]))}")
            else:
                f = draw(st.integers(1, 4))
                lines.append(f"widen {f} n={draw(st.integers(1, 2))}")
                channels = 2 * f
            continue
        if kind == "conv":
            line, channels = draw(conv_line(channels))
        elif kind == "pool":
            op = draw(st.sampled_from(["maxpool", "avgpool"]))
            line = (f"{op} k={draw(st.integers(1, 3))} s={draw(st.integers(1, 3))} "
                    f"pad={draw(st.sampled_from(['valid', 'same']))}")
        elif kind == "batchnorm":
            line = "batchnorm" + draw(st.sampled_from(["", " scale=false", " center=false"]))
        elif kind == "dropout":
            line = "dropout 0.25"
        elif kind == "lrn":
            line = "lrn"
        else:
            line = draw(st.sampled_from(["relu", "tanh", "sigmoid"]))
        lines.append(line)
    head = draw(st.sampled_from(["flatten", "globalavgpool", "globalmaxpool", ""]))
    if head:
        lines += [head, f"dense {draw(st.integers(1, 16))}{draw(ACTIVATION)}"]
    return BLOCKS + "network random():\n" + "".join(f"    {line}\n" for line in lines)


def test_a_block_given_different_keywords_is_one_function_with_the_word_as_parameter():
    """A block given different keywords (pad=same, pad=valid) is one helper function whose
    word is an ordinary parameter (issue 11), and the model is still exact."""
    text = ("block cb(f, p = same):\n    conv f k=3 pad=p\n    relu\n"
            "network n():\n    input [16, 16, 3]\n    cb 4\n    cb 8 p=valid\n    flatten\n"
            "    dense 3 softmax\n")
    net = shapelang.loads(text)
    source = net.keras_source()
    assert "def cb(inputs, f, p, *, name):" in source and "padding=p" in source
    assert "block_input_1" not in source
    assert_model_matches(net.analyse(), net.to_keras())


def test_concat_and_multiply_graph():
    text = ("network g(H = 12):\n    input [H, H, 4]\n    a: conv 6 k=3 pad=same\n"
            "    b: conv 2 k=1 @input\n    c: concat @a @b\n    gate: conv 8 k=1 sigmoid\n"
            "    multiply @c\n    globalavgpool keepdims=true\n    reshape [8]\n    dense 2\n")
    net = shapelang.loads(text)
    assert_model_matches(net.analyse(), net.to_keras())


def test_new_layer_kinds():
    text = ("network k():\n    input [16, 16, 8]\n    zeropad ((0, 1), (2, 3))\n"
            "    depthwiseconv k=3 s=2 multiplier=2 bias=false relu6\n"
            "    sepconv 12 k=3 pad=same multiplier=2\n    upsample (2, 3)\n"
            "    conv 4 k=(3, 5) d=2 groups=4\n    dense 5 last_axis=true\n    flatten\n")
    net = shapelang.loads(text)
    assert_model_matches(net.analyse(), net.to_keras())


@settings(max_examples=examples(200), deadline=None, suppress_health_check=list(HealthCheck))
@given(text=network_text())
def test_random_networks_match_keras(text):
    from hypothesis import assume

    net = shapelang.loads(text)
    diagnostics = net.check()
    assume(not any(d.severity == "error" for d in diagnostics))
    analysis = net.analyse()
    keras.backend.clear_session()
    assert_model_matches(analysis, net.to_keras())
