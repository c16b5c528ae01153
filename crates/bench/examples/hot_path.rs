//! The hot path alone, for a profiler: `/invocations` with ROWS rows through the native
//! `Service`, in a loop for SECONDS.
//!
//! `perf record -g cargo run --release -p scorelet-bench --example hot_path -- BUNDLE [ROWS] [SECONDS]`

use std::time::{Duration, Instant};

use scorelet::service::{self, Service};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: hot_path BUNDLE [ROWS] [SECONDS]");
        std::process::exit(2);
    };
    let rows: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(1);
    let seconds: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let bundle = scorelet::Bundle::load_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
    let mut s = Service::new(None);
    s.start_loading();
    s.finish_loading(service::load(&bundle), 0);
    let body = scorelet_bench::invocations_body(rows);
    let (start, mut n) = (Instant::now(), 0u64);
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        let req = scorelet_bench::invocations_request(body.as_bytes());
        assert_eq!(s.handle(&req, 0).status, 200);
        n += 1;
    }
    eprintln!("{:.2} µs per call", start.elapsed().as_secs_f64() * 1e6 / n as f64);
}
