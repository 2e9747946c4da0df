"""`check --format sarif`: a SARIF 2.1.0 log for code scanning (GitHub's upload-sarif).

One run: the tool with every code as a rule (its summary, documentation and default hint from
`codes.py`), one result per diagnostic with its region (columns in code points, as shapelang
counts them), paths relative to the working directory under `%SRCROOT%`, and files that could
not be read as the invocation's notifications.
"""
from __future__ import annotations

import json
import os
from pathlib import Path, PurePath
from urllib.parse import quote

from .codes import CODES, ERROR, WARNING
from .diagnostics import Diagnostic, source_lines
from .version import __version__

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
ROOT_ID = "%SRCROOT%"
_LEVEL = {ERROR: "error", WARNING: "warning", "note": "note"}
_RULE_INDEX = {code: i for i, code in enumerate(CODES)}


def _rule(c) -> dict:
    help_text = c.doc + (f"\n\nDefault hint: {c.hint}" if c.hint else "")
    help_markdown = (f"**{c.code}** (`{c.name}`, {c.severity}): {c.summary}\n\n{c.doc}"
                     + (f"\n\n_Default hint:_ {c.hint}" if c.hint else "")
                     + f"\n\n`shapelang explain {c.code}` prints this.")
    return {
        "id": c.code,
        "name": c.name,
        "shortDescription": {"text": c.summary},
        "fullDescription": {"text": c.doc},
        "help": {"text": help_text, "markdown": help_markdown},
        "defaultConfiguration": {"level": _LEVEL[c.severity]},
        "properties": {"tags": ["shapelang", c.code[:3] + "xx"]},
    }


def _artifact(path: str) -> dict:
    if os.path.isabs(path):
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(PurePath(path).as_posix()), "uriBaseId": ROOT_ID}


def _location(path: str, d: Diagnostic | None, sources: dict[str, str]) -> dict:
    physical = {"artifactLocation": _artifact(path)}
    s = d.span if d is not None else None
    if s is not None:
        end_line = max(s.end_line, s.line)
        end_col = max(s.end_col, s.col) if end_line == s.line else max(s.end_col, 1)
        region = {"startLine": s.line, "startColumn": s.col, "endLine": end_line,
                  "endColumn": end_col}
        lines = source_lines(sources.get(s.file, ""))
        if 0 < s.line <= len(lines):
            region["snippet"] = {"text": lines[s.line - 1]}
        physical["region"] = region
    return {"physicalLocation": physical}


def _result(path: str, d: Diagnostic, sources: dict[str, str]) -> dict:
    text = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    where = d.span.file if d.span is not None else path
    return {
        "ruleId": d.code,
        "ruleIndex": _RULE_INDEX[d.code],
        "level": _LEVEL[d.severity],
        "message": {"text": text},
        "locations": [_location(where, d, sources)],
    }


def render_sarif(checked: list[tuple[str, list[Diagnostic]]], sources: dict[str, str],
                 unreadable: list[tuple[str, str]]) -> str:
    """`checked`: each file with its reported diagnostics; `unreadable`: (path, why)."""
    run = {
        "tool": {"driver": {
            "name": "shapelang",
            "version": __version__,
            "semanticVersion": __version__,
            "rules": [_rule(c) for c in CODES.values()],
        }},
        "originalUriBaseIds": {ROOT_ID: {"uri": Path.cwd().as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "invocations": [{
            "executionSuccessful": not unreadable,
            "toolExecutionNotifications": [
                {"level": "error", "message": {"text": why},
                 "locations": [_location(path, None, sources)]}
                for path, why in unreadable],
        }],
        "results": [_result(path, d, sources) for path, found in checked for d in found],
    }
    log = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False)
