//! Checking one certificate against its plan entry and its CA: the chain,
//! the key pair, expiry, subject, SANs and usages. `bootstrap` uses it to
//! decide what to re-issue; `verify` reports what it finds.

use std::collections::BTreeSet;

use time::{Duration, OffsetDateTime};
use x509_parser::prelude::X509Certificate;

use super::files::Kubeconfig;
use super::plan::{CertSpec, KubeconfigSpec};
use crate::pki::json::shown;
use crate::pki::key::PrivateKey;
use crate::pki::cert::{self, San};
use crate::pki::issue::usages_for_key;

/// Certificates expiring sooner than this are re-issued by bootstrap and warned about by verify.
pub const RENEW_BEFORE_DAYS: i64 = 30;

/// What is wrong with a certificate, for messages; each entry is one clause.
pub type Findings = Vec<String>;

/// Why a certificate is not one of a CA's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The issuer name is not the CA's subject.
    #[error("its issuer ({issuer}) is not the CA ({ca})")]
    Issuer {
        /// The certificate's issuer, shown.
        issuer: String,
        /// The CA's subject, shown.
        ca: String,
    },
    /// The authority key identifier is not the CA's subject key identifier.
    #[error("its authority key identifier does not match the CA's key")]
    KeyId,
    /// The signature does not verify with the CA's key.
    #[error("its signature does not verify with the CA's key (it is from another CA)")]
    Signature,
}

/// Checks that `c` is signed by the CA `ca` (name, key id and signature).
pub fn chain(c: &X509Certificate<'_>, ca: &X509Certificate<'_>) -> Result<(), ChainError> {
    if c.issuer().as_raw() != ca.subject().as_raw() {
        return Err(ChainError::Issuer { issuer: cert::name_shown(c.issuer()), ca: cert::name_shown(ca.subject()) });
    }
    if let (Some(aki), Some(ski)) = (cert::aki(c), cert::ski(ca)) {
        if aki != ski {
            return Err(ChainError::KeyId);
        }
    }
    cert::verify_signed_by(c, ca.public_key()).map_err(|_| ChainError::Signature)
}

/// Most intermediates a path may have (a loop or a hostile pool stops here).
pub const MAX_INTERMEDIATES: usize = 8;

/// Why a certificate has no valid path to a root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// No intermediate leads on, and the root does not sign it.
    #[error("{0}")]
    NoPath(ChainError),
    /// An intermediate on the path is not a CA that may sign certificates.
    #[error("intermediate {name}: {problem}")]
    NotCa {
        /// The intermediate's subject, shown.
        name: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A CA on the path allows fewer CAs below it than the path has.
    #[error("path length violated: {name} allows {allowed} intermediate(s) below it, the path has {below}")]
    PathLen {
        /// The constraining CA's subject, shown.
        name: String,
        /// Its pathLenConstraint.
        allowed: u32,
        /// How many intermediates are below it on the path.
        below: usize,
    },
    /// The path is longer than [`MAX_INTERMEDIATES`].
    #[error("no path within {MAX_INTERMEDIATES} intermediates")]
    TooLong,
}

/// Finds the path from `c` to `root` through `pool` (intermediates, in any
/// order; others are ignored): each link's name, key id and signature, each
/// intermediate a CA allowed to sign certificates, and every CA's
/// `pathLenConstraint`. Returns the indexes of `pool` on the path, from the
/// certificate's issuer up.
pub fn path(c: &X509Certificate<'_>, pool: &[X509Certificate<'_>], root: &X509Certificate<'_>) -> Result<Vec<usize>, PathError> {
    let mut links: Vec<usize> = Vec::new();
    let mut current = c;
    loop {
        let direct = chain(current, root);
        if direct.is_ok() {
            break;
        }
        if links.len() == MAX_INTERMEDIATES {
            return Err(PathError::TooLong);
        }
        let next = pool
            .iter()
            .enumerate()
            .find(|(i, cand)| !links.contains(i) && cand.subject().as_raw() != root.subject().as_raw() && chain(current, cand).is_ok());
        match next {
            Some((i, cand)) => {
                links.push(i);
                current = cand;
            }
            // The message is about the certificate itself when it has no
            // intermediate; about the last one reached otherwise.
            None => return Err(PathError::NoPath(direct.err().unwrap_or(ChainError::Signature))),
        }
    }
    for (below, &i) in links.iter().enumerate() {
        let ca = &pool[i];
        if let Some(problem) = cert::ca_problem(ca) {
            return Err(PathError::NotCa { name: cert::name_shown(ca.subject()), problem });
        }
        path_len(ca, below)?;
    }
    path_len(root, links.len())?;
    Ok(links)
}

fn path_len(ca: &X509Certificate<'_>, below: usize) -> Result<(), PathError> {
    if let Ok(Some(bc)) = ca.basic_constraints() {
        if let Some(allowed) = bc.value.path_len_constraint {
            if below > allowed as usize {
                return Err(PathError::PathLen { name: cert::name_shown(ca.subject()), allowed, below });
            }
        }
    }
    Ok(())
}

/// Where a certificate stands in its validity at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// Valid, and not within the renewal window.
    Valid,
    /// Valid, but expiring within [`RENEW_BEFORE_DAYS`]: a warning.
    Soon(String),
    /// Not valid at that moment (expired or not yet valid): a problem.
    Invalid(String),
}

/// Expiry at `now`: invalid outside its validity, soon inside the renewal
/// window of [`RENEW_BEFORE_DAYS`].
pub fn expiry(c: &X509Certificate<'_>, now: OffsetDateTime) -> Expiry {
    expiry_within(c, now, Duration::days(RENEW_BEFORE_DAYS))
}

/// Expiry at `now`: invalid outside its validity, soon when it ends within `window`.
pub fn expiry_within(c: &X509Certificate<'_>, now: OffsetDateTime, window: Duration) -> Expiry {
    let (nb, na) = cert::validity(c);
    if now < nb {
        return Expiry::Invalid(format!("it is not valid until {}", cert::rfc3339(nb)));
    }
    if now > na {
        return Expiry::Invalid(format!("it expired on {}", cert::rfc3339(na)));
    }
    let left = na - now;
    if left < window {
        return Expiry::Soon(format!("it expires in {} ({})", crate::pki::duration::days_text(left.whole_days()), cert::rfc3339(na)));
    }
    Expiry::Valid
}

/// Subject, SANs and usages against the plan entry.
pub fn matches_spec(c: &X509Certificate<'_>, spec: &CertSpec) -> Findings {
    use x509_parser::oid_registry as o;
    let mut out = Vec::new();
    let want = spec.subject();
    let fields = [
        ("C", &o::OID_X509_COUNTRY_NAME, &want.c),
        ("ST", &o::OID_X509_STATE_OR_PROVINCE_NAME, &want.st),
        ("L", &o::OID_X509_LOCALITY_NAME, &want.l),
        ("O", &o::OID_X509_ORGANIZATION_NAME, &want.o),
        ("OU", &o::OID_X509_ORGANIZATIONAL_UNIT, &want.ou),
        ("CN", &o::OID_X509_COMMON_NAME, &want.cn),
    ];
    for (label, oid, expected) in fields {
        let got = cert::name_attr(c.subject(), oid);
        if got.as_ref() != expected.as_ref() {
            out.push(format!(
                "its subject {label} is {} but the plan says {}",
                got.map(|g| format!("{g:?}")).unwrap_or_else(|| "missing".into()),
                expected.as_ref().map(|e| format!("{e:?}")).unwrap_or_else(|| "none".into())
            ));
        }
    }
    let have: BTreeSet<String> = cert::sans(c).iter().map(San::to_string).collect();
    let want: BTreeSet<String> = spec.sans.iter().map(|h| h.to_string()).collect();
    let missing: Vec<&String> = want.difference(&have).collect();
    let extra: Vec<&String> = have.difference(&want).collect();
    if !missing.is_empty() {
        out.push(format!("it lacks SAN {}", join(&missing)));
    }
    if !extra.is_empty() {
        out.push(format!("it has SAN {} that the plan does not", join(&extra)));
    }
    {
        let usages = &spec.usages;
        let is_ca = spec.role.is_ca();
        let alg = cert::spki_algo(c.public_key()).unwrap_or(spec.key_algo).signature_algorithm();
        let want_ku = if is_ca { usages.key.clone() } else { usages_for_key(&usages.key, alg) };
        let want_bits: u16 = want_ku.iter().map(|k| ku_bit(*k)).sum();
        let have_bits = c.key_usage().ok().flatten().map(|k| k.value.flags).unwrap_or(0);
        if want_bits != have_bits {
            out.push(format!("its key usage bits are {have_bits:#06b}, the plan wants {want_bits:#06b}"));
        }
        let eku = c.extended_key_usage().ok().flatten().map(|e| (e.value.server_auth, e.value.client_auth)).unwrap_or((false, false));
        let want_eku = (
            usages.ext.contains(&rcgen::ExtendedKeyUsagePurpose::ServerAuth),
            usages.ext.contains(&rcgen::ExtendedKeyUsagePurpose::ClientAuth),
        );
        if eku != want_eku {
            out.push(format!(
                "its extended key usage is {} but the plan wants {}",
                eku_text(eku),
                eku_text(want_eku)
            ));
        }
        if c.is_ca() != is_ca {
            out.push(if is_ca { "it is not a CA certificate".into() } else { "it is a CA certificate but should be a leaf".into() });
        }
    }
    if cert::spki_algo(c.public_key()) != Some(spec.key_algo) {
        out.push(format!("its key is {} but the plan says {}", cert::key_algo_name(c.public_key()), spec.key_algo));
    }
    out
}

fn eku_text((server, client): (bool, bool)) -> &'static str {
    match (server, client) {
        (true, true) => "server auth + client auth",
        (true, false) => "server auth",
        (false, true) => "client auth",
        (false, false) => "none",
    }
}

/// x509-parser's flag bit for a key usage (digitalSignature is bit 0).
fn ku_bit(k: rcgen::KeyUsagePurpose) -> u16 {
    use rcgen::KeyUsagePurpose as K;
    1 << match k {
        K::DigitalSignature => 0,
        K::ContentCommitment => 1,
        K::KeyEncipherment => 2,
        K::DataEncipherment => 3,
        K::KeyAgreement => 4,
        K::KeyCertSign => 5,
        K::CrlSign => 6,
        K::EncipherOnly => 7,
        K::DecipherOnly => 8,
    }
}

fn join(v: &[&String]) -> String {
    v.iter().map(|s| crate::pki::json::shown(s)).collect::<Vec<_>>().join(", ")
}

/// A file whose contents a kubeconfig must embed, with its name for messages.
#[derive(Clone, Copy)]
pub struct EmbeddedFile<'a> {
    /// The file name as shown to the user.
    pub name: &'a str,
    /// Its PEM bytes.
    pub pem: &'a [u8],
}

/// What is wrong with a kubeconfig against its plan entry: it must parse,
/// embed the CA and the client certificate (when `cert` could be read), a
/// client key that belongs to that certificate, and name the planned server
/// and user.
pub fn kubeconfig(bytes: &[u8], spec: &KubeconfigSpec, ca: EmbeddedFile<'_>, cert: Option<EmbeddedFile<'_>>) -> Findings {
    let view = match Kubeconfig::from_yaml(bytes).map_err(|e| e.to_string()).and_then(|kc| kc.current().map_err(|e| e.to_string())) {
        Ok(v) => v,
        Err(e) => return vec![e],
    };
    let mut findings = Findings::new();
    if view.ca.as_deref() != Some(ca.pem) {
        findings.push(format!("its certificate authority is not {}", ca.name));
    }
    match cert {
        Some(cert) if view.cert.as_deref() != Some(cert.pem) => findings.push(format!("its client certificate is not {}", cert.name)),
        Some(_) => {}
        None => findings.push(format!("its client certificate cannot be compared: {} is missing or unreadable", shown(&format!("{}.pem", spec.stem)))),
    }
    let embedded_cert = view.cert.as_deref().and_then(|c| cert::cert_from_pem(c).ok());
    match (view.key.as_ref().map(|k| PrivateKey::from_pem(k)), embedded_cert) {
        (Some(Ok(key)), Some(der)) => {
            let matches = cert::parse(&der).ok().is_some_and(|c| c.public_key().subject_public_key.data.as_ref() == key.public_key_bits());
            if !matches {
                findings.push("its client key does not match its client certificate".into());
            }
        }
        (Some(Ok(_)), None) => findings.push("it has no readable client certificate".into()),
        _ => findings.push("it has no readable client key".into()),
    }
    if view.server != spec.server {
        findings.push(format!("its server is {} but the plan says {}", shown(&view.server), spec.server));
    }
    if view.user != spec.user {
        findings.push(format!("its user is {} but the plan says {}", shown(&view.user), spec.user));
    }
    findings
}

/// What is wrong with a kubeconfig the plan does not name (a user's): it
/// must parse, embed the CA, and hold a client certificate of that CA with
/// its key, valid at `now`.
/// With `window`, a certificate ending within it is a finding too.
/// `trusted`: what it may embed as its certificate authority (the CA, or
/// during a rotation the CA's bundle too).
pub fn extra_kubeconfig(bytes: &[u8], trusted: &[EmbeddedFile<'_>], ca_cert: &X509Certificate<'_>, now: OffsetDateTime, window: Option<Duration>) -> Findings {
    let view = match Kubeconfig::from_yaml(bytes).map_err(|e| e.to_string()).and_then(|kc| kc.current().map_err(|e| e.to_string())) {
        Ok(v) => v,
        Err(e) => return vec![e],
    };
    let mut findings = Findings::new();
    if !trusted.iter().any(|t| view.ca.as_deref() == Some(t.pem)) {
        findings.push(format!("its certificate authority is not {}", trusted.iter().map(|t| t.name).collect::<Vec<_>>().join(" or ")));
    }
    let Some(der) = view.cert.as_deref().and_then(|c| cert::cert_from_pem(c).ok()) else {
        findings.push("it has no readable client certificate".into());
        return findings;
    };
    let Ok(c) = cert::parse(&der) else {
        findings.push("its client certificate does not parse".into());
        return findings;
    };
    if let Err(e) = chain(&c, ca_cert) {
        findings.push(format!("its client certificate: {e}"));
    }
    match (expiry(&c, now), window.map(|w| expiry_within(&c, now, w))) {
        (Expiry::Invalid(m), _) => findings.push(format!("its client certificate: {m}")),
        (_, Some(Expiry::Soon(m))) => findings.push(format!("its client certificate: {m}, within --expires-within")),
        _ => {}
    }
    match view.key.as_ref().map(|k| PrivateKey::from_pem(k)) {
        Some(Ok(key)) if key.public_key_bits() == c.public_key().subject_public_key.data.as_ref() => {}
        Some(Ok(_)) => findings.push("its client key does not match its client certificate".into()),
        _ => findings.push("it has no readable client key".into()),
    }
    findings
}

/// Whether a CA's trust bundle is one kpki's rotation wrote: its first
/// certificate is the current CA, and every other one (an old CA) is
/// endorsed in the rotation record (`<ca>-rotation.pem`) by a certificate
/// over the old CA's subject and key that the *current* CA signed. Only the
/// holder of the current CA key can make that record, so a bundle planted by
/// someone who can only write files cannot make kubeconfigs or `verify`
/// trust another CA.
pub fn bundle_endorsed(bundle: &[Vec<u8>], current_ca: &[u8], record_pem: Option<&[u8]>) -> Result<(), String> {
    let Some(first) = bundle.first() else { return Err("it holds no certificate".into()) };
    if first.as_slice() != current_ca {
        return Err("its first certificate is not the current CA (a rotation writes the current CA first)".into());
    }
    let Ok(current) = cert::parse(current_ca) else { return Err("the current CA does not parse".into()) };
    let record: Vec<Vec<u8>> = record_pem.and_then(|p| cert::certs_from_pem(p).ok()).map(|v| v.into_iter().map(|c| c.to_vec()).collect()).unwrap_or_default();
    let endorsements: Vec<X509Certificate<'_>> = record.iter().filter_map(|d| cert::parse(d).ok()).filter(|e| chain(e, &current).is_ok()).collect();
    for (k, der) in bundle.iter().enumerate().skip(1) {
        let Ok(old) = cert::parse(der) else { return Err(format!("certificate {} does not parse", k + 1)) };
        if old.subject().as_raw() != current.subject().as_raw() || chain(&old, &old).is_err() || cert::ca_problem(&old).is_some() {
            return Err(format!("certificate {} is not a self-signed CA with the current CA's subject", k + 1));
        }
        let endorsed = endorsements.iter().any(|e| e.subject().as_raw() == old.subject().as_raw() && e.public_key().raw == old.public_key().raw);
        if !endorsed {
            return Err(format!("certificate {} (an old CA) is not endorsed by the current CA in the rotation record; kpki did not write this bundle", k + 1));
        }
    }
    Ok(())
}
