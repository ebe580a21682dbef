//! `kpki certinfo -cert FILE`: a certificate as cfssl certinfo JSON.

use std::path::PathBuf;

use super::{display, read_input, Failure, Result};
use crate::pki::cert;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The certificate (PEM; - for stdin)
    #[arg(long, value_name = "CERT.pem")]
    pub cert: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let pem = read_input(&a.cert, "certificate")?;
    let der = cert::cert_from_pem(&pem).map_err(|e| Failure::input(format!("certificate {}: {e}", display(&a.cert))))?;
    let info = cert::certinfo(&der).map_err(|e| Failure::input(format!("certificate {}: {e}", display(&a.cert))))?;
    println!("{}", cert::go_json_pretty(&info));
    Ok(())
}
