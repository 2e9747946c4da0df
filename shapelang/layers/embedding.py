"""`embedding` — a learned vector per token id: integer ids → one DIM-wide vector each.

    embedding 50257 768               # [1024] ids → [1024, 768], 38,597,376 parameters
    embedding 1000 16                 # [8, 8] ids → [8, 8, 16], as Keras's `Embedding`

It reads token ids: the network's input declared `dtype=int32` (or `int64`), possibly through
`take`, `slice`, `transpose` or `reshape`; a float tensor is an error. Parameters VOCAB·DIM;
MACs 0 (a lookup). Keras: `Embedding`; PyTorch: `nn.Embedding`.
"""
import sympy

from .base import Integer, LayerKind, Opt


class Embedding(LayerKind):
    op = "embedding"
    doc = __doc__
    reads_ids = True
    positional = (Opt("vocab", Integer(1), aliases=("input_dim",),
                      doc="how many token ids (ids are 0 … vocab − 1)"),
                  Opt("dim", Integer(1), aliases=("output_dim",),
                      doc="the width of each token's vector"))

    def output_shape(self, a, shapes, ctx):
        return tuple(shapes[0]) + (a.dim,)

    def parameters(self, a, shapes, out):
        return (a.vocab * a.dim, sympy.Integer(0))
