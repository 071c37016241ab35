//! Keeping the evidence root bounded: `evidence gc --keep N` removes the oldest run
//! directories of each suite, never the one `latest` points to.

use std::path::{Path, PathBuf};

use crate::fileio::{io_err, FsError};

/// What one suite's garbage collection did.
#[derive(Debug, Default)]
pub struct Collected {
    /// Run directories removed.
    pub removed: Vec<PathBuf>,
    /// Run directories kept.
    pub kept: Vec<PathBuf>,
}

/// Whether `name` is a run directory's name (`<UTC timestamp>-<id>`).
fn is_run_name(name: &str) -> bool {
    name.len() > 17 && name.as_bytes()[8] == b'T' && name.contains("Z-")
}

/// Removes all but the newest `keep` run directories of the suite directory
/// `suite_dir` (run names start with their UTC start time, so name order is age
/// order); the run `latest` points to is always kept, on top of the `keep` newest.
pub fn gc_suite(suite_dir: &Path, keep: usize) -> Result<Collected, FsError> {
    let latest = latest_target(suite_dir)?;
    let mut runs: Vec<PathBuf> = std::fs::read_dir(suite_dir)
        .map_err(io_err("list", suite_dir))?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| is_run_name(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    runs.sort();
    let mut out = Collected::default();
    let cut = runs.len().saturating_sub(keep);
    for (i, run) in runs.into_iter().enumerate() {
        // Compared as resolved paths: `latest` may be absolute, relative, or reach
        // the run through another link or `..`; any spelling names the same run.
        let is_latest = latest.is_some() && std::fs::canonicalize(&run).ok() == latest;
        if i >= cut || is_latest {
            out.kept.push(run);
        } else {
            std::fs::remove_dir_all(&run).map_err(io_err("remove", &run))?;
            // The run's in-toto statement and signature live beside it.
            for ext in ["statement.json", "statement.json.sig"] {
                let side = run.with_extension(ext);
                if side.is_file() {
                    std::fs::remove_file(&side).map_err(io_err("remove", &side))?;
                }
            }
            out.removed.push(run);
        }
    }
    Ok(out)
}

/// Where the suite's `latest` resolves to (every link followed), `None` when there
/// is no `latest`. A `latest` that exists but cannot be resolved is an error: gc
/// would not know which run it must keep, so it removes nothing.
fn latest_target(suite_dir: &Path) -> Result<Option<PathBuf>, FsError> {
    let link = suite_dir.join("latest");
    if std::fs::symlink_metadata(&link).is_err() {
        return Ok(None);
    }
    match std::fs::canonicalize(&link) {
        Ok(p) => Ok(Some(p)),
        // A dangling link protects nothing that exists.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("resolve", &link)(e)),
    }
}

/// [`gc_suite`] for every suite directory under the evidence `root` (or only `suite`).
pub fn gc(root: &Path, keep: usize, suite: Option<&str>) -> Result<Vec<Collected>, FsError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root)
        .map_err(io_err("list", root))?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type().is_ok_and(|t| t.is_dir()) || suite.is_some_and(|s| s != name) {
            continue;
        }
        out.push(gc_suite(&e.path(), keep)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_latest_even_when_old() {
        let root = tempfile::tempdir().unwrap();
        let suite = root.path().join("val08");
        let names = [
            "20260101T000000Z-aaaaaa",
            "20260102T000000Z-bbbbbb",
            "20260103T000000Z-cccccc",
            "20260104T000000Z-dddddd",
        ];
        for n in names {
            std::fs::create_dir_all(suite.join(n)).unwrap();
        }
        std::fs::create_dir_all(suite.join("not-a-run")).unwrap();
        std::os::unix::fs::symlink(names[0], suite.join("latest")).unwrap();
        let c = gc(root.path(), 2, None).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].removed, vec![suite.join(names[1])]);
        for kept in [names[0], names[2], names[3]] {
            assert!(suite.join(kept).is_dir(), "{kept} kept");
        }
        assert!(
            suite.join("not-a-run").is_dir(),
            "only run directories are touched"
        );
        assert!(!suite.join(names[1]).exists());
    }

    #[test]
    fn keeps_the_target_of_an_absolute_or_roundabout_latest() {
        let root = tempfile::tempdir().unwrap();
        let suite = root.path().join("val08");
        let names = ["20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb"];
        for n in names {
            std::fs::create_dir_all(suite.join(n)).unwrap();
        }
        // An absolute link, through a symlinked alias of the suite directory.
        std::os::unix::fs::symlink(&suite, root.path().join("alias")).unwrap();
        let abs = root.path().join("alias").join(names[0]);
        std::os::unix::fs::symlink(&abs, suite.join("latest")).unwrap();
        let c = gc_suite(&suite, 1).unwrap();
        assert!(suite.join(names[0]).is_dir(), "latest's target is kept");
        assert!(c.removed.is_empty(), "{:?}", c.removed);

        // A relative link that walks out and back in.
        std::fs::remove_file(suite.join("latest")).unwrap();
        std::os::unix::fs::symlink(format!("../val08/./{}", names[0]), suite.join("latest"))
            .unwrap();
        gc_suite(&suite, 1).unwrap();
        assert!(suite.join(names[0]).is_dir());
        assert!(suite.join(names[1]).is_dir(), "the newest is kept too");
    }
}
