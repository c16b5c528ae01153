//! `--tls-cert/--tls-key`, shared by `scorelet serve` and `scorelet registry serve`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use scorelet_registry::tls::{self, TlsAcceptor};

/// Serve HTTPS instead of HTTP.
#[derive(Debug, Clone, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain to serve HTTPS with (with --tls-key).
    #[arg(long, env = "SCORELET_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "SCORELET_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The acceptor, or `None` for plain HTTP.
    pub fn acceptor(&self) -> Result<Option<TlsAcceptor>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Ok(Some(tls::acceptor(c, k)?)),
            (None, None) => Ok(None),
            _ => bail!("--tls-cert and --tls-key go together: give both for HTTPS, or neither"),
        }
    }

    /// `https` or `http`, for the address the server prints.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() { "https" } else { "http" }
    }
}
