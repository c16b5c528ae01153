//! The metrics as text: the Prometheus exposition format (what `GET /metrics` answers; also
//! valid OpenMetrics text apart from the `# EOF` line, which Prometheus does not need), and
//! CloudWatch's Embedded Metric Format (the log lines the Lambda bootstrap prints).
//!
//! Written by hand rather than through `prometheus-client`: the exposition is a few lines of
//! text, and the core also runs in browsers and workers, where every dependency is download
//! size.

use std::fmt::Write as _;

use super::{LATENCY_BUCKETS, Latency, Metrics, Observation, STAGES};

/// The content type of [`prometheus`].
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, labels: &str, l: &Latency) {
    let mut cumulative = 0;
    for (b, c) in LATENCY_BUCKETS.iter().zip(&l.counts) {
        cumulative += c;
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{b}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", l.count());
    let _ = writeln!(out, "{name}_sum{{{}}} {}", labels.trim_end_matches(','), l.sum_ns as f64 * 1e-9);
    let _ = writeln!(out, "{name}_count{{{}}} {}", labels.trim_end_matches(','), l.count());
}

/// The Prometheus text exposition of `m`.
pub fn prometheus(m: &Metrics) -> String {
    let drift = m.drift();
    let s = m.state();
    let mut out = String::with_capacity(4096);
    if let Some(model) = &s.model {
        let (name, version) = model.split_once('@').unwrap_or((model, ""));
        header(&mut out, "scorelet_model_info", "gauge", "The model being served.");
        let _ = writeln!(out, "scorelet_model_info{{model=\"{}\",version=\"{}\"}} 1", label(name), label(version));
    }
    header(&mut out, "scorelet_requests_total", "counter", "Requests answered, by route and HTTP status.");
    for (route, r) in &s.routes {
        for (status, n) in &r.by_status {
            let _ = writeln!(out, "scorelet_requests_total{{route=\"{}\",status=\"{status}\"}} {n}", label(route));
        }
    }
    header(&mut out, "scorelet_errors_total", "counter", "Failed requests, by error code.");
    for (code, n) in &s.errors {
        let _ = writeln!(out, "scorelet_errors_total{{code=\"{}\"}} {n}", label(code));
    }
    header(&mut out, "scorelet_rows_total", "counter", "Rows scored.");
    let _ = writeln!(out, "scorelet_rows_total {}", s.rows);
    header(
        &mut out,
        "scorelet_variant_requests_total",
        "counter",
        "Scoring requests by who answered: primary, candidate, mixed (a batch split row by row), shadow.",
    );
    for (v, n) in super::VARIANTS.iter().zip(s.variant_requests) {
        let _ = writeln!(out, "scorelet_variant_requests_total{{variant=\"{v}\"}} {n}");
    }
    header(
        &mut out,
        "scorelet_variant_rows_total",
        "counter",
        "Rows by variant and model: answered by the primary or the candidate, or scored in the candidate's shadow.",
    );
    let primary = s.model.as_deref().unwrap_or("");
    let _ = writeln!(
        out,
        "scorelet_variant_rows_total{{variant=\"primary\",model=\"{}\"}} {}",
        label(primary),
        s.variant_rows[0]
    );
    if let Some(c) = &s.candidate {
        for (v, n) in [("candidate", s.variant_rows[1]), ("shadow", s.variant_rows[2])] {
            let _ = writeln!(out, "scorelet_variant_rows_total{{variant=\"{v}\",model=\"{}\"}} {n}", label(c));
        }
    }
    header(&mut out, "scorelet_request_duration_seconds", "histogram", "Time to answer a request, by route.");
    for (route, r) in s.routes.iter().filter(|(_, r)| r.latency.count() > 0) {
        histogram(&mut out, "scorelet_request_duration_seconds", &format!("route=\"{}\",", label(route)), &r.latency);
    }
    header(
        &mut out,
        "scorelet_stage_duration_seconds",
        "histogram",
        "Time in each stage of the requests that scored: parse, features, model.",
    );
    for (stage, l) in STAGES.iter().zip(&s.stages) {
        histogram(&mut out, "scorelet_stage_duration_seconds", &format!("stage=\"{stage}\","), l);
    }
    if let Some(d) = &s.drift {
        header(
            &mut out,
            "scorelet_drift_rows_total",
            "counter",
            "Rows counted for drift (a sample of the rows scored).",
        );
        let _ = writeln!(out, "scorelet_drift_rows_total {}", d.rows);
        header(
            &mut out,
            "scorelet_column_bin_rows_total",
            "counter",
            "Sampled rows per bin of the training profile, per input column (and `score`).",
        );
        for (c, live) in d.reference.columns.iter().zip(&d.counts) {
            for (bin, n) in c.bins.iter().zip(live) {
                let _ = writeln!(
                    out,
                    "scorelet_column_bin_rows_total{{column=\"{}\",bin=\"{}\"}} {n}",
                    label(&c.name),
                    label(bin)
                );
            }
        }
        header(
            &mut out,
            "scorelet_column_psi",
            "gauge",
            "PSI of the live rows against training, per input column (and `score`, against the holdout).",
        );
        for c in &drift {
            let _ = writeln!(out, "scorelet_column_psi{{column=\"{}\"}} {}", label(&c.column), c.psi);
        }
    }
    out
}

/// One CloudWatch Embedded Metric Format line for a request (namespace `scorelet`, dimensions
/// model and route): latency in microseconds, rows, and whether it failed.
pub fn emf_request(o: &Observation, model: &str, timestamp_ms: u64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "scorelet",
                "Dimensions": [["Model", "Route"], ["Model", "Route", "Variant"]],
                "Metrics": [
                    {"Name": "Latency", "Unit": "Microseconds"},
                    {"Name": "Rows", "Unit": "Count"},
                    {"Name": "Errors", "Unit": "Count"},
                ],
            }],
        },
        "Model": model,
        "Route": o.route,
        "Variant": o.variant.as_deref().unwrap_or("primary"),
        "Candidate": o.candidate,
        "Status": o.status,
        "Code": o.error,
        "Latency": o.ns[3] as f64 / 1e3,
        "Rows": o.rows,
        "Errors": u32::from(o.status >= 400),
    })
    .to_string()
}

/// One Embedded Metric Format line with the live PSI of every column and of the scores, each a
/// metric named `PSI.<column>` with the model as dimension; `None` without a reference.
pub fn emf_drift(m: &Metrics, timestamp_ms: u64) -> Option<String> {
    let drift = m.drift();
    if drift.is_empty() {
        return None;
    }
    let model = m.model().unwrap_or_default();
    let mut doc = serde_json::Map::new();
    let metrics: Vec<_> =
        drift.iter().map(|d| serde_json::json!({"Name": format!("PSI.{}", d.column), "Unit": "None"})).collect();
    doc.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": "scorelet", "Dimensions": [["Model"]], "Metrics": metrics}],
        }),
    );
    doc.insert("Model".into(), model.into());
    for d in &drift {
        doc.insert(format!("PSI.{}", d.column), serde_json::json!(d.psi));
    }
    Some(serde_json::Value::Object(doc).to_string())
}

/// A JSON log line for a request (the worker's): `{"scorelet": "request", "ts", "model",
/// "route", "status", "code", "rows", "latency_ms"}`.
pub fn log_request(o: &Observation, timestamp_ms: u64) -> String {
    serde_json::json!({
        "scorelet": "request",
        "ts": timestamp_ms,
        "model": o.model,
        "variant": o.variant.as_deref().unwrap_or("primary"),
        "candidate": o.candidate,
        "route": o.route,
        "status": o.status,
        "code": o.error,
        "rows": o.rows,
        "latency_ms": o.ns[3] as f64 / 1e6,
    })
    .to_string()
}

/// A JSON log line with the live drift (`{"scorelet": "drift", "ts", "model", "rows",
/// "columns": [{"column", "psi", "js"}]}`); `None` without a reference.
pub fn log_drift(m: &Metrics, timestamp_ms: u64) -> Option<String> {
    let columns = m.drift();
    if columns.is_empty() {
        return None;
    }
    let rows = m.state().drift.as_ref().map_or(0, |d| d.rows);
    Some(
        serde_json::json!({"scorelet": "drift", "ts": timestamp_ms, "model": m.model(), "rows": rows, "columns": columns})
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    #[test]
    fn the_exposition_has_cumulative_buckets_and_escaped_labels() {
        let m = Metrics::new();
        m.set_model("churn@3".into(), None);
        for ns in [20_000, 40_000, 2_000_000_000_000] {
            let mut o = Observation::new("invocations");
            o.status = 200;
            o.rows = 2;
            o.ns = [1, 1, 1, ns];
            m.record(&o);
        }
        let mut o = Observation::new("we\"ird");
        o.status = 404;
        o.error = Some("not_found".into());
        m.record(&o);
        let t = prometheus(&m);
        assert!(t.contains("scorelet_model_info{model=\"churn\",version=\"3\"} 1"), "{t}");
        assert!(t.contains("scorelet_requests_total{route=\"invocations\",status=\"200\"} 3"));
        assert!(t.contains("scorelet_requests_total{route=\"we\\\"ird\",status=\"404\"} 1"));
        assert!(t.contains("scorelet_rows_total 6"));
        assert!(t.contains("scorelet_request_duration_seconds_bucket{route=\"invocations\",le=\"0.000025\"} 1"), "{t}");
        assert!(t.contains("scorelet_request_duration_seconds_bucket{route=\"invocations\",le=\"10\"} 2"));
        assert!(t.contains("scorelet_request_duration_seconds_bucket{route=\"invocations\",le=\"+Inf\"} 3"));
        assert!(t.contains("scorelet_request_duration_seconds_count{route=\"invocations\"} 3"));
        // Every sample line is `name{labels} value` with a number.
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn emf_lines_name_their_metrics() {
        let mut o = Observation::new("invocations");
        o.status = 200;
        o.rows = 1;
        o.ns[3] = 12_000;
        let line: serde_json::Value = serde_json::from_str(&emf_request(&o, "churn@3", 1)).unwrap();
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "scorelet");
        assert_eq!(line["Latency"], 12.0);
        assert_eq!(line["Model"], "churn@3");
        assert!(emf_drift(&Metrics::new(), 1).is_none());
    }
}
