//! `kpki verify`: checks a bootstrap directory (or a list of certificates)
//! and prints one line per problem; exit 1 if there is any.

use std::path::{Path, PathBuf};

use serde_json::json;
use time::OffsetDateTime;

use super::args::OutputFormat;
use super::{display, read_input, Failure, Result};
use crate::k8s::check::{self, EmbeddedFile};
use crate::k8s::files;
use crate::k8s::plan::{Plan, ENCRYPTION_FILE, PLAN_FILE};
use crate::output;
use crate::pki::json::shown;
use crate::pki::{cert, key};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki verify --dir pki
  kpki verify --dir pki --expires-within 30d --output json
  kpki verify --dir pki --all-kubeconfigs --intermediates int.pem")]
pub struct Args {
    /// The CA certificate (default: DIR/ca.pem)
    #[arg(long, value_name = "CA.pem")]
    pub ca: Option<PathBuf>,
    /// A directory written by `kpki bootstrap` (or by the tutorial's commands)
    #[arg(long, value_name = "DIR", conflicts_with = "certs")]
    pub dir: Option<PathBuf>,
    /// Check this moment instead of now (RFC 3339, e.g. 2027-01-01T00:00:00Z)
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Fail (exit 1) when a certificate expires within this window, e.g. 30d or 720h
    /// (without it: a warning within 30 days)
    #[arg(long, value_name = "DURATION", value_parser = super::args::parse_window)]
    pub expires_within: Option<time::Duration>,
    /// Intermediate CA certificates (PEM, any order) to build paths through, besides the
    /// directory's CA certificates
    #[arg(long, value_name = "FILE")]
    pub intermediates: Option<PathBuf>,
    /// Also check the kubeconfigs the plan does not name (users' kubeconfigs from
    /// `kpki kubeconfig user`): CA, client certificate chain, key, expiry
    #[arg(long, requires = "dir")]
    pub all_kubeconfigs: bool,
    /// Report format
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Certificates to check (with --ca)
    #[arg(value_name = "CERT.pem")]
    pub certs: Vec<PathBuf>,
}

/// What verify found.
#[derive(Default)]
struct Report {
    checked: Vec<String>,
    problems: Vec<String>,
    warnings: Vec<String>,
}

pub fn parse_time(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| Failure::input(format!("--at: {s:?} is not an RFC 3339 time such as 2027-01-01T00:00:00Z")))
}

/// Where to go instead when `dir` (which has no ca.pem) is a kubeadm tree,
/// a tree's pki directory, a directory of trees, or holds a kpki set in
/// `pki/` (bootstrap's default --out). Nothing is followed or read beyond
/// directory listings.
fn kubeadm_hint(od: &output::OutDir, entries: &std::collections::BTreeMap<String, rustix::fs::FileType>, dir: &Path) -> Option<String> {
    let has = |d: &output::OutDir, name: &str| d.entries().is_ok_and(|e| e.contains_key(name));
    let below = |rel: &Path| od.open_below(rel).ok().flatten();
    let shown_at = |rel: &str| display(&dir.join(rel));
    if let Some(pki) = below(Path::new("pki")) {
        if has(&pki, "ca.pem") {
            return Some(format!("no ca.pem here, but {} holds a kpki set: use --dir {}", shown_at("pki"), shown_at("pki")));
        }
        if has(&pki, "ca.crt") {
            return Some(format!("it is a kubeadm tree (pki/ca.crt), not a kpki set (ca.pem); verify checks kpki's layout: use `kpki check-expiration --dir {}` (its kubeconfigs, pki/ and pki/etcd/), or `kubeadm certs check-expiration` on the node", display(dir)));
        }
    }
    if entries.contains_key("ca.crt") && below(Path::new("etcd")).is_some() {
        return Some(format!("it is a kubeadm pki directory (ca.crt, etcd/), not a kpki set (ca.pem): use `kpki check-expiration --dir {}`", display(dir)));
    }
    let trees = entries.keys().filter(|n| crate::model::file::is_member_name(n)).any(|n| below(&Path::new(n).join("pki")).is_some_and(|p| has(&p, "ca.crt")));
    trees.then(|| format!("it holds kubeadm trees (<node>/pki/ca.crt), not a kpki set (ca.pem); verify checks kpki's layout: use `kpki check-expiration --dir {}`, or `kubeadm certs check-expiration` on the node", shown_at("<node>")))
}

pub fn run(a: Args) -> Result<()> {
    let now = match &a.at {
        Some(s) => parse_time(s)?,
        None => OffsetDateTime::now_utc(),
    };
    let mut r = Report::default();
    let mut out_dir = None;
    let (ca_path, files, plan) = match &a.dir {
        Some(dir) => {
            let od = output::OutDir::open(dir)?.ok_or_else(|| Failure::input(format!("--dir {}: no such directory", display(dir))))?;
            let entries = od.entries()?;
            if a.ca.is_none() && !entries.contains_key("ca.pem") {
                if let Some(hint) = kubeadm_hint(&od, &entries, dir) {
                    return Err(Failure::input(format!("--dir {}: {hint}", display(dir))));
                }
            }
            let ca = a.ca.clone().unwrap_or_else(|| dir.join("ca.pem"));
            // A plan.json that is not a valid plan is a problem of the set
            // (exit 1); the rest is still checked, without it.
            let plan = match od.read(PLAN_FILE) {
                Ok(Some(text)) => match Plan::from_json(&text) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        r.problems.push(format!("{PLAN_FILE}: {e}"));
                        None
                    }
                },
                Ok(None) => None,
                Err(e) => {
                    r.problems.push(e.to_string());
                    None
                }
            };
            if od.pending_transaction() {
                r.problems.push(format!("{}: a kpki run was interrupted while writing the set; run the same bootstrap or renew again to finish it", output::TXN_DIR));
            }
            for name in entries.into_keys().filter(|n| !n.starts_with('.') && (n.ends_with("-key.pem") || n.ends_with(".kubeconfig") || n == ENCRYPTION_FILE)) {
                if let Some(mode) = od.followed_mode(&name).filter(|m| m & 0o077 != 0) {
                    r.problems.push(format!("{}: mode {mode:04o} lets other users read a secret; chmod 600 it (bootstrap does for files it owns)", shown(&name)));
                }
            }
            out_dir = Some(od);
            (ca, super::cert_files(dir)?, plan)
        }
        None => {
            if a.certs.is_empty() {
                return Err(Failure::input("give --dir DIR, or --ca CA.pem and the certificates to check"));
            }
            let ca = a.ca.clone().ok_or_else(|| Failure::input("--ca is needed to check certificates outside a directory"))?;
            (ca, a.certs.clone(), None)
        }
    };
    let ca_pem = read_input(&ca_path, "CA certificate")?;
    let ca_der = cert::cert_from_pem(&ca_pem).map_err(|e| Failure::input(format!("CA certificate {}: {e}", display(&ca_path))))?;
    let ca = cert::parse(&ca_der).map_err(|e| Failure::input(format!("CA certificate {}: {e}", display(&ca_path))))?;
    let name = |p: &Path| p.file_name().map(|n| shown(&n.to_string_lossy())).unwrap_or_default();
    if let Some(problem) = cert::ca_problem(&ca) {
        r.problems.push(format!("{}: {problem}", name(&ca_path)));
    }
    if let Err(e) = cert::verify_signed_by(&ca, ca.public_key()) {
        r.problems.push(format!("{}: it is not self-signed ({e})", name(&ca_path)));
    }
    // A root outside the checked files is still checked for expiry.
    if !files.contains(&ca_path) {
        if let check::Expiry::Invalid(m) = check::expiry(&ca, now) {
            r.problems.push(format!("{}: {m}", name(&ca_path)));
        }
    }

    // Every certificate, read once; the CA certificates among them (and
    // --intermediates) are the pool paths are built through.
    let mut loaded: Vec<(String, PathBuf, Vec<u8>)> = Vec::new();
    for path in &files {
        let file = name(path);
        r.checked.push(file.clone());
        let pem = match read_input(path, "certificate") {
            Ok(p) => p,
            Err(f) => {
                r.problems.push(f.message);
                continue;
            }
        };
        match cert::cert_from_pem(&pem) {
            Ok(d) => loaded.push((file, path.clone(), d.to_vec())),
            Err(e) => r.problems.push(format!("{file}: {e}")),
        }
    }
    let mut pool_der: Vec<Vec<u8>> = Vec::new();
    if let Some(p) = &a.intermediates {
        let pem = read_input(p, "intermediates")?;
        let certs = cert::certs_from_pem(&pem).map_err(|e| Failure::input(format!("--intermediates {}: {e}", display(p))))?;
        pool_der.extend(certs.into_iter().map(|c| c.to_vec()));
    }
    let parsed: Vec<Option<x509_parser::certificate::X509Certificate<'_>>> = loaded.iter().map(|(_, _, d)| cert::parse(d).ok()).collect();
    pool_der.extend(loaded.iter().zip(&parsed).filter(|(_, c)| c.as_ref().is_some_and(|c| c.is_ca())).map(|((_, _, d), _)| d.clone()));
    let pool: Vec<x509_parser::certificate::X509Certificate<'_>> = pool_der.iter().filter_map(|d| cert::parse(d).ok()).collect();
    let by_file: std::collections::HashMap<&str, usize> = loaded.iter().enumerate().map(|(i, (f, _, _))| (f.as_str(), i)).collect();

    for (i, (file, path, der)) in loaded.iter().enumerate() {
        let Some(c) = &parsed[i] else {
            r.problems.push(format!("{file}: it is not a parsable X.509 certificate"));
            continue;
        };
        let file = file.as_str();
        // A CA's trust bundle during a rotation: its current CA first, then
        // the old ones, each a self-signed CA with the same subject.
        if let Some(ca_spec) = plan.as_ref().and_then(|p| p.certs.iter().find(|c| c.role.is_ca() && c.bundle_file() == file)) {
            let bundle: Vec<Vec<u8>> =
                read_input(path, "trust bundle").ok().and_then(|b| cert::certs_from_pem(&b).ok()).unwrap_or_default().into_iter().map(|c| c.to_vec()).collect();
            let current = by_file.get(ca_spec.cert_file().as_str()).map(|&j| loaded[j].2.clone()).unwrap_or_default();
            let record = od_read(&out_dir, &ca_spec.rotation_file());
            match check::bundle_endorsed(&bundle, &current, record.as_deref()) {
                Err(m) if bundle.len() == 1 => r.problems.push(format!(
                    "{file}: {m}; it is stale (the CA was replaced or renewed by hand since): remove it or write the current {} into it",
                    ca_spec.cert_file()
                )),
                Err(m) => r.problems.push(format!("{file}: {m}")),
                Ok(()) if bundle.len() > 1 => {
                    for (k, der) in bundle.iter().enumerate().skip(1) {
                        if let Some(check::Expiry::Invalid(m)) = cert::parse(der).ok().map(|old| check::expiry(&old, now)) {
                            r.warnings.push(format!("{file}: the old CA (certificate {}): {m}; finish the rotation", k + 1));
                        }
                    }
                    r.warnings.push(format!(
                        "{file}: a rotation of {} is in progress; finish it with `kpki renew --finish-rotation` once every component has the new certificates",
                        ca_spec.cert_file()
                    ));
                }
                Ok(()) => {}
            }
            continue;
        }
        // A rotation's record is checked with its bundle.
        if plan.as_ref().is_some_and(|p| p.certs.iter().any(|c| c.role.is_ca() && c.rotation_file() == file)) {
            continue;
        }
        let spec = plan.as_ref().and_then(|p| p.cert(file.trim_end_matches(".pem")));
        let is_root = *der == ca_der.as_ref();
        match spec {
            // A CA of the set signs itself.
            Some(s) if s.role.is_ca() => {
                if !is_root {
                    if let Some(problem) = cert::ca_problem(c) {
                        r.problems.push(format!("{file}: {problem}"));
                    }
                    if let Err(m) = check::chain(c, c) {
                        r.problems.push(format!("{file}: a CA of the set must be self-signed; {m}"));
                    }
                }
            }
            // The plan says which CA signs it: that one and no other.
            Some(s) if s.issuer_stem() != crate::k8s::plan::CA_STEM => {
                let issuer_file = format!("{}.pem", s.issuer_stem());
                match by_file.get(issuer_file.as_str()).and_then(|&j| parsed[j].as_ref()) {
                    Some(issuer) => {
                        if let Err(m) = check::chain(c, issuer) {
                            r.problems.push(format!("{file}: {m} (the plan has it signed by {issuer_file})"));
                        }
                    }
                    None => r.problems.push(format!("{file}: its CA {issuer_file} is missing or unreadable")),
                }
            }
            _ if is_root => {}
            _ if c.issuer().as_raw() == c.subject().as_raw() && c.is_ca() => r.problems.push(format!(
                "{file}: it is a self-signed CA other than {}; check what it signs with --ca {file}",
                name(&ca_path)
            )),
            _ => {
                let others: Vec<x509_parser::certificate::X509Certificate<'_>> = pool.iter().filter(|p| p.as_raw() != c.as_raw()).cloned().collect();
                match check::path(c, &others, &ca) {
                    Err(m) => r.problems.push(format!("{file}: {m}")),
                    // Every CA on the path must be valid now, as openssl checks.
                    Ok(links) => {
                        for j in links {
                            if let check::Expiry::Invalid(m) = check::expiry(&others[j], now) {
                                r.problems.push(format!("{file}: its intermediate {}: {m}", cert::name_shown(others[j].subject())));
                            }
                        }
                    }
                }
            }
        }
        match (check::expiry(c, now), a.expires_within) {
            (check::Expiry::Invalid(m), _) => r.problems.push(format!("{file}: {m}")),
            (_, Some(window)) => {
                if let check::Expiry::Soon(m) = check::expiry_within(c, now, window) {
                    r.problems.push(format!("{file}: {m}, within --expires-within"));
                }
            }
            (check::Expiry::Soon(w), None) => r.warnings.push(format!("{file}: {w}")),
            (check::Expiry::Valid, None) => {}
        }
        let key_path = path.with_file_name(file.trim_end_matches(".pem").to_string() + "-key.pem");
        let store_ca = plan.as_ref().is_some_and(|p| p.ca_key.is_some()) && spec.is_some_and(|s| s.role == crate::k8s::plan::Role::Ca);
        if store_ca && key_path.exists() {
            // The plan's CA key is in a store: a ca-key.pem left beside it is
            // not the set's (an old CA's, or a copy): said, not checked.
            r.warnings.push(format!("{file}: its key is in a key store; {} is not used (move it away)", name(&key_path)));
        } else if key_path.exists() {
            match read_input(&key_path, "key").map(|k| key::PrivateKey::from_pem(&k)) {
                Ok(Ok(k)) if k.public_key_bits() == c.public_key().subject_public_key.data.as_ref() => {}
                Ok(Ok(_)) => r.problems.push(format!("{file}: {} is not its private key (the public keys differ)", name(&key_path))),
                Ok(Err(key::KeyError::Encrypted)) => {
                    r.warnings.push(format!("{file}: {} is encrypted; the key pair was not checked", name(&key_path)))
                }
                Ok(Err(e)) => r.problems.push(format!("{}: {e}", name(&key_path))),
                Err(f) => r.problems.push(f.message),
            }
        } else if store_ca {
            // The key is in a store (plan.json records where): no key file
            // to check. verify opens no store (it needs no PIN or
            // credentials); the certificates it signed are checked above.
        } else if spec.is_some() {
            r.problems.push(format!("{file}: its key {} is missing", name(&key_path)));
        }
        if let Some(spec) = spec {
            for m in check::matches_spec(c, spec) {
                r.problems.push(format!("{file}: {m}"));
            }
        }
    }
    // During a rotation kubeconfigs trust the cluster CA's bundle (current CA
    // first) when the current CA endorses it; read once for every kubeconfig.
    let ca_bundle: Option<(String, Vec<u8>)> = plan.as_ref().and_then(|p| p.ca()).and_then(|c| {
        let record = od_read(&out_dir, &c.rotation_file());
        let bundle = od_read(&out_dir, &c.bundle_file())?;
        let certs: Vec<Vec<u8>> = cert::certs_from_pem(&bundle).map(|v| v.into_iter().map(|c| c.to_vec()).collect()).unwrap_or_default();
        (certs.len() > 1 && check::bundle_endorsed(&certs, &ca_der, record.as_deref()).is_ok()).then(|| (c.bundle_file(), bundle))
    });
    if let (Some(plan), Some(dir)) = (&plan, &a.dir) {
        for spec in &plan.certs {
            if !dir.join(spec.cert_file()).exists() {
                r.problems.push(format!("{}: missing (the plan has it for {:?})", spec.cert_file(), spec.cn));
            }
        }
        for k in &plan.kubeconfigs {
            let path = dir.join(&k.file);
            r.checked.push(k.file.clone());
            let bytes = match read_input(&path, "kubeconfig") {
                Ok(b) => b,
                Err(_) if !path.exists() => {
                    r.problems.push(format!("{}: missing", k.file));
                    continue;
                }
                Err(f) => {
                    r.problems.push(f.message);
                    continue;
                }
            };
            let cert_file = dir.join(format!("{}.pem", k.stem));
            let cert_pem = read_input(&cert_file, "certificate").ok();
            let ca = match &ca_bundle {
                Some((bundle_name, b)) => EmbeddedFile { name: bundle_name, pem: b },
                None => EmbeddedFile { name: &name(&ca_path), pem: &ca_pem },
            };
            let cert = EmbeddedFile { name: &name(&cert_file), pem: cert_pem.as_deref().unwrap_or_default() };
            let findings = check::kubeconfig(&bytes, k, ca, cert_pem.is_some().then_some(cert));
            // Right in every field verify reads, it must also be exactly what
            // kpki renders: an added field (insecure-skip-tls-verify, a token,
            // a proxy, a second cluster) changes what kubectl does.
            if findings.is_empty() {
                let key = read_input(&dir.join(format!("{}-key.pem", k.stem)), "key").ok().and_then(|p| key::PrivateKey::from_pem(&p).ok());
                let ca_text = String::from_utf8_lossy(ca.pem).into_owned();
                let rendered = match (key.and_then(|k| k.to_pem(key::KeyFormat::Cfssl).ok()), cert_pem.as_deref().and_then(|p| cert::cert_from_pem(p).ok())) {
                    (Some(key_pem), Some(der)) => Some(files::Kubeconfig::new(&plan.cluster, &k.server, &ca_text, &k.user, &key::pem_encode("CERTIFICATE", &der), &key_pem).to_yaml()),
                    _ => None,
                };
                if rendered.is_some_and(|text| text.as_bytes() != bytes.as_slice()) {
                    r.problems.push(format!(
                        "{}: it differs from what kpki renders for the plan (a field was added or changed, e.g. insecure-skip-tls-verify, a token, another cluster or user); run bootstrap to write it again",
                        k.file
                    ));
                }
            }
            for m in findings {
                r.problems.push(format!("{}: {m}", k.file));
            }
        }
    }
    if let (true, Some(od)) = (a.all_kubeconfigs, &out_dir) {
        let planned: std::collections::HashSet<&str> = plan.iter().flat_map(|p| p.kubeconfigs.iter().map(|k| k.file.as_str())).collect();
        for (file, kind) in od.entries()? {
            if file.starts_with('.') || !file.ends_with(".kubeconfig") || planned.contains(file.as_str()) {
                continue;
            }
            r.checked.push(shown(&file));
            if !matches!(kind, rustix::fs::FileType::RegularFile | rustix::fs::FileType::Symlink) {
                r.problems.push(format!("{}: it is not a regular file", shown(&file)));
                continue;
            }
            match od.read(&file) {
                Ok(Some(bytes)) => {
                    let ca_name = name(&ca_path);
                    let mut trusted = vec![EmbeddedFile { name: &ca_name, pem: &ca_pem }];
                    if let Some((bundle_name, b)) = &ca_bundle {
                        trusted.push(EmbeddedFile { name: bundle_name, pem: b });
                    }
                    for m in check::extra_kubeconfig(&bytes, &trusted, &ca, now, a.expires_within) {
                        r.problems.push(format!("{}: {m}", shown(&file)));
                    }
                }
                Ok(None) => {}
                Err(e) => r.problems.push(e.to_string()),
            }
        }
    }
    // The encryption config is checked whenever it is there; a kpki set
    // (with a plan) must have one.
    if let Some(od) = &out_dir {
        match od.read(ENCRYPTION_FILE) {
            Ok(Some(text)) => {
                r.checked.push(ENCRYPTION_FILE.into());
                if let Err(e) = files::EncryptionConfiguration::check(&text) {
                    r.problems.push(format!("{ENCRYPTION_FILE}: {e}"));
                }
            }
            Ok(None) if plan.is_some() => r.problems.push(format!("{ENCRYPTION_FILE}: missing")),
            Ok(None) => {}
            Err(e) => r.problems.push(e.to_string()),
        }
    }
    print(&a, &r);
    if r.problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::check(format!("{} problem(s) found", r.problems.len())))
    }
}

/// A member of the directory, if it can be read.
fn od_read(od: &Option<output::OutDir>, name: &str) -> Option<Vec<u8>> {
    od.as_ref()?.read(name).ok().flatten()
}

fn print(a: &Args, r: &Report) {
    if a.output == OutputFormat::Json {
        let v = json!({
            "apiVersion": super::check_expiration::API_VERSION,
            "kind": "VerifyResult",
            "ok": r.problems.is_empty(),
            "checked": r.checked,
            "problems": r.problems,
            "warnings": r.warnings,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    for p in &r.problems {
        println!("{p}");
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
    if r.problems.is_empty() {
        println!("ok: {} file{} checked", r.checked.len(), if r.checked.len() == 1 { "" } else { "s" });
    }
}
