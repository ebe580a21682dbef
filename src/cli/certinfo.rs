//! `kpki certinfo`: a certificate as cfssl certinfo JSON, from a file
//! (`-cert`), a TLS server (`-domain`), or a directory searched by serial
//! number and authority key id (`-serial`, `-aki`: cfssl 1.6's flags, which
//! search its database); or a CSR as cfssl prints it (`-csr`).

use std::path::PathBuf;

use super::{display, read_input, Failure, Result};
use crate::pki::{cert, csrinfo};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki certinfo -cert ca.pem
  kpki certinfo -csr admin.csr
  kpki certinfo -domain 10.240.0.10:6443
  kpki certinfo -serial 1234567890 -aki 1F:2E:... -dir pki")]
pub struct Args {
    /// The certificate (PEM; - for stdin)
    #[arg(long, value_name = "CERT.pem")]
    pub cert: Option<PathBuf>,
    /// A certificate request (PEM; - for stdin), printed as cfssl 1.2 prints it
    #[arg(long, value_name = "CSR.pem")]
    pub csr: Option<PathBuf>,
    /// A TLS server, HOST[:PORT] (port 443 by default): prints the certificate it presents (10 s limit; the certificate is not trusted, only shown)
    #[arg(long, value_name = "HOST[:PORT]")]
    pub domain: Option<String>,
    /// Find the certificate with this serial number (decimal, or hex as 0x... or with colons) in -dir
    #[arg(long, value_name = "SERIAL")]
    pub serial: Option<String>,
    /// Find the certificate with this authority key id (hex, colons optional) in -dir
    #[arg(long, value_name = "AKI")]
    pub aki: Option<String>,
    /// The directory -serial and -aki search (its *.pem files)
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let targets = [a.cert.is_some(), a.csr.is_some(), a.domain.is_some(), a.serial.is_some() || a.aki.is_some()];
    match targets.iter().filter(|t| **t).count() {
        0 => return Err(Failure::input("name what to show: -cert FILE, -csr FILE, -domain HOST[:PORT], or -serial/-aki with -dir")),
        1 => {}
        _ => return Err(Failure::input("give one of -cert, -csr, -domain, or -serial/-aki")),
    }
    if let Some(path) = &a.csr {
        let pem = read_input(path, "certificate request")?;
        let der = cert::csr_from_pem(&pem).map_err(|e| Failure::input(format!("certificate request {}: {e}", display(path))))?;
        let text = csrinfo::csrinfo(&der).map_err(|e| Failure::input(format!("certificate request {}: {e}", display(path))))?;
        println!("{text}");
        return Ok(());
    }
    let der = if let Some(path) = &a.cert {
        let pem = read_input(path, "certificate")?;
        let certs = cert::certs_from_pem(&pem).map_err(|e| Failure::input(format!("certificate {}: {e}", display(path))))?;
        if certs.len() > 1 {
            // cfssl: "the PEM file should contain only one object".
            return Err(Failure::input(format!(
                "certificate {}: it holds {} certificates; certinfo shows one (cfssl refuses such a file too): split it, or use `kpki bundle -cert` for a chain",
                display(path),
                certs.len()
            )));
        }
        cert::cert_from_pem(&pem).map_err(|e| Failure::input(format!("certificate {}: {e}", display(path))))?.to_vec()
    } else if let Some(target) = &a.domain {
        let chain = super::fetch::peer_chain(target, super::fetch::TIMEOUT).map_err(|e| Failure::check(format!("-domain {target}: {e}")))?;
        chain.into_iter().next().ok_or_else(|| Failure::input(format!("-domain {target}: no certificate")))?
    } else {
        find(&a)?
    };
    let info = cert::certinfo(&der).map_err(|e| Failure::input(format!("certificate: {e}")))?;
    println!("{}", cert::go_json_pretty(&info));
    Ok(())
}

/// The one certificate in `-dir` with the serial and/or AKI asked for.
fn find(a: &Args) -> Result<Vec<u8>> {
    let serial = a.serial.as_deref().map(parse_serial).transpose()?;
    let aki = a.aki.as_deref().map(|t| parse_hex(t).ok_or_else(|| Failure::input(format!("-aki {t:?}: not hex (e.g. 1F:2E:3D or 1f2e3d)")))).transpose()?;
    let mut found: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for path in super::cert_files(&a.dir)? {
        let Ok(pem) = read_input(&path, "certificate") else { continue };
        let Ok(certs) = cert::certs_from_pem(&pem) else { continue };
        for der in certs {
            let Ok(c) = cert::parse(&der) else { continue };
            let serial_ok = serial.as_ref().is_none_or(|s| strip_zeros(c.raw_serial()) == strip_zeros(s));
            let aki_ok = aki.as_ref().is_none_or(|k| cert::aki(&c).as_deref() == Some(k.as_slice()));
            if serial_ok && aki_ok && !found.iter().any(|(_, d)| d.as_slice() == der.as_ref()) {
                found.push((path.clone(), der.to_vec()));
            }
        }
    }
    match found.len() {
        0 => Err(Failure::check(format!("no certificate in {} has {}", display(&a.dir), asked(a)))),
        1 => Ok(found.remove(0).1),
        n => Err(Failure::check(format!(
            "{n} certificates in {} have {} ({}); give both -serial and -aki",
            display(&a.dir),
            asked(a),
            found.iter().map(|(p, _)| display(p)).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn asked(a: &Args) -> String {
    let mut parts = Vec::new();
    if let Some(s) = &a.serial {
        parts.push(format!("serial {s}"));
    }
    if let Some(k) = &a.aki {
        parts.push(format!("AKI {k}"));
    }
    parts.join(" and ")
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}

/// A serial number: decimal (as cfssl prints it), or hex as `0x...` or with colons.
fn parse_serial(text: &str) -> Result<Vec<u8>> {
    let t = text.trim();
    let bad = || Failure::input(format!("-serial {t:?}: not a serial number (decimal as certinfo prints it, or hex as 0x... or 1F:2E:...)"));
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return parse_hex(hex).ok_or_else(bad);
    }
    if t.contains(':') {
        return parse_hex(t).ok_or_else(bad);
    }
    x509_parser::num_bigint::BigUint::parse_bytes(t.as_bytes(), 10).map(|n| n.to_bytes_be()).ok_or_else(bad)
}

/// Hex bytes: `1F:2E:3D` (each part 1 or 2 digits, as cfssl prints key ids)
/// or `1f2e3d`.
fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.contains(':') {
        return t.split(':').map(|p| if (1..=2).contains(&p.len()) { u8::from_str_radix(p, 16).ok() } else { None }).collect();
    }
    if !t.len().is_multiple_of(2) {
        return None;
    }
    (0..t.len()).step_by(2).map(|i| t.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_and_key_ids_in_each_spelling() {
        assert_eq!(parse_serial("258").unwrap(), vec![1, 2]);
        assert_eq!(parse_serial("0x0102").unwrap(), vec![1, 2]);
        assert_eq!(parse_serial("01:02").unwrap(), vec![1, 2]);
        assert!(parse_serial("12a").is_err());
        assert_eq!(parse_hex("21:DC:F:0").unwrap(), vec![0x21, 0xdc, 0x0f, 0]);
        assert_eq!(parse_hex("21dc0f00").unwrap(), vec![0x21, 0xdc, 0x0f, 0]);
        assert!(parse_hex("21d").is_none());
        assert!(parse_hex("21:DCC").is_none());
    }
}
