// The demo page: loads the scorelet package and a model by version from the registry, builds a
// form from the model's input signature and scores as the user types. No framework; every number
// shown comes from the same core the server runs.
import { loadPackage } from "./load.js";

const params = new URLSearchParams(location.search);
const registry = params.get("registry") ?? location.origin;
const reference = params.get("model") ?? "churn@production";
const $ = (id) => document.getElementById(id);
const ms = (t) => `${t < 10 ? t.toFixed(2) : t.toFixed(0)} ms`;

/** Shows `message` in the error box, or hides the box when null. */
function showError(message) {
  $("error").hidden = message === null;
  $("error").textContent = message ?? "";
  document.body.dataset.state = message === null ? "ready" : "error";
}

/** One form control per signature input: a select for categories and booleans, else text. */
function buildForm(form, inputs) {
  for (const input of inputs) {
    const label = document.createElement("label");
    label.textContent = input.name;
    label.htmlFor = `in-${input.name}`;
    let control;
    if (input.type === "boolean" || input.categories) {
      control = document.createElement("select");
      const options = input.type === "boolean" ? [["false", "No"], ["true", "Yes"]] : input.categories.map((c) => [c, c]);
      for (const [value, text] of options) control.add(new Option(text, value));
    } else {
      control = document.createElement("input");
      control.type = "text";
      control.inputMode = "decimal";
      control.value = "0";
      control.placeholder = input.type === "number" ? "number (empty = missing)" : "text";
    }
    control.id = `in-${input.name}`;
    control.name = input.name;
    control.dataset.type = input.type;
    form.append(label, control);
  }
}

/** The row the form holds. Numbers that do not parse go through as typed, so the scorer's own
 * message (the server's) names the column. */
function readRow(form, inputs) {
  const row = {};
  for (const input of inputs) {
    const value = form.elements[input.name].value;
    if (input.type === "boolean") row[input.name] = value === "true";
    else if (input.type === "number") {
      const text = value.trim();
      row[input.name] = text === "" ? null : Number.isFinite(Number(text)) ? Number(text) : text;
    } else row[input.name] = value;
  }
  return row;
}

function renderFeatures(names, values) {
  const body = $("features").tBodies[0];
  body.replaceChildren();
  const order = [...values.keys()].filter((i) => values[i] !== 0).sort((a, b) => Math.abs(values[b]) - Math.abs(values[a]));
  for (const i of order) {
    const tr = body.insertRow();
    tr.insertCell().textContent = names[i];
    tr.insertCell().textContent = values[i].toFixed(4);
  }
}

function renderPrediction(p, task) {
  const probability = p.probability ?? (p.probabilities ? p.probabilities[task.positive_class] : undefined);
  const shown = probability ?? p.value;
  $("probability").textContent = probability !== undefined ? `${(probability * 100).toFixed(1)} %` : String(shown);
  // The exact value, for anyone comparing with `scorelet predict` bit for bit.
  $("probability").dataset.value = JSON.stringify(shown);
  $("probability").title = String(shown);
  $("label").textContent = p.label ?? "";
  $("gauge-fill").style.width = probability !== undefined ? `${probability * 100}%` : "0";
}

async function main() {
  const form = $("form");
  $("model-ref").textContent = reference;
  let pkg, scorer, task, inputs, names;
  try {
    const t0 = performance.now();
    let build;
    ({ pkg, build } = await loadPackage(params.get("simd") !== "0"));
    const t1 = performance.now();
    scorer = await pkg.Scorer.fromRegistry(registry, reference);
    const t2 = performance.now();
    $("t-module").textContent = ms(t1 - t0);
    $("t-model").textContent = ms(t2 - t1);
    $("t-build").textContent = build;
    const meta = scorer.metadata();
    ({ task, signature: { inputs } } = meta.parameters);
    names = scorer.featureNames();
    $("model-version").textContent = scorer.version;
    $("model-task").textContent = task.kind.replaceAll("_", " ");
    $("model-precision").textContent = meta.parameters.precision;
    if (task.positive_class) $("positive").textContent = `probability of ${task.positive_class}; threshold ${task.threshold}`;
    $("gauge-threshold").style.left = `${(task.threshold ?? 0.5) * 100}%`;
    for (const [k, v] of Object.entries(meta.parameters.metrics ?? {})) {
      if (["tp", "tn", "fp", "fn", "threshold"].includes(k)) continue;
      const div = document.createElement("div");
      div.innerHTML = "<dt></dt><dd></dd>";
      div.firstChild.textContent = k.replaceAll("_", " ");
      div.lastChild.textContent = v.toFixed(4);
      $("metrics").append(div);
    }
    buildForm(form, inputs);
  } catch (e) {
    showError(`Could not load ${reference} from ${registry}: ${e.message ?? e}`);
    return;
  }

  const score = () => {
    if (!scorer) return; // reloading after an internal error
    for (const el of form.elements) el.classList.remove("invalid");
    try {
      const row = readRow(form, inputs);
      const p = scorer.predict(row);
      // Browsers coarsen performance.now() (to 0.1 ms or worse), so time a few more calls.
      let calls = 0;
      const t = performance.now();
      while (performance.now() - t < 3 && calls < 200) {
        scorer.predict(row);
        calls++;
      }
      const dt = (performance.now() - t) / Math.max(calls, 1);
      renderPrediction(p, task);
      renderFeatures(names, scorer.features(row));
      $("t-score").textContent = `${(dt * 1000).toFixed(0)} µs`;
      showError(null);
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError || e?.code === "component_failed") {
        // A panic inside the package: start a fresh instance of the module (this scorer
        // belonged to the old one) and load the model again before the next input.
        showError(`Internal error (${e.message}); reloading the model.`);
        pkg.__wbg_reset_state();
        scorer = null;
        pkg.Scorer.fromRegistry(registry, reference).then(
          (s) => {
            scorer = s;
            score();
          },
          (err) => showError(`Could not reload ${reference}: ${err.message ?? err}`),
        );
        return;
      }
      // The package's errors carry the column they are about (and `code`, `row`).
      const column = e.column;
      if (column && form.elements[column]) form.elements[column].classList.add("invalid");
      showError(e.message);
    }
  };
  form.addEventListener("input", score);
  form.addEventListener("change", score);
  score();
}

main();
