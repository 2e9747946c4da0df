// Tokenizes .net files with the extension's TextMate grammar, as VS Code does (vscode-textmate
// with the Oniguruma regular expressions of vscode-oniguruma), and prints, per file, per line,
// each token's [start, end, scopes] as JSON. Columns count UTF-16 code units, from 0.
//
//   node test/tokenize.js FILE.net…    (after `npm ci` in editors/vscode)
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const root = path.join(__dirname, "..");
const grammarPath = path.join(root, "syntaxes", "shapelang.tmLanguage.json");
const wasm = fs.readFileSync(path.join(root, "node_modules", "vscode-oniguruma", "release",
                                       "onig.wasm")).buffer;
const onigLib = oniguruma.loadWASM(wasm).then(() => ({
  createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
  createOnigString: (text) => new oniguruma.OnigString(text),
}));
const registry = new vsctm.Registry({
  onigLib,
  loadGrammar: async (scopeName) => scopeName === "source.shapelang"
    ? vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath)
    : null,
});

async function main(files) {
  const grammar = await registry.loadGrammar("source.shapelang");
  const result = {};
  for (const file of files) {
    let stack = vsctm.INITIAL;
    result[file] = fs.readFileSync(file, "utf8").replace(/^\uFEFF/, "").split("\n").map((line) => {
      const tokenized = grammar.tokenizeLine(line.replace(/\r$/, ""), stack);
      stack = tokenized.ruleStack;
      return tokenized.tokens.map((t) => [t.startIndex, t.endIndex, t.scopes]);
    });
  }
  process.stdout.write(JSON.stringify(result));
}

main(process.argv.slice(2)).catch((error) => {
  console.error(error);
  process.exit(1);
});
