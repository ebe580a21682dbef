//! kpki: certificates for a Kubernetes cluster you build yourself.
//!
//! The library holds all logic; `main.rs` is an argv shim around [`run`].
//! The layers, from the bottom (ARCHITECTURE.md has the rules, and
//! `tests/layering.rs` enforces them):
//!
//! - [`pki`]: keys, CSR JSON, signing profiles, hosts, issuing and parsing;
//!   data in, data out.
//! - [`model`]: what the layers above share: the validated cluster config,
//!   the inventory a provider found, files as values.
//! - [`k8s`]: the cluster's certificate plan, deciding and applying a set,
//!   kubeconfigs, the encryption config, checks.
//! - `provision` (where addresses come from) and [`output`] (the only
//!   writer of files).
//! - `cli`: flags in, library calls, results out.
//!
//! The public surface is what the binary, the tests and the fuzz targets
//! use: the four modules above, [`run`] and [`restore_sigpipe`].

#![deny(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod cli;
pub mod k8s;
pub mod keystore;
pub mod model;
pub mod output;
pub mod pki;
mod progress;
mod provision;
mod serve;
mod sys;

pub use cli::run;
pub use progress::set_program as set_program_name;
pub use sys::restore_sigpipe;
