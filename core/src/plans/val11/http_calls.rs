//! VAL11's single HTTP calls, the inventory creates and the audit fixtures as typed
//! raw records, and the plan's text files derived from them.
//!
//! A call is the strict [`OpRecord`] (status, latency, outcome, error, the body as a
//! JSON string): `<name>.http.json` for a single call, `val11-plans-created.jsonl` for
//! the inventory's creates. The audit fixtures are [`AuditFixture`] records in
//! `val11-audit-fixtures.jsonl`. The plan's files (`val11-health.txt`,
//! `val11-plans-created.txt`, …) are derived from these with the control-plane's text
//! escaped, and re-derived by `evidence verify`; the judge reads only the records.

use serde::{Deserialize, Serialize};

use super::kill_rounds::OpRecord;
use crate::escape::escape;
use crate::plans::{DerivedFile, Files, Missing};
use crate::records::id_text;

/// The plan's files of single HTTP calls (each derived from its record).
pub const HTTP_CALLS: &[&str] = &[
    "val11-health.txt",
    "val11-corrupt-plan-create.txt",
    "val11-post-chaos-create.txt",
    "val11-stuck-fresh-create.txt",
];
/// The inventory's creates, in order (derived).
pub const PLANS_CREATED: &str = "val11-plans-created.txt";
/// Their records: one [`OpRecord`] per create.
pub const PLANS_CREATED_RECORDS: &str = "val11-plans-created.jsonl";
/// The audit fixtures (derived).
pub const AUDIT_FIXTURES: &str = "val11-audit-fixtures.txt";
/// Their records: one [`AuditFixture`] per fixture.
pub const AUDIT_FIXTURE_RECORDS: &str = "val11-audit-fixtures.jsonl";

/// The record of the plan's file `txt`: `<name>.txt` → `<name>.http.json`.
pub fn record_file(txt: &str) -> String {
    format!("{}.http.json", txt.strip_suffix(".txt").unwrap_or(txt))
}

/// The call recorded for the plan's file `txt`.
/// A record that contradicts itself ([`OpRecord::inconsistency`]) is unreadable.
pub fn call(f: &Files, txt: &str) -> Result<OpRecord, Missing> {
    let rel = record_file(txt);
    let op: OpRecord = f.json(&rel)?;
    match op.inconsistency() {
        Some(why) => Err(Missing::Absent(format!(
            "{rel}: contradicts itself ({why})"
        ))),
        None => Ok(op),
    }
}

/// The inventory's creates ([`PLANS_CREATED_RECORDS`]), each consistent.
pub fn plans_created(f: &Files) -> Result<Vec<OpRecord>, Missing> {
    super::kill_rounds::consistent(PLANS_CREATED_RECORDS, f.jsonl(PLANS_CREATED_RECORDS)?)
}

/// A plan VAL11-10's filters must exclude, made over HTTP before the session's CLI calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFixture {
    /// Which exclusion it shows (`before-window`, `other-actor`).
    pub fixture: String,
    /// The plan.
    pub id: String,
    /// The actor of its rollback.
    pub actor: String,
    /// The create's status (`None`: no answer).
    pub create_status: Option<u16>,
    /// The rollback's status (`None`: no answer).
    pub rollback_status: Option<u16>,
    /// When the rollback was answered (RFC 3339, the harness's clock).
    pub answered_at: String,
}

/// A status as curl prints it (`000`: no answer).
fn code(s: Option<u16>) -> String {
    s.map_or_else(|| "000".to_string(), |s| s.to_string())
}

/// A call's request line: `METHOD path status=.. latency_us=.. outcome=..` and the
/// error, if any, as a quoted, escaped string.
pub fn line(op: &OpRecord) -> String {
    let mut s = format!(
        "{} {} status={} latency_us={} outcome={}",
        escape(&op.method),
        escape(&op.path),
        code(op.status),
        op.latency_us,
        op.outcome.as_str()
    );
    if let Some(e) = &op.error {
        s.push_str(&format!(" error={}", escape(&format!("{e:?}"))));
    }
    s
}

/// A single call as the plan's text: its line, then `body=` and the body on one line
/// (every control character escaped).
pub fn text(op: &OpRecord) -> String {
    format!("{}\nbody={}\n", line(op), escape(&op.text))
}

/// The derived plan files of every record present (an absent record derives nothing;
/// the judge then fails the check that needs it).
pub fn derived_files(f: &Files) -> Vec<DerivedFile> {
    let mut out: Vec<DerivedFile> = HTTP_CALLS
        .iter()
        .filter_map(|txt| {
            call(f, txt).ok().map(|op| DerivedFile {
                path: txt.to_string(),
                text: text(&op),
            })
        })
        .collect();
    if let Ok(ops) = plans_created(f) {
        let text = ops
            .iter()
            .map(|o| {
                let id = o.id.as_deref().map_or_else(|| "none".into(), id_text);
                format!("id={} {}\n", escape(&id), line(o))
            })
            .collect();
        out.push(DerivedFile {
            path: PLANS_CREATED.to_string(),
            text,
        });
    }
    if let Ok(fx) = f.jsonl::<AuditFixture>(AUDIT_FIXTURE_RECORDS) {
        let text = fx
            .iter()
            .map(|x| {
                format!(
                    "fixture={} id={} actor={} create_status={} rollback_status={} answered_at={}\n",
                    escape(&id_text(&x.fixture)),
                    escape(&id_text(&x.id)),
                    escape(&id_text(&x.actor)),
                    code(x.create_status),
                    code(x.rollback_status),
                    escape(&id_text(&x.answered_at))
                )
            })
            .collect();
        out.push(DerivedFile {
            path: AUDIT_FIXTURES.to_string(),
            text,
        });
    }
    out
}
