//! Negative tests of the storage checks (VAL11-18..20): each injects its fault into the
//! reference control-plane on the power-loss filesystem and shows its check red. Where
//! FUSE cannot mount they say so and return, except under CI (`CI=true`).

use val11::LabConfig;
use val_support::check::Status;
use val_support::Lab;

/// An isolated lab with `faults`, or `None` when FUSE cannot mount here (outside CI).
fn lab(faults: &[&str], cfg: &LabConfig) -> Option<Lab> {
    let lab = val11::isolated(faults, cfg).unwrap_or_else(|e| panic!("lab failed to run: {e}"));
    let unavailable = cfg.storage.iter().any(|id| {
        lab.report().check(id).is_some_and(|c| {
            c.status == Status::NotRun
                && c.note
                    .as_deref()
                    .is_some_and(|n| n.contains(val11::FUSE_UNAVAILABLE))
        })
    });
    if unavailable && std::env::var("CI").as_deref() != Ok("true") {
        eprintln!(
            "skipped: FUSE cannot mount here\n{}",
            lab.report().to_text()
        );
        return None;
    }
    Some(lab)
}

/// The point of the power-loss filesystem: a store that never fsyncs survives every
/// SIGKILL (the page cache outlives the process) and loses acknowledged creates at the
/// first power cut.
#[test_log::test]
fn val11_18_negative_no_fsync_sigkill_green_power_cut_red() {
    let cfg = LabConfig {
        kill_rounds: 1,
        ..LabConfig::storage_only(&["VAL11-18"])
    };
    let Some(lab) = lab(&["no-fsync"], &cfg) else {
        return;
    };
    lab.assert_red(&["VAL11-18"]);
    assert_eq!(lab.status("VAL11-11"), Some(Status::Pass));
    let lost = lab.observed("VAL11-18")["ledger"]["lost"]
        .as_array()
        .unwrap()
        .len();
    assert!(lost >= 1, "{}", lab.report().to_text());
}

/// Acknowledging a create whose commit failed on a full disk.
#[test_log::test]
fn val11_19_negative_ack_on_write_error() {
    let Some(lab) = lab(
        &["ack-on-write-error"],
        &LabConfig::storage_only(&["VAL11-19"]),
    ) else {
        return;
    };
    lab.assert_red(&["VAL11-19"]);
    let o = lab.observed("VAL11-19");
    assert!(!o["ledger"]["lost"].as_array().unwrap().is_empty(), "{o}");
}

/// Acknowledging a create whose fsync failed.
#[test_log::test]
fn val11_20_negative_ack_on_write_error() {
    let Some(lab) = lab(
        &["ack-on-write-error"],
        &LabConfig::storage_only(&["VAL11-20"]),
    ) else {
        return;
    };
    lab.assert_red(&["VAL11-20"]);
    assert_eq!(lab.observed("VAL11-20")["failed_create_outcome"], "ok");
}
