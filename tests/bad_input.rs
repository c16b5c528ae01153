//! Bad input gets a typed error with a clear message, never a panic: malformed, missing,
//! oversized and hostile requests and bundles, plus property-based fuzzing of the request
//! parsers, the bundle loader and the model loader.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use proptest::prelude::*;
use scorelet::api::{RowReader, mlflow, oip};
use scorelet::bundle::{FEATURES, GOLDEN, MANIFEST};
use scorelet::error::InputError;
use scorelet::{Bundle, Error, Prediction, Scorer};
use scorelet_train::Precision;
use serde_json::{Value as Json, json};

fn telco_bundle() -> &'static Bundle {
    static B: OnceLock<Bundle> = OnceLock::new();
    B.get_or_init(|| {
        let d = common::telco();
        common::train(&common::logreg_job(&d, Precision::Int8), &d)
    })
}

fn scorer() -> Scorer {
    Scorer::from_bundle(telco_bundle()).unwrap()
}

fn good_record() -> Json {
    common::records(&common::telco().table, 1).remove(0)
}

fn invocations(s: &Scorer, body: &str) -> Result<Vec<Prediction>, Error> {
    let req = mlflow::parse(body.as_bytes(), &RowReader::for_pipeline(s.pipeline()))?;
    s.predict(&req.rows, req.options)
}

fn records_body(recs: &[Json]) -> String {
    json!({ "dataframe_records": recs }).to_string()
}

fn with(field: &str, v: Json) -> Json {
    let mut r = good_record();
    r[field] = v;
    r
}

#[test]
fn good_requests_in_every_mlflow_shape_agree() {
    let s = scorer();
    let r = good_record();
    let cols: Vec<&String> = r.as_object().unwrap().keys().collect();
    let vals: Vec<&Json> = r.as_object().unwrap().values().collect();
    let bodies = [
        records_body(std::slice::from_ref(&r)),
        json!({ "dataframe_split": { "columns": cols, "data": [vals], "index": [0] } }).to_string(),
        json!({ "instances": [r.clone()] }).to_string(),
        json!({ "inputs": r.as_object().unwrap().iter().map(|(k, v)| (k.clone(), json!([v]))).collect::<serde_json::Map<_, _>>() })
            .to_string(),
    ];
    let first = invocations(&s, &bodies[0]).unwrap();
    for b in &bodies[1..] {
        assert_eq!(invocations(&s, b).unwrap(), first, "{b}");
    }
    let resp = mlflow::response(&s, &first);
    assert_eq!(resp["model"]["name"], "telco-logreg");
    assert!(resp["predictions"][0]["probability"].is_number());
    // The response written without a JSON tree is the tree's text, byte for byte.
    let with_features = s
        .predict(
            &mlflow::parse(bodies[0].as_bytes(), &RowReader::for_pipeline(s.pipeline())).unwrap().rows,
            scorelet::Options { return_features: true },
        )
        .unwrap();
    for p in [&first, &with_features] {
        assert_eq!(String::from_utf8(mlflow::response_bytes(&s, p)).unwrap(), mlflow::response(&s, p).to_string());
    }
}

#[test]
fn missing_extra_and_wrong_type_columns_name_row_and_column() {
    let s = scorer();
    let mut missing = good_record();
    missing.as_object_mut().unwrap().remove("tenure");
    let e = invocations(&s, &records_body(&[good_record(), missing])).unwrap_err();
    assert_eq!(e, Error::input(1, "tenure", InputError::MissingColumn));
    assert_eq!(e.http_status(), 400);
    assert_eq!(e.to_json()["error"]["code"], "missing_column");
    assert_eq!(e.to_json()["error"]["row"], 1);
    assert_eq!(e.to_json()["error"]["column"], "tenure");

    let e = invocations(&s, &records_body(&[with("favourite_color", json!("teal"))])).unwrap_err();
    assert!(
        matches!(&e, Error::Input { column, kind: InputError::UnknownColumn { .. }, .. } if column == "favourite_color"),
        "{e}"
    );
    assert!(e.to_string().contains("the model's inputs are: gender, SeniorCitizen"), "{e}");
    // The id and the target are known to the signature and accepted.
    invocations(&s, &records_body(&[with("customerID", json!("x")), with("Churn", json!("Yes"))])).unwrap();

    let e =
        invocations(&s, &records_body(&[good_record(), good_record(), with("tenure", json!("twelve"))])).unwrap_err();
    assert_eq!(e.to_string(), "row 2, column `tenure`: expected a number, got string \"twelve\"");
    let e = invocations(&s, &records_body(&[with("tenure", json!([1, 2]))])).unwrap_err();
    assert!(matches!(e, Error::Input { kind: InputError::WrongType { .. }, .. }), "{e}");
    let e = invocations(&s, &records_body(&[with("Partner", json!("perhaps"))])).unwrap_err();
    assert!(e.to_string().contains("column `Partner`: expected a boolean"), "{e}");
}

#[test]
fn non_finite_numbers_and_unknown_categories() {
    let s = scorer();
    for v in [json!("inf"), json!("-Infinity"), json!(1e39)] {
        let e = invocations(&s, &records_body(&[with("MonthlyCharges", v.clone())])).unwrap_err();
        assert!(
            matches!(&e, Error::Input { column, kind: InputError::NonFinite { .. }, .. } if column == "MonthlyCharges"),
            "{v}: {e}"
        );
    }
    // A bare NaN or a number past f64 is not JSON at all.
    for body in [r#"{"dataframe_records": [{"tenure": NaN}]}"#, r#"{"dataframe_records": [{"tenure": 1e400}]}"#] {
        assert!(matches!(invocations(&s, body), Err(Error::BadRequest(_))), "{body}");
    }
    // "NaN" as text is a missing token: imputed and flagged, like the trainer did.
    let p = invocations(&s, &records_body(&[with("TotalCharges", json!("NaN"))])).unwrap();
    assert_eq!(p.len(), 1);
    // Telco's Contract has an unknown bucket: a new contract type scores.
    invocations(&s, &records_body(&[with("Contract", json!("Weekly"))])).unwrap();
    // Adult's education is ordinal with unknown = "error".
    let d = common::adult();
    let adult = Scorer::from_bundle(&common::train(&common::logreg_job(&d, Precision::Float32), &d)).unwrap();
    let mut r = common::records(&d.table, 1).remove(0);
    r["education"] = json!("Kindergarten");
    let e = invocations(&adult, &records_body(&[r])).unwrap_err();
    assert!(
        matches!(&e, Error::Input { kind: InputError::UnknownCategory { value, .. }, .. } if value == "Kindergarten"),
        "{e}"
    );
    assert!(e.to_string().contains("known: \"Preschool\""), "{e}");
}

#[test]
fn empty_oversized_and_garbage_requests() {
    let s = scorer();
    for body in
        [r#"{"dataframe_records": []}"#, r#"{"dataframe_split": {"columns": [], "data": []}}"#, r#"{"instances": []}"#]
    {
        let e = invocations(&s, body).unwrap_err();
        assert!(matches!(e, Error::EmptyBatch | Error::Input { kind: InputError::MissingColumn, .. }), "{body}: {e}");
    }
    assert_eq!(invocations(&s, r#"{"dataframe_records": []}"#).unwrap_err(), Error::EmptyBatch);
    let small = s.clone().with_max_batch(10);
    let e = invocations(&small, &records_body(&vec![good_record(); 11])).unwrap_err();
    assert_eq!(e, Error::BatchTooLarge { rows: 11, max: 10 });
    assert_eq!(e.http_status(), 413);

    let mut garbage = Vec::with_capacity(1 << 20);
    let mut rng = scorelet_train::Rng(3);
    while garbage.len() < 1 << 20 {
        garbage.push((rng.next_u64() % 256) as u8);
    }
    let reader = RowReader::for_pipeline(s.pipeline());
    for body in [garbage.as_slice(), b"", b"   ", b"{", b"[1,2,3]", b"{\"dataframe_records\": {}}", b"{\"unknown\": 1}"]
    {
        let e = mlflow::parse(body, &reader).unwrap_err();
        assert!(matches!(e, Error::BadRequest(_)), "{e}");
        assert!(oip::parse(body, &reader).is_err());
    }
    // A cell that is not UTF-8 inside an otherwise good body: a clear error, not a panic or a
    // silently different row (the direct path checks the body once and hands it to the tree).
    let mut latin1 = records_body(&[good_record()]).into_bytes();
    let quote = latin1.iter().rposition(|b| *b == b'"').unwrap();
    latin1.insert(quote, 0xe9);
    let e = mlflow::parse(&latin1, &reader).unwrap_err();
    assert!(matches!(e, Error::BadRequest(_)), "{e}");
    let deep = "[".repeat(100_000);
    assert!(matches!(mlflow::parse(deep.as_bytes(), &reader), Err(Error::BadRequest(_))));
    let e = mlflow::parse(br#"{"dataframe_records": [{}], "instances": []}"#, &reader).unwrap_err();
    assert!(e.to_string().contains("exactly one of"), "{e}");
}

#[test]
fn open_inference_protocol_requests() {
    let s = scorer();
    let reader = RowReader::for_pipeline(s.pipeline());
    let r = good_record();
    let inputs: Vec<Json> = r
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let dt = if v.is_number() { "FP64" } else { "BYTES" };
            json!({"name": k, "shape": [2, 1], "datatype": dt, "data": [v, v]})
        })
        .collect();
    let body = json!({"id": "req-1", "inputs": inputs, "parameters": {"return_features": true}});
    let req = oip::parse(body.to_string().as_bytes(), &reader).unwrap();
    assert_eq!((req.rows.len(), req.id.as_deref(), req.options.return_features), (2, Some("req-1"), true));
    let preds = s.predict(&req.rows, req.options).unwrap();
    let resp = oip::response(&s, req.id.as_deref(), &preds);
    assert_eq!(resp["id"], "req-1");
    assert_eq!(resp["outputs"][0]["name"], "probability");
    assert_eq!(resp["outputs"][2]["shape"], json!([2, 53]));
    let mut bad = body.clone();
    bad["inputs"][0]["shape"] = json!([3]);
    assert!(oip::parse(bad.to_string().as_bytes(), &reader).unwrap_err().to_string().contains("does not fit"));
    let mut bad = body.clone();
    bad["inputs"][0]["datatype"] = json!("FP128");
    assert!(oip::parse(bad.to_string().as_bytes(), &reader).unwrap_err().to_string().contains("unknown datatype"));
    let mut bad = body.clone();
    bad["inputs"][1]["data"] = json!(["x"]);
    bad["inputs"][1]["shape"] = json!([1]);
    assert!(
        oip::parse(bad.to_string().as_bytes(), &reader).unwrap_err().to_string().contains("values; other columns have")
    );
    let meta = oip::metadata(&s);
    assert_eq!(meta["inputs"].as_array().unwrap().len(), 19);
    assert_eq!(meta["parameters"]["feature_names"].as_array().unwrap().len(), 53);
}

fn files_of(b: &Bundle) -> BTreeMap<String, Vec<u8>> {
    b.files().clone()
}

#[test]
fn tampered_or_incomplete_bundles_are_refused() {
    let b = telco_bundle();
    let manifest = b.manifest_bytes();
    // A flipped bit in the model, a changed feature parameter: digest mismatch, naming the file.
    for name in ["model.onnx", FEATURES, GOLDEN] {
        let mut files = files_of(b);
        files.get_mut(name).unwrap()[17] ^= 0x04;
        let e = Bundle::from_files(&manifest, files).unwrap_err();
        assert!(matches!(&e, Error::DigestMismatch { file, .. } if file == name), "{e}");
        assert_eq!(e.http_status(), 503);
    }
    let mut files = files_of(b);
    files.get_mut(FEATURES).unwrap().push(b' ');
    assert!(Bundle::from_files(&manifest, files).unwrap_err().to_string().contains("size is"));
    let mut files = files_of(b);
    files.remove(GOLDEN);
    assert!(Bundle::from_files(&manifest, files).unwrap_err().to_string().contains("`golden.json` is missing"));
    let mut files = files_of(b);
    files.insert("extra.bin".into(), vec![1, 2, 3]);
    assert!(Bundle::from_files(&manifest, files).unwrap_err().to_string().contains("not listed in the manifest"));
    for evil in ["../../etc/passwd", "/etc/passwd", "a/b", ".hidden", "..", "x\0y", MANIFEST] {
        let mut m: Json = serde_json::from_slice(&manifest).unwrap();
        m["files"][evil] = json!({"sha256": "0".repeat(64), "size": 1});
        let e = Bundle::parse_manifest(m.to_string().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("invalid file name"), "{evil:?}: {e}");
    }
    let mut m: Json = serde_json::from_slice(&manifest).unwrap();
    m["name"] = json!("../churn");
    assert!(Bundle::parse_manifest(m.to_string().as_bytes()).is_err());
    assert!(Bundle::parse_manifest(b"not json").unwrap_err().to_string().starts_with("invalid bundle: manifest.json"));
    assert!(Bundle::parse_manifest(&vec![b' '; 2 << 20]).unwrap_err().to_string().contains("limit"));
    // On disk: a file larger than the manifest says is not even read whole.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b");
    b.write_dir(&path).unwrap();
    assert!(b.write_dir(&path).unwrap_err().to_string().contains("never overwritten"));
    std::fs::write(path.join("model.onnx"), vec![0u8; 10 << 20]).unwrap();
    assert!(Bundle::load_dir(&path).unwrap_err().to_string().contains("expected at most"));
    assert!(Bundle::load_dir(dir.path().join("nope")).unwrap_err().to_string().contains("cannot read"));
}

#[test]
fn corrupt_models_with_matching_digests_fail_cleanly() {
    let b = telco_bundle();
    let model = b.file("model.onnx").unwrap().to_vec();
    let rebuilt = |bytes: Vec<u8>| {
        let mut files = files_of(b);
        files.insert("model.onnx".into(), bytes);
        Bundle::assemble(b.manifest.clone(), files).unwrap()
    };
    for cut in [0, 1, 10, model.len() / 2, model.len() - 1] {
        let e = Scorer::from_bundle(&rebuilt(model[..cut].to_vec())).unwrap_err();
        assert!(matches!(e, Error::Model(_)), "truncated at {cut}: {e}");
    }
    // Every bit flip either fails to load, or loads and is caught by the golden check, or
    // (a flip in padding/names) changes nothing: never a panic.
    let (mut refused, mut caught) = (0, 0);
    for pos in (0..model.len()).step_by(3) {
        let mut m = model.clone();
        m[pos] ^= 1 << (pos % 8);
        let bundle = rebuilt(m);
        match Scorer::from_bundle(&bundle) {
            Err(_) => refused += 1,
            Ok(s) => caught += scorelet::golden::self_check(&s, &bundle).is_err() as usize,
        }
    }
    assert!(refused > 0 && caught > 0, "refused {refused}, caught by golden {caught}");
}

fn arb_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Json::String),
        Just(json!("Yes")),
        Just(json!("Month-to-month")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// A service of the Telco model, alone or with itself as a 50 % candidate split on
/// `customerID` (or in its shadow).
fn service(experiment: Option<&str>) -> scorelet::service::Service {
    let mut svc = scorelet::service::Service::new(None);
    svc.finish_loading(Ok(scorer()), 0);
    if let Some(mode) = experiment {
        let e = scorelet::experiment::Experiment::parse(Some("0.5"), Some("column:customerID"), Some(mode));
        svc.set_experiment(Some(e));
        svc.finish_loading_candidate(Ok(scorer()), 0);
    }
    svc
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn experiment_settings_never_panic(share in ".{0,12}", key in ".{0,20}", mode in ".{0,8}") {
        if let Ok(e) = scorelet::experiment::Experiment::parse(Some(&share), Some(&key), Some(&mode)) {
            prop_assert!(e.share <= scorelet::experiment::BUCKETS);
        }
    }

    #[test]
    fn a_split_or_a_shadow_answers_bad_bodies_as_the_model_alone(
        records in prop::collection::vec(prop::collection::btree_map("[a-zA-Z]{1,12}|customerID|tenure", arb_json(), 0..6), 0..4),
        split_key in prop::option::of(".{0,16}"),
    ) {
        let body = json!({"dataframe_records": records}).to_string();
        let alone = service(None);
        for mode in ["split", "shadow"] {
            let svc = service(Some(mode));
            for path in ["/invocations", "/v2/models/churn/infer"] {
                let req = scorelet::service::HttpRequest {
                    method: "POST",
                    path,
                    content_type: Some("application/json"),
                    authorization: None,
                    api_key: None,
                    body: body.as_bytes(),
                    observe: scorelet::metrics::Observe::Yes,
                    split_key: split_key.as_deref(),
                };
                let (a, b) = (alone.handle(&req, 0), svc.handle(&req, 0));
                prop_assert!(b.status < 500, "{mode} {path}: {}", String::from_utf8_lossy(&b.body));
                prop_assert_eq!(a.status, b.status, "{} {}", mode, path);
                if a.status != 200 {
                    prop_assert_eq!(&a.body, &b.body);
                }
            }
        }
    }

    #[test]
    fn request_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let s = scorer();
        let reader = RowReader::for_pipeline(s.pipeline());
        // Random bytes are never a request that scores (an empty body, `5`, `[]`… are refused too).
        prop_assert!(mlflow::parse(&bytes, &reader).is_err());
        prop_assert!(oip::parse(&bytes, &reader).is_err());
        // JSON lines may be blank (no records); otherwise every line must be valid JSON.
        if let Ok(records) = scorelet::api::lines::parse_lines(&String::from_utf8_lossy(&bytes)) {
            prop_assert!(records.len() <= bytes.len());
        }
    }

    #[test]
    fn any_cell_values_score_or_fail_cleanly(cells in prop::collection::vec(arb_json(), 19)) {
        let s = scorer();
        let cols: Vec<String> = s.pipeline().input_columns().map(String::from).collect();
        let rec: serde_json::Map<String, Json> = cols.into_iter().zip(cells).collect();
        match invocations(&s, &records_body(&[Json::Object(rec)])) {
            Ok(p) => prop_assert_eq!(p.len(), 1),
            Err(e) => prop_assert!(e.http_status() == 400, "{e}"),
        }
    }

    /// The direct parser (no JSON tree) builds exactly the rows the tree parser builds, for every
    /// shape, with any cells (scalars, nested values, duplicates, extra and ignored keys).
    #[test]
    fn direct_and_tree_parsers_build_the_same_rows(
        cells in prop::collection::vec(arb_json(), 19),
        shape in 0..5usize,
        rows in 1..4usize,
        extra in prop::option::of(("[a-z]{1,6}", arb_json())),
    ) {
        let s = scorer();
        let reader = RowReader::for_pipeline(s.pipeline());
        let cols: Vec<String> = s.pipeline().input_columns().map(String::from).collect();
        let mut rec: serde_json::Map<String, Json> = cols.iter().cloned().zip(cells.iter().cloned()).collect();
        if let Some((k, v)) = &extra {
            rec.insert(k.clone(), v.clone());
        }
        let recs = vec![Json::Object(rec.clone()); rows];
        let body = match shape {
            0 => json!({ "dataframe_records": recs }),
            1 => json!({ "instances": recs, "params": { "return_features": rows == 2 } }),
            2 => json!({ "inputs": vec![Json::Array(cells.clone()); rows] }),
            3 => json!({ "dataframe_split": { "index": [0], "columns": rec.keys().collect::<Vec<_>>(),
                                              "data": vec![Json::Array(rec.values().cloned().collect()); rows] } }),
            _ => json!({ "dataframe_records": [Json::Object(rec.clone()), Json::Array(cells.clone())] }),
        };
        let body = body.to_string();
        let (direct, tree) = (mlflow::parse(body.as_bytes(), &reader), mlflow::parse_tree(body.as_bytes(), &reader));
        prop_assert_eq!(direct, tree);
        // Whitespace, escapes and key order do not change the answer either.
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Json>(&body).unwrap()).unwrap();
        let escaped = pretty.replacen("\"tenure\"", "\"ten\\u0075re\"", 1);
        prop_assert_eq!(mlflow::parse(escaped.as_bytes(), &reader), mlflow::parse_tree(escaped.as_bytes(), &reader));
    }

    #[test]
    fn bundle_and_model_loaders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        // Random bytes are refused with an error by every loader (a panic fails the test too).
        prop_assert!(Bundle::parse_manifest(&bytes).is_err());
        prop_assert!(Bundle::from_files(&bytes, BTreeMap::from([("model.onnx".to_string(), bytes.clone())])).is_err());
        prop_assert!(Bundle::from_packed(&bytes).is_err());
        prop_assert!(scorelet::model::Model::load(&bytes, 4, "probabilities").is_err());
        prop_assert!(scorelet::golden::Golden::from_json(&bytes).is_err());
        prop_assert!(scorelet::features::FittedFeatures::from_json(&bytes).is_err());
    }

    #[test]
    fn damaged_tree_ensembles_load_or_fail_cleanly(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        // A real tree file (scikit-learn's GradientBoosting, 46 features) with bytes overwritten
        // or cut off: the compiled engine refuses it or builds a plan that runs; no panic, no
        // hang, no unbounded allocation.
        static ONNX: OnceLock<Vec<u8>> = OnceLock::new();
        let onnx = ONNX.get_or_init(|| std::fs::read(common::repo().join("tests/fixtures/external-trees/skl-gb.onnx")).unwrap());
        let mut bytes = onnx.clone();
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(model) = scorelet::model::Model::load_with(&bytes, 46, "probabilities", scorelet::model::Engine::Compiled) {
            let out = model.run(&[0.5f32; 46 * 3], 3).unwrap();
            prop_assert_eq!(out.data.len(), 3 * out.width);
        }
    }
}
