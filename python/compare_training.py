"""Trains the same four models with scorelet and scikit-learn on the same split and machine, in
one run, and prints a Markdown table (ROC-AUC on the holdout, fit time, ratios).

  scripts/compare-sklearn.sh        # builds scorelet, sets up the pinned venv, runs this
"""
import json
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import sklearn_baseline as sk  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNS = 3  # fit times are the best of RUNS


def data_args(data):
    """`scorelet train` flags for the Telco or Adult data, as sklearn_baseline.py reads them."""
    return {
        "telco": ["--data", "data/telco-churn.csv", "--target", "Churn", "--positive", "Yes", "--spec", "examples/telco.toml"],
        "adult": ["--data", "data/adult.csv", "--names", ",".join(sk.ADULT), "--target", "income", "--positive", ">50K",
                  "--spec", "examples/adult.toml"],
    }[data]


def scorelet(binary, data, model, out):
    t = time.perf_counter()
    subprocess.run([binary, "train", *data_args(data), "--model", model, "--name", f"{data}-{model}", "--output", str(out), "-q"],
                   cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - t
    m = json.loads((out / "manifest.json").read_text())
    q = m["lineage"]["quantization"]
    return {"roc_auc": m["metrics"]["roc_auc"], "float_roc_auc": q["float_metrics"]["roc_auc"],
            "fit_seconds": m["lineage"]["train_seconds"], "wall_seconds": wall,
            "int8_bytes": q["int8_bytes"], "float_bytes": q["float_bytes"]}


def main():
    binary = sys.argv[1]
    base = {}
    for _ in range(RUNS):
        for r in json.loads(subprocess.run([sys.executable, str(ROOT / "python/sklearn_baseline.py")],
                                           check=True, capture_output=True, text=True).stdout)["results"]:
            k = (r["data"], r["model"])
            base[k] = r if k not in base or r["fit_seconds"] < base[k]["fit_seconds"] else base[k]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for data in ["telco", "adult"]:
            for model in ["logreg", "mlp"]:
                best = None
                for i in range(RUNS):
                    r = scorelet(binary, data, model, pathlib.Path(tmp) / f"{data}-{model}-{i}")
                    best = r if best is None or r["fit_seconds"] < best["fit_seconds"] else best
                rows.append((data, model, best, base[(data, model)]))
    print("| data | model | scorelet ROC-AUC (INT8 / float) | scikit-learn ROC-AUC | Δ | scorelet fit s | scikit-learn fit s | time ratio | scorelet `train` wall s | model bytes INT8 / float |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for data, model, s, b in rows:
        print(f"| {data} | {model} | {s['roc_auc']:.4f} / {s['float_roc_auc']:.4f} | {b['roc_auc']:.4f} | "
              f"{s['roc_auc'] - b['roc_auc']:+.4f} | {s['fit_seconds']:.3f} | {b['fit_seconds']:.3f} | "
              f"{s['fit_seconds'] / b['fit_seconds']:.2f}× | {s['wall_seconds']:.2f} | {s['int8_bytes']} / {s['float_bytes']} |")


if __name__ == "__main__":
    main()
