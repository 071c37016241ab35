//! The control-plane's audit store (`audit-store/*.jsonl`, the soak's
//! `AUTONOMY_AUDIT_DIR`) against the rounds' recovery calls. The plan keeps the audit
//! store as part of the soak directory but its contract does not say what an event
//! holds, so it is used when present and never required: a recovery whose call
//! succeeded while the store records a `rollback.executed` event of that plan with
//! another outcome within the round, or (in a store that records rollback events at
//! all) no successful one, contradicts itself, and the round's recoveries are not read.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::round_records::RoundRecord;
use crate::plans::{Files, Missing};
use crate::records::RecoveryCall;

/// The soak's audit directory.
pub const AUDIT_DIR: &str = "audit-store";
/// The event a recovery call leaves in the audit store.
const ROLLBACK_EVENT: &str = "rollback.executed";
/// Slack after a round's recorded duration (whole ms, counted from before its
/// `real_ts`), ms: small enough that the next round's events stay outside.
const SLACK_MS: i64 = 2;

/// The `rollback.executed` events of the store: per plan, `(time, outcome)`.
#[derive(Debug, Default)]
pub struct Audit {
    by_plan: HashMap<String, Vec<(DateTime<Utc>, String)>>,
    any: bool,
}

impl Audit {
    /// Reads every `*.jsonl` file of the store (`None` when the soak has none); lines
    /// that are not JSON events with a time are skipped.
    pub fn read(f: &Files) -> Option<Audit> {
        let dir = std::fs::read_dir(f.path(AUDIT_DIR)).ok()?;
        let mut a = Audit::default();
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".jsonl") {
                continue;
            }
            let Ok(text) = crate::fileio::read_text(&e.path()) else {
                continue;
            };
            for line in text.lines() {
                let Ok(ev) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
                if ev["event_type"] != ROLLBACK_EVENT {
                    continue;
                }
                let at = ev["ts"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                let (Some(at), Some(plan)) = (at, ev["resource"].as_str()) else {
                    continue;
                };
                a.any = true;
                a.by_plan.entry(plan.to_string()).or_default().push((
                    at.to_utc(),
                    ev["outcome"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        Some(a)
    }

    /// The first contradiction between the successful calls of round `rec` (recorded in
    /// `rel`) and the store's events within the round.
    pub fn contradiction(
        &self,
        rel: &str,
        rec: &RoundRecord,
        calls: &[RecoveryCall],
        succeeded: impl Fn(&RecoveryCall) -> bool,
    ) -> Result<(), Missing> {
        let Some(begin) = DateTime::parse_from_rfc3339(&rec.real_ts)
            .ok()
            .map(|t| t.to_utc())
        else {
            return Ok(());
        };
        let end = begin + chrono::Duration::milliseconds(rec.duration_ms as i64 + SLACK_MS);
        for c in calls.iter().filter(|c| succeeded(c)) {
            let events: Vec<&String> = self
                .by_plan
                .get(&c.plan_id)
                .into_iter()
                .flatten()
                .filter(|(t, _)| *t >= begin && *t <= end)
                .map(|(_, o)| o)
                .collect();
            let id = crate::records::id_text(&c.plan_id);
            if let Some(o) = events.iter().find(|o| o.as_str() != "success") {
                return Err(Missing::Absent(format!(
                    "{rel}: the recovery of plan {id} succeeded by its call, but {AUDIT_DIR}/ records its {ROLLBACK_EVENT} in this round with outcome {o:?}"
                )));
            }
            if self.any && events.is_empty() {
                return Err(Missing::Absent(format!(
                    "{rel}: the recovery of plan {id} succeeded by its call, but {AUDIT_DIR}/ holds no {ROLLBACK_EVENT} of it in this round"
                )));
            }
        }
        Ok(())
    }
}
