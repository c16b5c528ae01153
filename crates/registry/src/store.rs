//! The registry's storage: a directory tree of immutable versions and small alias documents.
//!
//! ```text
//! ROOT/models/NAME/versions/N/manifest.json, features.json, model.onnx, …   (never rewritten)
//! ROOT/models/NAME/aliases/ALIAS.json            {"version", "updated", "by"}
//! ROOT/models/NAME/aliases/ALIAS.history.jsonl   one line per move
//! ROOT/audit.jsonl                                one line per write, hash-chained
//! ROOT/write.lock                                 held by whichever process is writing
//! ROOT/tmp/ID.area/, ROOT/tmp/ID.lock            one staging area per open store
//! ROOT/tmp/ID.area/intent.json                    the write in progress, until it is audited
//! ```
//!
//! A publish writes every file into its store's staging area, fsyncs it, then claims version N
//! by renaming the directory to `versions/N`: the rename is atomic, so a crash at any point
//! leaves either no version or a complete one, and two publishers can never get the same N (the
//! second rename fails and tries N+1). Every directory a write creates is fsynced with its
//! parent, and the audit record is on disk before the write is acknowledged (a write whose
//! record cannot be written is undone). Writers of all processes serialize on `write.lock`;
//! each open store stages in its own directory, held by a lock file, and clears only the
//! staging areas whose owner is gone. A write first records its intent in its staging area; a
//! writer that dies before the audit record leaves it behind, and the next writer undoes the
//! change it had made (the version dir, the alias document, the history line), so whatever
//! is visible is in the audit log. `fsio` holds every write, with failpoints and a power-loss
//! model for the tests (`tests/faults.rs`). The read side is plain files, servable from any object
//! store or CDN.
//!
//! The audit log is append-only and chained: every record carries `prev`, the sha256 of the
//! line before it, so [`Store::verify`] finds a removed, reordered or edited line.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
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
    /// A compare-and-swap lost: the alias is not where the caller saw it.
    #[error("{0}")]
    Moved(String),
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    pub fn status(&self) -> u16 {
        match self {
            StoreError::NotFound(_) => 404,
            StoreError::Invalid(_) => 400,
            StoreError::Conflict(_) => 409,
            StoreError::Moved(_) => 412,
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

/// A write in progress, kept durably in the writer's staging area (`intent.json`) from before
/// its first visible change until its audit record: if the writer dies in between, the next
/// writer finds it ([`Store::recover`]) and undoes the change, so a write is either recorded
/// in the audit log or not there at all.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Intent {
    Publish { model: String, version: u64, audit_len: u64 },
    Alias { model: String, alias: String, old: Option<AliasDoc>, history_len: u64, audit_len: u64 },
}

const INTENT: &str = "intent.json";

impl Intent {
    /// Where the audit log ended when the write began.
    fn audit_len(&self) -> u64 {
        match self {
            Intent::Publish { audit_len, .. } | Intent::Alias { audit_len, .. } => *audit_len,
        }
    }

    /// Whether `r` is this write's audit record.
    fn recorded_by(&self, r: &serde_json::Value) -> bool {
        let is = |k: &str, v: &str| r.get(k).and_then(|x| x.as_str()) == Some(v);
        match self {
            Intent::Publish { model, version, .. } => {
                is("action", "publish")
                    && is("model", model)
                    && r.get("version").and_then(|x| x.as_u64()) == Some(*version)
            }
            Intent::Alias { model, alias, .. } => {
                (is("action", "alias") || is("action", "alias-delete")) && is("model", model) && is("alias", alias)
            }
        }
    }
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
    /// Serializes writers of one process (publishes, alias moves); `write.lock` serializes
    /// processes.
    write: Mutex<()>,
    /// This store's staging area under `tmp/`.
    staging: PathBuf,
    /// The lock on `tmp/ID.lock`, held while the store lives: it tells other processes the
    /// staging area is in use.
    _staging_lock: File,
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

use crate::fsio::{self, step, sync_dir as fsync_dir, write_synced};

/// `create_dir_all`, fsyncing the parent of every directory it creates, so a power loss after
/// it returns cannot lose them.
fn create_dirs_synced(p: &Path) -> std::io::Result<()> {
    if p.is_dir() {
        return Ok(());
    }
    let parent = p.parent().unwrap_or(Path::new("."));
    create_dirs_synced(parent)?;
    match fsio::create_dir(p) {
        Ok(()) => fsync_dir(parent),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The last line of a file (without its newline), read from the end.
fn last_line(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let mut window = 4096u64;
    loop {
        let start = len.saturating_sub(window);
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if let Some(i) = body.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(body[i + 1..].to_vec()));
        }
        if start == 0 {
            return Ok((!body.is_empty()).then(|| body.to_vec()));
        }
        window *= 4;
    }
}

/// The `prev` of the first audit record.
pub const AUDIT_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Writes a small file atomically (temp + fsync + rename + fsync dir).
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    write_synced(&tmp, bytes)?;
    step("alias:temp-written");
    fsio::rename(&tmp, path)?;
    step("alias:renamed");
    fsync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn append_line(path: &Path, v: &serde_json::Value) -> std::io::Result<()> {
    let new = !path.exists();
    fsio::append_synced(path, format!("{v}\n").as_bytes())?;
    if new { fsync_dir(path.parent().unwrap_or(Path::new("."))) } else { Ok(()) }
}

/// The ETag of an alias document: the sha256 of its stored bytes.
pub fn alias_etag(doc: &AliasDoc) -> String {
    scorelet::bundle::sha256_hex(&serde_json::to_vec(doc).expect("serializes"))
}

/// An upload being received: a file in the store's staging area, removed when dropped.
pub struct Upload(PathBuf);

impl Upload {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// What [`Store::verify`] found.
#[derive(Debug, Default, Serialize)]
pub struct Verification {
    /// Versions whose every file matched its manifest.
    pub versions: usize,
    /// Audit records whose chain held.
    pub audit_records: usize,
    /// The sha256 of the audit log's last line: keep it elsewhere to detect a later edit of
    /// that line, or lines cut from the end.
    pub audit_head: String,
    /// Everything that did not check out, one sentence each.
    pub problems: Vec<String>,
}

impl Store {
    /// Opens (creating) a store at `root`, with a staging area of its own, and clears the
    /// staging areas of stores that are gone (a crash's uploads).
    pub fn open(root: &Path) -> Result<Store> {
        create_dirs_synced(&root.join("models"))?;
        let tmp = root.join("tmp");
        create_dirs_synced(&tmp)?;
        // The lock is held before the area exists, so no one takes a live area for a dead one.
        let id = format!("{}-{:016x}", std::process::id(), unique());
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(tmp.join(format!("{id}.lock")))?;
        lock.try_lock().map_err(|e| std::io::Error::other(format!("cannot lock a new staging area: {e}")))?;
        let staging = tmp.join(format!("{id}.area"));
        fsio::create_dir(&staging)?;
        fsync_dir(&tmp)?;
        let store = Store {
            root: root.to_path_buf(),
            write: Mutex::new(()),
            staging,
            _staging_lock: lock,
            manifests: Mutex::default(),
        };
        // Finish what crashed writers left now if no one is writing; otherwise the next write
        // does (every write recovers first), so opening never waits for a writer.
        let f = store.write_lock_file()?;
        if f.try_lock().is_ok() {
            store.recover()?;
        }
        Ok(store)
    }

    fn write_lock_file(&self) -> Result<File> {
        Ok(OpenOptions::new().create(true).truncate(false).write(true).open(self.root.join("write.lock"))?)
    }

    /// Undoes the writes of stores that died before recording them ([`Intent`]) and clears their
    /// staging areas. Called under the write locks, before any write, so no other write comes
    /// between a crash and its recovery.
    fn recover(&self) -> Result<()> {
        let tmp = self.root.join("tmp");
        for e in fs::read_dir(&tmp)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".area") else { continue };
            if e.path() == self.staging {
                continue;
            }
            let lock = tmp.join(format!("{id}.lock"));
            let dead = match File::open(&lock) {
                Ok(f) => f.try_lock().is_ok(),
                Err(_) => true,
            };
            if !dead {
                continue;
            }
            if let Ok(bytes) = fs::read(e.path().join(INTENT)) {
                match serde_json::from_slice::<Intent>(&bytes) {
                    Ok(intent) => self.undo(&intent)?,
                    Err(err) => tracing::warn!("{name}/{INTENT} is unreadable ({err}); nothing undone"),
                }
            }
            tracing::info!("clearing the staging area of a store that is gone: {name}");
            fsio::remove_dir_all(&e.path())?;
            let _ = fs::remove_file(&lock);
        }
        Ok(())
    }

    /// Undoes a dead writer's write unless it reached its audit record: the record is what
    /// acknowledges it, so without one nothing of it stays.
    fn undo(&self, intent: &Intent) -> Result<()> {
        let recorded = self.audited_since(intent.audit_len(), |r| intent.recorded_by(r))?;
        if recorded {
            return Ok(());
        }
        self.undo_unrecorded(intent)
    }

    /// Takes back the visible changes of a write known to have no audit record.
    fn undo_unrecorded(&self, intent: &Intent) -> Result<()> {
        match intent {
            Intent::Publish { model, version, .. } => {
                let dir = self.version_dir(model, *version);
                if dir.exists() {
                    tracing::warn!(
                        "{model}@{version} has no audit record (its write failed or its writer died): removing it"
                    );
                    let out = self.staging.join(format!("undo-{:016x}", unique()));
                    fsio::rename(&dir, &out)?;
                    fsync_dir(&self.model_dir(model).join("versions"))?;
                    fsio::remove_dir_all(&out)?;
                }
            }
            Intent::Alias { model, alias, old, history_len, .. } => {
                tracing::warn!(
                    "the move of {model}@{alias} has no audit record (its write failed or its writer died): undoing it"
                );
                let dir = self.model_dir(model).join("aliases");
                let path = dir.join(format!("{alias}.json"));
                match old {
                    Some(doc) => replace_file(&path, &serde_json::to_vec(doc).expect("serializes"))?,
                    None if path.exists() => {
                        fsio::remove_file(&path)?;
                        fsync_dir(&dir)?;
                    }
                    None => {}
                }
                let history = dir.join(format!("{alias}.history.jsonl"));
                if fs::metadata(&history).is_ok_and(|m| m.len() > *history_len) {
                    fsio::truncate(&history, *history_len)?;
                }
            }
        }
        Ok(())
    }

    /// Whether an audit record at or after byte `offset` satisfies `pred`.
    fn audited_since(&self, offset: u64, pred: impl Fn(&serde_json::Value) -> bool) -> Result<bool> {
        use std::io::{BufRead, Seek, SeekFrom};
        let mut f = match File::open(self.root.join("audit.jsonl")) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        f.seek(SeekFrom::Start(offset))?;
        for line in std::io::BufReader::new(f).split(b'\n') {
            if serde_json::from_slice(&line?).is_ok_and(|r| pred(&r)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn len_of(path: &Path) -> u64 {
        fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    /// Records what a write is about to do, durably, before it does it.
    fn begin(&self, intent: &Intent) -> Result<()> {
        write_synced(&self.staging.join(INTENT), &serde_json::to_vec(intent).expect("serializes"))?;
        Ok(fsync_dir(&self.staging)?)
    }

    /// The write is recorded (or undone): its intent goes. If this removal is lost, recovery
    /// finds the audit record and leaves the write alone.
    fn end(&self) {
        let _ = fsio::remove_file(&self.staging.join(INTENT));
    }

    /// A new file in the staging area for an upload to stream into.
    pub fn upload_path(&self) -> Result<Upload> {
        Ok(Upload(self.staging.join(format!("upload-{:016x}.tar", unique()))))
    }

    /// Takes the in-process and the cross-process write locks.
    /// Takes the in-process and the cross-process write locks, then recovers what crashed
    /// writers left.
    fn lock_writes(&self) -> Result<(std::sync::MutexGuard<'_, ()>, File)> {
        let guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let f = self.write_lock_file()?;
        f.lock()?;
        self.recover()?;
        Ok((guard, f))
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
        let _locks = self.lock_writes()?;
        let staging = self.staging.join(format!("{name}-{:016x}", unique()));
        fsio::create_dir(&staging)?;
        let versions = self.model_dir(name).join("versions");
        let prepared: Result<u64> = (|| {
            for (f, bytes) in bundle.files() {
                write_synced(&staging.join(f), bytes)?;
            }
            step("publish:files-written");
            create_dirs_synced(&versions)?;
            // Under the write locks no other writer of any process claims a number.
            let v = self.version_numbers(name)?.last().copied().unwrap_or(0) + 1;
            let mut m = bundle.manifest.clone();
            m.version = Some(v);
            write_synced(&staging.join(MANIFEST), &serde_json::to_vec_pretty(&m).expect("manifest serializes"))?;
            fsync_dir(&staging)?;
            step("publish:manifest-written");
            Ok(v)
        })();
        let v = prepared.inspect_err(|_| {
            let _ = fsio::remove_dir_all(&staging);
        })?;
        let intent =
            Intent::Publish { model: name.into(), version: v, audit_len: Self::len_of(&self.root.join("audit.jsonl")) };
        self.under_intent(&intent, || {
            fsio::rename(&staging, &versions.join(v.to_string()))?;
            step("publish:renamed");
            fsync_dir(&versions)?;
            step("publish:dir-synced");
            self.audit(json!({"at": now(), "by": by, "action": "publish", "model": name, "version": v}))?;
            step("publish:audited");
            Ok(v)
        })
        .inspect_err(|_| {
            if staging.exists() {
                let _ = fsio::remove_dir_all(&staging);
            }
        })
    }

    /// Runs `write`, whose visible changes `intent` describes, with the intent recorded: if the
    /// write fails, whatever it made visible without an audit record is undone (not
    /// acknowledged, so not kept); if the process dies, the next writer undoes it.
    fn under_intent<T>(&self, intent: &Intent, write: impl FnOnce() -> Result<T>) -> Result<T> {
        self.begin(intent)?;
        let result = write();
        // Every write appends its audit record last, so one that failed has none.
        if result.is_err()
            && let Err(e) = self.undo_unrecorded(intent)
        {
            // The intent stays: a store opened on this root after this one is gone undoes it.
            tracing::error!("a failed write could not be undone ({e}); its intent is kept for recovery");
            return result;
        }
        self.end();
        result
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

    /// Points `alias` at `version` (which must exist); records the move. With `expected`, only
    /// if the alias document's ETag ([`alias_etag`]) is still that one (`None`: the alias must
    /// not exist), checked under the write locks.
    pub fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: u64,
        by: &str,
        expected: Option<Option<&str>>,
    ) -> Result<AliasDoc> {
        check_name(name)?;
        check_alias(alias)?;
        if !self.version_dir(name, version).join(MANIFEST).exists() {
            return Err(StoreError::NotFound(format!("{name}@{version} does not exist")));
        }
        let _locks = self.lock_writes()?;
        let old = self.alias(name, alias).ok();
        if let Some(want) = expected {
            let now = old.as_ref().map(alias_etag);
            if now.as_deref() != want {
                return Err(StoreError::Moved(format!(
                    "{name}@{alias} moved since it was read (now {}); read it again and retry",
                    old.as_ref().map_or("absent".to_string(), |d| format!("version {}", d.version))
                )));
            }
        }
        let from = old.as_ref().map(|d| d.version);
        let dir = self.model_dir(name).join("aliases");
        create_dirs_synced(&dir)?;
        let doc = AliasDoc { version, updated: now(), by: by.into() };
        let path = dir.join(format!("{alias}.json"));
        self.under_intent(&self.alias_intent(name, alias, old.clone()), || {
            replace_file(&path, &serde_json::to_vec(&doc).expect("serializes"))?;
            step("alias:replaced");
            let mv = AliasMove { at: doc.updated.clone(), by: by.into(), from, to: Some(version) };
            append_line(&dir.join(format!("{alias}.history.jsonl")), &serde_json::to_value(&mv).expect("serializes"))?;
            step("alias:history");
            self.audit(json!({"at": doc.updated, "by": by, "action": "alias", "model": name, "alias": alias, "from": from, "to": version}))?;
            step("alias:audited");
            Ok(doc.clone())
        })
    }

    /// Removes an alias; records the move.
    pub fn delete_alias(&self, name: &str, alias: &str, by: &str) -> Result<()> {
        check_name(name)?;
        check_alias(alias)?;
        let _locks = self.lock_writes()?;
        let old = self.alias(name, alias)?;
        let dir = self.model_dir(name).join("aliases");
        let path = dir.join(format!("{alias}.json"));
        self.under_intent(&self.alias_intent(name, alias, Some(old.clone())), || {
            fsio::remove_file(&path)?;
            fsync_dir(&dir)?;
            step("alias-delete:removed");
            let at = now();
            let mv = AliasMove { at: at.clone(), by: by.into(), from: Some(old.version), to: None };
            append_line(&dir.join(format!("{alias}.history.jsonl")), &serde_json::to_value(&mv).expect("serializes"))?;
            self.audit(json!({"at": at, "by": by, "action": "alias-delete", "model": name, "alias": alias, "from": old.version}))?;
            step("alias-delete:audited");
            Ok(())
        })
    }

    fn alias_intent(&self, name: &str, alias: &str, old: Option<AliasDoc>) -> Intent {
        let history = self.model_dir(name).join("aliases").join(format!("{alias}.history.jsonl"));
        Intent::Alias {
            model: name.into(),
            alias: alias.into(),
            old,
            history_len: Self::len_of(&history),
            audit_len: Self::len_of(&self.root.join("audit.jsonl")),
        }
    }

    /// Moves of an alias, oldest first: `limit` of them after skipping `offset`, and whether
    /// more follow. The file is read line by line, never whole.
    pub fn alias_history(
        &self,
        name: &str,
        alias: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<AliasMove>, bool)> {
        use std::io::BufRead;
        check_name(name)?;
        check_alias(alias)?;
        let f = File::open(self.model_dir(name).join("aliases").join(format!("{alias}.history.jsonl")))
            .map_err(|_| StoreError::NotFound(format!("{name} has no history for alias {alias:?}")))?;
        let mut moves = Vec::new();
        let mut lines = std::io::BufReader::new(f).lines().skip(offset);
        for line in lines.by_ref() {
            if let Ok(m) = serde_json::from_str(&line?) {
                moves.push(m);
            }
            if moves.len() == limit {
                break;
            }
        }
        Ok((moves, lines.next().is_some()))
    }

    /// Appends an audit record, chained to the one before it. Called under the write locks.
    fn audit(&self, mut v: serde_json::Value) -> Result<()> {
        let path = self.root.join("audit.jsonl");
        let prev = match last_line(&path)? {
            Some(line) => scorelet::bundle::sha256_hex(&line),
            None => AUDIT_GENESIS.to_string(),
        };
        v["prev"] = json!(prev);
        Ok(append_line(&path, &v)?)
    }

    /// Checks every version's files against its manifest, the audit log's chain, and that the
    /// log and the store agree: every version has its publish record, every alias document and
    /// history ends where the log's last move of it does.
    pub fn verify(&self) -> Result<Verification> {
        use std::collections::{HashMap, HashSet};
        use std::io::BufRead;
        let mut out = Verification::default();
        let mut published = HashSet::new();
        // (model, alias) -> (to, at) of its last audited move.
        let mut moves: HashMap<(String, String), (Option<u64>, String)> = HashMap::new();
        let path = self.root.join("audit.jsonl");
        if let Ok(f) = File::open(&path) {
            let mut prev = AUDIT_GENESIS.to_string();
            for (i, line) in std::io::BufReader::new(f).split(b'\n').enumerate() {
                let line = line?;
                let record = serde_json::from_slice::<serde_json::Value>(&line).ok();
                let field = |k: &str| record.as_ref().and_then(|r| r.get(k)?.as_str().map(String::from));
                match field("prev") {
                    Some(c) if c == prev => out.audit_records += 1,
                    Some(_) => out.problems.push(format!(
                        "audit.jsonl line {}: the line before it was removed or changed (its hash does not match)",
                        i + 1
                    )),
                    None => out.problems.push(format!("audit.jsonl line {}: not a chained audit record", i + 1)),
                }
                let number = |k: &str| record.as_ref().and_then(|r| r.get(k)?.as_u64());
                match (field("action").as_deref(), field("model"), field("alias"), field("at")) {
                    (Some("publish"), Some(m), _, _) => {
                        published.insert((m, number("version").unwrap_or(0)));
                    }
                    (Some("alias"), Some(m), Some(a), Some(at)) => {
                        moves.insert((m, a), (number("to"), at));
                    }
                    (Some("alias-delete"), Some(m), Some(a), Some(at)) => {
                        moves.insert((m, a), (None, at));
                    }
                    _ => {}
                }
                prev = scorelet::bundle::sha256_hex(&line);
            }
            out.audit_head = prev;
        }
        for name in self.models()? {
            for v in self.version_numbers(&name)? {
                match Bundle::load_dir(self.version_dir(&name, v)) {
                    Ok(b) if b.manifest.name == name && b.manifest.version == Some(v) => out.versions += 1,
                    Ok(b) => out.problems.push(format!(
                        "{name}@{v} holds the manifest of {}@{}",
                        b.manifest.name,
                        b.manifest.version.unwrap_or(0)
                    )),
                    Err(e) => out.problems.push(format!("{name}@{v}: {e}")),
                }
                if !published.contains(&(name.clone(), v)) {
                    out.problems.push(format!("{name}@{v} has no publish record in audit.jsonl"));
                }
            }
            let docs = self.aliases(&name)?;
            let dir = self.model_dir(&name).join("aliases");
            let mut names: HashSet<String> = docs.keys().cloned().collect();
            names.extend(moves.keys().filter(|(m, _)| *m == name).map(|(_, a)| a.clone()));
            for alias in names {
                let logged = moves.get(&(name.clone(), alias.clone()));
                let stored = docs.get(&alias).map(|d| (Some(d.version), d.updated.clone()));
                if stored.as_ref() != logged.filter(|(to, _)| to.is_some()) {
                    out.problems.push(format!(
                        "{name}@{alias} points at {}, the audit log's last move at {}",
                        stored.map_or("nothing".into(), |(v, _)| format!("version {}", v.unwrap_or(0))),
                        logged.and_then(|(to, _)| *to).map_or("nothing".into(), |v| format!("version {v}"))
                    ));
                }
                let last = last_line(&dir.join(format!("{alias}.history.jsonl")))?
                    .and_then(|l| serde_json::from_slice::<AliasMove>(&l).ok())
                    .map(|m| (m.to, m.at));
                if last.as_ref() != logged {
                    out.problems
                        .push(format!("{name}@{alias}: its history does not end with the audit log's last move"));
                }
            }
        }
        Ok(out)
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    t ^ N.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
