//! `kpki gencert`: a new key and a certificate from a CSR JSON, signed by a CA
//! or self-signed with `-initca` (cfssl gencert).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::args::{BareArgs, SigningArgs};
use super::{display, load_ca, load_profile, read_input, warn, Failure, Result};
use crate::output::{self, OutFile};
use crate::pki::generate::{self, GenerateError, Generated};
use crate::pki::key::{KeyFormat, PrivateKey};
use crate::pki::request::{split_hostname_flag, CsrRequest, HostsError};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  kpki gencert -initca ca-csr.json | kpki json -bare ca
  kpki gencert -ca ca.pem -ca-key ca-key.pem -config ca-config.json -profile kubernetes admin-csr.json | kpki json -bare admin
  kpki gencert -ca ca.pem -ca-key ca-key.pem -config ca-config.json -profile kubernetes -hostname worker-0,10.240.0.20 worker-0-csr.json | kpki json -bare worker-0")]
pub struct Args {
    /// Make a self-signed CA from the CSR JSON (its "ca" section sets expiry and pathlen)
    #[arg(long)]
    pub initca: bool,
    #[command(flatten)]
    pub signing: SigningArgs,
    #[command(flatten)]
    pub out: BareArgs,
    /// With -initca: store the new CA key encrypted (PKCS#8, PBES2) under the passphrase
    #[arg(long = "encrypt-key", requires = "initca")]
    pub encrypt_key: bool,
    /// Re-issue the CA certificate of -ca with its key -ca-key: same subject, key,
    /// pathlen and validity length, from now, so every certificate it signed stays valid
    /// (cfssl gencert -renewca); prints {"cert"}
    #[arg(long, conflicts_with_all = ["initca", "csr", "bundle"])]
    pub renewca: bool,
    /// Also output the chain: the certificate then the intermediates of the -ca file
    /// ("bundle" in the JSON; NAME-bundle.pem with -bare)
    #[arg(long, conflicts_with = "initca")]
    pub bundle: bool,
    /// Replace the request's CN (cfssl's -cn)
    #[arg(long, value_name = "NAME")]
    pub cn: Option<String>,
    /// The CSR JSON file (- for stdin)
    #[arg(value_name = "CSR.json", required_unless_present = "renewca")]
    pub csr: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    if a.renewca {
        return renew_ca(&a);
    }
    let csr = a.csr.clone().ok_or_else(|| Failure::input("the CSR JSON file is missing"))?;
    let mut req = read_request(&csr)?;
    if let Some(cn) = &a.cn {
        req.subject.cn = Some(cn.clone());
        req.subject.check(|f| format!("-cn ({f})")).map_err(|e| Failure::input(e.to_string()))?;
    }
    let format: KeyFormat = a.out.key_format.into();
    let signing = &a.signing;
    let hosts = signing.hostname.as_deref().map(split_hostname_flag);
    let now = OffsetDateTime::now_utc();
    let made = if a.initca && signing.ca.is_none() && signing.ca_key.is_some() {
        // cfssl's `-initca -ca-key KEY`: a CA certificate for an existing key; prints {"cert","csr"}.
        if a.encrypt_key {
            return Err(Failure::input("-encrypt-key applies to a new CA key; -ca-key names an existing one"));
        }
        let key_path = signing.ca_key.as_deref().unwrap_or(Path::new("-"));
        let key = super::load_ca_key(key_path, &signing.passphrase)?;
        generate::initca_with_key(&req, hosts.as_deref(), &key, now).map_err(|e| generate_failure(e, &csr, hosts.is_some()))?
    } else if a.initca {
        if signing.ca.is_some() {
            return Err(Failure::input("-initca makes a self-signed CA: drop -ca (give -ca-key alone to make the CA for an existing key, or drop -initca to sign with that CA)"));
        }
        if signing.config.is_some() || signing.profile.is_some() {
            warn("-config and -profile do not apply to -initca (the CSR's \"ca\" section sets the CA's expiry); ignoring them");
        }
        let mut made = generate::initca(&req, hosts.as_deref(), format, now).map_err(|e| generate_failure(e, &csr, hosts.is_some()))?;
        if a.encrypt_key {
            let pass = signing.passphrase.require("New passphrase for the CA key: ", "-encrypt-key needs a passphrase")?;
            if let Some(k) = &made.key {
                let key = PrivateKey::from_pem(k.as_bytes()).map_err(|e| Failure::input(format!("the new CA key: {e}")))?;
                made.key = Some(key.to_encrypted_pem(&pass).map_err(|e| Failure::input(format!("encrypting the CA key: {e}")))?);
            }
        }
        made
    } else if let Some(target) = super::remote_target(signing)? {
        if a.bundle {
            return Err(Failure::input("-bundle needs the CA file (-ca): with -remote, build the chain with kpki bundle"));
        }
        if req.ca.is_some() {
            return Err(Failure::input(format!("CSR JSON {}: {}", display(&csr), GenerateError::CaSectionInLeaf)));
        }
        // The key and CSR are made here; only the CSR goes to the server.
        let mut made = generate::key_and_csr(&req, format).map_err(|e| generate_failure(e, &csr, false))?;
        let csr_pem = made.csr.clone().unwrap_or_default();
        made.cert = Some(super::remote_sign(&target, &csr_pem, signing.hostname.as_deref(), signing.label.as_deref(), signing.tls_remote_ca.as_deref())?);
        made
    } else {
        let (ca_path, ca_key_path) = signing.ca_paths()?;
        let profile = load_profile(signing.config.as_deref(), signing.profile.as_deref())?;
        let ca = load_ca(ca_path, ca_key_path, &signing.passphrase)?;
        let made = generate::leaf(&req, hosts.as_deref(), &profile, &ca, format, now).map_err(|e| generate_failure(e, &csr, hosts.is_some()))?;
        if a.bundle {
            let bundle = chain_of(made.cert.as_deref().unwrap_or_default(), ca_path)?;
            return emit_with_bundle(made, Some(bundle), a.out.bare.as_deref(), a.out.out_dir.as_deref(), a.out.force);
        }
        made
    };
    emit(made, a.out.bare.as_deref(), a.out.out_dir.as_deref(), a.out.force)
}

/// The certificate followed by its chain from the -ca file: the signing CA
/// (the file's first certificate), then each next issuer found in the file,
/// up to but not including a self-signed root (a root does not belong in the
/// chain a server sends). Certificates of the file not on that path are left
/// out, with a warning.
fn chain_of(cert_pem: &str, ca_path: &Path) -> Result<String> {
    use crate::pki::{cert, key::pem_encode};
    let bad = |e: &dyn std::fmt::Display| Failure::input(format!("CA certificate {}: {e}", display(ca_path)));
    let pem = read_input(ca_path, "CA certificate")?;
    let ders = cert::certs_from_pem(&pem).map_err(|e| bad(&e))?;
    let parsed = ders.iter().map(|d| cert::parse(d)).collect::<std::result::Result<Vec<_>, _>>().map_err(|e| bad(&e))?;
    let mut out = cert_pem.to_string();
    let mut used = vec![false; parsed.len()];
    let mut current = 0usize;
    loop {
        let c = &parsed[current];
        if c.issuer().as_raw() == c.subject().as_raw() || used[current] {
            break;
        }
        used[current] = true;
        out.push_str(&pem_encode("CERTIFICATE", &ders[current]));
        match (0..parsed.len()).find(|&j| !used[j] && crate::k8s::check::chain(c, &parsed[j]).is_ok()) {
            Some(j) => current = j,
            None => break,
        }
    }
    let skipped = used.iter().enumerate().filter(|&(j, u)| !(*u || j == 0 || parsed[j].issuer().as_raw() == parsed[j].subject().as_raw())).count();
    if skipped > 0 {
        warn(&format!("-bundle: {skipped} certificate(s) of {} are not on the signing CA's chain; left out of the bundle", display(ca_path)));
    }
    if !used.iter().any(|u| *u) {
        warn(&format!("-bundle: {} is a root CA; the bundle holds only the certificate", display(ca_path)));
    }
    Ok(out)
}

/// `gencert -renewca -ca CA.pem -ca-key CA-key.pem`: the CA certificate again,
/// with the same key and subject, printed as cfssl does (`{"cert"}`).
fn renew_ca(a: &Args) -> Result<()> {
    let (ca_path, ca_key_path) = a.signing.ca_paths()?;
    if a.signing.config.is_some() || a.signing.profile.is_some() || a.signing.hostname.is_some() {
        return Err(Failure::input("-renewca keeps the CA's subject, names and validity length: drop -config, -profile and -hostname"));
    }
    let ca = load_ca(ca_path, ca_key_path, &a.signing.passphrase)?;
    let (der, key) = ca.into_parts();
    let new = crate::pki::issue::renew_ca(&der, &key, OffsetDateTime::now_utc()).map_err(|e| Failure::input(format!("CA certificate {}: {e}", display(ca_path))))?;
    let made = Generated { cert: Some(crate::pki::key::pem_encode("CERTIFICATE", &new)), csr: None, key: None, warnings: vec![] };
    emit(made, a.out.bare.as_deref(), a.out.out_dir.as_deref(), a.out.force)
}

/// Reads and parses a CSR JSON, naming the file in errors.
pub fn read_request(path: &Path) -> Result<CsrRequest> {
    let text = read_input(path, "CSR JSON")?;
    CsrRequest::from_json(&text).map_err(|e| Failure::input(format!("CSR JSON {}: {e}", display(path))))
}

/// A library error with the input it is about: the `-hostname` entry
/// (1-based, as a user counts) when `hostname_flag`, else the CSR JSON file.
pub fn generate_failure(e: GenerateError, csr: &Path, hostname_flag: bool) -> Failure {
    match e {
        GenerateError::Hosts(HostsError { index: Some(i), message }) if hostname_flag => Failure::input(format!("-hostname: entry {}: {message}", i + 1)),
        GenerateError::Hosts(HostsError { index: None, message }) if hostname_flag => Failure::input(format!("-hostname: {message}")),
        GenerateError::CaExpiryTooShort(_) | GenerateError::CaBackdateTooLong => Failure::input(format!("CA JSON {}: {e}", display(csr))),
        GenerateError::Hosts(_) | GenerateError::NamesNothing | GenerateError::CaSectionInLeaf => Failure::input(format!("CSR JSON {}: {e}", display(csr))),
        GenerateError::Key(_) | GenerateError::Issue(_) => Failure::input(e.to_string()),
    }
}

/// Prints the JSON line cfssl prints, or writes the files for `-bare NAME`.
pub fn emit(made: Generated, bare: Option<&str>, out_dir: Option<&Path>, force: bool) -> Result<()> {
    emit_with_bundle(made, None, bare, out_dir, force)
}

/// [`emit`] with a chain: `"bundle"` in the JSON, `NAME-bundle.pem` with `-bare`.
pub fn emit_with_bundle(made: Generated, bundle: Option<String>, bare: Option<&str>, out_dir: Option<&Path>, force: bool) -> Result<()> {
    for w in &made.warnings {
        warn(w);
    }
    match bare {
        Some(name) => {
            if name.is_empty() {
                return Err(Failure::input("-bare needs a file name stem, e.g. -bare admin"));
            }
            let base = super::base_path(out_dir, name)?;
            let mut files = files_for(&base, made.cert.as_deref(), made.key.as_deref().map(|k| k.as_str()), made.csr.as_deref());
            if let Some(b) = &bundle {
                let mut p = base.as_os_str().to_owned();
                p.push("-bundle.pem");
                files.push(OutFile::public(PathBuf::from(p), b.as_bytes()));
            }
            output::write_all(&files, force)?;
            Ok(())
        }
        None => {
            // Go marshals a map with its keys sorted: bundle, cert, csr, key.
            let mut m = Map::new();
            if let Some(b) = bundle {
                m.insert("bundle".into(), Value::String(b));
            }
            if let Some(c) = made.cert {
                m.insert("cert".into(), Value::String(c));
            }
            if let Some(c) = made.csr {
                m.insert("csr".into(), Value::String(c));
            }
            if let Some(k) = &made.key {
                m.insert("key".into(), Value::String(k.to_string()));
            }
            let line = Zeroizing::new(crate::pki::cert::go_json(&Value::Object(m)));
            println!("{}", line.as_str());
            Ok(())
        }
    }
}

/// The files cfssljson writes for a base name: `.pem`, `-key.pem`, `.csr`.
pub fn files_for(base: &Path, cert: Option<&str>, key: Option<&str>, csr: Option<&str>) -> Vec<OutFile> {
    let with = |suffix: &str| {
        let mut s = base.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    let mut files = Vec::new();
    if let Some(k) = key {
        files.push(OutFile::secret(with("-key.pem"), k.as_bytes()));
    }
    if let Some(c) = cert {
        files.push(OutFile::public(with(".pem"), c.as_bytes()));
    }
    if let Some(c) = csr {
        files.push(OutFile::public(with(".csr"), c.as_bytes()));
    }
    files
}
