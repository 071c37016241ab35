//! The persistent control-plane of a soak.
//!
//! The soak's control-plane must outlive `soak setup` and survive `soak run` restarts,
//! so it is a [`ControlPlane`] started with [`Lifetime::Detached`] (its own process
//! group, not killed when the handle drops), known afterwards only by `cp.pid` and
//! adopted by pid ([`CpProcess::adopt`]) by every later command. Spawn, environment
//! whitelist, readiness, parent-death, signals and reaping are the lab's own code.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use val_support::cp::{
    self, process, ControlPlane, CpConfig, CpError, CpProcess, Lifetime, Target,
};
use val_support::evidence::BinaryInfo;

use crate::config::{SoakConfig, OPERATOR};
use crate::dir_layout::Layout;

/// SIGTERM → SIGKILL grace of [`stop`] (the contract promises exit within 5 s).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A started (or adopted) control-plane.
#[derive(Clone, Debug)]
pub struct Started {
    /// Its pid.
    pub pid: u32,
    /// Bound API address.
    pub listen: SocketAddr,
    /// Bound metrics address.
    pub metrics: SocketAddr,
    /// Spawn → `/v1/health` 200, ms; `None` when it never became healthy.
    pub healthy_after_ms: Option<u64>,
    /// Last health status code seen (`000` when none answered).
    pub health_code: String,
}

/// The binary the soak runs and its mode (`binary` for `AUTONOMY_BIN`, else
/// `reference`, the workspace's reference build).
pub fn binary() -> Result<(&'static str, BinaryInfo)> {
    let (mode, path) = match Target::from_env() {
        Target::Binary { path, .. } => ("binary", path),
        Target::Reference => (
            "reference",
            cp::reference_binary().context("build the reference control-plane")?,
        ),
        Target::Remote { url, .. } => bail!(
            "AUTONOMY_CP_URL={url}: the soak needs a control-plane it can restart; use AUTONOMY_BIN"
        ),
    };
    Ok((
        mode,
        BinaryInfo::of(&path).context("inspect the control-plane binary")?,
    ))
}

/// Starts the control-plane detached (own process group, output appended to
/// `cp.log`, see [`Lifetime::Detached`]), waits for the ready file and `/v1/health` =
/// 200 until `deadline`, and writes `cp.pid`. When it is not healthy in time it is
/// killed again and the observation is returned with `healthy_after_ms: None`.
///
/// Faults, variants and the parent-death setting come from `soak`. With
/// `soak.cp_dies_with_parent` (tests only, see `SoakConfig::cp_dies_with_parent`) the
/// kernel kills it when the *thread* that spawned it exits: call this from a thread
/// that lives as long as the control-plane should (the test's own thread).
pub fn start(
    layout: &Layout,
    bin: &Path,
    listen: SocketAddr,
    metrics: SocketAddr,
    soak: &SoakConfig,
    deadline: Duration,
) -> Result<Started> {
    let mut cfg = CpConfig::new("val12", &layout.root, &layout.path("cp.log"));
    cfg.data_dir = layout.path("cp-data");
    cfg.audit_dir = layout.path("audit-store");
    cfg.ready_file = layout.path("cp-ready.json");
    cfg.target = Target::Binary {
        path: bin.to_path_buf(),
        args_template: None,
    };
    cfg.ports = Some((listen.port(), metrics.port()));
    cfg.ready_timeout = deadline;
    cfg.lifetime = Lifetime::Detached {
        dies_with_parent: soak.cp_dies_with_parent,
    };
    let cfg = cfg
        .faults(&soak.faults)
        .variants(&soak.variants)
        .operator(OPERATOR);
    let t0 = Instant::now();
    match ControlPlane::start(cfg) {
        Ok(cp) => {
            let healthy_after_ms = Some(t0.elapsed().as_millis() as u64);
            let (l, m) = (
                cp.listen_addr().unwrap_or(listen),
                cp.metrics_addr().unwrap_or(metrics),
            );
            let pid = cp.release().context("a detached control-plane has a pid")?;
            write_pid(layout, pid)?;
            Ok(Started {
                pid,
                listen: l,
                metrics: m,
                healthy_after_ms,
                health_code: "200".into(),
            })
        }
        Err(CpError::StartTimeout {
            last_status, pid, ..
        }) => Ok(Started {
            pid: pid.unwrap_or_default(),
            listen,
            metrics,
            healthy_after_ms: None,
            health_code: last_status.map_or_else(|| "000".into(), |c| c.to_string()),
        }),
        Err(e) => Err(e).context("start the soak's control-plane"),
    }
}

/// Writes `cp.pid` atomically.
fn write_pid(layout: &Layout, pid: u32) -> Result<()> {
    val_support::fsx::write_atomic(&layout.path("cp.pid"), format!("{pid}\n").as_bytes())
        .context("write cp.pid")
}

/// The pid in `cp.pid`, if any.
pub fn read_pid(layout: &Layout) -> Option<u32> {
    std::fs::read_to_string(layout.path("cp.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Whether `pid` is a live (not zombie) process; reaps it when it is our exited child.
pub fn alive(pid: u32) -> bool {
    process::pid_alive(pid)
}

/// Whether `pid` is alive and is this soak's control-plane (its command line names
/// this soak's data dir), so a recycled pid is never mistaken for it.
pub fn is_soak_cp(layout: &Layout, pid: u32) -> bool {
    if !alive(pid) {
        return false;
    }
    let data = layout.path("cp-data");
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    if args
        .iter()
        .any(|a| *a == data.as_os_str().as_encoded_bytes())
    {
        return true;
    }
    // The path was written as `soak setup` (or the restarting round) was given it,
    // relative or absolute, while this call may name the directory the other way: compare
    // resolved paths, a relative argument resolved against the process's own cwd.
    let Ok(want) = std::fs::canonicalize(&data) else {
        return false;
    };
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
    args.iter().any(|a| {
        let p =
            std::path::Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(a));
        let p = match (&cwd, p.is_relative()) {
            (Some(c), true) => c.join(p),
            _ => p.to_path_buf(),
        };
        std::fs::canonicalize(p).is_ok_and(|p| p == want)
    })
}

/// SIGTERM, wait up to 10 s, then SIGKILL and wait; an already-dead pid is fine.
/// True when it exited on SIGTERM.
pub fn stop(pid: u32) -> Result<bool> {
    let outcome = CpProcess::adopt(pid)
        .stop(STOP_GRACE)
        .with_context(|| format!("stop control-plane pid {pid}"))?;
    Ok(outcome.graceful)
}

/// SIGKILL (the tests' crash injection) and wait until it is gone.
pub fn kill_hard(pid: u32) -> Result<()> {
    CpProcess::adopt(pid)
        .kill()
        .with_context(|| format!("kill control-plane pid {pid}"))?;
    Ok(())
}

/// Resident set size in KiB (`VmRSS`), `None` when unreadable.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Number of open file descriptors, `None` when unreadable.
pub fn open_fds(pid: u32) -> Option<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count() as u64)
}

/// Total bytes of the regular files under `dir` (recursive), `None` when unreadable.
pub fn dir_bytes(dir: &Path) -> Option<u64> {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()? {
            let e = e.ok()?;
            let md = e.metadata().ok()?;
            if md.is_dir() {
                stack.push(e.path());
            } else {
                total += md.len();
            }
        }
    }
    Some(total)
}
