#!/usr/bin/env node
// scorelet vs onnxruntime-web in headless Chromium, same model, same page, one run:
//   node js/bench-browser.mjs --site URL --name churn --version 1 --rows ROWS.json --pkg DIR --ort DIR
//     [--calls N] [--loads K] [--out FILE.json]
// Each first load runs in a fresh browser context (no HTTP or code cache shared); the median of
// K loads is reported. Prints a Markdown table; --out also writes the JSON.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { launch } from "./chromium.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const site = opt("--site");
const rows = JSON.parse(fs.readFileSync(opt("--rows"), "utf8"));
const calls = Number(opt("--calls", 500));
const loads = Number(opt("--loads", 3));
const common = { registry: new URL(site).origin, name: opt("--name", "churn"), version: opt("--version", "1"), rows, calls };

const size = (dir, files) => {
  const bytes = files.map((f) => fs.readFileSync(path.join(dir, f)));
  const raw = bytes.reduce((s, b) => s + b.length, 0);
  const gz = bytes.reduce((s, b) => s + zlib.gzipSync(b, { level: 9 }).length, 0);
  return { files, raw_bytes: raw, gzip_bytes: gz };
};
const sizes = {
  scorelet: size(opt("--pkg"), ["scorelet_web_bg.wasm", "scorelet_web.js"]),
  ort: size(opt("--ort"), ["ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs", "ort.wasm.min.mjs"]),
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const browser = await launch();
const results = {};
try {
  for (const engine of ["scorelet", "ort"]) {
    const runs = [];
    for (let k = 0; k < loads; k++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(new URL("bench.html", site).href);
      await page.waitForFunction(() => typeof window.bench === "function");
      runs.push(await page.evaluate((a) => window.bench(a), { ...common, engine, calls: k === 0 ? calls : 20 }));
      await context.close();
    }
    const first = runs[0];
    results[engine] = {
      ...first,
      first_load_ms: median(runs.map((r) => r.first_load_ms)),
      first_load_runs_ms: runs.map((r) => r.first_load_ms),
      ...sizes[engine],
    };
  }
} finally {
  await browser.close();
}

const s = results.scorelet;
const o = results.ort;
const maxDiff = Math.max(...s.probabilities.map((p, i) => Math.abs(p - o.probabilities[i])));
delete s.probabilities;
delete o.probabilities;
const report = {
  machine: `${os.cpus().length} cores, ${os.cpus()[0].model}`,
  browser: "headless Chromium (Debian), one fresh context per load",
  model: `${common.name}@${common.version}`,
  rows: rows.length,
  max_probability_difference: maxDiff,
  scorelet: s,
  onnxruntime_web: o,
};
if (opt("--out")) fs.writeFileSync(opt("--out"), JSON.stringify(report, null, 2));

const mb = (b) => `${(b / 1e6).toFixed(2)} MB`;
const t = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(1)} ms`);
const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
const line = (label, a, b, fmt) => `| ${label} | ${fmt(a)} | ${fmt(b)} | ${ratio(a, b)} |`;
console.log(`${report.model}, ${report.rows} Telco rows; ${report.machine}; ${report.browser}`);
console.log(`scorelet build: ${s.build}; peer: ${o.build}`);
console.log("");
console.log("| | scorelet | onnxruntime-web | scorelet / peer |");
console.log("|---|---|---|---|");
console.log(line("download, raw (wasm + JS)", s.raw_bytes, o.raw_bytes, mb));
console.log(line("download, gzip -9", s.gzip_bytes, o.gzip_bytes, mb));
console.log(line(`first load, median of ${loads} (download + compile + model load)`, s.first_load_ms, o.first_load_ms, t));
console.log(line("first score after load", s.first_score_ms, o.first_score_ms, t));
console.log(line("per row, 1 row per call", s.row_ms, o.row_ms, t));
console.log(line("100 rows per call (scorelet: predictBatch, JS objects)", s.batch100_ms, o.batch100_ms, t));
console.log(line("100 rows per call (scorelet: predictColumns, Float64Array + string arrays, features computed)", s.columns100_ms, o.batch100_ms, t));
console.log(line("100 rows per call (scorelet: predictColumns, Float64Array + dictionary-encoded strings, features computed)", s.dictionary100_ms, o.batch100_ms, t));
console.log(line("100 rows per call, model alone on ready features (scorelet: predictFeatures)", s.features100_ms, o.batch100_ms, t));
console.log("");
console.log(`scorelet's first load includes fetching the bundle, checking every file's sha256 and the golden vectors; its per-row time includes the feature pipeline, onnxruntime-web's does not. Largest probability difference: ${maxDiff.toExponential(2)}.`);
