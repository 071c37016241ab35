//! What a control-plane is started with ([`CpConfig`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use val_core::env::base_env;

use super::process::Lifetime;
use super::target::{fixed_ports_enabled, plan_ports, Target};

/// How long [`ControlPlane::start`](super::ControlPlane::start) waits for `/v1/health` = 200 by default.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`ControlPlane::stop`](super::ControlPlane::stop) waits after SIGTERM before SIGKILL by default
/// (the contract promises exit within 5 s of SIGTERM).
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

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
    /// Further environment of the server, set last (it overrides the items above):
    /// for a test of one variable the harness has no field for.
    pub env: BTreeMap<String, String>,
    /// `--tokens-file`, when set.
    pub tokens_file: Option<PathBuf>,
    /// Fixed `(listen, metrics)` ports; `None` = port 0 and the ready file.
    pub ports: Option<(u16, u16)>,
    /// Readiness deadline.
    pub ready_timeout: Duration,
    /// SIGTERM → SIGKILL grace of [`ControlPlane::stop`](super::ControlPlane::stop).
    pub stop_grace: Duration,
    /// Which control-plane.
    pub target: Target,
    /// Readiness accepts any HTTP answer of `/v1/health`, not only 200 (for a negative
    /// lab whose injected fault makes health fail, so that the check can observe it).
    pub accept_unhealthy: bool,
    /// The test expects the control-plane to panic: its log's `panicked at` does not
    /// fail the test (see [`ControlPlane`](super::ControlPlane)'s `Drop`).
    pub panic_expected: bool,
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
            env: BTreeMap::new(),
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
            panic_expected: false,
            lifetime: Lifetime::DiesWithHandle,
        }
    }

    /// Declares that the control-plane is expected to panic (see [`CpConfig::panic_expected`]).
    pub fn expect_panic(mut self) -> Self {
        self.panic_expected = true;
        self
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
        env.extend(self.env.clone());
        env
    }
}
