//! The command line: argv (with Go-style flags for the cfssl commands) parsed
//! once by clap into typed arguments, one file per command. Errors end here
//! as one sentence on stderr and an exit status: 2 for bad usage or input,
//! 1 for a failed check.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand};

mod args;
mod bootstrap;
mod bundle;
mod certinfo;
mod check_expiration;
mod destroy;
mod docs;
mod fetch;
mod gencert;
mod gencsr;
mod info;
mod genkey;
mod json;
mod kubeconfig;
mod mkbundle;
mod p12;
mod passphrase;
mod print_defaults;
mod remote;
mod renew;
mod selfsign;
mod serve;
mod sign;
mod verify;

pub use crate::output::MAX_INPUT;

#[derive(Parser, Debug)]
#[command(
    name = "kpki",
    version,
    about = "Certificates for a Kubernetes cluster you build yourself: a drop-in cfssl/cfssljson, bootstrap and verify",
    disable_help_subcommand = true,
    after_help = "Every cfssl command (gencert, genkey, sign, json, certinfo, print-defaults) also takes cfssl's -loglevel N (0 = debug .. 5 = fatal; 3 or more hides warnings) and Go's flag spellings (-ca x, -ca=x, --ca x)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Say only warnings and errors: no progress lines, no notes
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Say more: every wait, and how long each phase took
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make a key and a certificate from a CSR JSON (cfssl gencert)
    Gencert(gencert::Args),
    /// Make a key and a CSR from a CSR JSON, or a CA with -initca (cfssl genkey)
    Genkey(genkey::Args),
    /// Sign a PKCS#10 CSR with a CA (cfssl sign)
    Sign(sign::Args),
    /// Make a CSR for an existing key from a CSR JSON (cfssl gencsr)
    Gencsr(gencsr::Args),
    /// Make a key and a self-signed certificate, for testing only (cfssl selfsign)
    Selfsign(selfsign::Args),
    /// Write cert/key/CSR files from cfssl JSON output (cfssljson)
    #[command(disable_version_flag = true)]
    Json(json::Args),
    /// Print the version as `cfssl version` does (Version, Revision, Runtime)
    Version,
    /// Print a shell completion script (bash, zsh, fish, ...)
    Completions(docs::CompletionsArgs),
    /// Print a man page (roff): kpki's, or a command's
    Man(docs::ManArgs),
    /// Print a certificate as cfssl certinfo JSON
    Certinfo(certinfo::Args),
    /// Print the CA certificate and a profile's usages and expiry, from a server (-remote) or locally (cfssl info)
    Info(info::Args),
    /// Build and verify a certificate's chain up to a trusted root (cfssl bundle)
    Bundle(bundle::Args),
    /// Collect the certificates under files and directories into one PEM file (cfssl-mkbundle)
    Mkbundle(mkbundle::Args),
    /// Print a default CSR JSON, signing config or cluster config
    PrintDefaults(print_defaults::Args),
    /// Issue the cluster's whole certificate set, kubeconfigs and encryption config
    Bootstrap(bootstrap::Args),
    /// Check chains, key pairs, expiry, SANs and usages of a directory; exit 1 on any problem
    Verify(verify::Args),
    /// Show when every certificate in a directory expires
    CheckExpiration(check_expiration::Args),
    /// Re-issue leaf certificates from the same CA (same subject and SANs) and update kubeconfigs
    Renew(renew::Args),
    /// Delete every AWS resource tagged for the cluster
    Destroy(destroy::Args),
    /// Export a certificate, its key and CA chain as PKCS#12 (.p12/.pfx) for browsers, Java and Windows
    P12(p12::Args),
    /// Serve cfssl's HTTP API (/api/v1/cfssl/sign, newcert, info, ...) on one CA (cfssl serve)
    Serve(serve::Args),
    /// Kubeconfigs beyond the set: `kubeconfig user` onboards a user
    #[command(subcommand)]
    Kubeconfig(kubeconfig::Command),
}

/// Commands that take cfssl's Go-style flags and refuse flags after their file argument.
const GO_STYLE: &[&str] = &["gencert", "genkey", "gencsr", "selfsign", "sign", "json", "certinfo", "info", "bundle", "mkbundle", "serve", "print-defaults", "version"];

/// cfssl's `-loglevel` (0 debug .. 5 fatal, default 1): at 3 (error) or
/// above, warnings are not printed. Errors always are: they set the exit status.
static LOG_LEVEL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);

/// `cfssl version`'s three lines, with kpki's version and compiler.
pub fn version_text() -> String {
    format!("Version: {}\nRevision: {}\nRuntime: {}\n", env!("CARGO_PKG_VERSION"), "release", env!("KPKI_RUSTC_VERSION"))
}

/// A failure with the exit status it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    /// Bad usage or bad input: exit 2.
    pub fn input(message: impl Into<String>) -> Self {
        Failure { code: 2, message: message.into() }
    }
    /// A check that did not hold: exit 1.
    pub fn check(message: impl Into<String>) -> Self {
        Failure { code: 1, message: message.into() }
    }
}

/// An output error already names its path: it is the whole message.
impl From<crate::output::OutputError> for Failure {
    fn from(e: crate::output::OutputError) -> Self {
        Failure::input(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// Runs kpki with `args` (without the program name) and returns the exit status.
pub fn run(args: Vec<OsString>) -> i32 {
    let args: Vec<String> = match args.into_iter().map(|a| a.into_string()).collect::<std::result::Result<_, _>>() {
        Ok(a) => a,
        Err(bad) => {
            eprintln!("{}: error: argument {bad:?} is not valid UTF-8", crate::progress::program());
            return 2;
        }
    };
    // With `--output json`, a failure before any report is JSON on stdout
    // too, so a script reading stdout always gets JSON.
    let json_errors = args.iter().any(|a| a == "--output=json") || args.windows(2).any(|w| w[0] == "--output" && w[1] == "json");
    let args = match normalize(args) {
        Ok(a) => a,
        Err(f) => {
            eprintln!("{}: error: {}", crate::progress::program(), f.message);
            if json_errors {
                print_json_error(&f);
            }
            return f.code;
        }
    };
    if let Some(f) = args.iter().find(|a| !a.starts_with('-')).and_then(|c| missing_cfssl_command(c)) {
        eprintln!("{}: error: {}", crate::progress::program(), f.message);
        if json_errors {
            print_json_error(&f);
        }
        return f.code;
    }
    let cli = match Cli::try_parse_from(std::iter::once("kpki".to_string()).chain(args)) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            if e.use_stderr() {
                // One error style: clap's errors carry kpki's prefix too.
                let text = e.render().to_string();
                match text.strip_prefix("error: ") {
                    Some(rest) => eprint!("{}: error: {rest}", crate::progress::program()),
                    None => eprint!("{text}"),
                }
            } else {
                let _ = e.print();
            }
            if json_errors && code != 0 {
                let message = e.kind().to_string();
                let detail = e.render().to_string();
                let first = detail.lines().next().unwrap_or(&message).trim_start_matches("error: ").to_string();
                print_json_error(&Failure::input(first));
            }
            return code;
        }
    };
    crate::progress::set_level(match (cli.quiet, cli.verbose) {
        (true, _) => crate::progress::Level::Quiet,
        (_, true) => crate::progress::Level::Verbose,
        _ => crate::progress::Level::Normal,
    });
    let result = match cli.command {
        Command::Gencert(a) => gencert::run(a),
        Command::Genkey(a) => genkey::run(a),
        Command::Sign(a) => sign::run(a),
        Command::Gencsr(a) => gencsr::run(a),
        Command::Selfsign(a) => selfsign::run(a),
        Command::Json(a) => json::run(a),
        Command::Certinfo(a) => certinfo::run(a),
        Command::Info(a) => info::run(a),
        Command::Bundle(a) => bundle::run(a),
        Command::Mkbundle(a) => mkbundle::run(a),
        Command::PrintDefaults(a) => print_defaults::run(a),
        Command::Bootstrap(a) => bootstrap::run(a),
        Command::Verify(a) => verify::run(a),
        Command::CheckExpiration(a) => check_expiration::run(a),
        Command::Renew(a) => renew::run(a),
        Command::Destroy(a) => destroy::run(a),
        Command::Kubeconfig(c) => kubeconfig::run(c),
        Command::P12(a) => p12::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Completions(a) => docs::completions(a),
        Command::Man(a) => docs::man(a),
        Command::Version => {
            print!("{}", version_text());
            Ok(())
        }
    };
    crate::progress::finish();
    match result {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("{}: error: {}", crate::progress::program(), f.message);
            // A failed check (1) has already printed its JSON report.
            if json_errors && f.code == 2 {
                print_json_error(&f);
            }
            f.code
        }
    }
}

/// cfssl 1.2's commands kpki does not have, with why (instead of clap's
/// "did you mean" to an unrelated command: `revoke` is not `renew`).
fn missing_cfssl_command(name: &str) -> Option<Failure> {
    let why = match name {
        "revoke" | "ocspsign" | "ocspserve" | "ocspdump" | "ocsprefresh" => {
            "kpki keeps no certificate database and Kubernetes does not check OCSP: renew short-lived certificates (kpki renew) or rotate the CA (kpki renew --role ca --rekey)"
        }
        "gencrl" => "Kubernetes components do not read CRLs: rotate the CA instead (kpki renew --role ca --rekey)",
        "scan" => "a TLS scanner is outside a PKI tool's job; kpki certinfo -domain HOST:PORT shows a server's certificate",
        "multirootca" => "run one signer per CA",
        _ => return None,
    };
    Some(Failure::input(format!("`{name}` is a cfssl command kpki does not have: {why} (README: cfssl 1.2 compatibility)")))
}

/// An error as JSON on stdout: `{"apiVersion","kind":"Error","error":{"message","exitCode"}}`.
fn print_json_error(f: &Failure) {
    let v = serde_json::json!({
        "apiVersion": check_expiration::API_VERSION,
        "kind": "Error",
        "error": {"message": f.message, "exitCode": f.code},
    });
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}

/// Rewrites Go-style flags (`-ca x`, `-ca=x`, `--ca x`, `--ca=x`, `-initca=true`)
/// into clap's form for the cfssl commands, and refuses flags after the file
/// argument (cfssl silently ignores them) and unknown flags.
fn normalize(args: Vec<String>) -> Result<Vec<String>> {
    let Some(sub_pos) = args.iter().position(|a| !a.starts_with('-')) else { return Ok(args) };
    let sub_name = args[sub_pos].clone();
    if !GO_STYLE.contains(&sub_name.as_str()) {
        return Ok(args);
    }
    let root = Cli::command();
    let Some(sub) = root.find_subcommand(&sub_name) else { return Ok(args) };
    let mut out: Vec<String> = args[..=sub_pos].to_vec();
    let mut positional: Option<String> = None;
    let mut it = args[sub_pos + 1..].iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            out.push(arg.clone());
            out.extend(it.cloned());
            break;
        }
        let is_flag = arg.starts_with('-') && arg != "-";
        if !is_flag {
            positional.get_or_insert_with(|| arg.clone());
            out.push(arg.clone());
            continue;
        }
        if let Some(pos) = &positional {
            return Err(Failure::input(format!(
                "flag {arg} comes after the argument {pos}; put every flag before it (cfssl silently ignores such flags)"
            )));
        }
        let body = arg.trim_start_matches('-');
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if matches!(name, "h" | "help") {
            out.push("--help".into());
            continue;
        }
        // kpki's own global flags, on every command.
        if value.is_none() && matches!(name, "q" | "quiet" | "v" | "verbose") {
            out.push(if name.starts_with('q') { "--quiet".into() } else { "--verbose".into() });
            continue;
        }
        // Every cfssl command takes -loglevel; it is kpki's, not a subcommand's.
        if name == "loglevel" {
            let v = match value {
                Some(v) => v,
                None => it.next().cloned().ok_or_else(|| Failure::input("flag -loglevel needs a value (0 = debug .. 5 = fatal)"))?,
            };
            let level: u8 = v.parse().ok().filter(|n| *n <= 5).ok_or_else(|| Failure::input(format!("-loglevel: {v:?} is not a level from 0 (debug) to 5 (fatal)")))?;
            LOG_LEVEL.store(level, std::sync::atomic::Ordering::Relaxed);
            continue;
        }
        let Some(spec) = sub.get_arguments().find(|a| a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name))) else {
            return Err(Failure::input(format!("unknown flag -{name} for `kpki {sub_name}` (see `kpki {sub_name} --help`)")));
        };
        if spec.get_action().takes_values() {
            let value = match value {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| Failure::input(format!("flag -{name} needs a value")))?,
            };
            out.push(format!("--{name}={value}"));
        } else {
            match value.as_deref() {
                None | Some("true") | Some("1") | Some("t") | Some("TRUE") | Some("True") => out.push(format!("--{name}")),
                Some("false") | Some("0") | Some("f") | Some("FALSE") | Some("False") => {}
                Some(v) => return Err(Failure::input(format!("flag -{name} is true or false, not {v:?}"))),
            }
        }
    }
    Ok(out)
}

/// Reads an input file, or stdin for `-`, with a size limit; never blocks
/// on a FIFO or device given as a file.
pub fn read_input(path: &Path, what: &str) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(MAX_INPUT + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Failure::input(format!("cannot read {what} from stdin: {e}")))?;
        if buf.len() as u64 > MAX_INPUT {
            return Err(Failure::input(format!("{what} on stdin is larger than {} MiB; that is not a {what}", MAX_INPUT >> 20)));
        }
        return Ok(buf);
    }
    crate::output::read_file(path).map_err(|e| Failure::input(format!("cannot read {what} {e}")))
}

pub use crate::output::io_reason;

/// A path for messages (`stdin` for `-`): one line, control characters escaped.
pub fn display(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".into()
    } else {
        crate::output::shown(path)
    }
}

/// The certificate files of a directory (`*.pem` except keys and hidden files), sorted.
pub fn cert_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut certs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Failure::input(format!("--dir {}: {}", display(dir), io_reason(&e))))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            n.ends_with(".pem") && !n.ends_with("-key.pem") && !n.starts_with('.')
        })
        .collect();
    certs.sort();
    Ok(certs)
}

/// Prints a warning on stderr (unless `-loglevel` is 3 or more).
pub fn warn(message: &str) {
    if LOG_LEVEL.load(std::sync::atomic::Ordering::Relaxed) < 3 {
        eprintln!("{}: warning: {message}", crate::progress::program());
    }
}


/// Opens a CA key: a key URI (`awskms:`, `pkcs11:`) through its store, or
/// a key file, decrypted when it is encrypted.
pub fn load_ca_key(ca_key: &Path, pass: &passphrase::PassphraseArgs) -> Result<crate::pki::signer::CaKey> {
    if let Some(uri) = ca_key.to_str().filter(|s| crate::keystore::is_key_uri(s)) {
        pass.warn_unused(&crate::keystore::without_secrets(uri));
        return crate::keystore::open(uri, &crate::keystore::StoreOptions::default(), &warn).map_err(|e| Failure::input(e.to_string()));
    }
    Ok(load_ca_key_file(ca_key, pass)?.into())
}

/// Reads a CA key file, decrypting it when it is encrypted.
pub fn load_ca_key_file(ca_key: &Path, pass: &passphrase::PassphraseArgs) -> Result<crate::pki::key::PrivateKey> {
    use crate::pki::key;
    let key_pem = zeroize::Zeroizing::new(read_input(ca_key, "CA key")?);
    let passphrase = if key::PrivateKey::is_encrypted_pem(&key_pem) {
        Some(pass.require(&format!("Passphrase for {}: ", display(ca_key)), &format!("CA key {} is encrypted", display(ca_key)))?)
    } else {
        pass.warn_unused(&display(ca_key));
        None
    };
    key::PrivateKey::from_pem_with_passphrase(&key_pem, passphrase.as_ref().map(|p| p.as_slice()))
        .map_err(|e| Failure::input(format!("CA key {}: {e}", display(ca_key))))
}

/// A `-ca-key` argument for messages: a key URI without its PIN, or the path.
pub fn key_shown(ca_key: &Path) -> String {
    match ca_key.to_str().filter(|s| crate::keystore::is_key_uri(s)) {
        Some(uri) => crate::keystore::without_secrets(uri),
        None => display(ca_key),
    }
}

/// Loads a CA certificate and key for signing, with errors naming each file.
pub fn load_ca(ca: &Path, ca_key: &Path, pass: &passphrase::PassphraseArgs) -> Result<crate::pki::issue::Ca> {
    use crate::pki::{cert, issue};
    let cert_pem = read_input(ca, "CA certificate")?;
    let cert_der = cert::cert_from_pem(&cert_pem).map_err(|e| Failure::input(format!("CA certificate {}: {e}", display(ca))))?;
    let key = load_ca_key(ca_key, pass)?;
    issue::Ca::new(cert_der.to_vec(), key).map_err(|e| match e {
        issue::IssueError::KeyMismatch => Failure::input(format!(
            "CA key {} does not belong to CA certificate {} (their public keys differ)",
            key_shown(ca_key),
            display(ca)
        )),
        other => Failure::input(format!("CA certificate {}: {other}", display(ca))),
    })
}

/// Reads the signing config of `-config` (cfssl's default without one).
pub fn load_config(config: Option<&Path>) -> Result<crate::pki::profile::SigningConfig> {
    use crate::pki::profile::SigningConfig;
    Ok(match config {
        Some(p) => {
            let text = read_input(p, "signing config")?;
            SigningConfig::from_json(&text).map_err(|e| Failure::input(format!("signing config {}: {e}", display(p))))?
        }
        None => SigningConfig::default(),
    })
}

/// An auth key of the config as bytes (hex in the config, in an
/// environment variable, or in a file).
pub fn resolve_auth_key(config: &crate::pki::profile::SigningConfig, name: &str) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    use crate::pki::profile::{auth_key_from_hex, AuthKeySource};
    let source = config.auth_keys.get(name).ok_or_else(|| Failure::input(format!("auth key {name:?} is not in auth_keys")))?;
    Ok(match source {
        AuthKeySource::Bytes(b) => b.clone(),
        AuthKeySource::Env(var) => {
            let text = zeroize::Zeroizing::new(std::env::var(var).map_err(|_| Failure::input(format!("auth_keys.{name}: environment variable {var} is not set")))?);
            auth_key_from_hex(&text).map_err(|e| Failure::input(format!("auth_keys.{name}: ${var} {e}")))?
        }
        AuthKeySource::File(path) => {
            let raw = zeroize::Zeroizing::new(read_input(Path::new(path), "auth key file")?);
            let text = std::str::from_utf8(&raw).map_err(|_| Failure::input(format!("auth_keys.{name}: {path} is not text")))?;
            auth_key_from_hex(text).map_err(|e| Failure::input(format!("auth_keys.{name}: {path} {e}")))?
        }
    })
}

/// Where `-remote` (or the profile's `remote` in the config, when no CA is
/// given) sends the request, the profile name to send, and the auth key.
pub struct RemoteTarget {
    pub remote: remote::Remote,
    pub profile: String,
    pub auth_key: Option<zeroize::Zeroizing<Vec<u8>>>,
}

/// The remote signer for these flags, if signing is remote.
pub fn remote_target(signing: &args::SigningArgs) -> Result<Option<RemoteTarget>> {
    if signing.ca.is_some() || signing.ca_key.is_some() {
        return Ok(None);
    }
    // Without a local config the profile is the server's to know.
    if let (Some(r), None) = (&signing.remote, &signing.config) {
        return Ok(Some(RemoteTarget { remote: remote::Remote::parse(r)?, profile: signing.profile.clone().unwrap_or_default(), auth_key: None }));
    }
    let cfg = load_config(signing.config.as_deref())?;
    let profile = cfg.profile(signing.profile.as_deref()).map_err(|e| Failure::input(format!("-profile: {e}")))?;
    let address = match (&signing.remote, &profile.remote) {
        (Some(r), _) => r.clone(),
        (None, Some(name)) => cfg.remotes.get(name).cloned().ok_or_else(|| Failure::input(format!("remote {name:?} is not in the config's remotes")))?,
        (None, None) => return Ok(None),
    };
    let auth_key = profile.auth_key.as_deref().map(|k| resolve_auth_key(&cfg, k)).transpose()?;
    Ok(Some(RemoteTarget { remote: remote::Remote::parse(&address)?, profile: signing.profile.clone().unwrap_or_default(), auth_key }))
}

/// Signs `csr_pem` on the remote: the certificate PEM.
pub fn remote_sign(t: &RemoteTarget, csr_pem: &str, hostname: Option<&str>, label: Option<&str>, tls_ca: Option<&Path>) -> Result<String> {
    // cfssl sends "hosts": null without -hostname: the server keeps the CSR's names.
    let hosts = hostname.map(|h| serde_json::Value::from(crate::pki::request::split_hostname_flag(h))).unwrap_or(serde_json::Value::Null);
    let req = serde_json::json!({"hosts": hosts, "certificate_request": csr_pem, "profile": t.profile, "label": label.unwrap_or("")});
    let (endpoint, body) = remote::sign_body(&req, t.auth_key.as_ref().map(|k| k.as_slice()));
    let result = remote::call(&t.remote, &endpoint, &body, tls_ca)?;
    let cert = result.get("certificate").and_then(serde_json::Value::as_str).ok_or_else(|| Failure::check("the server's answer has no certificate"))?;
    crate::pki::cert::cert_from_pem(cert.as_bytes()).map_err(|e| Failure::check(format!("the server's certificate: {e}")))?;
    Ok(cert.to_string())
}

/// Reads the signing profile from `-config` and `-profile`.
pub fn load_profile(config: Option<&Path>, profile: Option<&str>) -> Result<crate::pki::profile::Profile> {
    let cfg = load_config(config)?;
    let chosen = cfg.profile(profile).map_err(|e| match config {
        Some(p) => Failure::input(format!("-profile: profile {:?} is not in {} ({})", e.name, display(p), e.known_text())),
        None => Failure::input(format!("-profile: {e}; pass -config with the file that defines it")),
    })?;
    Ok(chosen.clone())
}

/// The base path for `-bare NAME` with an optional `--out-dir`. Without
/// `--out-dir`, NAME is a path as cfssljson takes it; with it, NAME must stay
/// inside the directory (no absolute path, no `..`).
pub fn base_path(out_dir: Option<&Path>, name: &str) -> Result<PathBuf> {
    match out_dir {
        Some(d) => {
            let inside = Path::new(name).components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
            if !inside {
                return Err(Failure::input(format!(
                    "-bare {}: with --out-dir the name must stay inside {} (no absolute path, no '..')",
                    crate::pki::json::shown(name),
                    display(d)
                )));
            }
            // Nor through a symlink inside it.
            let mut at = d.to_path_buf();
            let parts: Vec<_> = Path::new(name).components().collect();
            for c in parts.iter().take(parts.len().saturating_sub(1)) {
                at.push(c);
                if at.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(Failure::input(format!(
                        "-bare {}: {} is a symbolic link; with --out-dir the name must stay inside {}",
                        crate::pki::json::shown(name),
                        display(&at),
                        display(d)
                    )));
                }
            }
            Ok(d.join(name))
        }
        None => Ok(PathBuf::from(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(args: &[&str]) -> Result<Vec<String>> {
        normalize(args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn go_flags_in_all_four_spellings() {
        for spelling in [&["-ca", "ca.pem"][..], &["-ca=ca.pem"], &["--ca", "ca.pem"], &["--ca=ca.pem"]] {
            let mut args = vec!["gencert"];
            args.extend_from_slice(spelling);
            args.push("x.json");
            assert_eq!(n(&args).unwrap(), vec!["gencert", "--ca=ca.pem", "x.json"]);
        }
        assert_eq!(n(&["gencert", "-initca", "x.json"]).unwrap(), vec!["gencert", "--initca", "x.json"]);
        assert_eq!(n(&["gencert", "-initca=false", "x.json"]).unwrap(), vec!["gencert", "x.json"]);
        assert_eq!(n(&["json", "-bare", "ca"]).unwrap(), vec!["json", "--bare", "ca"]);
    }

    #[test]
    fn flags_after_the_file_and_unknown_flags_are_errors() {
        assert!(n(&["gencert", "x.json", "-profile=k"]).unwrap_err().message.contains("after the argument x.json"));
        assert!(n(&["gencert", "-nope", "x.json"]).unwrap_err().message.contains("unknown flag -nope"));
        assert!(n(&["gencert", "-ca"]).unwrap_err().message.contains("needs a value"));
        // stdin as the file argument is not a flag
        assert_eq!(n(&["gencert", "-initca", "-"]).unwrap(), vec!["gencert", "--initca", "-"]);
    }
}
