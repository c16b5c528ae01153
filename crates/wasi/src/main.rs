//! `scorelet-wasi BUNDLE_DIR [--check]`: the core as a wasm32-wasip2 command. Reads JSON lines
//! (one record each) on stdin, writes `{"features", "outputs", "prediction"}` lines on stdout.
//! The bundle's golden self-check runs first, as in every runtime; `--check` prints its report
//! instead of scoring. Runs under any WASI 0.2 host
//! (`wasmtime run --dir bundle::/bundle scorelet-wasi.wasm /bundle`).

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
    if args.iter().any(|a| a == "--check") {
        writeln!(out, "{}", serde_json::to_string(&report).unwrap_or_default()).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| format!("stdin: {e}"))?;
    let lines = scorelet::api::lines::score_lines(&scorer, &text).map_err(|e| e.to_string())?;
    out.write_all(lines.as_bytes()).map_err(|e| e.to_string())
}
