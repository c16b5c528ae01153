"""The bundle's feature pipeline (features.json) in pandas/numpy: what a team serving the ONNX
model with onnxruntime writes and keeps in sync with training by hand. Covers the steps the Telco
spec uses (one-hot with unknown bucket, booleans, clip, standardize, min-max, log1p, missing
indicators); it raises on anything else rather than guess."""

import json

import numpy as np
import pandas as pd


class Preprocessor:
    def __init__(self, features_json: str):
        spec = json.load(open(features_json))
        self.columns = spec["columns"]

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        out = []
        for c in self.columns:
            t = c["transform"]
            raw = df[c["name"]].astype(str).str.strip()
            missing = raw.isin(c["missing_tokens"]) | df[c["name"]].isna()
            kind = t["kind"]
            if kind == "numeric":
                x = pd.to_numeric(raw.where(~missing), errors="raise").astype(np.float64)
                x = x.fillna(t["impute"]).to_numpy()
                for s in t["steps"]:
                    op = s["op"]
                    if op == "clip":
                        x = np.clip(x, s["min"], s["max"])
                    elif op == "standardize":
                        x = (x - s["mean"]) / s["scale"]
                    elif op == "min_max":
                        x = (x - s["min"]) / s["range"]
                    elif op == "log1p":
                        x = np.log1p(np.maximum(x, 0))
                    else:
                        raise ValueError(f"step {op} is not implemented here")
                out.append(x[:, None])
                if t["missing_indicator"]:
                    out.append(missing.to_numpy(np.float64)[:, None])
            elif kind == "boolean":
                low = raw.str.lower()
                x = np.where(missing, float(t["impute"]), low.isin(t["true_tokens"]).astype(np.float64))
                out.append(x[:, None])
                if t["missing_indicator"]:
                    out.append(missing.to_numpy(np.float64)[:, None])
            elif kind == "categorical":
                cats = t["encoding"]["categories"]
                v = raw.where(~missing, t["impute"])
                onehot = np.stack([(v == k).to_numpy(np.float64) for k in cats], axis=1)
                unknown = (~v.isin(cats)).to_numpy(np.float64)[:, None]
                out.extend([onehot, unknown])
            else:
                raise ValueError(f"column kind {kind} is not implemented here")
        return np.hstack(out).astype(np.float32)
