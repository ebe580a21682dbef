//! `kpki gencsr -key KEY csr.json`: a CSR for an existing key (cfssl 1.3's
//! command; cfssl 1.2 has none). Prints `{"csr","key"}` with the key file
//! as given, as cfssl does; with `-bare NAME` writes only `NAME.csr`.

use std::path::PathBuf;

use super::gencert::{emit, generate_failure, read_request};
use super::{display, read_input, Failure, Result};
use crate::pki::generate::{self, Generated};
use crate::pki::key::PrivateKey;
use crate::pki::request::split_hostname_flag;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki gencsr -key node-key.pem node-csr.json | kpki json -bare node
  kpki gencsr -key node-key.pem -hostname node-1,10.240.0.21 node-csr.json")]
pub struct Args {
    /// The existing private key (PKCS#1, SEC1, PKCS#8 or encrypted PKCS#8)
    #[arg(long, value_name = "KEY.pem")]
    pub key: PathBuf,
    /// Comma-separated SANs; replaces the request's own
    #[arg(long, value_name = "a,b,1.2.3.4")]
    pub hostname: Option<String>,
    /// Write NAME.csr instead of printing JSON
    #[arg(long, value_name = "NAME")]
    pub bare: Option<String>,
    /// Directory for the file written with -bare
    #[arg(long = "out-dir", value_name = "DIR", requires = "bare")]
    pub out_dir: Option<PathBuf>,
    #[command(flatten)]
    pub passphrase: super::passphrase::PassphraseArgs,
    /// The CSR JSON file (- for stdin); its "key" section does not apply
    #[arg(value_name = "CSR.json")]
    pub csr: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    if a.key == a.csr && a.key.as_os_str() == "-" {
        return Err(Failure::input("the key and the CSR JSON cannot both come from stdin"));
    }
    let req = read_request(&a.csr)?;
    let key_pem = zeroize::Zeroizing::new(read_input(&a.key, "private key")?);
    let passphrase = if PrivateKey::is_encrypted_pem(&key_pem) {
        Some(a.passphrase.require(&format!("Passphrase for {}: ", display(&a.key)), &format!("key {} is encrypted", display(&a.key)))?)
    } else {
        a.passphrase.warn_unused(&display(&a.key));
        None
    };
    let key = PrivateKey::from_pem_with_passphrase(&key_pem, passphrase.as_ref().map(|p| p.as_slice()))
        .map_err(|e| Failure::input(format!("key {}: {e}", display(&a.key))))?;
    let hosts = a.hostname.as_deref().map(split_hostname_flag);
    let csr = generate::csr_for_key(&req, hosts.as_deref(), &key).map_err(|e| generate_failure(e, &a.csr, hosts.is_some()))?;
    // The key is echoed as given in the JSON (cfssl's output); never rewritten with -bare.
    let echoed = match a.bare {
        Some(_) => None,
        None => Some(zeroize::Zeroizing::new(String::from_utf8_lossy(&key_pem).into_owned())),
    };
    emit(Generated { cert: None, csr: Some(csr), key: echoed, warnings: vec![] }, a.bare.as_deref(), a.out_dir.as_deref(), false)
}
