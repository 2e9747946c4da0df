"""shapelang — a compact language for neural networks, and the tools that read it.

    net = shapelang.load("examples/alexnet.net")
    result = net.analyse(H=270, W=480, classes=29)
    result.total("params")          # 116071837
    model = net.to_keras()          # a keras.Model (Keras is imported only here)
"""
from __future__ import annotations

from pathlib import Path

from . import ir
from .analysis import Analysis, LayerResult, analyse, parse_binding
from .diagnostics import ERROR, Diagnostic, DiagnosticError
from .parser import parse

__version__ = "0.1.0"
__all__ = ["Analysis", "Diagnostic", "LayerResult", "Network", "ShapelangError", "load", "loads"]


class ShapelangError(Exception):
    """A `.net` file has errors; `.diagnostics` holds all of them."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        first = diagnostics[0]
        where = f"{first.span.file}:{first.span.line}:{first.span.col}: " if first.span else ""
        more = f" (and {len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
        super().__init__(f"{where}error[{first.code}]: {first.message}{more}")


def _bindings(values: dict) -> dict:
    return {k: v if not isinstance(v, str) else parse_binding(k, v) for k, v in values.items()}


class Network:
    """A parsed network: analyse it, or turn it into Keras."""

    def __init__(self, network: ir.Network):
        self.ir = network

    @property
    def name(self) -> str:
        return self.ir.name

    def analyse(self, **bindings) -> Analysis:
        """Shapes, parameters and MACs of every layer; raises `ShapelangError` on errors."""
        result = analyse(self.ir, _bindings(bindings))
        errors = [d for d in result.diagnostics if d.severity == ERROR]
        if errors:
            raise ShapelangError(errors)
        return result

    def check(self, **bindings) -> list[Diagnostic]:
        """Every diagnostic, errors and warnings, without raising."""
        return analyse(self.ir, _bindings(bindings)).diagnostics

    def keras_source(self, **bindings) -> str:
        """The generated Keras program's text."""
        from .codegen.keras import emit_keras

        analysis = self.analyse(**bindings)
        try:
            return emit_keras(analysis)
        except DiagnosticError as exc:
            raise ShapelangError([exc.diagnostic]) from None

    def to_keras(self, **bindings):
        """A `keras.Model` built from the generated program (imports Keras)."""
        from .codegen.keras import build_keras_model

        analysis = self.analyse(**bindings)
        try:
            return build_keras_model(analysis)
        except DiagnosticError as exc:
            raise ShapelangError([exc.diagnostic]) from None


def loads(text: str, path: str = "<string>") -> Network:
    try:
        return Network(parse(text, path))
    except DiagnosticError as exc:
        raise ShapelangError([exc.diagnostic]) from None


def load(path) -> Network:
    path = Path(path)
    return loads(path.read_text(encoding="utf-8"), str(path))
