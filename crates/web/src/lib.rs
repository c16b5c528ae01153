//! # scorelet-web
//!
//! The core for JavaScript engines (browsers, Node, edge workers), through wasm-bindgen. A thin
//! adapter: every method forwards to [`scorelet`], and every error becomes a JS `Error` with the
//! same message the server would send.
//!
//! ```js
//! const scorer = await Scorer.fromRegistry("https://models.example.com", "churn@production");
//! scorer.predict({ gender: "Female", tenure: 12, … });   // { probability: 0.27, label: "No" }
//! scorer.predictBatch(rows); scorer.features(row); scorer.metadata();
//! ```

use std::collections::BTreeMap;

use js_sys::{Float32Array, Function, Object, Promise, Reflect, Uint8Array};
use scorelet::api::RowReader;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** One raw input cell, as in the model's signature. */
export type Cell = string | number | boolean | null;
/** One input row: column name → cell. */
export type Row = Record<string, Cell>;
/** A prediction; `features` is present when asked for. */
export type Prediction =
  | { probability: number; label: string; features?: number[] }
  | { probabilities: Record<string, number>; label: string; features?: number[] }
  | { value: number; features?: number[] };
"#;

/// A JS value as JSON (what the server would have received).
fn to_json(v: &JsValue, what: &str) -> Result<serde_json::Value, JsError> {
    let text = js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| js_err(format!("malformed request: {what} cannot be turned into JSON")))?;
    serde_json::from_str(&text).map_err(|e| js_err(format!("malformed request: {e}")))
}

fn from_json(v: &serde_json::Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap_or(JsValue::NULL)
}

/// The message of a thrown JS value (and of its `cause`, where fetch puts the reason).
fn js_message(v: &JsValue) -> String {
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

/// GET with the engine's `fetch`: the body of a 2xx answer, else an error message.
async fn get(url: &str, token: Option<&str>) -> Result<Vec<u8>, String> {
    let global = js_sys::global();
    let fetch: Function = Reflect::get(&global, &"fetch".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or("this JavaScript engine has no fetch()")?;
    let init = Object::new();
    if let Some(t) = token {
        let headers = Object::new();
        Reflect::set(&headers, &"authorization".into(), &format!("Bearer {t}").into()).map_err(|e| js_message(&e))?;
        Reflect::set(&init, &"headers".into(), &headers).map_err(|e| js_message(&e))?;
    }
    let promise: Promise = fetch.call2(&global, &url.into(), &init).map_err(|e| js_message(&e))?.unchecked_into();
    let resp = JsFuture::from(promise).await.map_err(|e| js_message(&e))?;
    let status = Reflect::get(&resp, &"status".into()).ok().and_then(|s| s.as_f64()).unwrap_or(0.0);
    let buffer: Function = Reflect::get(&resp, &"arrayBuffer".into()).map_err(|e| js_message(&e))?.unchecked_into();
    let buffer: Promise = buffer.call0(&resp).map_err(|e| js_message(&e))?.unchecked_into();
    let bytes = Uint8Array::new(&JsFuture::from(buffer).await.map_err(|e| js_message(&e))?).to_vec();
    if !(200.0..300.0).contains(&status) {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes[..bytes.len().min(300)])));
    }
    Ok(bytes)
}

/// The verified bundle in `{ "manifest.json": Uint8Array, "model.onnx": …, … }`.
fn bundle(files: &Object) -> Result<scorelet::Bundle, JsError> {
    let mut map = BTreeMap::new();
    let mut manifest = None;
    for entry in Object::entries(files).iter() {
        let pair = js_sys::Array::from(&entry);
        let name = pair.get(0).as_string().ok_or_else(|| js_err("file names must be strings"))?;
        let value = pair.get(1);
        if !value.is_instance_of::<Uint8Array>() {
            return Err(js_err(format!("file `{name}` must be a Uint8Array")));
        }
        let bytes = Uint8Array::from(value).to_vec();
        if name == scorelet::bundle::MANIFEST {
            manifest = Some(bytes);
        } else {
            map.insert(name, bytes);
        }
    }
    let manifest = manifest.ok_or_else(|| js_err("invalid bundle: manifest.json is missing"))?;
    scorelet::Bundle::from_files(&manifest, map).map_err(js_err)
}

/// A loaded model: verified bundle, compiled features, optimized ONNX plan.
#[wasm_bindgen]
pub struct Scorer {
    inner: scorelet::Scorer,
}

impl Scorer {
    /// One JS row as the core's row.
    fn row(&self, row: &JsValue) -> Result<scorelet::Row, JsError> {
        RowReader::for_scorer(&self.inner).record(&to_json(row, "the row")?, 0).map_err(js_err)
    }
}

#[wasm_bindgen]
impl Scorer {
    /// Loads a bundle from its files: `{ "manifest.json": Uint8Array, "model.onnx": …, … }`.
    /// Every file is checked against the manifest's sha256 before use.
    #[wasm_bindgen(js_name = fromFiles)]
    pub fn from_files(files: &Object) -> Result<Scorer, JsError> {
        let inner = scorelet::Scorer::from_bundle(&bundle(files)?).map_err(js_err)?;
        Ok(Scorer { inner })
    }

    /// Loads a bundle from its files, like `fromFiles`, and runs the golden self-check: the
    /// scorer exists only if the model reproduces the trainer's outputs here.
    #[wasm_bindgen(js_name = fromBundle)]
    pub fn from_bundle(
        #[wasm_bindgen(unchecked_param_type = "Record<string, Uint8Array>")] files: &Object,
    ) -> Result<Scorer, JsError> {
        let inner = scorelet::service::load(&bundle(files)?).map_err(js_err)?;
        Ok(Scorer { inner })
    }

    /// Fetches `NAME@VERSION` or `NAME@ALIAS` from the registry at `url` with `fetch()`, checks
    /// every file against the manifest's sha256 and the golden vectors, and resolves to a
    /// scorer. Rejects with the reason (registry down, tampered file, unknown model).
    #[wasm_bindgen(js_name = fromRegistry)]
    pub async fn from_registry(url: String, reference: String, token: Option<String>) -> Result<Scorer, JsError> {
        let r: scorelet::registry::ModelRef = reference.parse().map_err(js_err)?;
        let token = token.filter(|t| !t.is_empty());
        let bundle = scorelet::registry::fetch(&url, &r, |u| {
            let token = token.clone();
            async move { get(&u, token.as_deref()).await.map_err(|e| scorelet::Error::Bundle(format!("GET {u}: {e}"))) }
        })
        .await
        .map_err(js_err)?;
        let inner = scorelet::service::load(&bundle).map_err(js_err)?;
        Ok(Scorer { inner })
    }

    /// Scores one row.
    #[wasm_bindgen(unchecked_return_type = "Prediction")]
    pub fn predict(&self, #[wasm_bindgen(unchecked_param_type = "Row")] row: JsValue) -> Result<JsValue, JsError> {
        let row = self.row(&row)?;
        let p = self.inner.predict(std::slice::from_ref(&row), scorelet::Options::default()).map_err(js_err)?;
        Ok(from_json(&p[0].to_json()))
    }

    /// Scores many rows at once (faster than one `predict` per row).
    #[wasm_bindgen(js_name = predictBatch, unchecked_return_type = "Prediction[]")]
    pub fn predict_batch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Row[]")] rows: JsValue,
    ) -> Result<JsValue, JsError> {
        let json = to_json(&rows, "the rows")?;
        let items = json.as_array().ok_or_else(|| js_err("malformed request: rows must be an array of objects"))?;
        let rows = RowReader::for_scorer(&self.inner).records(items).map_err(js_err)?;
        let p = self.inner.predict(&rows, scorelet::Options::default()).map_err(js_err)?;
        Ok(from_json(&serde_json::Value::Array(p.iter().map(|p| p.to_json()).collect())))
    }

    /// The feature vector the model sees for one row.
    pub fn features(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Row")] row: JsValue,
    ) -> Result<Float32Array, JsError> {
        let row = self.row(&row)?;
        let (f, _) = self.inner.score(std::slice::from_ref(&row)).map_err(js_err)?;
        Ok(Float32Array::from(f.as_slice()))
    }

    /// Names of the feature vector's entries.
    #[wasm_bindgen(js_name = featureNames)]
    pub fn feature_names(&self) -> Vec<String> {
        self.inner.pipeline().feature_names().to_vec()
    }

    /// Model name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// Model version (`"unpublished"` for a bundle never pushed).
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> String {
        self.inner.version()
    }

    /// Scores JSON lines (one record per line); returns JSON lines of
    /// `{"features", "outputs", "prediction"}`.
    #[wasm_bindgen(js_name = scoreLines)]
    pub fn score_lines(&self, text: &str) -> Result<String, JsError> {
        scorelet::api::lines::score_lines(&self.inner, text).map_err(js_err)
    }

    /// Scores an MLflow `/invocations` body; returns the response JSON.
    #[wasm_bindgen(js_name = invocations)]
    pub fn invocations(&self, body: &str) -> Result<String, JsError> {
        let reader = scorelet::api::RowReader::for_scorer(&self.inner);
        let req = scorelet::api::mlflow::parse(body.as_bytes(), &reader).map_err(js_err)?;
        let preds = self.inner.predict(&req.rows, req.options).map_err(js_err)?;
        Ok(scorelet::api::mlflow::response(&self.inner, &preds).to_string())
    }

    /// Model metadata: the Open Inference Protocol v2 shape plus signature, task and metrics.
    pub fn metadata(&self) -> JsValue {
        from_json(&scorelet::api::oip::metadata(&self.inner))
    }

    /// Re-computes the bundle's golden vectors; returns a JSON report or throws.
    #[wasm_bindgen(js_name = selfCheck)]
    pub fn self_check(&self) -> Result<String, JsError> {
        let r = self.inner.self_check().map_err(js_err)?;
        Ok(serde_json::to_string(&r).unwrap_or_default())
    }
}
