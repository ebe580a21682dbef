//! Trust: a killed run never leaves a half set, two runs do not interleave,
//! encrypted CA keys work in every signing command, hostile input is refused
//! cleanly, and renewal works on kpki's and on cfssl's sets.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn verify_ok(dir: &Path) -> bool {
    Command::new(kpki()).arg("verify").arg("--dir").arg(dir).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap().success()
}

#[test]
fn a_run_killed_at_any_moment_leaves_the_directory_as_it_was_or_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    let cfg_a = tmp.path().join("a.toml");
    let cfg_b = tmp.path().join("b.toml");
    std::fs::write(&cfg_a, kpki::model::cluster::DEFAULT_TOML).unwrap();
    // b moves a master and adds a worker: several certificates and kubeconfigs change.
    let b = seed_with("ip = \"172.31.0.12\"", "ip = \"172.31.0.13\"") + "\n[[workers]]\nip = \"172.31.0.23\"\npod_cidr = \"172.20.3.0/24\"\n";
    std::fs::write(&cfg_b, b).unwrap();
    let fresh_a = || {
        let _ = std::fs::remove_dir_all(&out);
        run(Command::new(kpki()).arg("bootstrap").arg("--config").arg(&cfg_a).arg("--out").arg(&out));
    };
    // How long an uninterrupted a -> b run takes here, so that the kills
    // spread over the whole run whatever the machine's speed.
    fresh_a();
    let start = std::time::Instant::now();
    run(Command::new(kpki()).arg("bootstrap").arg("--config").arg(&cfg_b).arg("--out").arg(&out));
    let whole = start.elapsed();
    let new_set = snapshot(&out);
    // (old set, complete new set, committed but unfinished transaction)
    let mut outcomes = (0, 0, 0);
    let fractions = [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.1, 1.3, 2.0, 4.0];
    for (i, f) in fractions.into_iter().enumerate() {
        fresh_a();
        let before = snapshot(&out);
        let mut child = Command::new(kpki())
            .arg("bootstrap")
            .arg("--config")
            .arg(&cfg_b)
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole.mul_f64(f));
        let _ = child.kill();
        let _ = child.wait();
        let after = snapshot(&out);
        let pending = out.join(kpki::output::TXN_DIR).exists();
        if after == before && !pending {
            outcomes.0 += 1;
        } else if pending {
            // Killed between its commit point and the end of its renames, or
            // before its commit: verify says so, and the next run under the
            // lock finishes (or discards) it before anything else.
            outcomes.2 += 1;
            assert!(!verify_ok(&out), "kill #{i}: verify must report the interrupted run");
        } else {
            outcomes.1 += 1;
            assert!(verify_ok(&out), "kill #{i} at {f} of a run left a set that does not verify");
            assert!(after.contains_key("ip-172-31-0-23.pem"), "kill #{i}: the set changed but is not the new one");
            assert!(after.contains_key("ip-172-31-0-23.kubeconfig"));
        }
        // The next run finishes the job.
        run(Command::new(kpki()).arg("bootstrap").arg("--config").arg(&cfg_b).arg("--out").arg(&out));
        assert!(verify_ok(&out));
        assert!(!out.join(kpki::output::TXN_DIR).exists());
        let names: Vec<String> = snapshot(&out).into_keys().collect();
        assert_eq!(names, new_set.keys().cloned().collect::<Vec<_>>(), "kill #{i}: the finished set has other files");
    }
    eprintln!("killed runs: {} left the old set, {} the complete new one, {} an interrupted transaction", outcomes.0, outcomes.1, outcomes.2);
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "both outcomes must occur: {outcomes:?}");
}

#[test]
fn a_second_concurrent_run_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    run(Command::new(kpki()).arg("bootstrap").arg("--out").arg(&out));
    let before = snapshot(&out);
    // The test holds the lock, as a running bootstrap would: the overlap is certain.
    let held = kpki::output::OutDir::lock(&out).unwrap();
    for args in [&["bootstrap", "--force", "--out"][..], &["renew", "--all", "--dir"]] {
        let second = Command::new(kpki()).args(args).arg(&out).stdin(Stdio::null()).output().unwrap();
        let err = String::from_utf8_lossy(&second.stderr);
        assert_eq!(second.status.code(), Some(2), "{err}");
        assert!(err.contains("another kpki run is writing"), "{err}");
    }
    drop(held);
    assert_eq!(snapshot(&out), before, "a refused run writes nothing");
    // Two real runs at once: exactly one may write at a time, and the set verifies.
    let spawn = || Command::new(kpki()).args(["bootstrap", "--force", "--out"]).arg(&out).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        assert!(o.status.success() || String::from_utf8_lossy(&o.stderr).contains("another kpki run is writing"), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(a.status.success() || b.status.success());
    assert!(verify_ok(&out));
    let _ = Duration::from_millis(0);
}

#[test]
fn encrypted_ca_keys_work_in_every_signing_command() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for f in ["ca-csr.json", "admin-csr.json", "ca-config.json", "kube-proxy-csr.json"] {
        std::fs::copy(repo().join("ca-config").join(f), d.join(f)).unwrap();
    }
    std::fs::write(d.join("pass"), "s3cret phrase\n").unwrap();
    let k = |args: &[&str]| {
        Command::new(kpki()).args(args).current_dir(d).env_remove("KPKI_CA_KEY_PASSPHRASE").stdin(Stdio::null()).output().unwrap()
    };
    let o = k(&["gencert", "-initca", "--encrypt-key", "--ca-key-passphrase-file", "pass", "-bare", "ca", "ca-csr.json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let key = std::fs::read_to_string(d.join("ca-key.pem")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    // openssl reads it with the passphrase.
    run(Command::new("openssl").args(["pkey", "-in", "ca-key.pem", "-passin", "file:pass", "-noout"]).current_dir(d));
    // gencert and sign with the encrypted key.
    let o = k(&["gencert", "-ca=ca.pem", "-ca-key=ca-key.pem", "--ca-key-passphrase-file=pass", "-config=ca-config.json", "-profile=kubernetes", "-bare", "admin", "admin-csr.json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_openssl_verifies(&d.join("ca.pem"), &d.join("admin.pem"));
    run(Command::new(kpki()).args(["genkey", "-bare", "proxy", "kube-proxy-csr.json"]).current_dir(d));
    let o = Command::new(kpki())
        .args(["sign", "-ca", "ca.pem", "-ca-key", "ca-key.pem", "--ca-key-passphrase-env", "MY_PASS", "-bare", "proxy", "proxy.csr"])
        .env("MY_PASS", "s3cret phrase")
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_openssl_verifies(&d.join("ca.pem"), &d.join("proxy.pem"));
    // Wrong and missing passphrases: one clear line, exit 2, nothing written.
    std::fs::write(d.join("wrong"), "nope\n").unwrap();
    let before = snapshot(d);
    let o = k(&["gencert", "-ca=ca.pem", "-ca-key=ca-key.pem", "--ca-key-passphrase-file=wrong", "-bare", "x", "admin-csr.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("CA key ca-key.pem: the passphrase is wrong"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = k(&["gencert", "-ca=ca.pem", "-ca-key=ca-key.pem", "-bare", "x", "admin-csr.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("CA key ca-key.pem is encrypted: give its passphrase"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(snapshot(d), before);
    // A key encrypted by openssl (PBES2, PBKDF2, AES-256-CBC) is read too.
    run(Command::new("openssl").args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "plain.pem"]).current_dir(d));
    run(Command::new("openssl").args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "plain.pem", "-out", "enc.pem", "-passout", "file:pass"]).current_dir(d));
    let want = kpki::pki::key::PrivateKey::from_pem(&std::fs::read(d.join("plain.pem")).unwrap()).unwrap();
    let got = kpki::pki::key::PrivateKey::from_pem_with_passphrase(&std::fs::read(d.join("enc.pem")).unwrap(), Some(b"s3cret phrase")).unwrap();
    assert_eq!(want.public_key_bits(), got.public_key_bits());
    // bootstrap with an encrypted CA key: made encrypted, re-run needs the passphrase.
    let out = d.join("pki");
    let o = Command::new(kpki()).args(["bootstrap", "--encrypt-ca-key", "--out"]).arg(&out).env("KPKI_CA_KEY_PASSPHRASE", "s3cret phrase").stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read_to_string(out.join("ca-key.pem")).unwrap().starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(verify_ok(&out));
    let o = Command::new(kpki()).args(["bootstrap", "--out"]).arg(&out).env_remove("KPKI_CA_KEY_PASSPHRASE").stdin(Stdio::null()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ca-key.pem is encrypted"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(kpki()).args(["bootstrap", "--out"]).arg(&out).env("KPKI_CA_KEY_PASSPHRASE", "s3cret phrase").stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Renewal with the encrypted CA.
    let o = Command::new(kpki()).args(["renew", "--all", "--dir"]).arg(&out).env("KPKI_CA_KEY_PASSPHRASE", "s3cret phrase").stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(verify_ok(&out));
}

fn serial(p: &Path) -> Vec<u8> {
    let der = kpki::pki::cert::cert_from_pem(&std::fs::read(p).unwrap()).unwrap();
    kpki::pki::cert::parse(&der).unwrap().raw_serial().to_vec()
}

#[test]
fn renewal_of_a_kpki_set_and_of_a_cfssl_set() {
    // kpki's set: renew the kubelets, then everything with new keys.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    run(Command::new(kpki()).args(["bootstrap", "--out"]).arg(&out));
    let before = snapshot(&out);
    run(Command::new(kpki()).args(["renew", "--role", "kubelet", "--dir"]).arg(&out));
    let after = snapshot(&out);
    for (name, bytes) in &before {
        let renewed = name.starts_with("ip-172-31-0-2") && (name.ends_with(".pem") && !name.ends_with("-key.pem") || name.ends_with(".kubeconfig"));
        assert_eq!(after.get(name) != Some(bytes), renewed, "{name}");
    }
    let s1 = summary(&tmp.path().join("pki/ip-172-31-0-20.pem"));
    assert!(verify_ok(&out));
    run(Command::new(kpki()).args(["renew", "--all", "--rekey", "--dir"]).arg(&out));
    let rekeyed = snapshot(&out);
    assert_ne!(rekeyed.get("admin-key.pem"), after.get("admin-key.pem"));
    assert_eq!(rekeyed.get("ca-key.pem"), after.get("ca-key.pem"));
    assert!(verify_ok(&out));
    let s2 = summary(&tmp.path().join("pki/ip-172-31-0-20.pem"));
    assert_eq!((s1.subject, s1.sans, s1.key_usage, s1.ext_key_usage), (s2.subject, s2.sans, s2.key_usage, s2.ext_key_usage));

    // The tutorial's set made by the real cfssl.
    let cf = tmp.path().join("cfssl");
    tutorial(&real_cfssl_dir(), &cf, "rsa");
    let old: Vec<(String, Summary, Vec<u8>)> = TUTORIAL_STEMS.iter().skip(1).map(|s| (s.to_string(), summary(&cf.join(format!("{s}.pem"))), serial(&cf.join(format!("{s}.pem"))))).collect();
    run(Command::new(kpki()).args(["renew", "--all", "--dir"]).arg(&cf));
    for (stem, s, old_serial) in old {
        let p = cf.join(format!("{stem}.pem"));
        assert_openssl_verifies(&cf.join("ca.pem"), &p);
        assert_key_matches(&p, &cf.join(format!("{stem}-key.pem")));
        let n = summary(&p);
        assert_ne!(serial(&p), old_serial, "{stem} was not re-issued");
        assert_eq!((&s.subject, &s.sans, s.key_usage, &s.ext_key_usage, s.validity_secs), (&n.subject, &n.sans, n.key_usage, &n.ext_key_usage, n.validity_secs), "{stem}");
    }
    let table = run(Command::new(kpki()).args(["check-expiration", "--dir"]).arg(&cf));
    assert!(String::from_utf8_lossy(&table.stdout).contains("master-kubernetes.pem"));
    let o = Command::new(kpki()).args(["renew", "--role", "nosuch", "--dir"]).arg(&cf).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// Hostile files: each is refused with exit 2, one line, no panic, nothing written.
#[test]
fn hostile_inputs_are_refused_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    run(Command::new("bash").arg("-c").arg(format!(
        "{k} gencert -initca -bare ca {c}/ca-csr.json && openssl genrsa -traditional -out weak-key.pem 1024 2>/dev/null && openssl req -new -key weak-key.pem -subj /CN=weak -out weak.csr",
        k = kpki().display(),
        c = repo().join("ca-config").display()
    )).current_dir(d));
    let ca = std::fs::read_to_string(d.join("ca.pem")).unwrap();
    let der = kpki::pki::cert::cert_from_pem(ca.as_bytes()).unwrap().to_vec();
    let pem = |label: &str, bytes: &[u8]| kpki::pki::key::pem_encode(label, bytes);
    let mut trailing = der.clone();
    trailing.extend_from_slice(b"garbage");
    let mut deep = Vec::new();
    for _ in 0..5000 {
        deep.extend_from_slice(&[0x30, 0x80]);
    }
    let many_hosts = format!(r#"{{"CN":"x","hosts":[{}]}}"#, (0..5000).map(|i| format!("\"h{i}.example\"")).collect::<Vec<_>>().join(","));
    let nested = "[".repeat(100_000);
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("trailing.pem", pem("CERTIFICATE", &trailing).into_bytes()),
        ("deep.pem", pem("CERTIFICATE", &deep).into_bytes()),
        ("badb64.pem", b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_vec()),
        ("nolabel.pem", b"-----BEGIN CERTIFICATE-----\nMIIB\n".to_vec()),
        ("csrlabel.pem", pem("CERTIFICATE REQUEST", &der).into_bytes()),
        ("empty.pem", vec![]),
        ("binary.pem", vec![0xff, 0xfe, 0x00, 0x01, 0x80]),
        ("many.json", many_hosts.into_bytes()),
        ("nested.json", nested.into_bytes()),
        ("nonutf8.json", b"{\"CN\":\"\xff\xfe\"}".to_vec()),
        ("ctrl.json", b"{\"CN\":\"a\\u0000b\"}".to_vec()),
        ("admin.json", br#"{"CN":"admin"}"#.to_vec()),
        ("long.json", format!(r#"{{"CN":"{}"}}"#, "a".repeat(200)).into_bytes()),
        ("eclabel-key.pem", std::fs::read_to_string(d.join("weak-key.pem")).unwrap().replace("RSA PRIVATE KEY", "EC PRIVATE KEY").into_bytes()),
    ];
    for (name, bytes) in &files {
        std::fs::write(d.join(name), bytes).unwrap();
    }
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["certinfo", "-cert", "trailing.pem"], "trailing data"),
        (vec!["certinfo", "-cert", "deep.pem"], "certificate deep.pem"),
        (vec!["certinfo", "-cert", "badb64.pem"], "certificate badb64.pem"),
        (vec!["certinfo", "-cert", "nolabel.pem"], "certificate nolabel.pem"),
        (vec!["certinfo", "-cert", "csrlabel.pem"], "no certificate found"),
        (vec!["certinfo", "-cert", "empty.pem"], "no certificate found"),
        (vec!["certinfo", "-cert", "binary.pem"], "certificate binary.pem"),
        (vec!["gencert", "-initca", "many.json"], "kpki puts at most 1000 names"),
        (vec!["gencert", "-initca", "nested.json"], "CSR JSON nested.json"),
        (vec!["gencert", "-initca", "nonutf8.json"], "CSR JSON nonutf8.json"),
        (vec!["gencert", "-initca", "ctrl.json"], "control character"),
        (vec!["gencert", "-initca", "long.json"], "longer than 64"),
        (vec!["gencert", "-ca", "ca.pem", "-ca-key", "weak-key.pem", "admin.json"], "refuses RSA keys under 2048"),
        (vec!["gencert", "-ca", "trailing.pem", "-ca-key", "ca-key.pem", "ctrl.json"], "control character"),
        (vec!["sign", "-ca", "ca.pem", "-ca-key", "weak-key.pem", "weak.csr"], "refuses RSA keys under 2048"),
        (vec!["gencert", "-ca", "ca.pem", "-ca-key", "eclabel-key.pem", "admin.json"], "CA key eclabel-key.pem"),
        (vec!["sign", "-ca", "ca.pem", "-ca-key", "ca-key.pem", "weak.csr"], "refuses RSA keys under 2048"),
        (vec!["verify", "--ca", "deep.pem", "ca.pem"], "CA certificate deep.pem"),
    ];
    let before = snapshot(d);
    for (args, expect) in &cases {
        let o = Command::new(kpki()).args(args).current_dir(d).stdin(Stdio::null()).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: expected {expect:?} in {err}");
        assert!(!err.contains("panicked"), "{args:?} panicked");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    assert_eq!(snapshot(d), before, "hostile input wrote files");
}

#[test]
fn private_keys_never_appear_in_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    let dry = run(Command::new(kpki()).args(["bootstrap", "--dry-run", "--output", "json", "--out"]).arg(&out));
    let real = run(Command::new(kpki()).args(["bootstrap", "--output", "json", "--out"]).arg(&out));
    let verify = run(Command::new(kpki()).args(["verify", "--output", "json", "--dir"]).arg(&out));
    let renew = run(Command::new(kpki()).args(["renew", "--all", "--output", "json", "--dir"]).arg(&out));
    let keys: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("-key.pem"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(keys.len(), 10);
    let enc = std::fs::read_to_string(out.join("encryption-config.yaml")).unwrap();
    let secret = enc.lines().find_map(|l| l.trim().strip_prefix("secret: ")).unwrap().to_string();
    for o in [&dry, &real, &verify, &renew] {
        let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert!(!text.contains(&secret), "the encryption key leaked");
        for k in &keys {
            // The first line of key material after the PEM header.
            let body = k.lines().nth(1).unwrap();
            assert!(!text.contains(body), "key material leaked");
        }
    }
}
