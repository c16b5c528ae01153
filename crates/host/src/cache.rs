//! The compile cache: a component is compiled once with Cranelift and its machine code kept on
//! disk, named by the sha256 of the component's bytes and wasmtime's compatibility hash, so later
//! starts deserialize instead of compiling.

use std::path::{Path, PathBuf};

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
        // SAFETY: the file was written by `Component::serialize` of this same wasmtime build
        // (the name includes the engine's compatibility hash) into our own cache directory.
        if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(c);
        }
    }
    let component = Component::new(engine, bytes)?;
    // A cache that cannot be written (a read-only package, a full disk) costs the next start a
    // compilation, nothing more.
    if let Err(e) = store(&component, &path) {
        tracing::warn!("could not cache the compiled component in {}: {e}", dir.display());
    }
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

fn store(component: &Component, path: &Path) -> Result<()> {
    std::fs::create_dir_all(path.parent().expect("cache files live in a directory"))?;
    // Unique per process and call: concurrent loads of one component must not share a temp file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, component.serialize()?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Whether `dir` holds a compilation of `bytes` for `engine`.
pub fn is_cached(engine: &Engine, bytes: &[u8], dir: &Path) -> bool {
    CacheKey::new(engine, bytes).is_in(dir)
}

fn scorelet_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
