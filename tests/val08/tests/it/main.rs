//! VAL08 suite: one test per check on the shared lab, one negative lab per check, the
//! report snapshot, and the saturation ramp.
//!
//! Every test here is in the nextest `labs` group (one at a time). Under `cargo test`
//! the tests are threads of one process, so [`serial`] keeps their labs from
//! overlapping there too: a lab's timings must not include another lab's load.

mod checks;
mod html;
mod negative;
mod ramp;

use std::sync::{Mutex, MutexGuard};

/// Held by every test for its whole duration (see the crate docs).
static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises the tests of this binary under `cargo test` (a panic elsewhere does not
/// poison it for the others).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
