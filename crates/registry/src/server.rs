//! `scorelet registry serve`: the registry's HTTP API (axum) over a [`Store`].
//! See `openapi.json` (served at `/v1/openapi.json`) for the contract.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::handler::HandlerWithoutStateExt;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;

use crate::archive;
use crate::auth::{Scope, Token};
use crate::promote::{Requirement, gate};
use crate::store::{Store, StoreError};

/// Largest body of the small JSON requests (alias moves).
const SMALL_BODY: usize = 64 << 10;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bearer token required for writes; `None` refuses every write.
    pub write_token: Option<String>,
    /// Bearer token required for reads; `None` leaves reads open.
    pub read_token: Option<String>,
    /// Largest upload accepted, in bytes (413 beyond).
    pub max_upload: usize,
    /// A directory of static files (the demo page) served at `/` beside the API; read-only,
    /// confined to the directory, no listings.
    pub site: Option<PathBuf>,
    /// How long a client may take to send a request's headers (then the connection is closed).
    pub header_timeout: Duration,
    /// How long a request may take from its headers to its answer, body included (then 408).
    pub request_timeout: Duration,
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Named tokens with scopes (`registry serve --tokens-file`), beside the two above (which
    /// act as tokens named `write`, with every scope, and `read`).
    pub tokens: Vec<Token>,
    /// Reads need a token with `read` even without a read token.
    pub closed_reads: bool,
    /// Aliases that only move through the promote endpoint (`production` by default).
    pub protected: Vec<String>,
    /// Requirements every promotion must meet, whatever the request asks for.
    pub gate: Vec<Requirement>,
    /// Every promotion must also not be worse than the version this alias points at.
    pub not_worse_than: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            write_token: None,
            read_token: None,
            max_upload: 64 << 20,
            site: None,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_connections: 256,
            tokens: Vec::new(),
            closed_reads: false,
            protected: vec!["production".into()],
            gate: Vec::new(),
            not_worse_than: None,
        }
    }
}

struct AppState {
    store: Store,
    config: Config,
    /// Every credential: the configured tokens and the two legacy ones.
    tokens: Vec<Token>,
    closed_reads: bool,
}

type Shared = Arc<AppState>;

/// An API error: status + `{"error": {"code", "message"}}`.
struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(scorelet::error::error_body(self.1, &self.2))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"scorelet\""));
        }
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let (s, c) = match e.status() {
            404 => (StatusCode::NOT_FOUND, "not_found"),
            400 => (StatusCode::BAD_REQUEST, "invalid"),
            409 => (StatusCode::CONFLICT, "conflict"),
            412 => (StatusCode::PRECONDITION_FAILED, "moved"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
        };
        if s == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("{e}");
        }
        ApiError(s, c, e.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Compares secrets in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    scorelet::service::constant_time_eq(a.as_bytes(), b.as_bytes())
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    h.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The name (and address) a write is recorded under, if a token allows `scope` on `model`;
/// else 401 (no token), 403 (a token that is wrong or lacks the scope). Every token is compared
/// in constant time, so the answer's timing does not say which one nearly matched.
fn authorize(s: &AppState, h: &HeaderMap, peer: SocketAddr, scope: Scope, model: Option<&str>) -> ApiResult<String> {
    if scope == Scope::Read && !s.closed_reads {
        return Ok(format!("anonymous ({})", peer.ip()));
    }
    if scope != Scope::Read && !s.tokens.iter().any(|t| t.scopes.iter().any(|sc| *sc != Scope::Read)) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this registry was started without a write token; it is read-only".into(),
        ));
    }
    let Some(given) = bearer(h) else {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this request needs `Authorization: Bearer <token>`".into(),
        ));
    };
    let mut found = None;
    for t in &s.tokens {
        if same(given, &t.secret) {
            found = Some(t);
        }
    }
    match found {
        Some(t) if t.allows(scope, model) => Ok(format!("{} ({})", t.name, peer.ip())),
        Some(t) => Err(ApiError(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token {:?} has no `{}` scope{}",
                t.name,
                format!("{scope:?}").to_lowercase(),
                model.map(|m| format!(" for model {m:?}")).unwrap_or_default()
            ),
        )),
        None => Err(ApiError(StatusCode::FORBIDDEN, "forbidden", "the token is not valid for this request".into())),
    }
}

fn version(v: &str) -> ApiResult<u64> {
    v.parse::<u64>().ok().filter(|v| *v > 0).ok_or_else(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("version {:?} is not a positive integer", v.chars().take(40).collect::<String>()),
        )
    })
}

async fn models(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
) -> ApiResult<Response> {
    authorize(&s, &h, peer, Scope::Read, None)?;
    Ok(short_cache(Json(json!({"models": s.store.models()?})).into_response()))
}

async fn versions(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    authorize(&s, &h, peer, Scope::Read, Some(&name))?;
    Ok(short_cache(Json(json!({"name": name, "versions": s.store.versions(&name)?})).into_response()))
}

/// `Content-Length`, when the client sent one that parses.
fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

fn too_large(limit: usize) -> ApiError {
    ApiError(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("this body is limited to {} KiB (uploads: `registry serve --max-upload-mb`)", limit >> 10),
    )
}

/// Streams a request body into `to`, refusing it as soon as it passes `limit` bytes.
async fn stream_to_file(body: Body, to: &std::path::Path, limit: usize) -> ApiResult<()> {
    use http_body_util::BodyExt;
    use tokio::io::AsyncWriteExt;
    let storage = |e: std::io::Error| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "storage", e.to_string());
    let mut file = tokio::fs::File::create(to).await.map_err(storage)?;
    let mut body = body;
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid", format!("the upload was cut off: {e}")))?;
        if let Ok(chunk) = frame.into_data() {
            seen += chunk.len();
            if seen > limit {
                return Err(too_large(limit));
            }
            file.write_all(&chunk).await.map_err(storage)?;
        }
    }
    file.flush().await.map_err(storage)
}

/// Publishes an uploaded tar. The token is checked from the headers before a byte of the body
/// is read, and the body streams to a file in the store's staging area with the limit enforced
/// as bytes arrive, so an unauthenticated or oversized upload costs the server nothing.
async fn publish(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let by = authorize(&s, &h, peer, Scope::Write, Some(&name))?;
    if !scorelet::bundle::valid_model_name(&name) {
        return Err(StoreError::Invalid(format!(
            "model name {:?} is not [a-z0-9][a-z0-9._-]{{0,63}}",
            name.chars().take(80).collect::<String>()
        ))
        .into());
    }
    let limit = s.config.max_upload;
    if content_length(&h).is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let upload = s.store.upload_path()?;
    stream_to_file(body, upload.path(), limit).await?;
    let store = s.clone();
    let n = name.clone();
    let v = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(upload.path()).map_err(StoreError::from)?;
        let (manifest, files) = archive::unpack(std::io::BufReader::new(file), limit)
            .map_err(|m| ApiError(StatusCode::BAD_REQUEST, "invalid", m))?;
        drop(upload);
        Ok::<_, ApiError>(store.store.publish(&n, &manifest, files, &by)?)
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "storage", e.to_string()))??;
    let digest = scorelet::bundle::sha256_hex(&s.store.manifest(&name, v)?);
    let body = json!({"name": name, "version": v, "ref": format!("{name}@{v}"), "digest": digest});
    let mut r = (StatusCode::CREATED, Json(body)).into_response();
    r.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v1/models/{name}/versions/{v}/manifest.json")).expect("ascii"),
    );
    Ok(r)
}

async fn put_version(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    Path((name, v)): Path<(String, String)>,
) -> ApiResult<Response> {
    authorize(&s, &h, peer, Scope::Write, Some(&name))?;
    let v = version(&v)?;
    if s.store.manifest(&name, v).is_ok() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "{name}@{v} is published and immutable; publish a new version with POST /v1/models/{name}/versions"
            ),
        ));
    }
    Err(ApiError(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("versions are assigned by the registry: POST /v1/models/{name}/versions"),
    ))
}

fn if_none_match(h: &HeaderMap, etag: &str) -> bool {
    h.get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

/// A single `Range: bytes=…` of a body of `len` bytes, as inclusive offsets within it; `None`
/// when it is malformed, multiple or unsatisfiable (416).
pub fn parse_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let r = header.strip_prefix("bytes=")?;
    let (a, b) = r.split_once('-')?;
    let last = len.checked_sub(1)?;
    let (a, b) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            if n == 0 {
                return None;
            }
            (len.saturating_sub(n), last)
        }
        (a, "") => (a.parse().ok()?, last),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(last)),
    };
    (a <= b && b < len).then_some((a, b))
}

/// Serves immutable bytes with a strong ETag, long caching, `If-None-Match` and single `Range`s.
fn immutable(h: &HeaderMap, bytes: Vec<u8>, etag: String, content_type: &'static str) -> Response {
    let etag = format!("\"{etag}\"");
    let base = |status: StatusCode| {
        let mut b = Response::builder()
            .status(status)
            .header(header::ETAG, &etag)
            .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
            .header(header::ACCEPT_RANGES, "bytes");
        if status != StatusCode::NOT_MODIFIED {
            b = b.header(header::CONTENT_TYPE, content_type);
        }
        b
    };
    if if_none_match(h, &etag) {
        return base(StatusCode::NOT_MODIFIED).body(Body::empty()).expect("response");
    }
    if let Some(range) = h.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        let len = bytes.len() as u64;
        return match parse_range(range, len) {
            Some((a, b)) => base(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {a}-{b}/{len}"))
                .body(Body::from(bytes[a as usize..=b as usize].to_vec()))
                .expect("response"),
            _ => Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Body::empty())
                .expect("response"),
        };
    }
    base(StatusCode::OK).body(Body::from(bytes)).expect("response")
}

fn short_cache(mut r: Response) -> Response {
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=10"));
    r
}

async fn manifest(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    Path((name, v)): Path<(String, String)>,
) -> ApiResult<Response> {
    authorize(&s, &h, peer, Scope::Read, Some(&name))?;
    let v = version(&v)?;
    let bytes = s.store.manifest(&name, v)?;
    let etag = scorelet::bundle::sha256_hex(&bytes);
    Ok(immutable(&h, bytes, etag, "application/json"))
}

async fn file(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    Path((name, v, f)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    authorize(&s, &h, peer, Scope::Read, Some(&name))?;
    let v = version(&v)?;
    let (path, sha) = s.store.file(&name, v, &f)?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "storage", e.to_string()))?;
    let ct = if f.ends_with(".json") {
        "application/json"
    } else if f.ends_with(".html") {
        "text/html; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    Ok(immutable(&h, bytes, sha, ct))
}

async fn aliases(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    authorize(&s, &h, peer, Scope::Read, Some(&name))?;
    Ok(short_cache(Json(json!({"name": name, "aliases": s.store.aliases(&name)?})).into_response()))
}

async fn alias_get(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    Path((name, alias)): Path<(String, String)>,
) -> ApiResult<Response> {
    authorize(&s, &h, peer, Scope::Read, Some(&name))?;
    let doc = s.store.alias(&name, &alias)?;
    let etag = format!("\"{}\"", crate::store::alias_etag(&doc));
    let mut r = short_cache(Json(doc).into_response());
    r.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
    Ok(r)
}

async fn alias_put(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    Path((name, alias)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let by = authorize(&s, &h, peer, Scope::Write, Some(&name))?;
    // The (small) body is read before a protected alias is refused, so the client gets the
    // answer instead of a connection closed under its body.
    let body = axum::body::to_bytes(body, SMALL_BODY).await.map_err(|_| too_large(SMALL_BODY))?;
    protected(&s, &name, &alias)?;
    let v = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|b| b.get("version")?.as_u64())
        .ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, "invalid", "the body must be {\"version\": N}".into()))?;
    Ok(Json(s.store.set_alias(&name, &alias, v, &by, None)?).into_response())
}

async fn alias_delete(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    Path((name, alias)): Path<(String, String)>,
) -> ApiResult<Response> {
    // A protected alias is deleted with the `promote` scope.
    let scope = if s.config.protected.contains(&alias) { Scope::Promote } else { Scope::Write };
    let by = authorize(&s, &h, peer, scope, Some(&name))?;
    s.store.delete_alias(&name, &alias, &by)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `?offset=&limit=` of the history endpoint.
#[derive(serde::Deserialize)]
struct Page {
    #[serde(default)]
    offset: usize,
    #[serde(default = "Page::default_limit")]
    limit: usize,
}

impl Page {
    const MAX: usize = 1000;
    fn default_limit() -> usize {
        100
    }
}

async fn alias_history(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    Path((name, alias)): Path<(String, String)>,
    page: Result<axum::extract::Query<Page>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    authorize(&s, &h, peer, Scope::Read, Some(&name))?;
    let axum::extract::Query(page) = page.map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid", e.body_text()))?;
    let limit = page.limit.clamp(1, Page::MAX);
    let (moves, more) = s.store.alias_history(&name, &alias, page.offset, limit)?;
    let next = more.then(|| page.offset + moves.len());
    Ok(Json(json!({"name": name, "alias": alias, "offset": page.offset, "moves": moves, "next": next})).into_response())
}

/// Refuses direct moves of a protected alias.
fn protected(s: &AppState, name: &str, alias: &str) -> ApiResult<()> {
    if s.config.protected.iter().any(|p| p == alias) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "protected",
            format!(
                "{alias:?} is a protected alias: move it with POST /v1/models/{name}/aliases/{alias}/promote \
                 (`scorelet promote`), which needs the `promote` scope and checks the gate"
            ),
        ));
    }
    Ok(())
}

/// The body of a promotion.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Promotion {
    version: u64,
    #[serde(default)]
    require: Vec<String>,
    #[serde(default)]
    not_worse_than: Option<String>,
}

/// Moves an alias (protected or not) after the gate passes on the server, against the stored
/// manifests: the server's own requirements and the request's. The move is a compare-and-swap
/// on the alias document: against `If-Match` when the client sends one, else against the
/// document the gate compared with, so a move between the check and the write is refused (412).
async fn promote(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    Path((name, alias)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let by = authorize(&s, &h, peer, Scope::Promote, Some(&name))?;
    let body = axum::body::to_bytes(body, SMALL_BODY).await.map_err(|_| too_large(SMALL_BODY))?;
    let p: Promotion = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!(
                "the body must be {{\"version\": N, \"require\": [\"roc_auc>=0.83\"], \"not_worse_than\": ALIAS}}: {e}"
            ),
        )
    })?;
    let bad = |m: String| ApiError(StatusCode::BAD_REQUEST, "invalid", m);
    let mut reqs = s.config.gate.clone();
    for r in &p.require {
        reqs.push(r.parse::<Requirement>().map_err(bad)?);
    }
    let candidate = s.store.parsed_manifest(&name, p.version)?;
    let mut incumbents = Vec::new();
    for a in s.config.not_worse_than.iter().chain(p.not_worse_than.iter()) {
        match s.store.alias(&name, a) {
            Ok(doc) => incumbents
                .push((format!("{name}@{a} (version {})", doc.version), s.store.parsed_manifest(&name, doc.version)?)),
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut reasons = Vec::new();
    if incumbents.is_empty() {
        reasons.extend(gate(&candidate.metrics, &reqs, None).err().unwrap_or_default());
    }
    for (label, m) in &incumbents {
        reasons.extend(gate(&candidate.metrics, &reqs, Some((label, &m.metrics))).err().unwrap_or_default());
    }
    reasons.dedup();
    if !reasons.is_empty() {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "gate_failed",
            format!("refusing to promote {name}@{} to {alias}: {}", p.version, reasons.join("; ")),
        ));
    }
    let expected = match h.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        Some(v) => Some(v.trim().trim_matches('"').to_string()),
        None => s.store.alias(&name, &alias).ok().map(|d| crate::store::alias_etag(&d)),
    };
    let expected = Some(expected);
    let doc = s.store.set_alias(&name, &alias, p.version, &by, expected.as_ref().map(|e| e.as_deref()))?;
    let etag = format!("\"{}\"", crate::store::alias_etag(&doc));
    let mut r = Json(doc).into_response();
    r.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
    Ok(r)
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

async fn fallback() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not_found", "no such route; see /v1/openapi.json".into())
}

/// The router over a store.
pub fn router(store: Store, config: Config) -> Router {
    let site = config.site.clone();
    let mut tokens = config.tokens.clone();
    if let Some(w) = &config.write_token {
        tokens.push(Token {
            name: "write".into(),
            secret: w.clone(),
            scopes: vec![Scope::Read, Scope::Write, Scope::Promote],
            models: None,
        });
    }
    if let Some(r) = &config.read_token {
        tokens.push(Token { name: "read".into(), secret: r.clone(), scopes: vec![Scope::Read], models: None });
    }
    let closed_reads = config.closed_reads || config.read_token.is_some();
    let state = Arc::new(AppState { store, config, tokens, closed_reads });
    let api = Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/models", get(models))
        .route("/v1/models/{name}/versions", get(versions).post(publish))
        .route("/v1/models/{name}/versions/{version}", axum::routing::put(put_version))
        .route("/v1/models/{name}/versions/{version}/manifest.json", get(manifest))
        .route("/v1/models/{name}/versions/{version}/files/{file}", get(file))
        .route("/v1/models/{name}/aliases", get(aliases))
        .route("/v1/models/{name}/aliases/{alias}", get(alias_get).put(alias_put).delete(alias_delete))
        .route("/v1/models/{name}/aliases/{alias}/history", get(alias_history))
        .route("/v1/models/{name}/aliases/{alias}/promote", axum::routing::post(promote));
    // tower-http's ServeDir rejects `..` and absolute paths, guesses content types
    // (`application/wasm` for the package) and answers conditional and range requests.
    let api = match site {
        Some(dir) => api.fallback_service(
            ServeDir::new(dir).append_index_html_on_directories(true).not_found_service(fallback.into_service()),
        ),
        None => api.fallback(fallback),
    };
    api.layer(DefaultBodyLimit::max(SMALL_BODY))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::HEAD])
                .expose_headers([header::ETAG, header::CONTENT_RANGE]),
        )
        .with_state(state)
}

/// Serves until `shutdown` resolves: HTTP/1.1 with a header deadline, a deadline on each
/// request (body included), and at most `max_connections` connections at once.
///
/// Written on hyper rather than `axum::serve`, which has neither deadlines nor a connection
/// limit: a client that sends half a request line would otherwise hold a connection forever.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    config: Config,
    tls: Option<crate::tls::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let (header_timeout, request_timeout) = (config.header_timeout, config.request_timeout);
    let permits = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    let app = router(store, config);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => return Ok(()),
        };
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
        let (app, tls) = (app.clone(), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                async move {
                    let (method, path) = (req.method().clone(), req.uri().path().to_string());
                    let answer = app.oneshot(req.map(Body::new));
                    Ok::<_, std::convert::Infallible>(match tokio::time::timeout(request_timeout, answer).await {
                        Ok(Ok(r)) => {
                            if matches!(r.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                                tracing::warn!(%peer, %method, path = %path.chars().take(200).collect::<String>(), status = r.status().as_u16(), "refused: authentication");
                            }
                            r
                        }
                        Ok(Err(never)) => match never {},
                        Err(_) => {
                            let mut r = ApiError(
                                StatusCode::REQUEST_TIMEOUT,
                                "request_timeout",
                                format!("the request did not complete within {} s", request_timeout.as_secs()),
                            )
                            .into_response();
                            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                            r
                        }
                    })
                }
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
            let ended = match tls {
                None => http.serve_connection(TokioIo::new(stream), service).await,
                // The handshake counts against the header deadline.
                Some(tls) => match tokio::time::timeout(header_timeout, tls.accept(stream)).await {
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
