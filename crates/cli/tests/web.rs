//! The JS API of the wasm32-unknown-unknown package (`crates/web`) in V8 (Node): `fromBundle`,
//! `fromRegistry` against a real registry, `predict`, `predictBatch`, `features`, `metadata`,
//! and rejected calls carrying the server's messages.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Registry, built, free_port, have_built, ok, predict, repo, support, telco_records, train};
use serde_json::Value as Json;

fn package() -> PathBuf {
    built("SCORELET_WEB_NODE", "web-node", "scorelet_web.js")
}

#[test]
fn js_api_scores_like_predict_and_rejects_bad_input_with_the_servers_messages() {
    let test = "js_api_scores_like_predict_and_rejects_bad_input_with_the_servers_messages";
    if !have_built(test, "SCORELET_WEB_NODE", "web-node", "scorelet_web.js") || support::program(test, "node").is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let reg = Registry::start(&dir.path().join("store"), "127.0.0.1:0");
    let pinned = reg.cli(&["push", "--bundle", bundle.to_str().unwrap()]).trim().to_string();
    reg.cli(&["promote", "churn", "1", "--to", "production"]);
    let public_key = ok(&["keygen", "--out", dir.path().join("publisher").to_str().unwrap()]).trim().to_string();

    let rows = telco_records(50);
    let rows_file = dir.path().join("rows.json");
    std::fs::write(&rows_file, Json::Array(rows.clone()).to_string()).unwrap();
    let want = predict(&bundle, &rows, dir.path());

    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new("node")
        .arg(repo().join("crates/cli/tests/web_api.cjs"))
        .args([package().to_str().unwrap(), bundle.to_str().unwrap(), &reg.url, &dead, rows_file.to_str().unwrap()])
        .args([&pinned, &public_key])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Json = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(got["single"].as_array().unwrap(), &want, "predict() differs from scorelet predict");
    assert_eq!(got["batch"].as_array().unwrap(), &want, "predictBatch() differs from scorelet predict");
    assert_eq!(got["registry"].as_array().unwrap(), &want, "fromRegistry() scorer differs");
    assert_eq!((got["name"].as_str(), got["version"].as_str()), (Some("churn"), Some("unpublished")));
    assert_eq!(got["registryVersion"], "1");
    let jsonl = dir.path().join("rows.jsonl");
    std::fs::write(&jsonl, rows.iter().map(|r| format!("{r}\n")).collect::<String>()).unwrap();
    let features = ok(&["features", "--bundle", bundle.to_str().unwrap(), "--input", jsonl.to_str().unwrap()]);
    let first: Json = serde_json::from_str(features.lines().next().unwrap()).unwrap();
    // A Float32Array prints its f32s at f64 length; compare them as f32 bits.
    let bits = |v: &Json| -> Vec<u32> {
        v.as_array().unwrap().iter().map(|x| (x.as_f64().unwrap() as f32).to_bits()).collect()
    };
    assert_eq!(bits(&got["features"]), bits(&first), "features() differs from scorelet features");
    assert_eq!(got["featureNames"].as_array().unwrap().len(), first.as_array().unwrap().len());
    // predictColumns (typed arrays, no JSON) and predictFeatures (ready matrix) give the same
    // scores as predict: per row one probability per class, the positive class ("Yes") second.
    let scores = |k: &str| -> Vec<u32> { bits(&got[k]) };
    assert_eq!(scores("columns"), scores("fromFeatures"), "predictColumns and predictFeatures differ");
    let p: Vec<u32> = scores("columns").chunks(2).map(|c| c[1]).collect();
    let w: Vec<u32> = want.iter().map(|v| (v["probability"].as_f64().unwrap() as f32).to_bits()).collect();
    assert_eq!(p, w, "predictColumns differs from scorelet predict");
    assert_eq!(scores("dictColumns"), scores("columns"), "dictionary-encoded columns score differently");
    assert_eq!(scores("escapedColumns"), scores("columns"), "a dictionary with an escaped value scores differently");
    let holes: Vec<u32> = scores("holesColumns").chunks(2).map(|c| c[1]).collect();
    let want_holes: Vec<u32> = got["holesBatch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["probability"].as_f64().unwrap() as f32).to_bits())
        .collect();
    assert_eq!(holes, want_holes, "null/undefined cells in predictColumns differ from null in predictBatch");
    let ce = &got["columnErrors"];
    let cmsg = |k: &str| ce[k].as_str().unwrap_or_else(|| panic!("`{k}` was not rejected: {ce}")).to_string();
    assert!(cmsg("short").contains("has 49 values"), "{}", cmsg("short"));
    assert!(cmsg("missing").contains("missing column"), "{}", cmsg("missing"));
    assert!(cmsg("unknown").contains("colour"), "{}", cmsg("unknown"));
    assert!(cmsg("notObject").contains("object of arrays"), "{}", cmsg("notObject"));
    assert!(cmsg("badCell").contains("expected a number, string, boolean or null"), "{}", cmsg("badCell"));
    assert!(cmsg("featureCount").contains("51 rows"), "{}", cmsg("featureCount"));
    let outside = cmsg("outsideDictionary");
    assert!(outside.contains("column `gender`, row 3: code 9 is outside its dictionary of 1 values"), "{outside}");
    assert!(cmsg("negativeCode").contains("must not be negative"), "{}", cmsg("negativeCode"));
    assert!(cmsg("plainCodes").contains("integer typed array"), "{}", cmsg("plainCodes"));
    assert!(got["metadata"]["parameters"]["metrics"]["roc_auc"].as_f64().unwrap() > 0.8);
    assert_eq!(got["engine"].as_str(), Some("compiled"));
    let no_tract = got["tractEngine"].as_str().unwrap_or_default();
    assert!(no_tract.contains("no tract engine"), "forcing tract in the lean package: {}", got["tractEngine"]);
    assert_eq!(got["metadata"]["parameters"]["engine"], "compiled");
    assert!(got["badEngine"].as_str().unwrap().contains("auto, compiled, tract"), "{}", got["badEngine"]);

    let e = &got["errors"];
    let msg = |k: &str| e[k].as_str().unwrap_or_else(|| panic!("`{k}` was not rejected: {e}")).to_string();
    assert_eq!(msg("missing"), "row 0: missing column `tenure`");
    assert!(msg("wrongType").starts_with("row 0, column `tenure`: expected"), "{}", msg("wrongType"));
    assert!(msg("notAnObject").contains("malformed request"), "{}", msg("notAnObject"));
    assert!(msg("batchNotArray").contains("array"), "{}", msg("batchNotArray"));
    assert!(msg("corrupt").contains("model.onnx") && msg("corrupt").contains("sha256"), "{}", msg("corrupt"));
    assert!(msg("noManifest").contains("manifest.json"), "{}", msg("noManifest"));
    assert!(msg("notBytes").contains("Uint8Array"), "{}", msg("notBytes"));
    assert!(msg("registryDown").contains(&dead), "{}", msg("registryDown"));
    assert!(msg("unknownModel").contains("404"), "{}", msg("unknownModel"));
    assert!(msg("badReference").contains("NAME@VERSION"), "{}", msg("badReference"));
    // Content pins and publisher keys hold in JS engines too.
    assert_eq!(got["pinnedVersion"], "1", "the digest `push` printed pins the pushed version");
    assert!(msg("wrongPin").contains("not the pinned"), "{}", msg("wrongPin"));
    assert!(msg("unsigned").contains("not signed"), "{}", msg("unsigned"));
    assert!(msg("badKey").contains("public key"), "{}", msg("badKey"));
    // Rejections carry the JSON error body's fields as properties.
    let d = &got["details"];
    assert_eq!(d["missing"], serde_json::json!({"code": "missing_column", "row": 0, "column": "tenure"}));
    assert_eq!(d["wrongType"], serde_json::json!({"code": "wrong_type", "row": 1, "column": "tenure"}));
    assert_eq!(d["registryDown"], serde_json::json!({"code": "fetch_failed", "row": null, "column": null}));
    assert_eq!(d["corrupt"]["code"], "digest_mismatch");
    // A panic inside the package: that call fails (a trap when synchronous, a rejection with
    // `component_failed` when asynchronous, never a promise left pending); after
    // `__wbg_reset_state()` the old scorer is refused and the package scores as before.
    let t = &got["trap"];
    assert_eq!(t["predict"], "trap", "{t}");
    assert!(t["stale"].as_str().unwrap_or_default().contains("stale"), "{t}");
    assert_eq!(t["after"].as_array().unwrap(), &want, "scores after the restart differ");
    assert_eq!(t["fromRegistry"], "component_failed", "{t}");
    assert_eq!(t["uncaught"], serde_json::json!(["trap"]), "{t}");
    assert_eq!(t["afterRegistry"].as_array().unwrap(), &want);
}
