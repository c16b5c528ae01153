"""Generates tree-ensemble ONNX models with the tools users export them with, and the outputs
onnxruntime computes for them, as fixtures for tests/external_models.rs (the tree cases).

  python/setup-venv.sh && python/.venv/bin/python python/external_trees.py

On the Telco matrix of external_models.py (binary: churn; three classes: a tenure/charges band;
a value: MonthlyCharges from the rest), 1 000 test rows. The "-nan" models are trained with 10 %
of the cells missing and scored with missing cells too, so the missing-value routing
(`nodes_missing_value_tracks_true`) is exercised.

- skl-rf / skl-gb / skl-hgb: scikit-learn RandomForest, GradientBoosting, HistGradientBoosting
  classifiers via skl2onnx (TreeEnsembleClassifier, zipmap off), binary and three classes
- skl-rf-reg, skl-hgb-reg-nan: regressors (TreeEnsembleRegressor)

skl2onnx 1.20 writes HistGradientBoosting's missing-value tracks as booleans, which onnx 1.23's
make_attribute refuses; `_ints_not_bools` below turns them into the 0/1 integers the format
defines (what a user of these versions has to do too).
- skl-rf-reg-v5: skl-rf-reg rewritten as ai.onnx.ml opset 5's TreeEnsemble (skl2onnx 1.20 and
  onnxmltools 1.16 do not write it yet; `to_tree_ensemble_v5` maps the attributes one to one)
- lgbm / lgbm-nan / lgbm-multi / lgbm-reg: LightGBM via onnxmltools
- xgb / xgb-multi: XGBoost via onnxmltools
"""
import json
import pathlib
import sys

import lightgbm
import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import xgboost
from onnxmltools import convert_lightgbm, convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType
from skl2onnx import to_onnx
from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,
                              HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from external_models import telco_matrix  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "external-trees"


def _ints_not_bools(make_attribute):
    def wrapped(key, value, *args, **kwargs):
        if isinstance(value, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in value):
            value = [int(v) if isinstance(v, (bool, np.bool_)) else v for v in value]
        return make_attribute(key, value, *args, **kwargs)
    return wrapped


onnx.helper.make_attribute = _ints_not_bools(onnx.helper.make_attribute)
N_TEST = 1000


def skl(model, X, path, ml_opset=3):
    opts = {id(model): {"zipmap": False}} if hasattr(model, "classes_") else None
    m = to_onnx(model, X[:1], options=opts, target_opset={"": 17, "ai.onnx.ml": ml_opset})
    onnx.save(m, path)


def to_tree_ensemble_v5(src, dst):
    """Rewrites a one-node TreeEnsembleRegressor (opset 3) as TreeEnsemble (opset 5)."""
    m = onnx.load(src)
    (node,) = [n for n in m.graph.node if n.op_type == "TreeEnsembleRegressor"]
    a = {x.name: onnx.helper.get_attribute_value(x) for x in node.attribute}
    assert not a.get("base_values"), "TreeEnsemble has no base values"
    ids = list(zip(a["nodes_treeids"], a["nodes_nodeids"]))
    modes = [v.decode() for v in a["nodes_modes"]]
    interior = [i for i, md in enumerate(modes) if md != "LEAF"]
    leaves = [i for i, md in enumerate(modes) if md == "LEAF"]
    inner_at = {ids[i]: k for k, i in enumerate(interior)}
    leaf_at = {ids[i]: k for k, i in enumerate(leaves)}
    weight = {}
    for t, n, tid, w in zip(a["target_treeids"], a["target_nodeids"], a["target_ids"], a["target_weights"]):
        weight.setdefault((t, n), []).append((tid, w))
    assert all(len(v) == 1 for v in weight.values()), "one weight per leaf"
    code = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4, "BRANCH_NEQ": 5}

    def child(i, key):
        c = (ids[i][0], a[key][i])
        return (leaf_at[c], 1) if c in leaf_at else (inner_at[c], 0)

    true_ = [child(i, "nodes_truenodeids") for i in interior]
    false_ = [child(i, "nodes_falsenodeids") for i in interior]
    roots = [inner_at[(t, 0)] for t in sorted({t for t, _ in ids})]
    agg = {"AVERAGE": 0, "SUM": 1, "MIN": 2, "MAX": 3}[a.get("aggregate_function", b"SUM").decode()]
    new = onnx.helper.make_node(
        "TreeEnsemble", node.input, node.output, domain="ai.onnx.ml",
        n_targets=a["n_targets"], aggregate_function=agg, post_transform=0, tree_roots=roots,
        nodes_featureids=[a["nodes_featureids"][i] for i in interior],
        nodes_splits=onnx.numpy_helper.from_array(np.array([a["nodes_values"][i] for i in interior], np.float32)),
        nodes_modes=onnx.numpy_helper.from_array(np.array([code[modes[i]] for i in interior], np.uint8)),
        nodes_truenodeids=[c for c, _ in true_], nodes_trueleafs=[f for _, f in true_],
        nodes_falsenodeids=[c for c, _ in false_], nodes_falseleafs=[f for _, f in false_],
        leaf_targetids=[weight[ids[i]][0][0] for i in leaves],
        leaf_weights=onnx.numpy_helper.from_array(np.array([weight[ids[i]][0][1] for i in leaves], np.float32)),
    )
    del m.graph.node[:]
    m.graph.node.append(new)
    for o in m.opset_import:
        if o.domain == "ai.onnx.ml":
            o.version = 5
    onnx.save(m, dst)


def mltools(convert, model, d, path):
    m = convert(model, initial_types=[("input", FloatTensorType([None, d]))], target_opset=15, zipmap=False) \
        if convert is convert_lightgbm else \
        convert(model, initial_types=[("input", FloatTensorType([None, d]))], target_opset=15)
    onnx.save(m, path)


def f32(v):
    """A float32 as the shortest JSON number that reads back to it."""
    return float(f"{float(v):.9g}")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    X, y = telco_matrix()
    d = X.shape[1]
    rng = np.random.default_rng(11)
    Xn = X.copy()
    Xn[rng.random(X.shape) < 0.1] = np.nan
    band = X[:, 0] + 0.5 * X[:, 1]
    y3 = np.digitize(band, np.quantile(band, [1 / 3, 2 / 3])).astype(np.int64)
    # A value to regress: the second numeric column from everything else.
    yr = X[:, 1].astype(np.float32)
    Xr = X.copy()
    Xr[:, 1] = 0.0
    tr, te = slice(0, 6000), slice(6000, 6000 + N_TEST)
    models = []  # (file, output, test matrix)

    matrices = {"plain": X[te], "missing": Xn[te], "regression": Xr[te]}

    def add(name, output, test):
        key = next(k for k, m in matrices.items() if m is test or np.array_equal(m, test, equal_nan=True))
        models.append((name, output, key))

    skl(RandomForestClassifier(n_estimators=20, max_depth=8, random_state=0).fit(X[tr], y[tr]), X, OUT / "skl-rf.onnx")
    add("skl-rf.onnx", "probabilities", X[te])
    skl(RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0).fit(X[tr], y3[tr]), X,
        OUT / "skl-rf-multi.onnx")
    add("skl-rf-multi.onnx", "probabilities", X[te])
    skl(GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(X[tr], y[tr]), X,
        OUT / "skl-gb.onnx")
    add("skl-gb.onnx", "probabilities", X[te])
    skl(GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X[tr], y3[tr]), X,
        OUT / "skl-gb-multi.onnx")
    add("skl-gb-multi.onnx", "probabilities", X[te])
    skl(HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(Xn[tr], y[tr]), X, OUT / "skl-hgb-nan.onnx")
    add("skl-hgb-nan.onnx", "probabilities", Xn[te])
    skl(HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X[tr], y3[tr]), X,
        OUT / "skl-hgb-multi.onnx")
    add("skl-hgb-multi.onnx", "probabilities", X[te])
    skl(RandomForestRegressor(n_estimators=10, max_depth=8, random_state=0).fit(Xr[tr], yr[tr]), Xr,
        OUT / "skl-rf-reg.onnx")
    add("skl-rf-reg.onnx", "variable", Xr[te])
    to_tree_ensemble_v5(OUT / "skl-rf-reg.onnx", OUT / "skl-rf-reg-v5.onnx")
    add("skl-rf-reg-v5.onnx", "variable", Xr[te])
    skl(HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(Xn[tr], yr[tr]), Xn,
        OUT / "skl-hgb-reg-nan.onnx")
    add("skl-hgb-reg-nan.onnx", "variable", Xn[te])

    lg = dict(n_estimators=40, num_leaves=15, random_state=0, verbose=-1)
    mltools(convert_lightgbm, lightgbm.LGBMClassifier(**lg).fit(X[tr], y[tr]), d, OUT / "lgbm.onnx")
    add("lgbm.onnx", "probabilities", X[te])
    mltools(convert_lightgbm, lightgbm.LGBMClassifier(**lg).fit(Xn[tr], y[tr]), d, OUT / "lgbm-nan.onnx")
    add("lgbm-nan.onnx", "probabilities", Xn[te])
    mltools(convert_lightgbm, lightgbm.LGBMClassifier(**lg).fit(X[tr], y3[tr]), d, OUT / "lgbm-multi.onnx")
    add("lgbm-multi.onnx", "probabilities", X[te])
    mltools(convert_lightgbm, lightgbm.LGBMRegressor(**lg).fit(Xr[tr], yr[tr]), d, OUT / "lgbm-reg.onnx")
    add("lgbm-reg.onnx", "variable", Xr[te])

    xg = dict(n_estimators=30, max_depth=4, random_state=0)
    mltools(convert_xgboost, xgboost.XGBClassifier(**xg).fit(X[tr], y[tr]), d, OUT / "xgb.onnx")
    add("xgb.onnx", "probabilities", X[te])
    mltools(convert_xgboost, xgboost.XGBClassifier(**xg).fit(Xn[tr], y[tr]), d, OUT / "xgb-nan.onnx")
    add("xgb-nan.onnx", "probabilities", Xn[te])
    mltools(convert_xgboost, xgboost.XGBClassifier(**xg).fit(X[tr], y3[tr]), d, OUT / "xgb-multi.onnx")
    add("xgb-multi.onnx", "probabilities", X[te])

    cases = []
    for f, output, key in models:
        test = matrices[key]
        sess = ort.InferenceSession(str(OUT / f), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        (out,) = sess.run([output], {name: test.astype(np.float32)})
        out = np.asarray(out, dtype=np.float32).reshape(len(test), -1)
        g = onnx.load(OUT / f)
        ops = sorted({n.op_type for n in g.graph.node})
        cases.append({
            "file": f, "output": output, "ops": ops, "inputs": key,
            "expected": [[f32(v) for v in row] for row in out],
        })
    meta = {
        "generated_by": "python/external_trees.py",
        "versions": {"onnxruntime": ort.__version__, "onnx": onnx.__version__,
                     "skl2onnx": __import__("skl2onnx").__version__, "scikit-learn": __import__("sklearn").__version__,
                     "onnxmltools": __import__("onnxmltools").__version__, "lightgbm": lightgbm.__version__,
                     "xgboost": xgboost.__version__},
        "n_features": int(d),
        "inputs": {k: [[None if np.isnan(v) else f32(v) for v in row] for row in m] for k, m in matrices.items()},
        "cases": cases,
    }
    (OUT / "cases.json").write_text(json.dumps(meta))
    for c in cases:
        print(f"{c['file']:<24} {c['output']:<14} {', '.join(c['ops'])}")


if __name__ == "__main__":
    main()
