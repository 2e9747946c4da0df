"""Golden files: the whole `table` output of every example (torchinfo-style). Regenerate with
SHAPELANG_REGOLD=1 after a deliberate change, and review the diff."""
import os

import pytest
from conftest import EXAMPLES, ROOT

GOLDEN = ROOT / "tests" / "golden"
CASES = [(p, fmt) for p in sorted(EXAMPLES.glob("*.net")) for fmt in ("text", "json")]


@pytest.mark.parametrize("path, fmt", CASES, ids=[f"{p.stem}-{f}" for p, f in CASES])
def test_table_golden(path, fmt, run_cli, monkeypatch):
    monkeypatch.chdir(ROOT)  # paths as the README writes them, from any working directory
    code, out, err = run_cli("table", path.relative_to(ROOT), "--format", fmt)
    assert code == 0, err
    golden = GOLDEN / f"{path.stem}.{ 'txt' if fmt == 'text' else 'json'}"
    if os.environ.get("SHAPELANG_REGOLD"):
        golden.write_text(out)
    assert out == golden.read_text()


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.net")), ids=lambda p: p.stem)
def test_solve_golden(path, run_cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = run_cli("solve", path.relative_to(ROOT))
    assert code == 0, err
    golden = GOLDEN / f"{path.stem}.solve.txt"
    if os.environ.get("SHAPELANG_REGOLD"):
        golden.write_text(out)
    assert out == golden.read_text()
