//! `kpki serve`: cfssl's HTTP API on one CA (cfssl serve's flags).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{display, load_ca, read_input, Failure, Result};
use crate::pki::profile::SigningConfig;
use crate::serve::api::Signer;
use crate::serve::http::{self, LogFormat};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki serve -ca ca.pem -ca-key ca-key.pem -config ca-config.json
  kpki serve -address 0.0.0.0 -port 8888 -ca ca.pem -ca-key ca-key.pem -config ca-config.json --log-format json
  cfssl gencert -remote 127.0.0.1:8888 -profile kubernetes admin-csr.json | cfssljson -bare admin")]
pub struct Args {
    /// Address to listen on
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub address: String,
    /// Port to listen on (0: any free port, printed at start)
    #[arg(long, value_name = "PORT", default_value_t = 8888)]
    pub port: u16,
    /// The CA certificate
    #[arg(long, value_name = "CA.pem")]
    pub ca: PathBuf,
    /// The CA's private key (read once at start; never in a response or a log line)
    #[arg(long = "ca-key", value_name = "CA-KEY.pem")]
    pub ca_key: PathBuf,
    /// The signing config (profiles, auth_keys)
    #[arg(long, value_name = "CONFIG.json")]
    pub config: Option<PathBuf>,
    /// Allow /api/v1/cfssl/init_ca to make new CAs (off: it answers 403)
    #[arg(long = "allow-init-ca")]
    pub allow_init_ca: bool,
    /// Serve HTTPS with this certificate (PEM; the chain may follow it)
    #[arg(long = "tls-cert", value_name = "CERT.pem", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The key of -tls-cert (PEM)
    #[arg(long = "tls-key", value_name = "KEY.pem", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With -tls-cert: require a client certificate issued by this CA (PEM)
    #[arg(long = "mutual-tls-ca", value_name = "CA.pem", requires = "tls_cert")]
    pub mutual_tls_ca: Option<PathBuf>,
    /// Access log on stderr: text, or one JSON object per line
    #[arg(long = "log-format", alias = "output", value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    #[command(flatten)]
    pub passphrase: super::passphrase::PassphraseArgs,
}

/// The config's auth keys as bytes.
fn resolve_auth_keys(config: &SigningConfig) -> Result<BTreeMap<String, zeroize::Zeroizing<Vec<u8>>>> {
    config.auth_keys.keys().map(|name| Ok((name.clone(), super::resolve_auth_key(config, name)?))).collect()
}

/// The TLS settings of -tls-cert/-tls-key (and -mutual-tls-ca).
fn tls_config(a: &Args) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>> {
    use rustls::pki_types::pem::PemObject;
    let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) else { return Ok(None) };
    let chain = crate::pki::cert::certs_from_pem(&read_input(cert, "TLS certificate")?).map_err(|e| Failure::input(format!("-tls-cert {}: {e}", display(cert))))?;
    let key_pem = zeroize::Zeroizing::new(read_input(key, "TLS key")?);
    let key_der = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| Failure::input(format!("-tls-key {}: {e}", display(key))))?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| Failure::input(e.to_string()))?;
    let builder = match &a.mutual_tls_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in crate::pki::cert::certs_from_pem(&read_input(ca, "client CA")?).map_err(|e| Failure::input(format!("-mutual-tls-ca {}: {e}", display(ca))))? {
                roots.add(c).map_err(|e| Failure::input(format!("-mutual-tls-ca {}: {e}", display(ca))))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(std::sync::Arc::new(roots), provider)
                .build()
                .map_err(|e| Failure::input(format!("-mutual-tls-ca {}: {e}", display(ca))))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key_der).map_err(|e| Failure::input(format!("-tls-cert/-tls-key: {e}")))?;
    Ok(Some(std::sync::Arc::new(config)))
}

/// Raises the soft limit on open files to the hard one (as Go's net/http
/// does) and returns how many connections to allow: the limit less room
/// for the server's own files.
fn raise_descriptor_limit() -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (lim.current, lim.maximum) {
        if cur < max {
            let _ = setrlimit(Resource::Nofile, Rlimit { current: Some(max), maximum: Some(max) });
        }
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(1 << 20);
    (now.saturating_sub(64) as usize).clamp(16, 16_384)
}

pub fn run(a: Args) -> Result<()> {
    let tls = tls_config(&a)?;
    let config = match &a.config {
        Some(p) => {
            let text = read_input(p, "signing config")?;
            SigningConfig::from_json(&text).map_err(|e| Failure::input(format!("signing config {}: {e}", display(p))))?
        }
        None => SigningConfig::default(),
    };
    let auth_keys = resolve_auth_keys(&config)?;
    let ca = load_ca(&a.ca, &a.ca_key, &a.passphrase)?;
    let signer = Signer { ca, config, auth_keys, allow_init_ca: a.allow_init_ca };
    let log = if a.log_format == "json" { LogFormat::Json } else { LogFormat::Text };
    let addr: std::net::IpAddr = a.address.parse().map_err(|_| Failure::input(format!("-address {:?}: not an IP address", a.address)))?;
    let max_conns = raise_descriptor_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::input(format!("cannot start the server's runtime: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((addr, a.port))
            .await
            .map_err(|e| Failure::input(format!("cannot listen on {}:{}: {}", a.address, a.port, super::io_reason(&e))))?;
        let local = listener.local_addr().map_err(|e| Failure::input(e.to_string()))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        crate::progress::note(&format!("serving cfssl's API on {scheme}://{local}/api/v1/cfssl/ (CA {})", display(&a.ca)));
        let shutdown = async {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            crate::progress::note("stopping: finishing the requests in flight");
        };
        http::serve(listener, signer, log, tls, max_conns, shutdown).await.map_err(|e| Failure::input(format!("the server stopped: {e}")))
    })
}
