//! The [`ControlPlane`] handle: start (or attach), readiness, stop, kill, pause,
//! restart, and the manifest record; `Drop` kills and reaps.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use val_core::evidence::{BinaryInfo, ControlPlaneRecord};
use val_core::fsx;

use super::config::CpConfig;
use super::error::{io, CpError};
use super::panics;
use super::process::{self, http_status, log_tail, CpProcess, Launch, Lifetime, StopOutcome, POLL};
use super::target::{binary_info, reference_binary, separate_cli_info, Target};

/// Attempts to start a template-launched binary on freshly picked ports.
const PICK_PORT_ATTEMPTS: u32 = 4;

/// A control-plane under test: a child process, or a remote URL.
///
/// Start and restart it from the lab's own thread (not from `spawn_blocking`): the
/// child is spawned with `PR_SET_PDEATHSIG`, which the kernel fires when the *thread*
/// that spawned it exits, so that a killed test process leaves no orphan behind.
#[derive(Debug)]
pub struct ControlPlane {
    cfg: CpConfig,
    binary: Option<BinaryInfo>,
    /// The separate operator CLI (`AUTONOMY_CLI`), hashed once at start.
    cli: Option<BinaryInfo>,
    process: Option<CpProcess>,
    listen: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
    url: String,
    metrics_url: Option<String>,
    starts: u32,
    /// The arguments of the last spawn (empty when remote or never spawned).
    last_args: Vec<String>,
    recorder: Option<Recorder>,
    /// Length of the log when this handle was made: the panic guard reads only what
    /// this handle's processes wrote (a log is appended to across handles).
    log_start: u64,
}

/// Shared slot where a lab keeps the latest [`ControlPlaneRecord`] for its manifest.
pub(crate) type Recorder = std::sync::Arc<Mutex<Option<ControlPlaneRecord>>>;

impl ControlPlane {
    /// Starts (or, for a remote target, attaches to) a control-plane and waits until
    /// `/v1/health` answers 200 (any answer with [`CpConfig::accept_unhealthy`]). An
    /// early exit is reported at once with the log tail.
    pub fn start(cfg: CpConfig) -> Result<ControlPlane, CpError> {
        let binary = match &cfg.target {
            Target::Reference => Some(binary_info(&reference_binary()?)?),
            Target::Binary { path, .. } => Some(binary_info(path)?),
            Target::Remote { .. } => None,
        };
        let (url, metrics_url) = match &cfg.target {
            Target::Remote { url, metrics_url } => (url.clone(), metrics_url.clone()),
            _ => (String::new(), None),
        };
        let mut cp = ControlPlane {
            cfg,
            binary,
            cli: separate_cli_info()?,
            process: None,
            listen: None,
            metrics: None,
            url,
            metrics_url,
            starts: 0,
            last_args: Vec::new(),
            recorder: None,
            log_start: 0,
        };
        cp.log_start = panics::log_len(&cp.cfg.log_file);
        if cp.is_remote() {
            let deadline = Instant::now() + cp.cfg.ready_timeout;
            let mut last;
            loop {
                match http_status(&cp.url, "/v1/health", Duration::from_secs(2)) {
                    Ok(code) if code == 200 || cp.cfg.accept_unhealthy => break,
                    Ok(code) => last = format!("HTTP {code}"),
                    Err(e) => last = e.to_string(),
                }
                if Instant::now() >= deadline {
                    return Err(CpError::StartTimeout {
                        waited: cp.cfg.ready_timeout,
                        last,
                        last_status: None,
                        pid: None,
                        log: "(remote control-plane, no log)".into(),
                        tail: String::new(),
                    });
                }
                std::thread::sleep(POLL * 4);
            }
            return Ok(cp);
        }
        cp.spawn_until_healthy()?;
        Ok(cp)
    }

    /// True for a remote control-plane (`AUTONOMY_CP_URL`).
    pub fn is_remote(&self) -> bool {
        matches!(self.cfg.target, Target::Remote { .. })
    }

    /// Error for a process operation on a remote control-plane.
    fn require_local(&self, op: &'static str) -> Result<(), CpError> {
        match self.cfg.target.not_controllable_reason() {
            Some(reason) => Err(CpError::NotControllable { op, reason }),
            None => Ok(()),
        }
    }

    /// Spawns the process and waits for health; retries on fresh ports for a
    /// template-launched binary whose picked port was taken meanwhile.
    fn spawn_until_healthy(&mut self) -> Result<(), CpError> {
        let template = match &self.cfg.target {
            Target::Binary { args_template, .. } => args_template.clone(),
            _ => None,
        };
        // Pick-and-pass races with other processes for the port, hence the retry;
        // with the ready file the server binds port 0 itself and there is no race.
        let pick = template.is_some() && self.cfg.ports.is_none() && self.listen.is_none();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (listen, metrics) = if let (Some(l), Some(m)) = (self.listen, self.metrics) {
                (l, m)
            } else if let Some((l, m)) = self.cfg.ports {
                (loopback(l), loopback(m))
            } else if pick {
                (free_port()?, free_port()?)
            } else {
                (loopback(0), loopback(0))
            };
            match self.spawn_once(listen, metrics, template.as_deref()) {
                Err(CpError::EarlyExit { .. }) if pick && attempt < PICK_PORT_ATTEMPTS => {
                    self.log_note(&format!(
                        "early exit on picked ports {listen}/{metrics}; retrying on new ports"
                    ));
                    continue;
                }
                Err(e) => {
                    // A detached process is not killed by its handle's drop: a start
                    // that failed must not leave it behind.
                    self.kill_and_reap();
                    return Err(e);
                }
                Ok(()) => return Ok(()),
            }
        }
    }

    /// Appends a harness note to the control-plane log (for a person reading it) and,
    /// typed, to its events record: the log also holds the control-plane's raw output,
    /// which can print a look-alike marker line, so only the record is read back.
    fn log_note(&self, note: &str) {
        self.log_event(note, None);
    }

    /// [`log_note`](Self::log_note) with the typed record of a start, if it is one.
    fn log_event(&self, note: &str, start: Option<val_core::wire::StartRecord>) {
        let at = fsx::rfc3339(chrono::Utc::now());
        let append = |path: &Path, line: &str| {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                // One write per line: the control-plane appends to the same log, and
                // a line split in two writes could be interleaved with its output.
                let _ = f.write_all(format!("{line}\n").as_bytes());
            }
        };
        append(
            &self.cfg.log_file,
            &format!(
                "{} {at} {note}",
                val_core::evidence::provenance::HARNESS_LINE
            ),
        );
        let rec = val_core::wire::HarnessNote {
            at,
            note: note.to_string(),
            start,
        };
        if let Ok(line) = serde_json::to_string(&rec) {
            append(
                &val_core::wire::HarnessNote::path_for(&self.cfg.log_file),
                &line,
            );
        }
    }

    /// One spawn + readiness wait.
    fn spawn_once(
        &mut self,
        listen: SocketAddr,
        metrics: SocketAddr,
        template: Option<&str>,
    ) -> Result<(), CpError> {
        let bin = PathBuf::from(&self.binary.as_ref().expect("local has a binary").path);
        self.prepare_dirs()?;
        let args = match template {
            Some(t) => self.template_args(t, listen, metrics),
            None => self.reference_args(listen, metrics),
        };
        let env = self.cfg.child_env();
        let start = val_core::wire::StartRecord {
            number: self.starts + 1,
            suite: self.cfg.suite.clone(),
            binary: self.binary.clone().expect("local has a binary"),
            args: args.clone(),
            env: env.clone(),
        };
        self.log_event(&start.note(), Some(start));
        self.last_args.clone_from(&args);
        let launch = Launch {
            binary: bin.clone(),
            args,
            env,
            log_file: self.cfg.log_file.clone(),
            lifetime: self.cfg.lifetime,
        };
        let process = CpProcess::spawn(&launch).map_err(|source| CpError::Spawn {
            binary: bin.display().to_string(),
            source,
        })?;
        self.process = Some(process);
        self.starts += 1;
        // A launch template has no ready file: its addresses are the ones passed.
        let known = template.is_some().then_some((listen, metrics));
        let (l, m) = self.wait_healthy(known)?;
        self.listen = Some(l);
        self.metrics = Some(m);
        self.url = format!("http://{l}");
        self.metrics_url = Some(format!("http://{m}"));
        self.update_record();
        Ok(())
    }

    /// Creates the store, audit and log directories, and removes the previous ready
    /// file so that only this start's can be read.
    fn prepare_dirs(&self) -> Result<(), CpError> {
        let log_dir = self.cfg.log_file.parent();
        for d in [&self.cfg.data_dir, &self.cfg.audit_dir]
            .into_iter()
            .map(PathBuf::as_path)
            .chain(log_dir)
        {
            std::fs::create_dir_all(d).map_err(io(format!("create {}", d.display())))?;
        }
        let _ = std::fs::remove_file(&self.cfg.ready_file);
        Ok(())
    }

    /// The arguments of `AUTONOMY_CP_ARGS` with its placeholders filled in.
    fn template_args(
        &self,
        template: &str,
        listen: SocketAddr,
        metrics: SocketAddr,
    ) -> Vec<String> {
        template
            .split_whitespace()
            .map(|tok| {
                tok.replace("{listen}", &listen.to_string())
                    .replace("{metrics}", &metrics.to_string())
                    .replace("{data_dir}", &self.cfg.data_dir.display().to_string())
                    .replace("{audit_dir}", &self.cfg.audit_dir.display().to_string())
            })
            .collect()
    }

    /// The reference `autonomy serve` arguments (contract §1), with a ready file.
    fn reference_args(&self, listen: SocketAddr, metrics: SocketAddr) -> Vec<String> {
        let mut a = vec![
            "serve".to_string(),
            "--listen".into(),
            listen.to_string(),
            "--metrics-listen".into(),
            metrics.to_string(),
            "--data-dir".into(),
            self.cfg.data_dir.display().to_string(),
            "--audit-dir".into(),
            self.cfg.audit_dir.display().to_string(),
            "--ready-file".into(),
            self.cfg.ready_file.display().to_string(),
        ];
        if let Some(t) = &self.cfg.tokens_file {
            a.push("--tokens-file".into());
            a.push(t.display().to_string());
        }
        a
    }

    /// Polls until the just-spawned process answers `/v1/health` (200, or anything with
    /// [`CpConfig::accept_unhealthy`]) and returns its `(listen, metrics)` addresses:
    /// `known` ones, else those of its ready file. Every poll first checks that the
    /// process still lives, so an early crash is reported at once with the log.
    fn wait_healthy(
        &mut self,
        known: Option<(SocketAddr, SocketAddr)>,
    ) -> Result<(SocketAddr, SocketAddr), CpError> {
        let started = Instant::now();
        let deadline = started + self.cfg.ready_timeout;
        let mut addrs = known;
        let mut last;
        let mut last_status = None;
        loop {
            let process = self.process.as_mut().expect("just spawned");
            let pid = process.pid();
            if !process.is_alive() {
                let status = describe_exit(process.exit());
                self.process = None;
                return Err(CpError::EarlyExit {
                    status,
                    log: self.cfg.log_file.display().to_string(),
                    tail: log_tail(&self.cfg.log_file),
                });
            }
            if addrs.is_none() {
                addrs = process::read_ready(&self.cfg.ready_file, pid).map_err(CpError::Config)?;
            }
            if let Some((l, m)) = addrs {
                match http_status(&format!("http://{l}"), "/v1/health", Duration::from_secs(1)) {
                    Ok(code) if code == 200 || self.cfg.accept_unhealthy => {
                        self.log_note(&format!(
                            "healthy after {} ms: listen={l} metrics={m} pid={pid}",
                            started.elapsed().as_millis(),
                        ));
                        tracing::info!(
                            suite = %self.cfg.suite,
                            pid,
                            %l,
                            after_ms = started.elapsed().as_millis() as u64,
                            "control-plane healthy"
                        );
                        return Ok((l, m));
                    }
                    Ok(code) => {
                        last = format!("/v1/health answered {code}");
                        last_status = Some(code);
                    }
                    Err(e) => last = format!("/v1/health: {e}"),
                }
            } else {
                last = format!(
                    "ready file {} not written yet",
                    self.cfg.ready_file.display()
                );
            }
            if Instant::now() >= deadline {
                self.kill_and_reap();
                return Err(CpError::StartTimeout {
                    waited: self.cfg.ready_timeout,
                    last,
                    last_status,
                    pid: Some(pid),
                    log: self.cfg.log_file.display().to_string(),
                    tail: log_tail(&self.cfg.log_file),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Starts the process again on the same data dir, audit dir and ports (after a
    /// `stop` or `kill`, or after it died).
    pub fn start_again(&mut self) -> Result<(), CpError> {
        self.require_local("start_again")?;
        if let Some(pid) = self.running_pid() {
            return Err(CpError::StillRunning(pid));
        }
        self.spawn_until_healthy()
    }

    /// `stop()` then `start_again()`.
    pub fn restart(&mut self) -> Result<StopOutcome, CpError> {
        let outcome = self.stop()?;
        self.start_again()?;
        Ok(outcome)
    }

    /// SIGTERM, wait up to the grace period, then SIGKILL; always reaps.
    pub fn stop(&mut self) -> Result<StopOutcome, CpError> {
        self.require_local("stop")?;
        let mut process = self.process.take().ok_or(CpError::NotRunning("stop"))?;
        let outcome = process.stop(self.cfg.stop_grace)?;
        tracing::info!(suite = %self.cfg.suite, pid = process.pid(), ?outcome, "control-plane stopped");
        self.log_note(&if outcome.graceful {
            format!("stopped by SIGTERM: {}", describe_exit(process.exit()))
        } else {
            format!(
                "no exit {:?} after SIGTERM; SIGKILLed: {}",
                self.cfg.stop_grace,
                describe_exit(process.exit())
            )
        });
        Ok(outcome)
    }

    /// SIGKILL and reap; returns only after the process is gone.
    pub fn kill(&mut self) -> Result<StopOutcome, CpError> {
        self.require_local("kill")?;
        let mut process = self.process.take().ok_or(CpError::NotRunning("kill"))?;
        let outcome = process.kill()?;
        tracing::info!(suite = %self.cfg.suite, pid = process.pid(), ?outcome, "control-plane SIGKILLed");
        self.log_note(&format!(
            "SIGKILLed by the harness: {}",
            describe_exit(process.exit())
        ));
        Ok(outcome)
    }

    /// SIGSTOP: the process stays alive but answers nothing; returns once every
    /// thread is stopped (see [`CpProcess::pause`]).
    pub fn pause(&mut self) -> Result<(), CpError> {
        self.require_local("pause")?;
        self.running("pause")?.pause()?;
        tracing::info!(suite = %self.cfg.suite, pid = ?self.pid(), "control-plane paused (SIGSTOP)");
        Ok(())
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&mut self) -> Result<(), CpError> {
        self.require_local("resume")?;
        self.running("resume")?.resume()?;
        tracing::info!(suite = %self.cfg.suite, pid = ?self.pid(), "control-plane resumed (SIGCONT)");
        Ok(())
    }

    /// The running process, for an operation that needs one.
    fn running(&mut self, op: &'static str) -> Result<&mut CpProcess, CpError> {
        self.running_pid().ok_or(CpError::NotRunning(op))?;
        Ok(self.process.as_mut().expect("running"))
    }

    /// The pid while the process runs (reaps it if it has exited).
    pub fn running_pid(&mut self) -> Option<u32> {
        let process = self.process.as_mut()?;
        if process.is_alive() {
            Some(process.pid())
        } else {
            self.process = None;
            None
        }
    }

    /// The pid of the current process, if one was spawned and not yet reaped.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(CpProcess::pid)
    }

    /// Lets a detached control-plane (see [`Lifetime::Detached`]) outlive this handle
    /// and returns its pid; a control-plane that dies with its handle is not released.
    pub fn release(mut self) -> Option<u32> {
        match self.cfg.lifetime {
            Lifetime::Detached { .. } => self.process.take().map(CpProcess::release),
            Lifetime::DiesWithHandle => None,
        }
    }

    /// API base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Metrics base URL, when known (`None` for a remote target without `AUTONOMY_METRICS_URL`).
    pub fn metrics_url(&self) -> Option<&str> {
        self.metrics_url.as_deref()
    }

    /// The bound API address of the last start (local only).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen
    }

    /// The bound metrics address of the last start (local only).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &CpConfig {
        &self.cfg
    }

    /// Store directory.
    pub fn data_dir(&self) -> &Path {
        &self.cfg.data_dir
    }

    /// Audit directory.
    pub fn audit_dir(&self) -> &Path {
        &self.cfg.audit_dir
    }

    /// Log file.
    pub fn log_file(&self) -> &Path {
        &self.cfg.log_file
    }

    /// The executed binary (path, sha256, `--version`); `None` when remote.
    pub fn binary(&self) -> Option<&BinaryInfo> {
        self.binary.as_ref()
    }

    /// Number of process starts so far.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// The arguments of the last spawn (empty when remote or never spawned).
    pub fn last_args(&self) -> &[String] {
        &self.last_args
    }

    /// The manifest record of this control-plane.
    pub fn record(&self) -> ControlPlaneRecord {
        ControlPlaneRecord {
            mode: self.cfg.target.mode().to_string(),
            binary: self.binary.clone(),
            cli: self.cli.clone(),
            url: (!self.url.is_empty()).then(|| self.url.clone()),
            metrics_url: self.metrics_url.clone(),
            args_template: match &self.cfg.target {
                Target::Binary { args_template, .. } => args_template.clone(),
                _ => None,
            },
            env: if self.is_remote() {
                BTreeMap::new()
            } else {
                self.cfg.child_env()
            },
            starts: self.starts,
        }
    }

    /// Makes every later start update `recorder` (the lab's manifest record).
    pub(crate) fn set_recorder(&mut self, recorder: Recorder) {
        self.recorder = Some(recorder);
        self.update_record();
    }

    /// Writes the current record into the recorder, if any.
    fn update_record(&self) {
        if let Some(r) = &self.recorder {
            *r.lock().unwrap_or_else(|e| e.into_inner()) = Some(self.record());
        }
    }

    /// SIGKILL + reap, ignoring errors (for failed starts).
    fn kill_and_reap(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let had_process = self.process.is_some();
        // The process handle kills and reaps (unless detached) before the log is read,
        // so the log is complete when it is scanned for panics.
        self.process = None;
        if std::thread::panicking() {
            if had_process {
                eprintln!(
                    "--- control-plane log tail ({}) ---\n{}\n--- end of log tail ---",
                    self.cfg.log_file.display(),
                    log_tail(&self.cfg.log_file)
                );
            }
            return;
        }
        if let Some(message) = self.unexpected_panic() {
            panic!("{message}");
        }
    }
}

impl ControlPlane {
    /// The panic guard's verdict: a message when a process this handle started (and
    /// that died with it) printed `panicked at` and the test did not declare it with
    /// [`CpConfig::expect_panic`]. Read after the process is reaped, so nothing it
    /// wrote is missed.
    pub fn unexpected_panic(&self) -> Option<String> {
        let guarded = self.starts > 0
            && !self.cfg.panic_expected
            && self.cfg.lifetime == Lifetime::DiesWithHandle;
        if !guarded {
            return None;
        }
        let (count, excerpt) = panics::panic_excerpt(&self.cfg.log_file, self.log_start)?;
        Some(format!(
            "the control-plane panicked ({count} `{}` in its log {}), so this test fails \
             even if its assertions passed; declare an expected panic with \
             CpConfig::expect_panic. From the first panic on:\n{excerpt}",
            panics::PANIC_MARKER,
            self.cfg.log_file.display(),
        ))
    }
}

/// An exit as the log shows it.
fn describe_exit(exit: Option<(Option<i32>, Option<i32>)>) -> String {
    match exit {
        Some((Some(code), _)) => format!("exit status: {code}"),
        Some((None, Some(sig))) => format!("signal: {sig}"),
        _ => "exit status unknown".into(),
    }
}

/// `127.0.0.1:port`.
fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A currently free loopback port (released at once, so it can race: callers retry).
fn free_port() -> Result<SocketAddr, CpError> {
    let l = std::net::TcpListener::bind(loopback(0)).map_err(io("bind a free port"))?;
    l.local_addr().map_err(io("read a free port"))
}
