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


def load_and_analyse(path: str, bindings: dict, relative: bool = False, convention: str = "keras"
                     ) -> tuple[str, Analysis | None, list[Diagnostic]]:
    """Source text, the analysis (None after a syntax error) and every diagnostic of a file;
    `relative` for a backend (the layers' values relative to their roots, too); `convention`:
    whose parameter counts (`table --backend`)."""
    try:
        text = _read(path)
    except DiagnosticError as exc:
        return "", None, [exc.diagnostic]
    try:
        network = parse(text, path)
    except DiagnosticError as exc:
        return text, None, [exc.diagnostic]
    options = {"relative": True} if relative else {}
    if convention != "keras":
        options["convention"] = convention
    analysis = analyse(network, bindings, **options)
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
            text, analysis, diagnostics = load_and_analyse(
                path, bindings, convention=getattr(args, "backend", None) or "keras")
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

    tables = [(path, list(csv.reader(io.StringIO(report)))) for path, report in reports]
    # a network that Keras and PyTorch count alike has no `convention` column unless asked
    # (`--backend`): where another file has it, its counts are Keras's
    conventions = any(rows[0][-1] == "convention" for _, rows in tables)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for number, (path, rows) in enumerate(tables):
        if conventions and rows[0][-1] != "convention":
            rows = [[*rows[0], "convention"], *([*row, "keras"] for row in rows[1:])]
        writer.writerows([["file", *row] if i == 0 else [path, *row]
                          for i, row in enumerate(rows) if i or not number])
    return buffer.getvalue().rstrip("\n")


def cmd_table(args) -> int:
    from . import report

    columns = _columns_option(args)
    if columns and args.format == "json":
        raise UsageError("--columns is for text, markdown and csv; JSON holds every column")
    memory = _memory_options(args)
    if memory is not None and args.format == "csv":
        raise UsageError("--batch-size: the csv format has no memory section (use text, "
                         "markdown or json)")
    if args.format == "json":
        def render(a):
            return report.table_json(a, args.depth, memory and memory(a), args.backend)
    elif args.format == "csv":
        def render(a):
            return report.table_csv(a, args.depth, columns, args.backend)
    else:
        readable = {"text": report.table_text, "markdown": report.table_markdown}[args.format]

        def render(a):
            return readable(a, args.depth, columns, memory and memory(a), args.backend)
    combine = {"json": _json_documents, "csv": _csv_documents}.get(args.format)
    return _report_then_diagnostics(args, render, combine)


def _columns_option(args):
    from . import report

    if args.columns is None:
        return None
    try:
        return report.parse_columns(args.columns)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _depth(text: str) -> int:
    """`--depth N`: a whole number ≥ 1 (argparse turns the ValueError into a usage error)."""
    if not text.isdigit() or int(text) < 1 or len(text) > 4:
        raise ValueError(text)
    return int(text)


# ---- memory: `table --batch-size B [--optimizer O] [--mixed-precision]` ----------------------
def _memory_options(args):
    """A function of the analysis giving its memory, or None without --batch-size."""
    from .memory import OPTIMIZER_SLOTS, estimate, optimizer_of

    if args.batch_size is None:
        if args.optimizer or args.mixed_precision:
            raise UsageError("--optimizer and --mixed-precision need --batch-size B")
        return None
    if args.optimizer is not None and args.optimizer not in OPTIMIZER_SLOTS:
        raise UsageError(f"--optimizer {args.optimizer}: one of {', '.join(OPTIMIZER_SLOTS)}")
    return lambda analysis: estimate(analysis, args.batch_size,
                                     optimizer_of(dict(analysis.train), args.optimizer),
                                     args.mixed_precision)


def _batch_size(text: str) -> int:
    try:
        value = limits.read_decimal(text)
    except ValueError:
        value = None
    if value is None or value.denominator != 1 or not 1 <= value <= limits.MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(
            f"a whole number from 1 to {limits.MAX_BATCH_SIZE:,}, got {limits.shorten(text)}")
    return int(value)


def _with_memory_options(p):
    p.add_argument("--batch-size", type=_batch_size, metavar="B",
                   help="add the memory of training and inference at batch size B")
    p.add_argument("--optimizer", metavar="NAME",
                   help="the optimizer whose state is counted (default: the train: block's, "
                   "else adam): sgd, momentum (sgd with momentum), adam, rmsprop, …")
    p.add_argument("--mixed-precision", action="store_true",
                   help="float16 activations (weights stay float32)")
    return p


def cmd_solve(args) -> int:
    from . import report

    return _report_then_diagnostics(args, report.solve_text)


# ---- lsp: the language server (the `lsp` extra) ---------------------------------------------
def cmd_lsp(args) -> int:
    try:
        from .lsp import serve
    except ImportError as exc:
        raise UsageError(f"`shapelang lsp` needs pygls ({exc}): pip install 'shapelang[lsp]'"
                         ) from None
    serve()
    return EXIT_CLEAN


# ---- fit: `shapelang fit PATH --budget Q<=N --vary NAME=LOW..HIGH [--step S] …` -------------
class _VaryAction(argparse.Action):
    """--vary appends a range; --step gives the step of the --vary just before it."""

    def __call__(self, parser, namespace, values, option_string=None):
        varies = list(getattr(namespace, "varies", None) or [])
        if option_string == "--step":
            if not varies or varies[-1][1] is not None:
                raise argparse.ArgumentError(self, "--step follows the --vary it applies to")
            varies[-1] = (varies[-1][0], values)
        else:
            varies.append((values, None))
        namespace.varies = varies


def cmd_fit(args) -> int:
    from . import fit, report
    from .memory import OPTIMIZER_SLOTS

    if not args.varies:
        raise UsageError("fit: give at least one --vary NAME=LOW..HIGH")
    if args.optimizer is not None and args.optimizer not in OPTIMIZER_SLOTS:
        raise UsageError(f"--optimizer {args.optimizer}: one of {', '.join(OPTIMIZER_SLOTS)}")
    bindings = _parse_sets(args.set)
    for name, value in bindings.items():
        if isinstance(value, str):
            raise UsageError(f"--set {name}={limits.shorten(value)}: past shapelang's limits")
    try:
        text = _read(args.path)
        network = parse(text, args.path)
    except DiagnosticError as exc:
        _print_diagnostics([exc.diagnostic], {args.path: ""}, "text", sys.stderr)
        return EXIT_DIAGNOSTICS
    try:
        varies = []
        for vary_text, step_text in args.varies:
            vary = fit.parse_vary(vary_text)
            if step_text is not None:
                vary.step = fit.parse_step(step_text)
            varies.append(vary)
        settings = fit.Settings(
            network=network, bindings=bindings,
            budgets=[fit.parse_budget(b) for b in args.budget or ()], varies=varies,
            batch_size=args.batch_size, optimizer=args.optimizer,
            mixed_precision=args.mixed_precision, exact=args.exact)
        result = fit.fit(settings)
    except fit.FitError as exc:
        raise UsageError(str(exc)) from None
    tables = _fit_tables(settings, result) if args.table else {}
    if args.format == "json":
        import json

        document = fit.report_json(result)
        for index, (graph, memory) in tables.items():
            table = report.table_json(graph, memory=memory)
            document["lines"][index]["table"] = json.loads(table)
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(fit.report_text(result, args.path))
        for graph, memory in tables.values():
            print("\n" + report.table_text(graph, memory=memory))
    feasible = any(line.feasible for line in result.lines)
    return EXIT_CLEAN if feasible else EXIT_DIAGNOSTICS


def _fit_tables(settings, result) -> dict:
    """For --table: each line's largest fitting point analysed, with its memory where a budget
    is one (line index → (graph, memory or None))."""
    from . import fit
    from .analysis import analyse as analyse_graph

    evaluator = fit.Evaluator(settings)
    tables = {}
    for index, line in enumerate(result.lines):
        if line.largest is None:
            continue
        bindings, batch = evaluator.bindings_at(line.largest.values)
        graph = analyse_graph(settings.network, bindings)
        memory = None
        if any(b.quantity in fit.MEMORY for b in settings.budgets):
            memory = evaluator.memory(graph, evaluator.batch_of(graph, batch))
        tables[index] = (graph, memory)
    return tables


def write_file(path: str, text: str):
    """Write `text` to `path` whole or not at all: into a new file in the target's directory,
    then renamed over the target. A device or a pipe (`/dev/stdout`, `/dev/full`) is written
    in place. Every failure is a UsageError naming the path."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{path}: is a directory")
    if (target.exists() and not target.is_file()) or str(target).startswith(("/dev/", "/proc/")):
        try:
            with open(target, "wb") as handle:
                handle.write(_encoded(text))
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
        with open(descriptor, "wb") as handle:
            handle.write(_encoded(text))
        if mode is not None:
            os.chmod(partial, mode)
        os.replace(partial, real)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _encoded(text: str | bytes) -> bytes:
    return text.encode("utf-8") if isinstance(text, str) else text


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


# ---- diff and draw: comparing two networks, and the graph as a picture ---------------------

def _bindings_list(items, option: str) -> dict:
    """`--a H=270,W=480 --a classes=29`: NAME=VALUE pairs, comma-separated and repeatable."""
    pairs = [p for item in items or () for p in item.split(",") if p.strip()]
    try:
        return _parse_sets(pairs)
    except UsageError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _analysed_for_view(path: str, bindings: dict):
    """Source text, the graph (None after a syntax or file error) and the diagnostics of a file
    analysed for viewing: shapes and counts, without `check`'s domain and `expect` checks
    (an `expect` written for one size fails at another, which is what a comparison is for)."""
    try:
        text = _read(path)
        network = parse(text, path)
    except DiagnosticError as exc:
        return "", None, [exc.diagnostic]
    graph = analyse(network, bindings, checks=False)
    return text, graph, list(graph.diagnostics)


def cmd_diff(args) -> int:
    from . import diff

    if len(args.paths) > 2:
        raise UsageError("diff: give one file (and --a / --b bindings) or two files")
    shared = _parse_sets(args.set)
    path_a, path_b = args.paths[0], args.paths[-1]
    sides, sources, errors = [], {}, []
    for path, option, items in ((path_a, "--a", args.a), (path_b, "--b", args.b)):
        bindings = {**shared, **_bindings_list(items, option)}
        text, graph, diagnostics = _analysed_for_view(path, bindings)
        sources[path] = text
        errors += [d for d in diagnostics if d.severity == ERROR]
        sides.append(diff.Side(path, graph) if graph is not None and graph.complete
                     and graph.layers else None)
    quantities = diff.DEFAULT_QUANTITIES
    if args.columns is not None:
        try:
            quantities = diff.parse_quantities(args.columns)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    differ = False
    if all(sides):
        pairs = diff.compare(sides[0].graph, sides[1].graph, args.depth, args.match)
        differ = any(p.status != diff.SAME for p in pairs)
        if args.format == "json":
            print(diff.diff_json(*sides, pairs))
        else:
            render = diff.diff_markdown if args.format == "markdown" else diff.diff_text
            print(render(*sides, pairs, quantities))
        sys.stdout.flush()
    _print_diagnostics(list(dict.fromkeys(errors)), sources, "text", sys.stderr)
    if errors or not all(sides):
        return EXIT_DIAGNOSTICS
    return EXIT_DIAGNOSTICS if args.exit_code and differ else EXIT_CLEAN


def cmd_draw(args) -> int:
    from . import draw

    text, graph, diagnostics = _analysed_for_view(args.path, _parse_sets(args.set))
    errors = [d for d in diagnostics if d.severity == ERROR]
    if graph is None or not graph.complete or not graph.layers:
        _print_diagnostics(errors, {args.path: text}, "text", sys.stderr)
        return EXIT_DIAGNOSTICS
    try:
        picture = draw.picture(graph, args.depth, args.within)
    except ValueError:
        raise UsageError(f"--within {args.within}: "
                         f"{_no_such_use(graph, args.within, args.depth)}") from None
    if args.format == "dot":
        output = draw.to_dot(picture)
    elif args.format == "mermaid":
        output = draw.to_mermaid(picture)
    else:
        if len(picture.rows) > draw.MAX_RENDERED_NODES:
            raise UsageError(f"{len(picture.rows):,} nodes to lay out, more than the limit of "
                             f"{draw.MAX_RENDERED_NODES:,} for {args.format}: fold blocks with "
                             "--depth, or draw --format dot")
        if args.format == "png" and not args.output:
            raise UsageError("png is binary: give -o FILE")
        try:
            output = draw.render(draw.to_dot(picture), args.format)
        except draw.RendererMissing as exc:
            raise UsageError(str(exc)) from None
        if args.format == "svg":
            output = output.decode("utf-8")
    if args.output:
        write_file(args.output, output)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(output)
    sys.stdout.flush()
    _print_diagnostics(errors, {args.path: text}, "text", sys.stderr)
    return EXIT_DIAGNOSTICS if errors else EXIT_CLEAN


def _no_such_use(graph, path: str, depth) -> str:
    from .diagnostics import did_you_mean
    from .fold import block_uses

    uses = sorted(block_uses(graph, None))
    if path in uses:
        return f"that block use is folded at --depth {depth}: a larger depth opens it"
    if not uses:
        return "the network uses no block"
    listed = ", ".join(uses[:12]) + (", …" if len(uses) > 12 else "")
    return f"no block use of that path; {did_you_mean(path, uses) or 'the uses: ' + listed}"


def _add_diff_and_draw(commands, with_set):
    difference = with_set(commands.add_parser(
        "diff", help="two networks side by side: shapes, sizes, parameters, MACs, deltas"))
    difference.add_argument("paths", nargs="+", metavar="PATH",
                            help="A.net B.net, or one file compared at two bindings")
    difference.add_argument("--a", action="append", metavar="NAME=VALUE,…",
                            help="bindings of side A (repeatable; --set binds both)")
    difference.add_argument("--b", action="append", metavar="NAME=VALUE,…",
                            help="bindings of side B")
    difference.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    difference.add_argument("--depth", type=_depth, metavar="N",
                            help="compare with each block use N deep folded into one row")
    difference.add_argument("--columns", metavar="COL,…",
                            help="the quantities compared, in order: shape, size, params, "
                            "trainable, non_trainable, macs (default: shape,size,params,macs)")
    difference.add_argument("--match", choices=("path", "order"), default="path",
                            help="pair rows by path (default), or align the two sequences of "
                            "ops (files whose layers are named differently)")
    difference.add_argument("--exit-code", action="store_true",
                            help="exit 1 when the networks differ (as `git diff --exit-code`)")
    difference.set_defaults(run=cmd_diff)

    picture = with_set(commands.add_parser(
        "draw", help="the graph as SVG, PNG, Graphviz DOT or Mermaid"))
    picture.add_argument("path", metavar="PATH")
    picture.add_argument("--format", choices=("svg", "png", "dot", "mermaid"), default="svg",
                         help="svg and png need Graphviz's `dot`; dot and mermaid need nothing")
    picture.add_argument("--depth", type=_depth, metavar="N",
                         help="fold each block use N deep into one node")
    picture.add_argument("--within", metavar="BLOCK_USE",
                         help="draw only the layers of one block use (a path: conv3)")
    picture.add_argument("-o", "--output", metavar="FILE")
    picture.set_defaults(run=cmd_draw)


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
    table.add_argument("--depth", type=_depth, metavar="N",
                       help="fold each block use N deep into one row with summed counts "
                       "(1: the network's own lines)")
    table.add_argument("--columns", metavar="COL,…",
                       help="the columns, in order: index, layer, op, inputs, shape, size, "
                       "params, trainable, non_trainable, macs")
    table.add_argument("--backend", choices=("keras", "torch"),
                       help="count parameters as this framework does (default: Keras's; "
                       "PyTorch's RNNs hold two bias vectors)")
    _with_memory_options(table)
    table.set_defaults(run=cmd_table)

    solve = with_paths_and_selection(commands.add_parser(
        "solve", help="paddings, valid and exact input sizes"))
    solve.set_defaults(run=cmd_solve)

    fit_parser = with_set(commands.add_parser(
        "fit", help="the parameter values at which the network meets budgets"))
    fit_parser.add_argument("path", metavar="PATH")
    fit_parser.add_argument("--budget", action="append", metavar="QUANTITY<=LIMIT",
                            help="params, trainable, non_trainable, macs, flops, size, memory "
                            "(training, at the batch size), inference_memory: params<=5e6, "
                            "memory<=16GiB (repeatable)")
    fit_parser.add_argument("--vary", action=_VaryAction, dest="varies", metavar="NAME=LOW..HIGH",
                            help="a parameter's range (repeatable; the last is searched for each "
                            "value of the others); `batch` is the batch size")
    fit_parser.add_argument("--step", action=_VaryAction, dest="varies", metavar="STEP",
                            help="the step of the --vary before it (default 1)")
    fit_parser.add_argument("--exact", action="store_true",
                            help="list the feasible input sizes at which no stride leaves rows "
                            "unread")
    fit_parser.add_argument("--table", action="store_true",
                            help="print the network's table at each largest feasible value")
    fit_parser.add_argument("--format", choices=("text", "json"), default="text")
    _with_memory_options(fit_parser)
    fit_parser.set_defaults(run=cmd_fit)

    def program_command(name, help_text, run):
        p = with_set(commands.add_parser(name, help=help_text))
        p.add_argument("path", metavar="PATH")
        p.add_argument("-o", "--output", metavar="FILE")
        p.add_argument("--force", action="store_true",
                       help="overwrite FILE even if it was edited or not generated by shapelang")
        p.add_argument("--standalone", action="store_true",
                       help="copy the training runtime beside FILE (shapelang_runtime/), so that "
                       "the program runs without shapelang installed")
        p.set_defaults(run=run)
        return p

    program_command("keras", "emit a Keras 3 program", cmd_keras)
    torch = program_command("torch", "emit a PyTorch program", cmd_torch)
    torch.add_argument("--logits", action="store_true",
                       help="leave out the final softmax: the module returns logits, for "
                       "nn.CrossEntropyLoss")

    train = with_set(commands.add_parser(
        "train", add_help=False,
        help="train: the generated program's `train` (--help lists the options)"))
    train.add_argument("path", metavar="PATH", nargs="?")
    train.add_argument("--backend", choices=("keras", "torch"), default="keras")
    train.set_defaults(run=cmd_train)

    lsp = commands.add_parser("lsp", help="the language server an editor starts (stdio)")
    lsp.add_argument("--stdio", action="store_true",
                     help="talk over standard input and output (the default and only way)")
    lsp.set_defaults(run=cmd_lsp)

    explain = commands.add_parser("explain", help="what a diagnostic code means (all of them "
                                  "without CODE)")
    explain.add_argument("code", metavar="CODE", nargs="?", help="a code (SL207) or its name")
    explain.add_argument("--markdown", action="store_true",
                         help="print the README's table of every code")
    explain.add_argument("--write", metavar="README",
                         help="with --markdown: replace the table between its markers there")
    explain.set_defaults(run=cmd_explain)
    _add_diff_and_draw(commands, with_set)
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
