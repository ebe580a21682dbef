//! `kpki renew`: re-issues leaf certificates of a directory from the same CA,
//! with the same subject and SANs (new keys with `--rekey`), and updates the
//! kubeconfigs that embed them. Works on kpki's sets and on the tutorial's
//! cfssl-made ones.

use std::path::PathBuf;

use time::OffsetDateTime;

use super::args::OutputFormat;
use super::{display, load_ca, Failure, Result};
use crate::k8s::plan::{Plan, Role, PLAN_FILE};
use crate::k8s::set::Action;
use crate::output;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The directory (written by `kpki bootstrap` or by the tutorial's cfssl commands)
    #[arg(long, value_name = "DIR", default_value = "pki")]
    pub dir: PathBuf,
    /// Renew these roles (apiserver, admin, kubelet, kube-proxy, controller-manager, scheduler,
    /// service-account) or file stems (e.g. admin, ip-172-31-0-20)
    #[arg(long, value_name = "ROLE", required_unless_present = "all", conflicts_with = "all")]
    pub role: Vec<String>,
    /// Renew every leaf certificate signed by the directory's CA
    #[arg(long)]
    pub all: bool,
    /// Make new keys too
    #[arg(long)]
    pub rekey: bool,
    /// Report format
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub passphrase: super::passphrase::PassphraseArgs,
}

pub fn run(a: Args) -> Result<()> {
    if output::OutDir::open(&a.dir)?.is_none() {
        return Err(Failure::input(format!("--dir {}: no such directory", display(&a.dir))));
    }
    let (dir, recovery) = output::OutDir::lock(&a.dir)?;
    super::bootstrap::report_recovery(&dir, recovery);
    let ca = load_ca(&a.dir.join("ca.pem"), &a.dir.join("ca-key.pem"), &a.passphrase)?;
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
    let (leaf_stems, keyless): (Vec<String>, Vec<String>) = files
        .keys()
        .filter(|n| n.ends_with(".pem") && !n.ends_with("-key.pem") && n.as_str() != "ca.pem")
        .map(|n| n.trim_end_matches(".pem").to_string())
        .partition(|s| files.contains_key(&format!("{s}-key.pem")));
    if a.all {
        for s in &keyless {
            super::warn(&format!("{}.pem has no key {s}-key.pem beside it; not renewed", crate::pki::json::shown(s)));
        }
    }
    let stems: Vec<String> = if a.all {
        leaf_stems
    } else {
        let mut out = Vec::new();
        for r in &a.role {
            let by_role: Vec<String> = plan
                .iter()
                .flat_map(|p| p.certs.iter())
                .filter(|c| c.role != Role::Ca && r.parse::<Role>() == Ok(c.role))
                .map(|c| c.stem.clone())
                .collect();
            if !by_role.is_empty() {
                out.extend(by_role);
            } else if leaf_stems.contains(r) {
                out.push(r.clone());
            } else {
                return Err(Failure::input(format!("--role {r}: no such role or certificate in {} (certificates: {})", display(&a.dir), leaf_stems.join(", "))));
            }
        }
        out.dedup();
        out
    };
    let (out_files, rows) = crate::k8s::renew::renew(&files, &ca, &stems, a.rekey, OffsetDateTime::now_utc()).map_err(|e| match e {
        crate::k8s::set::SetError::File { file, message } => Failure::input(format!("{}: {message}", display(&a.dir.join(file)))),
        other => Failure::input(other.to_string()),
    })?;
    dir.commit(&out_files, true)?;
    if a.output == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"dir": a.dir.display().to_string(), "files": rows})).unwrap_or_default());
    } else {
        for r in &rows {
            let action = if r.action == Action::Replace { "renewed" } else { "kept" };
            println!("{:<34} {:<8} {:<32} {}", r.file, action, r.subject, r.expires);
        }
    }
    Ok(())
}
