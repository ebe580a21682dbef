//! Links the `kpki` binary as a position-dependent executable (`-no-pie`).
//!
//! Measured (bench/profiles.py and BENCHMARKS.md): as a PIE, the dynamic
//! loader applies ~35 000 relative relocations at every start, which writes
//! to ~130 pages of the 16 MB binary (copy-on-write faults); that was 0.45 ms
//! of a 1.8 ms `gencert -initca`, and the tutorial's sequence starts kpki 20
//! times. Packing the relocations (`-z pack-relative-relocs`) did not help:
//! the cost is touching the pages, not reading the table. The price is that
//! the executable's own code is not address-randomised (libraries, heap and
//! stack still are) — the same as cfssl and every Go binary on linux/amd64.
//! Build with `KPKI_PIE=1` to keep a PIE.
fn main() {
    println!("cargo:rerun-if-env-changed=KPKI_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if linux && std::env::var_os("KPKI_PIE").is_none() {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
