//! `scorelet serve` (the component under the embedded wasmtime host: the local `spin up`) and
//! `scorelet build` (a component with a bundle embedded).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use scorelet::Bundle;
use scorelet::registry::ModelRef;
use scorelet_host::server::{self, Limits};
use scorelet_host::{HttpComponent, Settings};

/// Where the component's model comes from.
#[derive(Debug, Clone, clap::Args)]
#[group(required = false, multiple = false)]
pub struct SourceArgs {
    /// Serve this bundle directory (mounted read-only into the component; no network).
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
    #[arg(long, env = "SCORELET_REGISTRY", default_value = "http://127.0.0.1:8700")]
    pub registry: String,
    /// Registry read token, if the registry needs one.
    #[arg(long, env = "SCORELET_REGISTRY_READ_TOKEN", hide_env_values = true)]
    pub registry_token: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// The component to run (default: the one this project builds, or $SCORELET_COMPONENT).
    #[arg(long, env = "SCORELET_COMPONENT")]
    pub component: Option<PathBuf>,
    /// Require this key on scoring and metadata routes (`Authorization: Bearer` or `X-API-Key`).
    #[arg(long, env = "SCORELET_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
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
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The bundle directory to embed.
    #[arg(long)]
    pub bundle: PathBuf,
    /// Where to write the component.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Build the WASI 0.2 component (spin-sdk 5.2, for Spin ≤ 4.0) instead of WASI 0.3.
    #[arg(long)]
    pub wasi_p2: bool,
    /// The scorelet source tree (default: the one this binary was built from).
    #[arg(long, env = "SCORELET_SOURCE")]
    pub source: Option<PathBuf>,
}

/// The default compile cache.
pub fn cache_dir(given: Option<&Path>) -> Option<PathBuf> {
    given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/scorelet/compiled")))
}

fn target_dir() -> Option<PathBuf> {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(t));
    }
    // This binary lives in <target>/release/.
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.to_path_buf())
}

/// The component this project builds (`scripts/build-wasm.sh`).
pub fn default_component(p2: bool) -> Result<PathBuf> {
    let name = if p2 { "scorelet_spin_p2.wasm" } else { "scorelet_spin.wasm" };
    let path = target_dir().map(|t| t.join("wasm32-wasip2/release").join(name));
    match path {
        Some(p) if p.is_file() => Ok(p),
        p => bail!(
            "no component at {}; build it with `scripts/build-wasm.sh`, or pass --component FILE",
            p.map(|p| p.display().to_string()).unwrap_or_else(|| name.into())
        ),
    }
}

pub fn serve(a: &ServeArgs) -> Result<()> {
    let component_path = match &a.component {
        Some(c) => c.clone(),
        None => default_component(false)?,
    };
    let mut settings = Settings {
        max_instances: a.instances.max(1),
        request_timeout: Duration::from_secs(a.timeout.max(1)),
        ..Settings::default()
    };
    let source = match (&a.source.bundle, &a.source.model) {
        (Some(dir), _) => {
            let b = Bundle::load_dir(dir).with_context(|| format!("cannot serve the bundle in {}", dir.display()))?;
            settings.dirs.push((dir.canonicalize()?, "/bundle".into()));
            settings.variables.insert("bundle_dir".into(), "/bundle".into());
            format!(
                "bundle {} ({}@{})",
                dir.display(),
                b.manifest.name,
                b.manifest.version.map_or("unpublished".into(), |v| v.to_string())
            )
        }
        (None, Some(m)) => {
            let _: ModelRef = m.parse()?;
            settings.variables.insert("model".into(), m.clone());
            settings.variables.insert("registry_url".into(), a.registry.clone());
            if let Some(t) = &a.registry_token {
                settings.variables.insert("registry_token".into(), t.clone());
            }
            format!("{m} from {}", a.registry)
        }
        (None, None) => "the model embedded in the component".into(),
    };
    if let Some(k) = &a.api_key {
        settings.variables.insert("api_key".into(), k.clone());
    }
    let wasm = std::fs::read(&component_path).with_context(|| format!("cannot read {}", component_path.display()))?;
    let t = Instant::now();
    let cache = cache_dir(a.cache.as_deref());
    let engine = scorelet_host::component::engine(settings.max_instances, settings.max_memory)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let how = match &cache {
        Some(d) if scorelet_host::is_cached(&engine, &wasm, d) => "machine code from the cache",
        Some(_) => "compiled with Cranelift (cached for next time)",
        None => "compiled with Cranelift",
    };
    let compiled = scorelet_host::load_cached(&engine, &wasm, cache.as_deref())
        .with_context(|| format!("cannot load the component {}", component_path.display()))?;
    let component = HttpComponent::new(engine, compiled, settings)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .with_context(|| format!("cannot link the component {}", component_path.display()))?;
    let loaded_ms = t.elapsed().as_secs_f64() * 1e3;
    let component = Arc::new(component);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(&a.addr).await.with_context(|| format!("cannot listen on {}", a.addr))?;
        eprintln!(
            "component {} ({}, {} bytes): {how}, {loaded_ms:.0} ms",
            component_path.display(),
            component.interface(),
            wasm.len()
        );
        // Warm one instance so the first request does not pay for loading the model.
        let t = Instant::now();
        let probe = http::Request::get("http://localhost/v2/health/ready").body(Bytes::new())?;
        match component.handle(probe).await {
            Ok(r) if r.status() == 200 => {
                eprintln!("model: {source}: loaded and self-checked in {:.0} ms", t.elapsed().as_secs_f64() * 1e3)
            }
            Ok(r) => eprintln!("model: {source}: NOT READY ({}): {}", r.status(), String::from_utf8_lossy(r.body())),
            Err(e) => eprintln!("model: {source}: the component failed: {e:?}"),
        }
        eprintln!(
            "scoring on http://{}  (POST /invocations, POST /v2/models/{{name}}/infer, GET /v2/health/ready)",
            listener.local_addr()?
        );
        let limits = Limits {
            header_timeout: Duration::from_secs(a.header_timeout.max(1)),
            body_timeout: Duration::from_secs(a.body_timeout.max(1)),
            ..Limits::default()
        };
        server::serve(component, listener, limits, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}

pub fn build(a: &BuildArgs) -> Result<()> {
    let bundle =
        Bundle::load_dir(&a.bundle).with_context(|| format!("cannot embed the bundle in {}", a.bundle.display()))?;
    let source = match &a.source {
        Some(s) => s.clone(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."),
    };
    if !source.join("crates/guest/build.rs").is_file() {
        bail!("{} is not a scorelet source tree; pass --source DIR", source.display());
    }
    // Embed exactly what the manifest lists, nothing else from the directory.
    let staging = tempfile::tempdir()?;
    let staged = staging.path().join("bundle");
    bundle.write_dir(&staged)?;
    let package = if a.wasi_p2 { "scorelet-spin-p2" } else { "scorelet-spin" };
    let cargo = |embed: Option<&Path>| -> Result<()> {
        let mut c = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        c.current_dir(&source).args(["build", "--release", "--locked", "-p", package, "--target", "wasm32-wasip2"]);
        if let Some(t) = target_dir() {
            c.env("CARGO_TARGET_DIR", t);
        }
        match embed {
            Some(dir) => c.env("SCORELET_BUNDLE", dir),
            None => c.env_remove("SCORELET_BUNDLE"),
        };
        let status = c.status().context("cannot run cargo")?;
        if !status.success() {
            bail!("cargo build -p {package} failed");
        }
        Ok(())
    };
    cargo(Some(&staged))?;
    let built = default_component(a.wasi_p2)?;
    if let Some(parent) = a.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = a.output.with_extension("wasm.tmp");
    std::fs::copy(&built, &tmp)?;
    // Put the default (model-less) component back for `scorelet serve`.
    let restored = cargo(None);
    std::fs::rename(&tmp, &a.output)?;
    restored?;
    let size = std::fs::metadata(&a.output)?.len();
    eprintln!(
        "{}: {}@{} embedded, {size} bytes",
        a.output.display(),
        bundle.manifest.name,
        bundle.manifest.version.map_or("unpublished".into(), |v| v.to_string())
    );
    Ok(())
}
