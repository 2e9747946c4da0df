"""`mean` — the mean over non-batch axes.

    mean                              # [T, D] → [D]: the mean over the positions (axis 0)
    mean axis=(0, 1)                  # [H, W, C] → [C]
    mean axis=-1 keepdims=true        # [T, D] → [T, 1]

`axis` is one axis or a tuple of them (negative from the end; 0, the positions of a
sequence, by default); `keepdims=true` keeps them with size 1. A mean over every axis (a
scalar) is refused. No parameters; MACs 0. Keras: `ops.mean` in a layer of the program.
"""
from ..diagnostics import error
from .base import Boolean, IntegerOrTuple, LayerKind, Opt, axis_of


class _Axes(IntegerOrTuple):
    describe = "an axis or a tuple of axes"


class Mean(LayerKind):
    op = "mean"
    doc = __doc__
    options = (Opt("axis", _Axes(minimum=None), 0,
                   doc="the non-batch axis, or a tuple of them, averaged"),
               Opt("keepdims", Boolean(), False, doc="keep the averaged axes with size 1"))

    @staticmethod
    def axes(a, rank: int) -> tuple[int, ...]:
        """The averaged axes, 0 … rank − 1, in order."""
        given = a.axis if isinstance(a.axis, tuple) else (a.axis,)
        axes = sorted({axis_of(axis, rank, a.span("axis"), "mean") for axis in given})
        if len(axes) != len(given):
            raise error("SL209", f"`mean` axis {a.axis} names an axis twice", a.span("axis"))
        return tuple(axes)

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        axes = self.axes(a, len(shape))
        if a.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(shape))
        if len(axes) == len(shape):
            raise error("SL304", f"`mean` over every axis of {list(shape)} leaves a scalar",
                        a.layer.span, "keep an axis, or write `keepdims=true`")
        return tuple(d for i, d in enumerate(shape) if i not in axes)
