// Scores JSON lines from stdin with the wasm32-unknown-unknown build under Node (V8):
//   node score.cjs PKG_DIR BUNDLE_DIR < rows.jsonl
// PKG_DIR holds the wasm-bindgen `--target nodejs` output of crates/web.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const [pkg, bundle] = process.argv.slice(2);
const { Scorer } = require(path.resolve(pkg, 'scorelet_web.js'));
const files = {};
for (const name of fs.readdirSync(bundle)) {
  files[name] = new Uint8Array(fs.readFileSync(path.join(bundle, name)));
}
const scorer = Scorer.fromFiles(files);
const input = fs.readFileSync(0, 'utf8');
process.stdout.write(scorer.scoreLines(input));
