//! Issuing: a certificate plan (subject, SANs, usages, validity) turned into
//! DER in one step, with the fields cfssl sets so that output is
//! interchangeable with its own: a 20-byte positive random serial, SHA-1
//! subject key identifiers, AKI by key id only, critical basicConstraints and
//! keyUsage, NotBefore rounded to the minute and backdated five minutes.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, PublicKeyData,
    SanType, SerialNumber, SignatureAlgorithm, SigningKey,
};
use time::{Duration, OffsetDateTime};

use super::cert::{self, CertError};
use super::key::PrivateKey;
use super::profile::{CaConstraint, Profile};
use super::signer::CaKey;

/// Why issuing failed.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// A certificate (the CA's) does not parse.
    #[error("{0}")]
    Cert(#[from] CertError),
    /// The CA key is not the CA certificate's key.
    #[error("the CA key does not match the CA certificate's public key")]
    KeyMismatch,
    /// The signing certificate is not a CA.
    #[error("the CA certificate cannot be used: {0}")]
    NotCa(String),
    /// The issued certificate's issuer would not repeat the CA's subject.
    #[error("the CA certificate's subject cannot be reproduced as an issuer name (multi-valued or unusual attributes, or a '?' in a PrintableString, which rcgen's DER writer cannot write)")]
    IssuerName,
    /// A key type kpki cannot certify.
    #[error("the certificate request's public key algorithm is not supported")]
    UnsupportedKey,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// The key store (KMS, PKCS#11 token) did not sign.
    #[error("the key store did not sign: {0}")]
    Store(String),
    /// The CA expired before the moment of issue.
    #[error("the CA certificate expired on {}; renew the CA (or make a new one) before issuing from it", cert::rfc3339(*.0))]
    CaExpired(OffsetDateTime),
    /// A name the profile's `name_whitelist` does not allow.
    #[error("{name:?} does not match the profile's name_whitelist {pattern:?}; nothing was signed")]
    NotWhitelisted {
        /// The CN, DNS name or e-mail address at fault.
        name: String,
        /// The expression.
        pattern: String,
    },
    /// A CSR asks for a CA certificate the profile does not allow.
    #[error("the CSR asks for a CA certificate (basicConstraints CA:TRUE), which the profile does not allow (cfssl: \"local signer policy disallows issuing CA certificate\"); use a profile with ca_constraint.is_ca")]
    CaNotAllowed,
    /// The CA is not yet valid at the moment of issue.
    #[error("the CA certificate is not valid until {}; check the clock", cert::rfc3339(*.0))]
    CaNotYetValid(OffsetDateTime),
}

/// Certificate validity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First moment of validity.
    pub not_before: OffsetDateTime,
    /// Last moment of validity.
    pub not_after: OffsetDateTime,
    /// The moment of issue (NotBefore is backdated from it).
    pub at: OffsetDateTime,
}

impl Validity {
    /// cfssl's rule: NotBefore is now rounded to the nearest minute, minus
    /// five minutes for clock skew; NotAfter is NotBefore plus the expiry.
    pub fn cfssl(now: OffsetDateTime, expiry: Duration) -> Self {
        let now = now.to_offset(time::UtcOffset::UTC);
        let secs = now.unix_timestamp();
        let rounded = (secs + 30).div_euclid(60) * 60;
        let not_before = OffsetDateTime::from_unix_timestamp(rounded).unwrap_or(now) - Duration::minutes(5);
        Validity { not_before, not_after: not_before + expiry, at: now }
    }

    /// [`Validity::cfssl`] with NotBefore set back by `backdate` instead of
    /// five minutes when given (cfssl's profile `backdate`).
    pub fn backdated(now: OffsetDateTime, expiry: Duration, backdate: Option<Duration>) -> Self {
        let mut v = Self::cfssl(now, expiry);
        if let Some(b) = backdate {
            v.not_before = v.not_before + Duration::minutes(5) - b;
            v.not_after = v.not_before + expiry;
        }
        v
    }
}

/// A CA: its certificate and key, checked to belong together. What every
/// signature needs from the certificate (validity, subject) is read once
/// here, not per certificate (`kpki serve` signs thousands a second).
pub struct Ca {
    cert_der: Vec<u8>,
    key: CaKey,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    /// The subject's DER: every issued certificate's issuer must repeat it.
    subject_der: Vec<u8>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ca({:?})", self.key)
    }
}

impl Ca {
    /// Pairs a CA certificate with its key; refuses non-CA certificates and
    /// keys that do not match.
    pub fn new(cert_der: Vec<u8>, key: impl Into<CaKey>) -> Result<Self, IssueError> {
        let key = key.into();
        let parsed = cert::parse(&cert_der)?;
        if let Some(problem) = cert::ca_problem(&parsed) {
            return Err(IssueError::NotCa(problem.to_string()));
        }
        // The same key, declared as the same algorithm (an EC certificate
        // naming another curve for the same point is not this key's).
        if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_bits() || cert::spki_algo(parsed.public_key()) != Some(key.algo()) {
            return Err(IssueError::KeyMismatch);
        }
        let (not_before, not_after) = cert::validity(&parsed);
        let subject_der = parsed.subject().as_raw().to_vec();
        // Refused here, where the caller can name the CA file, rather than
        // at the first signature.
        issuer_name_problem(&parsed)?;
        drop(parsed);
        let ca = Ca { cert_der, key, not_before, not_after, subject_der };
        ca.issuer()?;
        Ok(ca)
    }

    /// The CA certificate's DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA's private key.
    pub fn key(&self) -> &CaKey {
        &self.key
    }

    /// The certificate's DER and the key, to renew the certificate.
    pub fn into_parts(self) -> (Vec<u8>, CaKey) {
        (self.cert_der, self.key)
    }

    /// The CA certificate's NotAfter.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    fn issuer(&self) -> Result<Issuer<'static, &CaKey>, IssueError> {
        Issuer::from_ca_cert_der(&self.cert_der.as_slice().into(), &self.key).map_err(|_| IssueError::IssuerName)
    }
}

/// Why rcgen cannot write this CA's subject as an issuer name byte for byte
/// (Go builds chains by comparing them): a multi-valued RDN, an attribute
/// rcgen does not write, or '?' in a PrintableString (yasna panics on it;
/// cfssl makes such a CA from "L": "a?b"). Such a CA is refused rather than
/// re-encoded.
fn issuer_name_problem(parsed: &x509_parser::certificate::X509Certificate<'_>) -> Result<(), IssueError> {
    if parsed.subject().iter_rdn().any(|rdn| rdn.iter().count() != 1) {
        return Err(IssueError::IssuerName);
    }
    let question_in_printable = parsed.subject().iter_attributes().any(|a| {
        a.attr_value().header.tag() == x509_parser::der_parser::asn1_rs::Tag::PrintableString && a.attr_value().data.contains(&b'?')
    });
    if question_in_printable || parsed.subject().iter_attributes().any(|a| !writable_oid(a.attr_type())) {
        return Err(IssueError::IssuerName);
    }
    Ok(())
}

/// The public key of the certificate being issued.
pub struct SubjectKey {
    alg: &'static SignatureAlgorithm,
    bits: Vec<u8>,
}

impl SubjectKey {
    /// The public half of a private key.
    pub fn of(key: &PrivateKey) -> Self {
        SubjectKey { alg: key.algo().signature_algorithm(), bits: key.public_key_bits().to_vec() }
    }

    /// From a DER SubjectPublicKeyInfo (e.g. a CSR's).
    pub fn from_spki(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Result<Self, IssueError> {
        use x509_parser::oid_registry as o;
        let a = &spki.algorithm.algorithm;
        let alg: &'static SignatureAlgorithm = if *a == o::OID_PKCS1_RSAENCRYPTION {
            if cert::key_bits(spki) < 2048 {
                return Err(IssueError::Sign(format!(
                    "the request's RSA key has {} bits; kpki refuses RSA keys under 2048 bits",
                    cert::key_bits(spki)
                )));
            }
            &rcgen::PKCS_RSA_SHA256
        } else if *a == o::OID_SIG_ED25519 {
            &rcgen::PKCS_ED25519
        } else if *a == o::OID_KEY_TYPE_EC_PUBLIC_KEY {
            match cert::key_bits(spki) {
                256 => &rcgen::PKCS_ECDSA_P256_SHA256,
                384 => &rcgen::PKCS_ECDSA_P384_SHA384,
                521 => &rcgen::PKCS_ECDSA_P521_SHA512,
                _ => return Err(IssueError::UnsupportedKey),
            }
        } else {
            return Err(IssueError::UnsupportedKey);
        };
        Ok(SubjectKey { alg, bits: spki.subject_public_key.data.to_vec() })
    }
}

impl PublicKeyData for SubjectKey {
    fn der_bytes(&self) -> &[u8] {
        &self.bits
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

/// What to put in a certificate.
#[derive(Debug, Clone)]
pub struct CertPlan {
    /// The subject.
    pub subject: DistinguishedName,
    /// The SANs, in the order written.
    pub sans: Vec<SanType>,
    /// NotBefore and NotAfter.
    pub validity: Validity,
}

/// A 20-byte random serial with the top bit cleared, as cfssl makes.
fn random_serial() -> Result<SerialNumber, IssueError> {
    let mut bytes = [0u8; 20];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| IssueError::Sign("the random number generator failed".into()))?;
    bytes[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&bytes))
}

/// SHA-1 of the subjectPublicKey bits: RFC 5280's method 1, as cfssl and Go compute it.
pub fn key_id(bits: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, bits).as_ref().to_vec()
}

fn base_params(plan: &CertPlan, subject_bits: &[u8]) -> Result<CertificateParams, IssueError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = plan.subject.clone();
    p.subject_alt_names = plan.sans.clone();
    p.not_before = plan.validity.not_before;
    p.not_after = plan.validity.not_after;
    p.serial_number = Some(random_serial()?);
    p.key_identifier_method = KeyIdMethod::PreSpecified(key_id(subject_bits));
    Ok(p)
}

/// A self-signed CA certificate, as `cfssl gencert -initca` makes it:
/// keyUsage certSign + cRLSign, CA:TRUE with the optional path length, no AKI.
pub fn self_signed_ca(plan: &CertPlan, path_len: Option<u8>, key: &(impl SigningKey + KeyErrors)) -> Result<Vec<u8>, IssueError> {
    let mut plan = plan.clone();
    plan.sans = ca_sans(plan.sans);
    let mut p = base_params(&plan, key.der_bytes())?;
    p.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = p.self_signed(key).map_err(|e| key.sign_error(e))?;
    Ok(cert.der().to_vec())
}

/// A self-signed end-entity certificate (`selfsign`): the profile's usages,
/// CA:FALSE, signed by its own key; no AKI (it would name itself).
pub fn self_signed_leaf(plan: &CertPlan, profile: &Profile, key: &PrivateKey) -> Result<Vec<u8>, IssueError> {
    let mut p = base_params(plan, key.public_key_bits())?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = usages_for_key(&profile.usages.key, key.pair().algorithm());
    p.extended_key_usages = profile.usages.ext.clone();
    let cert = p.self_signed(key.pair()).map_err(|e| IssueError::Sign(e.to_string()))?;
    Ok(cert.der().to_vec())
}

/// The same CA again (cfssl's `gencert -renewca`): a new self-signed
/// certificate for the same key, with the same subject, byte for byte (so
/// every certificate it signed still names it as issuer), the same
/// `pathLenConstraint` and the same validity length, starting now. Its
/// subject key identifier, derived from the key, is unchanged, so every
/// leaf's authority key identifier still matches.
pub fn renew_ca(old_der: &[u8], key: &(impl SigningKey + KeyErrors), now: OffsetDateTime) -> Result<Vec<u8>, IssueError> {
    let old = cert::parse(old_der)?;
    if old.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
        return Err(IssueError::KeyMismatch);
    }
    let path_len = match old.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => bc.value.path_len_constraint.map(|n| u8::try_from(n).unwrap_or(u8::MAX)),
        _ => return Err(IssueError::NotCa("it is not a CA certificate (basicConstraints CA:TRUE is missing)".into())),
    };
    if old.issuer().as_raw() != old.subject().as_raw() {
        return Err(IssueError::NotCa(format!("it is an intermediate CA issued by {}; renew it from that CA", cert::name_shown(old.issuer()))));
    }
    let (nb, na) = cert::validity(&old);
    let plan = CertPlan { subject: dn_from_x509(old.subject())?, sans: vec![], validity: Validity::cfssl(now, na - nb) };
    let der = self_signed_ca(&plan, path_len, key)?;
    if cert::parse(&der)?.subject().as_raw() != old.subject().as_raw() {
        return Err(IssueError::IssuerName);
    }
    Ok(der)
}

/// A certificate over an old CA's subject and public key signed by `new_ca`
/// (an endorsement, as a cross-certificate): CA:TRUE with the old CA's
/// `pathLenConstraint`, valid until the old CA ends (clamped to the new
/// CA's). A CA rotation records it so that the old CA in a trust bundle can
/// be told from one someone else planted.
pub fn endorse(old_ca_der: &[u8], new_ca: &Ca, now: OffsetDateTime) -> Result<Vec<u8>, IssueError> {
    let old = cert::parse(old_ca_der)?;
    let path_len = match old.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => bc.value.path_len_constraint.map(|n| u8::try_from(n).unwrap_or(u8::MAX)),
        _ => return Err(IssueError::NotCa("the old CA certificate is not a CA".into())),
    };
    let (_, old_end) = cert::validity(&old);
    let usages = crate::pki::profile::Usages::from_names(&["cert sign", "crl sign"]).map_err(|e| IssueError::Sign(e.to_string()))?;
    let mut profile = Profile::leaf(usages, (old_end - now).max(Duration::hours(1)));
    profile.ca = CaConstraint::Ca { max_path_len: path_len };
    let plan = CertPlan { subject: dn_from_x509(old.subject())?, sans: vec![], validity: Validity::cfssl(now, profile.expiry) };
    let issued = sign(&plan, &SubjectKey::from_spki(old.public_key())?, &profile, new_ca)?;
    Ok(issued.der)
}

/// The SANs a CA certificate keeps, as cfssl 1.2 makes every CA certificate:
/// DNS names and e-mail addresses are dropped (a CA is not a host or a
/// mailbox), and so are URIs (cfssl 1.2 has no URI names: it writes them as
/// DNS names, which it drops); IP addresses stay.
fn ca_sans(sans: Vec<rcgen::SanType>) -> Vec<rcgen::SanType> {
    sans.into_iter().filter(|s| matches!(s, rcgen::SanType::IpAddress(_))).collect()
}

/// How a signing key explains rcgen's failure: a store's own reason (rcgen's
/// error for a remote key carries none), or rcgen's text.
pub trait KeyErrors {
    /// The error for a failed signature.
    fn sign_error(&self, e: rcgen::Error) -> IssueError;
}

impl KeyErrors for PrivateKey {
    fn sign_error(&self, e: rcgen::Error) -> IssueError {
        IssueError::Sign(e.to_string())
    }
}

impl KeyErrors for CaKey {
    fn sign_error(&self, e: rcgen::Error) -> IssueError {
        match (e, self.take_store_error()) {
            (rcgen::Error::RemoteKeyError, Some(why)) => IssueError::Store(why),
            (e, _) => IssueError::Sign(e.to_string()),
        }
    }
}

/// The outcome of signing: the certificate and anything the user should know.
#[derive(Debug)]
pub struct Issued {
    /// The certificate's DER.
    pub der: Vec<u8>,
    /// What the user should know (e.g. a validity clamped to the CA's).
    pub warnings: Vec<String>,
}

/// A certificate for `subject_key` signed by `ca` with the profile's usages.
/// A validity reaching past the CA's is clamped to it, with a warning: a
/// certificate outliving its issuer fails verification after the CA expires.
pub fn sign(plan: &CertPlan, subject_key: &SubjectKey, profile: &Profile, ca: &Ca) -> Result<Issued, IssueError> {
    let mut warnings = Vec::new();
    let mut plan = plan.clone();
    if matches!(profile.ca, CaConstraint::Ca { .. }) {
        plan.sans = ca_sans(plan.sans);
    }
    if let Some(w) = &profile.name_whitelist {
        if let Some(name) = names_to_whitelist(&plan).into_iter().find(|n| !w.allows(n)) {
            return Err(IssueError::NotWhitelisted { name, pattern: w.as_str().to_string() });
        }
    }
    let (ca_not_before, ca_not_after) = (ca.not_before, ca.not_after);
    // A CA signs only while it is valid: an expired one would otherwise
    // make a certificate whose NotAfter (clamped to the CA's) precedes its
    // NotBefore, or one no verifier accepts.
    if plan.validity.at >= ca_not_after {
        return Err(IssueError::CaExpired(ca_not_after));
    }
    if plan.validity.at < ca_not_before {
        return Err(IssueError::CaNotYetValid(ca_not_before));
    }
    if plan.validity.not_after > ca_not_after {
        warnings.push(format!(
            "the requested validity ends after the CA's ({}); the certificate's NotAfter is set to the CA's",
            cert::rfc3339(ca_not_after)
        ));
        plan.validity.not_after = ca_not_after;
    }
    let mut p = base_params(&plan, &subject_key.bits)?;
    p.is_ca = match profile.ca {
        CaConstraint::Ca { max_path_len: Some(n) } => IsCa::Ca(BasicConstraints::Constrained(n)),
        CaConstraint::Ca { max_path_len: None } => IsCa::Ca(BasicConstraints::Unconstrained),
        CaConstraint::Leaf => IsCa::ExplicitNoCa,
    };
    p.key_usages = usages_for_key(&profile.usages.key, subject_key.alg);
    p.extended_key_usages = profile.usages.ext.clone();
    p.use_authority_key_identifier_extension = true;
    let issuer = ca.issuer()?;
    let cert = p.signed_by(subject_key, &issuer).map_err(|e| ca.key.sign_error(e))?;
    // The issuer name must repeat the CA's subject byte for byte, or no
    // verifier builds the chain. rcgen re-encodes the CA's subject and can
    // drop an attribute it reads differently (found by fuzzing a user CA
    // whose DER x509-parser accepts leniently): checked on every certificate.
    let issued = cert::parse(cert.der())?;
    if issued.issuer().as_raw() != ca.subject_der.as_slice() {
        return Err(IssueError::IssuerName);
    }
    Ok(Issued { der: cert.der().to_vec(), warnings })
}

/// The subject's CN as text, when it has one. A CN in a string type kpki
/// does not write reads as U+FFFD: a name no whitelist pattern matches but
/// one for any text.
pub fn common_name(subject: &rcgen::DistinguishedName) -> Option<String> {
    Some(match subject.get(&rcgen::DnType::CommonName)? {
        rcgen::DnValue::Utf8String(s) => s.clone(),
        rcgen::DnValue::PrintableString(s) => s.as_str().to_string(),
        rcgen::DnValue::Ia5String(s) => s.as_str().to_string(),
        rcgen::DnValue::TeletexString(s) => s.as_str().to_string(),
        _ => String::from("\u{fffd}"),
    })
}

/// The names a `name_whitelist` governs, as cfssl checks them: the CN (when
/// not empty), every DNS name and every e-mail address; not IP addresses
/// (nor URIs, which cfssl 1.2 does not know).
fn names_to_whitelist(plan: &CertPlan) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(text) = common_name(&plan.subject) {
        if !text.is_empty() {
            names.push(text);
        }
    }
    for san in &plan.sans {
        match san {
            SanType::DnsName(n) | SanType::Rfc822Name(n) => names.push(n.as_str().to_string()),
            _ => {}
        }
    }
    names
}

/// The profile's key usages less those the key type cannot perform: RFC 5480
/// and RFC 8410 prohibit keyEncipherment and dataEncipherment for ECDSA and
/// Ed25519 keys (and keyAgreement for Ed25519). cfssl sets them anyway when the
/// profile lists "key encipherment"; linters (pkilint) reject that.
pub fn usages_for_key(usages: &[KeyUsagePurpose], alg: &'static SignatureAlgorithm) -> Vec<KeyUsagePurpose> {
    let is_rsa = [&rcgen::PKCS_RSA_SHA256, &rcgen::PKCS_RSA_SHA384, &rcgen::PKCS_RSA_SHA512].contains(&alg);
    let is_ed = alg == &rcgen::PKCS_ED25519;
    usages
        .iter()
        .copied()
        .filter(|u| {
            is_rsa
                || !(matches!(u, KeyUsagePurpose::KeyEncipherment | KeyUsagePurpose::DataEncipherment)
                    || (is_ed && matches!(u, KeyUsagePurpose::KeyAgreement)))
        })
        .collect()
}

/// A PKCS#10 CSR for `key`, as cfssl's `genkey` and `gencert` make it: the
/// subject and the SANs, plus basicConstraints when the request is for a CA.
pub fn csr(subject: &DistinguishedName, sans: &[SanType], ca: CaConstraint, key: &(impl SigningKey + KeyErrors)) -> Result<Vec<u8>, IssueError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = subject.clone();
    p.subject_alt_names = sans.to_vec();
    if let CaConstraint::Ca { max_path_len } = ca {
        p.is_ca = IsCa::Ca(match max_path_len {
            Some(n) => BasicConstraints::Constrained(n),
            None => BasicConstraints::Unconstrained,
        });
    }
    let req = p.serialize_request(key).map_err(|e| key.sign_error(e))?;
    Ok(req.der().to_vec())
}

/// Whether yasna (under rcgen) can write an attribute type: it panics on an
/// OID with fewer than two arcs or arcs outside X.660's first-two-arc rules,
/// which a parsed certificate or CSR can carry (e.g. an empty OID).
fn writable_oid(oid: &x509_parser::der_parser::asn1_rs::Oid<'_>) -> bool {
    let Some(mut arcs) = oid.iter() else { return false };
    match (arcs.next(), arcs.next()) {
        (Some(a), Some(b)) => a < 3 && (a >= 2 || b < 40) && b < 18_446_744_073_709_551_535,
        _ => false,
    }
}

/// The subject of a CSR or certificate as an rcgen name, attribute tags kept.
pub fn dn_from_x509(name: &x509_parser::x509::X509Name<'_>) -> Result<DistinguishedName, IssueError> {
    use rcgen::{DnType, DnValue};
    use x509_parser::der_parser::asn1_rs::Tag;
    let mut dn = DistinguishedName::new();
    for rdn in name.iter_rdn() {
        let mut it = rdn.iter();
        let (Some(attr), None) = (it.next(), it.next()) else { return Err(IssueError::IssuerName) };
        if !writable_oid(attr.attr_type()) {
            return Err(IssueError::IssuerName);
        }
        let oid: Vec<u64> = attr.attr_type().iter().ok_or(IssueError::IssuerName)?.collect();
        let ty = DnType::from_oid(&oid);
        if dn.get(&ty).is_some() {
            return Err(IssueError::IssuerName);
        }
        let data = attr.attr_value().data;
        let text = std::str::from_utf8(data).map_err(|_| IssueError::IssuerName)?;
        let value = match attr.attr_value().header.tag() {
            // yasna cannot write '?' in a PrintableString (see printable_or_utf8).
            Tag::PrintableString if text.contains('?') => DnValue::Utf8String(text.to_string()),
            Tag::PrintableString => DnValue::PrintableString(text.try_into().map_err(|_| IssueError::IssuerName)?),
            Tag::Ia5String => DnValue::Ia5String(text.try_into().map_err(|_| IssueError::IssuerName)?),
            Tag::Utf8String => DnValue::Utf8String(text.to_string()),
            _ => return Err(IssueError::IssuerName),
        };
        dn.push(ty, value);
    }
    Ok(dn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::key::KeyAlgo;
    use crate::pki::request::Subject;
    use time::macros::datetime;

    #[test]
    fn only_oids_yasna_can_write_are_copied() {
        use std::borrow::Cow;
        use x509_parser::der_parser::asn1_rs::Oid;
        assert!(writable_oid(&Oid::new(Cow::Borrowed(&[0x55, 0x04, 0x03]))), "2.5.4.3 (CN)");
        assert!(!writable_oid(&Oid::new(Cow::Borrowed(&[]))), "an empty OID");
        // A subidentifier too large for u64: no arcs to read.
        assert!(!writable_oid(&Oid::new(Cow::Borrowed(&[0xff; 12]))));
    }

    #[test]
    fn validity_rounds_to_the_minute_like_cfssl() {
        // Observed with cfssl 1.2: issued at 19:25:43, NotBefore 19:21:00.
        let v = Validity::cfssl(datetime!(2026-11-24 19:25:43 UTC), Duration::hours(43800));
        assert_eq!(v.not_before, datetime!(2026-11-24 19:21:00 UTC));
        assert_eq!(v.not_after, datetime!(2031-11-23 19:21:00 UTC));
        let v = Validity::cfssl(datetime!(2026-11-24 19:25:29 UTC), Duration::hours(1));
        assert_eq!(v.not_before, datetime!(2026-11-24 19:20:00 UTC));
    }

    #[test]
    fn ca_and_leaf_chain() {
        let now = datetime!(2026-01-01 00:00:00 UTC);
        let ca_key = PrivateKey::generate(KeyAlgo::EcdsaP256).unwrap();
        let ca_plan = CertPlan {
            subject: Subject::cn_o("Kubernetes", "Kubernetes").to_dn(),
            sans: vec![],
            validity: Validity::cfssl(now, Duration::hours(43800)),
        };
        let ca_der = self_signed_ca(&ca_plan, None, &ca_key).unwrap();
        let ca_parsed = cert::parse(&ca_der).unwrap();
        assert!(ca_parsed.is_ca());
        assert!(cert::aki(&ca_parsed).is_none());
        assert_eq!(cert::ski(&ca_parsed).unwrap(), key_id(ca_key.public_key_bits()));
        cert::verify_signed_by(&ca_parsed, ca_parsed.public_key()).unwrap();

        let ca = Ca::new(ca_der.clone(), ca_key).unwrap();
        let leaf_key = PrivateKey::generate(KeyAlgo::Ed25519).unwrap();
        let plan = CertPlan {
            subject: Subject::cn_o("admin", "system:masters").to_dn(),
            sans: vec![],
            validity: Validity::cfssl(now, Duration::hours(8760)),
        };
        let issued = sign(&plan, &SubjectKey::of(&leaf_key), &Profile::cfssl_default(), &ca).unwrap();
        assert!(issued.warnings.is_empty());
        let leaf = cert::parse(&issued.der).unwrap();
        cert::verify_signed_by(&leaf, ca_parsed.public_key()).unwrap();
        assert_eq!(cert::aki(&leaf), cert::ski(&ca_parsed));
        assert_eq!(leaf.issuer().as_raw(), ca_parsed.subject().as_raw());
        let serial = leaf.raw_serial();
        assert!(serial.len() <= 21 && serial[0] & 0x80 == 0);
        assert!(!leaf.is_ca());
    }

    #[test]
    fn leaf_outliving_the_ca_is_clamped() {
        let now = datetime!(2026-01-01 00:00:00 UTC);
        let ca_key = PrivateKey::generate(KeyAlgo::EcdsaP256).unwrap();
        let plan = CertPlan { subject: Subject::cn_o("ca", "x").to_dn(), sans: vec![], validity: Validity::cfssl(now, Duration::hours(10)) };
        let ca = Ca::new(self_signed_ca(&plan, None, &ca_key).unwrap(), ca_key).unwrap();
        let leaf_key = PrivateKey::generate(KeyAlgo::EcdsaP256).unwrap();
        let leaf_plan = CertPlan { validity: Validity::cfssl(now, Duration::hours(100)), ..plan.clone() };
        let issued = sign(&leaf_plan, &SubjectKey::of(&leaf_key), &Profile::cfssl_default(), &ca).unwrap();
        assert_eq!(issued.warnings.len(), 1);
        let leaf = cert::parse(&issued.der).unwrap();
        assert_eq!(cert::validity(&leaf).1, ca.not_after());
    }

    #[test]
    fn mismatched_ca_key_is_refused() {
        let now = datetime!(2026-01-01 00:00:00 UTC);
        let k1 = PrivateKey::generate(KeyAlgo::EcdsaP256).unwrap();
        let k2 = PrivateKey::generate(KeyAlgo::EcdsaP256).unwrap();
        let plan = CertPlan { subject: Subject::cn_o("ca", "x").to_dn(), sans: vec![], validity: Validity::cfssl(now, Duration::hours(10)) };
        let der = self_signed_ca(&plan, None, &k1).unwrap();
        assert!(matches!(Ca::new(der, k2), Err(IssueError::KeyMismatch)));
    }
}
