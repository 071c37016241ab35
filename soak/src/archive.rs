//! `soak archive`: the permanent evidence artifact, `soak-val12-<date>.tar.gz` and its
//! `.sha256` (in `sha256sum` format), written in-process.
//!
//! [`archive_soak`] archives only a finished, stopped and verified soak directory, then
//! records the archive's name and sha256 in the final report (written after archiving,
//! so the archive holds the report without it) and seals the directory again.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::opened_soak::Soak;

/// `soak archive`: refuses a soak whose control-plane still runs (its store and log
/// would change under the archive) or that has no final report; verifies the sealed
/// directory (sealing it first if it never was) and refuses on any mismatch; archives;
/// writes the archive's sha256 into `final-report.{json,txt}`; seals again.
pub fn archive_soak(dir: &Path, out_dir: &Path) -> Result<(PathBuf, String)> {
    let soak = Soak::open(dir)?;
    if let Some(pid) = crate::persistent_cp::read_pid(&soak.layout) {
        anyhow::ensure!(
            !crate::persistent_cp::is_soak_cp(&soak.layout, pid),
            "the control-plane (pid {pid}) is still running: `soak teardown` first"
        );
    }
    anyhow::ensure!(
        soak.layout.path("final-report.json").is_file(),
        "no final report: `soak report --type final` first"
    );
    if !soak
        .layout
        .path(val_support::evidence::MANIFEST_FILE)
        .is_file()
    {
        crate::seal::seal(&soak)?;
    }
    let problems = crate::seal::verify(dir);
    anyhow::ensure!(
        problems.is_empty(),
        "the soak directory does not verify:\n{}",
        problems.join("\n")
    );
    let (path, hex) = archive(dir, out_dir)?;
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    crate::report::record_archive(&soak, &name, &hex)?;
    crate::seal::seal(&soak)?;
    Ok((path, hex))
}

/// Archives `dir` into `out_dir` and returns the archive's path and hex sha256.
pub fn archive(dir: &Path, out_dir: &Path) -> Result<(PathBuf, String)> {
    let dir = std::fs::canonicalize(dir).with_context(|| format!("open {}", dir.display()))?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("create {}", out_dir.display()))?;
    let out_dir = std::fs::canonicalize(out_dir)?;
    anyhow::ensure!(
        !out_dir.starts_with(&dir),
        "the archive must be written outside the soak directory"
    );
    let name = format!(
        "soak-val12-{}.tar.gz",
        chrono::Utc::now().format("%Y-%m-%d")
    );
    let path = out_dir.join(&name);
    let tmp = out_dir.join(format!(".{name}.tmp"));
    {
        let f = std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let base = dir
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| "soak".into());
        tar.append_dir_all(&base, &dir)
            .context("add the soak directory")?;
        let gz = tar.into_inner().context("finish tar")?;
        let f = gz.finish().context("finish gzip")?;
        f.sync_all().context("sync archive")?;
    }
    std::fs::rename(&tmp, &path).context("rename archive")?;
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(&path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let hex = hex::encode(h.finalize());
    let mut s = std::fs::File::create(out_dir.join(format!("{name}.sha256")))?;
    writeln!(s, "{hex}  {name}").context("write .sha256")?;
    Ok((path, hex))
}
