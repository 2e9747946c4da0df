"""The intermediate representation: frozen dataclasses, every node with its source span.

A network is a graph of named tensors: each `Layer` reads the tensors named in `inputs` and
writes the tensor named `output`. The v0 syntax only chains layers, so each layer reads the
previous one's output; branches and merges use the same nodes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns count from 1, `end_col` is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def to(self, other: Span) -> Span:
        return Span(self.file, self.line, self.col, other.end_line, other.end_col)


# ---- expressions -----------------------------------------------------------------------
@dataclass(frozen=True)
class Expr:
    span: Span


@dataclass(frozen=True)
class Number(Expr):
    value: Fraction
    text: str


@dataclass(frozen=True)
class Name(Expr):
    id: str


@dataclass(frozen=True)
class BinOp(Expr):
    op: str  # one of + - * / // % **
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Neg(Expr):
    operand: Expr


@dataclass(frozen=True)
class Call(Expr):
    function: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class TupleExpr(Expr):
    """`(a, b)` — a pair such as a kernel's height × width."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class ListExpr(Expr):
    """`[a, b, c]` — a shape."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Ref(Expr):
    """`@name` — a tensor: a layer's input, or (in an expression) its shape."""

    name: str


# ---- statements ------------------------------------------------------------------------
@dataclass(frozen=True)
class Parameter:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class Option:
    key: str
    value: Expr
    span: Span
    key_span: Span


@dataclass(frozen=True)
class Layer:
    """One layer line — or the use of a block, which reads the same. `positional` still holds a
    trailing activation name: which bare names are activations is the layer registry's
    knowledge, not the parser's. `refs` are the tensors it reads (`@x`); none means the
    previous line's output."""

    op: str
    label: str | None
    positional: tuple[Expr, ...]
    options: tuple[Option, ...]
    span: Span
    op_span: Span
    refs: tuple[Ref, ...] = ()


@dataclass(frozen=True)
class Let:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class Function:
    """`let make_divisible(v, d = 8) = …`: a function of its parameters."""

    name: str
    parameters: tuple[Parameter, ...]
    body: Expr
    span: Span


@dataclass(frozen=True)
class Repeat:
    """`repeat N:` and its indented statements, unrolled N times."""

    label: str | None
    count: Expr
    statements: tuple
    span: Span


@dataclass(frozen=True)
class Condition:
    """`if`'s condition: `compare` (`left COMPARE right`), `test` (a value alone: `true` or
    `false`), `and`, `or`, `not`."""

    kind: str
    operands: tuple  # Expr for `compare` and `test`, Condition otherwise
    span: Span
    comparison: str = ""


@dataclass(frozen=True)
class If:
    """`if CONDITION:` and its lines, `else:` and its lines: only the branch taken exists."""

    condition: Condition
    then: tuple
    otherwise: tuple
    span: Span
    else_span: Span | None = None


@dataclass(frozen=True)
class Return:
    """`return @x` — a block's output when it is not the last line's."""

    ref: Ref
    span: Span


@dataclass(frozen=True)
class Output:
    """`output @a @b` — the network's outputs, in order (without it: the last line's).
    `stray` holds the spans of anything else written on the line (values, options, a label)."""

    refs: tuple[Ref, ...]
    span: Span
    stray: tuple[Span, ...] = ()


@dataclass(frozen=True)
class Block:
    """`block NAME(PARAMETERS):` — a sub-network used like a layer."""

    name: str
    parameters: tuple[Parameter, ...]
    statements: tuple
    span: Span


@dataclass(frozen=True)
class Expect:
    subject: str  # params, trainable, non_trainable, macs, output, a label, or a path `a.b`
    comparison: str
    value: Expr
    span: Span
    subject_span: Span


@dataclass(frozen=True)
class Setting:
    """A line of the `train:` block: `optimizer sgd lr=1e-3 momentum=0.9`."""

    key: str
    positional: tuple[Expr, ...]
    options: tuple[Option, ...]
    span: Span


@dataclass(frozen=True)
class Network:
    name: str
    parameters: tuple[Parameter, ...]
    statements: tuple  # Layer | Let | Function | Expect | Repeat
    train: tuple[Setting, ...]
    span: Span
    blocks: tuple[Block, ...] = ()
    functions: tuple[Function, ...] = ()  # file-level `let f(…) = …`
    source: str = field(repr=False, default="")
    path: str = "<string>"

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The layer lines of the network's own body (not of blocks, not inside `repeat`)."""
        return tuple(s for s in self.statements if isinstance(s, Layer))


def layer_lines(statements):
    """Every layer line among `statements`, in order: inside `repeat`s and both branches of
    `if`s too (not inside the blocks the lines use)."""
    for s in statements:
        if isinstance(s, Layer):
            yield s
        elif isinstance(s, Repeat):
            yield from layer_lines(s.statements)
        elif isinstance(s, If):
            yield from layer_lines(s.then)
            yield from layer_lines(s.otherwise)
