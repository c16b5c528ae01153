//! Uploads are a plain tar of the bundle's files (no directories): one request, streamable, and
//! made by any tool (`tar -cf - -C bundle .` works too).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use scorelet::bundle::{MANIFEST, valid_file_name};

/// Packs a bundle directory's regular files.
pub fn pack(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut names: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        if valid_file_name(&name) || name == MANIFEST {
            b.append_path_with_name(e.path(), &name)?;
        }
    }
    b.into_inner()
}

/// Packs a bundle held in memory: the manifest's bytes and the other files.
pub fn pack_files(manifest: &[u8], files: &BTreeMap<String, Vec<u8>>) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in std::iter::once((MANIFEST, manifest)).chain(files.iter().map(|(n, v)| (n.as_str(), &v[..]))) {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, bytes)?;
    }
    b.into_inner()
}

/// An unpacked upload: the manifest's bytes and the other files by name.
pub type Unpacked = (Vec<u8>, BTreeMap<String, Vec<u8>>);

/// Unpacks an upload into (manifest bytes, other files). Refuses anything but regular files with
/// plain bundle file names, duplicates, archives without a manifest, and entries whose declared
/// sizes add up past `limit` bytes (checked from the headers, before anything is allocated).
pub fn unpack(reader: impl Read, limit: usize) -> Result<Unpacked, String> {
    let mut a = tar::Archive::new(reader);
    let mut files = BTreeMap::new();
    let mut manifest = None;
    let mut total = 0u64;
    for entry in a.entries().map_err(|e| format!("not a tar archive: {e}"))? {
        let mut e = entry.map_err(|e| format!("not a tar archive: {e}"))?;
        let raw = e.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).trim_start_matches("./").to_string();
        let shown = name.chars().take(80).collect::<String>();
        match e.header().entry_type() {
            tar::EntryType::Directory if name.is_empty() || name == "." => continue,
            tar::EntryType::Regular => {}
            t => return Err(format!("archive entry {shown:?} is a {t:?}; only regular files are accepted")),
        }
        if name != MANIFEST && !valid_file_name(&name) {
            return Err(format!("archive entry {shown:?} is not a plain bundle file name"));
        }
        total = total.saturating_add(e.size());
        if total > limit as u64 {
            return Err(format!("archive entry {shown:?} declares {} bytes, past the upload limit", e.size()));
        }
        let mut buf = Vec::with_capacity(e.size() as usize);
        e.read_to_end(&mut buf).map_err(|err| format!("archive entry {shown:?} is truncated: {err}"))?;
        if buf.len() as u64 != e.size() {
            return Err(format!("archive entry {shown:?} is truncated"));
        }
        if name == MANIFEST {
            if manifest.replace(buf).is_some() {
                return Err("the archive holds manifest.json twice".into());
            }
        } else if files.insert(name.clone(), buf).is_some() {
            return Err(format!("the archive holds {shown:?} twice"));
        }
    }
    Ok((manifest.ok_or("the archive has no manifest.json")?, files))
}
