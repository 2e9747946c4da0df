"""Text → IR. Lark (LALR, with positions) parses; `_Builder` turns the tree into `ir` nodes.

Syntax errors become `Diagnostic`s (SL1xx) with a message in the language's own words.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.indenter import DedentError, Indenter

from . import ir, limits
from .diagnostics import error, source_lines

_HERE = Path(__file__).resolve().parent
# In the wheel the grammar is shapelang/grammar/; in a source checkout it is ../grammar/.
_GRAMMAR_CANDIDATES = (_HERE / "grammar" / "shapelang.lark", _HERE.parent / "grammar" / "shapelang.lark")


class _Indenter(Indenter):
    """Indentation to `_INDENT`/`_DEDENT`, and the words of `if` lines to their keywords —
    only there, so that `if`, `else`, `and`, `or` and `not` stay names everywhere else (a
    label `if:`, a block `and`). Decided from the source text after the word, never from
    tokens read ahead (the contextual lexer lexes each token in the parser's state)."""

    NL_type = "_NL"
    OPEN_PAREN_types: ClassVar = ["LPAR", "LSQB"]
    CLOSE_PAREN_types: ClassVar = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8
    text = ""  # the source being parsed

    @property
    def always_accept(self):
        # a condition's `and`/`or` comes where no name could: lexed as a name, made a keyword
        return (self.NL_type, "NAME")

    def process(self, stream):
        return super().process(self._keywords(stream))

    def _keywords(self, stream):
        depth, line_start, condition = 0, True, False
        for token in stream:
            kind = token.type
            if kind == "NAME":
                if line_start and token == "if" and _rest_of_line(self.text, token.end_pos) \
                        .endswith(":") and not _rest_of_line(self.text, token.end_pos) \
                        .startswith(":"):
                    token, condition = Token.new_borrow_pos("_IF", token, token), True
                elif line_start and token == "else" and _rest_of_line(
                        self.text, token.end_pos) == ":":
                    token = Token.new_borrow_pos("_ELSE", token, token)
                elif condition and depth == 0 and token in ("and", "or", "not"):
                    token = Token.new_borrow_pos("_" + token.upper(), token, token)
            elif kind in self.OPEN_PAREN_types:
                depth += 1
            elif kind in self.CLOSE_PAREN_types:
                depth = max(depth - 1, 0)
            elif kind == "COLON" and depth == 0:
                condition = False
            line_start = kind == self.NL_type and depth == 0
            yield token


def _rest_of_line(text: str, position: int) -> str:
    """The rest of the logical line from `position`, its comment and outer spaces left out
    (brackets and backslashes continue it)."""
    depth, out, i = 0, [], position
    while i < len(text):
        char = text[i]
        if char == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        if char == "\\" and text[i + 1:i + 2] == "\n":
            i += 2
            continue
        if char == "\n" and depth == 0:
            break
        depth += 1 if char in "([" else -1 if char in ")]" and depth > 0 else 0
        out.append(char)
        i += 1
    return "".join(out).strip()


_parser: Lark | None = None
_postlex = _Indenter()


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
            postlex=_postlex,
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
    "BLOCK": "`block`", "REPEAT": "`repeat`", "RETURN": "`return`", "_IF": "`if`",
    "_ELSE": "`else`", "_AND": "`and`", "_OR": "`or`", "_NOT": "`not`", "PATH": "a path `a.b`",
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
        lines = source_lines(text)
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
    if token.type == "_INDENT":  # Lark places it at the newline before: show the line itself
        span = ir.Span(path, token.end_line, 1, token.end_line, max(token.end_column, 2))
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
    if hint is None and line <= len(source_lines(text)) and source_lines(text)[line - 1] \
            .lstrip(" \t").startswith(("if ", "if(", "else")):
        hint = ("an `if` line ends with `:` (`else:` too), with its lines indented under it; "
                "a condition compares with `==`, `!=`, `<`, …, and joins with `and`, `or`, `not`")
    message = f"unexpected {shown}; expected {_describe_expected(expected)}"
    return error("SL101", message, span, hint)


def parse(text: str, path: str = "<string>") -> ir.Network:
    """Parse one `.net` source into a `Network`; raises `DiagnosticError` on a syntax error
    or a file past shapelang's limits of size and nesting."""
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark, as some editors write
    if len(text) > limits.MAX_FILE_BYTES:
        raise error("SL105", f"the file has {len(text):,} characters, more than shapelang's "
                    f"limit of {limits.MAX_FILE_BYTES:,}", ir.Span(path, 1, 1, 1, 2),
                    "split the network into blocks and repeats")
    _check_tabs(text, path)
    source = text if text.endswith("\n") else text + "\n"
    parser = _lark()
    _postlex.text = source
    try:
        tree = parser.parse(source)
    except UnexpectedInput as exc:
        raise _syntax_diagnostic(exc, path, text) from None
    except DedentError:
        line = _dedent_line(text)
        source_line = source_lines(text)[line - 1]
        col = len(source_line) - len(source_line.lstrip(" \t")) + 1
        span = ir.Span(path, line, col, line, col + 1)
        raise error("SL104", "this line's indentation matches no outer block", span,
                    "indent it exactly like the other lines of its block") from None
    _check_nesting(tree, path)
    return _Builder(path, text).build(tree)


def _logical_lines(text: str):
    """(line number, indentation) of every line that starts a statement: not blank, not a
    comment, not inside brackets, not continued from the line before by a backslash."""
    depth, continued = 0, False
    for number, line in enumerate(source_lines(text), 1):
        code = line.split("#", 1)[0]
        stripped = code.lstrip(" \t\f")
        if depth == 0 and not continued and stripped.strip():
            yield number, code[:len(code) - len(stripped)]
        for char in code:
            if char in "([":
                depth += 1
            elif char in ")]":
                depth = max(depth - 1, 0)
        continued = code.rstrip(" \t\f").endswith("\\")


def _check_tabs(text: str, path: str):
    """SL104 at the first line whose indentation compares differently with a tab as 8 columns
    and as 1 (Python's rule): its block depends on how an editor shows tabs."""
    if "\t" not in text:
        return
    stack = [(0, 0)]
    for number, indentation in _logical_lines(text):
        column = alternative = 0
        for char in indentation:
            if char == "\t":
                column = (column // 8 + 1) * 8
                alternative += 1
            elif char == " ":
                column += 1
                alternative += 1
            else:  # a form feed resets, as in Python
                column = alternative = 0
        top_column, top_alternative = stack[-1]
        if column > top_column:
            consistent = alternative > top_alternative
            stack.append((column, alternative))
        else:
            while len(stack) > 1 and column < stack[-1][0]:
                stack.pop()
            consistent = column != stack[-1][0] or alternative == stack[-1][1]
        if not consistent:
            span = ir.Span(path, number, 1, number, len(indentation) + 1)
            raise error("SL104", "tabs and spaces mixed: this line's indentation compares "
                        "differently with the lines before it when a tab is 8 columns wide "
                        "and when it is 1", span,
                        "indent every line with spaces only (or with tabs only)")


_EXPRESSION_NODES = frozenset({"add", "sub", "mul", "div", "floordiv", "mod", "pow", "neg",
                               "unary", "call", "tuple", "list", "number", "name", "ref",
                               "compare", "and_", "or_", "not_"})


def _check_nesting(tree: Tree, path: str):
    """SL105 for an expression nested past `MAX_EXPRESSION_DEPTH` or statements past
    `MAX_NESTING`: measured without recursion, so that the rest of shapelang may recurse."""
    stack = [(tree, 0, 0, None)]  # node, expression depth, statement depth, outermost expr
    while stack:
        node, expression_depth, statement_depth, root = stack.pop()
        if node.data in _EXPRESSION_NODES:
            expression_depth += 1
            root = root or node
            if expression_depth > limits.MAX_EXPRESSION_DEPTH:
                m = root.meta
                raise error("SL105", "this expression nests more than "
                            f"{limits.MAX_EXPRESSION_DEPTH} operations deep (brackets, calls, "
                            "and each operator of a chain such as `a + b + c`)",
                            ir.Span(path, m.line, m.column, m.end_line, m.end_column),
                            "name its parts with `let`")
        elif node.data in ("repeat", "if_"):
            statement_depth += 1
            if statement_depth > limits.MAX_NESTING:
                m = node.meta
                raise error("SL105", f"`repeat`s and `if`s nest more than {limits.MAX_NESTING}"
                            " deep", ir.Span(path, m.line, m.column, m.line, m.column + 6),
                            "use a block for the inner lines")
        stack.extend((child, expression_depth, statement_depth, root)
                     for child in node.children if isinstance(child, Tree))


def _dedent_line(text: str) -> int:
    """The first line whose indentation is deeper than some outer level but shallower than the
    current one — where Lark's Indenter gave up."""
    stack = [0]
    for number, line in enumerate(source_lines(text), 1):
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
        self.lines = source_lines(text)

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
            raise error("SL106", "the file declares no `network`", span,
                        "start with `network NAME(PARAMETERS):` and an indented body")
        if len(networks) > 1:
            raise error("SL107", "a file holds one `network`; this is a second one",
                        self.span(networks[1]), "put each network in a file of its own")
        if len(trains) > 1:
            raise error("SL108", "a file holds one `train:` block; this is a second one",
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
        if kind == "if_":
            condition, *children = tree.children
            otherwise, else_span = (), None
            if children and isinstance(children[-1], Tree) and children[-1].data == "else_":
                branch = children.pop()
                otherwise = tuple(self.statement(c) for c in branch.children)
                else_span = self.line_span(branch)
            return ir.If(self.condition(condition), tuple(self.statement(c) for c in children),
                         otherwise, self.line_span(tree), else_span)
        assert kind == "layer", kind
        children = list(tree.children)
        label, label_spans = None, ()
        if isinstance(children[0], Tree) and children[0].data == "label":
            label_spans = (self.span(children[0].children[0]),)
            label = str(children.pop(0).children[0])
        op = children.pop(0)
        positional, options = self.arguments(children)
        refs = tuple(p for p in positional if isinstance(p, ir.Ref))
        positional = tuple(p for p in positional if not isinstance(p, ir.Ref))
        if str(op) == "output":
            stray = label_spans + tuple(p.span for p in positional) + tuple(o.span for o in options)
            return ir.Output(refs, self.line_span(tree), stray)
        return ir.Layer(op=str(op), label=label, positional=positional, options=options,
                        span=self.line_span(tree), op_span=self.span(op), refs=refs)

    _CONDITIONS: ClassVar = {"or_": "or", "and_": "and", "not_": "not"}

    def condition(self, node) -> ir.Condition:
        kind = node.data if isinstance(node, Tree) else None
        if kind in self._CONDITIONS:
            return ir.Condition(self._CONDITIONS[kind],
                                tuple(self.condition(c) for c in node.children), self.span(node))
        if kind == "compare":
            left, comparison, right = node.children
            return ir.Condition("compare", (self.expr(left), self.expr(right)), self.span(node),
                                str(comparison))
        value = self.expr(node)
        return ir.Condition("test", (value,), value.span)

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

    def number(self, token: Token, span: ir.Span) -> ir.Number:
        try:
            value = limits.read_decimal(str(token))
        except limits.LimitError as exc:
            raise error("SL209", f"value out of range: {exc}", span, limits.LIMIT_HINT) from None
        return ir.Number(span, value, str(token))

    _BINARY: ClassVar = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//", "mod": "%",
               "pow": "**"}

    def expr(self, node) -> ir.Expr:
        if isinstance(node, Token):  # a bare NAME, NUMBER or REF inlined by `?atom`
            if node.type == "REF":
                return self.ref(node)
            if node.type == "NUMBER":
                return self.number(node, self.span(node))
            return ir.Name(self.span(node), str(node))
        span = self.span(node)
        kind = node.data
        if kind == "number":
            return self.number(node.children[0], span)
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
