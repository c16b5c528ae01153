//! Who may do what: named tokens with scopes (`read`, `write`, `promote`), optionally limited
//! to some models. The audit log records a token's name, never anything the client claims.
//!
//! A tokens file (`registry serve --tokens-file`) holds them:
//!
//! ```toml
//! closed_reads = true            # reads need a token with `read` (default: reads are open)
//! [[token]]
//! name = "ci"
//! secret = "at-least-16-characters"
//! scopes = ["read", "write"]
//! models = ["churn"]             # optional: only these models
//! ```

use serde::Deserialize;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// GET anything (when reads are closed).
    Read,
    /// Publish versions, move and delete unprotected aliases.
    Write,
    /// Move protected aliases through the promote endpoint, which evaluates the gate.
    Promote,
}

/// A named credential.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    pub name: String,
    pub secret: String,
    pub scopes: Vec<Scope>,
    /// The models it applies to; `None` for all.
    #[serde(default)]
    pub models: Option<Vec<String>>,
}

impl Token {
    /// Whether this token allows `scope` on `model` (`None`: a request about no one model,
    /// such as the model list).
    pub fn allows(&self, scope: Scope, model: Option<&str>) -> bool {
        let scoped = self.scopes.contains(&scope) || (scope == Scope::Read && !self.scopes.is_empty());
        let model_ok = match (&self.models, model) {
            (None, _) => true,
            (Some(ms), Some(m)) => ms.iter().any(|x| x == m),
            (Some(_), None) => scope == Scope::Read,
        };
        scoped && model_ok
    }
}

/// The tokens file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensFile {
    #[serde(default)]
    pub closed_reads: bool,
    #[serde(default, rename = "token")]
    pub tokens: Vec<Token>,
}

/// Least length of a secret.
pub const MIN_SECRET: usize = 16;

impl TokensFile {
    /// Parses and checks a tokens file: names unique and plain, secrets long and distinct, at
    /// least one scope each.
    pub fn parse(text: &str) -> Result<TokensFile, String> {
        let f: TokensFile = toml::from_str(text).map_err(|e| format!("not a tokens file: {e}"))?;
        for (i, t) in f.tokens.iter().enumerate() {
            if t.name.is_empty()
                || t.name.len() > 64
                || !t.name.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
            {
                return Err(format!("token {}: name {:?} is not [A-Za-z0-9._-]{{1,64}}", i + 1, t.name));
            }
            if t.secret.chars().count() < MIN_SECRET {
                return Err(format!("token {:?}: the secret is shorter than {MIN_SECRET} characters", t.name));
            }
            if t.scopes.is_empty() {
                return Err(format!("token {:?} has no scopes (read, write, promote)", t.name));
            }
            if f.tokens[..i].iter().any(|o| o.name == t.name) {
                return Err(format!("two tokens are named {:?}", t.name));
            }
            if f.tokens[..i].iter().any(|o| o.secret == t.secret) {
                return Err(format!("tokens {:?} and another share a secret", t.name));
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_models_limit_tokens_and_bad_files_say_why() {
        let f = TokensFile::parse(
            r#"
            closed_reads = true
            [[token]]
            name = "ci"
            secret = "ci-secret-0123456789"
            scopes = ["write"]
            models = ["churn"]
            [[token]]
            name = "release"
            secret = "release-secret-0123456789"
            scopes = ["promote"]
            "#,
        )
        .unwrap();
        assert!(f.closed_reads);
        let (ci, release) = (&f.tokens[0], &f.tokens[1]);
        assert!(ci.allows(Scope::Write, Some("churn")) && ci.allows(Scope::Read, Some("churn")));
        assert!(!ci.allows(Scope::Write, Some("other")) && !ci.allows(Scope::Promote, Some("churn")));
        assert!(ci.allows(Scope::Read, None), "a model-limited token still lists models");
        assert!(release.allows(Scope::Promote, Some("any")) && !release.allows(Scope::Write, Some("any")));
        for (bad, want) in [
            ("[[token]]\nname = \"a\"\nsecret = \"short\"\nscopes = [\"read\"]", "shorter"),
            ("[[token]]\nname = \"a b\"\nsecret = \"0123456789abcdef\"\nscopes = [\"read\"]", "name"),
            ("[[token]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nscopes = []", "no scopes"),
            ("[[token]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nscopes = [\"admin\"]", "not a tokens file"),
            (
                "[[token]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nscopes = [\"read\"]\n[[token]]\nname = \"a\"\nsecret = \"0123456789abcdeg\"\nscopes = [\"read\"]",
                "two tokens",
            ),
            (
                "[[token]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nscopes = [\"read\"]\n[[token]]\nname = \"b\"\nsecret = \"0123456789abcdef\"\nscopes = [\"read\"]",
                "share a secret",
            ),
            ("tokens = 1", "not a tokens file"),
        ] {
            let e = TokensFile::parse(bad).unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }
}
