"""Random networks, hostile names included (the differential test's generator): every program
`shapelang keras` writes parses and is as `ruff format` writes it (running it changes nothing)."""
import os
import subprocess

import pytest
from conftest import PYTHON
from hypothesis import HealthCheck, assume, given, settings

import shapelang
from shapelang.codegen.frame import LINE_LENGTH

EXAMPLES = int(os.environ.get("SHAPELANG_FORMAT_EXAMPLES", "25"))

pytest.importorskip("keras")  # the generator below lives in the Keras differential test
from test_differential import HOSTILE, ORDINARY, networks


def _assert_ruff_format_changes_nothing(source):
    result = subprocess.run(
        [PYTHON, "-m", "ruff", "format", "--isolated", "--line-length", str(LINE_LENGTH), "-"],
        input=source, check=False, capture_output=True, text=True)  # fmt: skip
    if "No module named ruff" in result.stderr:
        pytest.skip("ruff is not installed (it comes with the `test` extra)")
    assert result.returncode == 0, result.stderr
    assert result.stdout == source


@pytest.mark.parametrize("pool", [HOSTILE, ORDINARY], ids=["hostile", "ordinary"])
def test_random_programs_are_ruff_format_stable(pool):
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(text=networks(pool))
    def check(text):
        net = shapelang.loads(text, "random.net")
        assume(not any(d.severity == "error" for d in net.check()))
        _assert_ruff_format_changes_nothing(net.keras_source())

    check()
