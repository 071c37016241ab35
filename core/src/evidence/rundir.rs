//! Whether a path is a run directory at all, before anything is verified.
//!
//! A run directory is one that holds a `manifest.json`; its suite and run id are the
//! manifest's, never guessed from the path (an operator names a soak directory as
//! they like). A directory without a manifest is unusable input (`evidence` exits 2),
//! not a run that failed: nothing binds it to a run, so there is nothing to judge.

use std::path::Path;

use crate::plans::MANIFEST_FILE;

/// Why `dir` is not a run directory, or `None` when it holds a `manifest.json`
/// (whose content `verify` then checks: an unreadable manifest is a finding).
pub fn problem(dir: &Path) -> Option<String> {
    let shown = dir.display();
    let md = match std::fs::metadata(dir) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some(format!("{shown} does not exist"))
        }
        Err(e) => return Some(format!("{shown}: {e}")),
    };
    if !md.is_dir() {
        return Some(format!("{shown} is not a directory"));
    }
    if std::fs::symlink_metadata(dir.join(MANIFEST_FILE)).is_ok() {
        return None;
    }
    let runs = runs_inside(dir);
    if runs.is_empty() {
        return Some(format!("{shown} has no {MANIFEST_FILE}"));
    }
    let hint = if runs.iter().any(|r| r == "latest") {
        format!("{}/latest", shown.to_string().trim_end_matches('/'))
    } else {
        format!(
            "one of {}/<run id>",
            shown.to_string().trim_end_matches('/')
        )
    };
    Some(format!(
        "{shown} has no {MANIFEST_FILE}; it is a suite folder (its runs are directories in it): give a run, e.g. {hint}"
    ))
}

/// The names of the entries of `dir` that are run directories (hold a manifest).
fn runs_inside(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join(MANIFEST_FILE).is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_path_a_file_a_plain_folder_and_a_suite_folder_are_named() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert!(problem(&r.join("nope"))
            .unwrap()
            .ends_with("does not exist"));
        std::fs::write(r.join("f"), "x").unwrap();
        assert!(problem(&r.join("f"))
            .unwrap()
            .ends_with("is not a directory"));
        assert!(problem(r).unwrap().ends_with("has no manifest.json"));
        std::fs::create_dir_all(r.join("s/run1")).unwrap();
        std::fs::write(r.join("s/run1/manifest.json"), "{}").unwrap();
        let why = problem(&r.join("s")).unwrap();
        assert!(why.contains("it is a suite folder"), "{why}");
        assert!(why.contains("s/<run id>"), "{why}");
        assert_eq!(problem(&r.join("s/run1")), None);
    }
}
