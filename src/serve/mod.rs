//! `kpki serve`: cfssl's HTTP API (`/api/v1/cfssl/...`) in front of one CA,
//! so its clients (`cfssl gencert -remote`, `cfssl sign -remote`, `cfssl info
//! -remote`) work unchanged. `api` is the requests as functions; `http` the
//! server on axum/hyper.

pub mod api;
pub mod http;
