"""`globalavgpool` and `globalmaxpool` — one value per channel over all spatial axes.

    globalavgpool                     # 7×7×2048 → [2048]
    globalmaxpool                     # 7×7×8 → [8]
    globalavgpool keepdims=true       # 7×7×8 → [1, 1, 8]

No parameters; MACs 0.
"""
from ..diagnostics import error
from .base import Boolean, LayerKind, Opt


class _GlobalPooling(LayerKind):
    options = (Opt("keepdims", Boolean(), False, doc="keep the spatial axes, each of size 1"),)

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        if len(shape) < 2:
            raise error("SL304", f"`{self.op}` needs spatial axes, got the vector {list(shape)}",
                        a.layer.span, "it is already one value per channel: drop this layer")
        if a.keepdims:
            return (1,) * (len(shape) - 1) + (shape[-1],)
        return (shape[-1],)


class GlobalAvgPool(_GlobalPooling):
    op = "globalavgpool"
    doc = __doc__


class GlobalMaxPool(_GlobalPooling):
    op = "globalmaxpool"
    doc = __doc__
