//! TLS for the QUIC baseline: a self-signed certificate for [`SERVER_NAME`](super::SERVER_NAME)
//! made at start (rcgen), the server's configuration presenting it and the client's trusting
//! exactly it (no system roots). rustls on the `ring` provider, quinn's defaults otherwise.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{LabError, Result};

/// A fresh certificate and its private key.
pub struct SelfSigned {
    /// The certificate, DER.
    pub cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl SelfSigned {
    /// Makes a new key pair and a certificate for [`SERVER_NAME`](super::SERVER_NAME).
    pub fn generate() -> Result<Self> {
        let certified = rcgen::generate_simple_self_signed(vec![super::SERVER_NAME.to_owned()])
            .map_err(|e| LabError::quic("making a self-signed certificate", e))?;
        Ok(SelfSigned {
            cert: certified.cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()),
        })
    }

    /// quinn's server configuration presenting this certificate.
    pub fn server_config(&self) -> Result<quinn::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(self.key.clone_key());
        quinn::ServerConfig::with_single_cert(vec![self.cert.clone()], key)
            .map_err(|e| LabError::quic("configuring TLS for the server", e))
    }
}

/// quinn's client configuration trusting exactly `cert` (DER).
pub fn client_config(cert: &[u8]) -> Result<quinn::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.to_vec()))
        .map_err(|e| LabError::quic("trusting the server's certificate", e))?;
    quinn::ClientConfig::with_root_certificates(Arc::new(roots))
        .map_err(|e| LabError::quic("configuring TLS for the client", e))
}
