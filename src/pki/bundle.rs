//! `bundle`: a certificate's chain built and verified against trusted roots
//! (cfssl bundle's "ubiquitous"/"optimal" flavors), or taken as given and
//! only checked to chain (`force`); reported with cfssl 1.2's fields.

use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;

use super::cert::{self, CertError};
use super::key::pem_encode;

/// How the chain is chosen (cfssl's `-flavor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Build the chain from the pools and verify it up to a trusted root.
    /// Without platform metadata, cfssl's "ubiquitous" is "optimal".
    Verified,
    /// The certificates as given, only checked to chain to one another.
    Force,
}

/// Why no bundle was made.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A certificate does not parse.
    #[error("{0}")]
    Cert(#[from] CertError),
    /// No certificate was given.
    #[error("no certificate to bundle")]
    Empty,
    /// The leaf is its own issuer.
    #[error("the certificate is self-signed: there is no chain to build (cfssl: \"Certificate is self signed\")")]
    SelfSigned,
    /// No path to a trusted root.
    #[error("no chain from {subject} to a trusted root: {why}")]
    UnknownAuthority {
        /// The certificate whose issuer was not found.
        subject: String,
        /// What was missing.
        why: String,
    },
    /// A certificate of the chain is outside its validity.
    #[error("{subject} is not valid now: valid from {not_before} to {not_after}")]
    Expired {
        /// The certificate at fault.
        subject: String,
        /// Its NotBefore.
        not_before: String,
        /// Its NotAfter.
        not_after: String,
    },
    /// An issuer that is not a CA, or a path length exceeded.
    #[error("{subject} cannot issue certificates: {why}")]
    NotCa {
        /// The issuer at fault.
        subject: String,
        /// Why.
        why: String,
    },
    /// The leaf may not be used for TLS servers.
    #[error("the certificate's extended key usage does not allow TLS server authentication (cfssl verifies bundles for servers)")]
    Usage,
    /// `force`: the given certificates do not form a chain.
    #[error("the given certificates do not form a chain: {0}")]
    Broken(String),
    /// The key does not belong to the certificate.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
}

/// What was built.
pub struct Bundle {
    /// The chain, leaf first, without the root.
    pub chain: Vec<Vec<u8>>,
    /// The trusted root that anchors it (none with `force`).
    pub root: Option<Vec<u8>>,
}

/// Builds the chain for `given[0]` from the rest of `given`, the
/// intermediates and the roots, and verifies it at `now`.
pub fn build(given: &[Vec<u8>], intermediates: &[Vec<u8>], roots: &[Vec<u8>], flavor: Flavor, now: OffsetDateTime) -> Result<Bundle, BundleError> {
    let given = &leaf_first(given)?;
    let leaf_der = given.first().ok_or(BundleError::Empty)?;
    let leaf = cert::parse(leaf_der)?;
    if flavor == Flavor::Force {
        return force(given);
    }
    if leaf.subject().as_raw() == leaf.issuer().as_raw() && cert::verify_signed_by(&leaf, leaf.public_key()).is_ok() {
        return Err(BundleError::SelfSigned);
    }
    let pool: Vec<&Vec<u8>> = given[1..].iter().chain(intermediates.iter()).collect();
    let mut chain = vec![leaf_der.clone()];
    let root = loop {
        if chain.len() > 16 {
            return Err(BundleError::UnknownAuthority { subject: shown(leaf_der), why: "the chain is longer than 16 certificates".into() });
        }
        let last_der = chain.last().cloned().unwrap_or_default();
        let last = cert::parse(&last_der)?;
        // A trusted root that signed it ends the chain.
        if let Some(r) = roots.iter().find(|r| issued_by(&last, r)) {
            break r.clone();
        }
        let next = pool.iter().find(|c| issued_by(&last, c) && !chain.contains(c) && !is_self_signed(c)).map(|c| (*c).clone());
        match next {
            Some(n) => chain.push(n),
            None => {
                let why = if is_self_signed(&last_der) {
                    format!("it is a root that is not among the trusted roots ({})", cert::name_shown(last.subject()))
                } else {
                    format!("its issuer {} is neither among the intermediates nor the trusted roots", cert::name_shown(last.issuer()))
                };
                return Err(BundleError::UnknownAuthority { subject: cert::name_shown(last.subject()), why });
            }
        }
    };
    // Validity, CA-ness and path lengths along the path, root included.
    let mut all: Vec<&Vec<u8>> = chain.iter().collect();
    all.push(&root);
    for (i, der) in all.iter().enumerate() {
        let c = cert::parse(der)?;
        let (nb, na) = cert::validity(&c);
        if now < nb || now > na {
            return Err(BundleError::Expired { subject: cert::name_shown(c.subject()), not_before: cert::rfc3339(nb), not_after: cert::rfc3339(na) });
        }
        if i > 0 {
            if let Some(why) = cert::ca_problem(&c) {
                return Err(BundleError::NotCa { subject: cert::name_shown(c.subject()), why: why.into() });
            }
            // Intermediates below this CA (the leaf does not count).
            let below = i - 1;
            if let Ok(Some(bc)) = c.basic_constraints() {
                if let Some(n) = bc.value.path_len_constraint {
                    if below as u32 > n {
                        return Err(BundleError::NotCa {
                            subject: cert::name_shown(c.subject()),
                            why: format!("its pathLenConstraint {n} allows fewer intermediates than the {below} below it"),
                        });
                    }
                }
            }
        }
    }
    if let Ok(Some(eku)) = leaf.extended_key_usage() {
        if !eku.value.any && !eku.value.server_auth {
            return Err(BundleError::Usage);
        }
    }
    Ok(Bundle { chain, root: Some(root) })
}

/// The given certificates with the leaf first: the one that issued none of
/// the others (a file written root or intermediate first is put right).
fn leaf_first(given: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, BundleError> {
    let mut out = given.to_vec();
    if out.len() > 1 {
        let issued_none = |i: usize| {
            given.iter().enumerate().all(|(j, other)| j == i || !cert::parse(other).is_ok_and(|o| issued_by(&o, &given[i])))
        };
        if let Some(i) = (0..given.len()).find(|&i| issued_none(i)) {
            let leaf = out.remove(i);
            out.insert(0, leaf);
        }
    }
    Ok(out)
}

/// `force`: the given certificates in chain order (a reversed file is
/// put right), each signed by the next.
fn force(given: &[Vec<u8>]) -> Result<Bundle, BundleError> {
    let mut rest: Vec<Vec<u8>> = given[1..].to_vec();
    let mut chain = vec![given[0].clone()];
    while !rest.is_empty() {
        let last = chain.last().cloned().unwrap_or_default();
        let last = cert::parse(&last)?;
        match rest.iter().position(|c| issued_by(&last, c)) {
            Some(i) => chain.push(rest.remove(i)),
            None => {
                return Err(BundleError::Broken(format!(
                    "nothing given issued {} (cfssl: \"Unable to verify the certificate chain\")",
                    cert::name_shown(last.subject())
                )))
            }
        }
    }
    Ok(Bundle { chain, root: None })
}

fn issued_by(child: &X509Certificate<'_>, issuer_der: &[u8]) -> bool {
    match cert::parse(issuer_der) {
        Ok(issuer) => child.issuer().as_raw() == issuer.subject().as_raw() && cert::verify_signed_by(child, issuer.public_key()).is_ok(),
        Err(_) => false,
    }
}

fn is_self_signed(der: &[u8]) -> bool {
    cert::parse(der).is_ok_and(|c| c.subject().as_raw() == c.issuer().as_raw() && cert::verify_signed_by(&c, c.public_key()).is_ok())
}

fn shown(der: &[u8]) -> String {
    cert::parse(der).map(|c| cert::name_shown(c.subject())).unwrap_or_default()
}

/// cfssl bundle's JSON (keys in Go's map order, i.e. sorted), for a bundle
/// made from `given` (the input certificates) with an optional key in
/// cfssl's PEM form.
pub fn report(b: &Bundle, given: &[Vec<u8>], key_pem: Option<&str>, now: OffsetDateTime) -> Result<Value, BundleError> {
    let leaf = cert::parse(&b.chain[0])?;
    let pem = |der: &[u8]| pem_encode("CERTIFICATE", der).trim_end().to_string();
    let mut m = Map::new();
    m.insert("bundle".into(), Value::String(b.chain.iter().map(|d| pem(d)).collect::<Vec<_>>().join("\n")));
    m.insert("crl_support".into(), Value::Bool(has_extension(&leaf, "2.5.29.31")));
    m.insert("crt".into(), Value::String(pem(&b.chain[0])));
    let mut with_root: Vec<&Vec<u8>> = b.chain.iter().collect();
    if let Some(r) = &b.root {
        with_root.push(r);
    }
    let mut expires = None;
    let mut expiring = Vec::new();
    let mut expiring_skis = Vec::new();
    for (i, der) in with_root.iter().enumerate() {
        let c = cert::parse(der)?;
        let (_, na) = cert::validity(&c);
        expires = Some(expires.map_or(na, |e: OffsetDateTime| e.min(na)));
        if na - now < Duration::hours(720) {
            expiring.push(format!("#{}", i + 1));
            expiring_skis.push(Value::String(cert::ski(&c).unwrap_or_default().iter().map(|b| format!("{b:02X}")).collect()));
        }
    }
    m.insert("expires".into(), Value::String(expires.map(cert::rfc3339).unwrap_or_default()));
    let mut hostnames: Vec<String> = Vec::new();
    if let Some(cn) = cert::name_attr(leaf.subject(), &x509_parser::oid_registry::OID_X509_COMMON_NAME) {
        hostnames.push(cn);
    }
    for s in cert::sans(&leaf) {
        if let cert::San::Dns(d) = s {
            if !hostnames.contains(&d) {
                hostnames.push(d);
            }
        }
    }
    m.insert("hostnames".into(), Value::from(hostnames));
    m.insert("issuer".into(), Value::String(slash_name(leaf.issuer())));
    m.insert("key".into(), Value::String(key_pem.map(|k| k.trim_end().to_string()).unwrap_or_default()));
    let spki = leaf.public_key();
    let bits = cert::key_bits(spki);
    m.insert("key_size".into(), Value::from(bits));
    let is_ec = spki.algorithm.algorithm == x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY;
    let kind = if is_ec { "ECDSA" } else if bits > 0 && spki.algorithm.algorithm == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION { "RSA" } else { "Ed25519" };
    m.insert("key_type".into(), Value::String(format!("{bits}-bit {kind}")));
    let ocsp = ocsp_servers(&leaf);
    m.insert("ocsp".into(), if ocsp.is_empty() { Value::Null } else { Value::from(ocsp.clone()) });
    m.insert("ocsp_support".into(), Value::Bool(!ocsp.is_empty()));
    m.insert("root".into(), Value::String(b.root.as_deref().map(pem).unwrap_or_default()));
    m.insert("signature".into(), cert::certinfo(&b.chain[0])?.get("sigalg").cloned().unwrap_or(Value::Null));
    let mut messages = Vec::new();
    let mut code = 0;
    if !expiring.is_empty() {
        code |= 1;
        let which = if expiring.len() == 1 {
            format!("The expiring cert is {} in the chain.", expiring[0])
        } else {
            format!("The expiring certs are {} in the chain.", expiring.join(" "))
        };
        messages.push(format!("The bundle is expiring within 30 days.{which}"));
    }
    let chain_certs: Vec<X509Certificate<'_>> = b.chain.iter().filter_map(|d| cert::parse(d).ok()).collect();
    let sha2 = chain_certs.iter().any(|c| {
        let a = c.signature_algorithm.algorithm.to_id_string();
        !matches!(a.as_str(), "1.2.840.113549.1.1.5" | "1.2.840.10045.4.1" | "1.2.840.113549.1.1.4")
    });
    if sha2 {
        code |= 2;
        messages.push("The bundle contains certificates signed with advanced hash functions such as SHA2, which are problematic for certain operating systems, e.g. Windows XP SP2.".into());
    }
    if chain_certs.iter().any(|c| c.public_key().algorithm.algorithm == x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY) {
        code |= 2;
        messages.push("The bundle contains ECDSA signatures, which are problematic for certain operating systems, e.g. Windows XP, Android 2.2 and Android 2.3.".into());
    }
    if b.root.is_some() {
        code |= 2;
        messages.push("Unable to measure bundle ubiquity: No platform metadata present.".into());
    }
    // Against the input put in order, as cfssl compares.
    let given = leaf_first(given)?;
    let rebundled = b.chain.len() != given.len() || b.chain.iter().zip(&given).any(|(a, g)| a != g);
    let mut status = Map::new();
    status.insert("rebundled".into(), Value::Bool(rebundled));
    status.insert("expiring_SKIs".into(), if expiring_skis.is_empty() { Value::Null } else { Value::Array(expiring_skis) });
    status.insert("untrusted_root_stores".into(), if b.root.is_some() { Value::Array(vec![]) } else { Value::Null });
    status.insert("messages".into(), Value::from(messages));
    status.insert("code".into(), Value::from(code));
    m.insert("status".into(), Value::Object(status));
    m.insert("subject".into(), Value::String(slash_name(leaf.subject())));
    Ok(Value::Object(m))
}

fn has_extension(c: &X509Certificate<'_>, oid: &str) -> bool {
    c.extensions().iter().any(|e| e.oid.to_id_string() == oid)
}

fn ocsp_servers(c: &X509Certificate<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for e in c.extensions() {
        if let x509_parser::extensions::ParsedExtension::AuthorityInfoAccess(aia) = e.parsed_extension() {
            for d in &aia.accessdescs {
                if d.access_method.to_id_string() == "1.3.6.1.5.5.7.48.1" {
                    if let x509_parser::extensions::GeneralName::URI(u) = &d.access_location {
                        out.push(u.to_string());
                    }
                }
            }
        }
    }
    out
}

/// cfssl's `/Country=US/Organization=.../CommonName=...` (other attributes
/// with an empty name, as cfssl writes them).
fn slash_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    let mut out = String::new();
    for atv in name.iter_attributes() {
        let label = match atv.attr_type().to_id_string().as_str() {
            "2.5.4.3" => "CommonName",
            "2.5.4.5" => "SerialNumber",
            "2.5.4.6" => "Country",
            "2.5.4.7" => "Locality",
            "2.5.4.8" => "Province",
            "2.5.4.9" => "StreetAddress",
            "2.5.4.10" => "Organization",
            "2.5.4.11" => "OrganizationalUnit",
            "2.5.4.17" => "PostalCode",
            _ => "",
        };
        out.push_str(&format!("/{label}={}", atv.as_str().unwrap_or_default()));
    }
    out
}
