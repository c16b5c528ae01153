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

/// An infer request read straight from the body, its cells borrowed: input columns in the
/// pipeline's order, ready for [`Scorer::predict_columns`].
#[derive(Debug)]
pub struct Direct<'a> {
    pub id: Option<&'a str>,
    pub options: Options,
    pub columns: Vec<Vec<crate::value::ValueRef<'a>>>,
}

impl Direct<'_> {
    /// Scores the request's columns.
    pub fn predict(&self, scorer: &Scorer) -> Result<Vec<Prediction>> {
        let cols: Vec<_> = self.columns.iter().map(|c| crate::features::ColumnCells::Cells(c)).collect();
        scorer.predict_columns(&cols, self.options)
    }
}

/// The common infer request without a JSON tree: every input a flat array of scalars, one
/// value per row (`shape` `[N]` or `[N, 1]`), named for an input or ignored column, each input
/// column once, strings without escapes. `None` for anything else; [`parse`] then reads the
/// body and says what is wrong with it, so both give the same answers.
pub fn parse_direct<'a>(body: &'a [u8], reader: &RowReader) -> Option<Direct<'a>> {
    use super::direct::ScalarList;
    use super::rows::Slot;
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow, default)]
        id: Option<&'a str>,
        #[serde(borrow)]
        inputs: Vec<Tensor<'a>>,
        #[serde(default)]
        parameters: Option<Json>,
    }
    #[derive(serde::Deserialize)]
    struct Tensor<'a> {
        #[serde(borrow)]
        name: &'a str,
        #[serde(borrow)]
        datatype: &'a str,
        shape: Vec<u64>,
        #[serde(borrow)]
        data: ScalarList<'a>,
    }
    let b: Body<'a> = serde_json::from_slice(body).ok()?;
    let options = parse_options(b.parameters.as_ref()).ok()?;
    let mut columns: Vec<Option<Vec<crate::value::ValueRef<'a>>>> = vec![None; reader.width()];
    let rows = b.inputs.first()?.data.0.len();
    if rows == 0 {
        return None;
    }
    for t in b.inputs {
        let n = t.data.0.len() as u64;
        let shape_fits = matches!(t.shape.as_slice(), [r] | [r, 1] if *r == n);
        if !TYPES.contains(&t.datatype) || !shape_fits || t.data.0.len() != rows {
            return None;
        }
        match reader.slot(t.name) {
            Slot::Input(i) if columns[i].is_none() => columns[i] = Some(t.data.0),
            Slot::Ignored => {}
            _ => return None,
        }
    }
    Some(Direct { id: b.id, options, columns: columns.into_iter().collect::<Option<_>>()? })
}

/// The datatypes an input may declare.
const TYPES: &[&str] = &[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES",
];

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Bundle;
    use crate::golden::Golden;

    fn fixture() -> (Scorer, RowReader, Vec<serde_json::Map<String, Json>>) {
        let bundle = Bundle::load_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundle")).unwrap();
        let scorer = Scorer::from_bundle(&bundle).unwrap();
        let reader = RowReader::for_pipeline(scorer.pipeline());
        let rows = Golden::from_bundle(&bundle).unwrap().unwrap().rows;
        (scorer, reader, rows)
    }

    /// One tensor per column of `rows`, as Triton and KServe clients send them.
    fn body(rows: &[serde_json::Map<String, Json>], edit: impl Fn(&str, &mut Json)) -> Vec<u8> {
        let inputs: Vec<Json> = rows[0]
            .keys()
            .map(|k| {
                let data: Vec<Json> = rows.iter().map(|r| r[k].clone()).collect();
                let mut t = json!({"name": k, "shape": [rows.len()], "datatype": "BYTES", "data": data});
                edit(k, &mut t);
                t
            })
            .collect();
        serde_json::to_vec(&json!({"id": "r1", "inputs": inputs, "parameters": {"return_features": true}})).unwrap()
    }

    fn direct(scorer: &Scorer, reader: &RowReader, body: &[u8]) -> Option<Result<Vec<Prediction>>> {
        Some(parse_direct(body, reader)?.predict(scorer))
    }

    fn tree(scorer: &Scorer, reader: &RowReader, body: &[u8]) -> Result<Vec<Prediction>> {
        let r = parse(body, reader)?;
        scorer.predict(&r.rows, r.options)
    }

    /// The direct path takes the common shape and answers as the tree does, errors included;
    /// every other shape is left to the tree, which says what is wrong.
    #[test]
    fn the_direct_path_answers_like_the_tree_and_leaves_the_rest_to_it() {
        let (scorer, reader, rows) = fixture();
        let plain = body(&rows, |_, _| {});
        let got = direct(&scorer, &reader, &plain).expect("the common shape is taken").unwrap();
        assert_eq!(got, tree(&scorer, &reader, &plain).unwrap());
        assert_eq!(parse_direct(&plain, &reader).unwrap().id, Some("r1"));
        let column = body(&rows, |_, t| t["shape"] = json!([rows.len(), 1]));
        assert_eq!(direct(&scorer, &reader, &column).unwrap().unwrap(), got, "[N, 1] is one value per row too");

        // Bad cells: the same error, the first in row order, on both paths.
        let bad = body(&rows, |k, t| match k {
            "Partner" => t["data"][9] = json!("maybe"),
            "tenure" => t["data"][5] = json!("five"),
            _ => {}
        });
        let want = tree(&scorer, &reader, &bad).unwrap_err().to_string();
        assert!(want.contains("row 5"), "{want}");
        assert_eq!(direct(&scorer, &reader, &bad).unwrap().unwrap_err().to_string(), want);

        // A string with an escape is left to the tree, which reads it as the same text.
        let text = String::from_utf8(plain.clone()).unwrap();
        let escaped = text.replacen("\"Female\"", "\"Fem\\u0061le\"", 1);
        assert_ne!(escaped, text);
        assert!(parse_direct(escaped.as_bytes(), &reader).is_none());
        assert_eq!(tree(&scorer, &reader, escaped.as_bytes()).unwrap(), got);

        // So is nested data, which the tree flattens.
        let nested = body(&rows, |k, t| {
            if k == "tenure" {
                t["data"] = json!([t["data"].clone()])
            }
        });
        assert!(parse_direct(&nested, &reader).is_none());
        assert_eq!(tree(&scorer, &reader, &nested).unwrap(), got);

        // Left to the tree: each of these is refused there with its own message.
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "wrong shape",
                body(&rows, |k, t| {
                    if k == "tenure" {
                        t["shape"] = json!([1, rows.len()])
                    }
                }),
            ),
            (
                "unknown datatype",
                body(&rows, |k, t| {
                    if k == "tenure" {
                        t["datatype"] = json!("FLOAT")
                    }
                }),
            ),
            (
                "unknown column",
                body(&rows, |k, t| {
                    if k == "tenure" {
                        t["name"] = json!("tenur")
                    }
                }),
            ),
            (
                "duplicate column",
                body(&rows, |k, t| {
                    if k == "tenure" {
                        t["name"] = json!("gender")
                    }
                }),
            ),
            (
                "short column",
                body(&rows, |k, t| {
                    if k == "tenure" {
                        t["data"] = json!([1]);
                        t["shape"] = json!([1])
                    }
                }),
            ),
            (
                "object cell",
                body(&rows, |k, t| {
                    if k == "tenure" {
                        t["data"][0] = json!({"a": 1})
                    }
                }),
            ),
        ];
        for (what, b) in cases {
            assert!(parse_direct(&b, &reader).is_none(), "{what} should be left to the tree");
            assert!(tree(&scorer, &reader, &b).is_err(), "{what} should be refused");
        }
    }
}
