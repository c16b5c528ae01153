//! Secrets (tokens, keys) come from files or the environment, never from the command line,
//! where every user of the machine can read them in the process list.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// The least length of a registry token, wherever it comes from.
pub const MIN_TOKEN: usize = 16;

/// The secret in `file` (trimmed), else in the environment variable `env`, else `None`.
/// An empty or short secret is an error rather than "no secret": an empty key would quietly
/// turn authentication off.
pub fn secret(file: Option<&Path>, env: &str, what: &str, min_len: usize) -> Result<Option<String>> {
    let (value, from) = match file {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("cannot read {what} file {}", p.display()))?,
            p.display().to_string(),
        ),
        None => match std::env::var(env) {
            Ok(v) => (v, env.to_string()),
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => bail!("{env} is not valid UTF-8"),
        },
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        bail!("{from} holds an empty {what}; give one (at least {min_len} characters) or remove the setting");
    }
    if value.chars().count() < min_len {
        bail!("the {what} in {from} is shorter than {min_len} characters");
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_come_first_and_empty_or_short_secrets_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        std::fs::write(&f, "  a-long-enough-token-1234\n").unwrap();
        let got = secret(Some(&f), "SCORELET_TEST_UNSET_SECRET", "token", MIN_TOKEN).unwrap();
        assert_eq!(got.as_deref(), Some("a-long-enough-token-1234"));
        assert_eq!(secret(None, "SCORELET_TEST_UNSET_SECRET", "token", MIN_TOKEN).unwrap(), None);
        std::fs::write(&f, "\n").unwrap();
        assert!(secret(Some(&f), "X", "API key", 1).unwrap_err().to_string().contains("empty API key"));
        std::fs::write(&f, "short").unwrap();
        assert!(secret(Some(&f), "X", "token", MIN_TOKEN).unwrap_err().to_string().contains("shorter than 16"));
        assert!(secret(Some(&dir.path().join("missing")), "X", "token", 1).is_err());
    }
}
