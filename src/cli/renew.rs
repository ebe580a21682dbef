//! `kpki renew`: re-issues leaf certificates of a directory from the CA that
//! signed them, with the same subject and SANs (new keys with `--rekey`),
//! renews a CA with its own key (`--role ca`), and updates the kubeconfigs
//! that embed them. Works on kpki's sets and on the tutorial's cfssl-made
//! ones. `--dry-run` computes the same and writes nothing.

use std::path::PathBuf;

use time::OffsetDateTime;

use super::args::OutputFormat;
use super::{display, load_ca, Failure, Result};
use crate::k8s::plan::{Plan, Role, CA_STEM, PLAN_FILE};
use crate::k8s::set::Action;
use crate::output;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki renew --dir pki --all                      # every leaf, same subject and SANs
  kpki renew --dir pki --role admin --dry-run
  kpki renew --dir pki --role ca --rekey          # start a CA rotation; later: kpki renew --dir pki --finish-rotation")]
pub struct Args {
    /// The directory (written by `kpki bootstrap` or by the tutorial's cfssl commands)
    #[arg(long, value_name = "DIR", default_value = "pki")]
    pub dir: PathBuf,
    /// Renew these roles (ca, apiserver, admin, kubelet, kube-proxy, controller-manager, scheduler,
    /// service-account, etcd-ca, etcd-server, ...) or file stems (e.g. admin, ip-172-31-0-20).
    /// A CA is renewed with its own key and subject, so every certificate it signed stays valid
    #[arg(value_delimiter = ',')]
    #[arg(long, value_name = "ROLE", required_unless_present_any = ["all", "finish_rotation"], conflicts_with = "all")]
    pub role: Vec<String>,
    /// Renew every leaf certificate signed by one of the directory's CAs
    #[arg(long)]
    pub all: bool,
    /// Show what would be renewed and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Make new keys too. For a CA (--role ca) this starts a rotation: a new CA key and
    /// certificate, the trust bundle ca-bundle.pem (new + old) in every kubeconfig, and
    /// every leaf of the CA re-issued from the new one; deploy, then --finish-rotation
    #[arg(long)]
    pub rekey: bool,
    /// Finish a CA rotation: kubeconfigs and ca-bundle.pem trust only the new CA
    /// (all CAs in rotation, or those named with --role)
    #[arg(long, conflicts_with_all = ["all", "rekey"])]
    pub finish_rotation: bool,
    /// Report format
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// The cluster CA's key in a key store (awskms:... or pkcs11:...); default:
    /// the URI plan.json records, else ca-key.pem
    #[arg(long = "ca-key", value_name = "KEY-URI")]
    pub ca_key: Option<String>,
    #[command(flatten)]
    pub passphrase: super::passphrase::PassphraseArgs,
}

pub fn run(a: Args) -> Result<()> {
    if output::OutDir::open(&a.dir)?.is_none() {
        return Err(Failure::input(format!("--dir {}: no such directory", display(&a.dir))));
    }
    // A dry run only reads: no lock file, no recovery of an interrupted run.
    let dir = if a.dry_run {
        let dir = output::OutDir::open(&a.dir)?.ok_or_else(|| Failure::input(format!("--dir {}: no such directory", display(&a.dir))))?;
        if dir.pending_transaction() {
            super::warn(&format!("{}: an interrupted run left {}; the real run finishes it first", display(&a.dir), output::TXN_DIR));
        }
        dir
    } else {
        let (dir, recovery) = output::OutDir::lock(&a.dir)?;
        super::bootstrap::report_recovery(&dir, recovery);
        dir
    };
    // Certificates, keys and kubeconfigs, through symlinks too (a key kept
    // elsewhere); anything else under such a name is an error, not skipped.
    let mut files = std::collections::BTreeMap::new();
    for (name, kind) in dir.entries()? {
        if name.starts_with('.') || !(name.ends_with(".pem") || name.ends_with(".kubeconfig")) {
            continue;
        }
        if !matches!(kind, rustix::fs::FileType::RegularFile | rustix::fs::FileType::Symlink) {
            return Err(Failure::input(format!("{}: it is not a regular file; renew does not read it (move it away)", display(&a.dir.join(&name)))));
        }
        if let Some(bytes) = dir.read(&name)? {
            files.insert(name, bytes);
        }
    }
    let plan: Option<Plan> = match dir.read(PLAN_FILE)? {
        Some(t) => Some(Plan::from_json(&t).map_err(|e| Failure::input(format!("{}: {e}", display(&a.dir.join(PLAN_FILE)))))?),
        None => None,
    };
    // The directory's CAs: every CA certificate with its key beside it.
    let is_ca_cert = |bytes: &Vec<u8>| {
        crate::pki::cert::cert_from_pem(bytes).ok().is_some_and(|d| crate::pki::cert::parse(&d).is_ok_and(|c| c.is_ca()))
    };
    let cert_stems: Vec<String> = files.keys().filter(|n| n.ends_with(".pem") && !n.ends_with("-key.pem")).map(|n| n.trim_end_matches(".pem").to_string()).collect();
    // The cluster CA's key in a store: --ca-key, or what plan.json records.
    let store_uri = match (&a.ca_key, plan.as_ref().and_then(|p| p.ca_key.clone())) {
        (Some(u), _) if !crate::keystore::is_key_uri(u) => {
            return Err(Failure::input(format!("--ca-key takes a key URI (awskms:key-id=... or pkcs11:...), not {}", crate::pki::json::shown(u))))
        }
        (Some(u), _) => Some(u.clone()),
        (None, recorded) => recorded,
    };
    let has_key = |s: &String| files.contains_key(&format!("{s}-key.pem")) || (s == CA_STEM && store_uri.is_some());
    let ca_stems: Vec<String> = cert_stems.iter().filter(|s| files.get(&format!("{s}.pem")).is_some_and(is_ca_cert) && has_key(s)).cloned().collect();
    if !ca_stems.iter().any(|s| s == CA_STEM) {
        return Err(Failure::input(format!("{}: no CA certificate ca.pem with its key ca-key.pem (or a key URI in plan.json or --ca-key)", display(&a.dir))));
    }
    let mut cas = std::collections::BTreeMap::new();
    for s in &ca_stems {
        let key = match (&store_uri, s == CA_STEM) {
            (Some(uri), true) => PathBuf::from(uri),
            _ => a.dir.join(format!("{s}-key.pem")),
        };
        let ca = load_ca(&a.dir.join(format!("{s}.pem")), &key, &a.passphrase)?;
        cas.insert(s.clone(), ca);
    }
    let (leaf_stems, keyless): (Vec<String>, Vec<String>) = cert_stems
        .iter()
        .filter(|s| !files.get(&format!("{s}.pem")).is_some_and(is_ca_cert))
        .cloned()
        .partition(|s| files.contains_key(&format!("{s}-key.pem")));
    if a.all {
        for s in &keyless {
            super::warn(&format!("{}.pem has no key {s}-key.pem beside it; not renewed", crate::pki::json::shown(s)));
        }
    }
    let stems: Vec<String> = if a.all {
        leaf_stems
    } else if a.finish_rotation && a.role.is_empty() {
        let rotating: Vec<String> = ca_stems
            .iter()
            .filter(|s| files.get(&crate::k8s::renew::bundle_file(s)).is_some_and(|b| crate::pki::cert::certs_from_pem(b).is_ok_and(|c| c.len() > 1)))
            .cloned()
            .collect();
        if rotating.is_empty() {
            return Err(Failure::input(format!("--finish-rotation: no CA of {} is in a rotation (no <ca>-bundle.pem with two CAs)", display(&a.dir))));
        }
        rotating
    } else {
        let mut out = Vec::new();
        for r in &a.role {
            let by_role: Vec<String> = plan.iter().flat_map(|p| p.certs.iter()).filter(|c| r.parse::<Role>() == Ok(c.role)).map(|c| c.stem.clone()).collect();
            if !by_role.is_empty() {
                out.extend(by_role);
            } else if leaf_stems.contains(r) || ca_stems.contains(r) {
                out.push(r.clone());
            } else {
                let mut known = ca_stems.clone();
                known.extend(leaf_stems.iter().cloned());
                return Err(Failure::input(format!("--role {r}: no such role or certificate in {} (certificates: {})", display(&a.dir), known.join(", "))));
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|s| seen.insert(s.clone()));
        out
    };
    let in_dir = |e: crate::k8s::set::SetError| match e {
        crate::k8s::set::SetError::File { file, message } => Failure::input(format!("{}: {message}", display(&a.dir.join(file)))),
        other => Failure::input(other.to_string()),
    };
    let now = OffsetDateTime::now_utc();
    let rotating: Vec<&String> = stems.iter().filter(|s| ca_stems.contains(s)).collect();
    let started = std::time::Instant::now();
    crate::progress::step(&format!("renewing {} in {}", stems.join(", "), display(&a.dir)));
    let (out_files, rows) = if a.finish_rotation {
        if let Some(leaf) = stems.iter().find(|s| !ca_stems.contains(s)) {
            return Err(Failure::input(format!("--finish-rotation: {leaf} is not a CA; name CAs with --role (e.g. --role ca)")));
        }
        let mut out = (Vec::new(), Vec::new());
        for s in &stems {
            let (f, r) = crate::k8s::renew::finish_rotation(&files, s).map_err(in_dir)?;
            out.0.extend(f);
            out.1.extend(r);
        }
        out
    } else if a.rekey && !rotating.is_empty() {
        if stems.len() > 1 {
            return Err(Failure::input("--rekey of a CA starts its rotation, which re-issues every leaf it signed: name that one CA alone (e.g. --role ca --rekey)"));
        }
        let ca_stem = rotating[0].as_str();
        if let Some(uri) = cas.get(ca_stem).and_then(|c| c.key().store_uri()) {
            return Err(Failure::input(format!(
                "--rekey of {ca_stem}: its key is in a key store ({uri}), where kpki does not make keys; renew the CA certificate with the same key (--role {ca_stem} without --rekey)"
            )));
        }
        let key_file = a.dir.join(format!("{ca_stem}-key.pem"));
        let encrypted = files.get(&format!("{ca_stem}-key.pem")).is_some_and(|k| crate::pki::key::PrivateKey::is_encrypted_pem(k));
        let passphrase = if encrypted {
            Some(a.passphrase.require(&format!("Passphrase for the new {}: ", display(&key_file)), "the CA key is encrypted, so the new one will be")?)
        } else {
            None
        };
        let encode = |k: &crate::pki::key::PrivateKey| -> std::result::Result<zeroize::Zeroizing<String>, crate::k8s::set::SetError> {
            match &passphrase {
                Some(p) => k.to_encrypted_pem(p),
                None => k.to_pem(crate::pki::key::KeyFormat::Cfssl),
            }
            .map_err(|e| crate::k8s::set::SetError::File { file: format!("{ca_stem}-key.pem"), message: e.to_string() })
        };
        crate::k8s::renew::start_rotation(&files, &cas, ca_stem, encode, now).map_err(in_dir)?
    } else {
        crate::k8s::renew::renew(&files, cas, &stems, a.rekey, now).map_err(in_dir)?
    };
    if a.dry_run {
        // What the real run would refuse, the dry run refuses too.
        dir.check_replaceable(out_files.iter().filter_map(|f| f.path.to_str()))?;
    } else {
        crate::progress::detail(&format!("renewed in {:.1} s", started.elapsed().as_secs_f64()));
        crate::progress::step(&format!("writing {} file(s) to {}", out_files.len(), display(&a.dir)));
        dir.commit(&out_files, true)?;
    }
    if a.output == OutputFormat::Json {
        let v = serde_json::json!({"dir": a.dir.display().to_string(), "dry_run": a.dry_run, "files": rows});
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        for r in &rows {
            let kubeconfig = r.file.ends_with(".kubeconfig");
            let action = match (&r.action, a.dry_run, kubeconfig) {
                (Action::Replace, false, false) => "renewed",
                (Action::Replace, true, false) => "would renew",
                (Action::Replace, false, true) => "updated",
                (Action::Replace, true, true) => "would update",
                (Action::Create, false, _) => "created",
                (Action::Create, true, _) => "would create",
                (Action::Keep, _, _) => "kept",
            };
            println!("{:<34} {:<12} {:<32} {}", r.file, action, r.subject, r.expires);
        }
        if a.dry_run {
            println!("dry run: {} file(s) would be written; nothing was written", out_files.len());
        } else if a.rekey && !rotating.is_empty() {
            println!(
                "rotation started: give {} (the new CA, then the old) to every component that verifies certificates (--client-ca-file, --trusted-ca-file, ...), deploy the re-issued certificates and kubeconfigs, then run `kpki renew --dir {} --finish-rotation`",
                crate::k8s::renew::bundle_file(rotating[0]),
                display(&a.dir)
            );
        } else if a.finish_rotation {
            println!("rotation finished: deploy the kubeconfigs and the CA bundle again (they now trust only the new CA), then the old CA can be retired");
        }
    }
    Ok(())
}
