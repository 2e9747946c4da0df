"""The `shapelang` command: check, table, solve, keras, torch, train, explain.

Exit codes (like ruff and mypy): 0 clean; 1 diagnostics with an error (or a warning under
`--strict`); 2 a usage, file or internal error. `check`, `table` and `solve` never import
TensorFlow or Keras.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import stat
import sys
import traceback
from pathlib import Path

from . import config, files, limits, suppression
from .analysis import Analysis, analyse, parse_binding
from .diagnostics import (
    ERROR,
    NOTE,
    WARNING,
    Diagnostic,
    DiagnosticError,
    printable,
    render_github,
    render_json,
    render_line,
    render_text,
    wants_colour,
)
from .ir import Span
from .parser import parse
from .version import __version__

EXIT_CLEAN, EXIT_DIAGNOSTICS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def _parse_sets(items) -> dict:
    bindings = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {item}: expected NAME=VALUE")
        try:
            bindings[name.strip()] = parse_binding(name.strip(), value)
        except limits.LimitError:
            bindings[name.strip()] = value  # a number past the limits: SL213 in each file
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return bindings


def _read(path: str) -> str:
    """A file's text: at most `limits.MAX_FILE_BYTES` of it are read (so `/dev/zero` is a
    file too large, not a hang); past that, or not UTF-8, it is a diagnostic of the file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limits.MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory (pass .net files, e.g. {path}/*.net)") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    start = Span(path, 1, 1, 1, 2)
    if len(data) > limits.MAX_FILE_BYTES:
        raise DiagnosticError(Diagnostic(
            "SL105", ERROR, f"the file is larger than shapelang's limit of "
            f"{limits.MAX_FILE_BYTES:,} bytes", start, "split the network into blocks and repeats"))
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark: no text
    except UnicodeDecodeError as exc:
        before = data[:exc.start].decode("utf-8")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        raise DiagnosticError(Diagnostic(
            "SL102", ERROR, f"the byte {data[exc.start]:#04x} is not UTF-8 text",
            Span(path, line, col, line, col + 1), "save the file as UTF-8")) from None


def load_and_analyse(path: str, bindings: dict, relative: bool = False
                     ) -> tuple[str, Analysis | None, list[Diagnostic]]:
    """Source text, the analysis (None after a syntax error) and every diagnostic of a file;
    `relative` for a backend (the layers' values relative to their roots, too)."""
    try:
        text = _read(path)
    except DiagnosticError as exc:
        return "", None, [exc.diagnostic]
    try:
        network = parse(text, path)
    except DiagnosticError as exc:
        return text, None, [exc.diagnostic]
    analysis = analyse(network, bindings, relative=True) if relative else analyse(network,
                                                                                   bindings)
    return text, analysis, analysis.diagnostics


def _print_diagnostics(diagnostics, sources, fmt, stream):
    if fmt == "github":
        for d in diagnostics:
            print(render_github(d), file=stream)
    else:
        colour = wants_colour(stream, os.environ)
        for d in diagnostics:
            print(render_text(d, sources, colour) + "\n", file=stream)


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


# ---- check, table, solve: files, settings, suppressions (issue 12) ------------------------
def _command_line_options(args) -> config.Options:
    def selectors(values, flag):
        return None if values is None else config.parse_selectors(values, flag)

    try:
        return config.Options(
            select=selectors(args.select, "--select"),
            extend_select=selectors(args.extend_select, "--extend-select") or (),
            ignore=selectors(args.ignore, "--ignore"),
            extend_ignore=selectors(args.extend_ignore, "--extend-ignore") or (),
            strict=getattr(args, "strict", None))
    except config.ConfigError as exc:
        raise UsageError(str(exc)) from None


def _settings(resolver: config.Resolver, path: str) -> config.Settings:
    try:
        return resolver.settings(path)
    except config.ConfigError as exc:
        raise UsageError(str(exc)) from None


def _files(args, resolver: config.Resolver) -> tuple[list[str], list[tuple[str, str]]]:
    """The files of PATH…, directories searched; each directory that could not be searched or
    holds no .net file is reported on stderr."""
    found, problems = files.expand(
        args.paths, lambda path, named: _settings(resolver, path).excludes(path, named))
    for _, message in problems:
        print(f"shapelang: error: {printable(message)}", file=sys.stderr)
    return found, problems


def cmd_check(args) -> int:
    bindings = _parse_sets(args.set)
    fmt = args.format
    if fmt == "auto":
        fmt = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    resolver = config.Resolver(_command_line_options(args))
    paths, searches = _files(args, resolver)
    everything, sources, checked, unreadable, failed = [], {}, [], [], False
    for path in paths:
        settings = _settings(resolver, path)
        try:
            text, _, diagnostics = load_and_analyse(path, bindings)
        except UsageError as exc:  # reported, and the other files are still checked
            print(f"shapelang: error: {printable(str(exc))}", file=sys.stderr)
            unreadable.append((path, str(exc)))
            continue
        sources[path] = text
        diagnostics = suppression.reported(diagnostics, text, path, settings.selection)
        checked.append((path, diagnostics))
        everything += diagnostics
        failed = failed or any(d.severity == ERROR or (settings.strict and d.severity == WARNING)
                               for d in diagnostics)
    errors = sum(d.severity == ERROR for d in everything)
    warnings = sum(d.severity == WARNING for d in everything)
    if fmt == "json":
        print(render_json(everything))
    elif fmt == "sarif":
        from .sarif import render_sarif

        print(render_sarif(checked, sources, searches + unreadable))
    else:
        _print_diagnostics(everything, sources, fmt, sys.stdout)
        if fmt == "text":
            summary = (f"{_plural(len(checked), 'file')} checked: {_plural(errors, 'error')}, "
                       f"{_plural(warnings, 'warning')}")
            if unreadable:
                summary += f"; {_plural(len(unreadable), 'file')} could not be read"
            if searches:
                directories = "directory" if len(searches) == 1 else "directories"
                summary += f"; {len(searches)} {directories} without .net files or unreadable"
            print(summary)
    if unreadable or searches:
        return EXIT_USAGE
    return EXIT_DIAGNOSTICS if failed else EXIT_CLEAN


def _analysed_or_report(args) -> Analysis | None:
    """For keras / train: the analysis, or None after printing the errors to stderr."""
    text, analysis, diagnostics = load_and_analyse(args.path, _parse_sets(args.set),
                                                   relative=True)
    errors = [d for d in diagnostics if d.severity == ERROR]
    if errors or analysis is None or not analysis.complete:
        _print_diagnostics(errors, {args.path: text}, "text", sys.stderr)
        return None
    return analysis


_SUMMARY_LINES = 20  # warnings and notes listed under a report; the rest are counted


def _report_then_diagnostics(args, render, combine=None) -> int:
    """For table / solve, file by file: the report whenever every layer has a shape (a failed
    `expect` or an empty domain leaves it true), then on stderr each error in full and each
    warning or note as one line. The exit code is `check`'s, without `--strict`.
    Several paths or a directory: each report under a `==> PATH <==` line, or, with
    `combine`, all of them as one document, printed once at the end
    (`combine([(path, report), …])`), even when the paths come to one file."""
    bindings = _parse_sets(args.set)
    resolver = config.Resolver(_command_line_options(args))
    paths, problems = _files(args, resolver)
    # one document for one file named; for several paths or a directory, one per file found
    several = len(args.paths) > 1 or any(os.path.isdir(p) for p in args.paths)
    combined = combine is not None and several
    reports, failed, unreadable = [], False, bool(problems)
    for path in paths:
        settings = _settings(resolver, path)
        try:
            text, analysis, diagnostics = load_and_analyse(path, bindings)
        except UsageError as exc:
            print(f"shapelang: error: {printable(str(exc))}", file=sys.stderr)
            unreadable = True
            continue
        diagnostics = suppression.reported(diagnostics, text, path, settings.selection)
        if analysis is not None and analysis.complete and analysis.layers:
            if combined:
                reports.append((path, render(analysis)))
            else:
                if several:
                    print(f"\n==> {path} <==" if reports else f"==> {path} <==")
                    reports.append((path, None))
                print(render(analysis))
                sys.stdout.flush()  # the report first, then what is wrong with it
        failed = _print_after_report(path, text, diagnostics) or failed
    if combined:
        print(combine(reports))
    if unreadable:
        return EXIT_USAGE
    return EXIT_DIAGNOSTICS if failed else EXIT_CLEAN


def _print_after_report(path: str, text: str, diagnostics) -> bool:
    """A report's diagnostics on stderr (errors in full, the rest a line each); whether one is
    an error."""
    errors = [d for d in diagnostics if d.severity == ERROR]
    others = [d for d in diagnostics if d.severity != ERROR]
    _print_diagnostics(errors, {path: text}, "text", sys.stderr)
    if others:
        counts = ", ".join(_plural(sum(d.severity == severity for d in others), severity)
                           for severity in (WARNING, NOTE) if any(d.severity == severity
                                                                  for d in others))
        shown = others[:_SUMMARY_LINES]
        more = [f"… and {len(others) - len(shown)} more"] if len(others) > len(shown) else []
        where = f"`shapelang check {path}` shows them with their source lines and hints"
        print("\n".join([*(render_line(d) for d in shown), *more, f"{counts}: {where}"]),
              file=sys.stderr)
    return bool(errors)


def _json_documents(reports) -> str:
    """Several `table --format json` documents: one list, each with its file first."""
    import json

    return json.dumps([{"file": path, **json.loads(report)} for path, report in reports],
                      indent=2, ensure_ascii=False)


def _csv_documents(reports) -> str:
    """Several `table --format csv` tables: one, with a `file` column first."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for number, (path, report) in enumerate(reports):
        rows = list(csv.reader(io.StringIO(report)))
        writer.writerows([["file", *row] if i == 0 else [path, *row]
                          for i, row in enumerate(rows) if i or not number])
    return buffer.getvalue().rstrip("\n")


def cmd_table(args) -> int:
    from . import report

    render = {"text": report.table_text, "json": report.table_json,
              "markdown": report.table_markdown, "csv": report.table_csv}[args.format]
    combine = {"json": _json_documents, "csv": _csv_documents}.get(args.format)
    return _report_then_diagnostics(args, render, combine)


def cmd_solve(args) -> int:
    from . import report

    return _report_then_diagnostics(args, report.solve_text)


def write_file(path: str, text: str):
    """Write `text` to `path` whole or not at all: into a new file in the target's directory,
    then renamed over the target. A device or a pipe (`/dev/stdout`, `/dev/full`) is written
    in place. Every failure is a UsageError naming the path."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{path}: is a directory")
    if (target.exists() and not target.is_file()) or str(target).startswith(("/dev/", "/proc/")):
        try:
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
        return
    real = Path(os.path.realpath(target))
    if not real.parent.is_dir():
        raise UsageError(f"{path}: cannot write: no directory {real.parent}")
    mode = stat.S_IMODE(real.stat().st_mode) if real.exists() else None
    partial = real.with_name(f".{real.name}.{secrets.token_hex(4)}.partial")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with open(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        if mode is not None:
            os.chmod(partial, mode)
        os.replace(partial, real)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _check_overwrite(path: str, force: bool):
    """`-o` over an existing regular file: only over a program shapelang wrote and nobody
    edited since, unless --force."""
    from .codegen.frame import provenance

    target = Path(path)
    if force or not target.is_file():
        return
    try:
        with open(target, "rb") as stream:
            origin = provenance(stream)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if origin == "edited":
        raise UsageError(f"{path} was edited since shapelang generated it (its content no longer "
                         "matches the hash on its first line); not overwritten: pass --force to "
                         "overwrite it")
    if origin == "foreign":
        raise UsageError(f"{path} was not generated by shapelang (its first line holds no "
                         "content hash); not overwritten: pass --force to overwrite it")


def cmd_keras(args) -> int:
    from .codegen.keras import emit_keras

    return _write_program(args, lambda analysis: emit_keras(analysis,
                                                            standalone=args.standalone))


def cmd_torch(args) -> int:
    from .codegen.torch import emit_torch

    return _write_program(args, lambda analysis: emit_torch(
        analysis, standalone=args.standalone, logits=args.logits))


def _write_program(args, emit) -> int:
    """`keras` / `torch`: the program `emit(analysis)` to FILE or standard output."""
    from .codegen.frame import copy_runtime

    if args.standalone and not args.output:
        raise UsageError("--standalone needs -o FILE: the runtime is copied beside the program")
    analysis = _analysed_or_report(args)
    if analysis is None:
        return EXIT_DIAGNOSTICS
    source = emit(analysis)
    if args.output:
        _check_overwrite(args.output, args.force)
        if args.standalone:
            directory = Path(os.path.realpath(args.output)).parent
            try:
                copied = copy_runtime(directory)
            except OSError as exc:
                raise UsageError(f"{directory}: cannot write the runtime beside the program: "
                                 f"{exc.strerror or exc}") from None
        write_file(args.output, source)
        print(f"wrote {args.output}", file=sys.stderr)
        if args.standalone:
            print(f"wrote {copied}{os.sep} (the training runtime the program imports)",
                  file=sys.stderr)
    else:
        try:
            sys.stdout.write(source)
            sys.stdout.flush()
        except BrokenPipeError:
            _detach_stdout()
            raise
        except OSError as exc:
            _detach_stdout()
            raise UsageError(f"standard output: cannot write: {exc.strerror or exc}") from None
    return EXIT_CLEAN


def cmd_train(args, rest) -> int:
    from . import train_command

    if args.path in ("-h", "--help") or "-h" in rest or "--help" in rest:
        print(train_command.train_help())
        return EXIT_CLEAN
    if args.path is None:
        raise UsageError("train: PATH is missing (`shapelang train --help` lists the options)")
    analysis = _analysed_or_report(args)
    if analysis is None:
        return EXIT_DIAGNOSTICS
    try:
        return train_command.train(analysis, rest, backend=args.backend)
    except train_command.FrameworkMissing as exc:
        raise UsageError(str(exc)) from None


def cmd_explain(args) -> int:
    from . import codes
    from .diagnostics import did_you_mean

    if args.markdown:
        if args.write is None:
            print(codes.markdown_table())
            return EXIT_CLEAN
        try:
            text = Path(args.write).read_text(encoding="utf-8")
            write_file(args.write, codes.replace_table(text))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{args.write}: {exc}") from None
        print(f"wrote the code table into {args.write}", file=sys.stderr)
        return EXIT_CLEAN
    if args.write is not None:
        raise UsageError("explain: --write needs --markdown")
    if args.code is None:
        width = max(len(c.name) for c in codes.CODES.values())
        for c in codes.CODES.values():
            print(f"{c.code}  {c.name:<{width}}  {c.severity:<7}  {c.summary}")
        return EXIT_CLEAN
    found = codes.lookup(args.code)
    if found is None:
        close = did_you_mean(args.code, [*codes.CODES, *codes.BY_NAME])
        raise UsageError(f"explain: no code `{args.code}`; "
                         f"{close or '`shapelang explain` lists every code'}")
    print(codes.explain(found))
    return EXIT_CLEAN


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shapelang",
        description="Shapes, parameter counts, checks, and Keras and PyTorch code for .net "
        "networks.")
    parser.add_argument("--version", action="version", version=f"shapelang {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_set(p):
        p.add_argument("--set", action="append", metavar="NAME=VALUE",
                       help="bind a network parameter (repeatable)")
        return p

    def with_paths_and_selection(p):
        p.add_argument("paths", nargs="+", metavar="PATH",
                       help=".net files, or directories searched for them")
        for flag, what in (("--select", "report only these (replaces the table's select)"),
                           ("--extend-select", "report these too"),
                           ("--ignore", "do not report these (replaces the table's ignore)"),
                           ("--extend-ignore", "do not report these either")):
            p.add_argument(flag, action="append", metavar="CODES",
                           help=f"{what}: codes, code names or prefixes (SL305,SL3), "
                           "comma-separated; the table is [tool.shapelang] in pyproject.toml")
        return with_set(p)

    check = with_paths_and_selection(commands.add_parser(
        "check", help="report every problem (a CI gate)"))
    check.add_argument("--format", choices=("auto", "text", "json", "github", "sarif"),
                       default="auto", help="auto: github under GitHub Actions, else text")
    check.add_argument("--strict", action=argparse.BooleanOptionalAction, default=None,
                       help="warnings fail too (overrides [tool.shapelang] strict)")
    check.set_defaults(run=cmd_check)

    table = with_paths_and_selection(commands.add_parser(
        "table", help="every layer's shape, size, parameters"))
    table.add_argument("--format", choices=("text", "json", "markdown", "csv"), default="text")
    table.set_defaults(run=cmd_table)

    solve = with_paths_and_selection(commands.add_parser(
        "solve", help="paddings, valid and exact input sizes"))
    solve.set_defaults(run=cmd_solve)

    keras = with_set(commands.add_parser("keras", help="emit a Keras 3 program"))
    keras.add_argument("path", metavar="PATH")
    keras.add_argument("-o", "--output", metavar="FILE")
    keras.add_argument("--force", action="store_true",
                       help="overwrite FILE even if it was edited or not generated by shapelang")
    keras.add_argument("--standalone", action="store_true",
                       help="copy the training runtime beside FILE (shapelang_runtime/), so that "
                       "the program runs without shapelang installed")
    keras.set_defaults(run=cmd_keras)

    torch = with_set(commands.add_parser("torch", help="emit a PyTorch program"))
    torch.add_argument("path", metavar="PATH")
    torch.add_argument("-o", "--output", metavar="FILE")
    torch.add_argument("--force", action="store_true",
                       help="overwrite FILE even if it was edited or not generated by shapelang")
    torch.add_argument("--standalone", action="store_true",
                       help="copy the training runtime beside FILE (shapelang_runtime/), so that "
                       "the program runs without shapelang installed")
    torch.add_argument("--logits", action="store_true",
                       help="leave out the final softmax: the module returns logits, for "
                       "nn.CrossEntropyLoss")
    torch.set_defaults(run=cmd_torch)

    train = with_set(commands.add_parser(
        "train", add_help=False,
        help="train: the generated program's `train` (--help lists the options)"))
    train.add_argument("path", metavar="PATH", nargs="?")
    train.add_argument("--backend", choices=("keras", "torch"), default="keras")
    train.set_defaults(run=cmd_train)

    explain = commands.add_parser("explain", help="what a diagnostic code means (all of them "
                                  "without CODE)")
    explain.add_argument("code", metavar="CODE", nargs="?", help="a code (SL207) or its name")
    explain.add_argument("--markdown", action="store_true",
                         help="print the README's table of every code")
    explain.add_argument("--write", metavar="README",
                         help="with --markdown: replace the table between its markers there")
    explain.set_defaults(run=cmd_explain)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, rest = parser.parse_known_args(argv)
    except SystemExit as exc:  # argparse's own usage errors and --help / --version
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if args.command == "train":
            return args.run(args, rest)
        if hasattr(args, "paths"):  # paths after an option (`check . --ignore SL305 b.net`)
            args.paths += [r for r in rest if not r.startswith("-")]
            rest = [r for r in rest if r.startswith("-")]
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return args.run(args)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    except UsageError as exc:
        print(f"shapelang: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except DiagnosticError as exc:  # the code generator's SL55x: the file analysed cleanly
        print(render_text(exc.diagnostic, {}), file=sys.stderr)
        return EXIT_DIAGNOSTICS
    except BrokenPipeError:
        return EXIT_CLEAN
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 — the last line of defence: never a bare traceback
        print("shapelang: internal error (a bug in shapelang, not in your file); please report "
              "it with the file and this trace:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return EXIT_USAGE


def _detach_stdout():
    """Point standard output at /dev/null, so that the interpreter's last flush of what could
    not be written fails no more (Python's advice for SIGPIPE)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
