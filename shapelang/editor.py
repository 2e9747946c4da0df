"""What an editor shows of one `.net` document: its diagnostics (with the block uses a problem
inside a block comes from), an inlay hint at the end of every layer line (`→ [55, 55, 96] ·
34,944`), hovers, definitions and completions. Pure Python over the parse and the analysis:
the language server (`lsp.py`) only carries these over the protocol.

Positions here are the parser's: lines and columns from 1, columns in characters (code
points), end columns exclusive.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import sympy

from . import ir
from .analysis import Analysis, analyse
from .codes import definition
from .diagnostics import Diagnostic, DiagnosticError, printable
from .graph import Node
from .layers import ACTIVATIONS, REGISTRY
from .layers.base import REQUIRED
from .parser import parse
from .solve import input_size_report, pretty

#: Statement keywords offered where a line begins.
KEYWORDS = ("repeat", "let", "expect", "return", "block", "network", "train")
#: How many uses of one block line an inlay hint or hover lists before counting the rest.
SHOWN_USES = 8
#: Characters of a closed form shown in an inlay hint before it is cut with `…`.
HINT_WIDTH = 60

_WORD = re.compile(r"@?[A-Za-z_][A-Za-z0-9_]*")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
#: A line typed up to its op: `    conv1: con`.
_STATEMENT_START = re.compile(rf"^\s*(?:{_NAME}\s*:\s*)?[A-Za-z_0-9]*$")
#: A line past its op: `    conv1: conv 96 ` → `conv`.
_LINE_OP = re.compile(rf"^\s*(?:{_NAME}\s*:\s*)?({_NAME})\s")


@dataclass(frozen=True)
class Related:
    span: ir.Span
    message: str


@dataclass(frozen=True)
class EditorDiagnostic:
    diagnostic: Diagnostic
    related: tuple[Related, ...] = ()

    @property
    def text(self) -> str:
        """The message, then its notes (where in a block's uses it happened, when the
        diagnostics carry them) and its hint, each on a line of its own."""
        d = self.diagnostic
        notes = [f"note: {printable(note)}" for note in getattr(d, "notes", ())]
        hint = [f"hint: {printable(d.hint)}"] if d.hint else []
        return "\n".join([printable(d.message), *notes, *hint])


@dataclass(frozen=True)
class InlayHint:
    line: int
    col: int  # the hint stands before this column: the end of the layer's statement
    label: str


@dataclass(frozen=True)
class Hover:
    markdown: str
    span: ir.Span


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # op, block, option, activation, label, keyword
    detail: str = ""
    documentation: str = ""
    insert: str | None = None


def count(value) -> str:
    """A count as the table shows it: `34,944`, or the closed form when symbolic."""
    if isinstance(value, sympy.Basic) and value.is_Integer:
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}"
    return _cut(pretty(value))


def shape_text(shape) -> str:
    return "[" + ", ".join(_cut(pretty(d)) for d in shape) + "]"


def _cut(text: str) -> str:
    return text if len(text) <= HINT_WIDTH else text[:HINT_WIDTH - 1] + "…"


# ---- the statements of a file, walked once ---------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """A network's or a block's body: its layer lines (nested `repeat`s' included), its labels,
    its `let`s, and the lines it spans."""

    block: ir.Block | None
    layers: tuple[ir.Layer, ...]
    labels: dict  # label → the layer line that defines it (the first one)
    lets: dict  # name → ir.Let | ir.Function
    first_line: int
    last_line: int

    def holds(self, line: int) -> bool:
        return self.first_line <= line <= self.last_line


def _scope(block: ir.Block | None, statements, header: ir.Span) -> Scope:
    layers, labels, lets, last = [], {}, {}, header.end_line

    def visit(items):
        nonlocal last
        for s in items:
            last = max(last, s.span.end_line)
            if isinstance(s, ir.Layer):
                layers.append(s)
                if s.label:
                    labels.setdefault(s.label, s)
            elif isinstance(s, (ir.Let, ir.Function)):
                lets.setdefault(s.name, s)
            elif isinstance(s, ir.Repeat):
                if s.label:
                    labels.setdefault(s.label, s)
                visit(s.statements)

    visit(statements)
    return Scope(block, tuple(layers), labels, lets, header.line, last)


def scopes_of(network: ir.Network) -> list[Scope]:
    found = [_scope(b, b.statements, b.span) for b in network.blocks]
    found.append(_scope(None, network.statements, network.span))
    return found


def _label_span(layer) -> ir.Span:
    """Where a line's label is written: it begins the line's statement."""
    s = layer.span
    return ir.Span(s.file, s.line, s.col, s.line, s.col + len(layer.label))


# ---- one document ------------------------------------------------------------------------
class Document:
    """One version of a `.net` document, parsed and analysed once. `previous` is the last
    version that parsed: completion offers its labels and blocks while the text does not."""

    def __init__(self, text: str, path: str, bindings: dict | None = None,
                 previous: Document | None = None):
        self.text = text
        self.path = path
        self.lines = text.split("\n")
        self.network: ir.Network | None = None
        self.analysis: Analysis | None = None
        try:
            self.network = parse(text, path)
        except DiagnosticError as exc:
            self._diagnostics = [exc.diagnostic]
        else:
            self.analysis = analyse(self.network, bindings or {})
            self._diagnostics = list(self.analysis.diagnostics)
        self.parsed = self if self.network is not None else (
            previous.parsed if previous is not None else None)

    @classmethod
    def unanalysed(cls, text: str, path: str, previous: Document | None) -> Document:
        """The text as typed, neither parsed nor analysed: what completion reads, with the
        labels and blocks of `previous`'s last version that parsed."""
        document = cls.__new__(cls)
        document.text, document.path, document.lines = text, path, text.split("\n")
        document.network, document.analysis, document._diagnostics = None, None, []
        document.parsed = previous.parsed if previous is not None else None
        return document

    # ---- diagnostics ----------------------------------------------------------------------
    @cached_property
    def scopes(self) -> list[Scope]:
        return scopes_of(self.network) if self.network is not None else []

    @cached_property
    def block_uses(self) -> dict:
        """Block name → every layer line that uses it, anywhere in the file."""
        uses: dict = {}
        for scope in self.scopes:
            for layer in scope.layers:
                uses.setdefault(layer.op, []).append(layer)
        return uses

    def diagnostics(self) -> list[EditorDiagnostic]:
        """Every diagnostic; one on a line of a block relates to each use of that block."""
        found = []
        for d in self._diagnostics:
            related = ()
            if d.span is not None:
                scope = self.scope_at(d.span.line)
                if scope is not None and scope.block is not None:
                    related = tuple(
                        Related(use.span, f"`{scope.block.name}` used here"
                                + (f" as `{use.label}`" if use.label else ""))
                        for use in self.block_uses.get(scope.block.name, ()))
            found.append(EditorDiagnostic(d, related))
        return found

    def scope_at(self, line: int) -> Scope | None:
        inside = [s for s in self.scopes if s.holds(line)]
        return min(inside, key=lambda s: s.last_line - s.first_line) if inside else None

    def scope_near(self, line: int) -> Scope | None:
        """The scope holding `line`, or else (a line being typed past the end of a body, in
        text that no longer parses) the last one that begins before it."""
        before = [s for s in self.scopes if s.first_line <= line]
        return self.scope_at(line) or (max(before, key=lambda s: s.first_line)
                                       if before else None)

    # ---- what each layer line produced -----------------------------------------------------
    @cached_property
    def _by_statement(self) -> dict:
        """A layer line's span → the nodes it produced, or the block uses it made."""
        produced: dict = {}
        if self.analysis is None:
            return produced
        for node in self.analysis.nodes:
            produced.setdefault(node.span, []).append(node)
        instance_paths = {}
        for instance in self.analysis.instances:
            instance_paths.setdefault(instance.layer.span, []).append(instance)
        for span, instances in instance_paths.items():
            produced.setdefault(span, instances)
        return produced

    @cached_property
    def _instance_totals(self) -> dict:
        """Block use path → [its parameters in all, its layers], in one pass over the nodes
        (each node counts towards the uses it lies in: at most the nesting limit of them)."""
        totals = {instance.name: [sympy.Integer(0), 0] for instance in self.analysis.instances}
        for node in self.analysis.nodes:
            parts = node.path.split(".")
            for depth in range(1, len(parts)):
                total = totals.get(".".join(parts[:depth]))
                if total is not None:
                    total[0] += node.params
                    total[1] += 1
        return totals

    def _instance_values(self, instance) -> tuple:
        """A block use's output shape and parameters in all."""
        output = self.analysis.by_name(instance.output)
        shape = output.shape if output is not None else self.analysis.shapes.get(instance.output)
        return shape, self._instance_totals[instance.name][0]

    def _values(self, produced) -> list[tuple]:
        return [(item.shape, item.params) if isinstance(item, Node)
                else self._instance_values(item) for item in produced]

    def inlay_hints(self, first_line: int = 1, last_line: int | None = None) -> list[InlayHint]:
        """At the end of every layer line in [first_line, last_line]: its output shape and
        parameter count; a line of a block used several times shows each distinct value."""
        hints = []
        for span, produced in self._by_statement.items():
            if span.file != self.path or span.end_line < first_line or (
                    last_line is not None and span.end_line > last_line):
                continue
            values = [v for v in self._values(produced) if v[0] is not None]
            if not values:
                continue
            distinct = list(dict.fromkeys((shape_text(s), count(p)) for s, p in values))
            shown = " | ".join(f"{s} · {p}" for s, p in distinct[:3])
            if len(distinct) > 3:
                shown += f" | … {len(distinct) - 3} more"
            uses = f" ({len(values)} uses)" if len(values) > 1 else ""
            hints.append(InlayHint(span.end_line, span.end_col, f"→ {shown}{uses}"))
        return sorted(hints, key=lambda h: (h.line, h.col))

    # ---- words under the cursor -------------------------------------------------------------
    def word_at(self, line: int, col: int) -> tuple[str, ir.Span] | None:
        """The name (with its `@`, if any) the cursor at a position is in or just after, and
        where it is written."""
        if not 0 < line <= len(self.lines):
            return None
        cursor = col - 1  # the index of the character after the cursor
        touching = [m for m in _WORD.finditer(self.lines[line - 1])
                    if m.start() <= cursor <= m.end()]
        if not touching:
            return None
        match = next((m for m in touching if cursor < m.end()), touching[0])
        return match.group(), ir.Span(self.path, line, match.start() + 1, line, match.end() + 1)

    def _layer_at(self, line: int) -> ir.Layer | None:
        for scope in self.scopes:
            for layer in scope.layers:
                if layer.span.line <= line <= layer.span.end_line:
                    return layer
        return None

    def _labels_visible(self, line: int) -> dict:
        scope = self.scope_at(line)
        return scope.labels if scope is not None else {}

    def _block(self, name: str) -> ir.Block | None:
        return next((b for b in self.network.blocks if b.name == name), None) if (
            self.network is not None) else None

    # ---- go to definition ------------------------------------------------------------------
    def definition(self, line: int, col: int) -> ir.Span | None:
        """Where the `@label`, block, `let` name or parameter at a position is defined."""
        found = self.word_at(line, col)
        if found is None or self.network is None:
            return None
        word, _ = found
        name = word.lstrip("@")
        scope = self.scope_at(line)
        labels = self._labels_visible(line)
        if word.startswith("@") or (name in labels and self._is_expect(line)):
            target = labels.get(name)
            return _label_span(target) if isinstance(target, ir.Layer) else (
                target.span if target is not None else None)
        block = self._block(name)
        if block is not None:
            return block.span
        for where in ([scope] if scope is not None else []) + self.scopes:
            if name in where.lets:
                return self._let_name(where.lets[name])
        for function in self.network.functions:
            if function.name == name:
                return self._let_name(function)
        parameters = scope.block.parameters if scope is not None and scope.block else ()
        for parameter in (*parameters, *self.network.parameters):
            if parameter.name == name:
                return parameter.span
        return None

    def text_of(self, span: ir.Span) -> str:
        """The source text of a span on one line (`…` when it goes on)."""
        line = self.lines[span.line - 1] if 0 < span.line <= len(self.lines) else ""
        end = span.end_col if span.end_line == span.line else len(line) + 1
        return line[span.col - 1:end - 1] + ("" if span.end_line == span.line else " …")

    def _let_name(self, statement) -> ir.Span:
        """Where a `let`'s name is written (its statement's span begins at `let`)."""
        span = statement.span
        line = self.lines[span.line - 1] if 0 < span.line <= len(self.lines) else ""
        found = re.compile(rf"\blet\s+({re.escape(statement.name)})\b").search(line, span.col - 1)
        if found is None:
            return span
        return ir.Span(span.file, span.line, found.start(1) + 1, span.line, found.end(1) + 1)

    def _is_expect(self, line: int) -> bool:
        """Whether the line is an `expect`, whose subject may be a label without `@`."""
        return self.lines[line - 1].lstrip().startswith("expect ")

    # ---- hover -----------------------------------------------------------------------------
    def hover(self, line: int, col: int) -> Hover | None:
        if self.network is None:
            return None
        found = self.word_at(line, col)
        if found is not None:
            word, span = found
            name = word.lstrip("@")
            if word.startswith("@"):
                target = self._labels_visible(line).get(name)
                if isinstance(target, ir.Layer):
                    return Hover(self._layer_markdown(target), span)
            block = self._block(name)
            if block is not None:
                return Hover(self._block_markdown(block), span)
            parameter = self._parameter_markdown(name, line)
            if parameter is not None:
                return Hover(parameter, span)
            layer = self._layer_at(line)
            if layer is not None and name == layer.op and layer.op in REGISTRY:
                return Hover(self._layer_markdown(layer) + "\n\n---\n\n"
                             + _kind_markdown(layer.op), span)
        layer = self._layer_at(line)
        if layer is not None:
            return Hover(self._layer_markdown(layer), layer.span)
        return None

    def _layer_markdown(self, layer: ir.Layer) -> str:
        produced = self._by_statement.get(layer.span, [])
        if not produced:
            return f"`{layer.op}`: no shape (an error before or on this line)"
        if not isinstance(produced[0], Node):  # a block use
            rows = ["| use | output shape | #params | layers |", "|---|---|---:|---:|"]
            for instance in produced[:SHOWN_USES]:
                shape, params = self._instance_values(instance)
                shown = shape_text(shape) if shape is not None else "—"
                layers = self._instance_totals[instance.name][1]
                rows.append(f"| `{instance.name}` | {shown} | {count(params)} | {layers} |")
            more = len(produced) - SHOWN_USES
            return "\n".join(
                [f"**block `{layer.op}`**", "", *rows,
                 *(["", f"… and {more} more uses"] if more > 0 else [])])
        rows = [("| layer | op | output shape | size | #params | trainable | non-trainable | MACs"
                " | padding |"), "|---|---|---|---:|---:|---:|---:|---:|---|"]
        for node in produced[:SHOWN_USES]:
            rows.append("| " + " | ".join([
                f"`{node.path}`", node.op, shape_text(node.shape), count(node.size),
                count(node.params), count(node.trainable), count(node.non_trainable),
                count(node.macs), _padding(node.padding)]) + " |")
        more = len(produced) - SHOWN_USES
        first = produced[0]
        reads = ", ".join(f"`{i}`" for i in first.inputs) or "—"
        return "\n".join([*rows, *(["", f"… and {more} more"] if more > 0 else []), "",
                          (f"reads {reads}; MACs: multiply-accumulates for one example, bias "
                          "additions excluded")])

    def _block_markdown(self, block: ir.Block) -> str:
        parameters = ", ".join(
            p.name + (f" = {self.text_of(p.default.span)}" if p.default is not None else "")
            for p in block.parameters) or "none"
        uses = self.block_uses.get(block.name, [])
        where = ", ".join(f"line {u.span.line}" + (f" (`{u.label}`)" if u.label else "")
                          for u in uses[:SHOWN_USES])
        if len(uses) > SHOWN_USES:
            where += f", … {len(uses) - SHOWN_USES} more"
        instances = len([i for i in self.analysis.instances if i.block.name == block.name]
                        ) if self.analysis is not None else 0
        return "\n".join([f"**block `{block.name}`** (line {block.span.line})", "",
                          f"parameters: {parameters}", "",
                          f"used at {where or 'no line: unused'}"
                          + (f"; {instances} instances in the network" if instances else "")])

    def _parameter_markdown(self, name: str, line: int) -> str | None:
        scope = self.scope_at(line)
        if scope is not None and scope.block is not None and any(
                p.name == name for p in scope.block.parameters):
            return f"block parameter `{name}` of `{scope.block.name}`"
        if not any(p.name == name for p in self.network.parameters) or self.analysis is None:
            return None
        analysis = self.analysis
        if name in analysis.bindings:
            head = f"network parameter `{name}` = {pretty(analysis.bindings[name])}"
        else:
            head = f"network parameter `{name}`: unbound, a positive integer (results are " \
                   "closed forms in it)"
        lines = [head]
        for report in self.domains:
            if report.symbol != name:
                continue
            if report.undecided:
                lines.append(f"{report.axis}: undecided ({report.undecided})")
            elif report.domain is None:
                lines.append(f"{report.axis}: any size; no window or stride constrains it")
            else:
                lines.append(f"{report.axis}: valid for {report.domain.describe_least()}; exact "
                             f"(no stride leaves {report.axis} unread): "
                             f"{report.domain.describe_exact() or 'none'}")
        return "\n\n".join(lines)

    @cached_property
    def domains(self):
        return input_size_report(self.analysis) if self.analysis is not None else []

    # ---- completion ------------------------------------------------------------------------
    def completions(self, line: int, col: int) -> list[Completion]:
        """What may be typed at a position: a label after `@`; an option (its type and
        default), an activation or a block argument after a line's op; an op, block or
        keyword where a statement begins."""
        text = self.lines[line - 1][:col - 1] if 0 < line <= len(self.lines) else ""
        known = self.parsed
        word = re.search(r"@?[A-Za-z_0-9]*$", text).group()
        if word.startswith("@"):
            scope = known.scope_near(line) if known is not None else None
            names = list(scope.labels) if scope is not None else []
            if scope is not None and scope.block is not None:
                names.insert(0, "input")  # a block's input
            return [Completion(name, "label", "a tensor", insert=name) for name in names]
        blocks = known.network.blocks if known is not None else ()
        if _STATEMENT_START.match(text):
            return ([Completion(kind, "op", "layer", _first_paragraph(REGISTRY[kind].doc))
                     for kind in REGISTRY]
                    + [Completion(b.name, "block", "block (" + ", ".join(
                        p.name for p in b.parameters) + ")") for b in blocks]
                    + [Completion(k, "keyword", "statement") for k in KEYWORDS])
        head = _LINE_OP.match(text)
        op = head.group(1) if head else None
        if op in REGISTRY:
            kind = REGISTRY[op]
            found = [Completion(f"{spelling}=", "option", _option_detail(option),
                                option.doc, insert=f"{spelling}=")
                     for option in kind.schema() for spelling in option.spellings]
            if kind.takes_activation:
                found += [Completion(a, "activation", "activation") for a in ACTIVATIONS]
            return found
        block = next((b for b in blocks if b.name == op), None)
        if block is not None:
            return [Completion(f"{p.name}=", "option", "block parameter" + (
                "" if p.default is None else " (has a default)"), insert=f"{p.name}=")
                for p in block.parameters]
        return []


def _option_detail(option) -> str:
    default = "required" if option.default is REQUIRED else f"default {_default(option.default)}"
    return f"{option.type.describe}; {default}"


def _default(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, sympy.Basic):
        return pretty(value)
    return str(value)


def _padding(padding) -> str:
    if padding is None:
        return "—"
    return "; ".join(f"({pretty(b)}, {pretty(a)})" for b, a in padding)


def _first_paragraph(text: str) -> str:
    return text.strip().split("\n\n")[0] if text else ""


def _kind_markdown(op: str) -> str:
    kind = REGISTRY[op]
    options = ", ".join(f"`{o.shown()}`" for o in kind.schema()) or "none"
    doc = kind.doc.strip() if kind.doc else f"`{op}`"
    return f"{doc}\n\noptions: {options}"


def explain_code(code: str) -> str:
    """A diagnostic code's summary, for a client that shows a code's description."""
    return definition(code).summary
