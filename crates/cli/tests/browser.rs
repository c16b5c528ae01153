//! The demo page (www/) in headless Chromium against a real registry: the form is generated from
//! the model's signature, the probability shown for each Telco row equals `scorelet predict` bit
//! for bit (SIMD and baseline builds), and bad input, a registry that is down and an unknown
//! model show their error on the page instead of breaking it. Leaves a screenshot in
//! `$CARGO_TARGET_DIR/artifacts/demo-page.png`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Registry, built, free_port, have_built, predict, repo, support, telco_records, train};
use serde_json::{Value as Json, json};

/// A Telco record as the page's form holds it: booleans as true/false, numbers as numbers (blank
/// is missing), categories as strings; no ID column.
fn form_row(r: &Json) -> Json {
    const BOOLEANS: [&str; 5] = ["SeniorCitizen", "Partner", "Dependents", "PhoneService", "PaperlessBilling"];
    const NUMBERS: [&str; 3] = ["tenure", "MonthlyCharges", "TotalCharges"];
    let cell = |v: &Json| v.as_str().map(str::trim).map(str::to_string).unwrap_or_else(|| v.to_string());
    let out = r
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "customerID")
        .map(|(k, v)| {
            let v = if BOOLEANS.contains(&k.as_str()) {
                json!(matches!(cell(v).as_str(), "Yes" | "1" | "1.0"))
            } else if NUMBERS.contains(&k.as_str()) {
                cell(v).parse::<f64>().map_or(Json::Null, |x| json!(x))
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    Json::Object(out)
}

fn artifacts() -> PathBuf {
    let dir = common::support::target_dir().join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn demo_page_shows_what_predict_computes_and_shows_errors_instead_of_breaking() {
    let test = "demo_page_shows_what_predict_computes_and_shows_errors_instead_of_breaking";
    if !have_built(test, "SCORELET_SITE", "site", "index.html")
        || support::program(test, "node").is_none()
        || support::program(test, "chromium").is_none()
        || support::js_tool(test, "playwright-core").is_none()
    {
        return;
    }
    let site = built("SCORELET_SITE", "site", "index.html");
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let site_flag = ["--site", site.to_str().unwrap()];
    let reg = Registry::start_with(&dir.path().join("store"), "127.0.0.1:0", &site_flag);
    reg.cli(&["push", "--bundle", bundle.to_str().unwrap()]);
    reg.cli(&["promote", "churn", "1", "--to", "production"]);

    let rows: Vec<Json> = telco_records(12).iter().map(form_row).collect();
    let want = predict(&bundle, &rows, dir.path());
    let rows_file = dir.path().join("rows.json");
    std::fs::write(&rows_file, Json::Array(rows.clone()).to_string()).unwrap();
    let screenshot = artifacts().join("demo-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let dead = format!("http://127.0.0.1:{}", free_port());

    let out = Command::new("node")
        .arg(repo().join("js/demo-page.mjs"))
        .args([&format!("{}/", reg.url), "churn@production", rows_file.to_str().unwrap()])
        .args([screenshot.to_str().unwrap(), &dead])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["pageErrors"], json!([]), "the page threw");

    let loaded = &got["loaded"];
    assert_eq!((loaded["state"].as_str(), loaded["version"].as_str()), (Some("ready"), Some("1")), "{loaded}");
    assert_eq!(loaded["build"], "simd128", "Chromium has Wasm SIMD");
    for (i, (shown, want)) in got["rows"].as_array().unwrap().iter().zip(&want).enumerate() {
        assert_eq!(shown["state"], "ready", "row {i}: {shown}");
        let (a, b) = (shown["value"].as_f64().unwrap(), want["probability"].as_f64().unwrap());
        assert_eq!(a.to_bits(), b.to_bits(), "row {i}: the page shows {a}, scorelet predict says {b}");
        assert_eq!(shown["label"], want["label"], "row {i}");
        assert!(shown["features"].as_u64().unwrap() > 5, "row {i}: no feature vector shown");
    }
    assert_eq!(got["rows"].as_array().unwrap().len(), want.len());
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000, "no screenshot");

    let bad = &got["badInput"];
    assert_eq!(bad["state"], "error");
    assert_eq!(bad["error"], "row 0, column `tenure`: expected a number, got string \"twelve\"");
    assert_eq!(bad["invalid"], json!(["tenure"]), "the offending field is not marked");
    let recovered = &got["recovered"];
    assert_eq!((recovered["state"].as_str(), recovered["error"].as_str()), (Some("ready"), None));
    assert_eq!(recovered["value"].as_f64(), want.last().unwrap()["probability"].as_f64());
    // A panic inside the package while scoring: shown, then the page scores again (fresh module
    // instance, model reloaded) and shows what predict computes.
    let after = &got["afterTrap"];
    let shown = after["errorsShown"].as_array().unwrap();
    assert!(shown.iter().any(|e| e.as_str().unwrap().starts_with("Internal error")), "{after}");
    assert_eq!((after["state"].as_str(), after["error"].as_str()), (Some("ready"), None), "{after}");
    assert_eq!(after["value"].as_f64().map(f64::to_bits), want[0]["probability"].as_f64().map(f64::to_bits));

    let baseline = &got["baseline"];
    assert_eq!(baseline["build"], "baseline");
    assert_eq!(baseline["value"].as_f64().map(f64::to_bits), want[0]["probability"].as_f64().map(f64::to_bits));

    let down = &got["registryDown"];
    assert_eq!(down["state"], "error");
    let message = down["error"].as_str().unwrap();
    assert!(message.starts_with("Could not load churn@production from") && message.contains(&dead), "{message}");
    let unknown = got["unknownModel"]["error"].as_str().unwrap();
    assert!(unknown.contains("nosuch") && unknown.contains("404"), "{unknown}");

    // The tree ensembles, published as versions 2 and 3: the page shows what predict computes.
    for (version, (kind, extra)) in [2, 3].into_iter().zip(&common::MODEL_KINDS[1..]) {
        let kind_dir = dir.path().join(kind);
        let bundle = common::train_with(&kind_dir, extra);
        reg.cli(&["push", "--bundle", bundle.to_str().unwrap()]);
        let want = predict(&bundle, &rows, &kind_dir);
        let shot = artifacts().join(format!("demo-page-{kind}.png"));
        let out = Command::new("node")
            .arg(repo().join("js/demo-page.mjs"))
            .args([&format!("{}/", reg.url), &format!("churn@{version}"), rows_file.to_str().unwrap()])
            .args([shot.to_str().unwrap(), &dead])
            .output()
            .unwrap();
        assert!(out.status.success(), "{kind}: {}", String::from_utf8_lossy(&out.stderr));
        let got: Json = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got["pageErrors"], json!([]), "{kind}: the page threw");
        let shown = got["rows"].as_array().unwrap();
        assert_eq!(shown.len(), want.len(), "{kind}");
        for (i, (shown, want)) in shown.iter().zip(&want).enumerate() {
            let (a, b) = (shown["value"].as_f64().unwrap(), want["probability"].as_f64().unwrap());
            assert_eq!(a.to_bits(), b.to_bits(), "{kind} row {i}: the page shows {a}, scorelet predict says {b}");
        }
    }
}
