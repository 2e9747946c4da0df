"""`batchnorm` — batch normalisation over the channels (the last axis).

    batchnorm
    batchnorm epsilon=1.001e-5 momentum=0.99
    batchnorm scale=false             # no γ: C fewer trainable parameters

Parameters per channel C: γ (if scale) and β (if center) are trainable; the moving mean and
variance (2C) are not. MACs: 0 (at inference it folds into the previous layer).
"""
import sympy

from .base import Boolean, LayerKind, Number, Opt


class BatchNorm(LayerKind):
    op = "batchnorm"
    doc = __doc__
    options = (
        Opt("epsilon", Number(0), sympy.Rational(1, 1000)),
        Opt("momentum", Number(0, 1, high_inclusive=True), sympy.Rational(99, 100)),
        Opt("scale", Boolean(), True),
        Opt("center", Boolean(), True),
    )

    def parameters(self, a, shapes, out):
        channels = shapes[0][-1]
        return (channels * (int(a.scale) + int(a.center)), 2 * channels)
