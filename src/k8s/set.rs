//! The whole set from a plan, in two steps. [`decide`] looks at what the
//! output directory already holds (passed in as data) and says, for every
//! file, whether it is created, replaced or kept and why: the CA and keys
//! that exist are kept (unless forced), and only certificates that are
//! missing or no longer match the plan are issued. It has no side effects;
//! `--dry-run`, the report and `--output json` render its decisions.
//! [`apply`] carries them out: it makes the new keys (in parallel), issues,
//! and returns exactly the files the decisions say are written, as values.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::check;
use super::files;
use super::plan::{CertSpec, Plan, Role, ENCRYPTION_FILE, INVENTORY_FILE, PLAN_FILE};
use crate::model::file::OutFile;
use crate::model::inventory::Inventory;
use crate::pki::cert;
use crate::pki::issue::{self, Ca, CertPlan, SubjectKey, Validity};
use crate::pki::key::{pem_encode, KeyAlgo, KeyError, KeyFormat, PrivateKey};
use crate::pki::profile::Profile;
use crate::pki::host;
use crate::pki::signer::CaKey;

/// What happens to a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new file.
    Create,
    /// A file that exists is written over.
    Replace,
    /// The file stays as it is.
    Keep,
}

/// What becomes of one file, and why: one row of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The file's name in the output directory.
    pub file: String,
    /// What happens to it.
    pub action: Action,
    /// Why it is replaced (empty otherwise).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A certificate's CN.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// A certificate's NotAfter (RFC 3339).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub expires: String,
}

impl Row {
    /// A row for a file with no subject or expiry (keys, kubeconfigs, records).
    pub fn file(file: impl Into<String>, action: Action, reason: impl Into<String>) -> Self {
        Row { file: file.into(), action, reason: reason.into(), subject: String::new(), expires: String::new() }
    }
}

/// Why the set cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    /// A file of the set is at fault (named relative to the output directory).
    #[error("{file}: {message}")]
    File {
        /// The file's name in the output directory.
        file: String,
        /// What is wrong with it.
        message: String,
    },
    /// The CA certificate cannot be read.
    #[error("the CA certificate: {0}")]
    CaCert(#[source] cert::CertError),
    /// The plan has no CA certificate.
    #[error("the plan has no CA")]
    NoCa,
    /// Making keys failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The system's random number generator failed.
    #[error("the random number generator failed")]
    Random,
    /// A record could not be serialised.
    #[error("{0}: {1}")]
    Record(&'static str, serde_json::Error),
}

fn file_error(file: &str, message: impl Into<String>) -> SetError {
    SetError::File { file: file.to_string(), message: message.into() }
}

/// The relevant files already in the output directory, by name.
pub type Existing = BTreeMap<String, Vec<u8>>;

/// The file names `decide` looks at for a plan.
pub fn relevant_files(plan: &Plan) -> Vec<String> {
    let mut v: Vec<String> = plan.certs.iter().flat_map(|c| [c.cert_file(), c.key_file()]).collect();
    v.extend(plan.certs.iter().filter(|c| c.role.is_ca()).flat_map(|c| [c.bundle_file(), c.rotation_file()]));
    v.extend(plan.kubeconfigs.iter().map(|k| k.file.clone()));
    v.extend([ENCRYPTION_FILE.to_string(), PLAN_FILE.to_string(), INVENTORY_FILE.to_string()]);
    v
}

/// How the CA key is protected at rest.
#[derive(Clone, Copy, Default)]
pub struct CaKeyProtection<'a> {
    /// The passphrase of an encrypted `ca-key.pem`, or for a new one.
    pub passphrase: Option<&'a [u8]>,
    /// Write a new CA key encrypted under `passphrase`.
    pub encrypt: bool,
}

/// What [`apply`] does for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// The key of the certificate at this index of [`Decisions::order`].
    Key(usize),
    /// The certificate at this index of [`Decisions::order`].
    Cert(usize),
    /// The kubeconfig at this index of the plan's kubeconfigs, embedding the
    /// certificate at the second index of [`Decisions::order`].
    Kubeconfig(usize, usize),
    /// The trust bundle of the CA at this index of [`Decisions::order`], when
    /// one exists: rewritten as the CA alone when the CA is re-issued.
    Bundle(usize),
    /// A new encryption config (only ever created or replaced, never rewritten).
    EncryptionConfig,
    /// `plan.json` or `inventory.json`, rendered by `decide`.
    Record,
}

/// One file's fate.
#[derive(Debug)]
pub struct Decision {
    /// The report's row for the file.
    pub row: Row,
    kind: Kind,
}

impl Decision {
    /// Whether the file is written.
    pub fn writes(&self) -> bool {
        self.row.action != Action::Keep
    }
}

/// Everything `decide` found, in the order of the report: per certificate
/// its key then itself (the CA first), then the kubeconfigs, the
/// encryption config, `plan.json` and `inventory.json`.
pub struct Decisions<'p> {
    decisions: Vec<Decision>,
    plan: &'p Plan,
    /// The certificates: the CAs first (the cluster CA at 0), then the leaves.
    order: Vec<&'p CertSpec>,
    /// Each certificate's CA, by index of `order`.
    issuer: Vec<usize>,
    /// The existing keys that are kept, by index of `order`.
    kept_keys: BTreeMap<usize, PrivateKey>,
    /// The cluster CA's key when it is in a store (no `ca-key.pem`).
    store_ca: Option<CaKey>,
    /// Rendered records (plan.json, inventory.json) by file name.
    records: BTreeMap<&'static str, String>,
    now: OffsetDateTime,
}

impl Decisions<'_> {
    /// The report rows.
    pub fn rows(&self) -> Vec<Row> {
        self.decisions.iter().map(|d| d.row.clone()).collect()
    }
}

/// Decides, for every file of the set, what a run does: no key is made and
/// nothing is written. `now` is the moment of issue for new certificates.
/// With `store_ca`, the cluster CA's key is in a key store: no `ca-key.pem`
/// is read or written, and an existing `ca.pem` is kept only when it
/// certifies the store's key.
pub fn decide<'p>(
    plan: &'p Plan,
    inventory: &Inventory,
    existing: &Existing,
    now: OffsetDateTime,
    force: bool,
    ca_passphrase: Option<&[u8]>,
    store_ca: Option<CaKey>,
) -> Result<Decisions<'p>, SetError> {
    let ca_spec = plan.ca().ok_or(SetError::NoCa)?;
    // The CAs first (the cluster CA at 0), then the leaves.
    let order: Vec<&CertSpec> = std::iter::once(ca_spec)
        .chain(plan.certs.iter().filter(|c| c.role.is_ca() && c.role != Role::Ca))
        .chain(plan.certs.iter().filter(|c| !c.role.is_ca()))
        .collect();
    let by_stem: std::collections::HashMap<&str, usize> = order.iter().enumerate().map(|(i, c)| (c.stem.as_str(), i)).collect();
    // Each certificate's CA, by index of `order` (a CA's is itself).
    let issuer: Vec<usize> = order
        .iter()
        .map(|c| by_stem.get(c.issuer_stem()).copied().filter(|&i| order[i].role.is_ca()))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| file_error(PLAN_FILE, "a certificate's issuer is not a CA of the plan"))?;
    let mut decisions = Vec::new();
    let mut kept_keys = BTreeMap::new();
    // Whether each certificate of `order` stays as it is.
    let mut cert_kept: Vec<bool> = Vec::with_capacity(order.len());
    // Each certificate's NotAfter: a leaf's validity is clamped to its CA's.
    let mut not_afters: Vec<Option<OffsetDateTime>> = Vec::with_capacity(order.len());
    for (i, spec) in order.iter().enumerate() {
        let is_ca = spec.role.is_ca();
        let algo = spec.key_algo;
        let key_file = spec.key_file();
        if let (0, Some(store)) = (i, &store_ca) {
            // The cluster CA's key is in a store: only its certificate is a file.
            let (action, reason) = match existing.get(&spec.cert_file()) {
                None => (Action::Create, String::new()),
                Some(pem) => match stale(spec, pem, store.public_key_bits(), Some(pem), now) {
                    None => (Action::Keep, String::new()),
                    Some(why) if why == KEY_MISMATCH && !force => {
                        return Err(file_error(
                            &spec.cert_file(),
                            format!(
                                "the CA certificate is for another key than {}; pass --force to make a new CA certificate for the store's key and re-issue everything",
                                store.store_uri().unwrap_or("the store key")
                            ),
                        ))
                    }
                    Some(why) => (Action::Replace, if force { "--force".to_string() } else { why }),
                },
            };
            let action = if force && action == Action::Keep { Action::Replace } else { action };
            let reason = if force && reason.is_empty() && action == Action::Replace { "--force".to_string() } else { reason };
            cert_kept.push(action == Action::Keep);
            let expires = match action {
                Action::Keep => existing.get(&spec.cert_file()).and_then(|pem| not_after(pem)),
                _ => Some(Validity::cfssl(now, time::Duration::hours(spec.validity_hours)).not_after),
            };
            not_afters.push(expires);
            decisions.push(Decision {
                row: Row { file: spec.cert_file(), action, reason, subject: spec.cn.clone(), expires: expires.map(cert::rfc3339).unwrap_or_default() },
                kind: Kind::Cert(i),
            });
            continue;
        }
        let kept = match (force, existing.get(&key_file)) {
            (false, Some(pem)) => {
                let pass = if is_ca { ca_passphrase } else { None };
                Some(load_key(&key_file, pem, pass, algo)?)
            }
            (false, None) if is_ca && existing.contains_key(&spec.cert_file()) => {
                return Err(file_error(
                    &spec.cert_file(),
                    format!(
                        "the CA certificate exists but {key_file} does not; restore the CA key, or pass --force to make a new CA and re-issue everything"
                    ),
                ));
            }
            _ => None,
        };
        let key_row = match (&kept, existing.contains_key(&key_file)) {
            (Some(_), _) => Row::file(&key_file, Action::Keep, ""),
            (None, true) => Row::file(&key_file, Action::Replace, if force { "--force" } else { "" }),
            (None, false) => Row::file(&key_file, Action::Create, ""),
        };
        let (action, reason) = match (&kept, existing.get(&spec.cert_file())) {
            (None, Some(_)) => (Action::Replace, if force { "--force".to_string() } else { "new key".to_string() }),
            (_, None) => (Action::Create, String::new()),
            (Some(key), Some(pem)) => {
                // A leaf of a re-issued CA gets no CA to be checked against,
                // so `stale` says "CA changed" (and a new CA key always means
                // a re-issued CA).
                let ca_pem = if is_ca {
                    Some(pem)
                } else if !cert_kept[issuer[i]] {
                    None
                } else {
                    existing.get(&order[issuer[i]].cert_file())
                };
                match stale(spec, pem, key.public_key_bits(), ca_pem.map(Vec::as_slice), now) {
                    Some(reason) => (Action::Replace, reason),
                    None => (Action::Keep, String::new()),
                }
            }
        };
        cert_kept.push(action == Action::Keep);
        let expires = match action {
            Action::Keep => existing.get(&spec.cert_file()).and_then(|pem| not_after(pem)),
            _ => {
                let wanted = Validity::cfssl(now, time::Duration::hours(spec.validity_hours)).not_after;
                Some(match (is_ca, not_afters.get(issuer[i]).copied().flatten()) {
                    (false, Some(ca_end)) => wanted.min(ca_end),
                    _ => wanted,
                })
            }
        };
        not_afters.push(expires);
        decisions.push(Decision { row: key_row, kind: Kind::Key(i) });
        decisions.push(Decision {
            row: Row { file: spec.cert_file(), action, reason, subject: spec.cn.clone(), expires: expires.map(cert::rfc3339).unwrap_or_default() },
            kind: Kind::Cert(i),
        });
        if let Some(k) = kept {
            kept_keys.insert(i, k);
        }
    }

    // A kubeconfig embeds the CA, its certificate and its key: when all three
    // stay, it is rendered now and compared, so the decision is exact.
    for (i, k) in plan.kubeconfigs.iter().enumerate() {
        let Some(&idx) = by_stem.get(k.stem.as_str()) else {
            return Err(file_error(&k.file, format!("the plan has no certificate {}", k.stem)));
        };
        let spec = order[idx];
        let ca_idx = issuer[idx];
        let old = existing.get(&k.file);
        let row = if old.is_none() {
            Row::file(&k.file, Action::Create, "")
        } else if cert_kept[ca_idx] && cert_kept[idx] && kept_keys.contains_key(&idx) {
            let render = || -> Option<Zeroizing<String>> {
                let ca_pem = pem_encode("CERTIFICATE", &cert::cert_from_pem(existing.get(&order[ca_idx].cert_file())?).ok()?);
                let ca_pem = trust_pem(existing, order[ca_idx], &ca_pem);
                let cert_pem = pem_encode("CERTIFICATE", &cert::cert_from_pem(existing.get(&spec.cert_file())?).ok()?);
                let key_pem = kept_keys.get(&idx)?.to_pem(KeyFormat::Cfssl).ok()?;
                Some(files::Kubeconfig::new(&plan.cluster, &k.server, &ca_pem, &k.user, &cert_pem, &key_pem).to_yaml())
            };
            match (render(), old) {
                (Some(text), Some(o)) if o.as_slice() == text.as_bytes() => Row::file(&k.file, Action::Keep, ""),
                (_, Some(o)) if files::Kubeconfig::from_yaml(o).is_err() => Row::file(&k.file, Action::Replace, "unreadable"),
                _ => Row::file(&k.file, Action::Replace, "differs from what the plan renders (server, user, cluster name or encoding)"),
            }
        } else {
            Row::file(&k.file, Action::Replace, "embedded certificate changed")
        };
        decisions.push(Decision { row, kind: Kind::Kubeconfig(i, idx) });
    }

    // A CA's trust bundle (left by a rotation) follows its CA: a new CA makes
    // any bundle stale, so it becomes the new CA alone.
    for (i, spec) in order.iter().enumerate().filter(|(_, c)| c.role.is_ca()) {
        if existing.contains_key(&spec.bundle_file()) {
            let row = if cert_kept[i] {
                Row::file(spec.bundle_file(), Action::Keep, "")
            } else {
                Row::file(spec.bundle_file(), Action::Replace, "CA changed: the bundle holds the new CA alone")
            };
            decisions.push(Decision { row, kind: Kind::Bundle(i) });
        }
    }

    let encryption = match existing.get(ENCRYPTION_FILE) {
        None => Row::file(ENCRYPTION_FILE, Action::Create, ""),
        Some(text) => match files::EncryptionConfiguration::check(text) {
            Ok(_) => Row::file(ENCRYPTION_FILE, Action::Keep, ""),
            Err(e) if force => Row::file(ENCRYPTION_FILE, Action::Replace, e.to_string()),
            Err(e) => {
                return Err(file_error(
                    ENCRYPTION_FILE,
                    format!("{e}; fix it, or move it away and run bootstrap again for a new one (secrets encrypted with its key become unreadable; --force would also make a new CA and keys)"),
                ))
            }
        },
    };
    decisions.push(Decision { row: encryption, kind: Kind::EncryptionConfig });

    let mut records = BTreeMap::new();
    let plan_json = serde_json::to_string_pretty(plan).map_err(|e| SetError::Record(PLAN_FILE, e))? + "\n";
    let inventory_json = serde_json::to_string_pretty(inventory).map_err(|e| SetError::Record(INVENTORY_FILE, e))? + "\n";
    for (name, text, why) in [(PLAN_FILE, plan_json, "plan changed"), (INVENTORY_FILE, inventory_json, "addresses changed")] {
        let row = match existing.get(name) {
            Some(old) if old.as_slice() == text.as_bytes() => Row::file(name, Action::Keep, ""),
            Some(_) => Row::file(name, Action::Replace, why),
            None => Row::file(name, Action::Create, ""),
        };
        decisions.push(Decision { row, kind: Kind::Record });
        records.insert(name, text);
    }
    Ok(Decisions { decisions, plan, order, issuer, kept_keys, store_ca, records, now })
}

/// Reads an existing key: it must decrypt and be of the planned algorithm.
fn load_key(file: &str, pem: &[u8], passphrase: Option<&[u8]>, algo: KeyAlgo) -> Result<PrivateKey, SetError> {
    if PrivateKey::is_encrypted_pem(pem) && passphrase.is_none() {
        return Err(file_error(file, "the key is encrypted; give its passphrase with --ca-key-passphrase-file, --ca-key-passphrase-env or KPKI_CA_KEY_PASSPHRASE"));
    }
    let key = PrivateKey::from_pem_with_passphrase(pem, passphrase).map_err(|e| match e {
        KeyError::WrongPassphrase => file_error(file, e.to_string()),
        _ => file_error(file, format!("{e}; fix or remove it, or pass --force to replace the whole set")),
    })?;
    if key.algo() != algo {
        return Err(file_error(file, format!("the key is {} but the config asks for {}; pass --force to make new keys", key.algo().name(), algo.name())));
    }
    Ok(key)
}

fn not_after(pem: &[u8]) -> Option<OffsetDateTime> {
    let der = cert::cert_from_pem(pem).ok()?;
    Some(cert::validity(&cert::parse(&der).ok()?).1)
}

/// The files a run writes and the report.
pub struct Applied {
    /// Exactly the files whose decision is create or replace.
    pub files: Vec<OutFile>,
    /// The report, one row per file of the set.
    pub rows: Vec<Row>,
    /// What the user should know about what was issued (e.g. a validity
    /// clamped to the CA's), each naming its file.
    pub warnings: Vec<String>,
    /// How many signatures the CA's key store made, when it is in one.
    pub store_sign_calls: Option<usize>,
}

/// Carries out the decisions: makes the new keys (all keys of one algorithm
/// together, one per core), issues the CA if it changes, then the leaves,
/// and renders what changes. Returns the files, never writes them.
pub fn apply(decided: Decisions<'_>, existing: &Existing, protection: CaKeyProtection<'_>) -> Result<Applied, SetError> {
    let Decisions { decisions, plan, order, issuer, mut kept_keys, store_ca, mut records, now } = decided;
    let writing: std::collections::HashSet<Kind> = decisions.iter().filter(|d| d.writes()).map(|d| d.kind).collect();
    let writes = |kind: Kind| writing.contains(&kind);

    // New keys, batched by algorithm.
    let mut by_algo: BTreeMap<KeyAlgo, Vec<usize>> = BTreeMap::new();
    for (i, spec) in order.iter().enumerate() {
        if !(kept_keys.contains_key(&i) || (i == 0 && store_ca.is_some())) {
            by_algo.entry(spec.key_algo).or_default().push(i);
        }
    }
    let mut keys: BTreeMap<usize, PrivateKey> = BTreeMap::new();
    for (algo, slots) in by_algo {
        let made = PrivateKey::generate_many(algo, slots.len())?;
        keys.extend(slots.into_iter().zip(made));
    }
    let mut files: Vec<OutFile> = Vec::new();
    for (i, spec) in order.iter().enumerate() {
        if let Some(key) = keys.get(&i) {
            let pem = match (spec.role.is_ca(), protection.encrypt, protection.passphrase) {
                (true, true, Some(pass)) => key.to_encrypted_pem(pass),
                (true, true, None) => return Err(file_error(&spec.key_file(), "encrypting the CA key needs a passphrase")),
                _ => key.to_pem(KeyFormat::Cfssl),
            }
            .map_err(|e| file_error(&spec.key_file(), e.to_string()))?;
            files.push(OutFile::secret(spec.key_file(), pem.as_bytes()));
        }
    }
    kept_keys.extend(keys);
    // The CAs' keys move into their `Ca`s; the leaves' stay for the kubeconfigs.
    let mut ca_keys: BTreeMap<usize, CaKey> =
        (0..order.len()).filter(|&i| order[i].role.is_ca()).filter_map(|i| Some((i, kept_keys.remove(&i)?.into()))).collect();
    if let Some(store) = store_ca {
        ca_keys.insert(0, store);
    }
    let key_of = |i: usize| kept_keys.get(&i).ok_or_else(|| file_error(&order[i].key_file(), "no key was made"));

    // The CAs, then the leaves, each signed by its CA. Each certificate's
    // PEM by index of `order`, for the kubeconfigs.
    let mut cert_pems: Vec<String> = Vec::with_capacity(order.len());
    let mut cas: BTreeMap<usize, Ca> = BTreeMap::new();
    let mut warnings = Vec::new();
    for (i, spec) in order.iter().enumerate() {
        let der = if !writes(Kind::Cert(i)) {
            existing_cert(existing, &spec.cert_file())?
        } else if spec.role.is_ca() {
            let plan_ca = CertPlan {
                subject: spec.subject().to_dn(),
                sans: vec![],
                validity: Validity::cfssl(now, time::Duration::hours(spec.validity_hours)),
            };
            let key = ca_keys.get(&i).ok_or_else(|| file_error(&spec.key_file(), "no key was made"))?;
            issue::self_signed_ca(&plan_ca, None, key).map_err(|e| file_error(&spec.cert_file(), e.to_string()))?
        } else {
            let ca = cas.get(&issuer[i]).ok_or_else(|| file_error(&spec.cert_file(), "its CA was not loaded"))?;
            let profile = Profile::leaf(spec.usages.clone(), time::Duration::hours(spec.validity_hours));
            let sans = host::sans(&spec.sans).map_err(|e| file_error(&spec.cert_file(), e.to_string()))?;
            let cp = CertPlan { subject: spec.subject().to_dn(), sans, validity: Validity::cfssl(now, profile.expiry) };
            let issued = issue::sign(&cp, &SubjectKey::of(key_of(i)?), &profile, ca).map_err(|e| file_error(&spec.cert_file(), e.to_string()))?;
            warnings.extend(issued.warnings.iter().map(|w| format!("{}: {w}", spec.cert_file())));
            issued.der
        };
        let pem = pem_encode("CERTIFICATE", &der);
        if writes(Kind::Cert(i)) {
            files.push(OutFile::public(spec.cert_file(), pem.as_bytes()));
        }
        cert_pems.push(pem);
        if spec.role.is_ca() {
            let key = ca_keys.remove(&i).ok_or_else(|| file_error(&spec.key_file(), "no key was made"))?;
            cas.insert(i, Ca::new(der, key).map_err(|e| file_error(&spec.cert_file(), e.to_string()))?);
        }
    }

    for d in &decisions {
        let Kind::Kubeconfig(i, idx) = d.kind else { continue };
        if !d.writes() {
            continue;
        }
        let k = &plan.kubeconfigs[i];
        let key_pem = key_of(idx)?.to_pem(KeyFormat::Cfssl).map_err(|e| file_error(&k.file, e.to_string()))?;
        let ca_idx = issuer[idx];
        let trust = if writes(Kind::Cert(ca_idx)) { cert_pems[ca_idx].clone() } else { trust_pem(existing, order[ca_idx], &cert_pems[ca_idx]) };
        let text = files::Kubeconfig::new(&plan.cluster, &k.server, &trust, &k.user, &cert_pems[idx], &key_pem).to_yaml();
        files.push(OutFile::private(&k.file, text.as_bytes()));
    }
    for d in decisions.iter().filter(|d| d.writes()) {
        if let Kind::Bundle(i) = d.kind {
            files.push(OutFile::public(order[i].bundle_file(), cert_pems[i].as_bytes()));
        }
    }
    if writes(Kind::EncryptionConfig) {
        files.push(OutFile::secret(ENCRYPTION_FILE, new_encryption_config()?.as_bytes()));
    }
    for d in decisions.iter().filter(|d| d.kind == Kind::Record && d.writes()) {
        let name = d.row.file.as_str();
        let text = records.remove(name).ok_or_else(|| file_error(name, "not rendered"))?;
        files.push(OutFile::public(name, text.into_bytes()));
    }
    let store_sign_calls = cas.get(&0).and_then(|ca| ca.key().store_sign_calls());
    let rows: Vec<Row> = decisions.into_iter().map(|d| d.row).collect();
    // The run writes exactly what the decisions (and so `--dry-run`) say.
    let mut said: Vec<&str> = rows.iter().filter(|r| r.action != Action::Keep).map(|r| r.file.as_str()).collect();
    let mut made: Vec<&str> = files.iter().filter_map(|f| f.path.to_str()).collect();
    said.sort_unstable();
    made.sort_unstable();
    if said != made {
        return Err(file_error(".", format!("internal error: decided to write {said:?} but made {made:?}")));
    }
    Ok(Applied { files, rows, warnings, store_sign_calls })
}

/// What a kubeconfig trusts for a CA that stays: during a rotation, the
/// CA's trust bundle (`<ca>-bundle.pem`, which holds the current CA first);
/// otherwise the CA alone.
fn trust_pem(existing: &Existing, ca: &CertSpec, ca_pem: &str) -> String {
    let Some(bundle) = existing.get(&ca.bundle_file()) else { return ca_pem.to_string() };
    let Ok(certs) = cert::certs_from_pem(bundle) else { return ca_pem.to_string() };
    let Ok(current) = cert::cert_from_pem(ca_pem.as_bytes()) else { return ca_pem.to_string() };
    let certs: Vec<Vec<u8>> = certs.into_iter().map(|c| c.to_vec()).collect();
    // Only a bundle kpki's rotation wrote (its old CAs endorsed by the current CA).
    let record = existing.get(&ca.rotation_file()).map(Vec::as_slice);
    if certs.len() > 1 && check::bundle_endorsed(&certs, &current, record).is_ok() {
        certs.iter().map(|c| pem_encode("CERTIFICATE", c)).collect::<String>()
    } else {
        ca_pem.to_string()
    }
}

fn existing_cert(existing: &Existing, file: &str) -> Result<Vec<u8>, SetError> {
    let pem = existing.get(file).ok_or_else(|| file_error(file, "missing"))?;
    Ok(cert::cert_from_pem(pem).map_err(|e| file_error(file, e.to_string()))?.to_vec())
}

fn new_encryption_config() -> Result<Zeroizing<String>, SetError> {
    let mut key = Zeroizing::new([0u8; files::AESCBC_KEY_LEN]);
    aws_lc_rs::rand::fill(key.as_mut()).map_err(|_| SetError::Random)?;
    Ok(files::EncryptionConfiguration::new(&key).to_yaml())
}

/// [`stale`]'s reason for a certificate of another key.
const KEY_MISMATCH: &str = "does not match its key";

/// Why an existing certificate must be re-issued, or `None` to keep it;
/// `key_bits` is its key's subjectPublicKey.
fn stale(spec: &CertSpec, pem: &[u8], key_bits: &[u8], ca_pem: Option<&[u8]>, now: OffsetDateTime) -> Option<String> {
    let der = match cert::cert_from_pem(pem) {
        Ok(d) => d,
        Err(e) => return Some(format!("unreadable ({e})")),
    };
    let c = match cert::parse(&der) {
        Ok(c) => c,
        Err(e) => return Some(format!("unreadable ({e})")),
    };
    if c.public_key().subject_public_key.data.as_ref() != key_bits {
        return Some(KEY_MISMATCH.into());
    }
    let Some(ca_pem) = ca_pem else { return Some("CA changed".into()) };
    let ca_der = match cert::cert_from_pem(ca_pem) {
        Ok(d) => d,
        Err(_) => return Some("CA unreadable".into()),
    };
    let Ok(ca) = cert::parse(&ca_der) else { return Some("CA unreadable".into()) };
    if let Err(e) = check::chain(&c, &ca) {
        return Some(e.to_string());
    }
    match check::expiry(&c, now) {
        check::Expiry::Invalid(m) | check::Expiry::Soon(m) => return Some(m),
        check::Expiry::Valid => {}
    }
    let findings = check::matches_spec(&c, spec);
    findings.into_iter().next()
}
