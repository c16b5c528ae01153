//! # scorelet-web
//!
//! The core for JavaScript engines (browsers, Node, edge workers), through wasm-bindgen. A thin
//! adapter: every method forwards to [`scorelet`], and every error becomes a JS `Error` with the
//! same message the server would send.

use std::collections::BTreeMap;

use js_sys::{Object, Uint8Array};
use wasm_bindgen::prelude::*;

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// A loaded model: verified bundle, compiled features, optimized ONNX plan.
#[wasm_bindgen]
pub struct Scorer {
    inner: scorelet::Scorer,
}

#[wasm_bindgen]
impl Scorer {
    /// Loads a bundle from its files: `{ "manifest.json": Uint8Array, "model.onnx": …, … }`.
    /// Every file is checked against the manifest's sha256 before use.
    #[wasm_bindgen(js_name = fromFiles)]
    pub fn from_files(files: &Object) -> Result<Scorer, JsError> {
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
        let bundle = scorelet::Bundle::from_files(&manifest, map).map_err(js_err)?;
        let inner = scorelet::Scorer::from_bundle(&bundle).map_err(js_err)?;
        Ok(Scorer { inner })
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

    /// Model metadata (Open Inference Protocol v2 shape) as JSON.
    pub fn metadata(&self) -> String {
        scorelet::api::oip::metadata(&self.inner).to_string()
    }

    /// Re-computes the bundle's golden vectors; returns a JSON report or throws.
    #[wasm_bindgen(js_name = selfCheck)]
    pub fn self_check(&self) -> Result<String, JsError> {
        let r = self.inner.self_check().map_err(js_err)?;
        Ok(serde_json::to_string(&r).unwrap_or_default())
    }
}
