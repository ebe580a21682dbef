//! kpki as a drop-in cfssl: the tutorial's commands through `cfssl`/`cfssljson`
//! links, compared field by field with the real cfssl 1.2 on the same inputs,
//! and interop in both directions.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

fn pem(dir: &Path, stem: &str) -> std::path::PathBuf {
    dir.join(format!("{stem}.pem"))
}

#[test]
fn tutorial_sequence_through_links_verifies_with_openssl() {
    let links = kpki_links();
    let out = tempfile::tempdir().unwrap();
    tutorial(links.path(), out.path(), "rsa");
    let ca = pem(out.path(), "ca");
    for stem in TUTORIAL_STEMS {
        let c = pem(out.path(), stem);
        assert_openssl_verifies(&ca, &c);
        assert_key_matches(&c, &out.path().join(format!("{stem}-key.pem")));
        let s = summary(&c);
        assert_eq!(s.key, "rsa-2048", "{stem}");
        assert!(s.ski_is_sha1_of_key, "{stem}");
        let mode = std::fs::metadata(out.path().join(format!("{stem}-key.pem"))).unwrap();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600, "{stem}-key.pem mode");
        let key_pem = std::fs::read_to_string(out.path().join(format!("{stem}-key.pem"))).unwrap();
        assert!(key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "cfssl writes PKCS#1");
    }
    // kpki's own RSA key generator (src/pki/rsa_gen.rs): every key sound by
    // openssl's checks, and no two alike.
    let moduli: std::collections::BTreeSet<String> =
        TUTORIAL_STEMS.iter().map(|stem| assert_rsa_key_sound(&out.path().join(format!("{stem}-key.pem")), 2048)).collect();
    assert_eq!(moduli.len(), TUTORIAL_STEMS.len(), "two keys share a modulus");
    // The apiserver cert answers for the service IP the tutorial forgot.
    let out2 = openssl_verify(&ca, &pem(out.path(), "master-kubernetes"), &["-verify_ip", "10.32.0.1"]);
    assert!(out2.status.success());
}

/// Runs the tutorial with the real cfssl and with kpki and compares every
/// certificate field by field.
fn compare_with_cfssl(algo: &str) {
    let links = kpki_links();
    let theirs = tempfile::tempdir().unwrap();
    let ours = tempfile::tempdir().unwrap();
    tutorial(&real_cfssl_dir(), theirs.path(), algo);
    tutorial(links.path(), ours.path(), algo);
    for stem in TUTORIAL_STEMS {
        let mut a = summary(&pem(theirs.path(), stem));
        let b = summary(&pem(ours.path(), stem));
        if algo == "ecdsa" && *stem != "ca" {
            // The one intended difference: kpki leaves keyEncipherment (bit 2)
            // off ECDSA certificates, as RFC 5480 requires.
            a.key_usage = a.key_usage.map(|(crit, flags)| (crit, flags & !4));
        }
        assert_eq!(a, b, "{stem}: kpki's certificate differs from cfssl's");
        // Both keys are in the same PEM encoding.
        let ka = std::fs::read_to_string(theirs.path().join(format!("{stem}-key.pem"))).unwrap();
        let kb = std::fs::read_to_string(ours.path().join(format!("{stem}-key.pem"))).unwrap();
        assert_eq!(ka.lines().next(), kb.lines().next(), "{stem}: key PEM label");
        // And so are the CSRs' subjects.
        let ca = std::fs::read(theirs.path().join(format!("{stem}.csr"))).unwrap();
        let cb = std::fs::read(ours.path().join(format!("{stem}.csr"))).unwrap();
        let (da, db) = (kpki::pki::cert::csr_from_pem(&ca).unwrap(), kpki::pki::cert::csr_from_pem(&cb).unwrap());
        let (pa, pb) = (kpki::pki::cert::parse_csr(&da).unwrap(), kpki::pki::cert::parse_csr(&db).unwrap());
        assert_eq!(
            pa.certification_request_info.subject.as_raw(),
            pb.certification_request_info.subject.as_raw(),
            "{stem}: CSR subject"
        );
    }
}

#[test]
fn rsa_set_matches_cfssl_field_by_field() {
    compare_with_cfssl("rsa");
}

#[test]
fn ecdsa_set_matches_cfssl_field_by_field() {
    compare_with_cfssl("ecdsa");
}

#[test]
fn certinfo_agrees_with_cfssl_on_cfssl_certs() {
    let dir = tempfile::tempdir().unwrap();
    tutorial(&real_cfssl_dir(), dir.path(), "rsa");
    for stem in TUTORIAL_STEMS {
        let c = pem(dir.path(), stem);
        let theirs = run(Command::new(real_cfssl_dir().join("cfssl")).arg("certinfo").arg("-cert").arg(&c)).stdout;
        let ours = run(Command::new(kpki()).arg("certinfo").arg("-cert").arg(&c)).stdout;
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "{stem}");
    }
}

#[test]
fn cfssljson_consumes_kpki_json() {
    let dir = tempfile::tempdir().unwrap();
    let csr = repo().join("ca-config/ca-csr.json");
    let json = run(Command::new(kpki()).args(["gencert", "-initca"]).arg(&csr)).stdout;
    let mut child = Command::new("cfssljson")
        .args(["-bare", "ca"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &json).unwrap();
    assert!(child.wait().unwrap().success());
    assert_openssl_verifies(&dir.path().join("ca.pem"), &dir.path().join("ca.pem"));
    assert_key_matches(&dir.path().join("ca.pem"), &dir.path().join("ca-key.pem"));
}

/// Makes a CA with one tool and signs with the other.
fn cross_sign(ca_tool: &Path, signer: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = repo().join("ca-config");
    let sh = |s: &str| {
        run(Command::new("bash").arg("-c").arg(s).current_dir(dir.path()).env("PATH", path_with(&std::env::current_dir().unwrap())))
    };
    sh(&format!("{}/cfssl gencert -initca {}/ca-csr.json | {}/cfssljson -bare ca", ca_tool.display(), cfg.display(), ca_tool.display()));
    sh(&format!(
        "{s}/cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config={c}/ca-config.json -profile=kubernetes -hostname=node-a,10.0.0.5 {c}/admin-csr.json | {s}/cfssljson -bare admin",
        s = signer.display(),
        c = cfg.display()
    ));
    assert_openssl_verifies(&dir.path().join("ca.pem"), &dir.path().join("admin.pem"));
    assert_key_matches(&dir.path().join("admin.pem"), &dir.path().join("admin-key.pem"));
    // A CSR made by one tool, signed by the other with `sign`.
    sh(&format!("{}/cfssl genkey {}/kube-proxy-csr.json | {}/cfssljson -bare proxy", ca_tool.display(), cfg.display(), ca_tool.display()));
    sh(&format!(
        "{s}/cfssl sign -ca ca.pem -ca-key ca-key.pem -config {c}/ca-config.json -profile kubernetes proxy.csr | {s}/cfssljson -bare proxy",
        s = signer.display(),
        c = cfg.display()
    ));
    assert_openssl_verifies(&dir.path().join("ca.pem"), &dir.path().join("proxy.pem"));
    assert_key_matches(&dir.path().join("proxy.pem"), &dir.path().join("proxy-key.pem"));
    // cfssl 1.2's sign prints the CSR back as "csr" (so `cfssljson -bare` writes NAME.csr).
    let o = sh(&format!("{}/cfssl sign -ca ca.pem -ca-key ca-key.pem proxy.csr", signer.display()));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["cert", "csr"], "{}: sign's JSON fields", signer.display());
    assert_eq!(v["csr"].as_str().unwrap().as_bytes(), std::fs::read(dir.path().join("proxy.csr")).unwrap(), "the CSR printed back is the input");
    let s = summary(&dir.path().join("proxy.pem"));
    assert!(s.subject.iter().any(|(_, v, _)| v == "system:kube-proxy"));
}

#[test]
fn kpki_signs_with_a_cfssl_ca() {
    let links = kpki_links();
    cross_sign(&real_cfssl_dir(), links.path());
}

#[test]
fn cfssl_signs_with_a_kpki_ca() {
    let links = kpki_links();
    cross_sign(links.path(), &real_cfssl_dir());
}

#[test]
fn every_algorithm_chains_and_pkcs8_ca_keys_sign() {
    for (algo, size) in [("ecdsa", "384"), ("ecdsa", "521"), ("ed25519", "0"), ("rsa", "3072")] {
        let dir = tempfile::tempdir().unwrap();
        let csr = format!(r#"{{"CN":"ca-{algo}","key":{{"algo":"{algo}","size":{size}}},"names":[{{"O":"kpki"}}]}}"#);
        std::fs::write(dir.path().join("ca-csr.json"), &csr).unwrap();
        run(Command::new(kpki())
            .args(["gencert", "-initca", "--key-format", "pkcs8", "-bare", "ca", "--out-dir"])
            .arg(dir.path())
            .arg(dir.path().join("ca-csr.json")));
        let key = std::fs::read_to_string(dir.path().join("ca-key.pem")).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        std::fs::write(dir.path().join("leaf.json"), r#"{"CN":"leaf","hosts":["leaf.example","10.1.2.3"]}"#).unwrap();
        run(Command::new(kpki())
            .args(["gencert", "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-bare", "leaf", "leaf.json"])
            .current_dir(dir.path()));
        assert_openssl_verifies(&dir.path().join("ca.pem"), &dir.path().join("leaf.pem"));
        assert_key_matches(&dir.path().join("leaf.pem"), &dir.path().join("leaf-key.pem"));
        let v = openssl_verify(&dir.path().join("ca.pem"), &dir.path().join("leaf.pem"), &["-verify_hostname", "leaf.example"]);
        assert!(v.status.success(), "{algo}-{size}");
        let v = openssl_verify(&dir.path().join("ca.pem"), &dir.path().join("leaf.pem"), &["-verify_hostname", "other.example"]);
        assert!(!v.status.success(), "{algo}-{size} must not verify for a name it lacks");
    }
}

#[test]
fn openssl_pkcs8_ca_key_is_read() {
    // cfssl cannot read PKCS#8 keys (cfssl #848); kpki can.
    let dir = tempfile::tempdir().unwrap();
    tutorial(&real_cfssl_dir(), dir.path(), "rsa");
    run(Command::new("openssl")
        .args(["pkcs8", "-topk8", "-nocrypt", "-in", "ca-key.pem", "-out", "ca-key-pkcs8.pem"])
        .current_dir(dir.path()));
    run(Command::new(kpki())
        .args(["gencert", "-ca=ca.pem", "-ca-key=ca-key-pkcs8.pem", "-config=ca-config.json", "-profile=kubernetes", "-bare", "x", "admin-csr.json"])
        .current_dir(dir.path()));
    assert_openssl_verifies(&dir.path().join("ca.pem"), &dir.path().join("x.pem"));
}

#[test]
fn pkilint_finds_no_errors_in_kpki_certs() {
    let links = kpki_links();
    for algo in ["rsa", "ecdsa"] {
        let out = tempfile::tempdir().unwrap();
        tutorial(links.path(), out.path(), algo);
        for stem in TUTORIAL_STEMS {
            let findings = pkilint_findings(&pem(out.path(), stem));
            assert!(findings.is_empty(), "{algo} {stem}: {findings:?}");
        }
    }
}

#[test]
fn print_defaults_match_cfssl() {
    for what in ["csr", "config"] {
        let theirs = run(Command::new(real_cfssl_dir().join("cfssl")).args(["print-defaults", what])).stdout;
        let ours = run(Command::new(kpki()).args(["print-defaults", what])).stdout;
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "{what}");
    }
}

/// X.680's PrintableString includes '?', and cfssl (Go) uses it; yasna, the
/// DER writer under rcgen, panics on it (found by fuzzing). kpki writes such
/// text as a UTF8String, and refuses — one line, exit 2, nothing written —
/// a CA whose subject holds it as a PrintableString, which it could not
/// reproduce byte for byte as the issuer name.
#[test]
fn question_marks_in_names_neither_panic_nor_break_chains() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("q.json"), r#"{"CN":"a?b","key":{"algo":"ecdsa","size":256},"names":[{"L":"Port?and","O":"K"}]}"#).unwrap();
    std::fs::copy(repo().join("ca-config/ca-config.json"), d.join("ca-config.json")).unwrap();
    std::fs::copy(repo().join("ca-config/admin-csr.json"), d.join("admin-csr.json")).unwrap();
    let sh = |s: &str| Command::new("bash").arg("-c").arg(s).current_dir(d).output().unwrap();
    let k = kpki();
    let o = sh(&format!("{k} gencert -initca q.json | {k} json -bare kca", k = k.display()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let subject = run(Command::new(require("openssl")).args(["x509", "-noout", "-subject", "-nameopt", "show_type,sep_multiline", "-in"]).arg(d.join("kca.pem")));
    let subject = String::from_utf8_lossy(&subject.stdout).to_string();
    assert!(subject.contains("L=UTF8STRING:Port?and") && subject.contains("CN=UTF8STRING:a?b"), "{subject}");
    let o = sh(&format!("{k} gencert -ca kca.pem -ca-key kca-key.pem -config ca-config.json -profile kubernetes admin-csr.json | {k} json -bare admin", k = k.display()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_openssl_verifies(&d.join("kca.pem"), &d.join("admin.pem"));

    // cfssl's CA keeps "Port?and" as a PrintableString.
    let cfssl = real_cfssl_dir();
    let o = sh(&format!("{c}/cfssl gencert -initca q.json | {c}/cfssljson -bare cfca", c = cfssl.display()));
    assert!(o.status.success());
    let before = snapshot(d);
    let o = sh(&format!("{k} gencert -ca cfca.pem -ca-key cfca-key.pem -config ca-config.json -profile kubernetes -bare x admin-csr.json", k = k.display()));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cfca.pem") && err.contains("'?' in a PrintableString"), "{err}");
    assert_eq!(snapshot(d), before, "nothing written");
}
