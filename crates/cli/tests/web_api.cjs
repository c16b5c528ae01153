// Drives the JS API of the wasm32-unknown-unknown package in Node (V8):
//   node web_api.cjs PKG_DIR BUNDLE_DIR REGISTRY_URL DEAD_URL ROWS_JSON > result.json
// Prints what each call returned or the message it was rejected with.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const [pkg, bundle, registry, dead, rowsFile] = process.argv.slice(2);
const { Scorer } = require(path.resolve(pkg, 'scorelet_web.js'));
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
  out.metadata = scorer.metadata();
  out.engine = scorer.engine;
  out.tractEngine = Scorer.fromBundle(files(), 'tract').engine;
  out.badEngine = await message(() => Scorer.fromBundle(files(), 'fast'));
  const fetched = await Scorer.fromRegistry(registry, 'churn@production');
  out.registryVersion = fetched.version;
  out.registry = fetched.predictBatch(rows);

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
  };
  out.details = {
    missing: await details(() => scorer.predict(missing)),
    wrongType: await details(() => scorer.predictBatch([rows[0], { ...rows[1], tenure: 'twelve' }])),
    registryDown: await details(() => Scorer.fromRegistry(dead, 'churn@1')),
    corrupt: await details(() => Scorer.fromBundle(corrupt)),
  };
  process.stdout.write(JSON.stringify(out));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
