//! The fuzz harnesses, one function per input kpki reads from a user.
//!
//! `fuzz_targets/*.rs` hand libFuzzer's bytes to these functions; the main
//! crate's `tests/fuzz_corpus.rs` includes this file and replays the committed
//! corpus (`fuzz/corpus/<target>/`) through the same functions in `make test`,
//! so every input that once found a bug stays a regression test.
//!
//! Each harness does what the command does with the input and then checks
//! what must hold for any input, not only "no panic":
//! - a refusal is one sentence: non-empty, on one line (the CLI prints it as
//!   the whole error);
//! - whatever kpki accepts and issues parses back, verifies against its
//!   issuer, and carries what was asked for;
//! - a key that loads survives a write/read round trip unchanged.

use std::sync::OnceLock;

use kpki::pki::generate::{self, Generated as Made};
use kpki::model::cluster::Cluster;
use kpki::pki::cert;
use kpki::pki::issue::{self, Ca, CertPlan, SubjectKey, Validity};
use kpki::pki::key::{KeyAlgo, KeyFormat, PrivateKey};
use kpki::pki::profile::{Profile, SigningConfig};
use kpki::pki::request::{CsrRequest, Subject};
use time::{Duration, OffsetDateTime};
use x509_parser::oid_registry::OID_X509_COMMON_NAME;

/// The passphrase the key harness offers for encrypted keys; the seed
/// corpus's encrypted key uses it.
pub const PASSPHRASE: &[u8] = b"kpki-fuzz";

/// Fails unless `msg` reads as one sentence on one line.
fn one_line(what: &str, msg: &str) {
    assert!(!msg.trim().is_empty(), "{what}: empty error message");
    assert!(!msg.contains('\n') && !msg.contains('\r'), "{what}: error message spans lines: {msg:?}");
}

/// One P-256 CA for the whole fuzzing process.
fn ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(|| {
        let key = PrivateKey::generate(KeyAlgo::EcdsaP256).expect("P-256 key");
        let plan = CertPlan {
            subject: Subject::cn_o("kpki fuzz CA", "kpki").to_dn(),
            sans: Vec::new(),
            validity: Validity::cfssl(OffsetDateTime::now_utc(), Duration::days(3650)),
        };
        let der = issue::self_signed_ca(&plan, None, &key).expect("CA certificate");
        Ca::new(der, key).expect("CA")
    })
}

fn ca_cert_der() -> Vec<u8> {
    ca().cert_der().to_vec()
}

/// A certificate kpki issued parses without trailing bytes, is signed by
/// `issuer_der`'s key, and renders as certinfo.
fn check_issued(what: &str, der: &[u8], issuer_der: &[u8]) {
    let c = cert::parse(der).unwrap_or_else(|e| panic!("{what}: kpki issued a certificate it cannot parse: {e}"));
    let issuer = cert::parse(issuer_der).expect("issuer parses");
    cert::verify_signed_by(&c, issuer.public_key()).unwrap_or_else(|e| panic!("{what}: issued certificate does not verify: {e}"));
    cert::certinfo(der).unwrap_or_else(|e| panic!("{what}: certinfo of an issued certificate failed: {e}"));
}

/// What `gencert` made: the certificate verifies, the key is the
/// certificate's, the CSR's self-signature holds, and the CN is the one asked for.
fn check_made(what: &str, made: &Made, req: &CsrRequest, issuer_der: Option<&[u8]>) {
    let cert_pem = made.cert.as_deref().expect("a certificate");
    let der = cert::cert_from_pem(cert_pem.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
    check_issued(what, &der, issuer_der.unwrap_or(&der));
    let c = cert::parse(&der).expect("parsed above");
    let key = PrivateKey::from_pem(made.key.as_ref().expect("a key").as_bytes()).unwrap_or_else(|e| panic!("{what}: own key unreadable: {e}"));
    assert_eq!(key.public_key_bits(), &c.public_key().subject_public_key.data[..], "{what}: key and certificate differ");
    let csr_der = cert::csr_from_pem(made.csr.as_deref().expect("a CSR").as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
    cert::parse_csr(&csr_der).unwrap_or_else(|e| panic!("{what}: own CSR does not verify: {e}"));
    let cn = cert::name_attr(c.subject(), &OID_X509_COMMON_NAME);
    assert_eq!(cn, req.subject.cn, "{what}: the certificate's CN is not the requested one");
}

/// A CSR JSON through `gencert -initca` and `gencert -ca`.
pub fn csr_json(data: &[u8]) {
    let mut req = match CsrRequest::from_json(data) {
        Ok(r) => r,
        Err(e) => return one_line("CSR JSON", &e.to_string()),
    };
    // RSA key generation would hold each run for tens of milliseconds to
    // seconds; the algorithm was parsed and checked above, and the rest of
    // the request is used the same way whatever the key.
    if matches!(req.key, KeyAlgo::Rsa(_)) {
        req.key = KeyAlgo::EcdsaP256;
    }
    match generate::initca(&req, None, KeyFormat::Cfssl, OffsetDateTime::now_utc()) {
        Ok(made) => check_made("gencert -initca", &made, &req, None),
        Err(e) => one_line("gencert -initca", &e.to_string()),
    }
    let ca_der = ca_cert_der();
    match generate::leaf(&req, None, &Profile::cfssl_default(), ca(), KeyFormat::Pkcs8, OffsetDateTime::now_utc()) {
        Ok(made) => check_made("gencert -ca", &made, &req, Some(&ca_der)),
        Err(e) => one_line("gencert -ca", &e.to_string()),
    }
}

/// A signing config (`ca-config.json`): every profile it defines signs.
pub fn signing_config(data: &[u8]) {
    let cfg = match SigningConfig::from_json(data) {
        Ok(c) => c,
        Err(e) => return one_line("signing config", &e.to_string()),
    };
    static LEAF: OnceLock<PrivateKey> = OnceLock::new();
    let leaf = LEAF.get_or_init(|| PrivateKey::generate(KeyAlgo::EcdsaP256).expect("P-256 key"));
    let ca_der = ca_cert_der();
    let names: Vec<Option<&str>> = std::iter::once(None).chain(cfg.profiles.keys().take(8).map(|k| Some(k.as_str()))).collect();
    for name in names {
        let profile = cfg.profile(name).unwrap_or_else(|e| panic!("a profile the config defines is missing: {e}"));
        let plan = CertPlan {
            subject: Subject::cn_o("leaf", "kpki").to_dn(),
            sans: Vec::new(),
            validity: Validity::cfssl(OffsetDateTime::now_utc(), profile.expiry),
        };
        match issue::sign(&plan, &SubjectKey::of(leaf), profile, ca()) {
            Ok(issued) => check_issued("sign with profile", &issued.der, &ca_der),
            Err(e) => one_line("sign with profile", &e.to_string()),
        }
    }
    assert!(cfg.profile(Some("\u{0}no such profile")).is_err());
}

/// A cluster config (TOML): what validates yields a plan for every role.
pub fn cluster_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let cluster = match Cluster::from_toml(text) {
        Ok(c) => c,
        Err(e) => return one_line("cluster config", &e.to_string()),
    };
    let inventory = match kpki::model::inventory::Inventory::from_config(&cluster) {
        Ok((inventory, _)) => inventory,
        Err(e) => return one_line("static inventory", &e.to_string()),
    };
    let plan = kpki::k8s::plan::plan(&cluster, &inventory).unwrap_or_else(|e| panic!("a config that passed validation makes a plan that does not: {e}"));
    let ca = plan.ca().expect("every plan has a CA");
    assert!(!ca.cert_file().is_empty());
    for spec in &plan.certs {
        let _ = spec.subject().to_dn();
        let sans = kpki::pki::host::sans(&spec.sans).unwrap_or_else(|e| panic!("a host of the plan has no SAN: {e}"));
        assert_eq!(sans.len(), spec.sans.len(), "a host of the plan has no SAN");
    }
}

/// A certificate file (PEM, or DER): everything `certinfo`, `verify` and
/// `renew` read from a certificate.
pub fn cert(data: &[u8]) {
    let ders: Vec<Vec<u8>> = if data.starts_with(b"-----") || data.windows(11).any(|w| w == b"-----BEGIN ") {
        match cert::certs_from_pem(data) {
            Ok(v) => v.into_iter().map(|d| d.to_vec()).collect(),
            Err(e) => return one_line("certificate PEM", &e.to_string()),
        }
    } else {
        vec![data.to_vec()]
    };
    let ca_der = ca_cert_der();
    let ca_cert = cert::parse(&ca_der).expect("CA parses");
    for der in ders.iter().take(4) {
        let c = match cert::parse(der) {
            Ok(c) => c,
            Err(e) => {
                one_line("certificate", &e.to_string());
                continue;
            }
        };
        let info = cert::certinfo(der).unwrap_or_else(|e| panic!("certinfo failed on a certificate that parses: {e}"));
        let _ = cert::go_json_pretty(&info);
        let _ = cert::sans(&c);
        let _ = cert::validity(&c);
        let _ = cert::ca_problem(&c);
        let _ = cert::key_bits(c.public_key());
        let _ = cert::key_algo_name(c.public_key());
        let _ = cert::ski(&c);
        let _ = cert::aki(&c);
        if let Err(e) = cert::verify_signed_by(&c, c.public_key()) {
            one_line("self-signature", &e.to_string());
        }
        let _ = kpki::k8s::check::chain(&c, &ca_cert).map_err(|e| one_line("chain", &e.to_string()));
        let _ = kpki::k8s::check::expiry(&c, OffsetDateTime::now_utc());
        let _ = issue::dn_from_x509(c.subject());
        let _ = SubjectKey::from_spki(c.public_key()).map_err(|e| one_line("certificate key", &e.to_string()));
    }
}

/// A private key file, perhaps encrypted (offered [`PASSPHRASE`]).
pub fn key(data: &[u8]) {
    let key = match PrivateKey::from_pem_with_passphrase(data, Some(PASSPHRASE)) {
        Ok(k) => k,
        Err(e) => return one_line("private key", &e.to_string()),
    };
    for format in [KeyFormat::Cfssl, KeyFormat::Pkcs8] {
        let pem = key.to_pem(format).unwrap_or_else(|e| panic!("a key that loads does not write: {e}"));
        let again = PrivateKey::from_pem(pem.as_bytes()).unwrap_or_else(|e| panic!("a key kpki wrote does not read back: {e}"));
        assert_eq!(again.public_key_bits(), key.public_key_bits(), "round trip changed the key");
        assert_eq!(again.algo(), key.algo(), "round trip changed the algorithm");
    }
}

/// A PKCS#10 CSR through `sign`.
pub fn csr_pem(data: &[u8]) {
    let wanted = match generate::read_csr(data, None) {
        Ok(w) => w,
        Err(e) => return one_line("CSR", &e.to_string()),
    };
    let n_sans = wanted.sans.len();
    let plan = CertPlan { subject: wanted.subject, sans: wanted.sans, validity: Validity::cfssl(OffsetDateTime::now_utc(), Duration::days(1)) };
    match issue::sign(&plan, &wanted.key, &Profile::cfssl_default(), ca()) {
        Ok(issued) => {
            check_issued("sign CSR", &issued.der, &ca_cert_der());
            let c = cert::parse(&issued.der).expect("checked above");
            assert_eq!(cert::sans(&c).len(), n_sans, "the signed certificate lost or gained SANs");
        }
        Err(e) => one_line("sign CSR", &e.to_string()),
    }
}

/// cfssljson's input: the bare object and the API envelope.
pub fn cfssljson(data: &[u8]) {
    for bare in [true, false] {
        match kpki::pki::cfssl_json::read_pems(data, bare) {
            Ok(p) => {
                assert!(p.cert.is_some() || p.key.is_some() || p.csr.is_some() || p.bundle.is_some());
                if let Some(c) = &p.cert {
                    cert::cert_from_pem(c.as_bytes()).expect("a cert it accepted parses");
                }
            }
            Err(e) => one_line("cfssl JSON", &e.to_string()),
        }
    }
}

/// The kubeconfig and encryption-config readers of `verify` and `renew`,
/// on any bytes (not only UTF-8): every error is one line, an accepted
/// kubeconfig survives a write and re-read unchanged, and the client key
/// inside one is read like any key file.
pub fn k8s_files(data: &[u8]) {
    use kpki::k8s::files::{EncryptionConfiguration, Kubeconfig};
    match Kubeconfig::from_yaml(data) {
        Ok(kc) => {
            let again = Kubeconfig::from_yaml(kc.to_yaml().as_bytes()).expect("a kubeconfig kpki wrote reads back");
            assert_eq!(again, kc, "a kubeconfig changes when written and read again");
            match kc.current() {
                Ok(view) => {
                    if let Some(key) = &view.key {
                        if let Err(e) = kpki::pki::key::PrivateKey::from_pem(key) {
                            one_line("kubeconfig client key", &e.to_string());
                        }
                    }
                }
                Err(e) => one_line("kubeconfig", &e.to_string()),
            }
        }
        Err(e) => one_line("kubeconfig", &e.to_string()),
    }
    match EncryptionConfiguration::check(data) {
        Ok(key) => assert_eq!(key.len(), 32, "an accepted aescbc key must be 32 bytes"),
        Err(e) => one_line("encryption config", &e.to_string()),
    }
}

/// A user-supplied CA used to sign (`gencert -ca`, `sign`, `bootstrap` and
/// `renew` with an existing CA): the input holds the CA certificate and its
/// key as PEM, in any order. Whatever loads as a CA must sign a leaf that
/// verifies against it, or refuse in one line (never panic while building
/// the issuer name from the CA's DER, where a '?' once did).
pub fn ca_sign(data: &[u8]) {
    let der = match cert::cert_from_pem(data) {
        Ok(d) => d.to_vec(),
        Err(e) => return one_line("CA certificate", &e.to_string()),
    };
    let key = match PrivateKey::from_pem(data) {
        Ok(k) => k,
        Err(e) => return one_line("CA key", &e.to_string()),
    };
    let ca = match Ca::new(der.clone(), key) {
        Ok(ca) => ca,
        Err(e) => return one_line("CA", &e.to_string()),
    };
    static LEAF: OnceLock<PrivateKey> = OnceLock::new();
    let leaf = LEAF.get_or_init(|| PrivateKey::generate(KeyAlgo::EcdsaP256).expect("P-256 key"));
    let plan = CertPlan {
        subject: Subject::cn_o("leaf", "kpki").to_dn(),
        sans: Vec::new(),
        validity: Validity::cfssl(OffsetDateTime::now_utc(), Duration::hours(1)),
    };
    match issue::sign(&plan, &SubjectKey::of(leaf), &Profile::cfssl_default(), &ca) {
        Ok(issued) => {
            check_issued("sign with a user CA", &issued.der, &der);
            let c = cert::parse(&issued.der).expect("checked above");
            let issuer = cert::parse(&der).expect("parsed by Ca::new");
            assert_eq!(c.issuer().as_raw(), issuer.subject().as_raw(), "the issuer name must repeat the CA's subject byte for byte");
        }
        Err(e) => one_line("sign with a user CA", &e.to_string()),
    }
}

/// `plan.json` as `verify` and `renew` read it: a plan that parses and
/// validates can be decided against an empty directory, and, when its keys
/// are quick to make, issued; every certificate issued verifies against the
/// set's CA.
pub fn plan_json(data: &[u8]) {
    use kpki::k8s::plan::Plan;
    use kpki::k8s::set;
    let plan: Plan = match serde_json::from_slice(data) {
        Ok(p) => p,
        Err(e) => return one_line("plan.json", &e.to_string()),
    };
    if let Err(e) = plan.validate() {
        return one_line("plan.json", &e.to_string());
    }
    let inventory = kpki::model::inventory::Inventory { cluster: plan.cluster.clone(), api_address: "127.0.0.1".into(), masters: vec![], workers: vec![] };
    let existing = set::Existing::new();
    let now = OffsetDateTime::now_utc();
    let decided = match set::decide(&plan, &inventory, &existing, now, false, None, None) {
        Ok(d) => d,
        Err(e) => return one_line("plan.json (decide)", &e.to_string()),
    };
    let quick = plan.certs.len() <= 12 && plan.certs.iter().all(|c| !matches!(c.key_algo, KeyAlgo::Rsa(_)));
    if !quick {
        return;
    }
    match set::apply(decided, &existing, set::CaKeyProtection::default()) {
        Ok(outcome) => check_outcome(&plan, &outcome),
        Err(e) => one_line("plan.json (issue)", &e.to_string()),
    }
}

/// Every certificate of an outcome verifies against the outcome's CA.
fn check_outcome(plan: &kpki::k8s::plan::Plan, outcome: &kpki::k8s::set::Applied) {
    let ca_name = plan.ca().expect("a validated plan has a CA").cert_file();
    let Some(ca_file) = outcome.files.iter().find(|f| f.path.as_os_str() == ca_name.as_str()) else { return };
    let ca_der = cert::cert_from_pem(ca_file.contents()).expect("the set's CA parses").to_vec();
    for f in &outcome.files {
        let name = f.path.to_string_lossy();
        if name.ends_with(".pem") && !name.ends_with("-key.pem") {
            let der = cert::cert_from_pem(f.contents()).unwrap_or_else(|e| panic!("{name}: {e}"));
            check_issued(&name, &der, &ca_der);
        }
    }
}

/// Re-reading an existing output set: one P-256 set is made once; the input
/// replaces one of its files (chosen by the first byte) and `bootstrap`
/// decides and issues against what it finds. It must keep, re-issue or
/// refuse in one line, and whatever it writes verifies.
pub fn existing_set(data: &[u8]) {
    use kpki::k8s::plan::Plan;
    use kpki::k8s::set::{self, Existing};
    static SET: OnceLock<(Plan, kpki::model::inventory::Inventory, Existing)> = OnceLock::new();
    let (plan, inventory, base) = SET.get_or_init(|| {
        let cluster = Cluster::from_toml(&kpki::model::cluster::DEFAULT_TOML.replacen("key_algo = \"rsa-2048\"", "key_algo = \"ecdsa-p256\"", 1)).expect("seed config");
        let inventory = kpki::model::inventory::Inventory::from_config(&cluster).expect("static inventory").0;
        let plan = kpki::k8s::plan::plan(&cluster, &inventory).expect("seed plan");
        let empty = Existing::new();
        let decided = set::decide(&plan, &inventory, &empty, OffsetDateTime::now_utc(), false, None, None).expect("seed decisions");
        let outcome = set::apply(decided, &empty, set::CaKeyProtection::default()).expect("seed set");
        let existing: Existing = outcome.files.iter().map(|f| (f.path.to_string_lossy().into_owned(), f.contents().to_vec())).collect();
        (plan, inventory, existing)
    });
    let Some((&pick, rest)) = data.split_first() else { return };
    let names: Vec<&String> = base.keys().collect();
    let mut existing = base.clone();
    existing.insert(names[usize::from(pick) % names.len()].clone(), rest.to_vec());
    let applied = set::decide(plan, inventory, &existing, OffsetDateTime::now_utc(), false, None, None).and_then(|d| set::apply(d, &existing, set::CaKeyProtection::default()));
    match applied {
        Ok(outcome) => {
            // The CA may be kept (not in the outcome's files): check against the one in use.
            let ca_pem = outcome.files.iter().find(|f| f.path.as_os_str() == "ca.pem").map(|f| f.contents().to_vec()).or_else(|| existing.get("ca.pem").cloned());
            let Some(ca_pem) = ca_pem else { return };
            let ca_der = cert::cert_from_pem(&ca_pem).expect("the CA in use parses").to_vec();
            for f in &outcome.files {
                let name = f.path.to_string_lossy();
                if name.ends_with(".pem") && !name.ends_with("-key.pem") {
                    let der = cert::cert_from_pem(f.contents()).unwrap_or_else(|e| panic!("{name}: {e}"));
                    check_issued(&name, &der, &ca_der);
                }
            }
        }
        Err(e) => one_line("existing set", &e.to_string()),
    }
}
