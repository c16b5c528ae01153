//! Golden parity across targets: the same bundles score the same ≥ 1000 rows natively, in
//! wasm32-wasip2 under an embedded wasmtime, and in wasm32-unknown-unknown under Node's V8; the
//! feature vectors, model outputs and predictions must be bit-identical.
//!
//! The wasm artifacts are built by `scripts/test.sh` (see `scripts/build-wasm.sh`), which
//! passes their paths in `SCORELET_WASI_WASM` and `SCORELET_WEB_NODE`.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use scorelet::{Bundle, Scorer};
use scorelet_train::Precision;

const ROWS: usize = 1200;

fn artifact(var: &str) -> PathBuf {
    let p = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{var} is not set: run the tests with scripts/test.sh, which builds the wasm artifacts first")
    });
    assert!(p.exists(), "{var}={} does not exist; run scripts/build-wasm.sh", p.display());
    p
}

fn native(bundle: &Path, input: &str) -> String {
    let b = Bundle::load_dir(bundle).unwrap();
    let s = Scorer::from_bundle(&b).unwrap();
    scorelet::api::lines::score_lines(&s, input).unwrap()
}

fn wasi(runner: &scorelet_host::CommandRunner, bundle: &Path, input: &str) -> String {
    let out = runner.run(&["/bundle"], input.as_bytes().to_vec(), &[(bundle, "/bundle")]).unwrap();
    assert!(out.success, "wasip2 run failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn node(pkg: &Path, bundle: &Path, input: &str) -> String {
    let script = repo().join("tests/parity/score.cjs");
    let mut child = Command::new("node")
        .arg(&script)
        .arg(pkg)
        .arg(bundle)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is installed (scripts/setup.sh)");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "node run failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Compares two JSON-lines outputs; on a difference, says which row and which part differ.
fn assert_same(target: &str, model: &str, want: &str, got: &str) {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    assert_eq!(w.len(), g.len(), "{model}: {target} returned {} rows, native {}", g.len(), w.len());
    for (i, (a, b)) in w.iter().zip(&g).enumerate() {
        if a != b {
            let a: serde_json::Value = serde_json::from_str(a).unwrap();
            let b: serde_json::Value = serde_json::from_str(b).unwrap();
            let part = ["features", "outputs", "prediction"].into_iter().find(|k| a[k] != b[k]).unwrap_or("?");
            panic!(
                "{model}: row {i} differs between native and {target} in `{part}`:\n native {}\n {target} {}",
                a[part], b[part]
            );
        }
    }
}

#[test]
fn native_wasip2_and_v8_are_bit_identical() {
    let wasi_wasm = artifact("SCORELET_WASI_WASM");
    let web_pkg = artifact("SCORELET_WEB_NODE");
    let cache = std::env::temp_dir().join("scorelet-test-cwasm");
    let runner = scorelet_host::CommandRunner::load(&wasi_wasm, Some(&cache)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for d in [telco(), adult()] {
        let width = feature_width(&d);
        let input = jsonl(&records(&d.table, ROWS));
        for (label, job) in [
            ("logreg-int8", logreg_job(&d, Precision::Int8)),
            ("logreg-f32", logreg_job(&d, Precision::Float32)),
            ("mlp-int8", mlp_job(&d, Precision::Int8, width)),
            ("mlp-f32", mlp_job(&d, Precision::Float32, width)),
        ] {
            let model = format!("{}/{label}", d.name);
            let dir = tmp.path().join(format!("{}-{label}", d.name));
            let (bundle, _) = job.run(&d.table).unwrap();
            bundle.write_dir(&dir).unwrap();
            let want = native(&dir, &input);
            assert_eq!(want.lines().count(), ROWS);
            assert_same("wasm32-wasip2", &model, &want, &wasi(&runner, &dir, &input));
            assert_same("wasm32-unknown-unknown (V8)", &model, &want, &node(&web_pkg, &dir, &input));
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
}

#[test]
fn golden_self_check_passes_on_every_target() {
    let wasi_wasm = artifact("SCORELET_WASI_WASM");
    let cache = std::env::temp_dir().join("scorelet-test-cwasm");
    let runner = scorelet_host::CommandRunner::load(&wasi_wasm, Some(&cache)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d = telco();
    let dir = tmp.path().join("b");
    logreg_job(&d, Precision::Int8).run(&d.table).unwrap().0.write_dir(&dir).unwrap();
    let out = runner.run(&["/bundle", "--check"], vec![], &[(&dir, "/bundle")]).unwrap();
    assert!(out.success, "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"], 64);
    assert_eq!(report["exact_outputs"], 64, "wasip2 reproduces the trainer's outputs exactly: {report}");
}
