//! scorelet's scoring function as a Spin HTTP component on spin-sdk 7: exports
//! `wasi:http/handler@0.3.0` (Spin ≥ 4.1, wasmtime ≥ 46, `scorelet serve`). WASI 0.3 hosts reuse
//! instances, so the model loaded by the first request stays warm for the ones after it.
//!
//! This file only translates spin-sdk types; routing and the model's life cycle live in
//! `scorelet-guest` and the core.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, Limited};
use scorelet::metrics::{OBSERVE_HEADER, Observe};
use scorelet::service::{HttpRequest, HttpResponse};
use scorelet_guest::{MAX_BODY, MAX_FETCH, Platform};
use spin_sdk::http::{Request, StatusCode};

struct Spin;

impl Platform for Spin {
    async fn variable(&self, name: &'static str) -> Option<String> {
        spin_sdk::variables::get(name).await.ok().filter(|v| !v.is_empty())
    }

    async fn lookup(&self, name: &'static str) -> Result<Option<String>, String> {
        match spin_sdk::variables::get(name).await {
            Ok(v) => Ok(Some(v).filter(|v| !v.is_empty())),
            Err(spin_sdk::variables::Error::Undefined(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn get(&self, url: &str, token: Option<&str>) -> Result<Vec<u8>, String> {
        let mut req = http::Request::get(url);
        if let Some(t) = token {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
        let resp = spin_sdk::http::send(req).await.map_err(|e| format!("{e:?}"))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_FETCH).collect().await.map_err(|e| e.to_string())?.to_bytes();
        if !status.is_success() {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])));
        }
        Ok(body.to_vec())
    }
}

fn header(req: &Request, name: http::header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn respond(r: HttpResponse) -> http::Response<Full<Bytes>> {
    let mut b = http::Response::builder().status(r.status).header(http::header::CONTENT_TYPE, r.content_type);
    for (k, v) in r.headers {
        b = b.header(k, v);
    }
    b.body(Full::new(Bytes::from(r.body))).unwrap_or_else(|_| {
        let mut resp = http::Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

#[spin_sdk::http_service]
async fn handle(req: Request) -> http::Response<Full<Bytes>> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
    let content_type = header(&req, http::header::CONTENT_TYPE).map(str::to_string);
    let authorization = header(&req, http::header::AUTHORIZATION).map(str::to_string);
    let api_key = header(&req, http::header::HeaderName::from_static("x-api-key")).map(str::to_string);
    let observe = Observe::from_header(header(&req, http::header::HeaderName::from_static(OBSERVE_HEADER)));
    let split_key = match scorelet_guest::split_header(&Spin).await {
        Some(h) => req.headers().get(h.as_str()).and_then(|v| v.to_str().ok()).map(str::to_string),
        None => None,
    };
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return respond(HttpResponse::body_too_large(MAX_BODY)),
        Err(e) => {
            return respond(HttpResponse::problem(400, "bad_body", format!("could not read the request body: {e}")));
        }
    };
    let req = HttpRequest {
        method: &method,
        path: &path,
        content_type: content_type.as_deref(),
        authorization: authorization.as_deref(),
        api_key: api_key.as_deref(),
        body: &body,
        observe,
        split_key: split_key.as_deref(),
    };
    respond(scorelet_guest::handle(&Spin, req).await)
}

// The `wizer-initialize` export `scorelet build` pre-initializes the component with.
scorelet_guest::export_initializer!();
