//! `kpki completions SHELL` and `kpki man [COMMAND]`: shell completions and
//! man pages generated from the command line's own definitions.

use clap::CommandFactory;

use super::{Cli, Failure, Result};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki completions bash > /etc/bash_completion.d/kpki
  kpki completions zsh > \"${fpath[1]}/_kpki\"")]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki man > kpki.1 && man -l kpki.1
  kpki man bootstrap > kpki-bootstrap.1
  kpki man \"kubeconfig user\"")]
pub struct ManArgs {
    /// A command's page (e.g. bootstrap, "kubeconfig user") instead of kpki's
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// Prints the completion script for the shell on stdout.
pub fn completions(a: CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(a.shell, &mut cmd, "kpki", &mut out);
    Ok(())
}

/// Prints a man page (roff) on stdout: kpki's, or one command's (`kpki-<command>`).
pub fn man(a: ManArgs) -> Result<()> {
    let root = Cli::command();
    let page = match &a.command {
        None => root,
        Some(name) => {
            let known: Vec<String> = root.get_subcommands().map(|c| c.get_name().to_string()).collect();
            // A nested command as "kubeconfig user" or "kubeconfig-user", as the pages name them.
            let nested = || -> Option<clap::Command> {
                let split = name.split_once(' ').or_else(|| {
                    root.get_subcommands()
                        .filter(|c| c.has_subcommands())
                        .find_map(|c| name.strip_prefix(c.get_name()).and_then(|r| r.strip_prefix('-')).map(|r| (c.get_name(), r)))
                });
                let (parent, child) = split?;
                root.find_subcommand(parent)?.find_subcommand(child).cloned()
            };
            let sub = root
                .find_subcommand(name)
                .cloned()
                .or_else(nested)
                .ok_or_else(|| Failure::input(format!("man: no command {} (commands: {})", crate::pki::json::shown(name), known.join(", "))))?;
            sub.name(format!("kpki-{}", name.replace(' ', "-"))).version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut buf: Vec<u8> = Vec::new();
    clap_mangen::Man::new(page).render(&mut buf).map_err(|e| Failure::input(format!("man: {e}")))?;
    use std::io::Write;
    std::io::stdout().lock().write_all(&buf).map_err(|e| Failure::input(format!("cannot write to stdout: {e}")))?;
    Ok(())
}
