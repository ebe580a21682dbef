//! The only `unsafe` in kpki: what neither std nor rustix wraps safely.
//! Everything else (flock, openat, renameat, fdatasync, fstat) goes through
//! rustix's safe API; the crate root denies `unsafe_code` outside this module.
#![allow(unsafe_code)]

/// Restores SIGPIPE's default action, so that `kpki ... | head` ends quietly
/// when the reader goes away, as cfssl and other Unix tools do, instead of
/// failing with EPIPE (Rust's runtime ignores SIGPIPE). Call before any
/// thread starts.
pub fn restore_sigpipe() {
    // SAFETY: signal(2) with a valid signal number and SIG_DFL installs no
    // handler code and touches no memory of ours; called at the start of
    // main, before other threads exist, so no thread observes a half-changed
    // disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
