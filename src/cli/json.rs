//! `kpki json` (cfssljson): writes the PEMs from cfssl's JSON output to files.

use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;
use zeroize::Zeroizing;

use super::gencert::files_for;
use super::{display, read_input, Failure, Result};
use crate::output::{self, OutFile};
use crate::pki::{cert, key};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The input is cfssl's bare JSON object, not the API envelope {"success","result"}
    #[arg(long)]
    pub bare: bool,
    /// Read the JSON from FILE instead of stdin
    #[arg(long = "f", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print the PEMs to stdout instead of writing files
    #[arg(long)]
    pub stdout: bool,
    /// Directory for the files
    #[arg(long = "out-dir", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Overwrite an existing private key (cfssljson silently does; kpki refuses)
    #[arg(long)]
    pub force: bool,
    /// File name stem: writes NAME.pem, NAME-key.pem, NAME.csr
    #[arg(value_name = "NAME", default_value = "cert")]
    pub name: String,
}

pub fn run(a: Args) -> Result<()> {
    let source = a.file.clone().unwrap_or_else(|| PathBuf::from("-"));
    let text = read_input(&source, "cfssl JSON")?;
    let pems = read_pems(&text, a.bare, &display(&source))?;
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

/// The PEMs in cfssl's JSON output, each checked to hold what its field says.
#[derive(Default)]
pub struct Pems {
    pub cert: Option<String>,
    pub key: Option<Zeroizing<String>>,
    pub csr: Option<String>,
    pub bundle: Option<String>,
}

/// Reads cfssl's JSON output: the bare object (`bare`) or the API envelope
/// `{"success","result"}`. `where_` names the input in errors.
pub fn read_pems(text: &[u8], bare: bool, where_: &str) -> Result<Pems> {
    let value: Value = crate::pki::json::parse(text)
        .map_err(|e| Failure::input(format!("cfssl JSON from {where_}: {e}; expected the output of kpki/cfssl gencert")))?;
    let obj = if bare {
        value
    } else {
        let ok = value.get("success").and_then(Value::as_bool);
        match (ok, value.get("result")) {
            (Some(true), Some(r)) => r.clone(),
            (Some(false), _) => {
                let msgs: Vec<String> = value
                    .get("errors")
                    .and_then(Value::as_array)
                    .map(|errs| errs.iter().filter_map(|e| e.get("message").and_then(Value::as_str).map(one_line)).collect())
                    .unwrap_or_default();
                return Err(Failure::input(format!("the request in {where_} failed: {}", msgs.join("; "))));
            }
            _ => {
                return Err(Failure::input(format!(
                    "cfssl JSON from {where_} is not an API response {{\"success\",\"result\"}}; for `cfssl gencert` output pass -bare"
                )))
            }
        }
    };
    let Value::Object(map) = &obj else {
        return Err(Failure::input(format!("cfssl JSON from {where_} must be an object")));
    };
    let field = |names: &[&str]| -> Result<Option<&str>> {
        for n in names {
            match map.get(*n) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) if s.is_empty() => continue,
                Some(Value::String(s)) => return Ok(Some(s.as_str())),
                Some(_) => return Err(Failure::input(format!("cfssl JSON from {where_}: field {n:?} must be a PEM string"))),
            }
        }
        Ok(None)
    };
    let cert_pem = field(&["cert", "certificate"])?;
    let key_pem = field(&["key"])?;
    let csr_pem = field(&["csr", "certificate_request"])?;
    let bundle_pem = match map.get("bundle") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Object(b)) => b.get("bundle").and_then(Value::as_str),
        _ => None,
    };
    if cert_pem.is_none() && key_pem.is_none() && csr_pem.is_none() && bundle_pem.is_none() {
        return Err(Failure::input(format!("cfssl JSON from {where_} has no cert, key, csr or bundle")));
    }
    if let Some(c) = cert_pem {
        cert::cert_from_pem(c.as_bytes()).map_err(|e| Failure::input(format!("field \"cert\" from {where_}: {e}")))?;
    }
    if let Some(c) = csr_pem {
        cert::csr_from_pem(c.as_bytes()).map_err(|e| Failure::input(format!("field \"csr\" from {where_}: {e}")))?;
    }
    if let Some(b) = bundle_pem {
        cert::certs_from_pem(b.as_bytes()).map_err(|e| Failure::input(format!("field \"bundle\" from {where_}: {e}")))?;
    }
    if let Some(k) = key_pem {
        match key::PrivateKey::from_pem(k.as_bytes()) {
            Ok(_) | Err(key::KeyError::Encrypted) => {}
            Err(e) => return Err(Failure::input(format!("field \"key\" from {where_}: {e}"))),
        }
    }
    Ok(Pems {
        cert: cert_pem.map(str::to_string),
        key: key_pem.map(|k| Zeroizing::new(k.to_string())),
        csr: csr_pem.map(str::to_string),
        bundle: bundle_pem.map(str::to_string),
    })
}

/// A message from the input, shown on one line of ours.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
