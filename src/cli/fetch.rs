//! The certificates a TLS server presents (`certinfo -domain`, `bundle
//! -domain`), fetched with rustls within one deadline for connecting and
//! the handshake (cfssl: 10 s). The chain is only read, never trusted here:
//! the handshake's signatures are checked, the certificates are not — the
//! caller prints them or verifies them as a bundle, as cfssl does.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// cfssl's limit for `certinfo -domain`.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Splits `HOST[:PORT]` as Go's `net.SplitHostPort` does, with port 443
/// when there is none (`[::1]:8443`, `example.com`, `::1`).
pub fn host_port(target: &str) -> (String, u16) {
    if let Some(rest) = target.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            if let Some(port) = tail.strip_prefix(':').and_then(|p| p.parse().ok()) {
                return (host.to_string(), port);
            }
            if tail.is_empty() {
                return (host.to_string(), 443);
            }
        }
    }
    match target.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (host.to_string(), p),
            Err(_) => (target.to_string(), 443),
        },
        _ => (target.to_string(), 443),
    }
}

/// Connects to `target` and returns the DER certificates the server sent,
/// leaf first. Errors are one line.
pub fn peer_chain(target: &str, timeout: Duration) -> Result<Vec<Vec<u8>>, String> {
    let deadline = Instant::now() + timeout;
    let (host, port) = host_port(target);
    let left = |what: &str| -> Result<Duration, String> {
        deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()).ok_or_else(|| format!("{what} {host}:{port} timed out after {} s", timeout.as_secs()))
    };
    let addrs: Vec<_> = (host.as_str(), port).to_socket_addrs().map_err(|e| format!("cannot resolve {host}: {e}"))?.collect();
    let mut stream = None;
    let mut last_err = format!("{host} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, left("connecting to")?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_err = format!("cannot connect to {addr}: {}", super::io_reason(&e)),
        }
    }
    let mut sock = stream.ok_or(last_err)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ReadOnly(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from(host.clone()).map_err(|_| format!("{host:?} is not a host name or IP address"))?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    // One read or write at a time, the deadline checked before each: a
    // server that drips a byte at a time cannot stretch the limit.
    let timed_out = || format!("the TLS handshake with {host}:{port} timed out after {} s", timeout.as_secs());
    let io_err = |e: std::io::Error| if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) { timed_out() } else { format!("TLS handshake with {host}:{port} failed: {e}") };
    while conn.is_handshaking() {
        let t = left("the TLS handshake with")?;
        sock.set_read_timeout(Some(t)).and_then(|_| sock.set_write_timeout(Some(t))).map_err(|e| e.to_string())?;
        if conn.wants_write() {
            conn.write_tls(&mut sock).map_err(io_err)?;
            continue;
        }
        if conn.wants_read() {
            match conn.read_tls(&mut sock) {
                Ok(0) => return Err(format!("{host}:{port} closed the connection during the TLS handshake")),
                Ok(_) => {
                    conn.process_new_packets().map_err(|e| format!("TLS handshake with {host}:{port} failed: {e}"))?;
                }
                Err(e) => return Err(io_err(e)),
            }
        }
    }
    let chain: Vec<Vec<u8>> = conn.peer_certificates().unwrap_or_default().iter().map(|c| c.to_vec()).collect();
    // Close politely; the answer does not depend on it.
    conn.send_close_notify();
    let _ = conn.write_tls(&mut sock);
    let _ = sock.flush();
    let _ = sock.read(&mut [0u8; 0]);
    if chain.is_empty() {
        return Err(format!("{host}:{port} sent no certificate"));
    }
    Ok(chain)
}

/// Accepts any certificate (it is only read) but checks the handshake's
/// signatures with the provider's algorithms.
#[derive(Debug)]
struct ReadOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for ReadOnly {
    fn verify_server_cert(&self, _: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_and_port_as_go_splits_them() {
        assert_eq!(host_port("example.com"), ("example.com".into(), 443));
        assert_eq!(host_port("example.com:8443"), ("example.com".into(), 8443));
        assert_eq!(host_port("127.0.0.1:1"), ("127.0.0.1".into(), 1));
        assert_eq!(host_port("[::1]:8443"), ("::1".into(), 8443));
        assert_eq!(host_port("::1"), ("::1".into(), 443));
        assert_eq!(host_port("[::1]"), ("::1".into(), 443));
    }
}
