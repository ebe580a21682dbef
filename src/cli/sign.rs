//! `kpki sign`: signs an existing PKCS#10 CSR with a CA (cfssl sign).

use std::path::PathBuf;

use time::OffsetDateTime;

use super::gencert::emit;
use super::{display, load_ca, load_profile, read_input, Failure, Result};
use crate::pki::generate::{self, CsrError};
use crate::pki::request::split_hostname_flag;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki sign -ca ca.pem -ca-key ca-key.pem -config ca-config.json -profile kubernetes server.csr | kpki json -bare server
  kpki sign -ca ca.pem -ca-key ca-key.pem -hostname api.example.com,10.32.0.1 -csr server.csr")]
pub struct Args {
    #[command(flatten)]
    pub signing: super::args::SigningArgs,
    /// Write NAME.pem instead of printing JSON
    #[arg(long, value_name = "NAME")]
    pub bare: Option<String>,
    /// Directory for the file written with -bare
    #[arg(long = "out-dir", value_name = "DIR", requires = "bare")]
    pub out_dir: Option<PathBuf>,
    /// The PKCS#10 CSR in PEM, as a flag (cfssl: the flag wins over the argument)
    #[arg(long = "csr", value_name = "CSR.pem")]
    pub csr_flag: Option<PathBuf>,
    /// The PKCS#10 CSR in PEM (- for stdin)
    #[arg(value_name = "CSR.pem", required_unless_present = "csr_flag")]
    pub csr: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let csr_path = match (&a.csr_flag, &a.csr) {
        // cfssl reads a second file as a subject override; kpki has none.
        (Some(f), Some(p)) => {
            return Err(Failure::input(format!("give the CSR once: -csr {} or the argument {}, not both", display(f), display(p))));
        }
        (Some(f), _) => f.clone(),
        (None, Some(p)) => p.clone(),
        (None, None) => return Err(Failure::input("give the CSR: -csr FILE or the CSR file as the argument")),
    };
    let pem = read_input(&csr_path, "CSR")?;
    let signing = &a.signing;
    if let Some(target) = super::remote_target(signing)? {
        // Checked here first: a CSR that is not one never leaves the machine.
        let wanted = generate::read_csr(&pem, None).map_err(|e| Failure::input(format!("CSR {}: {e}", display(&csr_path))))?;
        let cert = super::remote_sign(&target, &wanted.csr_pem, signing.hostname.as_deref(), signing.label.as_deref(), signing.tls_remote_ca.as_deref())?;
        let csr = if a.bare.is_some() { None } else { Some(wanted.csr_pem) };
        return emit(crate::pki::generate::Generated { cert: Some(cert), csr, key: None, warnings: vec![] }, a.bare.as_deref(), a.out_dir.as_deref(), false);
    }
    let (ca_path, ca_key_path) = signing.ca_paths()?;
    let hosts = signing.hostname.as_deref().map(split_hostname_flag);
    let wanted = generate::read_csr(&pem, hosts.as_deref()).map_err(|e| match e {
        CsrError::Hosts(_) => Failure::input(e.to_string()),
        _ => Failure::input(format!("CSR {}: {e}", display(&csr_path))),
    })?;
    let profile = load_profile(signing.config.as_deref(), signing.profile.as_deref())?;
    let ca = load_ca(ca_path, ca_key_path, &signing.passphrase)?;
    let mut made = generate::sign_csr(wanted, &profile, &ca, OffsetDateTime::now_utc()).map_err(|e| Failure::input(e.to_string()))?;
    if a.bare.is_some() {
        // The CSR is the input file: -bare writes only the certificate.
        made.csr = None;
    }
    emit(made, a.bare.as_deref(), a.out_dir.as_deref(), false)
}
