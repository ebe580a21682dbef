//! Issue 15 (first part): more of cfssl 1.2's surface, each against the real
//! cfssl 1.2 on the same input: `version`, `-loglevel`, `sign -csr`, and three
//! differences cfssl's own test data showed (CA certificates drop DNS names
//! and e-mail addresses; the signature hash follows the CA key's size; a
//! leaf request's `ca` section is refused).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

fn cfssl(dir: &Path) -> Command {
    let d = real_cfssl_dir();
    assert_real_cfssl(&d);
    let mut c = Command::new(d.join("cfssl"));
    c.current_dir(dir).stdin(Stdio::null());
    c
}

fn kpki_in(dir: &Path) -> Command {
    let mut c = Command::new(kpki());
    c.current_dir(dir).stdin(Stdio::null());
    c
}

/// Writes the `cert` of gencert/sign JSON output to `name`.
fn save_cert(dir: &Path, out: &Output, name: &str) {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    std::fs::write(dir.join(name), v["cert"].as_str().unwrap()).unwrap();
    if let Some(k) = v["key"].as_str() {
        std::fs::write(dir.join(name.replace(".pem", "-key.pem")), k).unwrap();
    }
}

/// What openssl says about a certificate's signature algorithm and SANs.
fn openssl_view(path: &Path) -> (String, String) {
    let text = String::from_utf8_lossy(&run(Command::new("openssl").args(["x509", "-noout", "-text", "-in"]).arg(path)).stdout).to_string();
    let sig = text.lines().find(|l| l.trim_start().starts_with("Signature Algorithm")).unwrap_or("").trim().to_string();
    let sans = run(Command::new("openssl").args(["x509", "-noout", "-ext", "subjectAltName", "-in"]).arg(path));
    (sig, String::from_utf8_lossy(&sans.stdout).lines().skip(1).collect::<Vec<_>>().join(",").trim().to_string())
}

#[test]
fn version_has_cfssls_three_lines() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = String::from_utf8_lossy(&run(cfssl(dir.path()).arg("version")).stdout).to_string();
    let ours = String::from_utf8_lossy(&run(kpki_in(dir.path()).arg("version")).stdout).to_string();
    let keys = |t: &str| t.lines().map(|l| l.split(':').next().unwrap_or("").to_string()).collect::<Vec<_>>();
    assert_eq!(keys(&ours), keys(&theirs), "ours:\n{ours}\ncfssl's:\n{theirs}");
    assert!(ours.starts_with(&format!("Version: {}\n", env!("CARGO_PKG_VERSION"))), "{ours}");
    let json = String::from_utf8_lossy(&run(kpki_in(dir.path()).args(["json", "-version"])).stdout).to_string();
    assert_eq!(json, ours);
}

#[test]
fn ca_certificates_signature_hashes_and_ca_sections_match_cfssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, key) in [("rsa2048", r#"{"algo":"rsa","size":2048}"#), ("rsa3072", r#"{"algo":"rsa","size":3072}"#), ("rsa4096", r#"{"algo":"rsa","size":4096}"#), ("p384", r#"{"algo":"ecdsa","size":384}"#)] {
        std::fs::write(d.join(format!("{name}.json")), format!(r#"{{"CN":"CA {name}","hosts":["ca.example.com","10.0.0.1","ca@example.com"],"key":{key}}}"#)).unwrap();
        let theirs = run(cfssl(d).args(["gencert", "-initca"]).arg(format!("{name}.json")));
        save_cert(d, &theirs, &format!("cfssl-{name}.pem"));
        let ours = run(kpki_in(d).args(["gencert", "-loglevel", "3", "-initca"]).arg(format!("{name}.json")));
        save_cert(d, &ours, &format!("kpki-{name}.pem"));
        // The CA certificate: same signature algorithm, same SANs (the IP only).
        let (their_sig, their_sans) = openssl_view(&d.join(format!("cfssl-{name}.pem")));
        let (our_sig, our_sans) = openssl_view(&d.join(format!("kpki-{name}.pem")));
        assert_eq!(our_sig, their_sig, "{name}");
        assert_eq!(our_sans, their_sans, "{name}");
        assert_eq!(our_sans, "IP Address:10.0.0.1", "{name}");
        // A leaf each CA signs: the same hash as cfssl's CA uses.
        std::fs::write(d.join("leaf.json"), r#"{"CN":"leaf","hosts":["leaf.example.com"],"key":{"algo":"ecdsa","size":256}}"#).unwrap();
        for (who, cmd) in [("cfssl", cfssl(d)), ("kpki", kpki_in(d))] {
            let mut cmd = cmd;
            let ca = format!("{who}-{name}.pem");
            let out = run(cmd.args(["gencert", "-ca", &ca, "-ca-key", &ca.replace(".pem", "-key.pem"), "leaf.json"]));
            save_cert(d, &out, &format!("{who}-{name}-leaf.pem"));
        }
        let (their_leaf_sig, _) = openssl_view(&d.join(format!("cfssl-{name}-leaf.pem")));
        let (our_leaf_sig, _) = openssl_view(&d.join(format!("kpki-{name}-leaf.pem")));
        assert_eq!(our_leaf_sig, their_leaf_sig, "{name}: the leaf's signature");
        assert_openssl_verifies(&d.join(format!("kpki-{name}.pem")), &d.join(format!("kpki-{name}-leaf.pem")));
    }
    // A leaf request with a "ca" section: cfssl and kpki both refuse it.
    std::fs::write(d.join("leafca.json"), r#"{"CN":"leaf","hosts":["l.example.com"],"key":{"algo":"ecdsa","size":256},"ca":{"expiry":"1h"}}"#).unwrap();
    let theirs = cfssl(d).args(["gencert", "-ca", "cfssl-rsa2048.pem", "-ca-key", "cfssl-rsa2048-key.pem", "leafca.json"]).output().unwrap();
    assert!(String::from_utf8_lossy(&theirs.stderr).contains("ca section only permitted in initca") || String::from_utf8_lossy(&theirs.stdout).contains("ca section"), "cfssl: {theirs:?}");
    let ours = kpki_in(d).args(["gencert", "-ca", "kpki-rsa2048.pem", "-ca-key", "kpki-rsa2048-key.pem", "leafca.json"]).output().unwrap();
    assert_eq!(ours.status.code(), Some(2));
    assert!(ours.stdout.is_empty());
    assert!(String::from_utf8_lossy(&ours.stderr).contains("ca section only permitted in initca"), "{ours:?}");
}

#[test]
fn sign_takes_the_csr_as_a_flag_like_cfssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ca.json"), r#"{"CN":"CA","key":{"algo":"ecdsa","size":256}}"#).unwrap();
    let ca = run(kpki_in(d).args(["gencert", "-initca", "ca.json"]));
    save_cert(d, &ca, "ca.pem");
    std::fs::write(d.join("req.json"), r#"{"CN":"svc","hosts":["svc.example.com"],"key":{"algo":"ecdsa","size":256}}"#).unwrap();
    let req = run(cfssl(d).args(["genkey", "req.json"]));
    let v: serde_json::Value = serde_json::from_slice(&req.stdout).unwrap();
    std::fs::write(d.join("req.csr"), v["csr"].as_str().unwrap()).unwrap();
    for (who, cmd) in [("cfssl", cfssl(d)), ("kpki", kpki_in(d))] {
        let mut cmd = cmd;
        let out = run(cmd.args(["sign", "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-loglevel", "2", "-csr", "req.csr"]));
        save_cert(d, &out, &format!("{who}.pem"));
        assert_openssl_verifies(&d.join("ca.pem"), &d.join(format!("{who}.pem")));
    }
    assert_eq!(openssl_view(&d.join("kpki.pem")).1, openssl_view(&d.join("cfssl.pem")).1);
    // Neither a flag nor an argument: a usage error.
    let o = kpki_in(d).args(["sign", "-ca", "ca.pem", "-ca-key", "ca-key.pem"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    // A bad -loglevel is refused.
    let o = kpki_in(d).args(["sign", "-loglevel", "9", "-ca", "ca.pem", "-ca-key", "ca-key.pem", "req.csr"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn print_defaults_list_and_the_cfssl_certinfo_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let theirs = String::from_utf8_lossy(&run(cfssl(d).args(["print-defaults", "list"])).stdout).to_string();
    let ours = String::from_utf8_lossy(&run(kpki_in(d).args(["print-defaults", "list"])).stdout).to_string();
    // cfssl prints its entries in Go's random map order: the same heading,
    // and cfssl's entries (in any order) first in kpki's list.
    let (their_lines, our_lines): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    assert!(their_lines.len() >= 2 && our_lines.len() >= their_lines.len() && our_lines[0] == their_lines[0], "{ours}\n{theirs}");
    let mut first: Vec<&str> = our_lines[1..their_lines.len()].to_vec();
    let mut wanted: Vec<&str> = their_lines[1..].to_vec();
    first.sort_unstable();
    wanted.sort_unstable();
    assert_eq!(first, wanted, "cfssl's entries must open kpki's list:\n{ours}\n{theirs}");
    // Invoked as cfssl-certinfo, kpki is `certinfo`: the same JSON as cfssl's certinfo.
    std::fs::write(d.join("ca.json"), r#"{"CN":"CA","key":{"algo":"ecdsa","size":256}}"#).unwrap();
    let ca = run(kpki_in(d).args(["gencert", "-initca", "ca.json"]));
    save_cert(d, &ca, "ca.pem");
    std::os::unix::fs::symlink(kpki(), d.join("cfssl-certinfo")).unwrap();
    let ours = run(Command::new(d.join("cfssl-certinfo")).current_dir(d).args(["-cert", "ca.pem"]).stdin(Stdio::null()));
    let theirs = run(cfssl(d).args(["certinfo", "-cert", "ca.pem"]));
    assert_eq!(String::from_utf8_lossy(&ours.stdout), String::from_utf8_lossy(&theirs.stdout));
    // ECDSA signature names as cfssl writes them, for each hash.
    std::fs::write(d.join("p384.json"), r#"{"CN":"CA384","key":{"algo":"ecdsa","size":384}}"#).unwrap();
    let ca = run(kpki_in(d).args(["gencert", "-initca", "p384.json"]));
    save_cert(d, &ca, "p384.pem");
    let ours = run(kpki_in(d).args(["certinfo", "-cert", "p384.pem"]));
    let theirs = run(cfssl(d).args(["certinfo", "-cert", "p384.pem"]));
    assert_eq!(String::from_utf8_lossy(&ours.stdout), String::from_utf8_lossy(&theirs.stdout));
}

#[test]
fn argument_errors_have_kpkis_prefix_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["bootstrap", "--bogus"], vec!["renew"], vec!["completions", "tcsh"], vec!["nope"]] {
        let o = kpki_in(dir.path()).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("kpki: error: "), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn ca_sections_uris_and_a_doubled_csr_as_cfssl_refuses_or_drops_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // genkey without -initca refuses a ca section, as cfssl does.
    std::fs::write(d.join("lca.json"), r#"{"CN":"x","hosts":["a.example.com"],"key":{"algo":"ecdsa","size":256},"ca":{"pathlen":1}}"#).unwrap();
    let theirs = cfssl(d).args(["genkey", "lca.json"]).output().unwrap();
    assert!(!theirs.status.success(), "cfssl genkey accepted a ca section");
    let ours = kpki_in(d).args(["genkey", "lca.json"]).output().unwrap();
    assert_eq!(ours.status.code(), Some(2), "{ours:?}");
    assert!(String::from_utf8_lossy(&ours.stderr).contains("ca section only permitted in initca"));
    // A CA certificate keeps only IP addresses (a URI, which cfssl 1.2 writes as a DNS name, goes too).
    std::fs::write(d.join("r.json"), r#"{"CN":"R","hosts":["example.com","10.0.0.1","a@b.com","::1","spiffe://x/y"],"key":{"algo":"ecdsa","size":256}}"#).unwrap();
    save_cert(d, &run(kpki_in(d).args(["gencert", "-initca", "r.json"])), "k.pem");
    save_cert(d, &run(cfssl(d).args(["gencert", "-initca", "r.json"])), "c.pem");
    assert_eq!(openssl_view(&d.join("k.pem")).1, openssl_view(&d.join("c.pem")).1);
    assert!(!openssl_view(&d.join("k.pem")).1.contains("URI"));
    // The CSR given twice (flag and argument): refused, as cfssl fails on it.
    let req = run(kpki_in(d).args(["genkey", "r.json"]));
    let v: serde_json::Value = serde_json::from_slice(&req.stdout).unwrap();
    std::fs::write(d.join("r.csr"), v["csr"].as_str().unwrap()).unwrap();
    let o = kpki_in(d).args(["sign", "-ca", "k.pem", "-ca-key", "k-key.pem", "-csr", "r.csr", "r.csr"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}
