"""A new user's first hour: `table` and `solve` print their report even when an `expect`
fails, warnings under it one line each; the Python API returns its diagnostics and plain
ints; Keras's spellings of options are understood; the README's Python runs as written.

Numbers come from outside shapelang: the seed networks' Keras oracle
(tests/oracles/seed_keras.json, made by Keras itself) and published Keras counts."""
import ast
import io
import json
import re
import subprocess
import tokenize
from dataclasses import asdict
from fractions import Fraction

import pytest
from conftest import EXAMPLES, PYTHON, ROOT, python_env

import shapelang

ORACLE = json.loads((ROOT / "tests" / "oracles" / "seed_keras.json").read_text())
ADAPTED = ORACLE["alexnet_270x480_29"]  # AlexNet at 270×480, 29 classes, as Keras builds it
ALEXNET = EXAMPLES / "alexnet.net"
AT_270 = ("--set", "H=270", "--set", "W=480", "--set", "classes=29")


# ---- table and solve: the report, then what is wrong with it -------------------------------
REPORTS = [
    # (command, path, arguments, exit code, report printed, error codes on stderr)
    ("table", ALEXNET, AT_270, 1, True, ["SL401", "SL401"]),
    ("table", ALEXNET, (*AT_270, "--format", "json"), 1, True, ["SL401", "SL401"]),
    ("table", ALEXNET, (*AT_270, "--format", "csv"), 1, True, ["SL401", "SL401"]),
    ("table", ALEXNET, (*AT_270, "--format", "markdown"), 1, True, ["SL401", "SL401"]),
    ("solve", ALEXNET, AT_270, 1, True, ["SL401", "SL401"]),
    ("table", EXAMPLES / "bad" / "expect_fails.net", (), 1, True, ["SL401"]),
    ("table", EXAMPLES / "bad" / "empty_domain.net", (), 1, True, ["SL307"]),
    ("table", EXAMPLES / "alexnet_adapted.net", (), 0, True, []),
    ("table", EXAMPLES / "bad" / "even_kernel_same.net", (), 0, True, []),
    ("table", EXAMPLES / "bad" / "dense_on_tensor.net", (), 1, False, ["SL301"]),
    ("solve", EXAMPLES / "bad" / "too_small.net", (), 1, False, ["SL302"]),
]


@pytest.mark.parametrize("command, path, args, code, printed, errors", REPORTS,
                         ids=[f"{c}-{p.stem}-{'-'.join(a[-2:])}" for c, p, a, *_ in REPORTS])
def test_report_then_diagnostics(run_cli, command, path, args, code, printed, errors):
    exit_code, out, err = run_cli(command, path, *args)
    assert exit_code == code, err
    assert bool(out) == printed
    assert re.findall(r"error\[(SL\d+)\]", err) == errors
    check_code, check_out, _ = run_cli("check", "--format", "json", path, *args[:6])
    assert exit_code == check_code  # table and solve exit as check does
    assert [d["code"] for d in json.loads(check_out) if d["severity"] == "error"] == errors


def test_the_failed_expects_come_after_the_table():
    """The issue's command, as a user sees it in a terminal: stdout and stderr in one stream."""
    result = subprocess.run([PYTHON, "-m", "shapelang.cli", "table", str(ALEXNET), *AT_270],
                            check=False, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=python_env(), cwd=ROOT)
    assert result.returncode == 1
    text = result.stdout
    total = f"{ADAPTED['total_params']:,}"
    assert re.search(rf"^ +total +{total} ", text, re.MULTILINE), text
    assert text.index(" total ") < text.index("error[SL401]: expect params") < text.index(
        "error[SL401]: expect conv1")
    assert "Traceback" not in text


def test_the_table_at_270_is_keras_s_network(run_cli):
    """The table printed despite the failed expects: every layer against Keras (LRN aside)."""
    _, out, _ = run_cli("table", ALEXNET, *AT_270, "--format", "json")
    layers = [layer for layer in json.loads(out)["layers"] if layer["op"] != "lrn"]
    assert [(layer["shape"], layer["params"]) for layer in layers] == [
        (shape, params) for _, shape, params in ADAPTED["layers"]]


def test_warnings_are_one_line_each_under_the_table(run_cli):
    path = EXAMPLES / "alexnet_adapted.net"
    _, out, err = run_cli("table", path)
    _, check_out, _ = run_cli("check", "--format", "json", path)
    warnings = [d for d in json.loads(check_out) if d["severity"] == "warning"]
    assert warnings  # what the article's int() hid
    lines = err.splitlines()
    where = f"`shapelang check {path}` shows them with their source lines and hints"
    assert lines == [f"{d['file']}:{d['line']}:{d['col']}: warning[{d['code']}]: {d['message']}"
                     for d in warnings] + [
        f"{len(warnings)} warning{'' if len(warnings) == 1 else 's'}: {where}"]
    assert out.rstrip().endswith("FLOPs = 2·MACs")  # the table itself is unchanged


def test_many_warnings_are_counted_not_all_listed(run_cli, tmp_path):
    lines = "".join(f"    b{i}: conv 2 k=1 @input\n" for i in range(30))
    path = tmp_path / "unused.net"
    path.write_text(f"network u():\n    input [8, 8, 3]\n{lines}    conv 2 k=1 @input\n")
    code, out, err = run_cli("table", path)
    assert code == 0 and out
    listed = [line for line in err.splitlines() if "warning[SL308]" in line]
    assert len(listed) == 20 and "… and 10 more" in err and "30 warnings:" in err


# ---- the Python API -----------------------------------------------------------------------
def plain_types(value) -> bool:
    if isinstance(value, (tuple, list)):
        return all(plain_types(v) for v in value)
    return value is None or type(value) in (int, str)


def test_analyse_returns_the_result_with_its_diagnostics():
    result = shapelang.load(ALEXNET).analyse(H=270, W=480, classes=29)
    assert not result.ok and result.complete
    assert [(d.code, d.span.line) for d in result.errors] == [("SL401", 23), ("SL401", 25)]
    assert all(d.severity == "warning" for d in result.warnings) and result.warnings
    assert result.diagnostics == sorted(result.errors + result.warnings,
                                        key=lambda d: d.sort_key())
    total = result.total("params")
    assert type(total) is int and total == ADAPTED["total_params"]
    with pytest.raises(shapelang.ShapelangError) as raised:
        result.raise_for_errors()
    assert raised.value.diagnostics == result.errors


def test_rows_and_totals_are_plain_ints_when_bound():
    result = shapelang.load(ALEXNET).analyse(H=270, W=480, classes=29)
    rows = [asdict(layer) for layer in result.layers]
    json.dumps(rows)  # plain Python values: no sympy number in sight
    assert all(plain_types(list(row.values())) for row in rows)
    no_lrn = [layer for layer in result.layers if layer.op != "lrn"]
    assert [(list(layer.shape), layer.params) for layer in no_lrn] == [
        (shape, params) for _, shape, params in ADAPTED["layers"]]
    for quantity in ("params", "trainable", "non_trainable", "macs", "flops", "size"):
        total = result.total(quantity)
        assert type(total) is int
        assert total == sum(getattr(layer, quantity) for layer in result.layers)
    assert result.total("flops") == 2 * result.total("macs")
    assert result.layer("conv1") is result.layers[1] and result.output is result.layers[-1]
    assert result.bindings == {"H": 270, "W": 480, "classes": 29}
    assert all(type(v) is int for v in result.bindings.values()) and result.symbols == {}


def test_rows_are_closed_forms_when_unbound():
    result = shapelang.load(EXAMPLES / "alexnet_symbolic.net").analyse()
    assert set(result.symbols) == {"H", "W"}
    conv1 = result.layer("conv1")
    H, W = result.symbols["H"], result.symbols["W"]
    assert [conv1.shape[0].subs(H, h) for h in (227, 270)] == [55, 65]  # (h − 11)//4 + 1
    assert conv1.shape[2] == 96 and type(conv1.params) is int and conv1.params == 34_944
    assert result.total("params").subs({H: 270, W: 480}) == (
        ADAPTED["total_params"] - ADAPTED["layers"][-1][2] + 4_097_000)  # 1000 classes, not 29


@pytest.mark.parametrize("alpha", [0.35, "0.35", Fraction(7, 20)], ids=type)
def test_bindings_are_exact_whatever_their_type(alpha):
    """MobileNetV2 at alpha 0.35: 1,691,208 parameters (Keras Applications)."""
    result = shapelang.load(EXAMPLES / "mobilenetv2.net").analyse(alpha=alpha)
    assert result.ok and result.total("params") == 1_691_208
    assert result.bindings["alpha"] == Fraction(7, 20)


API_MISTAKES = [
    # (call on the alexnet result, the exception, words in its message)
    (lambda r: r.layer("conv9"), KeyError, "did you mean `conv1`?"),
    (lambda r: r.total("flop"), ValueError, "'flops'"),
]


@pytest.mark.parametrize("call, exception, words", API_MISTAKES, ids=["layer", "total"])
def test_api_mistakes_say_what_exists(call, exception, words):
    with pytest.raises(exception, match=re.escape(words)):
        call(shapelang.load(ALEXNET).analyse())


def test_unknown_binding_is_a_diagnostic_not_an_exception():
    result = shapelang.load(ALEXNET).analyse(clases=29)
    assert [d.code for d in result.errors] == ["SL213"]
    assert "did you mean `classes`?" in result.errors[0].hint


# ---- Keras's spellings of options ---------------------------------------------------------
NET = "network n():\n    input [{shape}]\n    {line}\n"
SPELLINGS = [
    # (input shape, a line as a Keras user writes it, the same line in shapelang's words)
    ("32, 32, 3", "conv 32 k=3 padding=same activation=relu", "conv 32 k=3 pad=same relu"),
    ("32, 32, 3", "conv filters=32 kernel_size=3 strides=2 use_bias=False",
     "conv 32 k=3 s=2 bias=false"),
    ("32, 32, 3", "conv 8 kernel_size=(3, 5) dilation_rate=2", "conv 8 k=(3, 5) d=2"),
    ("32, 32, 3", "maxpool pool_size=3 strides=2 padding=same", "maxpool k=3 s=2 pad=same"),
    ("32, 32, 3", "avgpool pool_size=2", "avgpool k=2"),
    ("32, 32, 8", "depthwiseconv kernel_size=3 depth_multiplier=2 activation=relu6",
     "depthwiseconv k=3 multiplier=2 relu6"),
    ("32, 32, 8", "depthwiseconv k=3 use_bias=false", "depthwiseconv k=3 bias=false"),
    ("32, 32, 8", "sepconv filters=16 kernel_size=3 depth_multiplier=2",
     "sepconv 16 k=3 multiplier=2"),
    ("64", "dense units=10 activation=softmax use_bias=True", "dense 10 softmax"),
    ("64", "dropout rate=0.5", "dropout 0.5"),
    ("8, 8, 4", "lrn depth_radius=3", "lrn radius=3"),
    ("8, 8, 4", "upsample size=2", "upsample 2"),
    ("8, 8, 4", "zeropad padding=1", "zeropad 1"),
    ("8, 8, 4", "reshape target_shape=[64, 4]", "reshape [64, 4]"),
    ("8, 8, 4", "globalavgpool keepdims=True", "globalavgpool keepdims=true"),
]


@pytest.mark.parametrize("shape, keras_words, ours", SPELLINGS, ids=[s[1] for s in SPELLINGS])
def test_keras_spellings_mean_the_same_layer(shape, keras_words, ours):
    """Same analysis and the same generated Keras program (the layer name aside, which is the
    op's either way)."""
    first, second = (shapelang.loads(NET.format(shape=shape, line=line))
                     for line in (keras_words, ours))
    a, b = first.analyse(), second.analyse()
    assert a.ok and b.ok, (a.errors, b.errors)
    assert [asdict(layer) for layer in a.layers] == [asdict(layer) for layer in b.layers]
    assert first.keras_source() == second.keras_source()


HINTS = [
    # (line, code, words in the message or hint) — the exact spelling, not a near miss
    ("conv 32 k=3 activaton=relu", "SL202", "did you mean `activation`?"),
    ("conv 32 kernal_size=3", "SL202", "did you mean `kernel_size`?"),
    ("conv 32 k=3 stides=2", "SL202", "did you mean `strides`?"),
    ("maxpool pool_sise=2", "SL202", "did you mean `pool_size`?"),
    ("dense 10 use_bais=false", "SL202", "did you mean `use_bias`?"),
    ("conv 32 k=3 frobnicate=1", "SL202", "kernel (k, kernel_size), stride (s, strides)"),
    ("maxpool activation=relu", "SL202", "`maxpool` takes no activation"),
    ("conv 32 k=3 activation=rleu", "SL204", "did you mean `relu`?"),
    ("conv 32", "SL203", "write `k=…`"),
    ("conv 32 k=3 kernel_size=3", "SL219", "as `k=` and as `kernel_size=`"),
    ("conv 32 k=3 relu activation=relu", "SL219", "`relu` at the end of the line"),
    ("conv 32 k=3 filters=16", "SL219", "as the value after `conv`"),
    ("dense 10 bias=False use_bias=true", "SL219", "as `bias=` and as `use_bias=`"),
]


@pytest.mark.parametrize("line, code, words", HINTS, ids=[h[0] for h in HINTS])
def test_option_hints_show_the_exact_spelling(line, code, words):
    diagnostics = shapelang.loads(NET.format(shape="32, 32, 3", line=line)).check()
    (found,) = [d for d in diagnostics if d.severity == "error"]
    assert found.code == code
    assert words in f"{found.message} {found.hint}"


def test_activation_option_takes_a_block_parameter():
    text = ("block unit(f, act = relu):\n    conv f k=3 pad=same activation=act\n"
            "network n():\n    input [8, 8, 3]\n    unit 4\n    unit 4 act=tanh\n")
    result = shapelang.loads(text).analyse()
    assert result.ok
    activations = [r.args.activation for r in result.analysis.layers if r.op == "conv"]
    assert activations == ["relu", "tanh"]


# ---- the README's Python runs as written ---------------------------------------------------
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
EXCERPT = re.compile(r"# (examples/[\w/]+\.net):\d+")


def same(value, expected) -> bool:
    """Equal, and of the same plain type all the way down (a sympy 5 is not the int 5)."""
    if isinstance(expected, (tuple, list)):
        return (type(value) is type(expected) and len(value) == len(expected)
                and all(same(v, e) for v, e in zip(value, expected)))
    return type(value) is type(expected) and value == expected


def trailing_comments(source: str) -> dict[int, str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {t.start[0]: t.string[1:].strip() for t in tokens if t.type == tokenize.COMMENT}


def test_readme_has_python_blocks():
    assert len(PYTHON_BLOCKS) >= 3
    assert any("shapelang.load(" in block for block in PYTHON_BLOCKS)


@pytest.mark.parametrize("block", [b for b in PYTHON_BLOCKS if EXCERPT.search(b)],
                         ids=lambda b: EXCERPT.search(b).group(1))
def test_readme_generated_code_is_what_shapelang_writes(block):
    """Blocks of generated code are verbatim excerpts of what `shapelang keras` (or, for a
    block with `self.layers`, `shapelang torch`) writes."""
    example = EXCERPT.search(block).group(1)
    net = shapelang.load(ROOT / example)
    source = net.torch_source() if "self.layers" in block else net.keras_source()
    assert block in source.replace(str(ROOT) + "/", ""), \
        f"the README's excerpt of {example}'s program is out of date"


@pytest.mark.keras
@pytest.mark.parametrize("block", [b for b in PYTHON_BLOCKS if not EXCERPT.search(b)],
                         ids=lambda b: b.splitlines()[0])
def test_readme_python_runs_and_shows_true_values(block, monkeypatch):
    """Each statement runs in the repository root; an expression whose comment is a Python
    literal must evaluate to exactly that (type included); other comments are prose."""
    pytest.importorskip("keras")
    monkeypatch.chdir(ROOT)
    comments = trailing_comments(block)
    namespace: dict = {}
    checked = 0
    for statement in ast.parse(block).body:
        comment = comments.get(statement.end_lineno, "")
        try:
            expected = ast.literal_eval(comment) if comment else None
        except (ValueError, SyntaxError):
            assert comment[:1].isalpha(), f"line {statement.end_lineno}: `# {comment}` " \
                "looks like a value but is no Python literal"
            expected = None
        if expected is not None and isinstance(statement, ast.Expr):
            value = eval(compile(ast.Expression(statement.value), "README", "eval"), namespace)
            assert same(value, expected), (ast.unparse(statement), value, expected)
            checked += 1
        else:
            # the README is this repository's own text, never a .net file's
            exec(compile(ast.Module([statement], []), "README", "exec"), namespace)  # noqa: S102
    assert checked >= 5
