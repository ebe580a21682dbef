//! Helpers shared by the integration tests: the kpki binary, links named
//! cfssl/cfssljson, the real tools (cfssl 1.2, openssl, pkilint), and a
//! parsed summary of a certificate for field-by-field comparison.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kpki::pki::{cert, issue, key};

pub fn kpki() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kpki"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails the test with a useful message when a required tool is missing
/// (`make test` installs them all).
pub fn require(tool: &str) -> PathBuf {
    let out = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().expect("sh runs");
    assert!(out.status.success(), "{tool} is not installed: run `make test` (it installs the test dependencies)");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A directory holding `cfssl` and `cfssljson` links to kpki.
pub fn kpki_links() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["cfssl", "cfssljson"] {
        std::os::unix::fs::symlink(kpki(), dir.path().join(name)).unwrap();
    }
    dir
}

/// A PATH with `first` in front, then the system's.
pub fn path_with(first: &Path) -> String {
    format!("{}:{}", first.display(), std::env::var("PATH").unwrap_or_default())
}

/// The PATH where the real cfssl is found, after making sure it is cfssl
/// 1.2 itself and not kpki through a link (a comparison of kpki with itself
/// would always pass).
pub fn real_cfssl_dir() -> PathBuf {
    let cfssl = require("cfssl");
    let dir = cfssl.parent().unwrap().to_path_buf();
    assert_real_cfssl(&dir);
    dir
}

/// Asserts that `dir/cfssl` and `dir/cfssljson` are the real cfssl 1.2.
pub fn assert_real_cfssl(dir: &Path) {
    for tool in ["cfssl", "cfssljson"] {
        let path = dir.join(tool);
        let resolved = std::fs::canonicalize(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_ne!(resolved, std::fs::canonicalize(kpki()).unwrap(), "{} is kpki, not the real {tool}", path.display());
        let bytes = std::fs::read(&resolved).unwrap();
        assert!(!bytes.windows(4).any(|w| w == b"kpki"), "{} looks like kpki, not the real {tool}", resolved.display());
    }
    let out = Command::new(dir.join("cfssl")).arg("version").stdin(Stdio::null()).output().expect("cfssl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cfssl version failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.lines().any(|l| l.trim() == "Version: 1.2.0"), "cfssl on PATH is not cfssl 1.2.0: {text}");
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().expect("command starts");
    assert!(
        out.status.success(),
        "command {:?} failed: {}\n{}",
        cmd,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// Runs the tutorial's certificate commands into `out` with the cfssl found first in `path_dir`.
pub fn tutorial(path_dir: &Path, out: &Path, algo: &str) {
    run(Command::new("bash")
        .arg(repo().join("scripts/tutorial-certs.sh"))
        .arg(out)
        .arg("172.31.0.10")
        .arg(algo)
        .env("PATH", path_with(path_dir)));
}

/// The certificate stems the tutorial makes.
pub const TUTORIAL_STEMS: &[&str] = &[
    "ca",
    "admin",
    "ip-172-31-0-20",
    "ip-172-31-0-21",
    "ip-172-31-0-22",
    "kube-controller-manager",
    "kube-proxy",
    "kube-scheduler",
    "master-kubernetes",
    "service-account",
];

pub fn openssl_verify(ca: &Path, cert: &Path, extra: &[&str]) -> Output {
    Command::new("openssl")
        .args(["verify", "-x509_strict", "-CAfile"])
        .arg(ca)
        .args(extra)
        .arg(cert)
        .output()
        .expect("openssl runs")
}

pub fn assert_openssl_verifies(ca: &Path, cert: &Path) {
    let out = openssl_verify(ca, cert, &[]);
    assert!(out.status.success(), "openssl verify {}: {}{}", cert.display(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// Asserts that a key file holds the private key of a certificate file.
pub fn assert_key_matches(cert_path: &Path, key_path: &Path) {
    let der = cert::cert_from_pem(&std::fs::read(cert_path).unwrap()).unwrap();
    let parsed = cert::parse(&der).unwrap();
    let k = key::PrivateKey::from_pem(&std::fs::read(key_path).unwrap()).unwrap();
    assert_eq!(parsed.public_key().subject_public_key.data.as_ref(), k.public_key_bits(), "{} does not match {}", key_path.display(), cert_path.display());
}

/// The numbers of an RSA key file as openssl prints them (hex, no colons).
pub fn openssl_rsa_fields(key_path: &Path) -> BTreeMap<String, String> {
    let out = run(Command::new(require("openssl")).args(["rsa", "-noout", "-text", "-in"]).arg(key_path));
    assert!(out.status.success(), "openssl rsa -text {}", key_path.display());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut fields = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(label) = line.strip_suffix(':').filter(|l| !l.starts_with(' ')) {
            current = Some(label.to_string());
            fields.insert(label.to_string(), String::new());
        } else if let (Some(c), true) = (&current, line.starts_with(' ')) {
            fields.get_mut(c).unwrap().push_str(&line.trim().replace(':', ""));
        } else {
            current = None;
        }
    }
    fields
}

/// Asserts what a sound RSA key of `bits` bits is, checked by openssl rather
/// than by kpki: `openssl rsa -check` (n = pq, d*e = 1 mod p-1 and q-1, CRT
/// values), both factors prime by `openssl prime`, FIPS 186-4 bounds (each
/// factor above 2^(bits/2-1)*sqrt(2), |p - q| > 2^(bits/2-100), e = 65537).
/// Returns the modulus.
pub fn assert_rsa_key_sound(key_path: &Path, bits: usize) -> String {
    let check = run(Command::new(require("openssl")).args(["rsa", "-check", "-noout", "-in"]).arg(key_path));
    assert!(check.status.success() && String::from_utf8_lossy(&check.stdout).contains("RSA key ok"), "openssl rsa -check {}: {}", key_path.display(), String::from_utf8_lossy(&check.stderr));
    let f = openssl_rsa_fields(key_path);
    let strip = |h: &str| h.trim_start_matches('0').to_string();
    let (n, p, q) = (strip(&f["modulus"]), strip(&f["prime1"]), strip(&f["prime2"]));
    assert_eq!(n.len() * 4, bits, "{}: modulus size", key_path.display());
    for (name, prime) in [("prime1", &p), ("prime2", &q)] {
        assert_eq!(prime.len() * 4, bits / 2, "{}: {name} size", key_path.display());
        // 2^(k-1)*sqrt(2) = 0xB504F333F9DE6484... * 2^(k-64)
        assert!(&prime[..16] > "b504f333f9de6484", "{}: {name} below sqrt(2)*2^(k-1)", key_path.display());
        let out = run(Command::new(require("openssl")).args(["prime", "-hex", prime]));
        assert!(String::from_utf8_lossy(&out.stdout).contains("is prime"), "{}: openssl says {name} is not prime", key_path.display());
    }
    // |p - q| > 2^(k-100): they differ within their top 100 bits (25 hex digits).
    assert_ne!(p[..25], q[..25], "{}: the primes are too close", key_path.display());
    let e = run(Command::new(require("openssl")).args(["rsa", "-noout", "-text", "-in"]).arg(key_path));
    assert!(String::from_utf8_lossy(&e.stdout).contains("publicExponent: 65537 (0x10001)"));
    n
}

/// Everything the tests compare between kpki's and cfssl's certificates.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Summary {
    pub subject: Vec<(String, String, u32)>,
    pub issuer: Vec<(String, String, u32)>,
    pub sans: Vec<String>,
    pub key_usage: Option<(bool, u16)>,
    pub ext_key_usage: Option<(bool, Vec<String>)>,
    pub basic_constraints: Option<(bool, bool, Option<u32>)>,
    pub key: String,
    pub sig_alg: String,
    pub validity_secs: i64,
    pub ski_is_sha1_of_key: bool,
    pub aki_is_key_id_only: Option<bool>,
    /// cfssl and kpki draw 20 random bytes with the top bit cleared; DER's
    /// minimal encoding drops a leading zero byte (1 time in 128), so the
    /// length is 20 or, rarely, less — never more.
    pub serial_len_ok: bool,
    pub serial_positive: bool,
    pub extensions: Vec<String>,
}

pub fn summary(pem_path: &Path) -> Summary {
    let der = cert::cert_from_pem(&std::fs::read(pem_path).unwrap()).unwrap();
    let c = cert::parse(&der).unwrap();
    let name = |n: &x509_parser::x509::X509Name<'_>| {
        n.iter_attributes()
            .map(|a| (a.attr_type().to_id_string(), a.as_str().unwrap_or("?").to_string(), a.attr_value().header.tag().0))
            .collect::<Vec<_>>()
    };
    let ku = c.key_usage().unwrap().map(|k| (k.critical, k.value.flags));
    let eku = c.extended_key_usage().unwrap().map(|e| {
        let mut v = Vec::new();
        if e.value.server_auth {
            v.push("serverAuth".to_string());
        }
        if e.value.client_auth {
            v.push("clientAuth".to_string());
        }
        for o in &e.value.other {
            v.push(o.to_id_string());
        }
        (e.critical, v)
    });
    let bc = c.basic_constraints().unwrap().map(|b| (b.critical, b.value.ca, b.value.path_len_constraint));
    let (nb, na) = cert::validity(&c);
    let ski_ok = cert::ski(&c).as_deref() == Some(&issue::key_id(&c.public_key().subject_public_key.data)[..]);
    let aki_only = c.iter_extensions().find_map(|e| match e.parsed_extension() {
        x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
            Some(a.key_identifier.is_some() && a.authority_cert_issuer.is_none() && a.authority_cert_serial.is_none())
        }
        _ => None,
    });
    let mut exts: Vec<String> = c.extensions().iter().map(|e| format!("{}{}", e.oid.to_id_string(), if e.critical { "!" } else { "" })).collect();
    exts.sort();
    Summary {
        subject: name(c.subject()),
        issuer: name(c.issuer()),
        sans: cert::sans(&c).iter().map(|s| format!("{s:?}")).collect(),
        key_usage: ku,
        ext_key_usage: eku,
        basic_constraints: bc,
        key: cert::key_algo_name(c.public_key()),
        sig_alg: c.signature_algorithm.algorithm.to_id_string(),
        validity_secs: (na - nb).whole_seconds(),
        ski_is_sha1_of_key: ski_ok,
        aki_is_key_id_only: aki_only,
        serial_len_ok: (15..=20).contains(&c.raw_serial().len()),
        serial_positive: c.raw_serial().first().is_some_and(|b| b & 0x80 == 0),
        extensions: exts,
    }
}

/// pkilint's findings at ERROR or FATAL (and WARNING) for a certificate file,
/// except one: pkilint checks dNSName with python-validators' `domain()`,
/// which wants a TLD, so it flags single-label names. RFC 5280 §4.2.1.6 asks
/// for RFC 1034 preferred name syntax, which allows a single label, and
/// Kubernetes needs them (`kubernetes`, node host names); those are dropped
/// here after checking they are valid labels.
pub fn pkilint_findings(pem_path: &Path) -> Vec<String> {
    let out = Command::new(require("lint_pkix_cert")).arg("lint").arg(pem_path).stdin(Stdio::null()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // pkilint's exit status is the number of findings it printed (at most
    // 255); a file it cannot load is exit 1 with a message on stderr, a usage
    // error exit 2 on stderr. So: nothing on stderr, and the status must
    // equal the findings counted here, or pkilint did not lint at all.
    assert!(stderr.trim().is_empty(), "pkilint failed on {}: {:?}\n{stderr}", pem_path.display(), out.status);
    // A finding is a line `code (SEVERITY)` or `code (SEVERITY): message`.
    let printed = text
        .lines()
        .filter(|l| {
            l.trim().split_once(" (").is_some_and(|(code, rest)| {
                !code.contains(' ') && ["FATAL)", "ERROR)", "WARNING)", "NOTICE)", "INFO)", "DEBUG)"].iter().any(|s| rest.starts_with(s))
            })
        })
        .count();
    assert_eq!(out.status.code(), Some(printed.min(255) as i32), "pkilint's exit status is not its finding count for {}:\n{text}", pem_path.display());
    let mut findings = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if !(l.contains("(ERROR)") || l.contains("(FATAL)") || l.contains("(WARNING)")) {
            continue;
        }
        if l.starts_with("pkix.invalid_domain_name_syntax (ERROR)") {
            if let Some(name) = l.split('"').nth(1) {
                let single_label = !name.contains('.') && kpki::pki::request::check_dns_name(name).is_ok();
                if single_label {
                    continue;
                }
            }
        }
        findings.push(l.to_string());
    }
    findings
}

/// Every file in a directory with its bytes, to check nothing was written.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            m.insert(e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap());
        }
    }
    m
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something listens on 127.0.0.1:port.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{what} did not start listening on 127.0.0.1:{port}");
}

/// A child process stopped (by pid) when dropped.
pub struct Server(pub std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A one-member etcd 3.4 on loopback: serving with `server` (certificate,
/// key), talking to itself as a peer with `peer`, and demanding client
/// certificates from `trusted` on both sides. Its data goes under
/// `data_dir`. Returns the process (stopped when dropped) and the client port.
pub fn etcd_one_member(data_dir: &Path, server: (&Path, &Path), peer: (&Path, &Path), trusted: &Path) -> (Server, u16) {
    let etcd = require("etcd");
    require("etcdctl");
    let (client, peer_port) = (free_port(), free_port());
    let srv = Server(
        Command::new(etcd)
            .args(["--name", "m0", "--data-dir"])
            .arg(data_dir.join(format!("etcd-{client}")))
            .arg("--cert-file")
            .arg(server.0)
            .arg("--key-file")
            .arg(server.1)
            .arg("--peer-cert-file")
            .arg(peer.0)
            .arg("--peer-key-file")
            .arg(peer.1)
            .arg("--trusted-ca-file")
            .arg(trusted)
            .arg("--peer-trusted-ca-file")
            .arg(trusted)
            .args(["--client-cert-auth", "--peer-client-cert-auth"])
            .arg(format!("--listen-client-urls=https://127.0.0.1:{client}"))
            .arg(format!("--advertise-client-urls=https://127.0.0.1:{client}"))
            .arg(format!("--listen-peer-urls=https://127.0.0.1:{peer_port}"))
            .arg(format!("--initial-advertise-peer-urls=https://127.0.0.1:{peer_port}"))
            .arg(format!("--initial-cluster=m0=https://127.0.0.1:{peer_port}"))
            .args(["--initial-cluster-state", "new", "--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(client, "etcd");
    (srv, client)
}

/// `etcdctl` (v3 API) against the member on `port` trusting `cacert`, with a
/// client certificate when given; `args` is the command (`put k v`, ...).
/// Retried up to `tries` times while etcd elects itself (1 when a refusal
/// is expected: a refused handshake looks like a timeout to etcdctl).
pub fn etcdctl(port: u16, cacert: &Path, client: Option<(&Path, &Path)>, args: &[&str], tries: usize) -> Output {
    let mut last = None;
    for _ in 0..tries.max(1) {
        let mut c = Command::new("etcdctl");
        c.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints=https://127.0.0.1:{port}"))
            .arg(format!("--cacert={}", cacert.display()))
            .args(["--dial-timeout=3s", "--command-timeout=5s"]);
        if let Some((cert, key)) = client {
            c.arg(format!("--cert={}", cert.display())).arg(format!("--key={}", key.display()));
        }
        let o = c.args(args).stdin(Stdio::null()).output().unwrap();
        if o.status.success() {
            return o;
        }
        last = Some(o);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    last.unwrap()
}

/// openssl s_server on a free port with `cert`/`key`, verifying client certificates against `ca`.
pub fn s_server(cert: &Path, key: &Path, ca: &Path) -> (Server, u16) {
    let port = free_port();
    let server = Server(
        Command::new("openssl")
            .args(["s_server", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .arg("-CAfile")
            .arg(ca)
            .args(["-Verify", "1", "-verify_return_error", "-www"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, "openssl s_server");
    (server, port)
}

/// Runs `kpki bootstrap` into `out` with an optional config text.
pub fn bootstrap(out: &Path, config: Option<&str>, extra: &[&str]) -> Output {
    let mut cmd = Command::new(kpki());
    cmd.arg("bootstrap").arg("--out").arg(out);
    if let Some(text) = config {
        let path = out.with_extension("toml");
        std::fs::write(&path, text).unwrap();
        cmd.arg("--config").arg(path);
    }
    cmd.args(extra);
    run(&mut cmd)
}

/// The embedded seed config with one substitution.
pub fn seed_with(from: &str, to: &str) -> String {
    let text = kpki::model::cluster::DEFAULT_TOML;
    assert!(text.contains(from), "{from:?} not in the seed config");
    text.replacen(from, to, 1)
}

/// A YAML file parsed by PyYAML (YAML 1.1, as go-yaml v2 in Kubernetes),
/// returned as JSON. Fails when python3 or PyYAML fails.
pub fn pyyaml(path: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1], 'rb'))))"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs");
    assert!(out.status.success() && out.stderr.is_empty(), "PyYAML cannot read {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The encryption config as kube-apiserver needs it, checked by PyYAML and
/// kubectl: kind, apiVersion, aescbc first for secrets with a 32-byte key,
/// identity after it.
pub fn assert_encryption_config_valid(path: &Path) {
    use base64::Engine;
    let v = pyyaml(path);
    assert_eq!(v["kind"], "EncryptionConfiguration", "{v}");
    assert_eq!(v["apiVersion"], "apiserver.config.k8s.io/v1", "{v}");
    let rc = &v["resources"][0];
    assert_eq!(rc["resources"], serde_json::json!(["secrets"]), "{v}");
    let key = rc["providers"][0]["aescbc"]["keys"][0]["secret"].as_str().unwrap_or_else(|| panic!("no aescbc key: {v}"));
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(key).unwrap().len(), 32);
    assert_eq!(rc["providers"][1], serde_json::json!({"identity": {}}), "{v}");
    // kubectl decodes it with Kubernetes' own YAML reader; without a server
    // it then stops at the kind's REST mapping, which is past the parse.
    let out = Command::new(require("kubectl"))
        .args(["create", "--dry-run=client", "-o", "json", "--validate=false", "-f"])
        .arg(path)
        .env("KUBECONFIG", "/dev/null")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("yaml:") && !err.contains("error converting YAML") && !err.contains("error parsing"), "kubectl cannot parse {}: {err}", path.display());
}

/// A kubeconfig as kubectl reads it (`kubectl config view --raw -o json`).
pub fn kubectl_config_view(path: &Path) -> serde_json::Value {
    let out = Command::new(require("kubectl")).args(["config", "view", "--raw", "-o", "json", "--kubeconfig"]).arg(path).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "kubectl cannot read {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
