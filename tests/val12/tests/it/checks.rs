//! One test per VAL12 check (and claim check beyond the plan), all judged from the
//! shared smoke soak-lite.

use super::shared;

#[test]
fn val12_01_framework_provisioned() {
    shared().assert_check("VAL12-01");
}
#[test]
fn val12_02_initial_round() {
    shared().assert_check("VAL12-02");
}
#[test]
fn val12_03_fleet_target() {
    shared().assert_check("VAL12-03");
}
#[test]
fn val12_04_latency_baseline() {
    shared().assert_check("VAL12-04");
}
#[test]
fn val12_05_stuck_detection() {
    shared().assert_check("VAL12-05");
}
#[test]
fn val12_06_rollback_rate_7d() {
    shared().assert_check("VAL12-06");
}
#[test]
fn val12_07_latency_7d() {
    shared().assert_check("VAL12-07");
}
#[test]
fn val12_08_availability() {
    shared().assert_check("VAL12-08");
}
#[test]
fn val12_09_total_creates() {
    shared().assert_check("VAL12-09");
}
#[test]
fn val12_10_agg_rollback_rate() {
    shared().assert_check("VAL12-10");
}

#[test]
fn val12_x1_created_plans_stay_listed() {
    shared().assert_check("VAL12-X1");
}
#[test]
fn val12_x2_p99_every_round() {
    shared().assert_check("VAL12-X2");
}
#[test]
fn val12_x3_requests_counter_increasing() {
    shared().assert_check("VAL12-X3");
}
#[test]
fn val12_x4_plan_count_increasing() {
    shared().assert_check("VAL12-X4");
}
