//! Golden parity across targets: the same bundles score the same 1 200 Telco and Adult rows
//! natively, in wasm32-wasip2 under an embedded wasmtime, and in wasm32-unknown-unknown under
//! Node's V8.
//!
//! - Feature vectors are bit-identical on every target, for every model.
//! - INT8 models (scorelet's default export) give bit-identical scores and predictions on every
//!   target: the integer matmul is exact, the float epilogue element-wise, and the link function
//!   is the core's (`scorelet::link`).
//! - Tree ensembles (boosted and forests) too: leaves are summed in tree order in f32.
//! - f32 models are bit-identical on every target too: the compiled engine (`scorelet::model`),
//!   which serves every graph scorelet exports, adds in one fixed order and never contracts to FMA.
//!   (Under tract, native and wasm differed in the last bits: its AVX2/FMA and wasm-SIMD GEMM
//!   kernels add in different orders.)
//!
//! The wasm artifacts are built by `scripts/build-wasm.sh` (`scripts/test.sh` runs it) into the
//! paths `SCORELET_WASI_WASM` and `SCORELET_WEB_NODE` name; without them the tests are skipped.

mod common;

use common::support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use scorelet::{Bundle, Scorer};
use scorelet_train::Precision;

const ROWS: usize = 1200;

/// The WASI command component (`SCORELET_WASI_WASM`), loaded; `None` after a skip.
fn runner(test: &str) -> Option<scorelet_host::CommandRunner> {
    let wasm = support::built(test, "SCORELET_WASI_WASM", "wasm32-wasip2/release/scorelet-wasi.wasm")?;
    let cache = std::env::temp_dir().join("scorelet-test-cwasm");
    Some(scorelet_host::CommandRunner::load(&wasm, Some(&cache)).unwrap())
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
    let mut child = Command::new("node")
        .arg(repo().join("tests/parity/score.cjs"))
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

/// Compares JSON-lines outputs of native and another target. Features must be identical; the
/// whole line too when `exact`, otherwise scores within 1e-6.
/// Returns (rows whose lines differ, largest score difference).
fn compare(target: &str, model: &str, want: &str, got: &str, exact: bool) -> (usize, f64) {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    assert_eq!(w.len(), g.len(), "{model}: {target} returned {} rows, native {}", g.len(), w.len());
    let (mut differ, mut max) = (0, 0f64);
    for (i, (a, b)) in w.iter().zip(&g).enumerate() {
        if a == b {
            continue;
        }
        differ += 1;
        let a: serde_json::Value = serde_json::from_str(a).unwrap();
        let b: serde_json::Value = serde_json::from_str(b).unwrap();
        assert_eq!(a["features"], b["features"], "{model}: row {i}: features differ between native and {target}");
        assert!(!exact, "{model}: row {i} differs between native and {target}:\n native {a}\n {target} {b}");
        for (x, y) in a["outputs"].as_array().unwrap().iter().zip(b["outputs"].as_array().unwrap()) {
            max = max.max((x.as_f64().unwrap() - y.as_f64().unwrap()).abs());
        }
    }
    assert!(max <= 1e-6, "{model}: scores differ between native and {target} by {max:e}");
    (differ, max)
}

#[test]
fn native_wasip2_and_v8_agree() {
    let test = "native_wasip2_and_v8_agree";
    let Some(runner) = runner(test) else { return };
    let Some(web_pkg) = support::built(test, "SCORELET_WEB_NODE", "web-node") else { return };
    let Some(_) = support::program(test, "node") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for d in [telco(), adult()] {
        let width = feature_width(&d);
        let input = jsonl(&records(&d.table, ROWS));
        for (label, job) in [
            ("logreg-int8", logreg_job(&d, Precision::Int8)),
            ("mlp-int8", mlp_job(&d, Precision::Int8, width)),
            ("logreg-f32", logreg_job(&d, Precision::Float32)),
            ("mlp-f32", mlp_job(&d, Precision::Float32, width)),
            ("gbdt", tree_job(&d, "gbdt")),
            ("random-forest", tree_job(&d, "random-forest")),
        ] {
            let model = format!("{}/{label}", d.name);
            let dir = tmp.path().join(format!("{}-{label}", d.name));
            train(&job, &d).write_dir(&dir).unwrap();
            let want = native(&dir, &input);
            assert_eq!(want.lines().count(), ROWS);
            // The compiled engine (which serves every graph scorelet exports) adds in one
            // fixed order everywhere: f32 models are bit-identical too, not only INT8 ones.
            let engine = Scorer::from_bundle(&Bundle::load_dir(&dir).unwrap()).unwrap().engine();
            assert_eq!(engine, "compiled", "{model}");
            let exact = true;
            let on_wasi = wasi(&runner, &dir, &input);
            let on_v8 = node(&web_pkg, &dir, &input);
            let (differ, max) = compare("wasm32-wasip2", &model, &want, &on_wasi, exact);
            compare("wasm32-unknown-unknown (V8)", &model, &want, &on_v8, exact);
            assert_eq!(on_wasi, on_v8, "{model}: wasmtime and V8 differ");
            println!("{model:<18} native vs wasm: {differ:>4}/{ROWS} rows differ (max {max:.1e}); wasmtime = V8");
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}

#[test]
fn golden_self_check_is_exact_in_wasip2() {
    let Some(runner) = runner("golden_self_check_is_exact_in_wasip2") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = telco();
    let dir = tmp.path().join("b");
    train(&logreg_job(&d, Precision::Int8), &d).write_dir(&dir).unwrap();
    let out = runner.run(&["/bundle", "--check"], vec![], &[(&dir, "/bundle")]).unwrap();
    assert!(out.success, "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"], 64);
    assert_eq!(report["exact_outputs"], 64, "wasip2 reproduces the trainer's scores bit for bit: {report}");
}
