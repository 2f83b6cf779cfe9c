//! TLS for the OTLP transports: rustls with the ring provider.
//!
//! Trust: the platform's store (what `update-ca-certificates` and corporate
//! images install, so a private CA rolled out to the hosts works without a
//! variable), plus the CAs of `OTEL_EXPORTER_OTLP_CERTIFICATE`. A container
//! without a CA bundle (FROM scratch) trusts only that file. mTLS: the
//! client's chain and key from `…_CLIENT_CERTIFICATE` / `…_CLIENT_KEY`, both
//! or neither.
//!
//! Every file is read and checked when the exporter is built, so a bad one
//! is one warning naming the variable and the path, and that signal's export
//! is off, rather than a failure on every export.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{TlsFile, TlsFiles};
use crate::error::Error;

/// The PEM files of one exporter, read and checked.
pub(crate) struct LoadedTls {
    /// Extra trusted CAs (PEM, as read, for tonic).
    #[cfg_attr(not(feature = "otlp-grpc"), allow(dead_code))]
    pub(crate) ca_pem: Option<Vec<u8>>,
    ca: Vec<CertificateDer<'static>>,
    /// Client chain and key (PEM, as read, for tonic), for mTLS.
    #[cfg_attr(not(feature = "otlp-grpc"), allow(dead_code))]
    pub(crate) identity_pem: Option<(Vec<u8>, Vec<u8>)>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

fn error(file: &TlsFile, reason: impl Into<String>) -> Error {
    Error::Tls {
        variable: file.variable.clone(),
        path: file.path.display().to_string(),
        reason: reason.into(),
    }
}

fn read(file: &TlsFile) -> Result<Vec<u8>, Error> {
    std::fs::read(&file.path).map_err(|e| error(file, e.to_string()))
}

fn certificates(file: &TlsFile, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(file, format!("not a PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(error(file, "no certificate in it"));
    }
    Ok(certs)
}

/// Reads and checks the files of `files`; `None` when none is set.
pub(crate) fn load(files: &TlsFiles) -> Result<Option<LoadedTls>, Error> {
    if files.is_empty() {
        return Ok(None);
    }
    let (ca_pem, ca) = match &files.certificate {
        Some(file) => {
            let pem = read(file)?;
            let certs = certificates(file, &pem)?;
            (Some(pem), certs)
        }
        None => (None, Vec::new()),
    };
    let (identity_pem, identity) = match (&files.client_certificate, &files.client_key) {
        (Some(cert_file), Some(key_file)) => {
            let cert_pem = read(cert_file)?;
            let chain = certificates(cert_file, &cert_pem)?;
            let key_pem = read(key_file)?;
            let key = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| error(key_file, format!("no PEM private key in it ({e})")))?;
            (Some((cert_pem, key_pem)), Some((chain, key)))
        }
        (Some(file), None) | (None, Some(file)) => {
            return Err(error(
                file,
                "a client certificate and a client key go together; only one is set",
            ));
        }
        (None, None) => (None, None),
    };
    let loaded = LoadedTls {
        ca_pem,
        ca,
        identity_pem,
        identity,
    };
    // Checked now for both transports (tonic would only find out on connect).
    if let Err(reason) = client_config(Some(&loaded)) {
        let file = files
            .client_key
            .as_ref()
            .or(files.certificate.as_ref())
            .expect("a file is set");
        return Err(error(file, reason));
    }
    Ok(Some(loaded))
}

/// The rustls client configuration for OTLP/HTTP: platform roots, the extra
/// CAs, the client identity. `tls` may be `None` (platform roots only).
pub(crate) fn client_config(tls: Option<&LoadedTls>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable entries of the platform store are skipped, as browsers do.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(tls) = tls {
        for ca in &tls.ca {
            roots
                .add(ca.clone())
                .map_err(|e| format!("CA certificate rejected: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    // ALPN is left to the HTTP connector (it offers what it is built for).
    let config = match tls.and_then(|t| t.identity.as_ref()) {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("client certificate and key do not match: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(config)
}

#[cfg(feature = "otlp-http")]
/// A client configuration that trusts nothing, for a connector that only
/// speaks plain text (it is built for both).
pub(crate) fn plain_text_config() -> Option<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()
        .map(|b| {
            b.with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        })
}

/// The tonic TLS configuration for OTLP/gRPC: platform roots, the extra CAs,
/// the client identity.
#[cfg(feature = "otlp-grpc")]
pub(crate) fn grpc_config(tls: Option<&LoadedTls>) -> tonic::transport::ClientTlsConfig {
    let mut config = tonic::transport::ClientTlsConfig::new().with_native_roots();
    if let Some(tls) = tls {
        if let Some(pem) = &tls.ca_pem {
            config = config.ca_certificate(tonic::transport::Certificate::from_pem(pem));
        }
        if let Some((cert, key)) = &tls.identity_pem {
            config = config.identity(tonic::transport::Identity::from_pem(cert, key));
        }
    }
    config
}
