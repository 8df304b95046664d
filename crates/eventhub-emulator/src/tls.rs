//! Self-signed TLS certificate for `localhost`, generated in memory at start.

use openssl::{
    asn1::Asn1Time,
    bn::{BigNum, MsbOption},
    hash::MessageDigest,
    pkey::PKey,
    rsa::Rsa,
    x509::{
        extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName},
        X509NameBuilder, X509,
    },
};

use crate::error::Result;

/// A generated certificate and the acceptor that serves it.
pub struct TlsMaterial {
    /// PEM of the certificate, for clients that want to trust it.
    pub cert_pem: String,
    /// Acceptor used for connections whose first byte is a TLS handshake.
    pub acceptor: tokio_native_tls::TlsAcceptor,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

/// Generates a self-signed certificate for `localhost` / `127.0.0.1` / `::1`.
pub fn generate() -> Result<TlsMaterial> {
    let rsa = Rsa::generate(2048)?;
    let key = PKey::from_rsa(rsa)?;

    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", "localhost")?;
    name.append_entry_by_text("O", "Event Hubs emulator")?;
    let name = name.build();

    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(128, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let not_before = Asn1Time::days_from_now(0)?;
    let not_after = Asn1Time::days_from_now(365)?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    builder.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .key_cert_sign()
            .build()?,
    )?;
    builder.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .ip("127.0.0.1")
        .ip("::1")
        .build(&builder.x509v3_context(None, None))?;
    builder.append_extension(san)?;
    builder.sign(&key, MessageDigest::sha256())?;
    let cert = builder.build();

    let cert_pem = String::from_utf8_lossy(&cert.to_pem()?).into_owned();
    let key_pem = key.private_key_to_pem_pkcs8()?;
    let identity = native_tls::Identity::from_pkcs8(cert_pem.as_bytes(), &key_pem)?;
    let acceptor = native_tls::TlsAcceptor::new(identity)?;
    Ok(TlsMaterial {
        cert_pem,
        acceptor: tokio_native_tls::TlsAcceptor::from(acceptor),
    })
}
