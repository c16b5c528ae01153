//! MLflow's scoring protocol: `POST /invocations` with `dataframe_split`, `dataframe_records`,
//! `instances` or `inputs`, plus optional `params`; the answer is `{"predictions": [...]}`.

use serde_json::{Value as Json, json};

use super::{RowReader, parse_json, parse_options};
use crate::error::{Error, Result};
use crate::predict::Scorer;
use crate::prediction::{Options, Prediction};
use crate::value::Row;

use super::direct::CellRows;

/// A parsed scoring request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub rows: Vec<Row>,
    pub options: Options,
}

const KEYS: &[&str] = &["dataframe_split", "dataframe_records", "instances", "inputs"];

/// A parsed `/invocations` body as the scorer takes it: the direct path's borrowed cells, or
/// the tree path's rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed<'b> {
    Cells(CellRows<'b>, Options),
    Rows(Request),
}

impl Parsed<'_> {
    /// Scores the batch.
    pub fn predict(&self, scorer: &Scorer) -> Result<Vec<Prediction>> {
        match self {
            Parsed::Cells(c, o) => scorer.predict_cells(&c.cells, c.width, *o),
            Parsed::Rows(r) => scorer.predict(&r.rows, r.options),
        }
    }
}

/// Parses an `/invocations` body for scoring: the common shapes straight into cells borrowed
/// from the body (no JSON tree, no `String` per cell), anything else, and every error, through
/// [`parse_tree`].
pub fn parse_borrowed<'b>(body: &'b [u8], reader: &RowReader) -> Result<Parsed<'b>> {
    match super::direct::parse(body, reader) {
        Some((cells, options)) => Ok(Parsed::Cells(cells, options)),
        None => parse_tree(body, reader).map(Parsed::Rows),
    }
}

/// [`parse_borrowed`] into owned rows.
pub fn parse(body: &[u8], reader: &RowReader) -> Result<Request> {
    Ok(match parse_borrowed(body, reader)? {
        Parsed::Cells(cells, options) => Request { rows: cells.to_rows(), options },
        Parsed::Rows(r) => r,
    })
}

/// Parses an `/invocations` body through a JSON tree: every shape, and the errors users see. The
/// reference [`parse`]'s direct path is tested against.
pub fn parse_tree(body: &[u8], reader: &RowReader) -> Result<Request> {
    let v = parse_json(body)?;
    let obj = v.as_object().ok_or_else(|| Error::BadRequest("the body must be a JSON object".into()))?;
    for k in obj.keys() {
        if !KEYS.contains(&k.as_str()) && k != "params" {
            return Err(Error::BadRequest(format!(
                "unknown field `{}`; expected one of {} (and `params`)",
                crate::value::truncate(k, 40),
                KEYS.join(", ")
            )));
        }
    }
    let given: Vec<&&str> = KEYS.iter().filter(|k| obj.contains_key(**k)).collect();
    if given.len() != 1 {
        return Err(Error::BadRequest(format!("give exactly one of {}", KEYS.join(", "))));
    }
    let options = parse_options(obj.get("params"))?;
    let body = &obj[*given[0]];
    let rows = match *given[0] {
        "dataframe_split" => {
            let s = body.as_object().ok_or_else(|| Error::BadRequest("`dataframe_split` must be an object".into()))?;
            let columns = s
                .get("columns")
                .and_then(Json::as_array)
                .ok_or_else(|| Error::BadRequest("`dataframe_split.columns` must be an array".into()))?;
            let data = s
                .get("data")
                .and_then(Json::as_array)
                .ok_or_else(|| Error::BadRequest("`dataframe_split.data` must be an array".into()))?;
            reader.split(columns, data)?
        }
        "dataframe_records" => {
            let r = body
                .as_array()
                .ok_or_else(|| Error::BadRequest("`dataframe_records` must be an array of objects".into()))?;
            reader.records(r)?
        }
        "instances" | "inputs" => match body {
            Json::Array(items) if items.iter().all(Json::is_object) => reader.records(items)?,
            Json::Array(items) => reader.positional(items)?,
            Json::Object(cols) => {
                let cols = cols
                    .iter()
                    .map(|(k, v)| match v {
                        Json::Array(a) => Ok((k.as_str(), a.iter().collect())),
                        _ => Err(Error::BadRequest(format!("column `{k}` must be an array"))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                reader.columnar(cols)?
            }
            _ => return Err(Error::BadRequest(format!("`{}` must be an array or an object of columns", given[0]))),
        },
        _ => unreachable!(),
    };
    if rows.is_empty() {
        return Err(Error::EmptyBatch);
    }
    Ok(Request { rows, options })
}

/// [`response`]'s bytes, written without the JSON tree.
pub fn response_bytes(scorer: &Scorer, predictions: &[Prediction]) -> Vec<u8> {
    use crate::prediction::write_str;
    let mut out = Vec::with_capacity(64 + 48 * predictions.len());
    out.extend_from_slice(b"{\"model\":{\"name\":");
    write_str(scorer.name(), &mut out);
    out.extend_from_slice(b",\"version\":");
    write_str(&scorer.version(), &mut out);
    out.extend_from_slice(b"},\"predictions\":[");
    for (i, p) in predictions.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        p.write_json(&mut out);
    }
    out.extend_from_slice(b"]}");
    out
}

/// `{"predictions": [...], "model": {"name", "version"}}`.
pub fn response(scorer: &Scorer, predictions: &[Prediction]) -> Json {
    json!({
        "predictions": predictions.iter().map(Prediction::to_json).collect::<Vec<_>>(),
        "model": { "name": scorer.name(), "version": scorer.version() },
    })
}
