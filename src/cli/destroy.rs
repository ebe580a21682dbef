//! `kpki destroy --provider aws`: deletes every AWS resource tagged for the
//! cluster, in dependency order.

#[cfg(feature = "aws")]
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use super::args::AwsArgs;
#[cfg(feature = "aws")]
use super::{bootstrap::load_cluster, Failure};
use super::Result;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestroyProvider {
    /// Everything tagged kubernetes.io/cluster/<name>=owned on AWS
    Aws,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki destroy --provider aws --dry-run           # list what would be deleted
  kpki destroy --provider aws --config cluster.toml --yes")]
pub struct Args {
    /// Cluster config (TOML); default: the embedded seed cluster
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Which infrastructure to delete
    #[arg(long, value_enum)]
    pub provider: DestroyProvider,
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
    /// List what would be deleted (type, id, name) and delete nothing
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[cfg(not(feature = "aws"))]
pub fn run(a: Args) -> Result<()> {
    a.aws.check()?;
    Err(super::bootstrap::no_aws())
}

#[cfg(feature = "aws")]
pub fn run(a: Args) -> Result<()> {
    a.aws.check()?;
    let cluster = load_cluster(a.config.as_deref())?;
    // destroy creates no key pair: nothing is saved.
    let provider = a.aws.provider(&cluster, PathBuf::new());
    let listed = provider.to_destroy(&cluster).map_err(|e| Failure::input(e.to_string()))?;
    if listed.is_empty() {
        println!("nothing is tagged for cluster {} in {}", cluster.name, provider.options.region);
        return Ok(());
    }
    let table = |out: &mut dyn Write| -> std::io::Result<()> {
        writeln!(out, "{:<18} {:<34} NAME", "TYPE", "ID")?;
        for r in &listed {
            writeln!(out, "{:<18} {:<34} {}", r.kind, r.id, crate::pki::json::shown(&r.name))?;
        }
        Ok(())
    };
    if a.dry_run {
        let _ = table(&mut std::io::stdout().lock());
        println!("dry run: {} resource(s) of cluster {} in {} would be deleted; nothing was deleted", listed.len(), cluster.name, provider.options.region);
        return Ok(());
    }
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::input("destroy deletes the whole cluster; pass --yes when not running on a terminal (--dry-run lists what it would delete)"));
        }
        let _ = table(&mut std::io::stderr().lock());
        eprint!(
            "Delete these {} resource(s) of cluster {} in {}? Type the cluster name to confirm: ",
            listed.len(),
            cluster.name,
            provider.options.region
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).map_err(|e| Failure::input(format!("cannot read the answer: {e}")))?;
        if answer.trim() != cluster.name {
            return Err(Failure::input("not confirmed; nothing was deleted"));
        }
    }
    let (deleted, failed) = provider.destroy(&cluster, (!a.yes).then_some(&listed[..])).map_err(|e| Failure::input(e.to_string()))?;
    println!("deleted {} resource(s) of cluster {}", deleted.len(), cluster.name);
    if failed.is_empty() {
        Ok(())
    } else {
        for f in &failed {
            eprintln!("{}: not deleted: {f}", crate::progress::program());
        }
        Err(Failure::check(format!("{} resource(s) could not be deleted; run destroy again", failed.len())))
    }
}
