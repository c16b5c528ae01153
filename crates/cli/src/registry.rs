//! Registry commands: `registry serve`, `push`, `pull`, `alias`, `models`, `versions`, `promote`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use scorelet::registry::{ModelRef, Reference};
use scorelet_registry::promote::{Requirement, gate};
use scorelet_registry::{Client, Config, Store};

/// Where the registry is and how to authenticate.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Registry base URL.
    #[arg(long, env = "SCORELET_REGISTRY_URL", default_value = "http://127.0.0.1:8700")]
    pub registry: String,
    /// The registry's write token (sent as `Authorization: Bearer`; also opens closed reads).
    #[arg(long, env = "SCORELET_REGISTRY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl RegistryArgs {
    fn client(&self) -> Client {
        Client::new(&self.registry, self.token.clone())
    }
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Storage directory (created if missing).
    #[arg(long)]
    pub root: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub addr: String,
    /// File holding the write token (else SCORELET_REGISTRY_TOKEN; without either the registry
    /// is read-only).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// File holding a read token (else SCORELET_REGISTRY_READ_TOKEN); reads then need it (or the
    /// write token).
    #[arg(long)]
    pub read_token_file: Option<PathBuf>,
    /// Largest upload, in MiB.
    #[arg(long, default_value_t = 64)]
    pub max_upload_mb: usize,
    /// Also serve this directory's static files at `/` (the demo page: `scripts/build-wasm.sh`
    /// assembles it).
    #[arg(long)]
    pub site: Option<PathBuf>,
    /// Seconds a client has to send its request headers (slow clients are cut off).
    #[arg(long, default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds a request may take from its headers to its answer, upload included (then 408).
    #[arg(long, default_value_t = 120)]
    pub request_timeout: u64,
    /// Connections served at once (more wait to be accepted).
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Storage directory of the registry to check.
    #[arg(long)]
    pub root: PathBuf,
}

/// `registry verify`: every version's digests and the audit log's chain; fails on any problem.
pub fn verify(a: &VerifyArgs) -> Result<()> {
    if !a.root.join("models").is_dir() {
        bail!("{} is not a registry root (no models/ directory)", a.root.display());
    }
    let store = Store::open(&a.root).with_context(|| format!("cannot open the store at {}", a.root.display()))?;
    let v = store.verify()?;
    for p in &v.problems {
        eprintln!("problem: {p}");
    }
    println!(
        "{} versions verified, {} audit records chained; audit head {}",
        v.versions, v.audit_records, v.audit_head
    );
    if !v.problems.is_empty() {
        bail!("{} problem(s) in {}", v.problems.len(), a.root.display());
    }
    Ok(())
}

fn read_token(p: &Path) -> Result<String> {
    let t = std::fs::read_to_string(p).with_context(|| format!("cannot read token file {}", p.display()))?;
    let t = t.trim().to_string();
    if t.len() < 16 {
        bail!("the token in {} is shorter than 16 characters", p.display());
    }
    Ok(t)
}

pub fn serve(a: &ServeArgs) -> Result<()> {
    let write_token = match &a.token_file {
        Some(p) => Some(read_token(p)?),
        None => std::env::var("SCORELET_REGISTRY_TOKEN").ok().filter(|t| !t.is_empty()),
    };
    let read_token = match &a.read_token_file {
        Some(p) => Some(read_token(p)?),
        None => std::env::var("SCORELET_REGISTRY_READ_TOKEN").ok().filter(|t| !t.is_empty()),
    };
    let store = Store::open(&a.root).with_context(|| format!("cannot open the store at {}", a.root.display()))?;
    if let Some(site) = &a.site
        && !site.join("index.html").is_file()
    {
        bail!("--site {} has no index.html; build the page with scripts/build-wasm.sh", site.display());
    }
    let config = Config {
        write_token: write_token.clone(),
        read_token,
        max_upload: a.max_upload_mb << 20,
        site: a.site.clone(),
        header_timeout: std::time::Duration::from_secs(a.header_timeout.max(1)),
        request_timeout: std::time::Duration::from_secs(a.request_timeout.max(1)),
        max_connections: a.max_connections.max(1),
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(&a.addr).await.with_context(|| format!("cannot listen on {}", a.addr))?;
        eprintln!(
            "registry on http://{} (root {}, {})",
            listener.local_addr()?,
            a.root.display(),
            if write_token.is_some() { "writes need the token" } else { "read-only: no write token" }
        );
        scorelet_registry::serve(listener, store, config, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}

pub fn push(dir: &Path, r: &RegistryArgs) -> Result<()> {
    let m = r.client().push(dir)?;
    println!("{m}");
    Ok(())
}

pub fn pull(reference: &str, out: &Path, r: &RegistryArgs) -> Result<()> {
    let m: ModelRef = reference.parse()?;
    let b = r.client().fetch(&m)?;
    b.write_dir(out)?;
    eprintln!("{}@{} → {} (every file verified)", b.manifest.name, b.manifest.version.unwrap_or(0), out.display());
    Ok(())
}

pub fn models(r: &RegistryArgs) -> Result<()> {
    for m in r.client().models()? {
        println!("{m}");
    }
    Ok(())
}

pub fn versions(name: &str, r: &RegistryArgs) -> Result<()> {
    let c = r.client();
    let aliases = c.aliases(name).unwrap_or_default();
    println!("{:>7}  {:<20}  {:<8}  {:>8}  {:>8}  aliases", "version", "created", "precision", "roc_auc", "accuracy");
    for v in c.versions(name)? {
        let n = v["version"].as_u64().unwrap_or(0);
        let names: Vec<&str> =
            aliases.iter().filter(|(_, d)| d["version"].as_u64() == Some(n)).map(|(a, _)| a.as_str()).collect();
        let metric = |k: &str| v["metrics"][k].as_f64().map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
        println!(
            "{n:>7}  {:<20}  {:<8}  {:>8}  {:>8}  {}",
            v["created"].as_str().unwrap_or(""),
            v["precision"].as_str().unwrap_or(""),
            metric("roc_auc"),
            metric("accuracy"),
            names.join(", ")
        );
    }
    Ok(())
}

#[derive(Debug, clap::Subcommand)]
pub enum AliasCommand {
    /// Point ALIAS at VERSION.
    #[command(after_help = "Example:\n  scorelet alias set churn staging 2")]
    Set { name: String, alias: String, version: u64 },
    /// Delete ALIAS.
    #[command(after_help = "Example:\n  scorelet alias rm churn staging")]
    Rm { name: String, alias: String },
    /// List aliases.
    #[command(after_help = "Example:\n  scorelet alias ls churn")]
    Ls { name: String },
}

pub fn alias(cmd: &AliasCommand, r: &RegistryArgs) -> Result<()> {
    let c = r.client();
    match cmd {
        AliasCommand::Set { name, alias, version } => {
            c.set_alias(name, alias, *version)?;
            println!("{name}@{alias} → {version}");
        }
        AliasCommand::Rm { name, alias } => c.delete_alias(name, alias)?,
        AliasCommand::Ls { name } => {
            for (a, d) in c.aliases(name)? {
                println!(
                    "{a:<16} {:>5}  {}  {}",
                    d["version"],
                    d["updated"].as_str().unwrap_or(""),
                    d["by"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

pub fn promote(
    name: &str,
    version: u64,
    to: &str,
    require: &[String],
    not_worse_than: Option<&str>,
    r: &RegistryArgs,
) -> Result<()> {
    let c = r.client();
    let reqs: Vec<Requirement> =
        require.iter().map(|s| s.parse::<Requirement>().map_err(anyhow::Error::msg)).collect::<Result<_>>()?;
    let candidate = c.manifest(name, version)?;
    let incumbent = match not_worse_than {
        Some(alias) => match c.resolve_alias(name, alias) {
            Ok(v) => Some((format!("{name}@{alias} (version {v})"), c.manifest(name, v)?.metrics)),
            Err(e) if e.to_string().contains("404") => {
                eprintln!("{name}@{alias} does not exist yet: nothing to compare with");
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    if let Err(reasons) = gate(&candidate.metrics, &reqs, incumbent.as_ref().map(|(l, m)| (l.as_str(), m))) {
        bail!("refusing to promote {name}@{version} to {to}:\n  - {}", reasons.join("\n  - "));
    }
    if let Ok(m) = format!("{name}@{to}").parse::<ModelRef>()
        && let Reference::Version(_) = m.reference
    {
        bail!("{to:?} is a version number, not an alias");
    }
    c.set_alias(name, to, version)?;
    println!("{name}@{to} → {version}");
    Ok(())
}
