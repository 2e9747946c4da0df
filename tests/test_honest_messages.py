"""What shapelang says is what is: exact values in messages, range wording, one error where
one thing is wrong, JSON integers for bound counts, and the first steps of a new user (files
that do not exist, byte-order marks, control characters, tabs, `network x:`)."""
import json
import unicodedata
from math import prod

import pytest
from conftest import EXAMPLES, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def diagnostics(run_cli, *args):
    code, out, _ = run_cli("check", "--format", "json", *args)
    return code, json.loads(out)


# ---- claim 6: messages that state the real value ------------------------------------------------
def test_a_non_integer_is_shown_exactly(run_cli, tmp_path):
    path = write(tmp_path, "big.net", "network x:\n    input [8, 8, 3]\n"
                                      "    conv (1e40 + 1/2) k=3\n")
    code, found = diagnostics(run_cli, path)
    assert code == 1 and [d["code"] for d in found] == ["SL205"]
    assert found[0]["message"].endswith("got 10000000000000000000000000000000000000000.5")


@pytest.mark.parametrize(("option", "value", "wording"), [
    ("batchnorm epsilon", "-1", "must be at least 0, got -1"),
    ("batchnorm momentum", "2", "must be in [0, 1], got 2"),
    ("lrn alpha", "-0.5", "must be at least 0, got -0.5"),
])
def test_half_open_ranges_are_worded(run_cli, tmp_path, option, value, wording):
    op, name = option.split()
    path = write(tmp_path, "range.net", f"network x:\n    input [8, 8, 3]\n    {op} {name}={value}\n")
    code, found = diagnostics(run_cli, path)
    assert code == 1 and found[0]["code"] == "SL209" and found[0]["message"].endswith(wording)


def test_dropout_range(run_cli, tmp_path):
    path = write(tmp_path, "dropout.net", "network x:\n    input [8]\n    dropout 1\n")
    assert diagnostics(run_cli, path)[1][0]["message"].endswith("must be in [0, 1), got 1")


@pytest.mark.parametrize(("low", "high", "inclusive", "wording"), [
    (0, None, False, "at least 0"), (0, 1, False, "in [0, 1)"), (0, 1, True, "in [0, 1]"),
    (None, 5, False, "below 5"), (None, 5, True, "at most 5"), (None, None, False, "a number"),
])
def test_number_range_words(low, high, inclusive, wording):
    from shapelang.layers.base import Number

    assert Number(low, high, inclusive).range() == wording


def test_no_range_message_says_none():
    from shapelang.layers import REGISTRY
    from shapelang.layers.base import Number

    ranges = [o.type.range() for kind in REGISTRY.values()
              for o in (*kind.positional, *kind.options) if isinstance(o.type, Number)]
    assert ranges and not any("None" in r for r in ranges)


def test_a_bad_size_is_one_error_not_seventeen(run_cli):
    code, found = diagnostics(run_cli, EXAMPLES / "alexnet.net", "--set", "H=0")
    assert code == 1 and [d["code"] for d in found] == ["SL209"]


def test_a_failed_layer_does_not_cascade(run_cli, tmp_path):
    path = write(tmp_path, "cascade.net", "network x:\n    input [8, 8, 3]\n"
                 "    a: conv 0 k=3\n    conv 4 k=1\n    b: conv 4 k=1 @a\n    add @b\n")
    code, found = diagnostics(run_cli, path)
    assert code == 1 and [(d["code"], d["line"]) for d in found] == [("SL209", 3)]


# ---- claim 5: JSON integers -------------------------------------------------------------------
def test_keepdims_shape_is_integers(run_cli, tmp_path):
    path = write(tmp_path, "gap.net", "network g:\n    input [8, 8, 3]\n    conv 8 k=3\n"
                                      "    globalavgpool keepdims=true\n")
    code, out, _ = run_cli("table", "--format", "json", path)
    assert code == 0 and json.loads(out)["layers"][-1]["shape"] == [1, 1, 8]
    assert all(type(d) is int for d in json.loads(out)["layers"][-1]["shape"])


@st.composite
def bound_network(draw):
    """A random bound network that is always valid: `same` padding, pools that keep a size of
    at least 1, and every layer kind whose rules return plain Python numbers."""
    channels = draw(st.integers(1, 8))
    lines = [f"input [{draw(st.integers(4, 48))}, {draw(st.integers(4, 48))}, {channels}]"]
    for i in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(["conv", "depthwise", "sepconv", "pool", "batchnorm",
                                     "zeropad", "upsample", "keepdims", "branch", "lrn"]))
        if kind == "conv":
            channels = draw(st.integers(1, 16))
            lines.append(f"conv {channels} k={draw(st.integers(1, 5))} "
                         f"s={draw(st.integers(1, 3))} pad=same")
        elif kind == "depthwise":
            multiplier = draw(st.integers(1, 2))
            channels *= multiplier
            lines.append(f"depthwiseconv k=3 multiplier={multiplier} pad=same")
        elif kind == "sepconv":
            channels = draw(st.integers(1, 16))
            lines.append(f"sepconv {channels} k=3 pad=same")
        elif kind == "pool":
            lines.append(f"{draw(st.sampled_from(['maxpool', 'avgpool']))} k=2 pad=same")
        elif kind == "batchnorm":
            lines.append("batchnorm" + draw(st.sampled_from(["", " scale=false"])))
        elif kind == "zeropad":
            lines.append(f"zeropad {draw(st.integers(0, 3))}")
        elif kind == "upsample":
            lines.append(f"upsample {draw(st.integers(1, 3))}")
        elif kind == "keepdims":
            lines.append(f"{draw(st.sampled_from(['globalavgpool', 'globalmaxpool']))} "
                         "keepdims=true")
        elif kind == "branch":
            extra = draw(st.integers(1, 4))
            lines += [f"b{i}: relu", f"conv {extra} k=1 @b{i}", f"concat @b{i}"]
            channels += extra
        else:
            lines.append("lrn")
    head = draw(st.sampled_from(["flatten", "globalavgpool", "reshape [-1]"]))
    lines += [head, f"dense {draw(st.integers(1, 16))} softmax"]
    return "network random:\n" + "".join(f"    {line}\n" for line in lines)


COUNTS = ("size", "params", "trainable", "non_trainable", "macs")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=bound_network())
def test_table_json_of_bound_networks_has_only_integers(run_cli, tmp_path, text):
    path = write(tmp_path, "random.net", text)
    code, out, err = run_cli("table", "--format", "json", path)
    assert code == 0, err
    document = json.loads(out)

    def is_int(value):
        return type(value) is int  # not a string of one, not a bool

    for layer in document["layers"]:
        assert all(is_int(d) for d in layer["shape"]), layer
        assert all(is_int(layer[k]) for k in COUNTS), layer
        assert layer["padding"] is None or all(is_int(p) for axis in layer["padding"]
                                               for p in axis), layer
        # and the integers add up, computed here from the JSON alone
        assert layer["size"] == prod(layer["shape"])
        assert layer["params"] == layer["trainable"] + layer["non_trainable"]
    for key, total in document["total"].items():
        assert is_int(total) and total == sum(layer[key] for layer in document["layers"])


# ---- first contact --------------------------------------------------------------------------
def test_a_missing_file_does_not_hide_the_next_ones(run_cli, tmp_path):
    first = write(tmp_path, "a.net", "network a:\n    input [8]\n    dense 3 relu\n")
    last = write(tmp_path, "b.net", "network b:\n    input [8, 8, 3]\n    dense 3\n")
    code, out, err = run_cli("check", first, tmp_path / "missing.net", last)
    assert code == 2  # a file that cannot be read is a file error, after every file is checked
    assert "missing.net: no such file" in err
    assert "b.net:3:5: error[SL301]" in out
    assert "2 files checked: 1 error, 0 warnings; 1 file could not be read" in out


def test_a_byte_order_mark_is_no_character_of_the_file(run_cli, tmp_path):
    import shapelang

    text = "network x:\n    input [8]\n    dense 3\n"
    path = tmp_path / "bom.net"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert run_cli("check", path)[0] == 0
    assert shapelang.loads("\ufeff" + text).analyse().total("params") == 27


def test_echoed_lines_escape_control_characters_and_keep_the_caret(run_cli, tmp_path):
    path = write(tmp_path, "ctrl.net", "network x:\n    input [8]  # \u202e\n"
                                       "    dense 3 \x1b[31m\n")
    code, out, _ = run_cli("check", path)
    assert code == 1
    echoed, caret = out.splitlines()[1:3]
    assert echoed == r"        dense 3 \x1b[31m"
    assert caret.index("^") == echoed.index("\\x1b") and caret.count("^") == len("\\x1b")
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in out.replace("\n", ""))


def test_github_format_shows_control_characters_as_text():
    from shapelang.diagnostics import Diagnostic, render_github
    from shapelang.ir import Span

    d = Diagnostic("SL102", "error", "bad \x1b[2J and \u202e", Span("a\x07.net", 1, 1, 1, 2))
    line = render_github(d)
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in line)
    assert "file=a\\x07.net" in line and "\\x1b[2J and \\u202e" in line


def test_a_tab_indented_line_is_reported_at_its_own_line(run_cli):
    code, found = diagnostics(run_cli, ROOT / "tests" / "hostile" / "tabs_mixed.net")
    assert code == 1 and [(d["code"], d["line"], d["col"]) for d in found] == [("SL104", 5, 1)]
    assert "tabs and spaces mixed" in found[0]["message"]


def test_an_indented_line_is_reported_at_its_own_line(run_cli, tmp_path):
    path = write(tmp_path, "over.net", "network x:\n    input [8]\n        dense 3\n")
    code, found = diagnostics(run_cli, path)
    assert code == 1 and [(d["code"], d["line"], d["col"]) for d in found] == [("SL101", 3, 1)]


def test_tabs_alone_are_fine(run_cli, tmp_path):
    path = write(tmp_path, "tabs.net", "network x:\n\tinput [8]\n\trepeat 2:\n\t\tdense 3\n")
    assert run_cli("check", path)[0] == 0


def test_network_and_block_need_no_parentheses(run_cli, tmp_path):
    bare = write(tmp_path, "bare.net", "block stem:\n    conv 8 k=3 relu\n"
                 "network x:\n    input [16, 16, 3]\n    stem\n    flatten\n    dense 4\n")
    with_parentheses = write(tmp_path, "paren.net", bare.read_text()
                             .replace("block stem:", "block stem():")
                             .replace("network x:", "network x():"))
    assert run_cli("table", bare) == run_cli("table", with_parentheses)
    assert run_cli("table", bare)[0] == 0
