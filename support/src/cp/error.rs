//! Errors of the control-plane lifecycle.

use std::time::Duration;

use super::process::ProcessError;

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
pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CpError {
    let what = what.into();
    move |source| CpError::Io { what, source }
}
