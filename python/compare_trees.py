"""Tree models, scorelet against LightGBM and scikit-learn on the same split and machine, in one
run: ROC-AUC on the holdout and fit time, and onnxruntime's agreement with scorelet's exports.

  scripts/compare-trees.sh        # builds scorelet, sets up the pinned venv, runs this

- gbdt: scorelet `--model gbdt` (defaults: 100 rounds, 31 leaves, learning rate 0.1, early
  stopping on the validation split) vs LightGBM `LGBMClassifier(n_estimators=100)` defaults and
  scikit-learn `HistGradientBoostingClassifier()` defaults.
- random forest: scorelet `--model random-forest` (100 trees, depth 10) vs scikit-learn
  `RandomForestClassifier(n_estimators=100, max_depth=10)`.

The peers get the matrix of the pipeline sklearn_baseline.py builds (median imputation +
scaling, most-frequent imputation + one-hot), computed before the clock starts: their fit time
is the model alone, on a ready matrix, with n_jobs = the cores scorelet uses. scorelet's is its
`model_seconds` (the learner alone, on the fitted features), best of RUNS.

onnxruntime check: every scorelet tree bundle's model.onnx is loaded by onnxruntime and run on
the golden rows' features; its outputs, through the manifest's link, must match the golden
scores within 1e-5 (exit status 1 if not).
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import sklearn_baseline as sk  # noqa: E402
from compare_training import data_args  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNS = 3
CORES = min(os.cpu_count() or 1, 8)


def scorelet(binary, data, model, out):
    t = time.perf_counter()
    subprocess.run([binary, "train", *data_args(data), "--model", model, "--name", f"{data}-{model}", "--output", str(out),
                    "-q"], cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - t
    m = json.loads((out / "manifest.json").read_text())
    return {"roc_auc": m["metrics"]["roc_auc"], "fit_seconds": m["lineage"]["model_seconds"], "wall_seconds": wall,
            "trees": m["lineage"]["fit"]["trees"], "bytes": (out / "model.onnx").stat().st_size, "dir": out}


def ort_agrees(bundle):
    """Max |onnxruntime through the link − golden score| over the golden rows."""
    import onnxruntime as ort
    m = json.loads((bundle / "manifest.json").read_text())
    g = json.loads((bundle / "golden.json").read_text())
    x = np.array(g["features"], dtype=np.float32)
    s = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    (raw,) = s.run([m["model"]["output"]], {m["model"]["input"]: x})
    raw = raw.astype(np.float64)
    if m["model"]["link"] == "sigmoid":
        p = 1 / (1 + np.exp(-raw[:, 0]))
        got = np.stack([1 - p, p], axis=1)
    elif m["model"]["link"] == "softmax":
        e = np.exp(raw - raw.max(axis=1, keepdims=True))
        got = e / e.sum(axis=1, keepdims=True)
    else:
        got = raw
    return float(np.abs(got - np.array(g["outputs"], dtype=np.float64)).max())


def peers(name):
    import lightgbm
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    Xn, Xc, y, numeric, cats = sk.load(name)
    X = np.concatenate([Xn.astype(object), Xc], axis=1)
    tr, va, ho = sk.split(list(y), 42)
    pre = sk.preprocessor(len(numeric), len(cats)).fit(X[tr])

    def dense(a):
        return np.asarray(a.todense() if hasattr(a, "todense") else a, dtype=np.float32)

    Xtr, Xho = dense(pre.transform(X[tr])), dense(pre.transform(X[ho]))
    out = {}
    for label, make in [
        ("gbdt:lightgbm", lambda: lightgbm.LGBMClassifier(n_estimators=100, n_jobs=CORES, verbose=-1, random_state=42)),
        ("gbdt:sklearn-hgb", lambda: HistGradientBoostingClassifier(random_state=42)),
        ("random-forest:sklearn-rf", lambda: RandomForestClassifier(n_estimators=100, max_depth=10, n_jobs=CORES,
                                                                     random_state=42)),
    ]:
        best = None
        for _ in range(RUNS):
            model = make()
            t = time.perf_counter()
            model.fit(Xtr, y[tr])
            secs = time.perf_counter() - t
            best = secs if best is None else min(best, secs)
        auc = roc_auc_score(y[ho], model.predict_proba(Xho)[:, 1])
        out[label] = {"roc_auc": auc, "fit_seconds": best}
    return out


def main():
    binary = sys.argv[1]
    rows, worst = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for data in ["telco", "adult"]:
            base = peers(data)
            for model in ["gbdt", "random-forest"]:
                best = None
                for i in range(RUNS):
                    r = scorelet(binary, data, model, pathlib.Path(tmp) / f"{data}-{model}-{i}")
                    best = r if best is None or r["fit_seconds"] < best["fit_seconds"] else best
                diff = ort_agrees(best["dir"])
                worst = max(worst, diff)
                for label, b in base.items():
                    if label.startswith(model + ":"):
                        rows.append((data, model, label.split(":")[1], best, b, diff))
    print(f"machine: {CORES} cores used by every learner")
    print()
    print("| data | scorelet model | peer | scorelet ROC-AUC | peer ROC-AUC | Δ | scorelet fit s | peer fit s | time ratio | trees | ONNX bytes | onnxruntime vs golden |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for data, model, peer, s, b, diff in rows:
        print(f"| {data} | {model} | {peer} | {s['roc_auc']:.4f} | {b['roc_auc']:.4f} | {s['roc_auc'] - b['roc_auc']:+.4f} | "
              f"{s['fit_seconds']:.3f} | {b['fit_seconds']:.3f} | {s['fit_seconds'] / b['fit_seconds']:.2f}× | "
              f"{s['trees']} | {s['bytes']} | {diff:.1e} |")
    if worst > 1e-5:
        print(f"onnxruntime disagrees with scorelet's golden scores by {worst:.2e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
