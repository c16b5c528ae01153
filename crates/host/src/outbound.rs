//! Outgoing HTTP from a guest (the registry and JWKS fetches).
//!
//! wasmtime-wasi-http's own client trusts only the built-in web roots, so a registry behind a
//! private CA (`registry serve --tls-cert`) cannot be reached with it. [`Hooks`] keeps that client
//! for plain http and when no extra root is configured; for https with [`Settings::ca_roots`] it
//! connects itself — the same connect, first-byte and between-bytes timeouts, the same error
//! codes — trusting the web roots and the extra ones.
//!
//! [`Settings::ca_roots`]: crate::Settings::ca_roots

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The future that reports the connection's end to the guest.
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
/// What [`WasiHttpHooks::send_request`] returns.
type Sent = Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

/// A timeout the guest did not set: wasmtime-wasi-http's default.
const UNSET: Duration = Duration::from_secs(600);

/// The CA certificates of a PEM file, for [`Settings::ca_roots`](crate::Settings::ca_roots).
///
/// The registry client reads its `--ca-cert` with its own copy of these lines: that crate does
/// not link wasmtime, and this one does not link the registry.
pub fn read_ca_certificates(path: &std::path::Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    use anyhow::Context as _;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read CA certificates from {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display());
    Ok(certs)
}

/// The guest's outgoing-HTTP hooks: wasmtime-wasi-http's defaults, except https with extra roots.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    tls: Option<Arc<ClientConfig>>,
}

impl Hooks {
    /// Hooks trusting `extra` beside the web roots for https (none: the default client).
    pub(crate) fn trusting(extra: &[CertificateDer<'static>]) -> Result<Hooks, String> {
        if extra.is_empty() {
            return Ok(Hooks::default());
        }
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
        for cert in extra {
            roots.add(cert.clone()).map_err(|e| format!("a CA certificate cannot be trusted: {e}"))?;
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS protocol versions: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Hooks { tls: Some(Arc::new(config)) })
    }
}

/// Whether a TLS failure is the server's certificate (not trusted, expired, another name), which
/// the guest then reports as `TlsCertificateError` rather than a protocol error.
fn is_certificate(err: &std::io::Error) -> bool {
    let rustls = err.get_ref().and_then(|e| e.downcast_ref::<tokio_rustls::rustls::Error>());
    matches!(rustls, Some(tokio_rustls::rustls::Error::InvalidCertificate(_)))
}

impl WasiHttpHooks for Hooks {
    fn p3_error_from_tls(&mut self, err: &std::io::Error) -> wasmtime_wasi_http::p3::bindings::http::types::ErrorCode {
        use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
        tracing::warn!("outgoing https: {err}");
        if is_certificate(err) { ErrorCode::TlsCertificateError } else { ErrorCode::TlsProtocolError }
    }

    fn p2_error_from_tls(&mut self, err: &std::io::Error) -> wasmtime_wasi_http::p2::bindings::http::types::ErrorCode {
        use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
        tracing::warn!("outgoing https: {err}");
        if is_certificate(err) { ErrorCode::TlsCertificateError } else { ErrorCode::TlsProtocolError }
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Sent {
        match &self.tls {
            Some(config) if request.uri().scheme() == Some(&Scheme::HTTPS) => {
                Box::new(send_tls(config.clone(), request, options))
            }
            _ => Box::new(async move {
                let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
                Ok((res.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture))
            }),
        }
    }
}

/// One https request over a new connection verified with `config`.
async fn send_tls(
    config: Arc<ClientConfig>,
    mut req: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    let options = options.unwrap_or_default();
    let connect_timeout = options.connect_timeout.unwrap_or(UNSET);
    let first_byte_timeout = options.first_byte_timeout.unwrap_or(UNSET);
    // Tokio's sleep takes zero, but a zero gap would fail every body: clamp as wasmtime does.
    let gap = options.between_bytes_timeout.unwrap_or(UNSET).max(Duration::from_nanos(1));

    let uri = req.uri();
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(443);
    let name = match host.parse::<IpAddr>() {
        Ok(ip) => ServerName::from(ip),
        Err(_) => ServerName::try_from(host.clone()).map_err(Error::InvalidDnsNameError)?,
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    // The request line carries only the path: scheme and authority are for proxies.
    *req.uri_mut() = http::Uri::builder().path_and_query(path).build().map_err(|_| Error::HttpRequestUriInvalid)?;

    let connect = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(Error::Connect)?;
        let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(Error::Tls)?;
        Ok::<_, Error>(hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?)
    };
    let (mut sender, conn) =
        tokio::time::timeout(connect_timeout, connect).await.map_err(|_| Error::ConnectionTimeout)??;
    // The connection runs beside the guest until the response body is read or dropped.
    let conn = tokio::spawn(conn);
    let res = tokio::time::timeout(first_byte_timeout, sender.send_request(req))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let io: IoFuture = Box::new(async move {
        match conn.await {
            Ok(Err(e)) if e.is_timeout() => Err(Error::HttpResponseTimeout),
            Ok(Err(e)) => Err(e.into()),
            _ => Ok(()),
        }
    });
    let res = res.map(|incoming| Paced { incoming, gap, wait: Box::pin(tokio::time::sleep(gap)) }.boxed_unsync());
    Ok((res, io))
}

/// A response body that fails with [`Error::ConnectionReadTimeout`] when no frame comes for `gap`.
struct Paced {
    incoming: Incoming,
    gap: Duration,
    wait: Pin<Box<tokio::time::Sleep>>,
}

impl Body for Paced {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.wait.as_mut().reset(tokio::time::Instant::now() + this.gap);
                Poll::Ready(
                    frame.map(|f| {
                        f.map_err(|e| if e.is_timeout() { Error::HttpResponseTimeout } else { Error::from(e) })
                    }),
                )
            }
            Poll::Pending => {
                ready!(this.wait.as_mut().poll(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
