//! The TLS client settings the bridge's own connections share (IMAP, and SMTP over implicit
//! TLS): the public web roots plus, for a server with a private CA, the configured `ca_file`.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A rustls client config trusting the public roots and `ca_file` (PEM) when given.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(file) = ca_file {
        let pem = std::fs::read(file)
            .map_err(|e| format!("cannot read ca_file {}: {e}", file.display()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("ca_file {} is not PEM: {e}", file.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("ca_file {}: {e}", file.display()))?;
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What a TLS connection to `host` needs: a connector trusting what [`client_config`] trusts,
/// and the name the server's certificate must carry.
pub fn connector(
    ca_file: Option<&Path>,
    host: &str,
) -> Result<(TlsConnector, ServerName<'static>), String> {
    let config = client_config(ca_file)?;
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host:?} is not a valid server name: {e}"))?;
    Ok((TlsConnector::from(config), name))
}
