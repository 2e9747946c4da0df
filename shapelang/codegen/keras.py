"""The Keras program emitter: an `Analysis` in, one self-contained Python module out.

The module has `build_model(**params)` (the functional API, one line per layer with a
`# file.net:LINE` comment above it), the `train:` block as `TRAIN_DEFAULTS`, the training
runtime (shapelang/runtime.py, copied verbatim) and a `main()` for `python model.py summary`
and `python model.py train …`.

Safety, as jinja does it: every value is written with `repr()` of a Python int, float, str,
bool or tuple; every identifier is checked against `_IDENTIFIER` and Python's keywords; no text
of the `.net` file is ever copied into the program except through `repr()` or as a checked
identifier. Layer arguments that depend on network parameters are written as arithmetic on
those parameters (exact: `Fraction`, `math.floor`, `math.ceil`), printed from the sympy tree by
`_python`, never from text.
"""
from __future__ import annotations

import importlib.util
import keyword
import re
import sys
import tempfile
from pathlib import Path

import sympy

from .. import __version__, ir
from ..analysis import Analysis, Instance, analyse, analyse_block
from ..diagnostics import DiagnosticError, error
from ..expr import Keyword
from ..fingerprint import fingerprint_source, network_fingerprint
from ..layers import REGISTRY, KerasLayer
from ..solve import pretty

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Names the generated module itself uses: a network parameter may not shadow them.
_RESERVED = {"keras", "layers", "math", "Fraction", "tf", "x", "inputs", "outputs", "model",
             "build_model", "main", "run_main", "sys", "np", "TRAIN_DEFAULTS", "INPUT_SHAPE",
             "OUTPUT_UNITS", "LocalResponseNormalization"}

_LRN_LAYER = '''
@keras.saving.register_keras_serializable(package="shapelang")
class LocalResponseNormalization(layers.Layer):
    """AlexNet's local response normalisation across channels, over
    `tf.nn.local_response_normalization` (Keras has no such layer). Computed in float32."""

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius, self.bias, self.alpha, self.beta = depth_radius, bias, alpha, beta

    def call(self, inputs):
        normalised = tf.nn.local_response_normalization(
            tf.cast(inputs, "float32"), depth_radius=self.depth_radius, bias=self.bias,
            alpha=self.alpha, beta=self.beta)
        return tf.cast(normalised, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias,
                "alpha": self.alpha, "beta": self.beta}
'''


def identifier(name: str, what: str, span=None) -> str:
    """`name` if it is a safe Python identifier for the generated module, else SL550."""
    if not _IDENTIFIER.match(name) or keyword.iskeyword(name) or name in _RESERVED:
        raise error("SL550", f"{what} `{name}` cannot be a name in the generated Python "
                    "program (a Python keyword or a name it uses itself)", span, "rename it")
    return name


# ---- sympy → Python source ----------------------------------------------------------------
def _python(value, parameters: set[str]) -> str:
    """Python source for a value: literals with repr(), closed forms as exact arithmetic."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        items = [_python(v, parameters) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if not isinstance(value, sympy.Basic):
        raise TypeError(f"cannot write {type(value).__name__} into generated code")
    if value.is_number:
        if value.is_Integer:
            return repr(int(value))
        if value.is_Rational:
            return repr(float(value))  # a number option such as a dropout rate
        raise TypeError(f"cannot write the number {value}")
    code = _expression(value, parameters)
    if value.is_Symbol or (value.is_integer and isinstance(value, (sympy.floor, sympy.ceiling))):
        return code
    return f"int({code})" if value.is_integer else f"float({code})"


_ATOM, _POWER, _PRODUCT, _SUM = 4, 3, 2, 1  # Python's precedences, highest first


def _expression(e, parameters: set[str], context: int = _SUM) -> str:
    """Python source for a closed form, parenthesised only where Python's precedence needs it.
    Rationals stay exact: p/q·x is written `Fraction(p * x, q)`."""
    code, precedence = _expression_with_precedence(e, parameters)
    return f"({code})" if precedence < context else code


def _expression_with_precedence(e, parameters):
    if e.is_Integer:
        return repr(int(e)), (_ATOM if e >= 0 else _SUM)
    if e.is_Rational:
        return f"Fraction({int(e.p)!r}, {int(e.q)!r})", _ATOM
    if e.is_Symbol:
        if str(e) not in parameters:
            raise TypeError(f"unknown symbol {e}")
        return str(e), _ATOM
    if isinstance(e, sympy.Add):
        terms = [_expression(a, parameters, _SUM) for a in e.as_ordered_terms()]
        code = terms[0]
        for term in terms[1:]:
            code += f" - {term[1:]}" if term.startswith("-") else f" + {term}"
        return code, _SUM
    if isinstance(e, sympy.Mul):
        coefficient, rest = e.as_coeff_Mul()
        factors = [_expression(f, parameters, _PRODUCT) for f in sympy.Mul.make_args(rest)]
        product = " * ".join(factors)
        if coefficient.is_Rational and not coefficient.is_Integer:
            numerator = product if coefficient.p == 1 else f"{int(coefficient.p)!r} * {product}"
            return f"Fraction({numerator}, {int(coefficient.q)!r})", _ATOM
        if coefficient == -1:
            return f"-{product}", _SUM
        if coefficient != 1:
            return f"{int(coefficient)!r} * {product}", _PRODUCT
        return product, _PRODUCT
    if isinstance(e, sympy.Pow) and e.exp.is_Integer:
        base = _expression(e.base, parameters, _ATOM)
        if e.exp < 0:
            return f"Fraction(1, {base} ** {int(-e.exp)!r})", _ATOM
        return f"{base} ** {int(e.exp)!r}", _POWER
    functions = {sympy.floor: "math.floor", sympy.ceiling: "math.ceil", sympy.Min: "min",
                 sympy.Max: "max", sympy.Abs: "abs"}
    for kind, name in functions.items():
        if isinstance(e, kind):
            return f"{name}({', '.join(_expression(a, parameters) for a in e.args)})", _ATOM
    if isinstance(e, sympy.Mod):
        left, right = (_expression(a, parameters, _POWER) for a in e.args)
        return f"{left} % {right}", _PRODUCT
    raise TypeError(f"no Python form for {type(e).__name__}")


# ---- the emitter ------------------------------------------------------------------------------
class _Emitter:
    """Owns the lines and the indentation of the generated module."""

    def __init__(self, level: int = 0):
        self.lines: list[str] = []
        self.level = level

    def line(self, text: str = ""):
        self.lines.append(("    " * self.level + text) if text else "")

    def wrapped(self, text: str, width: int = 99):
        """A call on one line, or with its keyword arguments on continuation lines when that
        line would be longer than `width` (every argument here is `key=value`, no nesting of
        commas outside brackets)."""
        indent = "    " * self.level
        if len(indent + text) <= width:
            self.line(text)
            return
        head, _, rest = text.partition("(")
        arguments, depth, current, quote = [], 0, "", None
        for position, char in enumerate(rest):
            if quote:
                quote = None if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char in "([{":
                depth += 1
            elif char in ")]}":
                if depth == 0:  # the call's closing parenthesis
                    tail = rest[position:]
                    break
                depth -= 1
            if char == "," and depth == 0 and not quote:
                arguments.append(current.strip())
                current = ""
            else:
                current += char
        arguments.append(current.strip())
        self.line(head + "(")
        for argument in arguments:
            self.line("    " + argument + ",")
        self.line(tail)

    def block(self, text: str):
        for line in text.strip("\n").splitlines():
            self.line(line)

    def source(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


def _keras_call(spec: KerasLayer, name_code: str, names: dict, output_dtype=None) -> str:
    kwargs = dict(spec.kwargs)
    if output_dtype:
        kwargs["dtype"] = output_dtype
    parts = [f"{key}={_python(value, names)}" for key, value in kwargs.items()]
    parts.append(f"name={name_code}")
    prefix = "" if spec.custom else "layers."
    return f"{prefix}{spec.cls}({', '.join(parts)})"


def _emission_analysis(analysis: Analysis) -> tuple[Analysis, bool]:
    """The analysis whose layer arguments the program is written from: with every parameter a
    symbol when that analyses cleanly (then `build_model(**params)` recomputes the layers for
    other values), else the bound one (then `build_model()` takes no parameters)."""
    network = analysis.network
    if not network.parameters:
        return analysis, False
    symbolic = analyse(network, {}, checks=False, all_symbolic=True)
    same_layers = [r.name for r in symbolic.layers] == [r.name for r in analysis.layers]
    if symbolic.ok and symbolic.complete and same_layers:
        names = {s: s for s in symbolic.symbols}
        try:
            for r in symbolic.layers:
                for spec in REGISTRY[r.op].keras(r.args, _in_shapes(symbolic, r), r.shape, None):
                    for value in spec.kwargs.values():
                        _python(value, names)
            for instance in symbolic.instances:
                for value in instance.arguments.values():
                    _argument(value, names)
            return symbolic, True
        except TypeError:
            pass
    return analysis, False


def _in_shapes(analysis: Analysis, result):
    return [analysis.shapes[name] for name in result.inputs]


class _Fallback(Exception):
    """A block cannot be written as a helper function: the program is written flat."""


def _argument(value, names: dict) -> str:
    """A numeric block argument as Python: a number or a closed form."""
    return _python(value, names)


def _name_code(prefix: str | None, local: str) -> str:
    """Python for a layer's name: a literal at the top level, `name + '.conv_1'` in a block
    function, with the iteration number inside a `repeat` loop."""
    return repr(local) if prefix is None else f"{prefix} + {('.' + local)!r}"


def _references(statements) -> set[str]:
    """Every `@name` read anywhere in these statements (repeat bodies included)."""
    found = set()
    for s in statements:
        if isinstance(s, ir.Layer):
            found |= {r.name for r in s.refs}
        elif isinstance(s, ir.Repeat):
            found |= _references(s.statements)
        elif isinstance(s, ir.Return):
            found.add(s.ref.name)
    return found


class _BodyWriter:
    """Writes the statements of one body — build_model's, or a block's helper function — as
    functional-API lines, resolving inputs as the walker does: the previous line's tensor, or
    the `@label`s named. `x` holds the latest tensor; a label that some `@label` reads gets a
    variable of its own; a block use becomes a call of its helper function; `repeat` a loop."""

    def __init__(self, writer: _ProgramWriter, analysis: Analysis, names: dict,
                 reserved: set[str], statements):
        self.writer = writer
        self.analysis = analysis
        self.names = names  # symbol name → Python code
        self.referenced = _references(statements)
        self.reserved = reserved | {"x", "inputs", "name"}
        self.label_variables: dict[str, str] = {"input": "inputs"}
        self.loop_depth = 0
        self.inlined = 0  # blocks written in place so far, for their input variables

    def write(self, statements, prefix: str, name_prefix: str | None, previous: str,
              out: _Emitter) -> str:
        """Write `statements`, which the analysis walked at scope `prefix`; returns the Python
        variable that holds the last tensor."""
        repeats = 0
        for statement in statements:
            if isinstance(statement, ir.Layer):
                previous = self.layer(statement, prefix, name_prefix, previous, out)
            elif isinstance(statement, ir.Repeat):
                repeats += 0 if statement.label else 1
                label = statement.label or ("repeat" if repeats == 1 else f"repeat_{repeats}")
                previous = self.repeat(statement, label, prefix, name_prefix, previous, out)
            elif isinstance(statement, ir.Return):
                previous = self.reference(statement.ref.name)
        return previous

    def reference(self, label: str) -> str:
        return self.label_variables[label]

    def _assign(self, label: str | None) -> str:
        """`x = `, or `shortcut = x = ` when some `@shortcut` reads this line's tensor."""
        if label and label in self.referenced:
            variable = label
            if label in self.reserved or keyword.iskeyword(label) or label in _RESERVED:
                variable = f"t_{label}"
            self.label_variables[label] = variable
            return f"{variable} = x = "
        return "x = "

    def _inputs(self, statement: ir.Layer, wanted: int, previous: str) -> list[str]:
        refs = [self.reference(r.name) for r in statement.refs]
        if wanted == -1:
            return [previous, *refs] if len(refs) == 1 else refs
        return refs or [previous]

    def layer(self, statement: ir.Layer, prefix, name_prefix, previous, out) -> str:
        produced = self.analysis.produced.get((prefix, id(statement)))
        if produced is None:
            raise _Fallback(f"line {statement.span.line} produced nothing")
        out.line(f"# {self.writer.path}:{statement.span.line}")
        if isinstance(produced, Instance):
            return self.instance(statement, produced, prefix, name_prefix, previous, out)
        r = self.analysis.by_name(produced)
        local = produced[len(prefix):]
        kind = REGISTRY[r.op]
        calls = kind.keras(r.args, _in_shapes(self.analysis, r), r.shape, None)
        self.writer.note_calls(calls)
        inputs = self._inputs(statement, kind.inputs, previous)
        for k, spec in enumerate(calls):
            name_code = _name_code(name_prefix, local + spec.name_suffix)
            if spec.cls == "Input":
                shape = _python(spec.kwargs["shape"], self.names)
                out.line(f"inputs = x = keras.Input(shape={shape}, name={name_code})")
                if statement.label:
                    self.label_variables[statement.label] = "inputs"
                return "x"
            last = k == len(calls) - 1
            softmax = spec.kwargs.get("activation") == "softmax" or spec.cls == "Activation"
            dtype = "float32" if last and softmax and self.writer.is_output(r) else None
            call = _keras_call(spec, name_code, self.names, dtype)
            argument = f"[{', '.join(inputs)}]" if kind.inputs == -1 else inputs[0]
            assign = self._assign(statement.label) if last else "x = "
            out.wrapped(f"{assign}{call}({argument})")
            inputs = ["x"]
        return "x"

    def instance(self, statement, instance: Instance, prefix, name_prefix, previous, out):
        (source,) = self._inputs(statement, 1, previous)
        local = instance.name[len(prefix):]
        if self.writer.inline:
            return self.inline(statement, instance, source, _name_code(name_prefix, local), out)
        self.writer.need_block(instance.block)
        arguments = "".join(f", {k}={_argument(v, self.names)}"
                            for k, v in instance.arguments.items() if not _is_static(v))
        assign = self._assign(statement.label)
        out.wrapped(f"{assign}{instance.block.name}({source}{arguments}, "
                    f"name={_name_code(name_prefix, local)})")
        return "x"

    def inline(self, statement, instance: Instance, source: str, name_code: str, out) -> str:
        """The block's lines in place (the fallback when it cannot be a helper function)."""
        outer = dict(self.label_variables)
        outer_referenced = self.referenced
        self.inlined += 1
        block_input = f"block_input_{self.inlined}"
        out.line(f"{block_input} = x = {source}" if source != "x" else f"{block_input} = x")
        self.label_variables["input"] = block_input
        self.referenced = _references(instance.block.statements)
        last = self.write(instance.block.statements, instance.name + ".", name_code, "x", out)
        self.label_variables, self.referenced = outer, outer_referenced
        if last != "x":
            out.line(f"x = {last}")
        assign = self._assign(statement.label)
        if assign != "x = ":
            out.line(f"{assign}x")
        return "x"

    def repeat(self, statement: ir.Repeat, label, prefix, name_prefix, previous, out) -> str:
        count = self.analysis.produced.get((prefix, id(statement)))
        if count is None:
            raise _Fallback("a repeat produced nothing")
        separator = "_" if label[-1].isdigit() else ""
        index = "i" if not self.loop_depth else f"i{self.loop_depth + 1}"
        out.line(f"# {self.writer.path}:{statement.span.line}")
        if previous != "x":
            out.line(f"x = {previous}")
        out.line(f"for {index} in range(1, {_python(count, self.names)} + 1):")
        out.level += 1
        self.loop_depth += 1
        iteration = f"{_name_code(name_prefix, label + separator)} + str({index})"
        self.write(statement.statements, f"{prefix}{label}{separator}1.", iteration, "x", out)
        self.loop_depth -= 1
        out.level -= 1
        if statement.label and statement.label in self.referenced:
            variable = self._assign(statement.label).split(" = ")[0]
            out.line(f"{variable} = x")
        return "x"


class _ProgramWriter:
    """Writes the whole program: imports, helper layers, block functions, build_model, the
    training runtime and main()."""

    def __init__(self, analysis: Analysis, emission: Analysis, parametric: bool,
                 inline: bool = False):
        self.inline = inline  # blocks written in place rather than as helper functions
        self.analysis = analysis
        self.emission = emission
        self.parametric = parametric
        self.network = analysis.network
        self.path = self.network.path
        self.custom: set[str] = set()
        self.blocks_needed: dict[str, ir.Block] = {}
        # block uses inside other blocks, with their input shapes, found while writing those
        self._nested: list = []
        self.output_name = analysis.output.name

    def note_calls(self, calls):
        self.custom |= {spec.custom for spec in calls if spec.custom}

    def is_output(self, r) -> bool:
        return r.name == self.output_name

    def need_block(self, block: ir.Block):
        self.blocks_needed.setdefault(block.name, block)

    def build_model(self, out: _Emitter):
        names = {s: s for s in self.emission.symbols} if self.parametric else {}
        signature = ", ".join(f"{p.name}={_python(self.analysis.bindings[p.name], {})}"
                              for p in self.network.parameters) if self.parametric else ""
        out.line(f"def build_model({signature}):")
        out.level += 1
        out.line(f'"""The network `{self.network.name}` as a functional Keras model."""')
        body = _BodyWriter(self, self.emission, names, set(names), self.network.statements)
        last = body.write(self.network.statements, "", None, "x", out)
        out.line(f"return keras.Model(inputs, {last}, name={self.network.name!r})")
        out.level -= 1

    def block_function(self, block: ir.Block, out: _Emitter):
        """The block as `def NAME(inputs, PARAMETERS, *, name)`, written from an analysis of
        the block alone with its numeric parameters and its input shape as symbols (so its
        layer arguments come out as expressions of them). Keyword or flag parameters must be
        the same at every use: they are constants of the function."""
        uses = [(i, self.emission.shapes[i.input]) for i in self.emission.instances
                if i.block.name == block.name]
        uses += [(i, shape) for i, shape in self._nested if i.block.name == block.name]
        if not uses or len({len(shape) for _, shape in uses}) != 1:
            raise _Fallback(f"block {block.name}: no use, or uses of several ranks")
        rank = len(uses[0][1])
        shape = tuple(sympy.Symbol(f"inputs.shape[{k + 1}]", integer=True, positive=True)
                      for k in range(rank))
        names = {str(s): str(s) for s in shape}  # the symbol's name is its Python code
        arguments = {}
        for parameter in block.parameters:
            identifier(parameter.name, "block parameter", parameter.span)
            values = [i.arguments[parameter.name] for i, _ in uses]
            if not _is_static(values[0]) and all(isinstance(v, sympy.Basic) for v in values):
                integer = all(v.is_integer for v in values)
                arguments[parameter.name] = sympy.Symbol(parameter.name, positive=True,
                                                         integer=integer or None)
                names[parameter.name] = parameter.name
            elif all(v == values[0] for v in values):
                arguments[parameter.name] = values[0]
            else:
                raise _Fallback(f"block {block.name}: {parameter.name} takes several keywords")
        try:
            block_analysis, _ = analyse_block(self.network, block, arguments, shape)
        except DiagnosticError as exc:
            raise _Fallback(str(exc)) from None
        if not block_analysis.ok or not block_analysis.layers:
            raise _Fallback(f"block {block.name} does not analyse on its own")
        self._nested += [(i, block_analysis.shapes[i.input]) for i in block_analysis.instances]
        signature = ", ".join(["inputs", *(p.name for p in block.parameters
                                           if p.name in names)])
        out.line(f"def {identifier(block.name, 'block')}({signature}, *, name):")
        out.level += 1
        out.line(f'"""Block `{block.name}` ({self.path}:{block.span.line})."""')
        body = _BodyWriter(self, block_analysis, names, set(names), block.statements)
        last = body.write(block.statements, "", "name", "inputs", out)
        out.line(f"return {last}")
        out.level -= 1



def _is_static(value) -> bool:
    """A block argument that is a keyword or flag (`pad = same`): a constant of its function."""
    return isinstance(value, (Keyword, bool, str))


def emit_keras(analysis: Analysis) -> str:
    """The generated program for an analysed, error-free network."""
    network = analysis.network
    if analysis.symbols:
        names = ", ".join(analysis.symbols)
        raise error(
            "SL551", f"{names} {'has' if len(analysis.symbols) == 1 else 'have'} no value: a "
            "program needs every size", network.span,
            f"give a default in the network's header or bind it with --set "
            f"{next(iter(analysis.symbols))}=…")
    for p in network.parameters:
        identifier(p.name, "parameter", p.span)
    emission, parametric = _emission_analysis(analysis)
    try:
        writer, model, functions = _write_model(analysis, emission, parametric, inline=False)
    except (_Fallback, TypeError):
        writer, model, functions = _write_model(analysis, emission, parametric, inline=True)
    text = "\n".join(model.lines + [line for f in functions for line in f.lines])
    needs_math = "math." in text
    needs_fraction = "Fraction(" in text
    _check_unique_names_in(analysis)

    out = _Emitter()
    path = network.path
    bound = ", ".join(f"{k}={pretty(v)}" for k, v in analysis.bindings.items())
    total = int(analysis.total("params"))
    out.block(f'''
"""{network.name} — a Keras 3 model generated by shapelang {__version__} from {path}.

Regenerate it rather than edit it: `shapelang keras {path} -o FILE`.
Every layer's output shape and parameter count is the one that
`shapelang table {path}` shows; at {bound or "its defaults"} the model has
{total:,} parameters.

    python THIS_FILE.py summary
    python THIS_FILE.py train --data digits|synthetic|FILE.npz|'SHARDS-*.npz'|IMAGE_DIR [...]
"""
''')
    out.line()
    runtime_imports, runtime_body = _runtime_parts()
    imports = set(runtime_imports) | {"import sys", "import keras", "from keras import layers"}
    imports |= {"import math"} if needs_math else set()
    imports |= {"from fractions import Fraction"} if needs_fraction else set()
    imports |= {"import tensorflow as tf"} if writer.custom else set()
    out.block("\n\n".join("\n".join(section) for section in _import_sections(imports)))
    if "LocalResponseNormalization" in writer.custom:
        out.line()
        out.line()
        out.block(_LRN_LAYER)
    for function in reversed(functions):  # a block's helpers before it, for the reader
        out.line()
        out.line()
        out.lines += function.lines
    out.line()
    out.line()
    out.lines += model.lines
    out.line()
    out.line()
    input_shape = tuple(int(d) for d in analysis.layers[0].shape)
    output = analysis.output
    output_units = int(output.shape[-1]) if output.shape else 1
    out.line(f"INPUT_SHAPE = {input_shape!r}")
    out.line(f"OUTPUT_UNITS = {output_units!r}")
    out.line("TRAIN_DEFAULTS = {")
    for key in sorted(analysis.train):
        out.line(f"    {key!r}: {_python_dict(analysis.train[key])},")
    out.line("}")
    out.line()
    out.block(fingerprint_source(network_fingerprint(analysis)))
    out.line()
    out.line()
    out.line("# ---- training runtime: shapelang/runtime.py, copied verbatim " + "-" * 28)
    out.block(runtime_body)
    out.line()
    out.line()
    out.block(f'''
def main(argv=None):
    return run_main(argv, build_model=build_model, model_name={network.name!r},
                    input_shape=INPUT_SHAPE, output_units=OUTPUT_UNITS, defaults=TRAIN_DEFAULTS,
                    fingerprint=NETWORK_FINGERPRINT)


if __name__ == "__main__":
    sys.exit(main())
''')
    return out.source()


def _write_model(analysis, emission, parametric, inline):
    """build_model and, unless `inline`, one helper function per block it uses."""
    writer = _ProgramWriter(analysis, emission, parametric, inline)
    model = _Emitter(level=0)
    writer.build_model(model)
    functions, done = [], set()
    while len(done) < len(writer.blocks_needed):
        for name, block in list(writer.blocks_needed.items()):
            if name not in done:
                done.add(name)
                function = _Emitter(level=0)
                writer.block_function(block, function)
                functions.append(function)
    return writer, model, functions


def _check_unique_names_in(analysis: Analysis):
    seen = {}
    for r in analysis.layers:
        for spec in REGISTRY[r.op].keras(r.args, _in_shapes(analysis, r), r.shape, None):
            name = r.name + spec.name_suffix
            if name in seen:
                raise error(
                    "SL552", f"two Keras layers would be named `{name}`", r.layer.span,
                    f"rename the label `{name}` (a padding layer of line "
                    f"{seen[name].layer.span.line} takes that name)")
            seen[name] = r


_THIRD_PARTY = {"keras", "numpy", "tensorflow"}


def _import_sections(imports: set[str]) -> list[list[str]]:
    """Standard library, then third party; in each `import` lines before `from` lines, sorted
    by module (isort's and ruff's order)."""
    def module(line):
        return line.split()[1]

    def order(line):
        return (line.startswith("from "), module(line).lower())

    third = {i for i in imports if module(i).split(".")[0] in _THIRD_PARTY}
    return [sorted(imports - third, key=order), sorted(third, key=order)]


def _python_dict(values) -> str:
    # repr() of plain str / int / float / bool / list / dict values: sorted for determinism.
    def plain(v):
        if isinstance(v, dict):
            return {k: plain(v[k]) for k in sorted(v)}
        if isinstance(v, list):
            return [plain(i) for i in v]
        assert isinstance(v, (str, int, float, bool)), v
        return v

    return repr(plain(values))


_RUNTIME_PATH = Path(__file__).resolve().parent.parent / "runtime.py"


def _runtime_parts() -> tuple[list[str], str]:
    """runtime.py split into its top-level imports (hoisted to the program's head, where ruff
    wants them) and the rest; its module docstring becomes a comment."""
    text = _RUNTIME_PATH.read_text(encoding="utf-8")
    lines = text.splitlines()
    imports, body = [], []
    in_docstring, docstring_done = False, False
    for line in lines:
        if not docstring_done and (in_docstring or line.startswith('"""')):
            stripped = line
            if not in_docstring:
                stripped, in_docstring = line[3:], True
            closing = stripped.endswith('"""')
            stripped = stripped[:-3] if closing else stripped
            body.append(("# " + stripped).rstrip())
            if closing:
                in_docstring, docstring_done = False, True
            continue
        if line.startswith(("import ", "from ")) and not line.startswith("from __future__"):
            imports.append(line)
        else:
            body.append(line)
    return imports, "\n".join(body).strip("\n")


# ---- using the generated program in this process --------------------------------------------
def load_generated_module(analysis: Analysis):
    """Write the program to a temporary file and import it as a module — the very program
    `shapelang keras` writes, so that what trains is what was analysed."""
    source = emit_keras(analysis)
    directory = Path(tempfile.mkdtemp(prefix="shapelang-"))
    path = directory / f"{analysis.network.name}_keras.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"shapelang_generated_{analysis.network.name}",
                                                  path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build_keras_model(analysis: Analysis):
    return load_generated_module(analysis).build_model()


def train_from_analysis(analysis: Analysis, argv: list[str]) -> int:
    return load_generated_module(analysis).main(["train", *argv])


__all__ = [
    "build_keras_model",
    "emit_keras",
    "train_from_analysis",
]
