//! A power-loss filesystem for tests (LazyFS's semantics, served with `fuser`).
//!
//! [`PowerFs::mount`] serves a backing directory at a mount point. Every write goes
//! through, but bytes written since a file's last `fsync`/`fdatasync`, and names
//! created, removed or renamed since their directory's last fsync, are *volatile*:
//! [`PowerFs::power_cut`] discards them, as losing power would. Two more faults:
//! [`PowerFs::set_space`] (writes that grow a file fail with ENOSPC past a budget) and
//! [`PowerFs::fail_next_fsync`] (the next fsync of a file under a prefix fails with EIO
//! and makes nothing durable).
//!
//! Its own crate so that only the suites that mount it build `fuser`. Mounting needs
//! `/dev/fuse` and Debian's `fuse3` (`fusermount3`); where that fails, [`PowerFs::mount`]
//! says why, and the checks that need it are NOT_RUN with that reason.
//!
//! A mount never outlives its test: the handle unmounts lazily on drop (also during a
//! panic), `auto_unmount` makes `fusermount3` unmount when the test process is killed
//! (nextest's timeout), and [`sweep_stale_mounts`] removes dead mounts left under a
//! work root by anything else.

mod fs;
mod state;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use thiserror::Error;

pub use fs::SyncEvent;
pub use state::CutReport;

use fs::{PowerFsImpl, Shared};

/// The `fsname` of every mount: how a sweep recognises this filesystem's mounts.
pub const FS_NAME: &str = "val-powerfs";

/// Why a mount or a power cut did not happen.
#[derive(Debug, Error)]
pub enum PowerFsError {
    /// FUSE cannot mount here; the reason is for a NOT_RUN.
    #[error("FUSE cannot mount {mountpoint}: {reason}")]
    Unavailable {
        /// The mount point.
        mountpoint: String,
        /// What failed.
        reason: String,
    },
    /// Preparing the directories failed.
    #[error("preparing {path}: {source}")]
    Io {
        /// The directory.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Files were still open when the power was to be cut.
    #[error("{0} file(s) still open after the process was reaped; power cut refused")]
    StillOpen(usize),
}

/// A mounted power-loss filesystem; unmounts on drop.
pub struct PowerFs {
    shared: Arc<Mutex<Shared>>,
    mountpoint: PathBuf,
    session: Option<fuser::BackgroundSession>,
}

impl std::fmt::Debug for PowerFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerFs")
            .field("mountpoint", &self.mountpoint)
            .finish()
    }
}

impl PowerFs {
    /// Mounts a fresh filesystem under `root`: the backing directory `root/lower` (made
    /// to hold `dirs`, durable from the start), the graveyard `root/grave` and the mount
    /// point `root/mnt`. Everything under `root` from an earlier run is removed first.
    pub fn mount(root: &Path, dirs: &[&str]) -> Result<PowerFs, PowerFsError> {
        let io = |p: &Path| {
            let path = p.display().to_string();
            move |source| PowerFsError::Io { path, source }
        };
        sweep_stale_mounts(root);
        let (lower, grave, mnt) = (root.join("lower"), root.join("grave"), root.join("mnt"));
        if root.exists() {
            std::fs::remove_dir_all(root).map_err(io(root))?;
        }
        for d in [&lower, &grave, &mnt] {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        for d in dirs {
            std::fs::create_dir_all(lower.join(d)).map_err(io(&lower.join(d)))?;
        }
        let mnt_text = mnt.display().to_string();
        let unavailable = |reason: String| PowerFsError::Unavailable {
            mountpoint: mnt_text.clone(),
            reason,
        };
        if !Path::new("/dev/fuse").exists() {
            return Err(unavailable("/dev/fuse does not exist".into()));
        }
        let shared = Arc::new(Mutex::new(Shared::new(&lower, &grave)));
        let mut options = vec![
            fuser::MountOption::FSName(FS_NAME.into()),
            fuser::MountOption::Subtype("powerfs".into()),
            fuser::MountOption::NoAtime,
        ];
        // auto_unmount (fusermount3 unmounts when this process dies, e.g. at nextest's
        // timeout) needs allow_root; an unprivileged user may not have it, so fall back
        // to a plain mount, still covered by the guard and the sweep.
        let mut first = fuser::Config::default();
        options.push(fuser::MountOption::AutoUnmount);
        first.mount_options = options.clone();
        first.acl = fuser::SessionACL::RootAndOwner;
        let fs = || PowerFsImpl {
            shared: shared.clone(),
        };
        let session = fuser::spawn_mount(fs(), &mnt, &first).or_else(|e1| {
            options.pop();
            let mut plain = fuser::Config::default();
            plain.mount_options = options;
            fuser::spawn_mount(fs(), &mnt, &plain)
                .map_err(|e2| unavailable(format!("{e2} (with auto_unmount: {e1})")))
        })?;
        let pfs = PowerFs {
            shared,
            mountpoint: mnt,
            session: Some(session),
        };
        // The mount is usable only once the kernel answers through it.
        std::fs::metadata(pfs.mountpoint.join(dirs.first().unwrap_or(&".")))
            .map_err(|e| unavailable(format!("mounted but not answering: {e}")))?;
        Ok(pfs)
    }

    /// The mount point.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// µs since the mount: the clock of [`SyncEvent::at_us`], for the lab's own records.
    pub fn now_us(&self) -> u64 {
        self.epoch().elapsed().as_micros() as u64
    }

    /// The instant [`SyncEvent::at_us`] counts from.
    pub fn epoch(&self) -> Instant {
        self.lock().epoch
    }

    /// Cuts the power: discards every volatile byte and name (with `tear = Some(r)`,
    /// r in [0, 1), the first `r` of the last unsynced write survives). Call it after
    /// the processes using the mount were killed and reaped: it waits up to 5 s for
    /// their files to be released, since the kernel writes back their last dirty pages
    /// before the release, and refuses to cut while files are open.
    pub fn power_cut(&self, tear: Option<f64>) -> Result<CutReport, PowerFsError> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut s = self.lock();
            let open = s.open_handles();
            if open == 0 {
                let report = s.vol.cut(tear);
                s.prune_inodes();
                return Ok(report);
            }
            drop(s);
            if Instant::now() >= deadline {
                return Err(PowerFsError::StillOpen(open));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sets the space budget: files may grow by at most `bytes` more in total (`None`:
    /// unlimited, the space is given back). `Some(0)` is a full disk.
    pub fn set_space(&self, bytes: Option<u64>) {
        self.lock().space = bytes;
    }

    /// How many writes were refused with ENOSPC since the mount.
    pub fn enospc_count(&self) -> u64 {
        self.lock().enospc
    }

    /// Makes the next fsync of a file whose path (relative to the mount) starts with
    /// `prefix` fail once with EIO; its bytes stay volatile.
    pub fn fail_next_fsync(&self, prefix: &str) {
        self.lock().fail_fsync = Some(prefix.to_string());
    }

    /// Every fsync answered since the last call, oldest first.
    pub fn take_sync_events(&self) -> Vec<SyncEvent> {
        std::mem::take(&mut self.lock().events)
    }

    /// Files and namespace changes currently volatile: `(files, names)`.
    pub fn pending(&self) -> (usize, usize) {
        self.lock().vol.pending()
    }

    /// Unmounts now (lazily, so a straggler cannot keep the mount alive).
    pub fn unmount(mut self) {
        self.unmount_inner();
    }

    fn unmount_inner(&mut self) {
        lazy_unmount(&self.mountpoint);
        if let Some(session) = self.session.take() {
            // After the lazy unmount the session ends once the kernel lets go; never
            // let a wedged kernel connection hang the test that drops this handle.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                drop(session);
                let _ = tx.send(());
            });
            let _ = rx.recv_timeout(Duration::from_secs(5));
        }
    }
}

impl Drop for PowerFs {
    fn drop(&mut self) {
        self.unmount_inner();
    }
}

/// Lazy unmount (`fusermount3 -uz`, or `umount2(MNT_DETACH)` where that is missing).
fn lazy_unmount(mnt: &Path) {
    let ok = Command::new("fusermount3")
        .arg("-uz")
        .arg(mnt)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if let Ok(c) = std::ffi::CString::new(mnt.as_os_str().as_encoded_bytes()) {
            // SAFETY: a valid NUL-terminated path; failure is reported by the return value only.
            unsafe {
                libc::umount2(c.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

/// This filesystem's mounts under `root` (from `/proc/mounts`).
pub fn mounts_under(root: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/mounts") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (src, mnt) = (f.next()?, f.next()?);
            // /proc/mounts escapes spaces and the like as octal.
            let mnt = mnt.replace("\\040", " ");
            (src == FS_NAME && Path::new(&mnt).starts_with(root)).then(|| PathBuf::from(mnt))
        })
        .collect()
}

/// Lazily unmounts this filesystem's dead mounts under `root`: those whose daemon is
/// gone (`ENOTCONN`). Live mounts of tests running in parallel are left alone.
pub fn sweep_stale_mounts(root: &Path) -> Vec<PathBuf> {
    let mut swept = Vec::new();
    for m in mounts_under(root) {
        let dead = std::fs::metadata(&m)
            .err()
            .is_some_and(|e| e.raw_os_error() == Some(libc::ENOTCONN));
        if dead {
            lazy_unmount(&m);
            swept.push(m);
        }
    }
    swept
}
