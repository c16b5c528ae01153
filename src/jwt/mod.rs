//! JSON Web Tokens on the scoring API, beside the API key: a compact JWS (RFC 7515) signed with
//! HS256, RS256 or EdDSA (Ed25519, RFC 8037), verified against keys from a JWKS document
//! (RFC 7517) or a shared secret, and accepted only when its issuer, audience, expiry and
//! not-before hold.
//!
//! What a token cannot do here:
//! - choose its own algorithm: each key serves the one algorithm its type implies (`oct` HS256,
//!   `RSA` RS256, `OKP`/`Ed25519` EdDSA), so `alg: none` and an RS256 public key used as an
//!   HS256 secret are both refused;
//! - skip a claim: `exp`, `iss` and `aud` are required; `nbf` is checked when present; `crit`
//!   headers are refused (none is understood);
//! - be large or malformed enough to matter: 8 KiB at most, strict base64url, JSON objects only.
//!
//! Clocks may disagree by [`LEEWAY_S`] seconds. Pure Rust (RustCrypto HMAC, ed25519-dalek,
//! our own RSA public operation in [`rsa`]), so the Wasm builds verify exactly as native does.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

mod rsa;

/// Seconds a token's `exp` and `nbf` may be off by (clock skew between issuer and server).
pub const LEEWAY_S: u64 = 60;
/// Largest token accepted, in bytes.
pub const MAX_TOKEN: usize = 8 << 10;
/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (a verify costs the square of the size).
pub const MAX_RSA_BITS: usize = 16384;
/// Smallest HS256 secret accepted, in bytes (RFC 7518 §3.2: the key is at least the hash size).
pub const MIN_SECRET: usize = 32;

/// The algorithms a key can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Hs256,
    Rs256,
    EdDsa,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Rs256 => "RS256",
            Alg::EdDsa => "EdDSA",
        }
    }

    fn parse(s: &str) -> Option<Alg> {
        [Alg::Hs256, Alg::Rs256, Alg::EdDsa].into_iter().find(|a| a.name() == s)
    }
}

enum Material {
    Secret(Vec<u8>),
    Rsa(rsa::PublicKey),
    Ed25519(VerifyingKey),
}

struct Key {
    kid: Option<String>,
    material: Material,
}

impl Key {
    fn alg(&self) -> Alg {
        match self.material {
            Material::Secret(_) => Alg::Hs256,
            Material::Rsa(_) => Alg::Rs256,
            Material::Ed25519(_) => Alg::EdDsa,
        }
    }

    fn verifies(&self, input: &[u8], sig: &[u8]) -> bool {
        match &self.material {
            Material::Secret(k) => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(k).expect("HMAC takes any key length");
                mac.update(input);
                mac.verify_slice(sig).is_ok() // constant time
            }
            Material::Rsa(key) => rsa_pkcs1_sha256(key, input, sig),
            Material::Ed25519(k) => Signature::from_slice(sig).is_ok_and(|s| k.verify_strict(input, &s).is_ok()),
        }
    }
}

/// The DER prefix of a SHA-256 `DigestInfo` (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] =
    [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

/// RSASSA-PKCS1-v1_5 verification with SHA-256 (RFC 8017 §8.2.2): the public operation, then
/// the whole expected encoding compared byte for byte (no parsing of the decrypted block, so
/// no Bleichenbacher-style signature forgery).
fn rsa_pkcs1_sha256(key: &rsa::PublicKey, input: &[u8], sig: &[u8]) -> bool {
    let len = key.len();
    if sig.len() != len {
        return false;
    }
    let Some(m) = key.public_op(sig) else { return false };
    let mut expected = vec![0xffu8; len];
    expected[0] = 0;
    expected[1] = 1;
    let tail = SHA256_DIGEST_INFO.len() + 32;
    expected[len - tail - 1] = 0;
    expected[len - tail..len - 32].copy_from_slice(&SHA256_DIGEST_INFO);
    expected[len - 32..].copy_from_slice(&Sha256::digest(input));
    m == expected
}

/// Why a token was refused; the message goes back to the client in the 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Not a compact JWS, bad base64url or JSON, or too large.
    Malformed(String),
    /// An algorithm this server does not accept (`none` included), or a `crit` header.
    Algorithm(String),
    /// No configured key with the token's `kid` (or of its algorithm).
    UnknownKey(String),
    /// The signature does not verify.
    Signature,
    /// Past `exp`.
    Expired,
    /// Before `nbf`.
    NotYetValid,
    /// A missing or wrong `iss`, `aud` or `exp` claim.
    Claim(String),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Malformed(m) => write!(f, "the token is malformed: {m}"),
            Rejection::Algorithm(m) => write!(f, "the token's algorithm is refused: {m}"),
            Rejection::UnknownKey(m) => write!(f, "no key verifies the token: {m}"),
            Rejection::Signature => write!(f, "the token's signature does not verify"),
            Rejection::Expired => write!(f, "the token has expired"),
            Rejection::NotYetValid => write!(f, "the token is not valid yet (nbf)"),
            Rejection::Claim(m) => write!(f, "the token's claims are refused: {m}"),
        }
    }
}

/// What a verified token says of its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `sub`, if the token has one.
    pub subject: Option<String>,
}

/// Verifies tokens for one issuer and audience against a set of keys.
pub struct Verifier {
    issuer: String,
    audience: String,
    keys: Vec<Key>,
}

impl fmt::Debug for Verifier {
    // Keys stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys.len())
            .finish()
    }
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| format!("{what} is not base64url without padding"))
}

fn object(bytes: &[u8], what: &str) -> Result<Map<String, Json>, String> {
    match serde_json::from_slice(bytes) {
        Ok(Json::Object(m)) => Ok(m),
        _ => Err(format!("{what} is not a JSON object")),
    }
}

fn str_field<'a>(m: &'a Map<String, Json>, name: &str) -> Option<&'a str> {
    m.get(name).and_then(Json::as_str)
}

/// A compact JWS split into what verification needs; nothing in it is trusted yet.
struct Jws<'t> {
    /// The signing input: `header.payload`.
    input: &'t [u8],
    payload: &'t str,
    sig: Vec<u8>,
    alg: Alg,
    kid: Option<String>,
}

impl<'t> Jws<'t> {
    fn parse(token: &'t str) -> Result<Jws<'t>, Rejection> {
        if token.len() > MAX_TOKEN {
            return Err(Rejection::Malformed(format!("it is over {MAX_TOKEN} bytes")));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(Rejection::Malformed("a JWT has three base64url parts separated by dots".into()));
        };
        let header = b64(h, "the header").and_then(|h| object(&h, "the header")).map_err(Rejection::Malformed)?;
        if header.contains_key("crit") {
            return Err(Rejection::Algorithm(
                "the token has `crit` header parameters, which are not understood".into(),
            ));
        }
        let alg = str_field(&header, "alg").ok_or_else(|| Rejection::Malformed("the header has no `alg`".into()))?;
        let alg = Alg::parse(alg)
            .ok_or_else(|| Rejection::Algorithm(format!("`{alg}`; accepted are HS256, RS256 and EdDSA")))?;
        let sig = b64(s, "the signature").map_err(Rejection::Malformed)?;
        Ok(Jws {
            input: &token.as_bytes()[..h.len() + 1 + p.len()],
            payload: p,
            sig,
            alg,
            kid: str_field(&header, "kid").map(str::to_string),
        })
    }
}

impl Verifier {
    /// A verifier with no keys yet; add them with [`Verifier::add_jwks`] or
    /// [`Verifier::add_secret`]. Both `issuer` and `audience` must be non-empty: a token is
    /// accepted only when its `iss` equals `issuer` and its `aud` is or contains `audience`.
    pub fn new(issuer: &str, audience: &str) -> Result<Verifier, String> {
        if issuer.trim().is_empty() || audience.trim().is_empty() {
            return Err("JWT verification needs both an issuer and an audience".into());
        }
        Ok(Verifier { issuer: issuer.trim().into(), audience: audience.trim().into(), keys: Vec::new() })
    }

    /// Adds an HS256 shared secret (at least [`MIN_SECRET`] bytes).
    pub fn add_secret(&mut self, secret: &[u8]) -> Result<(), String> {
        if secret.len() < MIN_SECRET {
            return Err(format!("the JWT secret is {} bytes; HS256 needs at least {MIN_SECRET}", secret.len()));
        }
        self.keys.push(Key { kid: None, material: Material::Secret(secret.to_vec()) });
        Ok(())
    }

    /// Adds the signing keys of a JWKS document (`{"keys": [...]}`): `RSA` (RS256, modulus of at
    /// least [`MIN_RSA_BITS`] bits), `OKP` with `crv` `Ed25519` (EdDSA) and `oct` (HS256). Keys
    /// meant for encryption (`use` other than `sig`) or of other types are skipped; a document
    /// with no usable key, or a usable-looking key that is broken, is an error. Returns the
    /// number of keys added.
    pub fn add_jwks(&mut self, doc: &str) -> Result<usize, String> {
        let doc = object(doc.as_bytes(), "the JWKS document")?;
        let Some(Json::Array(keys)) = doc.get("keys") else {
            return Err("the JWKS document has no `keys` array".into());
        };
        let mut added = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let Json::Object(k) = k else { return Err(format!("JWKS key {i} is not an object")) };
            if str_field(k, "use").is_some_and(|u| u != "sig") {
                continue;
            }
            let kid = str_field(k, "kid").map(str::to_string);
            let name = kid.as_deref().map_or_else(|| format!("JWKS key {i}"), |kid| format!("JWKS key `{kid}`"));
            let material = match str_field(k, "kty") {
                Some("RSA") => {
                    let n = b64(str_field(k, "n").ok_or(format!("{name} has no `n`"))?, &format!("{name}'s `n`"))?;
                    let e = b64(str_field(k, "e").ok_or(format!("{name} has no `e`"))?, &format!("{name}'s `e`"))?;
                    // Leading zero bytes do not count; more than 32 bits is refused (as 0).
                    let e = e
                        .iter()
                        .skip_while(|&&b| b == 0)
                        .try_fold(0u32, |acc, &b| acc.checked_mul(256).map(|a| a | b as u32))
                        .unwrap_or(0);
                    if e < 3 || e & 1 == 0 {
                        return Err(format!("{name} has an RSA exponent that is not an odd number from 3 to 2^32"));
                    }
                    if n.len() > MAX_RSA_BITS / 8 + 1 {
                        return Err(format!("{name}'s RSA modulus is over {MAX_RSA_BITS} bits"));
                    }
                    let key = rsa::PublicKey::new(&n, e).ok_or(format!("{name}'s RSA modulus is even"))?;
                    let bits = key.bits();
                    if bits < MIN_RSA_BITS {
                        return Err(format!("{name} is a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are needed"));
                    }
                    if bits > MAX_RSA_BITS {
                        return Err(format!("{name}'s RSA modulus is over {MAX_RSA_BITS} bits"));
                    }
                    Material::Rsa(key)
                }
                Some("OKP") if str_field(k, "crv") == Some("Ed25519") => {
                    let x = b64(str_field(k, "x").ok_or(format!("{name} has no `x`"))?, &format!("{name}'s `x`"))?;
                    let x: [u8; 32] = x.try_into().map_err(|_| format!("{name}'s `x` is not 32 bytes"))?;
                    Material::Ed25519(
                        VerifyingKey::from_bytes(&x).map_err(|_| format!("{name} is not a valid Ed25519 key"))?,
                    )
                }
                Some("oct") => {
                    let secret = b64(str_field(k, "k").ok_or(format!("{name} has no `k`"))?, &format!("{name}'s `k`"))?;
                    if secret.len() < MIN_SECRET {
                        return Err(format!(
                            "{name} is a {}-byte secret; HS256 needs at least {MIN_SECRET}",
                            secret.len()
                        ));
                    }
                    Material::Secret(secret)
                }
                _ => continue,
            };
            let key = Key { kid, material };
            if let Some(alg) = str_field(k, "alg")
                && Alg::parse(alg) != Some(key.alg())
            {
                return Err(format!("{name} says `alg` {alg}, which its key type cannot verify here"));
            }
            added.push(key);
        }
        if added.is_empty() {
            return Err("the JWKS document has no RSA, Ed25519 or HMAC signing key".into());
        }
        let n = added.len();
        self.keys.extend(added);
        Ok(n)
    }

    /// Verifies `token` at `now_s` (seconds since the Unix epoch).
    pub fn verify(&self, token: &str, now_s: u64) -> Result<Claims, Rejection> {
        let jws = Jws::parse(token)?;
        if !self.keys_for(&jws)?.any(|k| k.verifies(jws.input, &jws.sig)) {
            return Err(Rejection::Signature);
        }
        let claims =
            b64(jws.payload, "the payload").and_then(|c| object(&c, "the payload")).map_err(Rejection::Malformed)?;
        self.check_claims(&claims, now_s)?;
        Ok(Claims { subject: str_field(&claims, "sub").map(str::to_string) })
    }

    /// Whether `token` is a well-formed JWS that no configured key could check (its algorithm
    /// has no key, or its `kid` names none): the case where [`Verifier::verify`] would answer
    /// [`Rejection::UnknownKey`], found without any signature arithmetic. A server reads its
    /// issuer's JWKS again on this (key rotation).
    pub fn lacks_key(&self, token: &str) -> bool {
        Jws::parse(token).is_ok_and(|jws| matches!(self.keys_for(&jws), Err(Rejection::UnknownKey(_))))
    }

    /// The configured keys that may have signed `jws`: those of its algorithm, and when it
    /// names a `kid`, that key (a key without a kid, a shared secret, also serves).
    fn keys_for<'a>(&'a self, jws: &'a Jws<'_>) -> Result<impl Iterator<Item = &'a Key> + 'a, Rejection> {
        let alg = jws.alg;
        let kid = jws.kid.as_deref();
        let mut candidates = self
            .keys
            .iter()
            .filter(move |k| k.alg() == alg && (k.kid.is_none() || kid.is_none() || k.kid.as_deref() == kid))
            .peekable();
        if candidates.peek().is_none() {
            return Err(Rejection::UnknownKey(match &jws.kid {
                Some(kid) if self.keys.iter().any(|k| k.alg() == alg) => {
                    format!("no {} key has kid `{kid}`", alg.name())
                }
                _ => format!("no {} key is configured", alg.name()),
            }));
        }
        Ok(candidates)
    }

    fn check_claims(&self, claims: &Map<String, Json>, now_s: u64) -> Result<(), Rejection> {
        let time = |name: &str| -> Result<Option<f64>, Rejection> {
            match claims.get(name) {
                None => Ok(None),
                Some(v) => v
                    .as_f64()
                    .filter(|t| t.is_finite())
                    .map(Some)
                    .ok_or_else(|| Rejection::Claim(format!("`{name}` is not a number of seconds"))),
            }
        };
        let now = now_s as f64;
        let exp = time("exp")?.ok_or_else(|| Rejection::Claim("the token has no `exp`".into()))?;
        if now > exp + LEEWAY_S as f64 {
            return Err(Rejection::Expired);
        }
        if time("nbf")?.is_some_and(|nbf| now + (LEEWAY_S as f64) < nbf) {
            return Err(Rejection::NotYetValid);
        }
        match str_field(claims, "iss") {
            Some(iss) if iss == self.issuer => {}
            Some(iss) => return Err(Rejection::Claim(format!("issuer `{iss}` is not `{}`", self.issuer))),
            None => return Err(Rejection::Claim("the token has no `iss`".into())),
        }
        let aud_ok = match claims.get("aud") {
            Some(Json::String(a)) => *a == self.audience,
            Some(Json::Array(a)) => a.iter().any(|a| a.as_str() == Some(&self.audience)),
            _ => return Err(Rejection::Claim("the token has no `aud`".into())),
        };
        if !aud_ok {
            return Err(Rejection::Claim(format!("the audience is not `{}`", self.audience)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64e(b: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(b)
    }

    fn hs_token(secret: &[u8], header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64e(header.as_bytes()), b64e(claims.as_bytes()));
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", b64e(&mac.finalize().into_bytes()))
    }

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_800_000_000;

    fn hs() -> Verifier {
        let mut v = Verifier::new("https://id.example", "scorelet").unwrap();
        v.add_secret(SECRET).unwrap();
        v
    }

    fn claims(extra: &str) -> String {
        format!(r#"{{"iss":"https://id.example","aud":"scorelet","exp":{},"sub":"svc"{extra}}}"#, NOW + 300)
    }

    #[test]
    fn a_good_hs256_token_passes_and_each_claim_is_checked() {
        let v = hs();
        let ok = hs_token(SECRET, r#"{"alg":"HS256","typ":"JWT"}"#, &claims(""));
        assert_eq!(v.verify(&ok, NOW), Ok(Claims { subject: Some("svc".into()) }));
        assert_eq!(v.verify(&ok, NOW + 300 + LEEWAY_S), Ok(Claims { subject: Some("svc".into()) }));
        assert_eq!(v.verify(&ok, NOW + 301 + LEEWAY_S), Err(Rejection::Expired));
        let h = r#"{"alg":"HS256"}"#;
        let nbf = hs_token(SECRET, h, &claims(&format!(r#","nbf":{}"#, NOW + 120)));
        assert_eq!(v.verify(&nbf, NOW), Err(Rejection::NotYetValid));
        let aud = hs_token(SECRET, h, &claims("").replace(r#""aud":"scorelet""#, r#""aud":["x","scorelet"]"#));
        assert!(v.verify(&aud, NOW).is_ok());
        for (what, c) in [
            ("wrong audience", claims("").replace(r#""aud":"scorelet""#, r#""aud":"other""#)),
            ("wrong issuer", claims("").replace("id.example", "evil.example")),
            ("no exp", format!(r#"{{"iss":"https://id.example","aud":"scorelet","x":{NOW}}}"#)),
            ("exp a string", claims("").replace(&format!("{}", NOW + 300), r#""soon""#)),
            ("no aud", claims("").replace(r#""aud":"scorelet","#, "")),
        ] {
            assert!(matches!(v.verify(&hs_token(SECRET, h, &c), NOW), Err(Rejection::Claim(_))), "{what}");
        }
    }

    #[test]
    fn forged_and_hostile_tokens_are_refused() {
        let v = hs();
        let h = r#"{"alg":"HS256"}"#;
        let other = hs_token(b"another secret of thirty-two bytes!", h, &claims(""));
        assert_eq!(v.verify(&other, NOW), Err(Rejection::Signature));
        let good = hs_token(SECRET, h, &claims(""));
        // The payload swapped under a valid signature.
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], b64e(claims(r#","admin":true"#).as_bytes()), parts[2]);
        assert_eq!(v.verify(&forged, NOW), Err(Rejection::Signature));
        // alg none, with or without a signature.
        let none = format!("{}.{}.", b64e(br#"{"alg":"none"}"#), b64e(claims("").as_bytes()));
        assert!(matches!(v.verify(&none, NOW), Err(Rejection::Algorithm(_))));
        let crit = hs_token(SECRET, r#"{"alg":"HS256","crit":["exp"],"exp":1}"#, &claims(""));
        assert!(matches!(v.verify(&crit, NOW), Err(Rejection::Algorithm(_))));
        // An RS256 token against HS-only keys names the missing key type.
        let rs = format!("{}.{}.AAAA", b64e(br#"{"alg":"RS256"}"#), b64e(claims("").as_bytes()));
        assert!(matches!(v.verify(&rs, NOW), Err(Rejection::UnknownKey(_))));
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.", &format!("{good}="), &"a".repeat(MAX_TOKEN + 1)] {
            assert!(matches!(v.verify(bad, NOW), Err(Rejection::Malformed(_))), "{bad:.40}");
        }
        let array_payload = hs_token(SECRET, h, "[1]");
        assert!(matches!(v.verify(&array_payload, NOW), Err(Rejection::Malformed(_))));
    }

    // Keys and tokens made by another implementation (OpenSSL, through Python's `cryptography`).
    const JWKS: &str = include_str!("../../tests/fixtures/jwt/jwks.json");
    const RS256: &str = include_str!("../../tests/fixtures/jwt/rs256.jwt");
    const EDDSA: &str = include_str!("../../tests/fixtures/jwt/eddsa.jwt");
    const RS256_EXPIRED: &str = include_str!("../../tests/fixtures/jwt/rs256-expired.jwt");
    const EDDSA_WRONG_AUDIENCE: &str = include_str!("../../tests/fixtures/jwt/eddsa-wrong-audience.jwt");

    fn issued() -> Verifier {
        let mut v = Verifier::new("https://id.example", "scorelet").unwrap();
        // The EC key in the document is skipped, not an error.
        assert_eq!(v.add_jwks(JWKS), Ok(2));
        v
    }

    fn flip_last(token: &str) -> String {
        let mut t = token.trim().as_bytes().to_vec();
        let i = t.len() - 2;
        t[i] = if t[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).unwrap()
    }

    #[test]
    fn rs256_and_eddsa_tokens_from_another_implementation_verify() {
        let v = issued();
        assert_eq!(v.verify(RS256.trim(), NOW), Ok(Claims { subject: Some("svc-rsa".into()) }));
        assert_eq!(v.verify(EDDSA.trim(), NOW), Ok(Claims { subject: Some("svc-ed".into()) }));
        assert_eq!(v.verify(RS256_EXPIRED.trim(), NOW), Err(Rejection::Expired));
        assert!(
            matches!(v.verify(EDDSA_WRONG_AUDIENCE.trim(), NOW), Err(Rejection::Claim(m)) if m.contains("audience"))
        );
        assert_eq!(v.verify(&flip_last(RS256), NOW), Err(Rejection::Signature));
        assert_eq!(v.verify(&flip_last(EDDSA), NOW), Err(Rejection::Signature));
        // The header's kid pointed at the other key.
        let swapped = RS256.trim().replacen(
            &b64e(br#"{"alg":"RS256","typ":"JWT","kid":"rsa-2026"}"#),
            &b64e(br#"{"alg":"RS256","typ":"JWT","kid":"ed-2026"}"#),
            1,
        );
        assert!(matches!(v.verify(&swapped, NOW), Err(Rejection::UnknownKey(_))));
        // What makes a server read its JWKS again: only a token no key could check.
        assert!(v.lacks_key(&swapped));
        for known in [RS256.trim(), EDDSA.trim(), &flip_last(RS256), RS256_EXPIRED.trim(), "a.b", ""] {
            assert!(!v.lacks_key(known), "{known:.40}");
        }
    }

    #[test]
    fn an_rsa_public_key_cannot_be_used_as_an_hmac_secret() {
        let v = issued();
        let n = serde_json::from_str::<Json>(JWKS).unwrap()["keys"][0]["n"].as_str().unwrap().to_string();
        let confused = hs_token(n.as_bytes(), r#"{"alg":"HS256","kid":"rsa-2026"}"#, &claims(""));
        assert!(matches!(v.verify(&confused, NOW), Err(Rejection::UnknownKey(_))));
        let rotated = hs_token(SECRET, r#"{"alg":"RS256","kid":"rotated"}"#, &claims(""));
        assert!(matches!(v.verify(&rotated, NOW), Err(Rejection::UnknownKey(m)) if m.contains("rotated")));
        assert!(v.lacks_key(&rotated) && v.lacks_key(&confused));
    }

    #[test]
    fn weak_or_broken_keys_are_configuration_errors() {
        let mut v = Verifier::new("i", "a").unwrap();
        assert!(Verifier::new("", "a").is_err() && Verifier::new("i", " ").is_err());
        assert!(v.add_secret(b"short").unwrap_err().contains("at least 32"));
        let small_rsa = format!(r#"{{"keys":[{{"kty":"RSA","n":"{}","e":"AQAB"}}]}}"#, b64e(&[0xc5; 128]));
        assert!(v.add_jwks(&small_rsa).unwrap_err().contains("1024-bit"));
        let even_e = format!(r#"{{"keys":[{{"kty":"RSA","n":"{}","e":"AAI"}}]}}"#, b64e(&[0xc5; 256]));
        assert!(v.add_jwks(&even_e).unwrap_err().contains("exponent"));
        let mislabeled = format!(r#"{{"keys":[{{"kty":"oct","alg":"RS256","k":"{}"}}]}}"#, b64e(SECRET));
        assert!(v.add_jwks(&mislabeled).unwrap_err().contains("alg"));
        for doc in [
            "",
            "[]",
            r#"{"keys":{}}"#,
            r#"{"keys":[]}"#,
            r#"{"keys":[{"kty":"EC","crv":"P-256"}]}"#,
            r#"{"keys":[1]}"#,
        ] {
            assert!(v.add_jwks(doc).is_err(), "{doc}");
        }
        let enc_only = format!(r#"{{"keys":[{{"kty":"oct","use":"enc","k":"{}"}}]}}"#, b64e(SECRET));
        assert!(v.add_jwks(&enc_only).is_err());
        assert_eq!(format!("{v:?}"), r#"Verifier { issuer: "i", audience: "a", keys: 0 }"#);
    }
}
