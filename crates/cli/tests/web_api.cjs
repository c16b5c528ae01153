// Drives the JS API of the wasm32-unknown-unknown package in Node (V8):
//   node web_api.cjs PKG_DIR BUNDLE_DIR REGISTRY_URL DEAD_URL ROWS_JSON PINNED_REF PUBLIC_KEY > result.json
// Prints what each call returned or the message it was rejected with.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const [pkg, bundle, registry, dead, rowsFile, pinned, publicKey] = process.argv.slice(2);
const { Scorer, __injectFault, __wbg_reset_state } = require(path.resolve(pkg, 'scorelet_web.js'));
const rows = JSON.parse(fs.readFileSync(rowsFile, 'utf8'));
const files = () => {
  const f = {};
  const manifest = JSON.parse(fs.readFileSync(path.join(bundle, 'manifest.json'), 'utf8'));
  for (const name of ['manifest.json', ...Object.keys(manifest.files)]) {
    f[name] = new Uint8Array(fs.readFileSync(path.join(bundle, name)));
  }
  return f;
};
const message = async (f) => {
  try {
    await f();
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : `not an Error: ${e}`;
  }
};
// The properties a rejection carries besides its message.
const details = async (f) => {
  try {
    await f();
    return null;
  } catch (e) {
    return { code: e.code, row: e.row ?? null, column: e.column ?? null };
  }
};

(async () => {
  const out = {};
  const scorer = Scorer.fromBundle(files());
  out.name = scorer.name;
  out.version = scorer.version;
  out.single = rows.map((r) => scorer.predict(r));
  out.batch = scorer.predictBatch(rows);
  out.features = Array.from(scorer.features(rows[0]));
  out.featureNames = scorer.featureNames();
  // Columns without JSON: numeric columns as Float64Array, the rest as plain arrays.
  const cols = {};
  for (const k of Object.keys(rows[0])) {
    const v = rows.map((r) => r[k]);
    cols[k] = v.every((x) => typeof x === 'number') ? Float64Array.from(v) : v;
  }
  // The rows come from the CSV as text; numeric columns go in as Float64Array, as a JS caller
  // holding numbers would send them (the same values, so the same features).
  for (const k of ['tenure', 'MonthlyCharges']) cols[k] = Float64Array.from(cols[k], Number);
  const numeric = 'tenure';
  out.columns = Array.from(scorer.predictColumns(cols));
  // Missing cells (null, undefined) in a plain column are read cell by cell: like null in a row.
  const holes = rows.map((r, i) => (i < 2 ? { ...r, TotalCharges: null } : r));
  out.holesBatch = scorer.predictBatch(holes);
  const holed = cols.TotalCharges.map((v, i) => (i === 0 ? null : i === 1 ? undefined : v));
  out.holesColumns = Array.from(scorer.predictColumns({ ...cols, TotalCharges: holed }));
  // Dictionary-encoded string columns ({codes, values}, as Arrow and pandas hold categoricals).
  const dict = (v) => {
    const values = [...new Set(v)];
    return { codes: Uint8Array.from(v, (x) => values.indexOf(x)), values };
  };
  const dictCols = {};
  for (const [k, v] of Object.entries(cols)) dictCols[k] = Array.isArray(v) ? dict(v) : v;
  out.dictColumns = Array.from(scorer.predictColumns(dictCols));
  // A value with an escape (unused here) sends the arrays through their slower readings.
  const escaped = { codes: dictCols.Contract.codes, values: [...dictCols.Contract.values, 'say "hi"'] };
  out.escapedColumns = Array.from(scorer.predictColumns({ ...dictCols, Contract: escaped }));
  const width = out.featureNames.length;
  const feats = new Float32Array(rows.length * width);
  rows.forEach((r, i) => feats.set(scorer.features(r), i * width));
  out.fromFeatures = Array.from(scorer.predictFeatures(feats, rows.length));

  const noColumn = { ...cols };
  delete noColumn[numeric];
  out.columnErrors = {
    short: await message(() => scorer.predictColumns({ ...cols, [numeric]: cols[numeric].slice(1) })),
    missing: await message(() => scorer.predictColumns(noColumn)),
    unknown: await message(() => scorer.predictColumns({ ...cols, colour: rows.map(() => 'red') })),
    notObject: await message(() => scorer.predictColumns(7)),
    badCell: await message(() => scorer.predictColumns({ ...cols, [numeric]: rows.map(() => ({})) })),
    featureCount: await message(() => scorer.predictFeatures(feats, rows.length + 1)),
    outsideDictionary: await message(() =>
      scorer.predictColumns({ ...dictCols, gender: { codes: Uint8Array.from(rows, (_, i) => (i === 3 ? 9 : 0)), values: ['Male'] } })),
    negativeCode: await message(() =>
      scorer.predictColumns({ ...dictCols, gender: { codes: Int32Array.from(rows, () => -1), values: ['Male'] } })),
    plainCodes: await message(() => scorer.predictColumns({ ...dictCols, gender: { codes: [0], values: ['Male'] } })),
  };
  out.metadata = scorer.metadata();
  out.engine = scorer.engine;
  // The package is the lean build: forcing tract says so (and the compiled engine still serves).
  out.tractEngine = await message(() => Scorer.fromBundle(files(), 'tract'));
  out.badEngine = await message(() => Scorer.fromBundle(files(), 'fast'));
  const fetched = await Scorer.fromRegistry(registry, 'churn@production');
  out.registryVersion = fetched.version;
  out.registry = fetched.predictBatch(rows);
  out.pinnedVersion = (await Scorer.fromRegistry(registry, pinned)).version;

  const missing = { ...rows[0] };
  delete missing.tenure;
  const corrupt = files();
  corrupt['model.onnx'][corrupt['model.onnx'].length - 1] ^= 0x55;
  const noManifest = files();
  delete noManifest['manifest.json'];
  out.errors = {
    missing: await message(() => scorer.predict(missing)),
    wrongType: await message(() => scorer.predict({ ...rows[0], tenure: { a: 1 } })),
    notAnObject: await message(() => scorer.predict('a string')),
    batchNotArray: await message(() => scorer.predictBatch({ a: 1 })),
    corrupt: await message(() => Scorer.fromBundle(corrupt)),
    noManifest: await message(() => Scorer.fromBundle(noManifest)),
    notBytes: await message(() => Scorer.fromBundle({ 'manifest.json': 'text' })),
    registryDown: await message(() => Scorer.fromRegistry(dead, 'churn@1')),
    unknownModel: await message(() => Scorer.fromRegistry(registry, 'nosuch@1')),
    badReference: await message(() => Scorer.fromRegistry(registry, 'churn')),
    wrongPin: await message(() => Scorer.fromRegistry(registry, `churn@1#sha256:${'0'.repeat(64)}`)),
    unsigned: await message(() => Scorer.fromRegistry(registry, 'churn@1', undefined, undefined, publicKey)),
    badKey: await message(() => Scorer.fromRegistry(registry, 'churn@1', undefined, undefined, 'abc')),
  };
  out.details = {
    missing: await details(() => scorer.predict(missing)),
    wrongType: await details(() => scorer.predictBatch([rows[0], { ...rows[1], tenure: 'twelve' }])),
    registryDown: await details(() => Scorer.fromRegistry(dead, 'churn@1')),
    corrupt: await details(() => Scorer.fromBundle(corrupt)),
  };
  // A panic inside the package (injected): the call fails, the caller resets the module, the old
  // scorer is refused as stale after `__wbg_reset_state()`, and a scorer made again scores as before.
  const kind = (e) => (e instanceof WebAssembly.RuntimeError ? 'trap' : e?.code ?? `${e}`);
  const outcome = async (f) => {
    try {
      await f();
      return 'ok';
    } catch (e) {
      return kind(e);
    }
  };
  const trap = {};
  __injectFault('score');
  trap.predict = await outcome(() => scorer.predict(rows[0]));
  __wbg_reset_state();
  trap.stale = await message(() => scorer.predict(rows[0]));
  trap.after = Scorer.fromBundle(files()).predictBatch(rows);
  // In an async call the trap also escapes the microtask that ran it; Node reports that as an
  // uncaught exception (browsers and workers log it), so a Node service keeps a handler.
  trap.uncaught = [];
  process.on('uncaughtException', (e) => trap.uncaught.push(kind(e)));
  __injectFault('load');
  trap.fromRegistry = await outcome(() => Scorer.fromRegistry(registry, 'churn@production'));
  __wbg_reset_state();
  trap.afterRegistry = (await Scorer.fromRegistry(registry, 'churn@production')).predictBatch(rows);
  out.trap = trap;
  process.stdout.write(JSON.stringify(out));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
