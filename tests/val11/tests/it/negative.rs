//! One negative test per check: the matching fault injected into the reference
//! control-plane (docs/contract.md §10) turns that check FAIL, with what was observed.
//! Each lab runs only the sections its check needs; the others are NOT_RUN, so the set
//! of red (FAIL) checks is exact and any collateral is spelled out here.

use val11::LabConfig;
use val_support::check::observed_count as count;
use val_support::lab::Lab;

/// Runs an isolated lab with `faults` and `cfg`.
fn negative(faults: &[&str], cfg: LabConfig) -> Lab {
    val11::isolated(faults, &cfg)
        .unwrap_or_else(|e| panic!("negative lab with {faults:?} failed to run: {e}"))
}

/// The plan chain alone.
fn plan_only() -> LabConfig {
    LabConfig::plan_only()
}

#[test]
fn val11_01_negative_health_fail() {
    let lab = negative(
        &["health-fail"],
        LabConfig {
            accept_unhealthy: true,
            ..plan_only()
        },
    );
    let obs = lab.observed("VAL11-01");
    assert_eq!(obs["code"], 503);
    lab.assert_red(&["VAL11-01"]);
    // A run with faults is never the plan's: it carries no plan verdict at all.
    assert_eq!(lab.report().verdict.minimum_acceptable, None);
}

#[test]
fn val11_02_negative_cli_exit_zero_on_connection_error() {
    let lab = negative(&["cli-exit-zero-on-connection-error"], plan_only());
    let obs = lab.observed("VAL11-02");
    assert_eq!(obs["exit_code"], 0);
    lab.assert_red(&["VAL11-02"]);
}

/// Acknowledged-but-uncommitted creates are lost at the SIGTERM. Collateral, all from
/// the same lost rows: 05 (gate plan gone), 06 (the stuck scan reads committed rows
/// only), 08/09 (rollback of an uncommitted plan is 404), 10 (hence no success event).
#[test]
fn val11_03_negative_ack_before_commit() {
    let lab = negative(&["ack-before-commit"], plan_only());
    let obs = lab.observed("VAL11-03");
    assert_eq!(obs["list_count"], 0);
    lab.assert_red(&[
        "VAL11-03", "VAL11-05", "VAL11-06", "VAL11-08", "VAL11-09", "VAL11-10",
    ]);
}

/// The newest plan disappears at every restart: dev-3 after the first (03 too, as the
/// plan's count drops to 9), one more per rapid restart (04).
#[test]
fn val11_04_negative_lose_writes_on_restart() {
    let lab = negative(&["lose-writes-on-restart"], plan_only());
    let obs = lab.observed("VAL11-04");
    assert!(
        count(obs, "list_count_final") < count(obs, "list_count_before"),
        "{obs}"
    );
    lab.assert_red(&["VAL11-03", "VAL11-04"]);
}

#[test]
fn val11_05_negative_phase_reset_on_restart() {
    let lab = negative(&["phase-reset-on-restart"], plan_only());
    let obs = lab.observed("VAL11-05");
    assert_eq!(obs["phase"], "active");
    lab.assert_red(&["VAL11-05"]);
}

#[test]
fn val11_06_negative_stuck_no_diagnosis() {
    let lab = negative(&["stuck-no-diagnosis"], plan_only());
    let obs = lab.observed("VAL11-06");
    assert_eq!(obs["diagnosis_ok"], false);
    lab.assert_red(&["VAL11-06"]);
}

/// The corrupt plan is refused (07), so its rollback finds nothing (08) and only 9 of
/// the plan's 10 pre-kill plans exist (03's count).
#[test]
fn val11_07_negative_reject_corrupt_artifact() {
    let lab = negative(&["reject-corrupt-artifact"], plan_only());
    let obs = lab.observed("VAL11-07");
    assert_eq!(obs["create_code"], 400);
    lab.assert_red(&["VAL11-03", "VAL11-07", "VAL11-08"]);
}

#[test]
fn val11_08_negative_rollback_fails() {
    let lab = negative(&["rollback-fails"], plan_only());
    let obs = lab.observed("VAL11-08");
    assert_eq!(obs["exit_code"], 6);
    lab.assert_red(&["VAL11-08"]);
}

#[test]
fn val11_09_negative_retry_fails() {
    let lab = negative(&["retry-fails"], plan_only());
    let obs = lab.observed("VAL11-09");
    assert_eq!(obs["cascade_fail"], 3);
    lab.assert_red(&["VAL11-09"]);
}

#[test]
fn val11_10_negative_audit_drop() {
    let lab = negative(&["audit-drop"], plan_only());
    let obs = lab.observed("VAL11-10");
    assert_eq!(obs["success_in_scope"], 0);
    lab.assert_red(&["VAL11-10"]);
}

#[test]
fn val11_11_negative_ack_before_commit() {
    let lab = negative(
        &["ack-before-commit"],
        LabConfig {
            kill_rounds: 1,
            ..LabConfig::none()
        },
    );
    let obs = lab.observed("VAL11-11");
    assert!(count(obs, "lost") > 0, "{obs}");
    lab.assert_red(&["VAL11-11"]);
}

#[test]
fn val11_12_negative_writes_fail_after_sigcont() {
    let lab = negative(
        &["writes-fail-after-sigcont"],
        LabConfig {
            pause: true,
            ..LabConfig::none()
        },
    );
    let obs = lab.observed("VAL11-12");
    assert!(count(obs, "after_ok") < count(obs, "after_calls"), "{obs}");
    lab.assert_red(&["VAL11-12"]);
}

#[test]
fn val11_13_negative_audit_drop() {
    let lab = negative(
        &["audit-drop"],
        LabConfig {
            cli_restart: true,
            ..LabConfig::none()
        },
    );
    let obs = lab.observed("VAL11-13");
    assert_eq!(obs["rollback_executed_events"], 0);
    lab.assert_red(&["VAL11-13"]);
}
