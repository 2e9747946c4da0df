"""Paddings, validity domains and exact sizes, against brute force and TensorFlow's formulas."""

import pytest
import sympy
from conftest import EXAMPLES, examples
from hypothesis import given, settings
from hypothesis import strategies as st

import shapelang
from shapelang.analysis import analyse
from shapelang.solve import domains, input_size_report


def net(body: str, params: str = ""):
    return shapelang.loads(f"network t({params}):\n" + "".join(f"    {line}\n"
                                                           for line in body.splitlines()))


def tf_same_padding(n, k, s):
    # TensorFlow's rule (tensorflow/core/framework/kernel_shape_util.cc): out = ceil(n/s),
    # total = max((out − 1)·s + k − n, 0), before = total // 2.
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, (total // 2, total - total // 2)


@pytest.mark.parametrize("n, k, s", [(13, 3, 1), (13, 4, 1), (13, 3, 2), (14, 3, 2), (13, 4, 2),
                                     (14, 4, 2), (227, 11, 4), (7, 1, 3), (5, 7, 2)])
def test_same_padding_stride_1_and_2_odd_and_even(n, k, s):
    result = net(f"input [{n}, {n}, 3]\nconv 4 k={k} s={s} pad=same").ir
    layer = analyse(result).layers[1]
    out, pad = tf_same_padding(n, k, s)
    assert [int(d) for d in layer.shape] == [out, out, 4]
    assert [tuple(int(p) for p in axis) for axis in layer.padding] == [pad, pad]


def test_same_padding_symbolic_stride_1_is_constant():
    layer = analyse(net("input [H, W, 3]\nconv 4 k=5 pad=same", "H, W").ir).layers[1]
    assert layer.padding[0] == (2, 2)
    assert layer.shape[0] == sympy.Symbol("H", integer=True, positive=True)


def brute_force_windows(n, k, s, d, p):
    """Count window positions directly: start i·s, reaching i·s + d·(k − 1) < n + 2p."""
    return sum(1 for start in range(0, n + 2 * p, s) if start + d * (k - 1) < n + 2 * p)


@settings(max_examples=examples(300), deadline=None)
@given(n=st.integers(1, 60), k=st.integers(1, 7), s=st.integers(1, 4), d=st.integers(1, 3),
       p=st.integers(0, 3))
def test_conv_size_is_the_number_of_windows(n, k, s, d, p):
    if s > 1 and d > 1:
        return  # refused by TensorFlow, and by shapelang (tested in the bad examples)
    expected = brute_force_windows(n, k, s, d, p)
    analysis = analyse(net(f"input [{n}, 3]\nconv 2 k={k} s={s} d={d} pad={p}").ir)
    if expected == 0:
        assert [dg.code for dg in analysis.diagnostics if dg.severity == "error"] == ["SL302"]
    else:
        assert int(analysis.layers[1].shape[0]) == expected


def test_alexnet_domain_and_congruence():
    analysis = shapelang.load(EXAMPLES / "alexnet_symbolic.net").analyse().analysis
    found = domains(analysis)
    assert found["H"].least == 67 and found["W"].least == 67
    assert (found["H"].period, found["H"].residues) == (32, (3,))
    assert found["H"].nearest_exact(270) == (259, 291)
    assert found["H"].nearest_exact(227) == (227, 227)


def _valid_and_exact_by_brute_force(text, values):
    """Analyse the bound network for each H and report (valid, no SL305)."""
    network = shapelang.loads(text).ir
    result = {}
    for h in values:
        a = analyse(network, {"H": h}, checks=False)
        ok = a.complete and not any(d.severity == "error" for d in a.diagnostics)
        result[h] = (ok, ok and not any(d.code == "SL305" for d in a.diagnostics))
    return result


SYMBOLIC_NETS = [
    "network a(H):\n    input [H, 8, 1]\n    conv 2 k=(11, 1) s=(4, 1)\n    maxpool k=(3, 1) s=(2, 1)\n",
    ("network b(H):\n    input [H, 8, 1]\n    conv 2 k=(3, 1) s=(2, 1) pad=1\n"
    "    conv 2 k=(5, 1) s=(3, 1)\n    avgpool k=(2, 1)\n"),
    ("network c(H):\n    input [H, 8, 1]\n    conv 2 k=(3, 1) s=(2, 1) pad=same\n"
    "    conv 2 k=(3, 1) s=(2, 1)\n"),
]


@pytest.mark.parametrize("text", SYMBOLIC_NETS)
def test_domain_and_exact_sizes_match_brute_force(text):
    analysis = shapelang.loads(text).analyse().analysis
    domain = domains(analysis)["H"]
    brute = _valid_and_exact_by_brute_force(text, range(1, 120))
    assert domain.least == min(h for h, (ok, _) in brute.items() if ok)
    exact = {h for h, (_, e) in brute.items() if e}
    assert exact == {h for h in range(domain.least, 120) if h % domain.period in domain.residues}


def test_input_size_report_for_literal_input():
    report = input_size_report(shapelang.load(EXAMPLES / "lenet.net").analyse().analysis)
    assert [(r.axis, r.domain.least) for r in report] == [("rows", 16), ("columns", 16)]
    assert report[0].domain.describe_exact() == "rows ≡ 0 (mod 4)"
