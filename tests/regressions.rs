//! Regression tests for the defects an independent review found (issue
//! "Trust what we ship"): each failed on the code before the fix. Every file
//! checked here is read by an independent consumer (kubectl, PyYAML,
//! openssl) or compared byte for byte, not only by kpki's own reader.

mod common;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn kpki_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(kpki()).args(args).current_dir(dir).stdin(Stdio::null()).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn verify(dir: &Path) -> Output {
    Command::new(kpki()).arg("verify").arg("--dir").arg(dir).stdin(Stdio::null()).output().unwrap()
}

fn mkfifo(path: &Path) {
    run(Command::new("mkfifo").arg(path));
}

/// Runs a command that must end within `limit` (a FIFO must never block kpki).
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    // The pipes are drained while it runs (a full pipe must not look like a hang).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{cmd:?} did not finish within {limit:?} (blocked?)");
        }
    }
}

/// A P-256 config (fast keys) with extra TOML appended.
fn p256(extra: &str) -> String {
    seed_with("key_algo = \"rsa-2048\"", "key_algo = \"ecdsa-p256\"") + extra
}

#[test]
fn every_kubeconfig_and_the_encryption_config_parse_in_kubectl_and_pyyaml() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    // A cluster named like a YAML 1.1 boolean must still be a string to go-yaml.
    bootstrap(&out, Some(&p256("").replacen("name = \"k8s-cluster\"", "name = \"on\"", 1)), &[]);
    assert_encryption_config_valid(&out.join("encryption-config.yaml"));
    let plan: kpki::k8s::plan::Plan = serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
    for k in &plan.kubeconfigs {
        let path = out.join(&k.file);
        let v = kubectl_config_view(&path);
        assert_eq!(v["clusters"][0]["name"], "on", "{}", k.file);
        assert_eq!(v["clusters"][0]["cluster"]["server"], k.server.as_str(), "{}", k.file);
        assert_eq!(v["users"][0]["name"], k.user.as_str(), "{}", k.file);
        assert_eq!(v["current-context"], "default");
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let cert = b64.decode(v["users"][0]["user"]["client-certificate-data"].as_str().unwrap()).unwrap();
        assert_eq!(cert, std::fs::read(out.join(format!("{}.pem", k.stem))).unwrap(), "{}", k.file);
        let ca = b64.decode(v["clusters"][0]["cluster"]["certificate-authority-data"].as_str().unwrap()).unwrap();
        assert_eq!(ca, std::fs::read(out.join("ca.pem")).unwrap());
        // The embedded key is the certificate's, as openssl sees it.
        let key = b64.decode(v["users"][0]["user"]["client-key-data"].as_str().unwrap()).unwrap();
        let key_file = tmp.path().join("embedded-key.pem");
        std::fs::write(&key_file, key).unwrap();
        assert_key_matches(&out.join(format!("{}.pem", k.stem)), &key_file);
        let py = pyyaml(&path);
        assert_eq!(py["clusters"][0]["name"], "on", "PyYAML (YAML 1.1) reads the name as a string");
    }
}

#[test]
fn verify_parses_yaml_instead_of_scanning_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    bootstrap(&out, Some(&p256("")), &[]);
    assert!(verify(&out).status.success());
    // The file main used to write: `secret:` lost its indentation.
    let broken = "kind: EncryptionConfiguration\napiVersion: apiserver.config.k8s.io/v1\nresources:\n  - resources:\n      - secrets\n    providers:\n      - aescbc:\n          keys:\n            - name: key1\nsecret: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n      - identity: {}\n";
    std::fs::write(out.join("encryption-config.yaml"), broken).unwrap();
    let o = verify(&out);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("encryption-config.yaml: it is not valid YAML"), "{}", String::from_utf8_lossy(&o.stdout));
    // A kubeconfig whose text still contains the right base64 but is not YAML.
    let adm = std::fs::read_to_string(out.join("admin.kubeconfig")).unwrap();
    std::fs::write(out.join("admin.kubeconfig"), adm.replacen("users:", "users:\n  - [", 1)).unwrap();
    let text = String::from_utf8_lossy(&verify(&out).stdout).into_owned();
    assert!(text.contains("admin.kubeconfig: it is not valid YAML"), "{text}");
}

#[test]
fn verify_checks_the_encryption_key_without_a_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    bootstrap(&out, Some(&p256("")), &[]);
    std::fs::remove_file(out.join("plan.json")).unwrap();
    use base64::Engine;
    let long = base64::engine::general_purpose::STANDARD.encode([1u8; 64]);
    let text = format!("kind: EncryptionConfiguration\napiVersion: apiserver.config.k8s.io/v1\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        secret: {long}\n  - identity: {{}}\n");
    std::fs::write(out.join("encryption-config.yaml"), text).unwrap();
    let o = verify(&out);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("64 bytes"));
}

#[test]
fn a_rerun_and_a_renewal_keep_everything_kpki_does_not_own() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    bootstrap(&out, Some(&p256("")), &[]);
    // The user's things: a subdirectory, a file, a symlink to elsewhere, a
    // FIFO, and the CA key kept outside the directory behind a symlink.
    std::fs::create_dir(out.join("backup")).unwrap();
    std::fs::write(out.join("backup/old-ca.pem"), "mine").unwrap();
    std::fs::create_dir(out.join("manifests")).unwrap();
    std::fs::write(out.join("NOTES"), "mine too").unwrap();
    std::fs::write(tmp.path().join("elsewhere.txt"), "outside").unwrap();
    symlink(tmp.path().join("elsewhere.txt"), out.join("link.txt")).unwrap();
    mkfifo(&out.join("pipe"));
    let vault = tmp.path().join("vault");
    std::fs::create_dir(&vault).unwrap();
    std::fs::rename(out.join("ca-key.pem"), vault.join("ca-key.pem")).unwrap();
    symlink(vault.join("ca-key.pem"), out.join("ca-key.pem")).unwrap();
    let ca_before = std::fs::read(out.join("ca.pem")).unwrap();
    // One more worker: certificates, kubeconfigs, plan and inventory change.
    let cfg = p256("\n[[workers]]\nip = \"172.31.0.23\"\npod_cidr = \"172.20.3.0/24\"\n");
    let o = run_bounded(Command::new(kpki()).arg("bootstrap").arg("--out").arg(&out).arg("--config").arg(write(&tmp, "more.toml", &cfg)), Duration::from_secs(60));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_bounded(Command::new(kpki()).args(["renew", "--all", "--dir"]).arg(&out), Duration::from_secs(60));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("ip-172-31-0-23.pem").is_file());
    assert_eq!(std::fs::read(out.join("backup/old-ca.pem")).unwrap(), b"mine");
    assert!(out.join("manifests").is_dir());
    assert_eq!(std::fs::read(out.join("NOTES")).unwrap(), b"mine too");
    assert!(std::fs::symlink_metadata(out.join("link.txt")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(tmp.path().join("elsewhere.txt")).unwrap(), b"outside");
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(out.join("pipe")).unwrap().file_type().is_fifo());
    assert!(std::fs::symlink_metadata(out.join("ca-key.pem")).unwrap().file_type().is_symlink(), "the kept key is still the user's symlink");
    assert_eq!(std::fs::read(out.join("ca.pem")).unwrap(), ca_before, "the CA is kept");
    assert!(!out.join(kpki::output::TXN_DIR).exists());
    for leaf in ["admin.pem", "ip-172-31-0-23.pem", "master-kubernetes.pem"] {
        assert_openssl_verifies(&out.join("ca.pem"), &out.join(leaf));
    }
    let o = verify(&out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

fn write(tmp: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = tmp.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn node_names_never_collide_with_the_sets_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    bootstrap(&out, Some(&p256("")), &[]);
    let before = snapshot(&out);
    for (name, ip) in [("ca", "172.31.0.23"), ("admin", "172.31.0.23"), ("kube-proxy", "172.31.0.23"), ("ip-172-31-0-20", "172.31.0.23"), ("x-key", "172.31.0.23")] {
        let cfg = p256(&format!("\n[[workers]]\nip = \"{ip}\"\nname = \"{name}\"\n"));
        let o = kpki_in(tmp.path(), &["bootstrap", "--out", "pki", "--config", write(&tmp, "c.toml", &cfg).to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "worker {name}: {}", stderr(&o));
        assert!(stderr(&o).contains("workers[3].name"), "worker {name}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
        assert_eq!(snapshot(&out), before, "worker {name}: nothing is written");
    }
    // The CA is still the CA.
    let text = String::from_utf8_lossy(&run(Command::new("openssl").args(["x509", "-noout", "-subject", "-in"]).arg(out.join("ca.pem"))).stdout).into_owned();
    assert!(text.contains("CN = Kubernetes"), "{text}");
}

#[test]
fn an_expired_ca_does_not_sign() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A CA born expired is refused when made: NotBefore is backdated five minutes.
    std::fs::write(d.join("short-csr.json"), r#"{"CN":"Old CA","key":{"algo":"ecdsa","size":256},"ca":{"expiry":"1m"}}"#).unwrap();
    let o = kpki_in(d, &["gencert", "-initca", "-bare", "short", "short-csr.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("would already be expired"), "{}", stderr(&o));
    // A CA that expired a day ago (made with the library, dated in the past).
    use kpki::pki::{issue, key, request};
    let then = time::OffsetDateTime::now_utc() - time::Duration::days(30);
    let k = key::PrivateKey::generate(key::KeyAlgo::EcdsaP256).unwrap();
    let plan = issue::CertPlan { subject: request::Subject::cn_o("Old CA", "kpki").to_dn(), sans: vec![], validity: issue::Validity::cfssl(then, time::Duration::days(29)) };
    let der = issue::self_signed_ca(&plan, None, &k).unwrap();
    std::fs::write(d.join("ca.pem"), key::pem_encode("CERTIFICATE", &der)).unwrap();
    std::fs::write(d.join("ca-key.pem"), k.to_pem(key::KeyFormat::Cfssl).unwrap().as_bytes()).unwrap();
    let text = String::from_utf8_lossy(&run(Command::new("openssl").args(["x509", "-noout", "-enddate", "-in"]).arg(d.join("ca.pem"))).stdout).into_owned();
    assert!(text.contains("notAfter="), "{text}");
    std::fs::copy(repo().join("ca-config/admin-csr.json"), d.join("admin-csr.json")).unwrap();
    let o = kpki_in(d, &["gencert", "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-bare", "admin", "admin-csr.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("the CA certificate expired on"), "{}", stderr(&o));
    assert!(!d.join("admin.pem").exists());
    run(Command::new(kpki()).args(["genkey", "-bare", "adm", "admin-csr.json"]).current_dir(d));
    let o = kpki_in(d, &["sign", "-ca", "ca.pem", "-ca-key", "ca-key.pem", "adm.csr"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("expired on"), "{}", stderr(&o));
}

#[test]
fn a_key_kept_behind_a_symlink_is_renewed_and_a_symlinked_out_dir_is_not_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    bootstrap(&out, Some(&p256("")), &[]);
    let vault = tmp.path().join("vault");
    std::fs::create_dir(&vault).unwrap();
    std::fs::rename(out.join("admin-key.pem"), vault.join("admin-key.pem")).unwrap();
    symlink(vault.join("admin-key.pem"), out.join("admin-key.pem")).unwrap();
    let before = std::fs::read(out.join("admin.pem")).unwrap();
    let o = kpki_in(tmp.path(), &["renew", "--dir", "pki", "--role", "admin"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(std::fs::read(out.join("admin.pem")).unwrap(), before, "renewed");
    assert_key_matches(&out.join("admin.pem"), &vault.join("admin-key.pem"));
    assert!(std::fs::symlink_metadata(out.join("admin-key.pem")).unwrap().file_type().is_symlink());
    // --rekey would have to replace the user's symlink: refused, nothing changed.
    let o = kpki_in(tmp.path(), &["renew", "--dir", "pki", "--role", "admin", "--rekey"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    assert!(verify(&out).status.success());
    // -bare through a symlinked subdirectory of --out-dir is refused.
    let d = tmp.path();
    std::fs::create_dir_all(d.join("out")).unwrap();
    std::fs::create_dir_all(d.join("escape")).unwrap();
    symlink(d.join("escape"), d.join("out/x")).unwrap();
    std::fs::copy(repo().join("ca-config/ca-csr.json"), d.join("ca-csr.json")).unwrap();
    let o = kpki_in(d, &["gencert", "-initca", "--out-dir", "out", "-bare", "x/ca", "ca-csr.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(std::fs::read_dir(d.join("escape")).unwrap().next().is_none(), "nothing written through the symlink");
}

#[test]
fn other_users_cannot_hold_the_lock_and_planted_staging_is_not_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    bootstrap(&out, Some(&p256("")), &[]);
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Another user can read the directory, so could flock it; the lock file is 0600.
    let setpriv = require("setpriv");
    let o = Command::new(&setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "flock", "-n"])
        .arg(out.join(kpki::output::LOCK_FILE))
        .arg("true")
        .output()
        .unwrap();
    assert!(!o.status.success(), "another user could take kpki's lock");
    let mut holder = Command::new(&setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "flock", "-s"])
        .arg(&out)
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let o = kpki_in(tmp.path(), &["renew", "--all", "--dir", "pki"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(o.status.success(), "a flock on the directory by another user blocks kpki: {}", stderr(&o));
    // A committed staging directory planted by hand (no manifest) is refused, not applied or deleted.
    let ca_key = std::fs::read(out.join("ca-key.pem")).unwrap();
    let txn = out.join(kpki::output::TXN_DIR);
    std::fs::create_dir(&txn).unwrap();
    std::fs::write(txn.join("ca-key.pem"), "EVIL").unwrap();
    std::fs::write(txn.join(".commit"), "").unwrap();
    let o = kpki_in(tmp.path(), &["bootstrap", "--out", "pki", "--config", write(&tmp, "c.toml", &p256("")).to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("move it away"), "{}", stderr(&o));
    assert_eq!(std::fs::read(out.join("ca-key.pem")).unwrap(), ca_key);
    assert_eq!(std::fs::read(txn.join("ca-key.pem")).unwrap(), b"EVIL");
    assert_eq!(verify(&out).status.code(), Some(1));
}

#[test]
fn the_lock_holds_for_every_spelling_and_creates_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    // A planted lock-file symlink (what kpki used to create beside the
    // directory) must not make kpki create its target.
    let target = tmp.path().join("planted-target");
    symlink(&target, tmp.path().join("pki.lock")).unwrap();
    bootstrap(&out, Some(&p256("")), &[]);
    assert!(!target.exists(), "kpki created a file through a planted symlink");
    // Held by "pki/": runs on "pki", "pki/" and "./pki" are refused, certainly overlapping.
    let held = kpki::output::OutDir::lock(&tmp.path().join("pki/")).unwrap();
    for spelling in ["pki", "pki/", "./pki", "pki/."] {
        let o = kpki_in(tmp.path(), &["bootstrap", "--out", spelling, "--config", write(&tmp, "c.toml", &p256("")).to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{spelling}: {}", stderr(&o));
        assert!(stderr(&o).contains("another kpki run is writing"), "{}", stderr(&o));
        let o = kpki_in(tmp.path(), &["renew", "--all", "--dir", spelling]);
        assert_eq!(o.status.code(), Some(2), "{spelling}: {}", stderr(&o));
    }
    drop(held);
    let o = kpki_in(tmp.path(), &["renew", "--all", "--dir", "pki/"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn fifos_never_block() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    bootstrap(&out, Some(&p256("")), &[]);
    mkfifo(&out.join("stray.pem"));
    for args in [&["verify", "--dir"][..], &["check-expiration", "--dir"]] {
        let o = run_bounded(Command::new(kpki()).args(args).arg(&out), Duration::from_secs(20));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    // A FIFO named like a member file: verify does not block on it (it is
    // also the certificate a kubeconfig embeds), bootstrap refuses clearly.
    std::fs::remove_file(out.join("admin.pem")).unwrap();
    mkfifo(&out.join("admin.pem"));
    let o = run_bounded(Command::new(kpki()).arg("verify").arg("--dir").arg(&out), Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
    let o = run_bounded(Command::new(kpki()).arg("bootstrap").arg("--out").arg(&out).arg("--config").arg(write(&tmp, "c.toml", &p256(""))), Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("admin.pem: it is a FIFO"), "{}", stderr(&o));
    // gencert's input as a FIFO too.
    mkfifo(&tmp.path().join("csr.json"));
    let o = run_bounded(Command::new(kpki()).args(["gencert", "-initca"]).arg(tmp.path().join("csr.json")), Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn hundreds_of_workers_under_a_small_descriptor_limit_and_a_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = p256("")
        .replacen("subnet_cidr = \"172.31.0.0/24\"", "subnet_cidr = \"172.31.0.0/20\"", 1);
    for i in 0..400u32 {
        let ip = 30 + i;
        cfg.push_str(&format!("\n[[workers]]\nip = \"172.31.{}.{}\"\n", ip / 256, ip % 256));
    }
    let cfg_path = write(&tmp, "big.toml", &cfg);
    let o = run_bounded(
        Command::new("sh").arg("-c").arg(format!("ulimit -n 128 && exec {} bootstrap --out pki --config big.toml", kpki().display())).current_dir(tmp.path()),
        Duration::from_secs(300),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let _ = cfg_path;
    assert!(tmp.path().join("pki/ip-172-31-1-173.kubeconfig").is_file());
    // Far too many: refused before any work.
    let mut huge = p256("").replacen("subnet_cidr = \"172.31.0.0/24\"", "subnet_cidr = \"172.31.0.0/16\"", 1);
    for i in 0..5001u32 {
        let ip = 300 + i;
        huge.push_str(&format!("\n[[workers]]\nip = \"172.31.{}.{}\"\n", ip / 256, ip % 256));
    }
    let start = Instant::now();
    let o = kpki_in(tmp.path(), &["bootstrap", "--out", "huge", "--config", write(&tmp, "huge.toml", &huge).to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("at most 5000"), "{}", stderr(&o));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(!tmp.path().join("huge").exists());
}

#[test]
fn the_cluster_configs_subject_is_checked_like_csr_json() {
    let tmp = tempfile::tempdir().unwrap();
    for (field, value) in [("C", "United States"), ("L", &"x".repeat(121)), ("ST", "bad\u{7}bell"), ("OU", "two\nlines")] {
        let value_toml = serde_json::to_string(value).unwrap();
        // The seed sets C, ST, L and OU: comment its line out, then set ours.
        let cfg = kpki::model::cluster::DEFAULT_TOML
            .replacen(&format!("\n{field} = \""), &format!("\n# {field} = \""), 1)
            .replacen("[subject]\n", &format!("[subject]\n{field} = {value_toml}\n"), 1);
        let o = kpki_in(tmp.path(), &["bootstrap", "--dry-run", "--out", "pki", "--config", write(&tmp, "s.toml", &cfg).to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{field}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("subject.{field}")), "{}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    // The same values in CSR JSON are refused too.
    std::fs::write(tmp.path().join("c.json"), r#"{"CN":"x","names":[{"C":"United States"}]}"#).unwrap();
    assert_eq!(kpki_in(tmp.path(), &["gencert", "-initca", "c.json"]).status.code(), Some(2));
    // A wildcard cluster domain is refused where it is read, naming the field.
    let o = kpki_in(tmp.path(), &["bootstrap", "--dry-run", "--out", "pki", "--config", write(&tmp, "d.toml", &seed_with("[pki]", "cluster_domain = \"*.cluster.local\"\n\n[pki]")).to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cluster_domain"), "{}", stderr(&o));
}

#[test]
fn small_trust_defects() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // An existing CA key readable by others is narrowed to 0600, and said.
    let out = d.join("pki");
    bootstrap(&out, Some(&p256("")), &[]);
    std::fs::set_permissions(out.join("ca-key.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = verify(&out);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ca-key.pem: mode 0644"), "{}", String::from_utf8_lossy(&o.stdout));
    let o = kpki_in(d, &["bootstrap", "--out", "pki", "--config", write(&tmp, "c.toml", &p256("")).to_str().unwrap()]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("set to 0600"), "{}", stderr(&o));
    assert_eq!(std::fs::metadata(out.join("ca-key.pem")).unwrap().permissions().mode() & 0o777, 0o600);
    // umask 000 does not make a world-writable directory.
    let o = Command::new("sh").arg("-c").arg(format!("umask 000 && exec {} bootstrap --out open/pki --config c.toml", kpki().display())).current_dir(d).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for dir in ["open", "open/pki"] {
        assert_eq!(std::fs::metadata(d.join(dir)).unwrap().permissions().mode() & 0o777, 0o755, "{dir}");
    }
    assert_eq!(std::fs::metadata(d.join("open/pki/ca-key.pem")).unwrap().permissions().mode() & 0o777, 0o600);
    // An empty CSR names nothing: refused.
    std::fs::write(d.join("empty.json"), "{}").unwrap();
    for args in [&["gencert", "-initca", "empty.json"][..], &["genkey", "empty.json"]] {
        let o = kpki_in(d, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("no subject"), "{}", stderr(&o));
    }
    // A path with a newline is one line in an error.
    let o = kpki_in(d, &["gencert", "-initca", "no\nsuch.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 1, "{:?}", stderr(&o));
    // A file name cannot forge a line of verify's report, and a directory
    // name with a newline is one line in check-expiration's error.
    let forged = out.join("evil\nca.pem: ok.pem");
    std::fs::copy(out.join("admin.pem"), &forged).unwrap();
    std::fs::write(&forged, "not a certificate").unwrap();
    let o = verify(&out);
    assert!(!String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with("ca.pem: ok.pem")), "{}", String::from_utf8_lossy(&o.stdout));
    std::fs::remove_file(&forged).unwrap();
    let o = kpki_in(d, &["check-expiration", "--dir", "no\nsuch"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 1, "{:?}", stderr(&o));
    // -bare with --out-dir stays inside it.
    std::fs::copy(repo().join("ca-config/ca-csr.json"), d.join("ca-csr.json")).unwrap();
    let json = run(Command::new(kpki()).args(["gencert", "-initca", "ca-csr.json"]).current_dir(d)).stdout;
    for bare in ["../x", "/tmp/kpki-outside-x", "a/../../x"] {
        let mut child = Command::new(kpki())
            .args(["json", "--out-dir", "out", "-bare", bare])
            .current_dir(d)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), &json).unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{bare}: {}", stderr(&o));
        assert!(stderr(&o).contains("must stay inside"), "{}", stderr(&o));
    }
    assert!(!d.join("x.pem").exists() && !Path::new("/tmp/kpki-outside-x.pem").exists());
}

#[test]
fn the_executable_is_position_independent() {
    // ELF e_type at offset 16: 3 is ET_DYN (a PIE), 2 ET_EXEC (-no-pie).
    let bytes = std::fs::read(kpki()).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([bytes[16], bytes[17]]), 3, "kpki must be linked as a PIE (ASLR)");
}

/// A staging directory forged in full (manifest naming this directory's
/// device and inode, which anyone can read, and a commit mark with the right
/// digests) is still not kpki's: its files are group/world-writable or
/// another user's, which kpki never makes. Found by a review: it replaced
/// ca-key.pem and left ca.pem world-writable.
#[test]
fn a_forged_staging_directory_is_refused_not_applied() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    let config = write(&tmp, "c.toml", &p256(""));
    bootstrap(&out, Some(&p256("")), &[]);
    let ca_key = std::fs::read(out.join("ca-key.pem")).unwrap();
    let forge = |mode: u32, owner: Option<u32>| {
        let txn = out.join(kpki::output::TXN_DIR);
        let _ = std::fs::remove_dir_all(&txn);
        std::fs::create_dir(&txn).unwrap();
        std::fs::set_permissions(&txn, std::fs::Permissions::from_mode(0o700)).unwrap();
        let meta = std::fs::metadata(&out).unwrap();
        let files = [("ca-key.pem", b"attacker\n".as_slice())];
        let mut digests = serde_json::Map::new();
        for (name, bytes) in files {
            std::fs::write(txn.join(name), bytes).unwrap();
            std::fs::set_permissions(txn.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
            if let Some(uid) = owner {
                std::os::unix::fs::chown(txn.join(name), Some(uid), Some(uid)).unwrap();
            }
            let hex: String = openssl_sha256(bytes);
            digests.insert(name.into(), hex.into());
        }
        std::fs::write(txn.join(".manifest"), serde_json::json!({"dir": [meta.dev(), meta.ino()], "files": ["ca-key.pem"]}).to_string()).unwrap();
        std::fs::write(txn.join(".commit"), serde_json::Value::Object(digests).to_string()).unwrap();
        for f in [".manifest", ".commit"] {
            std::fs::set_permissions(txn.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    };
    for (mode, owner, what) in [(0o666, None, "world-writable files"), (0o600, Some(65534), "another user's files")] {
        forge(mode, owner);
        for args in [&["bootstrap", "--dry-run"][..], &["bootstrap"][..]] {
            let o = kpki_in(tmp.path(), &[args, &["--out", "pki", "--config", config.to_str().unwrap()]].concat());
            assert_eq!(o.status.code(), Some(2), "{what}, {args:?}: {}", stderr(&o));
            assert!(stderr(&o).contains("move it away"), "{what}: {}", stderr(&o));
        }
        assert_eq!(std::fs::read(out.join("ca-key.pem")).unwrap(), ca_key, "{what}: the CA key was replaced");
    }
}

/// SHA-256 hex by openssl, not by kpki's own code.
fn openssl_sha256(bytes: &[u8]) -> String {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), bytes).unwrap();
    let o = run(Command::new("openssl").args(["dgst", "-sha256", "-r"]).arg(tmp.path()));
    String::from_utf8_lossy(&o.stdout).split_whitespace().next().unwrap().to_string()
}

/// The dry run refuses what the real run refuses: a set file that is a
/// symlink (never replaced), a staging directory that is not kpki's, a lock
/// file that is not a regular file. And a recorded plan whose file names
/// leave the directory is a problem for verify and an error for renew.
#[test]
fn the_dry_run_refuses_what_the_run_refuses_and_a_hostile_plan_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    let config = write(&tmp, "c.toml", &p256(""));
    bootstrap(&out, Some(&p256("")), &[]);
    let both = |setup: &dyn Fn(), undo: &dyn Fn(), what: &str| {
        setup();
        for extra in [&["--dry-run"][..], &[][..]] {
            let o = kpki_in(tmp.path(), &[&["bootstrap", "--force", "--out", "pki", "--config", config.to_str().unwrap()][..], extra].concat());
            assert_eq!(o.status.code(), Some(2), "{what} {extra:?}: {}", stderr(&o));
        }
        undo();
    };
    let admin = out.join("admin.pem");
    let saved = std::fs::read(&admin).unwrap();
    both(
        &|| {
            std::fs::remove_file(&admin).unwrap();
            symlink(tmp.path().join("elsewhere.pem"), &admin).unwrap();
        },
        &|| {
            std::fs::remove_file(&admin).unwrap();
            std::fs::write(&admin, &saved).unwrap();
        },
        "a symlinked certificate",
    );
    let txn = out.join(kpki::output::TXN_DIR);
    both(
        &|| {
            std::fs::create_dir(&txn).unwrap();
            std::fs::write(txn.join("junk"), "x").unwrap();
        },
        &|| std::fs::remove_dir_all(&txn).unwrap(),
        "a staging directory that is not kpki's",
    );
    let lock = out.join(kpki::output::LOCK_FILE);
    both(
        &|| {
            std::fs::remove_file(&lock).unwrap();
            std::fs::create_dir(&lock).unwrap();
        },
        &|| std::fs::remove_dir(&lock).unwrap(),
        "a lock file that is a directory",
    );
    assert!(verify(&out).status.success(), "the set is intact after the refusals");
    let plan_path = out.join("plan.json");
    let mut plan: serde_json::Value = serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
    plan["certs"][2]["stem"] = "../outside/admin".into();
    std::fs::write(&plan_path, serde_json::to_vec_pretty(&plan).unwrap()).unwrap();
    let o = verify(&out);
    assert_eq!(o.status.code(), Some(1), "verify: {}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("plan.json"), "{}", String::from_utf8_lossy(&o.stdout));
    let o = kpki_in(tmp.path(), &["renew", "--dir", "pki", "--role", "admin"]);
    assert_eq!(o.status.code(), Some(2), "renew: {}", stderr(&o));
    assert!(stderr(&o).contains("plan.json"), "{}", stderr(&o));
}
