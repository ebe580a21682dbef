//! Reading and writing files safely.
//!
//! **Single files** (`gencert`, `cfssljson`): each goes to a temporary file
//! in its directory, is synced and renamed into place, so a reader never sees
//! half a file.
//!
//! **A set** (`bootstrap`, `renew`) lives in an output directory that may
//! also hold the user's own files, subdirectories, symlinks and FIFOs, or be
//! a mount point. kpki touches only the files it writes, always relative to
//! the directory's descriptor, and never follows, deletes or opens for
//! writing anything else. A set is written as a small transaction:
//!
//! 1. a manifest (this directory's device and inode, the names written) and
//!    every new file are staged in `DIR/.kpki-txn/` and synced;
//! 2. `.kpki-txn/.commit`, holding each staged file's SHA-256, is made
//!    durable: the commit point;
//! 3. each staged file is renamed over its name in `DIR`, `DIR` is synced,
//!    and `.kpki-txn` is removed.
//!
//! A run killed before step 2 leaves the directory as it was (the next run
//! discards the staged files); killed after it, the next run under the lock
//! finishes the renames first. A staging directory without a manifest for
//! this directory, with files it does not list, or whose files no longer
//! match the commit mark is not kpki's to apply or delete: it is refused. Readers may see a mix of old and new files
//! only during step 3 (microseconds) or until an interrupted run is resumed;
//! `verify` says when a transaction is pending.
//!
//! Private keys are 0600 from the moment they exist and are never replaced
//! unless the caller says so (`--force`).

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

pub use crate::model::file::{is_member_name, OutFile, KEY_MODE, PUBLIC_MODE};

/// Mode for a directory kpki creates (the umask can only narrow it).
pub const DIR_MODE: u32 = 0o755;
/// Largest file kpki reads (CSR JSON, configs, PEM, kubeconfigs): far above any real one.
pub const MAX_INPUT: u64 = 4 * 1024 * 1024;
/// The staging directory of a set's transaction, inside the output directory.
/// Member names never start with a dot, so it cannot collide with one.
pub const TXN_DIR: &str = ".kpki-txn";
/// Written first into the staging directory: which directory (device and
/// inode) and which names the transaction is for. Without it, kpki does not
/// touch a staging directory (it may be the user's, or copied from elsewhere).
const MANIFEST: &str = ".manifest";
/// The commit point: every staged file's SHA-256. A run that finds it
/// renames the staged files into place only if each still has that digest.
const COMMIT_MARK: &str = ".commit";
/// The lock file inside the output directory (0600, owned by whoever ran
/// kpki first): `flock(2)` on it, so other users, who can read the directory
/// but not open this file, cannot hold the lock.
pub const LOCK_FILE: &str = ".kpki-lock";
/// Files synced per batch: a set of any size keeps at most this many
/// descriptors open (the usual `ulimit -n` is 1024).
const SYNC_BATCH: usize = 64;

/// Why reading or writing failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A private key exists where a new one would go.
    #[error("{} already exists; kpki never overwrites a private key unless you pass --force", shown(.0))]
    KeyExists(PathBuf),
    /// Another kpki run holds the output directory.
    #[error("{} is locked by another process (it holds {LOCK_FILE}): another kpki run is writing it; wait for it to finish", shown(.0))]
    Locked(PathBuf),
    /// A name kpki would write is a symlink, FIFO, directory or device.
    #[error("{}: it is {kind}, not a regular file; kpki does not {verb} it", shown(.path))]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
        /// What kpki would have done (read, replace).
        verb: &'static str,
    },
    /// A directory kpki writes into, below the output directory, is a
    /// symbolic link or not a directory.
    #[error("{}: it is {kind}; kpki makes the directories of a tree itself and does not follow links or replace files there", shown(.path))]
    NotADirectory {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// An input is larger than [`MAX_INPUT`].
    #[error("{}: it is larger than {} MiB; that is not a file kpki reads", shown(.0), MAX_INPUT >> 20)]
    TooLarge(PathBuf),
    /// A staging directory kpki did not leave for this directory.
    #[error("{}: {reason}; it is not a staging directory kpki left for this directory, so kpki neither finishes nor removes it: move it away", shown(.path))]
    StrangeTxn {
        /// The staging directory.
        path: PathBuf,
        /// Why it is not kpki's to apply.
        reason: String,
    },
    /// A system call failed on a path.
    #[error("{}: {}", shown(.path), io_reason(.source))]
    Io {
        /// The path.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
}

/// A path for messages: one line, control characters escaped, at most 400 characters.
pub fn shown(path: &Path) -> String {
    crate::pki::json::shown_max(&path.display().to_string(), 400)
}

/// An I/O error's reason without Rust's "(os error N)" suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::NotADirectory => "it (or a directory above it) is not a directory".into(),
        std::io::ErrorKind::ReadOnlyFilesystem => "the file system is read-only".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.to_path_buf(), source }
}

fn rio(path: &Path) -> impl FnOnce(rustix::io::Errno) -> OutputError + '_ {
    move |e| OutputError::Io { path: path.to_path_buf(), source: e.into() }
}

/// What a non-regular file is, for messages.
fn kind_name(t: FileType) -> &'static str {
    match t {
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        _ => "not a regular file",
    }
}

/// Reads a regular file, following symbolic links, with the size limit.
/// Never blocks on a FIFO or a device: the file is opened non-blocking and
/// refused unless it is a regular file.
pub fn read_file(path: &Path) -> Result<Vec<u8>, OutputError> {
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty()).map_err(rio(path))?;
    read_fd(fd, path)
}

fn read_fd(fd: OwnedFd, path: &Path) -> Result<Vec<u8>, OutputError> {
    let st = rustix::fs::fstat(&fd).map_err(rio(path))?;
    let t = FileType::from_raw_mode(st.st_mode);
    if t != FileType::RegularFile {
        return Err(OutputError::NotRegular { path: path.to_path_buf(), kind: kind_name(t), verb: "read" });
    }
    let mut buf = Vec::new();
    fs::File::from(fd).take(MAX_INPUT + 1).read_to_end(&mut buf).map_err(io_err(path))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(OutputError::TooLarge(path.to_path_buf()));
    }
    Ok(buf)
}

/// The names of `rel`, at least one, each a plain member name (never
/// `..`, `.` or the root).
fn below_names<'a>(base: &Path, rel: &'a Path) -> Result<Vec<&'a std::ffi::OsStr>, OutputError> {
    let bad = || OutputError::Io { path: base.join(rel), source: std::io::Error::other("not a plain directory name below the output directory") };
    let names = rel
        .components()
        .map(|c| match c {
            std::path::Component::Normal(n) if n.to_str().is_some_and(is_member_name) => Ok(n),
            _ => Err(bad()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if names.is_empty() {
        return Err(bad());
    }
    Ok(names)
}

/// A directory under an output directory that cannot be opened as one
/// without following a link.
fn not_a_dir_below(parent: &OwnedFd, name: &std::ffi::OsStr, path: PathBuf, e: rustix::io::Errno) -> OutputError {
    match e {
        // O_DIRECTORY | O_NOFOLLOW on a link fails with ENOTDIR (or ELOOP).
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
            let link = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
            OutputError::NotADirectory { path, kind: if link { "a symbolic link" } else { "not a directory" } }
        }
        e => OutputError::Io { path, source: e.into() },
    }
}

/// Creates `dir` and its missing parents with [`DIR_MODE`].
pub fn create_dirs(dir: &Path) -> Result<(), OutputError> {
    fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory => {
            OutputError::Io { path: dir.to_path_buf(), source: std::io::Error::other("it (or a directory above it) exists and is not a directory") }
        }
        _ => OutputError::Io { path: dir.to_path_buf(), source: e },
    })
}

/// Refuses a target that kpki must not replace: a symlink, FIFO, directory
/// or other non-regular file (replacing it would delete the user's), or a
/// private key without `force`.
fn check_target(at: impl AsFd, name: &Path, shown_path: &Path, secret: bool, force: bool) -> Result<(), OutputError> {
    match rustix::fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => {
            let t = FileType::from_raw_mode(st.st_mode);
            if t != FileType::RegularFile {
                return Err(OutputError::NotRegular { path: shown_path.to_path_buf(), kind: kind_name(t), verb: "replace" });
            }
            if secret && !force {
                return Err(OutputError::KeyExists(shown_path.to_path_buf()));
            }
            Ok(())
        }
        Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(OutputError::Io { path: shown_path.to_path_buf(), source: e.into() }),
    }
}

/// Writes single files (each in its own directory, possibly different ones),
/// all or none as far as checks go: every target is checked before the first
/// is written; each file is staged as a synced temporary file and renamed
/// into place; the directories are synced.
pub fn write_all(files: &[OutFile], force: bool) -> Result<(), OutputError> {
    for f in files {
        let dir = parent(&f.path);
        if dir.is_dir() {
            let name = f.path.file_name().map(Path::new).ok_or_else(|| OutputError::Io {
                path: f.path.clone(),
                source: std::io::ErrorKind::InvalidInput.into(),
            })?;
            let d = fs::File::open(dir).map_err(io_err(dir))?;
            check_target(&d, name, &f.path, f.is_secret(), force)?;
        }
    }
    let mut staged: Vec<(tempfile::NamedTempFile, &OutFile)> = Vec::with_capacity(files.len());
    for f in files {
        let dir = parent(&f.path);
        create_dirs(dir)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".kpki-")
            .permissions(fs::Permissions::from_mode(f.mode()))
            .tempfile_in(dir)
            .map_err(io_err(&f.path))?;
        // The umask may have narrowed the mode; set it exactly.
        tmp.as_file().set_permissions(fs::Permissions::from_mode(f.mode())).map_err(io_err(&f.path))?;
        tmp.write_all(f.contents()).map_err(io_err(&f.path))?;
        staged.push((tmp, f));
    }
    sync_files(staged.iter().map(|(tmp, f)| (tmp.as_file(), f.path.as_path())))?;
    let mut dirs: Vec<&Path> = Vec::new();
    for (tmp, f) in staged {
        if f.is_secret() && !force {
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

/// An output directory, open by descriptor. Every member is read and
/// written relative to it, so the path being replaced by a symlink during a
/// run changes nothing. [`OutDir::lock`] also holds an exclusive `flock(2)`
/// on [`LOCK_FILE`] inside it for as long as the value lives: `pki`, `pki/`
/// and `./pki` are one lock, and nothing is created beside the directory.
pub struct OutDir {
    path: PathBuf,
    fd: OwnedFd,
    /// The locked lock file, held for as long as the value lives.
    _lock: Option<OwnedFd>,
}

/// What opening an output directory found of an interrupted run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing pending.
    Clean,
    /// A run was killed after its commit point; its files were put in place now.
    Completed,
    /// A run was killed before its commit point; its staged files were discarded.
    Discarded,
}

impl OutDir {
    /// Opens an existing directory for reading (no lock). `None` when it does not exist.
    pub fn open(path: &Path) -> Result<Option<OutDir>, OutputError> {
        match rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => Ok(Some(OutDir { path: path.to_path_buf(), fd, _lock: None })),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(rustix::io::Errno::NOTDIR) => Err(OutputError::Io { path: path.to_path_buf(), source: std::io::Error::other("it exists and is not a directory") }),
            Err(e) => Err(OutputError::Io { path: path.to_path_buf(), source: e.into() }),
        }
    }

    /// Opens `rel` below this directory for reading (no lock), one
    /// directory at a time from this directory's descriptor, never
    /// following a symbolic link: the directories below an output directory
    /// are kpki's, and one replaced by a link is refused. `rel` is plain
    /// names (no `..`, no root). `None` when a directory of `rel` does not
    /// exist.
    pub fn open_below(&self, rel: &Path) -> Result<Option<OutDir>, OutputError> {
        self.walk_below(rel, false)
    }

    /// [`OutDir::lock`] for `rel` below this directory: each directory of
    /// `rel` is made (or opened) relative to its parent's descriptor and
    /// never followed when it is a symbolic link.
    pub fn lock_below(&self, rel: &Path) -> Result<(OutDir, Recovery), OutputError> {
        self.walk_below(rel, true)?.ok_or_else(|| OutputError::Io { path: self.path.join(rel), source: std::io::ErrorKind::NotFound.into() })?.take_lock()
    }

    /// Opens each directory of `rel` from its parent's descriptor with
    /// O_NOFOLLOW, making it first when `create`.
    fn walk_below(&self, rel: &Path, create: bool) -> Result<Option<OutDir>, OutputError> {
        let mut dir: Option<OutDir> = None;
        for name in below_names(&self.path, rel)? {
            let parent = dir.as_ref().unwrap_or(self);
            let path = parent.path.join(name);
            if create {
                match rustix::fs::mkdirat(&parent.fd, name, Mode::from_raw_mode(DIR_MODE)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(OutputError::Io { path, source: e.into() }),
                }
            }
            match rustix::fs::openat(&parent.fd, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
                Ok(fd) => dir = Some(OutDir { path, fd, _lock: None }),
                Err(rustix::io::Errno::NOENT) if !create => return Ok(None),
                Err(e) => return Err(not_a_dir_below(&parent.fd, name, path, e)),
            }
        }
        Ok(dir)
    }

    /// The directory's identity (device, inode): the same directory when
    /// it was read and when it is written.
    pub fn identity(&self) -> Result<(u64, u64), OutputError> {
        let st = rustix::fs::fstat(&self.fd).map_err(rio(&self.path))?;
        Ok((st.st_dev, st.st_ino))
    }

    /// Creates the directory if needed, takes its lock (or says another run
    /// holds it), and finishes or discards an interrupted run's transaction.
    pub fn lock(path: &Path) -> Result<(OutDir, Recovery), OutputError> {
        create_dirs(path)?;
        Self::open(path)?.ok_or_else(|| OutputError::Io { path: path.to_path_buf(), source: std::io::ErrorKind::NotFound.into() })?.take_lock()
    }

    fn take_lock(mut self) -> Result<(OutDir, Recovery), OutputError> {
        let lock_path = self.member_path(LOCK_FILE);
        let lock = rustix::fs::openat(
            &self.fd,
            LOCK_FILE,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| match e {
            rustix::io::Errno::LOOP => OutputError::NotRegular { path: lock_path.clone(), kind: "a symbolic link", verb: "use" },
            e => OutputError::Io { path: lock_path.clone(), source: e.into() },
        })?;
        let t = FileType::from_raw_mode(rustix::fs::fstat(&lock).map_err(rio(&lock_path))?.st_mode);
        if t != FileType::RegularFile {
            return Err(OutputError::NotRegular { path: lock_path, kind: kind_name(t), verb: "use" });
        }
        match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Err(OutputError::Locked(self.path.clone())),
            Err(e) => return Err(OutputError::Io { path: lock_path, source: e.into() }),
        }
        self._lock = Some(lock);
        let recovery = self.recover()?;
        Ok((self, recovery))
    }

    /// The directory's path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn member_path(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Reads member `name` (a symlink is followed: a key kept elsewhere is
    /// the user's choice); `None` when it does not exist. Never blocks on a
    /// FIFO; refuses anything but a regular file.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, OutputError> {
        let path = self.member_path(name);
        match rustix::fs::openat(&self.fd, name, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty()) {
            Ok(fd) => read_fd(fd, &path).map(Some),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(OutputError::Io { path, source: e.into() }),
        }
    }

    /// Every entry's name with its type (not followed through symlinks), read
    /// once from the directory's descriptor; names that are not UTF-8 are
    /// skipped (kpki never writes such names).
    pub fn entries(&self) -> Result<std::collections::BTreeMap<String, FileType>, OutputError> {
        let mut out = std::collections::BTreeMap::new();
        let dir = rustix::fs::Dir::read_from(&self.fd).map_err(rio(&self.path))?;
        for e in dir {
            let e = e.map_err(rio(&self.path))?;
            let Ok(name) = e.file_name().to_str() else { continue };
            if name == "." || name == ".." {
                continue;
            }
            let t = match e.file_type() {
                FileType::Unknown => match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => FileType::from_raw_mode(st.st_mode),
                    Err(_) => continue,
                },
                t => t,
            };
            out.insert(name.to_string(), t);
        }
        Ok(out)
    }

    /// The names of the directory's entries that are regular files (not
    /// followed through symlinks), sorted; hidden names are skipped.
    pub fn regular_files(&self) -> Result<Vec<String>, OutputError> {
        Ok(self.entries()?.into_iter().filter(|(n, t)| !n.starts_with('.') && *t == FileType::RegularFile).map(|(n, _)| n).collect())
    }

    /// The permission bits of member `name` when it is a regular file (not a symlink).
    pub fn mode_of(&self, name: &str) -> Option<u32> {
        let st = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        (FileType::from_raw_mode(st.st_mode) == FileType::RegularFile).then_some(st.st_mode & 0o7777)
    }

    /// The permission bits of what member `name` resolves to (through a symlink).
    pub fn followed_mode(&self, name: &str) -> Option<u32> {
        let st = rustix::fs::statat(&self.fd, name, AtFlags::empty()).ok()?;
        (FileType::from_raw_mode(st.st_mode) == FileType::RegularFile).then_some(st.st_mode & 0o7777)
    }

    /// Sets member `name`'s mode; only for a regular file (never through a symlink).
    pub fn set_mode(&self, name: &str, mode: u32) -> Result<(), OutputError> {
        let path = self.member_path(name);
        let fd = rustix::fs::openat(&self.fd, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())
            .map_err(rio(&path))?;
        let st = rustix::fs::fstat(&fd).map_err(rio(&path))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(OutputError::NotRegular { path, kind: kind_name(FileType::from_raw_mode(st.st_mode)), verb: "change" });
        }
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(rio(&path))
    }

    /// Whether an interrupted run's transaction is pending (for `verify`).
    pub fn pending_transaction(&self) -> bool {
        rustix::fs::statat(&self.fd, TXN_DIR, AtFlags::SYMLINK_NOFOLLOW).is_ok()
    }

    /// What a writing run would find, without changing anything (for dry
    /// runs): an error where `lock` would refuse the lock file or an
    /// interrupted run's staging directory; else whether such a run is
    /// pending (`Some(true)`: it would be finished, `Some(false)`: discarded).
    pub fn check_as_writer(&self) -> Result<Option<bool>, OutputError> {
        match rustix::fs::statat(&self.fd, LOCK_FILE, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile => {
                return Err(OutputError::NotRegular { path: self.member_path(LOCK_FILE), kind: kind_name(FileType::from_raw_mode(st.st_mode)), verb: "use" });
            }
            Ok(_) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(OutputError::Io { path: self.member_path(LOCK_FILE), source: e.into() }),
        }
        let Some(txn) = self.open_txn()? else { return Ok(None) };
        let (_, committed) = self.inspect_txn(&txn)?;
        Ok(Some(committed))
    }

    /// Refuses, as `commit` would, to replace any of `names` that is a
    /// symlink, FIFO, directory or other non-regular file (for dry runs).
    pub fn check_replaceable<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<(), OutputError> {
        for name in names {
            check_target(&self.fd, Path::new(name), &self.member_path(name), false, true)?;
        }
        Ok(())
    }

    /// Opens the transaction directory if it exists; refuses anything that
    /// is not a plain directory (a planted symlink is never followed).
    fn open_txn(&self) -> Result<Option<OwnedFd>, OutputError> {
        let path = self.member_path(TXN_DIR);
        match rustix::fs::openat(&self.fd, TXN_DIR, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => Ok(Some(fd)),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(rustix::io::Errno::NOTDIR) | Err(rustix::io::Errno::LOOP) => Err(OutputError::StrangeTxn { path, reason: "it is not a directory".into() }),
            Err(e) => Err(OutputError::Io { path, source: e.into() }),
        }
    }

    /// Reads a small regular file of the staging directory, never following
    /// or blocking; `None` when it does not exist.
    fn read_txn_file(&self, txn: &OwnedFd, name: &str) -> Result<Option<Vec<u8>>, OutputError> {
        let path = self.member_path(TXN_DIR).join(name);
        match rustix::fs::openat(txn, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => read_fd(fd, &path).map(Some),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(OutputError::Io { path, source: e.into() }),
        }
    }

    /// What an interrupted run left, checked: the manifest names this
    /// directory and every entry; every entry is a regular file; a commit
    /// mark lists exactly the staged files with their digests.
    fn inspect_txn(&self, txn: &OwnedFd) -> Result<(Vec<String>, bool), OutputError> {
        let txn_path = self.member_path(TXN_DIR);
        let strange = |reason: String| OutputError::StrangeTxn { path: txn_path.clone(), reason };
        // kpki makes the staging directory 0700 and every file in it this
        // user's, at most 0644, with one link: anything else was put there
        // by someone else (a staging directory is never trusted for its
        // digests alone: anyone who can read the directory can compute them).
        let me = crate::sys::effective_uid();
        let st = rustix::fs::fstat(txn).map_err(rio(&txn_path))?;
        if st.st_uid != me || st.st_mode & 0o077 != 0 {
            return Err(strange("its owner or mode is not what kpki gives a staging directory (this user's, 0700)".into()));
        }
        let mut entries = Vec::new();
        for e in rustix::fs::Dir::read_from(txn).map_err(rio(&txn_path))? {
            let e = e.map_err(rio(&txn_path))?;
            let name = e.file_name().to_str().map_err(|_| strange("it holds a name that is not UTF-8".into()))?.to_string();
            if name == "." || name == ".." {
                continue;
            }
            let st = rustix::fs::statat(txn, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).map_err(rio(&txn_path))?;
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                return Err(strange(format!("{} is not a regular file", crate::pki::json::shown(&name))));
            }
            if st.st_uid != me || st.st_mode & 0o7133 != 0 || st.st_nlink != 1 {
                return Err(strange(format!("{} has an owner, mode or link count kpki never gives a staged file", crate::pki::json::shown(&name))));
            }
            entries.push(name);
        }
        if entries.is_empty() {
            // Killed right after creating it: nothing to keep or apply.
            return Ok((Vec::new(), false));
        }
        let manifest: Manifest = match self.read_txn_file(txn, MANIFEST)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| strange("its manifest is unreadable".into()))?,
            None => return Err(strange("it has no manifest".into())),
        };
        if manifest.dir != self.identity()? {
            return Err(strange("its manifest is for another directory".into()));
        }
        for name in &entries {
            if name != MANIFEST && name != COMMIT_MARK && !manifest.files.contains(name) {
                return Err(strange(format!("it holds {}, which its manifest does not list", crate::pki::json::shown(name))));
            }
        }
        let staged: Vec<String> = entries.into_iter().filter(|n| manifest.files.contains(n)).collect();
        let Some(mark) = self.read_txn_file(txn, COMMIT_MARK)? else { return Ok((staged, false)) };
        let digests: std::collections::BTreeMap<String, String> = serde_json::from_slice(&mark).map_err(|_| strange("its commit mark is unreadable".into()))?;
        if digests.keys().any(|n| !manifest.files.contains(n)) || staged.iter().any(|n| !digests.contains_key(n)) {
            return Err(strange("its commit mark does not match its files".into()));
        }
        for name in &staged {
            let bytes = self.read_txn_file(txn, name)?.unwrap_or_default();
            if digests.get(name).map(String::as_str) != Some(sha256_hex(&bytes).as_str()) {
                return Err(strange(format!("{} is not the file that was committed", crate::pki::json::shown(name))));
            }
        }
        Ok((staged, true))
    }

    fn recover(&self) -> Result<Recovery, OutputError> {
        let Some(txn) = self.open_txn()? else { return Ok(Recovery::Clean) };
        let (names, committed) = self.inspect_txn(&txn)?;
        if committed {
            self.finish(&txn, &names)?;
            Ok(Recovery::Completed)
        } else {
            let path = self.member_path(TXN_DIR);
            for n in names.iter().map(String::as_str).chain([MANIFEST]) {
                match rustix::fs::unlinkat(&txn, n, AtFlags::empty()) {
                    Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                    Err(e) => return Err(OutputError::Io { path, source: e.into() }),
                }
            }
            rustix::fs::unlinkat(&self.fd, TXN_DIR, AtFlags::REMOVEDIR).map_err(rio(&path))?;
            Ok(Recovery::Discarded)
        }
    }

    /// Step 3: the renames, then the directory sync and clean-up.
    fn finish(&self, txn: &OwnedFd, names: &[impl AsRef<str>]) -> Result<(), OutputError> {
        for n in names.iter().map(AsRef::as_ref) {
            // Re-checked: the user may have put something else there since.
            check_target(&self.fd, Path::new(n), &self.member_path(n), false, true)?;
            rustix::fs::renameat(txn, n, &self.fd, n).map_err(rio(&self.member_path(n)))?;
        }
        rustix::fs::fsync(&self.fd).map_err(rio(&self.path))?;
        let txn_path = self.member_path(TXN_DIR);
        for n in [COMMIT_MARK, MANIFEST] {
            rustix::fs::unlinkat(txn, n, AtFlags::empty()).map_err(rio(&txn_path))?;
        }
        rustix::fs::unlinkat(&self.fd, TXN_DIR, AtFlags::REMOVEDIR).map_err(rio(&txn_path))?;
        Ok(())
    }

    /// Writes `files` (plain names inside the directory) as one transaction;
    /// see the module comment. Every target is checked before anything is
    /// written: a private key is not replaced without `force`, and a symlink,
    /// FIFO, directory or other non-regular file is never replaced.
    pub fn commit(&self, files: &[OutFile], force: bool) -> Result<(), OutputError> {
        let staged_bytes: u64 = files.iter().map(|f| f.contents().len() as u64).sum();
        let one_syncfs = others_unwritten(staged_bytes).is_some_and(|n| n <= QUIET_UNWRITTEN);
        self.commit_with(files, force, one_syncfs)
    }

    fn commit_with(&self, files: &[OutFile], force: bool, one_syncfs: bool) -> Result<(), OutputError> {
        if files.is_empty() {
            return Ok(());
        }
        let present = self.entries()?;
        let mut names: Vec<&str> = Vec::with_capacity(files.len());
        for f in files {
            let name = f.path.to_str().filter(|n| is_member_name(n)).ok_or_else(|| OutputError::Io {
                path: self.path.join(&f.path),
                source: std::io::Error::other("not a plain file name inside the output directory"),
            })?;
            if names.contains(&name) {
                return Err(OutputError::Io { path: self.member_path(name), source: std::io::Error::other("written twice in one set") });
            }
            // What is not there now is checked again just before its rename.
            if present.contains_key(name) {
                check_target(&self.fd, Path::new(name), &self.member_path(name), f.is_secret(), force)?;
            }
            names.push(name);
        }
        let txn_path = self.member_path(TXN_DIR);
        rustix::fs::mkdirat(&self.fd, TXN_DIR, Mode::from_raw_mode(0o700)).map_err(rio(&txn_path))?;
        let result = self.stage(files, &names, one_syncfs);
        match result {
            Ok(txn) => self.finish(&txn, &names),
            Err(e) => {
                // Not committed: leave the directory as it was.
                let _ = self.recover();
                Err(e)
            }
        }
    }

    /// Steps 1 and 2: staged, synced, committed.
    fn stage(&self, files: &[OutFile], names: &[&str], one_syncfs: bool) -> Result<OwnedFd, OutputError> {
        let txn_path = self.member_path(TXN_DIR);
        let txn = self.open_txn()?.ok_or_else(|| OutputError::StrangeTxn { path: txn_path.clone(), reason: "it vanished".into() })?;
        let manifest = Manifest { dir: self.identity()?, files: names.iter().map(|n| n.to_string()).collect() };
        let manifest = serde_json::to_vec(&manifest).map_err(|e| OutputError::Io { path: txn_path.clone(), source: std::io::Error::other(e) })?;
        let manifest_file = self.create_in_txn(&txn, MANIFEST, 0o600, &manifest)?;
        if !one_syncfs {
            manifest_file.sync_data().map_err(io_err(&txn_path))?;
        }
        drop(manifest_file);
        for (chunk_files, chunk_names) in files.chunks(SYNC_BATCH).zip(names.chunks(SYNC_BATCH)) {
            let mut open: Vec<(fs::File, PathBuf)> = Vec::with_capacity(chunk_files.len());
            for (f, name) in chunk_files.iter().zip(chunk_names) {
                let file = self.create_in_txn(&txn, name, f.mode(), f.contents())?;
                open.push((file, self.member_path(name)));
            }
            if !one_syncfs {
                sync_files(open.iter().map(|(file, path)| (file, path.as_path())))?;
            }
        }
        if one_syncfs {
            // Every staged file, its inode and the staging directory at once.
            rustix::fs::syncfs(&txn).map_err(rio(&txn_path))?;
        } else {
            rustix::fs::fsync(&txn).map_err(rio(&txn_path))?;
        }
        let digests: std::collections::BTreeMap<&str, String> = names.iter().zip(files).map(|(n, f)| (*n, sha256_hex(f.contents()))).collect();
        let digests = serde_json::to_vec(&digests).map_err(|e| OutputError::Io { path: txn_path.clone(), source: std::io::Error::other(e) })?;
        let mark = self.create_in_txn(&txn, COMMIT_MARK, 0o600, &digests)?;
        mark.sync_all().map_err(io_err(&txn_path))?;
        drop(mark);
        rustix::fs::fsync(&txn).map_err(rio(&txn_path))?;
        Ok(txn)
    }

    /// Creates and writes a new file in the staging directory.
    fn create_in_txn(&self, txn: &OwnedFd, name: &str, mode: u32, contents: &[u8]) -> Result<fs::File, OutputError> {
        let path = self.member_path(TXN_DIR).join(name);
        let fd = rustix::fs::openat(txn, name, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::from_raw_mode(mode))
            .map_err(rio(&path))?;
        // The umask may have narrowed the mode; set it exactly.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(rio(&path))?;
        let mut file = fs::File::from(fd);
        file.write_all(contents).map_err(io_err(&path))?;
        Ok(file)
    }
}

/// What a staging directory is for.
#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    /// The output directory's device and inode.
    dir: (u64, u64),
    /// The names the transaction writes.
    files: Vec<String>,
}

fn sha256_hex(data: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Unwritten data of other programs below which one `syncfs(2)` makes a set
/// durable instead of syncing its files one by one: `syncfs` batches the
/// inode writes that per-file `fdatasync` makes one at a time (measurements
/// in BENCHMARKS.md), but it also waits for everything else unwritten on the
/// file system, so it is used only when that is small and kpki never waits
/// long for others' data.
const QUIET_UNWRITTEN: u64 = 1 << 20;

/// Dirty and under-writeback page cache, system-wide, beyond the `ours`
/// bytes about to be written; `None` when /proc/meminfo cannot be read.
fn others_unwritten(ours: u64) -> Option<u64> {
    use procfs::Current;
    let m = procfs::Meminfo::current().ok()?;
    Some((m.dirty + m.writeback).saturating_sub(ours))
}

/// Makes files durable: write-back is started for all of them first, then
/// each is `fdatasync`ed, so their writes overlap. A failure names the path.
fn sync_files<'a>(files: impl Iterator<Item = (&'a fs::File, &'a Path)> + Clone) -> Result<(), OutputError> {
    for (file, _) in files.clone() {
        crate::sys::start_writeback(file);
    }
    for (file, path) in files {
        file.sync_data().map_err(io_err(path))?;
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
    use std::os::unix::fs::symlink;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn a_set_is_written_and_others_files_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("pki");
        fs::create_dir_all(path.join("backup")).unwrap();
        fs::write(path.join("backup/old.pem"), "mine").unwrap();
        fs::write(tmp.path().join("elsewhere"), "target").unwrap();
        symlink(tmp.path().join("elsewhere"), path.join("link")).unwrap();
        let (dir, rec) = OutDir::lock(&path).unwrap();
        assert_eq!(rec, Recovery::Clean);
        dir.commit(&[OutFile::secret("a-key.pem", "k1"), OutFile::public("a.pem", "c1")], false).unwrap();
        assert_eq!(fs::metadata(path.join("a-key.pem")).unwrap().permissions().mode() & 0o777, 0o600);
        dir.commit(&[OutFile::public("a.pem", "c2")], false).unwrap();
        assert_eq!(fs::read(path.join("a.pem")).unwrap(), b"c2");
        assert_eq!(fs::read(path.join("backup/old.pem")).unwrap(), b"mine");
        assert!(fs::symlink_metadata(path.join("link")).unwrap().file_type().is_symlink());
        assert_eq!(names(&path), [LOCK_FILE, "a-key.pem", "a.pem", "backup", "link"]);
        assert!(matches!(dir.commit(&[OutFile::secret("a-key.pem", "k2")], false), Err(OutputError::KeyExists(_))));
        assert!(matches!(dir.commit(&[OutFile::public("link", "x")], true), Err(OutputError::NotRegular { .. })));
        assert!(matches!(dir.commit(&[OutFile::public("backup", "x")], true), Err(OutputError::NotRegular { .. })));
        assert_eq!(fs::read(tmp.path().join("elsewhere")).unwrap(), b"target");
        assert!(!path.join(TXN_DIR).exists());
    }

    #[test]
    fn directories_below_the_output_directory_are_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        let (top, _) = OutDir::lock(&out).unwrap();
        // Made one at a time, then written and locked through descriptors.
        let (dir, _) = top.lock_below(Path::new("n1/pki/etcd")).unwrap();
        dir.commit(&[OutFile::public("ca.crt", b"x")], false).unwrap();
        assert_eq!(fs::read(out.join("n1/pki/etcd/ca.crt")).unwrap(), b"x");
        let opened = top.open_below(Path::new("n1/pki/etcd")).unwrap().unwrap();
        assert_eq!(opened.identity().unwrap(), dir.identity().unwrap());
        assert!(top.open_below(Path::new("n2/pki")).unwrap().is_none());
        // A directory swapped for a link (to a directory the attacker chose) is refused.
        std::os::unix::fs::symlink(&elsewhere, out.join("n2")).unwrap();
        for r in [top.lock_below(Path::new("n2/pki")).map(|_| ()), top.open_below(Path::new("n2/pki")).map(|_| ())] {
            let e = r.unwrap_err();
            assert!(matches!(e, OutputError::NotADirectory { kind: "a symbolic link", .. }), "{e}");
        }
        fs::write(out.join("n1/file"), b"").unwrap();
        assert!(matches!(top.lock_below(Path::new("n1/file/pki")), Err(OutputError::NotADirectory { kind: "not a directory", .. })));
        // Only plain names: never up, never from the root.
        for rel in ["", "..", "n1/../..", "/etc", "./n1"] {
            assert!(top.lock_below(Path::new(rel)).is_err() && top.open_below(Path::new(rel)).is_err(), "{rel}");
        }
        assert!(names(&elsewhere).is_empty(), "nothing made through the link");
    }

    #[test]
    fn the_lock_is_the_directory_whatever_the_spelling() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("pki");
        let _held = OutDir::lock(&path).unwrap();
        let slash = PathBuf::from(format!("{}/", path.display()));
        assert!(matches!(OutDir::lock(&slash), Err(OutputError::Locked(_))));
        assert!(matches!(OutDir::lock(&path.join(".")), Err(OutputError::Locked(_))));
        assert_eq!(names(tmp.path()), ["pki"], "no lock file beside the directory");
    }

    /// A transaction staged and committed (or not) but never finished, as a
    /// killed run leaves it.
    fn interrupted(dir: &OutDir, files: &[OutFile], committed: bool) {
        let names: Vec<&str> = files.iter().map(|f| f.path.to_str().unwrap()).collect();
        rustix::fs::mkdirat(&dir.fd, TXN_DIR, Mode::from_raw_mode(0o700)).unwrap();
        let txn = dir.stage(files, &names, false).unwrap();
        if !committed {
            rustix::fs::unlinkat(&txn, COMMIT_MARK, AtFlags::empty()).unwrap();
        }
    }

    #[test]
    fn interrupted_transactions_are_finished_or_discarded() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("pki");
        fs::create_dir_all(&path).unwrap();
        fs::write(path.join("a.pem"), "old").unwrap();
        {
            let dir = OutDir::open(&path).unwrap().unwrap();
            interrupted(&dir, &[OutFile::public("a.pem", "new"), OutFile::public("b.pem", "b")], false);
        }
        assert_eq!(OutDir::lock(&path).unwrap().1, Recovery::Discarded);
        assert_eq!(fs::read(path.join("a.pem")).unwrap(), b"old");
        assert!(!path.join("b.pem").exists());
        {
            let dir = OutDir::open(&path).unwrap().unwrap();
            interrupted(&dir, &[OutFile::public("a.pem", "new"), OutFile::public("b.pem", "b")], true);
        }
        assert_eq!(OutDir::lock(&path).unwrap().1, Recovery::Completed);
        assert_eq!(fs::read(path.join("a.pem")).unwrap(), b"new");
        assert_eq!(names(&path), [LOCK_FILE, "a.pem", "b.pem"]);
    }

    #[test]
    fn a_staging_directory_kpki_did_not_leave_is_never_applied_or_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("pki");
        let txn = path.join(TXN_DIR);
        // The user's own directory of that name, a planted commit without a
        // manifest, and a symlink: refused, left as they are.
        fs::create_dir_all(&txn).unwrap();
        fs::write(txn.join("userfile"), "mine").unwrap();
        assert!(matches!(OutDir::lock(&path), Err(OutputError::StrangeTxn { .. })));
        fs::write(txn.join("ca-key.pem"), "EVIL").unwrap();
        fs::write(txn.join(COMMIT_MARK), "").unwrap();
        assert!(matches!(OutDir::lock(&path), Err(OutputError::StrangeTxn { .. })));
        assert_eq!(fs::read(txn.join("userfile")).unwrap(), b"mine");
        assert!(!path.join("ca-key.pem").exists());
        fs::remove_dir_all(&txn).unwrap();
        symlink(tmp.path(), &txn).unwrap();
        assert!(matches!(OutDir::lock(&path), Err(OutputError::StrangeTxn { .. })));
        fs::remove_file(&txn).unwrap();
        // A committed transaction copied from another directory is not applied here.
        let other = tmp.path().join("other");
        fs::create_dir_all(&other).unwrap();
        {
            let dir = OutDir::open(&other).unwrap().unwrap();
            interrupted(&dir, &[OutFile::public("ca-key.pem", "OTHER")], true);
        }
        run_cp(&other.join(TXN_DIR), &txn);
        assert!(matches!(OutDir::lock(&path), Err(OutputError::StrangeTxn { .. })));
        assert!(!path.join("ca-key.pem").exists());
        // A committed file changed after the commit is not applied either.
        fs::remove_dir_all(&txn).unwrap();
        {
            let dir = OutDir::open(&path).unwrap().unwrap();
            interrupted(&dir, &[OutFile::public("ca-key.pem", "REAL")], true);
        }
        fs::write(txn.join("ca-key.pem"), "EVIL").unwrap();
        assert!(matches!(OutDir::lock(&path), Err(OutputError::StrangeTxn { .. })));
        assert!(!path.join("ca-key.pem").exists());
    }

    fn run_cp(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap().flatten() {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }

    #[test]
    fn reading_never_blocks_on_a_fifo() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("ca.pem");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
        assert!(matches!(read_file(&fifo), Err(OutputError::NotRegular { kind: "a FIFO", .. })));
        let dir = OutDir::open(tmp.path()).unwrap().unwrap();
        assert!(matches!(dir.read("ca.pem"), Err(OutputError::NotRegular { .. })));
        assert_eq!(dir.read("missing.pem").unwrap(), None);
        assert!(dir.regular_files().unwrap().is_empty());
    }

    #[test]
    fn many_files_keep_few_descriptors_with_either_way_of_syncing() {
        for one_syncfs in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let (dir, _) = OutDir::lock(&tmp.path().join("pki")).unwrap();
            let files: Vec<OutFile> = (0..3 * SYNC_BATCH + 1).map(|i| OutFile::public(format!("f{i}.pem"), format!("x{i}"))).collect();
            dir.commit_with(&files, false, one_syncfs).unwrap();
            assert_eq!(dir.regular_files().unwrap().len(), files.len());
            assert_eq!(fs::read(tmp.path().join("pki/f7.pem")).unwrap(), b"x7");
        }
        // Linux always has the fields; a failed read would silently turn the fast path off.
        assert!(others_unwritten(0).is_some());
    }

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
        symlink(&cert, dir.path().join("l.pem")).unwrap();
        assert!(matches!(write_all(&[OutFile::public(dir.path().join("l.pem"), "x")], true), Err(OutputError::NotRegular { .. })));
    }
}
