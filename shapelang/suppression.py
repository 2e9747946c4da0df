"""Suppression comments, and the filter that turns a file's diagnostics into those reported.

`# shapelang: ignore[SL305]` (codes or code names, comma-separated) suppresses those codes on
its line; a bare `# shapelang: ignore` every code there. flake8's spelling works too:
`# noqa` and `# noqa: SL305` (codes of other tools in it are theirs and left alone). Each
starts a comment, or a `#` after another comment on the line (`# why # shapelang: ignore`),
so prose that mentions them suppresses nothing. A diagnostic is suppressed by a comment on
any line of its span or of its backslash-continued statement. The language has no strings,
so a `#` always starts a comment.

The filter keeps a diagnostic when its code is selected (`config.Selection`) and no comment
suppresses it; a comment naming no code is reported (SL151), and so is a comment that
suppresses nothing in a file without errors (SL150: `check --strict` fails on it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .codes import ERROR, WARNING, lookup
from .config import Selection, always_reported
from .diagnostics import Diagnostic, printable, source_lines
from .ir import Span

_IGNORE = re.compile(r"#\s*shapelang:\s*ignore(?P<rest>.*)$")
_BRACKETED = re.compile(r"\s*\[(?P<codes>[^\]#]*)\]")
_NOQA = re.compile(r"#\s*noqa\b(?::\s*(?P<codes>[A-Za-z0-9_\-]+(?:[,\s]+[A-Za-z0-9_\-]+)*))?",
                   re.IGNORECASE)


@dataclass
class Suppression:
    span: Span  # the directive, from `#` to its end
    text: str  # the directive as written
    codes: tuple[str, ...] | None  # None: every code on the line
    used: set[str] = field(default_factory=set)

    def covers(self, code: str) -> bool:
        return self.codes is None or code in self.codes


def _bad(span: Span, message: str) -> Diagnostic:
    return Diagnostic("SL151", WARNING, message, span)


_NAMED_AT_MOST = 5  # unknown words a message names; the rest are counted


def _codes(words, span: Span, problems: list) -> tuple[str, ...]:
    """The codes `words` name; one SL151 for the words that name none."""
    found, unknown = [], []
    for word in words:
        named = lookup(word)
        if named is None:
            unknown.append(word)
        elif named.code not in found:
            found.append(named.code)
    if unknown:
        shown = ", ".join(f"`{printable(w[:40])}`" for w in unknown[:_NAMED_AT_MOST])
        more = (f" and {len(unknown) - _NAMED_AT_MOST} more" if len(unknown) > _NAMED_AT_MOST
                else "")
        what = "is no code or code name" if len(unknown) == 1 else "are no codes or code names"
        problems.append(_bad(span, f"{shown}{more} in this suppression comment {what}, so "
                                   "it suppresses nothing there"))
    return tuple(found)


def _directive(line: str, number: int, path: str, problems: list) -> Suppression | None:
    """The suppression comment of a line, if any (the first; SL151s go to `problems`)."""
    hash_at = line.find("#")
    if hash_at < 0:
        return None
    ignore = _IGNORE.search(line, hash_at)
    if ignore:
        rest = ignore.group("rest")
        bracketed = _BRACKETED.match(rest)
        end = ignore.start("rest") + (bracketed.end() if bracketed else 0)
        span = Span(path, number, ignore.start() + 1, number, end + 1)
        text = line[ignore.start():end]
        if bracketed:
            words = [w.strip() for w in bracketed.group("codes").split(",")]
            if not any(words):
                problems.append(_bad(span, "this suppression comment names no code between its "
                                           "brackets, so it suppresses nothing"))
                return None
            codes = _codes([w for w in words if w], span, problems)
            return Suppression(span, text, codes) if codes else None
        if rest[:1] == "[" or (rest and not rest[0].isspace() and rest[0] != "#"):
            problems.append(_bad(span.to(Span(path, number, 1, number, len(line) + 1)),
                                 "a malformed suppression comment: write "
                                 "`# shapelang: ignore` or `# shapelang: ignore[CODE, …]`"))
            return None
        return Suppression(span, text, None)
    noqa = _NOQA.search(line, hash_at)
    if noqa:
        span = Span(path, number, noqa.start() + 1, number, noqa.end() + 1)
        text = noqa.group(0)
        if noqa.group("codes") is None:
            return Suppression(span, text, None)
        ours = [w for w in re.split(r"[,\s]+", noqa.group("codes")) if w.upper().startswith("SL")]
        codes = _codes(ours, span, problems)
        return Suppression(span, text, codes) if codes else None
    return None


def read_suppressions(text: str, path: str) -> tuple[list[Suppression], list[Diagnostic]]:
    """The suppression comments of a source, and an SL151 for each one that names no code."""
    found, problems = [], []
    for number, line in enumerate(source_lines(text), start=1):
        if "#" in line:
            suppression = _directive(line, number, path, problems)
            if suppression is not None:
                found.append(suppression)
    return found, problems


def _statement_lines(text: str) -> dict[int, range]:
    """Each line continued by a backslash, or ending such a run, with the lines of its
    statement: a comment can stand only on the last of them."""
    lines = source_lines(text)
    statements, start = {}, None
    for number, line in enumerate(lines, start=1):
        continued = line.endswith("\\") and "#" not in line
        if continued and start is None:
            start = number
        if not continued and start is not None:
            statements.update({n: range(start, number + 1) for n in range(start, number + 1)})
            start = None
    return statements


def reported(diagnostics, text: str, path: str, selection: Selection) -> list[Diagnostic]:
    """The diagnostics of the file `path` (source `text`) that are reported: selected and not
    suppressed, with the comments' own problems."""
    suppressions, problems = read_suppressions(text, path)
    by_line: dict[int, list[Suppression]] = {}
    statements = _statement_lines(text) if suppressions else {}
    for s in suppressions:
        for line in statements.get(s.span.line, (s.span.line,)):
            by_line.setdefault(line, []).append(s)
    kept = []
    for d in diagnostics:
        if always_reported(d.code):
            kept.append(d)
            continue
        if not selection.enabled(d.code):
            continue
        if d.span is not None and d.span.file == path:
            lines = range(d.span.line, max(d.span.end_line, d.span.line) + 1)
            covering = [s for n in lines for s in by_line.get(n, ()) if s.covers(d.code)]
            if covering:
                for s in covering:
                    s.used.add(d.code)
                continue
        kept.append(d)
    added = [p for p in problems if selection.enabled(p.code)]
    errors = any(d.severity == ERROR for d in diagnostics)
    if not errors:
        unused = (_unused(s, selection) for s in suppressions)
        added += [u for u in unused if u is not None and selection.enabled(u.code)]
    if added:
        kept = sorted([*kept, *added], key=Diagnostic.sort_key)
    return kept


def _unused(s: Suppression, selection: Selection) -> Diagnostic | None:
    shown = printable(s.text)
    if s.codes is None:
        if s.used:
            return None
        return Diagnostic("SL150", WARNING, f"`{shown}` suppresses nothing: no diagnostic is "
                          "reported on this line", s.span,
                          "remove the comment")
    unused = [c for c in s.codes if c not in s.used]
    if not unused:
        return None
    reasons = [f"{c} (not selected)" if not selection.enabled(c) else c for c in unused]
    what = "is" if len(unused) == 1 else "are"
    if len(unused) == len(s.codes):
        return Diagnostic("SL150", WARNING, f"`{shown}` suppresses nothing: "
                          f"{', '.join(reasons)} {what} not reported on this line", s.span,
                          "remove the comment")
    return Diagnostic("SL150", WARNING, f"`{shown}`: {', '.join(reasons)} {what} not reported "
                      "on this line", s.span,
                      f"remove {', '.join(unused)} from the comment")
