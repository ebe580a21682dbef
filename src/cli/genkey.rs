//! `kpki genkey`: a key and CSR from a CSR JSON, or a CA with `-initca` (cfssl genkey).

use std::path::PathBuf;

use super::gencert::{emit, initca, key_and_csr, read_request};
use super::{KeyFormatArg, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Make a self-signed CA instead (same as gencert -initca)
    #[arg(long)]
    pub initca: bool,
    /// Write NAME-key.pem and NAME.csr instead of printing JSON
    #[arg(long, value_name = "NAME")]
    pub bare: Option<String>,
    /// Directory for the files written with -bare
    #[arg(long = "out-dir", value_name = "DIR", requires = "bare")]
    pub out_dir: Option<PathBuf>,
    /// Private key encoding
    #[arg(long = "key-format", value_enum, default_value_t)]
    pub key_format: KeyFormatArg,
    /// Overwrite an existing private key with -bare
    #[arg(long)]
    pub force: bool,
    /// The CSR JSON file (- for stdin)
    #[arg(value_name = "CSR.json")]
    pub csr: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let req = read_request(&a.csr)?;
    let made = if a.initca { initca(&req, &a.csr, None, a.key_format.into())? } else { key_and_csr(&req, &a.csr, a.key_format.into())? };
    emit(made, a.bare.as_deref(), a.out_dir.as_deref(), a.force)
}
