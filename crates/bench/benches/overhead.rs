//! The price of metrics: the whole `/invocations` path with metrics on against the same with
//! metrics off, 1 and 100 rows per call:
//! - `native`: the core's `Service`, on (the default: counters, latency, one row in
//!   [`service::DEFAULT_DRIFT_SAMPLE`] binned for drift) and off;
//! - `wasmtime`: the lean component as `scorelet serve` runs it, on (the component sends each
//!   request's observation in a header and the host's [`Observer`] counts it) and off (the
//!   `metrics` variable `off`, no observer).
//!
//! A few per cent is below what criterion can tell apart on a busy two-core machine from two
//! separate runs, so the two sides run interleaved: blocks of calls alternate on/off (the order
//! flipping every round), and the median of the per-round ratios is reported. Writes
//! `$CARGO_TARGET_DIR/overhead.json` (`{label: {"native/1": {on_us, off_us, ratio}, …}}`).
//!
//! `OVERHEAD_SPLIT=1` adds where the price goes: `native-nodrift` (counters and latency, no
//! row binned), `component-only` (the component's own counting, no observation sent) and
//! `observer` (sending, reading and aggregating the observation); `OVERHEAD_NATIVE_ONLY=1`
//! skips wasmtime.
//!
//! `SCORELET_BENCH_BUNDLES=label=DIR,… cargo bench --workspace --bench overhead [-- --quick]`

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use scorelet::service::{self, Service};
use scorelet_bench::{bundles, invocations_body};
use scorelet_host::{HttpComponent, Observer, Settings};
use serde_json::{Value as Json, json};

fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| scorelet_bench::repo().join("target"))
}

/// Times `calls` calls of `f`.
fn block(calls: u32, f: &mut dyn FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..calls {
        f();
    }
    t.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Interleaved rounds of `on` and `off` lasting about `budget` in all: (µs per call on, off,
/// median ratio on / off).
fn compare(budget: Duration, on: &mut dyn FnMut(), off: &mut dyn FnMut()) -> (f64, f64, f64) {
    // Warm up, and size a block at about 1/40 of the budget per side.
    let once = (block(20, on) + block(20, off)) / 40;
    let calls = ((budget.as_secs_f64() / 80.0 / once.as_secs_f64().max(1e-9)) as u32).clamp(5, 100_000);
    let (mut t_on, mut t_off, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..40 {
        let (a, b) = if round % 2 == 0 {
            let a = block(calls, on);
            (a, block(calls, off))
        } else {
            let b = block(calls, off);
            (block(calls, on), b)
        };
        let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(calls);
        t_on.push(per(a));
        t_off.push(per(b));
        ratios.push(a.as_secs_f64() / b.as_secs_f64());
    }
    (median(t_on), median(t_off), median(ratios))
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 200 } else { 4000 });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let wasm_path = target().join("wasm32-wasip2/release/scorelet_spin_lean.wasm");
    let wasm =
        std::fs::read(&wasm_path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-wasm.sh", wasm_path.display()));
    let cache = target().join("component-cache");
    let mut report = serde_json::Map::new();
    for (label, dir) in bundles() {
        let bundle = scorelet::Bundle::load_dir(&dir).unwrap();
        let service = |on: bool| {
            let mut s = Service::new(None);
            s.set_metrics(on, service::DEFAULT_DRIFT_SAMPLE);
            s.start_loading();
            s.finish_loading(service::load(&bundle), 0);
            s
        };
        let (native_on, native_off) = (service(true), service(false));
        let mut settings = Settings { inherit_stderr: false, max_instances: 1, ..Settings::default() };
        settings.dirs.push((dir.clone(), "/bundle".into()));
        settings.variables.insert("bundle_dir".into(), "/bundle".into());
        let mut quiet = settings.clone();
        quiet.variables.insert("metrics".into(), "off".into());
        let guest_on = HttpComponent::load(&wasm, Some(&cache), settings).unwrap();
        let guest_off = HttpComponent::load(&wasm, Some(&cache), quiet).unwrap();
        let observer = Observer::new();

        let mut rows_report = serde_json::Map::new();
        for rows in [1usize, 100] {
            let body = invocations_body(rows);
            let native = |s: &Service| {
                let r = s.handle(black_box(&scorelet_bench::invocations_request(body.as_bytes())), 0);
                assert_eq!(r.status, 200);
            };
            if std::env::var_os("OVERHEAD_SPLIT").is_some() {
                let mut nodrift = Service::new(None);
                nodrift.set_metrics(true, u64::MAX);
                nodrift.start_loading();
                nodrift.finish_loading(service::load(&bundle), 0);
                let (on, off, ratio) = compare(budget, &mut || native(&nodrift), &mut || native(&native_off));
                println!("{label} native-nodrift/{rows}: on {on:.2} µs, off {off:.2} µs, on/off {ratio:.3}");
            }
            let (on, off, ratio) = compare(budget, &mut || native(&native_on), &mut || native(&native_off));
            rows_report.insert(format!("native/{rows}"), json!({"on_us": on, "off_us": off, "ratio": ratio}));
            println!("{label} native/{rows}: on {on:.2} µs, off {off:.2} µs, on/off {ratio:.3}");

            if std::env::var_os("OVERHEAD_NATIVE_ONLY").is_some() {
                continue;
            }
            let body = Bytes::from(body);
            let post = || {
                http::Request::post("http://localhost/invocations")
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .unwrap()
            };
            let mut observed = || {
                let t = Instant::now();
                let mut req = post();
                observer.prepare(req.headers_mut());
                let mut r = rt.block_on(guest_on.handle(req)).unwrap();
                assert!(observer.finish(&mut r, t.elapsed()).is_some());
                assert_eq!(r.status(), 200);
            };
            let mut plain = || {
                let r = rt.block_on(guest_off.handle(post())).unwrap();
                assert_eq!(r.status(), 200);
            };
            if std::env::var_os("OVERHEAD_SPLIT").is_some() {
                let mut inner = || {
                    let r = rt.block_on(guest_on.handle(post())).unwrap();
                    assert_eq!(r.status(), 200);
                };
                let (on, off, ratio) = compare(budget, &mut inner, &mut plain);
                println!("{label} component-only/{rows}: on {on:.2} µs, off {off:.2} µs, on/off {ratio:.3}");
                let mut inner = || {
                    let r = rt.block_on(guest_on.handle(post())).unwrap();
                    assert_eq!(r.status(), 200);
                };
                let (on, off, ratio) = compare(budget, &mut observed, &mut inner);
                println!("{label} observer/{rows}: on {on:.2} µs, off {off:.2} µs, on/off {ratio:.3}");
            }
            let (on, off, ratio) = compare(budget, &mut observed, &mut plain);
            rows_report.insert(format!("wasmtime/{rows}"), json!({"on_us": on, "off_us": off, "ratio": ratio}));
            println!("{label} wasmtime/{rows}: on {on:.2} µs, off {off:.2} µs, on/off {ratio:.3}");
        }
        report.insert(label, Json::Object(rows_report));
    }
    let out = target().join("overhead.json");
    std::fs::write(&out, Json::Object(report).to_string()).unwrap();
    println!("wrote {}", out.display());
}
