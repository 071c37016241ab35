//! VAL11 chaos suite: one test per check against the shared lab, one negative test per
//! check against an isolated lab with the matching fault, and the report's shape.

mod checks;
mod negative;
mod report_shape;

use val_support::lab::{self, Lab};

/// The shared lab of this test run (runs once, every check test reuses it).
pub fn shared_lab() -> Lab {
    lab::shared("val11", |ctx| {
        let cfg = val11::LabConfig::from_env()?;
        val11::run_lab(ctx, &cfg)
    })
}
