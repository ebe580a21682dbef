//! A file kpki wants written, as a value: the layers that decide what a set
//! holds (`k8s`, `cli`) return these, and `output` alone writes them.

use std::path::PathBuf;

use zeroize::Zeroizing;

/// File mode for private keys.
pub const KEY_MODE: u32 = 0o600;
/// File mode for certificates, CSRs, kubeconfigs without secrets, reports.
pub const PUBLIC_MODE: u32 = 0o644;

/// One file to write.
pub struct OutFile {
    /// Where it goes (relative to the output directory for a set).
    pub path: PathBuf,
    contents: Zeroizing<Vec<u8>>,
    mode: u32,
    /// A private key or other secret: never overwritten without force.
    secret: bool,
}

impl OutFile {
    /// A private key: mode 0600, never replaced unless forced.
    pub fn secret(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        OutFile { path: path.into(), contents: Zeroizing::new(contents.into()), mode: KEY_MODE, secret: true }
    }
    /// A public file (certificate, CSR, record): mode 0644.
    pub fn public(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        OutFile { path: path.into(), contents: Zeroizing::new(contents.into()), mode: PUBLIC_MODE, secret: false }
    }
    /// A file whose contents are secret (e.g. a kubeconfig holding a key) but
    /// which may be replaced when the plan changes.
    pub fn private(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        OutFile { path: path.into(), contents: Zeroizing::new(contents.into()), mode: KEY_MODE, secret: false }
    }
    /// The same file with another mode (e.g. 0400 for an SSH key).
    pub fn with_mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    /// The bytes to write.
    pub fn contents(&self) -> &[u8] {
        &self.contents
    }
    /// The file mode it is created with.
    pub fn mode(&self) -> u32 {
        self.mode
    }
    /// Whether it is a secret that is never replaced without `--force`.
    pub fn is_secret(&self) -> bool {
        self.secret
    }
}

/// A name kpki may write inside an output directory: one path component,
/// not hidden (so never `.kpki-txn` or `..`).
pub fn is_member_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains('/') && !name.contains('\0')
}

