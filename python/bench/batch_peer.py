"""The batch peer of `scorelet predict`: a bundle's model scored over a large CSV the way a team
without scorelet does it, writing the same JSON lines (`{"label": …, "probability": …}`).

  batch_peer.py BUNDLE INPUT.csv OUTPUT.jsonl [--workers N] [--chunk ROWS]

pandas reads the CSV in chunks (`read_csv(chunksize=…)`), `preprocess.py` computes the feature
matrix with vectorized pandas/numpy, onnxruntime scores it, numpy applies the link. With
`--workers 2` the chunks are preprocessed and scored in two processes (multiprocessing, order
kept), so the peer uses both cores; with 1, onnxruntime gets two intra-op threads instead.
Binary classification bundles only (the benchmark's Telco churn).
"""
import argparse
import json
import multiprocessing as mp
import os
import sys

import numpy as np
import onnxruntime as ort
import pandas as pd

sys.path.insert(0, os.path.dirname(__file__))
from preprocess import Preprocessor  # noqa: E402

STATE = {}


def init(bundle, threads):
    m = json.load(open(os.path.join(bundle, "manifest.json")))
    task, model = m["task"], m["model"]
    if task["kind"] != "binary_classification" or model["link"] != "sigmoid":
        raise SystemExit("batch_peer.py scores binary classifiers with a sigmoid link only")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    STATE["sess"] = ort.InferenceSession(os.path.join(bundle, model["file"]), so, providers=["CPUExecutionProvider"])
    STATE["io"] = (model["input"], model["output"])
    STATE["pre"] = Preprocessor(os.path.join(bundle, "features.json"))
    pos = task["positive_class"]
    neg = [c for c in task["classes"] if c != pos][0]
    STATE["labels"] = (json.dumps(neg), json.dumps(pos), np.float32(task["threshold"]))


def score(df):
    x = STATE["pre"].transform(df)
    inp, out = STATE["io"]
    (z,) = STATE["sess"].run([out], {inp: x})
    z = z.reshape(-1).astype(np.float32)
    p = (np.float32(1) / (np.float32(1) + np.exp(-z))).astype(np.float32)
    neg, pos, t = STATE["labels"]
    # numpy's float32 text is the shortest that reads back as the same float, as scorelet writes.
    return "".join(f'{{"label":{pos if v >= t else neg},"probability":{str(v)}}}\n' for v in p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=50_000)
    a = ap.parse_args()
    chunks = pd.read_csv(a.input, chunksize=a.chunk, dtype=str, keep_default_na=False)
    with open(a.output, "w") as f:
        if a.workers <= 1:
            init(a.bundle, 2)
            for df in chunks:
                f.write(score(df))
        else:
            with mp.get_context("fork").Pool(a.workers, initializer=init, initargs=(a.bundle, 1)) as pool:
                for text in pool.imap(score, chunks):
                    f.write(text)


if __name__ == "__main__":
    main()
