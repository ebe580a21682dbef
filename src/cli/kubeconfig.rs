//! `kpki kubeconfig user`: onboards a user. A client certificate
//! (`CN=<name>, O=<group>`) from the set's CA, embedded with its key in a
//! kubeconfig that points at the set's API address (from `plan.json`, or
//! `--server`). Written as `DIR/<name>.kubeconfig` (mode 0600) or `--out`.

use std::path::PathBuf;

use time::OffsetDateTime;

use super::{display, load_ca, warn, Failure, Result};
use crate::k8s::plan::{Plan, CA_STEM, PLAN_FILE};
use crate::k8s::user::{self, UserSpec};
use crate::model::file::OutFile;
use crate::output;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Issue a user's client certificate and write a kubeconfig for it
    User(UserArgs),
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki kubeconfig user --dir pki --name alice --group devs --expiry 720h
  kpki kubeconfig user --dir pki --name bob --server https://k8s.example.com:6443 --out ~/bob.kubeconfig")]
pub struct UserArgs {
    /// The set's directory (its ca.pem and ca-key.pem sign the certificate)
    #[arg(long, value_name = "DIR", default_value = "pki")]
    pub dir: PathBuf,
    /// The user name (the certificate's CN), e.g. alice
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// The user's group (the certificate's O), e.g. devs; bind it with RBAC
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// How long the certificate is valid, e.g. 720h or 30d (clamped to the CA's end)
    #[arg(long, value_name = "DURATION", default_value = "8760h", value_parser = super::args::parse_window)]
    pub expiry: time::Duration,
    /// The API server URL (default: the one the set's admin kubeconfig uses)
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Write the kubeconfig here instead of DIR/NAME.kubeconfig
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing kubeconfig of that name
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub passphrase: super::passphrase::PassphraseArgs,
}

/// Refuses an `--out` that is a file of the set's directory (by its real
/// location), or an existing file that is not a kubeconfig, or an existing
/// kubeconfig without `--force`.
fn check_out(out: &std::path::Path, set_dir: &std::path::Path, plan: Option<&Plan>, force: bool) -> Result<()> {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let same_dir = match (std::fs::canonicalize(&parent), std::fs::canonicalize(set_dir)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same_dir {
        let planned = plan.is_some_and(|p| crate::k8s::set::relevant_files(p).contains(&name));
        if planned || name.ends_with(".pem") || name.starts_with('.') {
            return Err(Failure::input(format!("--out {}: it is one of the set's files; write the user's kubeconfig elsewhere (or leave out --out)", display(out))));
        }
    }
    match std::fs::symlink_metadata(out) {
        Err(_) => Ok(()),
        Ok(m) if !m.file_type().is_file() => Err(Failure::input(format!("--out {}: it exists and is not a regular file", display(out)))),
        Ok(_) => {
            let bytes = super::read_input(out, "kubeconfig")?;
            if crate::k8s::files::Kubeconfig::from_yaml(&bytes).is_err() {
                return Err(Failure::input(format!("--out {}: it exists and is not a kubeconfig; kpki replaces only a kubeconfig (with --force)", display(out))));
            }
            if !force {
                return Err(Failure::input(format!("--out {}: exists; pass --force to replace it with a new certificate", display(out))));
            }
            Ok(())
        }
    }
}

/// Where the kubeconfig goes.
enum Target {
    /// A member of the set's directory.
    Dir(String),
    /// A path the user gave.
    File(PathBuf),
}

pub fn run(c: Command) -> Result<()> {
    match c {
        Command::User(a) => user(a),
    }
}

fn user(a: UserArgs) -> Result<()> {
    let od = output::OutDir::open(&a.dir)?.ok_or_else(|| Failure::input(format!("--dir {}: no such directory", display(&a.dir))))?;
    let plan = match od.read(PLAN_FILE)? {
        Some(t) => Some(Plan::from_json(&t).map_err(|e| Failure::input(format!("{}: {e}", display(&a.dir.join(PLAN_FILE)))))?),
        None => None,
    };
    let server = match (&a.server, &plan) {
        (Some(s), _) => {
            let ok = s.strip_prefix("https://").is_some_and(|rest| !rest.is_empty() && !rest.chars().any(|c| c.is_whitespace() || c.is_control()));
            if !ok {
                return Err(Failure::input(format!("--server {}: not an https:// URL", crate::pki::json::shown(s))));
            }
            s.clone()
        }
        (None, Some(p)) => p
            .kubeconfigs
            .iter()
            .find(|k| k.stem == "admin")
            .map(|k| k.server.clone())
            .ok_or_else(|| Failure::input(format!("{}: the plan has no admin kubeconfig to take the server from; pass --server", display(&a.dir.join(PLAN_FILE)))))?,
        (None, None) => return Err(Failure::input(format!("{} has no plan.json (not made by kpki bootstrap): pass --server https://ADDRESS:6443", display(&a.dir)))),
    };
    let cluster = plan.as_ref().map(|p| p.cluster.clone()).unwrap_or_else(|| "kubernetes".into());
    let ca = load_ca(&a.dir.join(format!("{CA_STEM}.pem")), &a.dir.join(format!("{CA_STEM}-key.pem")), &a.passphrase)?;
    let spec = UserSpec { name: a.name.clone(), group: a.group.clone(), expiry: a.expiry, key_algo: ca.key().algo() };
    // Decide where it goes before any key is made.
    let target = match &a.out {
        None => Target::Dir(user::file_name(plan.as_ref(), &a.name).map_err(|e| Failure::input(e.to_string()))?),
        Some(p) => Target::File(p.clone()),
    };
    match &target {
        Target::Dir(name) => {
            if od.read(name)?.is_some() && !a.force {
                return Err(Failure::input(format!("{}: exists; pass --force to replace it with a new certificate", display(&a.dir.join(name)))));
            }
        }
        // Only a kubeconfig is ever replaced, and never a file of the set,
        // whatever the path says (a key, a certificate, the set's kubeconfigs).
        Target::File(out) => check_out(out, &a.dir, plan.as_ref(), a.force)?,
    }
    let (text, warnings) = user::kubeconfig(&ca, &cluster, &server, &spec, OffsetDateTime::now_utc()).map_err(|e| Failure::input(e.to_string()))?;
    for w in warnings {
        warn(&w);
    }
    let written = match target {
        Target::Dir(name) => {
            let (dir, recovery) = output::OutDir::lock(&a.dir)?;
            super::bootstrap::report_recovery(&dir, recovery);
            dir.commit(&[OutFile::secret(&name, text.as_bytes())], a.force)?;
            a.dir.join(name)
        }
        Target::File(out) => {
            output::write_all(&[OutFile::secret(&out, text.as_bytes())], a.force)?;
            out
        }
    };
    eprintln!(
        "{}: wrote {} for user {}{} ({server}); grant it rights with RBAC, e.g. kubectl create rolebinding ... --{}={}",
        crate::progress::program(),
        display(&written),
        crate::pki::json::shown(&a.name),
        a.group.as_deref().map(|g| format!(" in group {}", crate::pki::json::shown(g))).unwrap_or_default(),
        if a.group.is_some() { "group" } else { "user" },
        crate::pki::json::shown(a.group.as_deref().unwrap_or(&a.name)),
    );
    Ok(())
}
