"""Diagnostics: what `shapelang check` reports, and the three ways it prints them.

Every code is defined once in `codes.py` (its severity, summary, default hint and doc); a
diagnostic of a code that is not defined there, or of another severity, is a bug in shapelang
and fails at once.
"""
from __future__ import annotations

import difflib
import json
import unicodedata
from dataclasses import dataclass

from .codes import CODES, ERROR, NOTE, WARNING, UnknownCode, definition  # noqa: F401 (re-exported)
from .ir import Span


class _DefaultHint:
    """The hint of a site that gives none: its code's default hint (`None` is no hint)."""

    def __repr__(self):
        return "DEFAULT_HINT"


DEFAULT_HINT = _DefaultHint()


@dataclass(frozen=True)
class Diagnostic:
    code: str
    severity: str
    message: str
    span: Span | None
    hint: str | None = DEFAULT_HINT
    # where it happened, innermost first, when the line is inside a block: one note per use
    # ("in block `cbn`, used at line 7 as `mixed3.b3`"), as compilers do for templates
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        defined = definition(self.code)
        if self.severity != defined.severity:
            raise UnknownCode(f"{self.code} is a{'n' if defined.severity == ERROR else ''} "
                              f"{defined.severity} by its definition, reported as {self.severity}")
        if self.hint is DEFAULT_HINT:
            object.__setattr__(self, "hint", defined.hint)

    def sort_key(self):
        s = self.span
        return (s.file, s.line, s.col) if s else ("", 0, 0)


class DiagnosticError(Exception):
    """Raised inside a stage when a problem makes the rest of that statement meaningless."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def error(code, message, span, hint=DEFAULT_HINT) -> DiagnosticError:
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


# ANSI styles of `render_text(colour=True)`: only ever around text made printable.
_BOLD, _RESET = "\x1b[1m", "\x1b[0m"
_SEVERITY_STYLE = {ERROR: "\x1b[1;31m", WARNING: "\x1b[1;33m", NOTE: "\x1b[1;36m"}
_HINT_STYLE = "\x1b[1;32m"


def wants_colour(stream, environ) -> bool:
    """Colour on a terminal: `stream` is one, `NO_COLOR` is unset or empty (no-color.org) and
    `TERM` is not `dumb`. Never when piped or redirected."""
    if environ.get("NO_COLOR"):
        return False
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return terminal and environ.get("TERM") != "dumb"


def render_text(d: Diagnostic, sources: dict[str, str], colour: bool = False) -> str:
    def style(text: str, on: str) -> str:
        return f"{on}{text}{_RESET}" if colour else text

    message = printable(d.message)
    label = style(f"{d.severity}[{d.code}]", _SEVERITY_STYLE[d.severity])
    if d.span is None:
        out = [f"{label}: {style(message, _BOLD)}"]
    else:
        s = d.span
        where = style(f"{printable(s.file)}:{s.line}:{s.col}:", _BOLD)
        out = [f"{where} {label}: {style(message, _BOLD)}"]
        lines = source_lines(sources.get(s.file, ""))
        if 0 < s.line <= len(lines) and sources.get(s.file):
            text = lines[s.line - 1]
            end = s.end_col if s.end_line == s.line else len(text) + 1
            echoed, caret = _echo(text, s.col, min(end, len(text) + 1))
            out.append("    " + echoed)
            out.append("    " + style(caret, _SEVERITY_STYLE[d.severity]))
    out += [f"note: {printable(note)}" for note in d.notes]
    if d.hint:
        out.append(f"{style('hint:', _HINT_STYLE)} {printable(d.hint)}")
    return "\n".join(out)


def render_line(d: Diagnostic) -> str:
    """One line: where, severity, code and message (no source excerpt, no hint)."""
    where = f"{d.span.file}:{d.span.line}:{d.span.col}: " if d.span else ""
    notes = f" ({'; '.join(d.notes)})" if d.notes else ""
    return f"{where}{d.severity}[{d.code}]: {d.message}{notes}"


def _github_escape(text: str, property_value: bool = False) -> str:
    """A workflow command's data (`%`, CR, LF escaped) or property value (`:` and `,` too);
    other control characters are shown escaped, so that a log viewer shows them as text."""
    text = printable(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(d: Diagnostic) -> str:
    level = {"error": "error", "warning": "warning", "note": "notice"}[d.severity]
    message = (f"[{d.code}] {d.message}" + (f" ({'; '.join(d.notes)})" if d.notes else "")
               + (f" (hint: {d.hint})" if d.hint else ""))
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
        "notes": list(d.notes),
        "file": s.file if s else None,
        "line": s.line if s else None,
        "col": s.col if s else None,
        "end_line": s.end_line if s else None,
        "end_col": s.end_col if s else None,
    }


def render_json(diagnostics: list[Diagnostic]) -> str:
    return json.dumps([to_json(d) for d in diagnostics], indent=2)
