//! `kpki check-expiration`: a table of every certificate's expiry, like
//! `kubeadm certs check-expiration`, covering the certificates files hold
//! and those kubeconfigs embed; with `--warn`/`--fail` it is a CI gate.
//! Exit status: 0 all certificates outside the `--fail` window, 1 a
//! certificate inside it (or expired, or a file that cannot be read), 2 bad
//! usage or input.

use std::path::PathBuf;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::args::OutputFormat;
use super::{display, Failure, Result};
use crate::k8s::files::Kubeconfig;
use crate::pki::cert;
use crate::pki::json::shown;

/// `apiVersion` of the JSON report (kubeadm's is `output.kubeadm.k8s.io/v1alpha3`).
pub const API_VERSION: &str = "output.kpki.dev/v1alpha1";

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki check-expiration --dir pki
  kpki check-expiration --dir pki --warn 60d --fail 14d      # a CI gate: exit 1 within 14 days
  kpki check-expiration --dir /etc/kubernetes --output json")]
pub struct Args {
    /// The directory to look in
    #[arg(long, value_name = "DIR", default_value = "pki")]
    pub dir: PathBuf,
    /// Warn (on stderr, exit 0) about certificates expiring within this window, e.g. 30d
    #[arg(long, value_name = "DURATION", value_parser = super::args::parse_window)]
    pub warn: Option<Duration>,
    /// Fail (exit 1) when a certificate expires within this window, e.g. 7d; an expired
    /// certificate always fails
    #[arg(long, value_name = "DURATION", value_parser = super::args::parse_window)]
    pub fail: Option<Duration>,
    /// Check this moment instead of now (RFC 3339, e.g. 2027-01-01T00:00:00Z)
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Report format
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Where a certificate stands against the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
    Expired,
    Unreadable,
}

/// One certificate: a file's, or the one a kubeconfig embeds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    /// The file (a `.pem`, or the kubeconfig that embeds it).
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    subject: String,
    /// The issuer's CN (kubeadm's "CERTIFICATE AUTHORITY").
    #[serde(skip_serializing_if = "String::is_empty")]
    ca_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    expiration_date: String,
    /// Seconds left (negative once expired).
    residual_time_seconds: i64,
    days_left: i64,
    status: Status,
    #[serde(skip_serializing_if = "String::is_empty")]
    problem: String,
    #[serde(skip)]
    is_ca: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    api_version: &'static str,
    kind: &'static str,
    at: String,
    certificates: Vec<&'a Entry>,
    certificate_authorities: Vec<&'a Entry>,
}

pub fn run(a: Args) -> Result<()> {
    let now = match &a.at {
        Some(s) => super::verify::parse_time(s)?,
        None => OffsetDateTime::now_utc(),
    };
    if let (Some(w), Some(f)) = (a.warn, a.fail) {
        if f > w {
            return Err(Failure::input("--fail is longer than --warn: every certificate it fails would have been only a warning"));
        }
    }
    let dir = crate::output::OutDir::open(&a.dir)?.ok_or_else(|| Failure::input(format!("--dir {}: no such directory", display(&a.dir))))?;
    if dir.pending_transaction() {
        super::warn(&format!(
            "{}: an interrupted run left {}; run the same bootstrap or renew again to finish it (these dates may change)",
            display(&a.dir),
            crate::output::TXN_DIR
        ));
    }
    let classify = |na: OffsetDateTime| -> Status {
        let left = na - now;
        if left <= Duration::ZERO {
            Status::Expired
        } else if a.fail.is_some_and(|f| left < f) {
            Status::Fail
        } else if a.warn.is_some_and(|w| left < w) {
            Status::Warn
        } else {
            Status::Ok
        }
    };
    let entry = |name: String, der: &[u8]| -> Entry {
        match cert::parse(der) {
            Ok(c) => {
                use x509_parser::oid_registry as o;
                let na = cert::validity(&c).1;
                let left = na - now;
                Entry {
                    name,
                    subject: cert::name_attr(c.subject(), &o::OID_X509_COMMON_NAME).unwrap_or_default(),
                    ca_name: cert::name_attr(c.issuer(), &o::OID_X509_COMMON_NAME).unwrap_or_default(),
                    expiration_date: cert::rfc3339(na),
                    residual_time_seconds: left.whole_seconds(),
                    days_left: left.whole_days(),
                    status: classify(na),
                    problem: String::new(),
                    is_ca: c.is_ca(),
                }
            }
            Err(e) => unreadable(name, e.to_string()),
        }
    };
    let mut entries: Vec<Entry> = Vec::new();
    // kubeadm's tree (`bootstrap --layout kubeadm`, or /etc/kubernetes):
    // its certificates are under pki/ and pki/etcd/, named .crt.
    let mut dirs = vec![(String::new(), dir)];
    for sub in ["pki", "pki/etcd"] {
        let path = a.dir.join(sub);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            if let Some(d) = crate::output::OutDir::open(&path)? {
                dirs.push((format!("{sub}/"), d));
            }
        }
    }
    // Every .pem that is not a key, every .crt, and every kubeconfig; a FIFO
    // or a directory under such a name is reported, never opened.
    for (prefix, dir) in &dirs {
        for (name, kind) in dir.entries()? {
            let is_cert = (name.ends_with(".pem") && !name.ends_with("-key.pem")) || name.ends_with(".crt");
            let is_kubeconfig = name.ends_with(".kubeconfig") || name.ends_with(".conf");
            if name.starts_with('.') || !(is_cert || is_kubeconfig) {
                continue;
            }
            let shown_name = format!("{prefix}{name}");
            if !matches!(kind, rustix::fs::FileType::RegularFile | rustix::fs::FileType::Symlink) {
                entries.push(unreadable(shown_name.clone(), "it is not a regular file".into()));
                continue;
            }
            let bytes = match dir.read(&name) {
                Ok(Some(b)) => b,
                Ok(None) if kind == rustix::fs::FileType::Symlink => {
                    entries.push(unreadable(shown_name.clone(), "it is a symlink to a missing file".into()));
                    continue;
                }
                Ok(None) => continue,
                Err(e) => {
                    entries.push(unreadable(shown_name.clone(), e.to_string()));
                    continue;
                }
            };
            if is_cert {
                match cert::cert_from_pem(&bytes) {
                    Ok(der) => entries.push(entry(shown_name.clone(), &der)),
                    Err(e) => entries.push(unreadable(shown_name.clone(), e.to_string())),
                }
                continue;
            }
            let view = Kubeconfig::from_yaml(&bytes).map_err(|e| e.to_string()).and_then(|k| k.current().map_err(|e| e.to_string()));
            // A `.conf` is a kubeconfig in kubeadm's tree, but may be anything
            // else in another directory: only one that parses is looked at.
            if view.is_err() && !name.ends_with(".kubeconfig") {
                continue;
            }
            match view {
                Ok(v) => match v.cert.as_deref().map(cert::cert_from_pem) {
                    Some(Ok(der)) => entries.push(entry(shown_name.clone(), &der)),
                    Some(Err(e)) => entries.push(unreadable(shown_name.clone(), format!("its client certificate: {e}"))),
                    // A kubeconfig without a client certificate (a token user) has nothing to expire.
                    None => {}
                },
                Err(e) => entries.push(unreadable(shown_name.clone(), e)),
            }
        }
    }
    // Names that are not UTF-8 cannot be read by name here; they are
    // reported, not skipped.
    if let Ok(list) = std::fs::read_dir(&a.dir) {
        use std::os::unix::ffi::OsStrExt;
        for e in list.flatten() {
            let raw = e.file_name();
            let b = raw.as_bytes();
            if raw.to_str().is_none() && (b.ends_with(b".pem") || b.ends_with(b".kubeconfig")) {
                entries.push(unreadable(raw.to_string_lossy().into_owned(), "its name is not UTF-8; rename it".into()));
            }
        }
    }
    // A gate that found nothing to check must not pass.
    if entries.is_empty() {
        return Err(Failure::input(format!(
            "{}: no certificates (*.pem, *.crt, also under pki/ and pki/etcd/) or kubeconfigs found; nothing was checked",
            display(&a.dir)
        )));
    }
    let failing = entries.iter().filter(|e| matches!(e.status, Status::Fail | Status::Expired | Status::Unreadable)).count();
    if a.output == OutputFormat::Json {
        let report = Report {
            api_version: API_VERSION,
            kind: "CertificateExpirationInfo",
            at: cert::rfc3339(now),
            certificates: entries.iter().filter(|e| !e.is_ca).collect(),
            certificate_authorities: entries.iter().filter(|e| e.is_ca).collect(),
        };
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        println!("{:<34} {:<36} {:<22} {:>9}  CERTIFICATE AUTHORITY", "CERTIFICATE", "SUBJECT", "EXPIRES", "DAYS LEFT");
        for e in &entries {
            let ca = if e.is_ca && e.ca_name == e.subject { "(self-signed)".to_string() } else { shown(&e.ca_name) };
            let days = match e.status {
                Status::Expired => "expired".to_string(),
                Status::Unreadable => "-".to_string(),
                _ => e.days_left.to_string(),
            };
            // Names come from the files: shown escaped, so a hostile certificate cannot break the table or drive the terminal.
            println!("{:<34} {:<36} {:<22} {:>9}  {}", shown(&e.name), shown(&e.subject), e.expiration_date, days, ca);
        }
    }
    for e in &entries {
        let name = shown(&e.name);
        match e.status {
            Status::Warn => super::warn(&format!("{name} expires in {} ({}), within --warn", crate::pki::duration::days_text(e.days_left), e.expiration_date)),
            Status::Fail => eprintln!("{}: {name} expires in {} ({}), within --fail", crate::progress::program(), crate::pki::duration::days_text(e.days_left), e.expiration_date),
            Status::Expired => eprintln!("{}: {name} expired on {}", crate::progress::program(), e.expiration_date),
            Status::Unreadable => eprintln!("{}: {name}: {}", crate::progress::program(), shown(&e.problem)),
            Status::Ok => {}
        }
    }
    if failing > 0 {
        return Err(Failure::check(format!("{failing} certificate(s) expired, expiring within --fail, or unreadable")));
    }
    Ok(())
}

fn unreadable(name: String, problem: String) -> Entry {
    Entry {
        name,
        subject: String::new(),
        ca_name: String::new(),
        expiration_date: String::new(),
        residual_time_seconds: 0,
        days_left: 0,
        status: Status::Unreadable,
        problem,
        is_ca: false,
    }
}
