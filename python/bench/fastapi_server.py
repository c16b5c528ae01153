"""A FastAPI + onnxruntime scoring server, as teams write one today: MLflow's /invocations shape
(`dataframe_records`), pandas preprocessing, onnxruntime with one thread per worker.
    BUNDLE=dir uvicorn fastapi_server:app --port 8000 --workers 2"""

import os

import numpy as np
import onnxruntime as ort
import pandas as pd
from fastapi import FastAPI, HTTPException, Request

from preprocess import Preprocessor

bundle = os.environ["BUNDLE"]
pre = Preprocessor(f"{bundle}/features.json")
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
sess = ort.InferenceSession(f"{bundle}/model.onnx", opts, providers=["CPUExecutionProvider"])
input_name = sess.get_inputs()[0].name
app = FastAPI()


@app.get("/ping")
def ping():
    return {"status": "ok"}


@app.post("/invocations")
async def invocations(request: Request):
    body = await request.json()
    records = body.get("dataframe_records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records:
        raise HTTPException(400, "dataframe_records must be a non-empty list")
    try:
        x = pre.transform(pd.DataFrame.from_records(records))
    except (KeyError, ValueError) as e:
        raise HTTPException(400, str(e))
    z = sess.run(None, {input_name: x})[0][:, 0]
    p = 1 / (1 + np.exp(-z))
    return {"predictions": [{"probability": float(v), "label": "Yes" if v >= 0.5 else "No"} for v in p]}
