"""Diagnostics: what `shapelang check` reports, and the three ways it prints them.

Codes by stage: SL1xx syntax, SL2xx names / arguments / types, SL3xx shapes,
SL4xx failed `expect`, SL5xx code generation and data.
"""
from __future__ import annotations

import difflib
import json
import unicodedata
from dataclasses import dataclass

from .ir import Span

ERROR, WARNING, NOTE = "error", "warning", "note"

#: Every code with a one-line summary; the README's table is made from this one.
CODES = {
    "SL101": "syntax error: a token where the grammar allows none",
    "SL102": "syntax error: a character that starts no token",
    "SL103": "syntax error: the file ends inside a block or bracket",
    "SL104": "indentation does not match any outer block, or mixes tabs and spaces",
    "SL105": "the file is past a limit: its size, or the nesting of an expression or `repeat`",
    "SL201": "unknown layer kind",
    "SL202": "unknown option",
    "SL203": "missing value",
    "SL204": "value of the wrong type",
    "SL205": "a non-integer where an integer is required",
    "SL206": "undefined name",
    "SL207": "name defined twice",
    "SL208": "too many positional values",
    "SL209": "value out of range",
    "SL210": "unknown function or wrong number of arguments",
    "SL211": "division by zero",
    "SL212": "the network has no input, or more than one, or not first",
    "SL213": "`--set` names no parameter of the network, or gives a bad value",
    "SL214": "unknown `train:` setting",
    "SL216": "a block that uses itself",
    "SL217": "the network is too large to analyse: layers unrolled, nesting, closed-form size",
    "SL301": "a layer that needs a vector got a tensor of higher rank",
    "SL302": "a dimension becomes smaller than 1",
    "SL303": "groups do not divide the channels",
    "SL304": "a layer got an input of a rank it cannot take",
    "SL305": "a stride leaves the last rows or columns unread",
    "SL306": "`pad=same` with an even kernel pads asymmetrically",
    "SL307": "the network is valid for no input size",
    "SL308": "a layer's output is never used",
    "SL309": "a merge of tensors whose shapes differ",
    "SL310": "a merge of tensors whose shapes agree only for some input sizes (a warning where "
             "that is undecided)",
    "SL311": "a reshape to a different number of elements, or one whose inferred dimension is "
             "not always an integer",
    "SL401": "an `expect` does not hold",
    "SL402": "an `expect` does not hold for every value of the unbound parameters",
    "SL403": "an `expect` names an unknown quantity",
    # the training runtime (shapelang/runtime.py, in every generated program)
    "SL501": "data source not found",
    "SL502": "data file unreadable, or no `x` / `y` array in it",
    "SL503": "example shape differs from the network's input shape",
    "SL504": "`x` and `y` differ in length",
    "SL505": "empty data set, or too few examples for the validation split",
    "SL506": "non-numeric data, or NaN / infinite values",
    "SL507": "labels do not fit the network's output",
    "SL508": "shards disagree on shape or dtype",
    "SL509": "bad training setting",
    "SL510": "checkpoint problem: another network, another run, a damaged state",
    "SL511": "the loss became NaN or infinite during training",
    # the code generator
    "SL550": "a name cannot be an identifier of the generated program",
    "SL551": "a parameter has no value, so no program can be written",
    "SL552": "two Keras layers would get the same name",
}


@dataclass(frozen=True)
class Diagnostic:
    code: str
    severity: str
    message: str
    span: Span | None
    hint: str | None = None

    def sort_key(self):
        s = self.span
        return (s.file, s.line, s.col) if s else ("", 0, 0)


class DiagnosticError(Exception):
    """Raised inside a stage when a problem makes the rest of that statement meaningless."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def error(code, message, span, hint=None) -> DiagnosticError:
    return DiagnosticError(Diagnostic(code, ERROR, message, span, hint))


def did_you_mean(word: str, choices) -> str | None:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


# ---- renderers ---------------------------------------------------------------------------
def source_lines(text: str) -> list[str]:
    """The lines of a source as the parser counts them: only `\\n` ends a line (a form feed
    or U+2028 in a comment does not), and a `\\r` before it is no part of the line."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if len(lines) > 1 and not lines[-1] else lines


def _shown_char(char: str) -> str:
    """A character as a terminal should show it: control and format characters (an escape
    sequence, a bidirectional override, a line separator) as `\\x1b`, `\\u202e`, …"""
    if char == "\t":
        return " "
    if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
        return char.encode("unicode_escape").decode("ascii")
    return char


def printable(text: str) -> str:
    """`text` with its control and format characters escaped, line breaks kept."""
    return "".join(c if c == "\n" else _shown_char(c) for c in text)


_ECHO_WIDTH = 160  # characters of a source line shown around the caret


def _echo(line: str, col: int, end: int) -> tuple[str, str]:
    """A source line made printable, with the caret line under columns [col, end); a line
    longer than the terminal is cut around the caret."""
    shown = [_shown_char(c) for c in line]
    before = sum(len(c) for c in shown[:col - 1])
    width = max(1, sum(len(c) for c in shown[col - 1:max(end, col) - 1]))
    text = "".join(shown)
    start = max(0, min(before - 40, len(text) - _ECHO_WIDTH))
    if len(text) > _ECHO_WIDTH:
        head = "…" if start > 0 else ""
        tail = "…" if start + _ECHO_WIDTH < len(text) else ""
        text = head + text[start:start + _ECHO_WIDTH] + tail
        before = before - start + len(head)
        width = min(width, _ECHO_WIDTH - (before - len(head)) + len(tail))
    return text, " " * before + "^" * max(width, 1)


def render_text(d: Diagnostic, sources: dict[str, str]) -> str:
    message = printable(d.message)
    if d.span is None:
        out = [f"{d.severity}[{d.code}]: {message}"]
    else:
        s = d.span
        out = [f"{printable(s.file)}:{s.line}:{s.col}: {d.severity}[{d.code}]: {message}"]
        lines = source_lines(sources.get(s.file, ""))
        if 0 < s.line <= len(lines) and sources.get(s.file):
            text = lines[s.line - 1]
            end = s.end_col if s.end_line == s.line else len(text) + 1
            echoed, caret = _echo(text, s.col, min(end, len(text) + 1))
            out.append("    " + echoed)
            out.append("    " + caret)
    if d.hint:
        out.append(f"hint: {printable(d.hint)}")
    return "\n".join(out)


def render_line(d: Diagnostic) -> str:
    """One line: where, severity, code and message (no source excerpt, no hint)."""
    where = f"{d.span.file}:{d.span.line}:{d.span.col}: " if d.span else ""
    return f"{where}{d.severity}[{d.code}]: {d.message}"


def _github_escape(text: str, property_value: bool = False) -> str:
    """A workflow command's data (`%`, CR, LF escaped) or property value (`:` and `,` too);
    other control characters are shown escaped, so that a log viewer shows them as text."""
    text = printable(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(d: Diagnostic) -> str:
    level = {"error": "error", "warning": "warning", "note": "notice"}[d.severity]
    message = f"[{d.code}] {d.message}" + (f" (hint: {d.hint})" if d.hint else "")
    props = []
    if d.span:
        props = [
            f"file={_github_escape(d.span.file, True)}",
            f"line={d.span.line}",
            f"col={d.span.col}",
            f"endLine={d.span.end_line}",
            f"endColumn={d.span.end_col}",
        ]
    props.append(f"title={_github_escape('shapelang ' + d.code, True)}")
    return f"::{level} {','.join(props)}::{_github_escape(message)}"


def to_json(d: Diagnostic) -> dict:
    s = d.span
    return {
        "code": d.code,
        "severity": d.severity,
        "message": d.message,
        "hint": d.hint,
        "file": s.file if s else None,
        "line": s.line if s else None,
        "col": s.col if s else None,
        "end_line": s.end_line if s else None,
        "end_col": s.end_col if s else None,
    }


def render_json(diagnostics: list[Diagnostic]) -> str:
    return json.dumps([to_json(d) for d in diagnostics], indent=2)
