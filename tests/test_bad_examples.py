"""Each file in examples/bad/ triggers one diagnostic; its first line records which and where:
`# expect: SL301 at 6:5 — …`. Tests assert the code and position, not the wording."""
import re

import pytest
from conftest import EXAMPLES

BAD = sorted((EXAMPLES / "bad").glob("*.net"))
HEADER = re.compile(r"# expect: (SL\d{3}) at (\d+):(\d+)")


def test_there_is_a_bad_example_for_most_codes():
    from shapelang.diagnostics import CODES

    covered = {HEADER.match(p.read_text()).group(1) for p in BAD}
    cli_only = {"SL213"}  # --set of an unknown parameter: tested in test_cli
    assert {c for c in CODES if c < "SL500"} - covered - cli_only == set()


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_example(path, run_cli):
    code, line, col = HEADER.match(path.read_text()).groups()
    exit_code, out, _ = run_cli("check", "--strict", "--format", "json", path)
    import json

    found = [(d["code"], d["line"], d["col"]) for d in json.loads(out)]
    assert found == [(code, int(line), int(col))]
    severity = json.loads(out)[0]["severity"]
    assert exit_code == (0 if severity == "note" else 1)
    # and the text form shows the source line with a caret under the span
    _, text, _ = run_cli("check", path)
    assert f"{path}:{line}:{col}: " in text and "^" in text
