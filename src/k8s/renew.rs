//! Renewal: re-issuing leaf certificates from the same CA with the same
//! subject, SANs and usages, copied from the certificates themselves, so it
//! works on kpki's sets and on sets made with cfssl by the tutorial's
//! commands alike. Kubeconfigs that embed a renewed certificate (or key) are
//! updated in place of the old bytes.

use std::collections::BTreeMap;

use base64::Engine;
use rcgen::{ExtendedKeyUsagePurpose as E, KeyUsagePurpose as K};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::set::{Action, Row, SetError};
use crate::model::file::OutFile;
use crate::pki::cert;
use crate::pki::issue::{self, dn_from_x509, Ca, CertPlan, SubjectKey, Validity};
use crate::pki::key::{pem_encode, KeyFormat, PrivateKey};
use crate::pki::profile::{Profile, Usages};
use crate::pki::request::parse_hosts;

fn file_error(file: &str, message: impl Into<String>) -> SetError {
    SetError::File { file: file.to_string(), message: message.into() }
}

/// Renews the certificates named by `stems` (files `<stem>.pem`, keys
/// `<stem>-key.pem`) in a directory whose files are given as data. `cas`
/// are the directory's CAs (by stem) with their keys: a leaf is re-issued by
/// the one that signed it; a CA among `stems` is renewed with its own key
/// (same subject and key, so every certificate it signed stays valid),
/// before the leaves, which are then signed by the renewed CA.
pub fn renew(
    files: &BTreeMap<String, Vec<u8>>,
    mut cas: BTreeMap<String, Ca>,
    stems: &[String],
    rekey: bool,
    now: OffsetDateTime,
) -> Result<(Vec<OutFile>, Vec<Row>), SetError> {
    let mut out = Vec::new();
    let mut rows = Vec::new();
    // Old → new bytes, to rewrite kubeconfigs that embed them.
    let mut swaps: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let (ca_stems, leaf_stems): (Vec<&String>, Vec<&String>) = stems.iter().partition(|s| cas.contains_key(s.as_str()));
    for stem in ca_stems {
        let cert_file = format!("{stem}.pem");
        if rekey {
            return Err(file_error(
                &cert_file,
                "a new CA key means a CA rotation (trust bundle, re-issuing every leaf, then dropping the old CA), which kpki does not do yet; renew the CA with its own key (without --rekey)",
            ));
        }
        let pem = files.get(&cert_file).ok_or_else(|| file_error(&cert_file, "missing"))?;
        let Some(old) = cas.remove(stem.as_str()) else { continue };
        let (old_der, key) = old.into_parts();
        let der = issue::renew_ca(&old_der, &key, now).map_err(|e| file_error(&cert_file, e.to_string()))?;
        let new_pem = pem_encode("CERTIFICATE", &der);
        swaps.push((pem.clone(), new_pem.as_bytes().to_vec()));
        out.push(OutFile::public(&cert_file, new_pem.as_bytes()));
        let parsed = cert::parse(&der).map_err(|e| file_error(&cert_file, e.to_string()))?;
        let cn = cert::name_attr(parsed.subject(), &x509_parser::oid_registry::OID_X509_COMMON_NAME).unwrap_or_default();
        rows.push(Row { file: cert_file.clone(), action: Action::Replace, reason: "renewed (same key and subject)".into(), subject: cn, expires: cert::rfc3339(cert::validity(&parsed).1) });
        cas.insert(stem.clone(), Ca::new(der, key).map_err(|e| file_error(&cert_file, e.to_string()))?);
    }
    for stem in leaf_stems {
        let cert_file = format!("{stem}.pem");
        let key_file = format!("{stem}-key.pem");
        let pem = files.get(&cert_file).ok_or_else(|| file_error(&cert_file, "missing"))?;
        let der = cert::cert_from_pem(pem).map_err(|e| file_error(&cert_file, e.to_string()))?;
        let c = cert::parse(&der).map_err(|e| file_error(&cert_file, e.to_string()))?;
        if c.is_ca() {
            return Err(file_error(&cert_file, "it is a CA certificate without its key beside it; renew needs the CA's key"));
        }
        // The CA that signed it, among the directory's.
        let mut why_not = Vec::new();
        let mut signer = None;
        for (ca_stem, ca) in &cas {
            let ca_parsed = cert::parse(ca.cert_der()).map_err(SetError::CaCert)?;
            match super::check::chain(&c, &ca_parsed) {
                Ok(()) => {
                    signer = Some(ca);
                    break;
                }
                Err(m) => why_not.push(format!("{ca_stem}.pem: {m}")),
            }
        }
        let Some(ca) = signer else {
            return Err(file_error(&cert_file, format!("no CA of the directory signed it ({}); renew only re-issues certificates of the directory's CAs", why_not.join("; "))));
        };
        let key_pem = files.get(&key_file).ok_or_else(|| file_error(&key_file, "missing: renewing needs the certificate's key"))?;
        let old_key = PrivateKey::from_pem(key_pem).map_err(|e| file_error(&key_file, e.to_string()))?;
        if old_key.public_key_bits() != c.public_key().subject_public_key.data.as_ref() {
            return Err(file_error(&key_file, format!("it is not the key of {cert_file}")));
        }
        let key = if rekey { PrivateKey::generate(old_key.algo()).map_err(|e| file_error(&key_file, e.to_string()))? } else { old_key };
        let subject = dn_from_x509(c.subject()).map_err(|e| file_error(&cert_file, e.to_string()))?;
        let hosts: Vec<String> = cert::sans(&c).iter().map(|s| s.to_string()).collect();
        let sans = parse_hosts(&hosts).map_err(|e| file_error(&cert_file, e.to_string()))?;
        let (nb, na) = cert::validity(&c);
        let profile = Profile::leaf(Usages::from_parts(key_usages(&c), ext_key_usages(&c)), na - nb);
        let plan = CertPlan { subject, sans, validity: Validity::cfssl(now, profile.expiry) };
        let issued = issue::sign(&plan, &SubjectKey::of(&key), &profile, ca).map_err(|e| file_error(&cert_file, e.to_string()))?;
        let new_pem = pem_encode("CERTIFICATE", &issued.der);
        swaps.push((pem.clone(), new_pem.as_bytes().to_vec()));
        out.push(OutFile::public(&cert_file, new_pem.as_bytes()));
        let expires = cert::rfc3339(cert::validity(&cert::parse(&issued.der).map_err(|e| file_error(&cert_file, e.to_string()))?).1);
        if rekey {
            let format = if key_pem.starts_with(b"-----BEGIN PRIVATE KEY-----") { KeyFormat::Pkcs8 } else { KeyFormat::Cfssl };
            let new_key: Zeroizing<String> = key.to_pem(format).map_err(|e| file_error(&key_file, e.to_string()))?;
            swaps.push((key_pem.clone(), new_key.as_bytes().to_vec()));
            out.push(OutFile::secret(&key_file, new_key.as_bytes()));
            rows.push(Row::file(key_file.clone(), Action::Replace, "--rekey"));
        }
        let cn = cert::name_attr(c.subject(), &x509_parser::oid_registry::OID_X509_COMMON_NAME).unwrap_or_default();
        rows.push(Row { file: cert_file, action: Action::Replace, reason: "renewed".into(), subject: cn, expires });
    }
    for (name, bytes) in files.iter().filter(|(n, _)| n.ends_with(".kubeconfig")) {
        let mut kc = match super::files::Kubeconfig::from_yaml(bytes) {
            Ok(kc) => kc,
            // A file that is not a kubeconfig kpki can read is left alone,
            // unless it embeds a renewed certificate: then it would go stale.
            Err(e) if swaps.iter().any(|(old, _)| embeds(bytes, old)) => {
                return Err(file_error(name, format!("it embeds a certificate being renewed but cannot be read ({e}); fix it or renew without it")))
            }
            Err(_) => continue,
        };
        let mut changed = false;
        for (old, new) in &swaps {
            changed |= kc.replace_embedded(old, new);
        }
        if changed {
            out.push(OutFile::private(name, kc.to_yaml().as_bytes()));
            rows.push(Row::file(name.clone(), Action::Replace, "embeds a renewed certificate"));
        }
    }
    Ok((out, rows))
}

/// Whether `text` holds `data` base64-encoded (a kubeconfig embedding it).
fn embeds(text: &[u8], data: &[u8]) -> bool {
    let needle = base64::engine::general_purpose::STANDARD.encode(data);
    text.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn key_usages(c: &x509_parser::certificate::X509Certificate<'_>) -> Vec<K> {
    let Ok(Some(ku)) = c.key_usage() else { return vec![] };
    let k = ku.value;
    let all = [
        (k.digital_signature(), K::DigitalSignature),
        (k.non_repudiation(), K::ContentCommitment),
        (k.key_encipherment(), K::KeyEncipherment),
        (k.data_encipherment(), K::DataEncipherment),
        (k.key_agreement(), K::KeyAgreement),
        (k.key_cert_sign(), K::KeyCertSign),
        (k.crl_sign(), K::CrlSign),
        (k.encipher_only(), K::EncipherOnly),
        (k.decipher_only(), K::DecipherOnly),
    ];
    all.into_iter().filter(|(on, _)| *on).map(|(_, u)| u).collect()
}

fn ext_key_usages(c: &x509_parser::certificate::X509Certificate<'_>) -> Vec<E> {
    let Ok(Some(eku)) = c.extended_key_usage() else { return vec![] };
    let e = eku.value;
    let mut out = Vec::new();
    if e.any {
        out.push(E::Any);
    }
    if e.server_auth {
        out.push(E::ServerAuth);
    }
    if e.client_auth {
        out.push(E::ClientAuth);
    }
    if e.code_signing {
        out.push(E::CodeSigning);
    }
    if e.email_protection {
        out.push(E::EmailProtection);
    }
    if e.time_stamping {
        out.push(E::TimeStamping);
    }
    if e.ocsp_signing {
        out.push(E::OcspSigning);
    }
    for o in &e.other {
        if let Some(arcs) = o.iter() {
            out.push(E::Other(arcs.collect()));
        }
    }
    out
}
