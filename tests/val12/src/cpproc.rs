//! The persistent control-plane of a soak.
//!
//! Unlike `val_support::cp::ControlPlane` (a child that dies with its test), the soak's
//! control-plane must outlive `soak setup` and survive `soak run` restarts, so it is
//! started in its own process group, known only by `cp.pid`, and adopted by pid by
//! every later command. Binary selection, environment whitelist, readiness probe and
//! log tail come from `val_support::cp`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use val_support::cp::{self, Selection};
use val_support::env::base_env;
use val_support::evidence::BinaryInfo;

use crate::config::OPERATOR;
use crate::layout::Layout;

/// Poll interval of readiness and exit waits.
const POLL: Duration = Duration::from_millis(20);

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

/// The binary the soak runs: `AUTONOMY_BIN`, else the workspace's reference build.
pub fn binary() -> Result<BinaryInfo> {
    let path = match Selection::from_env() {
        Selection::Binary { path, .. } => path,
        Selection::Reference => {
            cp::reference_binary().context("build the reference control-plane")?
        }
        Selection::Remote { url, .. } => bail!(
            "AUTONOMY_CP_URL={url}: the soak needs a control-plane it can restart; use AUTONOMY_BIN"
        ),
    };
    BinaryInfo::of(&path).context("inspect the control-plane binary")
}

/// Starts the control-plane detached (own process group, output appended to
/// `cp.log`), waits for the ready file and `/v1/health` = 200 until `deadline`, and
/// writes `cp.pid`. When it is not healthy in time it is stopped again and the
/// observation is returned with `healthy_after_ms: None`.
///
/// With `dies_with_parent` (tests only, see `SoakConfig::cp_dies_with_parent`) the
/// child gets `PR_SET_PDEATHSIG=SIGKILL`. The kernel fires it when the *thread* that
/// spawned it exits, not the process: call this from a thread that lives as long as
/// the control-plane should (the test's own thread), never from a short-lived one.
pub fn start(
    layout: &Layout,
    bin: &Path,
    listen: SocketAddr,
    metrics: SocketAddr,
    faults: &[String],
    deadline: Duration,
    dies_with_parent: bool,
) -> Result<Started> {
    let ready = layout.path("cp-ready.json");
    let _ = std::fs::remove_file(&ready);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(layout.path("cp.log"))
        .context("open cp.log")?;
    let mut env = base_env();
    env.insert(
        "AUTONOMY_AUDIT_DIR".into(),
        path_str(&layout.path("audit-store")),
    );
    env.insert("AUTONOMY_RBAC_ENFORCEMENT".into(), "0".into());
    env.insert("AUTONOMY_OPERATOR".into(), OPERATOR.into());
    if !faults.is_empty() {
        env.insert("AUTONOMY_FAULTS".into(), faults.join(","));
    }
    let t0 = Instant::now();
    let child = {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", &listen.to_string()])
            .args(["--metrics-listen", &metrics.to_string()])
            .args(["--data-dir", &path_str(&layout.path("cp-data"))])
            .args(["--audit-dir", &path_str(&layout.path("audit-store"))])
            .args(["--ready-file", &path_str(&ready)])
            .env_clear()
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("dup cp.log")?)
            .stderr(log)
            // Its own process group: a Ctrl-C aimed at `soak` must not stop the soak's CP.
            .process_group(0);
        if dies_with_parent {
            // A test killed by nextest's timeout runs no Drop guard; the kernel then
            // kills the control-plane instead of leaving it orphaned.
            let parent = std::process::id() as i32;
            // SAFETY: prctl and getppid are async-signal-safe and touch no parent memory.
            unsafe {
                cmd.pre_exec(move || {
                    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
                        .map_err(std::io::Error::from)?;
                    // Had the parent died before prctl, no signal would ever come. (No
                    // allocation between fork and exec: ESRCH is a bare errno.)
                    if nix::unistd::getppid().as_raw() != parent {
                        return Err(nix::errno::Errno::ESRCH.into());
                    }
                    Ok(())
                });
            }
        }
        cmd.spawn()
            .with_context(|| format!("spawn {}", bin.display()))?
    };
    let pid = child.id();
    // Dropping the Child neither kills nor reaps; `alive` reaps it if it dies while we run.
    drop(child);
    let until = t0 + deadline;
    let mut addrs: Option<(SocketAddr, SocketAddr)> = None;
    let mut health_code = "000".to_string();
    loop {
        if !alive(pid) {
            bail!(
                "control-plane pid {pid} exited during start; cp.log tail:\n{}",
                cp::log_tail(&layout.path("cp.log"))
            );
        }
        if addrs.is_none() {
            addrs = read_ready(&ready, pid)?;
        }
        if let Some((l, _)) = addrs {
            match cp::http_status(&format!("http://{l}"), "/v1/health", Duration::from_secs(1)) {
                Ok(200) => {
                    let (l, m) = addrs.expect("checked");
                    write_pid(layout, pid)?;
                    return Ok(Started {
                        pid,
                        listen: l,
                        metrics: m,
                        healthy_after_ms: Some(t0.elapsed().as_millis() as u64),
                        health_code: "200".into(),
                    });
                }
                Ok(code) => health_code = code.to_string(),
                Err(_) => health_code = "000".into(),
            }
        }
        if Instant::now() >= until {
            stop(pid)?;
            let (l, m) = addrs.unwrap_or((listen, metrics));
            return Ok(Started {
                pid,
                listen: l,
                metrics: m,
                healthy_after_ms: None,
                health_code,
            });
        }
        std::thread::sleep(POLL);
    }
}

/// Path as a string for arguments and env values.
fn path_str(p: &Path) -> String {
    p.display().to_string()
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

/// The server's ready file, once it names `pid`.
fn read_ready(path: &Path, pid: u32) -> Result<Option<(SocketAddr, SocketAddr)>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("ready file {}", path.display()))?;
    if v["pid"].as_u64() != Some(pid as u64) {
        return Ok(None);
    }
    let addr = |k: &str| -> Result<SocketAddr> {
        v[k].as_str()
            .with_context(|| format!("ready file has no {k}"))?
            .parse()
            .with_context(|| format!("ready file {k}"))
    };
    Ok(Some((addr("listen")?, addr("metrics")?)))
}

/// Whether `pid` is a live (not zombie) process. Reaps it first when it is our own
/// exited child, so a dead control-plane never lingers as a zombie of `soak run`; our
/// own child that is exiting but not yet reapable still counts as alive.
pub fn alive(pid: u32) -> bool {
    let p = Pid::from_raw(pid as i32);
    let _ = waitpid(p, Some(WaitPidFlag::WNOHANG));
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, Some("Z") | Some("X") | None) {
        // A multi-threaded child's leader shows Z before its last thread is gone, and
        // cannot be reaped yet: report it alive until waitpid reaps it, so a caller
        // polling for its end reaps it instead of leaving a zombie (which `pgrep -x
        // autonomy` lists) until this process exits. Not our child: plainly dead.
        return matches!(
            waitpid(p, Some(WaitPidFlag::WNOHANG)),
            Ok(WaitStatus::StillAlive)
        );
    }
    true
}

/// Whether `pid` is alive and is this soak's control-plane (its command line names
/// this soak's data dir), so a recycled pid is never mistaken for it.
pub fn is_soak_cp(layout: &Layout, pid: u32) -> bool {
    if !alive(pid) {
        return false;
    }
    let data = path_str(&layout.path("cp-data"));
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|b| *b == 0).any(|a| a == data.as_bytes()))
        .unwrap_or(false)
}

/// SIGTERM, wait up to 10 s, then SIGKILL and wait; an already-dead pid is fine.
pub fn stop(pid: u32) -> Result<bool> {
    let p = Pid::from_raw(pid as i32);
    if !alive(pid) {
        return Ok(false);
    }
    let _ = kill(p, Signal::SIGTERM);
    if wait_gone(pid, Duration::from_secs(10)) {
        return Ok(true);
    }
    let _ = kill(p, Signal::SIGKILL);
    if !wait_gone(pid, Duration::from_secs(5)) {
        bail!("control-plane pid {pid} survived SIGKILL");
    }
    Ok(false)
}

/// SIGKILL (the tests' crash injection) and wait until it is gone.
pub fn kill_hard(pid: u32) -> Result<()> {
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    if !wait_gone(pid, Duration::from_secs(5)) {
        bail!("control-plane pid {pid} survived SIGKILL");
    }
    Ok(())
}

/// Polls until `pid` is gone (reaping it when it is our child).
fn wait_gone(pid: u32, within: Duration) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(POLL);
    }
    !alive(pid)
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
