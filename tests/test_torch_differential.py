"""PyTorch is the oracle for the torch backend: every module of every generated `nn.Module` is
the analysed layer it claims to be (`torch_oracle.py`: modules mapped back to layers by where
they sit, output shapes by forward hooks, parameters and buffers, wiring by an fx trace).

- every example of examples/, the symbolic ones bound at several sizes;
- random networks: the Keras differential test's generator (`random_networks.Generator`:
  residuals, concatenations, blocks, repeats, hostile and ordinary names) and its PyTorch
  extension (`TorchGenerator`: 1D/2D/3D inputs, depthwise and separable convolutions,
  dilation, groups, asymmetric `same` padding, explicit paddings, `same` pools, batch norm
  without scale or offset, LRN, upsampling, reshapes, dense on a feature map, concatenation on a
  spatial axis), each built as the program `shapelang torch` writes and as the plain one it
  falls back to;
- random sequence networks (`random_sequence_networks.py`: token ids and embeddings, learned
  positions, a CLS token, take / slice / transpose / mean, layer norm, self / cross / causal
  attention, RNNs, dense on the last axis, 1-D convolutions, merges, weight tying, a
  transformer block in a repeat, two inputs, two outputs; hostile and ordinary names), 40 per
  pool in CI, against the analysis under PyTorch's convention;
- the reproducers of test_generated_program.py (names that collide, scopes, loops whose
  iterations differ), the oracle itself against hand-written wrong modules.

CI (CI=true) runs 50 networks per generator and pool (200 in all), the dev profile 5;
`SHAPELANG_DIFFERENTIAL_EXAMPLES=N` sets the count per test, as for the Keras test.
"""
import ast
import contextlib
import importlib.util
import io
import os
import sys

import pytest
from conftest import EXAMPLES, SYMBOLIC_EXAMPLE_SIZES, examples
from hypothesis import HealthCheck, assume, given, settings
from random_networks import HOSTILE, ORDINARY, networks, torch_networks
from random_sequence_networks import SEQUENCE_HOSTILE, sequence_networks

import shapelang
from shapelang import conventions
from shapelang.codegen.program import STRUCTURES
from shapelang.codegen.torch import emit_torch

torch = pytest.importorskip("torch")
from torch import nn
from torch_oracle import channels_first, differences

RANDOM = int(os.environ.get("SHAPELANG_DIFFERENTIAL_EXAMPLES", "0")) or examples(50)


def _load(source: str, directory, name="random_torch"):
    """Import a generated program from a file, as `python model.py` would see it."""
    ast.parse(source)
    path = directory / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"shapelang_torch_differential_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


# ---- every example ---------------------------------------------------------------------------
EXAMPLE_CASES = [(path, bindings) for path in sorted(EXAMPLES.glob("*.net"))
                 for bindings in SYMBOLIC_EXAMPLE_SIZES.get(path.stem, [{}])]


def test_every_symbolic_example_is_bound_here():
    symbolic = {p.stem for p in EXAMPLES.glob("*.net")
                if any(q.default is None for q in shapelang.load(p).ir.parameters)}
    assert symbolic == set(SYMBOLIC_EXAMPLE_SIZES)


@pytest.mark.parametrize(("path", "bindings"), EXAMPLE_CASES,
                         ids=[f"{p.stem}{''.join(f'-{v}' for v in b.values())}"
                              for p, b in EXAMPLE_CASES])
def test_every_example_is_the_analysed_network(path, bindings):
    net = shapelang.load(path)
    analysis = net.analyse(**bindings)
    assert analysis.ok and not analysis.symbols
    torch.manual_seed(0)
    # the analysed graph (the oracle reads its inputs and outputs), counted as PyTorch counts
    # (an RNN's two bias vectors: examples/imdb_bilstm.net)
    as_torch = conventions.under(analysis.analysis, "torch")
    assert differences(as_torch, net.to_torch(**bindings)) == []


LOGITS = {  # a dense layer's softmax, and a softmax line
    **{name: (EXAMPLES / f"{name}.net").read_text() for name in
       ("digits", "lenet")},
    "softmax_line": "network m():\n    input [6, 6, 2]\n    conv 3 k=3\n    flatten\n"
                    "    dense 4\n    softmax\n",
}


@pytest.mark.parametrize("case", sorted(LOGITS))
def test_logits_leave_out_only_the_last_softmax(case):
    """`--logits`: the same modules, state and wiring; its output's softmax is the output."""
    net = shapelang.loads(LOGITS[case], f"{case}.net")
    analysis = net.analyse().analysis
    probabilities, logits = net.to_torch().eval(), net.to_torch(logits=True).eval()
    assert differences(analysis, logits) == []
    logits.load_state_dict(probabilities.state_dict())
    x = torch.randn(2, *channels_first(analysis.layers[0].shape),
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = probabilities(x), logits(x)
    assert torch.allclose(expected.sum(dim=1), torch.ones(2))
    assert not torch.allclose(got.sum(dim=1), torch.ones(2))
    torch.testing.assert_close(torch.softmax(got, dim=1), expected, rtol=0, atol=1e-6)


# ---- random networks -------------------------------------------------------------------------
def assert_program_is_the_analysis(text, tmp_path_factory):
    net = shapelang.loads(text, "random.net")
    diagnostics = net.check()
    assume(not any(d.severity == "error" or d.code == "SL308" for d in diagnostics))
    analysis = net.analyse().analysis
    assume(int(analysis.total("params")) < 2_000_000)
    # the program `torch` writes, and the plainest one (every layer in order, no class of a
    # block, no loop) that it falls back to when a structured one would differ
    for structures in (STRUCTURES, STRUCTURES[-1:]):
        module = _load(emit_torch(analysis, structures), tmp_path_factory.mktemp("program"))
        problems = differences(analysis, module.build_model())
        assert not problems, "\n".join([text, *problems])


RANDOM_SETTINGS = settings(max_examples=RANDOM, deadline=None,
                           suppress_health_check=list(HealthCheck))
POOLS = {"hostile": HOSTILE, "ordinary": ORDINARY}


@pytest.mark.parametrize("pool", sorted(POOLS))
def test_random_networks_of_the_keras_generator_are_the_analysed_network(pool, tmp_path_factory):
    @RANDOM_SETTINGS
    @given(text=networks(POOLS[pool]))
    def check(text):
        assert_program_is_the_analysis(text, tmp_path_factory)

    check()


@pytest.mark.parametrize("pool", sorted(POOLS))
def test_random_networks_of_the_torch_generator_are_the_analysed_network(pool, tmp_path_factory):
    @RANDOM_SETTINGS
    @given(text=torch_networks(POOLS[pool]))
    def check(text):
        assert_program_is_the_analysis(text, tmp_path_factory)

    check()


# ---- sequence networks (random_sequence_networks.py) -----------------------------------------
SEQUENCE_RANDOM = int(os.environ.get("SHAPELANG_DIFFERENTIAL_EXAMPLES", "0")) or examples(40)
SEQUENCE_POOLS = {"hostile": SEQUENCE_HOSTILE, "ordinary": ORDINARY}


@pytest.mark.parametrize("pool", sorted(SEQUENCE_POOLS))
def test_random_sequence_networks_are_the_analysed_network(pool, tmp_path_factory):
    """Every sequence network is drawn to check cleanly: an error is a finding, not a network
    to skip. The module against the analysis under PyTorch's convention."""
    built = []

    @settings(max_examples=SEQUENCE_RANDOM, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(text=sequence_networks(SEQUENCE_POOLS[pool]))
    def check(text):
        net = shapelang.loads(text, "seq_random.net")
        problems = [d for d in net.check() if d.severity == "error" or d.code == "SL308"]
        assert not problems, "\n".join([text, *map(str, problems)])
        analysis = net.analyse(convention="torch").analysis  # PyTorch's RNNs: two biases
        for structures in (STRUCTURES, STRUCTURES[-1:]):
            module = _load(emit_torch(analysis, structures), tmp_path_factory.mktemp("program"))
            found = differences(analysis, module.build_model())
            assert not found, "\n".join([text, *found])
        built.append(text)
        if len(built) % 10 == 1:  # the program's own entry point, fed its inputs, for a sample
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                assert module.main(["summary"]) == 0
            assert f"{int(analysis.total('params')):,} parameters" in output.getvalue(), text

    check()


# ---- the reproducers of the generated-program issue -------------------------------------------
def _reproducers():
    from test_generated_program import REPRODUCERS, TOTALS
    return REPRODUCERS, TOTALS


@pytest.mark.parametrize("case", sorted(_reproducers()[0]))
def test_reproducer_builds_the_analysed_network(case):
    reproducers, totals = _reproducers()
    text, expected = reproducers[case]
    net = shapelang.loads(text, f"{case}.net")
    analysis = net.analyse().analysis
    for name, params in expected.items():  # the analysis itself says what the issue says
        assert int(analysis.by_name(name).params) == params, name
    if case in totals:
        assert int(analysis.total("params")) == totals[case]
    assert differences(analysis, net.to_torch()) == []


# ---- what the random networks found in the torch backend -------------------------------------
FOUND = {  # name: a network the first torch backend could not build, or built wrong
    # `nn.ModuleDict` refuses a key that `nn.Module` has as an attribute
    "labels_named_like_module_methods": (
        "network m():\n    input [5, 2]\n    float: sepconv 2 k=3 pad=same\n"
        "    train: conv 2 k=1\n    training: relu\n    eval: depthwiseconv k=2 pad=same\n"
        "    type: globalavgpool\n    cuda: dense 2 softmax\n"),
    "a_block_with_a_layer_named_float": (
        "block to(half):\n    float: dense half\n    parameters: relu\n"
        "network m():\n    input [4]\n    repeat 2:\n        to 3\n    dense 2\n"),
    # in a class body Python mangles `__x` (`_Random__x`): `build_model(__import___2=…)` did not
    # reach the parameter renamed from `__import__`
    "parameters_python_would_mangle": (
        "block b(__w, __import__ = 2):\n    dense __w\n    dense __import__\n"
        "network random(__import__ = 3, __n = 2):\n    input [5, 3]\n    conv __import__ k=1\n"
        "    globalavgpool\n    b __n\n    b 3 __import__=4\n    dense 5 softmax\n"),
    # …and a label `_`, taken, was to be renamed `__2`, `__3`, … (mangled, all refused): a hang
    "labels_of_underscores": (
        "network m():\n    input [4]\n    _: dense 3\n    __: dense 3\n    add @_\n"
        "    ___: relu\n    dense 2 @_\n    concat @___\n"),
}


@pytest.mark.parametrize("case", sorted(FOUND))
def test_what_random_networks_found_is_the_analysed_network(case):
    net = shapelang.loads(FOUND[case], f"{case}.net")
    assert not [d for d in net.check() if d.severity == "error"]
    analysis = net.analyse().analysis
    for structures in (STRUCTURES, STRUCTURES[-1:]):
        module = _load(emit_torch(analysis, structures), _tmp(case))
        assert differences(analysis, module.build_model()) == []


def _tmp(case):
    import tempfile
    from pathlib import Path
    return Path(tempfile.mkdtemp(prefix=f"shapelang-{case}-"))


# ---- the oracle sees what is wrong ------------------------------------------------------------
class _Cat(nn.Module):
    def __init__(self, dim=1):
        super().__init__()
        self.dim = dim

    def forward(self, *inputs):
        return torch.cat(inputs, dim=self.dim)


class _Hand(nn.Module):
    """ORACLE_NET written by hand in the generated layout (`layers`, keyed by the analysis's
    names), right or wrong in one way."""

    def __init__(self, swap=False, units=4, extra=False, dim=1):
        super().__init__()
        self.swap = swap
        self.layers = nn.ModuleDict()
        self.layers["a"] = nn.Linear(4, 4)
        self.layers["b"] = nn.Linear(4, units)
        self.layers["concat_1"] = _Cat(dim)
        if extra:
            self.layers["c"] = nn.Linear(4, 4)

    def forward(self, x):
        a = torch.relu(self.layers["a"](x))
        b = self.layers["b"](a)
        return self.layers["concat_1"](*([b, a] if self.swap else [a, b]))


ORACLE_NET = "network m():\n    input [4]\n    a: dense 4 relu\n    b: dense 4\n    concat @a @b\n"


def test_the_oracle_passes_a_right_module():
    analysis = shapelang.loads(ORACLE_NET).analyse().analysis
    assert differences(analysis, _Hand()) == []


@pytest.mark.parametrize(("wrong", "expected"), [
    ({"swap": True}, "`concat_1` reads [['b', 'a']], analysed [['a', 'b']]"),
    ({"units": 5}, "`b`: 25 trainable parameters, analysed 20"),
    ({"dim": 0}, "`concat_1`: output shapes [(4,)] (channels first), analysed [(8,)]"),
    ({"extra": True}, "module `layers.c` (Linear): the analysis has no layer `c`"),
])
def test_the_oracle_sees_a_wrong_module(wrong, expected):
    analysis = shapelang.loads(ORACLE_NET).analyse().analysis
    assert expected in differences(analysis, _Hand(**wrong))


def test_the_oracle_sees_a_module_no_layer_owns():
    analysis = shapelang.loads(ORACLE_NET).analyse().analysis
    model = _Hand()
    model.stray = nn.Linear(1, 1)
    assert any(p.startswith("module `stray` (Linear)") for p in differences(analysis, model))
