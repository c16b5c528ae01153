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

/// `name@version` or `name@alias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub name: String,
    pub reference: Reference,
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
        Ok(ModelRef { name: name.to_string(), reference })
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reference {
            Reference::Version(v) => write!(f, "{}@{v}", self.name),
            Reference::Alias(a) => write!(f, "{}@{a}", self.name),
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
        serde_json::from_slice(body).map_err(|e| Error::Bundle(format!("alias document is not JSON: {e}")))?;
    v.get("version")
        .and_then(|v| v.as_u64())
        .filter(|v| *v > 0)
        .ok_or_else(|| Error::Bundle("alias document has no positive `version`".into()))
}

#[derive(Debug)]
enum State {
    Alias,
    Manifest,
    Files { manifest: Vec<u8>, parsed: Box<Manifest>, pending: Vec<String>, got: BTreeMap<String, Vec<u8>> },
    Done { manifest: Vec<u8>, files: BTreeMap<String, Vec<u8>> },
}

/// Fetching one bundle by reference, a GET at a time: ask [`Fetch::next_url`], GET it, hand the
/// body to [`Fetch::feed`], repeat until `next_url` is `None`, then [`Fetch::finish`]. Every file
/// is checked against the manifest as it arrives.
#[derive(Debug)]
pub struct Fetch {
    urls: Urls,
    name: String,
    alias: Option<String>,
    version: Option<u64>,
    state: State,
}

impl Fetch {
    pub fn new(base: &str, r: &ModelRef) -> Fetch {
        let (version, alias, state) = match &r.reference {
            Reference::Version(v) => (Some(*v), None, State::Manifest),
            Reference::Alias(a) => (None, Some(a.clone()), State::Alias),
        };
        Fetch { urls: Urls::new(base), name: r.name.clone(), alias, version, state }
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
            State::Done { .. } => None,
        }
    }

    /// Takes the body of the last URL.
    pub fn feed(&mut self, body: Vec<u8>) -> Result<()> {
        let state = std::mem::replace(&mut self.state, State::Alias);
        self.state = match state {
            State::Alias => {
                self.version = Some(parse_alias(&body)?);
                State::Manifest
            }
            State::Manifest => {
                let parsed = Bundle::parse_manifest(&body)?;
                if parsed.name != self.name {
                    return Err(Error::Bundle(format!(
                        "the registry sent model {:?} for {:?}",
                        parsed.name, self.name
                    )));
                }
                if parsed.version != self.version {
                    return Err(Error::Bundle(format!(
                        "the registry sent version {:?} for {:?}",
                        parsed.version, self.version
                    )));
                }
                let pending: Vec<String> = parsed.files.keys().rev().cloned().collect();
                State::Files { manifest: body, parsed: Box::new(parsed), pending, got: BTreeMap::new() }
            }
            State::Files { manifest, parsed, mut pending, mut got } => {
                let name = pending.pop().ok_or_else(|| Error::Bundle("no file was requested".into()))?;
                verify_file(&name, &parsed.files[&name], &body)?;
                got.insert(name, body);
                if pending.is_empty() {
                    State::Done { manifest, files: got }
                } else {
                    State::Files { manifest, parsed, pending, got }
                }
            }
            State::Done { .. } => return Err(Error::Bundle("nothing more was requested".into())),
        };
        Ok(())
    }

    /// The verified bundle.
    pub fn finish(self) -> Result<Bundle> {
        match self.state {
            State::Done { manifest, files } => Bundle::from_files(&manifest, files),
            _ => Err(Error::Bundle("the fetch is not complete".into())),
        }
    }
}

/// Fetches and verifies the bundle `r` from the registry at `base`, with `get` doing each GET
/// (the platform's HTTP client; it should send the read token if there is one, and fail on a
/// non-2xx status).
pub async fn fetch<F, Fut>(base: &str, r: &ModelRef, mut get: F) -> Result<Bundle>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<u8>>>,
{
    let mut fetch = Fetch::new(base, r);
    while let Some(url) = fetch.next_url() {
        let body = get(url).await?;
        fetch.feed(body)?;
    }
    fetch.finish()
}
