//! A bounded loopback load generator for the registry:
//! `load URL REQUESTS CONNECTIONS` → requests/s, p50 and p99 latency of GETs of URL, with one
//! keep-alive connection per thread. It sends exactly REQUESTS requests and stops.

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 3 {
        eprintln!("usage: load URL REQUESTS CONNECTIONS");
        std::process::exit(2);
    }
    let url = args[0].clone();
    let total: usize = args[1].parse().expect("REQUESTS");
    let conns: usize = args[2].parse().expect("CONNECTIONS");
    let per = total / conns;
    let start = Instant::now();
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent =
                    ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
                let mut lat = Vec::with_capacity(per);
                let mut bytes = 0usize;
                for _ in 0..per {
                    let t = Instant::now();
                    let mut r = agent.get(&url).call().expect("GET");
                    bytes += r.body_mut().read_to_vec().expect("body").len();
                    lat.push(t.elapsed());
                }
                (lat, bytes)
            })
        })
        .collect();
    let mut lat = Vec::with_capacity(total);
    let mut bytes = 0;
    for t in threads {
        let (l, b) = t.join().expect("thread");
        lat.extend(l);
        bytes += b;
    }
    let wall = start.elapsed();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "{{\"url\": {url:?}, \"requests\": {}, \"connections\": {conns}, \"seconds\": {:.3}, \"rps\": {:.0}, \"p50_us\": {}, \"p99_us\": {}, \"bytes_per_response\": {}}}",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        pct(0.50).as_micros(),
        pct(0.99).as_micros(),
        bytes / lat.len().max(1)
    );
}
