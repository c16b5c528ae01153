//! Publisher signatures: an Ed25519 signature over a manifest, so a runtime configured with the
//! publisher's public key refuses a bundle anyone else assembled, even one whose digests are all
//! consistent (a registry or proxy that rewrote the manifest, the model and the golden file).
//!
//! The signature covers the manifest without its registry-assigned `version` and without the
//! seal itself, serialized compactly after a domain prefix; the manifest lists every file's
//! sha256, so the signature covers every byte of the bundle. Keys are 32 bytes, written as hex.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use super::manifest::{Manifest, Seal};
use crate::error::{Error, Result};

/// What is signed is prefixed with this, so a signature cannot be replayed for another purpose.
const DOMAIN: &[u8] = b"scorelet manifest seal v1\n";

/// A publisher's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// A publisher's secret key.
pub struct SecretKey(SigningKey);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(s: &str, what: &str) -> Result<[u8; N]> {
    let s = s.trim();
    let bad = || Error::Config(format!("{what} is not {N} bytes of hex ({} hex digits)", 2 * N));
    if s.len() != 2 * N || !s.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

impl PublicKey {
    /// A key from its hex form (what `scorelet keygen` writes to `NAME.pub`).
    pub fn from_hex(s: &str) -> Result<PublicKey> {
        let bytes = unhex::<32>(s, "the registry public key")?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| Error::Config("the registry public key is not a valid Ed25519 key".into()))
    }

    pub fn to_hex(&self) -> String {
        hex(self.0.as_bytes())
    }
}

impl SecretKey {
    /// A key from its 32-byte seed in hex (what `scorelet keygen` writes to `NAME.key`).
    pub fn from_hex(s: &str) -> Result<SecretKey> {
        Ok(SecretKey(SigningKey::from_bytes(&unhex::<32>(s, "the signing key")?)))
    }

    /// A key from a 32-byte random seed.
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    pub fn to_hex(&self) -> String {
        hex(self.0.as_bytes())
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

/// The bytes a seal signs: the domain prefix and the manifest without `version` and `seal`.
pub fn signed_bytes(m: &Manifest) -> Vec<u8> {
    let mut m = m.clone();
    m.version = None;
    m.seal = None;
    let mut out = DOMAIN.to_vec();
    out.extend_from_slice(&serde_json::to_vec(&m).expect("manifest serializes"));
    out
}

/// Signs `m` with `key`, replacing any seal it had.
pub fn sign(m: &mut Manifest, key: &SecretKey) {
    let sig = key.0.sign(&signed_bytes(m));
    m.seal = Some(Seal { key: key.public().to_hex(), ed25519: hex(&sig.to_bytes()) });
}

/// Checks that `m` carries a seal made with `key`.
pub fn verify(m: &Manifest, key: &PublicKey) -> Result<()> {
    let refuse = |why: String| Err(Error::Registry(format!("{} refused: {why}", m.name)));
    let Some(seal) = &m.seal else {
        return refuse(
            "the manifest is not signed, and this runtime only accepts bundles signed with its configured key".into(),
        );
    };
    if !seal.key.eq_ignore_ascii_case(&key.to_hex()) {
        return refuse(format!("the manifest is signed with key {}, not the configured {}", seal.key, key.to_hex()));
    }
    let sig = unhex::<64>(&seal.ed25519, "the manifest's signature").map(|b| Signature::from_bytes(&b));
    match sig {
        Ok(sig) if key.0.verify(&signed_bytes(m), &sig).is_ok() => Ok(()),
        _ => refuse("the manifest's signature does not verify: it was changed after signing".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Bundle;

    fn manifest() -> Manifest {
        Bundle::load_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundle")).unwrap().manifest
    }

    #[test]
    fn a_signed_manifest_verifies_with_its_key_only_and_the_version_is_not_signed() {
        let key = SecretKey::from_seed([7; 32]);
        let other = SecretKey::from_seed([8; 32]);
        let mut m = manifest();
        assert!(verify(&m, &key.public()).unwrap_err().to_string().contains("not signed"));
        sign(&mut m, &key);
        verify(&m, &key.public()).unwrap();
        // The registry assigns the version after signing.
        m.version = Some(42);
        verify(&m, &key.public()).unwrap();
        assert!(verify(&m, &other.public()).unwrap_err().to_string().contains("signed with key"));
        // Anything else changed: refused.
        let mut changed = m.clone();
        changed.metrics.insert("roc_auc".into(), 0.99);
        assert!(verify(&changed, &key.public()).unwrap_err().to_string().contains("does not verify"));
        let mut changed = m.clone();
        changed.files.values_mut().next().unwrap().sha256 = "0".repeat(64);
        assert!(verify(&changed, &key.public()).is_err());
        // The hex forms round-trip; garbage is a clear error.
        assert_eq!(PublicKey::from_hex(&key.public().to_hex()).unwrap(), key.public());
        assert_eq!(SecretKey::from_hex(&key.to_hex()).unwrap().public(), key.public());
        for bad in ["", "zz", &"0".repeat(63), &"g".repeat(64)] {
            assert!(PublicKey::from_hex(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_vec(&m).unwrap();
        verify(&Bundle::parse_manifest(&json).unwrap(), &key.public()).unwrap();
    }
}
