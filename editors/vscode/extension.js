// The shapelang extension: the TextMate grammar (package.json contributes it) and the
// language server, started as `shapelang lsp` (the command is the setting
// `shapelang.server.command`) and spoken to over stdio.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace
    .getConfiguration("shapelang")
    .get("server.command", ["shapelang", "lsp"]);
  client = new LanguageClient(
    "shapelang",
    "shapelang",
    { command, args },
    { documentSelector: [{ scheme: "file", language: "shapelang" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
