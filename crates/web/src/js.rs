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
    /// A plain array (its cells are read in a second pass, see [`parse_cells`]).
    Cells(js_sys::Array),
    /// `{codes, values}`: a typed array of codes into a plain array of distinct values.
    Dictionary(Vec<u32>, js_sys::Array),
}

/// The plain arrays of a call's columns (each as a JS array), in column order.
fn plain_arrays(columns: &[Column]) -> impl Iterator<Item = Option<&js_sys::Array>> {
    columns.iter().map(|c| match c {
        Column::Cells(a) | Column::Dictionary(_, a) => Some(a),
        Column::Numbers(_) => None,
    })
}

fn stringify(v: &JsValue) -> Option<String> {
    js_sys::JSON::stringify(v).ok().and_then(|t| t.as_string())
}

/// Per column, its cells borrowed from JSON text, or `None` (a typed array, or an array to be
/// read cell by cell: `null` in its text may have been `undefined` or `NaN`). `all` is every
/// plain array stringified at once (one crossing for the whole call, where reading cell by cell
/// costs several per cell and a string conversion each; an object with `toJSON`, a `Date`,
/// arrives as its JSON text); `each`, only when `all` had escapes or non-scalars, the arrays one
/// by one.
fn parse_cells<'a>(
    columns: &[Column],
    all: Option<Vec<Vec<scorelet::value::ValueRef<'a>>>>,
    each: &'a [Option<String>],
) -> Vec<Option<Vec<scorelet::value::ValueRef<'a>>>> {
    use scorelet::value::ValueRef;
    let exact = |v: Vec<ValueRef<'a>>| (!v.iter().any(|x| matches!(x, ValueRef::Missing))).then_some(v);
    match all {
        Some(lists) => {
            let mut lists = lists.into_iter();
            plain_arrays(columns).map(|a| a.and_then(|_| lists.next()).and_then(exact)).collect()
        }
        None => each.iter().map(|t| t.as_deref().and_then(scorelet::api::direct::scalars).and_then(exact)).collect(),
    }
}

/// Dictionary codes from any integer typed array; a negative code is an error.
fn codes(v: &JsValue, name: &str) -> JsResult<Vec<u32>> {
    let signed = |c: Vec<i32>| {
        c.into_iter()
            .map(u32::try_from)
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|_| bad_request(format!("column `{name}`: dictionary codes must not be negative")))
    };
    if let Some(a) = v.dyn_ref::<js_sys::Uint8Array>() {
        Ok(a.to_vec().into_iter().map(u32::from).collect())
    } else if let Some(a) = v.dyn_ref::<js_sys::Uint32Array>() {
        Ok(a.to_vec())
    } else if let Some(a) = v.dyn_ref::<js_sys::Uint16Array>() {
        Ok(a.to_vec().into_iter().map(u32::from).collect())
    } else if let Some(a) = v.dyn_ref::<js_sys::Int32Array>() {
        signed(a.to_vec())
    } else if let Some(a) = v.dyn_ref::<js_sys::Int16Array>() {
        signed(a.to_vec().into_iter().map(i32::from).collect())
    } else if let Some(a) = v.dyn_ref::<js_sys::Int8Array>() {
        signed(a.to_vec().into_iter().map(i32::from).collect())
    } else {
        Err(bad_request(format!("column `{name}`: `codes` must be an integer typed array (Uint8Array … Int32Array)")))
    }
}

/// The scorer's input column names (and the dictionary fields) as JS strings, made once: each
/// `JsValue::from_str` is a UTF-8 → UTF-16 conversion across the boundary.
pub struct ColumnKeys {
    names: Vec<JsValue>,
    ignored: Vec<JsValue>,
    codes: JsValue,
    values: JsValue,
}

impl ColumnKeys {
    pub fn new(pipeline: &scorelet::features::Pipeline) -> ColumnKeys {
        ColumnKeys {
            names: pipeline.input_columns().map(JsValue::from_str).collect(),
            ignored: pipeline.ignored_columns().iter().map(|c| JsValue::from_str(c)).collect(),
            codes: JsValue::from_str("codes"),
            values: JsValue::from_str("values"),
        }
    }
}

/// The first key of `columns` that is neither an input nor an ignored column, as the error.
fn unknown_column(scorer: &scorelet::Scorer, columns: &Object) -> Option<JsValue> {
    use scorelet::error::InputError;
    let names: Vec<&str> = scorer.pipeline().input_columns().collect();
    let ignored = scorer.pipeline().ignored_columns();
    let key = Object::keys(columns)
        .iter()
        .filter_map(|k| k.as_string())
        .find(|k| !names.contains(&k.as_str()) && !ignored.contains(k))?;
    Some(js_err(scorelet::Error::input(0, key, InputError::UnknownColumn { expected: names.join(", ") })))
}

/// Scores columns of equal length (`predictColumns`): each input column of the scorer's
/// pipeline read from a typed array, a plain array, or a dictionary-encoded `{codes, values}`
/// (each distinct value's features computed once), the cells borrowed, never one `String` per
/// cell. Returns the features and scores, as `Scorer::score` does.
pub fn score_columns(
    scorer: &scorelet::Scorer,
    keys: &ColumnKeys,
    columns: &JsValue,
) -> JsResult<(Vec<f32>, scorelet::model::Outputs)> {
    use scorelet::Error;
    use scorelet::error::InputError;
    use scorelet::features::ColumnCells;
    if !columns.is_object() {
        return Err(bad_request("columns must be an object of arrays"));
    }
    let object = columns.unchecked_ref::<Object>();
    let names: Vec<&str> = scorer.pipeline().input_columns().collect();
    let mut data = Vec::with_capacity(names.len());
    for (name, key) in names.iter().zip(&keys.names) {
        let col = Reflect::get(columns, key).unwrap_or(JsValue::UNDEFINED);
        if col.is_undefined() {
            // A misspelt column is both unknown and missing: the unknown name says more.
            return Err(unknown_column(scorer, object)
                .unwrap_or_else(|| js_err(Error::input(0, *name, InputError::MissingColumn))));
        }
        // Each test is a call into JS: the common forms first.
        let codes_of = |col: &JsValue| Reflect::get(col, &keys.codes).ok().filter(|c| !c.is_undefined());
        data.push(if js_sys::Array::is_array(&col) {
            Column::Cells(col.unchecked_into())
        } else if let Some(f) = col.dyn_ref::<js_sys::Float64Array>() {
            Column::Numbers(f.to_vec())
        } else if let Some(c) = codes_of(&col) {
            let values = Reflect::get(&col, &keys.values).unwrap_or(JsValue::UNDEFINED);
            if !js_sys::Array::is_array(&values) {
                return Err(bad_request(format!("column `{name}`: `values` must be an array")));
            }
            Column::Dictionary(codes(&c, name)?, values.unchecked_into())
        } else if let Some(f) = col.dyn_ref::<js_sys::Float32Array>() {
            Column::Numbers(f.to_vec().into_iter().map(f64::from).collect())
        } else {
            return Err(bad_request(format!(
                "column `{name}` must be an array, a typed array or a dictionary {{codes, values}}"
            )));
        });
    }
    // Every input column is there: more keys than inputs and ignored columns present means an
    // unknown one (only then are the keys read as strings).
    let ignored = keys.ignored.iter().filter(|k| Reflect::has(columns, k).unwrap_or(false)).count();
    if Object::keys(object).length() as usize > names.len() + ignored
        && let Some(e) = unknown_column(scorer, object)
    {
        return Err(e);
    }
    // Cells: borrowed from each array's JSON text, or owned where they had to be read one by one.
    let all_text = stringify(&plain_arrays(&data).flatten().collect::<js_sys::Array>());
    let all = all_text.as_deref().and_then(scorelet::api::direct::scalar_lists);
    let each: Vec<Option<String>> = match all {
        Some(_) => Vec::new(),
        None => plain_arrays(&data).map(|a| a.and_then(|a| stringify(a))).collect(),
    };
    let parsed = parse_cells(&data, all, &each);
    let mut owned = Vec::with_capacity(data.len());
    for ((d, name), p) in data.iter().zip(&names).zip(&parsed) {
        owned.push(match (d, p) {
            (Column::Cells(a) | Column::Dictionary(_, a), None) => cell_by_cell(a, name)?,
            _ => Vec::new(),
        });
    }
    let owned_views: Vec<Vec<scorelet::value::ValueRef<'_>>> =
        owned.iter().map(|v| v.iter().map(scorelet::Value::as_ref).collect()).collect();
    let cols: Vec<ColumnCells<'_>> = data
        .iter()
        .enumerate()
        .map(|(c, d)| {
            let cells = parsed[c].as_deref().unwrap_or(&owned_views[c]);
            match d {
                Column::Numbers(n) => ColumnCells::Numbers(n),
                Column::Cells(_) => ColumnCells::Cells(cells),
                Column::Dictionary(codes, _) => ColumnCells::Dictionary { codes, values: cells },
            }
        })
        .collect();
    scorer.score_columns(&cols).map_err(js_err)
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
