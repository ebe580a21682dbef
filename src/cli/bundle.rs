//! `kpki bundle`: a certificate's chain, built from intermediates and
//! verified up to a trusted root, printed as cfssl bundle's JSON (one line,
//! no newline, as cfssl). Also run as `cfssl-bundle`.

use std::path::{Path, PathBuf};

use super::{display, read_input, Failure, Result};
use crate::pki::bundle::{self, Flavor};
use crate::pki::cert;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki bundle -cert master-kubernetes.pem -ca-bundle ca.pem
  kpki bundle -cert leaf.pem -int-bundle intermediates.pem -ca-bundle roots.pem | kpki json -bare leaf
  kpki bundle -domain 10.240.0.10:6443 -ca-bundle ca.pem")]
pub struct Args {
    /// The certificate to bundle (PEM; further certificates in the file are used as intermediates)
    #[arg(long, value_name = "CERT.pem", conflicts_with = "domain")]
    pub cert: Option<PathBuf>,
    /// The certificate's private key: checked against it and echoed in the output ("key")
    #[arg(long, value_name = "KEY.pem")]
    pub key: Option<PathBuf>,
    /// Trusted roots (PEM); default: the system's (SSL_CERT_FILE, else /etc/ssl/certs/ca-certificates.crt)
    #[arg(long = "ca-bundle", value_name = "ROOTS.pem")]
    pub ca_bundle: Option<PathBuf>,
    /// Intermediate CAs to build the chain from (PEM)
    #[arg(long = "int-bundle", value_name = "INTERMEDIATES.pem")]
    pub int_bundle: Option<PathBuf>,
    /// ubiquitous or optimal: build and verify the chain (the same without platform metadata); force: the -cert file's certificates as given, checked to chain
    #[arg(long, value_name = "FLAVOR", default_value = "ubiquitous", value_parser = ["ubiquitous", "optimal", "force"])]
    pub flavor: String,
    /// Bundle the certificate a TLS server presents: HOST[:PORT] (port 443 by default); its name is checked against the certificate
    #[arg(long, value_name = "HOST[:PORT]")]
    pub domain: Option<String>,
    /// With -domain: connect to this IP address instead of resolving the host
    #[arg(long, value_name = "IP", requires = "domain")]
    pub ip: Option<String>,
}

fn pems(path: &Path, what: &str) -> Result<Vec<Vec<u8>>> {
    let text = read_input(path, what)?;
    let certs = cert::certs_from_pem(&text).map_err(|e| Failure::input(format!("{what} {}: {e}", display(path))))?;
    Ok(certs.into_iter().map(|c| c.to_vec()).collect())
}

/// The system's trusted roots, as Go finds them on Linux.
fn system_roots() -> Result<Vec<Vec<u8>>> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from).into_iter().collect();
    candidates.extend(
        ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem"].iter().map(PathBuf::from),
    );
    for p in candidates {
        if p.is_file() {
            return pems(&p, "system roots");
        }
    }
    Err(Failure::input("no -ca-bundle given and no system root store found (SSL_CERT_FILE, /etc/ssl/certs/ca-certificates.crt); pass -ca-bundle"))
}

pub fn run(a: Args) -> Result<()> {
    let flavor = if a.flavor == "force" { Flavor::Force } else { Flavor::Verified };
    let (given, target) = match (&a.cert, &a.domain) {
        (Some(path), _) => (pems(path, "certificate")?, display(path)),
        (None, Some(domain)) => {
            let (host, port) = super::fetch::host_port(domain);
            let dial = match &a.ip {
                Some(ip) => {
                    let ip: std::net::IpAddr = ip.parse().map_err(|_| Failure::input(format!("-ip {ip:?}: not an IP address")))?;
                    std::net::SocketAddr::new(ip, port).to_string()
                }
                None => domain.clone(),
            };
            let chain = super::fetch::peer_chain(&dial, super::fetch::TIMEOUT).map_err(|e| Failure::check(format!("-domain {domain}: {e}")))?;
            if let Some(leaf) = chain.first() {
                let parsed = cert::parse(leaf).map_err(|e| Failure::check(format!("-domain {domain}: {e}")))?;
                if !cert::names_host(&parsed, &host) {
                    return Err(Failure::check(format!("-domain {domain}: the server's certificate is not valid for {host}")));
                }
            }
            (chain, domain.clone())
        }
        (None, None) => return Err(Failure::input("name the certificate: -cert FILE or -domain HOST[:PORT]")),
    };
    if flavor == Flavor::Verified && a.flavor == "ubiquitous" {
        crate::progress::detail("no platform metadata: ubiquitous falls back to optimal (as cfssl)");
    }
    let roots = match (&a.ca_bundle, flavor) {
        (_, Flavor::Force) => vec![],
        (Some(p), _) => pems(p, "CA bundle")?,
        (None, _) => system_roots()?,
    };
    let intermediates = match (&a.int_bundle, flavor) {
        (Some(p), Flavor::Verified) => pems(p, "intermediate bundle")?,
        _ => vec![],
    };
    let key_pem = match &a.key {
        Some(path) => {
            let pem = zeroize::Zeroizing::new(read_input(path, "private key")?);
            let key = crate::pki::key::PrivateKey::from_pem(&pem).map_err(|e| Failure::input(format!("key {}: {e}", display(path))))?;
            let leaf = given.first().ok_or_else(|| Failure::input(format!("{target}: no certificate")))?;
            let parsed = cert::parse(leaf).map_err(|e| Failure::input(format!("{target}: {e}")))?;
            if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_bits() {
                return Err(Failure::input(format!("key {} does not belong to the certificate {target} (their public keys differ)", display(path))));
            }
            Some(key.to_pem(crate::pki::key::KeyFormat::Cfssl).map_err(|e| Failure::input(format!("key {}: {e}", display(path))))?)
        }
        None => None,
    };
    let now = time::OffsetDateTime::now_utc();
    let made = bundle::build(&given, &intermediates, &roots, flavor, now).map_err(|e| Failure::check(format!("{target}: {e}")))?;
    let v = bundle::report(&made, &given, key_pem.as_deref().map(|k| k.as_str()), now).map_err(|e| Failure::check(format!("{target}: {e}")))?;
    // cfssl prints the JSON without a newline.
    print!("{}", cert::go_json(&v));
    Ok(())
}
