"""Generates ONNX models with other tools, and the outputs onnxruntime computes for them, as
fixtures for tests/external_models.rs: scorelet must run what users already export.

  python/setup-venv.sh && python/.venv/bin/python python/external_models.py

Models (Telco churn, a numeric matrix: 3 standardized numeric columns + one-hot categoricals):
- lr.onnx            scikit-learn LogisticRegression via skl2onnx (LinearClassifier), zipmap off
- lr.int8.onnx       onnxruntime quantize_dynamic of lr.onnx. skl2onnx 1.20 lists the default
                     opset twice and the quantizer refuses that ("Failed to find proper ai.onnx
                     domain"); with the duplicate removed it runs, but leaves LinearClassifier
                     in float. Recorded because that is what users get.
- lr-matmul.onnx     the same coefficients as MatMul + Add + Sigmoid (onnx.helper), so that
- lr-matmul.int8-dynamic.onnx / lr-matmul.int8-qop.onnx  are real INT8 logistic regressions
- mlp.onnx           scikit-learn MLPClassifier(32, 16) via skl2onnx, zipmap off
- mlp.int8-dynamic.onnx  quantize_dynamic, QInt8 weights (DynamicQuantizeLinear + MatMulInteger)
- mlp.int8-qop.onnx  quantize_static, QOperator restricted to MatMul (QLinearMatMul), calibrated
- mlp.int8-qdq.onnx  quantize_static, QDQ format (ORT's default)
"""
import csv
import json
import pathlib

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                      quantize_static)
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "external"
N_TEST = 200


def telco_matrix():
    rows = list(csv.DictReader(open(ROOT / "data" / "telco-churn.csv", newline="")))
    numeric = ["tenure", "MonthlyCharges", "TotalCharges"]
    categorical = [c for c in rows[0] if c not in numeric + ["customerID", "Churn"]]
    cols = []
    for c in numeric:
        x = np.array([float(r[c]) if r[c].strip() else 0.0 for r in rows])
        cols.append((x - x.mean()) / x.std())
    for c in categorical:
        for v in sorted({r[c] for r in rows}):
            cols.append(np.array([1.0 if r[c] == v else 0.0 for r in rows]))
    X = np.stack(cols, axis=1).astype(np.float32)
    y = np.array([r["Churn"] == "Yes" for r in rows], dtype=np.int64)
    return X, y


class Calib(CalibrationDataReader):
    def __init__(self, X):
        self.it = iter([{"X": X[i:i + 100]} for i in range(0, len(X), 100)])

    def get_next(self):
        return next(self.it, None)


def lr_matmul(lr, path):
    """A fitted binary LogisticRegression as MatMul + Add + Sigmoid → probabilities [1 - p, p]."""
    h = onnx.helper
    w = lr.coef_.T.astype(np.float32)
    b = lr.intercept_.astype(np.float32)
    nodes = [
        h.make_node("MatMul", ["X", "W"], ["z0"]),
        h.make_node("Add", ["z0", "B"], ["z"]),
        h.make_node("Sigmoid", ["z"], ["p"]),
        h.make_node("Sub", ["one", "p"], ["q"]),
        h.make_node("Concat", ["q", "p"], ["probabilities"], axis=1),
    ]
    inits = [onnx.numpy_helper.from_array(w, "W"), onnx.numpy_helper.from_array(b, "B"),
             onnx.numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one")]
    g = h.make_graph(nodes, "lr", [h.make_tensor_value_info("X", onnx.TensorProto.FLOAT, ["N", w.shape[0]])],
                     [h.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT, ["N", 2])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)], producer_name="external_models.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def export(model, X, path):
    m = to_onnx(model, X[:1], options={id(model): {"zipmap": False}},
                target_opset={"": 17, "ai.onnx.ml": 3})
    onnx.save(m, path)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    X, y = telco_matrix()
    train, test = slice(0, 6000), slice(6000, 6000 + N_TEST)
    lr = LogisticRegression(max_iter=2000).fit(X[train], y[train])
    mlp = MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=300, random_state=0).fit(X[train], y[train])
    export(lr, X, OUT / "lr.onnx")
    export(mlp, X, OUT / "mlp.onnx")
    m = onnx.load(OUT / "lr.onnx")
    seen, keep = set(), []
    for o in m.opset_import:
        if o.domain not in seen:
            seen.add(o.domain)
            keep.append(onnx.helper.make_opsetid(o.domain, o.version))
    del m.opset_import[:]
    m.opset_import.extend(keep)
    onnx.save(m, OUT / "lr.with-default-domain.onnx")
    quantize_dynamic(OUT / "lr.with-default-domain.onnx", OUT / "lr.int8.onnx", weight_type=QuantType.QInt8)
    (OUT / "lr.with-default-domain.onnx").unlink()
    lr_matmul(lr, OUT / "lr-matmul.onnx")
    quantize_dynamic(OUT / "lr-matmul.onnx", OUT / "lr-matmul.int8-dynamic.onnx", weight_type=QuantType.QInt8)
    quantize_static(OUT / "lr-matmul.onnx", OUT / "lr-matmul.int8-qop.onnx", Calib(X[:1000]),
                    quant_format=QuantFormat.QOperator, op_types_to_quantize=["MatMul"], per_channel=False,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    quantize_dynamic(OUT / "mlp.onnx", OUT / "mlp.int8-dynamic.onnx", weight_type=QuantType.QInt8)
    quantize_static(OUT / "mlp.onnx", OUT / "mlp.int8-qop.onnx", Calib(X[:1000]), quant_format=QuantFormat.QOperator,
                    op_types_to_quantize=["MatMul"], per_channel=False,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    quantize_static(OUT / "mlp.onnx", OUT / "mlp.int8-qdq.onnx", Calib(X[:1000]), quant_format=QuantFormat.QDQ,
                    per_channel=False, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    Xt = X[test]
    # Rows far outside the training range, so that quantized activations saturate: batches the
    # calibration never saw, where engines that round differently part ways.
    wide = np.random.default_rng(7).uniform(-20, 20, size=(64, X.shape[1])).astype(np.float32)
    cases = []
    for f in ["lr.onnx", "lr.int8.onnx", "lr-matmul.onnx", "lr-matmul.int8-dynamic.onnx", "lr-matmul.int8-qop.onnx", "mlp.onnx", "mlp.int8-dynamic.onnx", "mlp.int8-qop.onnx", "mlp.int8-qdq.onnx"]:
        sess = ort.InferenceSession(str(OUT / f), providers=["CPUExecutionProvider"])
        (probs,) = sess.run(["probabilities"], {"X": Xt})
        (probs_wide,) = sess.run(["probabilities"], {"X": wide})
        ops = sorted({n.op_type for n in onnx.load(OUT / f).graph.node})
        cases.append({"file": f, "output": "probabilities", "ops": ops,
                      "expected": [[float(v) for v in row] for row in probs.astype(np.float32)],
                      "expected_wide": [[float(v) for v in row] for row in probs_wide.astype(np.float32)]})
    meta = {
        "generated_by": "python/external_models.py",
        "versions": {"onnxruntime": ort.__version__, "onnx": onnx.__version__,
                     "skl2onnx": __import__("skl2onnx").__version__,
                     "scikit-learn": __import__("sklearn").__version__},
        "n_features": int(X.shape[1]),
        "inputs": [[float(v) for v in row] for row in Xt],
        "wide_inputs": [[float(v) for v in row] for row in wide],
        "cases": cases,
    }
    (OUT / "cases.json").write_text(json.dumps(meta))
    for c in cases:
        print(f"{c['file']:<24} {', '.join(c['ops'])}")


if __name__ == "__main__":
    main()
