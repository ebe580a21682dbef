//! `kpki bootstrap`: the whole certificate set, kubeconfigs and encryption
//! config from a cluster config and a provider of addresses.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::args::{AwsArgs, OutputFormat};
use super::{display, read_input, Failure, Result};
use crate::model::cluster::Cluster;
use crate::k8s::plan::{self, Plan};
use crate::k8s::set::{self, Action, Existing, Row};
use crate::output;
use crate::progress;
use crate::provision::static_inventory::StaticProvider;
use crate::provision::Provider;

/// How the set is laid out on disk.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Layout {
    /// The tutorial's flat directory (ca.pem, admin-key.pem, ...), with plan.json
    #[default]
    Kpki,
    /// kubeadm's /etc/kubernetes tree, one per node: DIR/<node>/pki/..., admin.conf, kubelet.conf
    Kubeadm,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderArg {
    /// Addresses from the config's [[masters]] and [[workers]]
    Static,
    /// Create (or find) the cluster's VPC, load balancer and instances on AWS and use their addresses
    Aws,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki bootstrap --out pki                                  # the seed cluster's set from its static addresses
  kpki bootstrap --config cluster.toml --out pki --dry-run   # what would be written, and why
  kpki bootstrap --provider aws --config cluster.toml --out pki   # create (or find) the AWS infrastructure first")]
pub struct Args {
    /// Cluster config (TOML); default: the embedded seed cluster (`kpki print-defaults cluster`)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the addresses come from
    #[arg(long, value_enum, default_value = "static")]
    pub provider: ProviderArg,
    /// Output directory
    #[arg(long, value_name = "DIR", default_value = "pki")]
    pub out: PathBuf,
    /// Write the set flat (kpki, the tutorial's files) or as kubeadm's tree per node
    /// (kubeadm: copy DIR/<node>/ to the node's /etc/kubernetes/)
    #[arg(long, value_enum, default_value_t)]
    pub layout: Layout,
    /// Print what would be written, write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Make a new CA and new keys, replacing existing ones
    #[arg(long)]
    pub force: bool,
    /// Report format
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Store a new CA key encrypted (PKCS#8, PBES2) under the passphrase
    #[arg(long = "encrypt-ca-key", conflicts_with = "ca_key")]
    pub encrypt_ca_key: bool,
    /// The cluster CA's key in a key store (awskms:key-id=... or pkcs11:...):
    /// no ca-key.pem is written, plan.json records the URI (never a PIN), and
    /// re-runs use it again
    #[arg(long = "ca-key", value_name = "KEY-URI")]
    pub ca_key: Option<String>,
    #[command(flatten)]
    pub passphrase: super::passphrase::PassphraseArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// With --provider aws: where a newly created EC2 key pair's private key is saved
    #[arg(long = "ssh-dir", value_name = "DIR", default_value = "ssh")]
    pub ssh_dir: PathBuf,
}

/// The cluster CA's key in a store: `--ca-key URI`, or the URI a previous
/// run recorded in `plan.json`. Records it (without a PIN) in the plan, and
/// makes the plan's CA algorithm the store key's.
fn store_ca_key(a: &Args, existing: &Existing, plan: &mut Plan) -> Result<Option<crate::pki::signer::CaKey>> {
    // Even with --force: kpki cannot make a new key in the store, and
    // falling back to a key file would quietly take the CA out of it.
    // A plan.json that names a key but not validly is refused rather than
    // read as "no store key": that reading would advise --force, which
    // would quietly move the CA out of the store into a file.
    let recorded = match existing.get(plan::PLAN_FILE) {
        None => None,
        Some(bytes) => match Plan::from_json(bytes) {
            Ok(p) => p.ca_key,
            Err(e) => {
                let names_key = serde_json::from_slice::<serde_json::Value>(bytes).map_or(true, |v| v.get("ca_key").is_some());
                if names_key {
                    return Err(Failure::input(format!(
                        "{}: {e}; it records where the CA key is, so kpki does not guess: fix the file (ca_key is a key URI without pin-value)",
                        display(&a.out.join(plan::PLAN_FILE))
                    )));
                }
                None
            }
        },
    };
    let uri = match (&a.ca_key, recorded) {
        (Some(u), _) => u.clone(),
        (None, Some(r)) => {
            progress::note(&format!("the CA key is {r}, as plan.json records"));
            r
        }
        _ => return Ok(None),
    };
    if !crate::keystore::is_key_uri(&uri) {
        return Err(Failure::input(format!(
            "--ca-key takes a key URI (awskms:key-id=... or pkcs11:...), not {}: a CA key file belongs in {} as ca-key.pem",
            crate::pki::json::shown(&uri),
            display(&a.out)
        )));
    }
    let options = crate::keystore::StoreOptions { aws_profile: a.aws.aws_profile.clone() };
    let key = crate::keystore::open(&uri, &options, &super::warn).map_err(|e| Failure::input(e.to_string()))?;
    a.passphrase.warn_unused(&crate::keystore::without_secrets(&uri));
    plan.ca_key = Some(crate::keystore::to_record(&uri));
    let algo = key.algo();
    if let Some(ca) = plan.certs.iter_mut().find(|c| c.role == plan::Role::Ca) {
        ca.key_algo = algo;
    }
    Ok(Some(key))
}

/// A tree directory to write: its path, its path below --out, its identity
/// (device, inode) when it existed while it was read, and the files.
type PendingTree = (PathBuf, PathBuf, Option<(u64, u64)>, Vec<crate::model::file::OutFile>);

/// `--layout kubeadm`: a kubeadm tree per node under `--out`. The shared CAs
/// and service-account key are kept from the first master's tree when
/// there (made otherwise, or with --force); every node's own certificates
/// and kubeconfigs are issued again, like `kubeadm certs renew all`. Each
/// directory of a tree is written as one transaction (its files all or
/// none), deepest first, under one lock on `--out`.
fn run_kubeadm(a: &Args, cluster: &Cluster, inventory: &crate::model::inventory::Inventory) -> Result<()> {
    use crate::k8s::kubeadm;
    if a.encrypt_ca_key || a.ca_key.is_some() {
        return Err(Failure::input("--layout kubeadm writes the CA keys where kubeadm reads them (pki/ca.key, unencrypted): --ca-key and --encrypt-ca-key do not apply"));
    }
    if a.output == OutputFormat::Json {
        return Err(Failure::input("--output json is not available with --layout kubeadm (the report is the list of trees)"));
    }
    kubeadm::check_algo(cluster.key_algo).map_err(|e| Failure::input(e.to_string()))?;
    let first = inventory.masters.first().ok_or_else(|| Failure::input(kubeadm::KubeadmError::NoMaster.to_string()))?;
    for n in inventory.masters.iter().chain(&inventory.workers) {
        if !crate::model::file::is_member_name(&n.name) {
            return Err(Failure::input(format!("node name {} cannot be a directory name", crate::pki::json::shown(&n.name))));
        }
    }
    // --out, opened (and locked unless this is a dry run) once: every tree
    // below it is read and written from this descriptor, never by path.
    let top = if a.dry_run {
        output::OutDir::open(&a.out)?
    } else {
        let (dir, recovery) = output::OutDir::lock(&a.out)?;
        report_recovery(&dir, recovery);
        Some(dir)
    };
    let at = |node: &str, e: kubeadm::KubeadmError| match e {
        kubeadm::KubeadmError::File { file, message } => Failure::input(format!("{}: {message}", display(&a.out.join(node).join(file)))),
        other => Failure::input(other.to_string()),
    };
    // What a tree holds now, by path relative to the tree.
    let read_tree = |node: &str, paths: &[&str]| -> Result<std::collections::BTreeMap<String, Vec<u8>>> {
        let mut found = std::collections::BTreeMap::new();
        let Some(top) = &top else { return Ok(found) };
        for p in paths {
            let path = Path::new(node).join(p);
            let (Some(parent), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else { continue };
            if let Some(dir) = top.open_below(parent)? {
                if let Some(bytes) = dir.read(name)? {
                    found.insert(p.to_string(), bytes);
                }
            }
        }
        Ok(found)
    };
    let shared_paths: Vec<&str> = kubeadm::SHARED_CAS.iter().flat_map(|(_, c, k, _)| [*c, *k]).chain([kubeadm::SA_KEY]).collect();
    // Each shared CA (certificate and key together) and the SA key from the
    // first control-plane tree that has it: a tree that lost a file, a new
    // master listed first, or a reordered list keep the cluster's CAs.
    let mut existing = std::collections::BTreeMap::new();
    let mut source: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let groups: Vec<Vec<&str>> = kubeadm::SHARED_CAS.iter().map(|(_, c, k, _)| vec![*c, *k]).chain([vec![kubeadm::SA_KEY]]).collect();
    for group in &groups {
        let mut partial = None;
        for m in &inventory.masters {
            let found = read_tree(&m.name, group)?;
            if found.len() == group.len() {
                for (p, b) in found {
                    source.insert(p.clone(), m.name.clone());
                    existing.insert(p, b);
                }
                partial = None;
                break;
            }
            if !found.is_empty() && partial.is_none() {
                partial = Some((m.name.clone(), found));
            }
        }
        // Only half of a CA anywhere: shared() says which half is missing.
        if let Some((node, found)) = partial {
            for (p, b) in found {
                source.insert(p.clone(), node.clone());
                existing.insert(p, b);
            }
        }
    }
    if let Some(dir) = output::OutDir::open(&a.out)? {
        let present = dir.entries()?;
        if (present.contains_key("ca.pem") || present.contains_key(plan::PLAN_FILE)) && !a.force {
            return Err(Failure::input(format!(
                "{} holds a set of the kpki layout (ca.pem, plan.json): the kubeadm trees would have CAs of their own beside it; use another --out (or --force to write them there anyway)",
                display(&a.out)
            )));
        }
    }
    let now = OffsetDateTime::now_utc();
    let source_of = |p: &str| source.get(p).cloned().unwrap_or_else(|| first.name.clone());
    let shared = kubeadm::shared(&existing, cluster, now, a.force).map_err(|e| {
        let node = match &e {
            kubeadm::KubeadmError::File { file, .. } => source_of(file),
            _ => first.name.clone(),
        };
        at(&node, e)
    })?;
    for (i, (what, crt, _, _)) in kubeadm::SHARED_CAS.iter().enumerate() {
        let verb = if shared.made[i] { "making" } else { "keeping" };
        progress::detail(&format!("{verb} the {what} of {}", display(&a.out.join(source_of(crt)))));
    }
    if kubeadm::ca_algo(&shared) != cluster.key_algo {
        super::warn(&format!(
            "the kept CAs are {} keys but key_algo is {}: new leaves use {}; --force makes new CAs of that algorithm (a running cluster's CAs change)",
            kubeadm::ca_algo(&shared).name(),
            cluster.key_algo.name(),
            cluster.key_algo.name()
        ));
    }
    let trees = kubeadm::trees(&shared, cluster, inventory, now).map_err(|e| at(&first.name, e))?;
    let mut written = 0usize;
    let mut kept = 0usize;
    // First every directory's changes, with every refusal, then the writes:
    // a refused run changes nothing.
    let mut pending: Vec<PendingTree> = Vec::new();
    let tree_count = trees.len();
    for tree in trees {
        // Per directory of the tree, deepest first: pki/etcd, pki, the tree.
        // Each file moves into its directory's list under its plain name
        // (mode and secrecy unchanged).
        let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<crate::model::file::OutFile>> = std::collections::BTreeMap::new();
        for mut f in tree.files {
            let parent = f.path.parent().map(Path::to_path_buf).unwrap_or_default();
            f.path = f.path.file_name().map(PathBuf::from).unwrap_or_default();
            by_dir.entry(parent).or_default().push(f);
        }
        let mut dirs: Vec<(PathBuf, Vec<crate::model::file::OutFile>)> = by_dir.into_iter().collect();
        dirs.sort_by_key(|(d, _)| std::cmp::Reverse(d.components().count()));
        for (rel, files) in dirs {
            let path = a.out.join(&tree.node).join(&rel);
            let below = Path::new(&tree.node).join(&rel);
            // The directories under --out are kpki's to make: one that is a
            // symbolic link (or not a directory) is refused, here and when
            // writing (both walk from --out's descriptor, never following).
            let current = match &top {
                Some(top) => top.open_below(&below)?,
                None => None,
            };
            let mut changed = Vec::new();
            let mut kept_names = Vec::new();
            for f in files {
                let name = f.path.to_string_lossy().into_owned();
                let old = match &current {
                    Some(d) => d.read(&name)?,
                    None => None,
                };
                let rel_file = rel.join(&name).to_string_lossy().into_owned();
                let shared_file = shared_paths.contains(&rel_file.as_str());
                match old {
                    Some(o) if o.as_slice() == f.contents() => {
                        kept += 1;
                        kept_names.push(name);
                    }
                    // Another tree's CA or SA key differs from the one kept:
                    // the control-plane trees share them, so this is not
                    // replaced silently.
                    Some(_) if shared_file && f.is_secret() && !a.force => {
                        return Err(Failure::input(format!(
                            "{} differs from {}: every control-plane node shares the CAs and the service-account key; restore it from there (or move it away), or pass --force to make new ones for all (a running cluster's CAs change)",
                            display(&path.join(&name)),
                            display(&a.out.join(source_of(&rel_file)).join(&rel_file))
                        )));
                    }
                    _ => changed.push(f),
                }
            }
            if let Some(dir) = &current {
                // What the commit would refuse (a symlink, FIFO or directory
                // where a file goes) is refused before anything is written.
                dir.check_replaceable(changed.iter().filter_map(|f| f.path.to_str()))?;
                // A kept key or kubeconfig that others can read is narrowed.
                tighten_key_modes(dir, &kept_names, a.dry_run)?;
            }
            if !changed.is_empty() {
                written += changed.len();
                let planned = current.as_ref().map(output::OutDir::identity).transpose()?;
                pending.push((path, below, planned, changed));
            }
        }
    }
    for (path, below, planned, changed) in pending {
        let Some(top) = top.as_ref().filter(|_| !a.dry_run) else {
            for f in &changed {
                println!("would write {}", display(&path.join(&f.path)));
            }
            continue;
        };
        let (dir, recovery) = top.lock_below(&below)?;
        // What was compared and kept above is what is written now: a
        // directory swapped for another since is not written into.
        if planned.is_some_and(|id| dir.identity().ok() != Some(id)) {
            return Err(Failure::input(format!("{} was replaced by another directory while kpki was reading it; nothing was written there: run kpki again", display(&path))));
        }
        report_recovery(&dir, recovery);
        // Leaf keys are new on every run (as `kubeadm certs renew`); the
        // shared CA keys were compared above.
        dir.commit(&changed, true)?;
    }
    let verb = if a.dry_run { "would write" } else { "wrote" };
    println!(
        "{verb} {written} file(s) ({kept} unchanged; every node's own certificates and keys are issued again on each run) in {} kubeadm tree(s) under {}: copy {}/ to each node's /etc/kubernetes/ (without the .kpki-lock files), then `kubeadm init --config /etc/kubernetes/{}` on {}",
        tree_count,
        display(&a.out),
        display(&a.out.join("<node>")),
        crate::k8s::kubeadm::KUBEADM_CONFIG,
        first.name
    );
    Ok(())
}

/// The provider behind `--provider aws`.
fn aws_provider(args: &AwsArgs, cluster: &Cluster, ssh_dir: &Path) -> Result<Box<dyn Provider>> {
    #[cfg(feature = "aws")]
    return Ok(Box::new(args.provider(cluster, ssh_dir.to_path_buf())));
    #[cfg(not(feature = "aws"))]
    {
        let _ = (args, cluster, ssh_dir);
        Err(no_aws())
    }
}

/// A build without the `aws` feature says so instead of failing obscurely.
#[cfg(not(feature = "aws"))]
pub fn no_aws() -> Failure {
    Failure::input("this kpki was built without AWS support (cargo feature `aws`); only --provider static is available")
}

/// Reads and validates the cluster config (or the embedded default).
pub fn load_cluster(config: Option<&Path>) -> Result<Cluster> {
    match config {
        None => Ok(Cluster::default_seed()),
        Some(p) => {
            let bytes = read_input(p, "cluster config")?;
            let text = String::from_utf8(bytes).map_err(|_| Failure::input(format!("cluster config {}: it is not UTF-8 text", display(p))))?;
            Cluster::from_toml(&text).map_err(|e| Failure::input(format!("cluster config {}: {e}", display(p))))
        }
    }
}

/// The files of the plan that exist in the output directory (none when it
/// does not exist yet).
pub fn read_existing(dir: Option<&output::OutDir>, names: &[String]) -> Result<Existing> {
    let mut existing = Existing::new();
    let Some(dir) = dir else { return Ok(existing) };
    // One directory listing first: a new directory costs no failed opens.
    let present = dir.entries()?;
    for name in names.iter().filter(|n| present.contains_key(n.as_str())) {
        if let Some(bytes) = dir.read(name)? {
            existing.insert(name.clone(), bytes);
        }
    }
    Ok(existing)
}

/// Says what opening the directory found of an interrupted run.
pub fn report_recovery(dir: &output::OutDir, r: output::Recovery) {
    match r {
        output::Recovery::Clean => {}
        output::Recovery::Completed => progress::note(&format!("{}: finished writing the set of an interrupted run", display(dir.path()))),
        output::Recovery::Discarded => progress::note(&format!("{}: discarded the unfinished files of an interrupted run", display(dir.path()))),
    }
}

/// Private keys that other users may read are narrowed to 0600 (said on
/// stderr); with `dry_run` only said.
pub fn tighten_key_modes(dir: &output::OutDir, names: &[String], dry_run: bool) -> Result<()> {
    // kpki's names, and kubeadm's (`.key`, `.conf`) for `--layout kubeadm`.
    for name in names.iter().filter(|n| n.ends_with("-key.pem") || n.as_str() == plan::ENCRYPTION_FILE || n.ends_with(".kubeconfig") || n.ends_with(".key") || n.ends_with(".conf")) {
        let shown_path = display(&dir.path().join(name));
        match dir.mode_of(name) {
            // A symlink: kpki does not change what it points to, but says so.
            None => {
                if let Some(mode) = dir.followed_mode(name).filter(|m| m & 0o077 != 0) {
                    super::warn(&format!("{shown_path}: it points to a file of mode {mode:04o} that other users can read; kpki does not change files it reaches through a symlink: chmod 600 it"));
                }
            }
            Some(mode) if mode & 0o077 != 0 && dry_run => progress::note(&format!("{shown_path}: mode {mode:04o} lets other users read it; a real run sets 0600")),
            Some(mode) if mode & 0o077 != 0 => {
                dir.set_mode(name, output::KEY_MODE)?;
                progress::note(&format!("{shown_path}: was mode {mode:04o}, readable by other users; set to 0600"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    a.aws.check()?;
    let cluster = load_cluster(a.config.as_deref())?;
    let provider: Box<dyn Provider> = match a.provider {
        ProviderArg::Static => Box::new(StaticProvider),
        ProviderArg::Aws => aws_provider(&a.aws, &cluster, &a.ssh_dir)?,
    };
    let provisioned = provider.provision(&cluster, a.dry_run).map_err(|e| Failure::input(e.to_string()))?;
    for n in &provisioned.notices {
        match n.strip_prefix("warning: ") {
            Some(w) => super::warn(w),
            None => progress::note(n),
        }
    }
    let inventory = provisioned.inventory;
    if a.layout == Layout::Kubeadm {
        return run_kubeadm(&a, &cluster, &inventory);
    }
    let mut plan: Plan = plan::plan(&cluster, &inventory).map_err(|e| Failure::input(e.to_string()))?;
    // Held until the set is in place: a second run waits its turn with a clear error.
    let dir = if a.dry_run {
        let dir = output::OutDir::open(&a.out)?;
        // What the real run would refuse, the dry run refuses too.
        if let Some(pending) = dir.as_ref().map(output::OutDir::check_as_writer).transpose()?.flatten() {
            let what = if pending { "finishes" } else { "discards" };
            super::warn(&format!(
                "{}: an interrupted run left {}; a real run {what} it first, so it may write other files than this dry run shows",
                display(&a.out),
                output::TXN_DIR
            ));
        }
        dir
    } else {
        let (dir, recovery) = output::OutDir::lock(&a.out)?;
        report_recovery(&dir, recovery);
        Some(dir)
    };
    let names = set::relevant_files(&plan);
    let existing = read_existing(dir.as_ref(), &names)?;
    // Files of an optional CA that was turned off stay (kpki deletes nothing),
    // but they are no longer the set's: say so before verify does.
    if let Some(dir) = &dir {
        let present = dir.entries()?;
        let left: Vec<String> = crate::model::cluster::RESERVED_STEMS
            .iter()
            .map(|s| format!("{s}.pem"))
            .filter(|f| present.contains_key(f) && !names.contains(f))
            .collect();
        if !left.is_empty() {
            super::warn(&format!(
                "{} in {} are not in the plan (etcd_ca or front_proxy_ca is off): they are kept, verify reports them; move them away, or turn the option on again",
                left.join(", "),
                display(&a.out)
            ));
        }
    }
    if let Some(dir) = &dir {
        tighten_key_modes(dir, &existing.keys().cloned().collect::<Vec<_>>(), a.dry_run)?;
    }
    let ca_key_file = plan.ca().map(|c| c.key_file()).unwrap_or_default();
    let store_ca = store_ca_key(&a, &existing, &mut plan)?;
    if store_ca.is_some() && existing.contains_key(&ca_key_file) {
        super::warn(&format!(
            "{} is not used: the CA key is {}; kpki deletes nothing, so move the file away (if it is an old CA's key, or a copy of the store's, keep it only where such secrets belong)",
            display(&a.out.join(&ca_key_file)),
            plan.ca_key.as_deref().unwrap_or_default()
        ));
    }
    let encrypted = store_ca.is_none() && existing.get(&ca_key_file).is_some_and(|k| crate::pki::key::PrivateKey::is_encrypted_pem(k)) && !a.force;
    let pass = if a.encrypt_ca_key && !a.dry_run {
        Some(a.passphrase.require("Passphrase for the CA key: ", "--encrypt-ca-key needs a passphrase")?)
    } else if encrypted {
        Some(a.passphrase.require("Passphrase for the CA key: ", &format!("{} is encrypted", display(&a.out.join(&ca_key_file))))?)
    } else {
        if existing.contains_key(&ca_key_file) && !a.force && store_ca.is_none() {
            a.passphrase.warn_unused(&display(&a.out.join(&ca_key_file)));
        }
        None
    };
    if a.encrypt_ca_key && existing.contains_key(&ca_key_file) && !encrypted && !a.force {
        super::warn(&format!(
            "{} exists and stays as it is, unencrypted: --encrypt-ca-key applies to a new CA key (--force makes one, and re-issues everything)",
            display(&a.out.join(&ca_key_file))
        ));
    }
    let at_dir = |e: set::SetError| match e {
        set::SetError::File { file, message } => Failure::input(format!("{}: {message}", display(&a.out.join(file)))),
        other => Failure::input(format!("{}: {other}", display(&a.out))),
    };
    let passphrase = pass.as_ref().map(|p| p.as_slice());
    let store_uri = plan.ca_key.clone();
    let decided = set::decide(&plan, &inventory, &existing, OffsetDateTime::now_utc(), a.force, passphrase, store_ca).map_err(at_dir)?;
    let rows = if a.dry_run {
        let rows = decided.rows();
        if let Some(dir) = &dir {
            dir.check_replaceable(rows.iter().filter(|r| r.action != Action::Keep).map(|r| r.file.as_str()))?;
        }
        rows
    } else {
        let dir = dir.as_ref().ok_or_else(|| Failure::input("internal error: no output directory"))?;
        let started = std::time::Instant::now();
        say_work(&decided.rows());
        let applied = set::apply(decided, &existing, set::CaKeyProtection { passphrase, encrypt: a.encrypt_ca_key }).map_err(at_dir)?;
        progress::detail(&format!("keys and certificates made in {:.1} s", started.elapsed().as_secs_f64()));
        if let (Some(uri), Some(calls)) = (&store_uri, applied.store_sign_calls) {
            progress::detail(&format!("{calls} signature(s) made by {uri}"));
        }
        if !applied.files.is_empty() {
            progress::step(&format!("writing {} file(s) to {}", applied.files.len(), display(&a.out)));
        }
        let writing = std::time::Instant::now();
        dir.commit(&applied.files, a.force)?;
        progress::detail(&format!("written and synced in {:.1} s", writing.elapsed().as_secs_f64()));
        for w in &applied.warnings {
            super::warn(w);
        }
        applied.rows
    };
    report(&a, &rows, &inventory)
}

fn report(a: &Args, rows: &[Row], inventory: &crate::model::inventory::Inventory) -> Result<()> {
    if a.output == OutputFormat::Json {
        let v = serde_json::json!({
            "out": a.out.display().to_string(),
            "dry_run": a.dry_run,
            "inventory": inventory,
            "files": rows,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    let changed = rows.iter().filter(|r| r.action != Action::Keep).count();
    let verb = if a.dry_run { "would write" } else { "wrote" };
    // The table on a terminal and for a dry run; piped, the summary line
    // alone (a thousand-worker table is for --output json).
    if a.dry_run || std::io::stdout().is_terminal() {
        println!("{:<34} {:<8} {:<32} {:<21} REASON", "FILE", "ACTION", "SUBJECT", "EXPIRES");
        for r in rows {
            let action = match r.action {
                Action::Create => "create",
                Action::Replace => "replace",
                Action::Keep => "keep",
            };
            println!("{:<34} {:<8} {:<32} {:<21} {}", r.file, action, r.subject, r.expires, r.reason);
        }
    }
    println!("{verb} {changed} of {} files in {}", rows.len(), display(&a.out));
    if changed == 0 && !a.dry_run {
        warn_none_changed();
    }
    Ok(())
}

fn warn_none_changed() {
    progress::note("everything already matches the plan; nothing written");
}

/// Says what the run is about to make: the slow part of a large set.
pub fn say_work(rows: &[Row]) {
    let writes = |r: &&Row| r.action != Action::Keep;
    let keys = rows.iter().filter(writes).filter(|r| r.file.ends_with("-key.pem")).count();
    let certs = rows.iter().filter(writes).filter(|r| r.file.ends_with(".pem") && !r.file.ends_with("-key.pem")).count();
    if keys + certs > 0 {
        progress::step(&format!("making {keys} key(s) and issuing {certs} certificate(s)"));
    }
}
