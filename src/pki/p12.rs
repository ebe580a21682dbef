//! PKCS#12 (`.p12`/`.pfx`) export: a private key, its certificate and the
//! CA chain in one passphrase-protected file, for browsers, Java and Windows
//! clients. The format itself is written by the p12-keystore crate; this
//! module picks the algorithms and checks what that crate does not: that the
//! key belongs to the certificate, that the chain is in order, and that the
//! passphrase and friendly name can be encoded.

use p12_keystore::{Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKeyChain};
use zeroize::Zeroizing;

use super::cert::{self, CertError};
use super::key::PrivateKey;

/// PBKDF2 iterations for the key and the certificates, and PKCS#12 KDF
/// iterations for the MAC, in the modern profile: ten times Java's default
/// (10 000). Readers cap the work a file may ask for (.NET: 300 000 per
/// operation and 1 000 000 for the file; p12-keystore: 1 000 000); the file
/// asks for three of these, 300 000 in all.
pub const MODERN_ITERATIONS: u64 = 100_000;

/// Iterations in the legacy profile: what `openssl pkcs12 -export -legacy` uses.
pub const LEGACY_ITERATIONS: u64 = 2048;

/// The encryption and MAC profile of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum P12Mode {
    /// PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) for the key and the
    /// certificates, HMAC-SHA256 MAC: OpenSSL 3, current browsers, Java 8u301+,
    /// Windows 10 1709+.
    #[default]
    Modern,
    /// pbeWithSHAAnd3-KeyTripleDES-CBC for the key and the certificates,
    /// HMAC-SHA1 MAC, 2048 iterations: for older Java, Windows, macOS and
    /// appliances that read nothing else.
    Legacy,
}

impl P12Mode {
    /// The algorithms, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            P12Mode::Modern => "PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), HMAC-SHA256 MAC",
            P12Mode::Legacy => "3DES (pbeWithSHAAnd3-KeyTripleDES-CBC), HMAC-SHA1 MAC",
        }
    }
}

/// Why a PKCS#12 file could not be made.
#[derive(Debug, thiserror::Error)]
pub enum P12Error {
    /// The certificate does not parse.
    #[error("the certificate: {0}")]
    Cert(CertError),
    /// A CA certificate does not parse (index from 1).
    #[error("CA certificate {index}: {source}")]
    ChainCert {
        /// Its place in the chain, from 1.
        index: usize,
        /// Why.
        source: CertError,
    },
    /// The key is not the certificate's.
    #[error("the private key does not belong to the certificate (their public keys differ)")]
    KeyMismatch,
    /// A CA certificate is not the issuer of the one before it.
    #[error("CA certificate {index} ({subject}) did not issue {child}; give the chain in order, the certificate's issuer first and the root last")]
    ChainOrder {
        /// Its place in the chain, from 1.
        index: usize,
        /// Its subject.
        subject: String,
        /// The certificate it should have issued.
        child: String,
    },
    /// A CA certificate's name matches but its key did not sign the one before it.
    #[error("CA certificate {index} ({subject}) has the issuer's name but its key did not sign {child} (the signature does not verify)")]
    ChainSignature {
        /// Its place in the chain, from 1.
        index: usize,
        /// Its subject.
        subject: String,
        /// The certificate whose signature failed.
        child: String,
    },
    /// The passphrase is not UTF-8.
    #[error("the passphrase is not valid UTF-8; PKCS#12 readers (OpenSSL, browsers, Java) take it as UTF-8 text")]
    PassphraseNotUtf8,
    /// The passphrase is empty.
    #[error("the passphrase is empty; a PKCS#12 file without one lets anyone who gets the file read the private key")]
    PassphraseEmpty,
    /// A passphrase character outside the Basic Multilingual Plane.
    #[error("the passphrase has a character above U+FFFF (such as an emoji), which PKCS#12's password encoding (BMPString) cannot hold; choose another passphrase")]
    PassphraseOutsideBmp,
    /// A friendly name that cannot be written.
    #[error("the friendly name {0}: {1}")]
    FriendlyName(String, &'static str),
    /// The encoder failed.
    #[error("writing the PKCS#12 file failed: {0}")]
    Encode(String),
}

/// The leaf's friendly name when none is given: its subject's CN, else its
/// whole subject as the certificate bags name it, else (an empty subject, as
/// some SAN-only certificates have) "certificate".
pub fn default_friendly_name(cert_der: &[u8]) -> Result<String, P12Error> {
    let parsed = cert::parse(cert_der).map_err(P12Error::Cert)?;
    let cn = cert::name_attr(parsed.subject(), &x509_parser::oid_registry::OID_X509_COMMON_NAME).filter(|cn| !cn.trim().is_empty());
    let name = cn.unwrap_or_else(|| parsed.subject().to_string());
    Ok(if name.trim().is_empty() { "certificate".to_string() } else { name })
}

/// Checks the passphrase and returns it as text.
fn check_passphrase(passphrase: &[u8]) -> Result<&str, P12Error> {
    let text = std::str::from_utf8(passphrase).map_err(|_| P12Error::PassphraseNotUtf8)?;
    if text.is_empty() {
        return Err(P12Error::PassphraseEmpty);
    }
    if text.chars().any(|c| u32::from(c) > 0xFFFF) {
        return Err(P12Error::PassphraseOutsideBmp);
    }
    Ok(text)
}

/// Checks a friendly name: something to show, BMP characters only (it is
/// written as a BMPString), no control characters.
fn check_friendly_name(name: &str) -> Result<(), P12Error> {
    let shown = || super::json::shown_max(name, 100);
    if name.trim().is_empty() {
        return Err(P12Error::FriendlyName(shown(), "it is empty"));
    }
    if name.chars().any(|c| u32::from(c) > 0xFFFF) {
        return Err(P12Error::FriendlyName(shown(), "it has a character above U+FFFF, which PKCS#12 (BMPString) cannot hold"));
    }
    if name.chars().any(char::is_control) {
        return Err(P12Error::FriendlyName(shown(), "it has control characters"));
    }
    if name.chars().count() > 256 {
        return Err(P12Error::FriendlyName(shown(), "it is longer than 256 characters"));
    }
    Ok(())
}

/// The certificates to write after the leaf: `chain` without repeats (of the
/// leaf or of each other), each checked to have issued the one before it
/// (names byte for byte, and the signature when kpki can verify its
/// algorithm). Indices in errors count the given chain from 1.
fn checked_chain<'a>(cert_der: &'a [u8], chain: &'a [Vec<u8>]) -> Result<Vec<&'a [u8]>, P12Error> {
    let leaf = cert::parse(cert_der).map_err(P12Error::Cert)?;
    let mut kept: Vec<&'a [u8]> = Vec::new();
    let mut child = leaf;
    for (i, der) in chain.iter().enumerate() {
        let index = i + 1;
        if der.as_slice() == cert_der || kept.contains(&der.as_slice()) {
            continue;
        }
        let parent = cert::parse(der).map_err(|source| P12Error::ChainCert { index, source })?;
        let subject = cert::name_shown(parent.subject());
        let child_shown = cert::name_shown(child.subject());
        if child.issuer().as_raw() != parent.subject().as_raw() {
            return Err(P12Error::ChainOrder { index, subject, child: child_shown });
        }
        match cert::verify_signed_by(&child, parent.public_key()) {
            // A CA kpki cannot verify (RSA-PSS, an unusual curve) is taken
            // on its name: it is the user's own chain, not an input to trust.
            Ok(()) | Err(CertError::UnsupportedSignature) => {}
            Err(_) => return Err(P12Error::ChainSignature { index, subject, child: child_shown }),
        }
        kept.push(der.as_slice());
        child = parent;
    }
    Ok(kept)
}

/// A PKCS#12 file holding `key`, its certificate `cert_der` (DER) and the CA
/// certificates `chain` (DER, the certificate's issuer first, then up to the
/// root; repeats are dropped), encrypted under `passphrase` (UTF-8, not
/// empty, no characters above U+FFFF).
///
/// The key bag carries `friendly_name` (default: the certificate's CN) and,
/// with the leaf's certificate bag, a localKeyId that is the SHA-1 of the
/// certificate's DER, as OpenSSL writes it. The other certificate bags are
/// named by their subject (p12-keystore's choice).
pub fn export(key: &PrivateKey, cert_der: &[u8], chain: &[Vec<u8>], passphrase: &[u8], mode: P12Mode, friendly_name: Option<&str>) -> Result<Vec<u8>, P12Error> {
    let passphrase = check_passphrase(passphrase)?;
    let leaf = cert::parse(cert_der).map_err(P12Error::Cert)?;
    // The same test as issue::Ca::new: the same key, declared as the same
    // algorithm (an EC certificate naming another curve for the same point
    // is not this key's).
    if leaf.public_key().subject_public_key.data.as_ref() != key.public_key_bits() || cert::spki_algo(leaf.public_key()) != Some(key.algo()) {
        return Err(P12Error::KeyMismatch);
    }
    let cas = checked_chain(cert_der, chain)?;
    let name = match friendly_name {
        Some(n) => n.to_string(),
        None => default_friendly_name(cert_der)?,
    };
    check_friendly_name(&name)?;

    let encode = |e: p12_keystore::error::Error| P12Error::Encode(e.to_string());
    let mut certs = Vec::with_capacity(1 + cas.len());
    certs.push(Certificate::from_der(cert_der).map_err(encode)?);
    for der in &cas {
        certs.push(Certificate::from_der(der).map_err(encode)?);
    }
    let local_key_id = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der);
    // The crate copies the key into its own buffers (not wiped); ours is.
    let pkcs8 = Zeroizing::new(key.pair().serialized_der().to_vec());
    let mut store = KeyStore::new();
    store.add_entry(&name, KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(pkcs8.as_slice(), local_key_id.as_ref(), certs)));

    // Every algorithm and count is set, so the output does not change if
    // the crate's defaults do.
    let writer = store.writer(passphrase);
    let writer = match mode {
        P12Mode::Modern => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .encryption_iterations(MODERN_ITERATIONS)
            .mac_algorithm(MacAlgorithm::HmacSha256)
            .mac_iterations(MODERN_ITERATIONS),
        // One algorithm for the key and the certificates: 3DES for both
        // (OpenSSL's -legacy puts RC2-40 on the certificates, which OpenSSL
        // 3 then reads only with its legacy provider).
        P12Mode::Legacy => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .encryption_iterations(LEGACY_ITERATIONS)
            .mac_algorithm(MacAlgorithm::HmacSha1)
            .mac_iterations(LEGACY_ITERATIONS),
    };
    writer.write().map_err(encode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::key::KeyAlgo;

    /// A self-signed certificate for `key` (rcgen, no CA machinery).
    fn self_signed(key: &PrivateKey, cn: &str) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.self_signed(key.pair()).unwrap().der().to_vec()
    }

    #[test]
    fn passphrases_that_cannot_be_encoded_are_refused() {
        assert!(matches!(check_passphrase(b""), Err(P12Error::PassphraseEmpty)));
        assert!(matches!(check_passphrase(b"\xff\xfe"), Err(P12Error::PassphraseNotUtf8)));
        assert!(matches!(check_passphrase("key\u{1F511}".as_bytes()), Err(P12Error::PassphraseOutsideBmp)));
        assert_eq!(check_passphrase("pässwörd€".as_bytes()).unwrap(), "pässwörd€");
    }

    #[test]
    fn round_trip_through_the_crates_reader_and_refusals() {
        let key = PrivateKey::generate(KeyAlgo::EcdsaP256).unwrap();
        let der = self_signed(&key, "leaf");
        for mode in [P12Mode::Modern, P12Mode::Legacy] {
            let p12 = export(&key, &der, &[], "pässwörd€".as_bytes(), mode, None).unwrap();
            let store = KeyStore::from_pkcs12(&p12, "pässwörd€").unwrap();
            let (alias, chain) = store.private_key_chain().unwrap();
            assert_eq!(alias, "leaf");
            assert_eq!(chain.key(), key.pair().serialized_der());
            assert_eq!(chain.chain()[0].as_der(), der.as_slice());
            assert_eq!(chain.local_key_id(), aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der).as_ref());
            assert!(KeyStore::from_pkcs12(&p12, "wrong").is_err());
        }
        let other = PrivateKey::generate(KeyAlgo::EcdsaP256).unwrap();
        assert!(matches!(export(&other, &der, &[], b"pass", P12Mode::Modern, None), Err(P12Error::KeyMismatch)));
        // A CA that did not issue the leaf.
        let stranger = self_signed(&other, "stranger");
        assert!(matches!(export(&key, &der, &[stranger], b"pass", P12Mode::Modern, None), Err(P12Error::ChainOrder { index: 1, .. })));
        // The leaf repeated as its own chain is dropped, not an error.
        assert!(export(&key, &der, std::slice::from_ref(&der), b"pass", P12Mode::Modern, Some("name")).is_ok());
        assert!(matches!(export(&key, &der, &[], b"pass", P12Mode::Modern, Some(" ")), Err(P12Error::FriendlyName(..))));
    }
}
