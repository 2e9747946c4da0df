"""What `table` and `solve` print: an `Analysis` as text, JSON, Markdown or CSV."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import sympy

from . import conventions
from .analysis import Analysis, as_int
from .fold import fold
from .layers import REGISTRY
from .layers.window import same_padding_by_residue
from .solve import input_size_report, pretty

CONVENTION = "MACs: multiply-accumulates for one example, bias additions excluded; FLOPs = 2·MACs"

# column key → heading; `--columns` picks and orders them by key
COLUMNS = {"index": "#", "layer": "layer", "op": "op", "inputs": "connected to",
           "shape": "activation shape", "size": "activation size", "params": "#params",
           "trainable": "trainable", "non_trainable": "non-trainable", "macs": "MACs"}
_NUMERIC = {"index", "size", "params", "trainable", "non_trainable", "macs"}
_TOTALS = ("params", "trainable", "non_trainable", "macs")


def parse_columns(text: str) -> tuple[str, ...]:
    """`--columns layer,shape,params` as column keys; ValueError naming the valid ones."""
    keys = tuple(k.strip().replace("-", "_") for k in text.split(","))
    unknown = [k for k in keys if k not in COLUMNS]
    if unknown or not keys:
        raise ValueError(f"--columns: unknown column {', '.join(map(repr, unknown))}; the "
                         f"columns are {', '.join(COLUMNS)}")
    if len(set(keys)) != len(keys):
        raise ValueError("--columns: a column named twice")
    return keys


class _Legend:
    """Short names for the closed-form sizes of a symbolic network, so that a table stays
    readable: `h1 = floor((H - 11)/4) + 1`, then `[h1, w1, 96]` and `96*h1*w1`."""

    def __init__(self, analysis: Analysis | None):
        self.names: dict = {}  # closed form → its short symbol
        self.lines: list[str] = []
        if analysis is None or not analysis.symbols:
            return
        letters = {0: "h", 1: "w"}
        counts: dict[str, int] = {}
        for r in analysis.layers:
            spatial = r.shape[:-1] if len(r.shape) > 1 else ()
            for axis, dim in enumerate(spatial):
                if dim.is_number or dim.is_Symbol or dim in self.names:
                    continue
                letter = letters.get(axis, f"d{axis}_") if len(spatial) == 2 else f"d{axis}_"
                counts[letter] = counts.get(letter, 0) + 1
                short = sympy.Symbol(f"{letter}{counts[letter]}")
                self.lines.append(f"{short} = {pretty(self.shorten(dim))}")
                self.names[dim] = short

    def shorten(self, value):
        return value.xreplace(self.names) if self.names else value

    def show(self, value) -> str:
        return pretty(self.shorten(value))


def _number(value, grouped: bool, legend: _Legend | None = None) -> str:
    value = as_int(value) if legend is None else value
    if isinstance(value, sympy.Basic):
        value = int(value) if value.is_Integer else legend.show(value)
    if isinstance(value, int):
        return f"{value:,}" if grouped else str(value)
    return value


def _shape(shape, legend: _Legend | None = None) -> str:
    show = legend.show if legend else pretty
    return "[" + ", ".join(show(d) for d in shape) + "]"


def is_graph(analysis: Analysis, rows=None) -> bool:
    """Whether some row reads other than the row before it (then tables show inputs)."""
    rows = analysis.layers if rows is None else rows
    return any(r.inputs != (rows[i - 1].name,) for i, r in enumerate(rows) if i)


def _cells(rows, grouped: bool, legend: _Legend | None = None):
    """Each row's cells by column key."""
    for i, r in enumerate(rows):
        # In a table for reading, "connected to" is blank for the row before (the common
        # case), so the branches stand out; CSV gives every input.
        chained = i > 0 and r.inputs == (rows[i - 1].name,)
        yield {"index": str(r.index), "layer": r.name, "op": r.op,
               "inputs": "" if chained and grouped else ", ".join(r.inputs),
               "shape": _shape(r.shape, legend),
               **{k: _number(getattr(r, k), grouped, legend)
                  for k in ("size", "params", "trainable", "non_trainable", "macs")}}


def _total_cells(analysis: Analysis, grouped: bool, legend: _Legend | None = None):
    cells = dict.fromkeys(COLUMNS, "")
    cells["layer"] = "total"
    cells.update({k: _number(analysis.total(k), grouped, legend) for k in _TOTALS})
    return cells


def _default_columns(analysis: Analysis, rows, depth) -> tuple[str, ...]:
    """Every column ("connected to" for a graph); a folded table, torchinfo's few, leaves out
    the trainable / non-trainable split (in the total and `--columns`), to fit 100 columns."""
    graph = is_graph(analysis, rows)
    split = ("trainable", "non_trainable") if depth is not None else ()
    return tuple(k for k in COLUMNS if (k != "inputs" or graph) and k not in split)


def _layout(analysis: Analysis, depth, columns, grouped: bool, legend=None):
    """The rows at `depth`, the columns (the default: every one, "connected to" for a graph),
    and the cells of the rows and of the total row, in those columns."""
    rows = fold(analysis, depth)
    columns = columns or _default_columns(analysis, rows, depth)
    body = [tuple(c[k] for k in columns) for c in _cells(rows, grouped, legend)]
    total = tuple(_total_cells(analysis, grouped, legend)[k] for k in columns)
    return columns, body, total


def _depth_lines(depth) -> list[str]:
    if depth is None:
        return []
    return [f"depth {depth}: a row whose op is a block's name is a block use folded into one row",
            "(shape: its output's; counts: sums over its layers)"]


def _legend_lines(legend: _Legend) -> list[str]:
    if not legend.lines:
        return []
    return ["", "where"] + [f"  {line}" for line in legend.lines]


def convention_lines(analysis: Analysis, backend: str | None = None) -> list[str]:
    """Whose parameter counts the table shows, and where the other framework counts more or
    fewer (`PyTorch's LSTM counts 1,024 more (two bias vectors): --backend torch`); nothing
    for a network both count alike, unless `--backend` asked."""
    other = next(c for c in conventions.CONVENTIONS if c != analysis.convention)
    notes = []
    for op, more in conventions.differences(analysis, other).items():
        kind = REGISTRY[op]
        cls = getattr(kind, "classes", {}).get(other, op)
        why = getattr(kind, "why_counts_differ", {}).get(other)
        amount = f"{int(abs(more)):,}" if more.is_number else pretty(abs(more))
        direction = "more" if not more.is_number or more > 0 else "fewer"
        notes.append(f"note: {conventions.FRAMEWORKS[other]}'s {cls} counts {amount} "
                     f"{direction}{f' ({why})' if why else ''}: --backend {other}")
    if backend is None and not notes:
        return []
    framework = conventions.FRAMEWORKS[analysis.convention]
    return [f"#params: as {framework} counts them (convention {analysis.convention})", *notes]


def _io_lines(analysis: Analysis, legend: _Legend | None = None) -> list[str]:
    """With several inputs or outputs: which rows they are, the outputs in `output`'s order."""
    if not getattr(analysis, "several_io", False):
        return []

    def listed(nodes):
        return ", ".join(f"{n.path} {_shape(n.shape, legend)}" for n in nodes)

    return ["", f"inputs: {listed(analysis.input_nodes)}",
            f"outputs: {listed(analysis.output_nodes)}"]


def tie_notes(analysis: Analysis) -> list[str]:
    """One note per layer with tied weights (`dense … tie=LABEL`): its 0 parameters are the
    embedding's matrix, counted once, there."""
    return [f"{r.name} reuses the matrix of {r.args.values['tie']} (tie=): counted once, "
            f"there" for r in analysis.layers if r.args.values.get("tie") is not None]


def heading(analysis: Analysis) -> str:
    bound = ", ".join(f"{k}={pretty(v)}" for k, v in analysis.bindings.items())
    free = ", ".join(analysis.symbols)
    parts = [f"network {analysis.network.name}"]
    if bound:
        parts.append(f"with {bound}")
    if free:
        parts.append(f"({free} unbound: closed forms)")
    return " ".join(parts)


@dataclass(frozen=True)
class TableCells:
    """A table for reading, as cells: the heading, the columns' titles, one row per layer (or
    folded block use), the total row, the legend's lines (`h1 = …` for a symbolic network) and
    which columns are numbers."""

    heading: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    total: tuple[str, ...]
    legend: tuple[str, ...]
    numeric: frozenset[int]


def table_cells(analysis: Analysis, depth: int | None = None, columns=None) -> TableCells:
    legend = _Legend(analysis)
    columns, body, total = _layout(analysis, depth, columns, True, legend)
    return TableCells(
        heading=heading(analysis), columns=tuple(COLUMNS[k] for k in columns),
        rows=tuple(tuple(row) for row in body), total=tuple(total),
        legend=tuple(legend.lines),
        numeric=frozenset(i for i, k in enumerate(columns) if k in _NUMERIC))


def table_text(analysis: Analysis, depth: int | None = None, columns=None, memory=None,
               backend: str | None = None) -> str:
    legend = _Legend(analysis)
    columns, body, total = _layout(analysis, depth, columns, True, legend)
    rows = [tuple(COLUMNS[k] for k in columns), *body, total]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    numeric = {i for i, k in enumerate(columns) if k in _NUMERIC}

    def line(row):
        cells_ = [c.rjust(w) if i in numeric else c.ljust(w)
                  for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells_).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [heading(analysis), "", line(rows[0]), rule, *(line(r) for r in rows[1:-1]), rule]
    if any(k in _TOTALS for k in columns):
        out.append(line(rows[-1]))
    out += [*_legend_lines(legend), *_io_lines(analysis, legend), "", *_depth_lines(depth),
            *tie_notes(analysis), CONVENTION]
    out += convention_lines(analysis, backend)
    if memory is not None:
        out += ["", *memory_lines(memory), "", MEMORY_CONVENTION]
    return "\n".join(out)


def table_markdown(analysis: Analysis, depth: int | None = None, columns=None,
                   memory=None, backend: str | None = None) -> str:
    legend = _Legend(analysis)
    columns, body, total = _layout(analysis, depth, columns, True, legend)
    out = [f"**{heading(analysis)}**", "", "| " + " | ".join(COLUMNS[k] for k in columns)
           + " |", "|" + "|".join("---:" if k in _NUMERIC else "---" for k in columns) + "|"]
    for row in body:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    if any(k in _TOTALS for k in columns):
        out.append("| " + " | ".join(f"**{c}**" if c else c for c in total) + " |")
    if legend.lines:
        out += ["", "where " + "; ".join(f"`{line}`" for line in legend.lines)]
    out += [f"_{line}_" if line else "" for line in _io_lines(analysis, legend)]
    out += ["", *(f"_{line}_" for line in [*_depth_lines(depth), *tie_notes(analysis)]),
            f"_{CONVENTION}_"]
    out += [f"_{line}_" for line in convention_lines(analysis, backend)]
    if memory is not None:
        out += ["", "```", *memory_lines(memory), "```", "", f"_{MEMORY_CONVENTION}_"]
    return "\n".join(out)


_CSV_HEADINGS = {"index": "index", "layer": "name", "inputs": "inputs",
                 "non_trainable": "non_trainable"}


def table_csv(analysis: Analysis, depth: int | None = None, columns=None,
              backend: str | None = None) -> str:
    columns = columns or tuple(COLUMNS)
    _, body, total = _layout(analysis, depth, columns, False)
    # whose counts: a last column, where a text table would say it
    convention = (("convention",), (analysis.convention,)) if convention_lines(
        analysis, backend) else ((), ())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*(_CSV_HEADINGS.get(k, k) for k in columns), *convention[0]])
    writer.writerows([*row, *convention[1]] for row in body)
    writer.writerow([*total, *convention[1]])
    return buffer.getvalue().rstrip("\n")


def json_count(value) -> int | str:
    """A dimension, size, count or MACs in the JSON contract: a JSON integer whenever it is
    bound — a Python int or any sympy integer, never its text — and the closed form's text
    only when it has unbound symbols. Anything else is refused rather than written as text."""
    if isinstance(value, bool):
        raise TypeError(f"a count cannot be the boolean {value}")
    if isinstance(value, int):
        return value
    if isinstance(value, sympy.Basic):
        if value.free_symbols:
            return pretty(value)
        if value.is_integer:
            return int(value)
    raise TypeError(f"a bound count must be an integer, got {value!r}")


def table_document(analysis: Analysis, depth: int | None = None, memory=None,
                   backend: str | None = None) -> dict:
    """The machine contract of DESIGN.md: integers when bound, closed-form strings when not.
    At a depth, the rows are folded (`kind` "layer" or "block", `layers` each stands for)."""
    layers = [] if depth is None else [_json_row(r) for r in fold(analysis, depth)]
    for r in analysis.layers if depth is None else ():
        layers.append({
            "index": r.index, "name": r.name, "op": r.op, "line": r.layer.span.line,
            "inputs": list(r.inputs), "shape": [json_count(d) for d in r.shape],
            "size": json_count(r.size), "params": json_count(r.params),
            "trainable": json_count(r.trainable), "non_trainable": json_count(r.non_trainable),
            "macs": json_count(r.macs),
            "padding": None if r.padding is None else [[json_count(p) for p in axis]
                                                       for axis in r.padding],
        })
    document = {
        "network": analysis.network.name,
        "bindings": {k: json_count(v) if v.is_integer else pretty(v)
                     for k, v in analysis.bindings.items()},
        "symbols": list(analysis.symbols),
        **({} if depth is None else {"depth": depth}),
        "layers": layers,
        "total": {k: json_count(analysis.total(k))
                  for k in ("params", "trainable", "non_trainable", "macs")},
    }
    notes = convention_lines(analysis, backend)
    if notes:  # whose counts, where a text table would say it
        document["convention"] = analysis.convention
        document["convention_notes"] = notes[1:]
    if getattr(analysis, "several_io", False):
        document["inputs"] = list(analysis.input_paths)
        document["outputs"] = list(analysis.output_paths)
    if memory is not None:
        document["memory"] = memory_json(memory)
    return document


def table_json(analysis: Analysis, depth: int | None = None, memory=None,
               backend: str | None = None) -> str:
    return json.dumps(table_document(analysis, depth, memory, backend), indent=2,
                      ensure_ascii=False)


def _json_row(r) -> dict:
    return {"index": r.index, "name": r.name, "op": r.op, "kind": r.kind, "layers": r.layers,
            "line": r.line, "inputs": list(r.inputs), "shape": [json_count(d) for d in r.shape],
            **{k: json_count(getattr(r, k))
               for k in ("size", "params", "trainable", "non_trainable", "macs")}}


def _padding_text(analysis: Analysis, r, axis: int) -> str:
    """One axis's solved `same` padding: a pair of numbers, or — when the size is unbound and
    the stride above 1 — the pair for each residue of the layer's input size n mod s (with
    n = q·s + r: t = max(k − s, 0) for r = 0, else max(k − r, 0))."""
    before, after = r.padding[axis]
    if before.is_number and after.is_number:
        return f"({pretty(before)}, {pretty(after)})"
    geometry = r.geometry
    kernel, stride = geometry.kernel[axis], geometry.stride[axis]
    dilation = geometry.dilation[axis]
    if not (kernel.is_number and stride.is_number and dilation.is_number) or stride > 16:
        return f"({pretty(before)}, {pretty(after)})"  # one case per residue would be too many
    k_eff, s = int(dilation * (kernel - 1) + 1), int(stride)
    cases = [f"n ≡ {residue}: ({b}, {a})"
             for residue, (b, a) in enumerate(same_padding_by_residue(k_eff, s))]
    n = pretty(analysis.shapes[r.inputs[0]][axis])
    return f"[{'; '.join(cases)} (mod {s}), n = {n}]"


def solve_text(analysis: Analysis) -> str:
    out = [heading(analysis), ""]
    reports = input_size_report(analysis)
    out.append("input sizes:")
    if not reports:
        out.append("  (the input has no spatial axes)")
    for rep in reports:
        label = rep.axis if rep.symbol == rep.axis else f"{rep.axis} ({rep.symbol})"
        if rep.undecided:
            out.append(f"  {label}: undecided, with the input size unbound: {rep.undecided}")
            continue
        if rep.domain is None:
            out.append(f"  {label}: any size; no window or stride constrains it")
            continue
        valid = rep.domain.describe_least()
        exact = rep.domain.describe_exact() or "none"
        out.append(f"  {label}: valid for {valid}" if not rep.domain.least_undecided
                   else f"  {label}: valid sizes {valid}")
        out.append(f"    exact (no stride leaves {rep.axis} unread): {exact}")
        if rep.value is not None and rep.domain.classes:
            below, above = rep.domain.nearest_exact(int(rep.value))
            if below == above == int(rep.value):
                out.append(f"    {rep.value} is exact")
            else:
                near = ", ".join(str(v) for v in dict.fromkeys((below, above)) if v is not None)
                out.append(f"    {rep.value} is not exact; nearest exact: {near}")
    padded = [r for r in analysis.layers if r.geometry is not None and r.geometry.mode == "same"]
    out += ["", "paddings solved for pad=same (before, after) per axis:"]
    if not padded:
        out.append("  (no layer uses pad=same)")
    rows: dict = {}  # one row per line and solution: a block's line is solved once per use
    for r in padded:
        kernel = "×".join(pretty(k) for k in r.geometry.kernel)
        stride = r.options["stride"]
        stride = r.options["kernel"] if stride is None else stride  # pooling's default
        stride = "×".join(pretty(s) for s in stride) if isinstance(stride, tuple) else pretty(
            stride)
        pads = "; ".join(_padding_text(analysis, r, axis) for axis in range(len(r.padding)))
        rows.setdefault((r.layer.span.line, kernel, stride, pads), []).append(r.name)
    width = max((len(names[0]) for names in rows.values()), default=0)
    for (line, kernel, stride, pads), names in rows.items():
        more = f" (+{len(names) - 1} uses)" if len(names) > 1 else ""
        out.append(f"  line {line:<4} {names[0]:<{width}}  k={kernel} s={stride}: {pads}{more}")
    conditions = [c for c in analysis.minimum_sizes if len(c.value.free_symbols) > 1]
    if conditions:
        out += ["", "conditions in several symbols:"]
        for c in conditions:
            out.append(f"  line {c.layer.span.line}: {pretty(c.value)} ≥ {c.minimum}")
    upper = [c for c in analysis.maximum_sizes if len(c.value.free_symbols) > 1]
    if upper:
        out += ["", "upper bounds in several symbols:"]
        out += [f"  line {c.layer.span.line}: {pretty(c.value)} ≤ {c.maximum}" for c in upper]
    undecided = [d for d in analysis.diagnostics if d.code in ("SL312", "SL313")]
    if undecided:
        out += ["", "undecided within the budget (`check --strict` fails on these):"]
        out += [f"  line {d.span.line}: {d.message}" for d in undecided]
    return "\n".join(out)


# ---- memory (`table --batch-size B`) ----------------------------------------------------------
MEMORY_CONVENTION = (
    "memory: weights float32 (trainable and not; mixed precision keeps them float32), one "
    "float32 gradient and the optimizer's slots per trainable weight, every layer's output "
    "kept once for the backward pass (views such as flatten excluded); inference: the weights "
    "and the most activations alive at once")


def _bytes(value) -> str:
    from .memory import human

    if isinstance(value, sympy.Basic) and not value.is_number:
        return pretty(value)
    return f"{int(value):,} B  ({human(value)})"


def memory_lines(memory) -> list[str]:
    """The memory section under a table."""
    batch = pretty(memory.batch) if isinstance(memory.batch, sympy.Basic) else memory.batch
    rows = [("parameters", memory.parameters), ("gradients", memory.gradients),
            (f"optimizer state ({memory.optimizer.slots} per weight)", memory.optimizer_state),
            ("activations kept for backward", memory.activations),
            ("training total", memory.training)]
    if memory.inference is not None:
        rows += [("inference: activations alive at once", memory.inference_activations),
                 ("inference total", memory.inference)]
    width = max(len(name) for name, _ in rows)
    heading = (f"memory at batch size {batch} (activations {memory.activation_dtype}; "
               f"optimizer {memory.optimizer.describe()}):")
    out = [heading]
    out += [f"  {name:<{width}}  {_bytes(value)}" for name, value in rows]

    def megabytes(value):
        if isinstance(value, sympy.Basic) and not value.is_number:
            return pretty(value / 10**6)
        return f"{int(value) / 1e6:0.2f}"

    out.append(f"  torchinfo's convention (float32): Params size (MB): "
               f"{megabytes(memory.torchinfo_params)}, Forward/backward pass size (MB): "
               f"{megabytes(memory.torchinfo_forward_backward)}")
    return out


def memory_json(memory) -> dict:
    return {k: (v if isinstance(v, (str, bool)) or v is None else json_count(v))
            for k, v in memory.as_dict().items()}
