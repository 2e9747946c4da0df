"""What `table` and `solve` print: an `Analysis` as text, JSON, Markdown or CSV."""
from __future__ import annotations

import csv
import io
import json

import sympy

from .analysis import Analysis, as_int
from .layers.window import same_padding_by_residue
from .solve import input_size_report, pretty

CONVENTION = "MACs: multiply-accumulates for one example, bias additions excluded; FLOPs = 2·MACs"

_COLUMNS = ("#", "layer", "op", "activation shape", "activation size", "#params", "trainable",
            "non-trainable", "MACs")


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


def is_graph(analysis: Analysis) -> bool:
    """Whether some layer reads other than the layer before it (then tables show inputs)."""
    return any(r.inputs != (analysis.layers[r.index - 1].name,)
               for r in analysis.layers[1:])


def _rows(analysis: Analysis, grouped: bool, legend: _Legend | None = None, inputs=False):
    for r in analysis.layers:
        # In a table for reading, "connected to" is blank for the line before (the common
        # case), so the branches stand out; CSV gives every input.
        chained = r.index > 0 and r.inputs == (analysis.layers[r.index - 1].name,)
        connected = ("" if chained and grouped else ", ".join(r.inputs),) if inputs else ()
        yield (str(r.index), r.name, r.op, *connected, _shape(r.shape, legend),
               *(_number(v, grouped, legend)
                 for v in (r.size, r.params, r.trainable, r.non_trainable, r.macs)))


def _total_row(analysis: Analysis, grouped: bool, legend: _Legend | None = None, inputs=False):
    return ("", "total", "", *(("",) if inputs else ()), "", "",
            *(_number(analysis.total(k), grouped, legend)
              for k in ("params", "trainable", "non_trainable", "macs")))


def _columns(inputs: bool):
    return _COLUMNS[:3] + ("connected to",) + _COLUMNS[3:] if inputs else _COLUMNS


def _legend_lines(legend: _Legend) -> list[str]:
    if not legend.lines:
        return []
    return ["", "where"] + [f"  {line}" for line in legend.lines]


def _heading(analysis: Analysis) -> str:
    bound = ", ".join(f"{k}={pretty(v)}" for k, v in analysis.bindings.items())
    free = ", ".join(analysis.symbols)
    parts = [f"network {analysis.network.name}"]
    if bound:
        parts.append(f"with {bound}")
    if free:
        parts.append(f"({free} unbound: closed forms)")
    return " ".join(parts)


def table_text(analysis: Analysis, memory=None) -> str:
    legend = _Legend(analysis)
    graph = is_graph(analysis)
    columns = _columns(graph)
    rows = [columns, *_rows(analysis, True, legend, graph),
            _total_row(analysis, True, legend, graph)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    numeric = {0, *range(len(columns) - 5, len(columns))}

    def line(row):
        cells = [c.rjust(w) if i in numeric else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [_heading(analysis), "", line(rows[0]), rule, *(line(r) for r in rows[1:-1]), rule,
           line(rows[-1]), *_legend_lines(legend), "", CONVENTION]
    if memory is not None:
        out += ["", *memory_lines(memory), "", MEMORY_CONVENTION]
    return "\n".join(out)


def table_markdown(analysis: Analysis, memory=None) -> str:
    legend = _Legend(analysis)
    graph = is_graph(analysis)
    columns = _columns(graph)
    numeric = {0, *range(len(columns) - 5, len(columns))}
    out = [f"**{_heading(analysis)}**", "", "| " + " | ".join(columns) + " |",
           "|" + "|".join("---:" if i in numeric else "---" for i in range(len(columns))) + "|"]
    for row in [*_rows(analysis, True, legend, graph), _total_row(analysis, True, legend, graph)]:
        cells = [c.replace("|", "\\|") for c in row]
        if row[1] == "total":
            cells = [f"**{c}**" if c else c for c in cells]
        out.append("| " + " | ".join(cells) + " |")
    if legend.lines:
        out += ["", "where " + "; ".join(f"`{line}`" for line in legend.lines)]
    out += ["", f"_{CONVENTION}_"]
    if memory is not None:
        out += ["", "```", *memory_lines(memory), "```", "", f"_{MEMORY_CONVENTION}_"]
    return "\n".join(out)


def table_csv(analysis: Analysis) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "name", "op", "inputs", "shape", "size", "params", "trainable",
                     "non_trainable", "macs"])
    writer.writerows(_rows(analysis, False, None, True))
    writer.writerow(_total_row(analysis, False, None, True))
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


def table_json(analysis: Analysis, memory=None) -> str:
    """The machine contract of DESIGN.md: integers when bound, closed-form strings when not."""
    layers = []
    for r in analysis.layers:
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
        "layers": layers,
        "total": {k: json_count(analysis.total(k))
                  for k in ("params", "trainable", "non_trainable", "macs")},
    }
    if memory is not None:
        document["memory"] = memory_json(memory)
    return json.dumps(document, indent=2, ensure_ascii=False)


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
    out = [_heading(analysis), ""]
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
