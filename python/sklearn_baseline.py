"""scikit-learn baselines on exactly the split scorelet uses, for doc/training.md.

  python/setup-venv.sh && python/.venv/bin/python python/sklearn_baseline.py > results.json

For Telco (target Churn, positive Yes) and Adult (income, >50K): LogisticRegression(C=1) and
MLPClassifier((64, 32)) in the pipeline users write (median imputation + StandardScaler for
numeric columns, most-frequent imputation + OneHotEncoder for the rest), timed on fit, scored by
ROC-AUC on scorelet's holdout rows.
"""
import csv
import json
import pathlib
import sys
import time

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ROOT = pathlib.Path(__file__).resolve().parent.parent
M64 = (1 << 64) - 1
ADULT = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation", "relationship",
         "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income"]


class Rng:
    """splitmix64, as scorelet_train::Rng."""

    def __init__(self, seed):
        self.s = seed & M64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def shuffle(self, v):
        for i in range(len(v) - 1, 0, -1):
            j = self.next() % (i + 1)
            v[i], v[j] = v[j], v[i]


def split(y, seed):
    """scorelet_train::job::stratified_split_k: per class, shuffle, 70/10/20."""
    rng = Rng(seed)
    train, valid, hold = [], [], []
    for c in range(max(y) + 1):
        idx = [i for i, v in enumerate(y) if v == c]
        rng.shuffle(idx)
        n = len(idx)
        a, b = n * 7 // 10, n * 8 // 10
        train += idx[:a]
        valid += idx[a:b]
        hold += idx[b:]
    return sorted(train), sorted(valid), sorted(hold)


def load(name):
    if name == "telco":
        rows = list(csv.DictReader(open(ROOT / "data/telco-churn.csv", newline="")))
        target, positive, numeric = "Churn", "Yes", ["tenure", "MonthlyCharges", "TotalCharges"]
        drop = ["customerID"]
    else:
        rows = [dict(zip(ADULT, [c.strip() for c in r])) for r in csv.reader(open(ROOT / "data/adult.csv", newline="")) if r]
        target, positive = "income", ">50K"
        numeric = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
        drop = []
    classes = sorted({r[target] for r in rows})
    classes.remove(positive)
    classes.append(positive)
    y = np.array([classes.index(r[target]) for r in rows])
    cats = [c for c in rows[0] if c not in numeric + drop + [target]]

    def num(v):
        v = v.strip()
        return np.nan if v in ("", "?", "NA") else float(v)

    Xn = np.array([[num(r[c]) for c in numeric] for r in rows], dtype=float)
    Xc = np.array([[r[c] for c in cats] for r in rows], dtype=object)
    return Xn, Xc, y, numeric, cats


def preprocessor(n_num, n_cat):
    """The preprocessing users write: numeric columns first, then categorical ones."""
    return ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), list(range(n_num))),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent", missing_values="?"),
                              OneHotEncoder(handle_unknown="ignore")), list(range(n_num, n_num + n_cat))),
    ])


def pipeline(model, n_num, n_cat):
    return make_pipeline(preprocessor(n_num, n_cat), model)


def main():
    out = {"versions": {"scikit-learn": __import__("sklearn").__version__, "numpy": np.__version__,
                        "python": sys.version.split()[0]}, "results": []}
    for name in ["telco", "adult"]:
        Xn, Xc, y, numeric, cats = load(name)
        X = np.concatenate([Xn.astype(object), Xc], axis=1)
        tr, va, ho = split(list(y), 42)
        for label, model, fit_rows in [
            ("logreg", LogisticRegression(C=1.0, max_iter=2000), tr),
            # MLP: sklearn holds out its own early-stopping fraction, so give it train + valid
            # with validation_fraction = valid's share: the same rows, used the same way.
            ("mlp", MLPClassifier(hidden_layer_sizes=(64, 32), early_stopping=True,
                                  validation_fraction=len(va) / (len(tr) + len(va)), random_state=42, max_iter=200),
             sorted(tr + va)),
        ]:
            p = pipeline(model, len(numeric), len(cats))
            t = time.perf_counter()
            p.fit(X[fit_rows], y[fit_rows])
            secs = time.perf_counter() - t
            auc = roc_auc_score(y[ho], p.predict_proba(X[ho])[:, 1])
            out["results"].append({"data": name, "model": label, "roc_auc": auc, "fit_seconds": secs,
                                   "holdout_rows": len(ho)})
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
