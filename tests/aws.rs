//! `kpki bootstrap --provider aws` and `kpki destroy` against a real AWS
//! emulator (moto, started here on 127.0.0.1 with a free port and the
//! fixture image list). The end state is read back with boto3, an
//! implementation independent of kpki's.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// A moto server for one test.
struct Moto {
    port: u16,
    _server: Server,
}

fn moto() -> Moto {
    let bin = require("moto_server");
    // Another test may take the free port before moto binds it (moto then
    // exits): try again with another port rather than talk to a stranger.
    for _ in 0..5 {
        let port = free_port();
        let mut server = Server(
            Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("MOTO_AMIS_PATH", repo().join("fixtures/moto-amis.json"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for_port(port, "moto_server");
        std::thread::sleep(Duration::from_millis(200));
        if server.0.try_wait().unwrap().is_none() {
            return Moto { port, _server: server };
        }
    }
    panic!("moto_server did not stay up on any of five free ports");
}

fn endpoint(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// kpki with the emulator's endpoint and throwaway credentials.
fn kpki_aws(port: u16, dir: &Path) -> Command {
    let mut c = Command::new(kpki());
    c.current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint(port))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-2")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null());
    c
}

fn state(port: u16, cluster: &str) -> Value {
    let out = run(Command::new("python3").arg(repo().join("tests/aws_state.py")).arg(endpoint(port)).arg(cluster));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn config_named(name: &str) -> String {
    seed_with("name = \"k8s-cluster\"", &format!("name = \"{name}\""))
}

fn bootstrap_aws(port: u16, dir: &Path, config: &str) -> Output {
    std::fs::write(dir.join("cluster.toml"), config).unwrap();
    kpki_aws(port, dir).args(["bootstrap", "--provider", "aws", "--config", "cluster.toml", "--out", "pki", "--ssh-dir", "ssh"]).output().unwrap()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "kpki failed: {}{}", String::from_utf8_lossy(&o.stderr), String::from_utf8_lossy(&o.stdout));
}

/// Exactly one of everything, as the seed describes it.
fn assert_end_state(s: &Value, cluster: &str) {
    let one = |k: &str| {
        let n = s[k].as_array().unwrap().len();
        assert_eq!(n, 1, "{k}: expected exactly one, found {n}: {}", s[k]);
        &s[k][0]
    };
    let vpc = one("vpcs");
    assert_eq!(vpc["cidr"], "172.31.0.0/16");
    assert_eq!(vpc["dns_support"], true);
    assert_eq!(vpc["dns_hostnames"], true);
    let dhcp = one("dhcp");
    assert_eq!(vpc["dhcp"], dhcp["id"]);
    assert_eq!(dhcp["config"]["domain-name"][0], "us-east-2.compute.internal");
    assert_eq!(dhcp["config"]["domain-name-servers"][0], "AmazonProvidedDNS");
    let subnet = one("subnets");
    assert_eq!(subnet["cidr"], "172.31.0.0/24");
    assert_eq!(subnet["vpc"], vpc["id"]);
    let igw = one("igws");
    assert_eq!(igw["vpcs"][0], vpc["id"]);
    let rt = one("route_tables");
    assert_eq!(rt["subnets"][0], subnet["id"]);
    assert_eq!(rt["default_gw"], igw["id"]);
    let sg = one("sgs");
    assert_eq!(sg["name"], cluster);
    let rules: Vec<String> = sg["rules"].as_array().unwrap().iter().map(|r| r.to_string()).collect();
    for want in [
        r#"["tcp",2379,2380,"172.31.0.0/24"]"#,
        r#"["tcp",30000,32767,"172.31.0.0/24"]"#,
        r#"["tcp",6443,6443,"0.0.0.0/0"]"#,
        r#"["tcp",22,22,"0.0.0.0/0"]"#,
        r#"["icmp",-1,-1,"0.0.0.0/0"]"#,
    ] {
        assert!(rules.contains(&want.to_string()), "missing rule {want} in {rules:?}");
    }
    assert_eq!(rules.len(), 5);
    assert_eq!(s["key_pairs"].as_array().unwrap().len(), 1);
    let lb = one("lbs");
    assert_eq!(lb["scheme"], "internet-facing");
    assert_eq!(lb["type"], "network");
    assert_eq!(lb["tags"][format!("kubernetes.io/cluster/{cluster}")], "owned");
    let tg = one("tgs");
    assert_eq!((tg["port"].as_i64(), tg["protocol"].as_str(), tg["target_type"].as_str()), (Some(6443), Some("TCP"), Some("ip")));
    assert_eq!(tg["targets"], serde_json::json!(["172.31.0.10", "172.31.0.11", "172.31.0.12"]));
    let l = one("listeners");
    assert_eq!((l["port"].as_i64(), l["protocol"].as_str()), (Some(6443), Some("TCP")));
    assert_eq!(l["tg"], tg["arn"]);
    let inst = s["instances"].as_array().unwrap();
    assert_eq!(inst.len(), 6, "{inst:?}");
    for (i, want) in [("master-0", "172.31.0.10"), ("master-1", "172.31.0.11"), ("master-2", "172.31.0.12"), ("worker-0", "172.31.0.20"), ("worker-1", "172.31.0.21"), ("worker-2", "172.31.0.22")].iter().enumerate() {
        // The tutorial's Name tags: `${NAME}-master-${i}`.
        let tagged = format!("{cluster}-{}", want.0);
        let x = &inst[i];
        assert_eq!(x["name"], tagged.as_str());
        assert_eq!(x["private_ip"], want.1);
        assert_eq!(x["type"], "t2.micro");
        assert_eq!(x["image"], "ami-0a1b2c3d4e5f60001", "the tutorial's image from Canonical, not the impostor");
        assert_eq!(x["key"], cluster);
        assert_eq!(x["subnet"], subnet["id"]);
        assert_eq!(x["sgs"][0], sg["id"]);
        assert_eq!(x["source_dest_check"], false);
        assert!(x["public_ip"].is_string(), "{x}");
        let ud = x["user_data"].as_str().unwrap();
        if want.0.starts_with("worker") {
            let n = &want.0[7..];
            assert_eq!(ud, format!("name={}|pod-cidr=172.20.{n}.0/24", want.0));
        } else {
            assert_eq!(ud, format!("name={}", want.0));
        }
    }
}

#[test]
fn bootstrap_builds_the_seed_and_certs_carry_the_real_addresses_then_destroy_cleans_up() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cluster = "k8s-cluster";
    // Dry run first: nothing is created.
    let o = kpki_aws(m.port, d).args(["bootstrap", "--provider", "aws", "--out", "pki", "--dry-run"]).output().unwrap();
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("would create VPC 172.31.0.0/16"));
    assert_eq!(state(m.port, cluster)["tagged_count"], 0);
    assert!(!d.join("pki").exists());

    let o = bootstrap_aws(m.port, d, kpki::model::cluster::DEFAULT_TOML);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("warning: admin_cidr is 0.0.0.0/0"), "{err}");
    let s = state(m.port, cluster);
    assert_end_state(&s, cluster);
    // The private key AWS returned once is saved, 0400.
    let key = d.join("ssh/k8s-cluster.id_rsa");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o400);
    assert!(std::fs::read_to_string(&key).unwrap().contains("PRIVATE KEY"));

    // The certificates carry the emulator's names and addresses.
    let pki = d.join("pki");
    let ca = pki.join("ca.pem");
    let lb_dns = s["lbs"][0]["dns"].as_str().unwrap();
    let api = pki.join("master-kubernetes.pem");
    assert!(openssl_verify(&ca, &api, &["-verify_hostname", lb_dns]).status.success(), "apiserver cert lacks {lb_dns}");
    for ip in ["172.31.0.10", "172.31.0.11", "172.31.0.12", "10.32.0.1"] {
        assert!(openssl_verify(&ca, &api, &["-verify_ip", ip]).status.success(), "apiserver cert lacks {ip}");
    }
    for w in s["instances"].as_array().unwrap().iter().filter(|i| i["role"] == "worker") {
        let host = w["private_dns"].as_str().unwrap().split('.').next().unwrap().to_string();
        let cert = pki.join(format!("{host}.pem"));
        assert!(cert.exists(), "no kubelet cert named after the instance's host name {host}");
        assert!(openssl_verify(&ca, &cert, &["-verify_hostname", &host]).status.success());
        assert!(openssl_verify(&ca, &cert, &["-verify_ip", w["private_ip"].as_str().unwrap()]).status.success());
        let kc = std::fs::read_to_string(pki.join(format!("{host}.kubeconfig"))).unwrap();
        assert!(kc.contains(&format!("https://{lb_dns}:6443")));
    }
    let inv: Value = serde_json::from_slice(&std::fs::read(pki.join("inventory.json")).unwrap()).unwrap();
    assert_eq!(inv["api_address"], lb_dns);
    run(Command::new(kpki()).args(["verify", "--dir"]).arg(&pki));

    // A second run changes nothing, in AWS or on disk.
    let before = snapshot(&pki);
    let o = bootstrap_aws(m.port, d, kpki::model::cluster::DEFAULT_TOML);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing was created"));
    assert_eq!(state(m.port, cluster), s);
    assert_eq!(snapshot(&pki), before);

    // destroy refuses to run unattended without --yes, then deletes everything.
    let o = kpki_aws(m.port, d).args(["destroy", "--provider", "aws"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--yes"));
    ok(&kpki_aws(m.port, d).args(["destroy", "--provider", "aws", "--yes"]).output().unwrap());
    let after = state(m.port, cluster);
    assert_eq!(after["tagged_count"], 0, "{after}");
    assert!(after["instances"].as_array().unwrap().is_empty());
    assert!(after["lbs"].as_array().unwrap().is_empty());
    assert!(after["tgs"].as_array().unwrap().is_empty());
    assert!(after["key_pairs"].as_array().unwrap().is_empty());
}

#[test]
fn a_killed_run_resumes_without_duplicates() {
    let m = moto();
    for (n, delay_ms) in [100u64, 300, 600, 1000].into_iter().enumerate() {
        let cluster = format!("kill-{n}");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("cluster.toml"), config_named(&cluster)).unwrap();
        let mut child = kpki_aws(m.port, d)
            .args(["bootstrap", "--provider", "aws", "--config", "cluster.toml", "--out", "pki", "--ssh-dir", "ssh"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let o = bootstrap_aws(m.port, d, &config_named(&cluster));
        ok(&o);
        assert_end_state(&state(m.port, &cluster), &cluster);
        run(Command::new(kpki()).args(["verify", "--dir"]).arg(d.join("pki")));
    }
}

/// A loopback proxy in front of the emulator that answers some calls with
/// throttling errors and drops the connection on others.
struct FaultProxy {
    port: u16,
    throttled: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

fn fault_proxy(upstream: u16) -> FaultProxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let throttled = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    let (t, dr) = (throttled.clone(), dropped.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (t, dr, seen) = (t.clone(), dr.clone(), seen.clone());
            std::thread::spawn(move || serve(conn, upstream, &seen, &t, &dr));
        }
    });
    FaultProxy { port, throttled, dropped }
}

/// Reads one HTTP request (headers and Content-Length body).
fn read_request(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = conn.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf);
        }
    }
}

fn serve(mut conn: TcpStream, upstream: u16, seen: &AtomicUsize, throttled: &AtomicUsize, dropped: &AtomicUsize) {
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok();
    // One request per connection: every answer below ends it.
    if let Some(req) = read_request(&mut conn) {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        let text = String::from_utf8_lossy(&req);
        if n.is_multiple_of(7) {
            // Drop the connection without an answer.
            dropped.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if n.is_multiple_of(3) {
            throttled.fetch_add(1, Ordering::SeqCst);
            let body = if text.contains("Version=2015-12-01") {
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
            } else {
                "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>proxy</RequestID></Response>"
            };
            let resp = format!("HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = conn.write_all(resp.as_bytes());
            return;
        }
        // Forward one request with Connection: close, relay the answer.
        let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
        let end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
        let head = String::from_utf8_lossy(&req[..end]);
        let mut new_head: Vec<String> = head.lines().filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).map(str::to_string).collect();
        new_head.push("Connection: close".into());
        let mut out = new_head.join("\r\n").into_bytes();
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&req[end + 4..]);
        if up.write_all(&out).is_err() {
            return;
        }
        let mut resp = Vec::new();
        let _ = up.read_to_end(&mut resp);
        let _ = conn.write_all(&resp);
    }
}

#[test]
fn throttling_and_dropped_connections_are_retried() {
    let m = moto();
    let proxy = fault_proxy(m.port);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cluster = "flaky";
    std::fs::write(d.join("cluster.toml"), config_named(cluster)).unwrap();
    let mut outcome = None;
    // The SDK's retries should carry the run; if a call still fails, the
    // error must be clear and a re-run must converge.
    for _attempt in 0..3 {
        let o = kpki_aws(proxy.port, d)
            .args(["bootstrap", "--provider", "aws", "--config", "cluster.toml", "--out", "pki", "--ssh-dir", "ssh"])
            .output()
            .unwrap();
        if o.status.success() {
            outcome = Some(o);
            break;
        }
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.lines().count() <= 2 && err.contains("kpki: error:"), "{err}");
    }
    ok(&outcome.expect("bootstrap through the faulty proxy never succeeded"));
    assert!(proxy.throttled.load(Ordering::SeqCst) > 5, "the proxy throttled too few calls to test anything");
    assert!(proxy.dropped.load(Ordering::SeqCst) > 2);
    assert_end_state(&state(m.port, cluster), cluster);
}

#[test]
fn clear_errors_for_missing_credentials_and_a_missing_ami() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = kpki_aws(m.port, d)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_MAX_ATTEMPTS", "1")
        .args(["bootstrap", "--provider", "aws", "--out", "pki"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no AWS credentials were found"), "{err}");
    assert!(!d.join("pki").exists());

    let cfg = config_named("noami").replace("pro-server-20221202\"", "pro-server-1999*\"");
    let o = bootstrap_aws(m.port, d, &cfg);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    // The image is looked up before anything is created.
    assert!(err.contains("no AMI named") && err.contains("nothing was created"), "{err}");
    assert_eq!(state(m.port, "noami")["tagged_count"], 0);
    // With a good image the run goes through.
    let o = bootstrap_aws(m.port, d, &config_named("noami"));
    ok(&o);
    assert_end_state(&state(m.port, "noami"), "noami");
}

/// A loopback server that answers every request with HTTP 500 and an HTML
/// page (what a broken proxy or endpoint sends), counting the requests.
fn always_500() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(50) {
            let Ok(mut conn) = conn else { continue };
            if read_request(&mut conn).is_some() {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = "<html><body><h1>500 Internal Server Error</h1></body></html>";
                let _ = write!(conn, "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            }
        }
    });
    (port, seen)
}

#[test]
fn endpoint_failures_are_one_line_with_operation_endpoint_status_and_attempts() {
    let tmp = tempfile::tempdir().unwrap();
    let (port, seen) = always_500();
    let o = kpki_aws(port, tmp.path()).env("AWS_MAX_ATTEMPTS", "2").args(["bootstrap", "--provider", "aws", "--out", "pki"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    let line = err.lines().find(|l| l.starts_with("kpki: error:")).unwrap_or_else(|| panic!("no error line: {err}"));
    assert_eq!(err.lines().filter(|l| l.starts_with("kpki: error:")).count(), 1, "{err}");
    assert!(line.len() < 300, "the error is a dump, not a line: {line}");
    assert!(line.contains(&format!("http://127.0.0.1:{port}")), "{line}");
    assert!(line.contains("HTTP 500"), "{line}");
    assert!(line.contains("after 2 attempts"), "{line}");
    assert!(line.contains("Describe"), "names the operation: {line}");
    assert!(!line.contains("SdkError") && !line.contains("{") && !line.contains("ServiceError"), "{line}");
    assert!(seen.load(Ordering::SeqCst) >= 2, "the SDK retried as configured");
    // Nothing listening (port 1, tcpmux, is never served here): the
    // connection failure, as one line.
    let dead: u16 = 1;
    let o = kpki_aws(dead, tmp.path()).env("AWS_MAX_ATTEMPTS", "1").args(["bootstrap", "--provider", "aws", "--out", "pki"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    let line = err.lines().find(|l| l.starts_with("kpki: error:")).unwrap();
    assert!(line.len() < 300 && line.contains("connection failed") && line.contains("127.0.0.1:1 "), "{line}");
    assert!(!tmp.path().join("pki").exists());
}

#[test]
fn user_tags_reach_every_resource_and_destroy_lists_before_deleting() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cluster = "tagged";
    let config = config_named(cluster).replacen("[aws]\n", "[aws]\ntags = { team = \"platform\", \"cost-center\" = \"42\" }\n", 1);
    ok(&bootstrap_aws(m.port, d, &config));
    let s = state(m.port, cluster);
    let has = |v: &Value| v["tags"]["team"] == "platform" && v["tags"]["cost-center"] == "42" && v["tags"][format!("kubernetes.io/cluster/{cluster}")] == "owned";
    for kind in ["vpcs", "subnets", "instances", "lbs"] {
        let items = s[kind].as_array().unwrap();
        assert!(!items.is_empty(), "{kind}");
        for item in items {
            assert!(has(item), "{kind} lacks the user's tags: {item}");
        }
    }
    // A tag kpki owns is refused before anything is called.
    std::fs::write(d.join("bad.toml"), config_named("bad").replacen("[aws]\n", "[aws]\ntags = { Name = \"x\" }\n", 1)).unwrap();
    let o = kpki_aws(m.port, d).args(["bootstrap", "--provider", "aws", "--config", "bad.toml", "--out", "bad"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("aws.tags"), "{}", String::from_utf8_lossy(&o.stderr));

    // destroy --dry-run lists (type, id, name) of everything and deletes nothing.
    let o = kpki_aws(m.port, d).args(["destroy", "--provider", "aws", "--config", "cluster.toml", "--dry-run"]).output().unwrap();
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.lines().next().unwrap().starts_with("TYPE"), "{out}");
    for i in s["instances"].as_array().unwrap() {
        let id = i["id"].as_str().unwrap();
        assert!(out.lines().any(|l| l.starts_with("instance") && l.contains(id) && l.contains(i["name"].as_str().unwrap())), "{id} not listed: {out}");
    }
    for (kind, key) in [("vpc", "vpcs"), ("subnet", "subnets")] {
        let id = s[key][0]["id"].as_str().unwrap();
        assert!(out.lines().any(|l| l.starts_with(kind) && l.contains(id)), "{kind} {id} not listed: {out}");
    }
    assert!(out.lines().any(|l| l.starts_with("load-balancer")), "{out}");
    assert!(out.contains("nothing was deleted"), "{out}");
    assert_eq!(state(m.port, cluster), s, "a dry run deleted something");
    ok(&kpki_aws(m.port, d).args(["destroy", "--provider", "aws", "--config", "cluster.toml", "--yes"]).output().unwrap());
    assert_eq!(state(m.port, cluster)["tagged_count"], 0);
    let o = kpki_aws(m.port, d).args(["destroy", "--provider", "aws", "--config", "cluster.toml", "--dry-run"]).output().unwrap();
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing is tagged"), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn destroy_keeps_a_key_pair_it_did_not_create() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cluster = "mine";
    // The user's own key pair, untagged, named as the cluster (kpki's default key_name).
    let py = format!(
        "import boto3; boto3.client('ec2', endpoint_url='{}', region_name='us-east-2', aws_access_key_id='testing', aws_secret_access_key='testing').create_key_pair(KeyName='{cluster}')",
        endpoint(m.port)
    );
    run(Command::new("python3").args(["-c", &py]));
    ok(&bootstrap_aws(m.port, d, &config_named(cluster)));
    let o = kpki_aws(m.port, d).args(["destroy", "--provider", "aws", "--config", "cluster.toml", "--dry-run"]).output().unwrap();
    ok(&o);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("key-pair"), "{}", String::from_utf8_lossy(&o.stdout));
    ok(&kpki_aws(m.port, d).args(["destroy", "--provider", "aws", "--config", "cluster.toml", "--yes"]).output().unwrap());
    let after = state(m.port, cluster);
    assert_eq!(after["key_pairs"], serde_json::json!([cluster]), "the user's key pair was deleted: {after}");
    assert!(after["instances"].as_array().unwrap().is_empty());
}

#[test]
fn instances_carry_the_tutorials_names_and_an_earlier_kpkis_are_re_tagged() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cluster = "retag";
    ok(&bootstrap_aws(m.port, d, &config_named(cluster)));
    let ec2 = format!(
        "import boto3, json, sys; ec2 = boto3.client('ec2', endpoint_url='{}', region_name='us-east-2', aws_access_key_id='testing', aws_secret_access_key='testing')",
        endpoint(m.port)
    );
    // The tutorial's later steps find an instance by its Name tag.
    let find = format!(
        "{ec2}; r = ec2.describe_instances(Filters=[{{'Name': 'tag:Name', 'Values': ['{cluster}-master-0']}}, {{'Name': 'instance-state-name', 'Values': ['running']}}]); print(json.dumps([i['InstanceId'] for x in r['Reservations'] for i in x['Instances']]))"
    );
    let found: Vec<String> = serde_json::from_slice(&run(Command::new("python3").args(["-c", &find])).stdout).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    // Name them as kpki before the tutorial's names did (`master-0`)...
    let legacy = format!(
        "{ec2}; r = ec2.describe_instances(Filters=[{{'Name': 'tag:kubernetes.io/cluster/{cluster}', 'Values': ['owned']}}])\nfor x in r['Reservations']:\n    for i in x['Instances']:\n        n = [t['Value'] for t in i['Tags'] if t['Key'] == 'Name'][0]\n        ec2.create_tags(Resources=[i['InstanceId']], Tags=[{{'Key': 'Name', 'Value': n[len('{cluster}-'):]}}])"
    );
    run(Command::new("python3").args(["-c", &legacy]));
    let before = state(m.port, cluster);
    assert_eq!(before["instances"][0]["name"], "master-0", "{before}");
    // ...and a re-run finds them, re-tags them, and runs nothing new.
    let o = bootstrap_aws(m.port, d, &config_named(cluster));
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("Name={cluster}-worker-2 (was worker-2)")), "{err}");
    let after = state(m.port, cluster);
    assert_end_state(&after, cluster);
    let ids = |s: &Value| {
        let mut v: Vec<String> = s["instances"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap_or_default().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(ids(&after), ids(&before), "the same six instances, none run again");
    let found: Vec<String> = serde_json::from_slice(&run(Command::new("python3").args(["-c", &find])).stdout).unwrap();
    assert_eq!(found.len(), 1);
    run(Command::new(kpki()).args(["verify", "--dir"]).arg(d.join("pki")));
}
