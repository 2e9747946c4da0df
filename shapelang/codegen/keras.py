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

from .. import __version__
from ..analysis import Analysis, analyse
from ..diagnostics import Diagnostic, DiagnosticError, error
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


class CodegenError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def identifier(name: str, what: str, span=None) -> str:
    """`name` if it is a safe Python identifier for the generated module, else SL501."""
    if not _IDENTIFIER.match(name) or keyword.iskeyword(name) or name in _RESERVED:
        raise CodegenError(error("SL550", f"{what} `{name}` cannot be a name in the generated "
                                 "Python program (a Python keyword or a name it uses itself)",
                                 span, "rename it").diagnostic)
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

    def __init__(self):
        self.lines: list[str] = []
        self.level = 0

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
        arguments, depth, current = [], 0, ""
        inner, tail = rest[: rest.rindex(")(")], rest[rest.rindex(")("):]
        for char in inner:
            depth += char in "([{"
            depth -= char in ")]}"
            if char == "," and depth == 0:
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


def _keras_call(spec: KerasLayer, name: str, parameters: set[str], output_dtype=None) -> str:
    kwargs = dict(spec.kwargs)
    if output_dtype:
        kwargs["dtype"] = output_dtype
    parts = [f"{key}={_python(value, parameters)}" for key, value in kwargs.items()]
    parts.append(f"name={name!r}")
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
        try:
            for r in symbolic.layers:
                for spec in REGISTRY[r.op].keras(r.args, _in_shapes(symbolic, r), r.shape, None):
                    for value in spec.kwargs.values():
                        _python(value, set(symbolic.symbols))
            return symbolic, True
        except TypeError:
            pass
    return analysis, False


def _in_shapes(analysis: Analysis, result):
    return [analysis.by_name(name).shape for name in result.inputs]


def emit_keras(analysis: Analysis) -> str:
    """The generated program for an analysed, error-free network."""
    network = analysis.network
    if analysis.symbols:
        names = ", ".join(analysis.symbols)
        raise CodegenError(error(
            "SL551", f"{names} {'has' if len(analysis.symbols) == 1 else 'have'} no value: a "
            "program needs every size", network.span,
            f"give a default in the network's header or bind it with --set {next(iter(analysis.symbols))}=…"
        ).diagnostic)
    for p in network.parameters:
        identifier(p.name, "parameter", p.span)
    source_analysis, parametric = _emission_analysis(analysis)
    parameters = set(source_analysis.symbols) if parametric else set()
    specs = []
    for r in source_analysis.layers:
        calls = REGISTRY[r.op].keras(r.args, _in_shapes(source_analysis, r), r.shape, None)
        specs.append((r, calls))
    code = [(r, [(_layer_name(r.name, spec), spec) for spec in calls]) for r, calls in specs]
    _check_unique_names(code)
    uses = {spec.cls for _, calls in specs for spec in calls}
    custom = {spec.custom for _, calls in specs for spec in calls if spec.custom}
    body_code = []
    output = analysis.output
    for index, (r, calls) in enumerate(code):
        for name, spec in calls:
            dtype = None
            last = index == len(code) - 1 and spec is calls[-1][1]
            if last and spec.kwargs.get("activation") == "softmax" or (
                    last and spec.cls == "Activation"):
                dtype = "float32"  # keeps the output in float32 under mixed precision
            body_code.append((r, name, spec, _keras_call(spec, name, parameters, dtype)))
    text = "\n".join(c for *_, c in body_code)
    needs_math = "math." in text
    needs_fraction = "Fraction(" in text

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
    imports |= {"import tensorflow as tf"} if custom else set()
    out.block("\n\n".join("\n".join(section) for section in _import_sections(imports)))
    if "LocalResponseNormalization" in custom:
        out.line()
        out.line()
        out.block(_LRN_LAYER)
    out.line()
    out.line()
    signature = ", ".join(f"{p.name}={_python(analysis.bindings[p.name], set())}"
                          for p in network.parameters) if parametric else ""
    out.line(f"def build_model({signature}):")
    out.level += 1
    out.line(f'"""The network `{network.name}` as a functional Keras model."""')
    previous_line = None
    for r, name, spec, call in body_code:
        if r.layer.span.line != previous_line:
            out.line(f"# {path}:{r.layer.span.line}")
            previous_line = r.layer.span.line
        if spec.cls == "Input":
            out.line(f"inputs = x = keras.Input(shape={_python(spec.kwargs['shape'], parameters)}"
                     f", name={name!r})")
        else:
            out.wrapped(f"x = {call}(x)")
    out.line(f"return keras.Model(inputs, x, name={network.name!r})")
    out.level -= 1
    out.line()
    out.line()
    input_shape = tuple(int(d) for d in analysis.layers[0].shape)
    output_units = int(output.shape[-1]) if output.shape else 1
    out.line(f"INPUT_SHAPE = {input_shape!r}")
    out.line(f"OUTPUT_UNITS = {output_units!r}")
    out.line("TRAIN_DEFAULTS = {")
    for key in sorted(analysis.train):
        out.line(f"    {key!r}: {_python_dict(analysis.train[key])},")
    out.line("}")
    out.line()
    out.line()
    out.line("# ---- training runtime: shapelang/runtime.py, copied verbatim " + "-" * 28)
    out.block(runtime_body)
    out.line()
    out.line()
    out.block(f'''
def main(argv=None):
    return run_main(argv, build_model=build_model, model_name={network.name!r},
                    input_shape=INPUT_SHAPE, output_units=OUTPUT_UNITS, defaults=TRAIN_DEFAULTS)


if __name__ == "__main__":
    sys.exit(main())
''')
    del uses
    return out.source()


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


def _layer_name(name: str, spec: KerasLayer) -> str:
    return name + spec.name_suffix


def _check_unique_names(code):
    seen = {}
    for r, calls in code:
        for name, _ in calls:
            if name in seen:
                raise CodegenError(error(
                    "SL552", f"two Keras layers would be named `{name}`", r.layer.span,
                    f"rename the label `{name}` (a padding layer of line "
                    f"{seen[name].layer.span.line} takes that name)").diagnostic)
            seen[name] = r


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


__all__ = ["CodegenError", "DiagnosticError", "emit_keras", "build_keras_model",
           "train_from_analysis"]
