"""No user text becomes code: not through expressions, labels or parameter names."""
import ast
import json
import subprocess
from pathlib import Path

import pytest
from conftest import PYTHON, ROOT, python_env

PAYLOAD = "__import__('os').system('touch PWNED')"
FILES = {
    "expression": f"network x():\n    input [8]\n    dense {PAYLOAD}\n",
    "label": f"network x():\n    input [8]\n    {PAYLOAD}: dense 3\n",
    "parameter": f"network x({PAYLOAD} = 1):\n    input [8]\n    dense 3\n",
    "option": f"network x():\n    input [8, 8, 1]\n    conv 3 k={PAYLOAD}\n",
    "let": f"network x():\n    let n = {PAYLOAD}\n    input [8]\n    dense n\n",
}


def test_payloads_are_syntax_errors_and_run_nothing(tmp_path):
    """One `shapelang check` process over every payload file: each is a syntax error."""
    paths = []
    for where, text in sorted(FILES.items()):
        paths.append(tmp_path / f"{where}.net")
        paths[-1].write_text(text)
    result = subprocess.run([PYTHON, "-m", "shapelang.cli", "check", "--format", "json",
                             *map(str, paths)], check=False, capture_output=True, text=True,
                            cwd=tmp_path, env=python_env())
    assert result.returncode == 1 and "Traceback" not in result.stderr
    codes = {}
    for d in json.loads(result.stdout):
        codes.setdefault(Path(d["file"]).stem, []).append(d["code"])
    assert {where: [c[:4] for c in found] for where, found in codes.items()} == {
        where: ["SL10"] for where in FILES}
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("command", ["table", "solve", "keras", "torch"])
def test_payloads_run_nothing_through_other_commands(tmp_path, monkeypatch, run_cli, command):
    monkeypatch.chdir(tmp_path)
    for where, text in sorted(FILES.items()):
        path = tmp_path / f"{where}.net"
        path.write_text(text)
        code, out, err = run_cli(command, path)
        assert code == 1 and "error[SL10" in err and out == "", (where, out, err)
    assert not (tmp_path / "PWNED").exists()


FORBIDDEN = {"eval", "exec", "sympify", "parse_expr", "lambdify", "S"}
FORBIDDEN_BUILTINS = FORBIDDEN | {"compile", "__import__"}  # as bare names (not model.compile)


def test_package_calls_no_code_from_text():
    """A static check of every module: no call of eval/exec/sympify/parse_expr/lambdify."""
    offenders = []
    for path in sorted((ROOT / "shapelang").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Name):
                    name, forbidden = f.id, FORBIDDEN_BUILTINS
                elif isinstance(f, ast.Attribute):
                    name, forbidden = f.attr, FORBIDDEN
                else:
                    continue
                if name in forbidden:
                    offenders.append(f"{Path(path).relative_to(ROOT)}:{node.lineno} {name}()")
    assert offenders == []
