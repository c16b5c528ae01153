//! The compile cache: a component is compiled once with Cranelift and its machine code kept on
//! disk, named by the sha256 of the component's bytes and wasmtime's compatibility hash, so later
//! starts deserialize instead of compiling.
//!
//! A cached file is native code that runs as soon as it is deserialized, so only files this
//! user wrote are trusted: the directory and the file must be owned by the current user and
//! writable by no one else (files are written 0600 in a 0700 directory). Anything else, such
//! as a `.cwasm` another user planted in a shared directory, is ignored and recompiled.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiles `bytes` or deserializes a previous compilation from `cache_dir`.
pub fn load_cached(engine: &Engine, bytes: &[u8], cache_dir: Option<&Path>) -> Result<Component> {
    let key = cache_dir.map(|d| (d, CacheKey::new(engine, bytes)));
    load_keyed(engine, bytes, key.as_ref().map(|(d, k)| (*d, k)))
}

/// [`load_cached`] with the key already computed (hashing the component is a millisecond of a
/// cold start: callers that also ask [`CacheKey::is_in`] hash once).
pub fn load_keyed(engine: &Engine, bytes: &[u8], cache: Option<(&Path, &CacheKey)>) -> Result<Component> {
    let Some((dir, key)) = cache else {
        return Ok(Component::new(engine, bytes)?);
    };
    let path = key.path(dir);
    if path.exists() {
        if let Err(why) = trusted(dir).and_then(|()| trusted(&path)) {
            tracing::warn!("not running the cached {}: {why}; compiling instead", path.display());
        // SAFETY: the file was written by `Component::serialize` of this same wasmtime build
        // (the name includes the engine's compatibility hash) into a cache directory only this
        // user can write (checked just above).
        } else if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
            // A hit counts as a use: pruning removes the compilations used longest ago.
            let _ = std::fs::File::options().write(true).open(&path).and_then(|f| f.set_modified(SystemTime::now()));
            return Ok(c);
        }
    }
    let component = Component::new(engine, bytes)?;
    // A cache that cannot be written (a read-only package, a full disk) costs the next start a
    // compilation, nothing more.
    if let Err(e) = store(&component, &path) {
        tracing::warn!("could not cache the compiled component in {}: {e}", dir.display());
    }
    prune(dir, MAX_ENTRIES, MAX_BYTES);
    Ok(component)
}

/// A component's name in the cache: the sha256 of its bytes and the engine's compatibility hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey(String);

impl CacheKey {
    pub fn new(engine: &Engine, bytes: &[u8]) -> CacheKey {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        CacheKey(format!("{}-{:016x}.cwasm", scorelet_digest(bytes), h.finish()))
    }

    /// The compilation's file in `dir`.
    pub fn path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.0)
    }

    /// Whether `dir` holds the compilation.
    pub fn is_in(&self, dir: &Path) -> bool {
        self.path(dir).is_file()
    }
}

/// Whether `p` is owned by the current user and writable by no one else.
#[cfg(unix)]
fn trusted(p: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).map_err(|e| e.to_string())?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if m.uid() != me {
        return Err(format!("it is owned by uid {}, not by this user (uid {me})", m.uid()));
    }
    if m.mode() & 0o022 != 0 {
        return Err(format!("others can write it (mode {:o})", m.mode() & 0o777));
    }
    if m.file_type().is_symlink() {
        return Err("it is a symbolic link".into());
    }
    Ok(())
}

#[cfg(not(unix))]
fn trusted(_: &Path) -> std::result::Result<(), String> {
    Ok(())
}

fn store(component: &Component, path: &Path) -> Result<()> {
    let dir = path.parent().expect("cache files live in a directory");
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    // Unique per process and call: concurrent loads of one component must not share a temp file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    let mut opts = std::fs::File::options();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    std::io::Write::write_all(&mut opts.open(&tmp)?, &component.serialize()?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Compilations kept: every rebuilt component adds one (50–60 MB for the full component), and
/// nothing else removes them.
const MAX_ENTRIES: usize = 16;
/// Bytes of compilations kept.
const MAX_BYTES: u64 = 1 << 30;
/// A temporary file this old is left over from a process that died while writing it.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// Removes the compilations used longest ago (by modification time, which a hit refreshes)
/// until at most `max_entries` of at most `max_bytes` in all remain (the newest is always
/// kept), and temporary files left by dead writers. Errors are ignored: a cache that cannot be
/// pruned costs disk, not a start.
pub fn prune(dir: &Path, max_entries: usize, max_bytes: u64) {
    let Ok(read) = std::fs::read_dir(dir) else { return };
    let now = SystemTime::now();
    let mut entries: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
    for e in read.flatten() {
        let (path, Ok(meta)) = (e.path(), e.metadata()) else { continue };
        let modified = meta.modified().unwrap_or(now);
        match path.extension().and_then(|x| x.to_str()) {
            Some("cwasm") if meta.is_file() => entries.push((modified, meta.len(), path)),
            Some(x) if x.starts_with("tmp") && now.duration_since(modified).is_ok_and(|age| age > STALE_TMP) => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
    // Newest first; ties by name, so the order does not depend on the directory listing.
    entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
    let mut total = 0u64;
    for (k, (_, len, path)) in entries.iter().enumerate() {
        total += len;
        if k > 0 && (k >= max_entries || total > max_bytes) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Whether `dir` holds a compilation of `bytes` for `engine`.
pub fn is_cached(engine: &Engine, bytes: &[u8], dir: &Path) -> bool {
    CacheKey::new(engine, bytes).is_in(dir)
}

fn scorelet_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_the_most_recently_used_compilations_within_both_budgets() {
        let dir = std::env::temp_dir().join(format!("scorelet-cache-prune-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let base = SystemTime::now() - Duration::from_secs(10_000);
        let file = |name: &str, len: usize, age_s: u64| {
            let p = dir.join(name);
            std::fs::write(&p, vec![0u8; len]).unwrap();
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(base + Duration::from_secs(10_000 - age_s)).unwrap();
        };
        // Newest first: a (1 s old), b, c, d; a stale and a fresh temp file; a foreign file.
        file("a.cwasm", 100, 1);
        file("b.cwasm", 100, 2);
        file("c.cwasm", 100, 3);
        file("d.cwasm", 100, 4);
        file("e.tmp123-0", 10, 7200);
        file("f.tmp124-0", 10, 5);
        file("notes.txt", 10, 9000);
        let left = || {
            let mut v: Vec<String> =
                std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            v.sort();
            v
        };
        prune(&dir, 3, 1 << 20);
        assert_eq!(left(), ["a.cwasm", "b.cwasm", "c.cwasm", "f.tmp124-0", "notes.txt"]);
        // The byte budget: 250 bytes keeps two of the 100-byte compilations.
        prune(&dir, 16, 250);
        assert_eq!(left(), ["a.cwasm", "b.cwasm", "f.tmp124-0", "notes.txt"]);
        // The newest stays even when it alone is over the budget.
        prune(&dir, 16, 10);
        assert_eq!(left(), ["a.cwasm", "f.tmp124-0", "notes.txt"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
