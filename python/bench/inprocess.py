"""onnxruntime (one thread) on the bundle's ONNX model with the pandas/numpy preprocessing, the
way users serve a model today: rows as dicts → DataFrame → features → session.run → sigmoid.
Also `session.run` alone on a ready float32 feature matrix (the strongest form of the peer, the
one the compiled engine's model-only numbers compare with): the bundle's golden rows' features.
Prints JSON: mean µs per call for 1 and 100 rows per call (`row_us`, `batch100_us`, and
`model_row_us`, `model_batch100_us` for the ready matrix), and the largest difference from
scorelet's own probabilities (`--expect`)."""

import argparse
import json
import time

import numpy as np
import onnxruntime as ort
import pandas as pd

from preprocess import Preprocessor


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bundle")
    p.add_argument("rows", help="JSON array of records")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--expect", help="JSON lines from `scorelet predict` on the same rows")
    a = p.parse_args()
    rows = json.load(open(a.rows))
    pre = Preprocessor(f"{a.bundle}/features.json")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(f"{a.bundle}/model.onnx", opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    link = json.load(open(f"{a.bundle}/manifest.json"))["model"]["link"]

    def score(batch):
        x = pre.transform(pd.DataFrame.from_records(batch))
        out = sess.run(None, {name: x})[0]
        if link == "sigmoid":
            return 1 / (1 + np.exp(-out[:, 0]))
        return out[:, -1]  # a forest's class probabilities: the positive class

    def per_call(batch_size):
        batches = [rows[i : i + batch_size] for i in range(0, len(rows) - batch_size + 1, batch_size)] or [rows]
        for b in batches[:20]:
            score(b)
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < a.seconds:
            score(batches[n % len(batches)])
            n += 1
        return (time.perf_counter() - t) / n * 1e6

    golden = np.array(json.load(open(f"{a.bundle}/golden.json"))["features"], dtype=np.float32)

    def model_per_call(batch_size):
        # The golden rows' features as scorelet computed them, repeated to the batch: the matrix
        # the criterion benches run scorelet's engines on.
        x = np.ascontiguousarray(np.resize(golden, (batch_size, golden.shape[1])), dtype=np.float32)
        feeds = {name: x}
        for _ in range(200):
            sess.run(None, feeds)
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < a.seconds:
            sess.run(None, feeds)
            n += 1
        return (time.perf_counter() - t) / n * 1e6

    result = {"row_us": per_call(1), "batch100_us": per_call(100),
              "model_row_us": model_per_call(1), "model_batch100_us": model_per_call(100)}
    if a.expect:
        want = np.array([json.loads(l)["probability"] for l in open(a.expect)])
        got = score(rows)[: len(want)]
        result["max_difference"] = float(np.max(np.abs(got - want)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
