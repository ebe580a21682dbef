//! Issuing the whole set from a plan, given what the output directory
//! already holds (passed in as data): the CA and keys that exist are kept
//! (unless forced), and only certificates that are missing or no longer
//! match the plan are issued. Keys are generated in parallel.

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::check;
use super::files;
use super::plan::{CertSpec, Plan, Role, ENCRYPTION_FILE, INVENTORY_FILE, PLAN_FILE};
use crate::output::OutFile;
use crate::pki::cert;
use crate::pki::issue::{self, Ca, CertPlan, SubjectKey, Validity};
use crate::pki::key::{pem_encode, KeyAlgo, KeyFormat, PrivateKey};
use crate::pki::profile::Profile;
use crate::pki::request::parse_hosts;
use crate::provision::Inventory;

/// What happens to a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Replace,
    Keep,
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub file: String,
    pub action: Action,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subject: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub expires: String,
}

impl Row {
    /// A row for a file with no subject or expiry (keys, kubeconfigs, records).
    pub fn file(file: impl Into<String>, action: Action, reason: impl Into<String>) -> Self {
        Row { file: file.into(), action, reason: reason.into(), subject: String::new(), expires: String::new() }
    }
}

/// Files to write and the report.
pub struct Outcome {
    pub files: Vec<OutFile>,
    pub rows: Vec<Row>,
}

/// Why the set cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{0}")]
    Other(String),
}

fn ferr(file: &str, message: impl Into<String>) -> SetError {
    SetError::File { file: file.to_string(), message: message.into() }
}

/// The relevant files already in the output directory, by name.
pub type Existing = BTreeMap<String, Vec<u8>>;

/// The file names `build` looks at for a plan.
pub fn relevant_files(plan: &Plan) -> Vec<String> {
    let mut v: Vec<String> = plan.certs.iter().flat_map(|c| [c.cert_file(), c.key_file()]).collect();
    v.extend(plan.kubeconfigs.iter().map(|k| k.file.clone()));
    v.extend([ENCRYPTION_FILE.to_string(), PLAN_FILE.to_string(), INVENTORY_FILE.to_string()]);
    v
}

enum KeySource {
    Existing(PrivateKey),
    New(KeyAlgo),
}

struct Work<'a> {
    spec: &'a CertSpec,
    key: KeySource,
    /// Why the certificate is (re)issued; `None` keeps it.
    issue: Option<(Action, String)>,
}

/// How the CA key is protected at rest.
#[derive(Clone, Copy, Default)]
pub struct CaKeyProtection<'a> {
    /// The passphrase of an encrypted `ca-key.pem`, or for a new one.
    pub passphrase: Option<&'a [u8]>,
    /// Write a new CA key encrypted under `passphrase`.
    pub encrypt: bool,
}

/// Decides and, unless `dry_run`, issues everything. `now` sets validity.
pub fn build(
    plan: &Plan,
    inventory: &Inventory,
    existing: &Existing,
    now: OffsetDateTime,
    force: bool,
    dry_run: bool,
    protection: CaKeyProtection<'_>,
) -> Result<Outcome, SetError> {
    let ca_spec = plan.ca().ok_or_else(|| SetError::Other("the plan has no CA".into()))?;
    // Decide per certificate: key source and whether to issue.
    let mut work: Vec<Work<'_>> = Vec::new();
    let mut ca_changes = false;
    for spec in std::iter::once(ca_spec).chain(plan.certs.iter().filter(|c| c.role != Role::Ca)) {
        let algo = spec.algo().map_err(|m| ferr(&spec.key_file(), m))?;
        let key = match (force, existing.get(&spec.key_file())) {
            (false, Some(pem)) => {
                let pass = if spec.role == Role::Ca { protection.passphrase } else { None };
                if PrivateKey::is_encrypted_pem(pem) && pass.is_none() {
                    return Err(ferr(&spec.key_file(), "the key is encrypted; give its passphrase with --ca-key-passphrase-file, --ca-key-passphrase-env or KPKI_CA_KEY_PASSPHRASE"));
                }
                let k = PrivateKey::from_pem_with_passphrase(pem, pass).map_err(|e| match e {
                    crate::pki::key::KeyError::WrongPassphrase => ferr(&spec.key_file(), e.to_string()),
                    _ => ferr(&spec.key_file(), format!("{e}; fix or remove it, or pass --force to replace the whole set")),
                })?;
                if k.algo() != algo {
                    return Err(ferr(
                        &spec.key_file(),
                        format!("the key is {} but the config asks for {}; pass --force to make new keys", k.algo().name(), algo.name()),
                    ));
                }
                KeySource::Existing(k)
            }
            (false, None) if spec.role == Role::Ca && existing.contains_key(&spec.cert_file()) => {
                return Err(ferr(
                    &spec.cert_file(),
                    "the CA certificate exists but ca-key.pem does not; restore the CA key, or pass --force to make a new CA and re-issue everything",
                ));
            }
            _ => KeySource::New(algo),
        };
        let issue = match (&key, existing.get(&spec.cert_file())) {
            (KeySource::New(_), Some(_)) => Some((Action::Replace, if force { "--force".into() } else { "new key".into() })),
            (KeySource::New(_), None) => Some((Action::Create, String::new())),
            (KeySource::Existing(_), None) => Some((Action::Create, String::new())),
            (KeySource::Existing(k), Some(pem)) => {
                // A leaf is checked against the CA certificate that stays; when
                // the CA certificate is re-issued, every leaf is re-issued too.
                let ca_pem = if spec.role == Role::Ca { Some(pem) } else { existing.get(&ca_spec.cert_file()).filter(|_| !ca_changes) };
                stale(spec, pem, k, ca_pem.map(Vec::as_slice), now).map(|reason| (Action::Replace, reason))
            }
        };
        if spec.role == Role::Ca && issue.is_some() {
            ca_changes = true;
        }
        work.push(Work { spec, key, issue });
    }
    // A new CA key means every leaf must be re-issued.
    let new_ca_key = matches!(work[0].key, KeySource::New(_));
    if new_ca_key {
        for w in work.iter_mut().skip(1) {
            if w.issue.is_none() {
                w.issue = Some((Action::Replace, "new CA".into()));
            }
        }
    }

    let mut rows: Vec<Row> = Vec::new();
    let mut out: Vec<OutFile> = Vec::new();
    if dry_run {
        for w in &work {
            let (action, reason) = w.issue.clone().unwrap_or((Action::Keep, String::new()));
            let key_action = match &w.key {
                KeySource::New(_) if existing.contains_key(&w.spec.key_file()) => Action::Replace,
                KeySource::New(_) => Action::Create,
                KeySource::Existing(_) => Action::Keep,
            };
            rows.push(Row::file(w.spec.key_file(), key_action, String::new()));
            rows.push(Row { file: w.spec.cert_file(), action, reason, subject: w.spec.cn.clone(), expires: String::new() });
        }
        for name in plan.kubeconfigs.iter().map(|k| k.file.clone()).chain([ENCRYPTION_FILE.into(), PLAN_FILE.into(), INVENTORY_FILE.into()]) {
            let action = if existing.contains_key(&name) { Action::Keep } else { Action::Create };
            let reason = if action == Action::Keep { "may be rewritten when an embedded certificate changes".into() } else { String::new() };
            rows.push(Row::file(name, action, reason));
        }
        return Ok(Outcome { files: vec![], rows });
    }

    // Key generation dominates an RSA set: all new keys of one algorithm are
    // made together, RSA keys from one pool of prime searches on every core.
    let mut by_algo: BTreeMap<KeyAlgo, Vec<usize>> = BTreeMap::new();
    for (i, w) in work.iter().enumerate() {
        if let KeySource::New(a) = w.key {
            by_algo.entry(a).or_default().push(i);
        }
    }
    let mut keys: BTreeMap<usize, PrivateKey> = BTreeMap::new();
    for (algo, slots) in by_algo {
        let made = PrivateKey::generate_many(algo, slots.len()).map_err(|e| SetError::Other(e.to_string()))?;
        keys.extend(slots.into_iter().zip(made));
    }
    let mut final_keys: Vec<PrivateKey> = Vec::with_capacity(work.len());
    let mut issue_info: Vec<Option<(Action, String)>> = Vec::with_capacity(work.len());
    for (i, w) in work.into_iter().enumerate() {
        let was_new = matches!(w.key, KeySource::New(_));
        let key = match w.key {
            KeySource::Existing(k) => k,
            KeySource::New(_) => keys.remove(&i).ok_or_else(|| SetError::Other("a key was not generated".into()))?,
        };
        if was_new {
            let action = if existing.contains_key(&w.spec.key_file()) { Action::Replace } else { Action::Create };
            let pem = match (w.spec.role, protection.encrypt, protection.passphrase) {
                (Role::Ca, true, Some(pass)) => key.to_encrypted_pem(pass),
                (Role::Ca, true, None) => return Err(SetError::Other("encrypting the CA key needs a passphrase".into())),
                _ => key.to_pem(KeyFormat::Cfssl),
            }
            .map_err(|e| SetError::Other(e.to_string()))?;
            out.push(OutFile::secret(w.spec.key_file(), pem.as_bytes()));
            rows.push(Row::file(w.spec.key_file(), action, String::new()));
        }
        final_keys.push(key);
        issue_info.push(w.issue);
    }

    // The CA first, then the leaves.
    let specs: Vec<&CertSpec> = std::iter::once(ca_spec).chain(plan.certs.iter().filter(|c| c.role != Role::Ca)).collect();
    let mut cert_pems: BTreeMap<String, String> = BTreeMap::new();
    let ca_key = final_keys.remove(0);
    let ca_issue = issue_info.remove(0);
    let ca_der: Vec<u8> = match &ca_issue {
        Some(_) => {
            let plan_ca = CertPlan {
                subject: ca_spec.subject().to_dn(),
                sans: vec![],
                validity: Validity::cfssl(now, Duration::hours(ca_spec.validity_hours)),
            };
            issue::self_signed_ca(&plan_ca, None, &ca_key).map_err(|e| ferr(&ca_spec.cert_file(), e.to_string()))?
        }
        None => {
            let pem = existing.get(&ca_spec.cert_file()).ok_or_else(|| ferr(&ca_spec.cert_file(), "missing"))?;
            cert::cert_from_pem(pem).map_err(|e| ferr(&ca_spec.cert_file(), e.to_string()))?.to_vec()
        }
    };
    let ca_pem = pem_encode("CERTIFICATE", &ca_der);
    push_cert(&mut out, &mut rows, ca_spec, &ca_pem, &ca_der, ca_issue)?;
    cert_pems.insert(ca_spec.stem.clone(), ca_pem.clone());
    let ca = Ca::new(ca_der, ca_key).map_err(|e| ferr(&ca_spec.cert_file(), e.to_string()))?;
    let mut key_pems: BTreeMap<String, Zeroizing<String>> = BTreeMap::new();
    for ((spec, key), issue_) in specs.iter().skip(1).zip(final_keys.iter()).zip(issue_info) {
        let der = match &issue_ {
            Some(_) => {
                let sans = parse_hosts(&spec.sans).map_err(|e| ferr(&spec.cert_file(), e.to_string()))?;
                let names: Vec<&str> = spec.usages.iter().map(String::as_str).collect();
                let profile = Profile::from_usages(&names, Duration::hours(spec.validity_hours)).map_err(|m| ferr(&spec.cert_file(), m))?;
                let cp = CertPlan { subject: spec.subject().to_dn(), sans, validity: Validity::cfssl(now, profile.expiry) };
                let issued = issue::sign(&cp, &SubjectKey::of(key), &profile, &ca).map_err(|e| ferr(&spec.cert_file(), e.to_string()))?;
                issued.der
            }
            None => {
                let pem = existing.get(&spec.cert_file()).ok_or_else(|| ferr(&spec.cert_file(), "missing"))?;
                cert::cert_from_pem(pem).map_err(|e| ferr(&spec.cert_file(), e.to_string()))?.to_vec()
            }
        };
        let pem = pem_encode("CERTIFICATE", &der);
        push_cert(&mut out, &mut rows, spec, &pem, &der, issue_)?;
        cert_pems.insert(spec.stem.clone(), pem);
        key_pems.insert(spec.stem.clone(), key.to_pem(KeyFormat::Cfssl).map_err(|e| SetError::Other(e.to_string()))?);
    }

    for k in &plan.kubeconfigs {
        let (Some(cert_pem), Some(key_pem)) = (cert_pems.get(&k.stem), key_pems.get(&k.stem)) else {
            return Err(ferr(&k.file, format!("the plan has no certificate {}", k.stem)));
        };
        let text = files::Kubeconfig::new(&plan.cluster, &k.server, &ca_pem, &k.user, cert_pem, key_pem).to_yaml();
        push_if_changed(&mut out, &mut rows, existing, &k.file, text.as_bytes(), true, "embedded certificate or server changed");
    }

    match existing.get(ENCRYPTION_FILE) {
        Some(text) => match files::EncryptionConfiguration::check(text) {
            Ok(_) => rows.push(Row::file(ENCRYPTION_FILE, Action::Keep, String::new())),
            Err(e) if force => {
                out.push(OutFile::secret(ENCRYPTION_FILE, new_encryption_config()?.as_bytes()));
                rows.push(Row::file(ENCRYPTION_FILE, Action::Replace, e.to_string()));
            }
            Err(e) => {
                return Err(ferr(
                    ENCRYPTION_FILE,
                    format!("{e}; fix it, or move it away and run bootstrap again for a new one (secrets encrypted with its key become unreadable; --force would also make a new CA and keys)"),
                ))
            }
        },
        None => {
            out.push(OutFile::secret(ENCRYPTION_FILE, new_encryption_config()?.as_bytes()));
            rows.push(Row::file(ENCRYPTION_FILE, Action::Create, String::new()));
        }
    }
    let plan_json = serde_json::to_string_pretty(plan).map_err(|e| SetError::Other(e.to_string()))? + "\n";
    push_if_changed(&mut out, &mut rows, existing, PLAN_FILE, plan_json.as_bytes(), false, "plan changed");
    let inv_json = serde_json::to_string_pretty(inventory).map_err(|e| SetError::Other(e.to_string()))? + "\n";
    push_if_changed(&mut out, &mut rows, existing, INVENTORY_FILE, inv_json.as_bytes(), false, "addresses changed");
    Ok(Outcome { files: out, rows })
}

fn new_encryption_config() -> Result<Zeroizing<String>, SetError> {
    let mut key = Zeroizing::new([0u8; files::AESCBC_KEY_LEN]);
    aws_lc_rs::rand::fill(key.as_mut()).map_err(|_| SetError::Other("the random number generator failed".into()))?;
    Ok(files::EncryptionConfiguration::new(&key).to_yaml())
}

fn push_cert(out: &mut Vec<OutFile>, rows: &mut Vec<Row>, spec: &CertSpec, pem: &str, der: &[u8], issue_: Option<(Action, String)>) -> Result<(), SetError> {
    let parsed = cert::parse(der).map_err(|e| ferr(&spec.cert_file(), e.to_string()))?;
    let expires = cert::rfc3339(cert::validity(&parsed).1);
    let (action, reason) = match issue_ {
        Some((a, r)) => {
            out.push(OutFile::public(spec.cert_file(), pem.as_bytes()));
            (a, r)
        }
        None => (Action::Keep, String::new()),
    };
    rows.push(Row { file: spec.cert_file(), action, reason, subject: spec.cn.clone(), expires });
    Ok(())
}

fn push_if_changed(out: &mut Vec<OutFile>, rows: &mut Vec<Row>, existing: &Existing, name: &str, contents: &[u8], private: bool, why: &str) {
    let (action, reason) = match existing.get(name) {
        Some(old) if old.as_slice() == contents => (Action::Keep, String::new()),
        Some(_) => (Action::Replace, why.to_string()),
        None => (Action::Create, String::new()),
    };
    if action != Action::Keep {
        out.push(if private { OutFile::private(name, contents) } else { OutFile::public(name, contents) });
    }
    rows.push(Row::file(name, action, reason));
}

/// Why an existing certificate must be re-issued, or `None` to keep it.
fn stale(spec: &CertSpec, pem: &[u8], key: &PrivateKey, ca_pem: Option<&[u8]>, now: OffsetDateTime) -> Option<String> {
    let der = match cert::cert_from_pem(pem) {
        Ok(d) => d,
        Err(e) => return Some(format!("unreadable ({e})")),
    };
    let c = match cert::parse(&der) {
        Ok(c) => c,
        Err(e) => return Some(format!("unreadable ({e})")),
    };
    if c.public_key().subject_public_key.data.as_ref() != key.public_key_bits() {
        return Some("does not match its key".into());
    }
    let Some(ca_pem) = ca_pem else { return Some("CA changed".into()) };
    let ca_der = match cert::cert_from_pem(ca_pem) {
        Ok(d) => d,
        Err(_) => return Some("CA unreadable".into()),
    };
    let Ok(ca) = cert::parse(&ca_der) else { return Some("CA unreadable".into()) };
    if let Err(m) = check::chain(&c, &ca) {
        return Some(m);
    }
    match check::expiry(&c, now) {
        (Some(m), _) | (None, Some(m)) => return Some(m),
        _ => {}
    }
    let findings = check::matches_spec(&c, spec);
    findings.into_iter().next()
}
