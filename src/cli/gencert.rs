//! `kpki gencert`: a new key and a certificate from a CSR JSON, signed by a CA
//! or self-signed with `-initca` (cfssl gencert).

use std::path::PathBuf;

use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::{display, load_ca, load_profile, read_input, warn, Failure, KeyFormatArg, Result};
use crate::output::{self, OutFile};
use crate::pki::issue::{self, CertPlan, SubjectKey, Validity};
use crate::pki::key::{pem_encode, KeyFormat, PrivateKey};
use crate::pki::profile::{Profile, DEFAULT_CA_EXPIRY_HOURS};
use crate::pki::request::{parse_hosts, split_hostname_flag, CsrRequest};

/// The CA and signing flags shared by `gencert` and `sign`.
#[derive(clap::Args, Debug)]
pub struct SigningArgs {
    /// The CA certificate to sign with
    #[arg(long, value_name = "CA.pem")]
    pub ca: Option<PathBuf>,
    /// The CA's private key (PKCS#1, SEC1, PKCS#8 or encrypted PKCS#8)
    #[arg(long = "ca-key", value_name = "CA-KEY.pem")]
    pub ca_key: Option<PathBuf>,
    /// The signing config (cfssl ca-config.json)
    #[arg(long, value_name = "CONFIG.json")]
    pub config: Option<PathBuf>,
    /// The signing profile from the config (default: the config's default)
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Comma-separated SANs; replaces the request's own
    #[arg(long, value_name = "a,b,1.2.3.4")]
    pub hostname: Option<String>,
    #[command(flatten)]
    pub passphrase: super::passphrase::PassphraseArgs,
}

impl SigningArgs {
    /// The CA certificate and key paths, both required.
    pub fn ca_paths(&self) -> Result<(&std::path::Path, &std::path::Path)> {
        match (&self.ca, &self.ca_key) {
            (Some(c), Some(k)) => Ok((c, k)),
            (Some(_), None) => Err(Failure::input("-ca needs -ca-key: give the CA's private key too (cfssl exits 0 here and prints nothing)")),
            (None, Some(_)) => Err(Failure::input("-ca-key needs -ca: give the CA certificate too")),
            (None, None) => Err(Failure::input("give -ca and -ca-key to sign, or -initca to make a CA")),
        }
    }
}

/// Where and how `-bare` output is written; shared by `gencert` and `genkey`.
#[derive(clap::Args, Debug)]
pub struct BareArgs {
    /// Write NAME.pem, NAME-key.pem and NAME.csr instead of printing JSON
    #[arg(long, value_name = "NAME")]
    pub bare: Option<String>,
    /// Directory for the files written with -bare
    #[arg(long = "out-dir", value_name = "DIR", requires = "bare")]
    pub out_dir: Option<PathBuf>,
    /// Private key encoding
    #[arg(long = "key-format", value_enum, default_value_t)]
    pub key_format: KeyFormatArg,
    /// Overwrite an existing private key with -bare
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args, Debug)]
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
    /// The CSR JSON file (- for stdin)
    #[arg(value_name = "CSR.json")]
    pub csr: PathBuf,
}

/// What one command made, as PEM.
pub struct Made {
    pub cert: Option<String>,
    pub csr: Option<String>,
    pub key: Option<Zeroizing<String>>,
}

pub fn run(a: Args) -> Result<()> {
    let req = read_request(&a.csr)?;
    let format: KeyFormat = a.out.key_format.into();
    let sg = &a.signing;
    let made = if a.initca {
        if sg.ca.is_some() || sg.ca_key.is_some() {
            return Err(Failure::input("-initca makes a self-signed CA: drop -ca and -ca-key (or drop -initca to sign with that CA)"));
        }
        if sg.config.is_some() || sg.profile.is_some() {
            warn("-config and -profile do not apply to -initca (the CSR's \"ca\" section sets the CA's expiry); ignoring them");
        }
        let mut made = initca(&req, &a.csr, sg.hostname.as_deref(), format)?;
        if a.encrypt_key {
            let pass = sg.passphrase.require("New passphrase for the CA key: ", "-encrypt-key needs a passphrase")?;
            if let Some(k) = &made.key {
                let key = PrivateKey::from_pem(k.as_bytes())?;
                made.key = Some(key.to_encrypted_pem(&pass)?);
            }
        }
        made
    } else {
        let (ca_path, ca_key_path) = sg.ca_paths()?;
        let profile = load_profile(sg.config.as_deref(), sg.profile.as_deref())?;
        let ca = load_ca(ca_path, ca_key_path, &sg.passphrase)?;
        leaf(&req, &a.csr, sg.hostname.as_deref(), &profile, &ca, format)?
    };
    emit(made, a.out.bare.as_deref(), a.out.out_dir.as_deref(), a.out.force)
}

/// Reads and parses a CSR JSON, naming the file in errors.
pub fn read_request(path: &std::path::Path) -> Result<CsrRequest> {
    let text = read_input(path, "CSR JSON")?;
    CsrRequest::from_json(&text).map_err(|e| Failure::input(format!("CSR JSON {}: {e}", display(path))))
}

fn sans_for(req: &CsrRequest, csr_path: &std::path::Path, hostname: Option<&str>) -> Result<Vec<rcgen::SanType>> {
    let sans = sans_from(req, csr_path, hostname)?;
    // cfssl issues a certificate that names nothing for `{}`; it identifies
    // no one, so it is refused.
    if sans.is_empty() && req.subject.is_empty() {
        return Err(Failure::input(format!(
            "CSR JSON {}: it has no subject (CN, names) and no hosts; a certificate must name something",
            display(csr_path)
        )));
    }
    Ok(sans)
}

fn sans_from(req: &CsrRequest, csr_path: &std::path::Path, hostname: Option<&str>) -> Result<Vec<rcgen::SanType>> {
    match hostname {
        Some(h) => parse_hosts(&split_hostname_flag(h)).map_err(|e| {
            let index: usize = e.field.trim_start_matches("hosts[").trim_end_matches(']').parse().unwrap_or(0);
            Failure::input(format!("-hostname: entry {}: {}", index + 1, e.message))
        }),
        None => parse_hosts(&req.hosts).map_err(|e| Failure::input(format!("CSR JSON {}: {e}", display(csr_path)))),
    }
}

fn gen_key(req: &CsrRequest) -> Result<PrivateKey> {
    PrivateKey::generate(req.key).map_err(|e| Failure::input(e.to_string()))
}

/// A self-signed CA, key and CSR.
pub fn initca(req: &CsrRequest, csr_path: &std::path::Path, hostname: Option<&str>, format: KeyFormat) -> Result<Made> {
    let sans = sans_for(req, csr_path, hostname)?;
    let key = gen_key(req)?;
    let ca = req.ca.clone().unwrap_or_default();
    let expiry = ca.expiry.unwrap_or(Duration::hours(DEFAULT_CA_EXPIRY_HOURS));
    if expiry <= Duration::minutes(5) {
        return Err(Failure::input(format!(
            "CA JSON {}: ca.expiry is {} minutes; NotBefore is backdated five minutes (as cfssl does), so the CA would already be expired",
            display(csr_path),
            expiry.whole_minutes()
        )));
    }
    let subject = req.subject.to_dn();
    let plan = CertPlan { subject: subject.clone(), sans: sans.clone(), validity: Validity::cfssl(OffsetDateTime::now_utc(), expiry) };
    let cert = issue::self_signed_ca(&plan, ca.path_len, &key)?;
    let csr_path_len = req.ca.as_ref().map(|c| c.path_len);
    let csr = issue::csr(&subject, &sans, csr_path_len, &key)?;
    Ok(Made {
        cert: Some(pem_encode("CERTIFICATE", &cert)),
        csr: Some(pem_encode("CERTIFICATE REQUEST", &csr)),
        key: Some(key.to_pem(format)?),
    })
}

/// A key, CSR and certificate signed by `ca`.
pub fn leaf(
    req: &CsrRequest,
    csr_path: &std::path::Path,
    hostname: Option<&str>,
    profile: &Profile,
    ca: &issue::Ca,
    format: KeyFormat,
) -> Result<Made> {
    let sans = sans_for(req, csr_path, hostname)?;
    let key = gen_key(req)?;
    let subject = req.subject.to_dn();
    let csr = issue::csr(&subject, &sans, None, &key)?;
    let plan = CertPlan { subject, sans, validity: Validity::cfssl(OffsetDateTime::now_utc(), profile.expiry) };
    let issued = issue::sign(&plan, &SubjectKey::of(&key), profile, ca)?;
    for w in &issued.warnings {
        warn(w);
    }
    Ok(Made {
        cert: Some(pem_encode("CERTIFICATE", &issued.der)),
        csr: Some(pem_encode("CERTIFICATE REQUEST", &csr)),
        key: Some(key.to_pem(format)?),
    })
}

/// A key and CSR only.
pub fn key_and_csr(req: &CsrRequest, csr_path: &std::path::Path, format: KeyFormat) -> Result<Made> {
    let sans = sans_for(req, csr_path, None)?;
    let key = gen_key(req)?;
    let csr = issue::csr(&req.subject.to_dn(), &sans, None, &key)?;
    Ok(Made { cert: None, csr: Some(pem_encode("CERTIFICATE REQUEST", &csr)), key: Some(key.to_pem(format)?) })
}

/// Prints the JSON line cfssl prints, or writes the files for `-bare NAME`.
pub fn emit(made: Made, bare: Option<&str>, out_dir: Option<&std::path::Path>, force: bool) -> Result<()> {
    match bare {
        Some(name) => {
            if name.is_empty() {
                return Err(Failure::input("-bare needs a file name stem, e.g. -bare admin"));
            }
            let base = super::base_path(out_dir, name)?;
            let files = files_for(&base, made.cert.as_deref(), made.key.as_deref().map(|k| k.as_str()), made.csr.as_deref());
            output::write_all(&files, force)?;
            Ok(())
        }
        None => {
            // Go marshals a map with its keys sorted: cert, csr, key.
            let mut m = Map::new();
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
pub fn files_for(base: &std::path::Path, cert: Option<&str>, key: Option<&str>, csr: Option<&str>) -> Vec<OutFile> {
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
