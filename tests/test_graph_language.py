"""The graph language without traps (issue 11): a labelled repeat's `@LABEL` as each
iteration's input (DenseNet's dense block inline) and SL224 on the old form; `repeat 0`;
static `if`/`else` (SL225 on an unbound symbol, decided per block use); a note per level of
block instantiation on a diagnostic inside a block; `expect` of any tensor by its path; and the
generated programs: a block whose word arguments differ between uses stays a function, `if`
and `repeat 0` are planned, the labelled repeat stays a loop.

The truths are outside the code under test: DenseNet's channel arithmetic (input + k·growth),
the same network written without the statement (a differential: the `if` taken by hand,
`repeat 0`'s lines left out), Python's own comparison of the bound values, and Keras or
PyTorch building the generated program."""
import json
import operator
import textwrap

import pytest
from conftest import EXAMPLES

import shapelang
from shapelang.diagnostics import render_github, render_text, to_json


def _net(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _analyse(text: str, **bindings):
    return shapelang.loads(_net(text), "t.net").analyse(**bindings)


def _codes(result):
    return [(d.code, d.span.line, d.span.col) for d in result.diagnostics]


def _table(result):
    return [(r.name, r.op, tuple(int(d) for d in r.shape), int(r.params)) for r in result.layers]


# ---- a labelled repeat: `@LABEL` is each iteration's input -------------------------------------
DENSE_BLOCK = """
block dense_block(n, growth = 4):
    grow: repeat n:
        batchnorm
        relu
        conv growth k=3 pad=same
        concat @grow

network densenet_inline(n = 3):
    input [16, 16, 8]
    d: dense_block n
    globalavgpool
    dense 10 softmax
"""
DENSE_TRAP = DENSE_BLOCK.replace("grow: repeat n:", "repeat n:").replace("@grow", "@input")


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_dense_block_inline_grows_by_the_growth_rate_each_iteration(n):
    result = _analyse(DENSE_BLOCK, n=n)
    assert result.ok and not result.warnings
    for k in range(1, n + 1):  # DenseNet: the k-th concat has input + k·growth channels
        concat = result.layer(f"d.grow{k}.concat_1")
        assert concat.shape == (16, 16, 8 + 4 * k)
        previous = "input" if k == 1 else f"d.grow{k - 1}.concat_1"
        assert concat.inputs == (f"d.grow{k}.conv_1", previous)
        conv = result.layer(f"d.grow{k}.conv_1")  # 3×3 conv from 8 + 4(k−1) channels to 4
        assert conv.params == 3 * 3 * (8 + 4 * (k - 1)) * 4 + 4
    assert result.output.shape == (10,)


def test_the_old_form_is_the_trap_and_is_warned_once_with_its_use():
    result = _analyse(DENSE_TRAP)
    channels = [result.layer(f"d.repeat{k}.concat_1").shape[-1] for k in (1, 2, 3)]
    assert channels == [12, 12, 12]  # what the trap computes: the 8 → 12 → 12 → 12
    assert _codes(result) == [("SL224", 6, 16)]
    (warning,) = result.diagnostics
    assert "same tensor in every iteration" in warning.message
    assert warning.notes == ("in block `dense_block`, used at line 10 as `d`",)
    assert "@grow" in warning.hint


@pytest.mark.parametrize("body, warned", [
    ("x: relu\n    repeat 2:\n        relu\n        add @x", True),        # a label before it
    ("repeat 2:\n        y: relu\n        relu\n        add @y", False),  # its own line
    ("r: repeat 2:\n        relu\n        add @r", False),                # the iteration's input
    ("x: relu\n    repeat 2:\n        relu @x", False),                   # no merge
    ("x: relu\n    repeat 2:\n        repeat 1:\n            relu\n            add @x", True),
])
def test_sl224_fires_for_a_merge_reading_a_tensor_from_before_the_repeat(body, warned):
    result = _analyse(f"network m:\n    input [4, 4, 2]\n    {body}\n")
    assert result.ok
    assert ("SL224" in [d.code for d in result.diagnostics]) == warned


def test_after_the_repeat_its_label_is_its_output():
    result = _analyse("""
        network m:
            input [4, 4, 2]
            r: repeat 2:
                relu
                add @r
            x: relu
            add @r
        """)
    assert result.ok
    assert result.layer("add_1").inputs == ("x", "r2.add_1")


# ---- repeat 0 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["network", "block", "nested"])
def test_repeat_zero_is_the_network_without_its_lines(where):
    skipped = "    repeat 0:\n        conv 99 k=3\n        dense 7\n"
    if where == "network":
        with_it = f"network m:\n    input [8, 8, 3]\n    conv 4 k=3\n{skipped}    flatten\n"
        without = "network m:\n    input [8, 8, 3]\n    conv 4 k=3\n    flatten\n"
    elif where == "block":
        block = "block b(c):\n    conv c k=3\n{}    relu\n"
        net = "network m:\n    input [8, 8, 3]\n    b 4\n    flatten\n"
        with_it, without = block.format(skipped) + net, block.format("") + net
    else:
        inner = "    repeat 2:\n        relu\n    " + skipped.replace("\n    ", "\n        ")
        with_it = f"network m:\n    input [8, 8, 3]\n{inner}    flatten\n"
        without = "network m:\n    input [8, 8, 3]\n    repeat 2:\n        relu\n    flatten\n"
    a, b = _analyse(with_it), _analyse(without)
    assert a.ok and b.ok
    assert _table(a) == _table(b)


def test_repeat_zero_labelled_is_its_input_and_a_negative_count_is_an_error():
    result = _analyse("""
        network m:
            input [4, 4, 2]
            x: relu
            r: repeat 0:
                conv 3 k=1
            add @x @r
        """)
    assert result.ok and result.layer("add_1").inputs == ("x", "x")
    result = _analyse("network m(n = -1):\n    input [4]\n    repeat n:\n        relu\n")
    assert _codes(result) == [("SL209", 3, 12)]
    assert "at least 0" in result.errors[0].message


# ---- if / else ----------------------------------------------------------------------------------
IF_NET = """
block unit(s, first):
    if {condition}:
        zeropad 1
    else:
        conv 5 k=1

network m:
    input [16, 16, 3]
    unit {s} first={first}
    dense 2 last_axis=true
"""
OPERATORS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
             ">": operator.gt, ">=": operator.ge}


@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("comparison", sorted(OPERATORS))
def test_a_comparison_takes_the_branch_python_takes(s, comparison):
    result = _analyse(IF_NET.format(s=s, first="true", condition=f"s {comparison} 2"))
    assert result.ok
    ops = [r.op for r in result.layers]
    assert ops == (["input", "zeropad", "dense"] if OPERATORS[comparison](s, 2)
                   else ["input", "conv", "dense"])


@pytest.mark.parametrize("condition, expected", [
    ("first", lambda s, f: f),
    ("not first", lambda s, f: not f),
    ("s == 2 and not first", lambda s, f: s == 2 and not f),
    ("s == 2 or first", lambda s, f: s == 2 or f),
    ("not s > 1 or first and s < 3", lambda s, f: (not s > 1) or (f and s < 3)),
    ("s * 2 == 4", lambda s, f: s * 2 == 4),
])
@pytest.mark.parametrize("s, first", [(1, True), (2, False), (2, True), (3, False)])
def test_and_or_not_and_truth_values(condition, expected, s, first):
    result = _analyse(IF_NET.format(s=s, first=str(first).lower(), condition=condition))
    assert result.ok, result.diagnostics
    assert (result.layers[1].op == "zeropad") == expected(s, first)


def test_the_branch_taken_is_the_network_written_without_the_if():
    with_if = _analyse("""
        block sep(filters, s = 1):
            if s == 2:
                zeropad ((0, 1), (0, 1))
                depthwiseconv k=3 s=2
            else:
                depthwiseconv k=3 pad=same
            conv filters k=1
        network m:
            input [32, 32, 3]
            a: sep 8
            b: sep 16 s=2
        """)
    by_hand = _analyse("""
        block sep1(filters):
            depthwiseconv k=3 pad=same
            conv filters k=1
        block sep2(filters):
            zeropad ((0, 1), (0, 1))
            depthwiseconv k=3 s=2
            conv filters k=1
        network m:
            input [32, 32, 3]
            a: sep1 8
            b: sep2 16
        """)
    assert with_if.ok and _table(with_if) == _table(by_hand)


@pytest.mark.parametrize("deep, channels", [(1, 3), (0, 5)])
def test_labels_inside_a_branch_name_tensors_of_the_body_and_expects_inside_are_checked(
        deep, channels):
    result = _analyse(f"""
        network m(deep = {deep}):
            input [4, 4, 2]
            if deep == 1:
                x: conv 3 k=1
                expect x == [4, 4, 3]
            else:
                x: conv 5 k=1
                expect x == [4, 4, 5]
            relu
            add @x
            expect output == [4, 4, {channels}]
        """)
    assert result.ok, result.diagnostics
    result = _analyse("network m(a = 1):\n    input [4]\n    if a == 1:\n"
                      "        expect output == [5]\n")
    assert _codes(result) == [("SL401", 4, 9)]


@pytest.mark.parametrize("text, code, where", [
    # an unbound network parameter: say which to bind
    ("network m(s):\n    input [4]\n    if s == 2:\n        relu\n", "SL225", (3, 8)),
    # through a block's argument, decided at each use: the use with the symbol fails
    (("block b(s):\n    if s == 2:\n        relu\n    relu\n"
      "network m(t):\n    input [4]\n    b 2\n    b t\n"), "SL225", (2, 8)),
    ("network m:\n    input [4]\n    if strid == 2:\n        relu\n", "SL206", (3, 8)),
    ("network m(s = 2):\n    input [4]\n    if 3:\n        relu\n", "SL204", (3, 8)),
    (("block b(p):\n    if p < valid:\n        relu\n    relu\n"
      "network m:\n    input [4]\n    b p=same\n"), "SL204", (2, 8)),
    ("network m:\n    input [4]\n    if @input == 2:\n        relu\n", "SL204", (3, 8)),
    ("network m:\n    input [4]\n    if 1 == 1: relu\n", "SL101", (3, 10)),
])
def test_condition_errors(text, code, where):
    try:
        found = shapelang.loads(text, "t.net").analyse().errors
    except shapelang.ShapelangError as exc:  # a syntax error
        found = exc.diagnostics
        assert "an `if` line ends with `:`" in found[0].hint
    assert [(d.code, d.span.line, d.span.col) for d in found] == [(code, *where)]


def test_a_condition_may_read_a_tensors_size():
    text = "network m:\n    input [8, 8, 4]\n    if channels(@input) == 4:\n        relu\n"
    assert [r.op for r in _analyse(text).layers] == ["input", "relu"]


def test_sl225_names_the_symbol_to_bind_and_binding_it_decides():
    net = shapelang.loads("network m(s):\n    input [4]\n    if s == 2:\n        relu\n"
                          "    dense 3\n", "t.net")
    (found,) = net.analyse().errors
    assert "`s`" in found.message and "--set s=" in found.hint
    assert [r.op for r in net.analyse(s=2).layers] == ["input", "relu", "dense"]
    assert [r.op for r in net.analyse(s=1).layers] == ["input", "dense"]


def test_a_word_condition_compares_words():
    text = ("block b(p):\n    if p == same:\n        zeropad 1\n    relu\n"
            "network m:\n    input [8, 8, 1]\n    b pad={}\n")
    text = text.replace("b pad=", "b p=")
    assert [r.op for r in _analyse(text.format("same")).layers] == ["input", "zeropad", "relu"]
    assert [r.op for r in _analyse(text.format("valid")).layers] == ["input", "relu"]


# ---- instantiation notes ------------------------------------------------------------------------
NESTED = """
block cbn(filters, k = 1):
    conv filters k=k
    batchnorm

block branch(c):
    b3: cbn c k=9

network n:
    input [8, 8, 3]
    cbn 4
    mixed3: branch 8
"""


def test_an_error_inside_a_block_says_where_the_block_was_used_at_each_level():
    result = _analyse(NESTED)
    (found,) = result.errors
    assert (found.code, found.span.line) == ("SL302", 2)  # the caret: the line to fix
    assert found.notes == ("in block `cbn`, used at line 6 as `mixed3.b3`",
                           "in block `branch`, used at line 11 as `mixed3`")
    text = render_text(found, {"t.net": _net(NESTED)})
    assert text.splitlines()[1].strip() == "conv filters k=k"
    assert "note: in block `cbn`, used at line 6 as `mixed3.b3`" in text
    assert to_json(found)["notes"] == list(found.notes)
    assert "used at line 11 as `mixed3`" in render_github(found)


def test_the_cli_prints_the_notes(run_cli, tmp_path):
    path = tmp_path / "nested.net"
    path.write_text(_net(NESTED))
    code, out, _ = run_cli("check", path)
    assert code == 1 and "note: in block `branch`, used at line 11 as `mixed3`" in out
    code, out, _ = run_cli("check", "--format", "json", path)
    assert json.loads(out)[0]["notes"][0] == "in block `cbn`, used at line 6 as `mixed3.b3`"


def test_an_error_outside_blocks_has_no_notes():
    result = _analyse("network m:\n    input [4, 4, 1]\n    conv 2 k=9\n")
    assert result.errors[0].notes == ()


# ---- expect by path -----------------------------------------------------------------------------
PATHS = """
block cbn(filters, k = 1):
    conv filters k=k pad=same
    batchnorm

block mixed(c):
    b1: cbn c
    b3: cbn (2 * c) k=3
    concat @b1 @b3

network m:
    input [17, 17, 8]
    mixed3: mixed 64
    stage: repeat 2:
        conv 8 k=3
    expect {subject} == {shape}
"""


@pytest.mark.parametrize("subject, shape", [
    ("mixed3.b3", [17, 17, 128]),              # a block use inside a block use: its output
    ("mixed3.b3.conv_1", [17, 17, 128]),       # a layer, as `table` prints it
    ("mixed3.b1", [17, 17, 64]),
    ("mixed3", [17, 17, 192]),                 # 64 + 128
    ("mixed3.concat_1", [17, 17, 192]),
    ("stage1", [15, 15, 8]),                   # a repeat iteration: its output (17 − 2)
    ("stage2.conv_1", [13, 13, 8]),
])
def test_expect_names_any_tensor_by_its_path(subject, shape):
    assert _analyse(PATHS.format(subject=subject, shape=shape)).ok
    wrong = [*shape[:-1], shape[-1] + 1]
    result = _analyse(PATHS.format(subject=subject, shape=wrong))
    assert [d.code for d in result.errors] == ["SL401"]


def test_an_unknown_path_suggests_the_closest():
    result = _analyse(PATHS.format(subject="mixed3.b2", shape=[1]))
    assert [(d.code, d.span.line, d.span.col) for d in result.errors] == [("SL403", 15, 12)]
    assert "did you mean `mixed3.b" in result.errors[0].hint


def test_a_path_is_no_expression():
    with pytest.raises(shapelang.ShapelangError):
        shapelang.loads("network m:\n    input [4]\n    dense a.b\n")


# ---- the generated programs ---------------------------------------------------------------------
KEYWORDS = """
block cbn(filters, k = 1, pad = valid):
    conv filters k=k pad=pad
    batchnorm
    relu

block inception(c, p = same):
    b1: cbn c pad=p
    b2: cbn c k=3 pad=same @input
    concat @b1 @b2

network kw:
    input [32, 32, 3]
    cbn 8 k=3 pad=valid
    cbn 8 k=3 pad=same
    cbn 16 k=3
    mixed: inception 8 p=same
    mixed2: inception 4 p=valid
    globalavgpool
    dense 10 softmax
"""


def test_a_block_whose_word_argument_differs_stays_a_function_in_keras():
    source = shapelang.loads(_net(KEYWORDS), "kw.net").keras_source()
    assert "def cbn(inputs, filters, k, pad, *, name):" in source
    assert "padding=pad," in source
    assert "def inception(inputs, c, p, *, name):" in source
    assert 'cbn(x, filters=8, k=3, pad="valid", name="cbn_1")' in source
    assert 'inception(x, c=4, p="valid", name="mixed2")' in source
    assert "def build_model():" in source


def test_a_block_whose_if_depends_on_a_network_parameter_is_planned_bound():
    text = _net("""
        network m(s = 2):
            input [8, 8, 3]
            if s == 2:
                zeropad 1
            conv 4 k=3
        """)
    source = shapelang.loads(text, "m.net").keras_source()
    assert "def build_model():" in source and "ZeroPadding2D" in source
    source = shapelang.loads(text.replace("s = 2", "s = 1"), "m.net").keras_source()
    assert "ZeroPadding2D" not in source
    # a condition on no parameter keeps build_model's parameters
    other = text.replace("if s == 2", "if 2 == 2").replace("conv 4", "conv s")
    assert "def build_model(s=2):" in shapelang.loads(other, "m.net").keras_source()


def test_the_labelled_repeat_is_a_loop_in_keras():
    source = shapelang.loads(_net(DENSE_BLOCK), "d.net").keras_source()
    assert "for i in range(1, n + 1):\n        grow = x\n" in source
    assert "([x, grow])" in source


PROGRAMS = {
    "dense_block": _net(DENSE_BLOCK),
    "keywords": _net(KEYWORDS),
    "if_in_blocks": _net("""
        block sep(filters, s = 1, first = false):
            if s == 2:
                zeropad ((0, 1), (0, 1))
                depthwiseconv k=3 s=2
            else:
                depthwiseconv k=3 pad=same
            if not first:
                relu
            conv filters k=1
        network mb(s = 2):
            input [32, 32, 3]
            sep 8 first=true
            sep 16 s=s
            sep 16
            if s == 2:
                globalavgpool
            else:
                flatten
            dense 10 softmax
        """),
    "if_same_branch_every_use": _net("""
        block unit(c, s = 1):
            if s == 2:
                maxpool
            conv c k=3 pad=same
        network u:
            input [16, 16, 3]
            unit 4 s=2
            unit 8 s=2
            flatten
            dense 3 softmax
        """),
    "repeat_zero": _net("""
        block b(c, n = 0):
            repeat n:
                conv c k=3 pad=same
            conv c k=1
        network z:
            input [8, 8, 3]
            b 4
            b 4 n=2
            r: repeat 0:
                relu
            flatten
            dense 3 softmax
        """),
}


@pytest.mark.keras
@pytest.mark.parametrize("case", sorted(PROGRAMS))
def test_the_keras_program_is_the_analysed_network(case):
    keras = pytest.importorskip("keras")
    from keras_oracle import differences

    net = shapelang.loads(PROGRAMS[case], f"{case}.net")
    analysis = net.analyse().raise_for_errors().analysis
    keras.backend.clear_session()
    model = net.to_keras()
    assert differences(analysis, model) == []
    assert model.count_params() == int(analysis.total("params"))


@pytest.mark.parametrize("case", sorted(PROGRAMS))
def test_the_pytorch_program_builds_the_analysed_counts_and_shape(case):
    torch = pytest.importorskip("torch")
    net = shapelang.loads(PROGRAMS[case], f"{case}.net")
    result = net.analyse().raise_for_errors()
    model = net.to_torch().eval()
    trainable = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for name, b in model.named_buffers()
                  if not name.endswith("num_batches_tracked"))
    assert trainable == int(result.total("trainable"))
    assert buffers == int(result.total("non_trainable"))
    height, width, channels = result.layers[0].shape
    with torch.no_grad():
        out = model(torch.randn(2, channels, height, width))
    assert tuple(out.shape[1:]) == tuple(int(d) for d in result.output.shape)


def test_bundled_examples_are_unchanged_by_the_new_statements():
    # no example reads a tensor from outside a repeat in a merge: none is warned SL224
    for path in sorted(EXAMPLES.glob("*.net")):
        result = shapelang.load(path).analyse()
        assert "SL224" not in [d.code for d in result.diagnostics], path


def test_if_else_and_or_not_stay_names_outside_if_lines():
    result = _analyse("""
        block if(c):
            else: conv c k=1
            not: relu
            add @else
        network n(or = 2, p = 2):
            input [4, 4, 2]
            if: if 2
            if 2
            if p == 2:
                relu
            else:
                conv 3 k=1
            if p > 3 and not 1 > 2 or 3 == 3:
                relu
        """)
    assert result.ok, result.diagnostics
    assert [r.name for r in result.layers] == [
        "input", "if.else", "if.not", "if.add_1", "if_1.else", "if_1.not", "if_1.add_1",
        "relu_1", "relu_2"]


def test_a_block_whose_uses_take_both_branches_is_a_function_with_python_ifs():
    net = shapelang.loads(PROGRAMS["if_in_blocks"], "mb.net")
    source = net.keras_source()
    function = source.split("def sep(")[1].split("def build_model")[0]
    assert "if s == 2:" in function and "else:" in function and "if not first:" in function
    assert 'sep(x, filters=8, s=1, first=True, name="sep_1")' in source
    assert "def build_model():" in source  # the network's own `if` is on its parameter `s`
    torch_source = net.torch_source()
    assert "class Sep(nn.Module):" in torch_source
    assert "self.if_2 = s == 2" in torch_source and "if self.if_2:" in torch_source


@pytest.mark.parametrize("case", sorted(PROGRAMS))
def test_the_programs_are_ruff_format_stable(case):
    from test_program_format import _assert_ruff_format_changes_nothing

    net = shapelang.loads(PROGRAMS[case], f"{case}.net")
    _assert_ruff_format_changes_nothing(net.keras_source())
    _assert_ruff_format_changes_nothing(net.torch_source())


def test_in_pytorch_the_block_deciding_layers_by_a_word_is_in_place_and_the_others_modules():
    source = shapelang.loads(_net(KEYWORDS), "kw.net").torch_source()
    # `cbn` with pad=same has an nn.ZeroPad2d that pad=valid has not: its uses are in place
    assert "class Cbn(" not in source and '"cbn_2/conv_1_pad"' in source
    assert "class Inception(nn.Module):" in source
    assert 'self.layers["mixed2"] = Inception(' in source
