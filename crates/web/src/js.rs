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
