//! What `gencert`, `genkey` and `sign` make, as values: a new key with a
//! CSR and a certificate (self-signed CA or signed leaf), or a certificate
//! for an existing PKCS#10 CSR. No file names and no I/O: the caller says
//! where the input came from when it reports an error.

use rcgen::{DistinguishedName, SanType};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;
use x509_parser::certification_request::X509CertificationRequest;

use super::cert::{self, CertError};
use super::issue::{self, Ca, CertPlan, IssueError, SubjectKey, Validity};
use super::key::{pem_encode, KeyError, KeyFormat, PrivateKey};
use super::profile::{CaConstraint, Profile, DEFAULT_CA_EXPIRY_HOURS};
use super::request::{parse_hosts, CsrRequest, HostsError};

/// What one command made, as PEM.
pub struct Generated {
    /// The certificate.
    pub cert: Option<String>,
    /// The CSR for the new key.
    pub csr: Option<String>,
    /// The new private key.
    pub key: Option<Zeroizing<String>>,
    /// Notes for the user about what was issued (e.g. a usage dropped for the key type).
    pub warnings: Vec<String>,
}

/// Why nothing was made.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The hosts (the request's, or the replacement list) are not valid.
    #[error(transparent)]
    Hosts(#[from] HostsError),
    /// The request has neither a subject nor hosts.
    #[error("it has no subject (CN, names) and no hosts; a certificate must name something")]
    NamesNothing,
    /// A CA whose validity would end before it starts.
    #[error("ca.expiry is {0} minutes; NotBefore is backdated five minutes (as cfssl does), so the CA would already be expired")]
    CaExpiryTooShort(i64),
    /// `ca.backdate` reaching past the whole validity.
    #[error("ca.backdate is not shorter than ca.expiry: the CA would already be expired")]
    CaBackdateTooLong,
    /// A `ca` section in a request for a leaf (cfssl refuses it too).
    #[error("ca section only permitted in initca: a \"ca\" section makes sense only with -initca; remove it to sign a leaf")]
    CaSectionInLeaf,
    /// Making or encoding the key failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Issuing failed.
    #[error(transparent)]
    Issue(#[from] IssueError),
}

/// The SANs of a request: `hosts` when given (cfssl's `-hostname`, which
/// replaces the request's own), else the request's.
fn sans(req: &CsrRequest, hosts: Option<&[String]>) -> Result<Vec<SanType>, GenerateError> {
    let sans = parse_hosts(hosts.unwrap_or(&req.hosts))?;
    // cfssl issues a certificate that names nothing for `{}`; it identifies
    // no one, so it is refused.
    if sans.is_empty() && req.subject.is_empty() {
        return Err(GenerateError::NamesNothing);
    }
    Ok(sans)
}

/// A self-signed CA, its key and CSR (`gencert -initca`). The request's
/// `ca` section sets the expiry (default five years) and path length.
pub fn initca(req: &CsrRequest, hosts: Option<&[String]>, format: KeyFormat, now: OffsetDateTime) -> Result<Generated, GenerateError> {
    let key = PrivateKey::generate(req.key)?;
    let mut made = initca_with_key(req, hosts, &key, now)?;
    made.key = Some(key.to_pem(format)?);
    Ok(made)
}

/// A self-signed CA for an existing key (`gencert -initca -ca-key KEY`):
/// the certificate and CSR, no key (the caller has it, or a key store does).
pub fn initca_with_key(req: &CsrRequest, hosts: Option<&[String]>, key: &(impl rcgen::SigningKey + issue::KeyErrors), now: OffsetDateTime) -> Result<Generated, GenerateError> {
    let sans = sans(req, hosts)?;
    let ca = req.ca.clone().unwrap_or_default();
    let expiry = ca.expiry.unwrap_or(Duration::hours(DEFAULT_CA_EXPIRY_HOURS));
    if expiry <= Duration::minutes(5) {
        return Err(GenerateError::CaExpiryTooShort(expiry.whole_minutes()));
    }
    let subject = req.subject.to_dn();
    if ca.backdate.is_some_and(|b| b >= expiry) {
        return Err(GenerateError::CaBackdateTooLong);
    }
    let plan = CertPlan { subject: subject.clone(), sans: sans.clone(), validity: Validity::backdated(now, expiry, ca.backdate) };
    let cert = issue::self_signed_ca(&plan, ca.path_len, key)?;
    let requested = match &req.ca {
        Some(c) => CaConstraint::Ca { max_path_len: c.path_len },
        None => CaConstraint::Leaf,
    };
    let csr = issue::csr(&subject, &sans, requested, key)?;
    Ok(Generated { cert: Some(pem_encode("CERTIFICATE", &cert)), csr: Some(pem_encode("CERTIFICATE REQUEST", &csr)), key: None, warnings: vec![] })
}

/// A new key, its CSR and a certificate signed by `ca` under `profile`.
pub fn leaf(req: &CsrRequest, hosts: Option<&[String]>, profile: &Profile, ca: &Ca, format: KeyFormat, now: OffsetDateTime) -> Result<Generated, GenerateError> {
    if req.ca.is_some() {
        return Err(GenerateError::CaSectionInLeaf);
    }
    let sans = sans(req, hosts)?;
    let key = PrivateKey::generate(req.key)?;
    let subject = req.subject.to_dn();
    let csr = issue::csr(&subject, &sans, CaConstraint::Leaf, &key)?;
    let plan = CertPlan { subject, sans, validity: Validity::backdated(now, profile.expiry, profile.backdate) };
    let issued = issue::sign(&plan, &SubjectKey::of(&key), profile, ca)?;
    Ok(Generated {
        cert: Some(pem_encode("CERTIFICATE", &issued.der)),
        csr: Some(pem_encode("CERTIFICATE REQUEST", &csr)),
        key: Some(key.to_pem(format)?),
        warnings: issued.warnings,
    })
}

/// A new key and its CSR only (`genkey`).
pub fn key_and_csr(req: &CsrRequest, format: KeyFormat) -> Result<Generated, GenerateError> {
    // cfssl genkey refuses a `ca` section without -initca too.
    if req.ca.is_some() {
        return Err(GenerateError::CaSectionInLeaf);
    }
    let sans = sans(req, None)?;
    let key = PrivateKey::generate(req.key)?;
    let csr = issue::csr(&req.subject.to_dn(), &sans, CaConstraint::Leaf, &key)?;
    Ok(Generated { cert: None, csr: Some(pem_encode("CERTIFICATE REQUEST", &csr)), key: Some(key.to_pem(format)?), warnings: vec![] })
}

/// A CSR for an existing key (`gencsr -key`): the request's subject and
/// hosts (or `hosts`); its `key` section does not apply.
pub fn csr_for_key(req: &CsrRequest, hosts: Option<&[String]>, key: &PrivateKey) -> Result<String, GenerateError> {
    if req.ca.is_some() {
        return Err(GenerateError::CaSectionInLeaf);
    }
    let sans = sans(req, hosts)?;
    let csr = issue::csr(&req.subject.to_dn(), &sans, CaConstraint::Leaf, key)?;
    Ok(pem_encode("CERTIFICATE REQUEST", &csr))
}

/// How long a `selfsign` certificate lasts without a profile (cfssl: 2190 h).
pub const SELFSIGN_EXPIRY_HOURS: i64 = 2190;

/// A new key, its CSR and a self-signed certificate for it (`selfsign`),
/// naming `hosts` (then the request's own hosts) under `profile`'s usages
/// and expiry. NotBefore is five minutes back, as cfssl's.
pub fn selfsign(req: &CsrRequest, hosts: &[String], profile: &Profile, format: KeyFormat, now: OffsetDateTime) -> Result<Generated, GenerateError> {
    if req.ca.is_some() {
        return Err(GenerateError::CaSectionInLeaf);
    }
    let mut all: Vec<String> = hosts.to_vec();
    all.extend(req.hosts.iter().filter(|h| !hosts.contains(h)).cloned());
    let sans = sans(req, Some(&all))?;
    let key = PrivateKey::generate(req.key)?;
    let subject = req.subject.to_dn();
    let csr = issue::csr(&subject, &sans, CaConstraint::Leaf, &key)?;
    let plan = CertPlan { subject, sans, validity: Validity::backdated(now, profile.expiry, profile.backdate) };
    let cert = issue::self_signed_leaf(&plan, profile, &key)?;
    Ok(Generated {
        cert: Some(pem_encode("CERTIFICATE", &cert)),
        csr: Some(pem_encode("CERTIFICATE REQUEST", &csr)),
        key: Some(key.to_pem(format)?),
        warnings: vec![],
    })
}

/// What a PKCS#10 CSR asks to be certified.
pub struct Wanted {
    /// The subject, copied attribute by attribute.
    pub subject: DistinguishedName,
    /// The public key, checked to be one kpki can certify.
    pub key: SubjectKey,
    /// The requested SANs, or the replacement hosts.
    pub sans: Vec<SanType>,
    /// The CSR itself, as PEM (cfssl's `sign` prints it back as "csr").
    pub csr_pem: String,
    /// Whether the CSR asks for a CA certificate (basicConstraints CA:TRUE).
    pub requests_ca: bool,
}

/// Why a CSR cannot be signed.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    /// Not a PEM CSR, or its signature does not verify.
    #[error(transparent)]
    Parse(#[from] CertError),
    /// Its key or subject cannot be used.
    #[error(transparent)]
    Content(#[from] IssueError),
    /// The subject cannot be copied.
    #[error("its subject has multi-valued or non-string attributes kpki cannot copy")]
    Subject,
    /// A subject attribute with a control or invisible character, or longer than 64 characters.
    #[error("its subject's {attribute} {value} {problem}")]
    SubjectValue {
        /// The attribute.
        attribute: &'static str,
        /// Its value, shown safely.
        value: String,
        /// What is wrong with it.
        problem: super::request::NameProblem,
    },
    /// Its SANs (or the replacement hosts) are not valid.
    #[error("SANs: {0}")]
    Hosts(#[from] HostsError),
}

/// Reads a PEM CSR: checks its self-signature and key and takes its
/// subject and SANs (`hosts`, when given, replace the SANs).
pub fn read_csr(pem: &[u8], hosts: Option<&[String]>) -> Result<Wanted, CsrError> {
    let der = cert::csr_from_pem(pem)?;
    let csr = cert::parse_csr(&der)?;
    let info = &csr.certification_request_info;
    let key = SubjectKey::from_spki(&info.subject_pki)?;
    let subject = go_subject(&info.subject)?;
    let requested;
    let hosts = match hosts {
        Some(h) => h,
        None => {
            requested = csr_sans(&csr);
            &requested
        }
    };
    let sans = parse_hosts(hosts)?;
    let requests_ca = csr.requested_extensions().into_iter().flatten().any(|e| matches!(e, x509_parser::extensions::ParsedExtension::BasicConstraints(bc) if bc.ca));
    Ok(Wanted { subject, key, sans, csr_pem: pem_encode("CERTIFICATE REQUEST", &der), requests_ca })
}

/// The CSR's subject as cfssl 1.2 writes it into the certificate: Go reads
/// it into a `pkix.Name` and writes that back in its own order (C, ST, L,
/// street, postal code, O, OU, CN, serialNumber), dropping other attributes
/// (e-mail address, DC, ...); strings as PrintableString where they fit.
fn go_subject(name: &x509_parser::x509::X509Name<'_>) -> Result<DistinguishedName, CsrError> {
    const ORDER: [&str; 9] = ["2.5.4.6", "2.5.4.8", "2.5.4.7", "2.5.4.9", "2.5.4.17", "2.5.4.10", "2.5.4.11", "2.5.4.3", "2.5.4.5"];
    let mut values: [Option<String>; 9] = Default::default();
    for atv in name.iter_attributes() {
        let oid = atv.attr_type().to_id_string();
        let Some(slot) = ORDER.iter().position(|o| *o == oid) else { continue };
        let text = atv.as_str().map_err(|_| CsrError::Subject)?;
        // The same bounds as a CSR JSON's names (a CN becomes a Kubernetes user name).
        if let Some(problem) = super::request::NameProblem::of(text) {
            return Err(CsrError::SubjectValue { attribute: ["C", "ST", "L", "street", "postalCode", "O", "OU", "CN", "serialNumber"][slot], value: super::json::shown(text), problem });
        }
        // Two values of one attribute: cfssl writes a multi-valued RDN, kpki does not.
        if values[slot].replace(text.to_string()).is_some() {
            return Err(CsrError::Subject);
        }
    }
    let mut dn = DistinguishedName::new();
    for (oid, value) in ORDER.iter().zip(values) {
        if let Some(v) = value {
            let arcs: Vec<u64> = oid.split('.').filter_map(|a| a.parse().ok()).collect();
            dn.push(rcgen::DnType::from_oid(&arcs), super::request::printable_or_utf8(&v));
        }
    }
    Ok(dn)
}

/// Signs what a CSR asks for with `ca` under `profile`.
pub fn sign_csr(wanted: Wanted, profile: &Profile, ca: &Ca, now: OffsetDateTime) -> Result<Generated, IssueError> {
    if wanted.requests_ca && !matches!(profile.ca, CaConstraint::Ca { .. }) {
        return Err(IssueError::CaNotAllowed);
    }
    let plan = CertPlan { subject: wanted.subject, sans: wanted.sans, validity: Validity::backdated(now, profile.expiry, profile.backdate) };
    let issued = issue::sign(&plan, &wanted.key, profile, ca)?;
    Ok(Generated { cert: Some(pem_encode("CERTIFICATE", &issued.der)), csr: Some(wanted.csr_pem), key: None, warnings: issued.warnings })
}

/// The SANs requested in a CSR's extensionRequest, as host strings.
fn csr_sans(csr: &X509CertificationRequest<'_>) -> Vec<String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let mut out = Vec::new();
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(d) => out.push(d.to_string()),
                    GeneralName::RFC822Name(e) => out.push(e.to_string()),
                    GeneralName::URI(u) => out.push(u.to_string()),
                    GeneralName::IPAddress(b) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                            out.push(std::net::IpAddr::from(v4).to_string());
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                            out.push(std::net::IpAddr::from(v6).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::key::{KeyAlgo, PrivateKey};

    fn csr_with(dn: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let key = PrivateKey::generate(KeyAlgo::EcdsaP256).unwrap();
        let mut p = rcgen::CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        for (ty, v) in dn {
            p.distinguished_name.push(ty.clone(), rcgen::DnValue::Utf8String(v.to_string()));
        }
        p.serialize_request(key.pair()).unwrap().pem().unwrap().into_bytes()
    }

    #[test]
    fn a_csr_whose_names_read_differently_than_they_are_is_refused() {
        // Displays as system:masters / admin; `sign` refuses what `gencert` refuses.
        for v in ["system:\u{200B}masters", "ad\u{00AD}min", "a\u{2028}b", "toor\u{202E}", "x\u{E0041}"] {
            let e = read_csr(&csr_with(&[(rcgen::DnType::OrganizationName, v)]), None).err().unwrap_or_else(|| panic!("{v:?} was accepted"));
            assert!(matches!(e, CsrError::SubjectValue { attribute: "O", .. }) && e.to_string().contains(" U+"), "{v:?}: {e}");
        }
        let ok = read_csr(&csr_with(&[(rcgen::DnType::OrganizationName, "system:masters"), (rcgen::DnType::CommonName, "Zoë")]), None).unwrap();
        assert_eq!(crate::pki::issue::common_name(&ok.subject).as_deref(), Some("Zoë"));
    }
}
