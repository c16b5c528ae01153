//! The registry's read protocol without I/O: references (`name@3`, `name@production`), the URLs
//! to GET, and verification of what comes back. The caller's platform does the HTTP (Spin
//! outbound HTTP, `fetch` in browsers and workers, a native client), so every runtime fetches and
//! verifies a model by version the same way:
//!
//! ```text
//! GET {base}/v1/models/{name}/aliases/{alias}          (aliases only) → {"version": 3, …}
//! GET {base}/v1/models/{name}/versions/3/manifest.json
//! GET {base}/v1/models/{name}/versions/3/files/{file}  (every file the manifest lists)
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::bundle::seal::PublicKey;
use crate::bundle::{Bundle, Manifest, valid_model_name, verify_file};
use crate::error::{Error, Result};

/// What a reference points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// An immutable version.
    Version(u64),
    /// A mutable alias such as `production`.
    Alias(String),
}

/// `name@version` or `name@alias`, optionally pinned to content: `name@3#sha256:<hex>` is only
/// accepted when the manifest the registry sends has that sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub name: String,
    pub reference: Reference,
    /// The pinned manifest digest (64 lowercase hex digits), if any.
    pub digest: Option<String>,
}

/// Whether `a` is a valid alias: `[a-z][a-z0-9_-]{0,63}` (never all digits, so it cannot be
/// mistaken for a version).
pub fn valid_alias(a: &str) -> bool {
    let b = a.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

impl FromStr for ModelRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let (s, digest) = match s.split_once('#') {
            None => (s, None),
            Some((r, pin)) => {
                let hex = pin.strip_prefix("sha256:").unwrap_or("");
                if hex.len() != 64 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return Err(Error::BadRequest(format!(
                        "{:?} is not a content pin: write NAME@VERSION#sha256:<64 hex digits of the manifest's sha256>",
                        pin.chars().take(80).collect::<String>()
                    )));
                }
                (r, Some(hex.to_ascii_lowercase()))
            }
        };
        let (name, r) =
            s.split_once('@').ok_or_else(|| Error::BadRequest(format!("{s:?} is not NAME@VERSION or NAME@ALIAS")))?;
        if !valid_model_name(name) {
            return Err(Error::BadRequest(format!("model name {name:?} is not [a-z0-9][a-z0-9._-]{{0,63}}")));
        }
        let reference = if !r.is_empty() && r.bytes().all(|c| c.is_ascii_digit()) {
            let v: u64 = r.parse().map_err(|_| Error::BadRequest(format!("version {r:?} is too large")))?;
            if v == 0 {
                return Err(Error::BadRequest("versions start at 1".into()));
            }
            Reference::Version(v)
        } else if valid_alias(r) {
            Reference::Alias(r.to_string())
        } else {
            return Err(Error::BadRequest(format!(
                "{r:?} is neither a version number nor an alias ([a-z][a-z0-9_-]{{0,63}})"
            )));
        };
        Ok(ModelRef { name: name.to_string(), reference, digest })
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reference {
            Reference::Version(v) => write!(f, "{}@{v}", self.name)?,
            Reference::Alias(a) => write!(f, "{}@{a}", self.name)?,
        }
        match &self.digest {
            Some(d) => write!(f, "#sha256:{d}"),
            None => Ok(()),
        }
    }
}

/// URLs of a registry at `base` (e.g. `http://127.0.0.1:8700`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urls {
    base: String,
}

impl Urls {
    pub fn new(base: &str) -> Urls {
        Urls { base: base.trim_end_matches('/').to_string() }
    }
    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }
    pub fn models(&self) -> String {
        format!("{}/v1/models", self.base)
    }
    pub fn versions(&self, name: &str) -> String {
        format!("{}/v1/models/{name}/versions", self.base)
    }
    pub fn aliases(&self, name: &str) -> String {
        format!("{}/v1/models/{name}/aliases", self.base)
    }
    pub fn alias(&self, name: &str, alias: &str) -> String {
        format!("{}/v1/models/{name}/aliases/{alias}", self.base)
    }
    pub fn manifest(&self, name: &str, version: u64) -> String {
        format!("{}/v1/models/{name}/versions/{version}/manifest.json", self.base)
    }
    pub fn file(&self, name: &str, version: u64, file: &str) -> String {
        format!("{}/v1/models/{name}/versions/{version}/files/{file}", self.base)
    }
}

/// An alias document: `{"version": 3, ...}`.
pub fn parse_alias(body: &[u8]) -> Result<u64> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| Error::Registry(format!("the alias document is not JSON: {e}")))?;
    v.get("version")
        .and_then(|v| v.as_u64())
        .filter(|v| *v > 0)
        .ok_or_else(|| Error::Registry("the alias document has no positive `version`".into()))
}

#[derive(Debug)]
enum State {
    Alias,
    Manifest,
    Files {
        manifest: Vec<u8>,
        parsed: Box<Manifest>,
        pending: Vec<String>,
        got: BTreeMap<String, Vec<u8>>,
    },
    Done {
        manifest: Vec<u8>,
        files: BTreeMap<String, Vec<u8>>,
    },
    /// A body was refused: the fetch is over, and says why from then on.
    Failed(Error),
}

/// Fetching one bundle by reference, a GET at a time: ask [`Fetch::next_url`], GET it, hand the
/// body to [`Fetch::feed`], repeat until `next_url` is `None`, then [`Fetch::finish`]. Every file
/// is checked against the manifest as it arrives. After a refused body the fetch is failed for
/// good: `next_url` is `None`, and `feed` and `finish` return the first error.
#[derive(Debug)]
pub struct Fetch {
    urls: Urls,
    name: String,
    alias: Option<String>,
    version: Option<u64>,
    digest: Option<String>,
    key: Option<PublicKey>,
    state: State,
}

impl Fetch {
    pub fn new(base: &str, r: &ModelRef) -> Fetch {
        let (version, alias, state) = match &r.reference {
            Reference::Version(v) => (Some(*v), None, State::Manifest),
            Reference::Alias(a) => (None, Some(a.clone()), State::Alias),
        };
        Fetch {
            urls: Urls::new(base),
            name: r.name.clone(),
            alias,
            version,
            digest: r.digest.clone(),
            key: None,
            state,
        }
    }

    /// Refuses manifests that are unsigned or not signed by `key` (see [`crate::bundle::seal`]).
    pub fn with_key(mut self, key: Option<PublicKey>) -> Fetch {
        self.key = key;
        self
    }

    /// The resolved version, once known.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// The next URL to GET, or `None` when everything has arrived.
    pub fn next_url(&self) -> Option<String> {
        match &self.state {
            State::Alias => self.alias.as_ref().map(|a| self.urls.alias(&self.name, a)),
            State::Manifest => Some(self.urls.manifest(&self.name, self.version?)),
            State::Files { pending, .. } => {
                pending.last().map(|f| self.urls.file(&self.name, self.version.unwrap_or(0), f))
            }
            State::Done { .. } | State::Failed(_) => None,
        }
    }

    /// Takes the body of the last URL.
    pub fn feed(&mut self, body: Vec<u8>) -> Result<()> {
        let state = std::mem::replace(&mut self.state, State::Failed(Error::Registry("interrupted".into())));
        match self.advance(state, body) {
            Ok(next) => {
                self.state = next;
                Ok(())
            }
            Err(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
        }
    }

    fn advance(&mut self, state: State, body: Vec<u8>) -> Result<State> {
        Ok(match state {
            State::Alias => {
                self.version = Some(parse_alias(&body)?);
                State::Manifest
            }
            State::Manifest => {
                if let Some(pin) = &self.digest {
                    let got = crate::bundle::sha256_hex(&body);
                    if &got != pin {
                        return Err(Error::Registry(format!(
                            "the manifest of {}@{} has sha256 {got}, not the pinned {pin}: refused",
                            self.name,
                            self.version.unwrap_or(0)
                        )));
                    }
                }
                let parsed = Bundle::parse_manifest(&body)?;
                if let Some(key) = &self.key {
                    crate::bundle::seal::verify(&parsed, key)?;
                }
                if parsed.name != self.name {
                    return Err(Error::Registry(format!("it sent model {:?} for {:?}", parsed.name, self.name)));
                }
                if parsed.version != self.version {
                    return Err(Error::Registry(format!(
                        "it sent version {:?} for {:?}",
                        parsed.version, self.version
                    )));
                }
                let pending: Vec<String> = parsed.files.keys().rev().cloned().collect();
                State::Files { manifest: body, parsed: Box::new(parsed), pending, got: BTreeMap::new() }
            }
            State::Files { manifest, parsed, mut pending, mut got } => {
                let name = pending.pop().ok_or_else(|| Error::Registry("no file was requested".into()))?;
                verify_file(&name, &parsed.files[&name], &body)?;
                got.insert(name, body);
                if pending.is_empty() {
                    State::Done { manifest, files: got }
                } else {
                    State::Files { manifest, parsed, pending, got }
                }
            }
            State::Done { .. } => return Err(Error::Registry("a body arrived after the last file".into())),
            State::Failed(e) => return Err(e),
        })
    }

    /// The verified bundle.
    pub fn finish(self) -> Result<Bundle> {
        match self.state {
            State::Done { manifest, files } => Bundle::from_files(&manifest, files),
            State::Failed(e) => Err(e),
            _ => Err(Error::Registry("the fetch is not complete".into())),
        }
    }
}

/// Fetches and verifies the bundle `r` from the registry at `base`, with `get` doing each GET
/// (the platform's HTTP client; it should send the read token if there is one, and fail on a
/// non-2xx status).
pub async fn fetch<F, Fut>(base: &str, r: &ModelRef, key: Option<PublicKey>, mut get: F) -> Result<Bundle>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<u8>>>,
{
    let mut fetch = Fetch::new(base, r).with_key(key);
    while let Some(url) = fetch.next_url() {
        let body = get(url).await?;
        fetch.feed(body)?;
    }
    fetch.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in fixture: a published bundle (`churn@1`, Telco logistic regression).
    fn fixture() -> Bundle {
        Bundle::load_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundle")).unwrap()
    }

    /// What a registry at `http://r` would answer for `url`.
    fn body(b: &Bundle, url: &str) -> Vec<u8> {
        let prefix = "http://r/v1/models/churn/";
        let rest = url.strip_prefix(prefix).unwrap_or_else(|| panic!("unexpected URL {url}"));
        match rest {
            "aliases/production" => br#"{"version": 1, "updated": "2026-01-01T00:00:00Z"}"#.to_vec(),
            "versions/1/manifest.json" => b.manifest_bytes(),
            f => b.file(f.strip_prefix("versions/1/files/").unwrap()).unwrap().to_vec(),
        }
    }

    #[test]
    fn references_parse_and_print() {
        let r: ModelRef = "churn@3".parse().unwrap();
        assert_eq!(r.reference, Reference::Version(3));
        assert_eq!(r.to_string(), "churn@3");
        let r: ModelRef = "churn@production".parse().unwrap();
        assert_eq!(r.reference, Reference::Alias("production".into()));
        for bad in ["churn", "churn@0", "churn@", "Churn@1", "churn@Prod", "churn@99999999999999999999999"] {
            assert!(bad.parse::<ModelRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn pinned_references_parse_print_and_refuse_other_manifests() {
        let b = fixture();
        let digest = crate::bundle::sha256_hex(&b.manifest_bytes());
        let pinned = format!("churn@1#sha256:{}", digest.to_ascii_uppercase());
        let r: ModelRef = pinned.parse().unwrap();
        assert_eq!(r.digest.as_deref(), Some(digest.as_str()), "stored lowercase");
        assert_eq!(r.to_string(), format!("churn@1#sha256:{digest}"));
        for bad in ["churn@1#", "churn@1#sha256:", "churn@1#md5:00", &format!("churn@1#sha256:{}", &digest[1..])] {
            let e = bad.parse::<ModelRef>().unwrap_err();
            assert!(e.to_string().contains("content pin"), "{bad}: {e}");
        }
        // The right manifest passes; one byte changed anywhere in it (here, a consistent
        // rewrite that keeps every file digest valid) is refused before any file is fetched.
        let mut f = Fetch::new("http://r", &r);
        while let Some(url) = f.next_url() {
            f.feed(body(&b, &url)).unwrap();
        }
        f.finish().unwrap();
        let mut other = b.manifest.clone();
        other.created = "2030-01-01T00:00:00Z".into();
        let mut f = Fetch::new("http://r", &r);
        let e = f.feed(serde_json::to_vec_pretty(&other).unwrap()).unwrap_err();
        assert!(e.to_string().contains("not the pinned"), "{e}");
        assert_eq!(f.next_url(), None);
        // An alias pinned too: the alias may move, the content may not.
        let r: ModelRef = format!("churn@production#sha256:{digest}").parse().unwrap();
        let mut f = Fetch::new("http://r", &r);
        f.feed(body(&b, &f.next_url().unwrap())).unwrap();
        f.feed(b.manifest_bytes()).unwrap();
    }

    #[test]
    fn a_fetch_with_a_key_refuses_unsigned_and_wrongly_signed_manifests() {
        use crate::bundle::seal::{SecretKey, sign};
        let b = fixture();
        let key = SecretKey::from_seed([1; 32]);
        let r: ModelRef = "churn@1".parse().unwrap();
        let first = |manifest: Vec<u8>, k: &SecretKey| {
            let mut f = Fetch::new("http://r", &r).with_key(Some(k.public()));
            f.feed(manifest)
        };
        assert!(first(b.manifest_bytes(), &key).unwrap_err().to_string().contains("not signed"));
        let mut signed = b.manifest.clone();
        sign(&mut signed, &key);
        let bytes = serde_json::to_vec_pretty(&signed).unwrap();
        first(bytes.clone(), &key).unwrap();
        assert!(first(bytes, &SecretKey::from_seed([2; 32])).unwrap_err().to_string().contains("signed with key"));
        // Signed by the right key, then rewritten consistently by someone without it.
        signed.metrics.insert("roc_auc".into(), 1.0);
        let e = first(serde_json::to_vec_pretty(&signed).unwrap(), &key).unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");
    }

    #[test]
    fn an_alias_fetch_resolves_then_gets_the_manifest_and_every_file() {
        let b = fixture();
        let mut f = Fetch::new("http://r/", &"churn@production".parse().unwrap());
        let mut urls = vec![];
        while let Some(url) = f.next_url() {
            f.feed(body(&b, &url)).unwrap();
            urls.push(url);
        }
        assert_eq!(f.version(), Some(1));
        assert_eq!(urls[0], "http://r/v1/models/churn/aliases/production");
        assert_eq!(urls[1], "http://r/v1/models/churn/versions/1/manifest.json");
        assert_eq!(urls.len(), 2 + b.manifest.files.len());
        let got = f.finish().unwrap();
        assert_eq!(got.files(), b.files());
        // Fed past the end: refused, and the fetch stays failed.
        let mut f = Fetch::new("http://r", &"churn@1".parse().unwrap());
        while let Some(url) = f.next_url() {
            f.feed(body(&b, &url)).unwrap();
        }
        assert_eq!(f.feed(vec![]).unwrap_err().code(), "registry_error");
        assert!(f.finish().is_err());
    }

    #[test]
    fn after_a_tampered_file_the_fetch_stays_failed_with_the_first_error() {
        let b = fixture();
        let mut f = Fetch::new("http://r", &"churn@1".parse().unwrap());
        f.feed(body(&b, &f.next_url().unwrap())).unwrap();
        let url = f.next_url().unwrap();
        let mut bytes = body(&b, &url);
        bytes[0] ^= 1;
        let e = f.feed(bytes).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
        assert_eq!(f.next_url(), None, "a failed fetch asks for nothing more");
        assert_eq!(f.feed(body(&b, &url)).unwrap_err(), e, "a good body after a bad one changes nothing");
        assert_eq!(f.finish().unwrap_err(), e);
    }

    #[test]
    fn a_registry_that_sends_the_wrong_thing_is_a_registry_error() {
        let b = fixture();
        let mut f = Fetch::new("http://r", &"churn@production".parse().unwrap());
        let e = f.feed(b"<html>proxy error</html>".to_vec()).unwrap_err();
        assert_eq!(e.code(), "registry_error");
        assert!(e.to_string().contains("alias document is not JSON"), "{e}");
        assert_eq!(f.next_url(), None);
        // Another model's manifest for `other@1`.
        let mut f = Fetch::new("http://r", &"other@1".parse().unwrap());
        let e = f.feed(b.manifest_bytes()).unwrap_err();
        assert!(e.to_string().contains("sent model \"churn\" for \"other\""), "{e}");
        // The right model at another version.
        let mut f = Fetch::new("http://r", &"churn@2".parse().unwrap());
        assert!(f.feed(b.manifest_bytes()).unwrap_err().to_string().contains("sent version Some(1)"));
        // Not a manifest at all.
        let mut f = Fetch::new("http://r", &"churn@1".parse().unwrap());
        assert_eq!(f.feed(b"{}".to_vec()).unwrap_err().code(), "invalid_bundle");
        assert!(Fetch::new("http://r", &"churn@1".parse().unwrap()).finish().is_err());
    }
}
