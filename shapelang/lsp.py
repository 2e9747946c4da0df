"""`shapelang lsp`: the language server an editor starts over stdio (pygls, the `lsp` extra).

It carries `editor.Document` over the protocol: diagnostics when a document opens and after
each change (debounced: one analysis for a burst of keystrokes), with the block uses a problem
inside a block comes from as related locations; an inlay hint at the end of every layer line
(`→ [55, 55, 96] · 34,944`); hover; go to definition; completion. Each analysis runs in a
worker thread, so that the server keeps answering while it runs; a result whose document has
changed since is dropped. Positions are converted between the client's code units (UTF-16 by
default) and the parser's characters.
"""
from __future__ import annotations

import asyncio
import logging

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from .diagnostics import ERROR, NOTE, WARNING
from .editor import Document
from .ir import Span
from .version import __version__

#: Seconds without a change before a changed document is analysed again.
DEBOUNCE_SECONDS = 0.15

_SEVERITY = {ERROR: types.DiagnosticSeverity.Error, WARNING: types.DiagnosticSeverity.Warning,
             NOTE: types.DiagnosticSeverity.Information}
_COMPLETION_KIND = {"op": types.CompletionItemKind.Class,
                    "block": types.CompletionItemKind.Module,
                    "option": types.CompletionItemKind.Property,
                    "activation": types.CompletionItemKind.EnumMember,
                    "label": types.CompletionItemKind.Variable,
                    "keyword": types.CompletionItemKind.Keyword}

#: The protocol's diagnostic, which carries a shapelang `Diagnostic`'s code (not a new one).
ProtocolDiagnostic = types.Diagnostic

log = logging.getLogger(__name__)


class ShapelangServer(LanguageServer):
    def __init__(self, debounce: float = DEBOUNCE_SECONDS):
        super().__init__("shapelang", __version__,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.debounce = debounce
        self.analysed: dict[str, Document] = {}  # uri → the last analysed version
        self.pending: dict[str, asyncio.TimerHandle] = {}
        self.versions: dict[str, int] = {}  # uri → the version being analysed or shown

    # ---- positions ----------------------------------------------------------------------
    def _codec(self):
        return self.workspace.position_codec

    def to_range(self, document: Document, span: Span) -> types.Range:
        """A parser span (from 1, characters, end exclusive) as a client range."""
        return types.Range(start=self.to_position(document, span.line, span.col),
                           end=self.to_position(document, span.end_line, span.end_col))

    def to_position(self, document: Document, line: int, col: int) -> types.Position:
        lines = document.lines
        if not 0 < line <= len(lines):
            return types.Position(line=max(line - 1, 0), character=0)
        text = lines[line - 1]
        col = min(max(col, 1), len(text) + 1)
        units = self._codec().client_num_units(text[:col - 1])
        return types.Position(line=line - 1, character=units)

    def from_position(self, document: Document, position: types.Position) -> tuple[int, int]:
        """A client position as the parser's (line, column)."""
        server = self._codec().position_from_client_units(
            document.lines, types.Position(line=position.line, character=position.character))
        return server.line + 1, server.character + 1

    # ---- analysis -----------------------------------------------------------------------
    def schedule(self, uri: str, delay: float):
        if uri in self.pending:
            self.pending.pop(uri).cancel()
        loop = asyncio.get_running_loop()
        self.pending[uri] = loop.call_later(
            delay, lambda: loop.create_task(self.analyse(uri)))

    async def analyse(self, uri: str):
        self.pending.pop(uri, None)
        text_document = self.workspace.get_text_document(uri)
        text, version = text_document.source, text_document.version
        path = to_fs_path(uri) or uri
        previous = self.analysed.get(uri)
        try:
            document = await asyncio.to_thread(Document, text, path, None, previous)
        except Exception:
            log.exception("analysing %s", uri)
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
                uri=uri, version=version, diagnostics=[ProtocolDiagnostic(
                    range=types.Range(start=types.Position(line=0, character=0),
                                      end=types.Position(line=0, character=1)),
                    message="shapelang: internal error (a bug in shapelang, not in your file): "
                    "please report it with the file", source="shapelang",
                    severity=types.DiagnosticSeverity.Error)]))
            return
        if self.workspace.get_text_document(uri).version != version:
            return  # changed while it was analysed: the newer text is scheduled
        self.analysed[uri] = document
        self.publish(uri, version, document)
        if self._can_refresh_hints():
            self.workspace_inlay_hint_refresh(None)

    def _can_refresh_hints(self) -> bool:
        workspace = self.client_capabilities.workspace
        hints = workspace.inlay_hint if workspace is not None else None
        return bool(hints is not None and hints.refresh_support)

    def publish(self, uri: str, version, document: Document):
        found = []
        for item in document.diagnostics():
            d = item.diagnostic
            span = d.span or Span(document.path, 1, 1, 1, 1)
            related = [types.DiagnosticRelatedInformation(
                location=types.Location(uri=uri, range=self.to_range(document, r.span)),
                message=r.message) for r in item.related] or None
            found.append(ProtocolDiagnostic(
                range=self.to_range(document, span), message=item.text,
                severity=_SEVERITY[d.severity], code=d.code, source="shapelang",
                related_information=related))
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, version=version, diagnostics=found))


def build_server(debounce: float = DEBOUNCE_SECONDS) -> ShapelangServer:
    server = ShapelangServer(debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: ShapelangServer, params: types.DidOpenTextDocumentParams):
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: ShapelangServer, params: types.DidChangeTextDocumentParams):
        ls.schedule(params.text_document.uri, ls.debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: ShapelangServer, params: types.DidCloseTextDocumentParams):
        uri = params.text_document.uri
        if uri in ls.pending:
            ls.pending.pop(uri).cancel()
        ls.analysed.pop(uri, None)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri,
                                                                            diagnostics=[]))

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT,
                    types.InlayHintOptions(resolve_provider=False))
    def inlay_hints(ls: ShapelangServer, params: types.InlayHintParams):
        document = ls.analysed.get(params.text_document.uri)
        if document is None:
            return []
        first = params.range.start.line + 1
        last = params.range.end.line + 1
        return [types.InlayHint(position=ls.to_position(document, hint.line, hint.col),
                                label=hint.label, kind=types.InlayHintKind.Type,
                                padding_left=True)
                for hint in document.inlay_hints(first, last)]

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: ShapelangServer, params: types.HoverParams):
        document = ls.analysed.get(params.text_document.uri)
        if document is None:
            return None
        found = document.hover(*ls.from_position(document, params.position))
        if found is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown,
                                                        value=found.markdown),
                           range=ls.to_range(document, found.span))

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: ShapelangServer, params: types.DefinitionParams):
        document = ls.analysed.get(params.text_document.uri)
        if document is None:
            return None
        span = document.definition(*ls.from_position(document, params.position))
        if span is None:
            return None
        return types.Location(uri=params.text_document.uri, range=ls.to_range(document, span))

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=["@", " "]))
    def completion(ls: ShapelangServer, params: types.CompletionParams):
        uri = params.text_document.uri
        text = ls.workspace.get_text_document(uri).source
        # completion reads the text as typed, and the last version that parsed
        current = Document.unanalysed(text, to_fs_path(uri) or uri, ls.analysed.get(uri))
        line, col = ls.from_position(current, params.position)
        items = [types.CompletionItem(
            label=c.label, kind=_COMPLETION_KIND[c.kind], detail=c.detail or None,
            documentation=types.MarkupContent(kind=types.MarkupKind.Markdown,
                                              value=c.documentation) if c.documentation else None,
            insert_text=c.insert) for c in current.completions(line, col)]
        return types.CompletionList(is_incomplete=False, items=items)

    return server


def serve() -> None:
    """Serve one editor over standard input and output until it exits."""
    build_server().start_io()
