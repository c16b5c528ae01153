//! scorelet's scoring function for Spin releases that only take WASI 0.2 (Spin 2.x to 4.0):
//! spin-sdk 5.2's `#[http_component]`, exporting `wasi:http/incoming-handler@0.2.0`. The same
//! core and `scorelet-guest` as the WASI 0.3 build; only the SDK types differ. WASI 0.2 hosts
//! make a new instance per request, so the model loads on every request (see the docs for the
//! cost); prefer the 0.3 build where the platform takes it.

use futures::StreamExt;
use scorelet::metrics::{OBSERVE_HEADER, Observe};
use scorelet::service::{HttpRequest, HttpResponse};
use scorelet_guest::{MAX_BODY, MAX_FETCH, Platform};
use spin_sdk::http::{IncomingRequest, IncomingResponse, Request, Response};

struct Spin;

impl Platform for Spin {
    async fn variable(&self, name: &'static str) -> Option<String> {
        spin_sdk::variables::get(name).ok().filter(|v| !v.is_empty())
    }

    async fn lookup(&self, name: &'static str) -> Result<Option<String>, String> {
        match spin_sdk::variables::get(name) {
            Ok(v) => Ok(Some(v).filter(|v| !v.is_empty())),
            Err(spin_sdk::variables::Error::Undefined(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn get(&self, url: &str, token: Option<&str>) -> Result<Vec<u8>, String> {
        let mut req = Request::get(url);
        if let Some(t) = token {
            req.header("authorization", format!("Bearer {t}"));
        }
        let resp: IncomingResponse = spin_sdk::http::send(req.build()).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let mut stream = resp.take_body_stream();
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            body.extend(chunk.map_err(|e| e.to_string())?);
            if body.len() > MAX_FETCH {
                return Err(format!("the file is over {MAX_FETCH} bytes"));
            }
        }
        if !(200..300).contains(&status) {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])));
        }
        Ok(body)
    }
}

fn header(req: &IncomingRequest, name: &str) -> Option<String> {
    req.headers().get(name).into_iter().next().and_then(|v| String::from_utf8(v).ok())
}

fn respond(r: HttpResponse) -> Response {
    let mut b = Response::builder();
    b.status(r.status).header("content-type", r.content_type);
    for (k, v) in r.headers {
        b.header(k, v);
    }
    b.body(r.body).build()
}

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest) -> Response {
    let method = req.method().to_string();
    let path = req.path_with_query().unwrap_or_else(|| "/".into());
    let content_type = header(&req, "content-type");
    let authorization = header(&req, "authorization");
    let api_key = header(&req, "x-api-key");
    let observe = Observe::from_header(header(&req, OBSERVE_HEADER).as_deref());
    let split_key = match scorelet_guest::split_header(&Spin).await {
        Some(h) => header(&req, &h),
        None => None,
    };
    let mut stream = req.into_body_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => body.extend(c),
            Err(e) => {
                return respond(HttpResponse::problem(
                    400,
                    "bad_body",
                    format!("could not read the request body: {e}"),
                ));
            }
        }
        if body.len() > MAX_BODY {
            return respond(HttpResponse::body_too_large(MAX_BODY));
        }
    }
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
