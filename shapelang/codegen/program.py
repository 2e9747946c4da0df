"""The generated program as ops, planned from an analysis — and checked against it.

A body (build_model's, or a block's helper function) is a list of ops: a layer call, a block
function call, an alias (`x = a`), a loop, a return. Tensors are followed by their analysis
names: `holders` says which Python variable holds which tensor at every point, so a layer reads
exactly the tensors the analysis says it reads (its `inputs`), whatever the user's labels and
scopes. `x` holds the latest tensor; a tensor that something reads through `@label` later also
gets a variable of its own. Every identifier comes from the `Namespace` of its scope.

A `repeat` becomes a loop only when its iterations are the same ops: each iteration is planned
from the state the loop would be in when it starts, and the plans are compared; otherwise the
iterations are written one after another. A block becomes a helper function with its numeric
parameters and its input's shape as symbols (planned from the graph seen from its first use,
`relative.py`: the values the walk derived relative to the block).

`trace()` then runs the ops on the bound analysis's numbers — every block call, every loop
iteration — and compares every Keras layer it would build (name, class, arguments, input
layers) with the layers the analysis derived. A plan that differs is never written: the
generator plans again with less structure (blocks in place, loops unrolled, parameters bound).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

import sympy

from .. import ir
from ..analysis import Analysis, Instance, RepeatRecord, input_dimension
from ..diagnostics import DiagnosticError, error
from ..expr import Keyword, Poisoned, UserFunction, evaluate
from ..graph import BranchTaken
from ..layers import REGISTRY
from .backend import Backend, Call, LayerCall, is_output
from .closed_form import NotAFloat64, Unwritable, python_value
from .keras_layers import keras_layers
from .pywriter import Namespace, is_identifier, literal
from .relative import NotRelative, relative_view


class Fallback(Exception):
    """This plan cannot be written with this much structure: plan again with less."""


class PlanMismatch(Exception):
    """No plan reproduced the analysis — a bug in the generator, never the user's file."""


# ---- ops --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Var:
    """A name part held by a variable (a block function's `name` parameter)."""

    name: str


@dataclass(frozen=True)
class Index:
    """A name part that is a loop's iteration number (`str(i)`)."""

    name: str


@dataclass(frozen=True)
class Value:
    """A layer or block argument: the analysis's value and its Python source."""

    value: object
    code: str


@dataclass(frozen=True)
class LayerOp:
    """`targets = layers.CLS(kwargs, name=…)(inputs)`; `line` for the `# file:LINE` comment
    (None on the second Keras layer of one line)."""

    line: int | None
    targets: tuple
    cls: str
    custom: bool
    kwargs: tuple
    name: tuple
    inputs: tuple
    merge: bool
    activation: str | None = None  # applied to the layer's output (PyTorch)
    # attention, called `layer(query, value)` (Keras): self-attention passes its input twice
    query_value: bool = False
    call_kwargs: tuple = ()  # (key, Value) given to the call (`use_causal_mask=True`)


@dataclass(frozen=True)
class CallOp:
    """`targets = function(input, PARAMETER=value, …, NAME_PARAMETER=…)`."""

    line: int
    targets: tuple
    function: str
    input: str
    arguments: tuple  # (parameter variable, Value)
    name_parameter: str
    name: tuple
    shape: tuple = ()  # the input's shape as Values, where the block is built with it (PyTorch)


@dataclass(frozen=True)
class AliasOp:
    target: str
    source: str


@dataclass(frozen=True)
class LoopOp:
    line: int
    index: str
    count: Value
    body: tuple


@dataclass(frozen=True)
class Condition:
    """An `if`'s condition in the function's parameters: `compare` (two Values and
    `comparison`), `test` (one Value), `and`, `or`, `not` (Conditions)."""

    kind: str
    operands: tuple
    comparison: str = ""

    def code(self) -> str:
        if self.kind == "compare":
            left, right = self.operands
            return f"{left.code} {self.comparison} {right.code}"
        if self.kind == "test":
            return self.operands[0].code
        if self.kind == "not":
            (inner,) = self.operands
            return f"not {inner.code()}" if inner.kind == "test" else f"not ({inner.code()})"
        joined = f" {self.kind} ".join(
            c.code() if c.kind in ("compare", "test", "not") or c.kind == self.kind
            else f"({c.code()})" for c in self.operands)
        return joined


@dataclass(frozen=True)
class IfOp:
    """`if CONDITION:` `then` `else:` `otherwise`, in a block function whose uses take both
    branches. While one use is planned, the side it did not take is None."""

    line: int
    condition: Condition
    then: tuple | None
    otherwise: tuple | None


@dataclass(frozen=True)
class ReturnOp:
    source: str


@dataclass(frozen=True)
class ModelOp:
    """`return keras.Model(inputs, outputs, name=…)`: the input variables in the network's
    input order, the output variables in its outputs' order (one each: no lists)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass
class Parameter:
    variable: str  # its identifier in the program
    symbol: str  # the name of the sympy symbol it stands for (the `.net` name)
    source_name: str  # its name in the `.net` file
    default: Value | None = None
    word: bool = False  # a block parameter given words (`pad = same` at one use, `valid` at another)
    boolean: bool = False  # a word parameter given `true` and `false`: a Python bool


@dataclass(frozen=True)
class WordParameter:
    """A layer or block argument that is a block function's word parameter: the word the
    call gave (`"same"`), passed through as a string."""

    name: str  # the parameter's `.net` name


@dataclass
class FunctionPlan:
    """build_model (`block` None) or one block's helper function."""

    name: str
    block: ir.Block | None
    input: str  # the input parameter (a block) or the `keras.Input` variable (build_model)
    parameters: list[Parameter]
    name_parameter: str | None
    body: list = field(default_factory=list)
    symbols: dict = field(default_factory=dict)  # the input shape's symbols: name → axis
    shape_parameter: str | None = None  # the input's shape (a block built with it: PyTorch)
    inputs: tuple = ()  # build_model: every input's variable, in the network's input order


@dataclass
class Program:
    model: FunctionPlan
    functions: list[FunctionPlan]  # callees before their callers
    parametric: bool
    custom: set[str]
    network_name: str = ""
    input_dtype: str | None = None  # the torch program's input dtype where it is not float

    def function(self, name: str) -> FunctionPlan:
        return next(f for f in self.functions if f.name == name)


# ---- what the analysis says each line is -----------------------------------------------------
def keras_calls(analysis: Analysis, r, output_name: str | None) -> list[LayerCall]:
    """The Keras layers of one analysed layer, the network's softmax output in float32 (so it
    stays float32 under mixed precision)."""
    shapes = [analysis.shapes[name] for name in r.inputs]
    specs = keras_layers(r.op, r.args, shapes, r.shape)
    calls = []
    for k, spec in enumerate(specs):
        kwargs = dict(spec.kwargs)
        softmax = kwargs.get("activation") == "softmax" or spec.cls == "Activation"
        if k == len(specs) - 1 and softmax and is_output(r.name, output_name):
            kwargs["dtype"] = "float32"
        calls.append(LayerCall(spec.cls, kwargs, spec.name_suffix, spec.custom,
                               call_kwargs=spec.call_kwargs))
    return calls


KERAS = Backend("Keras", keras_calls, block_shapes=False)


def check_writable(analysis: Analysis, backend: Backend):
    """The generator's own refusals (SL55x) for an analysed, error-free network: a size without
    a value, a parameter that cannot be a keyword argument, two layers of one name."""
    network = analysis.network
    if analysis.symbols:
        names = ", ".join(analysis.symbols)
        raise error(
            "SL551", f"{names} {'has' if len(analysis.symbols) == 1 else 'have'} no value: a "
            "program needs every size", network.span,
            f"give a default in the network's header or bind it with --set "
            f"{next(iter(analysis.symbols))}=…")
    for p in network.parameters:
        if not is_identifier(p.name):
            raise error("SL550", f"the parameter `{p.name}` cannot be a keyword argument of "
                        "`build_model` in the generated Python program (it is a Python "
                        "keyword)", p.span, "rename it")
    check_unique_layer_names(analysis, backend)


def check_unique_layer_names(analysis: Analysis, backend: Backend):
    """The analysis names every layer uniquely; but a line that becomes two layers (an
    explicit padding: `NAME_pad` before `NAME`) could give the first a label's name."""
    seen = {}  # layer name → (the analysed layer, whether it is the padding before it)
    for r in analysis.layers:
        for call in backend.calls(analysis, r, None):
            name = r.name + call.suffix
            if name in seen:
                first, first_is_padding = seen[name]
                padded, labelled = (first, r) if first_is_padding else (r, first)
                raise error(
                    "SL552", f"two {backend.name} layers would be named `{name}`: the layer at "
                    f"line {labelled.layer.span.line} and the padding layer that line "
                    f"{padded.layer.span.line} puts before `{padded.name}`", r.layer.span,
                    f"rename the label `{labelled.layer.label or name}`")
            seen[name] = (r, bool(call.suffix))


def _reads(layer: ir.Layer, wanted: int, count: int) -> list[ir.Ref | None]:
    """For each input of a line, the `@ref` it was read through, or None for the previous
    line's tensor (the walker's rule)."""
    refs = list(layer.refs)
    if wanted == 0:
        return []
    if wanted == 1:
        return refs[:1] or [None]
    if wanted == 2:
        return [None, *refs] if len(refs) < 2 else refs[:count]
    return [None, *refs] if len(refs) == 1 else refs[:count]


def _block_lines(network: ir.Network) -> set[ir.Span]:
    """The spans of every line inside a block (there `@input` is the block's input
    variable)."""
    return {line.span for block in network.blocks for line in ir.layer_lines(block.statements)}


def readers(analysis: Analysis, block_lines: set[ir.Span], returned: str | None = None) -> dict:
    """Tensor → the layers and block uses that read it through `@label` (a `return @x` of
    another than the last line's tensor counts as its block use reading x; `returned`, the
    same for the block seen from its use). A block's `@input` is not counted: the block's input
    variable holds it."""
    found: dict[str, list[str]] = {}

    def add(tensor, ref, layer, reader):
        if ref is None or (ref.name == "input" and layer.span in block_lines):
            return
        found.setdefault(tensor, []).append(reader)

    for r in analysis.layers:
        reads = _reads(r.layer, REGISTRY[r.op].inputs, len(r.inputs))
        for tensor, ref in zip(r.inputs, reads):
            add(tensor, ref, r.layer, r.name)
    for instance in analysis.instances:
        add(instance.input, instance.layer.refs[0] if instance.layer.refs else None,
            instance.layer, instance.name)
        last = final_tensor(analysis, instance.block.statements, instance.name + ".",
                            instance.input)
        if instance.output != last:
            found.setdefault(instance.output, []).append(instance.name)
    if returned is not None:
        found.setdefault(returned, []).append("")
    return found


def final_tensor(analysis: Analysis, statements, prefix: str, previous):
    """The tensor a body ends with: its last line's (the walker's `previous`)."""
    for s in statements:
        produced = analysis.produced.get((prefix, s.span))
        if isinstance(s, ir.Layer) and produced is not None:
            previous = produced.output if isinstance(produced, Instance) else produced
        elif isinstance(s, ir.Repeat) and isinstance(produced, RepeatRecord):
            for k in range(1, produced.walked + 1):
                previous = final_tensor(analysis, s.statements, f"{prefix}{produced.stem}{k}.",
                                        previous)
        elif isinstance(s, ir.If) and isinstance(produced, BranchTaken):
            previous = final_tensor(analysis, s.then if produced.then else s.otherwise, prefix,
                                    previous)
    return previous


def _local(path: str, instance: Instance) -> str:
    """A tensor's name inside the body of block use `instance`."""
    return "input" if path == instance.input else path[len(instance.name) + 1:]


def _lines(statements) -> set[ir.Span]:
    """The spans of the layer lines among `statements`, in their repeats and ifs too."""
    return {line.span for line in ir.layer_lines(statements)}


def _reads_label(statements, label: str) -> bool:
    """Whether a line among `statements` reads `@label`."""
    return any(r.name == label for line in ir.layer_lines(statements) for r in line.refs)


# ---- planning one body ------------------------------------------------------------------------
def _join(parts) -> tuple:
    """Adjacent literal name parts merged: ('a', 'b', Index('i')) → ('ab', Index('i'))."""
    joined: list = []
    for part in parts:
        if isinstance(part, str) and joined and isinstance(joined[-1], str):
            joined[-1] += part
        elif part != "":
            joined.append(part)
    return tuple(joined)


class _Body:
    """Plans the ops of one function body from `analysis`, whose tensors it follows."""

    def __init__(self, planner: _Planner, analysis: Analysis, namespace: Namespace,
                 names: dict, tensor_readers: dict, conditions: tuple | None = None):
        self.planner = planner
        # in a block function: (the environment an `if` condition is read in, the word
        # parameters by name); its `if`s that depend on the parameters become Python `if`s
        self.conditions = conditions
        self.analysis = analysis
        self.namespace = namespace
        self.names = names  # symbol name → Python source
        self.readers = tensor_readers
        self.ops: list = []
        self.holders: dict[str, object] = {}  # variable → the tensor it holds now
        self.x = namespace.claim("x")
        self.iterations: list[str] = []  # the prefixes of the loop iterations being planned
        # the labelled repeats being planned whose lines read `@LABEL` (each iteration's
        # input): (label, the spans of their lines, the variable that holds it)
        self.running: list[tuple[str, set, str]] = []
        self.inlined = 0

    # ---- variables ----
    def read(self, tensor, through: str) -> str:
        """The variable to read `tensor` from: for the previous line's tensor (`through`
        "previous") `x`, else the latest variable given it; for an `@label` the variable it
        got first (its own); for a block's `@input`, the latest (the block's input)."""
        if through == "previous" and self.holders.get(self.x) == tensor:
            return self.x
        if through.startswith("iteration "):
            variable = through.removeprefix("iteration ")
            if self.holders.get(variable) != tensor:
                raise Fallback(f"`{variable}` does not hold the iteration's input")
            return variable
        named = [v for v, held in self.holders.items() if held == tensor and v != self.x]
        if named:
            return named[0] if through == "label" else named[-1]
        if self.holders.get(self.x) == tensor:
            return self.x
        raise Fallback(f"no variable holds `{tensor}`")

    def through(self, statement: ir.Layer, ref: ir.Ref | None) -> str:
        if ref is None:
            return "previous"
        for label, lines, variable in reversed(self.running):
            if ref.name == label and statement.span in lines:
                return f"iteration {variable}"
        inside_block = statement.span in self.planner.block_lines
        return "input" if ref.name == "input" and inside_block else "label"

    def needs_variable(self, tensor, caller: str | None = None) -> bool:
        """Whether something reads `tensor` through `@label` (inside a loop being planned:
        inside this iteration; the loop's last tensor is given its variable after the loop).
        A block use's own `return` (`caller`) is its function's business."""
        readers = [r for r in self.readers.get(tensor, ()) if r != caller]
        if not readers:
            return False
        if self.iterations:
            return any(r.startswith(self.iterations[-1]) for r in readers)
        return True

    def targets(self, tensor, hint: str, user: bool, caller: str | None = None) -> tuple:
        own = ((self.namespace.claim(hint, user=user),) if self.needs_variable(tensor, caller)
               else ())
        return (*own, self.x)

    def assign(self, op, targets, tensor):
        self.ops.append(op)
        for variable in targets:
            self.holders.pop(variable, None)  # the latest assigned last
            self.holders[variable] = tensor

    def value(self, value, span) -> Value:
        try:
            return Value(value, python_value(value, self.names))
        except NotAFloat64:
            raise error("SL209", f"{value} cannot be written as a float64 (it overflows or "
                        "underflows)", span, "use a value a float64 can hold") from None
        except Unwritable as exc:
            raise Fallback(str(exc)) from None

    # ---- statements ----
    def statements(self, statements, prefix: str, name: tuple, previous):
        """Plan `statements`, which the analysis walked at `prefix`; `name` is the Python name
        parts of `prefix`. Returns the tensor they end with."""
        for s in statements:
            produced = self.analysis.produced.get((prefix, s.span))
            if isinstance(s, ir.Layer):
                if produced is None:
                    raise Fallback(f"line {s.span.line} produced nothing")
                if isinstance(produced, Instance):
                    previous = self.instance(s, produced, prefix, name)
                else:
                    previous = self.layer(s, self.analysis.by_name(produced), prefix, name)
            elif isinstance(s, ir.Repeat):
                if not isinstance(produced, RepeatRecord):
                    raise Fallback(f"the repeat of line {s.span.line} produced nothing")
                previous = self.repeat(s, produced, prefix, name, previous)
            elif isinstance(s, ir.If):
                if not isinstance(produced, BranchTaken):
                    raise Fallback(f"the `if` of line {s.span.line} took no branch")
                if produced.relative is None and self.relative_root():
                    # decided by values the program takes as parameters: plan it bound
                    raise Fallback(f"the `if` of line {s.span.line} depends on parameters")
                branch = s.then if produced.then else s.otherwise
                condition = None
                if self.conditions is not None:  # a block function: its uses may differ
                    try:
                        condition = self.condition(s.condition)
                    except Fallback:
                        if produced.relative is None:
                            raise
                if condition is None:
                    previous = self.statements(branch, prefix, name, previous)
                    continue
                start = len(self.ops)
                previous = self.statements(branch, prefix, name, previous)
                ops = tuple(self.ops[start:])
                del self.ops[start:]
                self.ops.append(IfOp(s.span.line, condition, ops if produced.then else None,
                                     None if produced.then else ops))
        return previous

    def condition(self, condition: ir.Condition) -> Condition:
        """An `if`'s condition in the block function's parameters (Fallback where it reads
        anything else: a `let`, a tensor's size)."""
        if condition.kind in ("and", "or", "not"):
            return Condition(condition.kind, tuple(self.condition(c) for c in condition.operands))
        env, words = self.conditions
        operands = []
        for node in condition.operands:
            if isinstance(node, ir.Name) and node.id in words:
                parameter = words[node.id]
                operands.append(Value(WordParameter(node.id), parameter.variable))
                continue
            try:
                value = evaluate(node, env, keywords=True)
            except (DiagnosticError, Poisoned, KeyError) as exc:
                raise Fallback(f"line {condition.span.line}: the condition reads {exc}") from None
            if isinstance(value, Keyword):
                truth = {"true": True, "True": True, "false": False, "False": False}
                operands.append(Value(truth.get(value.name, value.name),
                                      literal(truth.get(value.name, value.name))))
            else:
                operands.append(self.value(value, node.span))
        return Condition(condition.kind, tuple(operands), condition.comparison)

    def relative_root(self) -> bool:
        """Whether this body is written in its root's symbols: a parametric build_model. (A
        block function is planned from one use, and `trace()` runs it for every use: a use
        whose `if` goes the other way makes the plan differ, and the blocks are inlined.)"""
        return self.planner.parametric and self.analysis is self.planner.source

    def layer(self, statement: ir.Layer, r, prefix, name) -> str:
        kind = REGISTRY[r.op]
        calls = self.planner.backend.calls(self.analysis, r,
                                           self.planner.output_name(self.analysis))
        reads = _reads(statement, kind.inputs, len(r.inputs))
        inputs = tuple(self.read(t, self.through(statement, ref))
                       for t, ref in zip(r.inputs, reads))
        local = r.name[len(prefix):]
        for k, call in enumerate(calls):
            last = k == len(calls) - 1
            tensor = r.name if last else ("step", r.name + call.suffix)
            if call.custom:
                self.planner.custom.add(call.custom)
            self.planner.custom.update(v.custom for v in call.kwargs.values()
                                       if isinstance(v, Call) and v.custom)
            if call.cls == "Input":
                targets = (self.planner.input_variables[r.name], self.x)
            elif last:
                targets = self.targets(tensor, statement.label or local, bool(statement.label))
            else:
                targets = (self.x,)
            kwargs = tuple((key, self.value(v, statement.span)) for key, v in call.kwargs.items())
            op = LayerOp(statement.span.line if k == 0 else None, targets, call.cls,
                         bool(call.custom), kwargs, _join((*name, local + call.suffix)), inputs,
                         kind.inputs == -1, call.activation, kind.inputs == 2,
                         tuple((key, self.value(v, statement.span))
                               for key, v in call.call_kwargs.items()))
            self.assign(op, targets, tensor)
            inputs = (self.x,)
        return r.name

    def instance(self, statement: ir.Layer, instance: Instance, prefix, name) -> str:
        local = instance.name[len(prefix):]
        ref = statement.refs[0] if statement.refs else None
        source = self.read(instance.input, self.through(statement, ref))
        outputs = self.planner.output_name(self.analysis) or ()
        if (not self.planner.functions
                or any(o.startswith(instance.name + ".") for o in outputs)
                or instance.block.name in self.planner.in_place):
            # the use that holds the network's output layer (float32 softmax) is in place
            return self.inline(instance, source, (*name, local + "."))
        try:
            return self.call(statement, instance, source, local, name)
        except Fallback:
            # this block cannot be one function (for this backend): its uses in place, the
            # other blocks still functions
            if instance.block.name not in self.planner.plans:
                self.planner.in_place.add(instance.block.name)
            return self.inline(instance, source, (*name, local + "."))

    def call(self, statement: ir.Layer, instance: Instance, source: str, local: str,
             name: tuple) -> str:
        """The use as a call of its block's function."""
        try:
            function = self.planner.function_for(instance.block)
        except Fallback:
            self.planner.plans.pop(instance.block.name, None)
            raise
        arguments = []
        for parameter in function.parameters:
            argument = instance.arguments[parameter.symbol]
            if parameter.word != isinstance(argument, Keyword):
                raise Fallback(f"block {instance.block.name}: a word where a number was, or "
                               "the reverse")
            if parameter.word:
                word = (argument.name in ("true", "True")) if parameter.boolean else argument.name
                arguments.append((parameter.variable, Value(word, literal(word))))
                continue
            arguments.append((parameter.variable, self.value(argument, statement.span)))
        for key, constant in self.planner.constants[instance.block.name].items():
            if instance.arguments[key] != constant:
                raise Fallback(f"block {instance.block.name}: `{key}` differs between uses")
        shape = ()
        if self.planner.backend.block_shapes:
            shape = tuple(self.value(d, statement.span)
                          for d in self.analysis.shapes[instance.input])
        targets = self.targets(instance.output, statement.label or local, bool(statement.label),
                               caller=instance.name)
        op = CallOp(statement.span.line, targets, function.name, source, tuple(arguments),
                    function.name_parameter, _join((*name, local)), shape)
        self.assign(op, targets, instance.output)
        return instance.output

    def inline(self, instance: Instance, source: str, name: tuple) -> str:
        """The block's lines in place, reading its input from a `block_input_N` variable."""
        self.inlined += 1
        variable = self.namespace.claim(f"block_input_{self.inlined}")
        self.assign(AliasOp(variable, source), (variable,), instance.input)
        if self.holders.get(self.x) == instance.input:
            self.holders[self.x] = ("block input", variable)
        self.statements(instance.block.statements, instance.name + ".", name, instance.input)
        return instance.output

    def repeat(self, statement: ir.Repeat, record: RepeatRecord, prefix, name, previous):
        prefixes = [f"{prefix}{record.stem}{k}." for k in range(1, record.walked + 1)]
        if previous is not None and self.holders.get(self.x) != previous:
            self.assign(AliasOp(self.x, self.read(previous, "previous")), (self.x,), previous)
        symbolic = not record.count.is_number
        running = None
        if statement.label and _reads_label(statement.statements, statement.label):
            running = self.namespace.claim(statement.label, user=True)
            self.running.append((statement.label, _lines(statement.statements), running))
        try:
            last = None
            if self.planner.loops and (record.walked > 1 or symbolic):
                last = self.loop(statement, record, prefixes, name, previous)
            if last is None:
                if symbolic:
                    raise Fallback(f"line {statement.span.line}: the iterations of a repeat "
                                   "of unknown count differ")
                last = previous
                for k, iteration in enumerate(prefixes, 1):
                    last = self.iteration(statement, iteration, (*name, f"{record.stem}{k}."),
                                          last)
        finally:
            if running is not None:
                self.running.pop()
        if running is not None and last is not None and self.needs_variable(last):
            # after the lines, `@LABEL` is the repeat's output: the same variable runs on
            self.assign(AliasOp(running, self.read(last, "previous")), (running,), last)
        elif last is not None and self.needs_variable(last) and not any(
                held == last for variable, held in self.holders.items() if variable != self.x):
            variable = self.namespace.claim(statement.label or record.stem.rstrip("_"),
                                            user=bool(statement.label))
            self.assign(AliasOp(variable, self.read(last, "previous")), (variable,), last)
        return last

    def iteration(self, statement: ir.Repeat, prefix: str, name: tuple, previous):
        """One iteration's ops; where its lines read `@LABEL`, they begin by giving the
        iteration's input to the label's variable."""
        if self.running and self.running[-1][0] == statement.label and previous is not None:
            variable = self.running[-1][2]
            self.assign(AliasOp(variable, self.read(previous, "previous")), (variable,),
                        previous)
        return self.statements(statement.statements, prefix, name, previous)

    def loop(self, statement, record, prefixes, name, previous):
        """The repeat as one loop if every iteration plans to the same ops, else None."""
        start = (len(self.ops), dict(self.holders), self.namespace.copy(), self.inlined)
        index = self.namespace.claim("i")
        namespace = self.namespace.copy()
        body, holders, last = None, dict(self.holders), previous
        for iteration in prefixes:
            del self.ops[start[0]:]
            self.holders, self.namespace, self.inlined = dict(holders), namespace.copy(), start[3]
            self.iterations.append(iteration)
            try:
                last = self.iteration(statement, iteration,
                                      (*name, record.stem, Index(index), "."), last)
            finally:
                self.iterations.pop()
            ops = tuple(self.ops[start[0]:])
            if body is not None and ops != body:
                del self.ops[start[0]:]
                self.holders, self.namespace, self.inlined = start[1], start[2], start[3]
                return None
            body, holders = ops, dict(self.holders)
        del self.ops[start[0]:]
        if not body:  # only `let`s: nothing to repeat
            self.namespace = start[2]
            return last
        count = self.value(record.count, statement.span)
        self.ops.append(LoopOp(statement.span.line, index, count, body))
        return last


# ---- planning the program ---------------------------------------------------------------------
class _Planner:
    """One attempt at a program: from `source` (the bound analysis, or one with the network's
    parameters as symbols), with or without block functions and loops."""

    def __init__(self, bound: Analysis, source: Analysis, parametric: bool, functions: bool,
                 loops: bool, module: Namespace, backend: Backend, block_name):
        self.backend = backend
        self.bound = bound
        self.source = source
        self.parametric = parametric
        self.functions = functions
        self.loops = loops
        self.module = module
        self.network = bound.network
        self.block_lines = _block_lines(self.network)
        self.custom: set[str] = set()
        self.plans: dict[str, FunctionPlan] = {}
        self.done: list[FunctionPlan] = []
        self.constants: dict[str, dict] = {}  # block → its keyword parameters' one value
        self.in_place: set[str] = set()  # blocks that cannot be functions: written in place
        self.input_variable = ""  # the first input's
        self.input_variables: dict[str, str] = {}  # each input's path → its variable
        # every block's function name, before any function body can take one of them
        self.function_names = ({b.name: block_name(module, b.name)
                                for b in self.network.blocks} if functions else {})

    def output_name(self, analysis: Analysis) -> tuple | None:
        """The network's output layers' names (in `output`'s order), None in a block seen
        from its use."""
        return tuple(self.bound.output_paths) if analysis is self.source else None

    def model(self, name: str) -> FunctionPlan:
        namespace = self.module.child()
        parameters, names = [], {}
        if self.parametric:
            for p in self.network.parameters:
                variable = namespace.claim(p.name, user=True)
                try:
                    default = python_value(self.bound.bindings[p.name], {})
                except Unwritable as exc:
                    raise Fallback(str(exc)) from None
                parameters.append(Parameter(variable, p.name, p.name,
                                            Value(self.bound.bindings[p.name], default)))
                names[p.name] = variable
        # one input: `inputs`; several: each its label (the generated model's input names)
        paths = tuple(self.bound.input_paths)
        self.input_variables = {
            path: namespace.claim("inputs" if len(paths) == 1 else path, user=len(paths) > 1)
            for path in paths}
        self.input_variable = self.input_variables[paths[0]] if paths else ""
        plan = FunctionPlan(name, None, self.input_variable, parameters, None,
                            inputs=tuple(self.input_variables.values()))
        tensor_readers = readers(self.source, self.block_lines)
        outputs = tuple(self.bound.output_paths)
        if outputs != (final_tensor(self.bound, self.network.statements, "", None),):
            for path in outputs:  # `output @a @b` reads them
                tensor_readers.setdefault(path, []).append("output")
        body = _Body(self, self.source, namespace, names, tensor_readers)
        body.statements(self.network.statements, "", (), None)
        body.ops.append(ModelOp(plan.inputs, tuple(body.read(path, "previous")
                                                   for path in outputs)))
        plan.body = body.ops
        return plan

    def function_for(self, block: ir.Block) -> FunctionPlan:
        """The helper function of `block`, planned on its first use."""
        if block.name in self.plans:
            return self.plans[block.name]
        uses = [i for i in self.bound.instances if i.block.name == block.name]
        ranks = {len(self.bound.shapes[i.input]) for i in uses}
        if len(ranks) != 1:
            raise Fallback(f"block {block.name}: inputs of several ranks")
        rank = ranks.pop()
        namespace = self.module.child()
        function_name = self.function_names[block.name]
        input_variable = namespace.claim("inputs")
        shape_parameter = namespace.claim("in_shape") if self.backend.block_shapes else None
        arguments, parameters, names, constants = {}, [], {}, {}
        words: dict[str, str] = {}  # word parameter → its variable
        for p in block.parameters:
            values = [i.arguments[p.name] for i in uses]
            if all(isinstance(v, (Keyword, bool, str)) for v in values):
                if all(v == values[0] for v in values):
                    arguments[p.name] = constants[p.name] = values[0]
                    continue
                if not all(isinstance(v, Keyword) for v in values):
                    raise Fallback(f"block {block.name}: `{p.name}` takes several words")
                # an ordinary parameter: the uses' plans must differ only in where it goes
                boolean = all(v.name in ("true", "True", "false", "False") for v in values)
                words[p.name] = Parameter(namespace.claim(p.name, user=True), p.name, p.name,
                                          word=True, boolean=boolean)
                parameters.append(words[p.name])
                continue
            if not all(isinstance(v, sympy.Basic) and v.is_number for v in values):
                raise Fallback(f"block {block.name}: `{p.name}` is a word and a number")
            variable = namespace.claim(p.name, user=True)
            arguments[p.name] = sympy.Symbol(
                p.name, integer=all(v.is_integer for v in values) or None,
                positive=all(v > 0 for v in values) or None,
                nonnegative=all(v >= 0 for v in values) or None)
            names[p.name] = variable
            parameters.append(Parameter(variable, p.name, p.name))
        name_parameter = namespace.claim("name")
        shape = [input_dimension(axis) for axis in range(rank)]
        for axis, symbol in enumerate(shape):
            names[str(symbol)] = (f"{shape_parameter}[{axis}]" if shape_parameter
                                  else f"{input_variable}.shape[{axis + 1}]")
        plan = FunctionPlan(function_name, block, input_variable, parameters, name_parameter,
                            symbols={str(s): k for k, s in enumerate(shape)},
                            shape_parameter=shape_parameter)
        self.plans[block.name] = plan
        self.constants[block.name] = constants
        # one plan per combination of the word parameters' values and of the branches its
        # `if`s take (from the first use that gives it)
        variants: dict = {}
        for use in uses:
            variants.setdefault((tuple(use.arguments[w] for w in words),
                                 self._branches(use)), use)
        start = namespace.copy()
        conditions = ({**self.network_functions(), **arguments}, words)
        bodies = [self._block_body(block, use, arguments, names, start.copy(), input_variable,
                                   name_parameter, conditions) for use in variants.values()]
        plan.body = list(_unify(bodies, [{w: u.arguments[w] for w in words}
                                         for u in variants.values()],
                                {w: p.variable for w, p in words.items()}))
        self.done.append(plan)
        return plan

    def _branches(self, use: Instance) -> tuple:
        """The branches the `if`s inside a block use took, in order."""
        prefix = use.name + "."
        taken = [(scope[len(prefix):], span.line, span.col, value.then)
                 for (scope, span), value in self.bound.produced.items()
                 if isinstance(value, BranchTaken) and scope.startswith(prefix)]
        return tuple(sorted(taken))

    def network_functions(self) -> dict:
        """The file-level functions (`let f(v) = …`), which a block's condition may call."""
        functions: dict = {}
        for function in self.network.functions:
            functions[function.name] = UserFunction(function, functions)
        return functions

    def _block_body(self, block: ir.Block, use: Instance, arguments: dict, names: dict,
                    namespace: Namespace, input_variable: str, name_parameter: str,
                    conditions: tuple) -> tuple:
        """A block's function body planned from one use, relative to it."""
        rename = {symbol: arguments[name]
                  for name, symbol in (use.parameter_symbols or {}).items()
                  if isinstance(symbol, sympy.Symbol) and isinstance(arguments[name], sympy.Symbol)}
        try:
            analysis = relative_view(self.bound, use.name, rename)
        except NotRelative as exc:
            raise Fallback(f"block {block.name}: {exc}") from None
        output = _local(use.output, use)
        if not analysis.layers:
            raise Fallback(f"block {block.name} has no layers of its own")
        last = final_tensor(analysis, block.statements, "", "input")
        returned = output if output != last else None
        body = _Body(self, analysis, namespace, names,
                     readers(analysis, self.block_lines, returned), conditions)
        body.holders[input_variable] = "input"
        body.statements(block.statements, "", (Var(name_parameter), "."), "input")
        body.ops.append(ReturnOp(body.read(output, "previous")))
        return tuple(body.ops)


def _unify(bodies: list, words: list[dict], variables: dict) -> tuple:
    """One body from the plans of a block's uses that give its word parameters different
    values: equal but for arguments that are each use's word (`padding="same"` in one,
    `"valid"` in another), which become the parameter. Plans that differ otherwise — an
    emitter that decides by the word, making other layers — cannot share a function."""
    first = bodies[0]
    if any(len(b) != len(first) for b in bodies):
        raise Fallback("the uses' plans differ in length")
    unified = []
    for ops in zip(*bodies):
        op = ops[0]
        if isinstance(op, IfOp):
            unified += _unify_if(ops, words, variables)
        elif isinstance(op, LoopOp) and all(o == op for o in ops):
            unified.append(replace(op, body=_unify([op.body], words[:1], variables)))
        elif all(o == op for o in ops):
            unified.append(op)
        elif isinstance(op, LayerOp) and all(isinstance(o, LayerOp) for o in ops):
            if any(replace(o, kwargs=op.kwargs) != op for o in ops):
                raise Fallback(f"line {op.line}: the uses' layers differ")
            unified.append(replace(op, kwargs=_unify_values([o.kwargs for o in ops], words,
                                                            variables)))
        elif isinstance(op, CallOp) and all(isinstance(o, CallOp) for o in ops):
            if any(replace(o, arguments=op.arguments) != op for o in ops):
                raise Fallback(f"line {op.line}: the uses' block calls differ")
            unified.append(replace(op, arguments=_unify_values([o.arguments for o in ops],
                                                               words, variables)))
        elif isinstance(op, LoopOp) and all(isinstance(o, LoopOp) for o in ops):
            if any(replace(o, body=op.body) != op for o in ops):
                raise Fallback(f"line {op.line}: the uses' loops differ")
            unified.append(replace(op, body=_unify([o.body for o in ops], words, variables)))
        else:
            raise Fallback("the uses' plans differ")
    return tuple(unified)


def _unify_if(ops: tuple, words: list[dict], variables: dict) -> list:
    """An `if` planned in each use: a Python `if` where the uses took both branches; where
    every use took the same one, its ops alone (decided alike at every use)."""
    first = ops[0]
    if not all(isinstance(o, IfOp) and (o.line, o.condition) == (first.line, first.condition)
               for o in ops):
        raise Fallback("the uses' plans differ at an `if`")
    sides = []
    for side in ("then", "otherwise"):
        taken = [(getattr(o, side), w) for o, w in zip(ops, words) if getattr(o, side) is not None]
        sides.append(_unify([b for b, _ in taken], [w for _, w in taken], variables)
                     if taken else None)
    then, otherwise = sides
    if otherwise is None:
        return list(then)
    if then is None:
        return list(otherwise)
    return [IfOp(first.line, first.condition, then, otherwise)]


def _unify_values(pairs: list[tuple], words: list[dict], variables: dict) -> tuple:
    """(key, Value) pairs of one op in each use, a differing value replaced by the word
    parameter whose value it is in every use."""
    unified = []
    for items in zip(*pairs):
        key, value = items[0]
        if any(k != key for k, _ in items) or any(len(p) != len(pairs[0]) for p in pairs):
            raise Fallback("the uses' arguments differ")
        if all(v == value for _, v in items):
            unified.append((key, value))
            continue
        found = [w for w in variables
                 if all(_spells(v.value, use[w]) for (_, v), use in zip(items, words))]
        if not found:
            raise Fallback(f"`{key}` differs between uses, and not as a word parameter does")
        unified.append((key, Value(WordParameter(found[0]), variables[found[0]])))
    return tuple(unified)


def _spells(value, word: Keyword) -> bool:
    """Whether an argument is `word` passed through as it is: the string (a bool for `true`
    and `false`), or the word."""
    if isinstance(value, Keyword):
        return value.name == word.name
    if isinstance(value, bool):
        return word.name in ("true", "True", "false", "False") and value == (
            word.name in ("true", "True"))
    return isinstance(value, str) and value == word.name


@dataclass(frozen=True)
class Structure:
    """How much structure a plan tries: the network's parameters as symbols of
    `build_model`, block helper functions, loops."""

    parametric: bool
    functions: bool
    loops: bool


#: Tried in this order; the last (bound, in place, unrolled) is the plain list of layers.
STRUCTURES = tuple(Structure(p, f, lo) for p in (True, False)
                   for f, lo in ((True, True), (False, True), (False, False)))


def _user_block_name(module: Namespace, name: str) -> str:
    return module.claim(name, user=True)


def plan_program(bound: Analysis, module: callable, structures=STRUCTURES, backend=KERAS,
                 block_name=_user_block_name) -> Program:
    """The first plan that `trace()` finds equal to the analysis, trying the most structured
    first. `module()` makes a fresh module namespace with the program's own names taken;
    `block_name(module, name)` claims the name of a block's function or class there."""
    network = bound.network
    symbolic = None
    if network.parameters and any(s.parametric for s in structures):
        try:
            symbolic = relative_view(bound)
        except NotRelative:
            symbolic = None
    first_problem = None
    for structure in structures:
        source = symbolic if structure.parametric else bound
        if source is None:
            continue
        planner = _Planner(bound, source, structure.parametric, structure.functions,
                           structure.loops, module(), backend, block_name)
        try:
            model = planner.model("build_model")
        except Fallback:
            continue
        program = Program(model, planner.done, structure.parametric, planner.custom)
        problem = trace(program, bound, backend)
        if problem is None:
            return program
        first_problem = first_problem or problem
    raise PlanMismatch(first_problem or "no plan could be made")


# ---- the check: run the plan on the analysis's numbers ----------------------------------------
@dataclass(frozen=True)
class _Tensor:
    keras_name: str


def expected_layers(bound: Analysis, backend: Backend = KERAS) -> tuple[dict, dict]:
    """Layer name → (class, arguments, input layer names, activation) for every layer the
    backend makes of the analysed network, and analysis tensor → the layer whose output it is
    (a layer's name is the analysis's, with a call's suffix)."""
    expected, keras_name = {}, {}
    output = tuple(bound.output_paths)
    for r in bound.layers:
        inputs = tuple(keras_name[t] for t in r.inputs)
        for call in backend.calls(bound, r, output):
            name = r.name + call.suffix
            expected[name] = (call.cls, {k: _concrete(v) for k, v in
                                         {**call.kwargs, **call.call_kwargs}.items()},
                              inputs, call.activation)
            inputs = (name,)
        keras_name[r.name] = name
    return expected, keras_name


def trace(program: Program, bound: Analysis, backend: Backend = KERAS) -> str | None:
    """None when the program builds exactly the layers of `bound`, else the first difference."""
    expected, keras_name = expected_layers(bound, backend)
    shapes = {keras_name[r.name]: bound.shapes[r.name] for r in bound.layers}
    built: dict = {}
    tracer = _Tracer(program, built, shapes)
    env = {p.variable: _concrete(bound.bindings[p.symbol]) for p in program.model.parameters}
    symbols = {p.symbol: bound.bindings[p.symbol] for p in program.model.parameters}
    try:
        output = tracer.run(program.model.body, env, symbols)
    except _Differs as exc:
        return str(exc)
    except (KeyError, StopIteration) as exc:  # a variable or function the plan never bound
        return f"the plan reads what it never wrote: {exc!r}"
    built_outputs = tuple(t.keras_name for t in output)
    wanted_outputs = tuple(keras_name.get(p) for p in bound.output_paths)
    if built_outputs != wanted_outputs:
        return f"the model's outputs are {built_outputs}, the analysis's {wanted_outputs}"
    inputs = tuple(tracer.inputs)
    if inputs != tuple(bound.input_paths):
        return f"the model's inputs are {inputs}, the analysis's {tuple(bound.input_paths)}"
    for name, layer in expected.items():
        if name not in built:
            return f"no layer `{name}`"
        if built[name] != layer:
            return f"`{name}`: built {built[name]}, analysed {layer}"
    extra = sorted(set(built) - set(expected))
    return f"extra layers {extra}" if extra else None


class _Differs(Exception):
    pass


class _Tracer:
    def __init__(self, program: Program, built: dict, shapes: dict):
        self.program = program
        self.built = built
        self.shapes = shapes
        self.inputs: list[str] = []  # the model's inputs' layer names

    def run(self, ops, env: dict, symbols: dict):
        for op in ops:
            if isinstance(op, LayerOp):
                name = self.name(op.name, env)
                if name in self.built:
                    raise _Differs(f"two layers named `{name}`")
                kwargs = {k: self.evaluate(v.value, symbols)
                          for k, v in op.kwargs + op.call_kwargs}
                inputs = tuple(env[v].keras_name for v in op.inputs)
                self.built[name] = (op.cls, kwargs, inputs, op.activation)
                for target in op.targets:
                    env[target] = _Tensor(name)
            elif isinstance(op, CallOp):
                function = self.program.function(op.function)
                tensor = env[op.input]
                if tensor.keras_name not in self.shapes:
                    raise _Differs(f"`{op.function}` reads `{tensor.keras_name}`, no layer")
                inner_env = {function.input: tensor,
                             function.name_parameter: self.name(op.name, env)}
                shape = (self.evaluate(tuple(v.value for v in op.shape), symbols) if op.shape
                          else self.shapes[tensor.keras_name])  # built with it, or reading it
                inner_symbols = {symbol: shape[axis] for symbol, axis in function.symbols.items()}
                for (variable, value), parameter in zip(op.arguments, function.parameters):
                    inner_env[variable] = inner_symbols[parameter.symbol] = \
                        self.evaluate(value.value, symbols)
                result = self.run(function.body, inner_env, inner_symbols)
                for target in op.targets:
                    env[target] = result
            elif isinstance(op, AliasOp):
                env[op.target] = env[op.source]
            elif isinstance(op, LoopOp):
                for k in range(1, int(self.evaluate(op.count.value, symbols)) + 1):
                    env[op.index] = k
                    self.run(op.body, env, symbols)
            elif isinstance(op, IfOp):
                side = op.then if self.decide(op.condition, symbols) else op.otherwise
                if side is None:
                    raise _Differs(f"line {op.line}: a branch no use was planned for")
                result = self.run(side, env, symbols)
                if result is not None:
                    return result
            elif isinstance(op, ReturnOp):
                return env[op.source]
            elif isinstance(op, ModelOp):
                self.inputs = [env[v].keras_name for v in op.inputs]
                return tuple(env[v] for v in op.outputs)
        return None

    @classmethod
    def decide(cls, condition: Condition, symbols) -> bool:
        if condition.kind == "not":
            return not cls.decide(condition.operands[0], symbols)
        if condition.kind in ("and", "or"):
            found = [cls.decide(c, symbols) for c in condition.operands]
            return all(found) if condition.kind == "and" else any(found)
        values = [cls.evaluate(v.value, symbols) for v in condition.operands]
        if condition.kind == "test":
            if not isinstance(values[0], bool):
                raise _Differs(f"a condition of {values[0]!r}")
            return values[0]
        return bool(_PYTHON_COMPARISONS[condition.comparison](*values))

    @staticmethod
    def name(parts, env) -> str:
        return "".join(p if isinstance(p, str) else str(env[p.name]) for p in parts)

    @classmethod
    def evaluate(cls, value, symbols):
        if isinstance(value, Call):
            return (value.callee, tuple((k, cls.evaluate(v, symbols))
                                        for k, v in value.kwargs.items()))
        if isinstance(value, (tuple, list)):
            return tuple(cls.evaluate(v, symbols) for v in value)
        if isinstance(value, WordParameter):
            return symbols[value.name]
        if isinstance(value, sympy.Basic) and value.free_symbols:
            missing = [str(s) for s in value.free_symbols if str(s) not in symbols]
            if missing:
                raise _Differs(f"no value for {missing}")
            value = value.xreplace({s: _as_sympy(symbols[str(s)]) for s in value.free_symbols})
        return _concrete(value)


_PYTHON_COMPARISONS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b,
                       "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
                       ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _as_sympy(value):
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    return sympy.Integer(value) if isinstance(value, int) else value


def _concrete(value):
    """A plain value to compare: ints, exact Fractions, strings, tuples of them."""
    if isinstance(value, Call):
        return (value.callee, tuple((k, _concrete(v)) for k, v in value.kwargs.items()))
    if isinstance(value, (tuple, list)):
        return tuple(_concrete(v) for v in value)
    if isinstance(value, (bool, str, int, Fraction)) or value is None:
        return value
    if isinstance(value, Keyword):  # a word parameter's value, passed on as its string
        return value.name
    if isinstance(value, sympy.Basic):
        if value.is_Integer:
            return int(value)
        if value.is_Rational:
            return Fraction(int(value.p), int(value.q))
        raise _Differs(f"`{value}` is no number")
    raise _Differs(f"a {type(value).__name__} argument")
