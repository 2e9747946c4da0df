"""The files a command reads: each path as given, a directory searched for `*.net`.

A directory search reads regular files only (a named pipe called `x.net` would block the
read), skips hidden directories (`.git`, `.venv`, …), `node_modules`, `__pycache__` and
`site-packages`, does not follow symbolic links to directories (so it ends), and leaves out what the nearest `[tool.shapelang]` table's `exclude` names. A file named
on the command line is read whatever its name, and whatever `exclude` says unless the table
sets `force-exclude` (as pre-commit names every file). A file reached twice is read once.
"""
from __future__ import annotations

import os
from collections.abc import Callable

SKIPPED_DIRECTORIES = frozenset({"node_modules", "__pycache__", "site-packages"})
SUFFIX = ".net"


def _search(directory: str, excluded: Callable[[str, bool], bool]
            ) -> tuple[list[str], list[tuple[str, str]]]:
    found, problems = [], []

    def unreadable(exc: OSError):
        where = exc.filename or directory
        problems.append((where, f"{where}: cannot read the directory: {exc.strerror or exc}"))

    for root, directories, names in os.walk(directory, onerror=unreadable):
        directories[:] = sorted(
            d for d in directories
            if not d.startswith(".") and d not in SKIPPED_DIRECTORIES
            and not excluded(os.path.join(root, d), False))
        found += [os.path.normpath(os.path.join(root, n)) for n in names
                  if n.endswith(SUFFIX) and os.path.isfile(os.path.join(root, n))
                  and not excluded(os.path.join(root, n), False)]
    return sorted(found), problems


def expand(paths, excluded: Callable[[str, bool], bool]
           ) -> tuple[list[str], list[tuple[str, str]]]:
    """The files to read, in order, and (path, message) for each directory that could not be
    searched or holds no `.net` file. `excluded(path, named)`: whether to leave out a path
    found in a search, or named on the command line."""
    files, problems, seen = [], [], set()
    for path in paths:
        if os.path.isdir(path):
            found, trouble = _search(path, excluded)
            problems += trouble
            if not found and not trouble:
                problems.append((path, f"{path}: no {SUFFIX} files in this directory or below"))
        else:
            found = [] if excluded(path, True) else [path]
        for file in found:
            key = os.path.realpath(file)
            if key not in seen:
                seen.add(key)
                files.append(file)
    return files, problems
