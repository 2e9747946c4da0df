"""The sliding-window arithmetic shared by convolutions and pooling (channels last).

Along one axis, input n, kernel k, stride s, dilation d, k_eff = d·(k − 1) + 1:
- `valid`:      floor((n − k_eff)/s) + 1, needs n ≥ k_eff;
- explicit P:   floor((n + 2P − k_eff)/s) + 1, needs n + 2P ≥ k_eff;
- `same`:       ceil(n/s) (TensorFlow / Keras); the padding that achieves it totals
                max((ceil(n/s) − 1)·s + k_eff − n, 0), split (⌊t/2⌋, ⌈t/2⌉), the extra row
                after, as TensorFlow does.
The last window ends (n + pad_total − k_eff) mod s positions before the padded input's end;
less the padding after the input, those are input rows no window reads (`rows_unread`). With
`valid` and `same` that is the whole remainder (TensorFlow's `same` pads nothing when the kernel
is smaller than the stride: a 1×1 stride-2 window on 8 rows never reads row 7); with an
explicit P an unread position may be padding.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy

from ..diagnostics import error
from .base import Args, IntegerOrTuple, Opt, Padding, per_axis

AXIS_NAMES = {1: ("steps",), 2: ("rows", "columns"), 3: ("planes", "rows", "columns")}
#: Strides up to this have their exact input sizes solved (a residue set per stride).
MAX_STRIDE_SOLVED = 4096


@dataclass(frozen=True)
class WindowGeometry:
    """A sliding window as applied, per spatial axis: the kernel, stride and dilation, and the
    padding (before, after). `mode` is how the line asked for the padding: `valid`, `same` or
    `explicit`. Part of a windowed layer's result, read by the counts, reports and backends."""

    kernel: tuple
    stride: tuple
    dilation: tuple
    pads: tuple  # ((before, after), …)
    mode: str

    @property
    def effective_kernel(self) -> tuple:
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))


def same_padding_by_residue(k_eff: int, s: int) -> list[tuple[int, int]]:
    """TensorFlow's `same` padding (before, after) of an input of size n = q·s + r, for each
    residue r of n mod s (n at least the window): t = max(k − s, 0) for r = 0, else
    max(k − r, 0), the extra row after."""
    found = []
    for residue in range(s):
        total = max(k_eff - s, 0) if residue == 0 else max(k_eff - residue, 0)
        found.append((total // 2, total - total // 2))
    return found


def spatial_rank(a: Args, shape, op: str) -> int:
    rank = len(shape) - 1
    if rank not in AXIS_NAMES:
        raise error("SL304", f"`{op}` needs an input with 1 to 3 spatial axes and channels "
                    f"last, got {list(shape)}", a.layer.span,
                    "a vector has no spatial axes: use `dense`, or `reshape` it first")
    return rank


def window(a: Args, shape, kernel, stride, dilation, padding, ctx):
    """Output spatial sizes, and the window's geometry (with the (before, after) padding of
    every spatial axis)."""
    rank = spatial_rank(a, shape, a.layer.op)
    kernel = per_axis(kernel, rank, a.span("kernel"), "kernel")
    stride = per_axis(stride, rank, a.span("stride"), "stride")
    dilation = per_axis(dilation, rank, a.span("dilation"), "dilation")
    explicit = None if padding in ("valid", "same") else per_axis(padding, rank,
                                                                  a.span("padding"), "padding")
    sizes, pads = [], []
    for axis, (n, k, s, d) in enumerate(zip(shape[:-1], kernel, stride, dilation)):
        what = AXIS_NAMES[rank][axis]
        k_eff = d * (k - 1) + 1
        if padding == "same":
            out = sympy.ceiling(n / s)
            total = sympy.Max((out - 1) * s + k_eff - n, 0)
            before = sympy.floor(total / 2)
            pad = (before, total - before)
            if s == 1 and total.is_number and total % 2 == 1:
                ctx.note("SL306", f"`pad=same` with an even kernel ({k_eff} {what}) pads "
                         f"asymmetrically: {pad[0]} before, {pad[1]} after",
                         a.span("kernel"),
                         "Keras and TensorFlow put the extra row after; an odd kernel pads "
                         "symmetrically")
        else:
            p = explicit[axis] if explicit else sympy.Integer(0)
            pad = (p, p)
            total = 2 * p
            ctx.require_at_least(n + total, k_eff, what, a.layer,
                                 f"the {k_eff}-wide window" + (f" with padding {p}" if p else ""))
            out = sympy.floor((n + total - k_eff) / s) + 1
        mode = "same" if padding == "same" else pad[0]
        numbers = k_eff.is_number and s.is_number and (mode == "same" or mode.is_number)
        exact = (exact_residues(int(k_eff), int(s), mode)
                 if numbers and s <= MAX_STRIDE_SOLVED else None)
        unread = (rows_unread(int(n), int(k_eff), int(s), mode)
                  if numbers and n.is_number else None)
        ctx.stride_remainder(n + total - k_eff, s, what, a.layer, n, exact, unread, k_eff, total)
        sizes.append(out)
        pads.append(pad)
    mode = padding if padding in ("valid", "same") else "explicit"
    return tuple(sizes), WindowGeometry(kernel, stride, dilation, tuple(pads), mode)


def rows_unread(n: int, k_eff: int, s: int, padding) -> int:
    """How many input rows lie after the last row any window reads; `padding` is "same" or
    the explicit P on each side (0 for `valid`)."""
    if padding == "same":
        out = -(-n // s)
        total = max((out - 1) * s + k_eff - n, 0)
        after = total - total // 2
    else:
        total, after = 2 * int(padding), int(padding)
    return max((n + total - k_eff) % s - after, 0)


def exact_residues(k_eff: int, s: int, padding) -> frozenset:
    """The residues of the input size mod s at which no row is left unread (the rule is
    periodic in n with period s once n is large enough for the window)."""
    base = s * (k_eff // s + 2)
    return frozenset(r for r in range(s) if rows_unread(base + r, k_eff, s, padding) == 0)


#: The options every convolution takes: kernel, stride, padding, dilation.
CONVOLUTION_OPTIONS = (
    Opt("kernel", IntegerOrTuple(1), short="k", doc="window size, or (height, width)",
        aliases=("kernel_size",)),
    Opt("stride", IntegerOrTuple(1), sympy.Integer(1), short="s", aliases=("strides",)),
    Opt("padding", Padding(), "valid", short="pad"),
    Opt("dilation", IntegerOrTuple(1), sympy.Integer(1), short="d", aliases=("dilation_rate",)),
)


def as_tuple(value, rank: int) -> tuple:
    """An option given once (the same on every axis) or per axis, as a tuple per axis."""
    return value if isinstance(value, tuple) else (value,) * rank


def paddings_reading_every_row(current, rank: int, unread):
    """For a layer whose strides leave rows unread along the axes of `unread` (its stride
    remainders): `pad=same` (unless it is that already) and the least explicit padding per
    axis under which its windows reach the last rows, as (text, padding) pairs."""
    if current is None or any(not r.size.is_number or not r.window.is_number for r in unread):
        return []
    found = []
    if current != "same":
        found.append(("pad=same", "same"))
    names = AXIS_NAMES.get(rank, ())
    pads = [0] * rank
    if current not in ("valid", "same"):
        pads = [int(p) for p in (current if isinstance(current, tuple) else (current,) * rank)]
    for r in unread:
        axis = names.index(r.axis)
        n, k, s = int(r.size), int(r.window), int(r.stride)
        least = next((p for p in range(min(s, 1024)) if rows_unread(n, k, s, p) == 0), None)
        if least is None:
            return found
        pads[axis] = least
    explicit = pads[0] if len(set(pads)) == 1 else tuple(pads)
    shown = f"pad={explicit}" if isinstance(explicit, int) else f"pad=({', '.join(map(str, pads))})"
    if explicit != current and shown != "pad=0":
        found.append((shown, sympy.Integer(explicit) if isinstance(explicit, int)
                      else tuple(sympy.Integer(p) for p in explicit)))
    return found
