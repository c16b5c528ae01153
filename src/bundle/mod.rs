//! Bundles: a directory (or an in-memory map of files) with `manifest.json`, `features.json`,
//! the ONNX model and `golden.json`. A bundle is verified as a whole before any of it is used:
//! every file the manifest lists must be present with the listed size and sha256.

pub mod manifest;
pub mod packed;
pub mod seal;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub use manifest::{
    BUNDLE_FORMAT, FileEntry, InputColumn, Manifest, ModelInfo, Seal, Signature, Task, valid_file_name,
    valid_model_name,
};

use crate::error::{Error, Result};

/// Name of the manifest file.
pub const MANIFEST: &str = "manifest.json";
/// Name of the fitted features file.
pub const FEATURES: &str = "features.json";
/// Name of the golden vectors file.
pub const GOLDEN: &str = "golden.json";
/// Largest manifest accepted (it is small; this only stops garbage early).
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// Lower-case hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A verified bundle held in memory.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub manifest: Manifest,
    files: BTreeMap<String, Vec<u8>>,
}

impl Bundle {
    /// Parses a manifest and checks its own consistency (format, name, file names, required files).
    pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(Error::Bundle(format!(
                "manifest.json is {} bytes; the limit is {MAX_MANIFEST_BYTES}",
                bytes.len()
            )));
        }
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| Error::Bundle(format!("manifest.json: {e}")))?;
        if m.format != BUNDLE_FORMAT {
            return Err(Error::Bundle(format!("manifest format is {:?}; expected {BUNDLE_FORMAT:?}", m.format)));
        }
        if !valid_model_name(&m.name) {
            return Err(Error::Bundle(format!("model name {:?} is not [a-z0-9][a-z0-9._-]{{0,63}}", m.name)));
        }
        for name in m.files.keys() {
            if !valid_file_name(name) || name == MANIFEST {
                return Err(Error::Bundle(format!("manifest lists an invalid file name {name:?}")));
            }
        }
        for f in [FEATURES, m.model.file.as_str()] {
            if !m.files.contains_key(f) {
                return Err(Error::Bundle(format!("manifest does not list required file `{f}`")));
            }
        }
        for (name, e) in &m.files {
            if e.sha256.len() != 64 || !e.sha256.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
                return Err(Error::Bundle(format!("`{name}`: sha256 is not 64 lower-case hex digits")));
            }
        }
        Ok(m)
    }

    /// Builds a bundle from a manifest and the bytes of its files, verifying every listed file.
    /// Files the manifest does not list are refused.
    pub fn from_files(manifest_bytes: &[u8], files: BTreeMap<String, Vec<u8>>) -> Result<Bundle> {
        let manifest = Self::parse_manifest(manifest_bytes)?;
        for name in files.keys() {
            if !manifest.files.contains_key(name) {
                return Err(Error::Bundle(format!("file `{name}` is not listed in the manifest")));
            }
        }
        for (name, entry) in &manifest.files {
            let bytes = files.get(name).ok_or_else(|| Error::Bundle(format!("file `{name}` is missing")))?;
            verify_file(name, entry, bytes)?;
        }
        Ok(Bundle { manifest, files })
    }

    /// Loads and verifies a bundle directory.
    pub fn load_dir(dir: impl AsRef<std::path::Path>) -> Result<Bundle> {
        let dir = dir.as_ref();
        let read = |name: &str, limit: u64| -> Result<Vec<u8>> {
            let path = dir.join(name);
            let meta =
                std::fs::metadata(&path).map_err(|e| Error::Bundle(format!("cannot read {}: {e}", path.display())))?;
            if meta.len() > limit {
                return Err(Error::Bundle(format!(
                    "{} is {} bytes; expected at most {limit}",
                    path.display(),
                    meta.len()
                )));
            }
            std::fs::read(&path).map_err(|e| Error::Bundle(format!("cannot read {}: {e}", path.display())))
        };
        let mbytes = read(MANIFEST, MAX_MANIFEST_BYTES as u64)?;
        let manifest = Self::parse_manifest(&mbytes)?;
        let mut files = BTreeMap::new();
        for (name, entry) in &manifest.files {
            // Reading more than the manifest promises would only be to fail later: stop early.
            files.insert(name.clone(), read(name, entry.size)?);
        }
        Self::from_files(&mbytes, files)
    }

    /// A verified file's bytes.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(|v| v.as_slice())
    }

    /// The training profile (`profile.json`), or `None` for a bundle made before profiles.
    pub fn profile(&self) -> Result<Option<crate::profile::Profile>> {
        self.file(crate::profile::PROFILE).map(crate::profile::Profile::from_json).transpose()
    }

    /// All files except the manifest.
    pub fn files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }

    /// Serialized manifest.
    pub fn manifest_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.manifest).expect("manifest serializes")
    }

    /// Makes a bundle from a manifest whose `files` are filled in from `files` (digests computed here).
    pub fn assemble(mut manifest: Manifest, files: BTreeMap<String, Vec<u8>>) -> Result<Bundle> {
        manifest.files =
            files.iter().map(|(n, b)| (n.clone(), FileEntry { sha256: sha256_hex(b), size: b.len() as u64 })).collect();
        let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
        Self::from_files(&bytes, files)
    }

    /// Writes the bundle to `dir` atomically: everything goes to a sibling temporary directory
    /// which is renamed into place, so a failed write leaves no half-written bundle.
    /// Refuses to replace an existing `dir`.
    pub fn write_dir(&self, dir: impl AsRef<std::path::Path>) -> Result<()> {
        let dir = dir.as_ref();
        let io = |e: std::io::Error, what: &str| Error::Bundle(format!("{what}: {e}"));
        if dir.exists() {
            return Err(Error::Bundle(format!("{} already exists; bundles are never overwritten", dir.display())));
        }
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| io(e, "create parent directory"))?;
        let base = dir.file_name().and_then(|s| s.to_str()).unwrap_or("bundle");
        let tmp = parent.join(format!(".{base}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir(&tmp).map_err(|e| io(e, "create temporary directory"))?;
        let result = (|| {
            for (name, bytes) in
                self.files.iter().chain(std::iter::once((&MANIFEST.to_string(), &self.manifest_bytes())))
            {
                write_synced(&tmp.join(name), bytes).map_err(|e| io(e, name))?;
            }
            std::fs::rename(&tmp, dir).map_err(|e| io(e, "rename into place"))
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }
}

fn write_synced(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Checks one file's size and sha256 against its manifest entry.
pub fn verify_file(name: &str, entry: &FileEntry, bytes: &[u8]) -> Result<()> {
    if bytes.len() as u64 != entry.size {
        return Err(Error::DigestMismatch {
            file: name.into(),
            detail: format!("size is {} bytes, manifest says {}", bytes.len(), entry.size),
        });
    }
    let actual = sha256_hex(bytes);
    if actual != entry.sha256 {
        return Err(Error::DigestMismatch {
            file: name.into(),
            detail: format!("sha256 is {actual}, manifest says {}", entry.sha256),
        });
    }
    Ok(())
}
