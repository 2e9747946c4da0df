"""Notebooks and the Python API: an analysis as HTML and Markdown (every layer, the diagnostics
under the table), `to_dict()` (the JSON contract, as `table --format json` prints it),
`to_dataframe()`, the short repr, and `ShapelangError`'s text (every diagnostic with its
source line and hint).

The truths are outside the code under test: published parameter counts (Keras's AlexNet and
ResNet-50), Python's own `html.parser`, the `table --format json` command's output, and the
`.net` file's own lines."""
import json
from html.parser import HTMLParser

import pytest
from conftest import EXAMPLES

import shapelang
from shapelang.diagnostics import ERROR, source_lines

ALEXNET = EXAMPLES / "alexnet.net"
RESNET50 = EXAMPLES / "resnet50.net"
RESNET50_PARAMS = 25_636_712  # keras.applications.ResNet50().count_params()
ALEXNET_PARAMS = 62_378_344  # the AlexNet of the seed article, as Keras counts it
VOID = {"br", "hr", "img", "input", "meta", "link", "col", "wbr"}


class TableReader(HTMLParser):
    """Checks that every tag closes in order, and collects each table row's cell texts and
    the texts of `<pre>` elements."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.rows: list[list[str]] = []
        self.pres: list[str] = []
        self.problems: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag in VOID:
            return
        self.open.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
        elif tag == "pre":
            self.pres.append("")

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
            return
        self.open.pop()

    def handle_data(self, data):
        if self.open and self.open[-1] in ("td", "th"):
            self.rows[-1][-1] += data
        elif self.open and self.open[-1] == "pre":
            self.pres[-1] += data


def read_html(text: str) -> TableReader:
    reader = TableReader()
    reader.feed(text)
    reader.close()
    assert reader.problems == [] and reader.open == [], (reader.problems, reader.open)
    return reader


# ---- _repr_html_ ----------------------------------------------------------------------------
def test_resnet50_html_is_valid_and_has_every_layer():
    result = shapelang.load(RESNET50).analyse()
    reader = read_html(result._repr_html_())
    header, *layers, total = reader.rows
    assert header[:3] == ["#", "layer", "op"] and "#params" in header
    names = [layer.name for layer in result.layers]
    assert len(names) == 177 and [row[1] for row in layers] == names
    assert [int(row[0]) for row in layers] == list(range(177))
    params = header.index("#params")
    assert total[1] == "total" and total[params] == f"{RESNET50_PARAMS:,}"
    assert sum(int(row[params].replace(",", "")) for row in layers) == RESNET50_PARAMS
    shape = header.index("activation shape")
    assert layers[-1][shape] == "[1000]"  # 1000 classes, softmax


def test_html_shows_the_diagnostics_under_the_table_as_check_does():
    result = shapelang.load(ALEXNET).analyse(H=270, W=480, classes=29)
    html = result._repr_html_()
    reader = read_html(html)
    assert html.index("</table>") < html.index("<pre")
    lines = source_lines(ALEXNET.read_text())
    assert len(reader.pres) == len(result.diagnostics) > 0
    for pre, d in zip(reader.pres, result.diagnostics):
        assert f"{d.severity}[{d.code}]" in pre
        assert lines[d.span.line - 1].strip() in pre and f"hint: {d.hint}" in pre


def test_html_escapes_what_comes_from_the_file():
    path = '<script>alert("x")</script>.net'
    result = shapelang.loads("network n:\n    input [8, 8, 1]\n    conv 2 k=3 s=2\n"
                             "    expect params == 1\n", path).analyse()
    html = result._repr_html_()
    assert "<script" not in html and "&lt;script&gt;" in html
    reader = read_html(html)
    assert reader.tags <= {"style", "div", "p", "b", "table", "thead", "tbody", "tr", "th", "td",
                           "pre", "small"}
    assert any(pre.startswith(path) for pre in reader.pres)


def test_html_of_a_network_without_shapes_shows_its_errors():
    result = shapelang.load(EXAMPLES / "bad" / "dense_on_tensor.net").analyse()
    reader = read_html(result._repr_html_())
    assert [d.code for d in result.errors] == ["SL301"]
    assert any("error[SL301]" in pre for pre in reader.pres)


def test_symbolic_html_has_the_legend():
    result = shapelang.load(EXAMPLES / "alexnet_symbolic.net").analyse()
    reader = read_html(result._repr_html_())
    legend = next(pre for pre in reader.pres if pre.startswith("h1 = "))
    assert "h1 = floor((H - 11)/4) + 1" in legend.splitlines()


# ---- _repr_markdown_ ------------------------------------------------------------------------
def test_markdown_has_every_layer_then_every_diagnostic(run_cli):
    result = shapelang.load(ALEXNET).analyse(H=270, W=480, classes=29)
    markdown = result._repr_markdown_()
    _, table, _ = run_cli("table", ALEXNET, "--set", "H=270", "--set", "W=480", "--set",
                          "classes=29", "--format", "markdown")
    assert markdown.startswith(table.rstrip("\n"))
    items = markdown[len(table):].strip().splitlines()
    assert len(items) == len(result.diagnostics)
    for item, d in zip(items, result.diagnostics):
        assert item.startswith(f"- **{d.severity}[{d.code}]** line {d.span.line},")


# ---- to_dict ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["alexnet", "alexnet_symbolic", "resnet50", "mobilenetv2",
                                  "same_padding"])
def test_to_dict_is_table_json_and_round_trips(name, run_cli):
    document = shapelang.load(EXAMPLES / f"{name}.net").analyse().to_dict()
    assert json.loads(json.dumps(document)) == document
    _, out, _ = run_cli("table", EXAMPLES / f"{name}.net", "--format", "json")
    assert document == json.loads(out)


def test_to_dict_totals_are_the_published_counts():
    assert shapelang.load(RESNET50).analyse().to_dict()["total"]["params"] == RESNET50_PARAMS
    assert shapelang.load(ALEXNET).analyse().to_dict()["total"]["params"] == ALEXNET_PARAMS


# ---- to_dataframe ---------------------------------------------------------------------------
def test_to_dataframe_has_a_row_per_layer():
    pandas = pytest.importorskip("pandas", reason="pandas comes with the notebook extra")
    result = shapelang.load(RESNET50).analyse()
    frame = result.to_dataframe()
    assert isinstance(frame, pandas.DataFrame) and len(frame) == 177
    assert int(frame["params"].sum()) == RESNET50_PARAMS
    assert list(frame["name"]) == [layer.name for layer in result.layers]
    assert frame.loc[0, "op"] == "input" and tuple(frame.loc[176, "shape"]) == (1000,)
    by_name = frame.set_index("name")
    assert int(by_name.loc["predictions", "params"]) == 2048 * 1000 + 1000


def test_to_dataframe_without_pandas_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match=r"shapelang\[notebook\]"):
        shapelang.load(ALEXNET).analyse().to_dataframe()


# ---- repr ---------------------------------------------------------------------------------
def test_short_repr():
    assert repr(shapelang.load(ALEXNET).analyse()) == (
        f"<Analysis alexnet: 18 layers, {ALEXNET_PARAMS:,} params>")
    at_270 = shapelang.load(ALEXNET).analyse(H=270, W=480, classes=29)
    assert repr(at_270) == ("<Analysis alexnet: 18 layers, 116,071,837 params, 2 errors, "
                            f"{len(at_270.warnings)} warning{'s' * (len(at_270.warnings) != 1)}>")
    symbolic = repr(shapelang.load(EXAMPLES / "alexnet_symbolic.net").analyse())
    assert symbolic == "<Analysis alexnet_symbolic: 18 layers, params a closed form in H, W>"


# ---- ShapelangError -------------------------------------------------------------------------
BAD = sorted((EXAMPLES / "bad").glob("*.net"))


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_error_text_shows_every_diagnostic_with_its_line_and_hint(path):
    lines = source_lines(path.read_text(encoding="utf-8"))
    try:
        result = shapelang.load(path).analyse()
    except shapelang.ShapelangError as exc:  # a syntax error
        raised = exc
    else:
        if result.ok:  # the file's point is a warning: nothing to raise
            assert result.raise_for_errors() is result and result.warnings
            return
        with pytest.raises(shapelang.ShapelangError) as caught:
            result.raise_for_errors()
        raised = caught.value
        assert raised.diagnostics == result.errors
    text = str(raised)
    assert raised.diagnostics and all(d.severity == ERROR for d in raised.diagnostics)
    for d in raised.diagnostics:
        assert f"{d.span.file}:{d.span.line}:{d.span.col}: error[{d.code}]" in text
        line = lines[d.span.line - 1] if 0 < d.span.line <= len(lines) else ""
        # a line longer than a terminal is shown cut around the caret
        assert (line.strip() if len(line) <= 160 else line[d.span.col - 1:d.span.col + 59]) in text
        if d.hint:
            assert f"hint: {d.hint}" in text
    position = [text.index(f":{d.span.line}:{d.span.col}: error[{d.code}]")
                for d in raised.diagnostics]
    assert position == sorted(position)
