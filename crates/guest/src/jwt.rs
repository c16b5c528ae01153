//! An instance's JWT settings: the verifier built from the variables at its first request, and
//! the issuer's JWKS URL read again when a token names a key the instance lacks (key rotation),
//! at most every [`REFETCH_MS`].

use std::cell::{Cell, RefCell};

use scorelet::jwt::Verifier;
use scorelet::service::{HttpRequest, bearer};

use crate::{Platform, SERVICE, variables};

/// Least time between two reads of the JWKS URL.
const REFETCH_MS: u64 = 30_000;
/// Largest JWKS document accepted from the URL.
const MAX_JWKS: usize = 1 << 20;

/// The JWT variables, kept to rebuild the verifier when the JWKS URL is read again.
struct Source {
    issuer: String,
    audience: String,
    jwks: Option<String>,
    url: Option<String>,
    secret: Option<String>,
}

thread_local! {
    static SOURCE: RefCell<Option<Source>> = const { RefCell::new(None) };
    static NEXT_FETCH_MS: Cell<u64> = const { Cell::new(0) };
}

impl Source {
    /// The verifier for these settings plus the keys of `fetched` (the URL's document).
    fn verifier(&self, fetched: Option<&str>) -> Result<Verifier, String> {
        let mut v = Verifier::new(&self.issuer, &self.audience)?;
        if let Some(secret) = &self.secret {
            v.add_secret(secret.as_bytes()).map_err(|e| format!("`{}`: {e}", variables::JWT_SECRET))?;
        }
        if let Some(doc) = &self.jwks {
            v.add_jwks(doc).map_err(|e| format!("`{}`: {e}", variables::JWT_JWKS))?;
        }
        if let Some(doc) = fetched
            && let Err(e) = v.add_jwks(doc)
        {
            eprintln!("scorelet: the JWKS document at `{}` is not used: {e}", self.url.as_deref().unwrap_or(""));
        }
        Ok(v)
    }
}

async fn fetch<P: Platform>(p: &P, url: &str) -> Option<String> {
    NEXT_FETCH_MS.set(p.now_ms().saturating_add(REFETCH_MS));
    match p.get(url, None).await {
        Ok(body) if body.len() <= MAX_JWKS => match String::from_utf8(body) {
            Ok(doc) => Some(doc),
            Err(_) => {
                eprintln!("scorelet: the JWKS document at `{url}` is not UTF-8");
                None
            }
        },
        Ok(_) => {
            eprintln!("scorelet: the JWKS document at `{url}` is over {MAX_JWKS} bytes");
            None
        }
        Err(e) => {
            eprintln!("scorelet: cannot fetch the JWKS document at `{url}`: {}", crate::fetch_failed(e));
            None
        }
    }
}

/// Reads the JWT variables: `Ok(None)` when no key setting is given, the verifier when one is,
/// and an error (which closes the guarded routes) when a variable cannot be read, the issuer or
/// audience is missing, or a configured key is unusable. A JWKS URL that cannot be fetched now
/// is not an error: it is tried again when a token needs it.
pub(crate) async fn configure<P: Platform>(p: &P) -> Result<Option<Verifier>, String> {
    let mut values = Vec::new();
    for name in [
        variables::JWT_JWKS,
        variables::JWT_JWKS_URL,
        variables::JWT_SECRET,
        variables::JWT_ISSUER,
        variables::JWT_AUDIENCE,
    ] {
        values.push(p.lookup(name).await.map_err(|e| format!("the `{name}` variable could not be read: {e}"))?);
    }
    let [jwks, url, secret, issuer, audience]: [Option<String>; 5] = values.try_into().expect("five names");
    if jwks.is_none() && url.is_none() && secret.is_none() {
        return Ok(None);
    }
    let needs = |v: Option<String>, name: &str| {
        v.ok_or_else(|| format!("JWTs are configured without `{name}`: set it to the value tokens must carry"))
    };
    let source = Source {
        issuer: needs(issuer, variables::JWT_ISSUER)?,
        audience: needs(audience, variables::JWT_AUDIENCE)?,
        jwks,
        url,
        secret,
    };
    let fetched = match &source.url {
        Some(url) => fetch(p, url).await,
        None => None,
    };
    let v = source.verifier(fetched.as_deref())?;
    SOURCE.with_borrow_mut(|s| *s = Some(source));
    Ok(Some(v))
}

/// A new verifier when `req` carries a token no configured key can check, a JWKS URL is set and
/// it was last read [`REFETCH_MS`] ago or more.
pub(crate) async fn refresh_due<P: Platform>(p: &P, req: &HttpRequest<'_>) -> Option<Verifier> {
    let token = bearer(req.authorization)?;
    let url = SOURCE.with_borrow(|s| s.as_ref().and_then(|s| s.url.clone()))?;
    let now = p.now_ms();
    if now < NEXT_FETCH_MS.get() {
        return None;
    }
    let unknown = SERVICE.with_borrow(|s| Some(s.as_ref()?.jwt()?.lacks_key(token.trim())))?;
    if !unknown {
        return None;
    }
    let doc = fetch(p, &url).await?;
    SOURCE.with_borrow(|s| s.as_ref()?.verifier(Some(&doc)).ok())
}
