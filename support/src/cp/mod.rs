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
//! test fails. A test that passed still fails when the control-plane's log shows
//! `panicked at` (the panic guard, [`panics`]), unless it declared the panic with
//! [`CpConfig::expect_panic`]. The soak's control-plane is the exception by design
//! ([`Lifetime::Detached`]): it outlives the command that started it and is found
//! again by pid.
//!
//! | module | holds |
//! |---|---|
//! | [`target`] | the choice of control-plane, the reference binary, the plans' ports |
//! | [`config`] | [`CpConfig`]: directories, faults, variants, timeouts, lifetime |
//! | [`control_plane`] | [`ControlPlane`]: the handle a lab or test drives |
//! | [`process`] | [`CpProcess`]: the operating-system process (spawn, signals, reap) |
//! | [`panics`] | the panic guard: `panicked at` in the log fails the test |
//! | [`error`] | [`CpError`] |

pub mod config;
pub mod control_plane;
pub mod error;
pub mod panics;
pub mod process;
pub mod target;

pub use config::{CpConfig, DEFAULT_READY_TIMEOUT, DEFAULT_STOP_GRACE};
pub use control_plane::ControlPlane;
pub use error::CpError;
pub use process::{http_status, log_tail, CpProcess, Launch, Lifetime, ProcessError, StopOutcome};
pub use target::{
    binary_info, fixed_ports_enabled, plan_ports, reference_binary, reference_main, separate_cli,
    separate_cli_info, Target, PLAN_PORTS,
};
