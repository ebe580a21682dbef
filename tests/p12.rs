//! `kpki p12`: PKCS#12 files read back by the real tools, openssl 3 and
//! python's `cryptography`, in both profiles, for RSA-2048, ECDSA P-256 and
//! P-384 chains made by kpki itself; and what it refuses (wrong or
//! unencodable passphrases, a key that is not the certificate's, a chain out
//! of order, an existing file, a symbolic link), writing nothing.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

/// Non-ASCII on purpose: both readers must agree with kpki on its encoding
/// (UTF-8 for PBKDF2, BMPString for the PKCS#12 KDF of the MAC and 3DES).
const PASS: &str = "pässwörd€";

fn kpki_in(dir: &Path) -> Command {
    let mut c = Command::new(kpki());
    c.current_dir(dir).stdin(Stdio::null()).env_remove("KPKI_P12_PASSPHRASE");
    c
}

/// Writes the `cert` and `key` of gencert's JSON output to `<stem>.pem` and `<stem>-key.pem`.
fn save(dir: &Path, out: &Output, stem: &str) {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    std::fs::write(dir.join(format!("{stem}.pem")), v["cert"].as_str().unwrap()).unwrap();
    std::fs::write(dir.join(format!("{stem}-key.pem")), v["key"].as_str().unwrap()).unwrap();
}

/// A root, an intermediate it signs, and a leaf the intermediate signs, all
/// with keys of `key` (CSR JSON), as root.pem, int.pem, leaf.pem and their keys.
fn make_chain(d: &Path, key: &str) {
    std::fs::write(d.join("root.json"), format!(r#"{{"CN":"P12 Root","key":{key},"ca":{{"pathlen":2}}}}"#)).unwrap();
    save(d, &run(kpki_in(d).args(["gencert", "-initca", "root.json"])), "root");
    std::fs::write(
        d.join("config.json"),
        r#"{"signing":{"default":{"expiry":"8760h","usages":["signing","key encipherment","server auth","client auth"]},"profiles":{"int":{"expiry":"43800h","usages":["cert sign","crl sign"],"ca_constraint":{"is_ca":true}}}}}"#,
    )
    .unwrap();
    std::fs::write(d.join("int.json"), format!(r#"{{"CN":"P12 Intermediate","key":{key}}}"#)).unwrap();
    save(d, &run(kpki_in(d).args(["gencert", "-ca", "root.pem", "-ca-key", "root-key.pem", "-config", "config.json", "-profile", "int", "int.json"])), "int");
    std::fs::write(d.join("leaf.json"), format!(r#"{{"CN":"leaf.example.com","hosts":["leaf.example.com"],"key":{key}}}"#)).unwrap();
    save(d, &run(kpki_in(d).args(["gencert", "-ca", "int.pem", "-ca-key", "int-key.pem", "-config", "config.json", "leaf.json"])), "leaf");
    std::fs::write(d.join("pass.txt"), format!("{PASS}\n")).unwrap();
    std::fs::write(d.join("wrong.txt"), "pässwörd$\n").unwrap();
}

/// `kpki p12` for the chain of `make_chain`, with extra arguments.
fn export(d: &Path, out: &str, extra: &[&str]) -> Output {
    kpki_in(d)
        .args(["p12", "--cert", "leaf.pem", "--key", "leaf-key.pem", "--ca", "int.pem", "--ca", "root.pem", "--out", out])
        .args(extra)
        .output()
        .expect("kpki runs")
}

fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Asserts exit 2, a message containing `says`, and no file at `out`.
fn assert_refused(d: &Path, out: &Output, path: &str, says: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "expected exit 2 ({says}): {err}");
    assert!(err.contains(says), "expected {says:?} in: {err}");
    assert!(!d.join(path).exists(), "{path} was written although kpki refused");
}

fn openssl(d: &Path) -> Command {
    let mut c = Command::new(require("openssl"));
    c.current_dir(d).stdin(Stdio::null());
    c
}

/// `openssl pkcs12` on `p12` with the passphrase from `pass_file` and `args`.
fn pkcs12(d: &Path, p12: &str, pass_file: &str, args: &[&str]) -> Output {
    openssl(d).args(["pkcs12", "-in", p12, "-passin"]).arg(format!("file:{pass_file}")).args(args).output().expect("openssl runs")
}

/// The public key of a PEM private key, as openssl writes it.
fn pubkey(d: &Path, key: &str) -> String {
    String::from_utf8(run(openssl(d).args(["pkey", "-pubout", "-in", key])).stdout).unwrap()
}

/// The DER of every certificate in a PEM text (split by kpki's own reader).
fn ders(pem: &[u8]) -> Vec<Vec<u8>> {
    kpki::pki::cert::certs_from_pem(pem).map(|v| v.into_iter().map(|c| c.to_vec()).collect::<Vec<Vec<u8>>>()).unwrap_or_default()
}

fn pem_file_ders(d: &Path, name: &str) -> Vec<Vec<u8>> {
    ders(&std::fs::read(d.join(name)).unwrap())
}

/// What openssl reads from `p12`: the key's public key, the leaf, the CA
/// certificates (sorted), and the key bag's text (its attributes).
fn openssl_contents(d: &Path, p12: &str, legacy: bool) -> (String, Vec<Vec<u8>>, Vec<Vec<u8>>, String) {
    let l: &[&str] = if legacy { &["-legacy"] } else { &[] };
    let key = pkcs12(d, p12, "pass.txt", &[&["-nodes", "-nocerts"][..], l].concat());
    assert_ok(&key, "openssl pkcs12 -nocerts");
    let key_text = String::from_utf8_lossy(&key.stdout).to_string();
    std::fs::write(d.join("from-p12-key.pem"), &key_text).unwrap();
    let leaf = pkcs12(d, p12, "pass.txt", &[&["-nokeys", "-clcerts"][..], l].concat());
    assert_ok(&leaf, "openssl pkcs12 -clcerts");
    let cas = pkcs12(d, p12, "pass.txt", &[&["-nokeys", "-cacerts"][..], l].concat());
    assert_ok(&cas, "openssl pkcs12 -cacerts");
    let mut ca_ders = ders(&cas.stdout);
    ca_ders.sort();
    (pubkey(d, "from-p12-key.pem"), ders(&leaf.stdout), ca_ders, key_text)
}

/// python3 `cryptography`: loads `p12` with the passphrase in `pass_file`
/// and checks the key, the certificate (same DER) and the CA chain; or,
/// with `expect_fail`, that the passphrase is refused.
fn python_check(d: &Path, p12: &str, pass_file: &str, expect_fail: bool) -> Output {
    const SCRIPT: &str = r#"
import sys
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key, pkcs12
p12, pass_file, key_pem, cert_pem, expect_fail = sys.argv[1:6]
cas_pem = sys.argv[6:]
data = open(p12, "rb").read()
pw = open(pass_file, "rb").read().split(b"\n")[0]
try:
    key, cert, cas = pkcs12.load_key_and_certificates(data, pw)
except ValueError as e:
    if expect_fail == "1":
        print("refused:", e)
        sys.exit(0)
    raise
assert expect_fail == "0", "a wrong passphrase was accepted"
spki = lambda k: k.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
assert key is not None and spki(key) == spki(load_pem_private_key(open(key_pem, "rb").read(), None)), "the key differs"
assert cert is not None and cert.public_bytes(Encoding.DER) == x509.load_pem_x509_certificate(open(cert_pem, "rb").read()).public_bytes(Encoding.DER), "the certificate differs"
want = sorted(x509.load_pem_x509_certificate(open(p, "rb").read()).public_bytes(Encoding.DER) for p in cas_pem)
got = sorted(c.public_bytes(Encoding.DER) for c in cas)
assert got == want, "the CA certificates differ: %d read, %d expected" % (len(got), len(want))
print("ok")
"#;
    Command::new("python3")
        .current_dir(d)
        .stdin(Stdio::null())
        .args(["-c", SCRIPT, p12, pass_file, "leaf-key.pem", "leaf.pem", if expect_fail { "1" } else { "0" }, "int.pem", "root.pem"])
        .output()
        .expect("python3 runs")
}

fn assert_python_reads(d: &Path, p12: &str) {
    let ok = python_check(d, p12, "pass.txt", false);
    assert!(ok.status.success() && String::from_utf8_lossy(&ok.stdout).contains("ok"), "python cryptography on {p12}: {}", String::from_utf8_lossy(&ok.stderr));
    let wrong = python_check(d, p12, "wrong.txt", true);
    assert!(wrong.status.success() && String::from_utf8_lossy(&wrong.stdout).contains("refused"), "python cryptography with a wrong passphrase on {p12}: {}", String::from_utf8_lossy(&wrong.stderr));
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn both_profiles_are_read_by_openssl_and_python_for_rsa_and_ecdsa() {
    for (label, key) in [("rsa-2048", r#"{"algo":"rsa","size":2048}"#), ("ecdsa-p256", r#"{"algo":"ecdsa","size":256}"#), ("ecdsa-p384", r#"{"algo":"ecdsa","size":384}"#)] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_chain(d, key);
        let want_pub = pubkey(d, "leaf-key.pem");
        let want_leaf = pem_file_ders(d, "leaf.pem");
        let mut want_cas = [pem_file_ders(d, "int.pem"), pem_file_ders(d, "root.pem")].concat();
        want_cas.sort();

        for (p12, legacy, algo_line, mac_line) in [
            ("modern.p12", false, "PBES2, PBKDF2, AES-256-CBC", "MAC: sha256"),
            ("legacy.p12", true, "pbeWithSHA1And3-KeyTripleDES-CBC", "MAC: sha1"),
        ] {
            let extra: &[&str] = if legacy { &["--passphrase-file", "pass.txt", "--legacy"] } else { &["--passphrase-file", "pass.txt"] };
            assert_ok(&export(d, p12, extra), &format!("{label}: kpki p12 {p12}"));
            assert_eq!(mode_of(&d.join(p12)), 0o600, "{label}: {p12} must be readable by its owner only");

            // openssl -info: the algorithms of both bags and of the MAC.
            let info_args: &[&str] = if legacy { &["-info", "-noout", "-legacy"] } else { &["-info", "-noout"] };
            let info = pkcs12(d, p12, "pass.txt", info_args);
            let info_text = String::from_utf8_lossy(&info.stderr).to_string();
            assert!(info.status.success(), "{label}: openssl pkcs12 -info {p12}: {info_text}");
            assert!(info_text.contains(mac_line), "{label}: {p12}: expected {mac_line:?} in:\n{info_text}");
            assert!(info_text.contains(&format!("PKCS7 Encrypted data: {algo_line}")), "{label}: {p12}: certificates not encrypted with {algo_line}:\n{info_text}");
            assert!(info_text.contains(&format!("Shrouded Keybag: {algo_line}")), "{label}: {p12}: key not encrypted with {algo_line}:\n{info_text}");

            // openssl's reading: the same key, the leaf, both CA certificates.
            let (got_pub, got_leaf, got_cas, key_text) = openssl_contents(d, p12, legacy);
            assert_eq!(got_pub, want_pub, "{label}: {p12}: the private key differs");
            assert_eq!(got_leaf, want_leaf, "{label}: {p12}: the certificate differs");
            assert_eq!(got_cas, want_cas, "{label}: {p12}: the CA certificates differ");
            // The key bag is named after the CN by default and has a localKeyID.
            assert!(key_text.contains("friendlyName: leaf.example.com"), "{label}: {p12}: key bag attributes:\n{key_text}");
            assert!(key_text.contains("localKeyID:"), "{label}: {p12}: key bag attributes:\n{key_text}");

            // A wrong passphrase fails the MAC.
            let wrong = pkcs12(d, p12, "wrong.txt", info_args);
            assert!(!wrong.status.success(), "{label}: openssl accepted a wrong passphrase for {p12}");

            assert_python_reads(d, p12);
        }
    }
}

#[test]
fn the_passphrase_from_the_environment_a_name_a_full_chain_file_and_an_encrypted_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_chain(d, r#"{"algo":"ecdsa","size":256}"#);
    // The passphrase from KPKI_P12_PASSPHRASE, --name for the key bag.
    let out = kpki_in(d)
        .args(["p12", "--cert", "leaf.pem", "--key", "leaf-key.pem", "--ca", "int.pem", "--ca", "root.pem", "--out", "env.p12", "--name", "Alice's key"])
        .env("KPKI_P12_PASSPHRASE", PASS)
        .output()
        .unwrap();
    assert_ok(&out, "kpki p12 with KPKI_P12_PASSPHRASE");
    let (_, _, _, key_text) = openssl_contents(d, "env.p12", false);
    assert!(key_text.contains("friendlyName: Alice's key"), "{key_text}");
    assert_python_reads(d, "env.p12");

    // The chain in the certificate file itself (leaf, intermediate, root), one --ca repeating it.
    let full = [std::fs::read(d.join("leaf.pem")).unwrap(), std::fs::read(d.join("int.pem")).unwrap(), std::fs::read(d.join("root.pem")).unwrap()].concat();
    std::fs::write(d.join("fullchain.pem"), full).unwrap();
    let out = kpki_in(d)
        .args(["p12", "--cert", "fullchain.pem", "--key", "leaf-key.pem", "--ca", "root.pem", "--out", "full.p12", "--passphrase-file", "pass.txt"])
        .output()
        .unwrap();
    assert_ok(&out, "kpki p12 --cert fullchain.pem");
    assert_python_reads(d, "full.p12");

    // An encrypted PKCS#8 key (openssl's PBES2): read with --key-passphrase-file, refused without it.
    std::fs::write(d.join("keypass.txt"), "key secret\n").unwrap();
    run(openssl(d).args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256", "-in", "leaf-key.pem", "-out", "leaf-enc-key.pem", "-passout", "file:keypass.txt"]));
    let base = ["p12", "--cert", "leaf.pem", "--key", "leaf-enc-key.pem", "--ca", "int.pem", "--ca", "root.pem", "--out", "enc.p12", "--passphrase-file", "pass.txt"];
    let out = kpki_in(d).args(base).output().unwrap();
    assert_refused(d, &out, "enc.p12", "is encrypted");
    let out = kpki_in(d).args(base).args(["--key-passphrase-file", "keypass.txt"]).output().unwrap();
    assert_ok(&out, "kpki p12 with an encrypted key");
    assert_python_reads(d, "enc.p12");
}

#[test]
fn bad_passphrases_a_foreign_key_and_a_chain_out_of_order_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_chain(d, r#"{"algo":"ecdsa","size":256}"#);

    // A passphrase file that is not UTF-8 (Latin-1 "päss").
    std::fs::write(d.join("latin1.txt"), b"p\xe4ss\n").unwrap();
    assert_refused(d, &export(d, "x.p12", &["--passphrase-file", "latin1.txt"]), "x.p12", "UTF-8");
    // A character above U+FFFF, which PKCS#12's BMPString cannot hold.
    std::fs::write(d.join("emoji.txt"), "key\u{1F511}\n").unwrap();
    assert_refused(d, &export(d, "x.p12", &["--passphrase-file", "emoji.txt"]), "x.p12", "U+FFFF");
    // Too long to be a passphrase (never cut silently), and NUL bytes.
    std::fs::write(d.join("long.txt"), "A".repeat(5000) + "\n").unwrap();
    assert_refused(d, &export(d, "x.p12", &["--passphrase-file", "long.txt"]), "x.p12", "longer than");
    std::fs::write(d.join("nul.txt"), b"ab\0cd\n").unwrap();
    assert_refused(d, &export(d, "x.p12", &["--passphrase-file", "nul.txt"]), "x.p12", "control character");
    // No passphrase at all (no terminal to ask on), and an empty variable.
    assert_refused(d, &export(d, "x.p12", &[]), "x.p12", "passphrase");
    let out = kpki_in(d)
        .args(["p12", "--cert", "leaf.pem", "--key", "leaf-key.pem", "--out", "x.p12"])
        .env("KPKI_P12_PASSPHRASE", "")
        .output()
        .unwrap();
    assert_refused(d, &out, "x.p12", "passphrase");

    // The intermediate's key with the leaf's certificate.
    let out = kpki_in(d)
        .args(["p12", "--cert", "leaf.pem", "--key", "int-key.pem", "--ca", "int.pem", "--out", "x.p12", "--passphrase-file", "pass.txt"])
        .output()
        .unwrap();
    assert_refused(d, &out, "x.p12", "does not belong");

    // The chain root first.
    let out = kpki_in(d)
        .args(["p12", "--cert", "leaf.pem", "--key", "leaf-key.pem", "--ca", "root.pem", "--ca", "int.pem", "--out", "x.p12", "--passphrase-file", "pass.txt"])
        .output()
        .unwrap();
    assert_refused(d, &out, "x.p12", "chain order");
}

#[test]
fn an_existing_file_needs_force_and_a_symlink_or_an_input_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_chain(d, r#"{"algo":"ecdsa","size":256}"#);
    let pass = ["--passphrase-file", "pass.txt"];

    // An existing file: kept without --force, replaced (mode 0600) with it.
    std::fs::write(d.join("old.p12"), "old").unwrap();
    std::fs::set_permissions(d.join("old.p12"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = export(d, "old.p12", &pass);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(d.join("old.p12")).unwrap(), b"old");
    assert_ok(&export(d, "old.p12", &[&pass[..], &["--force"][..]].concat()), "kpki p12 --force");
    assert_ne!(std::fs::read(d.join("old.p12")).unwrap(), b"old");
    assert_eq!(mode_of(&d.join("old.p12")), 0o600);
    assert_python_reads(d, "old.p12");

    // A symbolic link at --out: refused even with --force; its target untouched.
    std::fs::write(d.join("victim"), "mine").unwrap();
    std::os::unix::fs::symlink(d.join("victim"), d.join("link.p12")).unwrap();
    // A dangling one too (following it would create a file elsewhere).
    std::os::unix::fs::symlink(d.join("elsewhere.p12"), d.join("dangling.p12")).unwrap();
    for link in ["link.p12", "dangling.p12"] {
        for force in [false, true] {
            let args: Vec<&str> = if force { [&pass[..], &["--force"][..]].concat() } else { pass.to_vec() };
            let out = export(d, link, &args);
            assert_eq!(out.status.code(), Some(2), "{link} (force {force}): {}", String::from_utf8_lossy(&out.stderr));
            assert!(String::from_utf8_lossy(&out.stderr).contains("symbolic link"), "{}", String::from_utf8_lossy(&out.stderr));
            assert!(std::fs::symlink_metadata(d.join(link)).unwrap().file_type().is_symlink());
        }
    }
    assert_eq!(std::fs::read(d.join("victim")).unwrap(), b"mine");
    assert!(!d.join("elsewhere.p12").exists());

    // --out naming the key itself: refused even with --force.
    let key_before = std::fs::read(d.join("leaf-key.pem")).unwrap();
    let out = export(d, "leaf-key.pem", &[&pass[..], &["--force"][..]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("also an input"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(d.join("leaf-key.pem")).unwrap(), key_before);
}
