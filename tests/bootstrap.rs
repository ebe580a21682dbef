//! `kpki bootstrap` and `kpki verify` against real peers: openssl, etcd 3.4
//! and kubectl, all on 127.0.0.1 with free ports, plus pkilint.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

const API_NAME: &str = "k8s-api.example.com";

fn seed_with_api_name() -> String {
    seed_with("# api_address = \"k8s-api.example.com\"", &format!("api_address = \"{API_NAME}\""))
}

fn stems(dir: &Path) -> Vec<String> {
    let plan: kpki::k8s::plan::Plan = serde_json::from_slice(&std::fs::read(dir.join("plan.json")).unwrap()).unwrap();
    plan.certs.iter().map(|c| c.stem.clone()).collect()
}

#[test]
fn every_cert_passes_openssl_strict_and_the_apiserver_answers_for_its_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    bootstrap(&out, Some(&seed_with_api_name()), &[]);
    let ca = out.join("ca.pem");
    let all = stems(&out);
    assert_eq!(all.len(), 10);
    for stem in &all {
        let c = out.join(format!("{stem}.pem"));
        assert_openssl_verifies(&ca, &c);
        assert_key_matches(&c, &out.join(format!("{stem}-key.pem")));
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(out.join(format!("{stem}-key.pem"))).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
    }
    let api = out.join("master-kubernetes.pem");
    for ip in ["172.31.0.10", "172.31.0.11", "172.31.0.12", "10.32.0.1", "127.0.0.1"] {
        let o = openssl_verify(&ca, &api, &["-verify_ip", ip]);
        assert!(o.status.success(), "apiserver cert must answer for {ip}");
    }
    for name in [API_NAME, "kubernetes", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"] {
        let o = openssl_verify(&ca, &api, &["-verify_hostname", name]);
        assert!(o.status.success(), "apiserver cert must answer for {name}");
    }
    // The tutorial's wrong name, a stranger, and a worker's IP must fail.
    for name in ["kubernetes.svc.cluster.local", "evil.example.com"] {
        let o = openssl_verify(&ca, &api, &["-verify_hostname", name]);
        assert!(!o.status.success(), "apiserver cert must not answer for {name}");
    }
    assert!(!openssl_verify(&ca, &api, &["-verify_ip", "172.31.0.20"]).status.success());
    // A kubelet cert answers for its node name and IP only.
    let kubelet = out.join("ip-172-31-0-21.pem");
    assert!(openssl_verify(&ca, &kubelet, &["-verify_hostname", "ip-172-31-0-21"]).status.success());
    assert!(openssl_verify(&ca, &kubelet, &["-verify_ip", "172.31.0.21"]).status.success());
    assert!(!openssl_verify(&ca, &kubelet, &["-verify_hostname", "ip-172-31-0-22"]).status.success());
    // Encryption config: 32-byte key, current kind.
    // Read by independent parsers: PyYAML (YAML 1.1, like kube-apiserver's
    // go-yaml) and kubectl's own decoder.
    assert_encryption_config_valid(&out.join("encryption-config.yaml"));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(out.join("encryption-config.yaml")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // inventory.json holds the addresses.
    let inv: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("inventory.json")).unwrap()).unwrap();
    assert_eq!(inv["api_address"], API_NAME);
    assert_eq!(inv["workers"][2]["pod_cidr"], "172.20.2.0/24");
    // verify passes.
    run(Command::new(kpki()).arg("verify").arg("--dir").arg(&out));
}

#[test]
fn etcd_accepts_the_sets_client_certs_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    bootstrap(&out, None, &[]);
    let other = dir.path().join("other");
    bootstrap(&other, None, &[]);
    // As the tutorial configures etcd: the apiserver cert as server and peer cert.
    let apiserver = (out.join("master-kubernetes.pem"), out.join("master-kubernetes-key.pem"));
    let (_etcd, port) = etcd_one_member(dir.path(), (&apiserver.0, &apiserver.1), (&apiserver.0, &apiserver.1), &out.join("ca.pem"));
    let ca = out.join("ca.pem");
    let etcdctl = |cert: Option<(&Path, &Path)>, args: &[&str]| etcdctl(port, &ca, cert, args, 1);
    // etcd may need a moment after listening to elect itself.
    let put = common::etcdctl(port, &ca, Some((&apiserver.0, &apiserver.1)), &["put", "kpki", "works"], 50);
    assert!(put.status.success(), "etcdctl put: {}", String::from_utf8_lossy(&put.stderr));
    let get = etcdctl(Some((&out.join("admin.pem"), &out.join("admin-key.pem"))), &["get", "kpki", "--print-value-only"]);
    assert!(get.status.success(), "etcdctl get: {}", String::from_utf8_lossy(&get.stderr));
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "works");
    let none = etcdctl(None, &["get", "kpki"]);
    assert!(!none.status.success(), "etcd must refuse a client without a certificate");
    let foreign = etcdctl(Some((&other.join("admin.pem"), &other.join("admin-key.pem"))), &["get", "kpki"]);
    assert!(!foreign.status.success(), "etcd must refuse a certificate from another CA");
}

#[test]
fn kubectl_completes_client_auth_handshakes_with_every_kubeconfig() {
    require("kubectl");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    bootstrap(&out, Some(&seed_with_api_name()), &[]);
    let (_server, port) = s_server(&out.join("master-kubernetes.pem"), &out.join("master-kubernetes-key.pem"), &out.join("ca.pem"));
    let plan: kpki::k8s::plan::Plan = serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan.kubeconfigs.len(), 7);
    for k in &plan.kubeconfigs {
        let kc = out.join(&k.file);
        let view = run(Command::new("kubectl").args(["config", "view", "--kubeconfig"]).arg(&kc).args(["-o", "jsonpath={.users[0].name} {.clusters[0].cluster.server} {.current-context}"]));
        assert_eq!(String::from_utf8_lossy(&view.stdout), format!("{} {} default", k.user, k.server));
        if k.stem.starts_with("kube-controller") || k.stem.starts_with("kube-scheduler") {
            assert_eq!(k.server, "https://127.0.0.1:6443");
        } else {
            assert_eq!(k.server, format!("https://{API_NAME}:6443"));
        }
        // Point kubectl at the loopback server; the SAN is checked with --tls-server-name.
        let got = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kc)
            .arg(format!("--server=https://127.0.0.1:{port}"))
            .args(["--tls-server-name", API_NAME, "--request-timeout=10s", "get", "--raw", "/healthz"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(got.status.success(), "{}: {}", k.file, String::from_utf8_lossy(&got.stderr));
        // s_server -www answers with the session, including the client certificate it verified.
        let page = String::from_utf8_lossy(&got.stdout);
        let client = page.split("Client certificate").nth(1).unwrap_or("");
        assert!(client.contains(&format!("CN={}\n", k.user)), "{}: the server did not see client {}:\n{page}", k.file, k.user);
        // A name the apiserver cert lacks is refused by kubectl.
        let bad = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kc)
            .arg(format!("--server=https://127.0.0.1:{port}"))
            .args(["--tls-server-name", "evil.example.com", "--request-timeout=10s", "get", "--raw", "/healthz"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!bad.status.success());
    }
}

/// Copies a directory's files.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn verify(dir: &Path, extra: &[&str]) -> (i32, String) {
    let o = Command::new(kpki()).arg("verify").arg("--dir").arg(dir).args(extra).stdin(Stdio::null()).output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
}

/// Issues a certificate with kpki's cfssl-compatible gencert into `dir` as `stem`.
fn gencert(dir: &Path, stem: &str, csr: &str, hostname: Option<&str>) {
    std::fs::write(dir.join("x-csr.json"), csr).unwrap();
    let mut c = Command::new(kpki());
    c.args(["gencert", "-ca=ca.pem", "-ca-key=ca-key.pem"]);
    if let Some(h) = hostname {
        c.arg(format!("-hostname={h}"));
    }
    c.args(["-bare", "x", "x-csr.json"]).current_dir(dir);
    run(&mut c);
    std::fs::rename(dir.join("x.pem"), dir.join(format!("{stem}.pem"))).unwrap();
    std::fs::rename(dir.join("x-key.pem"), dir.join(format!("{stem}-key.pem"))).unwrap();
    for f in ["x.csr", "x-csr.json"] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
}

#[test]
fn verify_catches_each_planted_fault() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    bootstrap(&good, None, &["--output", "json"]);
    let other = tmp.path().join("other");
    bootstrap(&other, None, &["--output", "json"]);
    assert_eq!(verify(&good, &[]).0, 0);

    type Plant = fn(&Path, &Path);
    let faults: Vec<(&str, Plant, &str)> = vec![
        ("swapped key", |d, _| { std::fs::copy(d.join("admin-key.pem"), d.join("kube-proxy-key.pem")).unwrap(); }, "kube-proxy.pem: kube-proxy-key.pem is not its private key"),
        ("cert from another CA", |d, o| {
            std::fs::copy(o.join("admin.pem"), d.join("admin.pem")).unwrap();
            std::fs::copy(o.join("admin-key.pem"), d.join("admin-key.pem")).unwrap();
        }, "admin.pem: its authority key identifier does not match the CA's key"),
        ("expired cert", |d, _| {
            use kpki::pki::{cert, issue, key, profile, request};
            let ca_der = cert::cert_from_pem(&std::fs::read(d.join("ca.pem")).unwrap()).unwrap().to_vec();
            let ca_key = key::PrivateKey::from_pem(&std::fs::read(d.join("ca-key.pem")).unwrap()).unwrap();
            let ca = issue::Ca::new(ca_der, ca_key).unwrap();
            let k = key::PrivateKey::from_pem(&std::fs::read(d.join("kube-scheduler-key.pem")).unwrap()).unwrap();
            // A fixed clock: issued for one day, a year ago.
            let then = time::OffsetDateTime::now_utc() - time::Duration::days(365);
            let mut s = request::Subject::cn_o("system:kube-scheduler", "system:kube-scheduler");
            s.c = Some("US".into()); s.st = Some("Oregon".into()); s.l = Some("Portland".into()); s.ou = Some("Kubernetes The Hard Way".into());
            // Signed now (the CA signs only while valid), with dates of a year ago.
            let validity = issue::Validity { at: time::OffsetDateTime::now_utc(), ..issue::Validity::cfssl(then, time::Duration::days(1)) };
            let plan = issue::CertPlan { subject: s.to_dn(), sans: vec![], validity };
            let p = profile::Profile::leaf(profile::Usages::from_names(&["signing", "key encipherment", "client auth"]).unwrap(), time::Duration::days(1));
            let der = issue::sign(&plan, &issue::SubjectKey::of(&k), &p, &ca).unwrap().der;
            std::fs::write(d.join("kube-scheduler.pem"), key::pem_encode("CERTIFICATE", &der)).unwrap();
        }, "kube-scheduler.pem: it expired on"),
        ("missing SAN", |d, _| {
            let csr = r#"{"CN":"kubernetes","key":{"algo":"rsa","size":2048},"names":[{"C":"US","ST":"Oregon","L":"Portland","OU":"Kubernetes The Hard Way","O":"Kubernetes"}]}"#;
            // The tutorial's list: no 10.32.0.1.
            gencert(d, "master-kubernetes", csr, Some("172.31.0.10,172.31.0.11,172.31.0.12,127.0.0.1,kubernetes,kubernetes.default,kubernetes.default.svc,kubernetes.default.svc.cluster,kubernetes.default.svc.cluster.local,ip-172-31-0-10,ip-172-31-0-11,ip-172-31-0-12"));
        }, "master-kubernetes.pem: it lacks SAN 10.32.0.1"),
        ("kubelet with the wrong node name", |d, _| {
            let csr = r#"{"CN":"system:node:ip-172-31-0-99","key":{"algo":"rsa","size":2048},"names":[{"C":"US","ST":"Oregon","L":"Portland","OU":"Kubernetes The Hard Way","O":"system:nodes"}]}"#;
            gencert(d, "ip-172-31-0-20", csr, Some("ip-172-31-0-99,172.31.0.20"));
        }, "ip-172-31-0-20.pem: its subject CN is \"system:node:ip-172-31-0-99\" but the plan says \"system:node:ip-172-31-0-20\""),
    ];
    for (name, plant, expect) in faults {
        let d = tmp.path().join(name.replace(' ', "-"));
        copy_dir(&good, &d);
        plant(&d, &other);
        let (code, text) = verify(&d, &[]);
        assert_eq!(code, 1, "{name}: verify should fail:\n{text}");
        assert!(text.contains(expect), "{name}: expected {expect:?} in:\n{text}");
        let (code, json) = verify(&d, &["--output", "json"]);
        assert_eq!(code, 1);
        let v: serde_json::Value = serde_json::from_str(json.lines().take_while(|l| !l.starts_with("kpki:")).collect::<Vec<_>>().join("\n").as_str()).unwrap();
        assert_eq!(v["ok"], false, "{name}");
    }
    // The whole good set, checked two years on: everything has expired.
    let later = (time::OffsetDateTime::now_utc() + time::Duration::days(730)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let (code, text) = verify(&good, &["--at", &later]);
    assert_eq!(code, 1);
    assert!(text.contains("admin.pem: it expired on"), "{text}");
}

#[test]
fn rerun_keeps_everything_and_a_changed_address_reissues_only_affected_certs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    bootstrap(&out, None, &[]);
    let first = snapshot(&out);
    bootstrap(&out, None, &[]);
    assert_eq!(snapshot(&out), first, "a second run must change nothing");
    // Move master-2 to another address.
    let changed = seed_with("ip = \"172.31.0.12\"", "ip = \"172.31.0.13\"");
    let o = bootstrap(&out, Some(&changed), &["--output", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let touched: Vec<String> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["action"] != "keep")
        .map(|f| f["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(touched, vec!["master-kubernetes.pem", "plan.json", "inventory.json"]);
    let after = snapshot(&out);
    for (name, bytes) in &first {
        let same = after.get(name) == Some(bytes);
        let expect_same = !["master-kubernetes.pem", "plan.json", "inventory.json"].contains(&name.as_str());
        assert_eq!(same, expect_same, "{name}");
    }
    assert_openssl_verifies(&out.join("ca.pem"), &out.join("master-kubernetes.pem"));
    assert!(openssl_verify(&out.join("ca.pem"), &out.join("master-kubernetes.pem"), &["-verify_ip", "172.31.0.13"]).status.success());
    assert_eq!(verify(&out, &[]).0, 0);
    // --force makes a new CA and new keys.
    bootstrap(&out, Some(&changed), &["--force"]);
    let forced = snapshot(&out);
    assert_ne!(forced.get("ca-key.pem"), after.get("ca-key.pem"));
    assert_eq!(forced.get("encryption-config.yaml"), after.get("encryption-config.yaml"), "the encryption key survives --force");
    assert_eq!(verify(&out, &[]).0, 0);
}

#[test]
fn dry_run_writes_nothing_and_bad_configs_name_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    let o = bootstrap(&out, None, &["--dry-run"]);
    assert!(!out.exists(), "dry run wrote files");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("ca-key.pem") && text.contains("create"), "{text}");
    assert!(!text.contains("PRIVATE KEY"));
    let cases = [
        ("ip = \"172.31.0.10\"", "ip = \"172.31.9.10\"", "masters[0].ip: 172.31.9.10 is outside subnet_cidr 172.31.0.0/24"),
        ("ip = \"172.31.0.21\"", "ip = \"172.31.0.20\"", "workers[1].ip: 172.31.0.20 is used twice"),
        ("service_cidr = \"10.32.0.0/24\"", "service_cidr = \"172.20.0.0/16\"", "overlaps service_cidr"),
        ("key_algo = \"rsa-2048\"", "key_algo = \"rsa-1024\"", "pki.key_algo"),
        ("[pki]", "[pki]\nbogus = 1", "unknown field `bogus`"),
    ];
    for (from, to, expect) in cases {
        let cfg = tmp.path().join("bad.toml");
        std::fs::write(&cfg, seed_with(from, to)).unwrap();
        let o = Command::new(kpki()).arg("bootstrap").arg("--config").arg(&cfg).arg("--out").arg(&out).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{expect}: {err}");
        assert!(err.contains(expect), "expected {expect:?} in {err}");
        assert!(err.contains("bad.toml"), "{err}");
        assert!(!out.exists());
    }
    // A damaged CA key stops the run before anything is written.
    bootstrap(&out, None, &[]);
    std::fs::write(out.join("ca-key.pem"), "garbage").unwrap();
    let before = snapshot(&out);
    let o = Command::new(kpki()).arg("bootstrap").arg("--out").arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ca-key.pem: no private key found"));
    assert_eq!(snapshot(&out), before);
}

#[test]
fn pkilint_finds_no_errors_in_the_set() {
    for algo in ["rsa-2048", "ecdsa-p256", "ed25519"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("pki");
        bootstrap(&out, Some(&seed_with("key_algo = \"rsa-2048\"", &format!("key_algo = \"{algo}\""))), &[]);
        let mut moduli = std::collections::BTreeSet::new();
        for stem in stems(&out) {
            let findings = pkilint_findings(&out.join(format!("{stem}.pem")));
            assert!(findings.is_empty(), "{algo} {stem}: {findings:?}");
            if algo == "rsa-2048" {
                // The set's keys come from one pool of primes on every core:
                // each sound by openssl's checks, none sharing a modulus.
                assert!(moduli.insert(assert_rsa_key_sound(&out.join(format!("{stem}-key.pem")), 2048)), "{stem}: modulus repeated");
            }
        }
        run(Command::new(kpki()).arg("verify").arg("--dir").arg(&out));
    }
}

#[test]
fn check_expiration_lists_every_cert() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    bootstrap(&out, None, &[]);
    let o = run(Command::new(kpki()).args(["check-expiration", "--output", "json", "--dir"]).arg(&out));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Nine leaf files and the seven kubeconfigs' embedded certificates; the CA apart.
    let leaves = v["certificates"].as_array().unwrap();
    assert_eq!(leaves.len(), 16, "{v}");
    for r in leaves {
        let days = r["daysLeft"].as_i64().unwrap();
        assert!((360..=365).contains(&days), "{r}");
        assert_eq!(r["status"], "ok");
    }
    let cas = v["certificateAuthorities"].as_array().unwrap();
    assert_eq!(cas.len(), 1);
    assert!((3640..=3650).contains(&cas[0]["daysLeft"].as_i64().unwrap()), "{v}");
}

#[test]
fn a_piped_run_prints_timestamped_progress_and_its_summary_quiet_prints_neither_progress_nor_notes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    // Forty workers: the slow part is the keys; stderr is a pipe here, as in CI.
    let mut config = kpki::model::cluster::DEFAULT_TOML.to_string();
    for i in 3..40 {
        config.push_str(&format!("\n[[workers]]\nip = \"172.31.0.{}\"\npod_cidr = \"172.20.{i}.0/24\"\n", 100 + i));
    }
    let o = bootstrap(&out, Some(&config), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    let stamped: Vec<&str> = err.lines().filter(|l| is_stamped(l)).collect();
    assert!(stamped.iter().any(|l| l.ends_with("kpki: making 47 key(s) and issuing 47 certificate(s)")), "{err}");
    assert!(stamped.iter().any(|l| l.contains("kpki: writing ") && l.contains(" file(s) to ")), "{err}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.lines().last().is_some_and(|l| l.starts_with("wrote ") && l.contains(" files in ")), "the summary, piped: {stdout}");

    // --quiet (-q, in either place): warnings only.
    let o = bootstrap(&out, Some(&config), &["--quiet", "--force"]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.lines().any(is_stamped), "{err}");
    assert!(!err.contains("api_address is not set"), "a note, not a warning: {err}");
    // --verbose adds the phases' durations.
    let o = bootstrap(&out, Some(&config), &["-v", "--force"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.lines().any(|l| is_stamped(l) && l.contains("keys and certificates made in ")), "{err}");
    let o = Command::new(kpki()).args(["-q", "-v", "verify", "--dir"]).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "--quiet and --verbose together are a usage error");
}

/// `2026-12-02T13:55:01Z kpki: ...`
fn is_stamped(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 21 && b[4] == b'-' && b[10] == b'T' && b[19] == b'Z' && b[..4].iter().all(u8::is_ascii_digit) && line[20..].starts_with(" kpki: ")
}
