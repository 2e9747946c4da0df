"""What a check reports, as ruff decides it: `select` / `ignore` by code, code name or prefix,
from the `[tool.shapelang]` table of the nearest `pyproject.toml` above each file, then from the
command line, which wins.

Two layers, the table's then the command line's. Within a layer, a code is turned on when the
longest selector of `select` + `extend-select` matching it is longer than the longest of
`ignore` + `extend-ignore` matching it, off when an ignore matches at least as long, and
otherwise keeps its state from the layer before — unless the layer has a `select`, which
starts afresh (what it does not match is off). So `select = ["SL3"]` with `ignore = ["SL305"]`
reports the SL3xx codes but SL305; `select = ["SL305"]` with `ignore = ["SL3"]` reports SL305;
and `--extend-select SL308` (or `--select SL308`) reports SL308 although the table ignores it.
`extend-ignore` is `ignore` (ruff's other spelling). Errors of the file and its syntax
(SL101–SL108) are reported whatever is selected: the file was not analysed at all.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path, PurePath

from . import limits
from .codes import CODES, ERROR, lookup
from .diagnostics import did_you_mean, printable

TABLE = "tool.shapelang"
KEYS = ("select", "extend-select", "ignore", "extend-ignore", "strict", "exclude",
        "force-exclude")


class ConfigError(Exception):
    """A selector that matches no code, or a `[tool.shapelang]` table that cannot be read:
    a usage error (exit 2), naming the file and key or the flag."""


def always_reported(code: str) -> bool:
    """An error of the file and its syntax: the file could not be analysed, so no selection or
    suppression hides it."""
    return code.startswith("SL1") and CODES[code].severity == ERROR


def parse_selectors(values, where: str) -> tuple[str, ...]:
    """Selectors as written (`SL305`, `sl3`, `unread-rows`, `SL3,SL401`) made prefixes of
    codes; one that matches no code is a ConfigError naming `where`."""
    found = []
    for value in values:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected codes or prefixes as strings, got "
                              f"{printable(repr(value))[:60]}")
        for word in (w.strip() for w in value.split(",")):
            if not word:
                continue
            named = lookup(word)
            prefix = named.code if named else word.upper()
            if not any(code.startswith(prefix) for code in CODES):
                close = did_you_mean(word, [*CODES, *(c.name for c in CODES.values())])
                raise ConfigError(f"{where}: `{printable(word[:40])}` is no code, code name or "
                                  "prefix of codes "
                                  f"({close or '`shapelang explain` lists every code'})")
            found.append(prefix)
    return tuple(found)


@dataclass(frozen=True)
class Layer:
    """One layer's selectors (prefixes); `select` None: not given in this layer."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selection:
    layers: tuple[Layer, ...] = ()

    def enabled(self, code: str) -> bool:
        if always_reported(code):
            return True
        on = True
        for layer in self.layers:
            chosen = max((len(p) for p in (*(layer.select or ()), *layer.extend_select)
                          if code.startswith(p)), default=0)
            dropped = max((len(p) for p in layer.ignore if code.startswith(p)), default=0)
            if chosen > dropped:
                on = True
            elif dropped or layer.select is not None:
                on = False
        return on


@dataclass(frozen=True)
class Options:
    """One layer of settings: the table's, or the command line's (None: not given there)."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] | None = None
    extend_ignore: tuple[str, ...] = ()
    strict: bool | None = None
    exclude: tuple[str, ...] = ()
    force_exclude: bool = False


@dataclass(frozen=True)
class Settings:
    """The settings of one file: what is reported, and where they came from."""

    selection: Selection
    strict: bool
    exclude: tuple[str, ...]  # glob patterns, relative to `root`
    force_exclude: bool  # `exclude` applies to files named on the command line too
    root: Path | None  # the directory of the pyproject.toml they came from
    source: Path | None  # that pyproject.toml

    def excludes(self, path: str, named: bool) -> bool:
        """Whether `exclude` drops `path` — found in a directory search, or `named` on the
        command line under `force-exclude`: a pattern matching the path relative to the
        table's directory, one of its directories, or its name."""
        if not self.exclude or self.root is None or (named and not self.force_exclude):
            return False
        try:
            relative = PurePath(os.path.relpath(os.path.abspath(path), self.root))
        except ValueError:  # another drive
            return False
        if relative.parts[:1] == ("..",):
            return False
        candidates = {relative.as_posix(), relative.name,
                      *(p.as_posix() for p in relative.parents if p.parts)}
        return any(fnmatch.fnmatchcase(c, pattern) for c in candidates for pattern in self.exclude)


def merged(table: Options, command_line: Options, root: Path | None, source: Path | None
           ) -> Settings:
    def layer(options: Options) -> Layer:
        return Layer(options.select, options.extend_select,
                     (*(options.ignore or ()), *options.extend_ignore))

    strict = command_line.strict if command_line.strict is not None else table.strict
    return Settings(Selection((layer(table), layer(command_line))), strict=bool(strict),
                    exclude=table.exclude, force_exclude=table.force_exclude, root=root,
                    source=source)


def _load_toml(text: str, where: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ConfigError(f"{where}: reading [tool.shapelang] needs Python 3.11 or the "
                              "`tomli` package (pip install tomli)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{where}: not readable as TOML: nested too deeply") from None


def read_table(path: Path) -> Options | None:
    """The `[tool.shapelang]` table of a pyproject.toml as Options, or None without one."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limits.MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limits.MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {limits.MAX_FILE_BYTES:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    if "shapelang" not in text:  # no spelling of the table lacks the word
        return None
    table = _load_toml(text, path).get("tool", {})
    table = table.get("shapelang") if isinstance(table, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{TABLE}] must be a table")
    return options_of(table, path)


def _shown(value) -> str:
    """A value of the table in a message: its TOML-ish repr, escaped and cut short."""
    text = printable(repr(value))
    return text if len(text) <= 60 else text[:57] + "…"


def options_of(table: dict, path: Path) -> Options:
    where = f"{path}: [{TABLE}]"
    found = {}
    for key, value in table.items():
        canonical = key.replace("_", "-")
        if canonical not in KEYS:
            close = did_you_mean(canonical, KEYS)
            raise ConfigError(f"{where}: unknown key {_shown(key)} "
                              f"({close or 'its keys: ' + ', '.join(KEYS)})")
        if canonical in found:
            raise ConfigError(f"{where}: {_shown(key)} given twice")
        if canonical in ("strict", "force-exclude"):
            if not isinstance(value, bool):
                raise ConfigError(f"{where} {key}: expected true or false, got {_shown(value)}")
        elif not isinstance(value, list):
            raise ConfigError(f"{where} {key}: expected a list of strings, got {_shown(value)}")
        elif canonical == "exclude":
            if not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where} exclude: expected a list of glob patterns")
            value = tuple(value)
        else:
            value = parse_selectors(value, f"{where} {key}")
        found[canonical] = value
    return Options(**{k.replace("-", "_"): v for k, v in found.items()})


class Resolver:
    """Settings per file: the nearest pyproject.toml with a `[tool.shapelang]` table in the
    file's directory or above it (each directory read once), merged with the command line."""

    def __init__(self, command_line: Options):
        self.command_line = command_line
        self._tables: dict[Path, tuple[Options, Path] | None] = {}

    def _table_above(self, directory: Path) -> tuple[Options, Path] | None:
        seen = []
        found = None
        for current in (directory, *directory.parents):
            if current in self._tables:
                found = self._tables[current]
                break
            seen.append(current)
            candidate = current / "pyproject.toml"
            if candidate.is_file():
                table = read_table(candidate)
                if table is not None:
                    found = (table, candidate)
                    break
        for directory_seen in seen:
            self._tables[directory_seen] = found
        return found

    def settings(self, path: str) -> Settings:
        directory = Path(os.path.abspath(path))
        if not directory.is_dir():
            directory = directory.parent
        found = self._table_above(directory)
        if found is None:
            return merged(Options(), self.command_line, None, None)
        table, source = found
        return merged(table, self.command_line, source.parent, source)

