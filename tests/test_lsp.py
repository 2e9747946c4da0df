"""`shapelang lsp` end to end: a real LSP client (pygls's) starts `python -m shapelang lsp` over
stdio, opens a file, edits it, and receives diagnostics, inlay hints, hovers, definitions and
completions. The expected values come from outside the server: the published AlexNet and
ResNet-50 counts, the file's own text (where a label or block is written), and `shapelang
check`'s diagnostics for the same text."""
import asyncio
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, python_env

import shapelang

try:
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient
except ImportError:  # the lsp extra is not installed: only the command's message is tested
    types = LanguageClient = None
needs_pygls = pytest.mark.skipif(types is None, reason="the lsp extra (pygls) is not installed")

TIMEOUT = 60  # seconds for one answer: the first analysis imports sympy in a fresh process


class Session:
    """A client talking to one server process; diagnostics queued as they are published."""

    def __init__(self):
        self.client = LanguageClient("shapelang-test", "1")
        self.published: asyncio.Queue = asyncio.Queue()
        self.refreshes = 0
        self.versions: list[tuple[str, int]] = []  # every publication's (uri, version)

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params):
            self.versions.append((params.uri, params.version))
            self.published.put_nowait(params)

        @self.client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
        def on_refresh(params):
            self.refreshes += 1

    async def start(self):
        await self.client.start_io(sys.executable, "-m", "shapelang", "lsp", env=python_env())
        capabilities = types.ClientCapabilities(
            workspace=types.WorkspaceClientCapabilities(
                inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True)))
        await asyncio.wait_for(self.client.initialize_async(types.InitializeParams(
            capabilities=capabilities, process_id=None, root_uri=None)), TIMEOUT)
        self.client.initialized(types.InitializedParams())

    async def diagnostics(self, uri: str, version: int) -> list[types.Diagnostic]:
        """The diagnostics published for `uri` at `version` (earlier versions' are skipped)."""
        while True:
            params = await asyncio.wait_for(self.published.get(), TIMEOUT)
            if params.uri == uri and params.version == version:
                return params.diagnostics

    async def hints(self, uri: str, text: str) -> list[types.InlayHint]:
        whole = types.Range(start=types.Position(line=0, character=0),
                            end=types.Position(line=text.count("\n") + 1, character=0))
        return await asyncio.wait_for(self.client.text_document_inlay_hint_async(
            types.InlayHintParams(text_document=identifier(uri), range=whole)), TIMEOUT)

    async def hover(self, uri: str, position: types.Position) -> types.Hover | None:
        return await asyncio.wait_for(self.client.text_document_hover_async(
            types.HoverParams(text_document=identifier(uri), position=position)), TIMEOUT)

    async def definition(self, uri: str, position: types.Position) -> types.Location:
        found = await asyncio.wait_for(self.client.text_document_definition_async(
            types.DefinitionParams(text_document=identifier(uri), position=position)), TIMEOUT)
        return found[0] if isinstance(found, list) else found

    async def completion(self, uri: str, position: types.Position) -> dict:
        found = await asyncio.wait_for(self.client.text_document_completion_async(
            types.CompletionParams(text_document=identifier(uri), position=position)), TIMEOUT)
        return {item.label: item for item in found.items}

    def open(self, uri: str, text: str):
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="shapelang", version=1,
                                                 text=text)))

    def change(self, uri: str, version: int, *changes):
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=list(changes)))

    async def stop(self):
        await asyncio.wait_for(self.client.shutdown_async(None), TIMEOUT)
        self.client.exit(None)
        await asyncio.wait_for(self.client.stop(), TIMEOUT)


def run(coroutine):
    return asyncio.run(coroutine)


def identifier(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


def position_of(text: str, needle: str, offset: int = 0) -> types.Position:
    """Where `needle` is written in `text` (its first occurrence), plus `offset` characters."""
    index = text.index(needle)
    line = text.count("\n", 0, index)
    return types.Position(line=line,
                          character=index - (text.rfind("\n", 0, index) + 1) + offset)


async def _session_on_alexnet(tmp_path: Path):
    text = (EXAMPLES / "alexnet.net").read_text()
    path = tmp_path / "alexnet.net"
    path.write_text(text)
    uri = path.as_uri()
    session = Session()
    await session.start()
    try:
        session.open(uri, text)
        opened = await session.diagnostics(uri, 1)

        # An edit: 270×480 frames, 29 classes (the seed article's), as one incremental change
        # of the parameter line, then a burst of keystrokes that the debounce folds into one.
        header = next(line for line in text.splitlines() if line.startswith("network "))
        edited_header = header.replace("H = 227", "H = 270").replace("W = 227", "W = 480") \
            .replace("classes = 1000", "classes = 29")
        assert edited_header != header
        start = position_of(text, header)
        change = types.TextDocumentContentChangePartial(
            range=types.Range(start=start,
                              end=types.Position(line=start.line, character=len(header))),
            text=edited_header)
        session.change(uri, 2, change)
        edited = text.replace(header, edited_header)
        for version, typed in enumerate(("#", "# x", "# xy"), start=3):  # a comment typed
            session.change(uri, version,
                           types.TextDocumentContentChangeWholeDocument(text=edited + typed))
        edited += "# xy"
        after_edit = await session.diagnostics(uri, 5)

        hints = await session.hints(uri, edited)
        conv1_hover = await session.hover(uri, position_of(edited, "conv1:", 2))
        param_hover = await session.hover(uri, position_of(edited, "H = 270"))
        definition = await session.definition(uri, position_of(edited, "expect conv1", 8))
        options = await session.completion(uri, position_of(edited, "conv1: conv 96 ", 15))
    finally:
        await session.stop()
    return {"opened": opened, "after_edit": after_edit, "hints": hints,
            "conv1_hover": conv1_hover, "param_hover": param_hover, "definition": definition,
            "options": options, "refreshes": session.refreshes, "versions": session.versions,
            "text": text, "edited": edited, "uri": uri}


def test_lsp_without_pygls_says_what_to_install(run_cli, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pygls(name, *args, **kwargs):
        if name.split(".")[0] in ("pygls", "lsprotocol"):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "shapelang.lsp", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_pygls)
    code, out, err = run_cli("lsp")
    assert code == 2 and out == "" and "pip install 'shapelang[lsp]'" in err


@needs_pygls
def test_a_session_on_alexnet(tmp_path):
    found = run(_session_on_alexnet(tmp_path))
    text, edited = found["text"], found["edited"]
    assert list(found["opened"]) == []  # the example is clean at its defaults

    # four changes sent at once, debounced: fewer analyses than changes, the last one shown
    edits = [version for uri, version in found["versions"] if uri == found["uri"]][1:]
    assert edits[-1] == 5 and len(edits) < 4

    # after the edit, what `check` says about the same text, with the same codes and lines
    checked = shapelang.loads(edited, "x.net").analyse().diagnostics
    assert [(d.code, d.range.start.line + 1) for d in found["after_edit"]] == [
        (d.code, d.span.line) for d in checked]
    assert {d.code for d in checked} >= {"SL401", "SL305"}
    severities = {d.code: d.severity for d in found["after_edit"]}
    assert severities["SL401"] == types.DiagnosticSeverity.Error
    assert severities["SL305"] == types.DiagnosticSeverity.Warning
    failed = next(d for d in found["after_edit"] if "params is" in d.message)
    assert "params is 116071837" in failed.message and "hint:" in failed.message

    # an inlay hint at the end of every layer line: the seed article's 270×480 numbers
    lines = edited.split("\n")
    hints = {h.position.line: h for h in found["hints"]}
    conv1 = position_of(edited, "conv1:").line
    assert hints[conv1].label == "→ [65, 118, 96] · 34,944"
    assert hints[conv1].position.character == len(lines[conv1].rstrip())
    out = position_of(edited, "dense classes").line
    assert hints[out].label == "→ [29] · 118,813"  # 4096·29 + 29
    layer_lines = {layer.span.line - 1 for layer in shapelang.loads(edited).ir.layers}
    assert set(hints) == layer_lines and found["refreshes"] >= 1

    # hover: the table row of conv1 at 270×480, padding and MACs; a parameter's domain
    value = found["conv1_hover"].contents.value
    assert "[65, 118, 96]" in value and "34,944" in value and "267,284,160" in value
    assert "(0, 0); (0, 0)" in value
    assert "H ≡ 3 (mod 32)" in found["param_hover"].contents.value

    # definition: `expect conv1` goes to the label `conv1:`
    target = found["definition"]
    target = target[0] if isinstance(target, list) else target
    assert target.uri == found["uri"] and target.range.start == position_of(edited, "conv1:")

    # completion after `conv 96 `: conv's options with their types and defaults
    items = found["options"]
    assert {"k=", "s=", "pad=", "groups=", "relu"} <= set(items)
    assert items["s="].detail == "an integer ≥ 1 or a tuple of them; default 1"
    assert items["pad="].detail.endswith("default valid")
    assert "k=" in text  # (the file itself uses them)


BLOCK_ERROR = """\
block two(f):
    conv f k=3
    dense 4

network n(H = 8):
    input [H, H, 3]
    a: two 4
    b: two 8 @input
    add @a
"""


async def _session_on_blocks(tmp_path: Path):
    resnet = (EXAMPLES / "resnet50.net").read_text()
    bad = tmp_path / "blocks.net"
    bad.write_text(BLOCK_ERROR)
    good = tmp_path / "resnet50.net"
    good.write_text(resnet)
    session = Session()
    await session.start()
    try:
        session.open(bad.as_uri(), BLOCK_ERROR)
        in_block = await session.diagnostics(bad.as_uri(), 1)
        session.open(good.as_uri(), resnet)
        resnet_diagnostics = await session.diagnostics(good.as_uri(), 1)
        uri = good.as_uri()
        hints = await session.hints(uri, resnet)
        block_hover = await session.hover(uri, position_of(resnet, "conv3: stage", 8))
        block_definition = await session.definition(uri, position_of(resnet, "conv3: stage", 8))
        label_definition = await session.definition(uri, position_of(resnet, "@shortcut", 3))
        labels = await session.completion(uri, position_of(resnet, "@shortcut", 1))
        ops = await session.completion(uri, position_of(resnet, "    globalavgpool", 4))
    finally:
        await session.stop()
    return {"in_block": in_block, "resnet": resnet, "resnet_diagnostics": resnet_diagnostics,
                "hints": hints, "block_hover": block_hover, "block_definition": block_definition,
                "label_definition": label_definition, "labels": labels, "ops": ops,
                "bad_uri": bad.as_uri()}


@needs_pygls
def test_blocks_related_locations_and_resnet50(tmp_path):
    found = run(_session_on_blocks(tmp_path))
    resnet = found["resnet"]

    # a problem inside a block points at the block's uses
    (problem,) = [d for d in found["in_block"] if d.code == "SL301"]
    assert problem.range.start.line == 2  # `dense 4`, in the block
    uses = [(r.location.uri, r.location.range.start.line) for r in problem.related_information]
    assert uses == [(found["bad_uri"], 6), (found["bad_uri"], 7)]  # `a: two 4`, `b: two 8`

    # ResNet-50: the network body's lines (block uses among them) add up to Keras's count
    hints = {h.position.line: h.label for h in found["hints"]}
    assert hints[position_of(resnet, "conv2: stage").line].startswith("→ [56, 56, 256] · ")
    assert hints[position_of(resnet, "predictions:").line] == "→ [1000] · 2,049,000"
    body = position_of(resnet, "network resnet50").line
    counts = [int(label.rsplit(" · ", 1)[1].replace(",", ""))
              for line, label in hints.items() if line > body]
    assert sum(counts) == 25_636_712  # keras.applications.ResNet50().count_params()
    bottleneck_first = position_of(resnet, "    conv filters k=1 s=s").line
    assert hints[bottleneck_first].endswith("(16 uses)")

    value = found["block_hover"].contents.value
    assert "block `stage`" in value and "line 43" in value and "line 46" in value
    assert found["block_definition"].range.start == position_of(resnet, "stage(filters")
    assert found["label_definition"].range.start == position_of(resnet, "shortcut:")
    assert set(found["labels"]) == {"input", "shortcut"}
    names = set(found["ops"])
    assert {"conv", "dense", "stage", "bottleneck", "repeat"} <= names
