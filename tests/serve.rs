//! Issue 16: `kpki serve` is cfssl's HTTP API. Real cfssl 1.2 clients
//! (`gencert -remote`, `sign -remote`, `info -remote`, authsign through a
//! client config with `auth_remote`, piped into the real cfssljson) against
//! `kpki serve` on a free loopback port, checked with openssl; every bad
//! request gets a 4xx envelope and the server keeps answering; 50
//! concurrent newcert requests; the CA key in no answer and no log line.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const KEY_HEX: &str = "0123456789ABCDEF0123456789ABCDEF";

struct Served {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA (kpki-made) and `kpki serve` on it with profiles `kubernetes`,
/// `authp` (auth_key k1) and `ca` (makes CAs).
fn serve(d: &Path) -> Served {
    let csr = r#"{"CN":"Serve CA","key":{"algo":"ecdsa","size":256},"names":[{"O":"kpki"}]}"#;
    std::fs::write(d.join("ca-csr.json"), csr).unwrap();
    if !d.join("ca.pem").exists() {
        run(Command::new(kpki()).current_dir(d).args(["gencert", "-initca", "-bare", "ca", "ca-csr.json"]));
    }
    std::fs::write(
        d.join("server.json"),
        format!(
            r#"{{"signing":{{"default":{{"expiry":"8760h","usages":["signing","key encipherment","server auth","client auth"]}},
            "profiles":{{"kubernetes":{{"expiry":"8760h","usages":["signing","key encipherment","server auth","client auth"]}},
            "authp":{{"expiry":"720h","usages":["signing","server auth"],"auth_key":"k1"}},
            "ca":{{"expiry":"43800h","usages":["cert sign","crl sign"],"ca_constraint":{{"is_ca":true,"max_path_len":0,"max_path_len_zero":true}}}}}}}},
            "auth_keys":{{"k1":{{"type":"standard","key":"{KEY_HEX}"}}}}}}"#
        ),
    )
    .unwrap();
    let port = free_port();
    let log = d.join("serve.log");
    let child = Command::new(kpki())
        .current_dir(d)
        .args(["serve", "-port", &port.to_string(), "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "server.json"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for_port(port, "kpki serve");
    Served { child, port, log }
}

/// One HTTP/1.1 request; returns (status, body). The Content-Type is a
/// form's, as `curl -d` sends: the server must not care.
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The base64 body of the CA key: it must appear in no answer and no log.
fn key_material(d: &Path) -> Vec<String> {
    let pem = std::fs::read_to_string(d.join("ca-key.pem")).unwrap();
    pem.lines().filter(|l| !l.starts_with("-----") && l.len() > 20).map(str::to_string).collect()
}

fn cfssl(d: &Path) -> Command {
    let mut c = Command::new(real_cfssl_dir().join("cfssl"));
    c.current_dir(d).stdin(Stdio::null());
    c
}

/// `cfssl ... | cfssljson -bare NAME` with the real tools; both must succeed.
fn cfssl_piped(d: &Path, args: &[&str], bare: &str) {
    let dir = real_cfssl_dir();
    let script = format!(
        "set -o pipefail; {} {} | {} -bare {bare}",
        dir.join("cfssl").display(),
        args.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" "),
        dir.join("cfssljson").display()
    );
    let o = Command::new("bash").current_dir(d).args(["-c", &script]).stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "{script}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn real_cfssl_clients_work_against_kpki_serve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = serve(d);
    let remote = format!("http://127.0.0.1:{}", s.port);
    std::fs::write(d.join("admin-csr.json"), r#"{"CN":"admin","key":{"algo":"ecdsa","size":256},"names":[{"O":"system:masters"}]}"#).unwrap();
    // gencert -remote, into the real cfssljson.
    cfssl_piped(d, &["gencert", "-remote", &remote, "-profile", "kubernetes", "admin-csr.json"], "admin");
    assert_openssl_verifies(&d.join("ca.pem"), &d.join("admin.pem"));
    assert_key_matches(&d.join("admin.pem"), &d.join("admin-key.pem"));
    // sign -remote with -hostname: the SANs are replaced.
    run(Command::new(kpki()).current_dir(d).args(["genkey", "-bare", "web", "admin-csr.json"]));
    cfssl_piped(d, &["sign", "-remote", &remote, "-hostname", "web.example.com,10.0.0.7", "web.csr"], "web");
    let o = openssl_verify(&d.join("ca.pem"), &d.join("web.pem"), &["-verify_hostname", "web.example.com"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = openssl_verify(&d.join("ca.pem"), &d.join("web.pem"), &["-verify_ip", "10.0.0.7"]);
    assert!(o.status.success());
    // info -remote: the CA certificate, the profile's usages and expiry.
    let o = run(cfssl(d).args(["info", "-remote", &remote, "-profile", "kubernetes"]));
    let v = json(&String::from_utf8_lossy(&o.stdout));
    let ca = run(Command::new("openssl").current_dir(d).args(["x509", "-in", "ca.pem", "-outform", "DER"])).stdout;
    std::fs::write(d.join("info.pem"), v["certificate"].as_str().unwrap()).unwrap();
    assert_eq!(run(Command::new("openssl").current_dir(d).args(["x509", "-in", "info.pem", "-outform", "DER"])).stdout, ca);
    assert_eq!(v["usages"], serde_json::json!(["signing", "key encipherment", "server auth", "client auth"]));
    assert_eq!(v["expiry"], "8760h");

    // authsign: a client config whose profile names the server's auth key.
    let client = |key: &str| {
        format!(
            r#"{{"signing":{{"default":{{"expiry":"1h","usages":["signing"]}},"profiles":{{"authp":{{"expiry":"720h","usages":["signing","server auth"],"auth_remote":{{"remote":"kpki","auth_key":"k1"}}}}}}}},
            "auth_keys":{{"k1":{{"type":"standard","key":"{key}"}}}},"remotes":{{"kpki":"{remote}"}}}}"#
        )
    };
    std::fs::write(d.join("client.json"), client(KEY_HEX)).unwrap();
    std::fs::write(d.join("wrong.json"), client("00112233445566778899AABBCCDDEEFF")).unwrap();
    cfssl_piped(d, &["gencert", "-remote", &remote, "-config", "client.json", "-profile", "authp", "admin-csr.json"], "authed");
    assert_openssl_verifies(&d.join("ca.pem"), &d.join("authed.pem"));
    let o = cfssl(d).args(["gencert", "-remote", &remote, "-config", "wrong.json", "-profile", "authp", "admin-csr.json"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("invalid token"), "{}", String::from_utf8_lossy(&o.stderr));
    // The auth profile through plain sign (no token) is refused.
    let o = cfssl(d).args(["gencert", "-remote", &remote, "-profile", "authp", "admin-csr.json"]).output().unwrap();
    assert!(!o.status.success() && o.stdout.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(log.contains("POST /api/v1/cfssl/authsign 200") && log.contains("POST /api/v1/cfssl/authsign 401"), "{log}");
    // The access log names the profile and the CN asked for (never a body).
    let authed = log.lines().find(|l| l.contains("POST /api/v1/cfssl/authsign 200")).unwrap();
    assert!(authed.ends_with(r#" profile="authp" cn="admin""#), "{authed}");
}

#[test]
fn newcert_newkey_health_and_certinfo_answer_as_cfssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = serve(d);
    let (status, body) = http(s.port, "GET", "/api/v1/cfssl/health", b"");
    assert_eq!((status, json(&body)), (200, serde_json::json!({"success": true, "result": {"healthy": true}, "errors": [], "messages": []})));
    let (status, body) = http(s.port, "POST", "/api/v1/cfssl/newcert", br#"{"request":{"CN":"node","hosts":["node.example.com","10.0.0.9"],"key":{"algo":"ecdsa","size":256}},"profile":"kubernetes"}"#);
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["success"], true);
    let r = &v["result"];
    for (field, file) in [("certificate", "n.pem"), ("certificate_request", "n.csr"), ("private_key", "n-key.pem")] {
        std::fs::write(d.join(file), r[field].as_str().unwrap_or_else(|| panic!("no {field}: {body}"))).unwrap();
    }
    assert_openssl_verifies(&d.join("ca.pem"), &d.join("n.pem"));
    assert_key_matches(&d.join("n.pem"), &d.join("n-key.pem"));
    // sums: MD5 and SHA-1 of the DER, upper-case hex (computed by python here).
    let sums = run(Command::new("python3").current_dir(d).args([
        "-c",
        "import ssl,hashlib,json; d=ssl.PEM_cert_to_DER_cert(open('n.pem').read()); print(json.dumps({'md5':hashlib.md5(d).hexdigest().upper(),'sha-1':hashlib.sha1(d).hexdigest().upper()}))",
    ]));
    assert_eq!(r["sums"]["certificate"], json(&String::from_utf8_lossy(&sums.stdout)));
    assert!(r["sums"]["certificate_request"]["md5"].is_string());
    let (status, body) = http(s.port, "POST", "/api/v1/cfssl/newkey", br#"{"CN":"k","hosts":["k.example.com"],"key":{"algo":"rsa","size":2048}}"#);
    assert_eq!(status, 200, "{body}");
    assert!(json(&body)["result"]["private_key"].as_str().unwrap().contains("RSA PRIVATE KEY"));
    let cert = std::fs::read_to_string(d.join("n.pem")).unwrap();
    let (status, body) = http(s.port, "POST", "/api/v1/cfssl/certinfo", serde_json::json!({"certificate": cert}).to_string().as_bytes());
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["result"]["sans"], serde_json::json!(["node.example.com", "10.0.0.9"]));
    // init_ca is off unless the server allows it.
    let (status, body) = http(s.port, "POST", "/api/v1/cfssl/init_ca", br#"{"CN":"x"}"#);
    assert_eq!(status, 403, "{body}");
}

#[test]
fn bad_requests_get_4xx_envelopes_nothing_is_issued_and_the_server_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = serve(d);
    run(Command::new(kpki()).current_dir(d).args(["genkey", "-bare", "x", "ca-csr.json"]));
    let csr = std::fs::read_to_string(d.join("x.csr")).unwrap();
    // A CSR whose signature does not verify: one base64 character changed in its signature.
    let mut lines: Vec<String> = csr.lines().map(str::to_string).collect();
    let n = lines.len() - 2;
    let last: String = lines[n].chars().rev().enumerate().map(|(i, c)| if i == 3 { if c == 'A' { 'B' } else { 'A' } } else { c }).collect::<String>().chars().rev().collect();
    lines[n] = last;
    let tampered = lines.join("\n") + "\n";
    let long = "a".repeat(100_000);
    let cases: Vec<(&str, &str, String, u16)> = vec![
        ("POST", "sign", "{not json".into(), 400),
        ("POST", "sign", "[]".into(), 400),
        ("POST", "sign", "{}".into(), 400),
        ("POST", "sign", serde_json::json!({"certificate_request": tampered}).to_string(), 400),
        ("POST", "sign", serde_json::json!({"certificate_request": csr, "profile": "nosuch"}).to_string(), 400),
        ("POST", "sign", serde_json::json!({"certificate_request": csr, "hosts": ["10.32.0.256"]}).to_string(), 400),
        ("POST", "sign", serde_json::json!({"certificate_request": csr, "profile": "authp"}).to_string(), 401),
        ("POST", "newcert", r#"{"request":{}}"#.into(), 400),
        ("POST", "newcert", r#"{"request":{"CN":"x","hosts":["a b"]}}"#.into(), 400),
        ("POST", "newcert", serde_json::json!({"request": {"CN": long}}).to_string(), 400),
        ("POST", "newcert", r#"{"request":{"CN":"x"},"profile":"authp"}"#.into(), 401),
        ("POST", "authsign", r#"{"token":"AAAA","request":"e30="}"#.into(), 400),
        ("GET", "sign", String::new(), 405),
        ("POST", "nosuch", "{}".into(), 404),
        ("POST", "health", "{}".into(), 405),
    ];
    for (method, ep, body, want) in &cases {
        let (status, answer) = http(s.port, method, &format!("/api/v1/cfssl/{ep}"), body.as_bytes());
        assert_eq!(status, *want, "{method} {ep} {}: {answer}", &body.chars().take(80).collect::<String>());
        let v = json(&answer);
        assert_eq!(v["success"], false, "{answer}");
        assert!(v["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty() && !m.contains('\n')), "{answer}");
        assert!(v["result"].is_null(), "nothing issued: {answer}");
    }
    let (status, _) = http(s.port, "GET", "/elsewhere", b"");
    assert_eq!(status, 404);
    // A CSR asking for CA:TRUE: only through a profile that makes CAs.
    let ca_csr = run(Command::new("openssl").current_dir(d).args([
        "req", "-new", "-key", "x-key.pem", "-subj", "/CN=sub CA", "-addext", "basicConstraints=critical,CA:TRUE",
    ]));
    let ca_csr = String::from_utf8_lossy(&ca_csr.stdout).into_owned();
    let (status, _) = http(s.port, "POST", "/api/v1/cfssl/sign", serde_json::json!({"certificate_request": ca_csr}).to_string().as_bytes());
    assert_eq!(status, 400);
    let (status, body) = http(s.port, "POST", "/api/v1/cfssl/sign", serde_json::json!({"certificate_request": ca_csr, "profile": "ca"}).to_string().as_bytes());
    assert_eq!(status, 200, "{body}");

    // 128 MiB sent at it: refused while it streams, memory stays put.
    let rss = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
        status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    let before = rss();
    let mut sock = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    sock.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let size = 128usize << 20;
    sock.write_all(format!("POST /api/v1/cfssl/sign HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n").as_bytes()).unwrap();
    let chunk = vec![b'{'; 1 << 20];
    let mut sent = 0;
    while sent < size {
        if sock.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    let mut answer = Vec::new();
    let _ = sock.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{}", answer.chars().take(200).collect::<String>());
    let after = rss();
    assert!(after < before + 16 * 1024, "RSS grew from {before} kB to {after} kB on a 128 MiB body");
    let (status, _) = http(s.port, "GET", "/api/v1/cfssl/health", b"");
    assert_eq!(status, 200, "still answering");
}

#[test]
fn fifty_concurrent_newcerts_get_distinct_serials_and_the_ca_key_is_in_no_answer_or_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = serve(d);
    let port = s.port;
    let start = Instant::now();
    let answers: Vec<String> = (0..50)
        .map(|i| {
            std::thread::spawn(move || {
                let body = format!(r#"{{"request":{{"CN":"n{i}","hosts":["n{i}.example.com"],"key":{{"algo":"ecdsa","size":256}}}}}}"#);
                let (status, answer) = http(port, "POST", "/api/v1/cfssl/newcert", body.as_bytes());
                assert_eq!(status, 200, "{answer}");
                answer
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(start.elapsed() < Duration::from_secs(120));
    let mut serials = std::collections::BTreeSet::new();
    for (i, a) in answers.iter().enumerate() {
        let pem = json(a)["result"]["certificate"].as_str().unwrap().to_string();
        let path = d.join(format!("c{i}.pem"));
        std::fs::write(&path, &pem).unwrap();
        let o = run(Command::new("openssl").args(["x509", "-noout", "-serial", "-in"]).arg(&path));
        serials.insert(String::from_utf8_lossy(&o.stdout).into_owned());
    }
    assert_eq!(serials.len(), 50, "every certificate has its own serial");
    // The CA key: in no answer, no log line.
    let secret = key_material(d);
    let log = std::fs::read_to_string(&s.log).unwrap();
    for line in &secret {
        assert!(!answers.iter().any(|a| a.contains(line.as_str())), "an answer holds the CA key");
        assert!(!log.contains(line.as_str()), "the log holds the CA key");
    }
    assert_eq!(log.lines().filter(|l| l.contains("POST /api/v1/cfssl/newcert 200")).count(), 50, "{log}");
    for i in 0..50 {
        assert!(log.lines().any(|l| l.contains("POST /api/v1/cfssl/newcert 200") && l.ends_with(&format!(r#" profile="default" cn="n{i}""#))), "n{i}: {log}");
    }
    // SIGTERM: a graceful stop.
    let mut s = s;
    let _ = Command::new("kill").args(["-TERM", &s.child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "kpki serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn kpkis_remote_client_works_against_real_cfssl_serve_and_kpki_serve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ours = serve(d);
    // Real cfssl serve on the same CA and config.
    let port = free_port();
    let log = std::fs::File::create(d.join("cfssl-serve.log")).unwrap();
    let _theirs = Server(
        cfssl(d)
            .args(["serve", "-port", &port.to_string(), "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "server.json"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, "cfssl serve");
    std::fs::write(d.join("node-csr.json"), r#"{"CN":"system:node:n1","hosts":["n1","10.0.0.21"],"key":{"algo":"ecdsa","size":256},"names":[{"O":"system:nodes"}]}"#).unwrap();
    std::fs::write(d.join("client.json"), format!(r#"{{"signing":{{"default":{{"expiry":"1h","usages":["signing"]}},"profiles":{{"authp":{{"expiry":"720h","usages":["signing","server auth"],"auth_key":"k1"}}}}}},"auth_keys":{{"k1":{{"type":"standard","key":"{KEY_HEX}"}}}}}}"#)).unwrap();
    std::fs::write(d.join("wrong.json"), r#"{"signing":{"default":{"expiry":"1h","usages":["signing"]},"profiles":{"authp":{"expiry":"720h","usages":["signing","server auth"],"auth_key":"k1"}}},"auth_keys":{"k1":{"type":"standard","key":"00112233445566778899AABBCCDDEEFF"}}}"#).unwrap();
    let k = || {
        let mut c = Command::new(kpki());
        c.current_dir(d).stdin(Stdio::null());
        c
    };
    for (name, remote) in [("cfssl", format!("127.0.0.1:{port}")), ("kpki", format!("http://127.0.0.1:{}", ours.port))] {
        let stem = format!("{name}-node");
        run(k().args(["gencert", "-remote", &remote, "-profile", "kubernetes", "-bare", &stem, "node-csr.json"]));
        assert_openssl_verifies(&d.join("ca.pem"), &d.join(format!("{stem}.pem")));
        assert_key_matches(&d.join(format!("{stem}.pem")), &d.join(format!("{stem}-key.pem")));
        let o = run(k().args(["sign", "-remote", &remote, "-hostname", "n1.example.com", &format!("{stem}.csr")]));
        let v = json(&String::from_utf8_lossy(&o.stdout));
        std::fs::write(d.join(format!("{stem}-2.pem")), v["cert"].as_str().unwrap()).unwrap();
        assert!(openssl_verify(&d.join("ca.pem"), &d.join(format!("{stem}-2.pem")), &["-verify_hostname", "n1.example.com"]).status.success());
        let o = run(k().args(["info", "-remote", &remote, "-profile", "kubernetes"]));
        let v = json(&String::from_utf8_lossy(&o.stdout));
        assert_eq!(v["expiry"], "8760h", "{name}: {v}");
        // authsign with the right key, and the wrong one.
        run(k().args(["gencert", "-remote", &remote, "-config", "client.json", "-profile", "authp", "-bare", &format!("{name}-auth"), "node-csr.json"]));
        assert_openssl_verifies(&d.join("ca.pem"), &d.join(format!("{name}-auth.pem")));
        let o = k().args(["gencert", "-remote", &remote, "-config", "wrong.json", "-profile", "authp", "node-csr.json"]).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(o.stdout.is_empty());
    }
    let theirs_log = std::fs::read_to_string(d.join("cfssl-serve.log")).unwrap();
    assert!(theirs_log.contains("\"POST /api/v1/cfssl/authsign\" 200"), "{theirs_log}");
    // An unreachable server: one line, exit 1, bounded.
    let closed = free_port();
    let o = k().args(["info", "-remote", &format!("127.0.0.1:{closed}")]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
}

#[test]
fn https_mutual_tls_and_a_slow_client_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plain = serve(d); // makes the CA and config
    drop(plain);
    std::fs::write(d.join("tls-csr.json"), r#"{"CN":"127.0.0.1","hosts":["127.0.0.1","localhost"],"key":{"algo":"ecdsa","size":256}}"#).unwrap();
    let k = || {
        let mut c = Command::new(kpki());
        c.current_dir(d).stdin(Stdio::null());
        c
    };
    run(k().args(["gencert", "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-bare", "tls", "tls-csr.json"]));
    std::fs::write(d.join("client-csr.json"), r#"{"CN":"ops","key":{"algo":"ecdsa","size":256}}"#).unwrap();
    run(k().args(["gencert", "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-bare", "client", "client-csr.json"]));
    let port = free_port();
    let _s = Server(
        k().args(["serve", "-port", &port.to_string(), "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "server.json", "-tls-cert", "tls.pem", "-tls-key", "tls-key.pem", "-mutual-tls-ca", "ca.pem"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, "kpki serve (TLS)");
    // python's ssl: with the client certificate the API answers; without, the handshake fails.
    let py = |with_cert: bool| {
        let load = if with_cert { "c.load_cert_chain('client.pem', 'client-key.pem'); " } else { "" };
        let script = format!(
            "import ssl, socket, json\nc = ssl.create_default_context(cafile='ca.pem'); {load}\ntry:\n  s = c.wrap_socket(socket.create_connection(('127.0.0.1', {port}), timeout=10), server_hostname='127.0.0.1')\n  s.sendall(b'GET /api/v1/cfssl/health HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n  data = b''\n  while True:\n    b = s.recv(4096)\n    if not b: break\n    data += b\n  print(data.split(b'\\r\\n')[0].decode())\nexcept (ssl.SSLError, ConnectionResetError, OSError) as e:\n  print('refused', type(e).__name__)\n"
        );
        String::from_utf8_lossy(&run(Command::new("python3").current_dir(d).args(["-c", &script])).stdout).trim().to_string()
    };
    assert_eq!(py(true), "HTTP/1.1 200 OK");
    assert!(py(false).starts_with("refused"), "{}", py(false));
    // kpki's https client: the server's CA given with -tls-remote-ca (no client cert: refused).
    let o = k().args(["info", "-remote", &format!("https://127.0.0.1:{port}"), "-tls-remote-ca", "ca.pem"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "mutual TLS needs a client certificate");

    // A plain server: a client that never finishes its headers is cut off.
    let s = serve(d);
    let mut sock = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    sock.write_all(b"POST /api/v1/cfssl/sign HTTP/1.1\r\nHost: x\r\n").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let _ = sock.read_to_end(&mut buf);
    assert!(start.elapsed() < Duration::from_secs(25), "the connection stayed open {:?}", start.elapsed());
    let (status, _) = http(s.port, "GET", "/api/v1/cfssl/health", b"");
    assert_eq!(status, 200);
}

#[test]
fn the_access_log_as_json_lines_with_output_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    drop(serve(d)); // the CA and config
    let port = free_port();
    let log = d.join("json.log");
    let _s = Server(
        Command::new(kpki())
            .current_dir(d)
            .args(["serve", "-port", &port.to_string(), "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "server.json", "--output", "json"])
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, "kpki serve");
    assert_eq!(http(port, "GET", "/api/v1/cfssl/health", b"").0, 200);
    std::thread::sleep(Duration::from_millis(200));
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text.lines().find(|l| l.contains("/api/v1/cfssl/health")).unwrap_or_else(|| panic!("{text}"));
    let v = json(line);
    assert_eq!((v["method"].as_str(), v["status"].as_u64()), (Some("GET"), Some(200)), "{line}");
    // A request's profile and CN, as JSON strings whatever they hold.
    let (status, _) = http(port, "POST", "/api/v1/cfssl/newcert", br#"{"request":{"CN":"web \"one\"","hosts":["web.example.com"]},"profile":"kubernetes"}"#);
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(200));
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text.lines().find(|l| l.contains("/api/v1/cfssl/newcert")).unwrap_or_else(|| panic!("{text}"));
    let v = json(line);
    assert_eq!((v["profile"].as_str(), v["cn"].as_str(), v["status"].as_u64()), (Some("kubernetes"), Some("web \"one\""), Some(200)), "{line}");
    assert!(v.get("request").is_none() && !line.contains("PRIVATE KEY"), "{line}");
    // A refused request is logged with what it asked for.
    let (status, _) = http(port, "POST", "/api/v1/cfssl/newcert", br#"{"request":{"CN":"evil\u202eroot"},"profile":"nope"}"#);
    assert_eq!(status, 400);
    std::thread::sleep(Duration::from_millis(200));
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text.lines().rfind(|l| l.contains("/api/v1/cfssl/newcert")).unwrap();
    let v = json(line);
    assert_eq!((v["profile"].as_str(), v["cn"].as_str(), v["status"].as_u64()), (Some("nope"), Some("evil\u{202e}root"), Some(400)), "{line}");
    assert!(line.contains("\\u202e") && !line.contains('\u{202e}'), "{line}");
}
