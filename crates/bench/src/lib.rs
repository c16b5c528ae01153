//! What the benchmarks share: Telco rows as request bodies, and the bundles to measure.

use std::path::{Path, PathBuf};

use scorelet::service::HttpRequest;
use serde_json::{Value as Json, json};

/// `POST /invocations` with a JSON `body`, as the native `Service` takes it.
pub fn invocations_request(body: &[u8]) -> HttpRequest<'_> {
    HttpRequest {
        method: "POST",
        path: "/invocations",
        content_type: Some("application/json"),
        authorization: None,
        api_key: None,
        body,
        observe: scorelet::metrics::Observe::No,
        split_key: None,
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The first `n` Telco rows as JSON records, every cell a string as in the CSV.
pub fn telco_records(n: usize) -> Vec<Json> {
    let mut r = csv::Reader::from_path(repo().join("data/telco-churn.csv")).expect("data/telco-churn.csv");
    let header: Vec<String> = r.headers().expect("header").iter().map(str::to_string).collect();
    r.records()
        .take(n)
        .map(|rec| {
            let rec = rec.expect("record");
            Json::Object(
                header
                    .iter()
                    .zip(rec.iter())
                    .filter(|(h, _)| *h != "Churn")
                    .map(|(h, c)| (h.clone(), json!(c)))
                    .collect(),
            )
        })
        .collect()
}

/// An MLflow `/invocations` body with the first `n` Telco rows.
pub fn invocations_body(n: usize) -> String {
    json!({ "dataframe_records": telco_records(n) }).to_string()
}

/// The bundles named in `SCORELET_BENCH_BUNDLES` (`label=dir,label=dir`; `scripts/bench.sh`
/// trains them).
pub fn bundles() -> Vec<(String, PathBuf)> {
    let spec = std::env::var("SCORELET_BENCH_BUNDLES")
        .expect("set SCORELET_BENCH_BUNDLES=label=DIR,… (scripts/bench.sh trains the bundles and sets it)");
    spec.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (label, dir) = s.split_once('=').expect("label=DIR");
            (label.to_string(), PathBuf::from(dir))
        })
        .collect()
}
