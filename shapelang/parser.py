"""Text → IR. Lark (LALR, with positions) parses; `_Builder` turns the tree into `ir` nodes.

Syntax errors become `Diagnostic`s (SL1xx) with a message in the language's own words.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import ClassVar

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.indenter import DedentError, Indenter

from . import ir
from .diagnostics import error

_HERE = Path(__file__).resolve().parent
# In the wheel the grammar is shapelang/grammar/; in a source checkout it is ../grammar/.
_GRAMMAR_CANDIDATES = (_HERE / "grammar" / "shapelang.lark", _HERE.parent / "grammar" / "shapelang.lark")


class _Indenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types: ClassVar = ["LPAR", "LSQB"]
    CLOSE_PAREN_types: ClassVar = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8


_parser: Lark | None = None


def grammar_path() -> Path:
    for path in _GRAMMAR_CANDIDATES:
        if path.is_file():
            return path
    raise FileNotFoundError("shapelang.lark not found next to the package")  # a broken install


def _lark() -> Lark:
    global _parser
    if _parser is None:
        _parser = Lark(
            grammar_path().read_text(encoding="utf-8"),
            parser="lalr",
            postlex=_Indenter(),
            propagate_positions=True,
            maybe_placeholders=False,
            cache=False,
        )
    return _parser


# Terminal names as a user would call them, for "expected …" messages.
_TERMINAL_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "_NL": "end of line", "_INDENT": "an indented block",
    "_DEDENT": "end of block", "COLON": "`:`", "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`",
    "RSQB": "`]`", "COMMA": "`,`", "EQUAL": "`=`", "COMPARE": "a comparison (`==`, `<=`, …)",
    "PLUS": "`+`", "MINUS": "`-`", "STAR": "`*`", "SLASH": "`/`", "DOUBLESLASH": "`//`",
    "PERCENT": "`%`", "DOUBLESTAR": "`**`", "$END": "end of file", "NETWORK": "`network`",
    "TRAIN": "`train`", "LET": "`let`", "EXPECT": "`expect`", "REF": "a tensor `@name`",
    "BLOCK": "`block`", "REPEAT": "`repeat`", "RETURN": "`return`",
}


def _describe_expected(expected) -> str:
    words = sorted({_TERMINAL_WORDS.get(t, f"`{t.lower()}`") for t in expected})
    if len(words) > 6:
        words = words[:6] + ["…"]
    return ", ".join(words)


def _syntax_diagnostic(exc: UnexpectedInput, path: str, text: str):
    line, col = max(exc.line, 1), max(exc.column, 1)
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        hint = None
        if char in "'\"":
            hint = "shapelang has no strings; options take names, numbers and expressions"
        elif char == ".":
            hint = "attribute access is not part of the language"
        elif char in ";{}":
            hint = "a statement ends at the end of its line, and blocks are indented"
        span = ir.Span(path, line, col, line, col + 1)
        return error("SL102", f"unexpected character {char!r}", span, hint)
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type in ("$END", "_DEDENT")
        and not str(exc.token)
    ):
        lines = text.splitlines() or [""]
        span = ir.Span(path, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
        return error(
            "SL103",
            "the file ends before the statement or bracket is complete",
            span,
            "close every `(` and `[`, and give every block at least one indented line",
        )
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    shown = "end of line" if token.type == "_NL" else (
        "an indented block" if token.type == "_INDENT" else f"`{token}`"
    )
    end = col + max(len(str(token)), 1) if token.type not in ("_NL", "_INDENT", "_DEDENT") else col + 1
    span = ir.Span(path, line, col, line, end)
    hint = None
    expected = set(exc.expected or ())
    if token.type == "_INDENT":
        hint = "only the lines of a `network` or `train:` block are indented"
    elif "COLON" in expected and len(expected) <= 2:
        hint = "a block header ends with `:`"
    elif token.type == "EQUAL" and "COMPARE" in expected:
        hint = "compare with `==`"
    elif token.type == "COMMA":
        hint = "separate layer values with spaces; write a pair as `(a, b)`"
    elif {"RPAR", "RSQB"} & expected:
        hint = "a bracket is not closed"
    message = f"unexpected {shown}; expected {_describe_expected(expected)}"
    return error("SL101", message, span, hint)


def parse(text: str, path: str = "<string>") -> ir.Network:
    """Parse one `.net` source into a `Network`; raises `DiagnosticError` on a syntax error."""
    try:
        tree = _lark().parse(text if text.endswith("\n") else text + "\n")
    except UnexpectedInput as exc:
        raise _syntax_diagnostic(exc, path, text) from None
    except DedentError:
        line = _dedent_line(text)
        source_line = text.splitlines()[line - 1]
        col = len(source_line) - len(source_line.lstrip(" \t")) + 1
        span = ir.Span(path, line, col, line, col + 1)
        raise error("SL104", "this line's indentation matches no outer block", span,
                    "indent it exactly like the other lines of its block") from None
    return _Builder(path, text).build(tree)


def _dedent_line(text: str) -> int:
    """The first line whose indentation is deeper than some outer level but shallower than the
    current one — where Lark's Indenter gave up."""
    stack = [0]
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line.expandtabs(8)) - len(stripped.expandtabs(8))
        if indent > stack[-1]:
            stack.append(indent)
        else:
            while indent < stack[-1]:
                stack.pop()
            if indent != stack[-1]:
                return number
    return 1


class _Builder:
    """Turns Lark's tree into IR nodes, keeping every node's span."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        self.lines = text.splitlines() or [""]

    def span(self, node) -> ir.Span:
        if isinstance(node, Token):
            return ir.Span(self.path, node.line, node.column, node.end_line, node.end_column)
        m = node.meta
        return ir.Span(self.path, m.line, m.column, m.end_line, m.end_column)

    def line_span(self, tree: Tree) -> ir.Span:
        """A statement's span without the newline and comment that end it."""
        m = tree.meta
        code = self.lines[m.line - 1].split("#", 1)[0].rstrip()
        return ir.Span(self.path, m.line, m.column, m.line, max(len(code) + 1, m.column + 1))

    def build(self, tree: Tree) -> ir.Network:
        networks = [c for c in tree.children if isinstance(c, Tree) and c.data == "network"]
        trains = [c for c in tree.children if isinstance(c, Tree) and c.data == "train"]
        blocks = tuple(self.block(c) for c in tree.children
                       if isinstance(c, Tree) and c.data == "block")
        functions = tuple(self.function(c) for c in tree.children
                          if isinstance(c, Tree) and c.data == "function")
        if not networks:
            span = ir.Span(self.path, 1, 1, 1, 2)
            raise error("SL101", "the file declares no `network`", span,
                        "start with `network NAME(PARAMETERS):` and an indented body")
        if len(networks) > 1:
            raise error("SL207", "a file holds one `network`; this is a second one",
                        self.span(networks[1]), "put each network in a file of its own")
        if len(trains) > 1:
            raise error("SL207", "a file holds one `train:` block; this is a second one",
                        self.span(trains[1]))
        net = networks[0]
        name_token = net.children[0]
        parameters: tuple[ir.Parameter, ...] = ()
        body = []
        for child in net.children[1:]:
            if isinstance(child, Tree) and child.data == "parameters":
                parameters = tuple(self.parameter(p) for p in child.children)
            elif isinstance(child, Tree):
                body.append(self.statement(child))
        settings = tuple(self.setting(s) for s in trains[0].children) if trains else ()
        return ir.Network(
            name=str(name_token),
            parameters=parameters,
            statements=tuple(body),
            train=settings,
            span=self.span(name_token),
            source=self.text,
            path=self.path,
            blocks=blocks,
            functions=functions,
        )

    def block(self, tree: Tree) -> ir.Block:
        name, *rest = tree.children
        parameters: tuple[ir.Parameter, ...] = ()
        body = []
        for child in rest:
            if isinstance(child, Tree) and child.data == "parameters":
                parameters = tuple(self.parameter(p) for p in child.children)
            elif isinstance(child, Tree):
                body.append(self.statement(child))
        return ir.Block(str(name), parameters, tuple(body), self.span(name))

    def function(self, tree: Tree) -> ir.Function:
        name, *rest = tree.children
        parameters: tuple[ir.Parameter, ...] = ()
        if isinstance(rest[0], Tree) and rest[0].data == "parameters":
            parameters = tuple(self.parameter(p) for p in rest[0].children)
        return ir.Function(str(name), parameters, self.expr(rest[-1]), self.span(name))

    def parameter(self, tree: Tree) -> ir.Parameter:
        name = tree.children[0]
        default = self.expr(tree.children[1]) if len(tree.children) > 1 else None
        return ir.Parameter(str(name), default, self.span(tree))

    def statement(self, tree: Tree):
        kind = tree.data
        if kind == "let":
            name, value = tree.children
            return ir.Let(str(name), self.expr(value), self.line_span(tree))
        if kind == "expect":
            subject, comparison, value = tree.children
            return ir.Expect(str(subject), str(comparison), self.expr(value), self.line_span(tree),
                             self.span(subject))
        if kind == "function":
            return self.function(tree)
        if kind == "return":
            ref = self.ref(tree.children[0])
            return ir.Return(ref, self.line_span(tree))
        if kind == "repeat":
            children = list(tree.children)
            label = None
            if isinstance(children[0], Tree) and children[0].data == "label":
                label = str(children.pop(0).children[0])
            count = self.expr(children.pop(0))
            return ir.Repeat(label, count, tuple(self.statement(c) for c in children),
                             self.line_span(tree))
        assert kind == "layer", kind
        children = list(tree.children)
        label = None
        if isinstance(children[0], Tree) and children[0].data == "label":
            label = str(children.pop(0).children[0])
        op = children.pop(0)
        positional, options = self.arguments(children)
        refs = tuple(p for p in positional if isinstance(p, ir.Ref))
        positional = tuple(p for p in positional if not isinstance(p, ir.Ref))
        return ir.Layer(op=str(op), label=label, positional=positional, options=options,
                        span=self.line_span(tree), op_span=self.span(op), refs=refs)

    def ref(self, token) -> ir.Ref:
        return ir.Ref(self.span(token), str(token)[1:])

    def arguments(self, children):
        positional, options = [], []
        for child in children:
            if child.data == "option":
                key, value = child.children
                options.append(ir.Option(str(key), self.expr(value), self.span(child),
                                         self.span(key)))
            else:  # positional
                positional.append(self.expr(child.children[0]))
        return tuple(positional), tuple(options)

    def setting(self, tree: Tree) -> ir.Setting:
        key, *rest = tree.children
        positional, options = self.arguments(rest)
        return ir.Setting(str(key), positional, options, self.line_span(tree))

    _BINARY: ClassVar = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//", "mod": "%",
               "pow": "**"}

    def expr(self, node) -> ir.Expr:
        if isinstance(node, Token):  # a bare NAME, NUMBER or REF inlined by `?atom`
            if node.type == "REF":
                return self.ref(node)
            if node.type == "NUMBER":
                return ir.Number(self.span(node), Fraction(str(node).replace("_", "")), str(node))
            return ir.Name(self.span(node), str(node))
        span = self.span(node)
        kind = node.data
        if kind == "number":
            token = node.children[0]
            return ir.Number(span, Fraction(str(token).replace("_", "")), str(token))
        if kind == "name":
            return ir.Name(span, str(node.children[0]))
        if kind in self._BINARY:
            left, right = node.children
            return ir.BinOp(span, self._BINARY[kind], self.expr(left), self.expr(right))
        if kind == "neg":
            return ir.Neg(span, self.expr(node.children[0]))
        if kind == "unary":  # unary plus
            return self.expr(node.children[0])
        if kind == "call":
            function, *args = node.children
            return ir.Call(span, str(function), tuple(self.expr(a) for a in args))
        if kind == "tuple":
            return ir.TupleExpr(span, tuple(self.expr(c) for c in node.children))
        if kind == "list":
            return ir.ListExpr(span, tuple(self.expr(c) for c in node.children))
        if kind == "ref":
            return self.ref(node.children[0])
        raise AssertionError(f"unhandled expression node {kind}")
