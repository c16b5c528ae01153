//! The registry's storage: a directory tree of immutable versions and small alias documents.
//!
//! ```text
//! ROOT/models/NAME/versions/N/manifest.json, features.json, model.onnx, …   (never rewritten)
//! ROOT/models/NAME/aliases/ALIAS.json            {"version", "updated", "by"}
//! ROOT/models/NAME/aliases/ALIAS.history.jsonl   one line per move
//! ROOT/audit.jsonl                                one line per write
//! ROOT/tmp/                                       uploads being written (cleared at start)
//! ```
//!
//! A publish writes every file into `tmp/`, fsyncs it, then claims version N by renaming the
//! directory to `versions/N`: the rename is atomic, so a crash at any point leaves either no
//! version or a complete one, and two publishers can never get the same N (the second rename
//! fails and tries N+1). The read side is plain files, servable from any object store or CDN.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use scorelet::bundle::{Bundle, MANIFEST, valid_file_name, valid_model_name};
use scorelet::registry::valid_alias;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Store errors, each with the HTTP status the server answers.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    pub fn status(&self) -> u16 {
        match self {
            StoreError::NotFound(_) => 404,
            StoreError::Invalid(_) => 400,
            StoreError::Conflict(_) => 409,
            StoreError::Io(_) => 500,
        }
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// An alias document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasDoc {
    pub version: u64,
    pub updated: String,
    pub by: String,
}

/// One alias move in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasMove {
    pub at: String,
    pub by: String,
    pub from: Option<u64>,
    pub to: Option<u64>,
}

/// A published version's summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionInfo {
    pub version: u64,
    pub created: String,
    pub published: String,
    pub metrics: BTreeMap<String, f64>,
    pub precision: String,
}

/// The directory store.
pub struct Store {
    root: PathBuf,
    /// Serializes writers of one process (publishes, alias moves); renames keep separate
    /// processes safe.
    write: Mutex<()>,
    /// Parsed manifests by (name, version): versions never change, so they never go stale.
    manifests: Mutex<std::collections::HashMap<(String, u64), std::sync::Arc<scorelet::bundle::Manifest>>>,
}

/// The current time, RFC 3339 UTC.
pub fn now() -> String {
    scorelet::time::now_rfc3339()
}

fn check_name(name: &str) -> Result<()> {
    if valid_model_name(name) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("model name {:?} is not [a-z0-9][a-z0-9._-]{{0,63}}", truncate(name))))
    }
}

fn check_alias(alias: &str) -> Result<()> {
    if valid_alias(alias) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("alias {:?} is not [a-z][a-z0-9_-]{{0,63}}", truncate(alias))))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

fn fsync_dir(p: &Path) -> std::io::Result<()> {
    File::open(p)?.sync_all()
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes a small file atomically (temp + fsync + rename + fsync dir).
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    write_synced(&tmp, bytes)?;
    fs::rename(&tmp, path)?;
    fsync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn append_line(path: &Path, v: &serde_json::Value) -> std::io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(format!("{v}\n").as_bytes())?;
    f.sync_all()
}

impl Store {
    /// Opens (creating) a store at `root`, clearing uploads a crash left in `tmp/`.
    pub fn open(root: &Path) -> Result<Store> {
        fs::create_dir_all(root.join("models"))?;
        let tmp = root.join("tmp");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        Ok(Store { root: root.to_path_buf(), write: Mutex::new(()), manifests: Mutex::default() })
    }

    fn model_dir(&self, name: &str) -> PathBuf {
        self.root.join("models").join(name)
    }

    fn version_dir(&self, name: &str, v: u64) -> PathBuf {
        self.model_dir(name).join("versions").join(v.to_string())
    }

    /// Model names.
    pub fn models(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = fs::read_dir(self.root.join("models"))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| valid_model_name(n))
            .collect();
        out.sort();
        Ok(out)
    }

    fn version_numbers(&self, name: &str) -> Result<Vec<u64>> {
        let dir = self.model_dir(name).join("versions");
        if !dir.exists() {
            return Ok(vec![]);
        }
        let mut v: Vec<u64> = fs::read_dir(dir)?.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
        v.sort_unstable();
        Ok(v)
    }

    /// Published versions of a model, oldest first.
    pub fn versions(&self, name: &str) -> Result<Vec<VersionInfo>> {
        check_name(name)?;
        if !self.model_dir(name).exists() {
            return Err(StoreError::NotFound(format!("no model named {name:?}")));
        }
        self.version_numbers(name)?
            .into_iter()
            .map(|v| {
                let m = self.parsed_manifest(name, v)?;
                let published = fs::metadata(self.version_dir(name, v))?
                    .modified()
                    .map(scorelet::time::rfc3339_of)
                    .unwrap_or_default();
                Ok(VersionInfo {
                    version: v,
                    created: m.created.clone(),
                    published,
                    metrics: m.metrics.clone(),
                    precision: m.model.precision.clone(),
                })
            })
            .collect()
    }

    /// The stored manifest of a version.
    pub fn manifest(&self, name: &str, v: u64) -> Result<Vec<u8>> {
        check_name(name)?;
        fs::read(self.version_dir(name, v).join(MANIFEST))
            .map_err(|_| StoreError::NotFound(format!("{name}@{v} does not exist")))
    }

    /// The parsed manifest of a version (cached: versions are immutable).
    pub fn parsed_manifest(&self, name: &str, v: u64) -> Result<std::sync::Arc<scorelet::bundle::Manifest>> {
        let key = (name.to_string(), v);
        if let Some(m) = self.manifests.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(m.clone());
        }
        let m = std::sync::Arc::new(
            Bundle::parse_manifest(&self.manifest(name, v)?).map_err(|e| StoreError::Invalid(e.to_string()))?,
        );
        self.manifests.lock().unwrap_or_else(|e| e.into_inner()).insert(key, m.clone());
        Ok(m)
    }

    /// Path of a file the version's manifest lists (and only those).
    pub fn file(&self, name: &str, v: u64, file: &str) -> Result<(PathBuf, String)> {
        if !valid_file_name(file) {
            return Err(StoreError::Invalid(format!("file name {:?} is not a bundle file name", truncate(file))));
        }
        let m = self.parsed_manifest(name, v)?;
        let entry =
            m.files.get(file).ok_or_else(|| StoreError::NotFound(format!("{name}@{v} has no file {file:?}")))?;
        Ok((self.version_dir(name, v).join(file), entry.sha256.clone()))
    }

    /// Publishes a bundle as the next version of `name`; returns the version.
    pub fn publish(&self, name: &str, manifest: &[u8], files: BTreeMap<String, Vec<u8>>, by: &str) -> Result<u64> {
        check_name(name)?;
        let bundle = Bundle::from_files(manifest, files).map_err(|e| StoreError::Invalid(e.to_string()))?;
        if bundle.manifest.name != name {
            return Err(StoreError::Invalid(format!("the bundle is model {:?}, not {name:?}", bundle.manifest.name)));
        }
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let staging = self.root.join("tmp").join(format!("{name}-{}-{}", std::process::id(), unique()));
        fs::create_dir_all(&staging)?;
        let result = (|| {
            for (f, bytes) in bundle.files() {
                write_synced(&staging.join(f), bytes)?;
            }
            let versions = self.model_dir(name).join("versions");
            fs::create_dir_all(&versions)?;
            let mut v = self.version_numbers(name)?.last().copied().unwrap_or(0) + 1;
            loop {
                let mut m = bundle.manifest.clone();
                m.version = Some(v);
                write_synced(&staging.join(MANIFEST), &serde_json::to_vec_pretty(&m).expect("manifest serializes"))?;
                fsync_dir(&staging)?;
                match fs::rename(&staging, versions.join(v.to_string())) {
                    Ok(()) => break,
                    // Another process claimed N first: try the next number.
                    Err(e) if versions.join(v.to_string()).exists() => {
                        tracing::debug!("version {v} taken ({e}); trying {}", v + 1);
                        v += 1;
                    }
                    Err(e) => return Err(StoreError::Io(e)),
                }
            }
            fsync_dir(&versions)?;
            Ok(v)
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        let v = result?;
        self.audit(json!({"at": now(), "by": by, "action": "publish", "model": name, "version": v}))?;
        Ok(v)
    }

    /// An alias's document.
    pub fn alias(&self, name: &str, alias: &str) -> Result<AliasDoc> {
        check_name(name)?;
        check_alias(alias)?;
        let bytes = fs::read(self.model_dir(name).join("aliases").join(format!("{alias}.json")))
            .map_err(|_| StoreError::NotFound(format!("{name} has no alias {alias:?}")))?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Io(std::io::Error::other(e)))
    }

    /// All aliases of a model.
    pub fn aliases(&self, name: &str) -> Result<BTreeMap<String, AliasDoc>> {
        check_name(name)?;
        let dir = self.model_dir(name).join("aliases");
        let mut out = BTreeMap::new();
        if let Ok(rd) = fs::read_dir(&dir) {
            for e in rd.flatten() {
                let f = e.file_name().to_string_lossy().into_owned();
                if let Some(a) = f.strip_suffix(".json")
                    && valid_alias(a)
                {
                    out.insert(a.to_string(), self.alias(name, a)?);
                }
            }
        }
        Ok(out)
    }

    /// Points `alias` at `version` (which must exist); records the move.
    pub fn set_alias(&self, name: &str, alias: &str, version: u64, by: &str) -> Result<AliasDoc> {
        check_name(name)?;
        check_alias(alias)?;
        if !self.version_dir(name, version).join(MANIFEST).exists() {
            return Err(StoreError::NotFound(format!("{name}@{version} does not exist")));
        }
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let from = self.alias(name, alias).ok().map(|d| d.version);
        let dir = self.model_dir(name).join("aliases");
        fs::create_dir_all(&dir)?;
        let doc = AliasDoc { version, updated: now(), by: by.into() };
        replace_file(&dir.join(format!("{alias}.json")), &serde_json::to_vec(&doc).expect("serializes"))?;
        let mv = AliasMove { at: doc.updated.clone(), by: by.into(), from, to: Some(version) };
        append_line(&dir.join(format!("{alias}.history.jsonl")), &serde_json::to_value(&mv).expect("serializes"))?;
        self.audit(json!({"at": doc.updated, "by": by, "action": "alias", "model": name, "alias": alias, "from": from, "to": version}))?;
        Ok(doc)
    }

    /// Removes an alias; records the move.
    pub fn delete_alias(&self, name: &str, alias: &str, by: &str) -> Result<()> {
        let old = self.alias(name, alias)?;
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let dir = self.model_dir(name).join("aliases");
        fs::remove_file(dir.join(format!("{alias}.json")))?;
        fsync_dir(&dir)?;
        let at = now();
        let mv = AliasMove { at: at.clone(), by: by.into(), from: Some(old.version), to: None };
        append_line(&dir.join(format!("{alias}.history.jsonl")), &serde_json::to_value(&mv).expect("serializes"))?;
        self.audit(
            json!({"at": at, "by": by, "action": "alias-delete", "model": name, "alias": alias, "from": old.version}),
        )?;
        Ok(())
    }

    /// Every move of an alias, oldest first.
    pub fn alias_history(&self, name: &str, alias: &str) -> Result<Vec<AliasMove>> {
        check_name(name)?;
        check_alias(alias)?;
        let text = fs::read_to_string(self.model_dir(name).join("aliases").join(format!("{alias}.history.jsonl")))
            .map_err(|_| StoreError::NotFound(format!("{name} has no history for alias {alias:?}")))?;
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }

    fn audit(&self, v: serde_json::Value) -> Result<()> {
        Ok(append_line(&self.root.join("audit.jsonl"), &v)?)
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    t ^ N.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
