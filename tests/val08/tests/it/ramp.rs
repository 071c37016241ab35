//! The saturation ramp beyond the plan: context, not gating. It records the breaking
//! point and the last good tier; it fails only when the harness itself breaks.

use serial_test::file_serial;
use val_support::fsx;

#[test]
#[file_serial(val08)]
fn val08_saturation_ramp() {
    let max = val08::ramp_max_from_env().expect("VAL08_RAMP_MAX");
    let out = val08::ramp(&fsx::evidence_root(), max, val08::DEFAULT_BATCH)
        .expect("the ramp harness ran");
    assert!(
        !out.tiers.is_empty(),
        "the ramp ran no tier (VAL08_RAMP_MAX={max} < 200?)"
    );
    eprintln!(
        "VAL08 ramp: last_good={:?} breaking_point={:?} (evidence {})",
        out.last_good,
        out.breaking_point,
        out.run_dir.display()
    );
}
