//! One negative test per check: the matching fault injected into the reference
//! control-plane (docs/contract.md §10) turns that check FAIL, with what was observed.
//! Each lab runs only the sections its check needs; the others are NOT_RUN, so the set
//! of red (FAIL) checks is exact and any collateral is spelled out here.

use val11::LabConfig;
use val_support::check::observed_count as count;
use val_support::lab::Lab;

/// Runs an isolated lab with `faults` and `cfg`.
#[track_caller]
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

/// The right exit code, but `disconnected` is the only word near `connect`.
#[test]
fn val11_02_negative_cli_disconnected_wording() {
    let lab = negative(&["cli-disconnected-wording"], plan_only());
    let obs = lab.observed("VAL11-02");
    assert_eq!(obs["exit_code"], 3, "{obs}");
    assert_eq!(obs["has_connection_error"], false, "{obs}");
    lab.assert_red(&["VAL11-02"]);
}

/// Acknowledged-but-uncommitted creates are lost at the SIGTERM. Collateral, all from
/// the same lost rows: 04 (the inventory is still gone after the rapid restarts), 05
/// (gate plan gone), 06 (the stuck scan reads committed rows only), 08/09 (rollback of
/// an uncommitted plan is 404), 10 (hence no success event, and no audit fixture).
#[test]
fn val11_03_negative_ack_before_commit() {
    let lab = negative(&["ack-before-commit"], plan_only());
    let obs = lab.observed("VAL11-03");
    assert_eq!(obs["list_count"], 0);
    lab.assert_red(&[
        "VAL11-03", "VAL11-04", "VAL11-05", "VAL11-06", "VAL11-08", "VAL11-09", "VAL11-10",
    ]);
}

/// The newest plan disappears at every restart: the fresh plan of the stuck scan after
/// the first (03: an acknowledged pre-kill plan is lost), then dev-3, dev-2 and dev-1
/// over the rapid restarts (04).
#[test]
fn val11_04_negative_lose_writes_on_restart() {
    let lab = negative(&["lose-writes-on-restart"], plan_only());
    let obs = lab.observed("VAL11-04");
    assert!(
        count(obs, "list_count_final") < count(obs, "list_count_before"),
        "{obs}"
    );
    assert_eq!(
        lab.observed("VAL11-03")["missing_acked"],
        serde_json::json!(["val11-stuck-fresh-1"])
    );
    lab.assert_red(&["VAL11-03", "VAL11-04"]);
}

/// Every phase becomes `active` at each start: the gate plan (05) and every inventory
/// row whose expected phase is not `active` after the first restart (03) and after the
/// rapid restarts (04).
#[test]
fn val11_05_negative_phase_reset_on_restart() {
    let lab = negative(&["phase-reset-on-restart"], plan_only());
    let obs = lab.observed("VAL11-05");
    assert_eq!(obs["phase"], "active");
    for id in ["VAL11-03", "VAL11-04"] {
        let wrong: Vec<&str> = lab.observed(id)["inventory_phase_mismatch"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        // dur-1..5, gate-1 (published) and corrupt-1 (rolled_back); dev-* are active anyway.
        assert_eq!(wrong.len(), 7, "{id}: {wrong:?}");
        assert!(wrong.contains(&"val11-corrupt-1"), "{id}: {wrong:?}");
    }
    lab.assert_red(&["VAL11-03", "VAL11-04", "VAL11-05"]);
}

#[test]
fn val11_06_negative_stuck_no_diagnosis() {
    let lab = negative(&["stuck-no-diagnosis"], plan_only());
    let obs = lab.observed("VAL11-06");
    assert_eq!(obs["diagnosis_ok"], false);
    lab.assert_red(&["VAL11-06"]);
}

/// A scan that ignores its threshold lists the plan created just before it.
#[test]
fn val11_06_negative_stuck_ignore_threshold() {
    let lab = negative(&["stuck-ignore-threshold"], plan_only());
    let obs = lab.observed("VAL11-06");
    assert_eq!(obs["fresh_listed"], true, "{obs}");
    assert!(
        obs["listed_fresher_than_threshold"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["id"] == "val11-stuck-fresh-1")),
        "{obs}"
    );
    lab.assert_red(&["VAL11-06"]);
}

/// The corrupt plan is refused (07), so its rollback finds nothing (08) and the
/// inventory misses `val11-corrupt-1` after every restart (03, 04).
#[test]
fn val11_07_negative_reject_corrupt_artifact() {
    let lab = negative(&["reject-corrupt-artifact"], plan_only());
    let obs = lab.observed("VAL11-07");
    assert_eq!(obs["create_code"], 400);
    lab.assert_red(&["VAL11-03", "VAL11-04", "VAL11-07", "VAL11-08"]);
}

/// The inventory row of `id` that `check` found in the wrong phase.
fn phase_mismatch(lab: &Lab, check: &str, id: &str) -> serde_json::Value {
    lab.observed(check)["inventory_phase_mismatch"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["id"] == id).cloned())
        .unwrap_or_else(|| panic!("{check}: no phase mismatch for {id}"))
}

/// The failed rollback leaves `val11-corrupt-1` published, while the inventory table
/// expects it rolled_back after every restart (03, 04).
#[test]
fn val11_08_negative_rollback_fails() {
    let lab = negative(&["rollback-fails"], plan_only());
    let obs = lab.observed("VAL11-08");
    assert_eq!(obs["exit_code"], 6);
    for check in ["VAL11-03", "VAL11-04"] {
        let m = phase_mismatch(&lab, check, "val11-corrupt-1");
        assert_eq!(m["observed"], "published", "{check}: {m}");
    }
    lab.assert_red(&["VAL11-03", "VAL11-04", "VAL11-08"]);
}

/// The failed retries leave the dev plans published, while the inventory table expects
/// them active after every restart (03, 04).
#[test]
fn val11_09_negative_retry_fails() {
    let lab = negative(&["retry-fails"], plan_only());
    let obs = lab.observed("VAL11-09");
    assert_eq!(obs["cascade_fail"], 3);
    for check in ["VAL11-03", "VAL11-04"] {
        let m = phase_mismatch(&lab, check, "val11-dev-2");
        assert_eq!(m["observed"], "published", "{check}: {m}");
    }
    lab.assert_red(&["VAL11-03", "VAL11-04", "VAL11-09"]);
}

#[test]
fn val11_10_negative_audit_drop() {
    let lab = negative(&["audit-drop"], plan_only());
    let obs = lab.observed("VAL11-10");
    assert_eq!(obs["success_in_scope"], 0);
    lab.assert_red(&["VAL11-10"]);
}

/// The query returns the other actor's rollback, which the store does hold.
#[test]
fn val11_10_negative_audit_ignore_actor() {
    let lab = negative(&["audit-ignore-actor"], plan_only());
    let obs = lab.observed("VAL11-10");
    assert_eq!(obs["other_actor_in_store"], 1, "{obs}");
    assert_eq!(obs["returned_other_actor"], 1, "{obs}");
    assert_eq!(obs["returned_before_start"], 0, "{obs}");
    lab.assert_red(&["VAL11-10"]);
}

/// The query returns the operator's rollback from before the session start.
#[test]
fn val11_10_negative_audit_ignore_window() {
    let lab = negative(&["audit-ignore-window"], plan_only());
    let obs = lab.observed("VAL11-10");
    assert_eq!(obs["before_start_in_store"], 1, "{obs}");
    assert_eq!(obs["returned_before_start"], 1, "{obs}");
    assert_eq!(obs["returned_other_actor"], 0, "{obs}");
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
