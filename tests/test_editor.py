"""What the language server shows, without the protocol (`editor.Document`): inlay hints whose
closed forms agree with brute-force window arithmetic, completion by context, definitions by
where the file writes the name, and every file — examples, bad examples, hostile cases —
answered at every name without an exception."""
import re
import time
from pathlib import Path

import pytest
import sympy
from conftest import EXAMPLES, ROOT

from shapelang.editor import Document

HOSTILE = ROOT / "tests" / "hostile"
ALL_FILES = sorted([*EXAMPLES.glob("*.net"), *(EXAMPLES / "bad").glob("*.net"),
                    *HOSTILE.glob("*.net")])
NAME = re.compile(r"@?[A-Za-z_][A-Za-z0-9_]*")


def document(path: Path) -> Document:
    return Document(path.read_bytes().decode("utf-8", "replace"), str(path))


def conv_out(size: int, kernel: int, stride: int) -> int:
    """Rows a valid window reads out of `size`, counted one position at a time."""
    return sum(1 for start in range(0, size, stride) if start + kernel <= size)


def test_symbolic_hint_is_the_closed_form_of_the_window_arithmetic():
    doc = document(EXAMPLES / "alexnet_symbolic.net")
    conv1 = next(i for i, line in enumerate(doc.lines, 1) if line.strip().startswith("conv1:"))
    (hint,) = [h for h in doc.inlay_hints() if h.line == conv1]
    shape, params = re.fullmatch(r"→ \[(.*)\] · (.*)", hint.label).groups()
    assert params == "34,944"  # 11·11·3·96 + 96
    h, w = sympy.symbols("H W", positive=True, integer=True)
    # the hint is shapelang's output, read back here by the test (never by shapelang)
    rows, cols, channels = (sympy.sympify(d, locals={"H": h, "W": w}) for d in shape.split(", "))
    assert channels == 96
    for size in (11, 12, 14, 15, 67, 227, 270, 480):
        assert rows.subs(h, size) == conv_out(size, 11, 4)
        assert cols.subs(w, size) == conv_out(size, 11, 4)


def test_a_block_line_shows_each_use():
    text = ("block pair(f):\n    conv f k=1\n    relu\n\nnetwork n:\n    input [4, 4, 2]\n"
            "    a: pair 3\n    pair 3\n    pair 5\n")
    doc = Document(text, "n.net")
    hints = {h.line: h.label for h in doc.inlay_hints()}
    # a 1×1 conv has C_in·f + f parameters: 2·3 + 3, then 3·3 + 3, then 3·5 + 5
    assert hints[2] == "→ [4, 4, 3] · 9 | [4, 4, 3] · 12 | [4, 4, 5] · 20 (3 uses)"
    assert hints[3] == "→ [4, 4, 3] · 0 | [4, 4, 5] · 0 (3 uses)"  # a value shown once
    assert hints[7] == "→ [4, 4, 3] · 9"  # a block use: its output and its parameters
    assert (hints[8], hints[9]) == ("→ [4, 4, 3] · 12", "→ [4, 4, 5] · 20")
    assert set(hints) == {2, 3, 6, 7, 8, 9}


COMPLETION_CASES = [
    # (text before the cursor on the last line, in, not in)
    ("    ", {"conv", "dense", "relu6", "pair", "repeat", "let"}, {"k=", "f="}),
    ("    x: de", {"dense", "depthwiseconv"}, {"k="}),
    ("    conv 8 ", {"k=", "kernel_size=", "s=", "pad=", "groups=", "bias=", "relu"},
     {"conv", "units="}),
    ("    dense 8 ", {"units=", "bias=", "last_axis=", "softmax"}, {"k="}),
    ("    dropout ", {"rate="}, {"relu"}),
    ("    pair ", {"f="}, {"k="}),
    ("    add @", {"a"}, {"conv"}),
]


@pytest.mark.parametrize(("typed", "present", "absent"), COMPLETION_CASES)
def test_completion_by_context(typed, present, absent):
    text = ("block pair(f):\n    conv f k=1\n\nnetwork n:\n    input [4, 4, 2]\n"
            "    a: pair 3\n")
    previous = Document(text, "n.net")
    typing = Document.unanalysed(text + typed, "n.net", previous)
    line = text.count("\n") + 1
    labels = {c.label for c in typing.completions(line, len(typed) + 1)}
    assert present <= labels and not absent & labels


def test_option_completion_says_type_and_default():
    doc = Document("network n:\n    input [4, 4, 2]\n    conv 8 \n", "n.net")
    items = {c.label: c for c in doc.completions(3, len("    conv 8 ") + 1)}
    assert items["k="].detail == "an integer ≥ 1 or a tuple of them; required"
    assert items["groups="].detail == "an integer ≥ 1; default 1"
    assert items["bias="].detail == "`true` or `false`; default true"


DEFINITION_TEXT = """\
let double(v) = 2 * v
block pair(f):
    conv f k=1
    mid: relu
    add @mid

network n(H = 4):
    input [H, H, 2]
    let width = double(4)
    a: pair width
    b: conv width k=1
    add @a
    expect a == [4, 4, 8]
"""


@pytest.mark.parametrize(("where", "target"), [
    ("add @a", "a: pair"),  # a label
    ("add @mid", "mid: relu"),  # a label inside a block: the block's own
    ("a: pair", "pair(f)"),  # a block use → the block
    ("pair width", "width = double"),  # a `let`
    ("width = double", "double(v)"),  # a file-level function
    ("[H, H", "H = 4"),  # a network parameter
    ("expect a", "a: pair"),  # an expect's subject
])
def test_definition_goes_where_the_file_writes_it(where, target):
    doc = Document(DEFINITION_TEXT, "d.net")
    lines = DEFINITION_TEXT.split("\n")
    line = next(i for i, text in enumerate(lines, 1) if where in text)
    col = lines[line - 1].index(where) + len(where)  # the cursor after the last character
    span = doc.definition(line, col)
    target_line = next(i for i, text in enumerate(lines, 1) if target in text)
    assert (span.line, span.col) == (target_line, lines[target_line - 1].index(target) + 1)


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_file_answers_at_every_name(path):
    started = time.monotonic()
    doc = document(path)
    for item in doc.diagnostics():
        assert item.text
    doc.inlay_hints()
    positions = [(number, match.start() + 1) for number, line in enumerate(doc.lines[:400], 1)
                 for match in NAME.finditer(line[:2000])][:600]
    for line, col in positions:
        doc.hover(line, col)
        doc.definition(line, col)
        doc.completions(line, col)
    assert time.monotonic() - started < 60
