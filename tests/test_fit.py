"""`shapelang fit` against answers found another way: the README's three questions re-verified
through the Python API (the boundary fits its budget, the next step does not), against a
brute-force scan of the same grid, and against arithmetic done by hand (ResNet-50's exact
sizes from its strides; the largest batch from memory's two terms). Budgets and ranges are
read by fit's own parsers: anything else, or a range too large, is a usage error at once."""
import itertools
import json
from fractions import Fraction

import pytest
import sympy
from conftest import EXAMPLES

import shapelang
from shapelang import fit, limits
from shapelang.analysis import analyse
from shapelang.diagnostics import ERROR

GIB = 2**30


def run_fit(run_cli, *args):
    code, out, err = run_cli("fit", *args, "--format", "json")
    assert code in (0, 1), err
    return code, json.loads(out)


def exact(value) -> Fraction:
    return Fraction(str(value))


# ---- the README's questions ------------------------------------------------------------------
def test_seed_widest_alexnet_scale_under_a_million(run_cli):
    """The seed's question: the widest scale of its AlexNet at 270×480 (29 classes) with at
    most 1,000,000 parameters, on a grid of 0.001."""
    _, found = run_fit(run_cli, EXAMPLES / "alexnet_scaled.net", "--set", "H=270", "--set",
                       "W=480", "--budget", "params<=1_000_000", "--vary", "scale=0.01..1",
                       "--step", "0.001")
    line, = found["lines"]
    assert line["search"] == "bisection"
    largest = exact(line["largest"]["values"]["scale"])
    net = shapelang.load(EXAMPLES / "alexnet_scaled.net")
    here = net.analyse(H=270, W=480, scale=str(largest)).total("params")
    beyond = net.analyse(H=270, W=480, scale=str(largest + Fraction(1, 1000))).total("params")
    assert here <= 1_000_000 < beyond
    assert line["largest"]["quantities"]["params"] == here
    assert line["next"]["quantities"]["params"] == beyond
    assert largest == Fraction(9, 100)  # stated in the README


def test_resnet50_largest_batch_on_80_gib_with_adam(run_cli):
    _, found = run_fit(run_cli, EXAMPLES / "resnet50.net", "--budget", "memory<=80GiB",
                       "--vary", "batch=1..4096", "--optimizer", "adam")
    line, = found["lines"]
    batch = line["largest"]["values"]["batch"]
    result = shapelang.load(EXAMPLES / "resnet50.net").analyse()
    assert result.memory(batch, "adam")["training"] <= 80 * GIB
    assert result.memory(batch + 1, "adam")["training"] > 80 * GIB
    # by hand: the training memory is fixed + per_example · batch
    one, two = (result.memory(b, "adam")["training"] for b in (1, 2))
    per_example = two - one
    assert batch == (80 * GIB - (one - per_example)) // per_example
    assert batch == 575  # stated in the README


def _resnet50_rows_exact(size: int) -> bool:
    """Keras's ResNet-50 along one axis, by hand: zeropad 3 and a 7×7 stride-2 convolution,
    zeropad 1 and a 3×3 stride-2 max pool, then three stages that each start with 1×1
    stride-2 convolutions; every stride must cover its input exactly."""
    steps = [(6, 7), (2, 3), (0, 1), (0, 1), (0, 1)]  # (padding, window), stride 2 each
    for padding, window in steps:
        if (size + padding - window) % 2:
            return False
        size = (size + padding - window) // 2 + 1
    return True


def test_resnet50_exact_sizes_between_200_and_300(run_cli):
    _, found = run_fit(run_cli, EXAMPLES / "resnet50.net", "--vary", "H=200..300", "--exact")
    line, = found["lines"]
    by_hand = [h for h in range(200, 301) if _resnet50_rows_exact(h)]
    assert line["exact"] == by_hand == [225, 257, 289]  # stated in the README
    net = shapelang.load(EXAMPLES / "resnet50.net")
    for h in (225, 226, 289, 290):  # a listed size reads every row; the next one does not
        analysis = net.analyse(H=h).analysis
        unread = [r for r in analysis.remainders if r.axis == "rows" and r.unread]
        assert (not unread) == (h in by_hand), h


# ---- the search against a scan ---------------------------------------------------------------
def _scan(example, budget, name, values):
    """Every value analysed (with its checks; an `expect` written for the defaults aside)."""
    network = shapelang.load(EXAMPLES / f"{example}.net").ir
    feasible = []
    for value in values:
        graph = analyse(network, {name: sympy.Rational(value.numerator, value.denominator)})
        errors = [d for d in graph.diagnostics
                  if d.severity == ERROR and not d.code.startswith("SL4")]
        if not errors and graph.total("params") <= budget:
            feasible.append(value)
    return feasible


def test_bisection_finds_what_a_scan_finds(run_cli):
    values = [Fraction(5, 100) + Fraction(i, 200) for i in range(21)]  # 0.05 … 0.15
    _, found = run_fit(run_cli, EXAMPLES / "alexnet_scaled.net", "--budget", "params<=700000",
                       "--vary", "scale=0.05..0.15", "--step", "0.005")
    line, = found["lines"]
    scanned = _scan("alexnet_scaled", 700_000, "scale", values)
    assert line["search"] == "bisection"
    assert [[exact(a), exact(b)] for a, b in line["feasible"]] == [[scanned[0], scanned[-1]]]
    assert scanned == values[:len(scanned)]


@pytest.mark.slow
def test_scan_where_monotonicity_is_not_shown(run_cli):
    """MobileNetV2's channel rounding (`divisible`) subtracts: no proof, so every value is
    analysed — and the answer is a brute-force scan's."""
    values = [Fraction(25, 100) + Fraction(i, 20) for i in range(26)]  # 0.25 … 1.5
    code, out, _ = run_cli("fit", EXAMPLES / "torchvision_mobilenetv2.net", "--budget",
                           "params<=3e6", "--vary", "width_mult=0.25..1.5", "--step", "0.05")
    assert code == 0 and "scan of every value — no monotone search" in out
    _, found = run_fit(run_cli, EXAMPLES / "torchvision_mobilenetv2.net", "--budget",
                       "params<=3e6", "--vary", "width_mult=0.25..1.5", "--step", "0.05")
    line, = found["lines"]
    assert line["search"] == "scan"
    scanned = _scan("torchvision_mobilenetv2", 3_000_000, "width_mult", values)
    assert exact(line["largest"]["values"]["width_mult"]) == max(scanned)
    runs = [(exact(a), exact(b)) for a, b in line["feasible"]]
    assert [v for v in values if any(a <= v <= b for a, b in runs)] == scanned


def test_two_ranges_and_table(run_cli):
    code, out, _ = run_cli("fit", EXAMPLES / "alexnet_scaled.net", "--budget", "params<=1e6",
                           "--vary", "scale=0.08..0.1", "--step", "0.02", "--vary", "H=200..400",
                           "--table")
    assert code == 0
    assert "boundary: the largest H that fits, for each scale" in out
    assert "scale = 0.08: H = 354" in out and "scale = 0.1: H = 226" in out
    net = shapelang.load(EXAMPLES / "alexnet_scaled.net")
    assert net.analyse(scale="0.08", H=354).total("params") <= 1_000_000
    assert net.analyse(scale="0.08", H=355).total("params") > 1_000_000
    assert out.count("network alexnet_scaled with H=354") == 1  # --table at each boundary


def test_nothing_fits_exits_1(run_cli):
    code, out, _ = run_cli("fit", EXAMPLES / "alexnet.net", "--budget", "params<=10",
                           "--vary", "classes=1..5")
    assert code == 1 and "feasible: no value of classes" in out


# ---- the parsers and the limits --------------------------------------------------------------
@pytest.mark.parametrize("text, quantity, limit, strict", [
    ("params<=5e6", "params", 5_000_000, False), ("macs < 1_000", "macs", 1000, True),
    ("memory<=16GiB", "memory", 16 * GIB, False), ("memory<=80 GB", "memory", 80 * 10**9, False),
    ("inference_memory<=1.5GiB", "inference_memory", 3 * GIB // 2, False),
])
def test_parse_budget(text, quantity, limit, strict):
    budget = fit.parse_budget(text)
    assert (budget.quantity, budget.limit, budget.strict) == (quantity, limit, strict)


@pytest.mark.parametrize("text", [
    "params", "params>=5", "param<=5", "params<=five", "params<=1e999", "memory<=16 parsecs",
    "params<=__import__('os')", "params<=2**20", "macs<=1e6+1",
])
def test_parse_budget_refuses(text):
    with pytest.raises(fit.FitError):
        fit.parse_budget(text)


@pytest.mark.parametrize("text, low, high", [
    ("alpha=0.25..1.5", Fraction(1, 4), Fraction(3, 2)), ("H=200..400", 200, 400),
    ("batch = 1 .. 4096", 1, 4096), ("x=.5..1.", Fraction(1, 2), 1),
])
def test_parse_vary(text, low, high):
    vary = fit.parse_vary(text)
    assert (vary.low, vary.high) == (low, high)


@pytest.mark.parametrize("text", ["H", "H=1", "H=5..1", "H=a..b", "=1..2", "H=1..1e999",
                                  "H=1..2..3"])
def test_parse_vary_refuses(text):
    with pytest.raises(fit.FitError):
        fit.parse_vary(text)


@pytest.mark.parametrize("args", [
    ("--vary", "nope=1..2", "--budget", "params<=1"),
    ("--vary", "H=1..2", "--vary", "H=1..2"),
    ("--step", "2", "--vary", "H=1..2"),
    ("--vary", "H=1..2", "--step", "0"),
    ("--vary", "H=1..2", "--step", "1", "--step", "2"),
    ("--vary", "batch=1..10", "--budget", "params<=1"),  # the batch moves no parameter count
    ("--vary", "batch=0..10", "--budget", "memory<=1GiB"),
    ("--vary", "batch=1..1e12", "--budget", "memory<=1GiB"),
    ("--vary", "H=1.5..2"),  # non-integers need a step
    ("--vary", "H=1..1e30"),  # past the grid's limit, refused before any analysis
    ("--vary", "H=100..100000", "--vary", "W=1..2000"),  # too many points
    ("--budget", "params<=1"),  # nothing to vary
    ("--vary", "H=1..2", "--set", "H=3"),
    ("--vary", "H=1..2", "--optimizer", "sgdd", "--budget", "memory<=1GiB"),
])
def test_usage_errors(run_cli, args):
    code, _, err = run_cli("fit", EXAMPLES / "alexnet.net", *args)
    assert code == 2 and "error:" in err, err
    assert "Traceback" not in err


def test_a_long_scan_is_refused_not_run(run_cli):
    """No monotone search for MobileNetV2's width: 5,001 values would be 5,001 analyses."""
    code, _, err = run_cli("fit", EXAMPLES / "torchvision_mobilenetv2.net", "--budget",
                           "params<=3e6", "--vary", "width_mult=0.25..0.75", "--step",
                           "0.0001")
    assert code == 2 and f"the limit is {limits.MAX_FIT_SCAN:,} analyses" in err


def test_a_huge_monotone_range_is_a_short_search(run_cli):
    code, out, _ = run_cli("fit", EXAMPLES / "resnet50.net", "--budget", "memory<=80GiB",
                           "--vary", "batch=1..1_000_000", "--optimizer", "adam")
    assert code == 0 and "batch = 575:" in out
    analyses = int(out.strip().splitlines()[-1].split()[0].replace(",", ""))
    assert analyses < 10


def test_syntax_error_is_a_diagnostic(run_cli, tmp_path):
    bad = tmp_path / "bad.net"
    bad.write_text("network x(\n")
    code, _, err = run_cli("fit", bad, "--vary", "H=1..2")
    assert code == 1 and "error[SL1" in err


# ---- the monotonicity proof ------------------------------------------------------------------
H = sympy.Symbol("H", positive=True, integer=True)
S = sympy.Symbol("s", positive=True)


@pytest.mark.parametrize("expr, at, proven", [
    (H - 11, 1, True), (-H, 1, False), (sympy.floor(H / 2) * sympy.floor(H / 3), 1, True),
    (H * (H - 5), 1, False), (H * (H - 5), 5, True),
    (sympy.Rational(1, 2) * sympy.floor(H / 4 - 3), 1, True),
    (sympy.ceiling(48 * S) * sympy.ceiling(128 * S), Fraction(1, 100), True),
    (sympy.Max(H, 3), 1, True), (sympy.Min(H, 10 - H), 1, False), (H**2, 1, True),
    (1 / H, 1, False), (sympy.floor(H / 8 + sympy.Rational(1, 2)) * 8 - H, 1, False),
])
def test_nondecreasing_table(expr, at, proven):
    x = H if H in expr.free_symbols else S
    assert fit._nondecreasing(expr, x, at) is proven


def test_what_is_proven_holds_at_every_point():
    """Random closed forms of the kinds the analysis writes: where the proof says
    nondecreasing from 1, no two consecutive values in 1..60 decrease."""
    import random

    rng = random.Random(13)
    atoms = [H, H - 7, sympy.floor(H / 3), sympy.ceiling(H / 2 - 5), sympy.floor((H - 11) / 4) + 1,
             sympy.Integer(3), -H, sympy.Min(H, 20 - H)]

    def random_expr(depth):
        if depth == 0:
            return rng.choice(atoms)
        a, b = random_expr(depth - 1), random_expr(depth - 1)
        return rng.choice([a + b, a * b, sympy.floor(a / 2), sympy.Max(a, b), 3 * a - b])

    proven = 0
    for _ in range(300):
        expr = random_expr(rng.randint(1, 3))
        if fit._nondecreasing(expr, H, 1):
            proven += 1
            values = [expr.subs(H, h) for h in range(1, 61)]
            assert all(a <= b for a, b in itertools.pairwise(values)), expr
    assert proven > 30


def _alexnet_valid(size: int) -> bool:
    """AlexNet along one axis, by hand: conv 11 stride 4, then three 3×3 stride-2 max pools
    (the convolutions between them keep the size)."""
    if size < 11:
        return False
    size = (size - 11) // 4 + 1
    for _ in range(3):
        if size < 3:
            return False
        size = (size - 3) // 2 + 1
    return True


def test_first_valid_size_by_bisection(run_cli):
    _, found = run_fit(run_cli, EXAMPLES / "alexnet.net", "--vary", "H=10..80")
    line, = found["lines"]
    assert line["search"] == "bisection"
    assert line["feasible"] == [[min(h for h in range(10, 81) if _alexnet_valid(h)), 80]]


@pytest.mark.parametrize("args", [
    ("examples/alexnet_scaled.net", "--set", "H=270", "--set", "W=480", "--budget",
     "params<=1_000_000", "--vary", "scale=0.01..1", "--step", "0.001"),
    ("examples/resnet50.net", "--budget", "memory<=80GiB", "--vary", "batch=1..4096",
     "--optimizer", "adam"),
    ("examples/resnet50.net", "--vary", "H=200..300", "--exact"),
])
def test_readme_shows_real_output(run_cli, args, monkeypatch):
    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    code, out, _ = run_cli("fit", *args)
    assert code == 0
    assert f"```\n{out.rstrip()}\n```" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_table_in_json(run_cli):
    _, found = run_fit(run_cli, EXAMPLES / "resnet50.net", "--budget", "memory<=80GiB",
                       "--vary", "batch=1..4096", "--optimizer", "adam", "--table")
    line, = found["lines"]
    assert line["table"]["memory"]["batch_size"] == line["largest"]["values"]["batch"]
    assert line["table"]["memory"]["training"] == line["largest"]["quantities"]["memory"]
