//! Progress of long work on stderr, so a run is never silent for minutes:
//! on a terminal a spinner (indicatif) under the lines already said; when
//! stderr is not a terminal (CI logs, pipes) one plain line per step,
//! stamped with the UTC time. `--quiet` says nothing; `--verbose` adds
//! details (each wait, each phase's duration).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// How much progress to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `--quiet`: no progress and no notes; warnings and errors still.
    Quiet = 0,
    /// The default: one line per step of long work.
    Normal = 1,
    /// `--verbose`: details too.
    Verbose = 2,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Normal as u8);
static PROGRAM: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Names messages after the name kpki was called by, when it is one of
/// cfssl's (`cfssl: error: ...` for a script that runs kpki as cfssl).
pub fn set_program(argv0: &str) {
    const NAMES: &[&str] = &["cfssl", "cfssljson", "cfssl-certinfo", "cfssl-bundle", "cfssl-mkbundle", "cfssl-newkey", "mkbundle"];
    if let Some(n) = NAMES.iter().find(|n| **n == argv0) {
        let _ = PROGRAM.set(n);
    }
}

/// `kpki`, or the cfssl name it was called by.
pub fn program() -> &'static str {
    PROGRAM.get().copied().unwrap_or("kpki")
}
static SPINNER: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Sets the level for the rest of the run.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// The level in force.
pub fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        0 => Level::Quiet,
        1 => Level::Normal,
        _ => Level::Verbose,
    }
}

/// A step of long work (`aws: create VPC 172.31.0.0/16`).
pub fn step(msg: &str) {
    if level() >= Level::Normal {
        say(msg);
    }
}

/// A detail shown only with `--verbose`.
pub fn detail(msg: &str) {
    if level() >= Level::Verbose {
        say(msg);
    }
}

/// A note for the user (a file saved, a mode narrowed): always on its own
/// line, unstamped, never hidden behind the spinner; not with `--quiet`.
pub fn note(msg: &str) {
    if level() >= Level::Normal {
        let spinner = SPINNER.lock().unwrap_or_else(|e| e.into_inner());
        match spinner.as_ref() {
            Some(pb) => pb.println(format!("{}: {msg}", program())),
            None => eprintln!("{}: {msg}", program()),
        }
    }
}

/// Ends the spinner (if any) so that later output starts on a clean line.
pub fn finish() {
    if let Some(pb) = SPINNER.lock().unwrap_or_else(|e| e.into_inner()).take() {
        pb.finish_and_clear();
    }
}

fn say(msg: &str) {
    if !std::io::stderr().is_terminal() {
        eprintln!("{} {}: {msg}", stamp(), program());
        return;
    }
    let mut spinner = SPINNER.lock().unwrap_or_else(|e| e.into_inner());
    let pb = spinner.get_or_insert_with(|| {
        let pb = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            pb.set_style(style);
        }
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    });
    pb.println(format!("{}: {msg}", program()));
    pb.set_message(msg.to_string());
}

/// The time of a plain progress line: `2026-12-02T13:55:01Z`.
fn stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .map(|s| match s.split_once('.') {
            // Whole seconds are enough for a log.
            Some((secs, _)) => format!("{secs}Z"),
            None => s,
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps_are_whole_utc_seconds() {
        let s = super::stamp();
        assert_eq!(s.len(), 20, "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T', "{s}");
    }
}
