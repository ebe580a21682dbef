//! Reading certificates and CSRs: PEM to DER, signature checks with
//! aws-lc-rs (x509-parser's own check lacks ECDSA-SHA512, which P-521 CAs
//! use), key matching, and cfssl's `certinfo` JSON.

use std::net::IpAddr;

use aws_lc_rs::signature;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer};
use serde_json::{Map, Value};
use ::time::OffsetDateTime;
use x509_parser::prelude::*;

/// Why a certificate or CSR could not be read or checked.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// No certificate in the PEM input.
    #[error("no certificate found (expected a PEM block CERTIFICATE)")]
    NoCert,
    /// No CSR in the PEM input.
    #[error("no certificate request found (expected a PEM block CERTIFICATE REQUEST)")]
    NoCsr,
    /// The PEM itself is malformed.
    #[error("the PEM is malformed: {0}")]
    Pem(String),
    /// The certificate's DER does not parse.
    #[error("the certificate is malformed: {0}")]
    Malformed(String),
    /// The CSR's DER does not parse.
    #[error("the certificate request is malformed: {0}")]
    MalformedCsr(String),
    /// A signature algorithm kpki does not verify.
    #[error("the signature algorithm is not supported")]
    UnsupportedSignature,
    /// A signature that does not verify.
    #[error("the signature does not verify")]
    BadSignature,
    /// An RSA key below 2048 bits.
    #[error("its RSA key has {0} bits; kpki refuses RSA keys under 2048 bits")]
    WeakRsa(usize),
}

/// All certificates in a PEM text, in order.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(CertError::NoCert);
    }
    Ok(certs)
}

/// The first certificate in a PEM text, checked to parse.
pub fn cert_from_pem(pem: &[u8]) -> Result<CertificateDer<'static>, CertError> {
    let der = certs_from_pem(pem)?.swap_remove(0);
    parse(&der)?;
    Ok(der)
}

/// Parses DER, refusing trailing bytes.
pub fn parse<'a>(der: &'a [u8]) -> Result<X509Certificate<'a>, CertError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| CertError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertError::Malformed(format!("{} bytes of trailing data", rest.len())));
    }
    Ok(cert)
}

/// The first CSR in a PEM text.
pub fn csr_from_pem(pem: &[u8]) -> Result<CertificateSigningRequestDer<'static>, CertError> {
    // The label older tools write (Netscape, MS); RFC 7468 section 7 lists it.
    const OLD: &[u8] = b"NEW CERTIFICATE REQUEST-----";
    if pem.windows(OLD.len()).any(|w| w == OLD) {
        let text = String::from_utf8_lossy(pem).replace("-----BEGIN NEW CERTIFICATE REQUEST-----", "-----BEGIN CERTIFICATE REQUEST-----").replace("-----END NEW CERTIFICATE REQUEST-----", "-----END CERTIFICATE REQUEST-----");
        return csr_from_pem_exact(text.as_bytes());
    }
    csr_from_pem_exact(pem)
}

fn csr_from_pem_exact(pem: &[u8]) -> Result<CertificateSigningRequestDer<'static>, CertError> {
    match CertificateSigningRequestDer::from_pem_slice(pem) {
        Ok(der) => Ok(der),
        Err(rustls_pki_types::pem::Error::NoItemsFound) => Err(CertError::NoCsr),
        Err(e) => Err(CertError::Pem(e.to_string())),
    }
}

/// Parses a CSR and checks its self-signature.
pub fn parse_csr<'a>(der: &'a [u8]) -> Result<X509CertificationRequest<'a>, CertError> {
    let (rest, csr) =
        X509CertificationRequest::from_der(der).map_err(|e| CertError::MalformedCsr(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertError::MalformedCsr(format!("{} bytes of trailing data", rest.len())));
    }
    let info = &csr.certification_request_info;
    if info.subject_pki.algorithm.algorithm == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION && key_bits(&info.subject_pki) < 2048 {
        return Err(CertError::WeakRsa(key_bits(&info.subject_pki)));
    }
    verify_raw(&info.subject_pki, &csr.signature_algorithm, &csr.signature_value.data, info.raw)?;
    Ok(csr)
}

/// Checks that `cert` is signed by the key in `issuer_spki`.
pub fn verify_signed_by(cert: &X509Certificate<'_>, issuer_spki: &SubjectPublicKeyInfo<'_>) -> Result<(), CertError> {
    verify_raw(issuer_spki, &cert.signature_algorithm, &cert.signature_value.data, cert.tbs_certificate.as_ref())
}

fn verify_raw(
    spki: &SubjectPublicKeyInfo<'_>,
    alg: &AlgorithmIdentifier<'_>,
    sig: &[u8],
    data: &[u8],
) -> Result<(), CertError> {
    use x509_parser::oid_registry as o;
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
    let a = &alg.algorithm;
    let v: &dyn signature::VerificationAlgorithm = if *a == o::OID_PKCS1_SHA256WITHRSA {
        &signature::RSA_PKCS1_2048_8192_SHA256
    } else if *a == o::OID_PKCS1_SHA384WITHRSA {
        &signature::RSA_PKCS1_2048_8192_SHA384
    } else if *a == o::OID_PKCS1_SHA512WITHRSA {
        &signature::RSA_PKCS1_2048_8192_SHA512
    } else if *a == o::OID_PKCS1_SHA1WITHRSA {
        &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
    } else if *a == o::OID_SIG_ED25519 {
        &signature::ED25519
    } else if *a == o::OID_SIG_ECDSA_WITH_SHA256
        || *a == o::OID_SIG_ECDSA_WITH_SHA384
        || *a == o::OID_SIG_ECDSA_WITH_SHA512
    {
        let c = curve.ok_or(CertError::UnsupportedSignature)?;
        let h = if *a == o::OID_SIG_ECDSA_WITH_SHA256 {
            256
        } else if *a == o::OID_SIG_ECDSA_WITH_SHA384 {
            384
        } else {
            512
        };
        match (c.to_id_string().as_str(), h) {
            ("1.2.840.10045.3.1.7", 256) => &signature::ECDSA_P256_SHA256_ASN1,
            ("1.2.840.10045.3.1.7", 384) => &signature::ECDSA_P256_SHA384_ASN1,
            ("1.3.132.0.34", 256) => &signature::ECDSA_P384_SHA256_ASN1,
            ("1.3.132.0.34", 384) => &signature::ECDSA_P384_SHA384_ASN1,
            ("1.3.132.0.35", 256) => &signature::ECDSA_P521_SHA256_ASN1,
            ("1.3.132.0.35", 384) => &signature::ECDSA_P521_SHA384_ASN1,
            ("1.3.132.0.35", 512) => &signature::ECDSA_P521_SHA512_ASN1,
            _ => return Err(CertError::UnsupportedSignature),
        }
    } else {
        return Err(CertError::UnsupportedSignature);
    };
    signature::UnparsedPublicKey::new(v, &spki.subject_public_key.data)
        .verify(data, sig)
        .map_err(|_| CertError::BadSignature)
}

/// The NotBefore/NotAfter of a certificate.
pub fn validity(cert: &X509Certificate<'_>) -> (OffsetDateTime, OffsetDateTime) {
    (cert.validity().not_before.to_datetime(), cert.validity().not_after.to_datetime())
}

/// Whether a certificate is a CA: basicConstraints CA:TRUE, and keyCertSign if
/// it has a keyUsage.
pub fn ca_problem(cert: &X509Certificate<'_>) -> Option<&'static str> {
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        Ok(_) => return Some("it is not a CA certificate (basicConstraints CA:TRUE is missing)"),
        Err(_) => return Some("its basicConstraints extension is malformed"),
    }
    match cert.key_usage() {
        Ok(Some(ku)) if !ku.value.key_cert_sign() => Some("its keyUsage does not allow certificate signing"),
        Ok(_) => None,
        Err(_) => Some("its keyUsage extension is malformed"),
    }
}

/// Bits of the certificate's key (RSA modulus size, curve size; 256 for Ed25519).
pub fn key_bits(spki: &SubjectPublicKeyInfo<'_>) -> usize {
    match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
            let m = rsa.modulus;
            let start = m.iter().position(|b| *b != 0).unwrap_or(m.len());
            let m = &m[start..];
            match m.first() {
                Some(first) => (m.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
                None => 0,
            }
        }
        // By the curve: x509-parser counts P-521's 66-byte coordinates as 528 bits.
        Ok(x509_parser::public_key::PublicKey::EC(ec)) => match spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string()).as_deref() {
            Some("1.2.840.10045.3.1.7") => 256,
            Some("1.3.132.0.34") => 384,
            Some("1.3.132.0.35") => 521,
            _ => ec.key_size(),
        },
        _ if spki.algorithm.algorithm == x509_parser::oid_registry::OID_SIG_ED25519 => 256,
        _ => 0,
    }
}

/// The key algorithm's short name as kpki writes it (`rsa-2048`, `ecdsa-p256`, `ed25519`).
pub fn key_algo_name(spki: &SubjectPublicKeyInfo<'_>) -> String {
    use x509_parser::oid_registry as o;
    let a = &spki.algorithm.algorithm;
    if *a == o::OID_PKCS1_RSAENCRYPTION {
        format!("rsa-{}", key_bits(spki))
    } else if *a == o::OID_KEY_TYPE_EC_PUBLIC_KEY {
        format!("ecdsa-p{}", key_bits(spki))
    } else if *a == o::OID_SIG_ED25519 {
        "ed25519".into()
    } else {
        a.to_id_string()
    }
}

/// The key algorithm a SubjectPublicKeyInfo declares, including the named
/// curve of an EC key; `None` for anything kpki does not sign with.
pub fn spki_algo(spki: &SubjectPublicKeyInfo<'_>) -> Option<super::key::KeyAlgo> {
    use super::key::KeyAlgo;
    use x509_parser::oid_registry as o;
    let a = &spki.algorithm.algorithm;
    if *a == o::OID_PKCS1_RSAENCRYPTION {
        return u32::try_from(key_bits(spki)).ok().map(KeyAlgo::Rsa);
    }
    if *a == o::OID_SIG_ED25519 {
        return Some(KeyAlgo::Ed25519);
    }
    if *a != o::OID_KEY_TYPE_EC_PUBLIC_KEY {
        return None;
    }
    let curve = spki.algorithm.parameters.as_ref()?.as_oid().ok()?;
    if curve == o::OID_EC_P256 {
        Some(KeyAlgo::EcdsaP256)
    } else if curve == o::OID_NIST_EC_P384 {
        Some(KeyAlgo::EcdsaP384)
    } else if curve == o::OID_NIST_EC_P521 {
        Some(KeyAlgo::EcdsaP521)
    } else {
        None
    }
}

/// The subjectKeyIdentifier, if present.
pub fn ski(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.iter_extensions().find_map(|e| match e.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
        _ => None,
    })
}

/// The authorityKeyIdentifier's key id, if present.
pub fn aki(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.iter_extensions().find_map(|e| match e.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(k) => k.key_identifier.as_ref().map(|k| k.0.to_vec()),
        _ => None,
    })
}

/// The SANs as strings, in certificate order, with their kind.
pub fn sans(cert: &X509Certificate<'_>) -> Vec<San> {
    let mut out = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            out.push(match name {
                GeneralName::DNSName(d) => San::Dns(d.to_string()),
                GeneralName::RFC822Name(e) => San::Email(e.to_string()),
                GeneralName::URI(u) => San::Uri(u.to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => San::Ip(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())),
                    16 => San::Ip(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())),
                    _ => San::Other(format!("IP of {} bytes", b.len())),
                },
                other => San::Other(format!("{other:?}")),
            });
        }
    }
    out
}

/// Whether the certificate's SANs name `host` (an IP address, or a DNS
/// name matched case-insensitively, `*.` covering exactly one label).
pub fn names_host(cert: &X509Certificate<'_>, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    sans(cert).iter().any(|s| match (s, ip) {
        (San::Ip(a), Some(b)) => *a == b,
        (San::Dns(d), None) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            match d.strip_prefix("*.") {
                Some(base) => host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == base),
                None => d == host,
            }
        }
        _ => false,
    })
}

/// A subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum San {
    /// A DNS name.
    Dns(String),
    /// An e-mail address.
    Email(String),
    /// An IP address.
    Ip(IpAddr),
    /// A URI.
    Uri(String),
    /// Another kind of name, described.
    Other(String),
}

impl std::fmt::Display for San {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            San::Dns(s) | San::Email(s) | San::Uri(s) | San::Other(s) => f.write_str(s),
            San::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// The value of the first attribute of `oid` in a name.
pub fn name_attr(name: &X509Name<'_>, oid: &x509_parser::der_parser::Oid<'_>) -> Option<String> {
    name.iter_attributes().find(|a| a.attr_type() == oid).and_then(|a| a.as_str().ok()).map(str::to_string)
}

/// A certificate's name for a one-line message: control characters escaped,
/// at most 200 characters (the name comes from a file that may be hostile).
pub fn name_shown(name: &X509Name<'_>) -> String {
    super::json::shown_max(&name.to_string(), 200)
}

/// cfssl `certinfo` JSON for a certificate, field for field (including its
/// key identifier format: bytes as `%X` without zero padding, joined by `:`).
pub fn certinfo(der: &[u8]) -> Result<Value, CertError> {
    let cert = parse(der)?;
    let mut m = Map::new();
    m.insert("subject".into(), certinfo_name(cert.subject()));
    m.insert("issuer".into(), certinfo_name(cert.issuer()));
    m.insert("serial_number".into(), Value::String(cert.tbs_certificate.serial.to_string()));
    // cfssl lists DNS names then IP addresses only.
    let all = sans(&cert);
    let mut listed: Vec<Value> = all.iter().filter_map(|s| match s { San::Dns(d) => Some(Value::String(d.clone())), _ => None }).collect();
    listed.extend(all.iter().filter_map(|s| match s { San::Ip(ip) => Some(Value::String(ip.to_string())), _ => None }));
    if !listed.is_empty() {
        m.insert("sans".into(), Value::Array(listed));
    }
    let (nb, na) = validity(&cert);
    m.insert("not_before".into(), Value::String(rfc3339(nb)));
    m.insert("not_after".into(), Value::String(rfc3339(na)));
    m.insert("sigalg".into(), Value::String(go_sigalg(&cert)));
    m.insert("authority_key_id".into(), Value::String(go_key_id(aki(&cert).as_deref().unwrap_or(&[]))));
    m.insert("subject_key_id".into(), Value::String(go_key_id(ski(&cert).as_deref().unwrap_or(&[]))));
    m.insert("pem".into(), Value::String(super::key::pem_encode("CERTIFICATE", der)));
    Ok(Value::Object(m))
}

fn certinfo_name(name: &X509Name<'_>) -> Value {
    use x509_parser::oid_registry as o;
    let joined = |oid: &x509_parser::der_parser::Oid<'_>| {
        let vals: Vec<&str> = name.iter_by_oid(oid).filter_map(|a| a.as_str().ok()).collect();
        vals.join(",")
    };
    let mut m = Map::new();
    let fields = [
        ("common_name", joined(&o::OID_X509_COMMON_NAME)),
        ("serial_number", joined(&o::OID_X509_SERIALNUMBER)),
        ("country", joined(&o::OID_X509_COUNTRY_NAME)),
        ("organization", joined(&o::OID_X509_ORGANIZATION_NAME)),
        ("organizational_unit", joined(&o::OID_X509_ORGANIZATIONAL_UNIT)),
        ("locality", joined(&o::OID_X509_LOCALITY_NAME)),
        ("province", joined(&o::OID_X509_STATE_OR_PROVINCE_NAME)),
        ("street_address", joined(&o::OID_X509_STREET_ADDRESS)),
        ("postal_code", joined(&o::OID_X509_POSTAL_CODE)),
    ];
    for (k, v) in fields {
        if !v.is_empty() {
            m.insert(k.into(), Value::String(v));
        }
    }
    let names: Vec<Value> = name
        .iter_attributes()
        .filter_map(|a| a.as_str().ok())
        .map(|s| Value::String(s.to_string()))
        .collect();
    if !names.is_empty() {
        m.insert("names".into(), Value::Array(names));
    }
    Value::Object(m)
}

/// cfssl 1.2 certinfo's name of the signature algorithm (`helpers.SignatureString`).
fn go_sigalg(cert: &X509Certificate<'_>) -> String {
    use x509_parser::oid_registry as o;
    let a = &cert.signature_algorithm.algorithm;
    let name = if *a == o::OID_PKCS1_SHA256WITHRSA {
        "SHA256WithRSA"
    } else if *a == o::OID_PKCS1_SHA384WITHRSA {
        "SHA384WithRSA"
    } else if *a == o::OID_PKCS1_SHA512WITHRSA {
        "SHA512WithRSA"
    } else if *a == o::OID_PKCS1_SHA1WITHRSA {
        "SHA1WithRSA"
    } else if *a == o::OID_SIG_ECDSA_WITH_SHA256 {
        "ECDSAWithSHA256"
    } else if *a == o::OID_SIG_ECDSA_WITH_SHA384 {
        "ECDSAWithSHA384"
    } else if *a == o::OID_SIG_ECDSA_WITH_SHA512 {
        "ECDSAWithSHA512"
    } else if *a == o::OID_SIG_ED25519 {
        "Ed25519"
    } else {
        return a.to_id_string();
    };
    name.to_string()
}

/// cfssl's key id format: `%X` per byte (no zero padding), joined by `:`.
fn go_key_id(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:X}")).collect::<Vec<_>>().join(":")
}

/// RFC 3339 in UTC with a `Z`, as Go's `time.Time` marshals.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(::time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// JSON text as Go's `json.MarshalIndent(v, "", "  ")` writes it, HTML-safe
/// escapes included (`<`, `>`, `&` can only occur inside strings).
pub fn go_json_pretty(v: &Value) -> String {
    let s = serde_json::to_string_pretty(v).unwrap_or_default();
    go_escape(&s)
}

/// Compact JSON as Go's `json.Marshal` writes it.
pub fn go_json(v: &Value) -> String {
    go_escape(&serde_json::to_string(v).unwrap_or_default())
}

/// Go's HTML-safe escapes of JSON text.
pub fn go_escape(s: &str) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}
