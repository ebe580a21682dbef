//! Bad input: every case exits 2 with one clear line naming the file or field,
//! never panics, and writes nothing.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// Builds a working directory with a CA, a leaf, configs and CSR JSONs.
fn fixture(dir: &Path) {
    let cfg = repo().join("ca-config");
    for f in ["ca-config.json", "admin-csr.json", "kube-proxy-csr.json"] {
        std::fs::copy(cfg.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("ca-csr.json"), r#"{"CN":"Kubernetes","key":{"algo":"ecdsa","size":256},"names":[{"O":"Kubernetes"}]}"#).unwrap();
    std::fs::write(dir.join("leaf-csr.json"), r#"{"CN":"leaf","key":{"algo":"ecdsa","size":256}}"#).unwrap();
    let sh = |s: &str| run(Command::new("bash").arg("-c").arg(s).current_dir(dir));
    let k = kpki();
    let k = k.display();
    sh(&format!("{k} gencert -initca -bare ca ca-csr.json"));
    sh(&format!("{k} gencert -initca -bare other ca-csr.json"));
    sh(&format!("{k} gencert -ca ca.pem -ca-key ca-key.pem -bare leaf leaf-csr.json"));
    sh(&format!("{k} genkey -bare req leaf-csr.json"));
}

struct Case {
    name: &'static str,
    args: &'static [&'static str],
    stdin: Option<&'static [u8]>,
    setup: Option<fn(&Path)>,
    expect: &'static str,
}

const fn case(name: &'static str, args: &'static [&'static str], expect: &'static str) -> Case {
    Case { name, args, stdin: None, setup: None, expect }
}

const GEN: [&str; 5] = ["gencert", "-ca=ca.pem", "-ca-key=ca-key.pem", "-config=ca-config.json", "-profile=kubernetes"];

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn cases() -> Vec<Case> {
    vec![
        Case { setup: Some(|d| write(d, "bad.json", "{\"CN\": ")), ..case("malformed CSR JSON", &["gencert", "-initca", "bad.json"], "CSR JSON bad.json: line 1") },
        Case { setup: Some(|d| write(d, "bad.json", "[1,2]")), ..case("CSR JSON not an object", &["gencert", "-initca", "bad.json"], "must be an object") },
        Case { setup: Some(|d| write(d, "bad.json", r#"{"CN":"x","host":["a"]}"#)), ..case("unknown CSR field", &["gencert", "-initca", "bad.json"], "host: unknown field") },
        Case { setup: Some(|d| write(d, "bad.json", r#"{"CN":"x","key":{"algo":"rsa"}}"#)), ..case("partial key spec", &["gencert", "-initca", "bad.json"], "key size is missing") },
        Case { setup: Some(|d| write(d, "bad.json", r#"{"CN":"x","key":{"algo":"rsa","size":1024}}"#)), ..case("weak RSA", &["gencert", "-initca", "bad.json"], "too weak") },
        Case { setup: Some(|d| write(d, "bad.json", r#"{"CN":"x","key":{"algo":"ecdsa","size":255}}"#)), ..case("bad curve size", &["gencert", "-initca", "bad.json"], "ECDSA key size 255") },
        Case { setup: Some(|d| write(d, "bad.json", r#"{"CN":"x","key":{"algo":"dsa","size":2048}}"#)), ..case("unknown key algo", &["gencert", "-initca", "bad.json"], "\"dsa\" is not supported") },
        Case { setup: Some(|d| write(d, "bad.json", r#"{"CN":"x","names":[{"O":"a"},{"O":"b"}]}"#)), ..case("multi-valued name", &["gencert", "-initca", "bad.json"], "names[1].O") },
        Case { setup: Some(|d| write(d, "bad.json", r#"{"CN":"x","ca":{"expiry":"10y"}}"#)), ..case("CA expiry unit", &["gencert", "-initca", "bad.json"], "ca.expiry") },
        Case { setup: Some(|d| write(d, "bad.json", r#"{"CN":"x","hosts":["exa mple.com"]}"#)), ..case("bad host in CSR", &["gencert", "-initca", "bad.json"], "hosts[0]") },
        case("missing CSR file", &["gencert", "-initca", "nope.json"], "cannot read CSR JSON nope.json: no such file"),
        case("missing CA file", &["gencert", "-ca=nope.pem", "-ca-key=ca-key.pem", "leaf-csr.json"], "cannot read CA certificate nope.pem"),
        case("mismatched CA key", &["gencert", "-ca=ca.pem", "-ca-key=other-key.pem", "leaf-csr.json"], "does not belong to CA certificate ca.pem"),
        case("non-CA used as CA", &["gencert", "-ca=leaf.pem", "-ca-key=leaf-key.pem", "leaf-csr.json"], "not a CA certificate"),
        case("CA key is a certificate", &["gencert", "-ca=ca.pem", "-ca-key=ca.pem", "leaf-csr.json"], "CA key ca.pem: no private key found"),
        case("CA cert is a key", &["gencert", "-ca=ca-key.pem", "-ca-key=ca-key.pem", "leaf-csr.json"], "CA certificate ca-key.pem: no certificate found"),
        case("-ca without -ca-key", &["gencert", "-ca=ca.pem", "leaf-csr.json"], "-ca needs -ca-key"),
        case("-initca with -ca", &["gencert", "-initca", "-ca=ca.pem", "-ca-key=ca-key.pem", "leaf-csr.json"], "drop -ca"),
        case("hostname with a space", &[GEN[0], GEN[1], GEN[2], GEN[3], GEN[4], "-hostname=a b", "admin-csr.json"], "-hostname"),
        case("hostname bad IP", &[GEN[0], GEN[1], GEN[2], GEN[3], GEN[4], "-hostname=10.32.0.256", "admin-csr.json"], "not a valid host name"),
        case("hostname empty entry", &[GEN[0], GEN[1], GEN[2], GEN[3], GEN[4], "-hostname=a,,b", "admin-csr.json"], "is empty"),
        case("unknown profile", &["gencert", "-ca=ca.pem", "-ca-key=ca-key.pem", "-config=ca-config.json", "-profile=kube", "admin-csr.json"], "profile \"kube\" is not in ca-config.json (profiles: kubernetes)"),
        Case { setup: Some(|d| write(d, "c.json", r#"{"signing":{"profiles":{"k":{"usages":["signing","server auht"]}}}}"#)), ..case("unknown usage", &["gencert", "-ca=ca.pem", "-ca-key=ca-key.pem", "-config=c.json", "-profile=k", "admin-csr.json"], "signing.profiles.k.usages[1]: unknown usage") },
        Case { setup: Some(|d| write(d, "c.json", r#"{"signing":{"default":{"expiry":"-8760h"}}}"#)), ..case("negative expiry", &["gencert", "-ca=ca.pem", "-ca-key=ca-key.pem", "-config=c.json", "admin-csr.json"], "not positive") },
        case("config is a directory", &["gencert", "-ca=ca.pem", "-ca-key=ca-key.pem", "-config=.", "admin-csr.json"], "it is a directory"),
        case("flag after the CSR file", &["gencert", "-ca=ca.pem", "-ca-key=ca-key.pem", "admin-csr.json", "-profile=kubernetes"], "comes after the argument admin-csr.json"),
        case("unknown flag", &["gencert", "-db-config=x", "admin-csr.json"], "unknown flag -db-config"),
        case("existing key without --force", &["gencert", "-initca", "-bare", "ca", "ca-csr.json"], "ca-key.pem already exists"),
        Case { stdin: Some(b"garbage\n"), ..case("garbage stdin to json", &["json", "-bare", "x"], "cfssl JSON from stdin") },
        Case { stdin: Some(br#"{"cert":"x","key":"y"}"#), ..case("bare object without -bare", &["json", "x"], "pass -bare") },
        Case { stdin: Some(br#"{"success":false,"errors":[{"code":1,"message":"boom"}]}"#), ..case("failed API response", &["json", "x"], "failed: boom") },
        Case { stdin: Some(br#"{"cert":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}"#), ..case("json with a bad cert", &["json", "-bare", "x"], "field \"cert\"") },
        Case { stdin: Some(br#"{"csr":"x"}"#), ..case("json with no PEM", &["json", "-bare", "x"], "field \"csr\"") },
        Case { setup: Some(|d| { let out = run(Command::new(kpki()).args(["gencert", "-initca", "ca-csr.json"]).current_dir(d)); std::fs::write(d.join("ca.json"), out.stdout).unwrap(); }), ..case("json over an existing key", &["json", "-bare", "-f", "ca.json", "ca"], "ca-key.pem already exists") },
        case("sign with a non-CSR", &["sign", "-ca=ca.pem", "-ca-key=ca-key.pem", "ca.pem"], "no certificate request found"),
        Case { setup: Some(tamper_csr), ..case("sign with a tampered CSR", &["sign", "-ca=ca.pem", "-ca-key=ca-key.pem", "bad.csr"], "signature does not verify") },
        case("certinfo on a key", &["certinfo", "-cert", "ca-key.pem"], "no certificate found"),
        case("print-defaults of nothing", &["print-defaults", "bogus"], "invalid value 'bogus'"),
        case("an AWS profile given as --profile", &["bootstrap", "--provider", "aws", "--profile", "prod", "--out", "out"], "for an AWS profile use --aws-profile"),
        case("an AWS profile given as --profile to destroy", &["destroy", "--provider", "aws", "--yes", "--profile", "prod"], "for an AWS profile use --aws-profile"),
        Case { setup: Some(|d| std::fs::write(d.join("big.json"), vec![b' '; 5 * 1024 * 1024]).unwrap()), ..case("oversized input", &["gencert", "-initca", "big.json"], "larger than 4 MiB") },
    ]
}

/// A CSR whose subject was changed after signing.
fn tamper_csr(dir: &Path) {
    let text = std::fs::read_to_string(dir.join("req.csr")).unwrap();
    let der = kpki::pki::cert::csr_from_pem(text.as_bytes()).unwrap().to_vec();
    let mut der = der.clone();
    let pos = der.windows(4).position(|w| w == b"leaf").unwrap();
    der[pos] = b'x';
    std::fs::write(dir.join("bad.csr"), kpki::pki::key::pem_encode("CERTIFICATE REQUEST", &der)).unwrap();
}

#[test]
fn bad_inputs_exit_2_with_a_clear_message_and_write_nothing() {
    let template = tempfile::tempdir().unwrap();
    fixture(template.path());
    let cases = cases();
    assert!(cases.len() >= 25);
    let mut failures = Vec::new();
    for c in &cases {
        let dir = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(template.path()).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        }
        if let Some(setup) = c.setup {
            setup(dir.path());
        }
        let before = snapshot(dir.path());
        let mut child = Command::new(kpki())
            .args(c.args)
            .current_dir(dir.path())
            .stdin(if c.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = c.stdin {
            child.stdin.take().unwrap().write_all(input).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let after = snapshot(dir.path());
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit {:?}", out.status.code()));
        }
        if !stderr.contains(c.expect) {
            problems.push(format!("stderr lacks {:?}", c.expect));
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            problems.push("panic".into());
        }
        if c.args[0] != "print-defaults" && stderr.trim().lines().count() != 1 {
            problems.push("message is not one line".into());
        }
        if before != after {
            problems.push("files changed".into());
        }
        if !out.stdout.is_empty() {
            problems.push("printed to stdout".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {} — stderr: {}", c.name, problems.join(", "), stderr.trim()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
