"""`zeropad` — zeros around the spatial axes.

    zeropad 3                         # 3 on every side: 224×224 → 230×230
    zeropad (1, 2)                    # 1 above and below, 2 left and right
    zeropad ((0, 1), (0, 1))          # asymmetric: (before, after) per axis

No parameters; MACs 0. Keras: `ZeroPadding2D` (1D, 3D too).
"""
from ..diagnostics import error
from ..expr import require_integer, show
from .base import LayerKind, Opt, OptionType
from .window import spatial_rank


class _Pads(OptionType):
    describe = "an integer, a tuple per axis, or a tuple of (before, after) pairs"

    def convert(self, value, span, what):
        if isinstance(value, (tuple, list)):
            return tuple(self.convert(v, span, what) if isinstance(v, (tuple, list))
                         else require_integer(v, span, what, 0) for v in value)
        return require_integer(value, span, what, 0)


class ZeroPad(LayerKind):
    op = "zeropad"
    doc = __doc__
    positional = (Opt("padding", _Pads()),)

    def pads(self, a, rank):
        value = a.padding
        if not isinstance(value, tuple):
            return ((value, value),) * rank
        if len(value) != rank:
            raise error("SL209", f"zeropad has {len(value)} entries for {rank} spatial axes",
                        a.span("padding"), f"give one value, or {rank}")
        pads = []
        for entry in value:
            if isinstance(entry, tuple):
                if len(entry) != 2:
                    raise error("SL209", f"a (before, after) pair has {len(entry)} values: "
                                f"{show(entry)}", a.span("padding"))
                pads.append(entry)
            else:
                pads.append((entry, entry))
        return tuple(pads)

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        rank = spatial_rank(a, shape, self.op)
        pads = self.pads(a, rank)
        a.pads = pads
        return tuple(n + before + after for n, (before, after) in zip(shape[:-1], pads)) + (
            shape[-1],)
