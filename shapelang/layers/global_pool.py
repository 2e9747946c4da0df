"""`globalavgpool` and `globalmaxpool` — one value per channel over all spatial axes.

    globalavgpool                     # 7×7×2048 → [2048]
    globalmaxpool                     # 7×7×8 → [8]

No parameters; MACs 0.
"""
from ..diagnostics import error
from .base import KerasLayer, LayerKind


class _GlobalPooling(LayerKind):
    keras_name = ""

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        if len(shape) < 2:
            raise error("SL304", f"`{self.op}` needs spatial axes, got the vector {list(shape)}",
                        a.layer.span, "it is already one value per channel: drop this layer")
        return (shape[-1],)

    def keras(self, a, shapes, out, ctx):
        return [KerasLayer(f"{self.keras_name}{len(shapes[0]) - 1}D")]


class GlobalAvgPool(_GlobalPooling):
    op = "globalavgpool"
    doc = __doc__
    keras_name = "GlobalAveragePooling"


class GlobalMaxPool(_GlobalPooling):
    op = "globalmaxpool"
    doc = __doc__
    keras_name = "GlobalMaxPooling"
