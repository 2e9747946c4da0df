"""Writing Python source safely, for every backend: the one way any text reaches a generated
program.

- `literal(value)`: a Python literal, by `repr()` of a plain value (None, bool, int, finite
  float, str, and tuples, lists and dicts of them). `repr()` escapes every character that is not
  printable, so a literal never holds a line break, a control character or a bidirectional
  override.
- `comment(text)` and `docstring(lines)`: text for a reader, made `visible()` first — one line,
  every non-printable character (controls, U+0085, U+2028, U+2029, format characters) written
  as an escape, backslashes doubled — and, in a docstring, every quote escaped, so that nothing
  in it can end the comment or close the string.
- `Namespace`: one per Python scope (jinja's idtracking). Every identifier a generated program
  binds is claimed from the namespace of its scope, which never hands out a Python keyword, a
  builtin, a name already bound in this scope or an enclosing one, nor — to the generator's
  own names — a name from the user's file; a name that is taken is renamed `name_2`, `name_3`, …
- `Emitter`: the lines of a program and their indentation.
"""
from __future__ import annotations

import builtins
import keyword
import math
import re
import unicodedata

_PLAIN = (type(None), bool, int, float, str)


class NoLiteral(ValueError):
    """A value with no Python literal: not a plain value, or a float that is not finite."""


def literal(value) -> str:
    """`value` as a Python literal. Raises NoLiteral for anything but plain values and for a
    float that is not finite (`inf` and `nan` have no literal)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise NoLiteral(f"{value!r} has no Python literal")
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, _PLAIN):
        return repr(value)
    if isinstance(value, tuple):
        items = [literal(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise NoLiteral(f"no Python literal for a {type(value).__name__}")


def _string(text: str) -> str:
    """A string literal quoted as `ruff format` quotes it: in double quotes, unless the text
    holds more double quotes than single ones (then `repr()`'s single quotes)."""
    if text.count('"') > text.count("'"):
        return repr(text)
    escaped = ('\\"' if char == '"' else "'" if char == "'" else repr(char)[1:-1] for char in text)
    return '"' + "".join(escaped) + '"'


def visible(text: str) -> str:
    """`text` on one line, as a reader should see it: backslashes doubled and every character
    that is not printable written as `\\xNN`, `\\uNNNN` or `\\UNNNNNNNN` (so `visible` is
    reversible and its result holds no line break of any kind)."""
    out = []
    for char in str(text):
        if char == "\\":
            out.append("\\\\")
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def comment(text: str) -> str:
    """A `# …` comment holding `text`."""
    return "# " + visible(text)


def docstring(lines, indent: str = "") -> str:
    """A triple-quoted docstring of `lines` (one string or a list, one per line), each made
    `visible()`, so a line break inside one is an escape, not a new line; backslashes and quotes
    are escaped again in the literal, so nothing can close it early. `indent` starts every
    continuation line."""
    lines = [lines] if isinstance(lines, str) else list(lines)
    quoted = [visible(line).replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    if len(quoted) == 1:
        return '"""' + quoted[0] + '"""'
    rest = [(indent + line) if line else "" for line in quoted[1:]]
    return '"""' + "\n".join([quoted[0], *rest, indent + '"""'])


# ---- identifiers --------------------------------------------------------------------------
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: Never a generated identifier: Python's keywords, soft keywords and builtins.
PYTHON_NAMES = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))


def is_identifier(name: str) -> bool:
    return bool(_IDENTIFIER.match(name)) and not keyword.iskeyword(name)


class Namespace:
    """The identifiers of one Python scope. `claim(hint)` returns a fresh identifier made from
    `hint`; `user=True` marks a name from the user's file, which may take its own spelling
    when that is free (the generator's names never take a user's spelling). A child scope
    (a function) avoids every name of its enclosing scopes, so it shadows none of them.
    `in_classes`: the names are written in class bodies (methods), where Python mangles a name
    that starts with `__` (`__x` → `_Cls__x`) and a keyword argument would no longer reach its
    parameter: such names are never given."""

    def __init__(self, *, parent: Namespace | None = None, user_names=(),
                 in_classes: bool = False):
        self.parent = parent
        self.user_names = frozenset(user_names) | (parent.user_names if parent else frozenset())
        self.in_classes = in_classes or (parent.in_classes if parent else False)
        self.taken: set[str] = set()

    def child(self) -> Namespace:
        return Namespace(parent=self)

    def copy(self) -> Namespace:
        twin = Namespace(parent=self.parent, in_classes=self.in_classes)
        twin.user_names, twin.taken = self.user_names, set(self.taken)
        return twin

    def bound(self, name: str) -> bool:
        scope = self
        while scope is not None:
            if name in scope.taken:
                return True
            scope = scope.parent
        return False

    def free(self, name: str, user: bool) -> bool:
        return (is_identifier(name) and name not in PYTHON_NAMES and not _dunder(name)
                and not (self.in_classes and name.startswith("__"))
                and not self.bound(name) and (user or name not in self.user_names))

    def claim(self, hint: str, *, user: bool = False) -> str:
        base = re.sub(r"\W", "_", str(hint), flags=re.ASCII) or "v"
        if base[0].isdigit():
            base = "v_" + base
        if self.in_classes and base.startswith("__"):  # `__import__` → `_import__`
            base = "_" + base.lstrip("_")
        if self.in_classes and not base.strip("_"):  # `_`: its `__2` would be mangled
            base = "v_"
        name, k = base, 1
        while not self.free(name, user):
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def claim_exact(self, name: str) -> str:
        """`name` itself, for the program's fixed names (imports, `build_model`, `main`)."""
        if self.bound(name) or not is_identifier(name):
            raise ValueError(f"`{name}` is bound twice in the generated program")
        self.taken.add(name)
        return name


def display_width(text: str) -> int:
    """Columns `text` takes as ruff counts them: wide and full-width characters two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


# ---- lines ---------------------------------------------------------------------------------
class Emitter:
    """The lines of a generated program; `level` is the current indentation."""

    def __init__(self, level: int = 0, width: int = 99):
        self.lines: list[str] = []
        self.level = level
        self.width = width

    @property
    def indent(self) -> str:
        return "    " * self.level

    def line(self, text: str = ""):
        self.lines.append((self.indent + text) if text else "")

    def comment(self, text: str):
        self.line(comment(text))

    def docstring(self, lines):
        self.line(docstring(lines, self.indent))

    def call(self, head: str, arguments: list[str], tail: str = ""):
        """`head(arg, …)tail` on one line, or with one argument per continuation line when that
        line would be longer than the width — as `ruff format` writes it. An argument too wide
        for a line of its own (a long closed form), or a head too wide for its line, would be
        split by ruff where this writer cannot say how: the statement is then marked
        `# fmt: skip`."""
        one_line = f"{head}({', '.join(arguments)}){tail}"
        if display_width(self.indent + one_line) <= self.width or not arguments:
            self.line(one_line)
            return
        self.line(head + "(")
        for argument in arguments:
            self.line("    " + argument + ",")
        too_wide = display_width(self.indent + head + "(") > self.width or any(
            display_width(self.indent + "    " + a + ",") > self.width + 1 for a in arguments)
        self.line(")" + tail + ("  # fmt: skip" if too_wide else ""))

    def block(self, text: str):
        """Fixed text of the generator's own (no user text), one line at a time."""
        for line in text.strip("\n").splitlines():
            self.line(line)

    def source(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"
