//! A bounded HTTP load generator for loopback comparisons (scoring servers, the registry):
//!
//! `loadgen URL BODY_FILE REQUESTS CONNECTIONS [RATE]`
//!
//! POSTs BODY_FILE (JSON) to URL — or GETs it when BODY_FILE is `-` — exactly REQUESTS times
//! over CONNECTIONS keep-alive connections (one thread each) and prints one JSON line:
//! requests/s, p50/p99/max latency in µs, non-200s, bytes per response.
//! Without RATE it is closed-loop (saturation). With RATE (requests/s in total) every connection
//! sends on a fixed schedule and latency is measured from the scheduled send time, so a stalled
//! server is not hidden by the generator waiting for it (no coordinated omission).

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(4..=5).contains(&args.len()) {
        eprintln!("usage: loadgen URL BODY_FILE REQUESTS CONNECTIONS [RATE]");
        std::process::exit(2);
    }
    let url = args[0].clone();
    let body = (args[1] != "-").then(|| {
        std::fs::read(&args[1]).unwrap_or_else(|e| {
            eprintln!("error: cannot read {}: {e}", args[1]);
            std::process::exit(2)
        })
    });
    let parse = |s: &str, what: &str| -> f64 {
        s.parse().unwrap_or_else(|_| {
            eprintln!("error: {what} must be a number, got {s:?}");
            std::process::exit(2)
        })
    };
    let total = parse(&args[2], "REQUESTS") as usize;
    let conns = (parse(&args[3], "CONNECTIONS") as usize).max(1);
    let rate = args.get(4).map(|r| parse(r, "RATE"));
    let per = (total / conns).max(1);
    let start = Instant::now();
    let threads: Vec<_> = (0..conns)
        .map(|i| {
            let (url, body) = (url.clone(), body.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(30)))
                    .http_status_as_error(false)
                    .build()
                    .into();
                let interval = rate.map(|r| Duration::from_secs_f64(conns as f64 / r));
                // Stagger the connections across one interval.
                let t0 = Instant::now() + interval.map(|d| d * i as u32 / conns as u32).unwrap_or_default();
                let mut lat = Vec::with_capacity(per);
                let (mut errors, mut bytes) = (0usize, 0usize);
                for k in 0..per {
                    let scheduled = match interval {
                        Some(d) => {
                            let at = t0 + d * k as u32;
                            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                            at
                        }
                        None => Instant::now(),
                    };
                    let answer = match &body {
                        Some(b) => agent.post(&url).header("content-type", "application/json").send(&b[..]),
                        None => agent.get(&url).call(),
                    };
                    match answer.ok().and_then(|mut r| Some((r.status(), r.body_mut().read_to_vec().ok()?))) {
                        Some((status, b)) if status == 200 => bytes += b.len(),
                        _ => errors += 1,
                    }
                    lat.push(scheduled.elapsed());
                }
                (lat, errors, bytes)
            })
        })
        .collect();
    let mut lat = Vec::with_capacity(total);
    let (mut errors, mut bytes) = (0, 0);
    for t in threads {
        let (l, e, b) = t.join().expect("thread");
        lat.extend(l);
        errors += e;
        bytes += b;
    }
    let wall = start.elapsed();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_micros();
    println!(
        "{{\"url\": {url:?}, \"requests\": {}, \"connections\": {conns}, \"rate\": {}, \"seconds\": {:.3}, \"rps\": {:.1}, \"p50_us\": {}, \"p99_us\": {}, \"max_us\": {}, \"errors\": {errors}, \"bytes_per_response\": {}}}",
        lat.len(),
        rate.map_or("null".to_string(), |r| format!("{r:.1}")),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        lat.last().map_or(0, |d| d.as_micros()),
        bytes / (lat.len() - errors).max(1),
    );
}
