"""The generated program is the analysed network, whatever the user's names: random graph
networks — nested labels that shadow outer ones, blocks with parameters (numbers, words, repeat
counts), repeats whose iterations differ (`channels(@a)`), merges, `@label`s of outer scopes and
`return` — with names drawn from a hostile pool (Python keywords and builtins, the generated
program's own names and imports, the runtime's functions) and from an ordinary one. Each
program is parsed, imported and built at the network's bindings — the program `keras` writes
and the plain one it falls back to — and Keras's model is compared with the analysis: every layer's output shape, trainable and non-trainable count, and its input
layers by name against the analysis's `inputs`; for a sample, the program's `summary` runs.

CI runs 200 networks of each pool (the default); `SHAPELANG_DIFFERENTIAL_EXAMPLES=20` runs a
quick local round. The generator is `random_networks.py` (shared with the PyTorch differential
test).

Sequence networks (`random_sequence_networks.py`: token ids and embeddings, attention, RNNs,
several inputs and outputs, hostile names): 40 per pool in CI, 4 locally.
"""
import ast
import builtins
import contextlib
import importlib.util
import io
import keyword
import os
import sys

import pytest
from conftest import examples
from hypothesis import HealthCheck, assume, given, settings
from keras_oracle import differences
from random_networks import BUILTIN_NAMES, HOSTILE, ORDINARY, networks
from random_sequence_networks import SEQUENCE_HOSTILE, sequence_networks

import shapelang
from shapelang.codegen.keras import emit_keras
from shapelang.codegen.program import STRUCTURES

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

EXAMPLES = int(os.environ.get("SHAPELANG_DIFFERENTIAL_EXAMPLES", "200"))
SEQUENCE_POOLS = {"hostile": SEQUENCE_HOSTILE, "ordinary": ORDINARY}


def test_the_hostile_pool_is_what_it_says():
    assert {"x", "t_x", "inputs", "name", "i", "layers", "keras", "np", "math", "Fraction",
            "build_model", "main", "train", "run_main"} <= set(HOSTILE)
    assert set(keyword.kwlist) - {"return"} <= set(HOSTILE)
    assert set(BUILTIN_NAMES) <= set(dir(builtins)) | {"__builtins__"}


# ---- the comparison ---------------------------------------------------------------------------
_BUILT = {"count": 0}


def assert_program_is_the_analysis(text, tmp_path_factory):
    net = shapelang.loads(text, "random.net")
    diagnostics = net.check()
    assume(not any(d.severity == "error" or d.code == "SL308" for d in diagnostics))
    analysis = net.analyse().analysis
    assume(int(analysis.total("params")) < 2_000_000)
    # the program `keras` writes, and the plainest one (every layer in order, no function,
    # no loop, no parameter) that it falls back to when a structured one would differ
    for structures in (STRUCTURES, STRUCTURES[-1:]):
        _assert_built_is_analysed(text, analysis, emit_keras(analysis, structures),
                                  tmp_path_factory)


def _assert_built_is_analysed(text, analysis, source, tmp_path_factory):
    ast.parse(source)
    directory = tmp_path_factory.mktemp("program")
    path = directory / "random_keras.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("shapelang_differential_program", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        _BUILT["count"] += 1
        if _BUILT["count"] % 50 == 0:  # layer names are explicit; this only frees memory
            keras.backend.clear_session()
        model = module.build_model()
        problems = differences(analysis, model)
        assert not problems, "\n".join([text, *problems])
        if _BUILT["count"] % 25 == 1:  # the program's own entry point, for a sample
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                assert module.main(["summary"]) == 0
            assert f"{int(analysis.total('params')):,}" in output.getvalue()
    finally:
        del sys.modules[spec.name]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=networks(HOSTILE))
def test_random_networks_with_hostile_names_are_the_analysed_network(text, tmp_path_factory):
    assert_program_is_the_analysis(text, tmp_path_factory)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=networks(ORDINARY))
def test_random_networks_with_ordinary_names_are_the_analysed_network(text, tmp_path_factory):
    assert_program_is_the_analysis(text, tmp_path_factory)


# ---- sequence networks (random_sequence_networks.py) -----------------------------------------
SEQUENCE_EXAMPLES = int(os.environ.get("SHAPELANG_DIFFERENTIAL_EXAMPLES", "0")) or examples(40)


def assert_sequence_program_is_the_analysis(text, tmp_path_factory):
    """As `assert_program_is_the_analysis`, but every sequence network is drawn to check
    cleanly: an error is a finding, not a network to skip."""
    net = shapelang.loads(text, "seq_random.net")
    problems = [d for d in net.check() if d.severity == "error" or d.code == "SL308"]
    assert not problems, "\n".join([text, *map(str, problems)])
    analysis = net.analyse().analysis
    for structures in (STRUCTURES, STRUCTURES[-1:]):
        _assert_built_is_analysed(text, analysis, emit_keras(analysis, structures),
                                  tmp_path_factory)


@pytest.mark.parametrize("pool", sorted(SEQUENCE_POOLS))
def test_random_sequence_networks_are_the_analysed_network(pool, tmp_path_factory):
    @settings(max_examples=SEQUENCE_EXAMPLES, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(text=sequence_networks(SEQUENCE_POOLS[pool]))
    def check(text):
        assert_sequence_program_is_the_analysis(text, tmp_path_factory)

    check()

