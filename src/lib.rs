//! kpki: certificates for a Kubernetes cluster you build yourself.
//!
//! The library holds all logic; `main.rs` is an argv shim and `cli/` turns flags
//! into calls. `pki` and `k8s` take and return data only (no clap, no file
//! system), so they are fast to test.

#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod cli;
pub mod k8s;
pub mod output;
pub mod pki;
pub mod provision;
pub mod sys;
