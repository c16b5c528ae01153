//! A bundle as one byte string, for embedding in a component: `scorelet build` writes it into
//! the component's memory image and points the guest's embed slot at it (see
//! `crates/host/src/embed.rs` and `crates/guest`). Our own tiny format rather than tar: the guest
//! reads it with a few bounds-checked slices and no dependency.
//!
//! Layout (integers little-endian u32): [`PACKED_MAGIC`], file count, then per file its name
//! length, name (UTF-8), data length, data. The manifest comes first. Unpacking verifies the
//! bundle like every other source ([`Bundle::from_files`]).

use std::collections::BTreeMap;

use super::{Bundle, MANIFEST, MAX_MANIFEST_BYTES};
use crate::error::{Error, Result};

/// First bytes of a packed bundle.
pub const PACKED_MAGIC: &[u8; 8] = b"SCBNDL01";

/// Marks the guest's embed slot in a component's data: these 24 bytes, then the slot's pointer
/// and length (u32 each, zero until `scorelet build` fills them in).
pub const EMBED_MAGIC: &[u8; 24] = b"scorelet:embedded-bundle";

/// Most files a packed bundle may hold (a bundle has a handful).
const MAX_FILES: u32 = 64;

impl Bundle {
    /// The bundle as one byte string, manifest first.
    pub fn to_packed(&self) -> Vec<u8> {
        let manifest = self.manifest_bytes();
        let entries: Vec<(&str, &[u8])> = std::iter::once((MANIFEST, manifest.as_slice()))
            .chain(self.files.iter().map(|(n, b)| (n.as_str(), b.as_slice())))
            .collect();
        let mut out = Vec::with_capacity(16 + entries.iter().map(|(n, b)| 8 + n.len() + b.len()).sum::<usize>());
        out.extend_from_slice(PACKED_MAGIC);
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for (name, bytes) in entries {
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        out
    }

    /// Reads a packed bundle and verifies it (digests, listed files) like any other source.
    pub fn from_packed(bytes: &[u8]) -> Result<Bundle> {
        let bad = |what: &str| Error::Bundle(format!("embedded bundle: {what}"));
        let mut r = Reader { bytes, pos: 0 };
        if r.take(PACKED_MAGIC.len()).ok_or_else(|| bad("truncated header"))? != PACKED_MAGIC {
            return Err(bad("not a packed bundle (wrong magic)"));
        }
        let count = r.u32().ok_or_else(|| bad("truncated header"))?;
        if count == 0 || count > MAX_FILES {
            return Err(bad(&format!("{count} files; expected 1 to {MAX_FILES}")));
        }
        let mut manifest: Option<&[u8]> = None;
        let mut files = BTreeMap::new();
        for i in 0..count {
            let n = r.u32().ok_or_else(|| bad("truncated file entry"))? as usize;
            let name = r.take(n).ok_or_else(|| bad("truncated file name"))?;
            let name = std::str::from_utf8(name).map_err(|_| bad("a file name is not UTF-8"))?;
            let len = r.u32().ok_or_else(|| bad("truncated file entry"))? as usize;
            let data = r.take(len).ok_or_else(|| bad(&format!("`{name}` is cut short")))?;
            if i == 0 {
                if name != MANIFEST {
                    return Err(bad("the first file is not manifest.json"));
                }
                if data.len() > MAX_MANIFEST_BYTES {
                    return Err(bad("manifest.json is too large"));
                }
                manifest = Some(data);
            } else if files.insert(name.to_string(), data.to_vec()).is_some() || name == MANIFEST {
                return Err(bad(&format!("`{name}` appears twice")));
            }
        }
        if r.pos != bytes.len() {
            return Err(bad("trailing bytes after the last file"));
        }
        Bundle::from_files(manifest.expect("count ≥ 1"), files)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Bundle {
        Bundle::load_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundle")).unwrap()
    }

    #[test]
    fn a_packed_bundle_unpacks_to_the_same_verified_files() {
        let b = fixture();
        let packed = b.to_packed();
        assert_eq!(&packed[..8], PACKED_MAGIC);
        let back = Bundle::from_packed(&packed).unwrap();
        assert_eq!(back.files(), b.files());
        assert_eq!(back.manifest, b.manifest);
    }

    #[test]
    fn damaged_packed_bundles_are_refused_with_a_reason() {
        let packed = fixture().to_packed();
        let err = |bytes: &[u8]| Bundle::from_packed(bytes).unwrap_err().to_string();
        for cut in [0, 4, 8, 11, 12, 40, packed.len() / 2, packed.len() - 1] {
            assert!(err(&packed[..cut]).starts_with("invalid bundle: embedded bundle"), "cut at {cut}");
        }
        let mut extra = packed.clone();
        extra.push(0);
        assert!(err(&extra).contains("trailing bytes"));
        let mut magic = packed.clone();
        magic[0] ^= 1;
        assert!(err(&magic).contains("wrong magic"));
        let mut count = packed.clone();
        count[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(err(&count).contains("expected 1 to 64"));
        // A length field claiming 4 GiB in a short input: refused, nothing allocated for it.
        let mut huge = packed.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(err(&huge).contains("cut short") || err(&huge).contains("truncated"));
        // A flipped byte inside a file: the manifest's digest catches it.
        let mut flipped = packed.clone();
        let n = flipped.len();
        flipped[n - 3] ^= 0x20;
        assert!(matches!(Bundle::from_packed(&flipped), Err(Error::DigestMismatch { .. })));
    }
}
