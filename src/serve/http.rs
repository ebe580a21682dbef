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
use serde_json::json;

use super::api::{self, Answer, Endpoint, Signer};

/// Largest request body (cfssl requests are a few KB).
pub const MAX_BODY: usize = 1 << 20;
/// How long a client may take to send its body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// How access-log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `2026-12-02T13:55:01Z POST /api/v1/cfssl/sign 200 12ms`
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

async fn health() -> Response {
    (StatusCode::OK, [("content-type", "application/json")], json!({"success": true, "result": {"healthy": true}, "errors": [], "messages": []}).to_string()).into_response()
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
    let worker = app.clone();
    let answer = tokio::task::spawn_blocking(move || api::handle(&worker.signer, ep, &body, time::OffsetDateTime::now_utc())).await;
    reply(answer.unwrap_or_else(|_| Answer::error(500, "the request failed inside the server")))
}

async fn not_found(req: Request<Body>) -> Response {
    reply(Answer::error(404, format!("no endpoint {}", crate::pki::json::shown(req.uri().path()))))
}

async fn log_layer(State(app): State<Arc<App>>, req: Request<Body>, next: axum::middleware::Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = crate::pki::json::shown(req.uri().path());
    let res = next.run(req).await;
    let ms = start.elapsed().as_millis();
    let status = res.status().as_u16();
    let at = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    match app.log {
        LogFormat::Text => eprintln!("{at} {method} {path} {status} {ms}ms"),
        LogFormat::Json => eprintln!("{}", json!({"time": at, "method": method.as_str(), "path": path, "status": status, "ms": ms})),
    }
    res
}

/// The routes, for a listener or a test.
pub fn router(signer: Signer, log: LogFormat) -> Router {
    let app = Arc::new(App { signer, log });
    Router::new()
        .route("/api/v1/cfssl/health", get(health))
        .route("/api/v1/cfssl/{name}", any(endpoint))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), log_layer))
        .with_state(app)
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(listener: tokio::net::TcpListener, signer: Signer, log: LogFormat, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    axum::serve(listener, router(signer, log)).with_graceful_shutdown(shutdown).await
}
