//! The filesystem mounted for real: what survives a power cut, a full disk, a failed fsync.
//! Where FUSE cannot mount these tests say so and return, except under CI (`CI=true`),
//! where a mount failure fails them.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use val_powerfs::{PowerFs, PowerFsError};

/// A fresh root for one test under the target directory (kept afterwards).
fn root(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("powerfs")
        .join(name)
}

/// Mounts, or returns `None` (outside CI) when FUSE is unavailable here.
fn mount(name: &str) -> Option<PowerFs> {
    match PowerFs::mount(&root(name), &["data"]) {
        Ok(fs) => Some(fs),
        Err(e @ PowerFsError::Unavailable { .. })
            if std::env::var("CI").as_deref() != Ok("true") =>
        {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn power_cut_keeps_exactly_the_synced_bytes_and_names() {
    let Some(pfs) = mount("cut") else { return };
    let data = pfs.mountpoint().join("data");
    let mut f = File::create(data.join("a")).unwrap();
    f.write_all(b"synced").unwrap();
    f.sync_all().unwrap();
    File::open(&data).unwrap().sync_all().unwrap();
    f.write_all(b"+volatile").unwrap();
    File::create(data.join("b"))
        .unwrap()
        .write_all(b"new")
        .unwrap();
    drop(f);
    let r = pfs.power_cut(None).unwrap();
    assert_eq!(fs::read(data.join("a")).unwrap(), b"synced");
    assert!(!data.join("b").exists(), "an unsynced name survived");
    assert!(r.bytes_discarded >= 9, "{r:?}");
    let events = pfs.take_sync_events();
    assert_eq!(events.iter().filter(|e| e.ok).count(), 2, "{events:?}");
}

#[test]
fn full_disk_then_space_given_back() {
    let Some(pfs) = mount("full") else { return };
    let p = pfs.mountpoint().join("data/f");
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .unwrap();
    f.write_all(b"before").unwrap();
    pfs.set_space(Some(0));
    let e = f.write_all(b"while full").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
    assert_eq!(pfs.enospc_count(), 1);
    pfs.set_space(None);
    f.write_all(b"+after").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"before+after");
}

#[test]
fn failed_fsync_fails_once_and_keeps_the_bytes_volatile() {
    let Some(pfs) = mount("fsync") else { return };
    let data = pfs.mountpoint().join("data");
    let mut f = File::create(data.join("f")).unwrap();
    File::open(&data).unwrap().sync_all().unwrap();
    f.write_all(b"lost").unwrap();
    pfs.fail_next_fsync("data/");
    let e = f.sync_data().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    drop(f);
    pfs.power_cut(None).unwrap();
    assert_eq!(fs::read(data.join("f")).unwrap(), b"");
    let mut f = OpenOptions::new()
        .append(true)
        .open(data.join("f"))
        .unwrap();
    f.write_all(b"kept").unwrap();
    f.sync_data().unwrap();
    drop(f);
    pfs.power_cut(None).unwrap();
    assert_eq!(fs::read(data.join("f")).unwrap(), b"kept");
}

#[test]
fn drop_unmounts() {
    let Some(pfs) = mount("drop") else { return };
    let mnt = pfs.mountpoint().to_path_buf();
    assert_eq!(val_powerfs::mounts_under(&root("drop")), vec![mnt.clone()]);
    drop(pfs);
    assert!(val_powerfs::mounts_under(&root("drop")).is_empty());
}

/// A test process killed with its filesystem mounted (nextest's timeout) leaves no
/// mount behind: `auto_unmount` removes it, or else the sweep of dead mounts does.
#[test]
fn a_killed_process_leaves_no_mount() {
    if let Ok(root) = std::env::var("POWERFS_CHILD_ROOT") {
        let _pfs = PowerFs::mount(std::path::Path::new(&root), &["data"]).unwrap();
        std::thread::sleep(std::time::Duration::from_secs(60));
        return;
    }
    let Some(probe) = mount("killed-probe") else {
        return;
    };
    drop(probe);
    let root = root("killed");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_killed_process_leaves_no_mount", "--nocapture"])
        .env("POWERFS_CHILD_ROOT", &root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let wait_for = |mounted: bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while val_powerfs::mounts_under(&root).is_empty() == mounted
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    wait_for(true);
    assert!(
        !val_powerfs::mounts_under(&root).is_empty(),
        "the child never mounted"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    wait_for(false);
    let swept = val_powerfs::sweep_stale_mounts(&root);
    assert!(
        val_powerfs::mounts_under(&root).is_empty(),
        "mount left after the kill (swept {swept:?})"
    );
}

#[test]
fn a_write_that_partly_fits_is_short() {
    let Some(pfs) = mount("short") else { return };
    let p = pfs.mountpoint().join("data/f");
    let f = File::create(&p).unwrap();
    pfs.set_space(Some(4));
    use std::os::unix::fs::FileExt;
    assert_eq!(f.write_at(b"0123456789", 0).unwrap(), 4);
    let e = f.write_at(b"456789", 4).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
    assert_eq!(fs::read(&p).unwrap(), b"0123");
}

#[test]
fn an_unlinked_open_file_can_still_be_written_and_its_name_comes_back_at_a_cut() {
    let Some(pfs) = mount("unlink") else { return };
    let data = pfs.mountpoint().join("data");
    let mut f = File::create(data.join("f")).unwrap();
    f.write_all(b"kept").unwrap();
    f.sync_all().unwrap();
    File::open(&data).unwrap().sync_all().unwrap();
    fs::remove_file(data.join("f")).unwrap();
    f.write_all(b"+gone").unwrap();
    drop(f);
    assert!(!data.join("f").exists());
    pfs.power_cut(None).unwrap();
    assert_eq!(fs::read(data.join("f")).unwrap(), b"kept");
}
