//! VAL11's CLI calls as typed raw records, and the plan's transcripts derived from them.
//!
//! Each `autonomy` call the suite makes is written once, as the strict [`CliRun`]
//! (argv, exit code, signal, stdout and stderr as JSON strings, duration, timeout)
//! in `<name>.cli.json`. The transcript under the plan's name (`<name>.txt`) is
//! derived from it with every line of output escaped, and re-derived by `evidence
//! verify`; the judge reads only the record, so no CLI output can pass for a field.
//! VAL11-02's stop before its call is the typed [`KillStop`] (`val11-kill-stop.json`),
//! shown as the header of `val11-kill-client-error.txt`.

use serde::{Deserialize, Serialize};

use crate::escape::escape;
use crate::plans::{DerivedFile, Files, Missing};
use crate::records::id_text;
use crate::wire::CliRun;

/// The plan's transcripts of the suite's CLI calls (each derived from its record).
pub const CLI_CALLS: &[&str] = &[
    KILL_CLIENT_ERROR,
    "val11-execute-rollback-corrupt.txt",
    "cascade/execute-retry-dev-1.txt",
    "cascade/execute-retry-dev-2.txt",
    "cascade/execute-retry-dev-3.txt",
    "val11-audit-query.txt",
    "val11-audit-all-query.txt",
    "cli-restart/execute-killed.txt",
    "cli-restart/execute-retry.txt",
    "cli-restart/audit-query.txt",
    "network/ack-lost/audit-query.txt",
    super::storage::POWER_CUTS_AUDIT_QUERY,
];

/// VAL11-02's transcript, headed by the stop before the call.
pub const KILL_CLIENT_ERROR: &str = "val11-kill-client-error.txt";
/// VAL11-02's stop record.
pub const KILL_STOP: &str = "val11-kill-stop.json";

/// The record of transcript `txt`: `<name>.txt` → `<name>.cli.json`.
pub fn record_file(txt: &str) -> String {
    format!("{}.cli.json", txt.strip_suffix(".txt").unwrap_or(txt))
}

/// How the control-plane was stopped before VAL11-02's call, and whether it was
/// reaped before the call started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillStop {
    /// The process was reaped before the CLI started.
    pub cp_reaped: bool,
    /// It exited after SIGTERM within the grace period.
    pub stop_graceful: bool,
    /// Its exit code, when it exited normally.
    pub stop_exit_code: Option<i32>,
    /// Its terminating signal, when it died of one.
    pub stop_signal: Option<i32>,
    /// From the first signal to the end, ms.
    pub stop_elapsed_ms: u64,
}

impl KillStop {
    /// The header line of the derived transcript.
    pub fn line(&self) -> String {
        let opt = |v: Option<i32>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
        format!(
            "cp_reaped={} stop_graceful={} stop_exit_code={} stop_signal={} stop_elapsed_ms={}\n",
            self.cp_reaped,
            self.stop_graceful,
            opt(self.stop_exit_code),
            opt(self.stop_signal),
            self.stop_elapsed_ms
        )
    }
}

/// The call recorded for transcript `txt`.
pub fn call(f: &Files, txt: &str) -> Result<CliRun, Missing> {
    f.json(&record_file(txt))
}

/// A call as a transcript a person reads: the command line, exit code, signal,
/// duration, then stdout and stderr with every line escaped, so a line of output
/// cannot pass for a field or another section.
pub fn transcript(c: &CliRun) -> String {
    let mut c = c.clone();
    c.stdout = escape(&c.stdout).into_owned();
    c.stderr = escape(&c.stderr).into_owned();
    c.args = c.args.iter().map(|a| id_text(a)).collect();
    c.spawn_error = c.spawn_error.map(|e| escape(&e).into_owned());
    c.to_evidence()
}

/// Every transcript whose record is readable (a call not made has none; the judge
/// fails or reports NOT_RUN for it).
pub fn derived_files(f: &Files) -> Vec<DerivedFile> {
    CLI_CALLS
        .iter()
        .filter_map(|txt| {
            let c = call(f, txt).ok()?;
            let header = if *txt == KILL_CLIENT_ERROR {
                f.json::<KillStop>(KILL_STOP).ok()?.line()
            } else {
                String::new()
            };
            Some(DerivedFile {
                path: txt.to_string(),
                text: header + &transcript(&c),
            })
        })
        .collect()
}
