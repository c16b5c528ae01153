//! The `Scorer` class: one loaded model, scored from JS values.

use js_sys::{Float32Array, Object};
use scorelet::api::RowReader;
use wasm_bindgen::prelude::*;

use crate::fetch::get;
use crate::js::{JsResult, bad_request, bundle, from_json, js_err, to_json};

/// A loaded model: verified bundle, compiled features, optimized ONNX plan.
#[wasm_bindgen]
pub struct Scorer {
    inner: scorelet::Scorer,
    golden: scorelet::golden::Golden,
    /// Column positions, resolved once.
    reader: RowReader,
    /// Input column names as JS strings, for `predictColumns`.
    keys: crate::js::ColumnKeys,
}

impl Scorer {
    /// The scorer for `reference` fetched from the registry at `url`.
    async fn fetched(
        url: String,
        reference: String,
        token: Option<String>,
        engine: Option<String>,
        public_key: Option<String>,
    ) -> JsResult<Scorer> {
        let r: scorelet::registry::ModelRef = reference.parse().map_err(js_err)?;
        let token = token.filter(|t| !t.is_empty());
        let key = match public_key.filter(|k| !k.is_empty()) {
            Some(k) => Some(scorelet::bundle::seal::PublicKey::from_hex(&k).map_err(js_err)?),
            None => None,
        };
        let bundle = scorelet::registry::fetch(&url, &r, key, |u| {
            let token = token.clone();
            async move {
                get(&u, token.as_deref())
                    .await
                    .map_err(|e| scorelet::Error::Fetch { url: u.clone(), message: e.to_string() })
            }
        })
        .await
        .map_err(js_err)?;
        Scorer::load(&bundle, engine)
    }

    /// A verified bundle → a scorer on `engine` (`auto` when absent) that passed the golden
    /// self-check.
    fn load(bundle: &scorelet::Bundle, engine: Option<String>) -> JsResult<Scorer> {
        crate::trap::fault_point(crate::trap::Fault::Load);
        let engine: scorelet::model::Engine = engine.unwrap_or_default().parse().map_err(js_err)?;
        let inner = scorelet::service::load_with(bundle, engine).map_err(js_err)?;
        let golden = scorelet::golden::Golden::from_bundle(bundle)
            .map_err(js_err)?
            .ok_or_else(|| js_err(scorelet::Error::Golden("the bundle has no golden.json".into())))?;
        let reader = RowReader::for_pipeline(inner.pipeline());
        let keys = crate::js::ColumnKeys::new(inner.pipeline());
        Ok(Scorer { inner, golden, reader, keys })
    }

    /// One JS row as the core's row.
    fn row(&self, row: &JsValue) -> JsResult<scorelet::Row> {
        self.reader.record(&to_json(row, "the row")?, 0).map_err(js_err)
    }
}

#[wasm_bindgen]
impl Scorer {
    /// Loads a bundle from its files: `{ "manifest.json": Uint8Array, "model.onnx": …, … }`.
    /// Every file is checked against the manifest's sha256, and the golden self-check runs: the
    /// scorer exists only if the model reproduces the trainer's outputs here. `engine`: `"auto"`
    /// (default), `"compiled"` or `"tract"`.
    #[wasm_bindgen(js_name = fromBundle)]
    pub fn from_bundle(
        #[wasm_bindgen(unchecked_param_type = "Record<string, Uint8Array>")] files: &Object,
        engine: Option<String>,
    ) -> JsResult<Scorer> {
        Scorer::load(&bundle(files).map_err(js_err)?, engine)
    }

    /// The same as `fromBundle` (digests and golden self-check), under its older name.
    #[wasm_bindgen(js_name = fromFiles)]
    pub fn from_files(
        #[wasm_bindgen(unchecked_param_type = "Record<string, Uint8Array>")] files: &Object,
    ) -> JsResult<Scorer> {
        Scorer::from_bundle(files, None)
    }

    /// Fetches `NAME@VERSION` or `NAME@ALIAS` from the registry at `url` with `fetch()`, checks
    /// every file against the manifest's sha256 and the golden vectors, and resolves to a
    /// scorer. Rejects with the reason (registry down, tampered file, unknown model). A
    /// reference pinned with `#sha256:<hex>` is refused unless the manifest has that digest;
    /// with `publicKey` (hex, `scorelet keygen`), unless the manifest is signed with it.
    /// A panic inside rejects the promise (and the package restarts for the next call).
    #[wasm_bindgen(js_name = fromRegistry, unchecked_return_type = "Promise<Scorer>")]
    pub fn from_registry(
        url: String,
        reference: String,
        token: Option<String>,
        engine: Option<String>,
        #[wasm_bindgen(js_name = publicKey)] public_key: Option<String>,
    ) -> js_sys::Promise {
        crate::trap::guarded(async move {
            Scorer::fetched(url, reference, token, engine, public_key).await.map(JsValue::from)
        })
    }

    /// Scores one row.
    #[wasm_bindgen(unchecked_return_type = "Prediction")]
    pub fn predict(&self, #[wasm_bindgen(unchecked_param_type = "Row")] row: JsValue) -> JsResult<JsValue> {
        crate::trap::fault_point(crate::trap::Fault::Score);
        let row = self.row(&row)?;
        let p = self.inner.predict(std::slice::from_ref(&row), scorelet::Options::default()).map_err(js_err)?;
        Ok(from_json(&p[0].to_json()))
    }

    /// Scores many rows at once (faster than one `predict` per row).
    #[wasm_bindgen(js_name = predictBatch, unchecked_return_type = "Prediction[]")]
    pub fn predict_batch(&self, #[wasm_bindgen(unchecked_param_type = "Row[]")] rows: JsValue) -> JsResult<JsValue> {
        let json = to_json(&rows, "the rows")?;
        let items = json.as_array().ok_or_else(|| bad_request("rows must be an array of objects"))?;
        let rows = self.reader.records(items).map_err(js_err)?;
        let p = self.inner.predict(&rows, scorelet::Options::default()).map_err(js_err)?;
        Ok(from_json(&serde_json::Value::Array(p.iter().map(|p| p.to_json()).collect())))
    }

    /// Scores columns of equal length, without JSON: `{tenure: Float64Array | number[],
    /// Contract: string[] | {codes: Uint8Array, values: string[]}, …}` (typed arrays; arrays of
    /// numbers, strings, booleans and `null` for missing; or dictionary-encoded, as Arrow and
    /// pandas hold categoricals: row `r` is `values[codes[r]]`, codes in any integer typed array,
    /// and each distinct value's features are computed once, the fastest form for text). Returns
    /// the scores row-major, `length / rows` per row (for a binary model, one probability per
    /// class in the manifest's class order).
    #[wasm_bindgen(js_name = predictColumns)]
    pub fn predict_columns(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "Record<string, ArrayLike<number | string | boolean | null> | { codes: Uint8Array | Uint16Array | Uint32Array | Int8Array | Int16Array | Int32Array; values: ArrayLike<number | string | boolean | null> }>"
        )]
        columns: &JsValue,
    ) -> JsResult<Float32Array> {
        let (_, scores) = crate::js::score_columns(&self.inner, &self.keys, columns)?;
        Ok(Float32Array::from(scores.data.as_slice()))
    }

    /// Runs the model on a ready feature matrix: `features` holds `rows` rows of
    /// `featureNames().length` values, row-major (what `features()` returns per row). Returns the
    /// scores as `predictColumns` does. The fastest call: no row parsing, no feature code.
    #[wasm_bindgen(js_name = predictFeatures)]
    pub fn predict_features(&self, features: &Float32Array, rows: usize) -> JsResult<Float32Array> {
        let width = self.inner.pipeline().width();
        if features.length() as usize != rows * width {
            return Err(bad_request(format!(
                "features has {} values; {rows} rows of {width} features need {}",
                features.length(),
                rows * width
            )));
        }
        let scores = self.inner.score_features(&features.to_vec(), rows).map_err(js_err)?;
        Ok(Float32Array::from(scores.data.as_slice()))
    }

    /// The feature vector the model sees for one row.
    pub fn features(&self, #[wasm_bindgen(unchecked_param_type = "Row")] row: JsValue) -> JsResult<Float32Array> {
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
    pub fn score_lines(&self, text: &str) -> JsResult<String> {
        scorelet::api::lines::score_lines(&self.inner, text).map_err(js_err)
    }

    /// Scores an MLflow `/invocations` body; returns the response JSON.
    #[wasm_bindgen(js_name = invocations)]
    pub fn invocations(&self, body: &str) -> JsResult<String> {
        let req = scorelet::api::mlflow::parse_borrowed(body.as_bytes(), &self.reader).map_err(js_err)?;
        let preds = req.predict(&self.inner).map_err(js_err)?;
        let bytes = scorelet::api::mlflow::response_bytes(&self.inner, &preds);
        Ok(String::from_utf8(bytes).expect("JSON text is UTF-8"))
    }

    /// Which engine runs the model: `"compiled"` or `"tract"`.
    #[wasm_bindgen(getter)]
    pub fn engine(&self) -> String {
        self.inner.engine().into()
    }

    /// Model metadata: the Open Inference Protocol v2 shape plus signature, task and metrics.
    pub fn metadata(&self) -> JsValue {
        from_json(&scorelet::api::oip::metadata(&self.inner))
    }

    /// Re-computes the bundle's golden vectors; returns a JSON report or throws.
    #[wasm_bindgen(js_name = selfCheck)]
    pub fn self_check(&self) -> JsResult<String> {
        let r = self.golden.check(&self.inner).map_err(js_err)?;
        Ok(serde_json::to_string(&r).unwrap_or_default())
    }
}
