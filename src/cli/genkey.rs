//! `kpki genkey`: a key and CSR from a CSR JSON, or a CA with `-initca` (cfssl genkey).

use std::path::PathBuf;

use super::gencert::{emit, generate_failure, read_request};
use crate::pki::generate;
use super::Result;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki genkey csr.json | kpki json -bare server
  kpki genkey -initca ca-csr.json | kpki json -bare ca")]
pub struct Args {
    /// Make a self-signed CA instead (same as gencert -initca)
    #[arg(long)]
    pub initca: bool,
    #[command(flatten)]
    pub out: super::args::BareArgs,
    /// The CSR JSON file (- for stdin)
    #[arg(value_name = "CSR.json")]
    pub csr: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let req = read_request(&a.csr)?;
    let format = a.out.key_format.into();
    let made = if a.initca { generate::initca(&req, None, format, time::OffsetDateTime::now_utc()) } else { generate::key_and_csr(&req, format) }
        .map_err(|e| generate_failure(e, &a.csr, false))?;
    emit(made, a.out.bare.as_deref(), a.out.out_dir.as_deref(), a.out.force)
}
