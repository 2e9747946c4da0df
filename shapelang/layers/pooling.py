"""`maxpool` and `avgpool` — pooling windows over the spatial axes; channels are kept.

    maxpool k=3 s=2                   # 55×55×96 → 27×27×96
    avgpool                           # k=2, s=k: halves each spatial axis
    maxpool k=3 s=2 pad=same

The stride defaults to the kernel (Keras's `strides=None`). No parameters; MACs are 0
(a comparison or an addition is no multiply-accumulate).
"""
import sympy

from .base import IntegerOrTuple, LayerKind, Opt, Padding
from .window import window


class _Pooling(LayerKind):
    options = (
        Opt("kernel", IntegerOrTuple(1), sympy.Integer(2), short="k", aliases=("pool_size",)),
        Opt("stride", IntegerOrTuple(1), None, short="s", doc="defaults to the kernel",
            aliases=("strides",)),
        Opt("padding", Padding(), "valid", short="pad"),
    )

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        stride = a.kernel if a.stride is None else a.stride
        sizes, a.geometry = window(a, shape, a.kernel, stride, sympy.Integer(1), a.padding, ctx)
        return sizes + (shape[-1],)


class MaxPool(_Pooling):
    op = "maxpool"
    doc = __doc__


class AvgPool(_Pooling):
    op = "avgpool"
    doc = __doc__
