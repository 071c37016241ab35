//! Where the test processes of one run meet: the run key and its directory under
//! `target/`, shared by every process of one nextest (or cargo test) run.

use std::path::{Path, PathBuf};

use val_core::{env, fsx};

/// The key of the current test run: `nextest-<NEXTEST_RUN_ID>`, else
/// `pid-<pid>-<process start time>` (the start time keeps a reused pid from
/// picking up an old run's marker).
pub fn run_key() -> String {
    if let Some(id) = env::nonempty("NEXTEST_RUN_ID") {
        return format!("nextest-{id}");
    }
    let pid = std::process::id();
    let start = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Field 22 (starttime) counted after the ")" that closes the command name.
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(19).map(str::to_string))
        })
        .unwrap_or_else(|| "0".into());
    format!("pid-{pid}-{start}")
}

/// `target/fleetval-labs/<run key>/`, created.
pub fn run_key_dir() -> std::io::Result<PathBuf> {
    let base = fsx::target_dir().join("fleetval-labs");
    let dir = base.join(run_key());
    if !dir.exists() {
        prune_old_keys(&base);
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Removes the coordination directories of runs older than a day (one per `cargo test`
/// process otherwise accumulates); a day is far beyond any live run's lifetime.
fn prune_old_keys(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let day = std::time::Duration::from_secs(24 * 3600);
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > day);
        if old {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Root of the run directories of negative (isolated) labs:
/// `FLEETVAL_NEGATIVE_DIR`, else `target/fleetval-negative` (no `latest` link there):
/// self-test runs are build output, not evidence to keep. Each test's labs live in its
/// own work root below it, removed when the test passes (see `lab::isolated`).
pub fn negative_root() -> PathBuf {
    env::path("FLEETVAL_NEGATIVE_DIR")
        .unwrap_or_else(|| fsx::target_dir().join("fleetval-negative"))
}
