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
    let latest = std::fs::read_link(suite_dir.join("latest"))
        .ok()
        .map(|t| suite_dir.join(t));
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
        if i >= cut || Some(&run) == latest.as_ref() {
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
}
