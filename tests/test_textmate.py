"""The VS Code extension's TextMate grammar (editors/vscode/syntaxes/shapelang.tmLanguage.json),
tokenized as VS Code does — vscode-textmate with vscode-oniguruma, from npm, run by node —
over every example. Where each token must be comes from shapelang's own parser (the IR's
spans of ops, labels, `@refs`, numbers and statements) and, for comments, from the text: there
are no strings in the language, so every `#` begins a comment.

Needs node and npm; `editors/vscode/node_modules` is installed with `npm ci` (by `.ci/run`, or
here when it is missing)."""
import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT

from shapelang import ir
from shapelang.diagnostics import DiagnosticError
from shapelang.layers import ACTIVATIONS, REGISTRY
from shapelang.parser import parse

VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = VSCODE / "syntaxes" / "shapelang.tmLanguage.json"
FILES = sorted([*EXAMPLES.glob("*.net"), *(EXAMPLES / "bad").glob("*.net")])

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="the TextMate tokenization test needs node and npm (vscode-textmate is an npm "
    "package)")


@pytest.fixture(scope="module")
def tokens() -> dict:
    """Every file's tokens: per line (from 0), [start, end, scopes] (columns from 0)."""
    if not (VSCODE / "node_modules" / "vscode-textmate").is_dir():
        installed = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=VSCODE,
                                   capture_output=True, text=True, timeout=600, check=False)
        assert installed.returncode == 0, installed.stdout + installed.stderr
    ran = subprocess.run(["node", "test/tokenize.js", *map(str, FILES)], cwd=VSCODE,
                         capture_output=True, text=True, timeout=300, check=False)
    assert ran.returncode == 0, ran.stderr
    return {Path(name).resolve(): lines for name, lines in json.loads(ran.stdout).items()}


def scopes_at(file_tokens, line: int, col: int) -> list[str]:
    """The scopes of the character at `line`, `col` (both from 1)."""
    for start, end, scopes in file_tokens[line - 1]:
        if start <= col - 1 < end:
            return scopes
    raise AssertionError(f"no token at {line}:{col}")


def covered(file_tokens, span: ir.Span, scope: str) -> bool:
    """Whether every character of a one-line span has a scope that starts with `scope`."""
    return all(any(s.startswith(scope) for s in scopes_at(file_tokens, span.line, col))
               for col in range(span.col, span.end_col))


def nodes(value, kind):
    """Every IR node of `kind` under `value` (dataclasses and tuples walked)."""
    if isinstance(value, kind):
        yield value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            if field.name != "source":
                yield from nodes(getattr(value, field.name), kind)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from nodes(item, kind)


def parsed(path: Path) -> ir.Network | None:
    try:
        return parse(path.read_text(encoding="utf-8"), str(path))
    except (DiagnosticError, UnicodeDecodeError):
        return None


def test_the_grammar_knows_every_op_and_activation():
    grammar = json.loads(GRAMMAR.read_text())
    layer_line = grammar["repository"]["layer-line"]["match"]
    ops = re.search(r"\(\?:\(([a-z_0-9|]+)\)\|", layer_line).group(1).split("|")
    assert sorted(ops) == sorted(REGISTRY)
    # longest first: an alternation tries in order, and `relu` must not match `relu6`'s start
    assert ops == sorted(ops, key=lambda op: (-len(op), op))
    activation = next(p["match"] for p in grammar["repository"]["expression"]["patterns"]
                      if p.get("name", "").startswith("support.constant.activation"))
    assert set(re.search(r"\(([a-z_0-9|]+)\)", activation).group(1).split("|")) == set(
        ACTIVATIONS)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_comments(path, tokens):
    file_tokens = tokens[path.resolve()]
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if "#" in line:
            span = ir.Span(str(path), number, line.index("#") + 1, number, len(line) + 1)
            assert covered(file_tokens, span, "comment.line.number-sign"), (number, line)


PARSED = [p for p in FILES if parsed(p) is not None]


@pytest.mark.parametrize("path", PARSED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_ops_labels_refs_numbers_and_keywords(path, tokens):
    network = parsed(path)
    lines = path.read_text(encoding="utf-8").split("\n")
    file_tokens = tokens[path.resolve()]
    layers = list(nodes((network.statements, network.blocks), ir.Layer))
    assert layers
    for layer in layers:
        # a word that is no layer kind is a block's use (or a misspelt op) to the grammar
        scope = "support.function.op" if layer.op in REGISTRY else "entity.name.function"
        assert covered(file_tokens, layer.op_span, scope), (layer.op_span, scope)
        if layer.label:
            label = ir.Span(str(path), layer.span.line, layer.span.col, layer.span.line,
                            layer.span.col + len(layer.label))
            assert covered(file_tokens, label, "entity.name.tag.label"), label
    for ref in nodes((network.statements, network.blocks), ir.Ref):
        assert covered(file_tokens, ref.span, "variable.other.reference"), ref.span
    numbers = list(nodes((network.statements, network.blocks, network.parameters,
                          network.functions, network.train), ir.Number))
    assert numbers
    for number in numbers:
        if number.span.line == number.span.end_line:
            assert covered(file_tokens, number.span, "constant.numeric"), number.span
    keywords = [(network.span.line, "network")]
    keywords += [(b.span.line, "block") for b in network.blocks]
    for statement, word in ((ir.Repeat, "repeat"), (ir.Let, "let"), (ir.Function, "let"),
                            (ir.Expect, "expect"), (ir.Return, "return")):
        keywords += [(s.span.line, word) for s in nodes(
            (network.statements, network.blocks, network.functions), statement)]
    keywords += [(number, "train") for number, line in enumerate(lines, 1)
                 if re.match(r"train\s*:", line)]
    for number, word in keywords:
        found = re.search(rf"\b{word}\b", lines[number - 1])
        span = ir.Span(str(path), number, found.start() + 1, number, found.end() + 1)
        assert covered(file_tokens, span, "keyword.control"), (number, word)
