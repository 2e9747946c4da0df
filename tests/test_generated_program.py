"""The generated program is the analysed network, and nothing else runs (issue 8).

- Code from a file path: hostile directory names (quotes, triple quotes, backslashes, newlines,
  carriage returns, U+2028, control characters) through `keras` and `train`; the program parses,
  its `summary` runs, and no marker file appears.
- The writer (`pywriter`): every text a comment, docstring or literal gets stays on its line and
  inside its quotes; the identifier allocator never hands out a keyword, builtin or taken name.
- The issue's reproducers (names that collide, scopes, loops whose iterations differ), each
  built in Keras and compared with the analysis layer by layer, wiring included, and against
  the numbers the issue states.
- Diagnostics: two paths with one name (SL207 at `check`), a number a float64 cannot hold
  (SL209 at `check`), a parameter that is a Python keyword (SL550)."""
import ast
import builtins
import keyword
import subprocess
import textwrap

import pytest
from conftest import EXAMPLES, PYTHON, python_env
from hypothesis import given, settings
from hypothesis import strategies as st

import shapelang
from shapelang.codegen.pywriter import Namespace, comment, docstring, literal, visible

MARKER = "PWNED"
PAYLOAD = f'__import__("os").system("touch {MARKER}")'
# Directory names a repository could carry: each would end a comment, a string or a docstring
# of a program that wrote paths raw, or put a line of code of its own into it.
HOSTILE_DIRECTORIES = {
    "triple_quotes": f'q"""+str({PAYLOAD})+"""',
    "single_triple_quotes": f"q'''+str({PAYLOAD})+'''",
    "newline": f"x\n{PAYLOAD}\n#",
    "newline_indented": f"x\n    {PAYLOAD}\n",
    "carriage_return": f"x\r{PAYLOAD}\r",
    "line_separator": f"x\u2028{PAYLOAD}\u2029y\x85z",
    "controls": f"x\x0b\x0c\x1c\x1d\x1e\x1b[31m{PAYLOAD}\x7f",
    "backslashes": f"x\\\\\"\\'{PAYLOAD}\\",
    "quotes": f"\"'{PAYLOAD}'\"",
}
NETWORK = ("block cell(f):\n    dense f relu\n    dense f\n    add @input\n"
           "network tiny(n = 4):\n    input [4]\n    repeat 2:\n        cell n\n"
           "    batchnorm\n    dense 3 softmax\n")


def _hostile_file(tmp_path, key):
    directory = tmp_path / "repo" / HOSTILE_DIRECTORIES[key]
    directory.mkdir(parents=True)
    path = directory / "tiny.net"
    path.write_text(NETWORK, encoding="utf-8")
    return path


def _markers(root):
    """Files the payload would have made (the directories' own names hold it as text)."""
    return [p for p in root.rglob(MARKER)]


COMMENTED_LINE = {"keras": 6, "torch": 9}  # a line of NETWORK each program comments on


@pytest.mark.parametrize("backend", sorted(COMMENTED_LINE))
@pytest.mark.parametrize("key", sorted(HOSTILE_DIRECTORIES))
def test_a_hostile_path_is_only_text_in_the_program(tmp_path, key, backend, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _hostile_file(tmp_path, key)
    out = tmp_path / f"tiny_{backend}.py"
    code, _, err = run_cli(backend, path, "-o", out)
    assert code == 0, err
    source = out.read_text(encoding="utf-8")
    tree = ast.parse(source)
    # the path is in the docstring and in the comments, escaped; in no string, name or call
    assert visible(str(path)) in ast.get_docstring(tree)
    assert comment(f"{path}:{COMMENTED_LINE[backend]}") in source
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
                  and ast.get_docstring(node) is not None}
    assert all(str(path) not in c.value for c in ast.walk(tree)
               if isinstance(c, ast.Constant) and isinstance(c.value, str)
               and id(c) not in docstrings)
    assert not any(isinstance(n, ast.Name) and n.id == "__import__" for n in ast.walk(tree))
    assert len(source.splitlines()) == len(source.split("\n")) - 1  # no line break but \n
    assert _markers(tmp_path) == []


@pytest.mark.keras
@pytest.mark.slow
def test_a_hostile_path_program_runs_and_runs_nothing_else(tmp_path, run_cli, monkeypatch):
    """`python model.py summary` of every hostile path's program: exit 0, no marker."""
    pytest.importorskip("keras")
    monkeypatch.chdir(tmp_path)
    programs = []
    for key in sorted(HOSTILE_DIRECTORIES):
        out = tmp_path / f"{key}_keras.py"
        code, _, err = run_cli("keras", _hostile_file(tmp_path / key, key), "-o", out)
        assert code == 0, err
        programs.append(out)
    runner = "import runpy, sys\nfor p in sys.argv[1:]:\n" \
             "    sys.argv = [p, 'summary']\n" \
             "    try:\n        runpy.run_path(p, run_name='__main__')\n" \
             "    except SystemExit as e:\n        assert not e.code, (p, e.code)\n"
    result = subprocess.run([PYTHON, "-c", runner, *map(str, programs)], cwd=tmp_path,
                            capture_output=True, text=True, env=python_env(), check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("tiny: 111 parameters") == len(programs)
    assert _markers(tmp_path) == []


def test_a_hostile_path_torch_program_is_the_analysed_network_and_runs_nothing_else(
        tmp_path, run_cli, monkeypatch):
    """Every hostile path's torch program, imported and built: the analysed network, its wiring
    included (`torch_oracle`), and no marker."""
    pytest.importorskip("torch")
    import importlib.util

    from torch_oracle import differences

    monkeypatch.chdir(tmp_path)
    for key in sorted(HOSTILE_DIRECTORIES):
        path = _hostile_file(tmp_path / key, key)
        out = tmp_path / f"{key}_torch.py"
        code, _, err = run_cli("torch", path, "-o", out)
        assert code == 0, err
        spec = importlib.util.spec_from_file_location(f"hostile_path_{key}", out)
        program = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(program)
        model = program.build_model()
        buffers = sum(b.numel() for name, b in model.named_buffers()
                      if not name.endswith("num_batches_tracked"))
        assert sum(p.numel() for p in model.parameters()) + buffers == 111  # as for Keras
        assert differences(shapelang.load(path).analyse().analysis, model) == []
    assert _markers(tmp_path) == []


@pytest.mark.keras
@pytest.mark.parametrize("key", ["triple_quotes", "newline_indented", "line_separator"])
def test_train_from_a_hostile_path_trains_and_runs_nothing_else(tmp_path, key, run_cli,
                                                                  monkeypatch):
    pytest.importorskip("tensorflow")
    monkeypatch.chdir(tmp_path)
    path = _hostile_file(tmp_path, key)
    code, out, err = run_cli("train", path, "--data", "synthetic", "--synthetic-size", "8",
                             "--batch-size", "4", "--epochs", "1", "--validation-split", "0",
                             "--checkpoint-dir", tmp_path / "ckpt", "-q")
    assert code == 0, err[-3000:]
    assert "final: epochs=1" in out
    assert _markers(tmp_path) == []


# ---- the writer ------------------------------------------------------------------------------
TEXTS = [*HOSTILE_DIRECTORIES.values(), "", "plain", "ends with a backslash\\", '"', "'''",
         'a"""b', "é ü 中 \u202e (a right-to-left override)", "\x00nul", "tab\there"]


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_comment_docstring_and_literal_hold_any_text(text):
    source = (f"def f():\n    {docstring([f'first {text}', '', f'third {text}'], '    ')}\n"
              f"    {comment(text)}\n    return {literal(text)}\n")
    tree = ast.parse(source)
    function = tree.body[0]
    assert len(source.splitlines()) == 7 and len(function.body) == 2
    assert ast.get_docstring(function, clean=False).splitlines()[0] == f"first {visible(text)}"
    assert ast.literal_eval(function.body[1].value) == text
    assert len(visible(text).splitlines()) <= 1 and visible(text).isprintable()


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_any_text_stays_a_comment_and_a_literal(text):
    source = f"{comment(text)}\nvalue = {literal(text)}\n{docstring(text)}\n"
    tree = ast.parse(source)
    assert len(tree.body) == 2 and len(source.splitlines()) == 3
    assert ast.literal_eval(tree.body[0].value) == text
    assert visible(text).isprintable() and len(visible(text).splitlines()) <= 1


@settings(max_examples=300, deadline=None)
@given(hints=st.lists(st.text(min_size=0, max_size=12), max_size=20))
def test_the_allocator_gives_fresh_identifiers_only(hints):
    module = Namespace(user_names={"x", "layers"})
    module.claim_exact("layers")
    scope = module.child()
    names = [scope.claim(h, user=bool(k % 2)) for k, h in enumerate(hints)]
    assert len(set(names)) == len(names)
    for name in names:
        assert name.isidentifier() and not keyword.iskeyword(name)
        assert not keyword.issoftkeyword(name) and not hasattr(builtins, name)
        assert name != "layers"


def test_generated_names_avoid_user_names_and_user_names_avoid_the_programs():
    module = Namespace(user_names={"x", "inputs", "str"})
    for name in ("build_model", "keras"):
        module.claim_exact(name)
    scope = module.child()
    assert scope.claim("x") == "x_2"  # the generator's `x` leaves the user's `x` alone
    assert scope.claim("x", user=True) == "x"
    assert scope.claim("str", user=True) == "str_2"  # a builtin
    assert scope.claim("keras", user=True) == "keras_2"  # the program's import
    assert scope.claim("build_model", user=True) == "build_model_2"
    assert scope.claim("lambda", user=True) == "lambda_2"
    assert scope.claim("__name__", user=True) == "__name___2"


# ---- the reproducers, built and compared with the analysis ---------------------------
def _net(text):
    return textwrap.dedent(text).lstrip("\n")


REPRODUCERS = {  # name: (the file, parameter counts by hand: in·units + units)
    "parameter_i_with_repeat": (_net("""
        network m(i = 8):
            input [16]
            repeat 2:
                dense i
        """), {"repeat1.dense_1": 136, "repeat2.dense_1": 72}),
    "block_parameter_i": (_net("""
        block b(i):
            repeat 2:
                dense i
        network m():
            input [16]
            b 8
            b 4
        """), {"b_1.repeat2.dense_1": 72, "b_2.repeat2.dense_1": 20}),
    "labels_x_and_t_x": (_net("""
        network m():
            input [16]
            x: dense 8
            t_x: dense 8 @input
            add @x @t_x
        """), {"x": 136, "t_x": 136}),
    "label_block_input_1_in_an_inlined_block": (_net("""
        block b(p = same):
            block_input_1: dense 8
            dense 8
            add @block_input_1
        network m():
            input [16]
            b
            b p=valid
            dense 3
        """), {"b_1.block_input_1": 136, "b_2.block_input_1": 72}),
    "label_i_inside_repeat": (_net("""
        network m():
            input [16]
            repeat 2:
                i: dense 8
                dense 8 @i
        """), {"repeat1.i": 136, "repeat2.dense_1": 72}),
    "block_parameter_name": (_net("""
        block b(name):
            dense name
        network m():
            input [16]
            b 8
            b 4
        """), {"b_1.dense_1": 136, "b_2.dense_1": 36}),
    "builtins_and_a_block_named_argparse": (_net("""
        block argparse(str, int = 3):
            dense int
            max: dense str
            range: dense str
            add @max @range
        network m(str = 8, max = 2, range = 3):
            input [16]
            int: dense str
            argparse max
            repeat range:
                dense str
            add @int
        """), {"int": 136, "argparse_1.max": 8, "repeat3.dense_1": 72}),
    "parametric_parameter_named_like_a_builtin": (_net("""
        network m(str = 8, layers = 2):
            input [16]
            dense str
            dense layers
        """), {"dense_1": 136, "dense_2": 18}),
    "outer_label_reused_inside_repeat": (_net("""
        network m():
            input [16]
            a: dense 8
            repeat 2:
                a: dense 8
                dense 8 @a
            add @a
        """), {"a": 136, "add_1": 0}),
    "block_in_place_reusing_an_outer_label": (_net("""
        block b(p = same):
            a: dense 8
            dense 8 @a
        network m():
            input [16]
            a: dense 8
            b
            b p=valid
            add @a
        """), {"a": 136, "b_2.a": 72}),
    "repeat_whose_iterations_differ": (_net("""
        network m():
            input [4]
            repeat 2:
                a: relu
                dense (2 * channels(@a))
        """), {"repeat1.dense_1": 40, "repeat2.dense_1": 144}),
    "block_repeat_whose_iterations_differ": (_net("""
        block g(n):
            repeat n:
                a: relu
                dense (2 * channels(@a))
        network m():
            input [4]
            g 2
            g 3
        """), {"g_2.repeat3.dense_1": 8320}),
    "repeat_label_read_later": (_net("""
        network m():
            input [8]
            r: repeat 3:
                dense 8
            dense 4
            dense 8
            add @r
        """), {"r3.dense_1": 72, "add_1": 0}),
    "return_of_a_label": (_net("""
        block b(f):
            out: dense f
            return @out
        network m():
            input [4]
            a: b 3
            b 3 @a
        """), {"a.out": 15, "b_1.out": 12}),
    "network_input_labelled_and_read": (_net("""
        network m():
            x: input [4]
            dense 4
            add @x
        """), {"dense_1": 20}),
}
TOTALS = {"repeat_whose_iterations_differ": 184}  # the figure: 184 parameters in all


def _build(net):
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    return net.to_keras()


@pytest.mark.keras
@pytest.mark.parametrize("case", sorted(REPRODUCERS))
def test_reproducer_builds_the_analysed_network(case):
    from keras_oracle import differences

    text, expected = REPRODUCERS[case]
    net = shapelang.loads(text, f"{case}.net")
    analysis = net.analyse().analysis
    for name, params in expected.items():  # the analysis itself says what the issue says
        assert int(analysis.by_name(name).params) == params, name
    if case in TOTALS:
        assert int(analysis.total("params")) == TOTALS[case]
    model = _build(net)
    assert differences(analysis, model) == []


def test_a_loop_is_written_only_for_iterations_that_are_the_same():
    same = shapelang.loads(REPRODUCERS["label_i_inside_repeat"][0]).keras_source()
    differ = shapelang.loads(REPRODUCERS["repeat_whose_iterations_differ"][0]).keras_source()
    assert "for i" in same and "str(i" in same
    assert "for " not in differ.split("def build_model")[1].split("INPUT_SHAPE")[0]
    assert "units=8" in differ and "units=16" in differ


def test_a_renamed_parameter_is_documented_and_still_a_parameter():
    source = shapelang.loads(REPRODUCERS["parametric_parameter_named_like_a_builtin"][0]) \
        .keras_source()
    assert "def build_model(str_2=8, layers_2=2):" in source
    assert "`str_2` is the network's `str`." in source


# ---- diagnostics ---------------------------------------------------------------------------
def _diagnostics(text):
    try:
        diagnostics = shapelang.loads(text).check()
    except shapelang.ShapelangError as exc:  # a literal past the limits stops the parse
        diagnostics = exc.diagnostics
    return [(d.code, d.span.line, d.span.col) for d in diagnostics if d.severity == "error"]


PATH_CLASHES = [
    # a block `i2` used once and a repeat labelled `i2`: both would name layers `i2_1.…`
    ("""
     block i2():
         dense 8
     network m():
         input [16]
         i2
         i2: repeat 2:
             dense 8
     """, [("SL207", 6, 5)]),
    ("""
     block b():
         dense 4
     network m():
         input [16]
         r: repeat 2:
             dense 8
         r1: b
     """, [("SL207", 7, 5)]),
    ("""
     network m():
         input [16]
         r: repeat 2:
             dense 8
         r: repeat 2:
             dense 8
     """, [("SL207", 5, 5)]),
]


@pytest.mark.parametrize("text, expected", PATH_CLASHES)
def test_two_paths_with_one_name_are_an_error_at_check(text, expected):
    assert _diagnostics(_net(text)) == expected


def test_an_unlabelled_repeat_skips_a_name_a_label_took():
    text = ("network m():\n    input [16]\n    repeat 2:\n        dense 8\n"
            "    repeat_2: repeat 2:\n        dense 8\n    repeat 1:\n        dense 8\n")
    names = [r.name for r in shapelang.loads(text).analyse().layers]
    assert len(names) == len(set(names))
    assert "repeat_3_1.dense_1" in names


@pytest.mark.parametrize("line, column", [
    ("batchnorm epsilon=1e-400", 23), ("batchnorm epsilon=1e400", 23), ("dropout 1e-320", 13),
    ("lrn alpha=1e-330", 15),
])
def test_a_number_a_float64_cannot_hold_is_an_error_at_its_line(line, column):
    text = f"network m():\n    input [4, 4, 2]\n    {line}\n"
    assert _diagnostics(text) == [("SL209", 3, column)]


def test_the_finest_decimal_accepted_and_ordinary_decimals_pass():
    # Decimals finer than 10^-60 are refused by the limits (SL209) before any float64 question.
    assert _diagnostics("network m():\n    input [4]\n    batchnorm epsilon=1e-60\n"
                        "    dropout 0.1\n") == []
    assert _diagnostics("network m():\n    input [4]\n    dense 2\ntrain:\n"
                        "    optimizer sgd lr=1e-999\n") == [("SL209", 5, 22)]


def test_a_network_parameter_that_is_a_python_keyword_cannot_be_a_keyword_argument(run_cli,
                                                                                  tmp_path):
    path = tmp_path / "k.net"
    path.write_text("network k(lambda = 3):\n    input [8]\n    dense lambda\n")
    code, _, err = run_cli("keras", path)
    assert code == 1 and "SL550" in err and ":1:11:" in err


def test_a_padding_layer_taking_a_labels_name_is_sl552_naming_both_lines(run_cli, tmp_path):
    path = tmp_path / "p.net"
    path.write_text("network p():\n    input [8, 8, 1]\n    c: conv 2 k=3 pad=1\n"
                    "    c_pad: relu\n")
    code, _, err = run_cli("keras", path)
    assert code == 1 and "SL552" in err
    assert "line 4" in err and "line 3" in err and "rename the label `c_pad`" in err


# ---- the oracle itself -----------------------------------------------------------------------
@pytest.mark.keras
def test_the_oracle_sees_a_miswired_model():
    """`differences` reports a model whose shapes and counts agree but whose wiring does not."""
    from keras_oracle import differences

    keras = pytest.importorskip("keras")
    analysis = shapelang.loads("network m():\n    input [4]\n    a: dense 4\n    b: dense 4\n"
                               "    concat @a @b\n").analyse().analysis
    inputs = keras.Input(shape=(4,), name="input")
    a = keras.layers.Dense(4, name="a")(inputs)
    b = keras.layers.Dense(4, name="b")(a)
    right = keras.Model(inputs, keras.layers.Concatenate(name="concat_1")([a, b]))
    swapped = keras.Model(inputs, keras.layers.Concatenate(name="concat_1")([b, a]))
    assert differences(analysis, right) == []
    assert differences(analysis, swapped) == ["`concat_1` reads ['b', 'a'], analysed ['a', 'b']"]


def test_check_imports_no_tensorflow_for_a_hostile_path(tmp_path):
    path = _hostile_file(tmp_path, "newline")
    code = ("import sys, shapelang.cli as c\nc.main(['check', sys.argv[1]])\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    result = subprocess.run([PYTHON, "-c", code, str(path)], capture_output=True, text=True,
                            env=python_env(), check=False)
    assert result.returncode == 0, result.stderr


def test_every_example_program_parses_and_holds_its_own_path(tmp_path):
    for example in sorted(EXAMPLES.glob("*.net")):
        net = shapelang.load(example)
        if net.analyse().symbols:
            continue
        tree = ast.parse(net.keras_source())
        assert str(example) in ast.get_docstring(tree)


def test_the_runtime_names_are_reserved():
    """Every top-level name of the runtime is taken before a user's name can be given."""
    from shapelang.codegen.keras import _module_namespace
    from shapelang.codegen.names import _runtime_names

    module = _module_namespace(shapelang.loads("network m():\n    input [4]\n").ir)
    assert {"run_main", "load_dataset", "DataError", "np", "argparse", "Path"} <= \
        set(_runtime_names())
    assert all(module.bound(name) for name in _runtime_names())



# ---- closed forms as Python --------------------------------------------------------------------
@st.composite
def closed_forms(draw, depth=0):
    import sympy

    H, W = (sympy.Symbol(n, integer=True, positive=True) for n in ("H", "W"))
    leaf = st.one_of(st.sampled_from([H, W]), st.integers(-5, 9).map(sympy.Integer),
                     st.tuples(st.integers(-7, 7), st.integers(1, 6)).map(
                         lambda pq: sympy.Rational(*pq)))
    if depth >= 3:
        return draw(leaf)
    a, b = draw(closed_forms(depth + 1)), draw(closed_forms(depth + 1))
    return draw(st.sampled_from([
        a + b, a * b, a - b, sympy.floor(a / 2), sympy.ceiling(a / 3), sympy.Min(a, b),
        sympy.Max(a, b), sympy.Abs(a), a ** 2, sympy.Mod(a, 4),
    ]))


@settings(max_examples=300, deadline=None)
@given(form=closed_forms(), h=st.integers(1, 300), w=st.integers(1, 300))
def test_a_closed_form_is_written_as_exact_python(form, h, w):
    """The Python a closed form is written as computes what sympy computes, exactly."""
    import math
    from fractions import Fraction

    import sympy

    from shapelang.codegen.closed_form import Unwritable, python_value

    try:
        code = python_value(form, {"H": "height", "W": "width"})
    except Unwritable:
        return  # a form shapelang does not produce (the generator then plans without it)
    value = form.subs({sympy.Symbol("H", integer=True, positive=True): h,
                       sympy.Symbol("W", integer=True, positive=True): w})
    got = eval(code, {"math": math, "Fraction": Fraction}, {"height": h, "width": w})
    if form.is_integer:  # an int argument (filters, a kernel): exact
        assert got == int(value) and isinstance(got, int), code
    else:  # a float argument (a rate): the float nearest the exact value
        assert got == float(value), code
