//! The control-plane's own request counter against what a round recorded it asked.
//! When the scrape labels `cp_http_requests_total` by `method` and `code` (the
//! contract does not require those labels: without them nothing is checked), the
//! increase of POST answers outside 2xx between the previous round's scrape and this
//! one's (each the last step of its round, so the difference is this round's requests)
//! must be covered by the creates the round recorded as not answered 2xx; the soak's
//! first round counts from 0 (the control-plane was just started, and `soak setup`
//! only asked for health). A round that restarted the control-plane (its counters
//! start over), follows a missing round, or had a recovery call fail (a CLI may retry
//! a POST) is not checked.

use super::round_records::CreateRecord;
use super::{recovery_succeeded, Round, RECOVERY_RECORDS};
use crate::plans::{Files, Missing};
use crate::prom::Scrape;
use crate::records::RecoveryCall;

/// The counter read.
const COUNTER: &str = "cp_http_requests_total";
/// A round's scrape.
const SCRAPE: &str = "metrics-scrape.prom";

/// POST answers outside 2xx in `s` (`None` when the counter is not labelled by method
/// and code: no `code="201"` POST sample, which every create the soak made answered).
fn post_errors(s: &Scrape) -> Option<f64> {
    let post = [("method", "POST")];
    s.sum_where(COUNTER, &[("method", "POST"), ("code", "201")])
        .ok()?;
    let total = s.sum_where(COUNTER, &post).ok()?;
    let ok: f64 = (200..300)
        .map(|c| c.to_string())
        .filter_map(|c| {
            s.sum_where(COUNTER, &[("method", "POST"), ("code", c.as_str())])
                .ok()
        })
        .sum();
    Some(total - ok)
}

/// Whether round `r`'s creates `creates` cover its scrape's increase of POST answers
/// outside 2xx (see the module); an uncovered increase makes the creates unreadable.
pub(super) fn post_errors_covered(
    f: &Files,
    r: &Round,
    creates: &[CreateRecord],
) -> Result<(), Missing> {
    let Some(rec) = &r.record else {
        return Ok(());
    };
    // The soak's first round follows `soak setup`, which only asked for health: the
    // counters rose from 0 at the control-plane's start.
    let first = r.prev_rel.is_none() && rec.round == 1;
    if rec.restarted || (r.prev_rel.is_none() && !first) {
        return Ok(());
    }
    let calls: Vec<RecoveryCall> = f
        .jsonl(&format!("{}/{RECOVERY_RECORDS}", r.rel))
        .unwrap_or_default();
    if calls.iter().any(|c| !recovery_succeeded(&c.call)) {
        return Ok(());
    }
    let read = |rel: &str| {
        f.prom(&format!("{rel}/{SCRAPE}"))
            .ok()
            .and_then(|s| post_errors(&s))
    };
    let (before, since) = match &r.prev_rel {
        Some(prev) => (read(prev), "the previous round's scrape"),
        None => (read(&r.rel).map(|_| 0.0), "the control-plane's start (0)"),
    };
    let (Some(before), Some(now)) = (before, read(&r.rel)) else {
        return Ok(());
    };
    let recorded = creates
        .iter()
        .filter(|c| !c.status.is_some_and(|s| (200..300).contains(&s)))
        .count() as f64;
    let increase = now - before;
    if increase > recorded {
        return Err(Missing::Absent(format!(
            "{}/{SCRAPE}: the control-plane counted {increase} more POST answers outside 2xx than {since}, the round's records show {recorded} (creates.jsonl)",
            r.rel
        )));
    }
    Ok(())
}
