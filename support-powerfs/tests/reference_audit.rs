//! The reference control-plane's audit log on a disk that fills up mid-line: the short
//! write leaves half a line, which the log must cut back, or the next acknowledged
//! event would be glued onto it and lost to every reader.

use std::path::PathBuf;

use autonomy_cp::audit::{self, AuditEvent, AuditLog, Query};
use val_powerfs::{PowerFs, PowerFsError};

fn event(resource: &str) -> AuditEvent {
    AuditEvent {
        ts: "2026-12-06T00:00:00.000000Z".into(),
        event_type: "rollout.created".into(),
        actor: "val-powerfs-test".into(),
        resource: resource.into(),
        outcome: "success".into(),
        strategy: None,
        reason: None,
    }
}

#[test]
fn a_line_torn_by_a_full_disk_is_cut_back_and_the_next_event_reads() {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("powerfs/audit");
    let pfs = match PowerFs::mount(&root, &["audit"]) {
        Ok(p) => p,
        Err(e @ PowerFsError::Unavailable { .. })
            if std::env::var("CI").as_deref() != Ok("true") =>
        {
            eprintln!("skipped: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let dir = pfs.mountpoint().join("audit");
    let now = chrono::Utc::now();
    let mut log = AuditLog::open(&dir).unwrap();
    log.append_durable(&[event("before")], now).unwrap();
    // Room for a few bytes only: the next line is written in part, then ENOSPC.
    pfs.set_space(Some(40));
    let e = log.append_durable(&[event("torn")], now).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
    pfs.set_space(None);
    log.append_durable(&[event("after")], now).unwrap();
    let (events, unreadable) = audit::query(&dir, &Query::default()).unwrap();
    let got: Vec<&str> = events.iter().map(|e| e.resource.as_str()).collect();
    assert_eq!((got, unreadable), (vec!["before", "after"], 0));
}
