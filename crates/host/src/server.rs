//! An HTTP/1.1 server in front of an [`HttpComponent`]: what `spin up` does for a Spin app,
//! with the protections a public endpoint needs before a request reaches the guest — a deadline
//! for request headers (slow-loris), a deadline and a size limit for the body — each answered
//! with the same JSON error shape the component uses.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::{HttpComponent, Observer};

/// Limits applied before the component sees a request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body read from a client (the component applies its own, lower limit).
    pub max_body: usize,
    /// Time allowed for a client to send its request headers.
    pub header_timeout: Duration,
    /// Time allowed for a client to send its request body.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_body: 16 << 20, header_timeout: Duration::from_secs(10), body_timeout: Duration::from_secs(30) }
    }
}

/// The error body every scorelet endpoint uses (`scorelet_envelope::error_body`), as text.
pub fn error_body(code: &str, message: &str) -> String {
    scorelet_envelope::error_body(code, message).to_string()
}

fn json_error(status: u16, code: &str, message: &str) -> http::Response<Full<Bytes>> {
    let body = error_body(code, message);
    let mut r = http::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

/// Reads the body within the limits and hands the request to the component; with an
/// observer, counts the request in its metrics.
async fn answer(
    component: &HttpComponent,
    observer: Option<&Observer>,
    limits: Limits,
    req: http::Request<Incoming>,
) -> http::Response<Full<Bytes>> {
    let started = std::time::Instant::now();
    let path = req.uri().path().to_string();
    let request_id = observer.and_then(|o| o.request_id(req.headers()));
    let (mut resp, code, seen) = respond(component, observer, limits, req, started).await;
    let Some(o) = observer else { return resp };
    let seen = match code {
        Some(code) => Some(o.host_answered(&path, resp.status().as_u16(), code, started.elapsed())),
        None => seen,
    };
    if let (Some(id), Some(seen)) = (request_id, seen) {
        o.log_request(&seen, &id, crate::observe::epoch_ms());
        if let Ok(v) = http::HeaderValue::from_str(&id) {
            resp.headers_mut().insert("x-request-id", v);
        }
    }
    resp
}

/// The answer, the error code when the host answered it itself (not the component), and the
/// component's observation of it.
async fn respond(
    component: &HttpComponent,
    observer: Option<&Observer>,
    limits: Limits,
    req: http::Request<Incoming>,
    started: std::time::Instant,
) -> (http::Response<Full<Bytes>>, Option<&'static str>, Option<scorelet_metrics::Observation>) {
    // Liveness is the host's to answer: a component busy with a stalled load must not make the
    // process look dead.
    if req.method() == http::Method::GET && req.uri().path().trim_end_matches('/') == "/v2/health/live" {
        let mut r = http::Response::new(Full::new(Bytes::from_static(b"{\"live\":true}")));
        r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        return (r, None, None);
    }
    let (mut parts, body) = req.into_parts();
    let body = match tokio::time::timeout(limits.body_timeout, Limited::new(body, limits.max_body).collect()).await {
        Err(_) => {
            let why = format!("the request body did not arrive within {} s", limits.body_timeout.as_secs());
            return (json_error(408, "request_timeout", &why), Some("request_timeout"), None);
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            let why = format!("the request body is over the limit of {} bytes", limits.max_body);
            return (json_error(413, "body_too_large", &why), Some("body_too_large"), None);
        }
        Ok(Err(e)) => {
            let r = json_error(400, "bad_body", &format!("could not read the request body: {e}"));
            return (r, Some("bad_body"), None);
        }
        Ok(Ok(b)) => b.to_bytes(),
    };
    let (method, path) = (parts.method.clone(), parts.uri.path().to_string());
    match observer {
        Some(o) => o.prepare(&mut parts.headers),
        // Only the host asks a component for observations.
        None => drop(parts.headers.remove(scorelet_metrics::OBSERVE_HEADER)),
    }
    match component.handle(http::Request::from_parts(parts, body)).await {
        Ok(mut resp) => {
            tracing::debug!(%method, %path, status = resp.status().as_u16(), ms = started.elapsed().as_secs_f64() * 1e3);
            let seen = observer.and_then(|o| o.finish(&mut resp, started.elapsed()));
            (resp.map(Full::new), None, seen)
        }
        Err(e) if e.is::<crate::component::Unavailable>() => {
            tracing::warn!(%method, %path, "unavailable: {e}");
            let mut r = json_error(503, "unavailable", &e.to_string());
            r.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            (r, Some("unavailable"), None)
        }
        Err(e) => {
            tracing::error!(%method, %path, "component failed: {e:?}");
            let r =
                json_error(500, "component_failed", "the scoring component failed on this request; see the server log");
            (r, Some("component_failed"), None)
        }
    }
}

/// Serves `component` on `listener` (over TLS with `tls`) until `shutdown` resolves, counting
/// every request in `observer`'s metrics when given.
pub async fn serve(
    component: Arc<HttpComponent>,
    observer: Option<Arc<Observer>>,
    listener: TcpListener,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let (component, observer, tls) = (component.clone(), observer.clone(), tls.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (component, observer) = (component.clone(), observer.clone());
                async move { Ok::<_, std::convert::Infallible>(answer(&component, observer.as_deref(), limits, req).await) }
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
            let ended = match tls {
                None => http.serve_connection(TokioIo::new(stream), service).await,
                // The handshake counts against the header deadline.
                Some(tls) => match tokio::time::timeout(limits.header_timeout, tls.accept(stream)).await {
                    Ok(Ok(stream)) => http.serve_connection(TokioIo::new(stream), service).await,
                    Ok(Err(e)) => return tracing::debug!(%peer, "TLS handshake failed: {e}"),
                    Err(_) => return tracing::debug!(%peer, "TLS handshake not done within the header deadline"),
                },
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
}
