"""`lrn` — local response normalisation across channels (AlexNet's), shape unchanged.

    lrn
    lrn radius=5 bias=1 alpha=1e-4 beta=0.75

Defaults are TensorFlow's `tf.nn.local_response_normalization` (depth_radius 5 there; 2 here,
as the seed article's tflearn used). No parameters; MACs 0.
Keras has no LRN layer: the generated program defines `LocalResponseNormalization`, a
serializable layer over `tf.nn.local_response_normalization`.
"""
import sympy

from .base import Integer, LayerKind, Number, Opt


class LRN(LayerKind):
    op = "lrn"
    doc = __doc__
    options = (
        Opt("radius", Integer(0), sympy.Integer(2), aliases=("depth_radius",)),
        Opt("bias", Number(0), sympy.Integer(2)),
        Opt("alpha", Number(0), sympy.Rational(1, 10000)),
        Opt("beta", Number(0), sympy.Rational(3, 4)),
    )
