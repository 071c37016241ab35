//! VAL08 suite: one test per check on the shared lab, one negative lab per check, the
//! report snapshot, and the saturation ramp.
//!
//! Every test here is in the nextest `labs` group (one at a time). Under `cargo test`
//! the tests are threads of one process, so each also holds serial_test's `val08`
//! file lock (`#[file_serial(val08)]`): a lab's timings must not include another lab's
//! load, whichever runner runs them.

mod checks;
mod html;
mod negative;
mod profile;
mod ramp;
mod shards;
mod slow_accept;
mod variants;
