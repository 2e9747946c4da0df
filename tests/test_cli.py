"""The command line: exit codes, formats, --set, and the JSON contract of DESIGN.md."""
import csv
import io
import json

import pytest
from conftest import EXAMPLES

ALEXNET = EXAMPLES / "alexnet.net"
ADAPTED = EXAMPLES / "alexnet_adapted.net"


def test_clean_file_exits_0(run_cli):
    code, out, _ = run_cli("check", ALEXNET)
    assert code == 0 and "0 errors, 0 warnings" in out


def test_warnings_pass_unless_strict(run_cli):
    assert run_cli("check", ADAPTED)[0] == 0
    code, out, _ = run_cli("check", "--strict", ADAPTED)
    assert code == 1 and "warning[SL305]" in out


def test_all_files_all_problems(run_cli):
    bad = sorted((EXAMPLES / "bad").glob("*.net"))
    code, out, _ = run_cli("check", "--format", "json", ALEXNET, *bad)
    found = json.loads(out)
    assert code == 1
    assert {d["file"] for d in found} == {str(p) for p in bad}


def test_set_binds_and_expect_fails_with_actual_value(run_cli):
    code, out, _ = run_cli("check", ALEXNET, "--set", "H=270", "--set", "W=480",
                           "--set", "classes=29")
    assert code == 1
    assert "error[SL401]: expect params == 62378344 failed: params is 116071837" in out


def test_set_unknown_parameter(run_cli):
    code, out, _ = run_cli("check", ALEXNET, "--set", "Height=270")
    assert code == 1 and "SL213" in out and "did you mean `H`?" not in out  # not close enough
    code, out, _ = run_cli("check", ALEXNET, "--set", "clases=2")
    assert code == 1 and "did you mean `classes`?" in out


@pytest.mark.parametrize("args", [
    ("check", "no/such/file.net"),
    ("check", ALEXNET, "--set", "H"),
    ("check", ALEXNET, "--set", "H=abc"),
    ("check", EXAMPLES.parent / "grammar"),  # a directory without .net files
    ("table",),
    ("table", ALEXNET, "--format", "xml"),
    ("frobnicate",),
])
def test_usage_and_file_errors_exit_2(run_cli, args):
    code, out, err = run_cli(*args)
    assert code == 2
    assert "Traceback" not in out + err


def test_github_format_escapes():
    from shapelang.diagnostics import Diagnostic, render_github
    from shapelang.ir import Span

    d = Diagnostic("SL401", "error", "100% wrong:\nsee, here", Span("a,b:c.net", 3, 5, 3, 9),
                   None)
    assert render_github(d) == (
        "::error file=a%2Cb%3Ac.net,line=3,col=5,endLine=3,endColumn=9,"
        "title=shapelang SL401::[SL401] 100%25 wrong:%0Asee, here")


def test_github_format_is_chosen_under_github_actions(run_cli, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, out, _ = run_cli("check", ADAPTED)
    assert code == 0 and out.startswith("::warning file=")


def test_table_json_contract(run_cli):
    code, out, _ = run_cli("table", ADAPTED, "--format", "json")
    doc = json.loads(out)
    assert code == 0
    assert doc["network"] == "alexnet_adapted"
    assert doc["bindings"] == {"H": 270, "W": 480, "classes": 29}
    first = doc["layers"][1]
    assert first == {"index": 1, "name": "conv1", "op": "conv", "line": 9, "inputs": ["input"],
                     "shape": [65, 118, 96], "size": 65 * 118 * 96, "params": 34944,
                     "trainable": 34944, "non_trainable": 0, "macs": 65 * 118 * 96 * 11 * 11 * 3,
                     "padding": [[0, 0], [0, 0]]}
    assert doc["layers"][0]["op"] == "input" and doc["layers"][0]["shape"] == [270, 480, 3]
    dense = [layer["params"] for layer in doc["layers"] if layer["op"] == "dense"]
    assert dense[0] == 95_424_512 and dense[-1] == 118_813
    assert doc["total"]["params"] == 116_071_837
    assert doc["total"]["params"] == sum(layer["params"] for layer in doc["layers"])
    assert doc["total"]["macs"] == sum(layer["macs"] for layer in doc["layers"])


def test_table_json_symbolic_is_strings(run_cli):
    _code, out, _ = run_cli("table", EXAMPLES / "alexnet_symbolic.net", "--format", "json")
    doc = json.loads(out)
    assert doc["symbols"] == ["H", "W"]
    assert doc["layers"][1]["shape"] == ["floor((H - 11)/4) + 1", "floor((W - 11)/4) + 1", 96]
    assert doc["layers"][1]["params"] == 34944


def test_table_csv_adds_up(run_cli):
    _, out, _ = run_cli("table", EXAMPLES / "lenet.net", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    total = rows.pop()
    assert total["name"] == "total"
    assert sum(int(r["params"]) for r in rows) == int(total["params"]) == 62_958


def test_table_markdown(run_cli):
    _, out, _ = run_cli("table", EXAMPLES / "lenet.net", "--format", "markdown")
    assert "| 1 | conv1 | conv | [28, 28, 8] | 6,272 | 608 |" in out


def test_table_of_a_broken_file_reports_and_exits_1(run_cli):
    code, out, err = run_cli("table", EXAMPLES / "bad" / "dense_on_tensor.net")
    assert code == 1 and out == "" and "SL301" in err


def test_solve_symbolic(run_cli):
    code, out, _ = run_cli("solve", EXAMPLES / "alexnet_symbolic.net")
    assert code == 0
    assert "valid for H ≥ 67" in out and "valid for W ≥ 67" in out
    assert "H ≡ 3 (mod 32)" in out and "W ≡ 3 (mod 32)" in out


def test_solve_bound_gives_nearest_exact(run_cli):
    _, out, _ = run_cli("solve", ADAPTED)
    assert "270 is not exact; nearest exact: 259, 291" in out


def test_check_does_not_import_tensorflow():
    import subprocess

    from conftest import PYTHON, python_env

    code = ("import sys; from shapelang.cli import main; "
            "main(['check', 'examples/alexnet.net']); main(['table', 'examples/alexnet.net']); "
            "main(['solve', 'examples/alexnet_symbolic.net']); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
            "print('IMPORTED', bad)")
    out = subprocess.run([PYTHON, "-c", code], check=False, capture_output=True, text=True,
                         env=python_env(), cwd=EXAMPLES.parent).stdout
    assert "IMPORTED []" in out
