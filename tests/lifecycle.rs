//! Issue 14: the set over its whole life, each step against a real peer:
//! separate etcd and front-proxy CAs (a three-member etcd 3.4 cluster on
//! loopback), expiry gates, chains through intermediates, CA renewal and
//! users (kubectl against openssl s_server).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

/// The seed config with the etcd and front-proxy CAs turned on.
fn seed_with_cas() -> String {
    seed_with("etcd_ca = false", "etcd_ca = true").replacen("front_proxy_ca = false", "front_proxy_ca = true", 1)
}

fn kpki_cmd(args: &[&str]) -> Output {
    Command::new(kpki()).args(args).stdin(Stdio::null()).output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(o: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn separate_cas_sign_only_their_own_and_the_tutorial_set_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    bootstrap(&out, Some(&seed_with_cas()), &[]);
    let f = |n: &str| out.join(n);
    for leaf in ["etcd-server", "etcd-peer", "apiserver-etcd-client"] {
        assert_openssl_verifies(&f("etcd-ca.pem"), &f(&format!("{leaf}.pem")));
        assert!(!openssl_verify(&f("ca.pem"), &f(&format!("{leaf}.pem")), &[]).status.success(), "{leaf} must not chain to the cluster CA");
        assert_key_matches(&f(&format!("{leaf}.pem")), &f(&format!("{leaf}-key.pem")));
    }
    assert_openssl_verifies(&f("front-proxy-ca.pem"), &f("front-proxy-client.pem"));
    assert!(!openssl_verify(&f("ca.pem"), &f("front-proxy-client.pem"), &[]).status.success());
    let o = run(Command::new("openssl").args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"]).arg(f("front-proxy-client.pem")));
    let subject = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(subject.starts_with("subject=CN=front-proxy-client,") && !subject.contains("O="), "{subject}");
    // etcd's server certificate answers for every master, loopback and localhost.
    for ip in ["172.31.0.10", "172.31.0.11", "172.31.0.12", "127.0.0.1"] {
        assert!(openssl_verify(&f("etcd-ca.pem"), &f("etcd-server.pem"), &["-verify_ip", ip, "-purpose", "sslserver"]).status.success(), "{ip}");
    }
    for name in ["localhost", "ip-172-31-0-11"] {
        assert!(openssl_verify(&f("etcd-ca.pem"), &f("etcd-server.pem"), &["-verify_hostname", name]).status.success(), "{name}");
    }
    assert!(openssl_verify(&f("etcd-ca.pem"), &f("apiserver-etcd-client.pem"), &["-purpose", "sslclient"]).status.success());
    assert!(!openssl_verify(&f("etcd-ca.pem"), &f("apiserver-etcd-client.pem"), &["-purpose", "sslserver"]).status.success());
    run(Command::new(kpki()).arg("verify").arg("--dir").arg(&out));

    // A front-proxy client certificate with the right subject but signed by
    // the cluster CA is flagged.
    let csr = dir.path().join("fp.json");
    std::fs::write(&csr, r#"{"CN":"front-proxy-client","names":[{"C":"US","ST":"Oregon","L":"Portland","OU":"Kubernetes The Hard Way"}],"key":{"algo":"rsa","size":2048}}"#).unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::create_dir(&wrong).unwrap();
    run(Command::new(kpki())
        .args(["gencert", "-ca"])
        .arg(f("ca.pem"))
        .arg("-ca-key")
        .arg(f("ca-key.pem"))
        .args(["-profile", "kubernetes", "-config"])
        .arg(repo().join("ca-config/ca-config.json"))
        .arg("-out-dir")
        .arg(&wrong)
        .args(["-bare", "front-proxy-client"])
        .arg(&csr));
    let flagged = dir.path().join("flagged");
    run(Command::new("cp").arg("-a").arg(&out).arg(&flagged));
    for n in ["front-proxy-client.pem", "front-proxy-client-key.pem"] {
        std::fs::copy(wrong.join(n), flagged.join(n)).unwrap();
    }
    let o = kpki_cmd(&["verify", "--dir", &s(&flagged)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("front-proxy-client.pem") && stdout.contains("front-proxy-ca.pem"), "{stdout}");
    assert!(stdout.lines().all(|l| l.starts_with("front-proxy-client.pem") || l.starts_with("warning")), "only the front-proxy client is wrong: {stdout}");

    // Off by default: the tutorial's set has none of these files.
    let plain = dir.path().join("plain");
    bootstrap(&plain, None, &[]);
    for n in ["etcd-ca.pem", "etcd-server.pem", "front-proxy-ca.pem", "front-proxy-client.pem"] {
        assert!(!plain.join(n).exists(), "{n} in the tutorial's set");
    }
    // Turning the CAs on later adds them and keeps everything else.
    let before = snapshot(&plain);
    bootstrap(&plain, Some(&seed_with_cas()), &[]);
    let after = snapshot(&plain);
    for (name, bytes) in &before {
        if name != "plan.json" && name != "plain.toml" {
            assert_eq!(after.get(name), Some(bytes), "{name} changed when the optional CAs were added");
        }
    }
    assert!(after.contains_key("etcd-ca.pem") && after.contains_key("front-proxy-client.pem"));
    run(Command::new(kpki()).arg("verify").arg("--dir").arg(&plain));
}

struct Member {
    name: String,
    client: u16,
    peer: u16,
}

#[test]
fn a_three_member_etcd_cluster_runs_on_the_etcd_ca() {
    let etcd = require("etcd");
    require("etcdctl");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    bootstrap(&out, Some(&seed_with_cas()), &[]);
    let p = |f: &str| s(&out.join(f));
    let members: Vec<Member> = (0..3).map(|i| Member { name: format!("master-{i}"), client: free_port(), peer: free_port() }).collect();
    let initial = members.iter().map(|m| format!("{}=https://127.0.0.1:{}", m.name, m.peer)).collect::<Vec<_>>().join(",");
    let mut servers = Vec::new();
    for m in &members {
        servers.push(Server(
            Command::new(&etcd)
                .args(["--name", &m.name, "--data-dir"])
                .arg(dir.path().join(format!("data-{}", m.name)))
                .args(["--cert-file", &p("etcd-server.pem"), "--key-file", &p("etcd-server-key.pem")])
                .args(["--peer-cert-file", &p("etcd-peer.pem"), "--peer-key-file", &p("etcd-peer-key.pem")])
                .args(["--trusted-ca-file", &p("etcd-ca.pem"), "--peer-trusted-ca-file", &p("etcd-ca.pem")])
                .args(["--client-cert-auth", "--peer-client-cert-auth"])
                .arg(format!("--listen-client-urls=https://127.0.0.1:{}", m.client))
                .arg(format!("--advertise-client-urls=https://127.0.0.1:{}", m.client))
                .arg(format!("--listen-peer-urls=https://127.0.0.1:{}", m.peer))
                .arg(format!("--initial-advertise-peer-urls=https://127.0.0.1:{}", m.peer))
                .arg(format!("--initial-cluster={initial}"))
                .args(["--initial-cluster-token", "kpki-test", "--initial-cluster-state", "new", "--log-level", "error"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
    }
    for m in &members {
        wait_for_port(m.client, "etcd");
    }
    let endpoints = members.iter().map(|m| format!("https://127.0.0.1:{}", m.client)).collect::<Vec<_>>().join(",");
    let etcdctl = |cert: &str, endpoints: &str, args: &[&str]| {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoints}"))
            .arg(format!("--cacert={}", p("etcd-ca.pem")))
            .arg(format!("--cert={}", p(&format!("{cert}.pem"))))
            .arg(format!("--key={}", p(&format!("{cert}-key.pem"))))
            .args(["--dial-timeout=3s", "--command-timeout=5s"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // The members must find each other over peer TLS and elect a leader.
    let mut health = etcdctl("apiserver-etcd-client", &endpoints, &["endpoint", "health", "--cluster"]);
    for _ in 0..100 {
        if health.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        health = etcdctl("apiserver-etcd-client", &endpoints, &["endpoint", "health", "--cluster"]);
    }
    assert!(health.status.success(), "cluster health: {}", text(&health));
    let list = etcdctl("apiserver-etcd-client", &endpoints, &["member", "list"]);
    assert!(list.status.success(), "{}", text(&list));
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().filter(|l| l.contains("started")).count(), 3, "{}", text(&list));
    // Write through one member, read through another: replication over peer TLS.
    let first = format!("https://127.0.0.1:{}", members[0].client);
    let third = format!("https://127.0.0.1:{}", members[2].client);
    let put = etcdctl("apiserver-etcd-client", &first, &["put", "kpki", "etcd-ca"]);
    assert!(put.status.success(), "{}", text(&put));
    let get = etcdctl("apiserver-etcd-client", &third, &["get", "kpki", "--print-value-only"]);
    assert!(get.status.success(), "{}", text(&get));
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "etcd-ca");
    // Client certificates of the cluster CA are refused by etcd now.
    for other in ["admin", "master-kubernetes"] {
        let o = etcdctl(other, &first, &["get", "kpki"]);
        assert!(!o.status.success(), "etcd accepted {other}.pem from the cluster CA: {}", text(&o));
    }
    drop(servers);
}

fn at(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

#[test]
fn expiry_gates_set_the_exit_status_at_their_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    // Leaves for 100 days.
    bootstrap(&out, Some(&seed_with("validity = \"8760h\"", "validity = \"2400h\"")), &[]);
    let d = s(&out);
    // verify --expires-within.
    let o = kpki_cmd(&["verify", "--dir", &d, "--expires-within", "90d"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = kpki_cmd(&["verify", "--dir", &d, "--expires-within", "101d"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("within --expires-within"), "{}", text(&o));
    let o = kpki_cmd(&["verify", "--dir", &d, "--expires-within", "soon"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    // check-expiration --warn/--fail, at fixed moments.
    let o = kpki_cmd(&["check-expiration", "--dir", &d, "--warn", "30d", "--fail", "7d", "--at", &at(0)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = kpki_cmd(&["check-expiration", "--dir", &d, "--warn", "30d", "--fail", "7d", "--at", &at(80)]);
    assert_eq!(code(&o), 0, "warn only: {}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning"), "{}", text(&o));
    let o = kpki_cmd(&["check-expiration", "--dir", &d, "--warn", "30d", "--fail", "7d", "--at", &at(95)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let o = kpki_cmd(&["check-expiration", "--dir", &d, "--fail", "7d", "--at", &at(101)]);
    assert_eq!(code(&o), 1, "expired: {}", text(&o));
    // Kubeconfigs' embedded certificates are covered, JSON carries apiVersion/kind.
    let o = kpki_cmd(&["check-expiration", "--dir", &d, "--output", "json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "CertificateExpirationInfo");
    assert!(v["apiVersion"].as_str().unwrap().contains('/'));
    let names: Vec<&str> = v["certificates"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"admin.kubeconfig") && names.contains(&"admin.pem"), "{names:?}");
    assert!(v["certificateAuthorities"].as_array().unwrap().iter().any(|c| c["name"] == "ca.pem"));
    // An unreadable file is reported, not skipped.
    std::fs::write(out.join("broken.pem"), "not a certificate").unwrap();
    let o = kpki_cmd(&["check-expiration", "--dir", &d]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("broken.pem"), "{}", text(&o));
    // Errors are JSON when JSON was asked for.
    let o = kpki_cmd(&["check-expiration", "--dir", &s(&dir.path().join("nope")), "--output", "json"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert!(v["error"]["message"].as_str().unwrap().contains("nope"), "{v}");
    let o = kpki_cmd(&["check-expiration", "--dir", &d, "--fail", "7x", "--output", "json"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
}

/// Makes root → intermediate → leaf with kpki's cfssl commands; returns the paths.
fn three_level(dir: &Path, int_pathlen: Option<u32>) -> (PathBuf, PathBuf, PathBuf) {
    let csr = |name: &str, body: &str| {
        let p = dir.join(format!("{name}.json"));
        std::fs::write(&p, body).unwrap();
        p
    };
    let root_csr = csr("root", r#"{"CN":"Root","key":{"algo":"ecdsa","size":256},"ca":{"pathlen":2}}"#);
    let out = run(Command::new(kpki()).args(["gencert", "-initca"]).arg(&root_csr));
    split(dir.join("root"), &out.stdout);
    let cfg = dir.join("int-config.json");
    let pathlen = match int_pathlen {
        Some(0) => r#","max_path_len":0,"max_path_len_zero":true"#.to_string(),
        Some(n) => format!(r#","max_path_len":{n}"#),
        None => String::new(),
    };
    std::fs::write(
        &cfg,
        format!(
            r#"{{"signing":{{"default":{{"expiry":"8760h","usages":["signing","key encipherment","server auth","client auth"]}},"profiles":{{"int":{{"expiry":"43800h","usages":["cert sign","crl sign"],"ca_constraint":{{"is_ca":true{pathlen}}}}}}}}}}}"#
        ),
    )
    .unwrap();
    let int_csr = csr("int", r#"{"CN":"Intermediate","key":{"algo":"ecdsa","size":256}}"#);
    let out = run(Command::new(kpki())
        .args(["gencert", "-ca"])
        .arg(dir.join("root.pem"))
        .arg("-ca-key")
        .arg(dir.join("root-key.pem"))
        .arg("-config")
        .arg(&cfg)
        .args(["-profile", "int"])
        .arg(&int_csr));
    split(dir.join("int"), &out.stdout);
    let leaf_csr = csr("leaf", r#"{"CN":"leaf.example.com","hosts":["leaf.example.com"],"key":{"algo":"ecdsa","size":256}}"#);
    let out = run(Command::new(kpki())
        .args(["gencert", "-ca"])
        .arg(dir.join("int.pem"))
        .arg("-ca-key")
        .arg(dir.join("int-key.pem"))
        .arg("-config")
        .arg(&cfg)
        .arg(&leaf_csr));
    split(dir.join("leaf"), &out.stdout);
    (dir.join("root.pem"), dir.join("int.pem"), dir.join("leaf.pem"))
}

/// Writes gencert's JSON output as `<base>.pem` and `<base>-key.pem` (cfssljson -bare).
fn split(base: PathBuf, json: &[u8]) {
    let tmp = base.with_extension("out.json");
    std::fs::write(&tmp, json).unwrap();
    run(Command::new(kpki()).args(["json", "-bare", "-f"]).arg(&tmp).arg(&base));
}

#[test]
fn verify_follows_intermediates_like_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let (root, int, leaf) = three_level(dir.path(), None);
    // openssl agrees the path is good.
    let o = openssl_verify(&root, &leaf, &["-untrusted", &s(&int)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = kpki_cmd(&["verify", "--ca", &s(&root), "--intermediates", &s(&int), &s(&leaf)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // Without the intermediate there is no path, for both.
    assert!(!openssl_verify(&root, &leaf, &[]).status.success());
    let o = kpki_cmd(&["verify", "--ca", &s(&root), &s(&leaf)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // Listing the intermediate among the certificates works too.
    let o = kpki_cmd(&["verify", "--ca", &s(&root), &s(&int), &s(&leaf)]);
    assert_eq!(code(&o), 0, "{}", text(&o));

    // An intermediate with pathlen 0 may sign a CA, but that CA may not sign
    // on: root (pathlen 2) → int (pathlen 0) → sub (CA) → leaf is refused by
    // openssl and by kpki, while root → int → sub is a good path.
    let dir2 = tempfile::tempdir().unwrap();
    let (root2, int2, _) = three_level(dir2.path(), Some(0));
    let sub_cfg = dir2.path().join("sub.json");
    std::fs::write(
        &sub_cfg,
        r#"{"signing":{"default":{"expiry":"8760h","usages":["signing","key encipherment","server auth"]},"profiles":{"ca":{"expiry":"8760h","usages":["cert sign","crl sign"],"ca_constraint":{"is_ca":true}}}}}"#,
    )
    .unwrap();
    let sub_csr = dir2.path().join("sub-csr.json");
    std::fs::write(&sub_csr, r#"{"CN":"Sub","key":{"algo":"ecdsa","size":256}}"#).unwrap();
    let out = run(Command::new(kpki())
        .args(["gencert", "-ca"])
        .arg(&int2)
        .arg("-ca-key")
        .arg(dir2.path().join("int-key.pem"))
        .arg("-config")
        .arg(&sub_cfg)
        .args(["-profile", "ca"])
        .arg(&sub_csr));
    split(dir2.path().join("sub"), &out.stdout);
    let sub = dir2.path().join("sub.pem");
    assert!(openssl_verify(&root2, &sub, &["-untrusted", &s(&int2)]).status.success());
    let o = kpki_cmd(&["verify", "--ca", &s(&root2), "--intermediates", &s(&int2), &s(&sub)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let leaf_csr = dir2.path().join("leaf2.json");
    std::fs::write(&leaf_csr, r#"{"CN":"deep.example.com","hosts":["deep.example.com"],"key":{"algo":"ecdsa","size":256}}"#).unwrap();
    let out = run(Command::new(kpki())
        .args(["gencert", "-ca"])
        .arg(&sub)
        .arg("-ca-key")
        .arg(dir2.path().join("sub-key.pem"))
        .arg("-config")
        .arg(&sub_cfg)
        .arg(&leaf_csr));
    split(dir2.path().join("deep"), &out.stdout);
    let deep = dir2.path().join("deep.pem");
    let both = dir2.path().join("both.pem");
    std::fs::write(&both, [std::fs::read(&int2).unwrap(), std::fs::read(&sub).unwrap()].concat()).unwrap();
    let o = openssl_verify(&root2, &deep, &["-untrusted", &s(&both)]);
    assert!(!o.status.success(), "openssl accepted a pathlen violation: {}", text(&o));
    let o = kpki_cmd(&["verify", "--ca", &s(&root2), "--intermediates", &s(&both), &s(&deep)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("path length"), "{}", text(&o));
}

/// kubectl with `kubeconfig` against 127.0.0.1:port (the SAN checked as `kubernetes`).
fn kubectl_healthz(kubeconfig: &Path, port: u16) -> Output {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg(format!("--server=https://127.0.0.1:{port}"))
        .args(["--tls-server-name", "kubernetes", "--request-timeout=10s", "get", "--raw", "/healthz"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn renewing_a_ca_keeps_every_leaf_valid_for_etcd_kubectl_and_openssl() {
    require("etcd");
    require("etcdctl");
    require("kubectl");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    bootstrap(&out, Some(&seed_with_cas()), &[]);
    let old = dir.path().join("old");
    run(Command::new("cp").arg("-a").arg(&out).arg(&old));
    let f = |n: &str| out.join(n);

    // --dry-run says what would change and writes nothing.
    let o = kpki_cmd(&["renew", "--dir", &s(&out), "--role", "ca,etcd-ca", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("would renew"), "{}", text(&o));
    assert_eq!(snapshot(&out), snapshot(&old), "a dry run wrote");

    std::thread::sleep(std::time::Duration::from_secs(1));
    let o = kpki_cmd(&["renew", "--dir", &s(&out), "--role", "ca,etcd-ca"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    for ca in ["ca.pem", "etcd-ca.pem"] {
        assert_ne!(std::fs::read(f(ca)).unwrap(), std::fs::read(old.join(ca)).unwrap(), "{ca} was not re-issued");
        let key = |d: &Path| run(Command::new("openssl").args(["x509", "-noout", "-pubkey", "-subject", "-in"]).arg(d.join(ca))).stdout;
        assert_eq!(key(&out), key(&old), "{ca}: the key and subject must stay");
    }
    // Every leaf (not re-issued) still verifies against the renewed CAs, for openssl and kpki.
    for leaf in ["admin.pem", "master-kubernetes.pem", "ip-172-31-0-20.pem"] {
        assert_eq!(std::fs::read(f(leaf)).unwrap(), std::fs::read(old.join(leaf)).unwrap());
        assert_openssl_verifies(&f("ca.pem"), &f(leaf));
    }
    assert_openssl_verifies(&f("etcd-ca.pem"), &f("etcd-server.pem"));
    run(Command::new(kpki()).arg("verify").arg("--dir").arg(&out));
    // The kubeconfigs carry the renewed CA.
    let view = run(Command::new("kubectl").args(["config", "view", "--raw", "--kubeconfig"]).arg(f("admin.kubeconfig")).args(["-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}"]));
    use base64::Engine;
    let embedded = base64::engine::general_purpose::STANDARD.decode(view.stdout.trim_ascii()).unwrap();
    assert_eq!(embedded, std::fs::read(f("ca.pem")).unwrap());

    // kubectl with the renewed kubeconfig against a server that still has the
    // old CA file, and the old kubeconfig against a server with the new one.
    let (_a, port_old_ca) = s_server(&f("master-kubernetes.pem"), &f("master-kubernetes-key.pem"), &old.join("ca.pem"));
    let (_b, port_new_ca) = s_server(&f("master-kubernetes.pem"), &f("master-kubernetes-key.pem"), &f("ca.pem"));
    for (kc, port) in [(f("admin.kubeconfig"), port_old_ca), (old.join("admin.kubeconfig"), port_new_ca), (f("admin.kubeconfig"), port_new_ca)] {
        let o = kubectl_healthz(&kc, port);
        assert!(o.status.success(), "{}: {}", kc.display(), text(&o));
    }

    // etcd on the renewed etcd CA with its unchanged server certificate;
    // clients trusting the old or the new CA file both get in.
    let (_etcd, port) = etcd_member(dir.path(), &out, "etcd-server", "etcd-peer", &f("etcd-ca.pem"));
    for cacert in [f("etcd-ca.pem"), old.join("etcd-ca.pem")] {
        let o = etcd_put(port, &cacert, &old.join("apiserver-etcd-client.pem"), &old.join("apiserver-etcd-client-key.pem"), 50);
        assert!(o.status.success(), "{}: {}", cacert.display(), text(&o));
    }

    // A new CA key is a rotation, of one CA alone: with a leaf it is refused
    // with a clear message, nothing written.
    let before = snapshot(&out);
    let o = kpki_cmd(&["renew", "--dir", &s(&out), "--role", "ca,admin", "--rekey"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("rotation"), "{}", text(&o));
    assert_eq!(snapshot(&out), before);
}

#[test]
fn gencert_renewca_matches_cfssl_and_bundles_through_an_intermediate() {
    let dir = tempfile::tempdir().unwrap();
    let (root, int, _) = three_level(dir.path(), None);
    let root_key = dir.path().join("root-key.pem");
    // kpki's and cfssl's renewed CA: same subject, key, extensions; both verify the old leaves.
    let ours = run(Command::new(kpki()).args(["gencert", "-renewca", "-ca"]).arg(&root).arg("-ca-key").arg(&root_key));
    split(dir.path().join("root-renewed"), &ours.stdout);
    let renewed = dir.path().join("root-renewed.pem");
    let cfssl_dir = real_cfssl_dir();
    assert_real_cfssl(&cfssl_dir);
    let theirs = run(Command::new(cfssl_dir.join("cfssl")).args(["gencert", "-renewca", "-ca"]).arg(&root).arg("-ca-key").arg(&root_key));
    let v: serde_json::Value = serde_json::from_slice(&theirs.stdout).unwrap();
    let cfssl_renewed = dir.path().join("cfssl-renewed.pem");
    std::fs::write(&cfssl_renewed, v["cert"].as_str().unwrap()).unwrap();
    // Each extension asked for alone, so the order they are written in does not matter.
    let show = |p: &Path| {
        let mut all = String::new();
        for ext in ["basicConstraints", "keyUsage", "subjectKeyIdentifier", "subjectAltName"] {
            let o = run(Command::new("openssl").args(["x509", "-noout", "-subject", "-pubkey", "-ext", ext, "-in"]).arg(p));
            all.push_str(&String::from_utf8_lossy(&o.stdout));
        }
        all
    };
    assert_eq!(show(&renewed), show(&root), "kpki's renewed CA differs from the old one");
    assert_eq!(show(&renewed), show(&cfssl_renewed), "kpki's renewed CA differs from cfssl's");
    assert!(openssl_verify(&renewed, &dir.path().join("leaf.pem"), &["-untrusted", &s(&int)]).status.success());
    // A leaf from the intermediate with -bundle: leaf + intermediate, which
    // openssl verifies as a chain from the root alone.
    let csr = dir.path().join("svc.json");
    std::fs::write(&csr, r#"{"CN":"svc.example.com","hosts":["svc.example.com"],"key":{"algo":"ecdsa","size":256}}"#).unwrap();
    run(Command::new(kpki())
        .args(["gencert", "-ca"])
        .arg(&int)
        .arg("-ca-key")
        .arg(dir.path().join("int-key.pem"))
        .arg("-bundle")
        .arg("-out-dir")
        .arg(dir.path())
        .args(["-bare", "svc"])
        .arg(&csr));
    let bundle = dir.path().join("svc-bundle.pem");
    let certs = std::fs::read_to_string(&bundle).unwrap().matches("BEGIN CERTIFICATE").count();
    assert_eq!(certs, 2, "leaf + intermediate");
    let o = openssl_verify(&root, &dir.path().join("svc.pem"), &["-untrusted", &s(&bundle)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = kpki_cmd(&["verify", "--ca", &s(&root), "--intermediates", &s(&bundle), &s(&dir.path().join("svc.pem"))]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn a_user_kubeconfig_authenticates_and_verify_leaves_it_alone_unless_asked() {
    require("kubectl");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    bootstrap(&out, None, &[]);
    let o = kpki_cmd(&["kubeconfig", "user", "--dir", &s(&out), "--name", "alice", "--group", "devs", "--expiry", "720h"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let kc = out.join("alice.kubeconfig");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&kc).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let view = run(Command::new("kubectl").args(["config", "view", "--kubeconfig"]).arg(&kc).args(["-o", "jsonpath={.users[0].name} {.clusters[0].cluster.server}"]));
    assert_eq!(String::from_utf8_lossy(&view.stdout), "alice https://172.31.0.10:6443");
    // The server sees CN=alice, O=devs, signed by the set's CA.
    let (_srv, port) = s_server(&out.join("master-kubernetes.pem"), &out.join("master-kubernetes-key.pem"), &out.join("ca.pem"));
    let o = kubectl_healthz(&kc, port);
    assert!(o.status.success(), "{}", text(&o));
    let page = String::from_utf8_lossy(&o.stdout);
    let client = page.split("Client certificate").nth(1).unwrap_or("");
    assert!(client.contains("O=devs, CN=alice\n") || client.contains("CN=alice\n"), "{page}");
    // verify: the plan's files only, unless --all-kubeconfigs.
    run(Command::new(kpki()).arg("verify").arg("--dir").arg(&out));
    run(Command::new(kpki()).arg("verify").arg("--all-kubeconfigs").arg("--dir").arg(&out));
    // A user kubeconfig from another set is found out when asked.
    let other = dir.path().join("other");
    bootstrap(&other, None, &[]);
    let o = kpki_cmd(&["kubeconfig", "user", "--dir", &s(&other), "--name", "mallory", "--out", &s(&out.join("mallory.kubeconfig"))]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    run(Command::new(kpki()).arg("verify").arg("--dir").arg(&out));
    let o = kpki_cmd(&["verify", "--all-kubeconfigs", "--dir", &s(&out)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("mallory.kubeconfig"), "{}", text(&o));
    // Names of the set's own files are refused; an existing user needs --force.
    let before = snapshot(&out);
    for args in [vec!["--name", "admin"], vec!["--name", "alice"], vec!["--name", "../x"], vec!["--name", "bob", "--group", ""]] {
        let mut all = vec!["kubeconfig", "user", "--dir", out.to_str().unwrap()];
        all.extend(args.iter().copied());
        let o = kpki_cmd(&all);
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o));
    }
    assert_eq!(snapshot(&out), before);
}

/// Starts a one-member etcd with `server`'s certificates and `trusted` as its CA file.
fn etcd_member(dir: &Path, certs: &Path, server: &str, peer: &str, trusted: &Path) -> (Server, u16) {
    let pair = |n: &str| (certs.join(format!("{n}.pem")), certs.join(format!("{n}-key.pem")));
    let (s, p) = (pair(server), pair(peer));
    etcd_one_member(dir, (&s.0, &s.1), (&p.0, &p.1), trusted)
}

/// etcdctl put with a client certificate (see [`etcdctl`]).
fn etcd_put(port: u16, cacert: &Path, cert: &Path, key: &Path, tries: usize) -> Output {
    etcdctl(port, cacert, Some((cert, key)), &["put", "rotation", "ok"], tries)
}

#[test]
fn a_ca_rotation_keeps_etcd_and_kubectl_working_at_every_step() {
    require("etcdctl");
    require("kubectl");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    bootstrap(&out, Some(&seed_with_cas()), &[]);
    let old = dir.path().join("old");
    run(Command::new("cp").arg("-a").arg(&out).arg(&old));
    let f = |n: &str| out.join(n);

    // Step 1: rotations of the cluster CA and of etcd's CA start (each alone).
    let o = kpki_cmd(&["renew", "--dir", &s(&out), "--role", "ca", "--rekey", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(snapshot(&out), snapshot(&old), "a dry run wrote");
    let o = kpki_cmd(&["renew", "--dir", &s(&out), "--role", "ca,etcd-ca", "--rekey"]);
    assert_eq!(code(&o), 2, "two CAs at once: {}", text(&o));
    for ca in ["ca", "etcd-ca"] {
        let o = kpki_cmd(&["renew", "--dir", &s(&out), "--role", ca, "--rekey"]);
        assert_eq!(code(&o), 0, "{}", text(&o));
    }
    let o = kpki_cmd(&["renew", "--dir", &s(&out), "--role", "ca", "--rekey"]);
    assert_eq!(code(&o), 2, "a second rotation while one is in progress: {}", text(&o));
    assert_ne!(std::fs::read(f("ca-key.pem")).unwrap(), std::fs::read(old.join("ca-key.pem")).unwrap());
    // The set verifies between the steps; bootstrap would change nothing.
    let o = kpki_cmd(&["verify", "--dir", &s(&out)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("rotation of ca.pem is in progress"), "{}", text(&o));
    let o = kpki_cmd(&["bootstrap", "--config", &s(&out.with_extension("toml")), "--out", &s(&out), "--dry-run"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("would write 0 of"), "{}", text(&o));
    // The bundle trusts old and new leaves, for openssl.
    for leaf in [old.join("admin.pem"), f("admin.pem")] {
        assert_openssl_verifies(&f("ca-bundle.pem"), &leaf);
    }
    assert!(!openssl_verify(&old.join("ca.pem"), &f("admin.pem"), &[]).status.success(), "the new leaf must not chain to the old CA");
    // kubectl with the new kubeconfig (bundle, new client cert) against a
    // server with the old and with the new serving certificate, both trusting the bundle.
    for certs in [&old, &out] {
        let (_srv, port) = s_server(&certs.join("master-kubernetes.pem"), &certs.join("master-kubernetes-key.pem"), &f("ca-bundle.pem"));
        let o = kubectl_healthz(&f("admin.kubeconfig"), port);
        assert!(o.status.success(), "{}: {}", certs.display(), text(&o));
        // Old clients keep working against a server still on its old certificate.
        if certs == &old {
            let o = kubectl_healthz(&old.join("admin.kubeconfig"), port);
            assert!(o.status.success(), "{}", text(&o));
        }
    }
    // etcd trusting the bundle, still serving its old certificate, then the new one:
    // old and new client certificates get in.
    for certs in [&old, &out] {
        let (_etcd, port) = etcd_member(dir.path(), certs, "etcd-server", "etcd-peer", &f("etcd-ca-bundle.pem"));
        for client in [&old, &out] {
            let o = etcd_put(port, &f("etcd-ca-bundle.pem"), &client.join("apiserver-etcd-client.pem"), &client.join("apiserver-etcd-client-key.pem"), 50);
            assert!(o.status.success(), "server {} client {}: {}", certs.display(), client.display(), text(&o));
        }
    }

    // Step 2: finish. Only the new CAs are trusted; the set verifies.
    let o = kpki_cmd(&["renew", "--dir", &s(&out), "--finish-rotation"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = kpki_cmd(&["verify", "--dir", &s(&out)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("in progress"), "{}", text(&o));
    assert_eq!(std::fs::read(f("ca-bundle.pem")).unwrap(), std::fs::read(f("ca.pem")).unwrap());
    let o = kpki_cmd(&["renew", "--dir", &s(&out), "--finish-rotation"]);
    assert_eq!(code(&o), 2, "nothing left to finish: {}", text(&o));
    let (_srv, port) = s_server(&f("master-kubernetes.pem"), &f("master-kubernetes-key.pem"), &f("ca.pem"));
    let o = kubectl_healthz(&f("admin.kubeconfig"), port);
    assert!(o.status.success(), "{}", text(&o));
    let o = kubectl_healthz(&old.join("admin.kubeconfig"), port);
    assert!(!o.status.success(), "the old CA's client certificate must be refused after the rotation");
    let (_etcd, port) = etcd_member(dir.path(), &out, "etcd-server", "etcd-peer", &f("etcd-ca.pem"));
    let o = etcd_put(port, &f("etcd-ca.pem"), &f("apiserver-etcd-client.pem"), &f("apiserver-etcd-client-key.pem"), 50);
    assert!(o.status.success(), "{}", text(&o));
    let o = etcd_put(port, &f("etcd-ca.pem"), &old.join("apiserver-etcd-client.pem"), &old.join("apiserver-etcd-client-key.pem"), 1);
    assert!(!o.status.success(), "etcd accepted the old etcd CA's client certificate after the rotation");
}

/// Found by an attacker-minded review: each of these once passed silently.
#[test]
fn hostile_files_and_paths_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    bootstrap(&out, None, &[]);
    let d = s(&out);
    // A planted trust bundle (the current CA plus a stranger with the same
    // subject) is neither adopted by bootstrap nor accepted by verify.
    let evil_csr = dir.path().join("evil.json");
    std::fs::write(&evil_csr, r#"{"CN":"Kubernetes","names":[{"C":"US","ST":"Oregon","L":"Portland","O":"Kubernetes","OU":"Kubernetes The Hard Way"}],"key":{"algo":"ecdsa","size":256}}"#).unwrap();
    let o = run(Command::new(kpki()).args(["gencert", "-initca"]).arg(&evil_csr));
    split(dir.path().join("evil"), &o.stdout);
    let planted = [std::fs::read(out.join("ca.pem")).unwrap(), std::fs::read(dir.path().join("evil.pem")).unwrap()].concat();
    std::fs::write(out.join("ca-bundle.pem"), &planted).unwrap();
    let before = std::fs::read(out.join("admin.kubeconfig")).unwrap();
    bootstrap(&out, None, &[]);
    assert_eq!(std::fs::read(out.join("admin.kubeconfig")).unwrap(), before, "bootstrap adopted a planted bundle");
    let o = kpki_cmd(&["verify", "--dir", &d]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("not endorsed"), "{}", text(&o));
    std::fs::remove_file(out.join("ca-bundle.pem")).unwrap();

    // A kubeconfig with an added field kubectl acts on is flagged; so is a
    // kubeconfig others can read (it holds a private key).
    let kc = out.join("admin.kubeconfig");
    let original = std::fs::read_to_string(&kc).unwrap();
    let server_line = original.lines().find(|l| l.trim_start().starts_with("server:")).unwrap().to_string();
    std::fs::write(&kc, original.replacen(&server_line, &format!("{server_line}\n    insecure-skip-tls-verify: true"), 1)).unwrap();
    let view = run(Command::new("kubectl").args(["config", "view", "--kubeconfig"]).arg(&kc).args(["-o", "jsonpath={.clusters[0].cluster.insecure-skip-tls-verify}"]));
    assert_eq!(String::from_utf8_lossy(&view.stdout), "true", "the edit must be what kubectl reads");
    std::fs::set_permissions(out.join("kube-proxy.kubeconfig"), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let o = kpki_cmd(&["verify", "--dir", &d]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(stdout.contains("admin.kubeconfig: it differs from what kpki renders"), "{stdout}");
    assert!(stdout.contains("kube-proxy.kubeconfig: mode 0644"), "{stdout}");
    std::fs::write(&kc, &original).unwrap();
    std::fs::set_permissions(out.join("kube-proxy.kubeconfig"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    run(Command::new(kpki()).arg("verify").arg("--dir").arg(&out));

    // kubeconfig user --out never replaces a file of the set, or a file that
    // is not a kubeconfig, even with --force.
    for target in [out.join("ca-key.pem"), out.join("admin.kubeconfig"), out.join("plan.json")] {
        let before = std::fs::read(&target).unwrap();
        let o = kpki_cmd(&["kubeconfig", "user", "--dir", &d, "--name", "bob", "--out", &s(&target), "--force"]);
        assert_eq!(code(&o), 2, "{}: {}", target.display(), text(&o));
        assert_eq!(std::fs::read(&target).unwrap(), before);
    }
    let elsewhere = dir.path().join("notes.txt");
    std::fs::write(&elsewhere, "mine").unwrap();
    let o = kpki_cmd(&["kubeconfig", "user", "--dir", &d, "--name", "bob", "--out", &s(&elsewhere), "--force"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "mine");

    // check-expiration reports a dangling symlink instead of skipping it.
    std::os::unix::fs::symlink(dir.path().join("gone.pem"), out.join("gone.pem")).unwrap();
    let o = kpki_cmd(&["check-expiration", "--dir", &d]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("gone.pem"), "{}", text(&o));
}

#[test]
fn an_expired_intermediate_or_root_fails_verify_as_it_fails_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let (root, int, leaf) = three_level(dir.path(), None);
    // Five years on, the leaf (one year) has expired; so has nothing else.
    // Check the intermediate's end: the config gives it 43800h (five years).
    let later = at(5 * 365 + 10);
    let o = kpki_cmd(&["verify", "--ca", &s(&root), "--intermediates", &s(&int), "--at", &later, &s(&leaf)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(stdout.contains("its intermediate") && stdout.contains("expired"), "{stdout}");
    let o = openssl_verify(&root, &leaf, &["-untrusted", &s(&int), "-attime", &(time::OffsetDateTime::now_utc() + time::Duration::days(5 * 365 + 10)).unix_timestamp().to_string()]);
    assert!(!o.status.success());
}
