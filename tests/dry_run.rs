//! `bootstrap --dry-run` says exactly what the real run then writes: the
//! same files with the same actions and reasons, and the files whose bytes
//! change on disk are exactly those it says are created or replaced. Checked
//! on the states a set goes through (fresh, one more worker, a new API
//! address, a lost certificate, a renamed cluster, a damaged kubeconfig,
//! --force), against the directory itself, not kpki's own account of it.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

type Rows = Vec<(String, String, String)>;

fn bootstrap_json(out: &Path, config: &Path, extra: &[&str]) -> serde_json::Value {
    let o = Command::new(kpki())
        .args(["bootstrap", "--output", "json", "--out"])
        .arg(out)
        .arg("--config")
        .arg(config)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "bootstrap {extra:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("bootstrap --output json printed no JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn rows(report: &serde_json::Value) -> Rows {
    report["files"]
        .as_array()
        .expect("a files array")
        .iter()
        .map(|r| {
            let s = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            (s("file"), s("action"), s("reason"))
        })
        .collect()
}

/// Files created or changed between two snapshots (none may disappear).
fn changed(before: &std::collections::BTreeMap<String, Vec<u8>>, after: &std::collections::BTreeMap<String, Vec<u8>>) -> BTreeSet<String> {
    for name in before.keys() {
        assert!(after.contains_key(name), "{name} disappeared");
    }
    // The lock file is the run's, not the set's (hidden names are never set members).
    after.iter().filter(|(n, bytes)| !n.starts_with('.') && before.get(*n) != Some(*bytes)).map(|(n, _)| n.clone()).collect()
}

/// Runs a dry run then the real run and checks they agree with each other and with the disk.
fn dry_run_matches_real_run(out: &Path, config: &Path, extra: &[&str], what: &str) -> Rows {
    let before = if out.exists() { snapshot(out) } else { Default::default() };
    let mut dry_args = vec!["--dry-run"];
    dry_args.extend_from_slice(extra);
    let dry = bootstrap_json(out, config, &dry_args);
    assert_eq!(dry["dry_run"], serde_json::Value::Bool(true));
    if out.exists() {
        assert_eq!(snapshot(out), before, "{what}: the dry run changed the directory");
    }
    let real = bootstrap_json(out, config, extra);
    let (dry_rows, real_rows) = (rows(&dry), rows(&real));
    assert_eq!(dry_rows, real_rows, "{what}: the dry run and the real run disagree");
    let said: BTreeSet<String> = real_rows.iter().filter(|(_, a, _)| a != "keep").map(|(f, _, _)| f.clone()).collect();
    let on_disk = changed(&before, &snapshot(out));
    assert_eq!(said, on_disk, "{what}: the files said to be written are not the files that changed");
    // Every file of the set is in the report, once.
    let names: BTreeSet<&String> = real_rows.iter().map(|(f, _, _)| f).collect();
    assert_eq!(names.len(), real_rows.len(), "{what}: a file is reported twice");
    real_rows
}

fn action_of<'a>(rows: &'a Rows, file: &str) -> &'a str {
    rows.iter().find(|(f, _, _)| f == file).map(|(_, a, _)| a.as_str()).unwrap_or_else(|| panic!("{file} not in the report"))
}

#[test]
fn the_dry_run_says_exactly_what_the_run_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pki");
    let config = tmp.path().join("cluster.toml");
    let base = seed_with("key_algo = \"rsa-2048\"", "key_algo = \"ecdsa-p256\"");
    std::fs::write(&config, &base).unwrap();

    let fresh = dry_run_matches_real_run(&out, &config, &[], "fresh");
    assert!(fresh.iter().all(|(_, a, _)| a == "create"), "a fresh set creates every file: {fresh:?}");
    for record in ["plan.json", "inventory.json", "encryption-config.yaml", "ca-key.pem"] {
        assert_eq!(action_of(&fresh, record), "create");
    }

    let again = dry_run_matches_real_run(&out, &config, &[], "unchanged");
    assert!(again.iter().all(|(_, a, _)| a == "keep"), "a re-run keeps everything: {again:?}");

    let more = base.clone() + "\n[[workers]]\nip = \"172.31.0.23\"\n";
    std::fs::write(&config, &more).unwrap();
    let added = dry_run_matches_real_run(&out, &config, &[], "one more worker");
    for f in ["ip-172-31-0-23.pem", "ip-172-31-0-23-key.pem", "ip-172-31-0-23.kubeconfig"] {
        assert_eq!(action_of(&added, f), "create", "{f}");
    }
    assert_eq!(action_of(&added, "plan.json"), "replace");
    assert_eq!(action_of(&added, "inventory.json"), "replace");
    assert_eq!(action_of(&added, "ca.pem"), "keep");

    let moved = more.replacen("# api_address = \"k8s-api.example.com\"", "api_address = \"k8s-api.example.com\"", 1);
    std::fs::write(&config, &moved).unwrap();
    let api = dry_run_matches_real_run(&out, &config, &[], "new API address");
    assert_eq!(action_of(&api, "master-kubernetes.pem"), "replace");
    assert_eq!(action_of(&api, "admin.kubeconfig"), "replace", "the public server changed");
    assert_eq!(action_of(&api, "kube-scheduler.kubeconfig"), "keep", "its server is 127.0.0.1");

    std::fs::remove_file(out.join("kube-proxy.pem")).unwrap();
    let lost = dry_run_matches_real_run(&out, &config, &[], "a lost certificate");
    assert_eq!(action_of(&lost, "kube-proxy.pem"), "create");
    assert_eq!(action_of(&lost, "kube-proxy-key.pem"), "keep");
    assert_eq!(action_of(&lost, "kube-proxy.kubeconfig"), "replace");

    std::fs::write(&config, moved.replacen("name = \"k8s-cluster\"", "name = \"other\"", 1)).unwrap();
    let renamed = dry_run_matches_real_run(&out, &config, &[], "a renamed cluster");
    assert_eq!(action_of(&renamed, "admin.kubeconfig"), "replace");
    assert_eq!(action_of(&renamed, "ca.pem"), "keep");

    std::fs::write(out.join("admin.kubeconfig"), "not: [a kubeconfig").unwrap();
    let damaged = dry_run_matches_real_run(&out, &config, &[], "a damaged kubeconfig");
    assert_eq!(action_of(&damaged, "admin.kubeconfig"), "replace");
    assert_eq!(action_of(&damaged, "admin.pem"), "keep");

    let forced = dry_run_matches_real_run(&out, &config, &["--force"], "--force");
    assert!(
        forced.iter().filter(|(f, _, _)| f.ends_with(".pem")).all(|(_, a, _)| a == "replace"),
        "--force replaces every key and certificate: {forced:?}"
    );
    let status = Command::new(kpki()).arg("verify").arg("--dir").arg(&out).stdin(Stdio::null()).output().unwrap();
    assert!(status.status.success(), "verify after the runs: {}", String::from_utf8_lossy(&status.stdout));
}

/// A leaf issued late in the CA's life ends with the CA: the report (and so
/// the dry run) gives the certificate's real NotAfter, read back by openssl.
#[test]
fn the_reported_expiry_is_the_certificates_even_when_clamped_to_the_ca() {
    use kpki::k8s::{plan, set};
    use kpki::model::cluster::Cluster;
    use kpki::model::inventory::Inventory;
    let text = seed_with("key_algo = \"rsa-2048\"", "key_algo = \"ecdsa-p256\"").replacen("validity = \"8760h\"", "validity = \"87600h\"", 1);
    let cluster = Cluster::from_toml(&text).unwrap();
    let (inventory, _) = Inventory::from_config(&cluster).unwrap();
    let plan = plan::plan(&cluster, &inventory).unwrap();
    let t0 = time::OffsetDateTime::now_utc() - time::Duration::days(30);
    let empty = set::Existing::new();
    let first = set::apply(set::decide(&plan, &inventory, &empty, t0, false, None, None).unwrap(), &empty, set::CaKeyProtection::default()).unwrap();
    let mut existing: set::Existing = first.files.iter().map(|f| (f.path.to_string_lossy().into_owned(), f.contents().to_vec())).collect();
    existing.remove("admin.pem");
    let later = t0 + time::Duration::days(10);
    let decided = set::decide(&plan, &inventory, &existing, later, false, None, None).unwrap();
    let said = decided.rows().into_iter().find(|r| r.file == "admin.pem").unwrap();
    let applied = set::apply(decided, &existing, set::CaKeyProtection::default()).unwrap();
    assert!(applied.warnings.iter().any(|w| w.starts_with("admin.pem: ")), "the clamp is reported: {:?}", applied.warnings);
    let ca_row = applied.rows.iter().find(|r| r.file == "ca.pem").unwrap();
    assert_eq!(said.expires, ca_row.expires, "admin.pem ends with the CA");
    let tmp = tempfile::tempdir().unwrap();
    let admin = applied.files.iter().find(|f| f.path.as_os_str() == "admin.pem").unwrap();
    std::fs::write(tmp.path().join("admin.pem"), admin.contents()).unwrap();
    let o = run(Command::new("openssl").args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"]).arg(tmp.path().join("admin.pem")));
    let end = String::from_utf8_lossy(&o.stdout).trim().trim_start_matches("notAfter=").to_string();
    let reported = time::OffsetDateTime::parse(&said.expires, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(end, format!("{} {:02}:{:02}:{:02}Z", reported.date(), reported.hour(), reported.minute(), reported.second()), "openssl's NotAfter is the reported one");
}
