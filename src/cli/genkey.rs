//! `kpki genkey`: a key and CSR from a CSR JSON, or a CA with `-initca` (cfssl genkey).

use std::path::PathBuf;

use super::gencert::{emit, initca, key_and_csr, read_request};
use super::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Make a self-signed CA instead (same as gencert -initca)
    #[arg(long)]
    pub initca: bool,
    #[command(flatten)]
    pub out: super::gencert::BareArgs,
    /// The CSR JSON file (- for stdin)
    #[arg(value_name = "CSR.json")]
    pub csr: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let req = read_request(&a.csr)?;
    let format = a.out.key_format.into();
    let made = if a.initca { initca(&req, &a.csr, None, format)? } else { key_and_csr(&req, &a.csr, format)? };
    emit(made, a.out.bare.as_deref(), a.out.out_dir.as_deref(), a.out.force)
}
