"""Any input, bounded: every hostile file of tests/hostile/ through `table --depth`, `diff`
(of the file with itself: two analyses) and `draw` (DOT and Mermaid), in this process, each
within the bound of tests/test_hostile.py (twice it for diff), exit 0 or 1, no traceback."""
import time

import pytest
from test_hostile import BOUND_SECONDS, CASES


def run_bounded(run_cli, *args, bound=BOUND_SECONDS):
    start = time.monotonic()
    code, out, err = run_cli(*args)
    assert time.monotonic() - start < bound, args
    assert code in (0, 1), (args, code, err[-2000:])
    assert "Traceback" not in out + err and "internal error" not in out + err, err[-2000:]
    return code


@pytest.mark.slow
@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_views_of_hostile_files(run_cli, path):
    codes = {run_bounded(run_cli, "table", path, "--depth", "1"),
             run_bounded(run_cli, "diff", path, path, "--format", "json",
                         bound=2 * BOUND_SECONDS),
             run_bounded(run_cli, "draw", path, "--format", "dot", "--depth", "2"),
             run_bounded(run_cli, "draw", path, "--format", "mermaid")}
    assert codes <= {0, 1}
