"""The Keras program emitter: an `Analysis` in, one Python module out.

This module writes the model body: `build_model(**params)` (the functional API, one line per
layer with a `# file.net:LINE` comment above it), one helper function per block and the custom
layers they need; `frame.py` puts it in a program (the hash line, docstring, imports,
`TRAIN_DEFAULTS`, the fingerprint, and a `main()` that imports the training runtime, for
`python model.py summary` and `python model.py train …`).

What the program does is planned op by op in `program.py` and checked there against the
analysis (every Keras layer's name, class, arguments and inputs) before a line is written.
Safety, as jinja does it: every value, name and word is written by `pywriter` with `repr()`,
every comment and docstring is escaped by it, and every identifier comes from a `Namespace`
that reserves Python's keywords and builtins, the program's imports and own names, and renames
the user's names where they would collide — no text of the `.net` file is ever code.
"""
from __future__ import annotations

from ..analysis import Analysis
from ..fingerprint import network_fingerprint
from ..solve import pretty
from ..version import __version__
from . import frame
from .names import module_namespace
from .program import (
    KERAS,
    STRUCTURES,
    AliasOp,
    CallOp,
    FunctionPlan,
    IfOp,
    Index,
    LayerOp,
    LoopOp,
    ModelOp,
    PlanMismatch,
    Program,
    ReturnOp,
    check_writable,
    plan_program,
)
from .pywriter import Emitter, Namespace, literal

#: The imports of the program besides the runtime's, and its own top-level names.
_IMPORTS = {"import sys", "import keras", "from keras import layers", "import math",
            "from fractions import Fraction", "import tensorflow as tf"}
_PROGRAM_NAMES = ("LocalResponseNormalization", "INPUT_SHAPE", "INPUT_SHAPES", "INPUT_DTYPES",
                  "OUTPUT_UNITS",
                  "TRAIN_DEFAULTS", "NETWORK_FINGERPRINT", "build_model", "main")

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
            tf.cast(inputs, "float32"),
            depth_radius=self.depth_radius,
            bias=self.bias,
            alpha=self.alpha,
            beta=self.beta,
        )
        return tf.cast(normalised, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }
'''


# ---- the sequence layers Keras has no class for (seqops), by class name ----------------------
_SEQUENCE_LAYERS = {
    "PositionEmbedding": '''
@keras.saving.register_keras_serializable(package="shapelang")
class PositionEmbedding(layers.Layer):
    """A learned (max_len, D) table of positions; its first T rows are added to a sequence
    (N, T, D)."""

    def __init__(self, max_len, **kwargs):
        super().__init__(**kwargs)
        self.max_len = max_len

    def build(self, input_shape):
        self.position_embeddings = self.add_weight(
            shape=(self.max_len, input_shape[-1]),
            initializer="glorot_uniform",
            name="position_embeddings",
        )

    def call(self, inputs):
        table = keras.ops.cast(self.position_embeddings, inputs.dtype)
        return inputs + table[: keras.ops.shape(inputs)[1]]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_len": self.max_len}
''',
    "ClassToken": '''
@keras.saving.register_keras_serializable(package="shapelang")
class ClassToken(layers.Layer):
    """One learned token, a (1, 1, D) weight, prepended to a sequence: (N, T, D) → (N, T + 1, D),
    as torchvision's ViT `class_token`."""

    def build(self, input_shape):
        self.class_token = self.add_weight(
            shape=(1, 1, input_shape[-1]), initializer="zeros", name="class_token"
        )

    def call(self, inputs):
        shape = keras.ops.shape(inputs)
        token = keras.ops.cast(self.class_token, inputs.dtype)
        token = keras.ops.broadcast_to(token, (shape[0], 1, shape[2]))
        return keras.ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape):
        steps = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], steps, input_shape[2])
''',
    "Take": '''
@keras.saving.register_keras_serializable(package="shapelang")
class Take(layers.Layer):
    """One position `index` along the non-batch axis `axis` (0: the first after the batch
    axis), which disappears."""

    def __init__(self, index, axis, **kwargs):
        super().__init__(**kwargs)
        self.index, self.axis = index, axis

    def call(self, inputs):
        return keras.ops.take(inputs, self.index, axis=self.axis + 1)

    def get_config(self):
        return {**super().get_config(), "index": self.index, "axis": self.axis}
''',
    "Slice": '''
@keras.saving.register_keras_serializable(package="shapelang")
class Slice(layers.Layer):
    """Positions start up to stop (Python's slice) along the non-batch axis `axis`."""

    def __init__(self, start, stop, axis, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop, self.axis = start, stop, axis

    def call(self, inputs):
        return inputs[(slice(None),) * (self.axis + 1) + (slice(self.start, self.stop),)]

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop,
                "axis": self.axis}
''',
    "Mean": '''
@keras.saving.register_keras_serializable(package="shapelang")
class Mean(layers.Layer):
    """The mean over non-batch axes (0: the first after the batch axis)."""

    def __init__(self, axis, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.keepdims = tuple(axis), keepdims

    def call(self, inputs):
        axes = tuple(a + 1 for a in self.axis)
        return keras.ops.mean(inputs, axis=axes, keepdims=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "keepdims": self.keepdims}
''',
    "TiedDense": '''
def _computed_by(tensor, name):
    """The layer called `name` among those that compute the symbolic tensor `tensor`."""
    seen, pending = set(), [tensor]
    while pending:
        history = getattr(pending.pop(), "_keras_history", None)
        if history is None or id(history.operation) in seen:
            continue
        layer = history.operation
        if layer.name == name:
            return layer
        seen.add(id(layer))
        pending.extend(layer._inbound_nodes[history.node_index].input_tensors)
    raise ValueError(f"no layer {name!r} computes the input of this tied layer")


@keras.saving.register_keras_serializable(package="shapelang")
class TiedDense(layers.Layer):
    """A dense layer on the last axis that reuses the (vocab, dim) matrix of the `Embedding`
    layer `tied_to`, transposed (weight tying, GPT-2's head): it owns no weight but its bias,
    so the model counts the matrix once. It finds the embedding among the layers that compute
    its input, when it is called on symbolic tensors."""

    def __init__(self, units, tied_to, use_bias=True, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.tied_to, self.use_bias = units, tied_to, use_bias
        self.activation = keras.activations.get(activation)
        self._matrix = None

    def __call__(self, inputs, *args, **kwargs):
        if self._matrix is None:
            embedding = _computed_by(inputs, self.tied_to)
            self._matrix = lambda: embedding.embeddings  # a reference, not a weight of its own
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape):
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        matrix = keras.ops.cast(self._matrix(), inputs.dtype)
        outputs = keras.ops.matmul(inputs, keras.ops.transpose(matrix))
        if self.bias is not None:
            outputs = outputs + keras.ops.cast(self.bias, outputs.dtype)
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "tied_to": self.tied_to,
            "use_bias": self.use_bias,
            "activation": keras.activations.serialize(self.activation),
        }
''',
}
_PROGRAM_NAMES += (*_SEQUENCE_LAYERS, "_computed_by")


def _module_namespace(network) -> Namespace:
    return module_namespace(network, _IMPORTS, _PROGRAM_NAMES)


# ---- rendering the plan -----------------------------------------------------------------------
def _name_code(parts) -> str:
    """Python for a layer's name: a literal, `name + '.conv_1'` in a block function, with
    `str(i)` for a loop's iteration."""
    pieces = [literal(p) if isinstance(p, str) else
              f"str({p.name})" if isinstance(p, Index) else p.name for p in parts]
    return " + ".join(pieces) or literal("")


def _assignment(targets) -> str:
    return "".join(f"{t} = " for t in targets)


def _render(ops, out: Emitter, path: str, program: Program):
    for op in ops:
        if isinstance(op, LayerOp):
            if op.line is not None:
                out.comment(f"{path}:{op.line}")
            arguments = [f"{key}={value.code}" for key, value in op.kwargs]
            arguments.append(f"name={_name_code(op.name)}")
            if op.cls == "Input":
                out.call(f"{_assignment(op.targets)}keras.Input", arguments)
                continue
            callee = op.cls if op.custom else f"layers.{op.cls}"
            source = f"[{', '.join(op.inputs)}]" if op.merge else op.inputs[0]
            if op.query_value:
                source = ", ".join([op.inputs[0], op.inputs[-1],
                                    *(f"{key}={value.code}" for key, value in op.call_kwargs)])
            out.call(f"{_assignment(op.targets)}{callee}", arguments, f"({source})")
        elif isinstance(op, CallOp):
            out.comment(f"{path}:{op.line}")
            arguments = [op.input, *(f"{variable}={value.code}" for variable, value in op.arguments),
                         f"{op.name_parameter}={_name_code(op.name)}"]
            out.call(f"{_assignment(op.targets)}{op.function}", arguments)
        elif isinstance(op, AliasOp):
            out.line(f"{op.target} = {op.source}")
        elif isinstance(op, LoopOp):
            out.comment(f"{path}:{op.line}")
            out.line(f"for {op.index} in range(1, {op.count.code} + 1):")
            out.level += 1
            _render(op.body, out, path, program)
            out.level -= 1
        elif isinstance(op, IfOp):
            out.comment(f"{path}:{op.line}")
            for header, side in ((f"if {op.condition.code()}:", op.then), ("else:", op.otherwise)):
                if header == "else:" and not side:
                    continue
                out.line(header)
                out.level += 1
                before = len(out.lines)
                _render(side, out, path, program)
                if len(out.lines) == before:
                    out.line("pass")
                out.level -= 1
        elif isinstance(op, ReturnOp):
            out.line(f"return {op.source}")
        elif isinstance(op, ModelOp):
            inputs, outputs = (names[0] if len(names) == 1 else f"[{', '.join(names)}]"
                               for names in (op.inputs, op.outputs))
            out.line(f"return keras.Model({inputs}, {outputs}, "
                     f"name={literal(program.network_name)})")


_RENAMED = "Parameters renamed here (in the file they have a name Python or this program uses):"
_TRAIN_USAGE = ("    python THIS_FILE.py train --data digits|synthetic|FILE.npz|'SHARDS-*.npz'|"
                "IMAGE_DIR [...]")


def _render_function(plan: FunctionPlan, out: Emitter, path: str, program: Program):
    if plan.block is None:
        signature = ", ".join(f"{p.variable}={p.default.code}" for p in plan.parameters)
        out.line(f"def {plan.name}({signature}):")
        out.level += 1
        lines = [f"The network `{program.network_name}` as a functional Keras model."]
        renamed = [p for p in plan.parameters if p.variable != p.source_name]
        if renamed:
            lines += ["", _RENAMED]
            lines += [f"`{p.variable}` is the network's `{p.source_name}`." for p in renamed]
    else:
        parameters = [plan.input, *(p.variable for p in plan.parameters)]
        out.line(f"def {plan.name}({', '.join(parameters)}, *, {plan.name_parameter}):")
        out.level += 1
        lines = [f"Block `{plan.block.name}` ({path}:{plan.block.span.line})."]
    out.docstring(lines)
    _render(plan.body, out, path, program)
    out.level -= 1


def emit_keras(analysis: Analysis, structures=STRUCTURES, *, standalone: bool = False) -> str:
    """The generated program for an analysed, error-free network; `structures`: the plans to
    try (tests ask for one); `standalone`: import the runtime copied beside the program."""
    network = analysis.network
    check_writable(analysis, KERAS)
    try:
        program = plan_program(analysis, lambda: _module_namespace(network), structures)
    except PlanMismatch as exc:
        raise RuntimeError(f"the generated program would not be the analysed network: {exc}") \
            from None
    program.network_name = network.name

    path = network.path
    bound = ", ".join(f"{k}={pretty(v)}" for k, v in analysis.bindings.items())
    total = int(analysis.total("params"))
    docstring = (
        f"{network.name} — a Keras 3 model generated by shapelang {__version__} from {path}.",
        "",
        f"Regenerate it rather than edit it: `shapelang keras {path} -o FILE`.",
        "Every layer's output shape and parameter count is the one that",
        f"`shapelang table {path}` shows; at {bound or 'its defaults'} the model has",
        f"{total:,} parameters.",
        "",
        "    python THIS_FILE.py summary",
        _TRAIN_USAGE,
    )
    imports = {"import keras", "from keras import layers"}
    functions = [program.model, *program.functions]
    sources = {f.name: _source_of(f, path, program) for f in functions}
    text = "\n".join(sources.values())
    if "math." in text:
        imports.add("import math")
    if "Fraction(" in text:
        imports.add("from fractions import Fraction")
    if "LocalResponseNormalization" in program.custom:
        imports.add("import tensorflow as tf")
    body = []
    if "LocalResponseNormalization" in program.custom:
        body.append(_LRN_LAYER.strip("\n"))
    body += [_SEQUENCE_LAYERS[name].strip("\n") for name in sorted(program.custom)
             if name in _SEQUENCE_LAYERS]
    body += [sources[f.name] for f in [*program.functions, program.model]]  # helpers first
    return frame.program_source(frame.Frame(
        network_name=network.name,
        docstring=docstring,
        imports=frozenset(imports),
        body="\n\n\n".join(body),
        **frame.io_fields(analysis),
        train=analysis.train,
        fingerprint=network_fingerprint(analysis),
    ), standalone=standalone)


def _source_of(plan: FunctionPlan, path: str, program: Program) -> str:
    out = Emitter()
    _render_function(plan, out, path, program)
    return "\n".join(out.lines)


# ---- using the generated program in this process --------------------------------------------
def load_generated_module(analysis: Analysis):
    """The program `shapelang keras` writes, imported as a module."""
    name = analysis.network.name
    return frame.import_program(emit_keras(analysis), f"{name}_keras.py",
                                f"shapelang_generated_{name}")


def build_keras_model(analysis: Analysis):
    return load_generated_module(analysis).build_model()


def train_from_analysis(analysis: Analysis, argv: list[str]) -> int:
    return load_generated_module(analysis).main(["train", *argv])


__all__ = [
    "build_keras_model",
    "emit_keras",
    "train_from_analysis",
]
