//! The one operating-system handle on a control-plane process, for the lab's
//! control-planes (children that die with their test) and the soak's (detached,
//! outliving the command that started them, adopted later by pid).
//!
//! Everything that touches the process goes through [`CpProcess`]: spawn with a
//! whitelisted environment and the output appended to a log, parent-death, liveness
//! (which also reaps), SIGTERM/SIGKILL/SIGSTOP/SIGCONT, and the readiness wait.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill as send_signal, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// Poll interval of readiness and exit waits.
pub const POLL: Duration = Duration::from_millis(20);
/// Bytes of log shown in errors and on panic.
const LOG_TAIL_BYTES: u64 = 4000;

/// How a spawned process relates to the process that spawned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Killed and reaped when the handle drops, and killed by the kernel when the
    /// spawning thread dies (a test killed by nextest's timeout runs no Drop).
    DiesWithHandle,
    /// Outlives the handle, in its own process group (a Ctrl-C aimed at the command
    /// that started it must not reach it); found again later by pid.
    Detached {
        /// Still killed by the kernel when the spawning thread dies: for tests that
        /// drive a detached control-plane and must not leak it when they are killed.
        dies_with_parent: bool,
    },
}

/// What to run: binary, arguments, the complete environment, the log file.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The executable.
    pub binary: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// The child's whole environment (nothing else of the harness's reaches it).
    pub env: std::collections::BTreeMap<String, String>,
    /// stdout and stderr are appended here.
    pub log_file: PathBuf,
    /// Parent-death and process-group behaviour.
    pub lifetime: Lifetime,
}

/// How a stop ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopOutcome {
    /// True when the process exited after SIGTERM within the grace period.
    pub graceful: bool,
    /// Exit code, when it exited normally (and was our child).
    pub exit_code: Option<i32>,
    /// Terminating signal, when it died of one (and was our child).
    pub signal: Option<i32>,
    /// Time from the first signal to the end, in ms.
    pub elapsed_ms: u64,
}

/// A signal could not be sent, or the process would not go away.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// `kill(2)` failed.
    #[error("signal {signal} to pid {pid}: {errno}")]
    Signal {
        /// Signal name.
        signal: &'static str,
        /// Target pid.
        pid: u32,
        /// Cause.
        errno: nix::errno::Errno,
    },
    /// The process is still there after SIGKILL and the wait.
    #[error("pid {pid} still present {waited:?} after {what}")]
    Survived {
        /// Target pid.
        pid: u32,
        /// What was sent.
        what: &'static str,
        /// How long the harness waited.
        waited: Duration,
    },
    /// An I/O operation on the process failed.
    #[error("{what} (pid {pid}): {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Target pid.
        pid: u32,
        /// Cause.
        source: std::io::Error,
    },
}

/// A control-plane process: our child (spawned here) or adopted by pid.
#[derive(Debug)]
pub struct CpProcess {
    pid: u32,
    /// Present when this process spawned it, so that it can be reaped.
    child: Option<Child>,
    kill_on_drop: bool,
    paused: bool,
    /// Set once it is known to be gone (and reaped, when it was our child).
    gone: Option<(Option<i32>, Option<i32>)>,
}

impl CpProcess {
    /// Spawns `launch`. Call it from the thread that should own the process's life:
    /// `PR_SET_PDEATHSIG` fires when the spawning *thread* exits, not the process.
    pub fn spawn(launch: &Launch) -> std::io::Result<CpProcess> {
        use std::os::unix::process::CommandExt;
        if let Some(parent) = launch.log_file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log_file)?;
        let mut cmd = Command::new(&launch.binary);
        cmd.args(&launch.args)
            .env_clear()
            .envs(&launch.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let dies_with_parent = match launch.lifetime {
            Lifetime::DiesWithHandle => true,
            Lifetime::Detached { dies_with_parent } => {
                cmd.process_group(0);
                dies_with_parent
            }
        };
        if dies_with_parent {
            let parent = std::process::id() as i32;
            // SAFETY: prctl and getppid are async-signal-safe and touch no parent
            // memory; nothing is allocated between fork and exec (ESRCH is a bare errno).
            unsafe {
                cmd.pre_exec(move || {
                    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
                        .map_err(std::io::Error::from)?;
                    // Had the parent died before prctl, no signal would ever come.
                    if nix::unistd::getppid().as_raw() != parent {
                        return Err(nix::errno::Errno::ESRCH.into());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn()?;
        Ok(CpProcess {
            pid: child.id(),
            child: Some(child),
            kill_on_drop: launch.lifetime == Lifetime::DiesWithHandle,
            paused: false,
            gone: None,
        })
    }

    /// A handle on a process started earlier (by another command): it is never
    /// killed on drop, and its exit status cannot be known.
    pub fn adopt(pid: u32) -> CpProcess {
        CpProcess {
            pid,
            child: None,
            kill_on_drop: false,
            paused: false,
            gone: None,
        }
    }

    /// Lets the process outlive this handle (and this program): it is not killed on
    /// drop. Our child that dies later stays a zombie until this program exits.
    pub fn release(mut self) -> u32 {
        self.kill_on_drop = false;
        self.child = None;
        self.pid
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether it still runs; reaps it when it has exited and was our child, so a dead
    /// control-plane never lingers as a zombie (which `pgrep -x autonomy` lists).
    pub fn is_alive(&mut self) -> bool {
        if self.gone.is_some() {
            return false;
        }
        let alive = match self.child.as_mut() {
            Some(child) => match child.try_wait() {
                Ok(None) => true,
                Ok(Some(status)) => {
                    self.gone = Some(status_parts(&status));
                    false
                }
                Err(_) => pid_alive(self.pid),
            },
            None => pid_alive(self.pid),
        };
        if !alive && self.gone.is_none() {
            self.gone = Some((None, None));
        }
        alive
    }

    /// The exit status parts `(code, signal)` once it has gone (known only for our child).
    pub fn exit(&self) -> Option<(Option<i32>, Option<i32>)> {
        self.gone
    }

    /// SIGTERM (with SIGCONT when paused, since a stopped process cannot handle it),
    /// wait up to `grace`, then SIGKILL; returns once it is gone.
    pub fn stop(&mut self, grace: Duration) -> Result<StopOutcome, ProcessError> {
        let t0 = Instant::now();
        if !self.is_alive() {
            return Ok(self.outcome(false, t0));
        }
        self.signal(Signal::SIGTERM)?;
        if self.paused {
            self.signal(Signal::SIGCONT)?;
            self.paused = false;
        }
        if self.wait_gone(grace) {
            return Ok(self.outcome(true, t0));
        }
        self.kill()?;
        Ok(self.outcome(false, t0))
    }

    /// SIGKILL; returns only once it is gone (and reaped, when it was our child).
    pub fn kill(&mut self) -> Result<StopOutcome, ProcessError> {
        let t0 = Instant::now();
        if self.is_alive() {
            // ESRCH means it exited meanwhile; the wait below settles it either way.
            let _ = send_signal(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
            if let Some(child) = self.child.as_mut() {
                let status = child.wait().map_err(|source| ProcessError::Io {
                    what: "reap",
                    pid: self.pid,
                    source,
                })?;
                self.gone = Some(status_parts(&status));
            } else if !self.wait_gone(Duration::from_secs(5)) {
                return Err(ProcessError::Survived {
                    pid: self.pid,
                    what: "SIGKILL",
                    waited: Duration::from_secs(5),
                });
            }
        }
        self.paused = false;
        Ok(self.outcome(false, t0))
    }

    /// SIGSTOP: it stays alive but answers nothing. Returns once every thread is
    /// observed stopped, because signal delivery is asynchronous: a call made right
    /// after `kill(2)` could otherwise still be served.
    pub fn pause(&mut self) -> Result<(), ProcessError> {
        self.signal(Signal::SIGSTOP)?;
        self.paused = true;
        wait_stopped(self.pid, Duration::from_secs(5))
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&mut self) -> Result<(), ProcessError> {
        self.signal(Signal::SIGCONT)?;
        self.paused = false;
        Ok(())
    }

    /// Sends `sig`.
    fn signal(&self, sig: Signal) -> Result<(), ProcessError> {
        send_signal(Pid::from_raw(self.pid as i32), sig).map_err(|errno| ProcessError::Signal {
            signal: sig.as_str(),
            pid: self.pid,
            errno,
        })
    }

    /// Polls until it is gone or `within` passed; true when gone.
    fn wait_gone(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        loop {
            if !self.is_alive() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }

    /// The stop outcome from what is known of the exit.
    fn outcome(&self, graceful: bool, t0: Instant) -> StopOutcome {
        let (exit_code, signal) = self.gone.unwrap_or((None, None));
        StopOutcome {
            graceful,
            exit_code,
            signal,
            elapsed_ms: t0.elapsed().as_millis() as u64,
        }
    }
}

impl Drop for CpProcess {
    fn drop(&mut self) {
        // Kill and reap before anything else, so the ports and the store are released
        // before a following test (or a restarted lab) needs them.
        if self.kill_on_drop {
            let _ = self.kill();
        }
    }
}

/// Exit code and signal of a status.
fn status_parts(s: &ExitStatus) -> (Option<i32>, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    (s.code(), s.signal())
}

/// Whether `pid` is a live (not zombie) process. Reaps it first when it is our own
/// exited child; our own child that is exiting but not yet reapable still counts as
/// alive, so a caller polling for its end reaps it instead of leaving a zombie.
pub fn pid_alive(pid: u32) -> bool {
    let p = Pid::from_raw(pid as i32);
    let _ = waitpid(p, Some(WaitPidFlag::WNOHANG));
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, Some("Z") | Some("X") | None) {
        // A multi-threaded child's leader shows Z before its last thread is gone and
        // cannot be reaped yet. Not our child: plainly dead.
        return matches!(
            waitpid(p, Some(WaitPidFlag::WNOHANG)),
            Ok(WaitStatus::StillAlive)
        );
    }
    true
}

/// Waits until every thread of `pid` is in state `T` (stopped); no-op without `/proc`.
fn wait_stopped(pid: u32, limit: Duration) -> Result<(), ProcessError> {
    let tasks = PathBuf::from(format!("/proc/{pid}/task"));
    if !tasks.is_dir() {
        return Ok(());
    }
    let deadline = Instant::now() + limit;
    loop {
        let all_stopped = std::fs::read_dir(&tasks)
            .map_err(|source| ProcessError::Io {
                what: "list /proc/<pid>/task",
                pid,
                source,
            })?
            .filter_map(|e| e.ok())
            .all(|e| {
                std::fs::read_to_string(e.path().join("stat"))
                    .ok()
                    .and_then(|s| {
                        s.rsplit_once(')').and_then(|(_, rest)| {
                            rest.split_whitespace().next().map(str::to_string)
                        })
                    })
                    // A thread that exited meanwhile no longer matters.
                    .is_none_or(|state| state == "T" || state == "t")
            });
        if all_stopped {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ProcessError::Survived {
                pid,
                what: "SIGSTOP (some threads still running)",
                waited: limit,
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The `ready-file` JSON the reference server writes.
#[derive(Debug, Deserialize)]
struct ReadyFile {
    listen: String,
    metrics: String,
    pid: u32,
}

/// The addresses in the server's ready file once it names `pid`. A file naming
/// another pid is a previous process's (it is removed before each spawn, but a dying
/// predecessor may still write it): waited past, never trusted.
pub fn read_ready(path: &Path, pid: u32) -> Result<Option<(SocketAddr, SocketAddr)>, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    // The server writes it atomically, so a parse error is a real defect, not a race.
    let ready: ReadyFile = serde_json::from_str(&text)
        .map_err(|e| format!("ready file {} is not valid: {e}", path.display()))?;
    if ready.pid != pid {
        return Ok(None);
    }
    let parse = |s: &str| {
        s.parse::<SocketAddr>()
            .map_err(|e| format!("ready file address {s:?}: {e}"))
    };
    Ok(Some((parse(&ready.listen)?, parse(&ready.metrics)?)))
}

/// The last few KiB of a log file (empty when unreadable).
pub fn log_tail(path: &Path) -> String {
    use std::io::{Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Minimal blocking `GET` returning the HTTP status; used for readiness only, so that
/// the synchronous lifecycle API never needs an async runtime.
pub fn http_status(base_url: &str, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let hostport = base_url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other(format!("{base_url}: only http:// is supported")))?
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let addr = hostport
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{hostport}: no address")))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = s.read(&mut buf[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let head = String::from_utf8_lossy(&buf[..got]);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head:?}")))
}
