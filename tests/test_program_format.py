"""Random networks, hostile names included (the differential tests' generators): every program
`shapelang keras` and `shapelang torch` writes parses and is as `ruff format` writes it (running
it changes nothing)."""
import os
import subprocess

import pytest
from conftest import PYTHON
from hypothesis import HealthCheck, assume, given, settings
from random_networks import HOSTILE, ORDINARY, networks, torch_networks

import shapelang
from shapelang.codegen.frame import LINE_LENGTH

EXAMPLES = int(os.environ.get("SHAPELANG_FORMAT_EXAMPLES", "25"))


def _assert_ruff_format_changes_nothing(source):
    result = subprocess.run(
        [PYTHON, "-m", "ruff", "format", "--isolated", "--line-length", str(LINE_LENGTH), "-"],
        input=source, check=False, capture_output=True, text=True)  # fmt: skip
    if "No module named ruff" in result.stderr:
        pytest.skip("ruff is not installed (it comes with the `test` extra)")
    assert result.returncode == 0, result.stderr
    assert result.stdout == source


SOURCES = {  # backend: (the program's text, the generators whose networks it is tested on)
    "keras": (lambda net: net.keras_source(), [networks]),
    "torch": (lambda net: net.torch_source(), [networks, torch_networks]),
}
CASES = [(backend, generator) for backend, (_, generators) in SOURCES.items()
         for generator in generators]


@pytest.mark.parametrize(("backend", "generator"), CASES,
                         ids=[f"{b}-{g.__name__}" for b, g in CASES])
@pytest.mark.parametrize("pool", [HOSTILE, ORDINARY], ids=["hostile", "ordinary"])
def test_random_programs_are_ruff_format_stable(pool, backend, generator):
    source = SOURCES[backend][0]

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(text=generator(pool))
    def check(text):
        net = shapelang.loads(text, "random.net")
        assume(not any(d.severity == "error" for d in net.check()))
        _assert_ruff_format_changes_nothing(source(net))

    check()
