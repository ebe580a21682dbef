//! `kpki json` (cfssljson): writes the PEMs from cfssl's JSON output to files.

use std::io::Write;
use std::path::PathBuf;

use super::gencert::files_for;
use super::{display, read_input, Failure, Result};
use crate::output::{self, OutFile};
use crate::pki::cfssl_json::read_pems;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki gencert -initca ca-csr.json | kpki json -bare ca      # ca.pem, ca-key.pem, ca.csr
  kpki json -f response.json -out-dir pki admin             # from a file, into pki/
  kpki gencert ... | kpki json -stdout                       # the PEMs on stdout")]
pub struct Args {
    /// The input is cfssl's bare JSON object, not the API envelope {"success","result"}
    #[arg(long)]
    pub bare: bool,
    /// Read the JSON from FILE instead of stdin
    #[arg(short = 'f', long = "f", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print the PEMs to stdout instead of writing files
    #[arg(long)]
    pub stdout: bool,
    /// Directory for the files
    #[arg(long = "out-dir", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Print the version (cfssljson -version) and exit
    #[arg(long)]
    pub version: bool,
    /// Overwrite an existing private key (cfssljson silently does; kpki refuses)
    #[arg(long)]
    pub force: bool,
    /// File name stem: writes NAME.pem, NAME-key.pem, NAME.csr
    #[arg(value_name = "NAME", default_value = "cert")]
    pub name: String,
}

pub fn run(a: Args) -> Result<()> {
    if a.version {
        print!("{}", super::version_text());
        return Ok(());
    }
    let source = a.file.clone().unwrap_or_else(|| PathBuf::from("-"));
    let text = read_input(&source, "cfssl JSON")?;
    if text.iter().all(u8::is_ascii_whitespace) && source == std::path::Path::new("-") {
        // The usual cause: the command before the pipe failed (and said why).
        return Err(Failure::input("no cfssl JSON on stdin (did the command before the pipe fail?); nothing was written"));
    }
    let pems = read_pems(&text, a.bare).map_err(|e| Failure::input(format!("cfssl JSON from {}: {e}", display(&source))))?;
    if a.stdout {
        let mut out = std::io::stdout().lock();
        for pem in [pems.cert.as_deref(), pems.key.as_deref().map(String::as_str), pems.csr.as_deref(), pems.bundle.as_deref()].into_iter().flatten() {
            out.write_all(pem.as_bytes()).map_err(|e| Failure::input(format!("cannot write to stdout: {e}")))?;
        }
        return Ok(());
    }
    let base = super::base_path(a.out_dir.as_deref(), &a.name)?;
    let mut files: Vec<OutFile> = files_for(&base, pems.cert.as_deref(), pems.key.as_deref().map(String::as_str), pems.csr.as_deref());
    if let Some(b) = pems.bundle {
        let mut p = base.as_os_str().to_owned();
        p.push("-bundle.pem");
        files.push(OutFile::public(PathBuf::from(p), b.into_bytes()));
    }
    output::write_all(&files, a.force)?;
    Ok(())
}
