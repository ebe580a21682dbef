//! `kpki selfsign HOST csr.json`: a new key and a self-signed certificate
//! for testing (cfssl selfsign). Unlike cfssl 1.2, which silently drops both
//! HOST and the request's hosts (its certificate has no SANs, so no modern
//! client accepts it for any name), kpki puts HOST (comma-separated) and
//! the request's hosts in the SANs.

use std::path::PathBuf;

use time::{Duration, OffsetDateTime};

use super::args::BareArgs;
use super::gencert::{emit, generate_failure, read_request};
use super::{load_profile, Failure, Result};
use crate::pki::generate;
use crate::pki::profile::Profile;
use crate::pki::request::split_hostname_flag;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki selfsign localhost,127.0.0.1 csr.json | kpki json -bare test-server
  kpki selfsign -config ca-config.json -profile www test.example.com csr.json")]
pub struct Args {
    /// The signing config whose profile sets usages and expiry (default: 2190h, server and client auth)
    #[arg(long, value_name = "CONFIG.json")]
    pub config: Option<PathBuf>,
    /// The profile of -config (default: the config's default profile)
    #[arg(long, value_name = "NAME", requires = "config")]
    pub profile: Option<String>,
    /// Comma-separated SANs; replaces HOST
    #[arg(long, value_name = "a,b,1.2.3.4")]
    pub hostname: Option<String>,
    #[command(flatten)]
    pub out: BareArgs,
    /// The host name(s) for the certificate, comma-separated
    #[arg(value_name = "HOST")]
    pub host: String,
    /// The CSR JSON file (- for stdin)
    #[arg(value_name = "CSR.json")]
    pub csr: PathBuf,
}

const WARNING: &str = "*** WARNING ***

Self-signed certificates are dangerous. Use this self-signed
certificate at your own risk.

It is strongly recommended that these certificates NOT be used
in production.

*** WARNING ***
";

pub fn run(a: Args) -> Result<()> {
    let req = read_request(&a.csr)?;
    let profile = match &a.config {
        Some(_) => load_profile(a.config.as_deref(), a.profile.as_deref())?,
        None => {
            let mut p = Profile::cfssl_default();
            p.expiry = Duration::hours(generate::SELFSIGN_EXPIRY_HOURS);
            p
        }
    };
    if matches!(profile.ca, crate::pki::profile::CaConstraint::Ca { .. }) {
        return Err(Failure::input("the profile makes CAs; selfsign makes a self-signed end-entity certificate (use gencert -initca for a CA)"));
    }
    let hosts = split_hostname_flag(a.hostname.as_deref().unwrap_or(&a.host));
    let made = generate::selfsign(&req, &hosts, &profile, a.out.key_format.into(), OffsetDateTime::now_utc())
        .map_err(|e| generate_failure(e, &a.csr, true))?;
    if crate::progress::level() > crate::progress::Level::Quiet {
        eprintln!("{WARNING}");
    }
    emit(made, a.out.bare.as_deref(), a.out.out_dir.as_deref(), a.out.force)
}
