"""`posembed` — a learned position table (MAX_LEN, D) added to a sequence [T, D].

    posembed 1024                     # [T, 768] → [T, 768]: T ≤ 1024; 786,432 parameters
    posembed 197 exact=true           # ViT: the table is added whole, so T == 197

The first T rows of the table are added (GPT-2's learned positions), so T ≤ MAX_LEN; with T
unbound that is an upper bound of the validity domain (`shapelang solve` shows it), and a
bound T above it is an error stating the bound. `exact=true` adds the whole table
(torchvision's ViT): T == MAX_LEN. Parameters MAX_LEN·D; MACs 0.
"""
import sympy

from ..diagnostics import error
from .base import Boolean, Integer, LayerKind, Opt


class PosEmbed(LayerKind):
    op = "posembed"
    doc = __doc__
    positional = (Opt("max_len", Integer(1), aliases=("sequence_length",),
                      doc="the positions the table holds"),)
    options = (Opt("exact", Boolean(), False, doc="the sequence must be exactly max_len long"),)

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        if len(shape) != 2:
            raise error("SL304", f"`posembed` needs a sequence [T, D], got {list(shape)}",
                        a.layer.span, "embed token ids first (`embedding VOCAB DIM`), or "
                        "`reshape` a feature map to [positions, channels]")
        steps = shape[0]
        what = f"the {a.max_len}-row position table"
        if a.exact:
            if steps.is_number and steps != a.max_len:
                raise error("SL321", f"`posembed {a.max_len} exact=true` adds its table whole: "
                            f"the sequence must have exactly {a.max_len} positions, but it has "
                            f"{steps}", a.layer.span,
                            "make the sequence that long, or drop `exact=true` to add the "
                            "table's first rows")
            ctx.require_at_least(steps, a.max_len, "positions", a.layer, what)
        elif steps.is_number and steps > a.max_len:
            raise error("SL321", f"`posembed` holds {a.max_len} positions, but the sequence has "
                        f"{steps}: it needs T ≤ {a.max_len}", a.layer.span,
                        f"shorten the sequence to at most {a.max_len} positions, or give the "
                        "table more rows")
        ctx.require_at_most(steps, a.max_len, "positions", a.layer, what)
        return shape

    def parameters(self, a, shapes, out):
        return (a.max_len * shapes[0][-1], sympy.Integer(0))
