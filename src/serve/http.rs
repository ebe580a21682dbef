//! The HTTP server: axum routes to [`api::handle`], signing on the blocking
//! pool; bodies limited while they stream; one access-log line per request
//! (never a body, so never a key); graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use hyper_util::rt::TokioIo;
use serde_json::json;

use super::api::{self, Answer, Endpoint, Signer};

/// Largest request body (cfssl requests are a few KB).
pub const MAX_BODY: usize = 1 << 20;
/// How long a client may take to send its body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// How access-log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `2026-12-02T13:55:01Z POST /api/v1/cfssl/sign 200 12ms profile="default" cn="etcd"`
    /// (profile and CN quoted and escaped as Rust strings)
    Text,
    /// One JSON object per line.
    Json,
}

struct App {
    signer: Signer,
    log: LogFormat,
}

fn reply(a: Answer) -> Response {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, [("content-type", "application/json")], a.body.to_string()).into_response()
}

/// An answer with what the access log (log_layer) says about the request;
/// the log fields are not sent to the client.
fn reply_logged((a, log): (Answer, api::LogFields)) -> Response {
    let mut res = reply(a);
    res.extensions_mut().insert(log);
    res
}

async fn health() -> Response {
    (StatusCode::OK, [("content-type", "application/json")], json!({"success": true, "result": {"healthy": true}, "errors": [], "messages": []}).to_string()).into_response()
}

async fn health_method(req: Request<Body>) -> Response {
    reply(Answer::error(405, format!("{} /api/v1/cfssl/health: only GET", req.method())))
}

async fn endpoint(State(app): State<Arc<App>>, Path(name): Path<String>, req: Request<Body>) -> Response {
    let Some(ep) = Endpoint::from_name(&name) else { return reply(Answer::error(404, format!("no endpoint /api/v1/cfssl/{name}"))) };
    if req.method() != Method::POST {
        return reply(Answer::error(405, format!("{} /api/v1/cfssl/{name}: only POST", req.method())));
    }
    // Whatever the Content-Type (cfssl ignores it; curl -d sends a form type).
    let body = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(req.into_body(), MAX_BODY)).await {
        Err(_) => return reply(Answer::error(408, format!("the request body did not arrive within {} s", BODY_TIMEOUT.as_secs()))),
        Ok(Err(_)) => return reply(Answer::error(413, format!("the request body is larger than {} KiB (or was cut off)", MAX_BODY >> 10))),
        Ok(Ok(b)) => b,
    };
    // Seconds of key generation, or a signature from a key store (a network
    // call or a token's session), go to the blocking pool: the async
    // workers keep answering /health and every other request meanwhile.
    if ep.is_heavy(&body) || (app.signer.ca.key().store_uri().is_some() && ep.signs()) {
        let worker = app.clone();
        let answer = tokio::task::spawn_blocking(move || api::handle(&worker.signer, ep, &body, time::OffsetDateTime::now_utc())).await;
        return reply_logged(answer.unwrap_or_else(|_| (Answer::error(500, "the request failed inside the server"), api::LogFields::default())));
    }
    reply_logged(api::handle(&app.signer, ep, &body, time::OffsetDateTime::now_utc()))
}

async fn not_found(req: Request<Body>) -> Response {
    reply(Answer::error(404, format!("no endpoint {}", crate::pki::json::shown(req.uri().path()))))
}

async fn log_layer(State(app): State<Arc<App>>, req: Request<Body>, next: axum::middleware::Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut res = next.run(req).await;
    let ms = start.elapsed().as_millis();
    let status = res.status().as_u16();
    let fields = res.extensions_mut().remove::<api::LogFields>().unwrap_or_default();
    // Names from the request, cut short; escaped once, by the format below.
    let profile = fields.profile.as_deref().map(cut);
    let cn = fields.cn.as_deref().map(cut);
    let at = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let mut line = match app.log {
        LogFormat::Text => {
            // Escaped, and a '"' (hyper lets it through) does not read as a field's quote.
            let path = crate::pki::json::shown(&path).replace('"', "%22");
            let mut line = format!("{at} {method} {path} {status} {ms}ms");
            if let Some(p) = &profile {
                line.push_str(&format!(" profile={p:?}"));
            }
            if let Some(cn) = &cn {
                line.push_str(&format!(" cn={cn:?}"));
            }
            line
        }
        LogFormat::Json => one_line_json(&json!({"time": at, "method": method.as_str(), "path": cut(&path), "status": status, "ms": ms, "profile": profile, "cn": cn})),
    };
    line.push('\n');
    // One write per line: stderr is unbuffered, and eprintln! writes piecemeal.
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    res
}

/// At most 80 characters of a name from a request, for the access log.
fn cut(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// A JSON log line that every reader sees as one line: serde_json leaves
/// characters such as U+2028 (line separator) or U+202E (right-to-left
/// override) unescaped, and some log tools split or reorder lines on them.
/// Every character Rust would not print as itself is written as `\uXXXX`
/// (outside strings a JSON line holds only ASCII, so this is still the same
/// JSON value).
fn one_line_json(v: &serde_json::Value) -> String {
    let text = v.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() || c.escape_debug().next() != Some('\\') {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// The routes, for a listener or a test.
pub fn router(signer: Signer, log: LogFormat) -> Router {
    let app = Arc::new(App { signer, log });
    Router::new()
        .route("/api/v1/cfssl/health", get(health).fallback(health_method))
        .route("/api/v1/cfssl/{name}", any(endpoint))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), log_layer))
        .with_state(app)
}

/// How long a client may take to send its request line and headers (and
/// to finish a TLS handshake): a slow client cannot hold a connection.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may take to finish after a stop.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves until `shutdown` completes, then lets the requests in flight
/// finish (up to [`DRAIN_TIMEOUT`]). With `tls`, every connection is TLS.
/// At most `max_conns` connections at once (the rest wait in the
/// listen queue), and at most a quarter of them from one address (more are
/// closed at once): one client cannot take every descriptor.
pub async fn serve(
    listener: tokio::net::TcpListener,
    signer: Signer,
    log: LogFormat,
    tls: Option<Arc<rustls::ServerConfig>>,
    max_conns: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(signer, log);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(max_conns));
    let per_peer_max = (max_conns / 4).max(8);
    let per_peer: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>> = Arc::default();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else {
                    // Out of descriptors, or a connection reset before accept: try again shortly.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let ip = peer.ip();
                {
                    let mut counts = per_peer.lock().unwrap_or_else(|e| e.into_inner());
                    let n = counts.entry(ip).or_insert(0);
                    if *n >= per_peer_max {
                        drop(tcp);
                        continue;
                    }
                    *n += 1;
                }
                let app = app.clone();
                let tls = tls.clone();
                let stop = stop_rx.clone();
                let per_peer = per_peer.clone();
                conns.spawn(async move {
                    let _slot = permit;
                    let _peer = PeerSlot { counts: per_peer, ip };
                    match tls {
                        None => connection(TokioIo::new(tcp), app, stop).await,
                        Some(cfg) => {
                            if let Ok(Ok(stream)) = tokio::time::timeout(HEADER_TIMEOUT, tokio_rustls::TlsAcceptor::from(cfg).accept(tcp)).await {
                                connection(TokioIo::new(stream), app, stop).await;
                            }
                        }
                    }
                });
            }
            // Reap finished connections as we go.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async { while conns.join_next().await.is_some() {} }).await;
    Ok(())
}

/// Gives a peer's connection slot back when its connection ends.
struct PeerSlot {
    counts: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    ip: std::net::IpAddr,
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// One HTTP/1.1 connection, closed gracefully when the server stops.
async fn connection<I>(io: I, app: Router, mut stop: tokio::sync::watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(app);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_fields_stay_on_one_line_and_read_back_as_sent() {
        let cn = "a\u{2028}b\u{202e}c\n\"d\"é";
        let line = one_line_json(&json!({"cn": cn, "path": "/x"}));
        assert!(!line.contains('\u{2028}') && !line.contains('\u{202e}') && !line.contains('\n') && line.contains('é'), "{line}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&line).unwrap()["cn"], cn);
        let text = format!("cn={:?}", cut(cn));
        assert!(!text.contains('\u{2028}') && !text.contains('\n') && text.ends_with(r#"\"d\"é""#), "{text}");
        assert_eq!(cut(&"x".repeat(200)).chars().count(), 81);
        assert_eq!(cut("short"), "short");
    }
}
