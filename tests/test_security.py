"""No user text becomes code: not through expressions, labels or parameter names."""
import ast
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


@pytest.mark.parametrize("where", sorted(FILES))
@pytest.mark.parametrize("command", ["check", "table", "solve", "keras"])
def test_payload_is_a_syntax_error_and_runs_nothing(tmp_path, where, command):
    path = tmp_path / "evil.net"
    path.write_text(FILES[where])
    result = subprocess.run([PYTHON, "-m", "shapelang.cli", command, str(path)],
                            check=False, capture_output=True, text=True, cwd=tmp_path, env=python_env())
    assert result.returncode == 1
    assert "error[SL10" in result.stdout + result.stderr
    assert not (tmp_path / "PWNED").exists()
    assert "Traceback" not in result.stderr


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
