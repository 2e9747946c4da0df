"""`layernorm` — layer normalisation: each position normalised over its features (the last
axis), then scaled and shifted.

    layernorm                         # [T, D] → [T, D], 2·D parameters
    layernorm eps=1e-6                # ViT's and BERT's epsilon (Keras's default: 1e-3)
    layernorm center=false            # γ only: D parameters
    layernorm axis=(-2, -1)           # over the last two axes: γ and β of shape [T, D]

Each example is normalised over `axis` (non-batch axes, −1 the last; several as a tuple) to
mean 0 and variance 1 (+ epsilon), then multiplied by γ (`scale`) and shifted by β (`center`),
each of the normalised axes' shape, as Keras's `LayerNormalization`. Parameters:
(scale + center) · the product of the normalised axes' sizes, all trainable (no running
statistics: nothing non-trainable). MACs: 0 — the statistics and the affine are elementwise,
not multiply-accumulates of a weight matrix (as `batchnorm`, the activations, and PyTorch's
`FlopCounterMode` count them). Keras: `LayerNormalization`; PyTorch: `nn.LayerNorm`, with the
channels moved last.
"""
import sympy

from ..diagnostics import error
from ..expr import require_integer, show
from .base import Boolean, LayerKind, Number, Opt, OptionType, product


class _Axes(OptionType):
    """An axis, or a tuple of axes, of the tensor without its batch axis."""

    describe = "an axis or a tuple of axes"

    def convert(self, value, span, what):
        values = value if isinstance(value, (tuple, list)) else (value,)
        if not values:
            raise error("SL209", f"{what} must name at least one axis", span)
        return tuple(require_integer(v, span, what) for v in values)


class LayerNorm(LayerKind):
    op = "layernorm"
    doc = __doc__
    options = (
        Opt("epsilon", Number(0), sympy.Rational(1, 1000), short="eps"),
        Opt("axis", _Axes(), (sympy.Integer(-1),), doc="the axes normalised; -1: the last"),
        Opt("scale", Boolean(), True, doc="γ, a factor per normalised element"),
        Opt("center", Boolean(), True, doc="β, an offset per normalised element"),
    )

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        rank = len(shape)
        for axis in a.axis:
            if not -rank <= int(axis) < rank:
                raise error("SL209", f"layernorm axis {axis} is outside a rank-{rank} tensor "
                            f"(axes 0 … {rank - 1}, or −1 … −{rank})", a.span("axis"))
        if len(normalised_axes(a.axis, rank)) != len(a.axis):
            raise error("SL209", f"layernorm axis {show(a.axis)} names an axis twice",
                        a.span("axis"))
        return shape

    def parameters(self, a, shapes, out):
        normalised = product(shapes[0][axis] for axis in normalised_axes(a.axis, len(out)))
        return (normalised * (int(a.scale) + int(a.center)), sympy.Integer(0))


def normalised_axes(axis: tuple, rank: int) -> tuple[int, ...]:
    """The axes normalised, counted from the end (−1 the last) and sorted, as Keras sorts
    them (γ and β have the axes' sizes in this order)."""
    return tuple(sorted({int(a) % rank - rank for a in axis}))
