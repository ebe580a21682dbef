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

/// The effective user id, `geteuid(2)`: a staging directory kpki applies
/// must be this user's.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) takes no arguments, cannot fail and reads or writes
    // no memory of ours.
    unsafe { libc::geteuid() }
}

/// Asks the kernel to start writing `file`'s dirty pages now, without
/// waiting (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). Only a hint: it makes
/// no data durable by itself. Started for every file of a set before each is
/// `fdatasync`ed, the writes overlap instead of queueing one file at a time
/// (see BENCHMARKS.md). Failure is ignored (a file
/// system may not support it; the `fdatasync` that follows is what counts).
pub fn start_writeback(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range takes a descriptor, two offsets and flags by
    // value and touches no memory of ours; `file` keeps the descriptor open
    // for the duration of the call.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Whether the shared library at `path` exports `C_GetFunctionList`, the
/// entry point every PKCS#11 module has. Checked before the PKCS#11 binding
/// loads a module, because the binding panics on a library without it (a
/// one-line error instead of a crash). `Err` carries the loader's reason.
pub fn is_pkcs11_module(path: &std::path::Path) -> Result<bool, String> {
    // SAFETY: loading a library runs its initialisers; the caller has
    // checked the path (absolute, a regular file not writable by others),
    // and the PKCS#11 binding loads the same file next anyway.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
    // SAFETY: the symbol is only looked up, never called, and the pointer
    // does not outlive `lib`.
    let found = unsafe { lib.get::<unsafe extern "C" fn()>(b"C_GetFunctionList\0") }.is_ok();
    Ok(found)
}
