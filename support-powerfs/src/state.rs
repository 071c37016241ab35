//! What is volatile and how to throw it away: the filesystem's memory of every byte and
//! name that has not been made durable yet. Pure bookkeeping over a real directory, so
//! it is tested without FUSE.
//!
//! Writes go straight through to the backing directory (reads are then plain reads).
//! Before a byte that was durable is overwritten, its old value is kept in an undo log;
//! `fsync` of the file forgets the log and moves the durable length to the current one.
//! A power cut replays the undo logs backwards and truncates each file to its durable
//! length. Names work the same way: a create, unlink or rename in a directory is kept
//! in a namespace log (an unlinked file is moved to a graveyard, not deleted) until
//! the directory is fsynced, and a power cut undoes the pending ones newest first.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Durability state of one file, by backing path at the time of the write.
#[derive(Debug, Default)]
struct FileState {
    /// Length the file had at its last fsync (or when first seen).
    durable_len: u64,
    /// `(offset, old bytes)` of every durable range overwritten since, oldest first.
    undo: Vec<(u64, Vec<u8>)>,
    /// The last unsynced write, `(offset, bytes)`, for a torn write at a power cut.
    last_write: Option<(u64, Vec<u8>)>,
}

/// A namespace change not yet made durable by an fsync of its directory.
#[derive(Debug, Clone)]
enum NsOp {
    /// A file or directory was created at this path.
    Created { path: PathBuf },
    /// The entry at `path` was removed; it waits in the graveyard at `grave`.
    Removed { path: PathBuf, grave: PathBuf },
    /// `from` was renamed to `to`; what `to` replaced waits at `replaced`.
    Renamed {
        from: PathBuf,
        to: PathBuf,
        replaced: Option<PathBuf>,
    },
}

impl NsOp {
    /// The directories whose fsync makes this change durable.
    fn dirs(&self) -> Vec<PathBuf> {
        let parent = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
        match self {
            NsOp::Created { path } | NsOp::Removed { path, .. } => vec![parent(path)],
            // Linux filesystems make a rename durable with the destination directory.
            NsOp::Renamed { to, .. } => vec![parent(to)],
        }
    }
}

/// What one power cut threw away (one JSON record of the lab's evidence).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutReport {
    /// Files whose content went back to its last fsync.
    pub files_reverted: usize,
    /// Bytes written since the last fsync that were discarded (overwritten or truncated).
    pub bytes_discarded: u64,
    /// Namespace changes (create, unlink, rename) undone.
    pub names_reverted: usize,
    /// The torn write: `(file, bytes of it kept, its length)`, when one was torn.
    pub torn: Option<(String, u64, u64)>,
}

/// The volatile state of a backing directory.
#[derive(Debug)]
pub struct Volatile {
    lower: PathBuf,
    grave: PathBuf,
    graves: u64,
    files: BTreeMap<PathBuf, FileState>,
    ns: Vec<NsOp>,
    /// The backing path of the last unsynced write, for a torn write.
    last_written: Option<PathBuf>,
}

impl Volatile {
    /// Tracks `lower` (whose current content is durable); removed entries wait in `grave`.
    pub fn new(lower: &Path, grave: &Path) -> Volatile {
        Volatile {
            lower: lower.to_path_buf(),
            grave: grave.to_path_buf(),
            graves: 0,
            files: BTreeMap::new(),
            ns: Vec::new(),
            last_written: None,
        }
    }

    /// Writes `data` at `offset` of the backing file `path` through `file`, keeping the
    /// durable bytes it overwrites. Only a `direct` write (a `write(2)`, not the kernel
    /// writing back a shared mapping's pages, which it does when the process dies) can
    /// be the torn write of a power cut.
    pub fn write(
        &mut self,
        path: &Path,
        file: &File,
        offset: u64,
        data: &[u8],
        direct: bool,
    ) -> io::Result<()> {
        let size = file.metadata()?.len();
        let st = self.files.entry(path.to_path_buf()).or_insert(FileState {
            durable_len: size,
            ..FileState::default()
        });
        // Durable bytes past the current end were saved when the file was cut shorter.
        let end = (offset + data.len() as u64).min(st.durable_len).min(size);
        if offset < end {
            let mut old = vec![0; (end - offset) as usize];
            file.read_exact_at(&mut old, offset)?;
            st.undo.push((offset, old));
        }
        file.write_all_at(data, offset)?;
        if direct {
            st.last_write = Some((offset, data.to_vec()));
            self.last_written = Some(path.to_path_buf());
        }
        Ok(())
    }

    /// Sets the length of the backing file `path`, keeping the durable bytes it cuts off.
    pub fn truncate(&mut self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let size = file.metadata()?.len();
        let st = self.files.entry(path.to_path_buf()).or_insert(FileState {
            durable_len: size,
            ..FileState::default()
        });
        let end = size.min(st.durable_len);
        if len < end {
            let mut old = vec![0; (end - len) as usize];
            file.read_exact_at(&mut old, len)?;
            st.undo.push((len, old));
        }
        file.set_len(len)
    }

    /// `fsync`/`fdatasync` of the backing file `path` succeeded: its bytes are durable.
    pub fn synced(&mut self, path: &Path) {
        self.files.remove(path);
        if self.last_written.as_deref() == Some(path) {
            self.last_written = None;
        }
    }

    /// `fsync` of the backing directory `dir` succeeded: its names are durable.
    pub fn dir_synced(&mut self, dir: &Path) {
        let (done, pending): (Vec<NsOp>, Vec<NsOp>) = std::mem::take(&mut self.ns)
            .into_iter()
            .partition(|op| op.dirs().iter().any(|d| d == dir));
        self.ns = pending;
        for op in done {
            let gone = match op {
                NsOp::Removed { grave, .. } => Some(grave),
                NsOp::Renamed { replaced, .. } => replaced,
                NsOp::Created { .. } => None,
            };
            if let Some(g) = gone {
                let _ = remove_any(&g);
            }
        }
    }

    /// A file or directory was created at the backing path `path`.
    pub fn created(&mut self, path: &Path) {
        self.ns.push(NsOp::Created {
            path: path.to_path_buf(),
        });
    }

    /// Removes the entry at the backing path `path` (kept in the graveyard until its
    /// directory is fsynced); returns where it waits.
    pub fn remove(&mut self, path: &Path) -> io::Result<PathBuf> {
        let grave = self.next_grave();
        fs::rename(path, &grave)?;
        self.move_state(path, &grave);
        self.ns.push(NsOp::Removed {
            path: path.to_path_buf(),
            grave: grave.clone(),
        });
        Ok(grave)
    }

    /// Renames `from` to `to` (a replaced `to` is kept in the graveyard).
    pub fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let replaced = match fs::symlink_metadata(to) {
            Ok(_) => {
                let g = self.next_grave();
                fs::rename(to, &g)?;
                self.move_state(to, &g);
                Some(g)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        if let Err(e) = fs::rename(from, to) {
            if let Some(g) = &replaced {
                let _ = fs::rename(g, to);
            }
            return Err(e);
        }
        self.move_state(from, to);
        self.ns.push(NsOp::Renamed {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            replaced,
        });
        Ok(())
    }

    /// Bytes written since the last fsync of any file, and names not yet durable.
    pub fn pending(&self) -> (usize, usize) {
        (self.files.len(), self.ns.len())
    }

    /// The power cut: every file back to its last fsync, every name back to its
    /// directory's last fsync. With `tear = Some(r)` (r in [0, 1)), the first
    /// `r × len` bytes of the last unsynced write survive (a torn write).
    pub fn cut(&mut self, tear: Option<f64>) -> CutReport {
        let mut report = CutReport::default();
        let torn = tear.and_then(|r| {
            let path = self.last_written.take()?;
            let (off, data) = self.files.get(&path)?.last_write.clone()?;
            let keep = ((data_len(&data) as f64) * r) as u64;
            Some((path, off, data, keep))
        });
        for (path, st) in std::mem::take(&mut self.files) {
            report.files_reverted += 1;
            let Ok(file) = OpenOptions::new().write(true).open(&path) else {
                continue;
            };
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            report.bytes_discarded += size.saturating_sub(st.durable_len);
            for (off, old) in st.undo.iter().rev() {
                report.bytes_discarded += old.len() as u64;
                let _ = file.write_all_at(old, *off);
            }
            let _ = file.set_len(st.durable_len);
            let _ = file.sync_all();
        }
        for op in std::mem::take(&mut self.ns).into_iter().rev() {
            report.names_reverted += 1;
            let _ = match op {
                NsOp::Created { path } => remove_any(&path),
                NsOp::Removed { path, grave } => fs::rename(grave, path),
                NsOp::Renamed { from, to, replaced } => fs::rename(&to, from)
                    .and_then(|()| replaced.map_or(Ok(()), |g| fs::rename(g, to))),
            };
        }
        if let Some((path, off, data, keep)) = torn {
            if let Ok(file) = OpenOptions::new().write(true).open(&path) {
                let _ = file.write_all_at(&data[..keep as usize], off);
                let _ = file.sync_all();
                report.torn = Some((self.rel(&path), keep, data_len(&data)));
            }
        }
        report
    }

    /// `path` relative to the backing directory, for reports.
    pub fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.lower)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn next_grave(&mut self) -> PathBuf {
        self.graves += 1;
        self.grave.join(format!("g{}", self.graves))
    }

    /// Moves the content state of `from` (and of everything under it) to `to`.
    fn move_state(&mut self, from: &Path, to: &Path) {
        let keys: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|k| k.starts_with(from))
            .cloned()
            .collect();
        for k in keys {
            let st = self.files.remove(&k).expect("listed");
            let rest = k.strip_prefix(from).expect("filtered");
            let new = if rest.as_os_str().is_empty() {
                to.to_path_buf()
            } else {
                to.join(rest)
            };
            if self.last_written.as_deref() == Some(k.as_path()) {
                self.last_written = Some(new.clone());
            }
            self.files.insert(new, st);
        }
    }
}

fn data_len(d: &[u8]) -> u64 {
    d.len() as u64
}

/// Removes a file or a directory tree.
fn remove_any(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf, Volatile) {
        let t = tempfile::tempdir().unwrap();
        let lower = t.path().join("lower");
        let grave = t.path().join("grave");
        fs::create_dir_all(&lower).unwrap();
        fs::create_dir_all(&grave).unwrap();
        let v = Volatile::new(&lower, &grave);
        (t, lower, v)
    }

    fn write(v: &mut Volatile, p: &Path, off: u64, data: &[u8]) {
        let f = OpenOptions::new().read(true).write(true).open(p).unwrap();
        v.write(p, &f, off, data, true).unwrap();
    }

    #[test]
    fn unsynced_bytes_vanish_and_synced_ones_stay() {
        let (_t, lower, mut v) = setup();
        let p = lower.join("f");
        fs::write(&p, b"durable").unwrap();
        write(&mut v, &p, 0, b"DUR");
        write(&mut v, &p, 7, b"+more");
        let r = v.cut(None);
        assert_eq!(fs::read(&p).unwrap(), b"durable");
        assert_eq!((r.files_reverted, r.bytes_discarded), (1, 8));
        write(&mut v, &p, 7, b"+kept");
        v.synced(&p);
        write(&mut v, &p, 0, b"X");
        v.cut(None);
        assert_eq!(fs::read(&p).unwrap(), b"durable+kept");
    }

    #[test]
    fn overlapping_overwrites_restore_the_oldest_bytes() {
        let (_t, lower, mut v) = setup();
        let p = lower.join("f");
        fs::write(&p, b"abcdef").unwrap();
        write(&mut v, &p, 1, b"XX");
        write(&mut v, &p, 2, b"YYYYYY");
        v.truncate(&p, 3).unwrap();
        v.cut(None);
        assert_eq!(fs::read(&p).unwrap(), b"abcdef");
    }

    #[test]
    fn a_write_past_a_shortened_end_restores_the_durable_bytes() {
        let (_t, lower, mut v) = setup();
        let p = lower.join("f");
        fs::write(&p, b"0123456789").unwrap();
        v.truncate(&p, 3).unwrap();
        write(&mut v, &p, 6, b"XY");
        v.cut(None);
        assert_eq!(fs::read(&p).unwrap(), b"0123456789");
    }

    #[test]
    fn names_need_a_directory_fsync() {
        let (_t, lower, mut v) = setup();
        fs::write(lower.join("old"), b"o").unwrap();
        fs::write(lower.join("new"), b"n").unwrap();
        v.created(&lower.join("new"));
        v.remove(&lower.join("old")).unwrap();
        v.cut(None);
        assert!(!lower.join("new").exists());
        assert_eq!(fs::read(lower.join("old")).unwrap(), b"o");
        fs::write(lower.join("new"), b"n").unwrap();
        v.created(&lower.join("new"));
        v.rename(&lower.join("new"), &lower.join("old")).unwrap();
        v.dir_synced(&lower);
        v.cut(None);
        assert_eq!(fs::read(lower.join("old")).unwrap(), b"n");
        assert!(!lower.join("new").exists());
    }

    #[test]
    fn a_torn_write_keeps_a_prefix() {
        let (_t, lower, mut v) = setup();
        let p = lower.join("f");
        fs::write(&p, b"").unwrap();
        v.synced(&p);
        write(&mut v, &p, 0, b"0123456789");
        let r = v.cut(Some(0.45));
        assert_eq!(fs::read(&p).unwrap(), b"0123");
        assert_eq!(r.torn, Some(("f".into(), 4, 10)));
    }
}
