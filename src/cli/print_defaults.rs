//! `kpki print-defaults csr|config`: the default CSR JSON and signing config.

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
}

#[derive(clap::Args, Debug)]
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
    };
    // cfssl prints the document followed by an empty line.
    println!("{text}");
    Ok(())
}
