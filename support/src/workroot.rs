//! Per-test work roots (as cargo-test-support gives each test its own root under the
//! target directory): `<target>/fleetval-work/<package>/<module.test>/`, named after the
//! test, wiped when it is made so a rerun never sees an earlier run's state, removed
//! when the test passes and kept, with its path printed, when the test fails.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use val_core::{env, fsx};

/// A test's own directory; see the module documentation for its lifetime.
#[derive(Debug)]
pub struct WorkRoot {
    path: PathBuf,
    keep: AtomicBool,
}

/// The shared roots of this process ([`WorkRoot::shared_for_test`]): those alive, and
/// every path already wiped once (cargo test runs many tests in one process).
#[derive(Default)]
struct Shared {
    alive: HashMap<PathBuf, Weak<WorkRoot>>,
    wiped: HashSet<PathBuf>,
}

static SHARED: Mutex<Option<Shared>> = Mutex::new(None);

impl WorkRoot {
    /// The work root of the running test under `<target>/fleetval-work`, named by
    /// [`test_name`]. Panics when it cannot be made (a test cannot run without it).
    #[track_caller]
    pub fn for_test() -> WorkRoot {
        WorkRoot::named(&test_name())
    }

    /// The work root `name` (a test name, `::` written `.`) under
    /// `<target>/fleetval-work/<package>`, wiped and created.
    #[track_caller]
    pub fn named(name: &str) -> WorkRoot {
        let base = fsx::target_dir().join("fleetval-work").join(package());
        WorkRoot::create_in(&base, name)
            .unwrap_or_else(|e| panic!("work root {name} under {}: {e}", base.display()))
    }

    /// The work root `name` under `base`, wiped and created.
    pub fn create_in(base: &Path, name: &str) -> std::io::Result<WorkRoot> {
        WorkRoot::open(WorkRoot::path_in(base, name), true)
    }

    /// The running test's work root under `base`, shared by every caller of the same
    /// test while one of them holds it (a test that runs several negative labs keeps
    /// them side by side): wiped only the first time this process makes it, removed
    /// when the last holder drops it and the test has not failed.
    pub fn shared_for_test(base: &Path) -> std::io::Result<Arc<WorkRoot>> {
        let path = WorkRoot::path_in(base, &test_name());
        let mut guard = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        let shared = guard.get_or_insert_with(Shared::default);
        if let Some(root) = shared.alive.get(&path).and_then(Weak::upgrade) {
            return Ok(root);
        }
        let first = shared.wiped.insert(path.clone());
        let root = Arc::new(WorkRoot::open(path.clone(), first)?);
        shared.alive.insert(path, Arc::downgrade(&root));
        Ok(root)
    }

    /// `base/<name>`: one flat directory per test (`module.test`); nested ones would
    /// leave their emptied parents behind, and removing those races with sibling tests.
    fn path_in(base: &Path, name: &str) -> PathBuf {
        base.join(sanitize(&name.replace("::", ".")))
    }

    /// Creates `path`, wiping it first when asked.
    fn open(path: PathBuf, wipe: bool) -> std::io::Result<WorkRoot> {
        if wipe {
            match std::fs::remove_dir_all(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::create_dir_all(&path)?;
        Ok(WorkRoot {
            path,
            keep: AtomicBool::new(false),
        })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps it whatever the test's outcome (for evidence a failure message names
    /// although the test itself does not panic here).
    pub fn keep(&self) {
        self.keep.store(true, Ordering::SeqCst);
    }
}

impl Drop for WorkRoot {
    fn drop(&mut self) {
        if std::thread::panicking() || self.keep.load(Ordering::SeqCst) {
            // Printed, not logged: the path is what a reader of a red test needs first.
            eprintln!("work root kept: {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The running test's name: `NEXTEST_TEST_NAME` when nextest sets it, else the name
/// of the current thread (libtest runs each test on a thread named after it), else
/// `test-<pid>` (a test that runs on `main`, e.g. with one test thread).
pub fn test_name() -> String {
    if let Some(name) = env::nonempty("NEXTEST_TEST_NAME") {
        return name;
    }
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => format!("test-{}", std::process::id()),
    }
}

/// The package of the running test (`CARGO_PKG_NAME`, which cargo and nextest set
/// for the tests they run), so same-named tests of two packages do not share a root.
pub fn package() -> String {
    env::nonempty("CARGO_PKG_NAME").map_or_else(|| "tests".into(), |p| sanitize(&p))
}

/// A name made safe as one path component.
fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    match out.as_str() {
        "" | "." | ".." => "_".into(),
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wiped_at_start_removed_on_pass_named_after_the_test() {
        let base = tempfile::tempdir().unwrap();
        let stale = base.path().join("mod.a_test/stale.txt");
        std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
        std::fs::write(&stale, "earlier run").unwrap();
        let root = WorkRoot::create_in(base.path(), "mod::a_test").unwrap();
        assert_eq!(root.path(), base.path().join("mod.a_test"));
        assert!(!stale.exists(), "wiped at start");
        let path = root.path().to_path_buf();
        drop(root);
        assert!(!path.exists(), "removed on pass");
        let kept = WorkRoot::create_in(base.path(), "../x y").unwrap();
        assert_eq!(kept.path(), base.path().join("..-x-y"), "one component");
        kept.keep();
        let path = kept.path().to_path_buf();
        drop(kept);
        assert!(path.exists(), "kept when asked");
    }

    #[test]
    fn kept_and_printed_when_the_test_fails() {
        let base = tempfile::tempdir().unwrap();
        let root = WorkRoot::create_in(base.path(), "failing").unwrap();
        let path = root.path().to_path_buf();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _root = root;
            panic!("the test fails");
        }));
        assert!(r.is_err());
        assert!(path.exists(), "evidence of a failure stays");
    }

    #[test]
    fn shared_within_a_test_and_wiped_once() {
        let base = tempfile::tempdir().unwrap();
        let a = WorkRoot::shared_for_test(base.path()).unwrap();
        std::fs::write(a.path().join("first-lab"), "").unwrap();
        let b = WorkRoot::shared_for_test(base.path()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        drop(a);
        assert!(
            b.path().join("first-lab").exists(),
            "alive while one holds it"
        );
        let path = b.path().to_path_buf();
        drop(b);
        assert!(!path.exists(), "removed with the last holder");
        let c = WorkRoot::shared_for_test(base.path()).unwrap();
        assert_eq!(c.path(), path, "made again, not wiped twice");
    }

    #[test]
    fn the_name_is_the_running_tests() {
        let name = test_name();
        eprintln!("test name: {name}");
        assert!(name.ends_with("the_name_is_the_running_tests"), "{name}");
    }
}
