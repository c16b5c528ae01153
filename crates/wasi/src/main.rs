//! `scorelet-wasi BUNDLE_DIR [--check]`: the core as a wasm32-wasip2 command. Reads JSON lines
//! (one record each) on stdin, writes `{"features", "outputs", "prediction"}` lines on stdout.
//! The bundle's golden self-check runs first, as in every runtime; `--check` prints its report
//! instead of scoring. Runs under any WASI 0.2 host
//! (`wasmtime run --dir bundle::/bundle scorelet-wasi.wasm /bundle`).
//!
//! `--bench-model ROWS ITERS` runs the model alone `ITERS` times on `ROWS` of the golden rows'
//! features (repeated as needed) and prints the nanoseconds it took, measured inside the guest:
//! the benchmarks' model-only number in wasm.

use std::io::{Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().ok_or("usage: scorelet-wasi BUNDLE_DIR [--check] < rows.jsonl")?;
    let bundle = scorelet::Bundle::load_dir(dir).map_err(|e| e.to_string())?;
    let scorer = scorelet::Scorer::from_bundle(&bundle).map_err(|e| e.to_string())?;
    let report = scorelet::golden::self_check(&scorer, &bundle).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    if args.get(1).map(String::as_str) == Some("--bench-model") {
        let n = |i: usize| args.get(i).and_then(|v| v.parse::<usize>().ok()).ok_or("usage: --bench-model ROWS ITERS");
        let ns = bench_model(&bundle, n(2)?, n(3)?)?;
        return writeln!(out, "{ns}").map_err(|e| e.to_string());
    }
    if args.iter().any(|a| a == "--check") {
        writeln!(out, "{}", serde_json::to_string(&report).unwrap_or_default()).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| format!("stdin: {e}"))?;
    let lines = scorelet::api::lines::score_lines(&scorer, &text).map_err(|e| e.to_string())?;
    out.write_all(lines.as_bytes()).map_err(|e| e.to_string())
}

/// Nanoseconds `iters` runs of the model on `rows` golden feature rows take.
fn bench_model(bundle: &scorelet::Bundle, rows: usize, iters: usize) -> Result<u128, String> {
    let m = &bundle.manifest.model;
    let onnx = bundle.file(&m.file).ok_or("the bundle has no model file")?;
    let model = scorelet::model::Model::load(onnx, m.n_features, &m.output).map_err(|e| e.to_string())?;
    let golden = scorelet::golden::Golden::from_bundle(bundle).map_err(|e| e.to_string())?.ok_or("no golden rows")?;
    let x = golden.repeated_features(rows.max(1));
    let mut out = model.run(&x, rows.max(1)).map_err(|e| e.to_string())?;
    let t = std::time::Instant::now();
    for _ in 0..iters {
        model.run_into(std::hint::black_box(&x), rows.max(1), &mut out).map_err(|e| e.to_string())?;
    }
    Ok(t.elapsed().as_nanos())
}
