//! Live metrics of a scoring function: requests by route and status, errors by code, rows
//! scored, latency per stage, and, when the bundle carries a training profile, the live
//! histogram of every input column and of the scores in the profile's bins with its PSI
//! against training.
//!
//! The core's `Service` measures each request into an [`Observation`] and records it in
//! its [`Metrics`]. A host that runs many instances (`scorelet serve`, the Lambda bootstrap)
//! asks each answer for its observation ([`OBSERVE_HEADER`]) and records them all in one
//! `Metrics` of its own, so what it exposes covers every instance; the bins' training counts
//! reach it once as a [`Reference`]. [`text`] writes the Prometheus exposition and CloudWatch's
//! Embedded Metric Format.

pub mod requests;
pub mod stats;
pub mod text;
pub mod time;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

/// The name the scores go by among a [`Reference`]'s columns.
pub const SCORE: &str = "score";

/// The name metrics give the route of `path`.
pub fn route_of(path: &str) -> &'static str {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    route_name(&segments)
}

/// The route's name in metrics.
pub fn route_name(segments: &[&str]) -> &'static str {
    match segments {
        ["invocations"] => "invocations",
        ["v2", "models", _, "infer"] => "infer",
        ["v2", "models", _] => "metadata",
        ["v2", "models", _, "ready"] => "model_ready",
        ["v2", "models", _, "stats"] => "stats",
        ["v2", "health", "live"] => "live",
        ["v2", "health", "ready"] | ["ping"] | ["health"] => "ready",
        ["metrics"] => "metrics",
        ["v2"] => "server",
        _ => "other",
    }
}

/// Upper bounds of the latency buckets, in seconds (Prometheus' `le`).
pub const LATENCY_BUCKETS: [f64; 18] =
    [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The measured stages of a scoring request, in [`Observation::ns`] order: reading the body,
/// the feature pipeline, the model (with its link), and the whole request.
pub const STAGES: [&str; 4] = ["parse", "features", "model", "total"];

/// What a scoring request's [`Observation::variant`] can be: `primary` (also `None`),
/// `candidate`, `mixed`, `shadow`.
pub const VARIANTS: [&str; 4] = ["primary", "candidate", "mixed", "shadow"];

/// Request header a host sends to ask the function for the request's [`Observation`]: `1`, or
/// `reference` to also get the model's [`Reference`]. Hosts remove it from client requests.
pub const OBSERVE_HEADER: &str = "scorelet-observe";
/// Response header carrying the [`Observation`] (ASCII JSON); hosts remove it from the answer.
pub const OBSERVATION_HEADER: &str = "scorelet-observation";
/// Response header carrying the [`Reference`] (ASCII JSON), when asked.
pub const REFERENCE_HEADER: &str = "scorelet-reference";

/// What a host asks of a request's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Observe {
    /// Nothing: the function records the request in its own metrics only.
    #[default]
    No,
    /// The request's [`Observation`].
    Yes,
    /// The observation and the model's [`Reference`].
    WithReference,
}

impl Observe {
    /// From the [`OBSERVE_HEADER`] value.
    pub fn from_header(v: Option<&str>) -> Observe {
        match v.map(str::trim) {
            Some("reference") => Observe::WithReference,
            Some(_) => Observe::Yes,
            None => Observe::No,
        }
    }
}

/// One request as the metrics count it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The route's name: `invocations`, `infer`, `metadata`, `metrics`, `stats`, `ready`, …
    pub route: Cow<'static, str>,
    pub status: u16,
    /// The error code of a failed request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Cow<'static, str>>,
    /// Rows scored.
    #[serde(default)]
    pub rows: u32,
    /// Nanoseconds per [`STAGES`] entry; 0 where not measured (the stages of a request that
    /// scores nothing or is not sampled, or a platform without a clock).
    #[serde(default)]
    pub ns: [u64; 4],
    /// Rows counted for drift (a sample of the rows scored).
    #[serde(default)]
    pub sampled: u32,
    /// `(column, bin)` for every cell of the sampled rows, and `(columns, bin)` for their
    /// scores, in the bins of the model's [`Reference`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bins: Vec<(u16, u16)>,
    /// `name@version` of the model that answered (in observations sent to a host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Which model answered, in a deployment with a candidate: `None` for the primary, else
    /// one of [`VARIANTS`] (`mixed`: a batch split row by row; `shadow`: both scored, the
    /// primary answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<Cow<'static, str>>,
    /// `name@version` of the candidate, when it scored rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
    /// Rows the candidate scored: answered, or in shadow scored beside the primary.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub candidate_rows: u32,
    /// For the request log ([`requests`]): `{"records": [...], "predictions": [...],
    /// "rows": n}` of a request sampled for it, the denied columns left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Json>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Observation {
    /// An observation of a request to `route`.
    pub fn new(route: &'static str) -> Observation {
        Observation { route: Cow::Borrowed(route), ..Observation::default() }
    }
}

/// One column's bins as metrics count them: names, and the training counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceColumn {
    pub name: String,
    /// The bins' names: the profile's, then `(missing)` and `(unreadable)`.
    pub bins: Vec<String>,
    /// Training counts per bin (the holdout's, for the scores).
    pub train: Vec<u64>,
}

/// What live drift is measured against: the model's input columns in the order observations
/// number them, then the scores (named [`SCORE`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// `name@version`.
    pub model: String,
    pub columns: Vec<ReferenceColumn>,
}

/// Most columns, and bins per column, a [`Reference`] from a function may have.
const MAX_REFERENCE: usize = 4096;

impl Reference {
    /// Parses a reference a function sent, checking its shape.
    pub fn from_json(text: &str) -> Result<Reference, String> {
        let r: Reference = serde_json::from_str(text).map_err(|e| format!("bad metrics reference: {e}"))?;
        if r.columns.is_empty() || r.columns.len() > MAX_REFERENCE {
            return Err(format!("bad metrics reference: {} columns", r.columns.len()));
        }
        for c in &r.columns {
            if c.bins.len() != c.train.len() || c.bins.len() < 2 || c.bins.len() > MAX_REFERENCE {
                return Err(format!("bad metrics reference: column `{}` has mismatched bins", c.name));
            }
        }
        Ok(r)
    }
}

/// Counts of one latency histogram.
#[derive(Debug, Clone, Default)]
struct Latency {
    /// Per bucket of [`LATENCY_BUCKETS`] (not cumulative), then over the last bound.
    counts: [u64; LATENCY_BUCKETS.len() + 1],
    sum_ns: u64,
}

impl Latency {
    fn add(&mut self, ns: u64) {
        let s = ns as f64 * 1e-9;
        let i = LATENCY_BUCKETS.partition_point(|b| *b < s);
        self.counts[i] += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `q` quantile in seconds, interpolated within its bucket as Prometheus'
    /// `histogram_quantile` does; `None` without observations.
    fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = q * n as f64;
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            if (seen + c) as f64 >= rank && *c > 0 {
                let lo = if i == 0 { 0.0 } else { LATENCY_BUCKETS[i - 1] };
                let Some(hi) = LATENCY_BUCKETS.get(i) else { return Some(lo) };
                return Some(lo + (hi - lo) * ((rank - seen as f64) / *c as f64).clamp(0.0, 1.0));
            }
            seen += c;
        }
        LATENCY_BUCKETS.last().copied()
    }
}

/// Live counts in a reference's bins.
#[derive(Debug, Clone)]
struct Drift {
    reference: Reference,
    /// Rows counted.
    rows: u64,
    counts: Vec<Vec<u64>>,
}

/// One route's counts.
#[derive(Debug, Default)]
struct Route {
    by_status: BTreeMap<u16, u64>,
    /// Total latency (of the requests that were timed).
    latency: Latency,
}

#[derive(Debug, Default)]
struct State {
    /// The model the numbers are about (`name@version`), when known.
    model: Option<String>,
    /// Requests by status, and their total latency, per route (one lookup per request).
    routes: BTreeMap<Cow<'static, str>, Route>,
    errors: BTreeMap<Cow<'static, str>, u64>,
    rows: u64,
    /// Parse, features and model latency of the requests that scored.
    stages: [Latency; 3],
    drift: Option<Drift>,
    /// Scoring requests per [`VARIANTS`] entry.
    variant_requests: [u64; 4],
    /// Rows answered by the primary, answered by the candidate, scored in its shadow.
    variant_rows: [u64; 3],
    /// The candidate's `name@version`, once one scored.
    candidate: Option<String>,
}

/// One column's live drift.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveDrift {
    pub column: String,
    pub psi: f64,
    pub js: f64,
}

/// Counters and histograms, safe to record into from several threads.
#[derive(Debug, Default)]
pub struct Metrics {
    state: Mutex<State>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while counting leaves counts, not broken invariants.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The model served from now on and what its drift is measured against (`None`: a bundle
    /// without a profile). A new model starts its drift counts afresh; requests keep counting.
    pub fn set_model(&self, model: String, reference: Option<Reference>) {
        let mut s = self.state();
        s.model = Some(model);
        s.drift = reference.map(|r| Drift {
            counts: r.columns.iter().map(|c| vec![0; c.bins.len()]).collect(),
            reference: r,
            rows: 0,
        });
    }

    /// The model whose reference drift is counted against, if any.
    pub fn reference_model(&self) -> Option<String> {
        self.state().drift.as_ref().map(|d| d.reference.model.clone())
    }

    /// The model the numbers are about, when known.
    pub fn model(&self) -> Option<String> {
        self.state().model.clone()
    }

    /// Counts one request. Bins outside the reference (an observation from another model) are
    /// left out.
    pub fn record(&self, o: &Observation) {
        let mut s = self.state();
        if let (Some(m), false) = (&o.model, o.model == s.model) {
            // A host learns the model from its observations; drift waits for the new reference.
            s.model = Some(m.clone());
            if s.drift.as_ref().is_some_and(|d| &d.reference.model != m) {
                s.drift = None;
            }
        }
        let route = match s.routes.get_mut(o.route.as_ref()) {
            Some(r) => r,
            None => s.routes.entry(o.route.clone()).or_default(),
        };
        *route.by_status.entry(o.status).or_default() += 1;
        if o.ns[3] > 0 {
            route.latency.add(o.ns[3]);
        }
        if let Some(code) = &o.error {
            *s.errors.entry(code.clone()).or_default() += 1;
        }
        s.rows += u64::from(o.rows);
        if o.rows > 0 {
            let v = o.variant.as_deref().and_then(|v| VARIANTS.iter().position(|n| *n == v)).unwrap_or(0);
            s.variant_requests[v] += 1;
            let theirs = o.candidate_rows.min(o.rows);
            let shadow = v == 3;
            s.variant_rows[0] += u64::from(if shadow { o.rows } else { o.rows - theirs });
            s.variant_rows[if shadow { 2 } else { 1 }] += u64::from(theirs);
            if let (Some(c), false) = (&o.candidate, o.candidate == s.candidate) {
                s.candidate = Some(c.clone());
            }
        }
        // Stages are measured on the sampled requests only (see `Service`).
        if o.ns[..3].iter().any(|&n| n > 0) {
            for (l, ns) in s.stages.iter_mut().zip(o.ns) {
                l.add(ns);
            }
        }
        if let Some(d) = &mut s.drift {
            d.rows += u64::from(o.sampled);
            for &(c, b) in &o.bins {
                if let Some(n) = d.counts.get_mut(usize::from(c)).and_then(|c| c.get_mut(usize::from(b))) {
                    *n += 1;
                }
            }
        }
    }

    /// PSI and Jensen–Shannon per column, then the scores', against the reference; empty
    /// without one.
    pub fn drift(&self) -> Vec<LiveDrift> {
        let s = self.state();
        let Some(d) = &s.drift else { return Vec::new() };
        d.reference
            .columns
            .iter()
            .zip(&d.counts)
            .map(|(c, live)| LiveDrift {
                column: c.name.clone(),
                psi: if d.rows == 0 { 0.0 } else { stats::psi(&c.train, live) },
                js: if d.rows == 0 { 0.0 } else { stats::jensen_shannon(&c.train, live) },
            })
            .collect()
    }

    /// The JSON view for people (`GET /v2/models/{name}/stats`): requests, errors, rows,
    /// latency quantiles in milliseconds, and drift.
    pub fn stats(&self) -> Json {
        let drift = self.drift();
        let s = self.state();
        let ms = |l: &Latency| {
            let q = |p| l.quantile(p).map(|x| (x * 1e6).round() / 1e3);
            json!({
                "count": l.count(),
                "mean_ms": if l.count() == 0 { None } else { Some(l.sum_ns as f64 / l.count() as f64 / 1e6) },
                "p50_ms": q(0.5), "p95_ms": q(0.95), "p99_ms": q(0.99),
            })
        };
        let requests: BTreeMap<&str, BTreeMap<String, u64>> = s
            .routes
            .iter()
            .map(|(r, m)| (r.as_ref(), m.by_status.iter().map(|(st, n)| (st.to_string(), *n)).collect()))
            .collect();
        let latency: BTreeMap<&str, Json> =
            s.routes.iter().filter(|(_, r)| r.latency.count() > 0).map(|(r, m)| (r.as_ref(), ms(&m.latency))).collect();
        let stages: BTreeMap<&str, Json> = STAGES.iter().zip(&s.stages).map(|(n, l)| (*n, ms(l))).collect();
        let variant_requests: BTreeMap<&str, u64> = VARIANTS.iter().copied().zip(s.variant_requests).collect();
        json!({
            "model": s.model,
            "candidate": s.candidate,
            "variants": {
                "requests": variant_requests,
                "rows": {"primary": s.variant_rows[0], "candidate": s.variant_rows[1], "shadow": s.variant_rows[2]},
            },
            "requests": requests,
            "errors": s.errors,
            "rows": s.rows,
            "latency": latency,
            "stages": stages,
            "drift": s.drift.as_ref().map(|d| json!({
                "against": d.reference.model,
                "rows": d.rows,
                "columns": drift,
            })),
        })
    }
}

/// JSON with every character outside ASCII escaped (`\uXXXX`), so it can travel in an HTTP
/// header.
pub fn ascii_json<T: Serialize>(v: &T) -> String {
    let text = serde_json::to_string(v).unwrap_or_default();
    if text.is_ascii() {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for ch in text.chars() {
        if ch.is_ascii() {
            out.push(ch);
        } else {
            let mut units = [0u16; 2];
            for u in ch.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> Reference {
        Reference {
            model: "churn@1".into(),
            columns: vec![ReferenceColumn {
                name: "x".into(),
                bins: vec!["<1".into(), ">=1".into(), "(missing)".into(), "(unreadable)".into()],
                train: vec![50, 50, 0, 0],
            }],
        }
    }

    #[test]
    fn observations_add_up_and_drift_follows_the_bins() {
        let m = Metrics::new();
        m.set_model("churn@1".into(), Some(reference()));
        for i in 0..100u64 {
            let mut o = Observation::new("invocations");
            o.status = 200;
            o.rows = 1;
            o.ns = [1_000, 2_000, 3_000, 20_000 + i * 1_000];
            o.sampled = 1;
            // Everything in the first bin: a shift.
            o.bins = vec![(0, 0)];
            m.record(&o);
        }
        let mut bad = Observation::new("invocations");
        bad.status = 400;
        bad.error = Some("bad_value".into());
        bad.ns[3] = 5_000;
        m.record(&bad);
        let s = m.stats();
        assert_eq!(s["requests"]["invocations"]["200"], 100);
        assert_eq!(s["requests"]["invocations"]["400"], 1);
        assert_eq!(s["errors"]["bad_value"], 1);
        assert_eq!(s["rows"], 100);
        let p99 = s["latency"]["invocations"]["p99_ms"].as_f64().unwrap();
        assert!((0.1..=0.25).contains(&p99), "p99 {p99} ms: the slowest requests took 0.119 ms");
        let d = m.drift();
        assert_eq!(d.len(), 1);
        assert!(d[0].psi > 2.0, "{d:?}");
        // A bin outside the reference is ignored, not a panic.
        let mut o = Observation::new("invocations");
        o.bins = vec![(9, 9), (0, 99)];
        m.record(&o);
    }

    #[test]
    fn a_new_model_waits_for_its_reference() {
        let m = Metrics::new();
        m.set_model("churn@1".into(), Some(reference()));
        let mut o = Observation::new("invocations");
        o.model = Some("churn@2".into());
        m.record(&o);
        assert_eq!(m.model().as_deref(), Some("churn@2"));
        assert_eq!(m.reference_model(), None, "the old reference is not applied to the new model");
    }

    #[test]
    fn references_and_observations_travel_as_ascii() {
        let mut r = reference();
        r.columns[0].name = "Größe 🙂".into();
        let text = ascii_json(&r);
        assert!(text.is_ascii());
        assert_eq!(Reference::from_json(&text).unwrap(), r);
        r.columns[0].train.pop();
        assert!(Reference::from_json(&ascii_json(&r)).unwrap_err().contains("mismatched"));
        assert!(Reference::from_json("{").is_err());
        let mut o = Observation::new("infer");
        o.bins = vec![(1, 2)];
        let back: Observation = serde_json::from_str(&ascii_json(&o)).unwrap();
        assert_eq!(back, o);
    }
}
