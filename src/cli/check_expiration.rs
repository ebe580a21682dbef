//! `kpki check-expiration`: a table of every certificate's expiry, like
//! `kubeadm certs check-expiration`.

use std::path::PathBuf;

use serde_json::json;
use time::OffsetDateTime;

use super::args::OutputFormat;
use super::Result;
use crate::pki::cert;
use crate::pki::json::shown;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The directory to look in
    #[arg(long, value_name = "DIR", default_value = "pki")]
    pub dir: PathBuf,
    /// Report format
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

pub fn run(a: Args) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    if crate::output::OutDir::open(&a.dir)?.is_some_and(|d| d.pending_transaction()) {
        super::warn(&format!(
            "{}: an interrupted run left {}; run the same bootstrap or renew again to finish it (these dates may change)",
            super::display(&a.dir),
            crate::output::TXN_DIR
        ));
    }
    let entries = super::cert_files(&a.dir)?;
    let mut rows = Vec::new();
    for p in entries {
        let file = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let Ok(pem) = super::read_input(&p, "certificate") else { continue };
        let Ok(der) = cert::cert_from_pem(&pem) else { continue };
        let Ok(c) = cert::parse(&der) else { continue };
        use x509_parser::oid_registry as o;
        let subject = cert::name_attr(c.subject(), &o::OID_X509_COMMON_NAME).unwrap_or_default();
        let ca = cert::name_attr(c.issuer(), &o::OID_X509_COMMON_NAME).unwrap_or_default();
        let na = cert::validity(&c).1;
        let left = na - now;
        rows.push((file, subject, na, left.whole_days(), ca, c.is_ca()));
    }
    if a.output == OutputFormat::Json {
        let v: Vec<_> = rows
            .iter()
            .map(|(f, s, na, d, ca, is_ca)| json!({"file": f, "subject": s, "expires": cert::rfc3339(*na), "days_left": d, "ca": ca, "is_ca": is_ca}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    println!("{:<32} {:<36} {:<22} {:>9}  CERTIFICATE AUTHORITY", "CERTIFICATE", "SUBJECT", "EXPIRES", "DAYS LEFT");
    for (f, s, na, d, ca, is_ca) in rows {
        let ca = if is_ca && ca == s { "(self-signed)".to_string() } else { ca };
        let days = if d < 0 { "expired".to_string() } else { d.to_string() };
        // Names come from the files: shown escaped, so a hostile certificate cannot break the table or drive the terminal.
        println!("{:<32} {:<36} {:<22} {:>9}  {}", shown(&f), shown(&s), cert::rfc3339(na), days, shown(&ca));
    }
    Ok(())
}
