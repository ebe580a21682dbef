//! `kpki p12`: a certificate, its private key and the CA chain as one
//! PKCS#12 file (`.p12`/`.pfx`) for browsers, Java and Windows clients.
//! The file is written mode 0600; an existing file is replaced only with
//! `--force`, and a symbolic link or other non-regular file never.

use std::io::{IsTerminal, Read};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{display, read_input, warn, Failure, Result};
use crate::model::file::OutFile;
use crate::output;
use crate::pki::cert;
use crate::pki::key::PrivateKey;
use crate::pki::p12::{self, P12Error, P12Mode};

/// The environment variable read for the export passphrase when no flag names a source.
pub const PASSPHRASE_ENV: &str = "KPKI_P12_PASSPHRASE";

const AFTER_HELP: &str = "\
The export passphrase comes from --passphrase-file, --passphrase-env, KPKI_P12_PASSPHRASE, or a prompt on the terminal (asked twice); never from the command line. An encrypted --key is read with --key-passphrase-file or --key-passphrase-env, or a prompt.

Examples:
  kpki p12 --cert admin.pem --key admin-key.pem --ca ca.pem --out admin.p12 --passphrase-file pass.txt
  KPKI_P12_PASSPHRASE=... kpki p12 --cert web.pem --key web-key.pem --ca intermediate.pem --ca ca.pem --out web.p12
  kpki p12 --legacy --cert user.pem --key user-key.pem --ca ca.pem --name alice --out alice.pfx   # older Java, Windows, macOS";

// Not a doc comment: clap would take it as the command's about text.
#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The certificate in PEM; further certificates in the file (a full chain) are CA certificates, as with --ca
    #[arg(long, value_name = "CERT.pem")]
    pub cert: PathBuf,
    /// Its private key in PEM (PKCS#1, SEC1, PKCS#8, or encrypted PKCS#8)
    #[arg(long, value_name = "KEY.pem")]
    pub key: PathBuf,
    /// CA certificates to include, in chain order: the certificate's issuer first, the root last (repeatable; a file may hold several)
    #[arg(long, value_name = "CA.pem")]
    pub ca: Vec<PathBuf>,
    /// The PKCS#12 file to write (mode 0600)
    #[arg(long, value_name = "FILE.p12")]
    pub out: PathBuf,
    /// 3DES and a SHA-1 MAC (2048 iterations) instead of AES-256 and SHA-256, for older Java, Windows and macOS
    #[arg(long)]
    pub legacy: bool,
    /// The name clients show for the key (default: the certificate's CN)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Replace an existing --out file
    #[arg(long)]
    pub force: bool,
    /// Read the export passphrase from FILE (its first line)
    #[arg(long = "passphrase-file", value_name = "FILE", conflicts_with = "passphrase_env")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the export passphrase from environment variable VAR (default: KPKI_P12_PASSPHRASE)
    #[arg(long = "passphrase-env", value_name = "VAR")]
    pub passphrase_env: Option<String>,
    /// Read the passphrase of an encrypted --key from FILE (its first line)
    #[arg(long = "key-passphrase-file", value_name = "FILE", conflicts_with = "key_passphrase_env")]
    pub key_passphrase_file: Option<PathBuf>,
    /// Read the passphrase of an encrypted --key from environment variable VAR
    #[arg(long = "key-passphrase-env", value_name = "VAR")]
    pub key_passphrase_env: Option<String>,
}

/// Where a passphrase comes from.
struct Source<'a> {
    file: Option<&'a Path>,
    env: Option<&'a str>,
    /// The variable read when neither flag is given.
    default_env: Option<&'a str>,
    /// The flags, for messages.
    flags: &'a str,
}

impl Source<'_> {
    /// The passphrase from the file, the variable, or a prompt on the
    /// terminal (asked twice when `confirm`); `None` when there is no source.
    /// Bytes as given: the caller decides whether they must be UTF-8.
    fn get(&self, prompt: &str, confirm: bool) -> Result<Option<Zeroizing<Vec<u8>>>> {
        if let Some(f) = self.file {
            let mut bytes = Zeroizing::new(Vec::new());
            std::fs::File::open(f)
                .and_then(|mut h| h.by_ref().take(super::passphrase::MAX_PASSPHRASE as u64 + 2).read_to_end(&mut bytes))
                .map_err(|e| Failure::input(format!("cannot read the passphrase file {}: {}", display(f), super::io_reason(&e))))?;
            let end = bytes.iter().position(|&b| b == b'\n').unwrap_or(bytes.len());
            let mut line = &bytes[..end];
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            if line.is_empty() {
                return Err(Failure::input(format!("the passphrase file {} is empty", display(f))));
            }
            // Never cut silently; no NUL or other control bytes (a non-UTF-8 passphrase is refused later, by the exporter).
            if line.len() > super::passphrase::MAX_PASSPHRASE || line.iter().any(|b| *b < 0x20 || *b == 0x7f) {
                return Err(Failure::input(format!(
                    "the passphrase in {} is longer than {} bytes or has a control character",
                    display(f),
                    super::passphrase::MAX_PASSPHRASE
                )));
            }
            return Ok(Some(Zeroizing::new(line.to_vec())));
        }
        if let Some(var) = self.env.or(self.default_env) {
            match std::env::var_os(var) {
                Some(v) if !v.is_empty() => return Ok(Some(Zeroizing::new(v.into_vec()))),
                _ if self.env.is_some() => return Err(Failure::input(format!("the environment variable {var} is not set"))),
                _ => {}
            }
        }
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return Ok(None);
        }
        let first = read_hidden(prompt)?;
        if confirm {
            let again = read_hidden("Again, to confirm: ")?;
            if again != first {
                return Err(Failure::input("the two passphrases differ"));
            }
        }
        Ok(Some(first))
    }

    fn given(&self) -> bool {
        self.file.is_some() || self.env.is_some()
    }
}

/// A line from the terminal with echo off.
fn read_hidden(prompt: &str) -> Result<Zeroizing<Vec<u8>>> {
    let line = Zeroizing::new(rpassword::prompt_password(prompt).map_err(|e| Failure::input(format!("cannot read the passphrase: {e}")))?);
    Ok(Zeroizing::new(line.as_bytes().to_vec()))
}

/// Refuses an `--out` that is one of the inputs (with `--force` it would be
/// replaced), and, before any prompt, one that exists without `--force` or
/// is not a regular file. The output layer checks the last two again when
/// it writes.
fn check_out(a: &Args) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(&a.out) else { return Ok(()) };
    if !meta.file_type().is_file() {
        let what = if meta.file_type().is_symlink() { "a symbolic link" } else { "not a regular file" };
        return Err(Failure::input(format!("--out {}: it is {what}; kpki does not replace it", display(&a.out))));
    }
    let out_real = std::fs::canonicalize(&a.out).ok();
    let inputs = [Some(&a.cert), Some(&a.key), a.passphrase_file.as_ref(), a.key_passphrase_file.as_ref()].into_iter().flatten().chain(a.ca.iter());
    for input in inputs {
        if out_real.is_some() && std::fs::canonicalize(input).ok() == out_real {
            return Err(Failure::input(format!("--out {} is also an input ({}); write the PKCS#12 file elsewhere", display(&a.out), display(input))));
        }
    }
    if !a.force {
        return Err(Failure::input(format!("--out {}: exists; pass --force to replace it", display(&a.out))));
    }
    Ok(())
}

/// Reads the key, decrypting it when it is encrypted.
fn load_key(a: &Args) -> Result<PrivateKey> {
    let source = Source {
        file: a.key_passphrase_file.as_deref(),
        env: a.key_passphrase_env.as_deref(),
        default_env: None,
        flags: "--key-passphrase-file or --key-passphrase-env",
    };
    let pem = Zeroizing::new(read_input(&a.key, "private key")?);
    let passphrase = if PrivateKey::is_encrypted_pem(&pem) {
        let p = source.get(&format!("Passphrase for {}: ", display(&a.key)), false)?.ok_or_else(|| {
            Failure::input(format!("the private key {} is encrypted: give its passphrase with {} (or run on a terminal)", display(&a.key), source.flags))
        })?;
        Some(p)
    } else {
        if source.given() {
            warn(&format!("{} is not encrypted; the passphrase given with --key-passphrase-file/--key-passphrase-env is not used", display(&a.key)));
        }
        None
    };
    PrivateKey::from_pem_with_passphrase(&pem, passphrase.as_ref().map(|p| p.as_slice()))
        .map_err(|e| Failure::input(format!("the private key {}: {e}", display(&a.key))))
}

pub fn run(a: Args) -> Result<()> {
    check_out(&a)?;
    let mode = if a.legacy { P12Mode::Legacy } else { P12Mode::Modern };

    // The certificate, and any certificates after it in the same file.
    let pem = read_input(&a.cert, "certificate")?;
    let mut certs = cert::certs_from_pem(&pem).map_err(|e| Failure::input(format!("certificate {}: {e}", display(&a.cert))))?;
    let leaf = certs.remove(0);
    cert::parse(&leaf).map_err(|e| Failure::input(format!("certificate {}: {e}", display(&a.cert))))?;
    // Where each chain certificate came from, for messages.
    let mut chain: Vec<Vec<u8>> = Vec::new();
    let mut origin: Vec<String> = Vec::new();
    for (i, c) in certs.iter().enumerate() {
        chain.push(c.to_vec());
        origin.push(format!("certificate {} of {}", i + 2, display(&a.cert)));
    }
    for path in &a.ca {
        let pem = read_input(path, "CA certificate")?;
        let found = cert::certs_from_pem(&pem).map_err(|e| Failure::input(format!("--ca {}: {e}", display(path))))?;
        let several = found.len() > 1;
        for (i, c) in found.iter().enumerate() {
            chain.push(c.to_vec());
            origin.push(if several { format!("certificate {} of {}", i + 1, display(path)) } else { display(path) });
        }
    }

    let key = load_key(&a)?;

    let export_source = Source {
        file: a.passphrase_file.as_deref(),
        env: a.passphrase_env.as_deref(),
        default_env: Some(PASSPHRASE_ENV),
        flags: "--passphrase-file, --passphrase-env or KPKI_P12_PASSPHRASE",
    };
    let passphrase = export_source.get(&format!("Passphrase for {}: ", display(&a.out)), true)?.ok_or_else(|| {
        Failure::input(format!("give the passphrase that protects {} with {} (or run on a terminal)", display(&a.out), export_source.flags))
    })?;

    let bytes = p12::export(&key, &leaf, &chain, &passphrase, mode, a.name.as_deref()).map_err(|e| {
        let at = |index: usize| origin.get(index.saturating_sub(1)).cloned().unwrap_or_else(|| format!("CA certificate {index}"));
        let message = e.to_string();
        match e {
            P12Error::KeyMismatch => Failure::input(format!(
                "the private key {} does not belong to the certificate {} (their public keys differ)",
                display(&a.key),
                display(&a.cert)
            )),
            P12Error::Cert(c) => Failure::input(format!("certificate {}: {c}", display(&a.cert))),
            P12Error::ChainCert { index, source } => Failure::input(format!("{}: {source}", at(index))),
            P12Error::ChainOrder { index, subject, child } => Failure::input(format!(
                "{} ({subject}) did not issue {child}; give the CA certificates in chain order, the certificate's issuer first and the root last",
                at(index)
            )),
            P12Error::ChainSignature { index, subject, child } => {
                Failure::input(format!("{} ({subject}) has the issuer's name but did not sign {child} (the signature does not verify)", at(index)))
            }
            P12Error::FriendlyName(..) if a.name.is_some() => Failure::input(format!("--name: {message}")),
            P12Error::FriendlyName(..) => Failure::input(format!("{message} (taken from the certificate {}); give another with --name", display(&a.cert))),
            P12Error::PassphraseNotUtf8 | P12Error::PassphraseEmpty | P12Error::PassphraseOutsideBmp => {
                Failure::input(format!("the export passphrase: {message}"))
            }
            _ => Failure::input(message),
        }
    })?;

    output::write_all(&[OutFile::secret(&a.out, bytes)], a.force)?;
    crate::progress::note(&format!("wrote {} (the key, its certificate and the CA certificates given; {})", display(&a.out), mode.describe()));
    Ok(())
}
