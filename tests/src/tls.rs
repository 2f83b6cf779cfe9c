//! Certificates made at test time: a CA, a server certificate for
//! `localhost`/`127.0.0.1` and a client certificate signed by it, a second,
//! unrelated CA — as PEM files in a fresh directory — and the server
//! configurations of the TLS receivers.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};

/// The PEM files of one test's public-key infrastructure.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

impl Pki {
    /// Generates everything into a fresh directory named after `test`.
    pub fn generate(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tracewire-pki-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        let authority = ca("tracewire test CA");
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &authority)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tracewire test client");
        let client = client_params.signed_by(&client_key, &authority).unwrap();
        let other = ca("unrelated CA");
        Self {
            ca: write("ca.pem", authority.pem()),
            server_cert: write("server.pem", server.pem()),
            server_key: write("server-key.pem", server_key.serialize_pem()),
            client_cert: write("client.pem", client.pem()),
            client_key: write("client-key.pem", client_key.serialize_pem()),
            other_ca: write("other-ca.pem", other.pem()),
            dir,
        }
    }

    fn read(path: &PathBuf) -> Vec<u8> {
        std::fs::read(path).unwrap()
    }

    /// The rustls server configuration of an HTTPS receiver; with
    /// `require_client_cert`, only clients with a certificate from this CA.
    pub fn rustls_server(&self, require_client_cert: bool) -> rustls::ServerConfig {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_slice_iter(&Self::read(&self.ca)) {
                roots.add(ca.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&Self::read(&self.server_cert))
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_slice(&Self::read(&self.server_key)).unwrap();
        let mut config = builder.with_single_cert(chain, key).unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }

    /// The tonic server TLS configuration of a gRPC receiver.
    pub fn tonic_server(&self, require_client_cert: bool) -> tonic::transport::ServerTlsConfig {
        let identity = tonic::transport::Identity::from_pem(
            Self::read(&self.server_cert),
            Self::read(&self.server_key),
        );
        let config = tonic::transport::ServerTlsConfig::new().identity(identity);
        if require_client_cert {
            config.client_ca_root(tonic::transport::Certificate::from_pem(Self::read(
                &self.ca,
            )))
        } else {
            config
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
