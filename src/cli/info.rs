//! `kpki info`: the CA certificate and a profile's usages and expiry, from
//! a cfssl-API server (`-remote`, as `cfssl info -remote`) or from local
//! files (`-ca` and `-config`). Prints cfssl's JSON.

use std::path::PathBuf;

use serde_json::json;

use super::{display, load_config, read_input, Failure, Result};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki info -remote http://ca.internal:8888 -profile kubernetes
  kpki info -ca ca.pem -config ca-config.json -profile kubernetes")]
pub struct Args {
    /// The cfssl-API server to ask: HOST:PORT, http://... or https://...
    #[arg(long, value_name = "SERVER", conflicts_with = "ca")]
    pub remote: Option<String>,
    /// Locally: the CA certificate to show
    #[arg(long, value_name = "CA.pem")]
    pub ca: Option<PathBuf>,
    /// The signing config (locally, the profile's usages and expiry come from it)
    #[arg(long, value_name = "CONFIG.json")]
    pub config: Option<PathBuf>,
    /// The profile (default: the default profile)
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The signer's label (multirootca); passed on as cfssl does
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    /// With an https remote: trust this CA (PEM) instead of the system's roots
    #[arg(long = "tls-remote-ca", value_name = "CA.pem")]
    pub tls_remote_ca: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let answer = match (&a.remote, &a.ca) {
        (Some(r), _) => {
            let remote = super::remote::Remote::parse(r)?;
            let body = json!({"label": a.label.clone().unwrap_or_default(), "profile": a.profile.clone().unwrap_or_default()});
            super::remote::call(&remote, "info", body.to_string().as_bytes(), a.tls_remote_ca.as_deref())?
        }
        (None, Some(ca)) => {
            let cfg = load_config(a.config.as_deref())?;
            let profile = cfg.profile(a.profile.as_deref()).map_err(|e| Failure::input(format!("-profile: {e}")))?;
            let pem = read_input(ca, "CA certificate")?;
            let der = crate::pki::cert::cert_from_pem(&pem).map_err(|e| Failure::input(format!("CA certificate {}: {e}", display(ca))))?;
            json!({
                "certificate": crate::pki::key::pem_encode("CERTIFICATE", &der),
                "usages": profile.usages.names(),
                "expiry": crate::pki::duration::go_hours(profile.expiry),
            })
        }
        (None, None) => return Err(Failure::input("give -remote SERVER, or -ca CA.pem (with -config) to answer locally")),
    };
    println!("{}", crate::pki::cert::go_json(&answer));
    Ok(())
}
