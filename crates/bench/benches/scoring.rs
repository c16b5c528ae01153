//! In-process scoring, 1 and 100 rows per call, through the scoring function's whole
//! `/invocations` path (JSON body → rows → features → model → JSON answer):
//! - `native`: the core's `Service` compiled for the host;
//! - `wasmtime`: the lean Spin component (`scorelet_spin_lean.wasm`) in the embedded wasmtime, a warm
//!   instance, no sockets;
//! - `model-compiled`, `model-tract`: the model alone on a ready feature matrix (the golden rows'
//!   features), on each engine (skipped, with a line, where an engine does not load the model);
//! - `wasmtime-model`: the same on the compiled engine built for wasm32-wasip2 (the WASI
//!   command's `--bench-model`, timed inside the guest);
//! - `wasmtime-live`: `GET /v2/health/live` in the component, the floor of the WASI HTTP crossing.
//!
//! `SCORELET_BENCH_BUNDLES=label=DIR,… cargo bench -p scorelet-bench --bench scoring`

use std::hint::black_box;
use std::path::PathBuf;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scorelet::model::{Engine, Model};
use scorelet::service::{self, Service};
use scorelet_bench::{bundles, invocations_body};
use scorelet_host::{HttpComponent, Settings};

fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| scorelet_bench::repo().join("target"))
}

fn component() -> PathBuf {
    // The lean build: what `scorelet serve --bundle` runs for models on the compiled engine.
    let p = target().join("wasm32-wasip2/release/scorelet_spin_lean.wasm");
    assert!(p.is_file(), "{} is missing: run scripts/build-wasm.sh", p.display());
    p
}

fn scoring(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let wasm = std::fs::read(component()).unwrap();
    // The WASI command, for the model alone in wasm (skipped, with a line, when not built).
    let wasi_path = target().join("wasm32-wasip2/release/scorelet-wasi.wasm");
    let wasi = if wasi_path.is_file() {
        Some(scorelet_host::CommandRunner::load(&wasi_path, Some(&target().join("component-cache"))).unwrap())
    } else {
        eprintln!("{} is missing (scripts/build-wasm.sh): no wasmtime-model numbers", wasi_path.display());
        None
    };
    for (label, dir) in bundles() {
        let bundle = scorelet::Bundle::load_dir(&dir).unwrap();
        let mut native = Service::new(None);
        native.start_loading();
        native.finish_loading(service::load(&bundle), 0);

        let mut settings = Settings { inherit_stderr: false, max_instances: 1, ..Settings::default() };
        settings.dirs.push((dir.clone(), "/bundle".into()));
        settings.variables.insert("bundle_dir".into(), "/bundle".into());
        // The compile cache `scorelet serve` uses: setup deserializes instead of compiling.
        let guest = HttpComponent::load(&wasm, Some(&target().join("component-cache")), settings).unwrap();

        let mut group = c.benchmark_group(label.as_str());
        // The floor of the WASI HTTP crossing: a request the component answers without scoring.
        group.bench_function("wasmtime-live/1", |b| {
            b.iter(|| {
                let req = http::Request::get("http://localhost/v2/health/live").body(Bytes::new()).unwrap();
                let r = rt.block_on(guest.handle(req)).unwrap();
                assert_eq!(r.status(), 200);
                r
            })
        });
        for rows in [1usize, 100] {
            let body = invocations_body(rows);
            group.throughput(Throughput::Elements(rows as u64));
            group.bench_function(format!("native/{rows}"), |b| {
                b.iter(|| {
                    let req = scorelet_bench::invocations_request(body.as_bytes());
                    let r = native.handle(black_box(&req), 0);
                    assert_eq!(r.status, 200);
                    r
                })
            });
            let body = Bytes::from(body);
            group.bench_function(format!("wasmtime/{rows}"), |b| {
                b.iter(|| {
                    let req = http::Request::post("http://localhost/invocations")
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .unwrap();
                    let r = rt.block_on(guest.handle(req)).unwrap();
                    assert_eq!(r.status(), 200);
                    r
                })
            });
            // The model alone on a ready feature matrix (real rows' features: trees take the paths
            // real rows take), on each engine (same ONNX file).
            let m = &bundle.manifest.model;
            let onnx = bundle.file(&m.file).unwrap();
            let x = features(&bundle, rows);
            for engine in [Engine::Compiled, Engine::Tract] {
                let model = match Model::load_with(onnx, m.n_features, &m.output, engine) {
                    Ok(model) => model,
                    Err(e) => {
                        eprintln!("{label}: {engine:?} does not load the model: {e}");
                        continue;
                    }
                };
                let mut out = model.run(&x, rows).unwrap();
                group.bench_function(format!("model-{}/{rows}", model.engine()), |b| {
                    b.iter(|| model.run_into(black_box(&x), rows, &mut out).unwrap())
                });
            }
            // The same, compiled to wasm32-wasip2 and timed inside the guest (the WASI command).
            if let Some(cmd) = &wasi {
                let args =
                    |iters: u64| [String::from("/bundle"), "--bench-model".into(), rows.to_string(), iters.to_string()];
                group.bench_function(format!("wasmtime-model/{rows}"), |b| {
                    b.iter_custom(|iters| {
                        let a = args(iters);
                        let a: Vec<&str> = a.iter().map(String::as_str).collect();
                        let out = cmd.run(&a, Vec::new(), &[(&dir, "/bundle")]).unwrap();
                        assert!(out.success, "{}", String::from_utf8_lossy(&out.stderr));
                        let ns: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
                        std::time::Duration::from_nanos(ns)
                    })
                });
            }
        }
        group.finish();
    }
}

/// The golden rows' features (holdout rows, as the pipeline computed them), repeated to `rows`:
/// what the WASI command's `--bench-model` runs on too.
fn features(bundle: &scorelet::Bundle, rows: usize) -> Vec<f32> {
    let golden = scorelet::golden::Golden::from_bundle(bundle).unwrap().expect("golden rows");
    golden.repeated_features(rows)
}

/// Tree ensembles written by other tools (`tests/fixtures/external-trees`, classifiers tract can
/// load: our own exports use `TreeEnsembleRegressor`, which tract does not implement): the
/// compiled engine against tract on the same file and rows, 1 and 100 rows per call.
fn external_trees(c: &mut Criterion) {
    let dir = scorelet_bench::repo().join("tests/fixtures/external-trees");
    let Ok(text) = std::fs::read(dir.join("cases.json")) else { return };
    let fx: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let n = fx["n_features"].as_u64().unwrap() as usize;
    let matrix: Vec<f32> = fx["inputs"]["plain"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().map_or(f32::NAN, |v| v as f32)))
        .collect();
    for file in ["skl-rf.onnx", "skl-gb.onnx", "lgbm.onnx", "xgb.onnx"] {
        let onnx = std::fs::read(dir.join(file)).unwrap();
        let mut group = c.benchmark_group(format!("external/{file}"));
        for rows in [1usize, 100] {
            let x = &matrix[..rows * n];
            for engine in [Engine::Compiled, Engine::Tract] {
                let Ok(model) = Model::load_with(&onnx, n, "probabilities", engine) else {
                    eprintln!("{file}: {engine:?} does not load it");
                    continue;
                };
                let mut out = model.run(x, rows).unwrap();
                group.bench_function(format!("model-{}/{rows}", model.engine()), |b| {
                    b.iter(|| model.run_into(black_box(x), rows, &mut out).unwrap())
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, scoring, external_trees);
criterion_main!(benches);
