//! The `scorelet` binary end to end on the repository's data: spec infer, train, check,
//! features, batch predict (streaming 100k rows), and its errors on bad files.

mod common;

use common::{fails, ok, repo, scorelet, train};
use serde_json::Value as Json;

#[test]
fn train_check_and_predict_reproduce_golden_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let b = train(tmp.path());
    let manifest: Json = serde_json::from_slice(&std::fs::read(b.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["metrics"]["roc_auc"].as_f64().unwrap() >= 0.83, "{}", manifest["metrics"]);
    assert_eq!(manifest["model"]["precision"], "int8");
    assert!(ok(&["check", "--bundle", b.to_str().unwrap()]).contains("64 golden rows match"));
    // Feed golden.json's raw rows back through `predict`: same features, same probabilities.
    let golden: Json = serde_json::from_slice(&std::fs::read(b.join("golden.json")).unwrap()).unwrap();
    let rows = tmp.path().join("golden-rows.jsonl");
    let text: String = golden["rows"].as_array().unwrap().iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&rows, text).unwrap();
    let out =
        ok(&["predict", "--bundle", b.to_str().unwrap(), "--input", rows.to_str().unwrap(), "--with-features", "-q"]);
    let preds: Vec<Json> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(preds.len(), 64);
    for (i, p) in preds.iter().enumerate() {
        let bits =
            |v: &Json| v.as_array().unwrap().iter().map(|x| (x.as_f64().unwrap() as f32).to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&p["features"]), bits(&golden["features"][i]), "row {i} features");
        let prob = (p["probability"].as_f64().unwrap() as f32).to_bits();
        assert_eq!(prob, (golden["outputs"][i][1].as_f64().unwrap() as f32).to_bits(), "row {i} probability");
    }
}

#[test]
fn predict_streams_a_hundred_thousand_rows_in_order_on_every_core() {
    let tmp = tempfile::tempdir().unwrap();
    let b = train(tmp.path());
    let bs = b.to_str().unwrap();
    let data = std::fs::read_to_string(repo().join("data/telco-churn.csv")).unwrap();
    let (header, body) = data.split_once('\n').unwrap();
    let big = tmp.path().join("big.csv");
    let mut text = format!("{header}\n");
    for _ in 0..15 {
        text.push_str(body);
    }
    std::fs::write(&big, &text).unwrap();
    // The same rows as JSON lines (every cell a string, as CSV cells are): that input is scored
    // row by row on one thread, the CSV in chunks on every core.
    let jsonl = tmp.path().join("big.jsonl");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let names: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let mut lines = String::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let obj: serde_json::Map<String, Json> =
            names.iter().zip(rec.iter()).map(|(k, v)| (k.clone(), Json::String(v.into()))).collect();
        lines.push_str(&Json::Object(obj).to_string());
        lines.push('\n');
    }
    std::fs::write(&jsonl, lines).unwrap();
    let (out, out_jsonl) = (tmp.path().join("out.jsonl"), tmp.path().join("out-from-jsonl.jsonl"));
    ok(&["predict", "--bundle", bs, "--input", big.to_str().unwrap(), "-o", out.to_str().unwrap(), "-q"]);
    ok(&["predict", "--bundle", bs, "--input", jsonl.to_str().unwrap(), "-o", out_jsonl.to_str().unwrap(), "-q"]);
    let (got, want) = (std::fs::read_to_string(&out).unwrap(), std::fs::read_to_string(&out_jsonl).unwrap());
    assert_eq!(got.lines().count(), 7043 * 15);
    assert!(got == want, "CSV and JSON-lines predictions differ");
    let first: Json = serde_json::from_str(got.lines().next().unwrap()).unwrap();
    assert!(first["label"] == "Yes" || first["label"] == "No");
    // A bad cell deep in the file (chunk 25 of 26) is the error, named by its row, and nothing
    // is written; so is a short record there.
    let mut rows: Vec<&str> = text.lines().collect();
    let bad_row = 100_000;
    let cells: Vec<String> = rows[bad_row + 1].split(',').map(String::from).collect();
    let mut bad = cells.clone();
    bad[5] = "lots".into();
    let bad_line = bad.join(",");
    rows[bad_row + 1] = &bad_line;
    let broken = tmp.path().join("broken.csv");
    std::fs::write(&broken, rows.join("\n")).unwrap();
    let never = tmp.path().join("never.jsonl");
    let err =
        fails(&["predict", "--bundle", bs, "--input", broken.to_str().unwrap(), "-o", never.to_str().unwrap(), "-q"]);
    assert!(err.contains("row 100000, column `tenure`: expected a number"), "{err}");
    assert!(!never.exists());
    let short = cells[..3].join(",");
    rows[bad_row + 1] = &short;
    std::fs::write(&broken, rows.join("\n")).unwrap();
    let err =
        fails(&["predict", "--bundle", bs, "--input", broken.to_str().unwrap(), "-o", never.to_str().unwrap(), "-q"]);
    assert!(err.contains(&format!("CSV row {}", bad_row + 1)), "{err}");
    assert!(!never.exists());
}

#[test]
fn features_and_spec_infer() {
    let tmp = tempfile::tempdir().unwrap();
    let b = train(tmp.path());
    let out = ok(&["features", "--bundle", b.to_str().unwrap(), "--input", "data/telco-churn.csv", "--with-names"]);
    let mut lines = out.lines();
    let names: Vec<String> = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(names.len(), 53);
    assert!(names.contains(&"Contract=Two year".to_string()) && names.contains(&"TotalCharges__missing".to_string()));
    assert_eq!(lines.count(), 7043);
    let spec = ok(&["spec", "infer", "data/telco-churn.csv", "--target", "Churn"]);
    assert!(spec.contains("identifier (nearly every value distinct): ignored"));
    let path = tmp.path().join("spec.toml");
    std::fs::write(&path, &spec).unwrap();
    ok(&[
        "train",
        "--data",
        "data/telco-churn.csv",
        "--target",
        "Churn",
        "--positive",
        "Yes",
        "--spec",
        path.to_str().unwrap(),
        "--out",
        tmp.path().join("inferred").to_str().unwrap(),
    ]);
}

#[test]
fn bad_files_get_clear_errors_and_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let b = train(tmp.path());
    let bs = b.to_str().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    };
    let err = fails(&["predict", "--bundle", "/nonexistent", "--input", "data/telco-churn.csv"]);
    assert!(err.contains("cannot read /nonexistent/manifest.json"), "{err}");
    let err = fails(&["predict", "--bundle", bs, "--input", "/nonexistent.csv"]);
    assert!(err.contains("cannot open /nonexistent.csv"), "{err}");
    let no_tenure = write("no-tenure.csv", b"gender,SeniorCitizen\nMale,0\n");
    let err = fails(&["predict", "--bundle", bs, "--input", &no_tenure]);
    assert!(err.contains("missing column"), "{err}");
    let data = std::fs::read_to_string(repo().join("data/telco-churn.csv")).unwrap();
    let mut lines: Vec<&str> = data.lines().take(5).collect();
    lines.push("7590-VHVEG,Female,0");
    let ragged = write("ragged.csv", lines.join("\n").as_bytes());
    let out = tmp.path().join("never.jsonl");
    let err = fails(&["predict", "--bundle", bs, "--input", &ragged, "-o", out.to_str().unwrap(), "-q"]);
    assert!(err.contains("CSV row 5"), "{err}");
    assert!(!out.exists(), "a failed run leaves no output file");
    assert_eq!(
        std::fs::read_dir(tmp.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("partial"))
            .count(),
        0
    );
    let mut bytes = data.lines().take(3).collect::<Vec<_>>().join("\n").into_bytes();
    bytes.extend_from_slice(b"\n\xff\xfe,Female,0,Yes,No,1,No,No phone service,DSL,No,Yes,No,No,No,No,Month-to-month,Yes,Electronic check,29.85,29.85,No\n");
    let err = fails(&["predict", "--bundle", bs, "--input", &write("latin1.csv", &bytes), "-q"]);
    assert!(err.contains("UTF-8"), "{err}");
    let mut text_in_number = data.lines().take(2).collect::<Vec<_>>().join("\n");
    text_in_number.push_str("\nX,Female,0,Yes,No,lots,No,No phone service,DSL,No,Yes,No,No,No,No,Month-to-month,Yes,Electronic check,29.85,29.85,No\n");
    let err = fails(&["predict", "--bundle", bs, "--input", &write("text.csv", text_in_number.as_bytes()), "-q"]);
    assert!(err.contains("row 1, column `tenure`: expected a number, got string \"lots\""), "{err}");
    let err = fails(&["predict", "--bundle", bs, "--input", &write("empty.csv", b""), "-q"]);
    assert!(err.contains("missing column") || err.contains("no rows"), "{err}");
    let err = fails(&["predict", "--bundle", bs, "--input", &write("garbage.jsonl", b"{not json\n"), "-q"]);
    assert!(err.contains("line 1 is not valid JSON"), "{err}");
    // Training refuses bad data and writes no bundle.
    let out_dir = tmp.path().join("never-bundle");
    let err = fails(&[
        "train",
        "--data",
        "data/telco-churn.csv",
        "--target",
        "Nope",
        "--positive",
        "Yes",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(err.contains("no column `Nope`"), "{err}");
    let err = fails(&[
        "train",
        "--data",
        &write("one-class.csv", b"a,y\n1,No\n2,No\n"),
        "--target",
        "y",
        "--positive",
        "Yes",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(err.contains("single class"), "{err}");
    assert!(!out_dir.exists());
    let err = fails(&[
        "train",
        "--data",
        &write("empty-train.csv", b""),
        "--target",
        "y",
        "--positive",
        "Yes",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn train_from_a_config_file_and_the_quantization_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("train.toml");
    let root = repo().canonicalize().unwrap();
    std::fs::write(
        &cfg,
        format!(
            "data = {:?}\ntarget = \"Churn\"\npositive = \"Yes\"\nspec = {:?}\nmodel = \"mlp\"\nname = \"churn-mlp\"\nout = \"bundle\"\nhidden = [16]\nseed = 3\n",
            root.join("data/telco-churn.csv"),
            root.join("examples/telco.toml")
        ),
    )
    .unwrap();
    ok(&["train", "--config", cfg.to_str().unwrap(), "-q"]);
    let m: Json = serde_json::from_slice(&std::fs::read(tmp.path().join("bundle/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["name"], "churn-mlp");
    assert_eq!(m["lineage"]["parameters"]["hidden"], serde_json::json!([16]));
    assert_eq!(m["lineage"]["split"]["seed"], 3);
    // A flag beats the file; the gate refuses with a clear message and no bundle.
    let out = tmp.path().join("gated");
    let err = fails(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--model",
        "logreg",
        "--max-quantization-loss",
        "0",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(err.contains("quantization gate: the INT8 model loses") && err.contains("--precision float32"), "{err}");
    assert!(!out.exists());
    let err =
        fails(&["train", "--config", cfg.to_str().unwrap(), "--out", tmp.path().join("bundle").to_str().unwrap()]);
    assert!(err.contains("already exists"), "{err}");
    std::fs::write(&cfg, "data = \"x.csv\"\nlearning_rate = 0.1\n").unwrap();
    let err = fails(&["train", "--config", cfg.to_str().unwrap()]);
    assert!(err.contains("unknown field `learning_rate`"), "kebab-case keys: {err}");
}

#[test]
fn tree_options_come_from_the_config_file_and_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("trees.toml");
    let root = repo().canonicalize().unwrap();
    std::fs::write(
        &cfg,
        format!(
            "data = {:?}\ntarget = \"Churn\"\npositive = \"Yes\"\nspec = {:?}\nmodel = \"gbdt\"\nname = \"churn-gbdt\"\nn-trees = 7\nnum-leaves = 8\nearly-stopping = 0\nlambda-l2 = 1.5\n",
            root.join("data/telco-churn.csv"),
            root.join("examples/telco.toml")
        ),
    )
    .unwrap();
    let out = tmp.path().join("gbdt");
    let said =
        scorelet(&["train", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--precision", "int8"]);
    let stderr = String::from_utf8_lossy(&said.stderr);
    assert!(said.status.success(), "{stderr}");
    assert!(stderr.contains("trees have no weights to quantize"), "{stderr}");
    let m: Json = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["model"]["precision"], "float32");
    let p = &m["lineage"]["parameters"];
    assert_eq!(
        (p["n_trees"].as_u64(), p["num_leaves"].as_u64(), p["lambda_l2"].as_f64()),
        (Some(7), Some(8), Some(1.5))
    );
    assert_eq!(m["lineage"]["fit"]["trees"], 7, "no early stopping: every round kept");
    // A flag beats the file.
    let out = tmp.path().join("forest");
    ok(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--model",
        "random-forest",
        "--n-trees",
        "3",
        "--max-depth",
        "4",
        "--criterion",
        "entropy",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let m: Json = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["lineage"]["model"], "random-forest");
    assert_eq!(m["lineage"]["parameters"]["criterion"], "entropy");
    assert_eq!((m["lineage"]["fit"]["trees"].as_u64(), m["lineage"]["fit"]["max_depth"].as_u64()), (Some(3), Some(4)));
    let err = fails(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--num-leaves",
        "1",
        "--out",
        tmp.path().join("bad").to_str().unwrap(),
        "-q",
    ]);
    assert!(err.contains("num_leaves"), "{err}");
}

/// `scorelet drift --json` on `input`: PSI per column (the scores under `score`).
fn drift_psi(bundle: &std::path::Path, input: &std::path::Path, extra: &[&str]) -> (Option<i32>, Json) {
    let mut args = vec!["drift", "--bundle", bundle.to_str().unwrap(), "--input", input.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = scorelet(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    let v: Json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("drift output: {e}: {err}"));
    let psi =
        v["columns"].as_array().unwrap().iter().map(|c| (c["column"].as_str().unwrap().to_string(), c["psi"].clone()));
    (out.status.code(), Json::Object(psi.collect()))
}

#[test]
fn drift_finds_a_shifted_column_and_only_that_one() {
    let tmp = tempfile::tempdir().unwrap();
    // Train on the first 5 000 rows; the other 2 043 are new data the model never saw.
    let text = std::fs::read_to_string(repo().join("data/telco-churn.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header = rdr.headers().unwrap().clone();
    let records: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let charges = header.iter().position(|h| h == "MonthlyCharges").unwrap();
    let write = |name: &str, rows: &[csv::StringRecord], scale: f64| {
        let path = tmp.path().join(name);
        let mut w = csv::Writer::from_path(&path).unwrap();
        w.write_record(&header).unwrap();
        for r in rows {
            let mut r: Vec<String> = r.iter().map(String::from).collect();
            r[charges] = format!("{:.2}", r[charges].parse::<f64>().unwrap() * scale);
            w.write_record(&r).unwrap();
        }
        w.flush().unwrap();
        path
    };
    let train_csv = write("train.csv", &records[..5000], 1.0);
    let fresh = write("fresh.csv", &records[5000..], 1.0);
    let shifted = write("shifted.csv", &records[5000..], 1.3);
    let b = common::train_on(tmp.path(), train_csv.to_str().unwrap(), &[]);
    let manifest: Json = serde_json::from_slice(&std::fs::read(b.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["files"]["profile.json"]["sha256"].is_string(), "the profile is listed and digested");

    let (code, fresh_psi) = drift_psi(&b, &fresh, &["--fail-above", "0.25"]);
    assert_eq!(code, Some(0), "{fresh_psi}");
    assert_eq!(fresh_psi.as_object().unwrap().len(), 20, "19 input columns and the scores: {fresh_psi}");
    for (c, psi) in fresh_psi.as_object().unwrap() {
        assert!(psi.as_f64().unwrap() < 0.1, "unshifted rows: {c} has PSI {psi}");
    }
    let (code, shifted_psi) = drift_psi(&b, &shifted, &["--fail-above", "0.25"]);
    assert_eq!(code, Some(3), "a PSI above --fail-above exits 3: {shifted_psi}");
    for (c, psi) in shifted_psi.as_object().unwrap() {
        let psi = psi.as_f64().unwrap();
        match c.as_str() {
            "MonthlyCharges" => assert!(psi > 0.25, "the shifted column: {psi}"),
            // The model reads MonthlyCharges: its scores may move, the other inputs may not.
            "score" => {}
            _ => assert!(psi < 0.1, "{c} was not shifted but has PSI {psi}"),
        }
    }
    // The same rows as JSON lines count the same.
    let jsonl = tmp.path().join("shifted.jsonl");
    let mut lines = String::new();
    for r in csv::Reader::from_path(&shifted).unwrap().deserialize::<std::collections::BTreeMap<String, String>>() {
        lines.push_str(&serde_json::to_string(&r.unwrap()).unwrap());
        lines.push('\n');
    }
    std::fs::write(&jsonl, lines).unwrap();
    assert_eq!(drift_psi(&b, &jsonl, &[]).1, shifted_psi);
    let html = tmp.path().join("drift.html");
    ok(&[
        "drift",
        "--bundle",
        b.to_str().unwrap(),
        "--input",
        shifted.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert!(std::fs::read_to_string(&html).unwrap().contains("<h2 id=c-MonthlyCharges>"));
    let out = tmp.path().join("drift.txt");
    ok(&["drift", "--bundle", b.to_str().unwrap(), "--input", shifted.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let table = std::fs::read_to_string(&out).unwrap();
    let line = table.lines().find(|l| l.starts_with("MonthlyCharges")).unwrap_or_else(|| panic!("{table}"));
    assert!(line.ends_with("changed"), "{line}");

    // Bad input: a line that is not JSON, no rows, a profile that does not match its digest,
    // and a bundle from before profiles (which still loads and checks).
    let broken = tmp.path().join("broken.jsonl");
    let first = std::fs::read_to_string(&jsonl).unwrap().lines().next().unwrap().to_string();
    std::fs::write(&broken, format!("{first}\nnot json\n")).unwrap();
    let err = fails(&["drift", "--bundle", b.to_str().unwrap(), "--input", broken.to_str().unwrap()]);
    assert!(err.contains("line 2"), "{err}");
    let empty = tmp.path().join("empty.csv");
    std::fs::write(&empty, format!("{}\n", header.iter().collect::<Vec<_>>().join(","))).unwrap();
    assert!(fails(&["drift", "--bundle", b.to_str().unwrap(), "--input", empty.to_str().unwrap()]).contains("no rows"));
    let profile = b.join("profile.json");
    let good = std::fs::read(&profile).unwrap();
    std::fs::write(&profile, String::from_utf8_lossy(&good).replacen("\"rows\":", "\"rows\":1", 1)).unwrap();
    let err = fails(&["drift", "--bundle", b.to_str().unwrap(), "--input", fresh.to_str().unwrap()]);
    assert!(err.contains("profile.json"), "{err}");
    std::fs::remove_file(&profile).unwrap();
    let mut m = manifest.clone();
    m["files"].as_object_mut().unwrap().remove("profile.json");
    std::fs::write(b.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    ok(&["check", "--bundle", b.to_str().unwrap()]);
    let err = fails(&["drift", "--bundle", b.to_str().unwrap(), "--input", fresh.to_str().unwrap()]);
    assert!(err.contains("no profile.json") && err.contains("retrain"), "{err}");
}
