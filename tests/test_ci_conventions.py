"""CI conventions (issue 12, item 1), on the fixture repository tests/fixtures/ci_repo/: a warning
silenced by an inline comment and by pyproject.toml, --select / --ignore, an unused suppression
reported under --strict, directories searched, SARIF validated against the OASIS schema, the
pre-commit hook run; and the README's GitHub workflow run as written.

Each claim is checked against what the same file reports without the setting (a copy without
the comment, outside the project), and the stride arithmetic by hand."""
from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLES, PYTHON, ROOT, python_env

from shapelang.codes import CODES

FIXTURE = ROOT / "tests" / "fixtures" / "ci_repo"
SCHEMA = ROOT / "tests" / "schemas" / "sarif-schema-2.1.0.json"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A copy of the fixture repository, as the working directory."""
    copy = tmp_path / "repo"
    shutil.copytree(FIXTURE, copy)
    monkeypatch.chdir(copy)
    return copy


def reported(run_cli, *args):
    """(exit code, [(code, file, line, col)]) of `check --format json ARGS…`."""
    code, out, _ = run_cli("check", "--format", "json", *args)
    return code, [(d["code"], d["file"], d["line"], d["col"]) for d in json.loads(out)]


def without_comments(text: str) -> str:
    return "\n".join(line.split("#")[0].rstrip() for line in text.split("\n"))


# ---- a warning silenced by an inline comment ---------------------------------------------------
def test_the_fixtures_stride_drops_rows_by_hand():
    """frames.net: a stride-4, 11-wide window on 270 rows reads rows up to
    (⌊(270 − 11)/4⌋)·4 + 11 = 267: the last 3 rows unread; on 227 columns it reads all."""
    assert ((270 - 11) // 4) * 4 + 11 == 267 and ((227 - 11) // 4) * 4 + 11 == 227


def test_an_inline_comment_silences_the_warning_of_its_line(run_cli, repo, tmp_path):
    code, found = reported(run_cli, "nets/frames.net")
    assert (code, found) == (0, [])
    bare = tmp_path / "frames.net"  # the same network without the comment, outside the project
    bare.write_text(without_comments((repo / "nets" / "frames.net").read_text()))
    code, out, _ = run_cli("check", bare)
    assert code == 0 and f"{bare}:4:5: warning[SL305]" in out and "last 3 rows" in out


@pytest.mark.parametrize("comment, silenced, malformed, unused", [
    ("# shapelang: ignore[SL305]", True, 0, 0),
    ("# shapelang: ignore[unread-rows]", True, 0, 0),  # by the code's name
    ("# shapelang:ignore[SL308, SL305]", True, 0, 1),  # SL308: not reported there
    ("# shapelang: ignore", True, 0, 0),  # bare: every code of the line
    ("# noqa: SL305", True, 0, 0),  # flake8's spelling
    ("# noqa", True, 0, 0),
    ("# why # shapelang: ignore[SL305]", True, 0, 0),  # a second comment on the line
    ("#shapelang:ignore[SL305]#noqa", True, 0, 0),
    ("# why: shapelang: ignore[SL305]", False, 0, 0),  # prose that mentions it
    ("# read the noqa docs", False, 0, 0),
    ("# shapelang: ignore[SL308]", False, 0, 1),  # another code
    ("# noqa: E501", False, 0, 0),  # another tool's code
    ("# shapelang: ignore[SL999]", False, 1, 0),  # no such code: SL151
    ("# shapelang: ignore[SL305, SL999]", True, 1, 0),
    ("# shapelang: ignore[]", False, 1, 0),
    ("# shapelang: ignore[SL305", False, 1, 0),  # unclosed
    ("# shapelang: ignored", False, 1, 0),
    ("# shapelang ignore[SL305]", False, 0, 0),  # no colon: an ordinary comment
])
def test_suppression_comments(run_cli, tmp_path, comment, silenced, malformed, unused):
    path = tmp_path / "frames.net"
    text = without_comments((FIXTURE / "nets" / "frames.net").read_text()).split("\n")
    text[3] += "   " + comment
    path.write_text("\n".join(text))
    _, found = reported(run_cli, path)
    codes = [c for c, *_ in found]
    assert ("SL305" not in codes) == silenced
    assert codes.count("SL151") == malformed
    assert codes.count("SL150") == unused
    assert set(codes) <= {"SL305", "SL151", "SL150"}


@pytest.mark.parametrize("comment", [
    "# shapelang: ignore[" + "SL999, " * 30_000 + "]",
    "# noqa: " + "SL999 " * 40_000,
    "# shapelang: ignore[" + "[" * 200_000,
    "#" * 250_000,
], ids=["unknown-codes", "noqa-codes", "brackets", "hashes"])
def test_a_hostile_comment_is_one_diagnostic_quickly(run_cli, tmp_path, comment):
    import time

    path = tmp_path / "hostile.net"
    path.write_text("network n():\n    input [4, 4, 3]  " + comment + "\n    flatten\n")
    started = time.monotonic()
    code, out, _ = run_cli("check", path, "--strict")
    assert time.monotonic() - started < 10
    malformed = 0 if comment.startswith("##") else 1
    assert (code, out.count("warning[SL151]")) == (malformed, malformed)  # --strict: fails
    assert len(out) < 5_000


def test_a_suppression_covers_every_line_of_a_continued_statement(run_cli, tmp_path):
    path = tmp_path / "continued.net"
    path.write_text("network n(H = 270):\n    input [H, 227, 3]\n    conv 96 k=11 \\\n"
                    "        s=4   # shapelang: ignore[SL305]\n    globalavgpool\n")
    assert reported(run_cli, path) == (0, [])
    path.write_text(without_comments(path.read_text()))
    assert [c for c, *_ in reported(run_cli, path)[1]] == ["SL305"]


def test_syntax_errors_are_neither_suppressed_nor_deselected(run_cli, tmp_path):
    path = tmp_path / "broken.net"
    path.write_text("network n:\n    input [4, 4, 3]  # shapelang: ignore\n    conv 8 k=(3\n")
    for args in ((path,), (path, "--ignore", "SL1"), (path, "--select", "SL3")):
        code, found = reported(run_cli, *args)
        assert code == 1 and [c for c, *_ in found] == ["SL103"]


# ---- a warning silenced by pyproject.toml; the command line wins ------------------------------
def test_pyproject_silences_a_warning_in_every_file_below_it(run_cli, repo, tmp_path):
    code, found = reported(run_cli, "nets/branches/probe.net")  # two directories below
    assert (code, found) == (0, [])
    outside = tmp_path / "probe.net"
    shutil.copy(repo / "nets" / "branches" / "probe.net", outside)
    code, found = reported(run_cli, outside)
    assert (code, found) == (0, [("SL308", str(outside), 5, 5)])


@pytest.mark.parametrize("flags", [("--extend-select", "SL308"), ("--select", "SL308"),
                                   ("--select", "unused-output")])
def test_command_line_selection_wins_over_the_table(run_cli, repo, flags):
    code, found = reported(run_cli, "nets/branches/probe.net", *flags)
    assert found == [("SL308", "nets/branches/probe.net", 5, 5)]
    assert code == 1  # the table's strict = true: a warning fails


def test_command_line_strict_wins_over_the_table(run_cli, repo):
    stale = [("SL150", "nets/stale.net", 4, 32)]
    assert reported(run_cli, "nets/stale.net") == (1, stale)  # the table's strict = true
    assert reported(run_cli, "nets/stale.net", "--no-strict") == (0, stale)


def test_the_nearest_table_applies(run_cli, repo):
    inner = repo / "nets" / "branches"
    (inner / "pyproject.toml").write_text("[tool.shapelang]\nselect = [\"SL3\"]\n")
    code, found = reported(run_cli, inner / "probe.net")  # SL308 back, strict no more
    assert (code, [c for c, *_ in found]) == (0, ["SL308"])
    (inner / "pyproject.toml").write_text("[project]\nname = \"x\"\n")  # no table: walk on
    assert reported(run_cli, inner / "probe.net") == (0, [])


# ---- --select / --ignore by code, name or prefix ------------------------------------------------
BAD = sorted((EXAMPLES / "bad").glob("*.net"))


def _kept(code: str, select, ignore) -> bool:
    """The rule, restated: the longest matching selector decides, an ignore wins a tie."""
    if code.startswith("SL1") and CODES[code].severity == "error":
        return True
    chosen = max((len(p) for p in select if code.startswith(p)), default=0)
    dropped = max((len(p) for p in ignore if code.startswith(p)), default=0)
    return chosen > dropped


@pytest.mark.parametrize("select, ignore", [
    (["SL"], ["SL305"]),
    (["SL"], ["SL3"]),
    (["SL3"], []),
    (["SL3"], ["SL305", "SL308"]),
    (["SL305"], ["SL3"]),  # the more specific wins
    (["SL30"], ["SL3"]),
    (["SL2", "SL401"], ["SL20"]),
    (["SL4", "SL1"], ["SL"]),  # a tie at SL: ignored, but SL4 is more specific
])
def test_select_and_ignore_by_prefix(run_cli, select, ignore):
    _, everything = reported(run_cli, *BAD)
    assert {c[:3] for c, *_ in everything} >= {"SL1", "SL2", "SL3", "SL4"}
    _, found = reported(run_cli, *BAD, "--select", ",".join(select), *(
        ("--ignore", ",".join(ignore)) if ignore else ()))
    assert found == [d for d in everything if _kept(d[0], select, ignore)]


def test_selectors_by_name_and_in_any_case(run_cli):
    by_code = reported(run_cli, *BAD, "--ignore", "SL305", "--extend-ignore", "SL308")
    by_name = reported(run_cli, *BAD, "--ignore", "unread-rows,UNUSED-OUTPUT")
    by_case = reported(run_cli, *BAD, "--ignore", "sl305", "--ignore", "sl308")
    assert by_code == by_name == by_case
    assert not {"SL305", "SL308"} & {c for c, *_ in by_code[1]}


@pytest.mark.parametrize("args, words", [
    (("--select", "SL9"), ["--select", "`SL9`"]),
    (("--ignore", "unread-row"), ["--ignore", "did you mean `unread-rows`?"]),
    (("--extend-ignore", "E501"), ["--extend-ignore", "`E501`"]),
])
def test_a_selector_that_matches_no_code_is_a_usage_error(run_cli, args, words):
    code, _, err = run_cli("check", EXAMPLES / "lenet.net", *args)
    assert code == 2 and all(w in err for w in words) and "Traceback" not in err


# ---- an unused suppression, reported (a warning: --strict fails on it) -------------------------
def test_an_unused_suppression_is_reported_and_fails_under_strict(run_cli, repo, tmp_path):
    code, out, _ = run_cli("check", "nets/stale.net", "--strict")
    assert code == 1
    assert ("nets/stale.net:4:32: warning[SL150]: `# shapelang: ignore[SL305]` suppresses "
            "nothing: SL305 is not reported on this line") in out
    outside = tmp_path / "stale.net"  # no table: not strict
    shutil.copy(repo / "nets" / "stale.net", outside)
    assert reported(run_cli, outside) == (0, [("SL150", str(outside), 4, 32)])
    assert reported(run_cli, outside, "--strict") == (1, [("SL150", str(outside), 4, 32)])
    assert reported(run_cli, outside, "--strict", "--ignore", "SL150") == (0, [])
    outside.write_text(without_comments(outside.read_text()))  # and without it: clean
    assert reported(run_cli, outside, "--strict") == (0, [])


def test_a_partly_used_suppression_names_its_unused_codes(run_cli, tmp_path):
    path = tmp_path / "frames.net"
    path.write_text((FIXTURE / "nets" / "frames.net").read_text().replace(
        "ignore[SL305]", "ignore[SL305, SL308]"))
    code, out, _ = run_cli("check", path, "--strict")
    assert code == 1 and "`# shapelang: ignore[SL305, SL308]`: SL308 is not reported" in out
    assert "hint: remove SL308 from the comment" in out and "SL305 is not" not in out


def test_no_unused_suppression_is_reported_in_a_file_with_an_error(run_cli, tmp_path):
    """An error can keep later lines from being analysed: their comments are not judged."""
    path = tmp_path / "errs.net"
    path.write_text("network n():\n    input [32, 32, 3]\n    dense 10\n"
                    "    relu  # shapelang: ignore[SL305]\n")
    assert [c for c, *_ in reported(run_cli, path, "--strict")[1]] == ["SL301"]


# ---- directories searched -----------------------------------------------------------------------
def test_directories_are_searched_for_net_files(run_cli, repo):
    (repo / ".cache").mkdir()
    (repo / ".cache" / "copy.net").write_text("not a network\n")  # hidden: not searched
    (repo / "nets" / "notes.txt").write_text("not a network\n")
    expected = sorted(str(p.relative_to(repo)) for p in repo.rglob("*.net")
                      if not any(part.startswith(".") or part == "drafts"
                                 for part in p.relative_to(repo).parts))
    assert expected == ["nets/branches/probe.net", "nets/frames.net", "nets/stale.net"]
    code, out, _ = run_cli("check", ".", "--no-strict")
    assert code == 0 and out.endswith("\n3 files checked: 0 errors, 1 warning\n")
    code, out, _ = run_cli("check", "nets", "nets/frames.net", "--no-strict")  # read once
    assert out.endswith("\n3 files checked: 0 errors, 1 warning\n")
    code, out, _ = run_cli("check", ".", "--no-strict", "--extend-select", "SL308")
    assert [line.split(":")[0] for line in out.splitlines() if "warning[" in line] == [
        "nets/branches/probe.net", "nets/stale.net"]


def test_a_directory_search_reads_regular_files_and_ends(run_cli, tmp_path):
    nets = tmp_path / "nets"
    nets.mkdir()
    shutil.copy(EXAMPLES / "lenet.net", nets / "lenet.net")
    os.mkfifo(nets / "pipe.net")  # opening it would block until a writer comes
    (nets / "loop").symlink_to(tmp_path, target_is_directory=True)  # not followed
    (nets / "link.net").symlink_to(nets / "lenet.net")  # the same file: read once
    code, out, _ = run_cli("check", tmp_path)
    assert (code, out) == (0, "1 file checked: 0 errors, 0 warnings\n")


def test_excluded_paths_are_not_checked_even_when_named(run_cli, repo, tmp_path):
    code, found = reported(run_cli, "drafts/unfinished.net", "nets/frames.net")
    assert (code, found) == (0, [])
    shutil.copy(repo / "drafts" / "unfinished.net", tmp_path / "unfinished.net")
    code, found = reported(run_cli, tmp_path / "unfinished.net")  # outside: an error
    assert code == 1 and [c for c, *_ in found] == ["SL301"]


def test_a_directory_without_net_files_is_a_usage_error(run_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    code, out, err = run_cli("check", tmp_path / "empty", EXAMPLES / "lenet.net")
    assert code == 2 and "no .net files in this directory or below" in err
    assert "1 file checked: 0 errors, 0 warnings; 1 directory without .net files" in out


# ---- [tool.shapelang] that cannot be read ------------------------------------------------------
@pytest.mark.parametrize("table, words", [
    ("[tool.shapelang]\nselct = [\"SL3\"]\n", ["unknown key 'selct'", "did you mean `select`?"]),
    ("[tool.shapelang]\nignore = \"SL305\"\n", ["ignore: expected a list of strings"]),
    ("[tool.shapelang]\nignore = [\"SL999\"]\n", ["`SL999` is no code"]),
    ("[tool.shapelang]\nstrict = \"yes\"\n", ["strict: expected true or false"]),
    ("[tool.shapelang]\nselect = [\n", ["not valid TOML"]),
    ("[tool.shapelang]\nx = " + "[" * 20_000 + "\n", ["TOML"]),
    ("[tool]\nshapelang = 3\n", ["must be a table"]),
    ("[tool.shapelang]\n\"\\u001b[2J\" = 1\n", ["unknown key '\\x1b[2J'"]),
    ("[tool.shapelang]\nignore = \"" + "x" * 100_000 + "\"\n", ["expected a list"]),
    ("[tool.shapelang]\nignore = [\"" + "x" * 100_000 + "\"]\n", ["is no code"]),
    ("# " + "x" * 300_000 + "\n[tool.shapelang]\n", ["larger than 262,144 bytes"]),
], ids=["unknown-key", "not-a-list", "unknown-code", "not-a-bool", "bad-toml", "deep",
        "not-a-table", "escape", "long-value", "long-code", "too-large"])
def test_a_table_that_cannot_be_read_is_a_usage_error(run_cli, tmp_path, table, words):
    (tmp_path / "pyproject.toml").write_text(table)
    shutil.copy(EXAMPLES / "lenet.net", tmp_path / "lenet.net")
    code, _, err = run_cli("check", tmp_path / "lenet.net")
    assert code == 2 and str(tmp_path / "pyproject.toml") in err
    assert all(w in err for w in words) and "Traceback" not in err
    assert "\x1b" not in err and len(err) < 1_000  # escaped, and short


# ---- SARIF, validated against the OASIS SARIF 2.1.0 schema --------------------------------------
def _sarif(run_cli, *args):
    code, out, _ = run_cli("check", "--format", "sarif", *args)
    return code, json.loads(out)


def test_sarif_is_valid_sarif_2_1_0(run_cli, repo):
    jsonschema = pytest.importorskip("jsonschema", reason="the ci extra: pip install .[ci]")
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft4Validator(schema)
    shutil.copy(EXAMPLES / "bad" / "dense_on_tensor.net", repo / "nets" / "dense.net")
    code, log = _sarif(run_cli, ".", "--extend-select", "SL308", "missing.net")
    assert code == 2  # missing.net: a notification, the run not successful
    assert list(validator.iter_errors(log)) == []
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    del broken["runs"][0]["tool"]["driver"]["name"]
    assert len(list(validator.iter_errors(broken))) == 2  # the schema does check


def test_sarif_results_are_the_diagnostics_with_their_regions(run_cli, repo):
    shutil.copy(EXAMPLES / "bad" / "dense_on_tensor.net", repo / "nets" / "dense.net")
    _, log = _sarif(run_cli, ".", "--extend-select", "SL308", "missing.net")
    _, out, _ = run_cli("check", "--format", "json", ".", "--extend-select", "SL308")
    expected = json.loads(out)
    (run,) = log["runs"]
    assert log["version"] == "2.1.0" and run["columnKind"] == "unicodeCodePoints"
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(CODES)
    for rule in rules:
        c = CODES[rule["id"]]
        assert (rule["name"], rule["shortDescription"]["text"]) == (c.name, c.summary)
        assert rule["help"]["text"].startswith(c.doc) and c.doc in rule["help"]["markdown"]
        assert rule["defaultConfiguration"]["level"] == {"error": "error", "warning": "warning",
                                                         "note": "note"}[c.severity]
    assert len(run["results"]) == len(expected) == 3
    for result, d in zip(run["results"], expected):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == d["code"]
        assert result["level"] == d["severity"]
        assert result["message"]["text"].startswith(d["message"])
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": d["file"], "uriBaseId": "%SRCROOT%"}
        region = physical["region"]
        assert (region["startLine"], region["startColumn"], region["endLine"],
                region["endColumn"]) == (d["line"], d["col"], d["end_line"], d["end_col"])
        source = (repo / d["file"]).read_text().split("\n")[d["line"] - 1]
        assert region["snippet"]["text"] == source
    assert Path(run["originalUriBaseIds"]["%SRCROOT%"]["uri"].removeprefix("file://")) == repo
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    assert [n["message"]["text"] for n in invocation["toolExecutionNotifications"]] == [
        "missing.net: no such file"]


# ---- table and solve take several paths ---------------------------------------------------------
def test_table_takes_several_paths(run_cli):
    lenet, alexnet = EXAMPLES / "lenet.net", EXAMPLES / "alexnet.net"
    singles = [run_cli("table", p)[1] for p in (lenet, alexnet)]
    code, out, _ = run_cli("table", lenet, alexnet)
    assert code == 0
    assert out == f"==> {lenet} <==\n{singles[0]}\n==> {alexnet} <==\n{singles[1]}"
    documents = [json.loads(run_cli("table", p, "--format", "json")[1]) for p in (lenet, alexnet)]
    combined = json.loads(run_cli("table", lenet, alexnet, "--format", "json")[1])
    assert combined == [{"file": str(p), **d} for p, d in zip((lenet, alexnet), documents)]
    rows = [run_cli("table", p, "--format", "csv")[1].splitlines() for p in (lenet, alexnet)]
    combined = run_cli("table", lenet, alexnet, "--format", "csv")[1].splitlines()
    assert combined == ["file," + rows[0][0], *(f"{lenet},{r}" for r in rows[0][1:]),
                        *(f"{alexnet},{r}" for r in rows[1][1:])]


def test_a_directory_gives_a_list_even_of_one_document(run_cli, repo):
    single = json.loads(run_cli("table", "nets/stale.net", "--format", "json")[1])
    os.remove("nets/frames.net")
    shutil.rmtree("nets/branches")
    found = json.loads(run_cli("table", "nets", "--format", "json")[1])
    assert found == [{"file": "nets/stale.net", **single}]


def test_table_and_solve_search_directories(run_cli, repo):
    code, out, _ = run_cli("table", ".")
    assert code == 0 and re.findall(r"==> (\S+) <==", out) == [
        "nets/branches/probe.net", "nets/frames.net", "nets/stale.net"]
    singles = [run_cli("solve", p)[1] for p in ("nets/frames.net", "nets/stale.net")]
    code, out, err = run_cli("solve", "nets/frames.net", "nets/stale.net")
    assert code == 0 and "warning[SL305]" not in err  # frames.net's comment holds for solve
    assert out == f"==> nets/frames.net <==\n{singles[0]}\n==> nets/stale.net <==\n{singles[1]}"


# ---- colour on a terminal, off with NO_COLOR or when piped --------------------------------------
def _on_a_terminal(args, env) -> bytes:
    """What `shapelang ARGS…` writes with a pseudo-terminal as its stdout and stderr."""
    import select

    main, secondary = pty.openpty()
    process = subprocess.Popen([PYTHON, "-m", "shapelang.cli", *args], stdout=secondary,
                               stderr=secondary, env=env, cwd=ROOT)
    os.close(secondary)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 60)
            assert ready, "no output for 60 s"
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed: the process ended
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(main)
    return b"".join(chunks)


def test_colour_on_a_terminal_only():
    bad = str(EXAMPLES / "bad" / "dense_on_tensor.net")
    env = {k: v for k, v in python_env().items() if k != "NO_COLOR"}
    env["TERM"] = "xterm"
    coloured = _on_a_terminal(["check", bad], env)
    assert b"\x1b[1;31merror[SL301]\x1b[0m" in coloured
    plain = _on_a_terminal(["check", bad], {**env, "NO_COLOR": "1"})
    piped = subprocess.run([PYTHON, "-m", "shapelang.cli", "check", bad], env=env,
                           capture_output=True, cwd=ROOT, check=False).stdout
    assert b"\x1b" not in plain and b"\x1b" not in piped
    assert re.sub(rb"\x1b\[[0-9;]*m", b"", coloured).replace(b"\r\n", b"\n") == piped


# ---- the pre-commit hook ------------------------------------------------------------------------
def _git(*args, cwd):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.mark.slow
def test_the_pre_commit_hook_runs_on_the_fixture_repository(tmp_path):
    """`pre-commit try-repo` installs shapelang from a git repository of this project's files
    (as a user's hook would) and runs the hook on a copy of the fixture repository."""
    pytest.importorskip("pre_commit", reason="the ci extra: pip install .[ci]")
    hooks = tmp_path / "shapelang"
    hooks.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy(ROOT / name, hooks / name)
    for name in ("shapelang", "grammar"):
        shutil.copytree(ROOT / name, hooks / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _git("init", "-q", cwd=hooks)
    _git("add", "-A", cwd=hooks)
    _git("commit", "-q", "-m", "hooks", cwd=hooks)
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project)
    _git("init", "-q", cwd=project)
    _git("add", "-A", cwd=project)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}
    for name in ("GITHUB_ACTIONS", "PYTHONPATH"):  # the hook runs the shapelang it installed
        env.pop(name, None)

    def run_hook():
        return subprocess.run([PYTHON, "-m", "pre_commit", "try-repo", str(hooks),
                               "shapelang-check", "--all-files", "--color", "never"],
                              cwd=project, env=env, capture_output=True, text=True, timeout=900,
                              check=False)

    first = run_hook()
    assert first.returncode == 1, first.stdout + first.stderr
    assert "nets/stale.net:4:32: warning[SL150]" in first.stdout
    assert "3 files checked: 0 errors, 1 warning" in first.stdout  # drafts/ excluded
    stale = project / "nets" / "stale.net"
    stale.write_text(without_comments(stale.read_text()))
    _git("add", "-A", cwd=project)
    second = run_hook()
    assert second.returncode == 0, second.stdout + second.stderr
    assert re.search(r"shapelang check\.+Passed", second.stdout)


# ---- the README's GitHub workflow, run as written -----------------------------------------------
def _workflow() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- workflow: \.github/workflows/shapelang\.yml -->\n```yaml\n(.*?)```",
                      text, re.DOTALL)
    assert found, "the README's workflow block"
    return found.group(1)


def test_the_readme_workflow_gates_annotates_and_uploads_sarif(repo):
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with the ci extra (pre-commit)")
    jsonschema = pytest.importorskip("jsonschema", reason="the ci extra: pip install .[ci]")
    workflow = yaml.safe_load(_workflow())
    assert workflow["permissions"]["security-events"] == "write"
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    runs = [s["run"] for s in steps if "run" in s and "shapelang check" in s["run"]]
    upload = next(s for s in steps if s.get("uses", "").startswith(
        "github/codeql-action/upload-sarif@"))
    assert upload["if"] == "always()"
    assert any("--format github" in r for r in runs) and any("--format sarif" in r for r in runs)
    env = {**python_env(), "GITHUB_ACTIONS": "true"}
    shutil.copy(EXAMPLES / "bad" / "dense_on_tensor.net", repo / "nets" / "dense.net")
    for command in runs:
        command = command.replace("shapelang check", f"{PYTHON} -m shapelang.cli check")
        result = subprocess.run(["bash", "-c", command], cwd=repo, env=env,
                                capture_output=True, text=True, check=False)
        assert result.returncode == 1, result.stderr  # dense.net's error fails the gate
        if "--format github" in command:
            assert "::error file=nets/dense.net,line=6,col=5," in result.stdout
    log = json.loads((repo / upload["with"]["sarif_file"]).read_text())
    schema = json.loads(SCHEMA.read_text())
    assert list(jsonschema.Draft4Validator(schema).iter_errors(log)) == []
    assert {r["ruleId"] for r in log["runs"][0]["results"]} == {"SL301", "SL150"}
