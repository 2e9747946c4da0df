"""The Python API: load a network, analyse it, read the result as plain Python values.

    net = shapelang.load("examples/alexnet.net")
    result = net.analyse(H=270, W=480, classes=29)   # never raises for a problem in the file
    result.ok, result.errors                         # False, the two `expect`s that fail here
    result.total("params")                           # 116071837, an int
    result.layer("conv1").shape                      # (65, 118, 96)

Bound values are `int` (a parameter bound to a non-integer, such as MobileNetV2's alpha, is a
`Fraction`); with parameters left unbound they are sympy expressions in them. The analysis
that shapelang's own modules read (solve, report, codegen) is `result.analysis`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from pathlib import Path

import sympy

from . import ir
from .analysis import Analysis, LayerResult, analyse, parse_binding
from .diagnostics import ERROR, NOTE, WARNING, Diagnostic, DiagnosticError, did_you_mean
from .notebook import (
    analysis_html,
    analysis_markdown,
    error_text,
    reported_diagnostics,
    sources_of,
)
from .parser import parse
from .report import table_document

#: What `Result.total` adds up over the layers.
QUANTITIES = ("params", "trainable", "non_trainable", "macs", "flops", "size")


class ShapelangError(Exception):
    """A `.net` file has errors. Its text shows every diagnostic as `shapelang check` does
    (where, message, source line, caret, hint); `.diagnostics` holds them all."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = list(diagnostics)
        super().__init__(error_text(self.diagnostics, sources or {}))


def plain(value):
    """A sympy number as `int` (or `Fraction` when it is no integer); tuples element by element;
    a closed form in unbound parameters unchanged."""
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, sympy.Integer):
        return int(value)
    if isinstance(value, sympy.Rational):
        return Fraction(int(value.p), int(value.q))
    return value


@dataclass(frozen=True)
class Layer:
    """One layer of the analysed network: a row of `shapelang table`."""

    index: int
    name: str  # the label, or `conv_1`…; inside a block, a path: `conv3.block1.conv_2`
    op: str
    line: int  # of the .net file
    inputs: tuple[str, ...]  # the names of the layers it reads
    shape: tuple  # the output shape, channels last, no batch axis
    size: object  # elements of the output
    params: object
    trainable: object
    non_trainable: object
    macs: object  # multiply-accumulates for one example, bias additions excluded
    padding: tuple | None  # ((before, after), …) per spatial axis, for windowed layers

    @property
    def flops(self):
        return 2 * self.macs

    @classmethod
    def of(cls, r: LayerResult) -> Layer:
        return cls(r.index, r.name, r.op, r.layer.span.line, tuple(r.inputs),
                   plain(tuple(r.shape)), plain(r.size), plain(r.params), plain(r.trainable), plain(r.non_trainable),
                   plain(r.macs), None if r.padding is None else plain(tuple(r.padding)))


class Result:
    """What `Network.analyse` found: every layer's shape and counts, and every diagnostic."""

    def __init__(self, analysis: Analysis):
        self.analysis = analysis
        self.layers: list[Layer] = [Layer.of(r) for r in analysis.layers]
        self._by_name = {layer.name: layer for layer in self.layers}

    @property
    def network(self) -> str:
        return self.analysis.network.name

    @property
    def bindings(self) -> dict:
        """The parameters that have values (defaults or given), by name."""
        return {name: plain(value) for name, value in self.analysis.bindings.items()}

    @property
    def symbols(self) -> dict:
        """The parameters left unbound, as the sympy symbols the closed forms are in."""
        return dict(self.analysis.symbols)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """Every diagnostic `shapelang check` reports without settings: the file's own
        `# shapelang: ignore[…]` comments applied (their problems reported)."""
        return reported_diagnostics(self.analysis)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity in (WARNING, NOTE)]

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    @property
    def complete(self) -> bool:
        """Every layer has a shape; after an error in a layer, the layers before it only."""
        return self.analysis.complete

    @property
    def output(self) -> Layer | None:
        """The network's output layer (its first with several: `outputs`)."""
        outputs = self.outputs
        return outputs[0] if outputs else (self.layers[-1] if self.layers else None)

    @property
    def inputs(self) -> list[Layer]:
        """The network's input layers, in the file's order."""
        return [self._by_name[p] for p in self.analysis.input_paths if p in self._by_name]

    @property
    def outputs(self) -> list[Layer]:
        """The network's output layers, in `output @a @b`'s order (else the last line's)."""
        return [self._by_name[p] for p in self.analysis.output_paths if p in self._by_name]

    def layer(self, name: str) -> Layer:
        """A layer by its name, or by a label of the network's body."""
        name = self.analysis.tensors.get(name, name)
        if name not in self._by_name:
            close = did_you_mean(name, self._by_name) or ""
            raise KeyError(f"no layer `{name}` in `{self.network}` {close}".rstrip())
        return self._by_name[name]

    def total(self, what: str = "params"):
        """The sum over every layer of one of `QUANTITIES`."""
        if what not in QUANTITIES:
            raise ValueError(f"total({what!r}): one of {', '.join(map(repr, QUANTITIES))}")
        return plain(sympy.Integer(0) + sum(getattr(layer, what) for layer in self.layers))

    def memory(self, batch_size: int = 1, optimizer: str | None = None,
               mixed_precision: bool = False) -> dict:
        """Bytes of one training step and of inference at `batch_size` (`shapelang table
        --batch-size`): `parameters gradients optimizer_state activations training
        inference_activations inference`, torchinfo's `torchinfo_params_size` and
        `torchinfo_forward_backward_size`, and what they assume (`batch_size`,
        `activation_dtype`, `optimizer`, `optimizer_slots`). `optimizer` defaults to the
        `train:` block's (else adam); `momentum` is SGD with momentum."""
        from .memory import estimate, optimizer_of

        memory = estimate(self.analysis, batch_size, optimizer_of(dict(self.analysis.train),
                                                                  optimizer), mixed_precision)
        return {key: plain(value) for key, value in memory.as_dict().items()}

    def raise_for_errors(self) -> Result:
        """This result, or `ShapelangError` listing every error."""
        if self.errors:
            raise ShapelangError(self.errors, sources_of(self.analysis))
        return self

    def to_dict(self) -> dict:
        """`shapelang table --format json`'s document: JSON integers when bound, the closed
        form's text when not; `json.dumps` takes it as it is."""
        return table_document(self.analysis)

    def to_dataframe(self):
        """One row per layer (the `Layer` fields, indexed by the layer's index): a
        `pandas.DataFrame` (pandas is imported only here: the `notebook` extra)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_dataframe() needs pandas: pip install 'shapelang[notebook]'"
                              ) from None
        rows = [asdict(layer) for layer in self.layers]
        columns = [f.name for f in fields(Layer)]
        return pandas.DataFrame.from_records(rows, columns=columns).set_index("index")

    def _repr_html_(self) -> str:
        return analysis_html(self.analysis)

    def _repr_markdown_(self) -> str:
        return analysis_markdown(self.analysis)

    def __repr__(self) -> str:
        params = self.total("params")
        params = f"{params:,} params" if isinstance(params, int) else (
            f"params a closed form in {', '.join(self.symbols)}")
        counts = [f"{len(found)} {word}{'' if len(found) == 1 else 's'}"
                  for found, word in ((self.errors, "error"), (self.warnings, "warning"))
                  if found]
        return (f"<Analysis {self.network}: {len(self.layers)} "
                f"layer{'' if len(self.layers) == 1 else 's'}, "
                + ", ".join([params, *counts]) + ">")


def _bindings(values: dict) -> dict:
    """Keyword arguments as exact numbers: an int, a Fraction, a decimal string (`alpha="0.35"`
    is the rational 35/100) or a float, read as the decimal it prints as (never its binary
    value)."""
    exact = {}
    for name, value in values.items():
        if isinstance(value, (str, float)):  # a float as the decimal it prints as: 0.35
            exact[name] = parse_binding(name, value if isinstance(value, str) else repr(value))
        else:
            exact[name] = sympy.Rational(value)
    return exact


class Network:
    """A parsed network: analyse it, or turn it into Keras."""

    def __init__(self, network: ir.Network):
        self.ir = network

    @property
    def name(self) -> str:
        return self.ir.name

    def analyse(self, *, convention: str = "keras", **bindings) -> Result:
        """Shapes, parameters and MACs of every layer, and every diagnostic. Never raises for
        a problem in the network: look at `result.ok` and `result.errors`, or call
        `result.raise_for_errors()`. The one analysis serves the code generator too (the
        layers' values relative to their network or block are derived with it).
        `convention="torch"`: parameters as PyTorch counts them (its RNNs: two bias vectors)."""
        return Result(analyse(self.ir, _bindings(bindings), relative=True,
                              convention=convention))

    def check(self, **bindings) -> list[Diagnostic]:
        """Every diagnostic, errors and warnings."""
        return self.analyse(**bindings).diagnostics

    def keras_source(self, **bindings) -> str:
        """The generated Keras program's text; `ShapelangError` when the network has errors."""
        from .codegen.keras import emit_keras

        analysis = self.analyse(**bindings).raise_for_errors().analysis
        try:
            return emit_keras(analysis)
        except DiagnosticError as exc:
            raise ShapelangError([exc.diagnostic], sources_of(analysis)) from None

    def to_keras(self, **bindings):
        """A `keras.Model` built from the generated program (imports Keras)."""
        from .codegen.keras import build_keras_model

        analysis = self.analyse(**bindings).raise_for_errors().analysis
        try:
            return build_keras_model(analysis)
        except DiagnosticError as exc:
            raise ShapelangError([exc.diagnostic], sources_of(analysis)) from None

    def torch_source(self, *, logits: bool = False, **bindings) -> str:
        """The generated PyTorch program's text (`logits`: without the final softmax);
        `ShapelangError` when the network has errors."""
        from .codegen.torch import emit_torch

        analysis = self.analyse(**bindings).raise_for_errors().analysis
        try:
            return emit_torch(analysis, logits=logits)
        except DiagnosticError as exc:
            raise ShapelangError([exc.diagnostic], sources_of(analysis)) from None

    def to_torch(self, *, logits: bool = False, **bindings):
        """A `torch.nn.Module` built from the generated program (imports PyTorch): input
        channels first, `(N, C, H, W)`; with several inputs `forward` takes one argument per
        input in the network's input order and returns a tuple with several outputs."""
        from .codegen.torch import build_torch_model

        analysis = self.analyse(**bindings).raise_for_errors().analysis
        try:
            return build_torch_model(analysis, logits=logits)
        except DiagnosticError as exc:
            raise ShapelangError([exc.diagnostic], sources_of(analysis)) from None

    def __repr__(self) -> str:
        return f"<shapelang.Network {self.name}>"


def loads(text: str, path: str = "<string>") -> Network:
    """Parse `.net` text; `ShapelangError` on a syntax error."""
    try:
        return Network(parse(text, path))
    except DiagnosticError as exc:
        raise ShapelangError([exc.diagnostic], {path: text}) from None


def load(path) -> Network:
    """Read and parse a `.net` file; `ShapelangError` on a syntax error."""
    path = Path(path)
    return loads(path.read_text(encoding="utf-8"), str(path))
