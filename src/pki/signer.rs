//! A CA key wherever it lives: a private key in memory (read from a file),
//! or a key in a store (AWS KMS, a PKCS#11 token) that signs on request and
//! never leaves it. Either signs a certificate's TBS through rcgen's
//! [`SigningKey`]; a store's every signature is checked against the public
//! key the store reported before rcgen writes it into a certificate.
//!
//! The store itself (network, tokens) is `crate::keystore`'s: this layer
//! sees only the [`StoreKey`] trait.

use std::sync::{Arc, Mutex};

use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};

use super::key::{KeyAlgo, PrivateKey};

/// A key held by a store, signing remotely.
pub trait StoreKey: Send + Sync {
    /// Where the key is, as a URI without any secret (no PIN): for messages
    /// and `plan.json`.
    fn uri(&self) -> &str;
    /// The key's algorithm, as the store reports it.
    fn algo(&self) -> KeyAlgo;
    /// The subjectPublicKey bits the store reported (an SPKI's BIT STRING).
    fn public_key_bits(&self) -> &[u8];
    /// Signs `msg` with the algorithm of [`store_signature_algorithm`]
    /// (the store hashes, or is given the hash); returns the signature as a
    /// certificate carries it (a DER `Ecdsa-Sig-Value` for ECDSA).
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String>;
    /// How many signatures the store was asked for (one per certificate).
    fn sign_calls(&self) -> usize;
}

/// The signature algorithm of a store key: RSA PKCS#1 v1.5 with SHA-256
/// whatever the modulus (what every KMS and token offers), ECDSA with the
/// curve's hash. `None` for what kpki does not sign with through a store.
pub fn store_signature_algorithm(algo: KeyAlgo) -> Option<&'static SignatureAlgorithm> {
    match algo {
        KeyAlgo::Rsa(2048 | 3072 | 4096) => Some(&rcgen::PKCS_RSA_SHA256),
        KeyAlgo::EcdsaP256 => Some(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyAlgo::EcdsaP384 => Some(&rcgen::PKCS_ECDSA_P384_SHA384),
        _ => None,
    }
}

/// Checks a signature made by a store against the public key it reported
/// (aws-lc's verifier), so a wrong key, a wrong hash or a corrupted answer
/// never becomes a certificate.
pub fn check_store_signature(algo: KeyAlgo, public_key_bits: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), String> {
    use aws_lc_rs::signature as s;
    let verifier: &dyn s::VerificationAlgorithm = match algo {
        KeyAlgo::Rsa(_) => &s::RSA_PKCS1_2048_8192_SHA256,
        KeyAlgo::EcdsaP256 => &s::ECDSA_P256_SHA256_ASN1,
        KeyAlgo::EcdsaP384 => &s::ECDSA_P384_SHA384_ASN1,
        other => return Err(format!("{} keys are not signed with through a key store", other.name())),
    };
    s::UnparsedPublicKey::new(verifier, public_key_bits)
        .verify(msg, sig)
        .map_err(|_| "the signature the key store returned does not verify with the key's public key; nothing was written".to_string())
}

/// A store key ready to sign certificates: the store, and the last error it
/// gave (rcgen's error type carries no text, so the reason is kept here).
pub struct StoreSigner {
    key: Arc<dyn StoreKey>,
    alg: &'static SignatureAlgorithm,
    last_error: Mutex<Option<String>>,
}

impl StoreSigner {
    /// Wraps a store key; refuses an algorithm kpki does not sign with.
    pub fn new(key: Arc<dyn StoreKey>) -> Result<Self, String> {
        let alg = store_signature_algorithm(key.algo())
            .ok_or_else(|| format!("{} keys are not supported in a key store (use RSA 2048/3072/4096, or ECDSA P-256/P-384)", key.algo().name()))?;
        Ok(StoreSigner { key, alg, last_error: Mutex::new(None) })
    }
}

/// A CA's private key: in memory, or in a store.
pub enum CaKey {
    /// Read from a file (or just made).
    File(PrivateKey),
    /// In a KMS or a PKCS#11 token.
    Store(StoreSigner),
}

impl std::fmt::Debug for CaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaKey::File(k) => write!(f, "{k:?}"),
            CaKey::Store(s) => write!(f, "StoreKey({}, {})", s.key.uri(), s.key.algo().name()),
        }
    }
}

impl From<PrivateKey> for CaKey {
    fn from(k: PrivateKey) -> Self {
        CaKey::File(k)
    }
}

impl CaKey {
    /// The key's algorithm.
    pub fn algo(&self) -> KeyAlgo {
        match self {
            CaKey::File(k) => k.algo(),
            CaKey::Store(s) => s.key.algo(),
        }
    }

    /// The subjectPublicKey bits.
    pub fn public_key_bits(&self) -> &[u8] {
        match self {
            CaKey::File(k) => k.public_key_bits(),
            CaKey::Store(s) => s.key.public_key_bits(),
        }
    }

    /// The private key, when it is in memory.
    pub fn file(&self) -> Option<&PrivateKey> {
        match self {
            CaKey::File(k) => Some(k),
            CaKey::Store(_) => None,
        }
    }

    /// The store's URI (no secret), when the key is in a store.
    pub fn store_uri(&self) -> Option<&str> {
        match self {
            CaKey::File(_) => None,
            CaKey::Store(s) => Some(s.key.uri()),
        }
    }

    /// How many signatures the store made, when the key is in a store.
    pub fn store_sign_calls(&self) -> Option<usize> {
        match self {
            CaKey::File(_) => None,
            CaKey::Store(s) => Some(s.key.sign_calls()),
        }
    }

    /// Why the store's last signature failed (taken: asked once per failure).
    pub fn take_store_error(&self) -> Option<String> {
        match self {
            CaKey::File(_) => None,
            CaKey::Store(s) => s.last_error.lock().ok().and_then(|mut e| e.take()),
        }
    }
}

impl PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        self.public_key_bits()
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            CaKey::File(k) => k.pair().algorithm(),
            CaKey::Store(s) => s.alg,
        }
    }
}

impl SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            CaKey::File(k) => k.pair().sign(msg),
            CaKey::Store(s) => {
                let result = s.key.sign(msg).and_then(|sig| {
                    check_store_signature(s.key.algo(), s.key.public_key_bits(), msg, &sig).map(|()| sig).map_err(|e| format!("{}: {e}", s.key.uri()))
                });
                result.map_err(|e| {
                    if let Ok(mut last) = s.last_error.lock() {
                        *last = Some(e);
                    }
                    rcgen::Error::RemoteKeyError
                })
            }
        }
    }
}

impl PublicKeyData for PrivateKey {
    fn der_bytes(&self) -> &[u8] {
        self.public_key_bits()
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.pair().algorithm()
    }
}

impl SigningKey for PrivateKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.pair().sign(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "store" backed by an in-memory key, optionally lying.
    struct Fake {
        key: PrivateKey,
        corrupt: bool,
    }

    impl StoreKey for Fake {
        fn uri(&self) -> &str {
            "fake:key"
        }
        fn algo(&self) -> KeyAlgo {
            self.key.algo()
        }
        fn public_key_bits(&self) -> &[u8] {
            self.key.public_key_bits()
        }
        fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
            let mut sig = self.key.pair().sign(msg).map_err(|e| e.to_string())?;
            if self.corrupt {
                let n = sig.len() / 2;
                sig[n] ^= 1;
            }
            Ok(sig)
        }
        fn sign_calls(&self) -> usize {
            0
        }
    }

    #[test]
    fn a_store_signature_is_checked_before_use() {
        let key = PrivateKey::generate(KeyAlgo::EcdsaP256).unwrap();
        let good = CaKey::Store(StoreSigner::new(Arc::new(Fake { key, corrupt: false })).unwrap());
        assert!(SigningKey::sign(&good, b"tbs").is_ok());
        let key = PrivateKey::generate(KeyAlgo::EcdsaP256).unwrap();
        let bad = CaKey::Store(StoreSigner::new(Arc::new(Fake { key, corrupt: true })).unwrap());
        assert!(SigningKey::sign(&bad, b"tbs").is_err());
        assert!(bad.take_store_error().unwrap().contains("does not verify"));
        assert!(bad.take_store_error().is_none());
    }

    #[test]
    fn unsupported_store_algorithms_are_refused() {
        let key = PrivateKey::generate(KeyAlgo::Ed25519).unwrap();
        assert!(StoreSigner::new(Arc::new(Fake { key, corrupt: false })).is_err());
    }
}
