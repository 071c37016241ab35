//! Files, hashes and paths: the leaf every other module may use and that uses none.
//!
//! Writes are atomic (temporary file, fsync, rename) so that a reader, a crash or a
//! concurrent test process sees either the old file or the whole new one.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Errors of file operations, with the path and what was being done.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A path evidence tools may not read: a symlink, a FIFO, a device, a socket or
    /// a directory. Refused before any byte is read.
    #[error("refused {path}: {reason}")]
    NotRegular {
        /// The path involved.
        path: PathBuf,
        /// What it is instead of a regular file.
        reason: &'static str,
    },
    /// A file larger than [`MAX_READ_BYTES`], refused before it is read whole.
    #[error("refused {path}: {bytes} bytes, more than the {cap}-byte cap on files read whole")]
    TooLarge {
        /// The path involved.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// The cap.
        cap: u64,
    },
    /// A JSON file could not be (de)serialised.
    #[error("JSON {path}: {message}")]
    Json {
        /// The path involved.
        path: PathBuf,
        /// Cause.
        message: String,
    },
}

impl FsError {
    /// What went wrong without the path: judges put it after the run-relative name in a
    /// check's note, and an absolute path there would make the note (and so the
    /// report) depend on where the run directory lies.
    pub fn cause(&self) -> String {
        match self {
            FsError::Io { source, .. } => source.to_string(),
            FsError::NotRegular { reason, .. } => format!("refused: {reason}"),
            FsError::TooLarge { bytes, cap, .. } => {
                format!("refused: {bytes} bytes, more than the {cap}-byte cap on files read whole")
            }
            FsError::Json { message, .. } => format!("JSON: {message}"),
        }
    }
}

/// Shorthand for an I/O error with context.
pub fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FsError {
    let path = path.to_path_buf();
    move |source| FsError::Io { what, path, source }
}

/// The workspace root (parent of this crate's directory, fixed at compile time).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("core/ has a parent")
        .to_path_buf()
}

/// The evidence root: `EVIDENCE_DIR`, else `<workspace>/evidence`.
pub fn evidence_root() -> PathBuf {
    match std::env::var_os("EVIDENCE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => workspace_root().join("evidence"),
    }
}

/// The cargo target directory (`CARGO_TARGET_DIR` or `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let p = PathBuf::from(d);
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// Hex sha256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The cap on a file read whole into memory (JSON, text records, reports): 256 MiB.
/// The largest file a judge reads whole is a tier's worker records or a soak's
/// round files, kilobytes to a few MB; the cap leaves two orders of magnitude of
/// headroom while bounding what a hostile run directory (a sparse file, a file
/// growing under the reader) can make a tool allocate. Hashing streams and needs no
/// cap; a run's files are regular files whose size the manifest also records.
pub const MAX_READ_BYTES: u64 = 256 * 1024 * 1024;

/// What a non-regular file type is, for a refusal message.
fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if ft.is_symlink() {
        "a symlink (links are never followed)"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading only when it is a regular file, refusing anything else
/// before any byte is read: `lstat` first (no link followed), then an open with
/// `O_NOFOLLOW` (a link swapped in meanwhile fails) and `O_NONBLOCK` (a FIFO swapped
/// in cannot block the open), then `fstat` of what was actually opened.
pub fn open_regular(path: &Path) -> Result<(File, std::fs::Metadata), FsError> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    let before = std::fs::symlink_metadata(path).map_err(io_err("stat", path))?;
    if !before.file_type().is_file() {
        return Err(FsError::NotRegular {
            path: path.to_path_buf(),
            reason: kind_of(before.file_type()),
        });
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(io_err("open", path))?;
    let md = file.metadata().map_err(io_err("stat", path))?;
    if !md.file_type().is_file() || md.dev() != before.dev() || md.ino() != before.ino() {
        return Err(FsError::NotRegular {
            path: path.to_path_buf(),
            reason: "replaced while it was being opened",
        });
    }
    Ok((file, md))
}

/// The bytes of the regular file `path` (see [`open_regular`]), at most
/// [`MAX_READ_BYTES`]: a larger file is refused before it is read.
pub fn read_regular(path: &Path) -> Result<Vec<u8>, FsError> {
    use std::io::Read as _;
    let (file, md) = open_regular(path)?;
    let too_large = |bytes| FsError::TooLarge {
        path: path.to_path_buf(),
        bytes,
        cap: MAX_READ_BYTES,
    };
    if md.len() > MAX_READ_BYTES {
        return Err(too_large(md.len()));
    }
    let mut out = Vec::with_capacity(md.len() as usize);
    // A file that grows after the fstat still stops at the cap.
    file.take(MAX_READ_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(io_err("read", path))?;
    if out.len() as u64 > MAX_READ_BYTES {
        return Err(too_large(out.len() as u64));
    }
    Ok(out)
}

/// The text of the regular file `path` ([`read_regular`]); not UTF-8 is an error.
pub fn read_text(path: &Path) -> Result<String, FsError> {
    String::from_utf8(read_regular(path)?).map_err(|_| FsError::Io {
        what: "read",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })
}

/// Hex sha256 of a regular file ([`open_regular`]), streamed.
pub fn sha256_file(path: &Path) -> Result<String, FsError> {
    let (mut f, _) = open_regular(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(io_err("read", path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory,
/// fsync, then rename, so a reader sees the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".fleetval-tmp-")
        .tempfile_in(dir)
        .map_err(io_err("create temporary file in", dir))?;
    tmp.write_all(bytes).map_err(io_err("write", path))?;
    tmp.as_file().sync_all().map_err(io_err("fsync", path))?;
    tmp.persist(path)
        .map_err(|e| FsError::Io {
            what: "rename into",
            path: path.to_path_buf(),
            source: e.error,
        })
        .map(|_| ())
}

/// Serialises `value` as pretty JSON (with a trailing newline) and writes it atomically.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), FsError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| FsError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Reads ([`read_text`]) and parses a JSON file.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, FsError> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| FsError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// RFC 3339 UTC with microseconds, as the contract writes timestamps.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// An exclusive lock on a file, released on drop (and by the kernel if the process
/// dies), so that test processes of one run can take turns without a daemon.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Blocks until the exclusive lock on `path` (created if absent) is held.
    pub fn acquire(path: &Path) -> std::io::Result<FileLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        file.lock()?;
        Ok(FileLock { _file: file })
    }
}
