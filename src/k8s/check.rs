//! Checking one certificate against its plan entry and its CA: the chain,
//! the key pair, expiry, subject, SANs and usages. `bootstrap` uses it to
//! decide what to re-issue; `verify` reports what it finds.

use std::collections::BTreeSet;
use std::net::IpAddr;

use time::{Duration, OffsetDateTime};
use x509_parser::prelude::X509Certificate;

use super::plan::{CertSpec, Role};
use crate::pki::cert::{self, San};
use crate::pki::issue::usages_for_key;
use crate::pki::profile::Profile;

/// Certificates expiring sooner than this are re-issued by bootstrap and warned about by verify.
pub const RENEW_BEFORE_DAYS: i64 = 30;

/// What is wrong with a certificate, for messages; each entry is one clause.
pub type Findings = Vec<String>;

/// Checks that `c` is signed by the CA `ca` (name, key id and signature).
pub fn chain(c: &X509Certificate<'_>, ca: &X509Certificate<'_>) -> Result<(), String> {
    if c.issuer().as_raw() != ca.subject().as_raw() {
        return Err(format!("its issuer ({}) is not the CA ({})", cert::name_shown(c.issuer()), cert::name_shown(ca.subject())));
    }
    if let (Some(aki), Some(ski)) = (cert::aki(c), cert::ski(ca)) {
        if aki != ski {
            return Err("its authority key identifier does not match the CA's key".into());
        }
    }
    cert::verify_signed_by(c, ca.public_key()).map_err(|_| "its signature does not verify with the CA's key (it is from another CA)".to_string())
}

/// Expiry: an error when outside its validity at `now`; a warning inside the renewal window.
pub fn expiry(c: &X509Certificate<'_>, now: OffsetDateTime) -> (Option<String>, Option<String>) {
    let (nb, na) = cert::validity(c);
    if now < nb {
        return (Some(format!("it is not valid until {}", cert::rfc3339(nb))), None);
    }
    if now > na {
        return (Some(format!("it expired on {}", cert::rfc3339(na))), None);
    }
    let left = na - now;
    if left < Duration::days(RENEW_BEFORE_DAYS) {
        return (None, Some(format!("it expires in {} days ({})", left.whole_days(), cert::rfc3339(na))));
    }
    (None, None)
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
    let want: BTreeSet<String> = spec
        .sans
        .iter()
        .map(|s| s.parse::<IpAddr>().map(|ip| ip.to_string()).unwrap_or_else(|_| s.clone()))
        .collect();
    let missing: Vec<&String> = want.difference(&have).collect();
    let extra: Vec<&String> = have.difference(&want).collect();
    if !missing.is_empty() {
        out.push(format!("it lacks SAN {}", join(&missing)));
    }
    if !extra.is_empty() {
        out.push(format!("it has SAN {} that the plan does not", join(&extra)));
    }
    let names: Vec<&str> = spec.usages.iter().map(String::as_str).collect();
    if let Ok(p) = Profile::from_usages(&names, Duration::hours(1)) {
        let is_ca = spec.role == Role::Ca;
        let alg = match crate::pki::key::KeyAlgo::from_name(&cert::key_algo_name(c.public_key())) {
            Ok(a) => a.signature_algorithm(),
            Err(_) => &rcgen::PKCS_ECDSA_P256_SHA256,
        };
        let want_ku = if is_ca { p.key_usages.clone() } else { usages_for_key(&p.key_usages, alg) };
        let want_bits: u16 = want_ku.iter().map(|k| ku_bit(*k)).sum();
        let have_bits = c.key_usage().ok().flatten().map(|k| k.value.flags).unwrap_or(0);
        if want_bits != have_bits {
            out.push(format!("its key usage bits are {have_bits:#06b}, the plan wants {want_bits:#06b}"));
        }
        let eku = c.extended_key_usage().ok().flatten().map(|e| (e.value.server_auth, e.value.client_auth)).unwrap_or((false, false));
        let want_eku = (
            p.ext_key_usages.contains(&rcgen::ExtendedKeyUsagePurpose::ServerAuth),
            p.ext_key_usages.contains(&rcgen::ExtendedKeyUsagePurpose::ClientAuth),
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
    if cert::key_algo_name(c.public_key()) != spec.key_algo {
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
