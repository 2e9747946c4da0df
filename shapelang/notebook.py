"""An analysis as a notebook shows it: the table as HTML or Markdown, the diagnostics under it.

Everything from the `.net` file (names, messages, source lines) is escaped: a label or a
comment cannot become markup.
"""
from __future__ import annotations

import html

from .analysis import Analysis
from .config import Selection
from .diagnostics import ERROR, Diagnostic, printable, render_text
from .report import CONVENTION, table_cells, table_markdown
from .suppression import reported

_STYLE = ("<style>"
          ".shapelang-table td.num, .shapelang-table th.num {text-align: right}"
          ".shapelang-table tr.total td {font-weight: bold; border-top: 1px solid}"
          ".shapelang-diagnostics pre {margin: 0.3em 0}"
          ".shapelang-error {color: #b00020} .shapelang-warning {color: #8a5a00}"
          "</style>")


def _cell(tag: str, text: str, numeric: bool) -> str:
    css = ' class="num"' if numeric else ""
    return f"<{tag}{css}>{html.escape(printable(text))}</{tag}>"


def _row(cells, numeric, tag="td", css="") -> str:
    attribute = f' class="{css}"' if css else ""
    return (f"<tr{attribute}>" + "".join(_cell(tag, c, i in numeric) for i, c in enumerate(cells))
            + "</tr>")


def sources_of(analysis: Analysis) -> dict[str, str]:
    return {analysis.network.path: analysis.network.source}


def reported_diagnostics(analysis: Analysis) -> list:
    """What `shapelang check` reports without settings: the file's own `# shapelang:
    ignore[…]` comments applied (their problems reported)."""
    network = analysis.network
    return reported(analysis.diagnostics, network.source, network.path, Selection())


def diagnostics_html(diagnostics, sources: dict[str, str]) -> str:
    """Each diagnostic as `check` prints it — where, message, source line, caret, hint."""
    if not diagnostics:
        return ""
    items = "".join(
        f'<pre class="shapelang-{d.severity}">{html.escape(render_text(d, sources))}</pre>'
        for d in diagnostics)
    return f'<div class="shapelang-diagnostics">{items}</div>'


def analysis_html(analysis: Analysis) -> str:
    """The table (every layer, the total, the legend of a symbolic network), then every
    diagnostic in full."""
    parts = [_STYLE, '<div class="shapelang-analysis">']
    if analysis.layers:
        cells = table_cells(analysis)
        parts.append(f"<p><b>{html.escape(printable(cells.heading))}</b></p>")
        parts.append('<table class="shapelang-table"><thead>')
        parts.append(_row(cells.columns, cells.numeric, "th"))
        parts.append("</thead><tbody>")
        parts += [_row(row, cells.numeric) for row in cells.rows]
        parts.append(_row(cells.total, cells.numeric, css="total"))
        parts.append("</tbody></table>")
        if cells.legend:
            lines = "\n".join(cells.legend)
            parts.append(f"<p>where</p><pre>{html.escape(lines)}</pre>")
        parts.append(f"<p><small>{html.escape(CONVENTION)}</small></p>")
    else:
        parts.append(f"<p><b>network {html.escape(printable(analysis.network.name))}</b>: "
                     "no layer has a shape</p>")
    parts.append(diagnostics_html(reported_diagnostics(analysis), sources_of(analysis)))
    parts.append("</div>")
    return "".join(parts)


def analysis_markdown(analysis: Analysis) -> str:
    """The table as `table --format markdown` prints it, then one item per diagnostic."""
    out = [table_markdown(analysis) if analysis.layers else
           f"**network {_md(analysis.network.name)}**: no layer has a shape"]
    diagnostics = reported_diagnostics(analysis)
    if diagnostics:
        out.append("")
    for d in diagnostics:
        where = f" line {d.span.line}, column {d.span.col}" if d.span else ""
        item = f"- **{d.severity}[{d.code}]**{where}: {_md(d.message)}"
        out.append(item + (f" (hint: {_md(d.hint)})" if d.hint else ""))
    return "\n".join(out)


def _md(text: str) -> str:
    """Text of the file inside Markdown: printable, one line, no HTML."""
    return html.escape(printable(text).replace("\n", " "), quote=False)


def error_text(diagnostics: list[Diagnostic], sources: dict[str, str]) -> str:
    """`ShapelangError`'s message: a count, then every diagnostic with its source line and
    hint."""
    errors = sum(d.severity == ERROR for d in diagnostics)
    head = f"{errors} error{'' if errors == 1 else 's'}"
    if len(diagnostics) > errors:
        head += f" and {len(diagnostics) - errors} other diagnostic(s)"
    return head + ":\n\n" + "\n\n".join(render_text(d, sources) for d in diagnostics)
