//! The native registry client used by the CLI: publishing (a tar upload), alias moves, listings,
//! and fetching by reference through the core's sans-IO [`scorelet::registry::Fetch`], so native
//! pulls verify exactly as the Wasm runtimes do.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use scorelet::Bundle;
use scorelet::bundle::seal::{self, PublicKey, SecretKey};
use scorelet::registry::{Fetch, ModelRef, Urls};
use serde_json::Value;

/// Largest response read (a bundle file).
const MAX_BODY: u64 = 512 << 20;

/// The client's HTTP agent: statuses are answers, not errors; two minutes for any request.
fn agent(tls: ureq::tls::TlsConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .tls_config(tls)
        .build()
        .into()
}

/// A client for one registry.
pub struct Client {
    agent: ureq::Agent,
    urls: Urls,
    token: Option<String>,
}

impl Client {
    /// `base` like `http://127.0.0.1:8700`; `token` is sent as a bearer token.
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client { agent: agent(ureq::tls::TlsConfig::default()), urls: Urls::new(base), token }
    }

    /// Trusts the CA certificates in the PEM file `ca` (and only those) for https.
    pub fn trusting(mut self, ca: &Path) -> Result<Client> {
        use ureq::tls::{Certificate, RootCerts, TlsConfig};
        let roots: Vec<Certificate<'static>> =
            crate::tls::certificates(ca)?.iter().map(|c| Certificate::from_der(c.as_ref()).to_owned()).collect();
        self.agent = agent(TlsConfig::builder().root_certs(RootCerts::Specific(std::sync::Arc::new(roots))).build());
        Ok(self)
    }

    pub fn urls(&self) -> &Urls {
        &self.urls
    }

    fn auth<B>(&self, r: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => r.header("authorization", format!("Bearer {t}")),
            None => r,
        }
    }

    fn finish(&self, what: &str, resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Vec<u8>> {
        let mut resp = resp.with_context(|| format!("{what}: cannot reach the registry at {}", self.urls.base()))?;
        let status = resp.status();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .with_context(|| format!("{what}: reading the response"))?;
        if status.is_success() {
            return Ok(body);
        }
        let msg = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
        bail!("{what}: {} {}: {msg}", status.as_u16(), status.canonical_reason().unwrap_or(""))
    }

    /// GET a URL.
    pub fn get(&self, what: &str, url: &str) -> Result<Vec<u8>> {
        self.finish(what, self.auth(self.agent.get(url)).call())
    }

    fn get_json(&self, what: &str, url: &str) -> Result<Value> {
        serde_json::from_slice(&self.get(what, url)?)
            .with_context(|| format!("{what}: the registry's answer is not JSON"))
    }

    /// Publishes a bundle directory; returns the reference `name@version`.
    pub fn push(&self, dir: &Path) -> Result<ModelRef> {
        self.push_signed(dir, None)
    }

    /// Publishes a bundle directory, its manifest signed with `key` first if given. Returns the
    /// new version's reference pinned to the stored manifest's digest (`name@N#sha256:…`).
    pub fn push_signed(&self, dir: &Path, key: Option<&SecretKey>) -> Result<ModelRef> {
        // Verify before sending: a broken bundle is refused here with the local error.
        let b = Bundle::load_dir(dir).with_context(|| format!("{} is not a valid bundle", dir.display()))?;
        let mut manifest = b.manifest.clone();
        if let Some(key) = key {
            seal::sign(&mut manifest, key);
        }
        let manifest = serde_json::to_vec_pretty(&manifest)?;
        let tar =
            crate::archive::pack_files(&manifest, b.files()).with_context(|| format!("packing {}", dir.display()))?;
        let url = self.urls.versions(&b.manifest.name);
        let body = self.finish(
            "push",
            self.auth(self.agent.post(&url)).header("content-type", "application/x-tar").send(&tar[..]),
        )?;
        let v: Value = serde_json::from_slice(&body)?;
        let pin = v["digest"].as_str().map(|d| format!("#sha256:{d}")).unwrap_or_default();
        format!("{}@{}{pin}", b.manifest.name, v["version"]).parse().map_err(Into::into)
    }

    /// Fetches and verifies a bundle by reference.
    pub fn fetch(&self, r: &ModelRef) -> Result<Bundle> {
        self.fetch_with_key(r, None)
    }

    /// Fetches and verifies a bundle by reference; with `key`, it must be signed with it.
    pub fn fetch_with_key(&self, r: &ModelRef, key: Option<PublicKey>) -> Result<Bundle> {
        let mut f = Fetch::new(self.urls.base(), r).with_key(key);
        while let Some(url) = f.next_url() {
            let body = self.get(&format!("pull {r}"), &url)?;
            f.feed(body).with_context(|| format!("pull {r}: {url}"))?;
        }
        Ok(f.finish()?)
    }

    /// Model names.
    pub fn models(&self) -> Result<Vec<String>> {
        let v = self.get_json("models", &self.urls.models())?;
        Ok(v["models"].as_array().into_iter().flatten().filter_map(|m| m.as_str().map(String::from)).collect())
    }

    /// Versions of a model, with metrics, as the registry lists them.
    pub fn versions(&self, name: &str) -> Result<Vec<Value>> {
        Ok(self.get_json("versions", &self.urls.versions(name))?["versions"].as_array().cloned().unwrap_or_default())
    }

    /// The manifest of a version.
    pub fn manifest(&self, name: &str, version: u64) -> Result<scorelet::bundle::Manifest> {
        Ok(Bundle::parse_manifest(&self.get("manifest", &self.urls.manifest(name, version))?)?)
    }

    /// Aliases of a model: alias → document.
    pub fn aliases(&self, name: &str) -> Result<serde_json::Map<String, Value>> {
        Ok(self.get_json("aliases", &self.urls.aliases(name))?["aliases"].as_object().cloned().unwrap_or_default())
    }

    /// The version an alias points at.
    pub fn resolve_alias(&self, name: &str, alias: &str) -> Result<u64> {
        Ok(scorelet::registry::parse_alias(&self.get("alias", &self.urls.alias(name, alias))?)?)
    }

    /// Points an alias at a version.
    pub fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<()> {
        let body = serde_json::json!({"version": version}).to_string();
        self.finish(
            "alias set",
            self.auth(self.agent.put(&self.urls.alias(name, alias)))
                .header("content-type", "application/json")
                .send(body.as_bytes()),
        )?;
        Ok(())
    }

    /// Moves an alias through the server's promote endpoint, which checks `require` and
    /// `not_worse_than` (and the server's own gate) against the stored manifests. Fails with
    /// every reason when the gate refuses.
    pub fn promote(
        &self,
        name: &str,
        alias: &str,
        version: u64,
        require: &[String],
        not_worse_than: Option<&str>,
    ) -> Result<()> {
        let body = serde_json::json!({"version": version, "require": require, "not_worse_than": not_worse_than});
        self.finish(
            "promote",
            self.auth(self.agent.post(format!("{}/promote", self.urls.alias(name, alias))))
                .header("content-type", "application/json")
                .send(body.to_string().as_bytes()),
        )?;
        Ok(())
    }

    /// Moves an alias back to its previous target: the `from` of the last move in its history
    /// (so a second rollback undoes the first). A protected alias moves through the promote
    /// endpoint, and its gate. Returns where it pointed (`None`: it had been removed) and where
    /// it points now.
    pub fn rollback_alias(&self, name: &str, alias: &str) -> Result<(Option<u64>, u64)> {
        let mut offset = 0u64;
        let mut last = None;
        loop {
            let url = format!("{}/history?offset={offset}&limit=1000", self.urls.alias(name, alias));
            let page = self.get_json("alias history", &url)?;
            if let Some(m) = page["moves"].as_array().and_then(|m| m.last()) {
                last = Some(m.clone());
            }
            match page["next"].as_u64() {
                Some(n) if n > offset => offset = n,
                _ => break,
            }
        }
        let last = last.with_context(|| format!("{name}@{alias} has no moves in its history to roll back"))?;
        let (current, previous) = (last["to"].as_u64(), last["from"].as_u64());
        let Some(previous) = previous else {
            bail!(
                "{name}@{alias} was created by its last move (to version {}); there is no earlier version to roll back to \
                 (move it with `scorelet alias set`, or remove it)",
                current.map_or("none".into(), |v| v.to_string())
            );
        };
        let now = self.resolve_alias(name, alias).ok();
        if now != current {
            bail!(
                "{name}@{alias} points at {} but its history ends at {}; it moved meanwhile: look at `scorelet alias ls {name}` and retry",
                now.map_or("nothing".into(), |v| v.to_string()),
                current.map_or("nothing".into(), |v| v.to_string())
            );
        }
        match self.set_alias(name, alias, previous) {
            Ok(()) => {}
            Err(e) if format!("{e:#}").contains("protected alias") => self.promote(name, alias, previous, &[], None)?,
            Err(e) => return Err(e),
        }
        Ok((current, previous))
    }

    /// Removes an alias.
    pub fn delete_alias(&self, name: &str, alias: &str) -> Result<()> {
        self.finish("alias rm", self.auth(self.agent.delete(&self.urls.alias(name, alias))).call())?;
        Ok(())
    }
}
