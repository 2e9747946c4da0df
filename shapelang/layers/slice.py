"""`slice` — positions START up to (not including) STOP along a non-batch axis, which stays.

    slice 1                           # [197, 768] → [196, 768]: all but the class token
    slice 0 16                        # [T, D] → [16, D]; valid for T ≥ 16
    slice (-4) (-1) axis=1            # [8, 10, 3] → [8, 3, 3]

START and STOP are Python's (negative from the end, written in parentheses as every
negative positional value is: `slice (-4)`; STOP left out: to the end) and must select at least one position: the conditions on the axis's size are checked — an error
stating them where the size is bound, conditions of the valid domain where it is not (where
Python would quietly return fewer positions). Integer ids stay ids. No parameters; MACs 0.
"""
from ..diagnostics import error
from .base import Integer, LayerKind, Opt, axis_of, require_within, sign_of


def _written(index) -> str:
    """An index as a line writes it: a negative one in parentheses."""
    return f"({index})" if index.is_negative else str(index)


class _Stop(Integer):
    describe = "an integer, or nothing (to the end)"

    def convert(self, value, span, what):
        return None if value is None else super().convert(value, span, what)


class Slice(LayerKind):
    op = "slice"
    doc = __doc__
    moves_elements = True
    positional = (Opt("start", Integer(), doc="the first position kept; negative from the end"),
                  Opt("stop", _Stop(), None, doc="the position after the last one kept"))
    options = (Opt("axis", Integer(), 0, doc="the non-batch axis it slices"),)

    def output_shape(self, a, shapes, ctx):
        (shape,) = shapes
        axis = axis_of(a.axis, len(shape), a.span("axis"), self.op)
        size = shape[axis]
        start, stop = a.start, a.stop
        what = f"`slice {_written(start)}{'' if stop is None else f' {_written(stop)}'}`"
        start_from_end = sign_of(start, a.span("start"), what)
        if stop is None:
            least = -start if start_from_end else start + 1
            require_within(ctx, size, least, None, a.layer, what, f"size ≥ {least}")
            return self._with(shape, axis, -start if start_from_end else size - start)
        stop_from_end = sign_of(stop, a.span("stop"), what)
        if start_from_end == stop_from_end and (stop - start).is_positive is not True:
            raise error("SL320", f"{what} selects no position: STOP must come after START",
                        a.layer.span, "write STOP greater than START")
        if not start_from_end and not stop_from_end:  # [start, stop)
            require_within(ctx, size, stop, None, a.layer, what, f"size ≥ {stop}")
        elif start_from_end and stop_from_end:  # [size + start, size + stop)
            require_within(ctx, size, -start, None, a.layer, what, f"size ≥ {-start}")
        elif not start_from_end:  # [start, size + stop)
            least = start - stop + 1
            require_within(ctx, size, least, None, a.layer, what, f"size ≥ {least}")
            return self._with(shape, axis, size + stop - start)
        else:  # [size + start, stop): size + start ≥ 0, stop ≤ size, size + start < stop
            least, most = max(-start, stop), stop - start - 1
            require_within(ctx, size, least, most, a.layer, what,
                           f"{least} ≤ size ≤ {most}")
            return self._with(shape, axis, stop - start - size)
        return self._with(shape, axis, stop - start)

    @staticmethod
    def _with(shape, axis, length):
        return shape[:axis] + (length,) + shape[axis + 1:]
