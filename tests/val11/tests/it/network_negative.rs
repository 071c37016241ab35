//! Negative tests of VAL11-14..17: a reference fault matching each network check turns
//! it FAIL. Each lab runs the network section alone, so the set of red checks is exact.

use val11::LabConfig;
use val_support::lab::Lab;

/// An isolated lab with `faults` running only the network section.
fn network_negative(faults: &[&str]) -> Lab {
    let cfg = LabConfig {
        network: true,
        accept_unhealthy: faults.contains(&"health-fail"),
        ..LabConfig::none()
    };
    val11::isolated(faults, &cfg)
        .unwrap_or_else(|e| panic!("negative lab with {faults:?} failed to run: {e}"))
}

/// Creates acknowledged before the partition were never committed, and the restart
/// during the partition loses them: the ledger names them lost.
#[test]
fn val11_14_negative_ack_before_commit() {
    let lab = network_negative(&["ack-before-commit"]);
    let obs = lab.observed("VAL11-14");
    assert_eq!(obs["restarted"], true, "{obs}");
    assert!(
        obs["lost"].as_array().is_some_and(|l| !l.is_empty()),
        "{obs}"
    );
    lab.assert_red(&["VAL11-14"]);
}

/// The CLI says nothing and exits 0 when the partition refuses its connection.
#[test]
fn val11_14_negative_cli_exit_zero_on_connection_error() {
    let lab = network_negative(&["cli-exit-zero-on-connection-error"]);
    let obs = lab.observed("VAL11-14");
    assert_eq!(obs["cli_exit_code"], 0, "{obs}");
    lab.assert_red(&["VAL11-14"]);
}

/// The retry of a create whose answer was lost is refused as a conflict.
#[test]
fn val11_15_negative_replay_conflict() {
    let lab = network_negative(&["replay-conflict"]);
    let obs = lab.observed("VAL11-15");
    assert_eq!(obs["plans_pass"], 0, "{obs}");
    assert_eq!(obs["per_plan"][0]["retry_status"], 409, "{obs}");
    lab.assert_red(&["VAL11-15"]);
}

/// The retry is written as a second creation: a new `created_at`, two events.
#[test]
fn val11_15_negative_replay_rewrites() {
    let lab = network_negative(&["replay-rewrites"]);
    let obs = lab.observed("VAL11-15");
    let first = &obs["per_plan"][0];
    assert_eq!(first["retry_status"], 201, "{obs}");
    assert_ne!(
        first["retry_created_at"], first["original_created_at"],
        "{obs}"
    );
    assert_eq!(first["rollout_created_events"], 2, "{obs}");
    lab.assert_red(&["VAL11-15"]);
}

/// Creates of the slow-network scenario answer 500: it is not error-free.
#[test]
fn val11_16_negative_create_5xx_under_latency() {
    let lab = network_negative(&["create-5xx-prefix=val11-net-slow-w7-"]);
    let obs = lab.observed("VAL11-16");
    assert!(obs["ok"].as_u64() < obs["planned"].as_u64(), "{obs}");
    lab.assert_red(&["VAL11-16"]);
}

/// The control-plane is unhealthy after the blackhole.
#[test]
fn val11_17_negative_health_fail() {
    let lab = network_negative(&["health-fail"]);
    let obs = lab.observed("VAL11-17");
    assert_eq!(obs["health_direct_status"], 503, "{obs}");
    lab.assert_red(&["VAL11-17"]);
}
