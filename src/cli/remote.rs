//! cfssl's `-remote` client: one POST to `/api/v1/cfssl/<endpoint>` of a
//! cfssl-API server (`cfssl serve` or `kpki serve`) over hyper, HTTP or
//! HTTPS (rustls, trusting the system roots or `-tls-remote-ca`), and the
//! envelope's result or its error message. `authsign` when the profile
//! names an auth key: HMAC-SHA256 over the exact request bytes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::{display, read_input, Failure, Result};

/// How long one call may take, connect to answer.
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer read (a certificate and key are a few KB).
const MAX_ANSWER: usize = 4 << 20;

/// A server address: `HOST:PORT`, `http://HOST:PORT` or `https://HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `https`.
    pub tls: bool,
    /// The host (name or IP, without brackets).
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Remote {
    /// Parses a `-remote` value.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || Failure::input(format!("-remote {text:?}: not a server address (HOST:PORT, http://HOST:PORT or https://HOST:PORT)"));
        let t = text.trim().trim_end_matches('/');
        let (tls, rest) = if let Some(r) = t.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = t.strip_prefix("http://") {
            (false, r)
        } else if t.contains("://") {
            return Err(bad());
        } else {
            (false, t)
        };
        if rest.is_empty() || rest.contains('/') || rest.contains('@') {
            return Err(bad());
        }
        let default_port = if tls { 443 } else { 8888 };
        let (host, port) = super::fetch::host_port(rest);
        let port = if rest.ends_with(&format!(":{port}")) { port } else { default_port };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        Ok(Remote { tls, host, port })
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn shown(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.authority())
    }
}

/// Extra trust for an https remote (cfssl's `-tls-remote-ca`).
pub fn client_roots(extra_ca: Option<&Path>) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    let mut add_file = |p: &Path, what: &str| -> Result<()> {
        let pem = read_input(p, what)?;
        for c in crate::pki::cert::certs_from_pem(&pem).map_err(|e| Failure::input(format!("{what} {}: {e}", display(p))))? {
            roots.add(c).map_err(|e| Failure::input(format!("{what} {}: {e}", display(p))))?;
        }
        Ok(())
    };
    match extra_ca {
        Some(p) => add_file(p, "-tls-remote-ca")?,
        None => {
            let system = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from).unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
            if system.is_file() {
                add_file(&system, "system roots")?;
            }
        }
    }
    Ok(roots)
}

/// POSTs `body` to `endpoint` and returns the envelope's `result`.
pub fn call(remote: &Remote, endpoint: &str, body: &[u8], tls_ca: Option<&Path>) -> Result<Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| Failure::input(format!("cannot start a runtime: {e}")))?;
    let roots = if remote.tls { Some(client_roots(tls_ca)?) } else { None };
    let shown = format!("{}/api/v1/cfssl/{endpoint}", remote.shown());
    let answer = rt.block_on(async { tokio::time::timeout(TIMEOUT, exchange(remote, endpoint, body, roots)).await });
    let (status, bytes) = match answer {
        Err(_) => return Err(Failure::check(format!("{shown}: no answer within {} s", TIMEOUT.as_secs()))),
        Ok(Err(e)) => return Err(Failure::check(format!("{shown}: {e}"))),
        Ok(Ok(a)) => a,
    };
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| Failure::check(format!("{shown}: HTTP {status}, and the answer is not cfssl's JSON envelope")))?;
    if v.get("success").and_then(Value::as_bool) == Some(true) {
        return v.get("result").cloned().ok_or_else(|| Failure::check(format!("{shown}: the answer has no result")));
    }
    let messages: Vec<String> = v
        .get("errors")
        .and_then(Value::as_array)
        .map(|errs| errs.iter().filter_map(|e| e.get("message").and_then(Value::as_str)).map(|m| m.split_whitespace().collect::<Vec<_>>().join(" ")).collect())
        .unwrap_or_default();
    Err(Failure::check(format!("{shown}: HTTP {status}: {}", if messages.is_empty() { "the server refused the request".into() } else { messages.join("; ") })))
}

async fn exchange(remote: &Remote, endpoint: &str, body: &[u8], roots: Option<rustls::RootCertStore>) -> std::result::Result<(u16, Bytes), String> {
    let tcp = tokio::net::TcpStream::connect((remote.host.as_str(), remote.port)).await.map_err(|e| format!("cannot connect: {}", super::io_reason(&e)))?;
    let request = hyper::Request::post(format!("/api/v1/cfssl/{endpoint}"))
        .header("host", remote.authority())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| e.to_string())?;
    match roots {
        None => send(TokioIo::new(tcp), request).await,
        Some(roots) => {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let name = rustls::pki_types::ServerName::try_from(remote.host.clone()).map_err(|_| format!("{:?} is not a host name", remote.host))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
            send(TokioIo::new(tls), request).await
        }
    }
}

async fn send<T>(io: TokioIo<T>, request: hyper::Request<Full<Bytes>>) -> std::result::Result<(u16, Bytes), String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let res = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let bytes = Limited::new(res.into_body(), MAX_ANSWER).collect().await.map_err(|e| format!("reading the answer: {e}"))?.to_bytes();
    driver.abort();
    Ok((status, bytes))
}

/// The body for `sign`, or for `authsign` when `auth_key` is given: the sign
/// request as base64, with an HMAC-SHA256 token over its exact bytes.
pub fn sign_body(sign_request: &Value, auth_key: Option<&[u8]>) -> (String, Vec<u8>) {
    let bytes = serde_json::to_vec(sign_request).unwrap_or_default();
    match auth_key {
        None => ("sign".into(), bytes),
        Some(key) => {
            let tag = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key), &bytes);
            let b64 = base64::engine::general_purpose::STANDARD;
            let body = serde_json::json!({
                "timestamp": time::OffsetDateTime::now_utc().unix_timestamp(),
                "token": b64.encode(tag.as_ref()),
                "request": b64.encode(&bytes),
            });
            ("authsign".into(), serde_json::to_vec(&body).unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Remote;

    #[test]
    fn remote_addresses_in_cfssls_forms() {
        assert_eq!(Remote::parse("127.0.0.1:8888").unwrap(), Remote { tls: false, host: "127.0.0.1".into(), port: 8888 });
        assert_eq!(Remote::parse("http://ca.example.com:9000/").unwrap(), Remote { tls: false, host: "ca.example.com".into(), port: 9000 });
        assert_eq!(Remote::parse("https://ca.example.com").unwrap(), Remote { tls: true, host: "ca.example.com".into(), port: 443 });
        assert_eq!(Remote::parse("http://[::1]:8888").unwrap(), Remote { tls: false, host: "::1".into(), port: 8888 });
        assert!(Remote::parse("ftp://x:1").is_err());
        assert!(Remote::parse("http://x:1/api").is_err());
        assert!(Remote::parse("").is_err());
    }
}
