//! Conversions between JS values and the core's types.

use std::collections::BTreeMap;

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

/// What the package's calls reject with: a JS `Error` (see [`js_err`]).
pub type JsResult<T> = Result<T, JsValue>;

/// A core error as a JS `Error`: the message the server would send, and the fields of its JSON
/// body as properties (`code`, and `row`/`column` for bad input), so callers need not parse
/// messages.
pub fn js_err(e: scorelet::Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    let set = |k: &str, v: JsValue| {
        let _ = Reflect::set(&err, &k.into(), &v);
    };
    set("code", e.code().into());
    if let Some(row) = e.row() {
        set("row", (row as f64).into());
    }
    if let Some(column) = e.column() {
        set("column", column.into());
    }
    err.into()
}

/// A malformed call (`code: "bad_request"`).
pub fn bad_request(message: impl Into<String>) -> JsValue {
    js_err(scorelet::Error::BadRequest(message.into()))
}

/// A JS value as JSON (what the server would have received).
pub fn to_json(v: &JsValue, what: &str) -> JsResult<serde_json::Value> {
    let text = js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| bad_request(format!("{what} cannot be turned into JSON")))?;
    serde_json::from_str(&text).map_err(|e| bad_request(e.to_string()))
}

/// JSON as a JS value.
pub fn from_json(v: &serde_json::Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap_or(JsValue::NULL)
}

/// The message of a thrown JS value (and of its `cause`, where fetch puts the reason).
pub fn js_message(v: &JsValue) -> String {
    let msg = |v: &JsValue| {
        v.dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| v.as_string())
            .unwrap_or_else(|| format!("{v:?}"))
    };
    let mut m = msg(v);
    if let Ok(cause) = Reflect::get(v, &"cause".into())
        && !cause.is_undefined()
    {
        m = format!("{m} ({})", msg(&cause));
    }
    m
}

/// The verified bundle in `{ "manifest.json": Uint8Array, "model.onnx": …, … }`.
pub fn bundle(files: &Object) -> scorelet::Result<scorelet::Bundle> {
    let bad = |m: String| scorelet::Error::Bundle(m);
    let mut map = BTreeMap::new();
    let mut manifest = None;
    for entry in Object::entries(files).iter() {
        let pair = js_sys::Array::from(&entry);
        let name = pair.get(0).as_string().ok_or_else(|| bad("file names must be strings".into()))?;
        let value = pair.get(1);
        if !value.is_instance_of::<Uint8Array>() {
            return Err(bad(format!("file `{name}` must be a Uint8Array")));
        }
        let bytes = Uint8Array::from(value).to_vec();
        if name == scorelet::bundle::MANIFEST {
            manifest = Some(bytes);
        } else {
            map.insert(name, bytes);
        }
    }
    let manifest = manifest.ok_or_else(|| bad("manifest.json is missing".into()))?;
    scorelet::Bundle::from_files(&manifest, map)
}

/// One input column of a `predictColumns` call, as read from JS.
enum Column {
    /// A typed array.
    Numbers(Vec<f64>),
    /// A plain array as JSON text (`JSON.stringify`: one crossing for the whole column, where
    /// reading cell by cell costs several per cell and a string conversion each). An object
    /// with `toJSON` (a `Date`) arrives as its JSON text, where cell by cell it is an error.
    Json(String),
    /// A plain array read cell by cell: what JSON cannot carry exactly (`null` may have been
    /// `undefined` or `NaN`), strings with escapes, and anything that is not a scalar.
    Values(Vec<scorelet::Value>),
}

/// Scores columns of equal length (`predictColumns`): each input column of the scorer's
/// pipeline read from a typed array or a plain array, the cells borrowed, never one `String`
/// per cell. Returns the features and scores, as `Scorer::score` does.
pub fn score_columns(scorer: &scorelet::Scorer, columns: &JsValue) -> JsResult<(Vec<f32>, scorelet::model::Outputs)> {
    use scorelet::Error;
    use scorelet::error::InputError;
    use scorelet::value::ValueRef;
    if !columns.is_object() {
        return Err(bad_request("columns must be an object of arrays"));
    }
    let names: Vec<&str> = scorer.pipeline().input_columns().collect();
    let ignored = scorer.pipeline().ignored_columns();
    for key in Object::keys(columns.unchecked_ref::<Object>()).iter().filter_map(|k| k.as_string()) {
        if !names.contains(&key.as_str()) && !ignored.contains(&key) {
            let expected = names.join(", ");
            return Err(js_err(Error::input(0, key, InputError::UnknownColumn { expected })));
        }
    }
    let mut data = Vec::with_capacity(names.len());
    for name in &names {
        let col = Reflect::get(columns, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
        if col.is_undefined() {
            return Err(js_err(Error::input(0, *name, InputError::MissingColumn)));
        }
        data.push(if let Some(f) = col.dyn_ref::<js_sys::Float64Array>() {
            Column::Numbers(f.to_vec())
        } else if let Some(f) = col.dyn_ref::<js_sys::Float32Array>() {
            Column::Numbers(f.to_vec().into_iter().map(f64::from).collect())
        } else if let Some(a) = col.dyn_ref::<js_sys::Array>() {
            let text = js_sys::JSON::stringify(a).ok().and_then(|t| t.as_string());
            match text {
                Some(t) if !t.contains("null") && scorelet::api::direct::scalars(&t).is_some() => Column::Json(t),
                _ => Column::Values(cell_by_cell(a, name)?),
            }
        } else {
            return Err(bad_request(format!("column `{name}` must be an array or a typed array")));
        });
    }
    let views: Vec<Vec<ValueRef<'_>>> = data
        .iter()
        .map(|d| match d {
            Column::Numbers(v) => v.iter().map(|x| ValueRef::Number(*x)).collect(),
            Column::Json(t) => scorelet::api::direct::scalars(t).expect("checked when read"),
            Column::Values(v) => v.iter().map(scorelet::Value::as_ref).collect(),
        })
        .collect();
    let rows = views.first().map_or(0, Vec::len);
    if let Some((c, v)) = views.iter().enumerate().find(|(_, v)| v.len() != rows) {
        return Err(bad_request(format!(
            "column `{}` has {} values; column `{}` has {rows}",
            names[c],
            v.len(),
            names[0]
        )));
    }
    let mut cells = Vec::with_capacity(rows * names.len());
    for r in 0..rows {
        cells.extend(views.iter().map(|v| v[r]));
    }
    scorer.score_cells(&cells, names.len()).map_err(js_err)
}

/// A plain array's cells one by one: numbers, strings, booleans, and `null`/`undefined` as
/// missing; anything else is an error naming the row.
fn cell_by_cell(a: &js_sys::Array, name: &str) -> JsResult<Vec<scorelet::Value>> {
    use scorelet::error::InputError;
    use scorelet::{Error, Value};
    let mut out = Vec::with_capacity(a.length() as usize);
    for (r, v) in a.iter().enumerate() {
        out.push(if v.is_null() || v.is_undefined() {
            Value::Missing
        } else if let Some(n) = v.as_f64() {
            Value::Number(n)
        } else if let Some(s) = v.as_string() {
            Value::Text(s)
        } else if let Some(b) = v.as_bool() {
            Value::Bool(b)
        } else {
            return Err(js_err(Error::input(
                r,
                name,
                InputError::WrongType { expected: "a number, string, boolean or null", got: "an object".into() },
            )));
        });
    }
    Ok(out)
}
