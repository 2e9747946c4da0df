"""Diagnostic codes as data: every code is defined once in `shapelang/codes.py`; every
diagnostic the package can report names a defined code with the definition's severity (found
by reading the package's syntax trees, not by running it); the README's table is the one the
catalog renders; `shapelang explain` prints a code's documentation."""
import ast
import inspect
import re
import subprocess
import sys

import pytest
from conftest import EXAMPLES, ROOT

from shapelang import codes
from shapelang.codes import CODES, ERROR, NOTE, WARNING, UnknownCode
from shapelang.diagnostics import Diagnostic, error
from shapelang.ir import Span
from shapelang.limits import LimitError

PACKAGE = ROOT / "shapelang"
SOURCES = sorted(PACKAGE.rglob("*.py"))
CODE = re.compile(r"SL\d{3}")
SEVERITY_NAMES = {"ERROR": ERROR, "WARNING": WARNING, "NOTE": NOTE}

# call → (index of the code argument, the severity: a constant, or the index of its argument)
REPORTERS = {
    "error": (0, ERROR),  # diagnostics.error and the analysis walker's self.error
    "DataError": (0, ERROR),  # the training runtime
    "note": (0, NOTE),
    "Diagnostic": (0, 1),
    "warn_or_error": (0, 1),
    "LimitError": (1, ERROR),  # limits.py: its code becomes an error's (expr.py, analysis.py)
}
# Where a code is not a literal, it is a parameter passed on from a call the scan checks.
FORWARDED = {"code", "exc.code"}


def _name(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _argument(call: ast.Call, index: int) -> ast.expr | None:
    return call.args[index] if index < len(call.args) else None


def report_sites(unknown: list):
    """(where, code expression, severity expression or constant) of every reporting call;
    calls of other names that pass a code go to `unknown`."""
    for path in SOURCES:
        if path.name == "codes.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            literals = [a.value for a in call.args
                        if isinstance(a, ast.Constant) and isinstance(a.value, str)
                        and CODE.fullmatch(a.value)]
            kind = _name(call)
            if kind not in REPORTERS:
                if literals:
                    unknown.append(f"{where}: {literals[0]} passed to `{kind}`")
                continue
            code_at, severity = REPORTERS[kind]
            code = _argument(call, code_at)
            if code is None and kind == "LimitError":  # its code's default
                code = ast.Constant(inspect.signature(LimitError).parameters["code"].default)
            if kind == "error" and not literals and not (
                    code is not None and ast.unparse(code) in FORWARDED):
                continue  # argparse's parser.error(message)
            if isinstance(severity, int):
                severity = _argument(call, severity)
            yield where, code, severity


UNKNOWN_REPORTERS: list[str] = []
SITES = list(report_sites(UNKNOWN_REPORTERS))


def test_the_scan_finds_every_literal_code():
    """Every literal code in the package is a reporting call's code, or is compared with one
    (`d.code == "SL302"`, `d.code in ("SL312", "SL313")`), a key, or a parameter's default."""
    assert UNKNOWN_REPORTERS == [], "calls passing a code that the scan does not know"
    reported = {(where.split(":")[0], code.lineno, code.col_offset)
                for where, code, _ in SITES if isinstance(code, ast.Constant)
                and hasattr(code, "lineno")}
    others = []
    for path in SOURCES:
        if path.name == "codes.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        compared, defaults = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                compared |= {id(n) for n in ast.walk(node)}
            elif isinstance(node, ast.Subscript):  # a key: `hints["SL302"]`
                compared |= {id(n) for n in ast.walk(node.slice)}
            elif isinstance(node, ast.arguments):
                defaults |= {id(n) for n in node.defaults}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and CODE.fullmatch(node.value)):
                key = (str(path.relative_to(ROOT)), node.lineno, node.col_offset)
                if key not in reported and id(node) not in compared | defaults:
                    others.append(f"{key[0]}:{key[1]}: {node.value}")
    assert others == []
    assert len(reported) > 150


def test_every_diagnostic_error_wraps_a_diagnostic_made_where_the_scan_sees_it():
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            if _name(call) == "DiagnosticError":
                (argument,) = call.args
                assert isinstance(argument, ast.Call) and _name(argument) == "Diagnostic", (
                    f"{path.relative_to(ROOT)}:{call.lineno}: {ast.unparse(argument)}")


@pytest.mark.parametrize("where, code, severity", SITES, ids=[s[0] for s in SITES])
def test_every_reporting_call_names_a_defined_code_with_its_severity(where, code, severity):
    if not isinstance(code, ast.Constant):
        assert code is not None and ast.unparse(code) in FORWARDED, \
            f"{where}: a code that is neither a literal nor passed on"
        return
    assert code.value in CODES, f"{where}: {code.value} is not defined in shapelang/codes.py"
    if isinstance(severity, str):
        wanted = severity
    elif isinstance(severity, ast.Name) and severity.id in SEVERITY_NAMES:
        wanted = SEVERITY_NAMES[severity.id]
    elif isinstance(severity, ast.Constant):
        wanted = severity.value
    else:
        pytest.fail(f"{where}: a severity the scan cannot read: {ast.unparse(severity)}")
    assert wanted == CODES[code.value].severity, (
        f"{where}: {code.value} reported as {wanted}, defined as {CODES[code.value].severity}")


def test_every_code_the_package_mentions_is_defined():
    """Comparisons (`d.code == "SL302"`), docstrings and comments included."""
    for path in SOURCES:
        for found in CODE.findall(path.read_text(encoding="utf-8")):
            assert found in CODES, f"{path.relative_to(ROOT)} mentions {found}, never defined"


def test_every_defined_code_is_reported_somewhere():
    reported = {code.value for _, code, _ in SITES if isinstance(code, ast.Constant)}
    assert set(CODES) - reported == set()


# ---- the catalog itself ---------------------------------------------------------------------
@pytest.mark.parametrize("code", CODES.values(), ids=list(CODES))
def test_definition_is_complete(code):
    assert CODE.fullmatch(code.code) and code.code[2] in "12345"
    assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", code.name)
    assert code.severity in (ERROR, WARNING, NOTE)
    assert code.summary and "\n" not in code.summary and not code.summary.endswith(".")
    assert code.doc.endswith(".") and len(code.doc) > len(code.summary)
    assert code.hint is None or (code.hint and "\n" not in code.hint)


def test_codes_are_in_order_and_names_unique():
    assert list(CODES) == sorted(CODES)
    assert len({c.name for c in CODES.values()}) == len(CODES)


def test_catalog_imports_nothing_of_shapelang():
    """The training runtime runs without the analysis: the catalog must import alone."""
    tree = ast.parse((PACKAGE / "codes.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import"
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
    script = ("import importlib.util, sys\n"
              f"spec = importlib.util.spec_from_file_location('codes', {str(PACKAGE / 'codes.py')!r})\n"
              "module = importlib.util.module_from_spec(spec)\n"
              "sys.modules['codes'] = module\n"
              "spec.loader.exec_module(module)\n"
              "assert not any(m.split('.')[0] == 'shapelang' for m in sys.modules)\n"
              "print(len(module.CODES), module.CODES['SL305'].severity)\n")
    out = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                         check=True, cwd="/").stdout
    assert out.split() == [str(len(CODES)), WARNING]


# ---- diagnostics resolve their code ---------------------------------------------------------
SPAN = Span("a.net", 1, 1, 1, 2)


@pytest.mark.parametrize("make", [
    lambda: Diagnostic("SL999", ERROR, "m", SPAN),
    lambda: error("SL999", "m", SPAN),
    lambda: Diagnostic("SL305", ERROR, "m", SPAN),  # a warning by definition
    lambda: Diagnostic("SL301", WARNING, "m", SPAN),
    lambda: error("SL306", "m", SPAN),  # a note by definition
], ids=["unknown", "unknown-error", "warning-as-error", "error-as-warning", "note-as-error"])
def test_an_undefined_code_or_another_severity_fails_at_once(make):
    with pytest.raises(UnknownCode):
        make()


def test_a_site_without_hint_gets_the_default_and_a_given_hint_stays():
    assert Diagnostic("SL219", ERROR, "m", SPAN).hint == CODES["SL219"].hint == "keep one of them"
    assert error("SL219", "m", SPAN).diagnostic.hint == "keep one of them"
    assert Diagnostic("SL219", ERROR, "m", SPAN, "mine").hint == "mine"
    assert Diagnostic("SL219", ERROR, "m", SPAN, None).hint is None  # none, on purpose
    assert error("SL302", "m", SPAN).diagnostic.hint is None  # found later, by solving


def test_an_undefined_code_is_an_internal_error_of_the_command(run_cli, monkeypatch):
    import shapelang.cli

    def broken(network, bindings):
        raise error("SL999", "never reported", network.span)

    monkeypatch.setattr(shapelang.cli, "analyse", broken)
    code, out, err = run_cli("check", EXAMPLES / "lenet.net")
    assert code == 2 and "internal error" in err and "SL999" in err and not out


# ---- the README's table -----------------------------------------------------------------------
def test_readme_code_table_is_the_rendered_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(codes.TABLE_BEGIN) == 1 and readme.count(codes.TABLE_END) == 1
    start = readme.index(codes.TABLE_BEGIN)
    end = readme.index(codes.TABLE_END) + len(codes.TABLE_END)
    assert readme[start:end] == codes.markdown_table(), (
        "the README's code table is out of date: `shapelang explain --markdown --write README.md`")
    rows = re.findall(r"^\| (SL\d{3}) \| `([a-z0-9-]+)` \| (\w+) \|", readme[start:end],
                      re.MULTILINE)
    assert rows == [(c.code, c.name, c.severity) for c in CODES.values()]


def test_explain_markdown_write_replaces_only_the_table(run_cli, tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stale = tmp_path / "README.md"
    stale.write_text(readme.replace("| SL219 |", "| SL299 |"), encoding="utf-8")
    assert run_cli("explain", "--markdown", "--write", stale)[0] == 0
    assert stale.read_text(encoding="utf-8") == readme
    code, out, _ = run_cli("explain", "--markdown")
    assert code == 0 and out == codes.markdown_table() + "\n"


@pytest.mark.parametrize("args", [
    ("explain", "--write", "README.md"),  # without --markdown
    ("explain", "--markdown", "--write", "{tmp}/no_table.md"),
    ("explain", "--markdown", "--write", "{tmp}/missing.md"),
])
def test_explain_write_refusals_are_usage_errors(args, run_cli, tmp_path):
    (tmp_path / "no_table.md").write_text("# no table here\n", encoding="utf-8")
    code, out, err = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert code == 2 and not out and err.startswith("shapelang: error:") and "Traceback" not in err
    assert (tmp_path / "no_table.md").read_text(encoding="utf-8") == "# no table here\n"


# ---- shapelang explain ------------------------------------------------------------------------
@pytest.mark.parametrize("code", CODES.values(), ids=list(CODES))
def test_explain_prints_a_codes_doc(code, run_cli):
    status, out, err = run_cli("explain", code.code)
    assert status == 0 and not err
    assert out.startswith(f"{code.code} ({code.name}): {code.summary}\n")
    assert f"Severity: {code.severity}" in out
    assert " ".join(out.split()).count(" ".join(code.doc.split())) == 1
    assert run_cli("explain", code.name)[1] == out
    assert run_cli("explain", code.code.lower())[1] == out


def test_explain_without_code_lists_every_code_once(run_cli):
    status, out, _ = run_cli("explain")
    listed = [line.split()[0] for line in out.splitlines()]
    assert status == 0 and listed == list(CODES)


@pytest.mark.parametrize("word, suggestion", [
    ("SL2019", "SL219"), ("defined-twise", "defined-twice"), ("nothing-at-all", None)])
def test_explain_of_an_unknown_code_is_a_usage_error(word, suggestion, run_cli):
    status, out, err = run_cli("explain", word)
    assert status == 2 and not out and f"no code `{word}`" in err
    assert (f"did you mean `{suggestion}`?" in err) if suggestion else "lists every code" in err
