//! The Open Inference Protocol v2 (KServe, Triton, MLServer): `POST /v2/models/{name}/infer`
//! with one input tensor per column, and model metadata for `GET /v2/models/{name}`.

use serde_json::{Value as Json, json};

use super::{RowReader, parse_json, parse_options};
use crate::bundle::Task;
use crate::error::{Error, Result};
use crate::predict::Scorer;
use crate::prediction::{Options, Prediction};
use crate::value::{Row, f32s_json};

/// A parsed infer request.
#[derive(Debug, Clone, PartialEq)]
pub struct InferRequest {
    pub id: Option<String>,
    pub rows: Vec<Row>,
    pub options: Options,
}

fn flatten<'a>(v: &'a Json, out: &mut Vec<&'a Json>, depth: usize) -> Result<()> {
    if depth > 8 {
        return Err(Error::BadRequest("input data is nested too deeply".into()));
    }
    match v {
        Json::Array(a) => a.iter().try_for_each(|x| flatten(x, out, depth + 1)),
        x => {
            out.push(x);
            Ok(())
        }
    }
}

/// Parses an infer request body.
pub fn parse(body: &[u8], reader: &RowReader) -> Result<InferRequest> {
    let v = parse_json(body)?;
    let obj = v.as_object().ok_or_else(|| Error::BadRequest("the body must be a JSON object".into()))?;
    let id = match obj.get("id") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(_) => return Err(Error::BadRequest("`id` must be a string".into())),
    };
    let options = parse_options(obj.get("parameters"))?;
    let inputs = obj
        .get("inputs")
        .and_then(Json::as_array)
        .ok_or_else(|| Error::BadRequest("`inputs` must be an array of tensors".into()))?;
    let mut cols = Vec::with_capacity(inputs.len());
    for (i, t) in inputs.iter().enumerate() {
        let name = t
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| Error::BadRequest(format!("input {i} has no `name`")))?;
        let datatype = t
            .get("datatype")
            .and_then(Json::as_str)
            .ok_or_else(|| Error::BadRequest(format!("input `{name}` has no `datatype`")))?;
        const TYPES: &[&str] = &[
            "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64",
            "BYTES",
        ];
        if !TYPES.contains(&datatype) {
            return Err(Error::BadRequest(format!("input `{name}` has unknown datatype {datatype:?}")));
        }
        let shape: Vec<u64> = t
            .get("shape")
            .and_then(Json::as_array)
            .and_then(|s| s.iter().map(Json::as_u64).collect())
            .ok_or_else(|| Error::BadRequest(format!("input `{name}` needs a `shape` of non-negative integers")))?;
        let data = t.get("data").ok_or_else(|| Error::BadRequest(format!("input `{name}` has no `data`")))?;
        let mut flat = Vec::new();
        flatten(data, &mut flat, 0)?;
        let expected = shape.iter().try_fold(1u64, |a, d| a.checked_mul(*d));
        if expected != Some(flat.len() as u64) || shape.iter().skip(1).any(|d| *d != 1) {
            return Err(Error::BadRequest(format!(
                "input `{name}`: shape {shape:?} does not fit {} values (one value per row: [N] or [N, 1])",
                flat.len()
            )));
        }
        cols.push((name, flat));
    }
    let rows = reader.columnar(cols)?;
    if rows.is_empty() {
        return Err(Error::EmptyBatch);
    }
    Ok(InferRequest { id, rows, options })
}

/// The infer response: `probability`/`probabilities`/`value`, `label`, and `features` if asked.
pub fn response(scorer: &Scorer, id: Option<&str>, predictions: &[Prediction]) -> Json {
    let n = predictions.len();
    let mut outputs = Vec::new();
    let mut features: Vec<f32> = Vec::new();
    let mut width = 0;
    let mut labels = Vec::new();
    let mut probs = Vec::new();
    let mut classes = 0;
    for p in predictions {
        let f = match p {
            Prediction::Binary { probability, label, features } => {
                probs.push(*probability);
                labels.push(label.clone());
                features
            }
            Prediction::Multiclass { probabilities, label, features } => {
                classes = probabilities.len();
                probs.extend(probabilities.iter().map(|(_, p)| *p));
                labels.push(label.clone());
                features
            }
            Prediction::Regression { value, features } => {
                probs.push(*value);
                features
            }
        };
        if let Some(f) = f {
            width = f.len();
            features.extend_from_slice(f);
        }
    }
    match &scorer.manifest().task {
        Task::BinaryClassification { .. } => {
            outputs.push(json!({"name": "probability", "shape": [n], "datatype": "FP32", "data": f32s_json(&probs)}));
            outputs.push(json!({"name": "label", "shape": [n], "datatype": "BYTES", "data": labels}));
        }
        Task::MulticlassClassification { .. } => {
            outputs.push(
                json!({"name": "probabilities", "shape": [n, classes], "datatype": "FP32", "data": f32s_json(&probs)}),
            );
            outputs.push(json!({"name": "label", "shape": [n], "datatype": "BYTES", "data": labels}));
        }
        Task::Regression { .. } => {
            outputs.push(json!({"name": "value", "shape": [n], "datatype": "FP32", "data": f32s_json(&probs)}))
        }
    }
    if !features.is_empty() {
        outputs
            .push(json!({"name": "features", "shape": [n, width], "datatype": "FP32", "data": f32s_json(&features)}));
    }
    let mut r = json!({"model_name": scorer.name(), "model_version": scorer.version(), "outputs": outputs});
    if let Some(id) = id {
        r["id"] = json!(id);
    }
    r
}

/// `GET /v2/models/{name}`: OIP metadata plus the signature, task and metrics of the manifest.
pub fn metadata(scorer: &Scorer) -> Json {
    let m = scorer.manifest();
    let inputs: Vec<Json> = m
        .signature
        .inputs
        .iter()
        .map(|c| {
            let dt = match c.ty.as_str() {
                "number" => "FP64",
                "boolean" => "BOOL",
                _ => "BYTES",
            };
            json!({"name": c.name, "datatype": dt, "shape": [-1]})
        })
        .collect();
    let outputs = match &m.task {
        Task::BinaryClassification { .. } => json!([
            {"name": "probability", "datatype": "FP32", "shape": [-1]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]}]),
        Task::MulticlassClassification { classes } => json!([
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, classes.len()]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]}]),
        Task::Regression { .. } => json!([{"name": "value", "datatype": "FP32", "shape": [-1]}]),
    };
    json!({
        "name": m.name,
        "versions": [scorer.version()],
        "platform": "scorelet-onnx",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {
            "task": m.task,
            "metrics": m.metrics,
            "signature": m.signature,
            "created": m.created,
            "precision": m.model.precision,
            "engine": scorer.engine(),
            "feature_names": scorer.pipeline().feature_names(),
        }
    })
}
