//! The write ledger: what every create under a fault was told, judged against a final
//! read after healing (Jepsen's set checker, for plan IDs).
//!
//! Each attempt is recorded as it happened: `ok` (a 2xx was seen), `fail` (a definite
//! 4xx: the control-plane said no) or `unknown` (timeout, reset, refused mid-request,
//! no answer, 5xx: the write may or may not have happened). An ID is as good as its
//! best attempt, so a retry that answered 201 after a lost acknowledgement makes the
//! ID acknowledged. After healing, one complete paged read lists what is stored; then:
//!
//! - an acknowledged ID that is absent is **lost** (always a failure);
//! - an ID listed more than once is a **duplicate** (always a failure);
//! - an ID whose every attempt failed definitely but that is present is **failed but
//!   present**: the control-plane refused the write and stored it anyway;
//! - an unknown ID may be present or absent: both are counted, neither fails.
//!
//! IDs are compared byte for byte; nothing is trimmed or normalised. The ledger is a
//! pure function of its records, so `evidence verify` can re-judge it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// What one write attempt was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteOutcome {
    /// A definite refusal (4xx): the write must not have happened.
    Fail,
    /// No definite answer (timeout, reset, no answer, 5xx): it may have happened.
    Unknown,
    /// Acknowledged (2xx): the write must survive.
    Ok,
}

impl WriteOutcome {
    /// The outcome of an HTTP answer (`None` = no answer at all).
    pub fn from_status(status: Option<u16>) -> WriteOutcome {
        match status {
            Some(s) if (200..300).contains(&s) => WriteOutcome::Ok,
            Some(s) if (400..500).contains(&s) => WriteOutcome::Fail,
            _ => WriteOutcome::Unknown,
        }
    }
}

/// One write attempt, as recorded (one JSON Lines record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    /// The plan ID the attempt wrote.
    pub id: String,
    /// What the attempt was told.
    pub outcome: WriteOutcome,
    /// The HTTP status, when one was answered.
    pub status: Option<u16>,
    /// The transport error or the reason the answer was not usable, verbatim.
    pub error: Option<String>,
    /// When the request was sent, µs from the start of the scenario.
    pub sent_us: u64,
    /// When the answer (or the error) arrived, µs from the start of the scenario.
    pub answered_us: Option<u64>,
}

impl LedgerEntry {
    /// An entry classified from an HTTP status (or its absence).
    pub fn new(
        id: &str,
        status: Option<u16>,
        error: Option<String>,
        sent_us: u64,
        answered_us: Option<u64>,
    ) -> LedgerEntry {
        let outcome = match (&error, status) {
            // A 2xx whose body could not be used (or a transport error after it) is not
            // an acknowledgement the client can rely on.
            (Some(_), Some(s)) if (200..300).contains(&s) => WriteOutcome::Unknown,
            _ => WriteOutcome::from_status(status),
        };
        LedgerEntry {
            id: id.to_string(),
            outcome,
            status,
            error,
            sent_us,
            answered_us,
        }
    }
}

/// The ledger judged against the final read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetVerdict {
    /// Distinct IDs attempted.
    pub attempted: usize,
    /// Distinct IDs with at least one acknowledged attempt.
    pub acknowledged: usize,
    /// Distinct IDs whose best attempt was unknown.
    pub unknown: usize,
    /// Distinct IDs whose every attempt was a definite refusal.
    pub failed: usize,
    /// Acknowledged IDs absent from the final read.
    pub lost: Vec<String>,
    /// IDs listed more than once in the final read.
    pub duplicates: Vec<String>,
    /// IDs refused definitely on every attempt but present in the final read.
    pub failed_but_present: Vec<String>,
    /// Unknown IDs present in the final read (allowed).
    pub unknown_present: Vec<String>,
    /// Unknown IDs absent from the final read (allowed).
    pub unknown_absent: Vec<String>,
}

impl SetVerdict {
    /// Nothing acknowledged was lost, nothing is stored twice, nothing refused was
    /// stored: the only outcomes that fail a ledger.
    pub fn holds(&self) -> bool {
        self.lost.is_empty() && self.duplicates.is_empty() && self.failed_but_present.is_empty()
    }
}

/// The best outcome of each attempted ID.
pub fn best_outcomes(entries: &[LedgerEntry]) -> BTreeMap<&str, WriteOutcome> {
    let mut best: BTreeMap<&str, WriteOutcome> = BTreeMap::new();
    for e in entries {
        let slot = best.entry(e.id.as_str()).or_insert(e.outcome);
        *slot = (*slot).max(e.outcome);
    }
    best
}

/// Judges the ledger against the IDs of a complete final read. Only IDs the ledger
/// attempted are judged: plans written before the faults (or by others) are neither
/// lost nor duplicates of this ledger, except that a duplicate listing of an attempted
/// ID is.
pub fn judge(entries: &[LedgerEntry], final_read: &[String]) -> SetVerdict {
    let best = best_outcomes(entries);
    let mut listed: BTreeMap<&str, usize> = BTreeMap::new();
    for id in final_read {
        *listed.entry(id.as_str()).or_default() += 1;
    }
    let mut v = SetVerdict {
        attempted: best.len(),
        ..SetVerdict::default()
    };
    for (&id, &outcome) in &best {
        let count = listed.get(id).copied().unwrap_or(0);
        if count > 1 {
            v.duplicates.push(id.to_string());
        }
        match (outcome, count > 0) {
            (WriteOutcome::Ok, present) => {
                v.acknowledged += 1;
                if !present {
                    v.lost.push(id.to_string());
                }
            }
            (WriteOutcome::Unknown, present) => {
                v.unknown += 1;
                let to = if present {
                    &mut v.unknown_present
                } else {
                    &mut v.unknown_absent
                };
                to.push(id.to_string());
            }
            (WriteOutcome::Fail, present) => {
                v.failed += 1;
                if present {
                    v.failed_but_present.push(id.to_string());
                }
            }
        }
    }
    v
}

/// IDs present in the final read that no ledger entry attempted, restricted to those
/// starting with `prefix` (the scenario's own namespace): a write nobody made.
pub fn unattempted_in_namespace(
    entries: &[LedgerEntry],
    final_read: &[String],
    prefix: &str,
) -> Vec<String> {
    let attempted: BTreeSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    let mut out: Vec<String> = final_read
        .iter()
        .filter(|id| id.starts_with(prefix) && !attempted.contains(id.as_str()))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, status: Option<u16>, error: Option<&str>) -> LedgerEntry {
        LedgerEntry::new(id, status, error.map(str::to_string), 0, Some(1))
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn classification_by_status() {
        assert_eq!(e("a", Some(201), None).outcome, WriteOutcome::Ok);
        assert_eq!(e("a", Some(200), None).outcome, WriteOutcome::Ok);
        assert_eq!(e("a", Some(409), None).outcome, WriteOutcome::Fail);
        assert_eq!(e("a", Some(503), None).outcome, WriteOutcome::Unknown);
        assert_eq!(
            e("a", None, Some("connection reset")).outcome,
            WriteOutcome::Unknown
        );
        // A 201 with an unusable body is not an acknowledgement.
        assert_eq!(
            e("a", Some(201), Some("malformed body")).outcome,
            WriteOutcome::Unknown
        );
    }

    #[test]
    fn lost_duplicate_and_refused_but_stored_fail() {
        let entries = vec![
            e("ok-lost", Some(201), None),
            e("dup", Some(201), None),
            e("refused", Some(400), None),
        ];
        let v = judge(&entries, &ids(&["dup", "dup", "refused"]));
        assert_eq!(v.lost, ids(&["ok-lost"]));
        assert_eq!(v.duplicates, ids(&["dup"]));
        assert_eq!(v.failed_but_present, ids(&["refused"]));
        assert!(!v.holds());
    }

    #[test]
    fn unknown_may_be_either_and_retry_acknowledges() {
        let entries = vec![
            e("u-present", None, Some("timeout")),
            e("u-absent", Some(500), None),
            e("retried", None, Some("reset")),
            e("retried", Some(200), None),
        ];
        let v = judge(&entries, &ids(&["u-present", "retried", "someone-else"]));
        assert!(v.holds(), "{v:?}");
        assert_eq!((v.attempted, v.acknowledged, v.unknown), (3, 1, 2));
        assert_eq!(v.unknown_present, ids(&["u-present"]));
        assert_eq!(v.unknown_absent, ids(&["u-absent"]));
    }

    #[test]
    fn ids_compare_byte_for_byte() {
        let entries = vec![e("plan-1", Some(201), None)];
        let v = judge(&entries, &ids(&["plan-1 ", "plan-1\u{3000}"]));
        assert_eq!(v.lost, ids(&["plan-1"]));
    }

    #[test]
    fn unattempted_ids_in_namespace_are_named() {
        let entries = vec![e("ns-1", Some(201), None)];
        let got = unattempted_in_namespace(&entries, &ids(&["ns-1", "ns-2", "other-3"]), "ns-");
        assert_eq!(got, ids(&["ns-2"]));
    }

    #[test]
    fn entries_round_trip_as_json_lines() {
        let entry = e("a\nb", Some(201), None);
        let line = serde_json::to_string(&entry).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<LedgerEntry>(&line).unwrap(), entry);
    }
}
