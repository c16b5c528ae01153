//! The HTTP scoring function for edge workers: the same routes, statuses and JSON bodies as the
//! Spin component, because both go through `scorelet-guest` and the core's `service`. The JS
//! side (`worker/worker.mjs`) only turns a `Request` into a [`handle_request`] call and the result
//! into a `Response`.

use js_sys::{Object, Reflect, Uint8Array};
use scorelet::metrics::requests::{self, LogMode};
use scorelet::metrics::{OBSERVATION_HEADER, Observation, Observe, text};
use scorelet::service::{HttpRequest, HttpResponse};
use scorelet_guest::{MAX_BODY, Platform};
use wasm_bindgen::prelude::*;

use crate::fetch::get;
use crate::js::bundle;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** What `handleRequest` needs from a `Request`. */
export interface WorkerRequest {
  method: string;
  /** Path and query, e.g. `/v2/models/churn/infer`. */
  path: string;
  contentType?: string | null;
  authorization?: string | null;
  apiKey?: string | null;
  /** The id the request log files it under (`cf-ray`, `x-request-id`, or a new UUID). */
  requestId?: string | null;
  /** The request's headers, names in lowercase (`Object.fromEntries(request.headers)`): the
   * `SCORELET_SPLIT_KEY = header:NAME` of an A/B test is read from them. */
  headers?: Record<string, string> | null;
  body: Uint8Array;
  /** The body was cut at the limit: answer 413. */
  tooLarge?: boolean;
}
/** The answer: a JSON body (Prometheus text for `/metrics`). */
export interface WorkerResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Structured log lines (JSON) to print: the request's metrics, and every minute the live drift. */
  log: string[];
}
/** The worker's configuration (its environment bindings). */
export interface WorkerEnv {
  /** `NAME@VERSION` or `NAME@ALIAS` to fetch when no bundle is embedded. */
  SCORELET_MODEL?: string;
  SCORELET_REGISTRY_URL?: string;
  SCORELET_REGISTRY_READ_TOKEN?: string;
  /** When set, scoring and metadata routes need this key. */
  SCORELET_API_KEY?: string;
  SCORELET_ENGINE?: "auto" | "compiled" | "tract";
  /** The publisher's Ed25519 public key (hex): fetched bundles must be signed with it. */
  SCORELET_REGISTRY_PUBLIC_KEY?: string;
  /** Bearer JWTs accepted beside the API key: the `iss` and `aud` they must carry... */
  SCORELET_JWT_ISSUER?: string;
  SCORELET_JWT_AUDIENCE?: string;
  /** ...and their keys: a JWKS document (JSON text), the issuer's JWKS URL, an HS256 secret. */
  SCORELET_JWT_JWKS?: string;
  SCORELET_JWT_JWKS_URL?: string;
  SCORELET_JWT_SECRET?: string;
  /** `on` (default) or `off`: metrics, and the log lines that carry them. */
  SCORELET_METRICS?: string;
  /** One scored row in this many is counted for drift (default 32). */
  SCORELET_DRIFT_SAMPLE?: string;
  /** `off` (default), `on` or `payload`: a request-log line per request in `log`. */
  SCORELET_REQUEST_LOG?: "off" | "on" | "payload";
  /** With `payload`: one request in this many logs its rows and predictions (default 1). */
  SCORELET_REQUEST_LOG_SAMPLE?: string;
  /** Comma-separated input columns never logged. */
  SCORELET_REQUEST_LOG_DENY?: string;
  /** A second model (`NAME@VERSION` or `NAME@ALIAS`, same registry) for an A/B test, canary or shadow. */
  SCORELET_CANDIDATE?: string;
  /** The candidate's share of the traffic: `0.2` or `20%`. */
  SCORELET_CANDIDATE_SHARE?: string;
  /** `column:NAME`, `header:NAME` or `random` (default). */
  SCORELET_SPLIT_KEY?: string;
  /** `split` (default) or `shadow`. */
  SCORELET_EXPERIMENT_MODE?: "split" | "shadow";
}
"#;

/// The worker's environment and embedded files, seen through the guest's [`Platform`].
struct Worker {
    env: JsValue,
    files: JsValue,
}

impl Platform for Worker {
    /// `model` is read from the `SCORELET_MODEL` binding, like the Lambda bootstrap's variables.
    async fn variable(&self, name: &'static str) -> Option<String> {
        let key = format!("SCORELET_{}", name.to_ascii_uppercase());
        Reflect::get(&self.env, &key.into()).ok()?.as_string().filter(|v| !v.is_empty())
    }

    async fn get(&self, url: &str, token: Option<&str>) -> Result<Vec<u8>, String> {
        get(url, token).await
    }

    fn bundle(&self) -> Option<scorelet::Result<scorelet::Bundle>> {
        crate::trap::fault_point(crate::trap::Fault::Load);
        self.files.dyn_ref::<Object>().map(bundle)
    }

    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn clock(&self) -> Option<scorelet::time::Clock> {
        Some(performance_now_ns)
    }
}

/// `performance.now()` in nanoseconds (0 where the engine has none). Workers advance it only
/// between I/O, so their latency metrics count waiting, not computing.
fn performance_now_ns() -> u64 {
    let global = js_sys::global();
    let now = Reflect::get(&global, &"performance".into()).ok().and_then(|p| {
        let f = Reflect::get(&p, &"now".into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
        f.call0(&p).ok()?.as_f64()
    });
    now.map_or(0, |ms| (ms * 1e6) as u64)
}

/// Wall-clock milliseconds of the last drift log line.
static LAST_DRIFT_LOG: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Milliseconds between drift log lines.
const DRIFT_LOG_EVERY_MS: u64 = 60_000;

fn field(v: &JsValue, name: &str) -> Option<String> {
    Reflect::get(v, &name.into()).ok()?.as_string()
}

/// Answers one HTTP request. `files` is an embedded bundle (`{ "manifest.json": Uint8Array, … }`)
/// or `null` to fetch `env.SCORELET_MODEL` from `env.SCORELET_REGISTRY_URL` on the first request.
/// The model stays loaded in the isolate; a failed load answers 503 and is retried with backoff.
/// A panic inside rejects the promise (and the package restarts for the next request).
#[wasm_bindgen(js_name = handleRequest, unchecked_return_type = "Promise<WorkerResponse>")]
pub fn handle_request(
    #[wasm_bindgen(unchecked_param_type = "WorkerRequest")] request: JsValue,
    #[wasm_bindgen(unchecked_param_type = "WorkerEnv")] env: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Record<string, Uint8Array> | null")] files: JsValue,
) -> js_sys::Promise {
    crate::trap::guarded(async move { Ok(answer(request, env, files).await) })
}

async fn answer(request: JsValue, env: JsValue, files: JsValue) -> JsValue {
    let method = field(&request, "method").unwrap_or_default();
    let path = field(&request, "path").unwrap_or_else(|| "/".into());
    let body = Reflect::get(&request, &"body".into()).ok().and_then(|b| b.dyn_into::<Uint8Array>().ok());
    let too_large = Reflect::get(&request, &"tooLarge".into()).is_ok_and(|v| v.is_truthy());
    let request_log = field(&env, "SCORELET_REQUEST_LOG")
        .is_some_and(|m| !matches!(LogMode::parse(&m), Ok(LogMode::Off) | Err(_)))
        .then(|| field(&request, "requestId").unwrap_or_default());
    let response = match body {
        _ if too_large => HttpResponse::body_too_large(MAX_BODY),
        Some(b) if b.length() as usize > MAX_BODY => HttpResponse::body_too_large(MAX_BODY),
        body => {
            let body = body.map(|b| b.to_vec()).unwrap_or_default();
            let (content_type, authorization, api_key) =
                (field(&request, "contentType"), field(&request, "authorization"), field(&request, "apiKey"));
            let platform = Worker { env, files };
            // The split header's value, from the request's headers (names in lowercase).
            let split_key = match scorelet_guest::split_header(&platform).await {
                Some(h) => Reflect::get(&request, &"headers".into()).ok().and_then(|hs| field(&hs, &h)),
                None => None,
            };
            let req = HttpRequest {
                method: &method,
                path: &path,
                content_type: content_type.as_deref(),
                authorization: authorization.as_deref(),
                api_key: api_key.as_deref(),
                body: &body,
                observe: Observe::Yes,
                split_key: split_key.as_deref(),
            };
            let answer = scorelet_guest::handle(&platform, req).await;
            crate::trap::fault_point(crate::trap::Fault::Score);
            answer
        }
    };
    let headers = Object::new();
    let log = js_sys::Array::new();
    let now = js_sys::Date::now() as u64;
    for (k, v) in &response.headers {
        if *k == OBSERVATION_HEADER {
            if let Ok(o) = serde_json::from_str::<Observation>(v) {
                log.push(&text::log_request(&o, now).into());
                if let Some(id) = &request_log {
                    log.push(&requests::request_line(&o, id, now).into());
                }
            }
            continue;
        }
        let _ = Reflect::set(&headers, &(*k).into(), &v.into());
    }
    if now.saturating_sub(LAST_DRIFT_LOG.load(std::sync::atomic::Ordering::Relaxed)) >= DRIFT_LOG_EVERY_MS
        && let Some(line) = scorelet_guest::with_metrics(|m| text::log_drift(m, now)).flatten()
    {
        LAST_DRIFT_LOG.store(now, std::sync::atomic::Ordering::Relaxed);
        log.push(&line.into());
    }
    let _ = Reflect::set(&headers, &"content-type".into(), &response.content_type.into());
    let out = Object::new();
    let _ = Reflect::set(&out, &"status".into(), &response.status.into());
    let _ = Reflect::set(&out, &"headers".into(), &headers);
    let _ = Reflect::set(&out, &"body".into(), &String::from_utf8_lossy(&response.body).as_ref().into());
    let _ = Reflect::set(&out, &"log".into(), &log);
    out.into()
}
