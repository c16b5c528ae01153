//! Metrics across every instance of a component. Each instance keeps only its own numbers, and
//! an instance serves a share of the requests (WASI 0.2: one), so the host asks every answer for
//! the request's observation ([`scorelet_metrics::OBSERVE_HEADER`]), takes it out of the
//! answer, and counts it in one [`Metrics`]; `GET /metrics` and `GET /v2/models/{name}/stats`
//! are answered from that once the component has authorized them (its 200 answer's body is
//! replaced). Requests the host answers itself (busy, failed, over the body limit) are counted
//! too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
pub use scorelet_metrics::Observation;
pub use scorelet_metrics::requests::LogMode;
use scorelet_metrics::{Metrics, OBSERVATION_HEADER, OBSERVE_HEADER, REFERENCE_HEADER, Reference, text};

/// One host's metrics, fed by its components' answers.
#[derive(Debug, Default)]
pub struct Observer {
    metrics: Metrics,
    /// Where each observed request's log line goes, when request logs are on.
    requests: Option<crate::requestlog::RequestLog>,
    /// When [`Observer::emf`] last wrote the drift line (ms since the epoch).
    last_drift_ms: AtomicU64,
}

/// Milliseconds since the epoch on the wall clock (what metric and log lines are stamped with).
pub fn epoch_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// How often [`Observer::emf`] adds the drift line.
pub const DRIFT_LOG_EVERY_MS: u64 = 60_000;

impl Observer {
    pub fn new() -> Observer {
        Observer::default()
    }

    /// An observer that also writes a request-log line for every request to `log`.
    pub fn with_request_log(log: crate::requestlog::RequestLog) -> Observer {
        Observer { requests: Some(log), ..Observer::default() }
    }

    /// Whether this observer writes request-log lines.
    pub fn logs_requests(&self) -> bool {
        self.requests.is_some()
    }

    /// The request id to log a request under (`None` without a request log).
    pub fn request_id(&self, headers: &http::HeaderMap) -> Option<String> {
        self.requests.as_ref().map(|l| l.request_id(headers))
    }

    /// Writes the request-log line of `o`, a request observed as `request_id` and answered at
    /// `now_ms` ([`epoch_ms`]).
    pub fn log_request(&self, o: &Observation, request_id: &str, now_ms: u64) {
        if let Some(log) = &self.requests {
            let mut o = std::borrow::Cow::Borrowed(o);
            if o.model.is_none() {
                o.to_mut().model = self.metrics.model();
            }
            log.write(scorelet_metrics::requests::request_line(&o, request_id, now_ms));
        }
    }

    /// The aggregate.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Readies a client's request for the component: drops an observe header the client sent
    /// and asks for the observation, with the model's reference while the host lacks it.
    pub fn prepare(&self, headers: &mut http::HeaderMap) {
        let model = self.metrics.model();
        let want = if model.is_some() && self.metrics.reference_model() == model { "1" } else { "reference" };
        headers.insert(OBSERVE_HEADER, http::HeaderValue::from_static(want));
    }

    /// Takes the observation (and reference) out of the component's answer to a request that
    /// took `elapsed` on the host, counts it, and answers the metrics routes from
    /// the aggregate. Returns the observation.
    pub fn finish(&self, resp: &mut http::Response<Bytes>, elapsed: Duration) -> Option<Observation> {
        let headers = resp.headers_mut();
        let observation = headers.remove(OBSERVATION_HEADER);
        let reference = headers.remove(REFERENCE_HEADER);
        if let Some(r) = reference.as_ref().and_then(|v| v.to_str().ok()) {
            match Reference::from_json(r) {
                Ok(r) if self.metrics.reference_model().as_deref() != Some(&r.model) => {
                    self.metrics.set_model(r.model.clone(), Some(r));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("{e}"),
            }
        }
        let mut o: Observation = match observation.as_ref().map(|v| serde_json::from_slice(v.as_bytes())) {
            Some(Ok(o)) => o,
            Some(Err(e)) => {
                tracing::warn!("the component sent an unreadable observation: {e}");
                return None;
            }
            // A component without metrics (turned off, or an older build).
            None => return None,
        };
        o.ns[3] = elapsed.as_nanos() as u64;
        self.metrics.record(&o);
        if resp.status() == 200 {
            let body = match o.route.as_ref() {
                "metrics" => Some(text::prometheus(&self.metrics)),
                "stats" => Some(self.metrics.stats().to_string()),
                _ => None,
            };
            if let Some(b) = body {
                resp.headers_mut().remove(http::header::CONTENT_LENGTH);
                *resp.body_mut() = Bytes::from(b);
            }
        }
        Some(o)
    }

    /// Counts a request the host answered itself with `status` and error `code`.
    pub fn host_answered(&self, path: &str, status: u16, code: &'static str, elapsed: Duration) -> Observation {
        let mut o = Observation::new(scorelet_metrics::route_of(path));
        o.status = status;
        o.error = Some(code.into());
        o.ns[3] = elapsed.as_nanos() as u64;
        self.metrics.record(&o);
        o
    }

    /// CloudWatch Embedded Metric Format lines for an observed request at `now_ms` (ms since
    /// the epoch): the request's, and, at most every [`DRIFT_LOG_EVERY_MS`], the live PSI of
    /// every column (a function has no scrape endpoint; CloudWatch reads these from its log).
    pub fn emf(&self, o: &Observation, now_ms: u64) -> Vec<String> {
        let model = o.model.clone().or_else(|| self.metrics.model()).unwrap_or_default();
        let mut lines = vec![text::emf_request(o, &model, now_ms)];
        let last = self.last_drift_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= DRIFT_LOG_EVERY_MS
            && self.last_drift_ms.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok()
            && let Some(d) = text::emf_drift(&self.metrics, now_ms)
        {
            lines.push(d);
        }
        lines
    }
}
