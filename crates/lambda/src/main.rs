//! `bootstrap` for AWS Lambda's `provided.al2023` runtime: runs scorelet's scoring component
//! (the same `.wasm` Spin runs) in wasmtime for API Gateway (REST and HTTP APIs), Function URL
//! and ALB events, through the real `lambda_runtime` loop.
//!
//! The package (`scripts/package-lambda.sh`) holds this binary, `scorelet.wasm`, its
//! compilation in `compiled/` (so a cold start deserializes machine code instead of compiling),
//! and optionally a `bundle/` directory. Configuration comes from the function's environment:
//!
//! | variable | meaning |
//! |---|---|
//! | `SCORELET_MODEL`, `SCORELET_REGISTRY_URL`, `SCORELET_REGISTRY_READ_TOKEN` | fetch `NAME@VERSION` / `NAME@ALIAS` at cold start |
//! | `SCORELET_BUNDLE_DIR` | a bundle directory in the package (default: `bundle/` if present) |
//! | `SCORELET_API_KEY` | required key on scoring routes |
//! | `SCORELET_JWT_ISSUER`, `SCORELET_JWT_AUDIENCE`, `SCORELET_JWT_JWKS`, `SCORELET_JWT_JWKS_URL`, `SCORELET_JWT_SECRET` | bearer JWTs accepted beside the API key |
//! | `SCORELET_REGISTRY_PUBLIC_KEY`, `SCORELET_ENGINE` | the publisher key bundles must be signed with; the engine |
//! | `SCORELET_COMPONENT` | the component (default `$LAMBDA_TASK_ROOT/scorelet.wasm`) |
//! | `SCORELET_METRICS` | `off` drops the metrics; on, every invocation prints an Embedded Metric Format line (and the live drift one every minute) to stdout |
//! | `SCORELET_REQUEST_LOG`, `SCORELET_REQUEST_LOG_SAMPLE`, `SCORELET_REQUEST_LOG_DENY` | `on` or `payload`: a request-log JSON line per invocation on stdout, under the invocation's request id |
//! | `SCORELET_CANDIDATE` or `SCORELET_CANDIDATE_BUNDLE_DIR`, `SCORELET_CANDIDATE_SHARE`, `SCORELET_SPLIT_KEY`, `SCORELET_EXPERIMENT_MODE` | an A/B test, canary or shadow: the second model (registry reference, or a directory in the package), its share, the split key, the mode |
//!
//! A component built with `scorelet build --bundle` needs none of the model variables.
//!
//! `bootstrap precompile COMPONENT DIR` writes the compilation into DIR (used by the packaging
//! script, on a machine like the one the function runs on).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use lambda_http::{Body, Request, Response, service_fn};
use scorelet_host::{HttpComponent, Observer, Settings, component};

fn task_root() -> PathBuf {
    std::env::var_os("LAMBDA_TASK_ROOT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Where the compilation lives: the package's `compiled/` when it matches this machine, else
/// `/tmp` (the only writable place on Lambda).
fn cache_dir(key: &scorelet_host::CacheKey) -> PathBuf {
    let packaged = task_root().join("compiled");
    if key.is_in(&packaged) {
        packaged
    } else {
        tracing::warn!("no compilation for this CPU in the package; compiling into /tmp (slow cold start)");
        std::env::temp_dir().join("scorelet-compiled")
    }
}

fn settings() -> Result<Settings> {
    let mut s = Settings { inherit_stderr: true, max_instances: 1, ..Settings::default() };
    // Every `SCORELET_{NAME}` in the environment is the component variable `{name}` (the one
    // table in doc/configuration.md); this binary does not link the core that holds the table,
    // so it maps by the naming rule. The bundle directory is a host path and is mounted below.
    for (k, v) in std::env::vars() {
        if let Some(name) = k.strip_prefix("SCORELET_")
            && !v.is_empty()
            && !matches!(name, "BUNDLE_DIR" | "CANDIDATE_BUNDLE_DIR" | "COMPONENT" | "CA_CERT")
        {
            s.variables.insert(name.to_ascii_lowercase(), v);
        }
    }
    let bundle = env("SCORELET_BUNDLE_DIR").map(PathBuf::from).or_else(|| {
        let d = task_root().join("bundle");
        d.join("manifest.json").is_file().then_some(d)
    });
    if let Some(dir) = bundle {
        s.dirs.push((dir, "/bundle".into()));
        s.variables.insert("bundle_dir".into(), "/bundle".into());
    }
    if let Some(dir) = env("SCORELET_CANDIDATE_BUNDLE_DIR") {
        s.dirs.push((PathBuf::from(dir), "/candidate".into()));
        s.variables.insert("candidate_bundle_dir".into(), "/candidate".into());
    }
    if let Some(ca) = env("SCORELET_CA_CERT") {
        s.ca_roots = scorelet_host::read_ca_certificates(Path::new(&ca))
            .context("SCORELET_CA_CERT (the CA the component trusts for https)")?;
    }
    Ok(s)
}

fn load() -> Result<HttpComponent> {
    let path = env("SCORELET_COMPONENT").map(PathBuf::from).unwrap_or_else(|| task_root().join("scorelet.wasm"));
    let wasm = std::fs::read(&path).with_context(|| format!("cannot read the component {}", path.display()))?;
    let settings = settings()?;
    let engine = component::engine(settings.max_instances, settings.max_memory).map_err(anyhow::Error::from)?;
    let key = scorelet_host::CacheKey::new(&engine, &wasm);
    let cache = cache_dir(&key);
    let compiled = scorelet_host::load_keyed(&engine, &wasm, Some((&cache, &key)))?;
    HttpComponent::new(engine, compiled, settings).map_err(anyhow::Error::from)
}

/// Whether the function keeps metrics (`SCORELET_METRICS`, on unless `off`).
fn metrics_on() -> bool {
    !matches!(env("SCORELET_METRICS").as_deref(), Some("off" | "false" | "0"))
}

/// Whether each invocation gets a request-log line (`SCORELET_REQUEST_LOG` `on` or `payload`).
fn request_log_on() -> bool {
    let mode = scorelet_host::observe::LogMode::parse(&env("SCORELET_REQUEST_LOG").unwrap_or_default());
    mode.unwrap_or_else(|e| {
        tracing::error!("{e}; no request log");
        Default::default()
    }) != scorelet_host::observe::LogMode::Off
}

/// Prints the Embedded Metric Format lines of one invocation to stdout, where CloudWatch
/// takes them from, and its request-log line when asked.
fn emit(observer: &Observer, o: &scorelet_host::observe::Observation, request_id: Option<&str>) {
    let now_ms = scorelet_host::observe::epoch_ms();
    for line in observer.emf(o, now_ms) {
        println!("{line}");
    }
    if let Some(id) = request_id {
        observer.log_request(o, id, now_ms);
    }
}

/// Translates a Lambda HTTP event into the component's request and back, observing it when
/// `observer` is given.
async fn handle(
    component: &HttpComponent,
    observer: Option<&Observer>,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let started = Instant::now();
    let request_id = observer.is_some_and(Observer::logs_requests).then(|| {
        use lambda_http::RequestExt;
        req.lambda_context_ref().map_or_else(String::new, |c| c.request_id.clone())
    });
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if let Some(o) = observer {
        o.prepare(&mut parts.headers);
    }
    let body = Bytes::copy_from_slice(body.as_ref());
    let resp = match component.handle(http::Request::from_parts(parts, body)).await {
        Ok(mut r) => {
            if let Some(o) = observer
                && let Some(seen) = o.finish(&mut r, started.elapsed())
            {
                emit(o, &seen, request_id.as_deref());
            }
            r
        }
        Err(e) => {
            tracing::error!("component failed: {e:?}");
            if let Some(o) = observer {
                emit(o, &o.host_answered(&path, 500, "component_failed", started.elapsed()), request_id.as_deref());
            }
            let body = scorelet_host::server::error_body(
                "component_failed",
                "the scoring component failed on this request; see the function's log",
            );
            return Ok(Response::builder()
                .status(500)
                .header("content-type", "application/json")
                .body(Body::Text(body))?);
        }
    };
    let (parts, body) = resp.into_parts();
    let body = match String::from_utf8(body.to_vec()) {
        Ok(t) => Body::Text(t),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    Ok(Response::from_parts(parts, body))
}

fn precompile(component: &Path, dir: &Path) -> Result<()> {
    let wasm = std::fs::read(component).with_context(|| format!("cannot read {}", component.display()))?;
    let s = Settings { max_instances: 1, ..Settings::default() };
    let engine = component::engine(s.max_instances, s.max_memory).map_err(anyhow::Error::from)?;
    scorelet_host::load_cached(&engine, &wasm, Some(dir))?;
    anyhow::ensure!(
        scorelet_host::is_cached(&engine, &wasm, dir),
        "could not write the compilation into {}",
        dir.display()
    );
    Ok(())
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SCORELET_LOG").unwrap_or_else(|_| "info".into()))
        .with_ansi(false)
        .without_time()
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [cmd, component, dir] = args.as_slice()
        && cmd == "precompile"
    {
        return precompile(Path::new(component), Path::new(dir));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let t = Instant::now();
        let component = Arc::new(load()?);
        let observer = metrics_on()
            .then(|| {
                if !request_log_on() {
                    return Ok(Observer::new());
                }
                let log = scorelet_host::requestlog::RequestLog::open(scorelet_host::requestlog::Target::Stdout)?;
                Ok::<_, std::io::Error>(Observer::with_request_log(log))
            })
            .transpose()?
            .map(Arc::new);
        // Load the model during Lambda's init phase (not billed to the first request's latency
        // budget the same way, and a broken model shows up in the init log).
        let probe = http::Request::get("http://localhost/v2/health/ready").body(Bytes::new())?;
        match component.handle(probe).await {
            Ok(r) if r.status() == 200 => {
                tracing::info!(
                    "ready in {:.1} ms: {}",
                    t.elapsed().as_secs_f64() * 1e3,
                    String::from_utf8_lossy(r.body())
                )
            }
            Ok(r) => tracing::error!("model not ready: {}", String::from_utf8_lossy(r.body())),
            Err(e) => tracing::error!("component failed at init: {e:?}"),
        }
        lambda_http::run(service_fn(move |req| {
            let (component, observer) = (component.clone(), observer.clone());
            async move { handle(&component, observer.as_deref(), req).await }
        }))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
    })
}
