//! Test-only fault injection (contract §10), parsed once from `AUTONOMY_FAULTS`.

use thiserror::Error;

use crate::envlist;

/// The environment variable that names the active faults.
pub const FAULTS_ENV: &str = "AUTONOMY_FAULTS";

/// A fault list that could not be parsed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FaultError {
    /// The name is not one of contract §10.
    #[error("unknown fault {0:?} in {FAULTS_ENV}")]
    Unknown(String),
    /// The fault needs `=N` with N a positive integer.
    #[error("fault {0:?} needs a positive integer value (`{0}=N`)")]
    NeedsValue(String),
    /// The value is not a positive integer.
    #[error("fault {name:?} has an invalid value {value:?}: expected a positive integer")]
    BadValue {
        /// The fault name.
        name: String,
        /// The value as written.
        value: String,
    },
    /// The fault needs `=PREFIX` with a non-empty plan-ID prefix.
    #[error("fault {0:?} needs a plan-ID prefix value (`{0}=PREFIX`)")]
    NeedsPrefix(String),
    /// A flag-only fault was given a value.
    #[error("fault {0:?} takes no value")]
    TakesNoValue(String),
}

/// Every fault of contract §10; `None`/`false` means the fault is off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every Nth create answers 500 and stores nothing.
    pub create_5xx_every: Option<u64>,
    /// Each create waits N ms after its commit before answering.
    pub create_delay_ms: Option<u64>,
    /// Limits `create_delay_ms` to creates whose plan ID starts with this prefix.
    pub create_delay_prefix: Option<String>,
    /// Creates whose plan ID starts with this prefix answer 500 and store nothing.
    pub create_5xx_prefix: Option<String>,
    /// Creates serialise on one lock and wait MS × creates in flight.
    pub contention_penalty_ms: Option<u64>,
    /// Creates answer 201 at once and commit MS later.
    pub ack_before_commit_ms: Option<u64>,
    /// At start, the newest plan is deleted.
    pub lose_writes_on_restart: bool,
    /// At start, every plan's phase becomes `active`.
    pub phase_reset_on_restart: bool,
    /// The second page's `next_cursor` skips the third page.
    pub list_skip_page: bool,
    /// Every page after the first starts with the previous page's last plan.
    pub list_duplicate: bool,
    /// Stuck entries have an empty diagnosis.
    pub stuck_no_diagnosis: bool,
    /// The stuck scan answers 500.
    pub stuck_scan_error: bool,
    /// The stuck scan ignores `limit`: the older name of the variant of the same name,
    /// kept because labs written before variants existed inject it as a fault.
    pub stuck_ignore_limit: bool,
    /// The stuck scan lists every non-terminal plan, however fresh.
    pub stuck_ignore_threshold: bool,
    /// Creates whose artifact scheme is not oci/https/http/file answer 400.
    pub reject_corrupt_artifact: bool,
    /// `strategy=rollback` answers 500.
    pub rollback_fails: bool,
    /// `strategy=retry` answers 500.
    pub retry_fails: bool,
    /// No `rollback.executed` events are written.
    pub audit_drop: bool,
    /// `audit query` ignores `--actor`.
    pub audit_ignore_actor: bool,
    /// `audit query` ignores `--start-time` and `--end-time`.
    pub audit_ignore_window: bool,
    /// Once the store holds more than N plans, each create waits (plans − N) ms after commit.
    pub create_latency_growth: Option<u64>,
    /// After each commit that created plans, all but the newest N plans are deleted.
    pub evict_oldest: Option<u64>,
    /// `cp_http_requests_total` is exported but never counts up.
    pub requests_counter_frozen: bool,
    /// `cp_http_requests_total` is left out of `/metrics`.
    pub metrics_missing: bool,
    /// `/v1/health` answers 503.
    pub health_fail: bool,
    /// The CLI exits 0 silently when it cannot connect.
    pub cli_exit_zero_on_connection_error: bool,
    /// The CLI reports a failed connect only as `disconnected`, with no connection word.
    pub cli_disconnected_wording: bool,
    /// Once the process has received SIGCONT (after a SIGSTOP), creates answer 503.
    pub writes_fail_after_sigcont: bool,
    /// Each `/v1/health` answers as usual but panics a background task: a server that
    /// looks healthy with a panic in its log, for the harness's panic guard.
    pub panic_on_health: bool,
    /// An identical replay of a stored create answers 409 instead of 200.
    pub replay_conflict: bool,
    /// An identical replay of a stored create answers 201 and writes the creation again
    /// (new `created_at`, a second `rollout.created` event).
    pub replay_rewrites: bool,
    /// Every 4xx answer's body is plain text, not the contract's JSON error shape.
    pub error_plain_text: bool,
    /// The store runs with `synchronous=OFF` and the audit log is never fsynced: writes
    /// survive a process kill (the page cache) but not a power loss.
    pub no_fsync: bool,
    /// A batch whose commit or audit write failed (full disk, failed fsync) is
    /// acknowledged anyway.
    pub ack_on_write_error: bool,
    /// `rollback execute` sends nothing, prints text shaped like the harness's own
    /// records on stdout and stderr, and exits 6.
    pub cli_forged_output: bool,
    /// The first page's `next_cursor` carries a forged page line and control
    /// characters; that cursor answers an empty last page.
    pub list_cursor_forged: bool,
    /// Each page's last plan is left out and its ID appended, after a newline, to the
    /// ID of the plan before it.
    pub list_id_newline: bool,
    /// Each page's last plan is listed with U+3000 (ideographic space) after its ID.
    pub list_id_trailing_space: bool,
    /// Every page after the first answers 503 with a body shaped like an empty last page.
    pub list_page_503: bool,
    /// Creates are stored and answer 201 with a body that is not JSON.
    pub create_201_not_json: bool,
    /// Creates are stored and answer 201 with a JSON plan naming another ID.
    pub create_201_wrong_id: bool,
}

/// Parses a positive integer fault value.
fn positive(name: &str, value: &str) -> Result<u64, FaultError> {
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(FaultError::BadValue {
            name: name.to_owned(),
            value: value.to_owned(),
        }),
    }
}

impl Faults {
    /// Reads `AUTONOMY_FAULTS`; unset or empty means no fault.
    pub fn from_env() -> Result<Self, FaultError> {
        envlist::from_env(FAULTS_ENV, Self::parse)
    }

    /// Parses a comma-separated list of `name` or `name=value`.
    pub fn parse(spec: &str) -> Result<Self, FaultError> {
        let mut f = Self::default();
        for (name, value) in envlist::items(spec) {
            let required = |v: Option<&str>| -> Result<u64, FaultError> {
                let v = v.ok_or_else(|| FaultError::NeedsValue(name.to_owned()))?;
                positive(name, v)
            };
            let optional = |v: Option<&str>, default: u64| -> Result<u64, FaultError> {
                v.map_or(Ok(default), |v| positive(name, v))
            };
            let flag = |v: Option<&str>| -> Result<bool, FaultError> {
                match v {
                    None => Ok(true),
                    Some(_) => Err(FaultError::TakesNoValue(name.to_owned())),
                }
            };
            match name {
                "create-5xx-every" => f.create_5xx_every = Some(required(value)?),
                "create-delay-ms" => f.create_delay_ms = Some(required(value)?),
                "create-delay-prefix" => match value.filter(|v| !v.is_empty()) {
                    Some(v) => f.create_delay_prefix = Some(v.to_owned()),
                    None => return Err(FaultError::NeedsPrefix(name.to_owned())),
                },
                "create-5xx-prefix" => match value.filter(|v| !v.is_empty()) {
                    Some(v) => f.create_5xx_prefix = Some(v.to_owned()),
                    None => return Err(FaultError::NeedsPrefix(name.to_owned())),
                },
                "contention-penalty" => f.contention_penalty_ms = Some(optional(value, 1)?),
                "ack-before-commit" => f.ack_before_commit_ms = Some(optional(value, 600_000)?),
                "lose-writes-on-restart" => f.lose_writes_on_restart = flag(value)?,
                "phase-reset-on-restart" => f.phase_reset_on_restart = flag(value)?,
                "list-skip-page" => f.list_skip_page = flag(value)?,
                "list-duplicate" => f.list_duplicate = flag(value)?,
                "stuck-no-diagnosis" => f.stuck_no_diagnosis = flag(value)?,
                "stuck-scan-error" => f.stuck_scan_error = flag(value)?,
                "stuck-ignore-limit" => f.stuck_ignore_limit = flag(value)?,
                "stuck-ignore-threshold" => f.stuck_ignore_threshold = flag(value)?,
                "reject-corrupt-artifact" => f.reject_corrupt_artifact = flag(value)?,
                "rollback-fails" => f.rollback_fails = flag(value)?,
                "retry-fails" => f.retry_fails = flag(value)?,
                "audit-drop" => f.audit_drop = flag(value)?,
                "audit-ignore-actor" => f.audit_ignore_actor = flag(value)?,
                "audit-ignore-window" => f.audit_ignore_window = flag(value)?,
                "create-latency-growth" => f.create_latency_growth = Some(required(value)?),
                "evict-oldest" => f.evict_oldest = Some(required(value)?),
                "requests-counter-frozen" => f.requests_counter_frozen = flag(value)?,
                "metrics-missing" => f.metrics_missing = flag(value)?,
                "health-fail" => f.health_fail = flag(value)?,
                "cli-exit-zero-on-connection-error" => {
                    f.cli_exit_zero_on_connection_error = flag(value)?
                }
                "writes-fail-after-sigcont" => f.writes_fail_after_sigcont = flag(value)?,
                "cli-disconnected-wording" => f.cli_disconnected_wording = flag(value)?,
                "panic-on-health" => f.panic_on_health = flag(value)?,
                "replay-conflict" => f.replay_conflict = flag(value)?,
                "replay-rewrites" => f.replay_rewrites = flag(value)?,
                "error-plain-text" => f.error_plain_text = flag(value)?,
                "no-fsync" => f.no_fsync = flag(value)?,
                "ack-on-write-error" => f.ack_on_write_error = flag(value)?,
                "cli-forged-output" => f.cli_forged_output = flag(value)?,
                "list-cursor-forged" => f.list_cursor_forged = flag(value)?,
                "list-id-newline" => f.list_id_newline = flag(value)?,
                "list-id-trailing-space" => f.list_id_trailing_space = flag(value)?,
                "list-page-503" => f.list_page_503 = flag(value)?,
                "create-201-not-json" => f.create_201_not_json = flag(value)?,
                "create-201-wrong-id" => f.create_201_wrong_id = flag(value)?,
                other => return Err(FaultError::Unknown(other.to_owned())),
            }
        }
        Ok(f)
    }

    /// True when no fault is active.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values_flags_and_defaults() {
        let f = Faults::parse(
            "create-5xx-every=7, metrics-missing,contention-penalty,ack-before-commit=50",
        )
        .unwrap();
        assert_eq!(f.create_5xx_every, Some(7));
        assert!(f.metrics_missing);
        assert_eq!(f.contention_penalty_ms, Some(1));
        assert_eq!(f.ack_before_commit_ms, Some(50));
        assert!(!f.health_fail);
        assert!(Faults::parse("").unwrap().is_empty());
        let f = Faults::parse("create-delay-ms=6100,create-delay-prefix=val08-n100-").unwrap();
        assert_eq!(f.create_delay_ms, Some(6100));
        assert_eq!(f.create_delay_prefix.as_deref(), Some("val08-n100-"));
    }

    #[test]
    fn parses_the_faults_for_negative_suite_checks() {
        let f = Faults::parse(
            "stuck-ignore-threshold,audit-ignore-actor,audit-ignore-window,\
             create-latency-growth=200,evict-oldest=50,requests-counter-frozen",
        )
        .unwrap();
        assert!(f.stuck_ignore_threshold && f.audit_ignore_actor && f.audit_ignore_window);
        assert_eq!(f.create_latency_growth, Some(200));
        assert_eq!(f.evict_oldest, Some(50));
        assert!(f.requests_counter_frozen);
        let f = Faults::parse("replay-conflict,replay-rewrites").unwrap();
        assert!(f.replay_conflict && f.replay_rewrites);
        let f = Faults::parse("no-fsync,ack-on-write-error").unwrap();
        assert!(f.no_fsync && f.ack_on_write_error);
        let f = Faults::parse(
            "cli-forged-output,list-cursor-forged,list-id-newline,list-id-trailing-space,\
             list-page-503,create-201-not-json,create-201-wrong-id",
        )
        .unwrap();
        assert!(f.cli_forged_output && f.list_cursor_forged && f.list_id_newline);
        assert!(f.list_id_trailing_space && f.list_page_503);
        assert!(f.create_201_not_json && f.create_201_wrong_id);
        for spec in ["create-latency-growth", "evict-oldest"] {
            assert_eq!(
                Faults::parse(spec),
                Err(FaultError::NeedsValue(spec.into()))
            );
        }
        assert!(matches!(
            Faults::parse("evict-oldest=0"),
            Err(FaultError::BadValue { .. })
        ));
        assert!(matches!(
            Faults::parse("audit-ignore-actor=1"),
            Err(FaultError::TakesNoValue(_))
        ));
    }

    #[test]
    fn rejects_unknown_and_bad_values() {
        assert_eq!(
            Faults::parse("no-such-fault"),
            Err(FaultError::Unknown("no-such-fault".into()))
        );
        assert!(matches!(
            Faults::parse("create-5xx-every"),
            Err(FaultError::NeedsValue(_))
        ));
        for spec in [
            "create-5xx-prefix",
            "create-5xx-prefix=",
            "create-delay-prefix",
            "create-delay-prefix=",
        ] {
            let e = Faults::parse(spec).unwrap_err();
            let name = spec.trim_end_matches('=');
            assert_eq!(e, FaultError::NeedsPrefix(name.into()));
            assert!(e.to_string().contains("prefix"), "{e}");
            assert!(!e.to_string().contains("integer"), "{e}");
        }
        assert!(matches!(
            Faults::parse("create-5xx-every=0"),
            Err(FaultError::BadValue { .. })
        ));
        assert!(Faults::parse("panic-on-health").unwrap().panic_on_health);
        assert!(matches!(
            Faults::parse("health-fail=1"),
            Err(FaultError::TakesNoValue(_))
        ));
    }
}
