//! Registry commands: `registry serve`, `push`, `pull`, `alias`, `models`, `versions`, `promote`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use scorelet::bundle::seal::{PublicKey, SecretKey};
use scorelet::registry::{ModelRef, Reference};
use scorelet_registry::promote::Requirement;
use scorelet_registry::{Client, Config, Store};

use crate::secrets::{MIN_TOKEN, secret};

/// Where the registry is and how to authenticate.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Registry base URL.
    #[arg(long, env = "SCORELET_REGISTRY_URL", default_value = "http://127.0.0.1:8700")]
    pub registry: String,
    /// File holding the registry's write token (else SCORELET_REGISTRY_TOKEN), sent as
    /// `Authorization: Bearer`; it also opens closed reads. Never given on the command line.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// The publisher's Ed25519 public key (hex, from `scorelet keygen`): pulled bundles must be
    /// signed with it.
    #[arg(long, env = "SCORELET_REGISTRY_PUBLIC_KEY")]
    pub public_key: Option<String>,
    /// PEM file of CA certificates to trust for an https registry instead of the built-in web
    /// roots (a private CA).
    #[arg(long, env = "SCORELET_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

impl RegistryArgs {
    fn client(&self) -> Result<Client> {
        let token = secret(self.token_file.as_deref(), "SCORELET_REGISTRY_TOKEN", "registry token", MIN_TOKEN)?;
        let client = Client::new(&self.registry, token);
        match &self.ca_cert {
            Some(ca) => client.trusting(ca),
            None => Ok(client),
        }
    }

    fn key(&self) -> Result<Option<PublicKey>> {
        Ok(match self.public_key.as_deref().filter(|k| !k.is_empty()) {
            Some(k) => Some(PublicKey::from_hex(k)?),
            None => None,
        })
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
    /// A TOML file of named tokens with scopes (read, write, promote) and optional models;
    /// see `doc/registry.md`. Used beside --token-file/--read-token-file.
    #[arg(long)]
    pub tokens_file: Option<PathBuf>,
    /// An alias that only moves through the promote endpoint, with its gate (repeatable;
    /// default `production`; `--protect none` protects nothing).
    #[arg(long, default_value = "production")]
    pub protect: Vec<String>,
    /// A requirement every promotion must meet, e.g. 'roc_auc>=0.83' (repeatable).
    #[arg(long)]
    pub require: Vec<String>,
    /// Every promotion must not be worse than the version this alias points at.
    #[arg(long)]
    pub not_worse_than: Option<String>,
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
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

pub fn serve(a: &ServeArgs) -> Result<()> {
    let write_token = secret(a.token_file.as_deref(), "SCORELET_REGISTRY_TOKEN", "write token", MIN_TOKEN)?;
    let read_token = secret(a.read_token_file.as_deref(), "SCORELET_REGISTRY_READ_TOKEN", "read token", MIN_TOKEN)?;
    let tokens = match &a.tokens_file {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("cannot read tokens file {}", p.display()))?;
            scorelet_registry::auth::TokensFile::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => Default::default(),
    };
    let tls = a.tls.acceptor()?;
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
        tokens: tokens.tokens,
        closed_reads: tokens.closed_reads,
        protected: a.protect.iter().filter(|p| p.as_str() != "none").cloned().collect(),
        gate: a.require.iter().map(|q| q.parse::<Requirement>().map_err(anyhow::Error::msg)).collect::<Result<_>>()?,
        not_worse_than: a.not_worse_than.clone(),
    };
    let writable = config.write_token.is_some()
        || config.tokens.iter().any(|t| t.scopes.iter().any(|s| *s != scorelet_registry::auth::Scope::Read));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(&a.addr).await.with_context(|| format!("cannot listen on {}", a.addr))?;
        eprintln!(
            "registry on {}://{} (root {}, {})",
            a.tls.scheme(),
            listener.local_addr()?,
            a.root.display(),
            if writable { "writes need a token" } else { "read-only: no write token" }
        );
        scorelet_registry::serve(listener, store, config, tls, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}

pub fn push(dir: &Path, sign: Option<&Path>, r: &RegistryArgs) -> Result<()> {
    let key = match sign {
        Some(p) => Some(SecretKey::from_hex(&secret(Some(p), "", "signing key", 64)?.expect("read from the file"))?),
        None => None,
    };
    let m = r.client()?.push_signed(dir, key.as_ref())?;
    println!("{m}");
    Ok(())
}

/// `keygen`: a new Ed25519 key pair for `push --sign`, as `PREFIX.key` (secret, mode 0600) and
/// `PREFIX.pub` (what runtimes are configured with).
pub fn keygen(prefix: &Path) -> Result<()> {
    let (secret_path, public_path) = (prefix.with_extension("key"), prefix.with_extension("pub"));
    for p in [&secret_path, &public_path] {
        if p.exists() {
            bail!("{} exists; keygen never overwrites a key", p.display());
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let key = SecretKey::from_seed(seed);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    std::io::Write::write_all(&mut opts.open(&secret_path)?, format!("{}\n", key.to_hex()).as_bytes())?;
    std::fs::write(&public_path, format!("{}\n", key.public().to_hex()))?;
    eprintln!(
        "secret key {} (keep it private: `scorelet push --sign {}`), public key {}",
        secret_path.display(),
        secret_path.display(),
        public_path.display()
    );
    println!("{}", key.public().to_hex());
    Ok(())
}

pub fn pull(reference: &str, out: &Path, r: &RegistryArgs) -> Result<()> {
    let m: ModelRef = reference.parse()?;
    let b = r.client()?.fetch_with_key(&m, r.key()?)?;
    b.write_dir(out)?;
    eprintln!("{}@{} → {} (every file verified)", b.manifest.name, b.manifest.version.unwrap_or(0), out.display());
    Ok(())
}

pub fn models(r: &RegistryArgs) -> Result<()> {
    for m in r.client()?.models()? {
        println!("{m}");
    }
    Ok(())
}

pub fn versions(name: &str, r: &RegistryArgs) -> Result<()> {
    let c = r.client()?;
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
    /// Move an alias back to where it pointed before its last move (from its history; a
    /// second rollback undoes the first). A protected alias moves through the promote gate.
    #[command(after_help = "Example:\n  scorelet alias rollback churn production")]
    Rollback { name: String, alias: String },
    /// List aliases.
    #[command(after_help = "Example:\n  scorelet alias ls churn")]
    Ls { name: String },
}

pub fn alias(cmd: &AliasCommand, r: &RegistryArgs) -> Result<()> {
    let c = r.client()?;
    match cmd {
        AliasCommand::Set { name, alias, version } => {
            c.set_alias(name, alias, *version)?;
            println!("{name}@{alias} → {version}");
        }
        AliasCommand::Rm { name, alias } => c.delete_alias(name, alias)?,
        AliasCommand::Rollback { name, alias } => {
            let (from, to) = c.rollback_alias(name, alias)?;
            match from {
                Some(from) => println!("{name}@{alias} → {to} (rolled back from {from})"),
                None => println!("{name}@{alias} → {to} (restored after its removal)"),
            }
        }
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
    if let Ok(m) = format!("{name}@{to}").parse::<ModelRef>()
        && let Reference::Version(_) = m.reference
    {
        bail!("{to:?} is a version number, not an alias");
    }
    // Checked here first for a message before any request; the server checks again, against
    // its stored manifests, and its answer is the one that counts.
    for q in require {
        q.parse::<Requirement>().map_err(anyhow::Error::msg)?;
    }
    r.client()?.promote(name, to, version, require, not_worse_than)?;
    println!("{name}@{to} → {version}");
    Ok(())
}
