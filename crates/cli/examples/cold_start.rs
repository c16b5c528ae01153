//! Cold start and steady-state latency of the scoring component (`scripts/bench-component.sh`).
//!
//! Usage: cold_start BUNDLE_DIR EMBEDDED_COMPONENT [ROUNDS]
//!
//! Measures, for the WASI 0.3 component under the embedded wasmtime host:
//! - **process cold start**: `scorelet serve` started → first scored response over HTTP (process
//!   start, component deserialize, instantiate, model load + golden check, one prediction), with
//!   the model embedded in the component, mounted from a directory, and fetched from a registry
//!   on loopback;
//! - **instance cold start**: in a running host, a new instance → first scored response;
//! - **steady state**: one-row `/invocations` on a warm instance, in process and over HTTP;
//! - **size** of the component, raw and gzipped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use scorelet_host::{HttpComponent, Settings};
use serde_json::json;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().parent().unwrap().to_path_buf()
    })
}

fn scorelet() -> PathBuf {
    target_dir().join("release/scorelet")
}

/// One Telco row as an `/invocations` body.
fn body() -> String {
    let mut r = csv::Reader::from_path("data/telco-churn.csv").unwrap();
    let h: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rec = r.records().next().unwrap().unwrap();
    let row: serde_json::Map<_, _> =
        h.iter().zip(rec.iter()).filter(|(h, _)| *h != "Churn").map(|(h, c)| (h.clone(), json!(c))).collect();
    json!({"dataframe_records": [row]}).to_string()
}

/// A raw HTTP/1.1 POST on a fresh connection; the status code.
fn post(addr: &str, body: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(addr)?;
    write!(
        s,
        "POST /invocations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0))
}

fn free_addr() -> String {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string()
}

/// `scorelet serve ARGS` → first 200 from `/invocations`, in ms.
fn process_cold_start(args: &[&str], body: &str) -> f64 {
    let addr = free_addr();
    let t = Instant::now();
    let mut child = Command::new(scorelet())
        .arg("serve")
        .args(["--addr", &addr])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ms = loop {
        if let Ok(200) = post(&addr, body) {
            break t.elapsed().as_secs_f64() * 1e3;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "scorelet serve {args:?} never answered");
        std::thread::sleep(Duration::from_micros(500));
    };
    let _ = child.kill();
    let _ = child.wait();
    ms
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn gzip_len(bytes: &[u8]) -> usize {
    let mut c = Command::new("gzip").args(["-9", "-c"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let data = bytes.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let mut out = Vec::new();
    c.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    w.join().unwrap().unwrap();
    c.wait().unwrap();
    out.len()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (bundle, embedded) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(10);
    let body = body();
    let component = target_dir().join("wasm32-wasip2/release/scorelet_spin.wasm");

    // A registry on loopback holding the bundle as churn@1.
    let root = tempfile::tempdir().unwrap();
    let reg_addr = free_addr();
    let mut registry = Command::new(scorelet())
        .args(["registry", "serve", "--root", root.path().to_str().unwrap(), "--addr", &reg_addr])
        .env("SCORELET_REGISTRY_TOKEN", "bench-token-0123456789")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reg_url = format!("http://{reg_addr}");
    let t = Instant::now();
    let pushed = loop {
        let out = Command::new(scorelet())
            .args(["push", "--bundle", bundle.to_str().unwrap(), "--registry", &reg_url])
            .env("SCORELET_REGISTRY_TOKEN", "bench-token-0123456789")
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap().trim().to_string();
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(50));
    };

    // Warm the compile cache first: cold start here means a new process or instance, not a
    // first-ever Cranelift compilation (reported separately).
    let wasm = std::fs::read(&component).unwrap();
    let t = Instant::now();
    let _ = HttpComponent::load(&wasm, None, Settings::default()).unwrap();
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;
    let cache = target_dir().join("component-cache");
    let bundle_s = bundle.to_str().unwrap();
    let embedded_s = embedded.to_str().unwrap();
    let cache_s = cache.to_str().unwrap();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("embedded model", vec!["--component", embedded_s, "--cache", cache_s]),
        ("bundle directory", vec!["--bundle", bundle_s, "--cache", cache_s]),
        ("fetched from registry (loopback)", vec!["--model", &pushed, "--registry", &reg_url, "--cache", cache_s]),
    ];
    let mut results = Vec::new();
    for (what, a) in &cases {
        process_cold_start(a, &body); // fills the compile cache for this component
        let ms: Vec<f64> = (0..rounds).map(|_| process_cold_start(a, &body)).collect();
        results.push(json!({"case": format!("process start → first score, {what}"), "median_ms": median(ms.clone()), "min_ms": ms.iter().cloned().fold(f64::MAX, f64::min)}));
    }

    // In-process: a new instance → first score, then steady state.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut settings = Settings { inherit_stderr: false, ..Settings::default() };
    settings.variables.insert("model".into(), pushed.clone());
    settings.variables.insert("registry_url".into(), reg_url.clone());
    let fetched = HttpComponent::load(&wasm, Some(&cache), settings).unwrap();
    let emb = HttpComponent::load(
        &std::fs::read(&embedded).unwrap(),
        Some(&cache),
        Settings { inherit_stderr: false, ..Settings::default() },
    )
    .unwrap();
    let req = || {
        http::Request::post("http://localhost/invocations")
            .header("content-type", "application/json")
            .body(Bytes::from(body.clone()))
            .unwrap()
    };
    for (what, c) in [("embedded model", &emb), ("fetched from registry (loopback)", &fetched)] {
        let ms: Vec<f64> = (0..rounds * 3)
            .map(|_| {
                c.clear_idle();
                let t = Instant::now();
                let r = rt.block_on(c.handle(req())).unwrap();
                assert_eq!(r.status(), 200);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        results.push(json!({"case": format!("new instance → first score, {what}"), "median_ms": median(ms.clone()), "min_ms": ms.iter().cloned().fold(f64::MAX, f64::min)}));
    }
    let n = 2000;
    let mut ms: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let r = rt.block_on(emb.handle(req())).unwrap();
            assert_eq!(r.status(), 200);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    results.push(json!({"case": "warm instance, 1 row, in process", "median_ms": percentile(&mut ms, 0.5), "p99_ms": percentile(&mut ms, 0.99)}));

    let addr = free_addr();
    let mut server = Command::new(scorelet())
        .args(["serve", "--addr", &addr, "--component", embedded_s, "--cache", cache_s])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while post(&addr, &body).unwrap_or(0) != 200 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut ms: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(post(&addr, &body).unwrap(), 200);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    results.push(json!({"case": "warm instance, 1 row, HTTP on loopback (new connection each)", "median_ms": percentile(&mut ms, 0.5), "p99_ms": percentile(&mut ms, 0.99)}));
    let _ = server.kill();
    let _ = server.wait();
    let _ = registry.kill();
    let _ = registry.wait();

    let gz = gzip_len(&wasm);
    println!("| measurement | median | min / p99 |\n|---|---|---|");
    for r in &results {
        let second = r
            .get("p99_ms")
            .map(|p| format!("p99 {:.2} ms", p.as_f64().unwrap()))
            .unwrap_or_else(|| format!("min {:.1} ms", r["min_ms"].as_f64().unwrap()));
        println!("| {} | {:.2} ms | {second} |", r["case"].as_str().unwrap(), r["median_ms"].as_f64().unwrap());
    }
    println!("| first-ever Cranelift compilation of the component (cached afterwards) | {compile_ms:.0} ms | |");
    println!(
        "| component size (WASI 0.3) | {:.1} MB raw | {:.1} MB gzipped |",
        wasm.len() as f64 / 1e6,
        gz as f64 / 1e6
    );
    let out = json!({"results": results, "compile_ms": compile_ms, "component_bytes": wasm.len(), "component_gzip_bytes": gz, "rounds": rounds});
    std::fs::create_dir_all("out/bench").unwrap();
    std::fs::write("out/bench/component.json", serde_json::to_string_pretty(&out).unwrap()).unwrap();
}
