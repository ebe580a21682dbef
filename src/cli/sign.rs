//! `kpki sign`: signs an existing PKCS#10 CSR with a CA (cfssl sign).

use std::path::PathBuf;

use rcgen::{DistinguishedName, SanType};
use time::OffsetDateTime;

use super::gencert::{emit, Made};
use super::{display, load_ca, load_profile, read_input, warn, Failure, Result};
use crate::pki::cert;
use crate::pki::issue::{self, dn_from_x509, CertPlan, SubjectKey, Validity};
use crate::pki::key::pem_encode;
use crate::pki::request::{parse_hosts, split_hostname_flag};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub signing: super::gencert::SigningArgs,
    /// Write NAME.pem instead of printing JSON
    #[arg(long, value_name = "NAME")]
    pub bare: Option<String>,
    /// Directory for the file written with -bare
    #[arg(long = "out-dir", value_name = "DIR", requires = "bare")]
    pub out_dir: Option<PathBuf>,
    /// The PKCS#10 CSR in PEM (- for stdin)
    #[arg(value_name = "CSR.pem")]
    pub csr: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let pem = read_input(&a.csr, "CSR")?;
    let sg = &a.signing;
    let (ca_path, ca_key_path) = sg.ca_paths()?;
    let wanted = read_csr(&pem, &display(&a.csr), sg.hostname.as_deref())?;
    let profile = load_profile(sg.config.as_deref(), sg.profile.as_deref())?;
    let ca = load_ca(ca_path, ca_key_path, &sg.passphrase)?;
    let plan = CertPlan { subject: wanted.subject, sans: wanted.sans, validity: Validity::cfssl(OffsetDateTime::now_utc(), profile.expiry) };
    let issued = issue::sign(&plan, &wanted.key, &profile, &ca)?;
    for w in &issued.warnings {
        warn(w);
    }
    emit(Made { cert: Some(pem_encode("CERTIFICATE", &issued.der)), csr: None, key: None }, a.bare.as_deref(), a.out_dir.as_deref(), false)
}

/// What a PKCS#10 CSR asks to be certified.
pub struct Wanted {
    pub subject: DistinguishedName,
    pub key: SubjectKey,
    pub sans: Vec<SanType>,
}

/// Reads a PEM CSR (`where_` names it in errors): checks its self-signature
/// and key, and takes its subject and SANs (`-hostname` replaces the SANs).
pub fn read_csr(pem: &[u8], where_: &str, hostname: Option<&str>) -> Result<Wanted> {
    let der = cert::csr_from_pem(pem).map_err(|e| Failure::input(format!("CSR {where_}: {e}")))?;
    let csr = cert::parse_csr(&der).map_err(|e| Failure::input(format!("CSR {where_}: {e}")))?;
    let info = &csr.certification_request_info;
    let key = SubjectKey::from_spki(&info.subject_pki).map_err(|e| Failure::input(format!("CSR {where_}: {e}")))?;
    let subject = dn_from_x509(&info.subject)
        .map_err(|_| Failure::input(format!("CSR {where_}: its subject has multi-valued or non-string attributes kpki cannot copy")))?;
    let hosts: Vec<String> = match hostname {
        Some(h) => split_hostname_flag(h),
        None => csr_sans(&csr),
    };
    let sans = parse_hosts(&hosts).map_err(|e| Failure::input(format!("SANs: {e}")))?;
    Ok(Wanted { subject, key, sans })
}

/// The SANs requested in a CSR's extensionRequest, as host strings.
fn csr_sans(csr: &x509_parser::certification_request::X509CertificationRequest<'_>) -> Vec<String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let mut out = Vec::new();
    if let Some(exts) = csr.requested_extensions() {
        for ext in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(d) => out.push(d.to_string()),
                        GeneralName::RFC822Name(e) => out.push(e.to_string()),
                        GeneralName::URI(u) => out.push(u.to_string()),
                        GeneralName::IPAddress(b) if b.len() == 4 => {
                            out.push(std::net::IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default()).to_string())
                        }
                        GeneralName::IPAddress(b) if b.len() == 16 => {
                            out.push(std::net::IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default()).to_string())
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    out
}
