"""`clstoken` — prepends one learned token to a sequence: [T, D] → [T + 1, D].

    clstoken                          # [196, 768] → [197, 768]; 768 parameters

torchvision's ViT `class_token` (prepended, read back with `take 0`). Parameters D; MACs 0.
Keras and PyTorch: a layer of the generated program with a (1, 1, D) weight.
"""
import sympy

from ..diagnostics import error
from .base import LayerKind


class ClsToken(LayerKind):
    op = "clstoken"
    doc = __doc__

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        if len(shape) != 2:
            raise error("SL304", f"`clstoken` needs a sequence [T, D], got {list(shape)}",
                        a.layer.span, "`reshape` a feature map to [positions, channels] first")
        return (shape[0] + 1, shape[1])

    def parameters(self, a, shapes, out):
        return (shapes[0][-1], sympy.Integer(0))
