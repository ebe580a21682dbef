//! The `kpki` binary. Invoked through a link named `cfssl` it is `kpki`;
//! named `cfssljson` it is `kpki json`, so the tutorial's pipes run unchanged;
//! named `cfssl-certinfo`, `cfssl-bundle` or `cfssl-mkbundle` (`mkbundle`)
//! it is that command (cfssl's multi-call names).

use std::ffi::OsString;
use std::path::Path;

fn main() {
    kpki::restore_sigpipe();
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let name = Path::new(&argv0).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut rest: Vec<OsString> = args.collect();
    kpki::set_program_name(&name);
    match name.as_str() {
        "cfssljson" => rest.insert(0, OsString::from("json")),
        "cfssl-certinfo" => rest.insert(0, OsString::from("certinfo")),
        "cfssl-bundle" => rest.insert(0, OsString::from("bundle")),
        "cfssl-newkey" => rest.insert(0, OsString::from("genkey")),
        "cfssl-mkbundle" | "mkbundle" => rest.insert(0, OsString::from("mkbundle")),
        _ => {}
    }
    std::process::exit(kpki::run(rest));
}
