//! `kpki mkbundle [-f FILE] PATH...`: every certificate found under the
//! paths, in one PEM file (cfssl-mkbundle). Expired certificates are left
//! out (as cfssl); identical ones are written once; the order is the paths'
//! sorted order, so a re-run writes the same file.

use std::path::{Path, PathBuf};

use super::{display, read_input, Failure, Result};
use crate::output::{self, OutFile};
use crate::pki::cert;
use crate::pki::key::pem_encode;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki mkbundle -f roots.pem /etc/kubernetes/pki
  kpki mkbundle -f intermediates.pem int1.pem int2.pem")]
pub struct Args {
    /// The bundle file to write (- for stdout)
    #[arg(short = 'f', long = "f", value_name = "FILE", default_value = "cert-bundle.crt")]
    pub file: PathBuf,
    /// Accepted for cfssl's scripts (its number of workers); kpki reads the files in order
    #[arg(long = "nw", value_name = "N", default_value_t = 4)]
    pub workers: u32,
    /// Files or directories (searched recursively; symbolic links to directories are not followed)
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

const MAX_FILES: usize = 100_000;

fn walk(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| Failure::input(format!("{}: {}", display(path), super::io_reason(&e))))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Failure::input(format!("{}: {}", display(path), super::io_reason(&e))))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            walk(&e, out)?;
        }
    } else if meta.is_file() || meta.file_type().is_symlink() && std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        if out.len() >= MAX_FILES {
            return Err(Failure::input(format!("more than {MAX_FILES} files under the paths; name fewer")));
        }
        out.push(path.to_path_buf());
    }
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    let _ = a.workers;
    if a.paths.is_empty() {
        return Err(Failure::input("name the files or directories to collect certificates from (cfssl-mkbundle writes an empty bundle here)"));
    }
    let mut files = Vec::new();
    for p in &a.paths {
        walk(p, &mut files)?;
    }
    let now = time::OffsetDateTime::now_utc();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut text = String::new();
    for f in files.iter().filter(|f| **f != a.file) {
        let bytes = match read_input(f, "file") {
            Ok(b) => b,
            // A path named on the command line must be read; one found inside a directory may be skipped.
            Err(e) if a.paths.contains(f) => return Err(e),
            Err(_) => {
                super::warn(&format!("{}: cannot be read; skipped", display(f)));
                continue;
            }
        };
        let Ok(certs) = cert::certs_from_pem(&bytes) else {
            crate::progress::detail(&format!("{}: no certificate", display(f)));
            continue;
        };
        for der in certs {
            let Ok(c) = cert::parse(&der) else {
                super::warn(&format!("{}: a certificate does not parse; skipped", display(f)));
                continue;
            };
            let (nb, na) = cert::validity(&c);
            if now > na || now < nb {
                super::warn(&format!("{}: {} is not valid now (until {}); left out", display(f), cert::name_shown(c.subject()), cert::rfc3339(na)));
                continue;
            }
            if seen.iter().any(|s| s.as_slice() == der.as_ref()) {
                continue;
            }
            seen.push(der.to_vec());
            text.push_str(&pem_encode("CERTIFICATE", &der));
        }
    }
    if seen.is_empty() {
        return Err(Failure::check(format!(
            "no valid certificate under {}; nothing written (cfssl-mkbundle writes an empty bundle and exits 0)",
            a.paths.iter().map(|p| display(p)).collect::<Vec<_>>().join(", ")
        )));
    }
    if a.file.as_os_str() == "-" {
        print!("{text}");
        return Ok(());
    }
    output::write_all(&[OutFile::public(&a.file, text.into_bytes())], true)?;
    crate::progress::note(&format!("wrote {} certificate(s) to {}", seen.len(), display(&a.file)));
    Ok(())
}
