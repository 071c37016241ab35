//! What the VAL11 lab itself observed around its steps (the stuck wait, the restart
//! cycles, the kill under the CLI), as typed raw records, and the plan's text files
//! derived from them. The judge reads only the records.

use serde::{Deserialize, Serialize};

use crate::escape::escape;
use crate::plans::{DerivedFile, Files};

/// VAL11-06's wait record.
pub const STUCK_WAIT: &str = "val11-stuck-wait.json";
/// Its derived text.
pub const STUCK_WAIT_TEXT: &str = "val11-stuck-wait.txt";
/// VAL11-04's cycles: one [`RestartCycle`] per line.
pub const RAPID_RESTARTS: &str = "val11-rapid-restart.jsonl";
/// Their derived text (the plan's file).
pub const RAPID_RESTART_TEXT: &str = "val11-rapid-restart.txt";
/// VAL11-13's record.
pub const CLI_RESTART: &str = "val11-cli-restart.json";
/// Its derived text.
pub const CLI_RESTART_TEXT: &str = "val11-cli-restart.txt";

/// `none` for an unobserved value.
fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(
        || "none".to_string(),
        |v| escape(&v.to_string()).into_owned(),
    )
}

/// VAL11-06: how the lab waited for the dev plans to go stale, and the fresh plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StuckWait {
    /// The scan's threshold, s.
    pub threshold_s: f64,
    /// The longest wait allowed, s.
    pub wait_max_s: f64,
    /// Polls of the dev plans.
    pub polls: u64,
    /// How long the wait took, ms.
    pub waited_ms: u64,
    /// The dev plan updated last.
    pub newest_id: Option<String>,
    /// Its `updated_at`.
    pub newest_updated_at: Option<String>,
    /// Its age when the wait ended, s.
    pub age_s: Option<f64>,
    /// The plan created just before the scan.
    pub fresh_id: String,
    /// When its create was sent (RFC 3339, the harness's clock).
    pub fresh_sent_at: String,
    /// When the scan answered.
    pub scan_answered_at: String,
}

/// VAL11-04: one stop/start cycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartCycle {
    /// Cycle number, from 1.
    pub cycle: u32,
    /// The stop ended within the grace period after SIGTERM.
    pub stop_graceful: bool,
    /// Exit code of the stopped process.
    pub stop_exit_code: Option<i32>,
    /// Its terminating signal.
    pub stop_signal: Option<i32>,
    /// From the first signal to the end, ms.
    pub stop_elapsed_ms: u64,
    /// The restart came up healthy.
    pub healthy: bool,
    /// Why it did not, if so.
    pub start_error: Option<String>,
    /// The whole cycle, ms.
    pub cycle_ms: u64,
}

/// VAL11-13: the kill under the CLI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CliRestart {
    /// The plan rolled back.
    pub plan: String,
    /// Its create's status (`None`: no answer).
    pub create_status: Option<u16>,
    /// The audit window's start (RFC 3339).
    pub start_time: String,
    /// Bytes of the CLI's request queued in the server's socket before the kill
    /// (`None`: the socket table could not be read).
    pub request_queued_bytes: Option<u64>,
    /// The signal that ended the control-plane.
    pub kill_signal: Option<i32>,
    /// The cut call's exit code.
    pub cut_exit_code: Option<i32>,
    /// The retry's exit code.
    pub retry_exit_code: Option<i32>,
}

/// The derived texts of every record present.
pub fn derived_files(f: &Files) -> Vec<DerivedFile> {
    let mut out = Vec::new();
    if let Ok(w) = f.json::<StuckWait>(STUCK_WAIT) {
        out.push(DerivedFile {
            path: STUCK_WAIT_TEXT.into(),
            text: format!(
                "threshold_s={} wait_max_s={} polls={} waited_ms={} newest_id={} newest_updated_at={} age_s={} fresh_id={} fresh_sent_at={} scan_answered_at={}\n",
                w.threshold_s,
                w.wait_max_s,
                w.polls,
                w.waited_ms,
                opt(&w.newest_id),
                opt(&w.newest_updated_at),
                opt(&w.age_s.map(|a| format!("{a:.3}"))),
                escape(&w.fresh_id),
                escape(&w.fresh_sent_at),
                escape(&w.scan_answered_at),
            ),
        });
    }
    if let Ok(cycles) = f.jsonl::<RestartCycle>(RAPID_RESTARTS) {
        let text = cycles
            .iter()
            .map(|c| {
                format!(
                    "cycle={} stop_graceful={} stop_exit_code={} stop_signal={} stop_elapsed_ms={} healthy={} start_error={} cycle_ms={}\n",
                    c.cycle,
                    c.stop_graceful,
                    opt(&c.stop_exit_code),
                    opt(&c.stop_signal),
                    c.stop_elapsed_ms,
                    c.healthy,
                    opt(&c.start_error.as_ref().map(|e| format!("{e:?}"))),
                    c.cycle_ms
                )
            })
            .collect();
        out.push(DerivedFile {
            path: RAPID_RESTART_TEXT.into(),
            text,
        });
    }
    if let Ok(c) = f.json::<CliRestart>(CLI_RESTART) {
        out.push(DerivedFile {
            path: CLI_RESTART_TEXT.into(),
            text: format!(
                "plan={} create_status={} start_time={} request_queued_bytes={} kill_signal={} cut_exit_code={} retry_exit_code={}\n",
                escape(&c.plan),
                c.create_status.map_or_else(|| "000".into(), |s| s.to_string()),
                escape(&c.start_time),
                opt(&c.request_queued_bytes),
                opt(&c.kill_signal),
                opt(&c.cut_exit_code),
                opt(&c.retry_exit_code),
            ),
        });
    }
    out
}
