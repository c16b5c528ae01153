//! # scorelet-guest
//!
//! What the scoring functions (the Spin components, WASI 0.3 and 0.2, and the JS worker) share, so each adapter only translates
//! its SDK's request, response, variables and outbound HTTP:
//!
//! - the model source, first that applies: a bundle `scorelet build` embedded in the component
//!   (see [`embedded`]); one the platform holds in memory (a worker's modules); a bundle directory in the component's filesystem
//!   (`bundle_dir`); or `name@version` / `name@alias` fetched from a registry at the first
//!   request and verified file by file against the manifest's sha256;
//! - the instance's [`scorelet::service::Service`]: it survives across requests while the host
//!   reuses the instance, so the model loads once per instance;
//! - retries: a failed or tampered fetch leaves the function not ready (503 with the reason) and
//!   the next request after the backoff tries again.

use std::cell::{Cell, RefCell};
use std::future::Future;

mod jwt;

use scorelet::experiment::{Experiment, SplitKey};
use scorelet::metrics::requests::{LogMode, PayloadLog};
use scorelet::metrics::{OBSERVATION_HEADER, Observation, Observe};
use scorelet::registry::{self, ModelRef};
use scorelet::service::{self, HttpRequest, HttpResponse, Service};
use scorelet::{Bundle, Error, Result, Scorer};

/// The variables a component reads (Spin application variables; `scorelet serve`, the Lambda
/// bootstrap and the worker set them from their flags and environment): the runtime rows of
/// [`scorelet::config::SETTINGS`].
pub use scorelet::config::var as variables;

/// Largest body the scoring routes accept; adapters stop reading past it and answer
/// [`HttpResponse::body_too_large`].
pub const MAX_BODY: usize = scorelet::api::MAX_BODY_BYTES;

/// Largest file accepted from the registry.
pub const MAX_FETCH: usize = 512 << 20;

/// What an adapter provides from its SDK.
pub trait Platform {
    /// A configuration variable; `None` when it is undefined or empty.
    fn variable(&self, name: &'static str) -> impl Future<Output = Option<String>>;
    /// A variable that guards something (the API key, the publisher key): `Ok(None)` when it is
    /// undefined or empty, `Err` when the lookup itself failed, so the caller can fail closed
    /// instead of taking a broken variable store for "no key".
    fn lookup(&self, name: &'static str) -> impl Future<Output = std::result::Result<Option<String>, String>> {
        async move { Ok(self.variable(name).await) }
    }
    /// GETs `url` (with `Authorization: Bearer {token}` when given) and returns the body of a 2xx
    /// answer of at most [`MAX_FETCH`] bytes; anything else is an error message.
    fn get(&self, url: &str, token: Option<&str>) -> impl Future<Output = std::result::Result<Vec<u8>, String>>;
    /// A bundle the platform holds in memory (a worker's embedded modules); tried after the
    /// compiled-in bundle and before `bundle_dir` and the registry.
    fn bundle(&self) -> Option<Result<Bundle>> {
        None
    }
    /// A monotonic clock in nanoseconds for latency metrics, where the core has none (JS
    /// engines); `None` keeps the core's.
    fn clock(&self) -> Option<scorelet::time::Clock> {
        None
    }
    /// Milliseconds on the wall clock (JS engines have no `SystemTime`; they override this).
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}

thread_local! {
    // Wasm components are single-threaded; the state lives as long as the instance.
    static SERVICE: RefCell<Option<Service>> = const { RefCell::new(None) };
    // Whether this instance has read its variables. False in a pre-initialized snapshot too:
    // variables belong to the deployment, not to the build.
    static CONFIGURED: Cell<bool> = const { Cell::new(false) };
    // Whether the function writes its own request log (no host asks for the observations).
    static LOGS_ITSELF: Cell<bool> = const { Cell::new(false) };
    // Requests logged by the function itself (their ids).
    static LOGGED: Cell<u64> = const { Cell::new(0) };
    // The header traffic is split on (`split_key = header:NAME`), once read.
    static SPLIT_HEADER: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// The request header the deployment splits traffic on (`split_key = header:NAME`, lowercase),
/// read once per instance. Adapters put its value in [`HttpRequest::split_key`].
pub async fn split_header<P: Platform>(p: &P) -> Option<String> {
    if let Some(h) = SPLIT_HEADER.with_borrow(|h| h.clone()) {
        return h;
    }
    let h = match p.variable(variables::SPLIT_KEY).await.map(|k| SplitKey::parse(&k)) {
        Some(Ok(SplitKey::Header(h))) => Some(h),
        _ => None,
    };
    SPLIT_HEADER.with_borrow_mut(|slot| *slot = Some(h.clone()));
    h
}

/// The deployment's experiment: `None` without a candidate, `Err` with what is wrong.
pub async fn experiment_settings<P: Platform>(p: &P) -> Option<std::result::Result<Experiment, String>> {
    p.variable(variables::CANDIDATE).await.or(p.variable(variables::CANDIDATE_BUNDLE_DIR).await)?;
    let share = p.variable(variables::CANDIDATE_SHARE).await;
    let key = p.variable(variables::SPLIT_KEY).await;
    let mode = p.variable(variables::EXPERIMENT_MODE).await;
    Some(Experiment::parse(share.as_deref(), key.as_deref(), mode.as_deref()))
}

/// Loads the embedded bundle into the instance's service ahead of any request, verified and
/// self-checked as a request would load it, on the automatic engine. The components export this
/// as `wizer-initialize`: `scorelet build` runs it once and snapshots the instance's memory
/// into the component it writes, so every instance of that component starts with the model
/// loaded. It calls no host function when it succeeds (a snapshot cannot hold host state), does
/// nothing without an embedded bundle, and traps with the reason when the bundle does not load,
/// so no snapshot is taken of a model that is not ready.
pub fn preinitialize() {
    let Some(bundle) = embedded() else { return };
    match bundle.and_then(|b| service::load(&b)) {
        Ok(scorer) => {
            let mut s = Service::new(None);
            s.finish_loading(Ok(scorer), 0);
            SERVICE.with_borrow_mut(|slot| *slot = Some(s));
        }
        Err(e) => {
            eprintln!("scorelet: the embedded model does not load: {e}");
            std::process::abort()
        }
    }
}

/// The embed slot: [`scorelet::bundle::packed::EMBED_MAGIC`], then where a packed bundle sits in
/// linear memory. It is zero in the component cargo builds; `scorelet build` adds the packed
/// bundle to the component's memory image as a new data segment and writes its address and
/// length here, so embedding a model needs no compiler.
#[repr(C)]
pub struct EmbedSlot {
    // Found by `scorelet build` in the binary; never read here.
    #[allow(dead_code)]
    magic: [u8; 24],
    ptr: u32,
    len: u32,
}

#[used]
#[unsafe(no_mangle)]
static SCORELET_EMBED_SLOT: EmbedSlot = EmbedSlot { magic: *scorelet::bundle::packed::EMBED_MAGIC, ptr: 0, len: 0 };

/// The embedded bundle, if `scorelet build` put one in this component.
pub fn embedded() -> Option<Result<Bundle>> {
    // Volatile: the slot is filled in after compilation, so its zeros must not be folded in.
    let slot = unsafe { std::ptr::read_volatile(&raw const SCORELET_EMBED_SLOT) };
    if slot.len == 0 || !cfg!(target_family = "wasm") {
        return None;
    }
    // SAFETY: `scorelet build` wrote `len` bytes at `ptr` as an active data segment of this
    // module's memory, above everything the allocator hands out (see crates/host/src/embed.rs).
    let packed = unsafe { std::slice::from_raw_parts(slot.ptr as usize as *const u8, slot.len as usize) };
    Some(Bundle::from_packed(packed))
}

/// Exports [`preinitialize`] from a component as `wizer-initialize` (what `scorelet build` runs
/// before it snapshots the instance). Expands to bindings made by the calling crate's own
/// `wit_bindgen` (each SDK pins its version), so the crate depends on `wit-bindgen` itself.
#[macro_export]
macro_rules! export_initializer {
    () => {
        mod init {
            wit_bindgen::generate!({
                inline: "package scorelet:init; world init { export wizer-initialize: func(); }",
                world: "init",
            });
            struct Init;
            impl Guest for Init {
                fn wizer_initialize() {
                    $crate::preinitialize();
                }
            }
            export!(Init);
        }
    };
}

/// Answers one request: sets the service up on the instance's first request, loads the model
/// when it is due, then routes. `req.body` must already be cut at [`MAX_BODY`].
pub async fn handle<P: Platform>(p: &P, req: HttpRequest<'_>) -> HttpResponse {
    if !CONFIGURED.get() {
        let key = p.lookup(variables::API_KEY).await;
        let forced = p.variable(variables::ENGINE).await.map(|e| e.parse::<scorelet::model::Engine>());
        let metrics = metrics_settings(p).await;
        let (logs, payload_log) = request_log_settings(p).await;
        LOGS_ITSELF.set(logs);
        let experiment = experiment_settings(p).await;
        if let Some(Err(e)) = &experiment {
            eprintln!("scorelet: {e}; the candidate is not loaded and the primary answers everything");
        }
        SERVICE.with_borrow_mut(|s| {
            // Pre-initialized on the automatic engine: kept unless the deployment asks for
            // another engine (or names none we know: loading then says so).
            let keep = |service: &Service| match &forced {
                None => true,
                Some(Ok(engine)) => service.scorer().is_some_and(|sc| engine.serves(sc.engine())),
                Some(Err(_)) => false,
            };
            let service = match s {
                Some(service) if keep(service) => service,
                _ => s.insert(Service::new(None)),
            };
            service.set_metrics(metrics.0, metrics.1);
            service.set_payload_log(payload_log);
            service.set_experiment(experiment);
            if let Some(clock) = p.clock() {
                service.set_clock(clock);
            }
            match key {
                Ok(key) => service.set_api_key(key),
                Err(e) => {
                    eprintln!("scorelet: cannot read `{}`: {e}; refusing guarded routes", variables::API_KEY);
                    service.refuse_guarded(format!("the `{}` variable could not be read: {e}", variables::API_KEY));
                }
            }
        });
        let jwt = jwt::configure(p).await;
        SERVICE.with_borrow_mut(|s| {
            let service = s.as_mut().expect("set above");
            match jwt {
                Ok(v) => service.set_jwt(v),
                Err(e) => {
                    eprintln!("scorelet: {e}; refusing guarded routes");
                    service.refuse_guarded(e);
                }
            }
        });
        CONFIGURED.set(true);
    }
    if let Some(keys) = jwt::refresh_due(p, &req).await {
        SERVICE.with_borrow_mut(|s| s.as_mut().expect("set above").set_jwt(Some(keys)));
    }
    let liveness = req.path.starts_with("/v2/health/live");
    let due = SERVICE.with_borrow_mut(|s| {
        let s = s.as_mut().expect("set above");
        let due = !liveness && s.should_load(p.now_ms());
        if due {
            s.start_loading();
        }
        due
    });
    if due {
        let result = load(p).await;
        if let Err(e) = &result {
            eprintln!("scorelet: model not loaded: {e}");
        }
        SERVICE.with_borrow_mut(|s| s.as_mut().expect("set above").finish_loading(result, p.now_ms()));
    }
    let candidate_due = SERVICE.with_borrow_mut(|s| {
        let s = s.as_mut().expect("set above");
        let due = !liveness && s.scorer().is_some() && s.candidate_due(p.now_ms());
        if due {
            s.start_loading_candidate();
        }
        due
    });
    if candidate_due {
        let result = load_candidate(p).await;
        if let Err(e) = &result {
            eprintln!("scorelet: candidate not loaded: {e}; the primary answers everything until it is");
        }
        SERVICE.with_borrow_mut(|s| s.as_mut().expect("set above").finish_loading_candidate(result, p.now_ms()));
    }
    // Under a host that asks for observations (`serve`, Lambda, the worker), the host writes
    // the request log; on its own (Spin), the function prints it to stdout.
    let logs_itself = LOGS_ITSELF.get() && req.observe == Observe::No;
    let mut req = req;
    if logs_itself {
        req.observe = Observe::Yes;
    }
    let mut resp = SERVICE.with_borrow(|s| s.as_ref().expect("set above").handle(&req, p.now_ms()));
    if logs_itself && let Some(i) = resp.headers.iter().position(|(k, _)| *k == OBSERVATION_HEADER) {
        let (_, text) = resp.headers.remove(i);
        if let Ok(o) = serde_json::from_str::<Observation>(&text) {
            let n = LOGGED.get();
            LOGGED.set(n + 1);
            let now = p.now_ms();
            let seed = now.rotate_left(20) ^ scorelet::time::monotonic_ns() ^ n.rotate_left(48);
            let id = format!("{:016x}", scorelet::experiment::mix(seed));
            println!("{}", scorelet::metrics::requests::request_line(&o, &id, now));
        }
    }
    resp
}

/// `f` over the instance's metrics, when the service exists and its metrics are on.
pub fn with_metrics<R>(f: impl FnOnce(&scorelet::metrics::Metrics) -> R) -> Option<R> {
    SERVICE.with_borrow(|s| s.as_ref().and_then(Service::metrics).map(f))
}

/// Whether metrics are on, and the drift sampling rate, from the variables; a value that
/// cannot be read is reported and the default kept.
pub async fn metrics_settings<P: Platform>(p: &P) -> (bool, u64) {
    let on = match p.variable(variables::METRICS).await.as_deref().map(str::trim) {
        None | Some("on" | "true" | "1") => true,
        Some("off" | "false" | "0") => false,
        Some(other) => {
            eprintln!("scorelet: `{}` is {other:?}, not `on` or `off`; keeping metrics on", variables::METRICS);
            true
        }
    };
    let sample = match p.variable(variables::DRIFT_SAMPLE).await.map(|v| v.trim().parse::<u64>()) {
        None => service::DEFAULT_DRIFT_SAMPLE,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => {
            eprintln!(
                "scorelet: `{}` is not a whole number of 1 or more; counting one row in {}",
                variables::DRIFT_SAMPLE,
                service::DEFAULT_DRIFT_SAMPLE
            );
            service::DEFAULT_DRIFT_SAMPLE
        }
    };
    (on, sample)
}

/// Whether requests are logged (`request_log = on | payload`), and whose rows and predictions
/// the log gets (`payload`), from the variables; a value that cannot be read is reported and no
/// payload logged.
pub async fn request_log_settings<P: Platform>(p: &P) -> (bool, Option<PayloadLog>) {
    let mode = p.variable(variables::REQUEST_LOG).await.map(|m| LogMode::parse(&m));
    let logs = matches!(mode, Some(Ok(LogMode::On | LogMode::Payload)));
    let payload = match mode {
        Some(Ok(LogMode::Payload)) => {
            let sample = p.variable(variables::REQUEST_LOG_SAMPLE).await;
            let deny = p.variable(variables::REQUEST_LOG_DENY).await;
            PayloadLog::parse(sample.as_deref(), deny.as_deref())
                .map_err(|e| eprintln!("scorelet: {e}; logging no rows or predictions"))
                .ok()
        }
        Some(Err(e)) => {
            eprintln!("scorelet: {e}; logging no rows or predictions");
            None
        }
        _ => None,
    };
    (logs, payload)
}

/// What a failed GET says, with what to do when the server's certificate is not trusted (a
/// registry or JWKS host behind a private CA).
fn fetch_failed(message: String) -> String {
    if message.contains("TlsCertificateError") {
        format!(
            "{message} (the server's certificate is not trusted: give the host its CA with `serve --ca-cert` or SCORELET_CA_CERT)"
        )
    } else {
        message
    }
}

/// Loads the embedded bundle, or fetches the configured one, on the configured engine.
async fn load<P: Platform>(p: &P) -> Result<Scorer> {
    let engine: scorelet::model::Engine = p.variable(variables::ENGINE).await.unwrap_or_default().parse()?;
    if let Some(bundle) = embedded().or_else(|| p.bundle()) {
        return service::load_with(&bundle?, engine);
    }
    load_from(p, variables::BUNDLE_DIR, variables::MODEL, engine, || {
        format!(
            "no model: this component has no embedded bundle, so set `{}`, or `{}` (NAME@VERSION or NAME@ALIAS) and `{}`",
            variables::BUNDLE_DIR,
            variables::MODEL,
            variables::REGISTRY_URL
        )
    })
    .await
}

/// Loads the candidate (`candidate_bundle_dir`, or `candidate` from the registry) on the
/// configured engine.
async fn load_candidate<P: Platform>(p: &P) -> Result<Scorer> {
    let engine: scorelet::model::Engine = p.variable(variables::ENGINE).await.unwrap_or_default().parse()?;
    load_from(p, variables::CANDIDATE_BUNDLE_DIR, variables::CANDIDATE, engine, || {
        format!(
            "the candidate needs `{}` (NAME@VERSION or NAME@ALIAS) and `{}`, or `{}`",
            variables::CANDIDATE,
            variables::REGISTRY_URL,
            variables::CANDIDATE_BUNDLE_DIR
        )
    })
    .await
}

/// Loads the bundle directory the variable `dir` names, else fetches the reference `model`
/// names from the registry; `missing` says what to set when neither is.
async fn load_from<P: Platform>(
    p: &P,
    dir: &'static str,
    model: &'static str,
    engine: scorelet::model::Engine,
    missing: impl FnOnce() -> String,
) -> Result<Scorer> {
    if let Some(dir) = p.variable(dir).await {
        return service::load_with(&Bundle::load_dir(&dir)?, engine);
    }
    let (Some(model), Some(base)) = (p.variable(model).await, p.variable(variables::REGISTRY_URL).await) else {
        return Err(Error::Config(missing()));
    };
    fetch(p, &base, &model.parse()?, engine).await
}

/// Fetches `r` from the registry at `base`, verified (the publisher's key when configured), and
/// loads it.
async fn fetch<P: Platform>(p: &P, base: &str, r: &ModelRef, engine: scorelet::model::Engine) -> Result<Scorer> {
    let token = p.variable(variables::REGISTRY_READ_TOKEN).await;
    let key = match p.lookup(variables::REGISTRY_PUBLIC_KEY).await {
        Ok(Some(k)) => Some(scorelet::bundle::seal::PublicKey::from_hex(&k)?),
        Ok(None) => None,
        Err(e) => {
            return Err(Error::Config(format!(
                "the `{}` variable could not be read ({e}); refusing to fetch unverified",
                variables::REGISTRY_PUBLIC_KEY
            )));
        }
    };
    let bundle = registry::fetch(base, r, key, |url| {
        let token = token.as_deref();
        async move { p.get(&url, token).await.map_err(|m| Error::Fetch { url: url.clone(), message: fetch_failed(m) }) }
    })
    .await?;
    service::load_with(&bundle, engine)
}
