//! Where the CA key's passphrase comes from: a file, an environment
//! variable, or a prompt on the terminal. Never from the command line,
//! where other users could read it in the process list.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::{display, Failure, Result};

/// The environment variable read when no flag names one.
pub const DEFAULT_ENV: &str = "KPKI_CA_KEY_PASSPHRASE";

#[derive(clap::Args, Debug, Default, Clone)]
pub struct PassphraseArgs {
    /// Read the CA key's passphrase from FILE (its first line)
    #[arg(long = "ca-key-passphrase-file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Read the CA key's passphrase from environment variable VAR (default: KPKI_CA_KEY_PASSPHRASE)
    #[arg(long = "ca-key-passphrase-env", value_name = "VAR")]
    pub env: Option<String>,
}

/// The longest passphrase read from a file.
pub const MAX_PASSPHRASE: usize = 1024;

/// A passphrase from a file: one line, not empty, not longer than
/// [`MAX_PASSPHRASE`] (never cut silently: the key would not open with the
/// intended one), no control characters (NUL included).
pub fn check_passphrase(line: &str, file: &str) -> Result<()> {
    if line.is_empty() {
        return Err(Failure::input(format!("the passphrase file {file} is empty")));
    }
    if line.len() > MAX_PASSPHRASE {
        return Err(Failure::input(format!("the passphrase in {file} is longer than {MAX_PASSPHRASE} bytes (or the file is not a passphrase file)")));
    }
    if line.chars().any(char::is_control) {
        return Err(Failure::input(format!("the passphrase in {file} has a control character (NUL, tab, ...)")));
    }
    Ok(())
}

impl PassphraseArgs {
    /// The passphrase from the first source that has one; a prompt on the
    /// terminal last. `None` when there is no source.
    pub fn get(&self, prompt: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        if let Some(f) = &self.file {
            let mut text = Zeroizing::new(String::new());
            std::fs::File::open(f)
                .and_then(|mut h| h.by_ref().take(MAX_PASSPHRASE as u64 + 2).read_to_string(&mut text))
                .map_err(|e| Failure::input(format!("cannot read the passphrase file {}: {}", display(f), super::io_reason(&e))))?;
            let line = text.lines().next().unwrap_or("");
            check_passphrase(line, &display(f))?;
            return Ok(Some(Zeroizing::new(line.as_bytes().to_vec())));
        }
        let var = self.env.as_deref().unwrap_or(DEFAULT_ENV);
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => return Ok(Some(Zeroizing::new(v.into_bytes()))),
            _ if self.env.is_some() => return Err(Failure::input(format!("--ca-key-passphrase-env: the environment variable {var} is not set"))),
            _ => {}
        }
        if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            return read_hidden(prompt).map(Some);
        }
        Ok(None)
    }

    /// Says on stderr that a passphrase flag given for `key` is not used
    /// (the key is not encrypted), so a mistaken setup does not pass silently.
    pub fn warn_unused(&self, key: &str) {
        if self.file.is_some() || self.env.is_some() {
            super::warn(&format!("{key} is not encrypted; the passphrase given with --ca-key-passphrase-file/--ca-key-passphrase-env is not used"));
        }
    }

    /// Like [`get`](Self::get), but a passphrase is required.
    pub fn require(&self, prompt: &str, why: &str) -> Result<Zeroizing<Vec<u8>>> {
        self.get(prompt)?.ok_or_else(|| {
            Failure::input(format!("{why}: give its passphrase with --ca-key-passphrase-file, --ca-key-passphrase-env or {DEFAULT_ENV} (or run on a terminal)"))
        })
    }
}

/// Reads a line from the terminal with echo off (rpassword opens the
/// controlling terminal itself, so the prompt works even when stdin is
/// redirected, and restores the terminal's mode afterwards).
fn read_hidden(prompt: &str) -> Result<Zeroizing<Vec<u8>>> {
    let line = Zeroizing::new(rpassword::prompt_password(prompt).map_err(|e| Failure::input(format!("cannot read the passphrase: {e}")))?);
    if line.is_empty() {
        return Err(Failure::input("the passphrase is empty"));
    }
    Ok(Zeroizing::new(line.as_bytes().to_vec()))
}
