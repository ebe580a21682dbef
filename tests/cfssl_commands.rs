//! Issue 15: the rest of cfssl 1.2's commands, each against the real cfssl
//! 1.2 on the same input where it has the command: `certinfo -csr` (byte
//! for byte), `certinfo -domain` (byte for byte, against openssl s_server),
//! `bundle` (field by field), `selfsign`, signing configs with
//! `name_whitelist` and `auth_keys`; and kpki's `certinfo -serial/-aki`,
//! `gencsr` (cfssl 1.3's), `mkbundle` and the multi-call names.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn cfssl(dir: &Path) -> Command {
    let d = real_cfssl_dir();
    let mut c = Command::new(d.join("cfssl"));
    c.current_dir(dir).stdin(Stdio::null());
    c
}

fn kp(dir: &Path) -> Command {
    let mut c = Command::new(kpki());
    c.current_dir(dir).stdin(Stdio::null());
    c
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Writes the `cert` and `key` of gencert JSON to NAME.pem and NAME-key.pem.
fn save(dir: &Path, o: &Output, name: &str) {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", out(o)));
    std::fs::write(dir.join(format!("{name}.pem")), v["cert"].as_str().unwrap()).unwrap();
    std::fs::write(dir.join(format!("{name}-key.pem")), v["key"].as_str().unwrap()).unwrap();
}

const CONFIG: &str = r#"{"signing":{"default":{"expiry":"8760h"},"profiles":{
  "intermediate":{"expiry":"43800h","usages":["cert sign","crl sign"],"ca_constraint":{"is_ca":true,"max_path_len":0,"max_path_len_zero":true}},
  "server":{"expiry":"8760h","usages":["signing","key encipherment","server auth"]},
  "soon":{"expiry":"240h","usages":["signing","key encipherment","server auth"]},
  "client":{"expiry":"8760h","usages":["signing","client auth"]}}}}"#;

/// A root, an intermediate under it, leaves under the intermediate (RSA
/// server, ECDSA server, one expiring in 10 days, a client-only one) and
/// one under the root directly; an unrelated second root. Made by kpki.
fn pki(d: &Path) {
    std::fs::write(d.join("config.json"), CONFIG).unwrap();
    let csr = |name: &str, cn: &str, hosts: &str, algo: &str, size: u32| {
        std::fs::write(
            d.join(format!("{name}-csr.json")),
            format!(r#"{{"CN":"{cn}","hosts":[{hosts}],"key":{{"algo":"{algo}","size":{size}}},"names":[{{"C":"US","O":"Probe","OU":"Eng"}}]}}"#),
        )
        .unwrap();
    };
    csr("root", "Probe Root CA", "", "rsa", 2048);
    csr("root2", "Other Root CA", "", "ecdsa", 256);
    csr("int", "Probe Intermediate CA", "", "rsa", 2048);
    csr("leaf", "leaf.example.com", r#""leaf.example.com","www.example.com","127.0.0.1""#, "rsa", 2048);
    csr("ecleaf", "ec.example.com", r#""ec.example.com""#, "ecdsa", 256);
    for root in ["root", "root2"] {
        save(d, &run(kp(d).args(["gencert", "-initca", &format!("{root}-csr.json")])), root);
    }
    let sign = |name: &str, csr: &str, ca: &str, profile: &str| {
        let o = run(kp(d).args(["gencert", "-ca", &format!("{ca}.pem"), "-ca-key", &format!("{ca}-key.pem"), "-config", "config.json", "-profile", profile, csr]));
        save(d, &o, name);
    };
    sign("int", "int-csr.json", "root", "intermediate");
    sign("leaf", "leaf-csr.json", "int", "server");
    sign("ecleaf", "ecleaf-csr.json", "int", "server");
    sign("soon", "leaf-csr.json", "int", "soon");
    sign("clientonly", "leaf-csr.json", "int", "client");
    sign("direct", "leaf-csr.json", "root", "server");
    let cat = |to: &str, from: &[&str]| {
        let text: String = from.iter().map(|f| std::fs::read_to_string(d.join(f)).unwrap()).collect();
        std::fs::write(d.join(to), text).unwrap();
    };
    cat("leaf-chain.pem", &["leaf.pem", "int.pem"]);
    cat("chain-full.pem", &["leaf.pem", "int.pem", "root.pem"]);
    cat("reversed.pem", &["int.pem", "leaf.pem"]);
    cat("broken.pem", &["leaf.pem", "root2.pem"]);
}

#[test]
fn certinfo_csr_is_byte_identical_to_cfssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An ECDSA CSR by openssl with every kind of SAN and a full subject...
    run(Command::new("openssl").current_dir(d).args([
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ec-key.pem", "-out", "ec.csr",
        "-subj", "/C=US/ST=California/L=San Francisco/O=Probe Inc/OU=Eng/CN=ec.example.com",
        "-addext", "subjectAltName=DNS:ec.example.com,IP:::1,IP:192.168.1.1,email:ec@example.com",
    ]));
    // ...an RSA one without SANs by openssl, and kpki's own.
    run(Command::new("openssl").current_dir(d).args(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa-key.pem", "-out", "rsa.csr", "-subj", "/CN=nosans.example.com"]));
    std::fs::write(d.join("k.json"), r#"{"CN":"system:node:worker-0","hosts":["worker-0","10.240.0.20"],"key":{"algo":"rsa","size":2048},"names":[{"O":"system:nodes"}]}"#).unwrap();
    let o = run(kp(d).args(["genkey", "k.json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    std::fs::write(d.join("k.csr"), v["csr"].as_str().unwrap()).unwrap();
    for csr in ["ec.csr", "rsa.csr", "k.csr"] {
        let theirs = run(cfssl(d).args(["certinfo", "-csr", csr]));
        let ours = run(kp(d).args(["certinfo", "-csr", csr]));
        assert_eq!(out(&ours), out(&theirs), "{csr}");
    }
    // A certificate given as a CSR, and garbage (cfssl panics on it): one line, exit 2.
    std::fs::write(d.join("garbage.csr"), "not pem").unwrap();
    for bad in ["ec-key.pem", "garbage.csr"] {
        let o = kp(d).args(["certinfo", "-csr", bad]).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1, "{}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn certinfo_domain_prints_the_leaf_a_server_presents_as_cfssl_and_gives_up_after_ten_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    let port = free_port();
    let _server = Server(
        Command::new("openssl")
            .current_dir(d)
            .args(["s_server", "-quiet", "-accept", &format!("127.0.0.1:{port}"), "-cert", "leaf.pem", "-key", "leaf-key.pem", "-cert_chain", "int.pem"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, "openssl s_server");
    let target = format!("127.0.0.1:{port}");
    let theirs = run(cfssl(d).args(["certinfo", "-domain", &target]));
    let ours = run(kp(d).args(["certinfo", "-domain", &target]));
    assert_eq!(out(&ours), out(&theirs));
    assert_eq!(out(&ours), out(&run(kp(d).args(["certinfo", "-cert", "leaf.pem"]))), "the leaf, not the intermediate");
    // The chain the server sent bundles against the root.
    let b = run(kp(d).args(["bundle", "-domain", &format!("leaf.example.com:{port}"), "-ip", "127.0.0.1", "-ca-bundle", "root.pem"]));
    let v: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_eq!(v["status"]["rebundled"], false, "{v}");
    // The name is checked.
    run(kp(d).args(["bundle", "-domain", &target, "-ca-bundle", "root.pem"]));
    let o = kp(d).args(["bundle", "-domain", &format!("localhost:{port}"), "-ca-bundle", "root.pem"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "localhost is not among the leaf's names");
    assert!(String::from_utf8_lossy(&o.stderr).contains("not valid for localhost"));

    // A closed port fails at once; a server that never speaks TLS after 10 s.
    let closed = free_port();
    let o = kp(d).args(["certinfo", "-domain", &format!("127.0.0.1:{closed}")]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let start = Instant::now();
    let o = kp(d).args(["certinfo", "-domain", &format!("127.0.0.1:{silent_port}")]).output().unwrap();
    let took = start.elapsed();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("timed out after 10 s"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(took >= Duration::from_secs(9) && took < Duration::from_secs(15), "{took:?}");
    drop(silent);
}

#[test]
fn certinfo_serial_and_aki_find_a_certificate_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    let info: serde_json::Value = serde_json::from_slice(&run(kp(d).args(["certinfo", "-cert", "leaf.pem"])).stdout).unwrap();
    let serial = info["serial_number"].as_str().unwrap();
    let aki = info["authority_key_id"].as_str().unwrap();
    let by_both = run(kp(d).args(["certinfo", "-serial", serial, "-aki", aki, "-dir", "."]));
    assert_eq!(out(&by_both), out(&run(kp(d).args(["certinfo", "-cert", "leaf.pem"]))));
    // The AKI alone matches every certificate the intermediate signed: ambiguous.
    let o = kp(d).args(["certinfo", "-aki", aki, "-dir", "."]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("give both -serial and -aki"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = kp(d).args(["certinfo", "-serial", "12345", "-dir", "."]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let o = kp(d).args(["certinfo", "-serial", "12x", "-dir", "."]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// cfssl bundle's and kpki bundle's JSON, field by field (cfssl orders
/// `hostnames` at random).
fn assert_same_bundle(d: &Path, args: &[&str]) {
    let theirs = cfssl(d).arg("bundle").args(args).output().unwrap();
    let ours = kp(d).arg("bundle").args(args).output().unwrap();
    assert_eq!(ours.status.code(), Some(theirs.status.code().unwrap_or(-1)), "{args:?}: {}", String::from_utf8_lossy(&ours.stderr));
    if !theirs.status.success() {
        assert!(ours.stdout.is_empty());
        return;
    }
    assert!(!ours.stdout.ends_with(b"\n"), "cfssl prints the bundle without a newline");
    let parse = |o: &Output| -> serde_json::Map<String, serde_json::Value> {
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        if let Some(h) = v["hostnames"].as_array_mut() {
            h.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
        v.as_object().unwrap().clone()
    };
    let (t, o) = (parse(&theirs), parse(&ours));
    assert_eq!(o.keys().collect::<Vec<_>>(), t.keys().collect::<Vec<_>>(), "{args:?}");
    for (k, want) in &t {
        assert_eq!(&o[k], want, "{args:?}: field {k}");
    }
}

#[test]
fn bundle_matches_cfssl_field_by_field_and_fails_where_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    for args in [
        &["-cert", "leaf.pem", "-ca-bundle", "root.pem", "-int-bundle", "int.pem"][..],
        &["-cert", "leaf-chain.pem", "-ca-bundle", "root.pem"],
        &["-cert", "chain-full.pem", "-ca-bundle", "root.pem"],
        &["-cert", "reversed.pem", "-ca-bundle", "root.pem"],
        &["-cert", "direct.pem", "-ca-bundle", "root.pem"],
        &["-cert", "ecleaf.pem", "-ca-bundle", "root.pem", "-int-bundle", "int.pem"],
        &["-cert", "soon.pem", "-ca-bundle", "root.pem", "-int-bundle", "int.pem"],
        &["-cert", "leaf.pem", "-key", "leaf-key.pem", "-ca-bundle", "root.pem", "-int-bundle", "int.pem"],
        &["-cert", "ecleaf.pem", "-key", "ecleaf-key.pem", "-ca-bundle", "root.pem", "-int-bundle", "int.pem"],
        &["-flavor", "optimal", "-cert", "leaf-chain.pem", "-ca-bundle", "root.pem"],
        &["-flavor", "force", "-cert", "leaf-chain.pem"],
        &["-flavor", "force", "-cert", "reversed.pem"],
        // Failures: a missing intermediate, an untrusted root, a root as the
        // certificate, a client-only leaf, certificates that do not chain.
        &["-cert", "leaf.pem", "-ca-bundle", "root.pem"],
        &["-cert", "leaf.pem", "-ca-bundle", "root2.pem", "-int-bundle", "int.pem"],
        &["-cert", "root.pem", "-ca-bundle", "root.pem"],
        &["-cert", "clientonly.pem", "-ca-bundle", "root.pem", "-int-bundle", "int.pem"],
        &["-flavor", "force", "-cert", "broken.pem"],
    ] {
        assert_same_bundle(d, args);
    }
    // A key that is not the certificate's: refused (cfssl exits 1, kpki 2: bad input).
    let o = kp(d).args(["bundle", "-cert", "leaf.pem", "-key", "ecleaf-key.pem", "-ca-bundle", "root.pem", "-int-bundle", "int.pem"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    // The system store when there is no -ca-bundle (Go's SSL_CERT_FILE).
    let o = run(kp(d).env("SSL_CERT_FILE", d.join("root.pem")).args(["bundle", "-cert", "leaf.pem", "-int-bundle", "int.pem"]));
    assert!(out(&o).starts_with("{\"bundle\":"));
    // The chain openssl builds from kpki's bundle verifies.
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    std::fs::write(d.join("bundled.pem"), v["bundle"].as_str().unwrap()).unwrap();
    run(Command::new("openssl").current_dir(d).args(["verify", "-CAfile", "root.pem", "-untrusted", "bundled.pem", "leaf.pem"]));
}

#[test]
fn multi_call_names_and_mkbundle() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    let links = tempfile::tempdir().unwrap();
    for name in ["cfssl-bundle", "cfssl-mkbundle", "mkbundle", "cfssl-certinfo"] {
        std::os::unix::fs::symlink(kpki(), links.path().join(name)).unwrap();
    }
    let via = |name: &str| {
        let mut c = Command::new(links.path().join(name));
        c.current_dir(d).stdin(Stdio::null());
        c
    };
    assert_eq!(
        out(&run(via("cfssl-bundle").args(["-cert", "leaf.pem", "-ca-bundle", "root.pem", "-int-bundle", "int.pem"]))),
        out(&run(kp(d).args(["bundle", "-cert", "leaf.pem", "-ca-bundle", "root.pem", "-int-bundle", "int.pem"])))
    );
    std::fs::create_dir_all(d.join("certs/sub")).unwrap();
    for f in ["root.pem", "int.pem", "leaf.pem"] {
        std::fs::copy(d.join(f), d.join("certs/sub").join(f)).unwrap();
    }
    std::fs::copy(d.join("leaf-chain.pem"), d.join("certs/chain.pem")).unwrap();
    std::fs::write(d.join("certs/notes.txt"), "no PEM here").unwrap();
    run(via("cfssl-mkbundle").args(["-f", "all.crt", "certs"]));
    let text = std::fs::read_to_string(d.join("all.crt")).unwrap();
    assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 3, "each certificate once: {text}");
    // openssl reads every certificate of it.
    let o = run(Command::new("openssl").current_dir(d).args(["storeutl", "-noout", "-certs", "all.crt"]));
    assert!(out(&o).contains("Total found: 3"), "{}", out(&o));
    run(via("mkbundle").args(["-f", "again.crt", "certs"]));
    assert_eq!(std::fs::read(d.join("again.crt")).unwrap(), text.as_bytes(), "the same file on a re-run");
}

#[test]
fn selfsign_names_its_hosts_and_gencsr_certifies_an_existing_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("csr.json"), r#"{"CN":"test.local","hosts":["x.local"],"key":{"algo":"ecdsa","size":256}}"#).unwrap();
    let theirs = run(cfssl(d).args(["selfsign", "localhost", "csr.json"]));
    let ours = run(kp(d).args(["selfsign", "localhost,127.0.0.1", "csr.json"]));
    let keys = |o: &Output| serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap().as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&ours), keys(&theirs));
    assert!(String::from_utf8_lossy(&ours.stderr).contains("*** WARNING ***"));
    save(d, &ours, "self");
    run(Command::new("openssl").current_dir(d).args(["verify", "-CAfile", "self.pem", "-verify_hostname", "localhost", "self.pem"]));
    run(Command::new("openssl").current_dir(d).args(["verify", "-CAfile", "self.pem", "-verify_ip", "127.0.0.1", "self.pem"]));
    run(Command::new("openssl").current_dir(d).args(["verify", "-CAfile", "self.pem", "-verify_hostname", "x.local", "self.pem"]));

    // gencsr: cfssl 1.2 has no such command (1.3 added it).
    let o = cfssl(d).args(["gencsr", "-key", "self-key.pem", "csr.json"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("gencsr is not defined"));
    let o = run(kp(d).args(["gencsr", "-key", "self-key.pem", "-hostname", "other.local", "csr.json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["key"].as_str().unwrap(), std::fs::read_to_string(d.join("self-key.pem")).unwrap(), "the key as given");
    std::fs::write(d.join("g.csr"), v["csr"].as_str().unwrap()).unwrap();
    let csr_key = run(Command::new("openssl").current_dir(d).args(["req", "-in", "g.csr", "-noout", "-verify", "-pubkey"]));
    let key_pub = run(Command::new("openssl").current_dir(d).args(["pkey", "-in", "self-key.pem", "-pubout"]));
    assert_eq!(out(&csr_key), out(&key_pub));
    let text = out(&run(Command::new("openssl").current_dir(d).args(["req", "-in", "g.csr", "-noout", "-text"])));
    assert!(text.contains("DNS:other.local") && !text.contains("x.local"), "{text}");
}

#[test]
fn name_whitelist_and_auth_keys_behave_as_cfssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    let w = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
    w("wl.json", r#"{"signing":{"default":{"expiry":"8760h","usages":["signing","key encipherment","server auth"],"name_whitelist":"^.*\\.example\\.com$"}}}"#);
    w("wl-loose.json", r#"{"signing":{"default":{"expiry":"8760h","usages":["signing"]},"profiles":{"www":{"expiry":"1h","usages":["server auth"],"name_whitelist":"example\\.com"}}}}"#);
    w("wl-bad.json", r#"{"signing":{"default":{"expiry":"8760h","usages":["signing"],"name_whitelist":"(unclosed"}}}"#);
    w("auth.json", r#"{"signing":{"default":{"expiry":"8760h","usages":["signing","key encipherment","server auth"]},"profiles":{"authp":{"expiry":"720h","usages":["signing","server auth"],"auth_key":"k1"}}},"auth_keys":{"k1":{"type":"standard","key":"0123456789ABCDEF0123456789ABCDEF"}}}"#);
    w("auth-missing.json", r#"{"signing":{"default":{"expiry":"8760h","usages":["signing"],"auth_key":"nope"}},"auth_keys":{"k1":{"type":"standard","key":"0123456789ABCDEF0123456789ABCDEF"}}}"#);
    w("auth-nothex.json", r#"{"signing":{"default":{"expiry":"8760h","usages":["signing"],"auth_key":"k1"}},"auth_keys":{"k1":{"type":"standard","key":"nothex"}}}"#);
    let csr = |name: &str, cn: &str, hosts: &str| w(name, &format!(r#"{{"CN":"{cn}","hosts":[{hosts}],"key":{{"algo":"ecdsa","size":256}}}}"#));
    csr("ok.json", "foo.example.com", r#""bar.example.com","10.0.0.1""#);
    csr("badcn.json", "foo.example.org", r#""bar.example.com""#);
    csr("baddns.json", "foo.example.com", r#""bar.example.org""#);
    csr("bademail.json", "foo.example.com", r#""user@example.org""#);
    csr("goodemail.json", "foo.example.com", r#""user@x.example.com""#);
    csr("nocn.json", "", r#""bar.example.com","192.168.9.9""#);
    csr("evil.json", "example.com.evil.org", r#""x.example.com""#);
    let cases: &[(&str, &[&str], &str)] = &[
        ("wl.json", &[], "ok.json"),
        ("wl.json", &[], "badcn.json"),
        ("wl.json", &[], "baddns.json"),
        ("wl.json", &[], "bademail.json"),
        ("wl.json", &[], "goodemail.json"),
        ("wl.json", &[], "nocn.json"),
        ("wl.json", &["-hostname", "evil.org"], "ok.json"),
        ("wl.json", &["-hostname", "ok.example.com,1.2.3.4"], "ok.json"),
        ("wl-loose.json", &["-profile", "www"], "evil.json"),
        ("wl-loose.json", &[], "badcn.json"),
        ("wl-bad.json", &[], "ok.json"),
        ("auth.json", &["-profile", "authp"], "ok.json"),
        ("auth.json", &[], "ok.json"),
        ("auth-missing.json", &[], "ok.json"),
        ("auth-nothex.json", &[], "ok.json"),
    ];
    for (config, extra, csr) in cases {
        let args = |c: &mut Command| {
            c.args(["gencert", "-ca", "int.pem", "-ca-key", "int-key.pem", "-config", config]).args(*extra).arg(csr);
        };
        let mut t = cfssl(d);
        args(&mut t);
        let theirs = t.output().unwrap();
        let mut o = kp(d);
        args(&mut o);
        let ours = o.output().unwrap();
        assert_eq!(ours.status.success(), theirs.status.success(), "{config} {extra:?} {csr}: cfssl {:?}, kpki {}", theirs.status, String::from_utf8_lossy(&ours.stderr));
        if !ours.status.success() {
            assert!(ours.stdout.is_empty());
            let err = String::from_utf8_lossy(&ours.stderr);
            if config.starts_with("wl.") || config.starts_with("wl-loose") {
                assert!(err.contains("does not match the profile's name_whitelist"), "{err}");
            }
        }
    }
}

#[test]
fn a_profiles_backdate_sets_not_before_as_cfssl_and_cfssljson_writes_a_private_key_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    std::fs::write(d.join("bd.json"), r#"{"signing":{"default":{"expiry":"8760h","backdate":"3h","usages":["signing","server auth"]}}}"#).unwrap();
    let dates = |o: &Output| {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        std::fs::write(d.join("x.pem"), v["cert"].as_str().unwrap()).unwrap();
        out(&run(Command::new("openssl").current_dir(d).args(["x509", "-in", "x.pem", "-noout", "-dates"])))
    };
    let args = ["gencert", "-ca", "int.pem", "-ca-key", "int-key.pem", "-config", "bd.json", "leaf-csr.json"];
    // Both round to the same minute unless the minute turns between the two runs: retry once.
    let same = (0..2).any(|_| dates(&run(cfssl(d).args(args))) == dates(&run(kp(d).args(args))));
    assert!(same, "NotBefore/NotAfter differ from cfssl's with backdate 3h");
    std::fs::write(d.join("too.json"), r#"{"signing":{"default":{"expiry":"1h","backdate":"3h","usages":["signing"]}}}"#).unwrap();
    let o = kp(d).args(["gencert", "-ca", "int.pem", "-ca-key", "int-key.pem", "-config", "too.json", "leaf-csr.json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "a backdate past the expiry makes expired certificates");
    // The API's field names (`certificate`, `private_key`) are files too.
    let json = serde_json::json!({
        "certificate": std::fs::read_to_string(d.join("leaf.pem")).unwrap(),
        "private_key": std::fs::read_to_string(d.join("leaf-key.pem")).unwrap(),
    });
    let mut c = kp(d).args(["json", "-bare", "api"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut c.stdin.take().unwrap(), json.to_string().as_bytes()).unwrap();
    assert!(c.wait_with_output().unwrap().status.success());
    assert_eq!(std::fs::read(d.join("api-key.pem")).unwrap(), std::fs::read(d.join("leaf-key.pem")).unwrap());
}

#[test]
fn initca_for_an_existing_key_prints_cert_and_csr_as_cfssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    let keys = |o: &Output| serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap().as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let theirs = run(cfssl(d).args(["gencert", "-initca", "-ca-key", "root-key.pem", "root-csr.json"]));
    let ours = run(kp(d).args(["gencert", "-initca", "-ca-key", "root-key.pem", "root-csr.json"]));
    assert_eq!(keys(&ours), keys(&theirs));
    let v: serde_json::Value = serde_json::from_slice(&ours.stdout).unwrap();
    std::fs::write(d.join("again.pem"), v["cert"].as_str().unwrap()).unwrap();
    let cert_key = run(Command::new("openssl").current_dir(d).args(["x509", "-in", "again.pem", "-noout", "-pubkey"]));
    let key = run(Command::new("openssl").current_dir(d).args(["pkey", "-in", "root-key.pem", "-pubout"]));
    assert_eq!(out(&cert_key), out(&key), "the CA certificate is for the given key");
    // cfssl-newkey is genkey.
    let links = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(kpki(), links.path().join("cfssl-newkey")).unwrap();
    let o = run(Command::new(links.path().join("cfssl-newkey")).current_dir(d).arg("leaf-csr.json"));
    assert_eq!(keys(&o), ["csr", "key"]);
}

#[test]
fn errors_carry_the_name_kpki_runs_as_and_cfssl_commands_it_lacks_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let links = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(kpki(), links.path().join("cfssl")).unwrap();
    let o = Command::new(links.path().join("cfssl")).current_dir(d).args(["gencert", "-nope", "x.json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("cfssl: error: unknown flag -nope"), "{}", String::from_utf8_lossy(&o.stderr));
    for missing in ["revoke", "gencrl", "ocspsign", "scan", "multirootca"] {
        let o = kp(d).arg(missing).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{missing}");
        assert!(err.contains("is a cfssl command kpki does not have") && !err.contains("similar subcommand"), "{missing}: {err}");
    }
    // Every command's help shows examples.
    for cmd in [
        "gencert", "genkey", "gencsr", "selfsign", "sign", "json", "certinfo", "bundle", "mkbundle", "print-defaults", "bootstrap", "verify",
        "check-expiration", "renew", "destroy", "p12", "serve", "info", "completions", "man",
    ] {
        let help = out(&run(kp(d).args([cmd, "--help"])));
        assert!(help.contains("Examples:\n  kpki "), "{cmd} --help has no examples:\n{help}");
    }
    assert!(out(&run(kp(d).args(["kubeconfig", "user", "--help"]))).contains("Examples:\n  kpki kubeconfig user"));
    assert!(!out(&run(kp(d).args(["destroy", "--help"]))).contains("--ssh-dir"), "destroy saves no key");
}

#[test]
fn gencert_cn_replaces_the_requests_cn_as_cfssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    let subject = |o: &Output, name: &str| {
        save(d, o, name);
        out(&run(Command::new("openssl").current_dir(d).args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", &format!("{name}.pem")])))
    };
    for extra in [&["-ca", "int.pem", "-ca-key", "int-key.pem"][..], &["-initca"]] {
        let args = |c: &mut Command| {
            c.arg("gencert").args(["-cn", "override.example.com"]).args(extra).arg("leaf-csr.json");
        };
        let mut t = cfssl(d);
        args(&mut t);
        let mut o = kp(d);
        args(&mut o);
        assert_eq!(subject(&run(&mut o), "ours"), subject(&run(&mut t), "theirs"), "{extra:?}");
    }
}

#[test]
fn a_server_that_drips_its_handshake_is_cut_off_at_ten_seconds_and_mkbundle_without_certificates_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A TLS record header, then one byte every half second: never a handshake.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().take(2) {
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = c.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]);
                for _ in 0..200 {
                    std::thread::sleep(Duration::from_millis(500));
                    if c.write_all(&[0x00]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    for cmd in [&["certinfo", "-domain"][..], &["bundle", "-ca-bundle", "/dev/null", "-domain"]] {
        let start = Instant::now();
        let o = kp(d).args(cmd).arg(format!("127.0.0.1:{port}")).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(start.elapsed() < Duration::from_secs(14), "{cmd:?} took {:?}", start.elapsed());
    }
    // mkbundle: nothing found is an error, and the old bundle stays.
    pki(d);
    run(kp(d).args(["mkbundle", "-f", "roots.pem", "root.pem"]));
    let before = std::fs::read(d.join("roots.pem")).unwrap();
    let o = kp(d).args(["mkbundle", "-f", "roots.pem", "config.json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(d.join("roots.pem")).unwrap(), before);
    // sign refuses a CSR whose CN carries a newline (it would become a Kubernetes user name).
    run(Command::new("openssl").current_dir(d).args(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ctl-key.pem", "-out", "ctl.csr", "-multivalue-rdn", "-subj", "/CN=evil\nadmin"]));
    let o = kp(d).args(["sign", "-ca", "int.pem", "-ca-key", "int-key.pem", "ctl.csr"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stderr).contains("control character"), "{}", String::from_utf8_lossy(&o.stderr));
}
