//! The FUSE side: a passthrough to the backing directory whose writes, truncations and
//! namespace changes are recorded in [`Volatile`], with the two injected faults (a
//! space budget and one failing fsync).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, OpenFlags,
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use serde::{Deserialize, Serialize};

use crate::state::Volatile;

/// No attribute or entry caching in the kernel: after a power cut the backing files
/// change under it, and a cached size or name would show the discarded state.
const TTL: Duration = Duration::ZERO;

/// One fsync as the filesystem answered it (one JSON Lines record of the evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncEvent {
    /// Path relative to the mount.
    pub path: String,
    /// `file` (fsync/fdatasync) or `dir` (fsync of a directory).
    pub kind: String,
    /// Whether it succeeded (false: the injected EIO).
    pub ok: bool,
    /// When it was answered, µs since the mount (the clock of [`crate::PowerFs::now_us`]).
    pub at_us: u64,
}

/// State shared by the FUSE thread and the lab's handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) vol: Volatile,
    inodes: HashMap<u64, PathBuf>,
    by_path: HashMap<PathBuf, u64>,
    next_ino: u64,
    handles: HashMap<u64, (u64, File)>,
    next_fh: u64,
    /// Bytes the files may still grow by; `None`: unlimited.
    pub(crate) space: Option<u64>,
    /// ENOSPC answers given while the budget was exhausted.
    pub(crate) enospc: u64,
    /// The next fsync of a file under this prefix fails with EIO.
    pub(crate) fail_fsync: Option<String>,
    pub(crate) events: Vec<SyncEvent>,
    pub(crate) epoch: Instant,
}

impl Shared {
    pub(crate) fn new(lower: &Path, grave: &Path) -> Shared {
        let mut s = Shared {
            vol: Volatile::new(lower, grave),
            inodes: HashMap::new(),
            by_path: HashMap::new(),
            next_ino: 2,
            handles: HashMap::new(),
            next_fh: 1,
            space: None,
            enospc: 0,
            fail_fsync: None,
            events: Vec::new(),
            epoch: Instant::now(),
        };
        s.inodes.insert(1, lower.to_path_buf());
        s.by_path.insert(lower.to_path_buf(), 1);
        s
    }

    /// Open file handles (the lab waits for zero before a power cut).
    pub(crate) fn open_handles(&self) -> usize {
        self.handles.len()
    }

    /// Forgets inode numbers whose backing path no longer exists (after a power cut).
    pub(crate) fn prune_inodes(&mut self) {
        let gone: Vec<u64> = self
            .inodes
            .iter()
            .filter(|(ino, p)| **ino != 1 && fs::symlink_metadata(p).is_err())
            .map(|(ino, _)| *ino)
            .collect();
        for ino in gone {
            if let Some(p) = self.inodes.remove(&ino) {
                self.by_path.remove(&p);
            }
        }
    }

    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.inodes.get(&ino.0).cloned().ok_or(Errno::ENOENT)
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<PathBuf, Errno> {
        Ok(self.path(parent)?.join(name))
    }

    fn ino_of(&mut self, path: &Path) -> u64 {
        if let Some(i) = self.by_path.get(path) {
            return *i;
        }
        let i = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(i, path.to_path_buf());
        self.by_path.insert(path.to_path_buf(), i);
        i
    }

    /// Re-points inode numbers under `from` to `to` after a rename.
    fn moved(&mut self, from: &Path, to: &Path) {
        let moved: Vec<(u64, PathBuf)> = self
            .inodes
            .iter()
            .filter(|(_, p)| p.starts_with(from))
            .map(|(i, p)| (*i, p.clone()))
            .collect();
        if let Some(i) = self.by_path.remove(to) {
            self.inodes.remove(&i);
        }
        for (i, p) in moved {
            self.by_path.remove(&p);
            let rest = p.strip_prefix(from).expect("filtered");
            let new = if rest.as_os_str().is_empty() {
                to.to_path_buf()
            } else {
                to.join(rest)
            };
            self.inodes.insert(i, new.clone());
            self.by_path.insert(new, i);
        }
    }

    fn attr(&mut self, path: &Path) -> Result<FileAttr, Errno> {
        let md = fs::symlink_metadata(path).map_err(Errno::from)?;
        let ino = self.ino_of(path);
        let t = |s: i64, ns: i64| {
            UNIX_EPOCH + Duration::from_secs(s.max(0) as u64) + Duration::from_nanos(ns as u64)
        };
        let kind = if md.is_dir() {
            FileType::Directory
        } else if md.file_type().is_symlink() {
            FileType::Symlink
        } else {
            FileType::RegularFile
        };
        Ok(FileAttr {
            ino: INodeNo(ino),
            size: md.len(),
            blocks: md.blocks(),
            atime: t(md.atime(), md.atime_nsec()),
            mtime: t(md.mtime(), md.mtime_nsec()),
            ctime: t(md.ctime(), md.ctime_nsec()),
            crtime: SystemTime::UNIX_EPOCH,
            kind,
            perm: (md.permissions().mode() & 0o7777) as u16,
            nlink: md.nlink() as u32,
            uid: md.uid(),
            gid: md.gid(),
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn rel(&self, path: &Path) -> String {
        self.vol.rel(path)
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Charges `growth` bytes against the space budget.
    fn charge(&mut self, growth: u64) -> Result<(), Errno> {
        match self.space {
            Some(left) if growth > left => {
                self.enospc += 1;
                Err(Errno::ENOSPC)
            }
            Some(left) => {
                self.space = Some(left - growth);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn fsync_file(&mut self, ino: INodeNo, fh: FileHandle) -> Result<(), Errno> {
        let path = self.path(ino)?;
        let rel = self.rel(&path);
        let fail = self.fail_fsync.as_ref().is_some_and(|p| rel.starts_with(p));
        if fail {
            self.fail_fsync = None;
        } else if let Some((_, f)) = self.handles.get(&fh.0) {
            f.sync_data().map_err(Errno::from)?;
            self.vol.synced(&path);
        }
        let at_us = self.now_us();
        self.events.push(SyncEvent {
            path: rel,
            kind: "file".into(),
            ok: !fail,
            at_us,
        });
        if fail {
            Err(Errno::EIO)
        } else {
            Ok(())
        }
    }
}

/// The filesystem served by fuser.
pub(crate) struct PowerFsImpl {
    pub(crate) shared: Arc<Mutex<Shared>>,
}

impl PowerFsImpl {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock must not wedge the mount: the state is still
        // the best description of the backing directory there is.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Maps an `io::Result` into fuser's errno.
fn err(e: io::Error) -> Errno {
    Errno::from(e)
}

/// Open options for the backing file: the access mode of `flags`, never `O_APPEND`
/// (the kernel already gives every write its offset) nor `O_CREAT`/`O_TRUNC`
/// (handled as their own, recorded, operations).
fn open_options(flags: i32) -> OpenOptions {
    let mut o = OpenOptions::new();
    match flags & libc::O_ACCMODE {
        libc::O_WRONLY => o.write(true),
        libc::O_RDWR => o.read(true).write(true),
        _ => o.read(true),
    };
    o.custom_flags(
        flags & !(libc::O_APPEND | libc::O_CREAT | libc::O_TRUNC | libc::O_EXCL | libc::O_ACCMODE),
    );
    o
}

impl Filesystem for PowerFsImpl {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut s = self.lock();
        match s.child(parent, name).and_then(|p| s.attr(&p)) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let mut s = self.lock();
        match s.path(ino).and_then(|p| s.attr(&p)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut s = self.lock();
        let r = (|| {
            let path = s.path(ino)?;
            if let Some(m) = mode {
                fs::set_permissions(&path, fs::Permissions::from_mode(m)).map_err(err)?;
            }
            if let Some(len) = size {
                let cur = fs::metadata(&path).map_err(err)?.len();
                s.charge(len.saturating_sub(cur))?;
                s.vol.truncate(&path, len).map_err(err)?;
            }
            s.attr(&path)
        })();
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut s = self.lock();
        let r = (|| {
            let path = s.child(parent, name)?;
            fs::create_dir(&path).map_err(err)?;
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777));
            s.vol.created(&path);
            s.attr(&path)
        })();
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.bits() != 0 {
            return reply.error(Errno::EINVAL);
        }
        let mut s = self.lock();
        let r = (|| {
            let from = s.child(parent, name)?;
            let to = s.child(newparent, newname)?;
            s.vol.rename(&from, &to).map_err(err)?;
            s.moved(&from, &to);
            Ok(())
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut s = self.lock();
        let r = (|| {
            let path = s.path(ino)?;
            let file = open_options(flags.0).open(&path).map_err(err)?;
            if flags.0 & libc::O_TRUNC != 0 {
                s.vol.truncate(&path, 0).map_err(err)?;
            }
            let fh = s.next_fh;
            s.next_fh += 1;
            s.handles.insert(fh, (ino.0, file));
            Ok(fh)
        })();
        match r {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = self.lock();
        let r = (|| {
            let path = s.child(parent, name)?;
            let existed = path.exists();
            let mut o = open_options(flags | libc::O_RDWR);
            o.read(true).write(true).create(true).mode(mode & 0o7777);
            if flags & libc::O_EXCL != 0 {
                o.create_new(true);
            }
            let file = o.open(&path).map_err(err)?;
            if !existed {
                s.vol.created(&path);
                // A new file's content is volatile from byte 0.
                s.vol.truncate(&path, 0).map_err(err)?;
            } else if flags & libc::O_TRUNC != 0 {
                s.vol.truncate(&path, 0).map_err(err)?;
            }
            let a = s.attr(&path)?;
            let fh = s.next_fh;
            s.next_fh += 1;
            s.handles.insert(fh, (a.ino.0, file));
            Ok((a, fh))
        })();
        match r {
            Ok((a, fh)) => {
                reply.created(&TTL, &a, Generation(0), FileHandle(fh), FopenFlags::empty())
            }
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        use std::os::unix::fs::FileExt;
        let s = self.lock();
        let Some((_, file)) = s.handles.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let mut buf = vec![0; size as usize];
        let mut n = 0;
        while n < buf.len() {
            match file.read_at(&mut buf[n..], offset + n as u64) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return reply.error(err(e)),
            }
        }
        reply.data(&buf[..n]);
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut s = self.lock();
        let r = (|| {
            let path = s.path(ino)?;
            let file = s
                .handles
                .get(&fh.0)
                .map(|(_, f)| f.try_clone())
                .ok_or(Errno::EBADF)?
                .map_err(err)?;
            let size = file.metadata().map_err(err)?.len();
            let growth = (offset + data.len() as u64).saturating_sub(size);
            // Like a real filesystem running out of blocks: the part that still fits is
            // written (a short write), and only a write of which nothing fits fails.
            let fits = match s.space {
                Some(left) if growth > left => data.len().saturating_sub((growth - left) as usize),
                _ => data.len(),
            };
            if fits == 0 {
                s.charge(growth)?;
            }
            s.charge((offset + fits as u64).saturating_sub(size))?;
            let direct = !write_flags.contains(WriteFlags::FUSE_WRITE_CACHE);
            s.vol
                .write(&path, &file, offset, &data[..fits], direct)
                .map(|()| fits)
                .map_err(err)
        })();
        match r {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.lock().handles.remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.lock().fsync_file(ino, fh) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.opened(FileHandle(0), FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let mut s = self.lock();
        let Ok(dir) = s.path(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let mut entries = vec![
            (ino.0, FileType::Directory, ".".into()),
            (ino.0, FileType::Directory, "..".into()),
        ];
        match fs::read_dir(&dir) {
            Ok(rd) => {
                for e in rd.flatten() {
                    let kind = match e.file_type() {
                        Ok(t) if t.is_dir() => FileType::Directory,
                        _ => FileType::RegularFile,
                    };
                    let i = s.ino_of(&e.path());
                    entries.push((i, kind, e.file_name()));
                }
            }
            Err(e) => return reply.error(err(e)),
        }
        for (n, (i, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(i), (n + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = self.lock();
        match s.path(ino) {
            Ok(dir) => {
                if let Ok(d) = File::open(&dir) {
                    let _ = d.sync_all();
                }
                s.vol.dir_synced(&dir);
                let (path, at_us) = (s.rel(&dir), s.now_us());
                s.events.push(SyncEvent {
                    path,
                    kind: "dir".into(),
                    ok: true,
                    at_us,
                });
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: fuser::ReplyStatfs) {
        let s = self.lock();
        let free = s.space.map_or(1 << 30, |left| left / 4096);
        reply.statfs(1 << 30, free, free, 1 << 20, 1 << 20, 4096, 255, 4096);
    }
}

impl PowerFsImpl {
    fn remove(&self, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.lock();
        let r = (|| {
            let path = s.child(parent, name)?;
            let md = fs::symlink_metadata(&path).map_err(err)?;
            if md.is_dir() && fs::read_dir(&path).map_err(err)?.next().is_some() {
                return Err(Errno::ENOTEMPTY);
            }
            let grave = s.vol.remove(&path).map_err(err)?;
            // A file still open may still be written (POSIX): its inode follows it.
            s.moved(&path, &grave);
            Ok(())
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
