//! The scoring function's HTTP API without the HTTP: routes, status codes and JSON bodies, the
//! same on Spin, Lambda, `scorelet serve`, and workers. Adapters turn their platform's request
//! into a [`HttpRequest`], call [`Service::handle`], and write the [`HttpResponse`] back.
//!
//! | route | answer |
//! |---|---|
//! | `POST /invocations` | MLflow scoring protocol ([`crate::api::mlflow`]) |
//! | `GET /v2/health/live` | 200 while the function runs |
//! | `GET /v2/health/ready` | 200 once the model is loaded and its golden vectors check out, else 503 |
//! | `GET /v2/models/{name}` | OIP metadata: version, signature, metrics |
//! | `GET /v2/models/{name}/ready` | as `/v2/health/ready`, for that model |
//! | `POST /v2/models/{name}/infer` | Open Inference Protocol v2 ([`crate::api::oip`]) |
//! | `GET /v2` | server metadata |
//! | `GET /ping`, `GET /health` | MLflow's liveness/readiness probes (200 when ready) |
//! | `GET /metrics` | Prometheus text: requests, errors, rows, latency, live drift ([`crate::metrics`]) |
//! | `GET /v2/models/{name}/stats` | the same numbers as JSON, for people |
//!
//! Errors are `{"error": {"code", "message", "row"?, "column"?}}`: 400 for bad input (naming the
//! row and column), 401 for a missing or wrong API key, 404/405 for unknown routes and methods,
//! 413 for oversized bodies and batches, 415 for a body that is not JSON, 503 while no model is
//! loaded. Bad input never produces a 500.
//!
//! The model's life cycle — not loaded, loading, ready, or failed with a retry time — lives in
//! [`Service`] ([`Service::should_load`], [`Service::start_loading`], [`Service::finish_loading`]),
//! with exponential [`Backoff`] so a failing registry is retried, not hammered.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value as Json, json};

use crate::api::direct::CellRows;
use crate::api::{MAX_BODY_BYTES, RowReader, mlflow, oip};
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::experiment::{Experiment, Mode, SplitKey, Variant};
use crate::jwt::Verifier;
use crate::metrics::requests::{self, PayloadLog};
use crate::metrics::{Metrics, OBSERVATION_HEADER, Observation, Observe, REFERENCE_HEADER, Reference, ascii_json};
use crate::predict::{Prediction, Scorer};
use crate::profile::Bins;
use crate::profile::drift::Score;
use crate::time::Clock;
use crate::value::{Row, ValueRef};

/// A request as the service needs it; adapters fill it from their platform's type.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    /// The path, with or without a query string.
    pub path: &'a str,
    pub content_type: Option<&'a str>,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The `X-API-Key` header, if any.
    pub api_key: Option<&'a str>,
    pub body: &'a [u8],
    /// What the host asks back about this request (its [`crate::metrics::OBSERVE_HEADER`]).
    pub observe: Observe,
    /// The value of the header the deployment splits traffic on (`split_key = header:NAME`),
    /// if the request has it.
    pub split_key: Option<&'a str>,
}

/// A response (JSON unless `content_type` says otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    /// The `content-type` header.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// The error code of an error answer (what metrics count it under).
    pub error: Option<&'static str>,
}

/// The content type of every JSON answer.
pub const JSON: &str = "application/json";

impl HttpResponse {
    /// A JSON response with `status`.
    pub fn json(status: u16, body: &Json) -> HttpResponse {
        HttpResponse::bytes(status, body.to_string().into_bytes())
    }

    /// A response whose JSON body is already written.
    pub fn bytes(status: u16, body: Vec<u8>) -> HttpResponse {
        HttpResponse { status, content_type: JSON, headers: Vec::new(), body, error: None }
    }

    /// The JSON error body for `e`, with its status.
    pub fn error(e: &Error) -> HttpResponse {
        HttpResponse { error: Some(e.code()), ..HttpResponse::json(e.http_status(), &e.to_json()) }
    }

    /// An error that is not about the model's input: `{"error": {"code", "message"}}`.
    pub fn problem(status: u16, code: &'static str, message: impl Into<String>) -> HttpResponse {
        HttpResponse {
            error: Some(code),
            ..HttpResponse::json(status, &crate::error::error_body(code, &message.into()))
        }
    }

    /// 413 for a body over `limit` bytes.
    pub fn body_too_large(limit: usize) -> HttpResponse {
        HttpResponse::problem(
            413,
            "body_too_large",
            format!("the request body is over the limit of {limit} bytes; send fewer rows per request"),
        )
    }

    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> HttpResponse {
        self.headers.push((name, value.into()));
        self
    }
}

/// Exponential backoff for loading a model: 0.5 s after the first failure, doubling to 60 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    const FIRST_MS: u64 = 500;
    const MAX_MS: u64 = 60_000;

    /// Records a failure and returns how long to wait before the next attempt.
    pub fn fail(&mut self) -> u64 {
        let delay = Self::FIRST_MS.saturating_mul(1u64 << self.failures.min(16)).min(Self::MAX_MS);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// Failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// Where the model is in its life cycle.
#[derive(Debug)]
enum ModelState {
    /// Nothing tried yet.
    Unloaded,
    /// A load is under way (fetches in an async adapter can interleave with requests).
    Loading,
    /// Loaded, golden vectors checked; the row reader resolved once for its columns.
    Ready(Box<(Scorer, RowReader)>),
    /// The last attempt failed; the next may start at `retry_at_ms` (milliseconds on the
    /// adapter's clock).
    Failed { error: Error, retry_at_ms: u64 },
}

/// The scoring function: model state plus the optional API key and JWT verifier.
#[derive(Debug)]
pub struct Service {
    state: ModelState,
    backoff: Backoff,
    api_key: Option<String>,
    /// Bearer JWTs accepted beside the API key.
    jwt: Option<Verifier>,
    /// Why the API key is unknown: guarded routes are then refused, never opened.
    key_error: Option<String>,
    /// The instance's metrics; `None` when they are off.
    metrics: Option<Metrics>,
    /// What the loaded model's drift is counted in: its profile's bins and their reference.
    drift: Option<(Bins, Reference)>,
    /// `name@version` of the loaded model.
    model_label: Option<String>,
    /// One row in `sample` is counted for drift.
    sample: u64,
    /// Rows scored so far (which rows are sampled).
    seen: AtomicU64,
    clock: Clock,
    /// Whose rows and predictions go into the request log; `None`: nobody's.
    payload_log: Option<PayloadLog>,
    /// Scoring requests seen by the payload sampling.
    payload_seen: AtomicU64,
    /// The loaded model's input columns in batch order, `None` where denied.
    payload_columns: Vec<Option<String>>,
    /// The deployment's A/B test, canary or shadow, when it names a candidate.
    experiment: Option<Experiment>,
    /// The candidate's life cycle (`Unloaded` without an experiment).
    candidate: ModelState,
    candidate_backoff: Backoff,
    /// `name@version` of the loaded candidate.
    candidate_label: Option<String>,
    /// The candidate's input columns as the payload names them.
    candidate_payload_columns: Vec<Option<String>>,
    /// Reads a `column:` split key from a body (every column either model knows is ignored).
    key_reader: Option<RowReader>,
    /// Random splits drawn so far (requests and rows without a key).
    draws: AtomicU64,
}

/// The protocol of a scoring route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `POST /invocations`.
    Mlflow,
    /// `POST /v2/models/{name}/infer`.
    Oip,
}

/// A scored request: predictions and the OIP request id.
type Scored = (Vec<Prediction>, Option<String>);

/// Rows per row counted for drift, unless configured.
pub const DEFAULT_DRIFT_SAMPLE: u64 = 32;

/// A batch as the request read it, for counting its rows' cells in the drift bins.
#[derive(Clone, Copy)]
enum Batch<'r, 'b> {
    Cells(&'r CellRows<'b>),
    Rows(&'r [Row]),
    Columns(&'r [Vec<ValueRef<'b>>]),
}

/// A request the metrics sample: its first sampled row, and when its parse ended.
#[derive(Clone, Copy)]
struct Sampled {
    row: usize,
    parsed: u64,
}

impl<'b> Batch<'_, 'b> {
    /// Rows in the batch.
    fn len(&self) -> usize {
        match *self {
            Batch::Cells(c) => c.len(),
            Batch::Rows(r) => r.len(),
            Batch::Columns(c) => c.first().map_or(0, Vec::len),
        }
    }

    /// The cells of row `i` in input-column order.
    fn row(&self, i: usize, out: &mut Vec<ValueRef<'b>>)
    where
        Self: 'b,
    {
        out.clear();
        match *self {
            Batch::Cells(c) => out.extend_from_slice(c.row(i)),
            Batch::Rows(r) => out.extend(r[i].iter().map(crate::value::Value::as_ref)),
            Batch::Columns(c) => out.extend(c.iter().map(|col| col[i])),
        }
    }
}

impl Default for Service {
    fn default() -> Self {
        Service::new(None)
    }
}

/// Loads a bundle into a scorer and runs its golden self-check; the only way to become ready.
pub fn load(bundle: &Bundle) -> Result<Scorer> {
    load_with(bundle, crate::model::Engine::Auto)
}

/// [`load`] with the model on the given engine.
pub fn load_with(bundle: &Bundle, engine: crate::model::Engine) -> Result<Scorer> {
    let scorer = Scorer::from_bundle_with(bundle, engine)?;
    crate::golden::self_check(&scorer, bundle)?;
    Ok(scorer)
}

const ROUTES: &str = "POST /invocations, GET /v2/health/live, GET /v2/health/ready, GET /v2/models/{name}, \
                      POST /v2/models/{name}/infer, GET /v2/models/{name}/stats, GET /metrics";

impl Service {
    /// A service with no model yet. With `api_key`, scoring and metadata routes need
    /// `Authorization: Bearer KEY` or `X-API-Key: KEY`. An empty key counts as none.
    pub fn new(api_key: Option<String>) -> Service {
        Service {
            state: ModelState::Unloaded,
            backoff: Backoff::default(),
            api_key: api_key.filter(|k| !k.is_empty()),
            jwt: None,
            key_error: None,
            metrics: Some(Metrics::new()),
            drift: None,
            model_label: None,
            sample: DEFAULT_DRIFT_SAMPLE,
            payload_log: None,
            payload_seen: AtomicU64::new(0),
            payload_columns: Vec::new(),
            seen: AtomicU64::new(0),
            clock: crate::time::monotonic_ns,
            experiment: None,
            candidate: ModelState::Unloaded,
            candidate_backoff: Backoff::default(),
            candidate_label: None,
            candidate_payload_columns: Vec::new(),
            key_reader: None,
            draws: AtomicU64::new(0),
        }
    }

    /// Turns metrics on (counting one row in `drift_sample` for drift; 1 counts every row) or
    /// off. They are on by default. Takes effect for the next model loaded.
    pub fn set_metrics(&mut self, on: bool, drift_sample: u64) {
        self.metrics = on.then(|| self.metrics.take().unwrap_or_default());
        self.sample = drift_sample.max(1);
    }

    /// Puts the rows and predictions of the requests `log` samples into their observations
    /// (for the request log; only observations a host asks for carry them); `None` stops.
    pub fn set_payload_log(&mut self, log: Option<PayloadLog>) {
        self.payload_log = log;
        self.payload_columns_for_model();
    }

    /// The loaded models' input columns as the payload names them (none without a payload
    /// log), and the split-key reader for both.
    fn payload_columns_for_model(&mut self) {
        let columns = |state: &ModelState| match (&self.payload_log, state) {
            (Some(log), ModelState::Ready(r)) => {
                r.0.pipeline()
                    .input_columns()
                    .map(|c| (!log.deny.iter().any(|d| d == c)).then(|| c.to_string()))
                    .collect()
            }
            _ => Vec::new(),
        };
        self.payload_columns = columns(&self.state);
        self.candidate_payload_columns = columns(&self.candidate);
        self.key_reader = match &self.experiment {
            Some(Experiment { key: SplitKey::Column(key), .. }) => {
                let mut known: Vec<String> = Vec::new();
                for state in [&self.state, &self.candidate] {
                    if let ModelState::Ready(r) = state {
                        let p = r.0.pipeline();
                        known.extend(
                            p.input_columns().chain(p.ignored_columns().iter().map(String::as_str)).map(String::from),
                        );
                    }
                }
                known.retain(|c| c != key);
                Some(RowReader::new(vec![key.clone()], &known))
            }
            _ => None,
        };
    }

    /// Names a candidate for an A/B test, canary or shadow (`Err`: the deployment's settings
    /// are wrong; the candidate then never loads and the primary answers everything, while the
    /// ready route says why). `None` removes it.
    pub fn set_experiment(&mut self, experiment: Option<std::result::Result<Experiment, String>>) {
        self.candidate = ModelState::Unloaded;
        self.candidate_label = None;
        self.experiment = match experiment {
            Some(Ok(e)) => Some(e),
            Some(Err(why)) => {
                self.candidate = ModelState::Failed { error: Error::Config(why), retry_at_ms: u64::MAX };
                None
            }
            None => None,
        };
        self.payload_columns_for_model();
    }

    /// Whether an adapter should load the candidate now: named, and never tried or failed
    /// with its backoff passed.
    pub fn candidate_due(&self, now_ms: u64) -> bool {
        self.experiment.is_some()
            && match &self.candidate {
                ModelState::Unloaded => true,
                ModelState::Failed { retry_at_ms, .. } => now_ms >= *retry_at_ms,
                ModelState::Loading | ModelState::Ready(_) => false,
            }
    }

    /// Marks the candidate's load as started.
    pub fn start_loading_candidate(&mut self) {
        self.candidate = ModelState::Loading;
    }

    /// Records the candidate's load; until it succeeds the primary answers everything.
    pub fn finish_loading_candidate(&mut self, result: Result<Scorer>, now_ms: u64) {
        self.candidate = match result {
            Ok(s) => {
                self.candidate_backoff = Backoff::default();
                self.candidate_label = Some(format!("{}@{}", s.name(), s.version()));
                let reader = RowReader::for_pipeline(s.pipeline());
                ModelState::Ready(Box::new((s, reader)))
            }
            Err(error) => {
                ModelState::Failed { error, retry_at_ms: now_ms.saturating_add(self.candidate_backoff.fail()) }
            }
        };
        self.payload_columns_for_model();
    }

    /// The clock latency is measured on (platforms without `Instant` give theirs).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// The instance's metrics, when on.
    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    /// Accepts bearer JWTs that `verifier` verifies, beside the API key (either credential
    /// opens the guarded routes); `None` turns JWTs off.
    pub fn set_jwt(&mut self, verifier: Option<Verifier>) {
        self.jwt = verifier;
    }

    /// The JWT verifier, if JWTs are accepted.
    pub fn jwt(&self) -> Option<&Verifier> {
        self.jwt.as_ref()
    }

    /// Replaces the API key (a pre-initialized instance learns its key at its first request).
    pub fn set_api_key(&mut self, api_key: Option<String>) {
        self.api_key = api_key.filter(|k| !k.is_empty());
        self.key_error = None;
    }

    /// The API key could not be read: refuse scoring and metadata (500, with `reason`) rather
    /// than serve them unauthenticated. Health routes still answer.
    pub fn refuse_guarded(&mut self, reason: String) {
        self.key_error = Some(reason);
    }

    /// The loaded scorer, if ready.
    pub fn scorer(&self) -> Option<&Scorer> {
        self.ready_scorer().map(|(s, _)| s)
    }

    /// The loaded scorer and its row reader, if ready.
    fn ready_scorer(&self) -> Option<(&Scorer, &RowReader)> {
        match &self.state {
            ModelState::Ready(s) => Some((&s.0, &s.1)),
            _ => None,
        }
    }

    /// Whether an adapter should start loading now (`now_ms` on its own clock): never tried, or
    /// failed and the backoff has passed.
    pub fn should_load(&self, now_ms: u64) -> bool {
        match &self.state {
            ModelState::Unloaded => true,
            ModelState::Failed { retry_at_ms, .. } => now_ms >= *retry_at_ms,
            ModelState::Loading | ModelState::Ready(_) => false,
        }
    }

    /// Marks a load as started.
    pub fn start_loading(&mut self) {
        self.state = ModelState::Loading;
    }

    /// Records the outcome of a load that ended at `now_ms`; a failure schedules the next
    /// attempt after the backoff.
    pub fn finish_loading(&mut self, result: Result<Scorer>, now_ms: u64) {
        self.state = match result {
            Ok(s) => {
                self.backoff = Backoff::default();
                let reader = RowReader::for_pipeline(s.pipeline());
                let label = format!("{}@{}", s.name(), s.version());
                self.drift = None;
                if let Some(m) = &self.metrics {
                    // A profile that does not fit the features (never written so) only costs
                    // the drift metrics.
                    self.drift = s.profile().and_then(|p| {
                        let bins = Bins::new(p, s.pipeline().fitted()).ok()?;
                        let reference = bins.reference(label.clone(), p);
                        Some((bins, reference))
                    });
                    m.set_model(label.clone(), self.drift.as_ref().map(|d| d.1.clone()));
                }
                self.model_label = Some(label);
                ModelState::Ready(Box::new((s, reader)))
            }
            Err(error) => ModelState::Failed { error, retry_at_ms: now_ms.saturating_add(self.backoff.fail()) },
        };
        self.payload_columns_for_model();
    }

    /// Answers one request, and counts it in the metrics (when on). When the host asks
    /// ([`HttpRequest::observe`]), the answer carries the request's [`Observation`] (and the
    /// model's [`Reference`]) in headers for the host to count and remove.
    pub fn handle(&self, req: &HttpRequest, now_ms: u64) -> HttpResponse {
        let Some(metrics) = &self.metrics else {
            return self.route(req, now_ms, &mut Observation::default(), 0);
        };
        let t0 = (self.clock)();
        let mut o = Observation::default();
        let mut resp = self.route(req, now_ms, &mut o, t0);
        // A sampled batch that failed before its model leaves the stage clock armed.
        crate::predict::take_stage_marks();
        o.status = resp.status;
        o.error = resp.error.map(Cow::Borrowed);
        o.ns[3] = (self.clock)().saturating_sub(t0);
        metrics.record(&o);
        if req.observe != Observe::No {
            o.model = self.model_label.clone();
            resp.headers.push((OBSERVATION_HEADER, ascii_json(&o)));
            if let (Observe::WithReference, Some((_, r))) = (req.observe, &self.drift) {
                resp.headers.push((REFERENCE_HEADER, ascii_json(r)));
            }
        }
        resp
    }

    /// Decides, once a request's batch of `n` rows is read, whether the request is sampled:
    /// whether one of its rows is among the one in `sample` that drift counts. Only sampled
    /// requests read the clock for their stages (parse, features, model) and bin rows, so a
    /// 1-row request pays for two clock reads and a few counters, not for a profile; the
    /// stage histograms are a sample of the requests, which their quantiles do not mind.
    fn sample_batch(&self, n: usize) -> Option<Sampled> {
        self.metrics.as_ref()?;
        let first = self.seen.fetch_add(n as u64, Ordering::Relaxed);
        // The first row of the batch that is a multiple of `sample` (one division).
        let r = first % self.sample;
        let row = if r == 0 { 0 } else { (self.sample - r) as usize };
        (row < n).then(|| {
            crate::predict::time_next_batch(self.clock);
            Sampled { row, parsed: (self.clock)() }
        })
    }

    /// Counts a scored batch in `o`: its rows, for a sampled request the stage times and the
    /// sampled rows' cells and scores in the drift bins, and the payload the request log asks.
    #[allow(clippy::too_many_arguments)]
    fn observe_batch(
        &self,
        req: &HttpRequest,
        o: &mut Observation,
        t0: u64,
        sampled: Option<Sampled>,
        preds: &[Prediction],
        batch: Batch,
        variant: Variant,
    ) {
        if self.metrics.is_none() {
            return;
        }
        o.rows = u32::try_from(preds.len()).unwrap_or(u32::MAX);
        if req.observe != Observe::No
            && let Some(log) = &self.payload_log
            && self.payload_seen.fetch_add(1, Ordering::Relaxed).is_multiple_of(log.sample)
        {
            let columns = match variant {
                Variant::Primary => &self.payload_columns,
                Variant::Candidate => &self.candidate_payload_columns,
            };
            o.payload = Some(payload(columns, preds, batch));
        }
        let Some(Sampled { row, parsed }) = sampled else { return };
        if let Some((features, model)) = crate::predict::take_stage_marks() {
            o.ns[..3].copy_from_slice(&[
                parsed.saturating_sub(t0),
                features.saturating_sub(parsed),
                model.saturating_sub(features),
            ]);
        }
        // Drift is counted in the primary's bins, on the rows the primary read.
        let (Some((bins, _)), Variant::Primary) = (&self.drift, variant) else { return };
        let columns = bins.sizes().len() - 1;
        let small = |x: usize| u16::try_from(x).unwrap_or(u16::MAX);
        let step = self.sample as usize;
        o.bins.reserve((preds.len() - row).div_ceil(step) * (columns + 1));
        let mut cells = Vec::with_capacity(columns);
        for i in (row..preds.len()).step_by(step) {
            batch.row(i, &mut cells);
            for (c, v) in cells.iter().enumerate().take(columns) {
                o.bins.push((small(c), small(bins.bin(c, *v).0)));
            }
            o.bins.push((small(columns), small(bins.score_bin(&Score::of(&preds[i])))));
            o.sampled += 1;
        }
    }

    /// Parses and scores a request's body with one model. `counted` says which of the
    /// deployment's models it is, and counts the batch in `o` (stage times and drift for the
    /// primary's rows only); `None` (a shadow's scoring) counts nothing.
    #[allow(clippy::too_many_arguments)]
    fn score_with(
        &self,
        req: &HttpRequest,
        proto: Protocol,
        (s, reader): (&Scorer, &RowReader),
        o: &mut Observation,
        t0: u64,
        counted: Option<Variant>,
    ) -> Result<Scored, HttpResponse> {
        let err = |e: Error| HttpResponse::error(&e);
        let sample = |n| if counted == Some(Variant::Primary) { self.sample_batch(n) } else { None };
        let (p, batch_id) = match proto {
            Protocol::Mlflow => {
                let r = mlflow::parse_borrowed(req.body, reader).map_err(err)?;
                let batch = match &r {
                    mlflow::Parsed::Cells(c, _) => Batch::Cells(c),
                    mlflow::Parsed::Rows(r) => Batch::Rows(&r.rows),
                };
                let sampled = sample(batch.len());
                let p = r.predict(s).map_err(err)?;
                if let Some(v) = counted {
                    self.observe_batch(req, o, t0, sampled, &p, batch, v);
                }
                (p, None)
            }
            // The common shape straight from the body; anything else (and every error) through
            // the JSON tree.
            Protocol::Oip => match oip::parse_direct(req.body, reader) {
                Some(d) => {
                    let batch = Batch::Columns(&d.columns);
                    let sampled = sample(batch.len());
                    let p = d.predict(s).map_err(err)?;
                    if let Some(v) = counted {
                        self.observe_batch(req, o, t0, sampled, &p, batch, v);
                    }
                    (p, d.id.map(String::from))
                }
                None => {
                    let r = oip::parse(req.body, reader).map_err(err)?;
                    let batch = Batch::Rows(&r.rows);
                    let sampled = sample(batch.len());
                    let p = s.predict(&r.rows, r.options).map_err(err)?;
                    if let Some(v) = counted {
                        self.observe_batch(req, o, t0, sampled, &p, batch, v);
                    }
                    (p, r.id)
                }
            },
        };
        Ok((p, batch_id))
    }

    /// Answers a scoring request: with the primary alone, or as the experiment says.
    fn score(
        &self,
        req: &HttpRequest,
        proto: Protocol,
        (s, reader): (&Scorer, &RowReader),
        o: &mut Observation,
        t0: u64,
    ) -> Result<HttpResponse, HttpResponse> {
        let experiment = match (&self.experiment, &self.candidate) {
            (Some(e), ModelState::Ready(c)) if e.share > 0 => Some((e, (&c.0, &c.1))),
            _ => None,
        };
        let Some((e, candidate)) = experiment else {
            let (p, id) = self.score_with(req, proto, (s, reader), o, t0, Some(Variant::Primary))?;
            return Ok(respond(proto, s, id.as_deref(), &p));
        };
        let label = || self.candidate_label.clone();
        if e.mode == Mode::Shadow {
            let (p, id) = self.score_with(req, proto, (s, reader), o, t0, Some(Variant::Primary))?;
            // The candidate's answer, or its error, never reaches the client.
            let shadow = self.score_with(req, proto, candidate, &mut Observation::default(), t0, None).ok();
            o.variant = Some(Cow::Borrowed("shadow"));
            o.candidate = label();
            o.candidate_rows = shadow.as_ref().map_or(0, |(c, _)| u32::try_from(c.len()).unwrap_or(u32::MAX));
            if o.payload.is_some() {
                let keys = self.keys(req, proto, e);
                let extra = json!({
                    "model": label(),
                    "predictions": shadow.map(|(c, _)| {
                        c.iter().take(requests::MAX_PAYLOAD_ROWS).map(Prediction::to_json).collect::<Vec<_>>()
                    }),
                });
                self.annotate(o, &[Variant::Primary], keys.as_deref(), Some(extra));
            }
            return Ok(respond(proto, s, id.as_deref(), &p));
        }
        let (variants, keys) = self.split(req, proto, e);
        let first = variants[0];
        if variants.iter().all(|v| *v == first) {
            let model = if first == Variant::Candidate { candidate } else { (s, reader) };
            let (p, id) = self.score_with(req, proto, model, o, t0, Some(first))?;
            if first == Variant::Candidate {
                o.variant = Some(Cow::Borrowed("candidate"));
                o.candidate = label();
                o.candidate_rows = o.rows;
            }
            self.annotate(o, &variants, keys.as_deref(), None);
            return Ok(respond(proto, model.0, id.as_deref(), &p).with_header(VARIANT_HEADER, first.as_str()));
        }
        // A batch split row by row: both score it whole (a row scores the same in any batch)
        // and each row takes its variant's answer.
        let (p, id) = self.score_with(req, proto, (s, reader), o, t0, Some(Variant::Primary))?;
        let (c, _) = self.score_with(req, proto, candidate, &mut Observation::default(), t0, None)?;
        if c.len() != p.len() || variants.len() != p.len() {
            return Err(HttpResponse::problem(500, "internal", "the two models scored different numbers of rows"));
        }
        let merged: Vec<Prediction> = p
            .into_iter()
            .zip(c)
            .zip(&variants)
            .map(|((p, c), v)| if *v == Variant::Candidate { c } else { p })
            .collect();
        o.variant = Some(Cow::Borrowed("mixed"));
        o.candidate = label();
        o.candidate_rows = variants.iter().filter(|v| **v == Variant::Candidate).count() as u32;
        if let Some(Json::Object(payload)) = &mut o.payload {
            let shown = merged.iter().take(requests::MAX_PAYLOAD_ROWS).map(Prediction::to_json).collect();
            payload.insert("predictions".into(), Json::Array(shown));
        }
        self.annotate(o, &variants, keys.as_deref(), None);
        let primary_label = self.model_label.clone().unwrap_or_default();
        let models: Vec<&str> = variants
            .iter()
            .map(|v| match v {
                Variant::Primary => primary_label.as_str(),
                Variant::Candidate => self.candidate_label.as_deref().unwrap_or(""),
            })
            .collect();
        let resp = match proto {
            Protocol::Mlflow => {
                let mut body = mlflow::response_bytes(s, &merged);
                body.pop();
                body.extend_from_slice(b",\"models\":");
                body.extend_from_slice(json!(models).to_string().as_bytes());
                body.push(b'}');
                HttpResponse::bytes(200, body)
            }
            Protocol::Oip => {
                let mut r = oip::response(s, id.as_deref(), &merged);
                r["parameters"] = json!({"models": models});
                HttpResponse::json(200, &r)
            }
        };
        Ok(resp.with_header(VARIANT_HEADER, "mixed"))
    }

    /// Who answers a request in a split: one variant for all of it (a header key, a random
    /// draw), or one per row (a `column:` key); and the split key of each row, when known.
    fn split(&self, req: &HttpRequest, proto: Protocol, e: &Experiment) -> (Vec<Variant>, Option<Vec<Option<String>>>) {
        let draw = || {
            e.of_bucket(
                (crate::experiment::mix(self.draws.fetch_add(1, Ordering::Relaxed) ^ (self.clock)())
                    % u64::from(crate::experiment::BUCKETS)) as u32,
            )
        };
        match self.keys(req, proto, e) {
            Some(keys) if !keys.is_empty() => {
                let v = keys.iter().map(|k| k.as_deref().map_or_else(draw, |k| e.variant(k))).collect();
                (v, Some(keys))
            }
            _ => (vec![draw()], None),
        }
    }

    /// The request's split keys: the header's value (one for the whole request) or the
    /// column's value in every row; `None` for a random split or when the request has none.
    fn keys(&self, req: &HttpRequest, proto: Protocol, e: &Experiment) -> Option<Vec<Option<String>>> {
        match &e.key {
            SplitKey::Random => None,
            SplitKey::Header(_) => {
                req.split_key.map(str::trim).filter(|k| !k.is_empty()).map(|k| vec![Some(k.to_string())])
            }
            SplitKey::Column(_) => self.row_keys(req, proto),
        }
    }

    /// The split column's value in every row of the body (`None` for a row without one), or
    /// `None` when the body cannot be read for it (the model's own reading then says why).
    fn row_keys(&self, req: &HttpRequest, proto: Protocol) -> Option<Vec<Option<String>>> {
        let reader = self.key_reader.as_ref()?;
        let rows = match proto {
            Protocol::Mlflow => mlflow::parse_tree(req.body, reader).ok()?.rows,
            Protocol::Oip => oip::parse(req.body, reader).ok()?.rows,
        };
        Some(rows.iter().map(|r| r.first().and_then(key_text)).collect())
    }

    /// Adds to a logged payload who answered each row, the rows' split keys (unless the key
    /// column is denied) and, in shadow, the candidate's predictions.
    fn annotate(
        &self,
        o: &mut Observation,
        variants: &[Variant],
        keys: Option<&[Option<String>]>,
        shadow: Option<Json>,
    ) {
        let Some(Json::Object(payload)) = &mut o.payload else { return };
        let n = payload.get("predictions").and_then(Json::as_array).map_or(0, Vec::len);
        let name = |i: usize| variants.get(i).or(variants.first()).map_or("primary", |v| v.as_str());
        if shadow.is_none() {
            payload.insert("variants".into(), (0..n).map(|i| Json::from(name(i))).collect());
        }
        let denied = match (&self.experiment, &self.payload_log) {
            (Some(Experiment { key: SplitKey::Column(k), .. }), Some(log)) => log.deny.contains(k),
            _ => false,
        };
        if let (Some(keys), false) = (keys, denied) {
            let key = |i: usize| keys.get(i).or(if keys.len() == 1 { keys.first() } else { None }).cloned().flatten();
            payload.insert("keys".into(), (0..n).map(|i| key(i).map_or(Json::Null, Json::from)).collect());
        }
        if let Some(s) = shadow {
            payload.insert("shadow".into(), s);
        }
    }

    /// Routes one request, noting in `o` what the metrics need.
    fn route(&self, req: &HttpRequest, now_ms: u64, o: &mut Observation, t0: u64) -> HttpResponse {
        let path = req.path.split(['?', '#']).next().unwrap_or("");
        let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let method = req.method;
        o.route = Cow::Borrowed(scorelet_metrics::route_name(&segments));
        match segments.as_slice() {
            ["v2", "health", "live"] => only(method, "GET", || HttpResponse::json(200, &json!({"live": true}))),
            ["v2", "health", "ready"] => only(method, "GET", || self.ready(now_ms)),
            ["ping"] | ["health"] => only(method, "GET", || self.ready(now_ms)),
            ["metrics"] => {
                only(method, "GET", || self.authorized(req, now_ms).map(|()| self.metrics_text()).unwrap_or_else(|e| e))
            }
            ["v2"] => only(method, "GET", || {
                HttpResponse::json(
                    200,
                    &json!({"name": "scorelet", "version": env!("CARGO_PKG_VERSION"), "extensions": []}),
                )
            }),
            ["invocations"] => only(method, "POST", || {
                self.authorized(req, now_ms)
                    .and_then(|()| self.scoring(req, now_ms))
                    .and_then(|m| self.score(req, Protocol::Mlflow, m, o, t0))
                    .unwrap_or_else(|e| e)
            }),
            ["v2", "models", name] => only(method, "GET", || {
                self.authorized(req, now_ms)
                    .and_then(|()| self.model(name, now_ms))
                    .map(|(s, _)| HttpResponse::json(200, &oip::metadata(s)))
                    .unwrap_or_else(|e| e)
            }),
            ["v2", "models", name, "stats"] => only(method, "GET", || {
                self.authorized(req, now_ms)
                    .and_then(|()| self.model(name, now_ms))
                    .map(|_| match &self.metrics {
                        Some(m) => HttpResponse::json(200, &m.stats()),
                        None => metrics_off(),
                    })
                    .unwrap_or_else(|e| e)
            }),
            ["v2", "models", name, "ready"] => only(method, "GET", || {
                self.authorized(req, now_ms)
                    .and_then(|()| self.model(name, now_ms))
                    .map(|_| self.ready(now_ms))
                    .unwrap_or_else(|e| e)
            }),
            ["v2", "models", name, "infer"] => only(method, "POST", || {
                self.authorized(req, now_ms)
                    .and_then(|()| self.model(name, now_ms))
                    .and_then(|m| self.json_body(req).map(|()| m))
                    .and_then(|m| self.score(req, Protocol::Oip, m, o, t0))
                    .unwrap_or_else(|e| e)
            }),
            _ => HttpResponse::problem(404, "not_found", format!("no route {path:?}; this function serves {ROUTES}")),
        }
    }

    /// The Prometheus text of the instance's metrics.
    fn metrics_text(&self) -> HttpResponse {
        match &self.metrics {
            Some(m) => HttpResponse {
                content_type: crate::metrics::text::PROMETHEUS_CONTENT_TYPE,
                ..HttpResponse::bytes(200, crate::metrics::text::prometheus(m).into_bytes())
            },
            None => metrics_off(),
        }
    }

    fn ready(&self, now_ms: u64) -> HttpResponse {
        match &self.state {
            ModelState::Ready(s) => {
                let s = &s.0;
                let mut body = json!({"ready": true, "model": s.name(), "version": s.version()});
                if let Some(c) = self.candidate_status() {
                    body["candidate"] = c;
                }
                HttpResponse::json(200, &body)
            }
            _ => self.not_ready(now_ms),
        }
    }

    /// The candidate as the ready route shows it: model, share, mode, and why it is not
    /// answering yet.
    fn candidate_status(&self) -> Option<Json> {
        let problem = match &self.candidate {
            ModelState::Ready(_) => None,
            ModelState::Failed { error, .. } => Some(error.to_string()),
            ModelState::Loading | ModelState::Unloaded => Some("not loaded yet".to_string()),
        };
        if self.experiment.is_none() && problem.is_none() {
            return None;
        }
        let e = self.experiment.as_ref();
        Some(json!({
            "model": self.candidate_label,
            "share": e.map(Experiment::share),
            "mode": e.map(|e| if e.mode == Mode::Shadow { "shadow" } else { "split" }),
            "ready": problem.is_none(),
            "error": problem,
        }))
    }

    fn not_ready(&self, now_ms: u64) -> HttpResponse {
        match &self.state {
            ModelState::Failed { error, retry_at_ms } => {
                let wait_s = retry_at_ms.saturating_sub(now_ms).div_ceil(1000).max(1);
                HttpResponse::problem(
                    503,
                    "model_not_loaded",
                    format!("the model is not loaded: {error}; next attempt in {wait_s} s"),
                )
                .with_header("retry-after", wait_s.to_string())
            }
            ModelState::Loading | ModelState::Unloaded => {
                HttpResponse::problem(503, "model_loading", "the model is still loading")
                    .with_header("retry-after", "1")
            }
            ModelState::Ready(_) => HttpResponse::problem(500, "internal", "ready model reported as not ready"),
        }
    }

    /// Checks the credentials, if any are configured: the API key (`X-API-Key`, or a bearer
    /// token equal to it) or a bearer JWT the verifier accepts at `now_ms`.
    fn authorized(&self, req: &HttpRequest, now_ms: u64) -> Result<(), HttpResponse> {
        if let Some(why) = &self.key_error {
            return Err(HttpResponse::problem(500, "config_error", format!("refusing the request: {why}")));
        }
        if self.api_key.is_none() && self.jwt.is_none() {
            return Ok(());
        }
        let unauthorized = |message: String, challenge: &str| {
            HttpResponse::problem(401, "unauthorized", message).with_header("www-authenticate", challenge.to_string())
        };
        let bearer = bearer(req.authorization);
        if let (Some(key), Some(given)) = (&self.api_key, req.api_key.or(bearer)) {
            if constant_time_eq(given.trim().as_bytes(), key.as_bytes()) {
                return Ok(());
            }
            if req.api_key.is_some() || self.jwt.is_none() {
                return Err(unauthorized("the API key is not valid".into(), "Bearer"));
            }
        }
        match (&self.jwt, bearer) {
            (Some(jwt), Some(token)) => match jwt.verify(token.trim(), now_ms / 1000) {
                Ok(_) => Ok(()),
                Err(why) => {
                    let text = why.to_string();
                    let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{}\"", text.replace('"', "'"));
                    Err(unauthorized(text, &challenge))
                }
            },
            _ => Err(unauthorized(
                match (&self.api_key, &self.jwt) {
                    (Some(_), Some(_)) => "this function needs credentials: send `Authorization: Bearer JWT`, `Authorization: Bearer KEY` or `X-API-Key: KEY`",
                    (None, Some(_)) => "this function needs a token: send `Authorization: Bearer JWT`",
                    _ => "this function needs an API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
                }
                .into(),
                "Bearer",
            )),
        }
    }

    /// The scorer (and its reader) for a scoring request, after the body checks.
    fn scoring(&self, req: &HttpRequest, now_ms: u64) -> Result<(&Scorer, &RowReader), HttpResponse> {
        self.json_body(req)?;
        self.ready_scorer().ok_or_else(|| self.not_ready(now_ms))
    }

    fn json_body(&self, req: &HttpRequest) -> Result<(), HttpResponse> {
        if req.body.len() > MAX_BODY_BYTES {
            return Err(HttpResponse::body_too_large(MAX_BODY_BYTES));
        }
        match req.content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase()) {
            None => Ok(()),
            Some(c) if c == "application/json" || c.is_empty() => Ok(()),
            Some(c) => Err(HttpResponse::problem(
                415,
                "unsupported_media_type",
                format!(
                    "content type {:?} is not supported; send JSON with `content-type: application/json`",
                    crate::value::truncate(&c, 60)
                ),
            )),
        }
    }

    /// The scorer (and its row reader) if `name` is the served model.
    fn model(&self, name: &str, now_ms: u64) -> Result<(&Scorer, &RowReader), HttpResponse> {
        let (s, reader) = self.ready_scorer().ok_or_else(|| self.not_ready(now_ms))?;
        if s.name() == name {
            Ok((s, reader))
        } else {
            Err(HttpResponse::problem(
                404,
                "model_not_found",
                format!(
                    "model {:?} is not served here; this function serves {:?}",
                    crate::value::truncate(name, 64),
                    s.name()
                ),
            ))
        }
    }
}

/// Response header saying who answered a request in a split: `primary`, `candidate` or `mixed`
/// (the body's `model`, or its `models` per row, names the versions).
pub const VARIANT_HEADER: &str = "scorelet-variant";

/// A scoring answer in the route's protocol.
fn respond(proto: Protocol, s: &Scorer, id: Option<&str>, p: &[Prediction]) -> HttpResponse {
    match proto {
        Protocol::Mlflow => HttpResponse::bytes(200, mlflow::response_bytes(s, p)),
        Protocol::Oip => HttpResponse::json(200, &oip::response(s, id, p)),
    }
}

/// A cell as a split key: text as it is, numbers in their shortest form; `None` when missing.
fn key_text(v: &crate::value::Value) -> Option<String> {
    use crate::value::Value;
    match v {
        Value::Missing => None,
        Value::Text(t) => Some(t.trim().to_string()).filter(|t| !t.is_empty()),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 => Some(format!("{}", *n as i64)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
    }
}

/// The request log's payload: the first [`requests::MAX_PAYLOAD_ROWS`] rows (without the
/// denied columns, `None` in `columns`) and their predictions.
fn payload(columns: &[Option<String>], preds: &[Prediction], batch: Batch) -> serde_json::Value {
    let n = preds.len().min(requests::MAX_PAYLOAD_ROWS);
    let mut cells = Vec::with_capacity(columns.len());
    let records: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            batch.row(i, &mut cells);
            let row =
                columns.iter().zip(&cells).filter_map(|(c, v)| Some((c.clone()?, v.to_value().to_json()))).collect();
            serde_json::Value::Object(row)
        })
        .collect();
    let predictions: Vec<serde_json::Value> = preds[..n].iter().map(Prediction::to_json).collect();
    json!({"rows": preds.len(), "records": records, "predictions": predictions})
}

/// 404 for the metrics routes of a deployment that turned metrics off.
fn metrics_off() -> HttpResponse {
    HttpResponse::problem(
        404,
        "metrics_off",
        format!("metrics are off in this deployment; set `{}` to `on`", crate::config::var::METRICS),
    )
}

/// `f()` if the method is `allowed`, else 405 with an `Allow` header.
fn only(method: &str, allowed: &'static str, f: impl FnOnce() -> HttpResponse) -> HttpResponse {
    if method.eq_ignore_ascii_case(allowed) {
        f()
    } else {
        HttpResponse::problem(405, "method_not_allowed", format!("use {allowed} for this route"))
            .with_header("allow", allowed)
    }
}

/// The token of an `Authorization: Bearer TOKEN` header (the scheme in any case).
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    let a = authorization?.trim_start();
    let (scheme, token) = a.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim_start())
}

/// Compares secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(s: &Service, path: &str) -> HttpResponse {
        let req = HttpRequest {
            method: "GET",
            path,
            content_type: None,
            authorization: None,
            api_key: None,
            body: b"",
            observe: Observe::No,
            split_key: None,
        };
        s.handle(&req, 0)
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        let mut b = Backoff::default();
        let delays: Vec<u64> = (0..10).map(|_| b.fail()).collect();
        assert_eq!(&delays[..4], &[500, 1000, 2000, 4000]);
        assert_eq!(delays[9], 60_000);
        assert_eq!(b.failures(), 10);
    }

    #[test]
    fn a_failed_load_is_retried_only_after_its_backoff() {
        let mut s = Service::new(None);
        assert!(s.should_load(0));
        s.start_loading();
        assert!(!s.should_load(0), "a load under way is not started twice");
        assert_eq!(get(&s, "/v2/health/ready").status, 503);
        s.finish_loading(Err(Error::Bundle("registry down".into())), 1_000);
        assert!(!s.should_load(1_499));
        assert!(s.should_load(1_500));
        let r = get(&s, "/v2/health/ready");
        assert_eq!(r.status, 503);
        assert!(String::from_utf8_lossy(&r.body).contains("registry down"));
        assert!(r.headers.iter().any(|(k, _)| *k == "retry-after"));
        s.start_loading();
        s.finish_loading(Err(Error::Bundle("still down".into())), 2_000);
        assert!(!s.should_load(2_999), "the second failure waits longer");
        assert!(s.should_load(3_000));
    }

    #[test]
    fn routes_methods_and_liveness_without_a_model() {
        let s = Service::new(Some("k".into()));
        assert_eq!(get(&s, "/v2/health/live").status, 200);
        assert_eq!(get(&s, "/v2/health/live/").status, 200);
        assert_eq!(get(&s, "/v2/health/live?x=1").status, 200);
        assert_eq!(get(&s, "/nope").status, 404);
        let r = get(&s, "/invocations");
        assert_eq!(r.status, 405);
        assert_eq!(r.headers, vec![("allow", "POST".to_string())]);
        // The API key is checked before anything about the model.
        assert_eq!(get(&s, "/v2/models/churn").status, 401);
    }

    #[test]
    fn an_api_key_that_cannot_be_read_closes_guarded_routes() {
        let mut s = Service::new(None);
        s.refuse_guarded("the `api_key` variable could not be read: provider down".into());
        let r = get(&s, "/v2/models/churn");
        assert_eq!(r.status, 500);
        assert!(String::from_utf8_lossy(&r.body).contains("provider down"));
        let with_key = HttpRequest {
            method: "GET",
            path: "/v2/models/churn",
            content_type: None,
            authorization: Some("Bearer anything"),
            api_key: None,
            body: b"",
            observe: Observe::No,
            split_key: None,
        };
        assert_eq!(s.handle(&with_key, 0).status, 500, "no key opens it");
        assert_eq!(get(&s, "/v2/health/live").status, 200, "liveness still answers");
        s.set_api_key(None);
        assert_eq!(get(&s, "/v2/models/churn").status, 503, "a key read later (here: none) reopens it");
    }

    #[test]
    fn a_jwt_or_the_api_key_opens_guarded_routes() {
        let token = include_str!("../tests/fixtures/jwt/rs256.jwt").trim();
        let expired = include_str!("../tests/fixtures/jwt/rs256-expired.jwt").trim();
        let call = |s: &Service, authorization: Option<&str>, api_key: Option<&str>| {
            let req = HttpRequest {
                method: "GET",
                path: "/v2/models/churn",
                content_type: None,
                authorization,
                api_key,
                body: b"",
                observe: Observe::No,
                split_key: None,
            };
            s.handle(&req, 1_800_000_000_000)
        };
        let bearer = format!("Bearer {token}");
        for key in [None, Some("k".to_string())] {
            let mut s = Service::new(key.clone());
            s.set_jwt(Some(Verifier::new("https://id.example", "scorelet").unwrap()));
            s.jwt.as_mut().unwrap().add_jwks(include_str!("../tests/fixtures/jwt/jwks.json")).unwrap();
            // 503: past authentication, and no model loaded.
            assert_eq!(call(&s, Some(&bearer), None).status, 503, "key {key:?}");
            assert_eq!(call(&s, Some(&format!("bearer  {token}")), None).status, 503);
            let r = call(&s, Some(&format!("Bearer {expired}")), None);
            assert_eq!(r.status, 401);
            assert!(String::from_utf8_lossy(&r.body).contains("expired"));
            let challenge = &r.headers.iter().find(|(k, _)| *k == "www-authenticate").unwrap().1;
            assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{challenge}");
            assert_eq!(call(&s, None, None).status, 401);
            assert_eq!(call(&s, Some("Basic dXNlcjpwYXNz"), None).status, 401);
            assert_eq!(call(&s, Some("Bearer k"), None).status, if key.is_some() { 503 } else { 401 });
            assert_eq!(call(&s, None, Some("k")).status, if key.is_some() { 503 } else { 401 });
            // X-API-Key only ever carries an API key.
            assert_eq!(call(&s, None, Some(token)).status, 401);
        }
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
