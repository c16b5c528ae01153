// Benchmark page: scorelet and onnxruntime-web on the same model in the same engine.
// `window.bench({ engine, registry, name, version, rows, calls })` resolves to the numbers; the
// driver (scripts/bench-browser.mjs) calls it in a fresh browser context per engine so neither
// engine finds the other's code compiled or cached.
import { loadPackage } from "./load.js";

const now = () => performance.now();

/** Mean milliseconds per call of `f` over at least `calls` calls (and at least 200 ms). */
async function perCall(f, calls) {
  for (let i = 0; i < Math.min(calls, 50); i++) await f(i); // warm-up
  let n = 0;
  const t = now();
  while (n < calls || now() - t < 200) await f(n++);
  return (now() - t) / n;
}

async function scoreletEngine({ registry, name, version, rows, calls }) {
  const t0 = now();
  const { pkg, build } = await loadPackage(true);
  const t1 = now();
  const scorer = await pkg.Scorer.fromRegistry(registry, `${name}@${version}`);
  const t2 = now();
  const first = scorer.predict(rows[0]);
  const t3 = now();
  const probabilities = rows.map((r) => scorer.predict(r).probability);
  const batch = rows.slice(0, 100);
  // The same 100 rows as columns, as a JS caller holding typed data sends them: numeric
  // columns (by the model's signature) as Float64Array, the others as plain arrays, or
  // dictionary-encoded ({codes, values}, as Arrow and pandas hold categoricals). No JSON,
  // features computed inside.
  const types = Object.fromEntries(scorer.metadata().parameters.signature.inputs.map((i) => [i.name, i.type]));
  const columns = {};
  const dictionary = {};
  for (const k of Object.keys(batch[0])) {
    const v = batch.map((r) => r[k]);
    if (types[k] === "number" && v.every((x) => x !== "" && !Number.isNaN(Number(x)))) {
      columns[k] = dictionary[k] = Float64Array.from(v, Number);
    } else {
      columns[k] = v;
      const values = [...new Set(v)];
      const index = new Map(values.map((x, i) => [x, i]));
      dictionary[k] = { codes: Uint32Array.from(v, (x) => index.get(x)), values };
    }
  }
  const width = scorer.featureNames().length;
  const ready = new Float32Array(batch.length * width);
  batch.forEach((r, i) => ready.set(scorer.features(r), i * width));
  return {
    build,
    module_ms: t1 - t0,
    model_ms: t2 - t1,
    first_load_ms: t2 - t0,
    first_score_ms: t3 - t2,
    row_ms: await perCall((i) => scorer.predict(rows[i % rows.length]), calls),
    batch100_ms: await perCall(() => scorer.predictBatch(batch), Math.max(10, calls / 50)),
    columns100_ms: await perCall(() => scorer.predictColumns(columns), Math.max(10, calls / 50)),
    dictionary100_ms: await perCall(() => scorer.predictColumns(dictionary), Math.max(10, calls / 50)),
    features100_ms: await perCall(() => scorer.predictFeatures(ready, batch.length), Math.max(10, calls / 50)),
    probabilities,
    check: first.probability === probabilities[0],
  };
}

async function ortEngine({ registry, name, version, rows, calls }) {
  const base = new URL("./vendor/onnxruntime-web/", location.href).href;
  const t0 = now();
  const ort = await import("./vendor/onnxruntime-web/ort.wasm.min.mjs");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = base;
  const model = new Uint8Array(
    await (await fetch(`${registry}/v1/models/${name}/versions/${version}/files/model.onnx`)).arrayBuffer(),
  );
  const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
  const t2 = now();
  // onnxruntime-web has no feature pipeline: users write one in JS. Here scorelet computes the
  // feature vectors outside the timed region, so ORT's numbers cover inference alone.
  const { pkg } = await loadPackage(true);
  const scorer = await pkg.Scorer.fromRegistry(registry, `${name}@${version}`);
  const width = scorer.featureNames().length;
  const features = rows.map((r) => scorer.features(r));
  const [input] = session.inputNames;
  const [output] = session.outputNames;
  const run = async (f, n) => (await session.run({ [input]: new ort.Tensor("float32", f, [n, width]) }))[output].data;
  const t3 = now();
  await run(features[0], 1);
  const t4 = now();
  const sigmoid = (z) => 1 / (1 + Math.exp(-z));
  const probabilities = [];
  for (const f of features) probabilities.push(sigmoid((await run(f, 1))[0]));
  const batch = new Float32Array(100 * width);
  features.slice(0, 100).forEach((f, i) => batch.set(f, i * width));
  const n = Math.min(100, features.length);
  return {
    build: `onnxruntime-web ${ort.env.versions?.web ?? ""} wasm, 1 thread`,
    first_load_ms: t2 - t0,
    first_score_ms: t4 - t3,
    row_ms: await perCall((i) => run(features[i % features.length], 1), calls),
    batch100_ms: await perCall(() => run(batch.subarray(0, n * width), n), Math.max(10, calls / 50)),
    probabilities,
  };
}

window.bench = (args) => (args.engine === "ort" ? ortEngine(args) : scoreletEngine(args));

document.getElementById("run").addEventListener("click", async () => {
  const params = new URLSearchParams(location.search);
  const args = {
    registry: params.get("registry") ?? location.origin,
    name: params.get("name") ?? "churn",
    version: params.get("version") ?? "1",
    calls: 500,
  };
  const out = document.getElementById("out");
  try {
    const { pkg } = await loadPackage(true);
    const scorer = await pkg.Scorer.fromRegistry(args.registry, `${args.name}@${args.version}`);
    const row = Object.fromEntries(
      scorer.metadata().parameters.signature.inputs.map((i) => [i.name, i.type === "boolean" ? false : i.categories ? i.categories[0] : 1]),
    );
    args.rows = [row];
    const results = { scorelet: await scoreletEngine(args), ort: await ortEngine(args) };
    for (const r of Object.values(results)) delete r.probabilities;
    out.textContent = JSON.stringify(results, null, 2);
  } catch (e) {
    out.textContent = `error: ${e.message ?? e}`;
  }
});
