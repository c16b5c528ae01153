//! The HTTP scoring function for edge workers: the same routes, statuses and JSON bodies as the
//! Spin component, because both go through `scorelet-guest` and the core's `service`. The JS
//! side (`worker/worker.mjs`) only turns a `Request` into a [`handle_request`] call and the result
//! into a `Response`.

use js_sys::{Object, Reflect, Uint8Array};
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
  body: Uint8Array;
  /** The body was cut at the limit: answer 413. */
  tooLarge?: boolean;
}
/** The answer: always a JSON body. */
export interface WorkerResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
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
}

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
    let response = match body {
        _ if too_large => HttpResponse::body_too_large(MAX_BODY),
        Some(b) if b.length() as usize > MAX_BODY => HttpResponse::body_too_large(MAX_BODY),
        body => {
            let body = body.map(|b| b.to_vec()).unwrap_or_default();
            let (content_type, authorization, api_key) =
                (field(&request, "contentType"), field(&request, "authorization"), field(&request, "apiKey"));
            let req = HttpRequest {
                method: &method,
                path: &path,
                content_type: content_type.as_deref(),
                authorization: authorization.as_deref(),
                api_key: api_key.as_deref(),
                body: &body,
            };
            let answer = scorelet_guest::handle(&Worker { env, files }, req).await;
            crate::trap::fault_point(crate::trap::Fault::Score);
            answer
        }
    };
    let headers = Object::new();
    for (k, v) in &response.headers {
        let _ = Reflect::set(&headers, &(*k).into(), &v.into());
    }
    let _ = Reflect::set(&headers, &"content-type".into(), &"application/json".into());
    let out = Object::new();
    let _ = Reflect::set(&out, &"status".into(), &response.status.into());
    let _ = Reflect::set(&out, &"headers".into(), &headers);
    let _ = Reflect::set(&out, &"body".into(), &String::from_utf8_lossy(&response.body).as_ref().into());
    out.into()
}
