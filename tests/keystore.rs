//! CA keys that stay in a key store: `-ca-key pkcs11:...` against a real
//! SoftHSM token and `-ca-key awskms:...` against moto's KMS, for
//! `gencert -initca`, `gencert -ca` and `sign`. The certificates are checked
//! by openssl, the CA's public key against what the store itself gives
//! (pkcs11-tool, boto3), and the refusals for one clean line each.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use common::*;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "1234";

/// A peer tool, or a failed test saying how to install it (never a skip).
fn need(tool: &str) -> PathBuf {
    let out = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().expect("sh runs");
    assert!(out.status.success(), "{tool} is not installed: run scripts/install-test-deps.sh");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(d: &Path, name: &str, contents: &str) {
    std::fs::write(d.join(name), contents).unwrap();
}

/// Asserts kpki succeeded and returns its output.
fn kpki_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("kpki runs");
    assert!(out.status.success(), "kpki {:?} failed: {}", cmd.get_args().collect::<Vec<_>>(), text(&out.stderr));
    out
}

/// `kpki json -bare NAME` fed with a command's JSON output, in `d`.
fn save_bare(d: &Path, out: &Output, name: &str) {
    use std::io::Write;
    let mut child = Command::new(kpki()).args(["json", "-bare", name]).current_dir(d).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success(), "kpki json -bare {name}: {}", text(&done.stderr));
    assert!(d.join(format!("{name}.pem")).is_file(), "{name}.pem not written");
}

/// The SubjectPublicKeyInfo DER of a certificate, as openssl reads it.
fn cert_spki(d: &Path, pem: &str) -> Vec<u8> {
    let pubkey = run(Command::new(need("openssl")).current_dir(d).args(["x509", "-noout", "-pubkey", "-in", pem]));
    write(d, "spki.pem", &text(&pubkey.stdout));
    let der = run(Command::new("openssl").current_dir(d).args(["pkey", "-pubin", "-in", "spki.pem", "-outform", "DER"]));
    assert!(!der.stdout.is_empty(), "openssl gave no public key for {pem}");
    der.stdout
}

/// A CSR made by openssl with its own P-256 key.
fn openssl_csr(d: &Path, name: &str) {
    run(Command::new(need("openssl"))
        .current_dir(d)
        .args(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=from-openssl"])
        .args(["-keyout", &format!("{name}.priv"), "-out", &format!("{name}.csr")]));
}

/// Asserts -initca with a store key printed a certificate and no key, and
/// that nothing named like a key is in `d`.
fn assert_initca_without_key(d: &Path, out: &Output) {
    let json = text(&out.stdout);
    assert!(json.contains("\"cert\"") && !json.contains("\"key\""), "-initca with a store key: {json}");
    for e in std::fs::read_dir(d).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains("key"), "{name} written although the CA key is in the store");
    }
}

/// Asserts a refusal: non-zero exit, nothing on stdout, exactly one
/// `kpki: error:` line containing `says`, and none of `secrets` on stderr
/// (the temp dir's random name is taken out first).
fn assert_refused(out: &Output, says: &str, secrets: &[&str], d: &Path) {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "expected a refusal ({says}), got success: {err}");
    assert!(out.stdout.is_empty(), "stdout not empty on a refusal: {}", text(&out.stdout));
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "expected one error line: {err}");
    assert!(errors[0].starts_with("kpki: error:"), "{err}");
    assert!(errors[0].contains(says), "expected {says:?} in: {err}");
    let scrubbed = err.replace(&d.display().to_string(), "<dir>");
    for s in secrets {
        assert!(!scrubbed.contains(s), "secret {s:?} on stderr: {err}");
    }
}

/// A SoftHSM token `ca` (user PIN 1234) in its own temp dir, holding a P-256
/// key `ca-ec` (id 01) and an RSA-2048 key `ca-rsa` (id 02).
struct Token {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

impl Token {
    fn new() -> Token {
        need("softhsm2-util");
        need("pkcs11-tool");
        assert!(Path::new(MODULE).is_file(), "{MODULE} is missing: run scripts/install-test-deps.sh");
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(&conf, format!("directories.tokendir = {}\n", dir.path().join("tokens").display())).unwrap();
        std::fs::write(dir.path().join("pin"), format!("{PIN}\n")).unwrap();
        let t = Token { dir, conf };
        run(t.tool("softhsm2-util").args(["--init-token", "--free", "--label", "ca", "--pin", PIN, "--so-pin", "5678"]));
        for (kind, label, id) in [("EC:prime256v1", "ca-ec", "01"), ("rsa:2048", "ca-rsa", "02")] {
            run(t.pkcs11_tool().args(["--login", "--pin", PIN, "--keypairgen", "--key-type", kind, "--label", label, "--id", id]));
        }
        t
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn tool(&self, prog: &str) -> Command {
        let mut c = Command::new(need(prog));
        c.current_dir(self.dir()).env("SOFTHSM2_CONF", &self.conf).env_remove("KPKI_PKCS11_PIN").stdin(Stdio::null());
        c
    }

    fn pkcs11_tool(&self) -> Command {
        let mut c = self.tool("pkcs11-tool");
        c.args(["--module", MODULE, "--token-label", "ca"]);
        c
    }

    fn kpki(&self) -> Command {
        let mut c = Command::new(kpki());
        c.current_dir(self.dir()).env("SOFTHSM2_CONF", &self.conf).env_remove("KPKI_PKCS11_PIN").stdin(Stdio::null());
        c
    }

    /// A key URI with the PIN read from the `pin` file.
    fn uri(&self, select: &str) -> String {
        format!("pkcs11:module-path={MODULE};token=ca;{select}?pin-source=file:{}", self.dir().join("pin").display())
    }

    /// The token's public key `id` (SubjectPublicKeyInfo DER), read by pkcs11-tool.
    fn public_key(&self, id: &str) -> Vec<u8> {
        run(self.pkcs11_tool().args(["--read-object", "--type", "pubkey", "--id", id, "-o", "token-pub.der"]));
        let der = std::fs::read(self.dir().join("token-pub.der")).unwrap();
        std::fs::remove_file(self.dir().join("token-pub.der")).unwrap();
        assert!(der.len() > 64, "pkcs11-tool gave no public key for id {id}");
        der
    }
}

/// -initca, gencert and sign with the token key `label`/`id`, each URI form once.
fn pkcs11_ca_signs(label: &str, id: &str) {
    let t = Token::new();
    let d = t.dir();
    write(d, "ca.json", &format!(r#"{{"CN":"Token CA {label}"}}"#));
    let out = kpki_ok(t.kpki().args(["gencert", "-initca", "-ca-key", &t.uri(&format!("object={label}")), "ca.json"]));
    assert_initca_without_key(d, &out);
    save_bare(d, &out, "ca");
    assert_initca_without_key(d, &out);
    assert_openssl_verifies(&d.join("ca.pem"), &d.join("ca.pem"));
    assert_eq!(cert_spki(d, "ca.pem"), t.public_key(id), "the CA certificate's key is not the token's key {label}");

    // gencert -ca with the PIN in the URI: it works, with a warning.
    write(d, "leaf.json", r#"{"CN":"leaf.example.com","key":{"algo":"ecdsa","size":256}}"#);
    let with_pin = format!("pkcs11:module-path={MODULE};token=ca;object={label};id={id}?pin-value={PIN}");
    let out = kpki_ok(t.kpki().args(["gencert", "-ca", "ca.pem", "-ca-key", &with_pin, "-hostname", "leaf.example.com,10.0.0.1", "leaf.json"]));
    let err = text(&out.stderr);
    assert!(err.contains("pin-value") && err.lines().all(|l| l.starts_with("kpki: warning:")), "expected one pin-value warning: {err}");
    save_bare(d, &out, "leaf");
    assert_openssl_verifies(&d.join("ca.pem"), &d.join("leaf.pem"));
    assert!(openssl_verify(&d.join("ca.pem"), &d.join("leaf.pem"), &["-verify_hostname", "leaf.example.com"]).status.success());
    assert!(openssl_verify(&d.join("ca.pem"), &d.join("leaf.pem"), &["-verify_ip", "10.0.0.1"]).status.success());

    // sign an openssl CSR, the key found by a percent-encoded id, PIN from the environment.
    openssl_csr(d, "req");
    let out = kpki_ok(t.kpki().env("KPKI_PKCS11_PIN", PIN).args(["sign", "-ca", "ca.pem", "-ca-key", &format!("pkcs11:module-path={MODULE};token=ca;id=%{id}"), "req.csr"]));
    save_bare(d, &out, "signed");
    assert_openssl_verifies(&d.join("ca.pem"), &d.join("signed.pem"));
}

#[test]
fn pkcs11_ec_key_makes_a_ca_that_signs_leaves_and_csrs() {
    pkcs11_ca_signs("ca-ec", "01");
}

#[test]
fn pkcs11_rsa_key_makes_a_ca_that_signs_leaves_and_csrs() {
    pkcs11_ca_signs("ca-rsa", "02");
}

#[test]
fn pkcs11_refusals_are_one_line_without_the_pin() {
    let t = Token::new();
    let d = t.dir();
    write(d, "ca.json", r#"{"CN":"Token CA"}"#);
    write(d, "leaf.json", r#"{"CN":"leaf","hosts":["leaf.example.com"]}"#);
    let initca = |uri: &str| t.kpki().args(["gencert", "-initca", "-ca-key", uri, "ca.json"]).output().unwrap();

    let out = initca(&format!("pkcs11:module-path={MODULE};token=ca;object=ca-ec?pin-value=9999"));
    assert_refused(&out, "wrong PIN", &["9999", PIN], d);
    assert!(text(&out.stderr).contains("pin-value"), "no warning about pin-value: {}", text(&out.stderr));
    assert_refused(&initca(&t.uri("object=ca-ec").replace(MODULE, "/nonexistent.so")), "/nonexistent.so", &[PIN], d);
    assert_refused(&initca(&t.uri("object=no-such-key")), "no private key", &[PIN], d);
    assert_refused(&initca(&t.uri("object=ca-ec").replace("token=ca", "token=no-such-token")), "no token matches", &[PIN], d);
    assert_refused(&initca(&format!("pkcs11:module-path={MODULE};token=ca;object=ca-ec")), "PIN", &[PIN], d);

    // Found by review: a library that is not a PKCS#11 module made the
    // binding panic; a FIFO as the PIN file hung; an empty PIN file was sent
    // (a wrong PIN spends one of the token's attempts); a misspelt pin-value
    // was echoed.
    let libc = ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("libc.so.6 is somewhere");
    assert_refused(&initca(&format!("pkcs11:module-path={libc};token=ca;object=x")), "not a PKCS#11 module", &[], d);
    assert_refused(&initca(&format!("pkcs11:module-path={};object=x", d.display())), "not a file", &[], d);
    assert_refused(&initca("pkcs11:module-path=softhsm2.so;object=x"), "absolute", &[], d);
    run(Command::new("mkfifo").arg(d.join("fifo")));
    let started = std::time::Instant::now();
    assert_refused(&initca(&format!("pkcs11:module-path={MODULE};token=ca;object=ca-ec?pin-source=file:{}", d.join("fifo").display())), "FIFO", &[], d);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "a FIFO as the PIN file blocked");
    write(d, "empty-pin", "");
    assert_refused(&initca(&format!("pkcs11:module-path={MODULE};token=ca;object=ca-ec?pin-source=file:{}", d.join("empty-pin").display())), "empty", &[], d);
    for typo in [";pin-value=9876", "?PIN-VALUE=9876", "?pin%2Dvalue=9876", "?pin-value9876"] {
        let out = initca(&format!("pkcs11:module-path={MODULE};token=ca;object=ca-ec{typo}"));
        assert_refused(&out, "pkcs11", &["9876"], d);
    }

    // A CA certificate from the RSA key, then the EC key offered as its key.
    let out = kpki_ok(t.kpki().args(["gencert", "-initca", "-ca-key", &t.uri("id=02"), "ca.json"]));
    save_bare(d, &out, "rsa-ca");
    let other = t.uri("object=ca-ec");
    let out = t.kpki().args(["gencert", "-ca", "rsa-ca.pem", "-ca-key", &other, "leaf.json"]).output().unwrap();
    assert_refused(&out, "does not belong", &[PIN], d);
    openssl_csr(d, "req");
    let out = t.kpki().args(["sign", "-ca", "rsa-ca.pem", "-ca-key", &other, "req.csr"]).output().unwrap();
    assert_refused(&out, "does not belong", &[PIN], d);
}

/// `bootstrap --ca-key pkcs11:...`: the whole set signed by the token, no CA
/// key file, every certificate verified by openssl, the URI recorded
/// without a PIN and used again by a re-run (which keeps the CA) and by
/// `renew --role ca`; a CA certificate of another key is refused.
#[test]
fn pkcs11_bootstrap_issues_the_set_without_a_ca_key_file() {
    let t = Token::new();
    let d = t.dir();
    let uri = format!("pkcs11:module-path={MODULE};token=ca;object=ca-ec?pin-value={PIN}");
    let out = kpki_ok(t.kpki().args(["bootstrap", "--out", "pki", "--ca-key", &uri, "-v"]));
    let err = text(&out.stderr);
    assert!(err.contains("signature(s) made by"), "no signature count: {err}");
    let pki = d.join("pki");
    assert!(!pki.join("ca-key.pem").exists(), "a CA key file was written");
    assert_eq!(cert_spki(d, "pki/ca.pem"), t.public_key("01"), "ca.pem does not certify the token's key");
    let plan = std::fs::read_to_string(pki.join("plan.json")).unwrap();
    assert!(plan.contains("pkcs11:module-path=") && !plan.contains("pin-value") && !plan.contains(PIN), "plan.json: {plan}");
    let certs: Vec<PathBuf> = std::fs::read_dir(&pki).unwrap().map(|e| e.unwrap().path()).filter(|p| {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        n.ends_with(".pem") && !n.ends_with("-key.pem")
    }).collect();
    assert!(certs.len() >= 9, "{certs:?}");
    for c in &certs {
        assert_openssl_verifies(&pki.join("ca.pem"), c);
    }
    kpki_ok(t.kpki().args(["verify", "--dir", "pki"]));

    // A re-run without --ca-key: the recorded URI, the PIN from the environment; the CA stays.
    let ca_before = std::fs::read(pki.join("ca.pem")).unwrap();
    let out = kpki_ok(t.kpki().env("KPKI_PKCS11_PIN", PIN).args(["bootstrap", "--out", "pki"]));
    assert!(text(&out.stderr).contains("as plan.json records"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(pki.join("ca.pem")).unwrap(), ca_before, "a re-run changed the CA");
    assert!(!pki.join("ca-key.pem").exists());

    // The CA certificate renewed through the token; the leaves stay valid.
    kpki_ok(t.kpki().env("KPKI_PKCS11_PIN", PIN).args(["renew", "--dir", "pki", "--role", "ca"]));
    assert_ne!(std::fs::read(pki.join("ca.pem")).unwrap(), ca_before);
    assert_openssl_verifies(&pki.join("ca.pem"), &pki.join("admin.pem"));
    kpki_ok(t.kpki().args(["verify", "--dir", "pki"]));
    let out = t.kpki().env("KPKI_PKCS11_PIN", PIN).args(["renew", "--dir", "pki", "--role", "ca", "--rekey"]).output().unwrap();
    assert_refused(&out, "key store", &[PIN], d);

    // A plan.json whose ca_key was edited to carry a PIN: refused, not read
    // as "no store key" (whose advice, --force, would move the CA to a file).
    let plan_path = pki.join("plan.json");
    let good_plan = std::fs::read_to_string(&plan_path).unwrap();
    let bad_plan = good_plan.replacen("object=ca-ec\"", "object=ca-ec?pin-value=1234\"", 1);
    assert_ne!(bad_plan, good_plan);
    std::fs::write(&plan_path, &bad_plan).unwrap();
    for force in [false, true] {
        let mut cmd = t.kpki();
        cmd.args(["bootstrap", "--out", "pki"]);
        if force {
            cmd.arg("--force");
        }
        assert_refused(&cmd.output().unwrap(), "ca_key", &[], d);
        assert!(!pki.join("ca-key.pem").exists(), "a CA key file was written");
    }
    std::fs::write(&plan_path, &good_plan).unwrap();

    // The other token key offered for this set: refused, nothing changed.
    let before = snapshot(&pki);
    let out = t.kpki().env("KPKI_PKCS11_PIN", PIN).args(["bootstrap", "--out", "pki", "--ca-key", &format!("pkcs11:module-path={MODULE};token=ca;object=ca-rsa")]).output().unwrap();
    assert_refused(&out, "another key", &[PIN], d);
    assert_eq!(snapshot(&pki), before, "a refused run changed the set");

    // A file-key set moved to the token with --force: the old ca-key.pem is
    // left (kpki deletes nothing) and said, verify accepts the set; a
    // relative pin-source is recorded absolute.
    kpki_ok(t.kpki().args(["bootstrap", "--out", "moved"]));
    let out = kpki_ok(t.kpki().args(["bootstrap", "--out", "moved", "--force", "--ca-key", &format!("pkcs11:module-path={MODULE};token=ca;object=ca-ec?pin-source=file:pin")]));
    assert!(text(&out.stderr).contains("ca-key.pem is not used"), "{}", text(&out.stderr));
    let moved = d.join("moved");
    assert_eq!(cert_spki(d, "moved/ca.pem"), t.public_key("01"));
    let plan = std::fs::read_to_string(moved.join("plan.json")).unwrap();
    assert!(plan.contains(&format!("pin-source=file:{}", d.join("pin").display())), "{plan}");
    let out = kpki_ok(t.kpki().args(["verify", "--dir", "moved"]));
    assert!(text(&out.stdout).contains("ok"), "{}", text(&out.stdout));
}

#[cfg(feature = "aws")]
mod kms {
    use super::*;
    use std::time::{Duration, Instant};

    const REGION: &str = "us-east-1";

    /// A moto server for one test (another port if a test took the free one first).
    pub struct Moto {
        pub port: u16,
        _server: Server,
    }

    pub fn moto() -> Moto {
        let bin = need("moto_server");
        for _ in 0..5 {
            let port = free_port();
            let mut server = Server(Command::new(&bin).args(["-H", "127.0.0.1", "-p", &port.to_string()]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
            wait_for_port(port, "moto_server");
            std::thread::sleep(Duration::from_millis(200));
            if server.0.try_wait().unwrap().is_none() {
                return Moto { port, _server: server };
            }
        }
        panic!("moto_server did not stay up on any of five free ports");
    }

    /// The standard AWS environment pointed at `endpoint`, nothing from the user's files.
    pub fn aws_env<'a>(cmd: &'a mut Command, endpoint: &str) -> &'a mut Command {
        cmd.env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
    }

    impl Moto {
        fn endpoint(&self) -> String {
            format!("http://127.0.0.1:{}", self.port)
        }

        pub fn kpki(&self, d: &Path) -> Command {
            let mut c = Command::new(kpki());
            aws_env(&mut c, &self.endpoint()).current_dir(d);
            c
        }

        /// Runs python with `kms`, a boto3 KMS client on this server; returns stdout.
        pub fn boto3(&self, code: &str) -> String {
            let script = format!("import boto3, sys\nkms = boto3.client('kms')\n{code}\n");
            let out = run(aws_env(Command::new(need("python3")).arg("-c").arg(script), &self.endpoint()));
            text(&out.stdout).trim().to_string()
        }

        /// A new key; returns its (id, ARN).
        pub fn create_key(&self, usage: &str, spec: &str, disabled: bool) -> (String, String) {
            let disable = if disabled { "kms.disable_key(KeyId=m['KeyId'])" } else { "" };
            let out = self.boto3(&format!("m = kms.create_key(KeyUsage='{usage}', KeySpec='{spec}')['KeyMetadata']\n{disable}\nprint(m['KeyId'], m['Arn'])"));
            let (id, arn) = out.split_once(' ').unwrap_or_else(|| panic!("boto3 create_key printed {out:?}"));
            (id.to_string(), arn.to_string())
        }

        pub fn public_key(&self, key_id: &str) -> Vec<u8> {
            let hex = self.boto3(&format!("print(kms.get_public_key(KeyId='{key_id}')['PublicKey'].hex())"));
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
        }
    }

    /// Runs a command and fails the test if it takes longer than `limit`.
    fn output_within(cmd: &mut Command, limit: Duration) -> Output {
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let deadline = Instant::now() + limit;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{cmd:?} still running after {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        child.wait_with_output().unwrap()
    }

    /// -initca with the KMS key, openssl checks, the public key against
    /// GetPublicKey, then a leaf through gencert and an openssl CSR through sign.
    fn kms_ca_signs(spec: &str) {
        let m = moto();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (id, arn) = m.create_key("SIGN_VERIFY", spec, false);
        let alias = format!("alias/ca-{}", spec.to_lowercase().replace('_', "-"));
        m.boto3(&format!("kms.create_alias(AliasName='{alias}', TargetKeyId='{id}')"));

        write(d, "ca.json", &format!(r#"{{"CN":"KMS CA {spec}"}}"#));
        let out = kpki_ok(m.kpki(d).args(["gencert", "-initca", "-ca-key", &format!("awskms:key-id={id}"), "ca.json"]));
        assert_initca_without_key(d, &out);
        save_bare(d, &out, "ca");
        assert_initca_without_key(d, &out);
        assert_openssl_verifies(&d.join("ca.pem"), &d.join("ca.pem"));
        assert_eq!(cert_spki(d, "ca.pem"), m.public_key(&id), "the CA certificate's key is not the KMS key");

        write(d, "leaf.json", r#"{"CN":"leaf.example.com","key":{"algo":"ecdsa","size":256}}"#);
        let out = kpki_ok(m.kpki(d).args(["gencert", "-ca", "ca.pem", "-ca-key", &format!("awskms:key-id={alias};region={REGION}"), "-hostname", "leaf.example.com", "leaf.json"]));
        save_bare(d, &out, "leaf");
        assert_openssl_verifies(&d.join("ca.pem"), &d.join("leaf.pem"));
        assert!(openssl_verify(&d.join("ca.pem"), &d.join("leaf.pem"), &["-verify_hostname", "leaf.example.com"]).status.success());

        openssl_csr(d, "req");
        let out = kpki_ok(m.kpki(d).args(["sign", "-ca", "ca.pem", "-ca-key", &format!("awskms:key-id={arn}"), "req.csr"]));
        save_bare(d, &out, "signed");
        assert_openssl_verifies(&d.join("ca.pem"), &d.join("signed.pem"));

        // The whole set through KMS: no CA key file, openssl and verify accept it.
        kpki_ok(m.kpki(d).args(["bootstrap", "--out", "pki", "--ca-key", &format!("awskms:key-id={alias}")]));
        let pki = d.join("pki");
        assert!(!pki.join("ca-key.pem").exists(), "a CA key file was written");
        assert_eq!(cert_spki(d, "pki/ca.pem"), m.public_key(&id));
        for c in ["admin.pem", "master-kubernetes.pem", "kube-proxy.pem", "service-account.pem"] {
            assert_openssl_verifies(&pki.join("ca.pem"), &pki.join(c));
        }
        kpki_ok(m.kpki(d).args(["verify", "--dir", "pki"]));
    }

    #[test]
    fn kms_rsa_2048_key_makes_a_ca_that_signs() {
        kms_ca_signs("RSA_2048");
    }

    #[test]
    fn kms_ecc_nist_p256_key_makes_a_ca_that_signs() {
        kms_ca_signs("ECC_NIST_P256");
    }

    #[test]
    fn kms_refusals_are_one_line() {
        let m = moto();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "ca.json", r#"{"CN":"KMS CA"}"#);
        let initca = |cmd: &mut Command, key: &str| output_within(cmd.args(["gencert", "-initca", "-ca-key", &format!("awskms:key-id={key}"), "ca.json"]), Duration::from_secs(60));

        let (encrypt, _) = m.create_key("ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT", false);
        assert_refused(&initca(&mut m.kpki(d), &encrypt), "SIGN_VERIFY", &[], d);
        let (disabled, _) = m.create_key("SIGN_VERIFY", "ECC_NIST_P256", true);
        assert_refused(&initca(&mut m.kpki(d), &disabled), "Disabled", &[], d);
        let out = initca(&mut m.kpki(d), "alias/no-such-key");
        let err = text(&out.stderr);
        let says = if err.contains("NotFoundException") { "NotFoundException" } else { "no such key" };
        assert_refused(&out, says, &[], d);

        // Nothing listens on port 1: a refusal within the time limit, not a hang.
        let (good, _) = m.create_key("SIGN_VERIFY", "ECC_NIST_P256", false);
        let start = Instant::now();
        let out = initca(aws_env(&mut Command::new(kpki()), "http://127.0.0.1:1").current_dir(d), &good);
        assert_refused(&out, "127.0.0.1:1", &[], d);
        assert!(start.elapsed() < Duration::from_secs(60));
        assert_eq!(snapshot(d).keys().collect::<Vec<_>>(), ["ca.json"], "files written by refused commands");
    }
}
