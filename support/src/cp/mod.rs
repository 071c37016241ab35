//! Control-plane lifecycle and the choice of target.
//!
//! Which control-plane a lab exercises ([`Target::from_env`]):
//! - default: the reference binary `autonomy`, built by the same cargo command as the
//!   tests as each test package's `<package>-autonomy` target ([`reference_binary`]);
//! - `AUTONOMY_BIN=/path`: another binary; `AUTONOMY_CP_ARGS` is then an optional launch
//!   template with `{listen} {metrics} {data_dir} {audit_dir}` placeholders;
//! - `AUTONOMY_CP_URL=http://host:port` (+ `AUTONOMY_METRICS_URL`): an already-running
//!   control-plane. Every operation that needs the process returns
//!   [`CpError::NotControllable`], which a lab records as NOT_RUN.
//!
//! A [`ControlPlane`] is a real child process ([`process::CpProcess`], the one process
//! handle of the project) with its stdout/stderr appended to one log file across
//! restarts. `Drop` kills it with SIGKILL and reaps it (also while unwinding from a
//! panic, when the log tail is printed), so no process outlives its test even when the
//! test fails. The soak's control-plane is the exception by design
//! ([`Lifetime::Detached`]): it outlives the command that started it and is found
//! again by pid.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub mod process;

use process::POLL;
pub use process::{http_status, log_tail, CpProcess, Launch, Lifetime, ProcessError, StopOutcome};

use val_core::env::{self, base_env};
use val_core::evidence::{BinaryInfo, ControlPlaneRecord};
use val_core::fsx;

/// Plan ports `(listen, metrics)` reproduced when `FLEETVAL_FIXED_PORTS=1`.
pub const PLAN_PORTS: &[(&str, u16, u16)] = &[
    ("val08", 18993, 19093),
    ("val11", 18996, 19096),
    ("val12", 19000, 19100),
];

/// How long [`ControlPlane::start`] waits for `/v1/health` = 200 by default.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`ControlPlane::stop`] waits after SIGTERM before SIGKILL by default
/// (the contract promises exit within 5 s of SIGTERM).
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);
/// Attempts to start a template-launched binary on freshly picked ports.
const PICK_PORT_ATTEMPTS: u32 = 4;

/// Errors of the control-plane lifecycle.
#[derive(Debug, thiserror::Error)]
pub enum CpError {
    /// The operation needs the process, but the control-plane is remote
    /// (`AUTONOMY_CP_URL`); a check depending on it is NOT_RUN with this reason.
    #[error("{op} is not possible: {reason}")]
    NotControllable {
        /// The operation attempted (`kill`, `restart`...).
        op: &'static str,
        /// Why.
        reason: String,
    },
    /// The reference binary could not be built.
    #[error("building the reference control-plane failed: {0}")]
    Build(String),
    /// The binary could not be started.
    #[error("cannot spawn {binary}: {source}")]
    Spawn {
        /// Binary path.
        binary: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The process exited before it became healthy.
    #[error("control-plane exited during start ({status}); log {log}:\n{tail}")]
    EarlyExit {
        /// Exit status.
        status: String,
        /// Log file.
        log: String,
        /// Last lines of the log.
        tail: String,
    },
    /// `/v1/health` did not answer 200 before the deadline.
    #[error("control-plane not healthy after {waited:?} ({last}); log {log}:\n{tail}")]
    StartTimeout {
        /// How long the harness waited.
        waited: Duration,
        /// Last health observation.
        last: String,
        /// Last HTTP status `/v1/health` answered, if any.
        last_status: Option<u16>,
        /// The process that was given up on (and killed), when local.
        pid: Option<u32>,
        /// Log file.
        log: String,
        /// Last lines of the log.
        tail: String,
    },
    /// The operation needs a running process and there is none.
    #[error("{0}: the control-plane process is not running")]
    NotRunning(&'static str),
    /// `start_again` while the process still runs.
    #[error("the control-plane process is still running (pid {0})")]
    StillRunning(u32),
    /// Signalling or reaping the process failed.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A configuration value is invalid.
    #[error("invalid control-plane configuration: {0}")]
    Config(String),
}

impl CpError {
    /// The NOT_RUN reason when this error means "cannot be done against this target".
    pub fn not_run_reason(&self) -> Option<&str> {
        match self {
            CpError::NotControllable { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// Shorthand for an I/O error with context.
fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CpError {
    let what = what.into();
    move |source| CpError::Io { what, source }
}

/// The control-plane the harness targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The reference `autonomy` built from this workspace.
    Reference,
    /// Another binary (`AUTONOMY_BIN`), optionally with a launch template (`AUTONOMY_CP_ARGS`).
    Binary {
        /// Path of the binary.
        path: PathBuf,
        /// Launch template with `{listen} {metrics} {data_dir} {audit_dir}`.
        args_template: Option<String>,
    },
    /// An already-running control-plane (`AUTONOMY_CP_URL`, `AUTONOMY_METRICS_URL`).
    Remote {
        /// API base URL.
        url: String,
        /// Metrics base URL, when given.
        metrics_url: Option<String>,
    },
}

impl Target {
    /// The target made by `AUTONOMY_CP_URL`, `AUTONOMY_BIN` and `AUTONOMY_CP_ARGS`.
    pub fn from_env() -> Target {
        if let Some(url) = env::nonempty("AUTONOMY_CP_URL") {
            return Target::Remote {
                url: url.trim_end_matches('/').to_string(),
                metrics_url: env::nonempty("AUTONOMY_METRICS_URL")
                    .map(|u| u.trim_end_matches('/').to_string()),
            };
        }
        if let Some(bin) = env::nonempty("AUTONOMY_BIN") {
            return Target::Binary {
                path: PathBuf::from(bin),
                args_template: env::nonempty("AUTONOMY_CP_ARGS"),
            };
        }
        Target::Reference
    }

    /// `reference`, `binary` or `remote`, as recorded in the manifest.
    pub fn mode(&self) -> &'static str {
        match self {
            Target::Reference => "reference",
            Target::Binary { .. } => "binary",
            Target::Remote { .. } => "remote",
        }
    }

    /// Why process-level operations are impossible, for a remote control-plane.
    pub fn not_controllable_reason(&self) -> Option<String> {
        match self {
            Target::Remote { url, .. } => Some(format!(
                "the control-plane at {url} was not started by the harness (AUTONOMY_CP_URL), so it cannot be killed, paused or restarted"
            )),
            _ => None,
        }
    }

    /// The binary to use for the `autonomy` CLI: `AUTONOMY_BIN` or the reference build.
    pub fn cli_binary(&self) -> Result<PathBuf, CpError> {
        match self {
            Target::Binary { path, .. } => Ok(path.clone()),
            Target::Remote { .. } => match env::nonempty("AUTONOMY_BIN") {
                Some(p) => Ok(PathBuf::from(p)),
                None => reference_binary(),
            },
            Target::Reference => reference_binary(),
        }
    }
}

/// Whether `FLEETVAL_FIXED_PORTS=1` asks for the plans' fixed ports.
pub fn fixed_ports_enabled() -> bool {
    env::flag("FLEETVAL_FIXED_PORTS")
}

/// The plan's `(listen, metrics)` ports of a suite, if the plan names them.
pub fn plan_ports(suite: &str) -> Option<(u16, u16)> {
    PLAN_PORTS
        .iter()
        .find(|(s, _, _)| *s == suite)
        .map(|(_, l, m)| (*l, *m))
}

/// [`BinaryInfo::of`] with the error as a lifecycle error.
pub fn binary_info(path: &Path) -> Result<BinaryInfo, CpError> {
    BinaryInfo::of(path).map_err(|e| CpError::Io {
        what: format!("hash {}", path.display()),
        source: std::io::Error::other(e.to_string()),
    })
}

/// The reference control-plane's entry point, for the thin `<package>-autonomy` binary
/// each test package declares (see [`reference_binary`]). The process renames itself
/// `autonomy`, so it reads as the control-plane it is in `ps` and `pgrep -x autonomy`.
pub fn reference_main() -> i32 {
    let _ = nix::sys::prctl::set_name(c"autonomy");
    autonomy_cp::cli::run()
}

/// Suffix of the name of every test package's reference binary target.
const REFERENCE_BIN_SUFFIX: &str = "autonomy";

/// The reference `autonomy` binary, built by the same cargo invocation as the tests:
/// every test package declares a thin binary target `<package>-autonomy` (calling
/// [`reference_main`]), whose path cargo and nextest hand to the test at run time as
/// `CARGO_BIN_EXE_<name>` / `NEXTEST_BIN_EXE_<name>`. Outside a test (the `soak`
/// program), the newest `autonomy` or `*-autonomy` executable beside the running
/// program is used. Nothing is ever built from here: a stale or missing binary is
/// reported, not rebuilt behind the user's back.
pub fn reference_binary() -> Result<PathBuf, CpError> {
    let from_env: std::collections::BTreeSet<PathBuf> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.to_str()?;
            let name = k
                .strip_prefix("CARGO_BIN_EXE_")
                .or_else(|| k.strip_prefix("NEXTEST_BIN_EXE_"))?;
            name.ends_with(REFERENCE_BIN_SUFFIX)
                .then(|| PathBuf::from(v))
        })
        .collect();
    match from_env.len() {
        1 => return Ok(from_env.into_iter().next().expect("one")),
        0 => {}
        _ => {
            return Err(CpError::Build(format!(
                "more than one reference binary in the environment: {from_env:?}"
            )))
        }
    }
    let exe = std::env::current_exe().map_err(io("locate the running program"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    newest_reference_beside(dir).ok_or_else(|| {
        CpError::Build(format!(
            "no reference binary: not run by cargo test or cargo nextest, and no `autonomy` or \
             `*-autonomy` executable in {} (build it with the same cargo command, e.g. \
             `cargo build -p val12`, or set AUTONOMY_BIN)",
            dir.display()
        ))
    })
}

/// The most recently built `autonomy` / `*-autonomy` executable in `dir`.
fn newest_reference_beside(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name == REFERENCE_BIN_SUFFIX || name.ends_with(&format!("-{REFERENCE_BIN_SUFFIX}"))
        })
        .filter_map(|e| {
            let md = e.metadata().ok()?;
            (md.is_file()).then(|| (md.modified().ok(), e.path()))
        })
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p)
}

/// Everything needed to start a control-plane. Build with [`CpConfig::new`], then adjust.
#[derive(Clone, Debug)]
pub struct CpConfig {
    /// Suite name (for fixed ports and log headers).
    pub suite: String,
    /// Store directory (`--data-dir`), reused across restarts.
    pub data_dir: PathBuf,
    /// Audit directory (`--audit-dir` and `AUTONOMY_AUDIT_DIR`).
    pub audit_dir: PathBuf,
    /// Where the server writes its ready file.
    pub ready_file: PathBuf,
    /// Log file; stdout and stderr are appended across restarts.
    pub log_file: PathBuf,
    /// `AUTONOMY_FAULTS` items; empty means the variable is not set.
    pub faults: Vec<String>,
    /// `AUTONOMY_VARIANT` items (contract §11: behaviour a valid control-plane may
    /// have); empty means the variable is not set.
    pub variants: Vec<String>,
    /// `AUTONOMY_RBAC_ENFORCEMENT=1` when true, `0` when false.
    pub rbac: bool,
    /// `AUTONOMY_OPERATOR` for the server, when set.
    pub operator: Option<String>,
    /// `--tokens-file`, when set.
    pub tokens_file: Option<PathBuf>,
    /// Fixed `(listen, metrics)` ports; `None` = port 0 and the ready file.
    pub ports: Option<(u16, u16)>,
    /// Readiness deadline.
    pub ready_timeout: Duration,
    /// SIGTERM → SIGKILL grace of [`ControlPlane::stop`].
    pub stop_grace: Duration,
    /// Which control-plane.
    pub target: Target,
    /// Readiness accepts any HTTP answer of `/v1/health`, not only 200 (for a negative
    /// lab whose injected fault makes health fail, so that the check can observe it).
    pub accept_unhealthy: bool,
    /// Whether the process dies with its handle (labs) or outlives it (the soak).
    pub lifetime: Lifetime,
}

impl CpConfig {
    /// A configuration with data, audit and ready file under `work_dir`, the log at
    /// `log_file`, the target from the environment, and the plan's ports when
    /// `FLEETVAL_FIXED_PORTS=1`.
    pub fn new(suite: &str, work_dir: &Path, log_file: &Path) -> CpConfig {
        CpConfig {
            suite: suite.to_string(),
            data_dir: work_dir.join("cp-data"),
            audit_dir: work_dir.join("audit-store"),
            ready_file: work_dir.join("cp-ready.json"),
            log_file: log_file.to_path_buf(),
            faults: Vec::new(),
            variants: Vec::new(),
            rbac: false,
            operator: None,
            tokens_file: None,
            ports: if fixed_ports_enabled() {
                plan_ports(suite)
            } else {
                None
            },
            ready_timeout: DEFAULT_READY_TIMEOUT,
            stop_grace: DEFAULT_STOP_GRACE,
            target: Target::from_env(),
            accept_unhealthy: false,
            lifetime: Lifetime::DiesWithHandle,
        }
    }

    /// Makes readiness accept any HTTP answer of `/v1/health` (see [`CpConfig::accept_unhealthy`]).
    pub fn accept_unhealthy(mut self) -> Self {
        self.accept_unhealthy = true;
        self
    }

    /// Sets the injected faults (`AUTONOMY_FAULTS` items).
    pub fn faults<S: AsRef<str>>(mut self, faults: &[S]) -> Self {
        self.faults = faults.iter().map(|f| f.as_ref().to_string()).collect();
        self
    }

    /// Sets the reference's valid alternative behaviours (`AUTONOMY_VARIANT` items).
    pub fn variants<S: AsRef<str>>(mut self, variants: &[S]) -> Self {
        self.variants = variants.iter().map(|v| v.as_ref().to_string()).collect();
        self
    }

    /// Sets `AUTONOMY_OPERATOR` for the server.
    pub fn operator(mut self, op: &str) -> Self {
        self.operator = Some(op.to_string());
        self
    }

    /// The environment the child gets: the whitelist plus the harness's own values.
    pub fn child_env(&self) -> BTreeMap<String, String> {
        let mut env = base_env();
        env.insert(
            "AUTONOMY_AUDIT_DIR".into(),
            self.audit_dir.display().to_string(),
        );
        env.insert(
            "AUTONOMY_RBAC_ENFORCEMENT".into(),
            if self.rbac { "1" } else { "0" }.into(),
        );
        if let Some(op) = &self.operator {
            env.insert("AUTONOMY_OPERATOR".into(), op.clone());
        }
        if !self.faults.is_empty() {
            env.insert("AUTONOMY_FAULTS".into(), self.faults.join(","));
        }
        if !self.variants.is_empty() {
            env.insert("AUTONOMY_VARIANT".into(), self.variants.join(","));
        }
        env
    }
}

/// A control-plane under test: a child process, or a remote URL.
///
/// Start and restart it from the lab's own thread (not from `spawn_blocking`): the
/// child is spawned with `PR_SET_PDEATHSIG`, which the kernel fires when the *thread*
/// that spawned it exits, so that a killed test process leaves no orphan behind.
#[derive(Debug)]
pub struct ControlPlane {
    cfg: CpConfig,
    binary: Option<BinaryInfo>,
    process: Option<CpProcess>,
    listen: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
    url: String,
    metrics_url: Option<String>,
    starts: u32,
    recorder: Option<Recorder>,
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
            process: None,
            listen: None,
            metrics: None,
            url,
            metrics_url,
            starts: 0,
            recorder: None,
        };
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

    /// Appends a harness note to the control-plane log.
    fn log_note(&self, note: &str) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.cfg.log_file)
        {
            let _ = writeln!(
                f,
                "=== fleetval {} {note}",
                fsx::rfc3339(chrono::Utc::now())
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
        self.log_note(&format!(
            "start #{} of {}: {} {}  env: {}",
            self.starts + 1,
            self.cfg.suite,
            bin.display(),
            args.join(" "),
            env.iter()
                .filter(|(k, _)| k.starts_with("AUTONOMY_"))
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
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

    /// The manifest record of this control-plane.
    pub fn record(&self) -> ControlPlaneRecord {
        ControlPlaneRecord {
            mode: self.cfg.target.mode().to_string(),
            binary: self.binary.clone(),
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
        // The process handle kills and reaps (unless detached) before the log is read.
        self.process = None;
        if had_process && std::thread::panicking() {
            eprintln!(
                "--- control-plane log tail ({}) ---\n{}\n--- end of log tail ---",
                self.cfg.log_file.display(),
                log_tail(&self.cfg.log_file)
            );
        }
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
