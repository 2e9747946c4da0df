"""Any input, bounded: every hostile file of tests/hostile/, hostile `--set` values, files too
large to read and generated deep expressions and block graphs go through `check`, `table` and
`solve` in this process, each within 10 s, with exit 0 or 1 and never a traceback.

Each file's first line says what `check` must find: `# expect: SL217 — …` or `# expect: clean`.
"""
import json
import os
import re
import time

import pytest
from conftest import EXAMPLES, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HOSTILE = ROOT / "tests" / "hostile"
CASES = sorted(HOSTILE.glob("*.net"))
HEADER = re.compile(r"# expect: (SL\d{3}|clean)")
BOUND_SECONDS = 10
# Few examples by default; SHAPELANG_HOSTILE_EXAMPLES=500 for a long search.
FAST = settings(max_examples=int(os.environ.get("SHAPELANG_HOSTILE_EXAMPLES", "25")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def run_bounded(run_cli, *args):
    """One command in this process: within the bound, exit 0 or 1, no traceback."""
    start = time.monotonic()
    code, out, err = run_cli(*args)
    elapsed = time.monotonic() - start
    assert elapsed < BOUND_SECONDS, (args, elapsed)
    assert code in (0, 1), (args, code, out[-2000:], err[-2000:])
    assert "Traceback" not in out + err and "internal error" not in out + err, err[-2000:]
    return code, out, err


def expected_of(path):
    first = path.read_bytes().decode("utf-8", errors="replace").splitlines()[0]
    return HEADER.search(first).group(1)


def error_codes(out: str) -> set[str]:
    return {d["code"] for d in json.loads(out) if d["severity"] == "error"}


def test_every_case_says_what_it_expects():
    assert len(CASES) >= 40
    assert all(expected_of(p) for p in CASES)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_hostile_file(run_cli, path):
    expected = expected_of(path)
    code, out, _ = run_bounded(run_cli, "check", "--format", "json", path)
    if expected == "clean":
        assert (code, error_codes(out)) == (0, set())
    else:
        assert code == 1 and expected in error_codes(out)
    for command in ("table", "solve"):
        code, _, err = run_bounded(run_cli, command, path)
        assert code == (0 if expected == "clean" else 1)
        if expected != "clean":
            assert f"[{expected}]" in err


def test_solve_is_undecided_where_its_unbound_reanalysis_hits_a_limit(run_cli):
    """45 stride-2 pools: bound, the network is fine; with H unbound the closed form nests
    past the limit, and solve must not report the partial walk's domain as the answer."""
    code, out, _ = run_bounded(run_cli, "solve", HOSTILE / "pools_bound_45.net")
    assert code == 0
    assert "rows (H): undecided" in out and "valid for H ≥" not in out


HOSTILE_SET_VALUES = [
    ("1e10000000000", "SL213"), ("1e-10000000000", "SL213"), ("1e61", "SL213"),
    ("9" * 5000, "SL213"), ("1e5/1e-70", "SL213"), ("-1", "SL209"), ("0", "SL209"),
    ("1/3", "SL205"), ("0.5", "SL205"), ("1e59", None),
    ("1e60", "SL209"),  # the input is within the limit, its dense layer's 4·10^60 MACs not
]


@pytest.mark.parametrize(("value", "code"), HOSTILE_SET_VALUES,
                         ids=[v[:16] for v, _ in HOSTILE_SET_VALUES])
def test_hostile_set_values(run_cli, tmp_path, value, code):
    path = tmp_path / "sized.net"
    path.write_text("network sized(H):\n    input [H]\n    dense 4\n")
    exit_code, out, _ = run_bounded(run_cli, "check", "--format", "json", path,
                                    "--set", f"H={value}")
    found = [d for d in json.loads(out) if d["severity"] == "error"]
    if code is None:
        assert exit_code == 0 and not found
    else:  # one error: nothing cascades from a value that was refused
        assert exit_code == 1 and [d["code"] for d in found] == [code]
    for command in ("table", "solve"):
        run_bounded(run_cli, command, path, "--set", f"H={value}")


def test_set_past_the_limits_on_an_example_reports_one_error(run_cli):
    code, out, _ = run_bounded(run_cli, "check", "--format", "json", EXAMPLES / "alexnet.net",
                               "--set", "H=1e10000000000")
    assert code == 1 and [d["code"] for d in json.loads(out)] == ["SL213"]
    assert "10^60" in json.loads(out)[0]["message"]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_is_a_file_too_large(run_cli):
    code, out, _ = run_bounded(run_cli, "check", "--format", "json", "/dev/zero")
    assert code == 1 and error_codes(out) == {"SL105"}
    for command in ("table", "solve"):
        assert run_bounded(run_cli, command, "/dev/zero")[0] == 1


def test_a_file_past_the_size_limit(run_cli, tmp_path):
    from shapelang import limits

    path = tmp_path / "big.net"
    line = "    dense 4\n"
    path.write_text("network big:\n    input [4]\n" + line * (limits.MAX_FILE_BYTES // len(line)))
    assert path.stat().st_size > limits.MAX_FILE_BYTES
    code, out, _ = run_bounded(run_cli, "check", "--format", "json", path)
    assert code == 1 and error_codes(out) == {"SL105"}


def test_the_time_limit_stops_an_analysis(run_cli, monkeypatch):
    """The backstop for what the other limits cannot price: past it, SL217, not a hang."""
    from shapelang import limits

    monkeypatch.setattr(limits, "MAX_ANALYSIS_SECONDS", 0.0)
    code, out, _ = run_bounded(run_cli, "check", "--format", "json", EXAMPLES / "alexnet.net")
    found = json.loads(out)
    assert code == 1 and [d["code"] for d in found] == ["SL217"]
    assert "longer than shapelang's limit of 0 seconds" in found[0]["message"]


# ---- generated deep and huge expressions --------------------------------------------------------
LEAVES = st.one_of(
    st.integers(0, 10**6).map(str),
    st.sampled_from(["H", "W", "1e-3", "0.5", "2", "64", "1e70", "9" * 80, "1e10000000000",
                     "1e-99"]),
)


def _grow(children):
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*", "/", "//", "%", "**"]),
                  children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["floor", "ceil", "abs", "roundeven", "round"]),
                  children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["min", "max"]),
                  st.lists(children, min_size=1, max_size=6)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"),
        children.map(lambda c: f"(-{c})"),
    )


RANDOM_EXPRESSIONS = st.recursive(LEAVES, _grow, max_leaves=80)


@st.composite
def deep_expression(draw):
    """Chains and nestings far past the limits, or random trees of every operator."""
    n = draw(st.integers(1, 3000))
    atom = draw(LEAVES)
    shape = draw(st.sampled_from(["sum", "brackets", "power", "calls", "minus", "random"]))
    if shape == "sum":
        return "(" + " + ".join([atom] * n) + ")"
    if shape == "brackets":
        return "(1 + " * n + atom + ")" * n
    if shape == "power":
        return "(" + f"{atom} ** " * min(n, 500) + "2)"
    if shape == "calls":
        return "floor(" * n + atom + ")" * n
    if shape == "minus":
        return "(" + "-" * n + atom + ")"
    return draw(RANDOM_EXPRESSIONS)


@st.composite
def let_chain(draw):
    """`let a1 = a0 OP a0`, … : values and closed forms that double at every line."""
    op = draw(st.sampled_from(["+", "*", "**"]))
    start = draw(st.sampled_from(["H", "H + 1", "2", "2 ** 64", "W * H"]))
    lines = [f"    let a0 = {start}"]
    for i in range(1, draw(st.integers(1, 40))):
        right = "2" if op == "**" else f"a{i - 1}"
        lines.append(f"    let a{i} = (a{i - 1} {op} {right})")
    return "\n".join(lines) + "\n", f"a{len(lines) - 1}"


@FAST
@given(expression=deep_expression(), where=st.sampled_from(["dense", "default", "repeat",
                                                             "option", "let"]))
def test_deep_and_huge_expressions_are_bounded(run_cli, tmp_path, expression, where):
    body = {
        "dense": f"    input [H, W]\n    flatten\n    dense {expression}\n",
        "default": "    input [H, W]\n    flatten\n    dense K\n",
        "repeat": f"    input [H, W]\n    flatten\n    repeat {expression}:\n        dense 4\n",
        "option": f"    input [H, W, 3]\n    batchnorm epsilon={expression}\n",
        "let": f"    let e = {expression}\n    input [H, W]\n    flatten\n    dense (e + 1)\n",
    }[where]
    parameters = f"H, W, K = {expression}" if where == "default" else "H = 8, W"
    path = tmp_path / "deep.net"
    path.write_text(f"network deep({parameters}):\n{body}")
    for command in ("check", "table", "solve"):
        run_bounded(run_cli, command, path)


@FAST
@given(chain=let_chain())
def test_let_chains_that_double_are_bounded(run_cli, tmp_path, chain):
    lets, last = chain
    path = tmp_path / "chain.net"
    path.write_text(f"network chain(H, W = 3):\n{lets}    input [H]\n    dense ({last} % 5 + 1)\n")
    for command in ("check", "table", "solve"):
        run_bounded(run_cli, command, path)


# ---- generated block graphs ----------------------------------------------------------------------
@st.composite
def block_graph(draw):
    """Blocks whose lines are layers, uses of any block (itself included) and repeats, nested;
    returns the text and, where no block uses itself, the layers the network unrolls to."""
    count = draw(st.integers(1, 8))
    repeat_counts = st.sampled_from([1, 2, 3, 7, 1000, 10**6, 10**9])

    def lines(depth):
        kinds = ["relu", "dense", "use", "use"] + (["repeat"] if depth < 3 else [])
        out = []
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(kinds))
            if kind in ("relu", "dense"):
                out.append(("layer", "relu" if kind == "relu" else "dense 4"))
            elif kind == "use":
                out.append(("use", draw(st.integers(0, count - 1))))
            else:
                out.append(("repeat", draw(repeat_counts), lines(depth + 1)))
        return out

    blocks = [lines(0) for _ in range(count)]
    network = lines(0)
    return blocks, network


def _text(blocks, network):
    def write(items, indent):
        text = ""
        for item in items:
            if item[0] == "layer":
                text += " " * indent + item[1] + "\n"
            elif item[0] == "use":
                text += " " * indent + f"b{item[1]}\n"
            else:
                text += " " * indent + f"repeat {item[1]}:\n" + write(item[2], indent + 4)
        return text

    out = "".join(f"block b{i}:\n" + write(body, 4) for i, body in enumerate(blocks))
    return out + "network graph:\n    input [4]\n" + write(network, 4) + "    dense 2\n"


def _layers(blocks, network):
    """The layers the network unrolls to, counted from the generated structure itself; None
    when some block uses itself (an error even when the network does not use it)."""
    sizes: dict[int, int | None] = {}
    visiting: set[int] = set()

    def size(items):
        total = 0
        for item in items:
            if item[0] == "layer":
                total += 1
            elif item[0] == "use":
                inner = block(item[1])
                if inner is None:
                    return None
                total += inner
            else:
                inner = size(item[2])
                if inner is None:
                    return None
                total += item[1] * inner
        return total

    def block(i):
        if i in visiting:
            return None
        if i not in sizes:
            visiting.add(i)
            sizes[i] = size(blocks[i])
            visiting.discard(i)
        return sizes[i]

    if any(block(i) is None for i in range(len(blocks))):
        return None
    return size(network) + 2  # the input and the last dense


@FAST
@given(graph=block_graph())
def test_block_graphs_are_bounded_and_counted_exactly(run_cli, tmp_path, graph):
    from shapelang import limits
    from shapelang.analysis import analyse
    from shapelang.parser import parse

    blocks, network = graph
    path = tmp_path / "graph.net"
    path.write_text(_text(blocks, network))
    code, out, _ = run_bounded(run_cli, "check", "--format", "json", path)
    run_bounded(run_cli, "table", path)
    expected = _layers(blocks, network)
    codes = error_codes(out)
    if expected is None:
        assert code == 1 and "SL216" in codes
    elif expected > limits.MAX_LAYERS:
        assert code == 1 and "SL217" in codes
    else:
        analysis = analyse(parse(path.read_text(), str(path)))
        assert analysis.complete and len(analysis.layers) == expected
