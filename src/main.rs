//! The `kpki` binary. Invoked through a link named `cfssl` it is `kpki`;
//! named `cfssljson` it is `kpki json`, so the tutorial's pipes run unchanged;
//! named `cfssl-certinfo` it is `kpki certinfo` (cfssl's multi-call name).

use std::ffi::OsString;
use std::path::Path;

fn main() {
    kpki::restore_sigpipe();
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let name = Path::new(&argv0).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut rest: Vec<OsString> = args.collect();
    match name.as_str() {
        "cfssljson" => rest.insert(0, OsString::from("json")),
        "cfssl-certinfo" => rest.insert(0, OsString::from("certinfo")),
        _ => {}
    }
    std::process::exit(kpki::run(rest));
}
