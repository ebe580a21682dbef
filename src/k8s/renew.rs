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
            return Err(file_error(&cert_file, "a new CA key is a rotation: use start_rotation (renew --role <ca> --rekey, alone)"));
        }
        if files.get(&bundle_file(stem)).is_some_and(|b| bundle_certs(b).len() > 1) {
            return Err(file_error(&bundle_file(stem), "a rotation of this CA is in progress; finish it (renew --finish-rotation) before renewing the CA"));
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
        // A bundle left by a finished rotation holds the CA alone: it follows.
        if files.get(&bundle_file(stem)).is_some_and(|b| bundle_certs(b).len() == 1) {
            out.push(OutFile::public(bundle_file(stem), new_pem.as_bytes()));
            rows.push(Row::file(bundle_file(stem), Action::Replace, "holds the renewed CA"));
        }
        cas.insert(stem.clone(), Ca::new(der, key).map_err(|e| file_error(&cert_file, e.to_string()))?);
    }
    for stem in leaf_stems {
        let cert_file = format!("{stem}.pem");
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
        reissue(files, stem, ca, rekey, now, &mut out, &mut rows, &mut swaps)?;
    }
    update_kubeconfigs(files, &swaps, &mut out, &mut rows)?;
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

/// Re-issues `<stem>.pem` from `ca` with its subject, SANs, usages and
/// validity length (a new key with `rekey`), recording the files, the rows
/// and the old → new bytes for the kubeconfigs.
#[allow(clippy::too_many_arguments)]
fn reissue(
    files: &BTreeMap<String, Vec<u8>>,
    stem: &str,
    ca: &Ca,
    rekey: bool,
    now: OffsetDateTime,
    out: &mut Vec<OutFile>,
    rows: &mut Vec<Row>,
    swaps: &mut Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<(), SetError> {
    let cert_file = format!("{stem}.pem");
    let key_file = format!("{stem}-key.pem");
    let pem = files.get(&cert_file).ok_or_else(|| file_error(&cert_file, "missing"))?;
    let der = cert::cert_from_pem(pem).map_err(|e| file_error(&cert_file, e.to_string()))?;
    let c = cert::parse(&der).map_err(|e| file_error(&cert_file, e.to_string()))?;
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
    Ok(())
}

/// Applies old → new byte swaps to every kubeconfig that embeds an old value.
fn update_kubeconfigs(files: &BTreeMap<String, Vec<u8>>, swaps: &[(Vec<u8>, Vec<u8>)], out: &mut Vec<OutFile>, rows: &mut Vec<Row>) -> Result<(), SetError> {
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
        for (old, new) in swaps {
            changed |= kc.replace_embedded(old, new);
        }
        if changed {
            out.push(OutFile::private(name, kc.to_yaml().as_bytes()));
            rows.push(Row::file(name.clone(), Action::Replace, "embeds a renewed certificate"));
        }
    }
    Ok(())
}

/// The trust bundle file of a CA during a rotation: `<stem>-bundle.pem`.
pub fn bundle_file(ca_stem: &str) -> String {
    format!("{ca_stem}-bundle.pem")
}

/// A rotation's record of a CA: `<stem>-rotation.pem`.
pub fn rotation_file(ca_stem: &str) -> String {
    format!("{ca_stem}-rotation.pem")
}

/// The certificates of a bundle file's PEM, as DER.
fn bundle_certs(pem: &[u8]) -> Vec<Vec<u8>> {
    cert::certs_from_pem(pem).map(|v| v.into_iter().map(|c| c.to_vec()).collect()).unwrap_or_default()
}

/// Starts a rotation of the CA `<ca_stem>`: a new key and a new self-signed
/// certificate with the same subject, pathlen and validity length; the trust
/// bundle `<ca_stem>-bundle.pem` (new, then old); every leaf the old CA
/// signed re-issued from the new one with its own key; and every kubeconfig
/// that trusted the old CA given the bundle. Clients and servers that still
/// have the old CA file keep trusting servers that present the old leaves,
/// and components given the bundle trust both, until `finish_rotation`.
/// The new key is returned unencrypted in `new_ca_key_pem`'s file (the CLI
/// encrypts it when the old one was).
pub fn start_rotation(
    files: &BTreeMap<String, Vec<u8>>,
    cas: &BTreeMap<String, Ca>,
    ca_stem: &str,
    new_ca_key_pem: impl FnOnce(&PrivateKey) -> Result<Zeroizing<String>, SetError>,
    now: OffsetDateTime,
) -> Result<(Vec<OutFile>, Vec<Row>), SetError> {
    let cert_file = format!("{ca_stem}.pem");
    let old = cas.get(ca_stem).ok_or_else(|| file_error(&cert_file, "no such CA with its key in the directory"))?;
    let bundle = bundle_file(ca_stem);
    if files.get(&bundle).is_some_and(|b| bundle_certs(b).len() > 1) {
        return Err(file_error(&bundle, "a rotation of this CA is in progress; finish it with `renew --finish-rotation` before starting another"));
    }
    let old_pem = files.get(&cert_file).ok_or_else(|| file_error(&cert_file, "missing"))?;
    let old_parsed = cert::parse(old.cert_der()).map_err(SetError::CaCert)?;
    // The new CA: same subject (byte for byte), pathlen and validity length, a new key.
    let key = PrivateKey::generate(old.key().algo()).map_err(|e| file_error(&format!("{ca_stem}-key.pem"), e.to_string()))?;
    let path_len = match old_parsed.basic_constraints() {
        Ok(Some(bc)) => bc.value.path_len_constraint.map(|n| u8::try_from(n).unwrap_or(u8::MAX)),
        _ => None,
    };
    let (nb, na) = cert::validity(&old_parsed);
    let subject = dn_from_x509(old_parsed.subject()).map_err(|e| file_error(&cert_file, e.to_string()))?;
    let new_der = issue::self_signed_ca(&CertPlan { subject, sans: vec![], validity: Validity::cfssl(now, na - nb) }, path_len, &key)
        .map_err(|e| file_error(&cert_file, e.to_string()))?;
    let new_parsed = cert::parse(&new_der).map_err(SetError::CaCert)?;
    if new_parsed.subject().as_raw() != old_parsed.subject().as_raw() {
        return Err(file_error(&cert_file, issue::IssueError::IssuerName.to_string()));
    }
    drop(new_parsed);
    let new_pem = pem_encode("CERTIFICATE", &new_der);
    let bundle_pem = format!("{new_pem}{}", pem_encode("CERTIFICATE", old.cert_der()));
    let mut out = vec![
        OutFile::secret(format!("{ca_stem}-key.pem"), new_ca_key_pem(&key)?.as_bytes()),
        OutFile::public(&cert_file, new_pem.as_bytes()),
        OutFile::public(&bundle, bundle_pem.as_bytes()),
    ];
    let mut rows = vec![
        Row::file(format!("{ca_stem}-key.pem"), Action::Replace, "rotation: new CA key"),
        Row { file: cert_file.clone(), action: Action::Replace, reason: "rotation: new CA".into(), subject: cert::name_attr(old_parsed.subject(), &x509_parser::oid_registry::OID_X509_COMMON_NAME).unwrap_or_default(), expires: cert::rfc3339(cert::validity(&cert::parse(&new_der).map_err(SetError::CaCert)?).1) },
        Row::file(&bundle, if files.contains_key(&bundle) { Action::Replace } else { Action::Create }, "rotation: trust bundle (new CA, then old)"),
    ];
    let new_ca = Ca::new(new_der, key).map_err(|e| file_error(&cert_file, e.to_string()))?;
    // The record: the old CA's subject and key endorsed by the new CA, so
    // that only this rotation's bundle is ever trusted (see check::bundle_endorsed).
    let endorsement = issue::endorse(old.cert_der(), &new_ca, now).map_err(|e| file_error(&cert_file, e.to_string()))?;
    let record = rotation_file(ca_stem);
    out.push(OutFile::public(&record, pem_encode("CERTIFICATE", &endorsement).as_bytes()));
    rows.push(Row::file(&record, if files.contains_key(&record) { Action::Replace } else { Action::Create }, "rotation: the old CA endorsed by the new"));
    // Every leaf the old CA signed, with its key beside it, is re-issued.
    let mut swaps: Vec<(Vec<u8>, Vec<u8>)> = vec![(old_pem.clone(), bundle_pem.as_bytes().to_vec())];
    let mut keyless = Vec::new();
    for (name, pem) in files.iter().filter(|(n, _)| n.ends_with(".pem") && !n.ends_with("-key.pem")) {
        let stem = name.trim_end_matches(".pem");
        if cas.contains_key(stem) || name == &bundle || *name == rotation_file(ca_stem) {
            continue;
        }
        let Ok(der) = cert::cert_from_pem(pem) else { continue };
        let Ok(c) = cert::parse(&der) else { continue };
        if c.is_ca() || super::check::chain(&c, &old_parsed).is_err() {
            continue;
        }
        if !files.contains_key(&format!("{stem}-key.pem")) {
            keyless.push(name.clone());
            continue;
        }
        reissue(files, stem, &new_ca, false, now, &mut out, &mut rows, &mut swaps)?;
    }
    if !keyless.is_empty() {
        return Err(file_error(&cert_file, format!("{} signed by this CA without its key beside it; a rotation re-issues every leaf: move them away or put their keys beside them", keyless.join(", "))));
    }
    update_kubeconfigs(files, &swaps, &mut out, &mut rows)?;
    Ok((out, rows))
}

/// Finishes a rotation of `<ca_stem>`: the bundle holds only the new CA and
/// kubeconfigs trust only it. Refused while a leaf is still signed by the
/// old CA.
pub fn finish_rotation(files: &BTreeMap<String, Vec<u8>>, ca_stem: &str) -> Result<(Vec<OutFile>, Vec<Row>), SetError> {
    let cert_file = format!("{ca_stem}.pem");
    let bundle = bundle_file(ca_stem);
    let ca_pem = files.get(&cert_file).ok_or_else(|| file_error(&cert_file, "missing"))?;
    let ca_der = cert::cert_from_pem(ca_pem).map_err(|e| file_error(&cert_file, e.to_string()))?;
    let bundle_pem = files.get(&bundle).ok_or_else(|| file_error(&bundle, "missing: no rotation of this CA was started"))?;
    let certs = bundle_certs(bundle_pem);
    if certs.len() < 2 {
        return Err(file_error(&bundle, "holds one CA: no rotation is in progress"));
    }
    if !certs.iter().any(|c| c.as_slice() == ca_der.as_ref()) {
        return Err(file_error(&bundle, format!("does not hold the current {cert_file}; it was not written by a kpki rotation of this CA")));
    }
    // No leaf may still depend on an old CA of the bundle.
    let old: Vec<Vec<u8>> = certs.into_iter().filter(|c| c.as_slice() != ca_der.as_ref()).collect();
    for (name, pem) in files.iter().filter(|(n, _)| n.ends_with(".pem") && !n.ends_with("-key.pem") && **n != bundle) {
        let Ok(der) = cert::cert_from_pem(pem) else { continue };
        let Ok(c) = cert::parse(&der) else { continue };
        if c.is_ca() {
            continue;
        }
        for o in &old {
            let Ok(op) = cert::parse(o) else { continue };
            if super::check::chain(&c, &op).is_ok() {
                return Err(file_error(name, "is still signed by the old CA, which renew cannot sign with any more: re-issue it (bootstrap does for the set's files) or move it away"));
            }
        }
    }
    // Nor a client certificate a kubeconfig embeds (a user's from `kubeconfig user`).
    for (name, bytes) in files.iter().filter(|(n, _)| n.ends_with(".kubeconfig")) {
        let Ok(view) = super::files::Kubeconfig::from_yaml(bytes).map_err(|e| e.to_string()).and_then(|k| k.current().map_err(|e| e.to_string())) else { continue };
        let Some(der) = view.cert.as_deref().and_then(|c| cert::cert_from_pem(c).ok()) else { continue };
        let Ok(c) = cert::parse(&der) else { continue };
        if old.iter().filter_map(|o| cert::parse(o).ok()).any(|op| super::check::chain(&c, &op).is_ok()) {
            return Err(file_error(name, "its client certificate is still signed by the old CA; issue it again (kpki kubeconfig user --force) or move it away"));
        }
    }
    let mut out = vec![OutFile::public(&bundle, ca_pem.as_slice())];
    let mut rows = vec![Row::file(&bundle, Action::Replace, "rotation finished: the new CA only")];
    update_kubeconfigs(files, &[(bundle_pem.clone(), ca_pem.clone())], &mut out, &mut rows)?;
    Ok((out, rows))
}
