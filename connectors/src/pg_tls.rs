//! PostgreSQL connections over TLS (rustls), as the connection string asks.
//!
//! `tokio-postgres` knows `sslmode` `disable`, `prefer` and `require` and
//! leaves the TLS itself to a connector. [`connect_config`] reads the
//! libpq-style `sslmode` and `sslrootcert` parameters out of a URL (or a
//! `key=value` string), and answers the `tokio_postgres::Config` for the rest
//! with a [`MakeRustls`] connector:
//!
//! | `sslmode` | what happens |
//! | --- | --- |
//! | absent, `disable`, `allow`, `prefer` | plain TCP, as before (`prefer` does not try TLS) |
//! | `require` | TLS or no connection; the server certificate is checked against `sslrootcert` when it is given, and not checked otherwise (libpq's meaning: protects against eavesdroppers, not against an active attacker) |
//! | `verify-ca`, `verify-full` | TLS, the certificate chain checked against `sslrootcert` (PEM), or the system's roots without it, and the host name checked (Cairn checks the name for `verify-ca` too) |
//!
//! The connector offers no channel binding, so SCRAM authentication runs
//! without `-PLUS`. It is written over `tokio-rustls`, already in the tree for
//! gRPC, rather than pulling in another crate.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use crate::{Error, Result};

/// How a connection string asks for TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP.
    Disable,
    /// TLS; the certificate is checked only against `sslrootcert` if given.
    Require,
    /// TLS with the certificate chain and host name checked.
    VerifyFull,
}

/// A connection string split into the `tokio-postgres` configuration and its TLS wishes.
#[derive(Clone, Debug)]
pub struct PgTarget {
    /// The configuration, with `ssl_mode` set to match [`PgTarget::mode`].
    pub config: tokio_postgres::Config,
    /// What TLS the string asked for.
    pub mode: TlsMode,
    /// `sslrootcert`: a PEM file of trusted roots.
    pub root_cert: Option<PathBuf>,
}

/// Percent-decodes a URL query value.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while idx < bytes.len() {
        let byte = bytes[idx];
        if byte == b'%'
            && let Some(hex) = text.get(idx + 1..idx + 3)
            && let Ok(value) = u8::from_str_radix(hex, 16)
        {
            out.push(value);
            idx += 3;
            continue;
        }
        out.push(if byte == b'+' { b' ' } else { byte });
        idx += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Takes the `sslmode` and `sslrootcert` parameters out of a connection string.
fn take_tls_parameters(url: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    if url.contains("://") {
        let Some((base, query)) = url.split_once('?') else { return (url.to_owned(), None, None) };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("sslmode", value)) => mode = Some(percent_decode(value)),
                Some(("sslrootcert", value)) => root = Some(percent_decode(value)),
                _ => kept.push(pair),
            }
        }
        let rest =
            if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        (rest, mode, root)
    } else {
        // key=value form: values with spaces are quoted; sslmode and sslrootcert rarely are.
        let mut kept = Vec::new();
        for word in url.split_whitespace() {
            match word.split_once('=') {
                Some(("sslmode", value)) => mode = Some(value.trim_matches('\'').to_owned()),
                Some(("sslrootcert", value)) => root = Some(value.trim_matches('\'').to_owned()),
                _ => kept.push(word),
            }
        }
        (kept.join(" "), mode, root)
    }
}

/// Reads a connection string's configuration and TLS wishes.
pub fn parse(url: &str) -> Result<PgTarget> {
    let (rest, mode, root) = take_tls_parameters(url);
    let mode = match mode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => TlsMode::Disable,
        Some("require") => TlsMode::Require,
        Some("verify-ca" | "verify-full") => TlsMode::VerifyFull,
        Some(other) => return Err(Error::SslMode { mode: other.to_owned() }),
    };
    // The parser's messages may quote a character of the string (a password):
    // keep only what comes before the quote.
    let mut config: tokio_postgres::Config = rest.parse().map_err(|e: tokio_postgres::Error| {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            reason.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        if let Some(at) = reason.find(" but got ") {
            reason.truncate(at);
        }
        Error::PgConnectionString { reason }
    })?;
    let _ =
        config.ssl_mode(if mode == TlsMode::Disable { SslMode::Disable } else { SslMode::Require });
    Ok(PgTarget { config, mode, root_cert: root.map(PathBuf::from) })
}

/// The configuration and the connector for a connection string.
pub fn connect_config(url: &str) -> Result<(tokio_postgres::Config, MakeRustls)> {
    let target = parse(url)?;
    let tls = MakeRustls::for_target(&target)?;
    Ok((target.config, tls))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(path: Option<&PathBuf>) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match path {
        Some(path) => {
            let error = |reason: String| Error::RootCertificates { path: path.clone(), reason };
            let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| error(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| error(e.to_string()))?;
            if certificates.is_empty() {
                return Err(error("the file holds no PEM certificate".to_owned()));
            }
            for certificate in certificates {
                store.add(certificate).map_err(|e| error(e.to_string()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let _ = store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(Error::NoRootCertificates);
            }
        }
    }
    Ok(store)
}

/// Accepts any server certificate, for `sslmode=require` without
/// `sslrootcert` (libpq's meaning). The handshake signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A `tokio-postgres` TLS connector over rustls.
#[derive(Clone)]
pub struct MakeRustls {
    /// `None`: the configuration asks for no TLS, and the connector is never used.
    config: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for MakeRustls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MakeRustls").field("tls", &self.config.is_some()).finish()
    }
}

impl MakeRustls {
    /// The connector a target asks for.
    pub fn for_target(target: &PgTarget) -> Result<MakeRustls> {
        let builder = || {
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::TlsConfig { reason: e.to_string() })
        };
        let config = match (&target.mode, &target.root_cert) {
            (TlsMode::Disable, _) => None,
            (TlsMode::Require, None) => Some(
                builder()?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
                    .with_no_client_auth(),
            ),
            (TlsMode::Require, Some(path)) => {
                Some(builder()?.with_root_certificates(roots(Some(path))?).with_no_client_auth())
            }
            (TlsMode::VerifyFull, root) => {
                Some(builder()?.with_root_certificates(roots(root.as_ref())?).with_no_client_auth())
            }
        };
        Ok(MakeRustls { config: config.map(Arc::new) })
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    /// `tokio-postgres` asks for a connector before it knows whether TLS
    /// is used, so a connector without TLS, or a host name that cannot be a
    /// TLS name, fails only if it is used.
    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let inner = match &self.config {
            None => Err(io::Error::other("TLS was not configured for this connection (sslmode)")),
            Some(config) => ServerName::try_from(domain.to_owned())
                .map(|name| (tokio_rustls::TlsConnector::from(config.clone()), name))
                .map_err(|e| {
                    io::Error::other(format!(
                        "{domain:?} cannot be checked as a TLS server name: {e}"
                    ))
                }),
        };
        Ok(RustlsConnect { inner })
    }
}

/// Connects one stream.
pub struct RustlsConnect {
    /// The connector and the name to check, or why this connection cannot use TLS.
    inner: io::Result<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let (connector, name) = self.inner?;
            let stream = connector.connect(name, stream).await?;
            Ok(RustlsStream(Box::new(stream)))
        })
    }
}

/// A TLS stream to the server.
pub struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S> tokio_postgres::tls::TlsStream for RustlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_read_and_removed() {
        let target =
            parse("postgres://u@db:5433/x?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&application_name=c")
                .unwrap();
        assert_eq!(target.mode, TlsMode::VerifyFull);
        assert_eq!(target.root_cert, Some(PathBuf::from("/tmp/ca.pem")));
        assert_eq!(target.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(target.config.get_application_name(), Some("c"));

        let target = parse("host=db user=u sslmode=require").unwrap();
        assert_eq!((target.mode, target.root_cert), (TlsMode::Require, None));

        for plain in
            ["postgres://u@db/x", "postgres://u@db/x?sslmode=prefer", "host=db sslmode=disable"]
        {
            let target = parse(plain).unwrap();
            assert_eq!(target.mode, TlsMode::Disable, "{plain}");
            assert_eq!(target.config.get_ssl_mode(), SslMode::Disable, "{plain}");
        }
        let error = parse("postgres://db/x?sslmode=sometimes").unwrap_err().to_string();
        assert!(error.contains("sometimes"), "{error}");
    }

    #[test]
    fn a_missing_or_empty_root_file_is_named() {
        let error =
            connect_config("postgres://db/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
                .unwrap_err()
                .to_string();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let error = connect_config(&format!(
            "postgres://db/x?sslmode=verify-full&sslrootcert={}",
            empty.display()
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
        assert!(connect_config("postgres://db/x?sslmode=require").is_ok());
    }
}
