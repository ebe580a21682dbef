//! Writing files safely: every file goes to a temporary file in the same
//! directory, is fsynced and then renamed into place, so a reader never sees
//! half a file. Private keys are 0600 from the moment they exist and are
//! never overwritten unless the caller says so (`--force`). A set of files is
//! staged completely before the first rename, so a failure while staging
//! leaves the directory as it was.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// File mode for private keys.
pub const KEY_MODE: u32 = 0o600;
/// File mode for certificates, CSRs, kubeconfigs without secrets, reports.
pub const PUBLIC_MODE: u32 = 0o644;

/// Why writing failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{0} already exists; kpki never overwrites a private key unless you pass --force")]
    KeyExists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.to_path_buf(), source }
}

/// One file to write.
pub struct OutFile {
    pub path: PathBuf,
    contents: Zeroizing<Vec<u8>>,
    mode: u32,
    /// A private key or other secret: never overwritten without force.
    secret: bool,
}

impl OutFile {
    pub fn secret(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        OutFile { path: path.into(), contents: Zeroizing::new(contents.into()), mode: KEY_MODE, secret: true }
    }
    pub fn public(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        OutFile { path: path.into(), contents: Zeroizing::new(contents.into()), mode: PUBLIC_MODE, secret: false }
    }
    /// A file whose contents are secret (e.g. a kubeconfig holding a key) but
    /// which may be replaced when the plan changes.
    pub fn private(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        OutFile { path: path.into(), contents: Zeroizing::new(contents.into()), mode: KEY_MODE, secret: false }
    }
    /// The same file with another mode (e.g. 0400 for an SSH key).
    pub fn with_mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    /// The same file under `dir`.
    pub fn rebased(mut self, dir: &Path) -> Self {
        self.path = dir.join(&self.path);
        self
    }
    pub fn contents(&self) -> &[u8] {
        &self.contents
    }
    pub fn mode(&self) -> u32 {
        self.mode
    }
    pub fn is_secret(&self) -> bool {
        self.secret
    }
}

/// Refuses the set if it would overwrite a private key without `force`.
pub fn check(files: &[OutFile], force: bool) -> Result<(), OutputError> {
    if force {
        return Ok(());
    }
    for f in files {
        if f.secret && f.path.symlink_metadata().is_ok() {
            return Err(OutputError::KeyExists(f.path.clone()));
        }
    }
    Ok(())
}

/// Writes all files or none: stages each as a synced temporary file, then
/// renames them into place and syncs the directories.
pub fn write_all(files: &[OutFile], force: bool) -> Result<(), OutputError> {
    check(files, force)?;
    let mut staged: Vec<(tempfile::NamedTempFile, &OutFile)> = Vec::with_capacity(files.len());
    for f in files {
        let dir = parent(&f.path);
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".kpki-")
            .permissions(fs::Permissions::from_mode(f.mode))
            .tempfile_in(dir)
            .map_err(io_err(&f.path))?;
        // The umask may have narrowed the mode; set it exactly.
        tmp.as_file().set_permissions(fs::Permissions::from_mode(f.mode)).map_err(io_err(&f.path))?;
        tmp.write_all(&f.contents).map_err(io_err(&f.path))?;
        tmp.as_file().sync_all().map_err(io_err(&f.path))?;
        staged.push((tmp, f));
    }
    let mut dirs: Vec<&Path> = Vec::new();
    for (tmp, f) in staged {
        if f.secret && !force {
            tmp.persist_noclobber(&f.path).map_err(|e| match e.error.kind() {
                std::io::ErrorKind::AlreadyExists => OutputError::KeyExists(f.path.clone()),
                _ => OutputError::Io { path: f.path.clone(), source: e.error },
            })?;
        } else {
            tmp.persist(&f.path).map_err(|e| OutputError::Io { path: f.path.clone(), source: e.error })?;
        }
        let dir = parent(&f.path);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for dir in dirs {
        if let Ok(d) = fs::File::open(dir) {
            // Directory fsync makes the renames durable; not all file systems support it.
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_no_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("a-key.pem");
        let cert = dir.path().join("a.pem");
        write_all(&[OutFile::secret(&key, "k1"), OutFile::public(&cert, "c1")], false).unwrap();
        assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&cert).unwrap().permissions().mode() & 0o777, 0o644);
        let err = write_all(&[OutFile::public(&cert, "c2"), OutFile::secret(&key, "k2")], false).unwrap_err();
        assert!(matches!(err, OutputError::KeyExists(_)));
        assert_eq!(fs::read(&cert).unwrap(), b"c1", "nothing written when a key would be overwritten");
        write_all(&[OutFile::secret(&key, "k2")], true).unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"k2");
        let leftovers = fs::read_dir(dir.path()).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".kpki-")).count();
        assert_eq!(leftovers, 0);
    }
}
