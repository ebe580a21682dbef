//! `kpki print-defaults csr|config|cluster|list`: the default CSR JSON, signing
//! config and cluster config, or their names.

use super::Result;
use crate::pki::profile::{DEFAULT_CONFIG_JSON, DEFAULT_CSR_JSON};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum What {
    /// A CSR JSON (cfssl's default)
    Csr,
    /// A signing config (cfssl's default)
    Config,
    /// The seed cluster config that `bootstrap` uses without --config
    Cluster,
    /// The names of the defaults (cfssl print-defaults list)
    List,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki print-defaults cluster > cluster.toml
  kpki print-defaults csr > csr.json
  kpki print-defaults list")]
pub struct Args {
    #[arg(value_enum)]
    pub what: What,
}

pub fn run(a: Args) -> Result<()> {
    let text = match a.what {
        What::Csr => DEFAULT_CSR_JSON,
        What::Config => DEFAULT_CONFIG_JSON,
        What::Cluster => {
            print!("{}", crate::model::cluster::DEFAULT_TOML);
            return Ok(());
        }
        What::List => {
            // cfssl's text, with kpki's third default.
            print!("Default configurations are available for:\n\tconfig\n\tcsr\n\tcluster\n");
            return Ok(());
        }
    };
    // cfssl prints the document followed by an empty line.
    println!("{text}");
    Ok(())
}
