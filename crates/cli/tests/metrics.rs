//! Live metrics end to end: `scorelet serve` (the real component under wasmtime, several
//! instances) scraped by a real Prometheus on loopback, and its `/metrics` and `/stats` read
//! directly.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, repo, request, support};
use serde_json::{Value as Json, json};

/// Telco split as the drift test splits it: the first 5 000 rows to train on, the other 2 043 as
/// JSON records (cells as the CSV has them), `MonthlyCharges` scaled by `scale`.
fn split(dir: &Path, scale: f64) -> (PathBuf, Vec<Json>) {
    let text = std::fs::read_to_string(repo().join("data/telco-churn.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let records: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let train = dir.join("train.csv");
    if !train.exists() {
        let mut w = csv::Writer::from_path(&train).unwrap();
        w.write_record(&header).unwrap();
        for r in &records[..5000] {
            w.write_record(r).unwrap();
        }
        w.flush().unwrap();
    }
    let rows = records[5000..]
        .iter()
        .map(|r| {
            Json::Object(
                header
                    .iter()
                    .zip(r.iter())
                    .filter(|(h, _)| *h != "Churn")
                    .map(|(h, c)| {
                        let c = match h.as_str() {
                            "MonthlyCharges" => format!("{:.2}", c.parse::<f64>().unwrap() * scale),
                            _ => c.to_string(),
                        };
                        (h.clone(), json!(c))
                    })
                    .collect(),
            )
        })
        .collect();
    (train, rows)
}

/// Sends `rows` as 1-row `/invocations` requests from `threads` clients; returns how many.
fn load(url: &str, rows: &[Json], threads: usize) -> usize {
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for r in rows.iter().skip(t).step_by(threads) {
                    let (status, body) =
                        common::post(&format!("{url}/invocations"), &json!({"dataframe_records": [r]}));
                    assert_eq!(status, 200, "{body}");
                }
            });
        }
    });
    rows.len()
}

/// The plain-text `/metrics` of `url`: (content type, body).
fn scrape(url: &str) -> (u16, String, String) {
    let mut resp = common::agent().get(format!("{url}/metrics")).call().unwrap();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (resp.status().as_u16(), ct, resp.body_mut().read_to_string().unwrap())
}

/// The value of the sample `name{labels}` in an exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// PSI per column from an exposition.
fn psi(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("scorelet_column_psi{column=\"")?;
            let (col, value) = rest.split_once("\"} ")?;
            Some((col.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// A Prometheus on loopback scraping `target` (host:port) every second.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(bin: &Path, target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: scorelet\n    \
                 metrics_path: /metrics\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = common::free_port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .spawn()
            .unwrap();
        let p = Prometheus { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
        let t = Instant::now();
        while common::agent().get(format!("{}/-/ready", p.url)).call().map(|r| r.status().as_u16()).unwrap_or(0) != 200
        {
            assert!(t.elapsed() < Duration::from_secs(60), "Prometheus did not get ready: {}", p.log());
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("log")).unwrap_or_default()
    }

    /// The values of an instant query's vector result.
    fn query(&self, q: &str) -> Vec<(Json, f64)> {
        let mut resp = common::agent().get(format!("{}/api/v1/query", self.url)).query("query", q).call().unwrap();
        let body: Json = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(body["status"], "success", "{q}: {body}");
        body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["metric"].clone(), r["value"][1].as_str().unwrap().parse::<f64>().unwrap()))
            .collect()
    }

    /// Waits until the last scrape of scorelet reads `query` as `want` (and the target is up).
    fn wait_for(&self, query: &str, want: f64) {
        let t = Instant::now();
        loop {
            let up = self.query("up{job=\"scorelet\"}");
            let got = self.query(query).first().map(|v| v.1);
            if up.first().is_some_and(|v| v.1 == 1.0) && got == Some(want) {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "Prometheus never read {query} = {want} (last {got:?}, up {up:?})\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_serve_under_load_and_reads_rate_p99_and_psi() {
    let test = "prometheus_scrapes_serve_under_load_and_reads_rate_p99_and_psi";
    let (Some(prometheus), Some(_)) = (support::program(test, "prometheus"), support::spin_component(test, false))
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (train, shifted) = split(tmp.path(), 1.3);
    let bundle = common::train_on(tmp.path(), train.to_str().unwrap(), &[]);
    let server = Server::start(&["--bundle", bundle.to_str().unwrap(), "--instances", "4", "--drift-sample", "4"]);
    let prom = Prometheus::start(&prometheus, server.url.trim_start_matches("http://"));
    // A first scrape before any traffic, so rates start from zero.
    prom.wait_for("scorelet_rows_total", 0.0);
    // Bounded load over several scrapes: the shifted rows in four rounds, two clients each.
    let mut sent = 0;
    for chunk in shifted.chunks(shifted.len().div_ceil(4)) {
        sent += load(&server.url, chunk, 2);
        std::thread::sleep(Duration::from_millis(1100));
    }
    prom.wait_for("scorelet_rows_total", sent as f64);

    let rate = prom.query("sum(rate(scorelet_requests_total{route=\"invocations\",status=\"200\"}[1m]))");
    assert!(rate.first().is_some_and(|r| r.1 > 0.0), "request rate: {rate:?}");
    let p99 = prom.query(
        "histogram_quantile(0.99, sum by (le) (rate(scorelet_request_duration_seconds_bucket{route=\"invocations\"}[1m])))",
    );
    let p99 = p99.first().map(|r| r.1).unwrap_or(f64::NAN);
    assert!(p99 > 0.0 && p99 < 10.0, "p99 latency {p99} s");
    let charges = prom.query("scorelet_column_psi{column=\"MonthlyCharges\"}");
    assert!(charges.first().is_some_and(|r| r.1 > 0.25), "PSI of the shifted column in Prometheus: {charges:?}");
    let calm = prom.query("max(scorelet_column_psi{column!~\"MonthlyCharges|score\"})");
    assert!(calm.first().is_some_and(|r| r.1 < 0.1), "the untouched columns: {calm:?}");

    // The numbers cover every instance: each request counted once.
    let (status, content_type, text) = scrape(&server.url);
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let counted = sample(&text, "scorelet_requests_total{route=\"invocations\",status=\"200\"}").unwrap();
    assert_eq!(counted as usize, sent, "{text}");
    assert_eq!(sample(&text, "scorelet_rows_total").unwrap() as usize, sent);
    let drift_rows = sample(&text, "scorelet_drift_rows_total").unwrap();
    // Each of the 4 instances counts one row in 4 of its own, from its first.
    assert!((drift_rows - sent as f64 / 4.0).abs() <= 4.0, "one row in 4 is counted for drift: {drift_rows}");
    for (col, p) in psi(&text) {
        match col.as_str() {
            "MonthlyCharges" => assert!(p > 0.25, "{col}: {p}"),
            "score" => {}
            _ => assert!(p < 0.1, "{col} was not shifted: {p}"),
        }
    }
    // Stats for people: the same counts, latency quantiles.
    let (status, stats) = server.get("/v2/models/churn/stats");
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["requests"]["invocations"]["200"], sent);
    assert!(stats["latency"]["invocations"]["p99_ms"].as_f64().unwrap() > 0.0, "{stats}");
    assert!(
        stats["drift"]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["column"] == "MonthlyCharges" && c["psi"].as_f64().unwrap() > 0.25)
    );
    // An error is counted under its code.
    let (status, _) = server.post("/invocations", &json!({"dataframe_records": [{"nope": 1}]}));
    assert_eq!(status, 400);
    let text = scrape(&server.url).2;
    assert!(sample(&text, "scorelet_errors_total{code=\"unknown_column\"}").is_some(), "{text}");
}

#[test]
fn unshifted_traffic_stays_below_0_1_and_metrics_can_be_turned_off() {
    let test = "unshifted_traffic_stays_below_0_1_and_metrics_can_be_turned_off";
    if support::spin_component(test, false).is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (train, holdout) = split(tmp.path(), 1.0);
    let bundle = common::train_on(tmp.path(), train.to_str().unwrap(), &[]);
    let b = bundle.to_str().unwrap();
    // WASI 0.2: a fresh instance per request, so only the host's aggregate sees them all.
    let p2 = support::spin_component(test, true).unwrap();
    let server = Server::start(&["--bundle", b, "--component", p2.to_str().unwrap(), "--drift-sample", "1"]);
    let sent = load(&server.url, &holdout, 2);
    let text = scrape(&server.url).2;
    assert_eq!(sample(&text, "scorelet_drift_rows_total").unwrap() as usize, sent, "--drift-sample 1 counts every row");
    let columns = psi(&text);
    assert_eq!(columns.len(), 20, "19 input columns and the scores");
    for (col, p) in columns {
        assert!(p < 0.1, "unshifted holdout: {col} has PSI {p}");
    }
    // Clients cannot ask the component for its observations.
    let mut resp = common::agent()
        .post(format!("{}/invocations", server.url))
        .header("content-type", "application/json")
        .header("scorelet-observe", "reference")
        .send(json!({"dataframe_records": [holdout[0]]}).to_string())
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers().keys().all(|k| !k.as_str().starts_with("scorelet-")), "{:?}", resp.headers());
    let _ = resp.body_mut().read_to_string();
    drop(server);

    let server = Server::start(&["--bundle", b, "--metrics", "off"]);
    let (status, body) = request("GET", &format!("{}/metrics", server.url), &[], b"");
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "metrics_off", "{body}");
    assert_eq!(server.post("/invocations", &json!({"dataframe_records": [holdout[0]]})).0, 200);
}

/// Every request-log line `scorelet serve` wrote to `path` and its rotated files, oldest first.
fn request_log(path: &Path, keep: usize) -> (Vec<Json>, Vec<u64>) {
    let mut files: Vec<PathBuf> = (1..=keep).rev().map(|k| PathBuf::from(format!("{}.{k}", path.display()))).collect();
    files.push(path.to_path_buf());
    let (mut lines, mut sizes) = (Vec::new(), Vec::new());
    for f in files.iter().filter(|f| f.exists()) {
        let text = std::fs::read_to_string(f).unwrap();
        sizes.push(text.len() as u64);
        for l in text.lines() {
            lines.push(serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: not JSON ({e}): {l}", f.display())));
        }
    }
    (lines, sizes)
}

#[test]
fn request_log_writes_a_line_per_request_samples_payloads_drops_denied_columns_and_rotates() {
    let test = "request_log_writes_a_line_per_request_samples_payloads_drops_denied_columns_and_rotates";
    if support::spin_component(test, false).is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (train, rows) = split(tmp.path(), 1.0);
    let bundle = common::train_on(tmp.path(), train.to_str().unwrap(), &[]);
    let b = bundle.to_str().unwrap();
    let path = tmp.path().join("requests.log");
    let server = Server::start(&[
        "--bundle",
        b,
        "--request-log",
        "payload",
        "--request-log-file",
        path.to_str().unwrap(),
        "--request-log-sample",
        "2",
        "--request-log-deny",
        "customerID, gender",
        "--request-log-max-bytes",
        "8000",
        "--request-log-keep",
        "3",
    ]);
    // The client's request id is kept and echoed; the others get one of the server's.
    let mut resp = common::agent()
        .post(format!("{}/invocations", server.url))
        .header("content-type", "application/json")
        .header("x-request-id", "order-42")
        .send(json!({"dataframe_records": [rows[0]]}).to_string())
        .unwrap();
    assert_eq!(resp.headers().get("x-request-id").map(|v| v.to_str().unwrap()), Some("order-42"));
    let first: Json = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    for r in &rows[1..40] {
        assert_eq!(server.post("/invocations", &json!({"dataframe_records": [r]})).0, 200);
    }
    assert_eq!(server.post("/invocations", &json!({"dataframe_records": [{"nope": 1}]})).0, 400);

    let t = Instant::now();
    let (lines, sizes) = loop {
        let got = request_log(&path, 3);
        if got.0.len() >= 41 || t.elapsed() > Duration::from_secs(20) {
            break got;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(lines.len(), 41, "one line per request: {lines:?}");
    assert!(sizes.len() >= 3 && sizes.iter().all(|s| *s <= 8000), "rotated at 8 000 bytes: {sizes:?}");
    for l in &lines {
        assert!(l["model"].as_str().is_some_and(|m| m.starts_with("churn@")), "{l}");
        assert_eq!(l["variant"], "primary");
        assert!(l["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{l}");
        assert!(l["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{l}");
    }
    let ours = lines.iter().find(|l| l["request_id"] == "order-42").expect("the client's request id");
    assert_eq!(ours["payload"]["predictions"][0], first["predictions"][0], "{ours}");
    let ids: std::collections::HashSet<&str> = lines.iter().map(|l| l["request_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 41, "request ids are unique");
    let payloads: Vec<&Json> = lines.iter().filter_map(|l| l.get("payload")).collect();
    assert_eq!(payloads.len(), 20, "one scored request in 2 logs its rows");
    for p in &payloads {
        let record = p["records"][0].as_object().unwrap();
        assert!(!record.contains_key("customerID") && !record.contains_key("gender"), "{record:?}");
        assert!(record.contains_key("tenure") && record.contains_key("MonthlyCharges"), "{record:?}");
    }
    let bad = lines.iter().find(|l| l["status"] == 400).unwrap();
    assert_eq!(bad["code"], "unknown_column", "{bad}");
    assert!(bad.get("payload").is_none());
    drop(server);

    // Settings that cannot work are refused before serving.
    let err = common::fails(&["serve", "--bundle", b, "--request-log", "on", "--metrics", "off"]);
    assert!(err.contains("--request-log needs metrics"), "{err}");
    let err =
        common::fails(&["serve", "--bundle", b, "--request-log", "on", "--request-log-file", "/nonexistent/dir/log"]);
    assert!(err.contains("cannot open the request log /nonexistent/dir/log"), "{err}");
    let err = common::fails(&["serve", "--bundle", b, "--request-log", "loud"]);
    assert!(err.contains("loud"), "{err}");
}
