//! `bootstrap --layout kubeadm`: a kubeadm `/etc/kubernetes` tree per node,
//! checked by its real consumers and independent readers: openssl (chains,
//! subjects, SANs, usages, key pairs), kubectl and PyYAML (the .conf
//! files), a real etcd 3.4 on the etcd certificates, and kubectl against
//! openssl s_server on the API server's certificate.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

const MASTERS: [&str; 3] = ["ip-172-31-0-10", "ip-172-31-0-11", "ip-172-31-0-12"];
const WORKERS: [&str; 3] = ["ip-172-31-0-20", "ip-172-31-0-21", "ip-172-31-0-22"];

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn kpki_in(args: &[&str]) -> Output {
    Command::new(kpki()).args(args).stdin(Stdio::null()).output().unwrap()
}

/// The files of a tree, relative, without kpki's lock files.
fn tree_files(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if !p.file_name().unwrap().to_string_lossy().starts_with(".kpki-") {
                out.insert(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

fn openssl(args: &[&str]) -> String {
    let o = run(Command::new(require("openssl")).args(args));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Subject (RFC 2253), SANs and extended key usages as openssl prints them.
fn describe(cert: &Path) -> String {
    openssl(&["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-ext", "subjectAltName,extendedKeyUsage,basicConstraints", "-in", &s(cert)])
}

/// openssl's view of a certificate's and a key's public halves must agree.
fn assert_pair(cert: &Path, key: &Path) {
    let a = openssl(&["x509", "-noout", "-pubkey", "-in", &s(cert)]);
    let b = openssl(&["pkey", "-pubout", "-in", &s(key)]);
    assert_eq!(a, b, "{} is not the key of {}", key.display(), cert.display());
}

fn bootstrap_kubeadm(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["bootstrap", "--layout", "kubeadm", "--out"];
    let o = s(out);
    args.push(&o);
    args.extend_from_slice(extra);
    kpki_in(&args)
}

#[test]
fn each_node_gets_kubeadms_tree_with_kubeadms_subjects_and_chains() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kt");
    let o = bootstrap_kubeadm(&out, &[]);
    assert!(o.status.success(), "{}", text(&o));

    let master_files: BTreeSet<String> = [
        "admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet.conf", "kubeadm-config.yaml",
        "pki/ca.crt", "pki/ca.key", "pki/apiserver.crt", "pki/apiserver.key", "pki/apiserver-kubelet-client.crt",
        "pki/apiserver-kubelet-client.key", "pki/apiserver-etcd-client.crt", "pki/apiserver-etcd-client.key",
        "pki/front-proxy-ca.crt", "pki/front-proxy-ca.key", "pki/front-proxy-client.crt", "pki/front-proxy-client.key",
        "pki/sa.key", "pki/sa.pub", "pki/etcd/ca.crt", "pki/etcd/ca.key", "pki/etcd/server.crt", "pki/etcd/server.key",
        "pki/etcd/peer.crt", "pki/etcd/peer.key", "pki/etcd/healthcheck-client.crt", "pki/etcd/healthcheck-client.key",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let worker_files: BTreeSet<String> = ["kubelet.conf", "pki/ca.crt"].into_iter().map(String::from).collect();
    let ca0 = std::fs::read(out.join(MASTERS[0]).join("pki/ca.crt")).unwrap();
    for (i, m) in MASTERS.iter().enumerate() {
        let t = out.join(m);
        // kubeadm writes super-admin.conf (system:masters) on the init node only.
        let mut want = master_files.clone();
        if i == 0 {
            want.insert("super-admin.conf".into());
        }
        assert_eq!(tree_files(&t), want, "{m}'s tree");
        // The kubeadm configuration the certificates were made for (PyYAML reads both documents).
        let docs = Command::new("python3")
            .args(["-c", "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))"])
            .arg(t.join("kubeadm-config.yaml"))
            .output()
            .unwrap();
        assert!(docs.status.success(), "{}", text(&docs));
        let docs: serde_json::Value = serde_json::from_slice(&docs.stdout).unwrap();
        assert_eq!(docs[0]["kind"], "InitConfiguration");
        assert_eq!(docs[0]["nodeRegistration"]["name"], *m);
        assert_eq!(docs[0]["localAPIEndpoint"]["advertiseAddress"], format!("172.31.0.1{i}").as_str());
        assert_eq!(docs[1]["kind"], "ClusterConfiguration");
        assert_eq!(docs[1]["networking"]["serviceSubnet"], "10.32.0.0/24");
        assert_eq!(docs[1]["networking"]["dnsDomain"], "cluster.local");
        assert_eq!(docs[1]["controlPlaneEndpoint"], "172.31.0.10:6443");
        let f = |p: &str| t.join(p);
        // Chains, each to the CA kubeadm uses for it.
        for (ca, leaves) in [
            ("pki/ca.crt", &["pki/apiserver.crt", "pki/apiserver-kubelet-client.crt"][..]),
            ("pki/etcd/ca.crt", &["pki/etcd/server.crt", "pki/etcd/peer.crt", "pki/etcd/healthcheck-client.crt", "pki/apiserver-etcd-client.crt"][..]),
            ("pki/front-proxy-ca.crt", &["pki/front-proxy-client.crt"][..]),
        ] {
            for leaf in leaves {
                assert_openssl_verifies(&f(ca), &f(leaf));
                assert_pair(&f(leaf), &f(&leaf.replace(".crt", ".key")));
            }
            assert_pair(&f(ca), &f(&ca.replace(".crt", ".key")));
        }
        // A certificate of one CA does not verify against another.
        assert!(!openssl_verify(&f("pki/ca.crt"), &f("pki/etcd/server.crt"), &[]).status.success());
        let ip = format!("172.31.0.1{i}");
        let api = describe(&f("pki/apiserver.crt"));
        assert!(api.contains("subject=CN=kube-apiserver"), "{api}");
        for san in [format!("DNS:{m}"), "DNS:kubernetes.default.svc.cluster.local".into(), "IP Address:10.32.0.1".into(), format!("IP Address:{ip}")] {
            assert!(api.contains(&san), "apiserver.crt lacks {san}: {api}");
        }
        assert!(api.contains("TLS Web Server Authentication") && !api.contains("Client Authentication"), "{api}");
        let kc = describe(&f("pki/apiserver-kubelet-client.crt"));
        assert!(kc.contains("subject=CN=kube-apiserver-kubelet-client,O=kubeadm:cluster-admins") && kc.contains("TLS Web Client Authentication"), "{kc}");
        let etcd = describe(&f("pki/etcd/server.crt"));
        assert!(etcd.contains(&format!("subject=CN={m}")), "{etcd}");
        for san in ["DNS:localhost", "IP Address:127.0.0.1", &format!("IP Address:{ip}")] {
            assert!(etcd.contains(san), "etcd/server.crt lacks {san}: {etcd}");
        }
        assert!(etcd.contains("TLS Web Server Authentication, TLS Web Client Authentication"), "{etcd}");
        for (file, subject) in [
            ("pki/etcd/healthcheck-client.crt", "CN=kube-etcd-healthcheck-client"),
            ("pki/apiserver-etcd-client.crt", "CN=kube-apiserver-etcd-client"),
            ("pki/front-proxy-client.crt", "CN=front-proxy-client"),
            ("pki/etcd/ca.crt", "CN=etcd-ca"),
            ("pki/front-proxy-ca.crt", "CN=front-proxy-ca"),
            ("pki/ca.crt", "CN=kubernetes"),
        ] {
            let d = describe(&f(file));
            assert!(d.contains(&format!("subject={subject}\n")), "{file}: {d}");
        }
        // The service-account pair.
        assert_eq!(openssl(&["pkey", "-pubout", "-in", &s(&f("pki/sa.key"))]), std::fs::read_to_string(f("pki/sa.pub")).unwrap());
        // The shared CAs are the same in every control-plane tree.
        assert_eq!(std::fs::read(f("pki/ca.crt")).unwrap(), ca0);
        for shared in ["pki/ca.key", "pki/etcd/ca.key", "pki/front-proxy-ca.key", "pki/sa.key"] {
            assert_eq!(std::fs::read(f(shared)).unwrap(), std::fs::read(out.join(MASTERS[0]).join(shared)).unwrap(), "{m}/{shared}");
        }
        // The kubeconfigs: kubectl and PyYAML read them; each user's
        // certificate has kubeadm's subject and chains to the cluster CA.
        let mut confs = vec![("admin.conf", "CN=kubernetes-admin,O=kubeadm:cluster-admins".to_string(), "https://172.31.0.10:6443".to_string())];
        if i == 0 {
            confs.push(("super-admin.conf", "CN=kubernetes-super-admin,O=system:masters".into(), "https://172.31.0.10:6443".into()));
        }
        for (conf, subject, server) in confs.into_iter().chain([
            ("controller-manager.conf", "CN=system:kube-controller-manager".into(), format!("https://{ip}:6443")),
            ("scheduler.conf", "CN=system:kube-scheduler".into(), format!("https://{ip}:6443")),
            ("kubelet.conf", format!("CN=system:node:{m},O=system:nodes"), "https://172.31.0.10:6443".into()),
        ]) {
            let view = kubectl_config_view(&f(conf));
            // kubeadm's context name: <user>@<cluster>.
            let user = view["users"][0]["name"].as_str().unwrap().to_string();
            assert_eq!(view["current-context"], format!("{user}@k8s-cluster").as_str(), "{m}/{conf}");
            assert_eq!(view["clusters"][0]["cluster"]["server"], server.as_str(), "{m}/{conf}");
            let y = pyyaml(&f(conf));
            assert_eq!(y["kind"], "Config", "{m}/{conf}");
            let b64 = view["users"][0]["user"]["client-certificate-data"].as_str().unwrap().to_string();
            use base64::Engine;
            let pem = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
            let cert = dir.path().join("user.crt");
            std::fs::write(&cert, &pem).unwrap();
            let d = describe(&cert);
            assert!(d.contains(&format!("subject={subject}\n")), "{m}/{conf}: {d}");
            assert_openssl_verifies(&f("pki/ca.crt"), &cert);
        }
    }
    // check-expiration reads a tree: its confs and pki/, pki/etcd/ certificates.
    let o = kpki_in(&["check-expiration", "--dir", &s(&out.join(MASTERS[0]))]);
    assert!(o.status.success(), "{}", text(&o));
    for name in ["admin.conf", "pki/apiserver.crt", "pki/etcd/server.crt", "pki/front-proxy-ca.crt"] {
        assert!(String::from_utf8_lossy(&o.stdout).contains(name), "check-expiration lacks {name}: {}", text(&o));
    }
    // verify checks kpki's layout and says where to go for a tree.
    for d in [out.clone(), out.join(MASTERS[0])] {
        let o = kpki_in(&["verify", "--dir", &s(&d)]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("kubeadm tree") && text(&o).contains("check-expiration --dir"), "{}", text(&o));
    }
    // An empty directory is not a passing gate.
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let o = kpki_in(&["check-expiration", "--dir", &s(&dir.path().join("empty"))]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // A kpki-layout set in the same directory: refused.
    let flat = dir.path().join("flat");
    bootstrap(&flat, None, &[]);
    let o = bootstrap_kubeadm(&flat, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("kpki layout"), "{}", text(&o));
    for w in WORKERS {
        let t = out.join(w);
        assert_eq!(tree_files(&t), worker_files, "{w}'s tree");
        assert_eq!(std::fs::read(t.join("pki/ca.crt")).unwrap(), ca0);
        let view = kubectl_config_view(&t.join("kubelet.conf"));
        assert_eq!(view["users"][0]["name"], format!("system:node:{w}").as_str());
    }
}

#[test]
fn kubeadm_certificates_work_with_real_etcd_and_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kt");
    let o = bootstrap_kubeadm(&out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let t = out.join(MASTERS[0]);
    let pair = |n: &str| (t.join(format!("{n}.crt")), t.join(format!("{n}.key")));
    let (server, peer) = (pair("pki/etcd/server"), pair("pki/etcd/peer"));
    let (_etcd, client) = etcd_one_member(dir.path(), (&server.0, &server.1), (&peer.0, &peer.1), &t.join("pki/etcd/ca.crt"));
    let etcdctl = |cert: &str, ca: &str, tries: usize| {
        let (c, k) = pair(cert);
        etcdctl(client, &t.join(ca), Some((&c, &k)), &["put", "kubeadm", "ok"], tries)
    };
    for cert in ["pki/etcd/healthcheck-client", "pki/apiserver-etcd-client"] {
        let o = etcdctl(cert, "pki/etcd/ca.crt", 50);
        assert!(o.status.success(), "etcd refused {cert}: {}", text(&o));
    }
    // A client certificate of the cluster CA is not etcd's.
    let o = etcdctl("pki/apiserver-kubelet-client", "pki/etcd/ca.crt", 1);
    assert!(!o.status.success(), "etcd accepted the cluster CA's apiserver-kubelet-client");

    // kubectl with each kubeconfig against a TLS server on apiserver.crt
    // that demands a client certificate of the cluster CA.
    let (_server, port) = s_server(&t.join("pki/apiserver.crt"), &t.join("pki/apiserver.key"), &t.join("pki/ca.crt"));
    for conf in [t.join("admin.conf"), t.join("super-admin.conf"), t.join("scheduler.conf"), out.join(WORKERS[0]).join("kubelet.conf")] {
        let o = Command::new(require("kubectl"))
            .arg("--kubeconfig")
            .arg(&conf)
            .arg(format!("--server=https://127.0.0.1:{port}"))
            .args(["--tls-server-name", "kubernetes", "--request-timeout=10s", "get", "--raw", "/"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success() || String::from_utf8_lossy(&o.stdout).contains("s_server"), "kubectl with {}: {}", conf.display(), text(&o));
        assert!(!String::from_utf8_lossy(&o.stderr).contains("certificate"), "kubectl with {}: {}", conf.display(), text(&o));
    }
}

#[test]
fn a_rerun_keeps_the_cas_and_a_foreign_ca_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kt");
    // A dry run writes nothing.
    let o = bootstrap_kubeadm(&out, &["--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!out.join(MASTERS[0]).exists(), "a dry run wrote a tree");
    assert!(bootstrap_kubeadm(&out, &[]).status.success());
    let shared = ["pki/ca.crt", "pki/ca.key", "pki/etcd/ca.crt", "pki/etcd/ca.key", "pki/front-proxy-ca.crt", "pki/front-proxy-ca.key", "pki/sa.key", "pki/sa.pub"];
    let read = |m: &str, p: &str| std::fs::read(out.join(m).join(p)).unwrap();
    let before: Vec<Vec<u8>> = shared.iter().map(|p| read(MASTERS[1], p)).collect();
    let api_before = read(MASTERS[1], "pki/apiserver.crt");
    let o = bootstrap_kubeadm(&out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    for (p, b) in shared.iter().zip(&before) {
        assert_eq!(&read(MASTERS[1], p), b, "a re-run changed {p}");
    }
    // Leaves are issued again, from the same CA.
    assert_ne!(read(MASTERS[1], "pki/apiserver.crt"), api_before);
    assert_openssl_verifies(&out.join(MASTERS[1]).join("pki/ca.crt"), &out.join(MASTERS[1]).join("pki/apiserver.crt"));

    // Another control-plane tree with a different CA key: refused, nothing changed.
    let foreign = dir.path().join("foreign");
    let o = Command::new(kpki()).args(["gencert", "-initca", &s(&write_csr(dir.path()))]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    std::fs::write(&foreign, v["key"].as_str().unwrap()).unwrap();
    std::fs::copy(&foreign, out.join(MASTERS[2]).join("pki/ca.key")).unwrap();
    let snap = snapshot_tree(&out);
    let o = bootstrap_kubeadm(&out, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("shares the CAs"), "{}", text(&o));
    assert_eq!(snapshot_tree(&out), snap, "a refused run changed files");
    std::fs::copy(out.join(MASTERS[0]).join("pki/ca.key"), out.join(MASTERS[2]).join("pki/ca.key")).unwrap();
    // A symlink where a file of a later tree goes: refused before any tree is written.
    let snap = snapshot_tree(&out);
    std::fs::remove_file(out.join(MASTERS[2]).join("pki/apiserver.crt")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("nowhere"), out.join(MASTERS[2]).join("pki/apiserver.crt")).unwrap();
    let o = bootstrap_kubeadm(&out, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let mut after = snapshot_tree_without(&out, "ip-172-31-0-12/pki/apiserver.crt");
    let mut unchanged = snap.clone();
    unchanged.retain(|(p, _)| p != "ip-172-31-0-12/pki/apiserver.crt");
    after.sort();
    unchanged.sort();
    assert_eq!(after, unchanged, "a refused run rewrote other trees");
    std::fs::remove_file(out.join(MASTERS[2]).join("pki/apiserver.crt")).unwrap();
    // A tree that lost its etcd CA, and a new master listed first, keep the
    // cluster's CAs (from another control-plane tree).
    std::fs::remove_dir_all(out.join(MASTERS[0]).join("pki/etcd")).unwrap();
    let o = bootstrap_kubeadm(&out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(read(MASTERS[0], "pki/etcd/ca.key"), read(MASTERS[1], "pki/etcd/ca.key"));
    assert_eq!(read(MASTERS[0], "pki/ca.crt"), before_ca(&snap));
    let config = dir.path().join("new-first.toml");
    let seed = String::from_utf8(run(Command::new(kpki()).args(["print-defaults", "cluster"])).stdout).unwrap();
    let first_master = seed.find("[[masters]]").expect("the seed has [[masters]]");
    let with_new = format!("{}[[masters]]\nname = \"cp-new\"\nip = \"172.31.0.15\"\n\n{}", &seed[..first_master], &seed[first_master..]);
    std::fs::write(&config, with_new).unwrap();
    let o = bootstrap_kubeadm(&out, &["--config", &s(&config)]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(read("cp-new", "pki/ca.key"), read(MASTERS[1], "pki/ca.key"), "a new first master got a new CA");
    // Keys kubeadm cannot read, and an encrypted CA key, are refused with the way out.
    let ed = dir.path().join("ed.toml");
    std::fs::write(&ed, seed.replace("key_algo = \"rsa-2048\"", "key_algo = \"ed25519\"")).unwrap();
    let o = bootstrap_kubeadm(&dir.path().join("ed"), &["--config", &s(&ed)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("RSA and ECDSA"), "{}", text(&o));
    assert!(!dir.path().join("ed").exists());

    // A directory of a tree planted as a symlink is not followed.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let planted = out.join(WORKERS[2]).join("pki");
    std::fs::remove_dir_all(&planted).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();
    let o = bootstrap_kubeadm(&out, &["--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "kpki wrote through a planted symlink");
    std::fs::remove_file(&planted).unwrap();
    // The same for a control-plane tree, where the shared CAs are read: a
    // pki directory that is a link is refused, not read (or adopted).
    let master_pki = out.join(MASTERS[0]).join("pki");
    let moved = dir.path().join("moved-pki");
    std::fs::rename(&master_pki, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &master_pki).unwrap();
    let o = bootstrap_kubeadm(&out, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("pki: it is a symbolic link"), "{}", text(&o));
    std::fs::remove_file(&master_pki).unwrap();
    std::fs::rename(&moved, &master_pki).unwrap();
    // --force: new CAs for every tree, all consistent again.
    let o = bootstrap_kubeadm(&out, &["--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_ne!(read(MASTERS[0], "pki/ca.crt"), before[0]);
    for m in MASTERS {
        assert_eq!(read(m, "pki/ca.key"), read(MASTERS[0], "pki/ca.key"));
        assert_openssl_verifies(&out.join(m).join("pki/ca.crt"), &out.join(m).join("pki/apiserver.crt"));
    }
}

fn write_csr(dir: &Path) -> PathBuf {
    let p = dir.join("foreign-csr.json");
    std::fs::write(&p, r#"{"CN":"someone else's CA","key":{"algo":"rsa","size":2048}}"#).unwrap();
    p
}

fn snapshot_tree_without(root: &Path, skip: &str) -> Vec<(String, Vec<u8>)> {
    tree_files(root).into_iter().filter(|f| f != skip).map(|f| (f.clone(), std::fs::read(root.join(&f)).unwrap())).collect()
}

fn before_ca(snap: &[(String, Vec<u8>)]) -> Vec<u8> {
    snap.iter().find(|(p, _)| p == "ip-172-31-0-10/pki/ca.crt").map(|(_, b)| b.clone()).unwrap()
}

fn snapshot_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    tree_files(root).into_iter().map(|f| (f.clone(), std::fs::read(root.join(&f)).unwrap())).collect()
}
