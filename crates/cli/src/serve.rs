//! `scorelet serve`: the scoring component under the embedded wasmtime host (the local `spin up`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use scorelet::Bundle;
use scorelet::config::var;
use scorelet::registry::ModelRef;
use scorelet_host::server::{self, Limits};
use scorelet_host::{HttpComponent, Settings};

use crate::secrets::{MIN_TOKEN, secret};

/// Where the component's model comes from.
#[derive(Debug, Clone, clap::Args)]
#[group(required = false, multiple = false)]
pub struct SourceArgs {
    /// Serve this bundle directory (no network): embedded in the built-in component and
    /// pre-initialized when its model runs on the compiled engine (kept in the cache, so the
    /// next start with the same bundle is ready at once), else mounted read-only.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Fetch NAME@VERSION or NAME@ALIAS from the registry when the component starts.
    #[arg(long)]
    pub model: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Registry base URL (with --model).
    #[arg(long, env = "SCORELET_REGISTRY_URL", default_value = "http://127.0.0.1:8700")]
    pub registry: String,
    /// File holding the registry's read token, if the registry needs one (else
    /// SCORELET_REGISTRY_READ_TOKEN).
    #[arg(long)]
    pub registry_read_token_file: Option<PathBuf>,
    /// The publisher's Ed25519 public key (hex): the fetched bundle must be signed with it.
    #[arg(long, env = "SCORELET_REGISTRY_PUBLIC_KEY")]
    pub registry_public_key: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// The component to run (default: the one built into this binary).
    #[arg(long, env = "SCORELET_COMPONENT")]
    pub component: Option<PathBuf>,
    /// File holding the key scoring and metadata routes require (`Authorization: Bearer` or
    /// `X-API-Key`; else SCORELET_API_KEY). An empty key is an error.
    #[arg(long)]
    pub api_key_file: Option<PathBuf>,
    /// Most component instances at once.
    #[arg(long, default_value_t = 8)]
    pub instances: usize,
    /// Deadline for one request inside the component, in seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Seconds a client has to send its request headers (slow clients are cut off).
    #[arg(long, default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds a client has to send its request body.
    #[arg(long, default_value_t = 30)]
    pub body_timeout: u64,
    /// Where compiled components are cached.
    #[arg(long, env = "SCORELET_CACHE")]
    pub cache: Option<PathBuf>,
    /// The engine that runs the model inside the component: auto, compiled or tract.
    #[arg(long, env = "SCORELET_ENGINE", default_value = "auto")]
    pub engine: String,
    /// Request, latency and drift metrics across every instance (`GET /metrics`,
    /// `GET /v2/models/{name}/stats`): on or off.
    #[arg(long, env = "SCORELET_METRICS", default_value = "on", value_parser = ["on", "off"])]
    pub metrics: String,
    /// One scored row in this many is counted in the live drift histograms (1: every row).
    #[arg(long, env = "SCORELET_DRIFT_SAMPLE", default_value_t = scorelet::service::DEFAULT_DRIFT_SAMPLE,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub drift_sample: u64,
    /// Request logs, one JSON line per request: off, on, or payload (with the rows and
    /// predictions). Needs metrics on.
    #[arg(long, env = "SCORELET_REQUEST_LOG", default_value = "off", value_parser = ["off", "on", "payload"])]
    pub request_log: String,
    /// Write the request log to this file (rotated by size) instead of stdout.
    #[arg(long, env = "SCORELET_REQUEST_LOG_FILE")]
    pub request_log_file: Option<PathBuf>,
    /// Rotate the request-log file when it would pass this many bytes.
    #[arg(long, default_value_t = 100_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_log_max_bytes: u64,
    /// Rotated request-log files kept (FILE.1 is the newest).
    #[arg(long, default_value_t = 5)]
    pub request_log_keep: usize,
    /// With `--request-log payload`: one request in this many logs its rows and predictions.
    #[arg(long, env = "SCORELET_REQUEST_LOG_SAMPLE", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_log_sample: u64,
    /// Input columns never written to the request log (comma-separated; personal data).
    #[arg(long, env = "SCORELET_REQUEST_LOG_DENY", default_value = "")]
    pub request_log_deny: String,
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    #[command(flatten)]
    pub jwt: JwtArgs,
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
    /// PEM file of CA certificates the component trusts for its outgoing https (the registry of
    /// --model, --jwt-jwks-url) beside the built-in web roots: a private CA.
    #[arg(long, env = "SCORELET_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

/// A second model beside the primary: an A/B test, a canary, a gradual rollout or a shadow.
#[derive(Debug, Default, clap::Args)]
pub struct ExperimentArgs {
    /// The candidate: NAME@VERSION or NAME@ALIAS from the registry (--registry).
    #[arg(long, env = "SCORELET_CANDIDATE", conflicts_with = "candidate_bundle")]
    pub candidate: Option<String>,
    /// The candidate as a bundle directory (mounted read-only).
    #[arg(long)]
    pub candidate_bundle: Option<PathBuf>,
    /// The candidate's share of the traffic: 0.2 or 20% (required in split mode).
    #[arg(long, env = "SCORELET_CANDIDATE_SHARE")]
    pub candidate_share: Option<String>,
    /// What traffic is split on: column:NAME (row by row), header:NAME, or random.
    #[arg(long, env = "SCORELET_SPLIT_KEY", default_value = "random")]
    pub split_key: String,
    /// split (the candidate answers its share) or shadow (both score, the primary answers).
    #[arg(long, env = "SCORELET_EXPERIMENT_MODE", default_value = "split", value_parser = ["split", "shadow"])]
    pub experiment_mode: String,
}

impl ExperimentArgs {
    /// Checks the experiment and puts it in the component's variables and mounts; returns a
    /// line for the terminal, and whether the candidate needs tract.
    fn configure(&self, registry: &str, settings: &mut Settings) -> Result<Option<(String, bool)>> {
        let source = match (&self.candidate, &self.candidate_bundle) {
            (None, None) => {
                if self.candidate_share.is_some() {
                    anyhow::bail!(
                        "--candidate-share needs a candidate: --candidate NAME@REF or --candidate-bundle DIR"
                    );
                }
                return Ok(None);
            }
            (Some(m), _) => {
                let _: ModelRef = m.parse()?;
                settings.variables.insert(var::CANDIDATE.into(), m.clone());
                settings.variables.entry(var::REGISTRY_URL.into()).or_insert_with(|| registry.to_string());
                (format!("{m} from {registry}"), false)
            }
            (None, Some(dir)) => {
                let b =
                    Bundle::load_dir(dir).with_context(|| format!("cannot use the candidate in {}", dir.display()))?;
                settings.dirs.push((dir.canonicalize()?, "/candidate".into()));
                settings.variables.insert(var::CANDIDATE_BUNDLE_DIR.into(), "/candidate".into());
                let label = format!(
                    "{}@{}",
                    b.manifest.name,
                    b.manifest.version.map_or("unpublished".into(), |v| v.to_string())
                );
                (label, !runs_compiled(&b))
            }
        };
        let e = scorelet::experiment::Experiment::parse(
            self.candidate_share.as_deref(),
            Some(&self.split_key),
            Some(&self.experiment_mode),
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        if let Some(share) = &self.candidate_share {
            settings.variables.insert(var::CANDIDATE_SHARE.into(), share.clone());
        }
        settings.variables.insert(var::SPLIT_KEY.into(), self.split_key.clone());
        settings.variables.insert(var::EXPERIMENT_MODE.into(), self.experiment_mode.clone());
        let how = match e.mode {
            scorelet::experiment::Mode::Shadow => "shadow (the primary answers)".to_string(),
            scorelet::experiment::Mode::Split => {
                format!("{:.2} % of the traffic, split on {}", e.share() * 100.0, self.split_key)
            }
        };
        Ok(Some((format!("candidate: {}: {how}", source.0), source.1)))
    }
}

/// Bearer JWTs the scoring and metadata routes accept beside the API key (either opens them).
#[derive(Debug, Default, clap::Args)]
pub struct JwtArgs {
    /// The `iss` tokens must carry (required with any JWT key option).
    #[arg(long, env = "SCORELET_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The `aud` tokens must carry or list (required with any JWT key option).
    #[arg(long, env = "SCORELET_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// A JWKS document (JSON file) with the RS256, EdDSA or HS256 keys tokens are signed with
    /// (else the document text in SCORELET_JWT_JWKS).
    #[arg(long)]
    pub jwt_jwks: Option<PathBuf>,
    /// URL of the issuer's JWKS document, read by the component (again when a token names a
    /// key it lacks).
    #[arg(long, env = "SCORELET_JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<String>,
    /// File holding an HS256 shared secret of 32 bytes or more (else SCORELET_JWT_SECRET).
    #[arg(long)]
    pub jwt_secret_file: Option<PathBuf>,
}

impl JwtArgs {
    /// The component variables for these options, checked here so a bad key file stops
    /// `serve` with its reason instead of closing the routes of a running server.
    fn variables(&self) -> Result<Vec<(&'static str, String)>> {
        let jwks = match &self.jwt_jwks {
            Some(f) => {
                Some(std::fs::read_to_string(f).with_context(|| format!("cannot read the JWKS file {}", f.display()))?)
            }
            None => std::env::var("SCORELET_JWT_JWKS").ok(),
        };
        let secret = secret(self.jwt_secret_file.as_deref(), "SCORELET_JWT_SECRET", "JWT secret", 32)?;
        if jwks.is_none() && secret.is_none() && self.jwt_jwks_url.is_none() {
            if self.jwt_issuer.is_some() || self.jwt_audience.is_some() {
                anyhow::bail!(
                    "--jwt-issuer/--jwt-audience need a key: give --jwt-jwks, --jwt-jwks-url or --jwt-secret-file"
                );
            }
            return Ok(Vec::new());
        }
        let (Some(issuer), Some(audience)) = (&self.jwt_issuer, &self.jwt_audience) else {
            anyhow::bail!(
                "JWT keys are given without --jwt-issuer and --jwt-audience: give the values tokens must carry"
            );
        };
        let mut v = scorelet::jwt::Verifier::new(issuer, audience).map_err(anyhow::Error::msg)?;
        if let Some(s) = &secret {
            v.add_secret(s.as_bytes()).map_err(anyhow::Error::msg)?;
        }
        if let Some(doc) = &jwks {
            v.add_jwks(doc).map_err(|e| anyhow::anyhow!("the JWKS document is not usable: {e}"))?;
        }
        let mut out = vec![(var::JWT_ISSUER, issuer.clone()), (var::JWT_AUDIENCE, audience.clone())];
        out.extend(jwks.map(|d| (var::JWT_JWKS, d)));
        out.extend(secret.map(|s| (var::JWT_SECRET, s)));
        out.extend(self.jwt_jwks_url.clone().map(|u| (var::JWT_JWKS_URL, u)));
        Ok(out)
    }
}

/// The default compile cache.
pub fn cache_dir(given: Option<&Path>) -> Option<PathBuf> {
    given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/scorelet/compiled")))
}

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/components.rs"));
}

/// The host's metrics (and request log), when on; passes what the component needs to know of
/// them as its variables.
fn observer(a: &ServeArgs, settings: &mut Settings) -> Result<Option<Arc<scorelet_host::Observer>>> {
    use scorelet_host::requestlog::{RequestLog, Target};
    if a.metrics == "off" {
        anyhow::ensure!(
            a.request_log == "off",
            "--request-log needs metrics (its lines are the metrics' observations): drop --metrics off"
        );
        return Ok(None);
    }
    if a.request_log == "off" {
        return Ok(Some(Arc::new(scorelet_host::Observer::new())));
    }
    settings.variables.insert(var::REQUEST_LOG.into(), a.request_log.clone());
    settings.variables.insert(var::REQUEST_LOG_SAMPLE.into(), a.request_log_sample.to_string());
    settings.variables.insert(var::REQUEST_LOG_DENY.into(), a.request_log_deny.clone());
    let target = match &a.request_log_file {
        Some(path) => Target::File { path: path.clone(), max_bytes: a.request_log_max_bytes, keep: a.request_log_keep },
        None => Target::Stdout,
    };
    let log = RequestLog::open(target)?;
    Ok(Some(Arc::new(scorelet_host::Observer::with_request_log(log))))
}

/// The scoring component built into this binary (see `crates/cli/build.rs`): WASI 0.3, or 0.2;
/// `lean` asks for the build without tract (taken when it is built in, else the full one).
/// Returns the bytes and whether they are the lean build.
pub fn default_component(p2: bool, lean: bool) -> Result<(&'static [u8], bool)> {
    let (c, lean_c, what) =
        if p2 { (builtin::P2, builtin::P2_LEAN, "WASI 0.2") } else { (builtin::P3, builtin::P3_LEAN, "WASI 0.3") };
    if let Some(l) = lean_c.filter(|_| lean) {
        return Ok((l, true));
    }
    let c = c.with_context(|| {
        format!(
            "this scorelet binary was built without the {what} component: run scripts/build-wasm.sh and rebuild \
             scorelet (scripts/build.sh), or pass --component FILE"
        )
    })?;
    Ok((c, false))
}

/// The component to run: `--component FILE`, or the built-in one (lean if `lean` and built in).
pub fn component_bytes(file: Option<&Path>, p2: bool, lean: bool) -> Result<(std::borrow::Cow<'static, [u8]>, String)> {
    Ok(match file {
        Some(f) => {
            (std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?.into(), f.display().to_string())
        }
        None => {
            let (c, lean) = default_component(p2, lean)?;
            let what = if p2 { "WASI 0.2" } else { "WASI 0.3" };
            (c.into(), format!("built-in {what}{}", if lean { " (lean: compiled engine, no tract)" } else { "" }))
        }
    })
}

/// Whether a bundle's model runs on the compiled engine, so the lean component (no tract) serves
/// it: the same decision `Engine::Auto` makes inside the component.
fn runs_compiled(bundle: &Bundle) -> bool {
    let m = &bundle.manifest.model;
    bundle.file(&m.file).is_some_and(|onnx| {
        scorelet::model::Model::load_with(onnx, m.n_features, &m.output, scorelet::model::Engine::Compiled).is_ok()
    })
}

pub fn serve(a: &ServeArgs) -> Result<()> {
    let _: scorelet::model::Engine = a.engine.parse()?;
    let jwt = a.jwt.variables()?;
    // A bundle whose model runs on the compiled engine is served by the lean component.
    let mut lean = false;
    let mut settings = Settings {
        max_instances: a.instances.max(1),
        request_timeout: Duration::from_secs(a.timeout.max(1)),
        ..Settings::default()
    };
    if let Some(ca) = &a.ca_cert {
        settings.ca_roots = scorelet_host::read_ca_certificates(ca)?;
    }
    let cache = cache_dir(a.cache.as_deref());
    // A model on the compiled engine, served by the built-in component, is embedded in it and
    // pre-initialized (cached by digest), so no instance loads it; others are mounted.
    let mut preinitialized = None;
    let source = match (&a.source.bundle, &a.source.model) {
        (Some(dir), _) => {
            let b = Bundle::load_dir(dir).with_context(|| format!("cannot serve the bundle in {}", dir.display()))?;
            // Loaded on the automatic engine, as the component will; a bundle that fails its
            // self-check is mounted, so the component says why.
            let loaded = scorelet::service::load(&b);
            lean =
                a.engine != "tract" && loaded.as_ref().map_or_else(|_| runs_compiled(&b), |s| s.engine() == "compiled");
            match &cache {
                Some(c) if a.component.is_none() && lean && loaded.is_ok() => {
                    let (base, _) = component_bytes(None, false, true)?;
                    preinitialized = Some(crate::build::preinitialized_cached(c, &base, &b)?);
                }
                _ => {
                    settings.dirs.push((dir.canonicalize()?, "/bundle".into()));
                    settings.variables.insert(var::BUNDLE_DIR.into(), "/bundle".into());
                }
            }
            format!(
                "bundle {} ({}@{})",
                dir.display(),
                b.manifest.name,
                b.manifest.version.map_or("unpublished".into(), |v| v.to_string())
            )
        }
        (None, Some(m)) => {
            let _: ModelRef = m.parse()?;
            settings.variables.insert(var::MODEL.into(), m.clone());
            settings.variables.insert(var::REGISTRY_URL.into(), a.registry.clone());
            let token =
                secret(a.registry_read_token_file.as_deref(), "SCORELET_REGISTRY_READ_TOKEN", "read token", MIN_TOKEN)?;
            if let Some(t) = token {
                settings.variables.insert(var::REGISTRY_READ_TOKEN.into(), t);
            }
            if let Some(k) = a.registry_public_key.as_deref().filter(|k| !k.is_empty()) {
                scorelet::bundle::seal::PublicKey::from_hex(k)?;
                settings.variables.insert(var::REGISTRY_PUBLIC_KEY.into(), k.to_string());
            }
            format!("{m} from {}", a.registry)
        }
        (None, None) => "the model embedded in the component".into(),
    };
    let candidate = a.experiment.configure(&a.registry, &mut settings)?;
    if a.experiment.candidate.is_some() {
        // A candidate from the registry reads with the same token and key as a model from it.
        if !settings.variables.contains_key(var::REGISTRY_READ_TOKEN)
            && let Some(t) =
                secret(a.registry_read_token_file.as_deref(), "SCORELET_REGISTRY_READ_TOKEN", "read token", MIN_TOKEN)?
        {
            settings.variables.insert(var::REGISTRY_READ_TOKEN.into(), t);
        }
        if let Some(k) = a.registry_public_key.as_deref().filter(|k| !k.is_empty()) {
            scorelet::bundle::seal::PublicKey::from_hex(k)?;
            settings.variables.insert(var::REGISTRY_PUBLIC_KEY.into(), k.to_string());
        }
    }
    if let Some((_, true)) = &candidate {
        // A candidate that needs tract is not served by the lean component.
        lean = false;
        if let Some(_w) = preinitialized.take() {
            settings.dirs.push((
                a.source.bundle.as_ref().expect("preinitialized from --bundle").canonicalize()?,
                "/bundle".into(),
            ));
            settings.variables.insert(var::BUNDLE_DIR.into(), "/bundle".into());
        }
    }
    settings.variables.insert(var::ENGINE.into(), a.engine.clone());
    settings.variables.insert(var::METRICS.into(), a.metrics.clone());
    settings.variables.insert(var::DRIFT_SAMPLE.into(), a.drift_sample.to_string());
    let observer = observer(a, &mut settings)?;
    let (wasm, component_path) = match preinitialized {
        Some(w) => (w.into(), "built-in WASI 0.3 (lean), the bundle embedded and pre-initialized".to_string()),
        None => component_bytes(a.component.as_deref(), false, lean)?,
    };
    if let Some(k) = secret(a.api_key_file.as_deref(), "SCORELET_API_KEY", "API key", 1)? {
        settings.variables.insert(var::API_KEY.into(), k);
    }
    for (name, value) in jwt {
        settings.variables.insert(name.into(), value);
    }
    let t = Instant::now();
    let engine = scorelet_host::component::engine(settings.max_instances, settings.max_memory)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let key = cache.as_deref().map(|d| (d, scorelet_host::CacheKey::new(&engine, &wasm)));
    let how = match &key {
        Some((d, k)) if k.is_in(d) => "machine code from the cache",
        Some(_) => "compiled with Cranelift (cached for next time)",
        None => "compiled with Cranelift",
    };
    let compiled = scorelet_host::load_keyed(&engine, &wasm, key.as_ref().map(|(d, k)| (*d, k)))
        .with_context(|| format!("cannot load the component ({component_path})"))?;
    let component = HttpComponent::new(engine, compiled, settings)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .with_context(|| format!("cannot link the component ({component_path})"))?;
    let loaded_ms = t.elapsed().as_secs_f64() * 1e3;
    let component = Arc::new(component);
    let tls = a.tls.acceptor()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(&a.addr).await.with_context(|| format!("cannot listen on {}", a.addr))?;
        eprintln!(
            "component {} ({}, {} bytes): {how}, {loaded_ms:.0} ms",
            component_path,
            component.interface(),
            wasm.len()
        );
        // Warm one instance so the first request does not pay for loading the model.
        let t = Instant::now();
        let probe = http::Request::get("http://localhost/v2/health/ready").body(Bytes::new())?;
        match component.handle(probe).await {
            Ok(r) if r.status() == 200 => {
                eprintln!("model: {source}: loaded and self-checked in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
                if let Some((line, _)) = &candidate {
                    let status: serde_json::Value = serde_json::from_slice(r.body()).unwrap_or_default();
                    match status["candidate"]["error"].as_str() {
                        Some(why) => eprintln!("{line}: NOT LOADED ({why}); the primary answers everything"),
                        None => eprintln!("{line}"),
                    }
                }
            }
            Ok(r) => eprintln!("model: {source}: NOT READY ({}): {}", r.status(), String::from_utf8_lossy(r.body())),
            Err(e) => eprintln!("model: {source}: the component failed: {e:?}"),
        }
        eprintln!(
            "scoring on {}://{}  (POST /invocations, POST /v2/models/{{name}}/infer, GET /v2/health/ready, GET /metrics)",
            a.tls.scheme(),
            listener.local_addr()?
        );
        let limits = Limits {
            header_timeout: Duration::from_secs(a.header_timeout.max(1)),
            body_timeout: Duration::from_secs(a.body_timeout.max(1)),
            ..Limits::default()
        };
        server::serve(component, observer, listener, limits, tls, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}
