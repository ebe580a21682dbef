//! Links the kpki executable with packed relative relocations (DT_RELR,
//! `-z pack-relative-relocs`). The executable stays position-independent
//! (ASLR is kept); only the table of its relocations shrinks, from about
//! 2 MB to a few KB, so each run reads and keeps less in memory: peak RSS of
//! a P-256 `bootstrap` 10.2-10.7 MB without it, 8.6 MB with it (BENCHMARKS.md).
//!
//! The loader must know DT_RELR (glibc 2.36 or later), so it is used only
//! when the glibc of the build machine is that new; `KPKI_NO_RELR=1` turns it
//! off (e.g. to build for an older system).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=KPKI_NO_RELR");
    // `kpki version` prints the compiler as cfssl prints its Go runtime.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc).arg("--version").output().ok().and_then(|o| String::from_utf8(o.stdout).ok()).unwrap_or_default();
    let short = version.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    println!("cargo:rustc-env=KPKI_RUSTC_VERSION={}", if short.is_empty() { "rustc" } else { &short });
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_default();
    if os != "linux" || env != "gnu" || host != target || std::env::var_os("KPKI_NO_RELR").is_some() {
        return;
    }
    if glibc_version().is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// The build machine's glibc version (`getconf GNU_LIBC_VERSION`: "glibc 2.36").
fn glibc_version() -> Option<(u32, u32)> {
    let out = Command::new("getconf").arg("GNU_LIBC_VERSION").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let (major, minor) = text.trim().strip_prefix("glibc ")?.split_once('.')?;
    Some((major.parse().ok()?, minor.split('.').next()?.parse().ok()?))
}
