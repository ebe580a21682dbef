//! Private keys: the key request of a CSR JSON, generation, and reading and
//! writing the three PEM encodings cfssl users meet (PKCS#1, SEC1, PKCS#8).
//!
//! Keys live inside an rcgen `KeyPair` (aws-lc-rs backed) as PKCS#8; the
//! cfssl encodings are produced from it on the way out.

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, Encode};
use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm};
use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use zeroize::Zeroizing;

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A key algorithm and size that kpki can generate and sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyAlgo {
    /// RSA with the modulus size in bits.
    Rsa(u32),
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
    /// ECDSA on P-521 with SHA-512.
    EcdsaP521,
    /// Ed25519.
    Ed25519,
}

/// Why a key request (`"key": {"algo", "size"}`) or `--key-algo` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeySpecError {
    /// RSA below 2048 bits.
    #[error("RSA key size {0} is too weak: use 2048, 3072 or 4096")]
    RsaTooWeak(u32),
    /// An RSA size kpki does not make.
    #[error("RSA key size {0} is not supported: use 2048, 3072, 4096 or 8192")]
    RsaSize(u32),
    /// An ECDSA size that is not a supported curve.
    #[error("ECDSA key size {0} is not supported: use 256, 384 or 521")]
    EcdsaSize(u32),
    /// Ed25519 with a size other than 256.
    #[error("ed25519 keys have a fixed size: leave \"size\" out (or 256)")]
    Ed25519Size,
    /// An unknown algorithm name.
    #[error("key algorithm {0:?} is not supported: use \"rsa\", \"ecdsa\" or \"ed25519\"")]
    Algo(String),
    /// RSA or ECDSA without a size.
    #[error("key size is missing for {0:?}: give e.g. {{\"algo\": \"rsa\", \"size\": 2048}}")]
    MissingSize(String),
}

impl KeyAlgo {
    /// Interprets a cfssl key request; `size` 0 means "not given".
    pub fn from_request(algo: &str, size: Option<u32>) -> Result<Self, KeySpecError> {
        match (algo.to_ascii_lowercase().as_str(), size) {
            ("rsa", None) => Err(KeySpecError::MissingSize("rsa".into())),
            ("rsa", Some(n)) if n < 2048 => Err(KeySpecError::RsaTooWeak(n)),
            ("rsa", Some(n @ (2048 | 3072 | 4096 | 8192))) => Ok(KeyAlgo::Rsa(n)),
            ("rsa", Some(n)) => Err(KeySpecError::RsaSize(n)),
            ("ecdsa", None) => Err(KeySpecError::MissingSize("ecdsa".into())),
            ("ecdsa", Some(256)) => Ok(KeyAlgo::EcdsaP256),
            ("ecdsa", Some(384)) => Ok(KeyAlgo::EcdsaP384),
            ("ecdsa", Some(521)) => Ok(KeyAlgo::EcdsaP521),
            ("ecdsa", Some(n)) => Err(KeySpecError::EcdsaSize(n)),
            ("ed25519", None | Some(256)) => Ok(KeyAlgo::Ed25519),
            ("ed25519", Some(_)) => Err(KeySpecError::Ed25519Size),
            (other, _) => Err(KeySpecError::Algo(other.to_string())),
        }
    }

    /// Parses the short names used by `--key-algo` and cluster configs:
    /// `rsa-2048`, `rsa-3072`, `rsa-4096`, `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521`, `ed25519`.
    pub fn from_name(name: &str) -> Result<Self, KeySpecError> {
        match name.to_ascii_lowercase().as_str() {
            "rsa" | "rsa-2048" | "rsa2048" => Ok(KeyAlgo::Rsa(2048)),
            "rsa-3072" | "rsa3072" => Ok(KeyAlgo::Rsa(3072)),
            "rsa-4096" | "rsa4096" => Ok(KeyAlgo::Rsa(4096)),
            "ecdsa" | "ecdsa-p256" | "p256" | "p-256" => Ok(KeyAlgo::EcdsaP256),
            "ecdsa-p384" | "p384" | "p-384" => Ok(KeyAlgo::EcdsaP384),
            "ecdsa-p521" | "p521" | "p-521" => Ok(KeyAlgo::EcdsaP521),
            "ed25519" => Ok(KeyAlgo::Ed25519),
            other => Err(KeySpecError::Algo(other.to_string())),
        }
    }

    /// The name `from_name` reads, and the one cfssl logs (`rsa-2048`).
    pub fn name(self) -> String {
        match self {
            KeyAlgo::Rsa(n) => format!("rsa-{n}"),
            KeyAlgo::EcdsaP256 => "ecdsa-p256".into(),
            KeyAlgo::EcdsaP384 => "ecdsa-p384".into(),
            KeyAlgo::EcdsaP521 => "ecdsa-p521".into(),
            KeyAlgo::Ed25519 => "ed25519".into(),
        }
    }

    /// The signature algorithm a CA with this key signs with, as cfssl picks it.
    pub fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            // As cfssl's signer.DefaultSigAlgo: the hash grows with the key.
            KeyAlgo::Rsa(bits) if bits >= 4096 => &rcgen::PKCS_RSA_SHA512,
            KeyAlgo::Rsa(bits) if bits >= 3072 => &rcgen::PKCS_RSA_SHA384,
            KeyAlgo::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
            KeyAlgo::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgo::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyAlgo::EcdsaP521 => &rcgen::PKCS_ECDSA_P521_SHA512,
            KeyAlgo::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

impl std::fmt::Display for KeyAlgo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl std::str::FromStr for KeyAlgo {
    type Err = KeySpecError;
    fn from_str(s: &str) -> Result<Self, KeySpecError> {
        KeyAlgo::from_name(s)
    }
}

/// Serialised as its name (`rsa-2048`), as cluster configs and `plan.json` write it.
impl serde::Serialize for KeyAlgo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyAlgo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyAlgo::from_name(&s).map_err(serde::de::Error::custom)
    }
}

/// The PEM encoding written for private keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFormat {
    /// What cfssl writes: PKCS#1 for RSA, SEC1 for ECDSA (PKCS#8 for Ed25519,
    /// which has no other encoding).
    #[default]
    Cfssl,
    /// PKCS#8 `PRIVATE KEY` for every algorithm.
    Pkcs8,
}

/// Why a private key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No private key in the PEM input.
    #[error("no private key found (expected a PEM block RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY)")]
    NoKey,
    /// The key is encrypted and no passphrase was given.
    #[error("the private key is encrypted; give its passphrase")]
    Encrypted,
    /// The passphrase does not decrypt the key.
    #[error("the passphrase is wrong (the encrypted private key does not decrypt)")]
    WrongPassphrase,
    /// An encryption scheme kpki does not read.
    #[error("the encrypted private key uses an unsupported scheme: {0}")]
    EncryptionScheme(String),
    /// The PEM itself is malformed.
    #[error("the PEM is malformed: {0}")]
    Pem(String),
    /// The key's DER does not parse.
    #[error("the private key is malformed: {0}")]
    Malformed(String),
    /// A key type or curve kpki does not support.
    #[error("the private key's algorithm is not supported (RSA, ECDSA P-256/P-384/P-521 and Ed25519 are)")]
    Unsupported,
    /// An RSA key below 2048 bits.
    #[error("the RSA key has {0} bits; kpki refuses RSA keys under 2048 bits")]
    RsaTooWeak(u32),
    /// Generating or encoding a key failed.
    #[error("key generation failed: {0}")]
    Generate(String),
}

/// Most PBKDF2 iterations an encrypted key may ask for: 16x the 600 000
/// kpki writes, a few seconds of work. The count comes from the file, so
/// without a bound a hostile key could make kpki spin for hours.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Most memory an scrypt-encrypted key may ask for (128 * N * r * p bytes):
/// OpenSSL's default limit, 32 MiB. N comes from the file and scrypt
/// allocates it up front.
pub const MAX_SCRYPT_BYTES: u64 = 32 * 1024 * 1024;

/// Refuses key derivation parameters that would cost unbounded time or memory.
fn check_kdf_cost(scheme: &pkcs8::pkcs5::EncryptionScheme<'_>) -> Result<(), KeyError> {
    use pkcs8::pkcs5::{pbes2::Kdf, EncryptionScheme};
    let EncryptionScheme::Pbes2(params) = scheme else {
        return Err(KeyError::EncryptionScheme("PBES1 (only PBES2 is supported)".into()));
    };
    match &params.kdf {
        Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => Err(KeyError::EncryptionScheme(format!(
            "PBKDF2 with {} iterations (kpki allows at most {MAX_PBKDF2_ITERATIONS})",
            p.iteration_count
        ))),
        Kdf::Scrypt(p) => {
            let bytes = 128u128 * u128::from(p.cost_parameter) * u128::from(p.block_size) * u128::from(p.parallelization.max(1));
            if bytes > u128::from(MAX_SCRYPT_BYTES) || p.cost_parameter < 2 || !p.cost_parameter.is_power_of_two() {
                Err(KeyError::EncryptionScheme(format!(
                    "scrypt with N={}, r={}, p={} (kpki allows N a power of two and at most {} MiB)",
                    p.cost_parameter,
                    p.block_size,
                    p.parallelization,
                    MAX_SCRYPT_BYTES >> 20
                )))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// A private key with its algorithm.
pub struct PrivateKey {
    algo: KeyAlgo,
    pair: KeyPair,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        write!(f, "PrivateKey({})", self.algo.name())
    }
}

impl PrivateKey {
    /// Generates a new key: RSA with aws-lc's own generator (through
    /// aws-lc-rs), EC and Ed25519 with aws-lc through rcgen.
    pub fn generate(algo: KeyAlgo) -> Result<Self, KeyError> {
        let mut keys = Self::generate_many(algo, 1)?;
        keys.pop().ok_or_else(|| KeyError::Generate("no key was generated".into()))
    }

    /// Generates `count` keys of one algorithm. RSA keys take tens of
    /// milliseconds each, so they are made one key per thread on every core;
    /// each key is still aws-lc's `RSA_generate_key_ex`, unchanged.
    pub fn generate_many(algo: KeyAlgo, count: usize) -> Result<Vec<Self>, KeyError> {
        match algo {
            KeyAlgo::Rsa(bits) => {
                let size = match bits {
                    2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
                    3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
                    4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
                    8192 => aws_lc_rs::rsa::KeySize::Rsa8192,
                    _ => return Err(KeyError::Generate(format!("unsupported RSA size {bits}"))),
                };
                let one = || -> Result<Self, KeyError> {
                    use aws_lc_rs::encoding::AsDer;
                    let pair = aws_lc_rs::rsa::KeyPair::generate(size).map_err(|_| KeyError::Generate("aws-lc could not generate an RSA key".into()))?;
                    let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> =
                        pair.as_der().map_err(|_| KeyError::Generate("aws-lc could not encode an RSA key".into()))?;
                    Self::load(algo, &PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.as_ref().to_vec())))
                };
                let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(count);
                if workers <= 1 {
                    return (0..count).map(|_| one()).collect();
                }
                let next = std::sync::atomic::AtomicUsize::new(0);
                let made: Vec<Result<Vec<Self>, KeyError>> = std::thread::scope(|s| {
                    let handles: Vec<_> = (0..workers)
                        .map(|_| {
                            s.spawn(|| {
                                let mut mine = Vec::new();
                                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                                    mine.push(one()?);
                                }
                                Ok(mine)
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|_| Err(KeyError::Generate("a key generation thread panicked".into()))))
                        .collect()
                });
                let mut keys = Vec::with_capacity(count);
                for batch in made {
                    keys.extend(batch?);
                }
                Ok(keys)
            }
            _ => (0..count)
                .map(|_| {
                    let pair = KeyPair::generate_for(algo.signature_algorithm())
                        .map_err(|e| KeyError::Generate(e.to_string()))?;
                    Ok(PrivateKey { algo, pair })
                })
                .collect(),
        }
    }

    /// Keeps an RSA key as PKCS#8 so that `to_pem` has one input format.
    fn load_pkcs1_as_pkcs8(algo: KeyAlgo, der: &[u8]) -> Result<Self, KeyError> {
        let null = AnyRef::from(der::asn1::Null);
        let info = pkcs8::PrivateKeyInfo::new(pkcs8::AlgorithmIdentifierRef { oid: OID_RSA, parameters: Some(null) }, der);
        let pkcs8 = Zeroizing::new(info.to_der().map_err(|e| KeyError::Malformed(e.to_string()))?);
        Self::load(algo, &PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec())))
    }

    /// Reads a key from PEM: PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`)
    /// or PKCS#8 (`PRIVATE KEY`). cfssl 1.2 could not read PKCS#8 (cfssl #848).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
            let (kind, der) = section.map_err(|e| KeyError::Pem(e.to_string()))?;
            let der = Zeroizing::new(der);
            match kind {
                SectionKind::RsaPrivateKey => return Self::from_pkcs1(&der),
                SectionKind::EcPrivateKey => return Self::from_sec1(&der),
                SectionKind::PrivateKey => return Self::from_pkcs8(&der),
                _ => continue,
            }
        }
        if contains(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(KeyError::Encrypted);
        }
        Err(KeyError::NoKey)
    }

    /// Reads a key that may be an encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`,
    /// PBES2) when a passphrase is given.
    pub fn from_pem_with_passphrase(pem: &[u8], passphrase: Option<&[u8]>) -> Result<Self, KeyError> {
        match (Self::from_pem(pem), passphrase) {
            (Err(KeyError::Encrypted), Some(pass)) => {
                let der = encrypted_der(pem)?;
                let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
                    .map_err(|e| KeyError::Malformed(e.to_string()))?;
                check_kdf_cost(&info.encryption_algorithm)?;
                let doc = info.decrypt(pass).map_err(|e| match e {
                    // pkcs5 0.7 reports a bad padding after decryption (a wrong
                    // passphrase) as EncryptFailed; both mean the same here.
                    pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed) => {
                        KeyError::WrongPassphrase
                    }
                    pkcs8::Error::EncryptedPrivateKey(other) => KeyError::EncryptionScheme(other.to_string()),
                    _ => KeyError::WrongPassphrase,
                })?;
                Self::from_pkcs8(doc.as_bytes()).map_err(|_| KeyError::WrongPassphrase)
            }
            (other, _) => other,
        }
    }

    /// Whether a PEM text holds an encrypted private key.
    pub fn is_encrypted_pem(pem: &[u8]) -> bool {
        contains(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    }

    /// The key as encrypted PKCS#8 (PBES2: PBKDF2-HMAC-SHA256, 600 000
    /// iterations, AES-256-CBC), which OpenSSL reads too.
    pub fn to_encrypted_pem(&self, passphrase: &[u8]) -> Result<Zeroizing<String>, KeyError> {
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| KeyError::Generate("the random number generator failed".into()))?;
        aws_lc_rs::rand::fill(&mut iv).map_err(|_| KeyError::Generate("the random number generator failed".into()))?;
        let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(600_000, &salt, &iv)
            .map_err(|e| KeyError::EncryptionScheme(e.to_string()))?;
        let info = pkcs8::PrivateKeyInfo::from_der(self.pair.serialized_der()).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let doc = info.encrypt_with_params(params, passphrase).map_err(|e| KeyError::EncryptionScheme(e.to_string()))?;
        Ok(Zeroizing::new(pem_encode("ENCRYPTED PRIVATE KEY", doc.as_bytes())))
    }

    /// Reads a PKCS#8 `PrivateKeyInfo`.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let info = pkcs8::PrivateKeyInfo::from_der(der).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let algo = if info.algorithm.oid == OID_RSA {
            KeyAlgo::Rsa(rsa_bits(info.private_key)?)
        } else if info.algorithm.oid == OID_EC {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|_| KeyError::Malformed("the EC key names no curve".into()))?;
            curve_algo(curve)?
        } else if info.algorithm.oid == OID_ED25519 {
            KeyAlgo::Ed25519
        } else {
            return Err(KeyError::Unsupported);
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec()));
        Self::load(algo, &key)
    }

    fn from_pkcs1(der: &[u8]) -> Result<Self, KeyError> {
        let algo = KeyAlgo::Rsa(rsa_bits(der)?);
        // Validate as PKCS#1 first (its own error messages), then keep it as PKCS#8.
        Self::load(algo, &PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der.to_vec())))?;
        Self::load_pkcs1_as_pkcs8(algo, der)
    }

    fn from_sec1(der: &[u8]) -> Result<Self, KeyError> {
        let ec = sec1::EcPrivateKey::from_der(der).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let curve = ec
            .parameters
            .and_then(|p| p.named_curve())
            .ok_or_else(|| KeyError::Malformed("the EC PRIVATE KEY names no curve".into()))?;
        let algo = curve_algo(curve)?;
        Self::load(algo, &PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der.to_vec())))?;
        let params = AnyRef::from(&curve);
        let info = pkcs8::PrivateKeyInfo::new(pkcs8::AlgorithmIdentifierRef { oid: OID_EC, parameters: Some(params) }, der);
        let pkcs8 = Zeroizing::new(info.to_der().map_err(|e| KeyError::Malformed(e.to_string()))?);
        Self::load(algo, &PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec())))
    }

    fn load(algo: KeyAlgo, key: &PrivateKeyDer<'_>) -> Result<Self, KeyError> {
        if let KeyAlgo::Rsa(bits) = algo {
            if bits < 2048 {
                return Err(KeyError::RsaTooWeak(bits));
            }
        }
        let pair = KeyPair::from_der_and_sign_algo(key, algo.signature_algorithm())
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        Ok(PrivateKey { algo, pair })
    }

    /// The key's algorithm and size.
    pub fn algo(&self) -> KeyAlgo {
        self.algo
    }

    /// The rcgen key pair, to sign with.
    pub fn pair(&self) -> &KeyPair {
        &self.pair
    }

    /// The subjectPublicKey bits (what a certificate's SPKI carries).
    pub fn public_key_bits(&self) -> &[u8] {
        self.pair.der_bytes()
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.pair.subject_public_key_info()
    }

    /// The key as PEM in the requested format.
    pub fn to_pem(&self, format: KeyFormat) -> Result<Zeroizing<String>, KeyError> {
        let pkcs8 = self.pair.serialized_der();
        let (label, der): (&str, Zeroizing<Vec<u8>>) = match (format, self.algo) {
            (KeyFormat::Pkcs8, _) | (KeyFormat::Cfssl, KeyAlgo::Ed25519) => {
                ("PRIVATE KEY", Zeroizing::new(pkcs8.to_vec()))
            }
            (KeyFormat::Cfssl, KeyAlgo::Rsa(_)) => {
                let info = pkcs8::PrivateKeyInfo::from_der(pkcs8).map_err(|e| KeyError::Malformed(e.to_string()))?;
                ("RSA PRIVATE KEY", Zeroizing::new(info.private_key.to_vec()))
            }
            (KeyFormat::Cfssl, algo) => ("EC PRIVATE KEY", self.sec1_der(algo)?),
        };
        Ok(Zeroizing::new(pem_encode(label, &der)))
    }

    /// SEC1 with the named curve and public key present, as Go and OpenSSL write it
    /// (Go's parser needs the curve there).
    fn sec1_der(&self, algo: KeyAlgo) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let info = pkcs8::PrivateKeyInfo::from_der(self.pair.serialized_der())
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        let mut ec = sec1::EcPrivateKey::from_der(info.private_key).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let curve = match algo {
            KeyAlgo::EcdsaP256 => OID_P256,
            KeyAlgo::EcdsaP384 => OID_P384,
            _ => OID_P521,
        };
        ec.parameters = Some(sec1::EcParameters::NamedCurve(curve));
        if ec.public_key.is_none() {
            ec.public_key = Some(self.pair.der_bytes());
        }
        let der = ec.to_der().map_err(|e| KeyError::Malformed(e.to_string()))?;
        Ok(Zeroizing::new(der))
    }
}

/// Maps a named curve to its algorithm.
fn curve_algo(curve: ObjectIdentifier) -> Result<KeyAlgo, KeyError> {
    match curve {
        c if c == OID_P256 => Ok(KeyAlgo::EcdsaP256),
        c if c == OID_P384 => Ok(KeyAlgo::EcdsaP384),
        c if c == OID_P521 => Ok(KeyAlgo::EcdsaP521),
        _ => Err(KeyError::Unsupported),
    }
}

/// Bits of the modulus of a PKCS#1 RSAPrivateKey.
fn rsa_bits(pkcs1: &[u8]) -> Result<u32, KeyError> {
    // RSAPrivateKey ::= SEQUENCE { version INTEGER, modulus INTEGER, ... }
    let bad = || KeyError::Malformed("the RSA key is not a valid RSAPrivateKey".into());
    let mut reader = der::SliceReader::new(pkcs1).map_err(|_| bad())?;
    let header = der::Header::decode(&mut reader).map_err(|_| bad())?;
    if header.tag != der::Tag::Sequence {
        return Err(bad());
    }
    let _version: AnyRef<'_> = der::Decode::decode(&mut reader).map_err(|_| bad())?;
    let modulus = der::asn1::UintRef::decode(&mut reader).map_err(|_| bad())?;
    let bytes = modulus.as_bytes();
    let first = *bytes.first().ok_or_else(bad)?;
    Ok((bytes.len() as u32 - 1) * 8 + (8 - first.leading_zeros()))
}

/// The DER of the first ENCRYPTED PRIVATE KEY block (rustls-pki-types skips that label).
fn encrypted_der(pem: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    use base64::Engine;
    let text = std::str::from_utf8(pem).map_err(|_| KeyError::Pem("the file is not text".into()))?;
    let begin = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    let end = "-----END ENCRYPTED PRIVATE KEY-----";
    let start = text.find(begin).ok_or(KeyError::NoKey)? + begin.len();
    let stop = text[start..].find(end).ok_or_else(|| KeyError::Pem("the ENCRYPTED PRIVATE KEY block has no end line".into()))? + start;
    let b64: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map(Zeroizing::new)
        .map_err(|e| KeyError::Pem(format!("bad base64 in the ENCRYPTED PRIVATE KEY block: {e}")))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Encodes DER as PEM with 64-column lines, as Go and OpenSSL do.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An encrypted key whose KDF asks for `kdf`; the ciphertext is junk
    /// because the cost check must refuse it before any decryption.
    fn encrypted_with(kdf: pkcs8::pkcs5::pbes2::Kdf<'_>) -> String {
        let iv = [7u8; 16];
        let params = pkcs8::pkcs5::pbes2::Parameters { kdf, encryption: pkcs8::pkcs5::pbes2::EncryptionScheme::Aes256Cbc { iv: &iv } };
        let info = pkcs8::EncryptedPrivateKeyInfo { encryption_algorithm: params.into(), encrypted_data: &[0u8; 48] };
        pem_encode("ENCRYPTED PRIVATE KEY", &info.to_der().unwrap())
    }

    #[test]
    fn hostile_kdf_costs_are_refused_before_any_work() {
        use pkcs8::pkcs5::pbes2::{Kdf, Pbkdf2Params, Pbkdf2Prf, ScryptParams};
        let salt = [1u8; 16];
        let pbkdf2 = |n| Kdf::Pbkdf2(Pbkdf2Params { salt: &salt, iteration_count: n, key_length: None, prf: Pbkdf2Prf::HmacWithSha256 });
        let scrypt = |n, r, p| Kdf::Scrypt(ScryptParams { salt: &salt, cost_parameter: n, block_size: r, parallelization: p, key_length: Some(32) });
        for (pem, says) in [
            (encrypted_with(pbkdf2(u32::MAX)), "4294967295 iterations"),
            (encrypted_with(pbkdf2(MAX_PBKDF2_ITERATIONS + 1)), "10000001 iterations"),
            (encrypted_with(scrypt(1 << 30, 8, 1)), "N=1073741824"),
            (encrypted_with(scrypt(1 << 14, 8, 65535)), "p=65535"),
            (encrypted_with(scrypt(3, 8, 1)), "N=3"),
        ] {
            match PrivateKey::from_pem_with_passphrase(pem.as_bytes(), Some(b"pass")) {
                Err(KeyError::EncryptionScheme(m)) => assert!(m.contains(says), "{m}"),
                other => panic!("expected a refusal naming {says}, got {other:?}"),
            }
        }
        // Within the bounds the parameters are accepted and the junk
        // ciphertext is what fails.
        let ok = encrypted_with(pbkdf2(1000));
        assert!(matches!(PrivateKey::from_pem_with_passphrase(ok.as_bytes(), Some(b"pass")), Err(KeyError::WrongPassphrase)));
    }

    #[test]
    fn key_requests() {
        assert_eq!(KeyAlgo::from_request("rsa", Some(2048)), Ok(KeyAlgo::Rsa(2048)));
        assert_eq!(KeyAlgo::from_request("ECDSA", Some(384)), Ok(KeyAlgo::EcdsaP384));
        assert_eq!(KeyAlgo::from_request("ed25519", None), Ok(KeyAlgo::Ed25519));
        assert_eq!(KeyAlgo::from_request("rsa", Some(1024)), Err(KeySpecError::RsaTooWeak(1024)));
        assert_eq!(KeyAlgo::from_request("rsa", None), Err(KeySpecError::MissingSize("rsa".into())));
        assert_eq!(KeyAlgo::from_request("rsa", Some(2049)), Err(KeySpecError::RsaSize(2049)));
        assert_eq!(KeyAlgo::from_request("ecdsa", Some(255)), Err(KeySpecError::EcdsaSize(255)));
        assert!(KeyAlgo::from_request("dsa", Some(2048)).is_err());
    }

    #[test]
    fn round_trip_every_algorithm_and_format() {
        for algo in [KeyAlgo::EcdsaP256, KeyAlgo::EcdsaP384, KeyAlgo::EcdsaP521, KeyAlgo::Ed25519, KeyAlgo::Rsa(2048)] {
            let key = PrivateKey::generate(algo).unwrap();
            for format in [KeyFormat::Cfssl, KeyFormat::Pkcs8] {
                let pem = key.to_pem(format).unwrap();
                let expected_label = match (format, algo) {
                    (KeyFormat::Pkcs8, _) | (_, KeyAlgo::Ed25519) => "-----BEGIN PRIVATE KEY-----",
                    (_, KeyAlgo::Rsa(_)) => "-----BEGIN RSA PRIVATE KEY-----",
                    _ => "-----BEGIN EC PRIVATE KEY-----",
                };
                assert!(pem.starts_with(expected_label), "{algo:?} {format:?}: {}", &pem[..40]);
                let back = PrivateKey::from_pem(pem.as_bytes()).unwrap();
                assert_eq!(back.algo(), algo);
                assert_eq!(back.public_key_bits(), key.public_key_bits());
                // A key read in any format writes out in every format.
                for again in [KeyFormat::Cfssl, KeyFormat::Pkcs8] {
                    let pem2 = back.to_pem(again).unwrap();
                    assert_eq!(PrivateKey::from_pem(pem2.as_bytes()).unwrap().public_key_bits(), key.public_key_bits());
                }
            }
        }
    }

    #[test]
    fn encrypted_round_trip_and_wrong_passphrase() {
        let key = PrivateKey::generate(KeyAlgo::EcdsaP256).unwrap();
        let pem = key.to_encrypted_pem(b"correct horse").unwrap();
        assert!(PrivateKey::is_encrypted_pem(pem.as_bytes()));
        assert!(matches!(PrivateKey::from_pem(pem.as_bytes()), Err(KeyError::Encrypted)));
        let back = PrivateKey::from_pem_with_passphrase(pem.as_bytes(), Some(b"correct horse")).unwrap();
        assert_eq!(back.public_key_bits(), key.public_key_bits());
        assert!(matches!(PrivateKey::from_pem_with_passphrase(pem.as_bytes(), Some(b"wrong")), Err(KeyError::WrongPassphrase)));
    }

    #[test]
    fn refuses_non_keys() {
        assert!(matches!(PrivateKey::from_pem(b"hello"), Err(KeyError::NoKey)));
        let enc = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(PrivateKey::from_pem(enc), Err(KeyError::Encrypted)));
        let bad = b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(PrivateKey::from_pem(bad), Err(KeyError::Malformed(_))));
    }
}
