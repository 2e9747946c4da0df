"""The analysis's claims against independent truth: rows a sliding window leaves unread, exact
input sizes and least valid sizes, merges and reshapes of symbolic sizes — each compared with a
brute-force simulation of the windows on plain integers — and the issue's reproducers."""
import json
import random
import re
import time

import pytest
from conftest import EXAMPLES

import shapelang
from shapelang.analysis import analyse
from shapelang.solve import domains


# ---- the brute force: windows simulated on integers, nothing from shapelang ----------------
def tf_padding(n, k_eff, s):
    """TensorFlow's `same` (tensorflow/core/framework/kernel_shape_util.cc): output ceil(n/s),
    total padding max((out − 1)·s + k_eff − n, 0), the smaller half before."""
    out = -(-n // s)
    total = max((out - 1) * s + k_eff - n, 0)
    return total // 2, total - total // 2


def slide(n, k, s, d, padding, rows=True):
    """Slide a k-wide window (dilation d, stride s) over n rows padded as `padding` says
    ('valid', 'same' or P on each side). Returns (windows, the set of input rows read — None
    unless `rows` —, rows after the last window's reach), or None when no window fits."""
    k_eff = d * (k - 1) + 1
    if padding == "same":
        before, after = tf_padding(n, k_eff, s)
    else:
        before = after = 0 if padding == "valid" else padding
    starts = range(0, n + before + after - k_eff + 1, s)
    if not starts:
        return None
    read = ({start + j * d - before for start in starts for j in range(k)} & set(range(n))
            if rows else None)
    reach = starts[-1] + (k - 1) * d - before  # the last input position the last window reads
    return len(starts), read, max(n - 1 - reach, 0)


def chain_sizes(n, layers):
    """Sizes through a chain of windowed layers: (sizes, every layer reads to its input's
    end), or None when a window does not fit somewhere."""
    exact = True
    for k, s, d, padding, *_ in layers:
        slid = slide(n, k, s, d, padding, rows=False)
        if slid is None:
            return None
        n, _, unread = slid
        exact = exact and unread == 0
    return n, exact


# ---- helpers ----------------------------------------------------------------------------------
def network(body: str, params: str = "", name: str = "t"):
    lines = "".join(f"    {line}\n" for line in body.strip().splitlines())
    return shapelang.loads(f"network {name}({params}):\n{lines}").ir


def layer_text(k, s, d, padding, op="conv 1"):
    pad = "" if padding == "valid" else f" pad={padding}"
    dilation = f" d={d}" if d > 1 else ""
    return f"{op} k={k} s={s}{dilation}{pad}"


def write(tmp_path, text, name="t.net"):
    path = tmp_path / name
    path.write_text(text)
    return path


def codes(analysis, severity=None):
    return [d.code for d in analysis.diagnostics if severity in (None, d.severity)]


def matches(condition: str, name: str, value: int) -> bool:
    """Whether `value` satisfies a condition as shapelang writes it:
    "H ≡ 0, 3–5 (mod 8) or H ∈ {1, 9–11}" or "H = 1"."""
    def among(items, v):
        for item in items.split(", "):
            low, _, high = item.partition("–")
            if int(low) <= v <= int(high or low):
                return True
        return False

    for part in condition.split(" or "):
        point = re.fullmatch(rf"{name} = (\d+)", part)
        points = re.fullmatch(rf"{name} ∈ {{(.+)}}", part)
        classes = re.fullmatch(rf"{name} ≡ (.+) \(mod (\d+)\)", part)
        assert point or points or classes, f"unreadable condition part {part!r}"
        if point and value == int(point.group(1)):
            return True
        if points and among(points.group(1), value):
            return True
        if classes and among(classes.group(1), value % int(classes.group(2))):
            return True
    return False


# ---- claim 1: the dropped-rows rule, every windowed layer and padding mode ----------------------
WINDOWS = [(k, s, 1) for k in range(1, 8) for s in range(1, 5)] + [
    (k, 1, d) for k in range(2, 8) for d in (2, 3)]
MODES = ["valid", "same", 1, 2, 3]


@pytest.mark.parametrize("padding", MODES, ids=str)
def test_rows_left_unread_match_the_simulated_windows(padding):
    """Every kernel 1–7, stride 1–4, dilations, on 1 to 40 rows: the rows the analysis says a
    stride leaves unread are those after the last row the last window reaches."""
    checked = 0
    for n in range(1, 41):
        fits = [(i, w) for i, w in enumerate(WINDOWS) if slide(n, *w, padding)]
        body = [f"input [{n}, 1]"] + [f"w{i}: {layer_text(*w, padding)} @input" for i, w in fits]
        result = analyse(network("\n".join(body)), checks=False)
        assert result.ok
        unread = {r.name: r.unread for r in result.remainders}
        for i, (k, s, d) in fits:
            _, read, expected = slide(n, k, s, d, padding)
            assert unread.get(f"w{i}", 0) == expected, (n, k, s, d, padding)
            if d == 1 and k >= s and padding in ("valid", "same") and read:
                # dense windows: the rows not read are exactly the last `expected` ones
                assert read == set(range(n - expected)), (n, k, s, d, padding)
            checked += 1
        for i, w in enumerate(WINDOWS):  # no window fits: an error, not a size
            if (i, w) not in fits:
                alone = analyse(network(f"input [{n}, 1]\n{layer_text(*w, padding)}"))
                assert codes(alone, "error") == ["SL302"], (n, w, padding)
    assert checked > 1000


@pytest.mark.parametrize("k, s, padding, n, unread", [
    (1, 2, "same", 8, 1),  # the issue's reproducer: row 7 is never read, whatever the padding
    (1, 2, "valid", 8, 1),
    (1, 3, "same", 9, 2),
    (2, 3, "same", 8, 0),
    (11, 4, "valid", 270, 3),
    (3, 2, 1, 8, 0),  # the last unread position is padding
    (2, 4, 1, 10, 1),
])
def test_sl305_counts_the_rows_for_every_mode(k, s, padding, n, unread):
    assert slide(n, k, s, 1, padding)[2] == unread  # the table itself, against the simulation
    result = analyse(network(f"input [{n}, {n}, 2]\n{layer_text(k, s, 1, padding)}"))
    found = [d for d in result.diagnostics if d.code == "SL305"]
    if not unread:
        assert not found
        return
    (warning,) = found
    unit = "rows" if unread > 1 else "row"
    assert f"the last {unread} {unit}" in warning.message
    assert (warning.span.line, warning.severity) == (3, "warning")


@pytest.mark.parametrize("k, s, padding", [(k, s, p) for k in range(1, 8) for s in range(2, 5)
                                           for p in MODES])
def test_exact_sizes_of_one_window_match_the_simulation(k, s, padding):
    result = analyse(network(f"input [H, 1]\n{layer_text(k, s, 1, padding)}", "H"),
                     checks=False)
    domain = domains(result)["H"]
    valid = [n for n in range(1, 80) if slide(n, k, s, 1, padding)]
    assert domain.least == valid[0]
    for n in range(domain.least, 80):
        assert domain.is_exact(n) == (slide(n, k, s, 1, padding)[2] == 0), n


# ---- claim 5: composed congruences against brute force over random chains ------------------------
WINDOWED = ["conv 1", "maxpool", "avgpool", "depthwiseconv", "sepconv 1"]


def random_chain(rng, length):
    """Windowed layers of every kind: (kernel, stride, dilation, padding, op)."""
    layers = []
    for _ in range(length):
        k, s = rng.randint(1, 7), rng.randint(1, 4)
        d = rng.choice([1, 1, 2]) if s == 1 else 1
        op = rng.choice(WINDOWED) if d == 1 else "conv 1"
        layers.append((k, s, d, rng.choice(MODES), op))
    return layers


CHAINS = [random_chain(random.Random(seed), 1 + seed % 4) for seed in range(60)]


@pytest.mark.parametrize("layers", CHAINS, ids=[f"chain{i}" for i in range(len(CHAINS))])
def test_least_and_exact_sizes_of_random_chains(layers):
    body = "input [H, 1]\n" + "\n".join(layer_text(*layer) for layer in layers)
    result = analyse(network(body, "H"), checks=False)
    domain = domains(result).get("H")
    period = 1
    for _, s, *_ in layers:
        period *= s
    brute = {}
    n = 1
    while len(brute) < 3 * period + 10:  # every size from 1 until 3 periods past the least
        sized = chain_sizes(n, layers)
        if sized is not None or brute:
            brute[n] = sized
        n += 1
    least = min(brute)
    assert all(brute[n] is not None for n in brute), "valid sizes form an interval"
    if domain is None:  # nothing constrains H: every size valid and exact
        assert least == 1 and all(exact for _, exact in brute.values())
        return
    assert domain.least == least
    assert domain.exact_known and not domain.undecided
    for n, (_, exact) in brute.items():
        assert domain.is_exact(n) == exact, n


def test_solve_prints_the_composed_congruence(run_cli, tmp_path):
    # 4 + 2·3 windows: exact iff H ≡ 3 (mod 32) from 67 on (AlexNet's strides)
    code, out, _ = run_cli("solve", EXAMPLES / "alexnet_symbolic.net")
    assert code == 0 and "H ≡ 3 (mod 32)" in out
    layers = [(11, 4, 1, "valid"), (3, 2, 1, "valid"), (3, 2, 1, "valid"), (3, 2, 1, "valid")]
    exact = [n for n in range(67, 67 + 96) if chain_sizes(n, layers)[1]]
    assert exact == [67, 99, 131]


@pytest.mark.parametrize("count", [16, 24])
def test_deep_stride_chains_solve_in_well_under_10_seconds(count, run_cli, tmp_path):
    body = "".join("    conv 8 k=3 s=2\n" for _ in range(count))
    path = write(tmp_path, f"network deep(H, W):\n    input [H, W, 3]\n{body}")
    started = time.perf_counter()
    code, out, err = run_cli("solve", path)
    elapsed = time.perf_counter() - started
    assert code == 0, err
    assert elapsed < 10
    least, period = 2 ** (count + 1) - 1, 2**count
    # the brute force at the edges: least − 1 is too small, least works and is exact
    layers = [(3, 2, 1, "valid")] * count
    assert chain_sizes(least - 1, layers) is None and chain_sizes(least, layers)[1]
    assert not chain_sizes(least + 1, layers)[1] and chain_sizes(least + period, layers)[1]
    assert f"valid for H ≥ {least}" in out
    assert f"H ≡ {period - 1} (mod {period})" in out


def test_past_the_budget_exact_sizes_are_undecided_not_slow(run_cli, tmp_path):
    # 16 `same` stride-2 convs and then a valid pool: the exact sizes are 2^16 residues mod 2^17
    body = "".join("    conv 8 k=3 s=2 pad=same\n" for _ in range(16)) + "    maxpool k=2\n"
    path = write(tmp_path, f"network deep(H):\n    input [H, H, 3]\n{body}")
    started = time.perf_counter()
    code, out, _ = run_cli("solve", path)
    assert code == 0 and time.perf_counter() - started < 10
    assert "valid for H ≥ 65537" in out
    assert "exact (no stride leaves rows unread): undecided" in out


# ---- claim 2: merges decided exactly -------------------------------------------------------------
MERGES = [(random_chain(random.Random(1000 + seed), 1 + seed % 3),
           random_chain(random.Random(2000 + seed), 1 + seed // 3 % 3)) for seed in range(60)]
MERGES += [([(1, 2, 1, "valid")], [(1, 2, 1, "valid"), (1, 2, 1, "valid")]),  # the reproducer
           ([(3, 2, 1, "same")], [(2, 2, 1, "valid")]),  # even H only
           ([(3, 2, 1, 1)], [(1, 2, 1, "valid")]),  # torchvision's ResNet shortcut: always
           ([(3, 2, 1, "valid")], [(3, 1, 1, "valid"), (1, 2, 1, "valid")])]


def verdict_of(result):
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if not errors:
        assert "SL312" not in codes(result), "an undecided merge"
        return "always", None
    (error,) = errors
    if error.code == "SL309":
        return "never", None
    assert error.code == "SL310"
    return "sometimes", re.search(r"holds only when (.*?): `", error.message).group(1)


@pytest.mark.parametrize("a, b", MERGES, ids=[f"merge{i}" for i in range(len(MERGES))])
def test_merge_decision_matches_brute_force(a, b):
    body = ["input [H, 1]"]
    for label, layers in (("a", a), ("b", b)):
        for i, layer in enumerate(layers):
            source = " @input" if i == 0 else ""
            body.append(f"{label}{i}: {layer_text(*layer)}{source}")
    body.append(f"add @a{len(a) - 1} @b{len(b) - 1}")
    verdict, condition = verdict_of(analyse(network("\n".join(body), "H")))
    period = 1
    for _, s, *_ in a + b:
        period *= s
    equal = {}
    for n in range(1, 400 + 4 * period):
        sa, sb = chain_sizes(n, a), chain_sizes(n, b)
        if sa is not None and sb is not None:
            equal[n] = sa[0] == sb[0]
    assert equal, "some size is valid"
    if verdict == "always":
        assert all(equal.values())
    elif verdict == "never":
        assert not any(equal.values())
    else:
        assert any(equal.values()) and not all(equal.values())
        for n, same in equal.items():
            assert matches(condition, "H", n) == same, (n, condition)


def test_merge_that_cannot_hold_is_an_error(run_cli, tmp_path):
    path = write(tmp_path, "network m(H):\n    input [H, H, 3]\n    a: conv 8 k=1 s=2\n"
                 "    conv 8 k=1 s=2 @input\n    conv 8 k=1 s=2\n    add @a\n")
    code, out, _ = run_cli("check", path)
    assert code == 1 and "error[SL310]" in out and "H ∈ {1, 2}" in out
    assert out.count("SL310") == 1  # rows and columns: one diagnostic
    code, out, _ = run_cli("solve", path)
    assert code == 1 and "valid for H ≥ 1" not in out
    # the brute force: only 1 and 2 rows give equal branches
    one = [(1, 2, 1, "valid")]
    assert [h for h in range(1, 50) if chain_sizes(h, one)[0] == chain_sizes(h, one * 2)[0]] == [
        1, 2]


def test_undecided_merge_is_a_warning_strict_fails_and_solve_says_so(run_cli, tmp_path):
    # floor((H + 30000)/2^16) and floor(H/2^16): equal at every size tried, unequal for
    # H mod 65536 ≥ 35536 — too many classes for the budget, so undecided, not "always"
    pools = ["avgpool"] * 15
    lines = (["input [H, 1]", "zeropad 15000", *pools, "b: avgpool", "avgpool @input", *pools,
              "add @b"])
    path = write(tmp_path, "network u(H):\n" + "".join(f"    {line}\n" for line in lines))
    started = time.perf_counter()
    code, out, _ = run_cli("check", path)
    assert time.perf_counter() - started < 10
    assert code == 0 and "warning[SL312]" in out and "undecided" in out
    assert run_cli("check", "--strict", path)[0] == 1
    code, out, _ = run_cli("solve", path)
    assert code == 0 and "undecided within the budget" in out
    # the truth: they differ somewhere
    h, halvings = 65536 + 40000, [(2, 2, 1, "valid")] * 16
    assert chain_sizes(h + 30000, halvings)[0] != chain_sizes(h, halvings)[0]


# ---- claim 3: symbolic reshapes -----------------------------------------------------------------
def size(n, k, s, padding="valid"):
    slid = slide(n, k, s, 1, padding, rows=False)
    return slid and slid[0]


@pytest.mark.parametrize("body, count, known", [
    ("input [H, 3]\nreshape [2, -1]", lambda h: 3 * h, 2),
    ("input [H, 2]\nreshape [4, -1]", lambda h: 2 * h, 4),
    ("input [H, 6]\nreshape [3, -1]", lambda h: 6 * h, 3),
    ("input [H, 4]\nconv 1 k=3 s=2\nreshape [3, -1]", lambda h: size(h, 3, 2), 3),
    ("input [H, 5]\nmaxpool k=2\nreshape [5, -1]", lambda h: size(h, 2, 2) and 5 * size(h, 2, 2),
     5),
    ("input [H, 1]\nconv 2 k=1 s=2 pad=same\nreshape [4, -1]",
     lambda h: 2 * size(h, 1, 2, "same"), 4),
])
def test_reshape_infers_an_integer_for_every_value_or_says_when(body, count, known):
    result = analyse(network(body, "H"))
    errors = [d for d in result.diagnostics if d.severity == "error"]
    divides = {h: count(h) % known == 0 for h in range(1, 200) if count(h)}
    if not errors:
        assert all(divides.values())
        return
    (error,) = errors
    assert error.code == "SL311"
    assert any(divides.values()) and not all(divides.values())
    condition = re.search(r"an integer only when (.*)$", error.message).group(1)
    for h, ok in divides.items():
        assert matches(condition, "H", h) == ok, (h, condition)


@pytest.mark.parametrize("body, witness", [
    # 3·H·W/H² at H = 2, W = 1 is 3/2
    ("input [H, W, 3]\nreshape [H ** 2, -1]", (2 * 1 * 3, 2**2)),
    # 8·h·w/ceil(H/2) at H = 11, W = 3 is 40/6
    ("input [H, W, 3]\nconv 8 k=3 s=2\nreshape [ceil(H/2), -1]",
     (8 * size(11, 3, 2) * size(3, 3, 2), -(-11 // 2))),
])
def test_the_issues_reshapes_are_errors_stating_the_condition(body, witness, run_cli, tmp_path):
    path = write(tmp_path, "network r(H, W):\n" + "".join(f"    {line}\n"
                                                           for line in body.splitlines()))
    code, out, _ = run_cli("check", path)
    assert code == 1 and "error[SL311]" in out and "an integer only when" in out
    count, known = witness
    assert count % known != 0


def test_reshape_to_a_symbolic_size_that_always_divides_passes(run_cli, tmp_path):
    path = write(tmp_path, "network r(H, W):\n    input [2 * H, W, 3]\n    reshape [H, -1]\n")
    code, out, _ = run_cli("check", path)
    assert code == 0, out
    # 3·H·W/(2·ceil(H/2)) is not an integer at H = W = 1: stated, not passed
    path = write(tmp_path, "network r(H, W):\n    input [H, W, 3]\n"
                 "    reshape [ceil(H/2), 2, -1]\n", "odd.net")
    assert run_cli("check", path)[0] == 1


# ---- claim 4: solve with `same` pooling and an unbound size --------------------------------------
def test_solve_same_pooling_with_an_unbound_size(run_cli, tmp_path):
    path = write(tmp_path, "network p(H):\n    input [H, H, 3]\n    maxpool k=3 s=2 pad=same\n")
    code, out, err = run_cli("solve", path)
    assert code == 0 and "Traceback" not in err
    assert "n ≡ 0: (0, 1); n ≡ 1: (1, 1) (mod 2)" in out
    # k ≥ s: `same` reads every row of every size
    assert all(slide(n, 3, 2, 1, "same")[2] == 0 for n in range(1, 100))
    assert "exact (no stride leaves rows unread): every H" in out


# ---- claim 1 reproducer, and the folding of SL305 (first contact) ---------------------------------
SAME_K1 = """network same_k1(H = 8, W = 8):
    input [H, W, 4]
    a: conv 4 k=1 s=2 pad=same @input
    b: conv 4 k=1 s=2 @input
    concat @a @b
"""


def sl305(run_cli, path, *args):
    code, out, _ = run_cli("check", "--format", "json", path, *args)
    return code, [d for d in json.loads(out) if d["code"] == "SL305"], json.loads(out)


def test_same_padding_with_a_small_kernel_leaves_rows_unread(run_cli, tmp_path):
    path = write(tmp_path, SAME_K1)
    code, found, _ = sl305(run_cli, path)
    (warning,) = found
    assert code == 0 and warning["line"] == 3  # the `same` layer, first
    assert "1 later layer" in warning["message"] and "`b` (line 4)" in warning["message"]
    _, out, _ = run_cli("solve", path)
    assert "every H" not in out and "H ≡ 1 (mod 2)" in out
    assert [n for n in range(1, 20) if slide(n, 1, 2, 1, "same")[2] == 0] == list(range(1, 20,
                                                                                        2))


def test_padding_that_breaks_the_network_is_not_offered(run_cli, tmp_path):
    path = write(tmp_path, SAME_K1)
    _, (warning,), _ = sl305(run_cli, path)
    assert "pad=" not in warning["hint"]
    assert "H ≡ 1 (mod 2), nearest to 8: 7 or 9" in warning["hint"]
    # re-derived independently: pad=1 there reads every row but breaks the concat
    broken = write(tmp_path, SAME_K1.replace("pad=same", "pad=1"), "broken.net")
    code, _, everything = sl305(run_cli, broken)
    assert code == 1 and any(d["code"] == "SL309" for d in everything)
    # the sizes offered drop nothing
    for size in ("7", "9"):
        assert sl305(run_cli, path, "--set", f"H={size}", "--set", f"W={size}")[1] == []


def test_one_warning_for_a_stride_and_its_consequences(run_cli):
    path = EXAMPLES / "alexnet_adapted.net"
    code, found, _ = sl305(run_cli, path)
    (warning,) = found  # rows and columns, conv1 and the pools after it: one warning
    assert code == 0 and warning["line"] == 9
    assert "the last 3 rows and the last 1 column" in warning["message"]
    assert "3 later layers" in warning["message"]
    hint = warning["hint"]
    assert hint.index("pad=same") < hint.index("H ≡ 3 (mod 32)")  # a padding first, sizes second
    assert "nearest to 270: 259 or 291" in hint and "nearest to 480: 451 or 483" in hint


@pytest.mark.parametrize("pad", ["pad=same", "pad=(1, 2)"])
def test_the_suggested_paddings_read_every_row_when_re_derived(pad, run_cli, tmp_path):
    path = EXAMPLES / "alexnet_adapted.net"
    _, (warning,), _ = sl305(run_cli, path)
    assert f"`{pad}`" in warning["hint"]
    text = path.read_text().replace("conv1: conv 96 k=11 s=4 relu",
                                    f"conv1: conv 96 k=11 s=4 {pad} relu")
    _, found, everything = sl305(run_cli, write(tmp_path, text))
    assert not any(d["severity"] == "error" and d["code"] != "SL401" for d in everything)
    assert all(d["line"] != 9 for d in found)  # conv1 reads every row and column now
    k_eff, s = 11, 4
    if pad == "pad=same":
        assert slide(270, k_eff, s, 1, "same")[2] == slide(480, k_eff, s, 1, "same")[2] == 0
    else:
        assert slide(270, k_eff, s, 1, 1)[2] == slide(480, k_eff, s, 1, 2)[2] == 0


def test_sizes_are_suggested_only_for_free_parameters(run_cli, tmp_path):
    path = write(tmp_path, "network fixed():\n    input [8, 8, 4]\n    conv 4 k=1 s=2\n")
    _, (warning,), _ = sl305(run_cli, path)
    assert "input sizes" not in warning["hint"] and "`pad=1`" in warning["hint"]
    fixed = write(tmp_path, "network fixed():\n    input [8, 8, 4]\n    conv 4 k=1 s=2 pad=1\n",
                  "fixed.net")
    assert sl305(run_cli, fixed)[1] == []


# ---- every example and bad example through solve ---------------------------------------------
@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.net")) + sorted(
    (EXAMPLES / "bad").glob("*.net")), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_solve_never_fails_internally(path, run_cli):
    code, out, err = run_cli("solve", path)
    assert code in (0, 1), err
    assert "Traceback" not in out + err and "internal error" not in err


# ---- bounded for hostile sizes ----------------------------------------------------------------
HOSTILE = [
    # strides and windows too large to list residues of
    ("network h(H):\n    input [H, H, 3]\n    conv 8 k=3 s=1000000000\n"
    "    conv 8 k=1000000 s=999999937 pad=same\n"),
    "network h(H = 5000000000):\n    input [H, H, 3]\n    conv 8 k=3 s=1000000000\n",
    # a prime denominator of 61 bits, an upsample between strides, a reshape of it all
    ("network h(H):\n    input [floor(H / 2305843009213693951), H + 1, 3]\n    conv 8 k=3 s=2\n"
    "    upsample 2\n    conv 8 k=3 s=3\n    reshape [7, -1]\n"),
    # sizes that are no floor of affine maps
    "network h(H):\n    input [H ** 2, max(H, 9), 3]\n    conv 8 k=3 s=2\n    maxpool\n",
    ("network h(H, W):\n    input [H + W, H * W, 3]\n    a: conv 8 k=3 s=2\n"
    "    conv 8 k=1 s=2 @input\n    add @a\n"),
]


@pytest.mark.parametrize("text", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_hostile_sizes_are_bounded(text, run_cli, tmp_path):
    path = write(tmp_path, text)
    for command in ("check", "solve"):
        started = time.perf_counter()
        code, out, err = run_cli(command, path)
        assert time.perf_counter() - started < 10
        assert code in (0, 1) and "Traceback" not in out + err, err


def test_no_value_is_claimed_only_when_proven():
    # floor(H/P) ≥ 3 first holds at H = 3·P, far beyond any bounded scan
    big = 2305843009213693951
    result = analyse(network(f"input [floor(H / {big}), 8, 3]\nconv 8 k=3", "H"))
    assert "SL307" not in codes(result)
    assert domains(result)["H"].least == 3 * big
    assert (3 * big - 1) // big < 3 <= (3 * big) // big
