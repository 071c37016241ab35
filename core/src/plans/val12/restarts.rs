//! The soak's control-plane starts against its rounds: the harness records every start
//! it makes in `cp-events.jsonl` (setup's, then one per round that found the
//! control-plane dead and started it again), and each round's `round.json` says
//! whether it restarted it. `evidence verify` holds the two against each other, so a
//! start added to the events (a restart the rounds hide from VAL12-08) or a restart
//! claimed without its start is refused.

use chrono::{DateTime, Utc};

use super::round_records::RoundRecord;

/// Slack after a round's recorded duration for the clock reads around it, ms.
const SLACK_MS: i64 = 1000;

/// What contradicts: `starts` (each `(where recorded, when)`, in the events' order) must
/// be setup's start and then exactly one start per round whose record says it
/// restarted the control-plane, in round order, each recorded within its round
/// (`real_ts` .. `real_ts + duration_ms`).
pub fn problems(
    starts: &[(String, Option<DateTime<Utc>>)],
    rounds: &[&RoundRecord],
) -> Vec<String> {
    let mut restarted: Vec<&RoundRecord> = rounds.iter().copied().filter(|r| r.restarted).collect();
    restarted.sort_by_key(|r| r.round);
    let mut out = Vec::new();
    if starts.len() != 1 + restarted.len() {
        out.push(format!(
            "cp-events.jsonl: {} control-plane starts recorded, the soak's setup and its rounds' restarts ({}) make {}",
            starts.len(),
            if restarted.is_empty() {
                "none".to_string()
            } else {
                restarted
                    .iter()
                    .map(|r| format!("round {}", r.round))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            1 + restarted.len()
        ));
        return out;
    }
    for ((at_line, at), r) in starts.iter().skip(1).zip(&restarted) {
        let begin = DateTime::parse_from_rfc3339(&r.real_ts)
            .ok()
            .map(|t| t.to_utc());
        let inside = match (at, begin) {
            (Some(at), Some(b)) => {
                *at >= b
                    && *at <= b + chrono::Duration::milliseconds(r.duration_ms as i64 + SLACK_MS)
            }
            _ => false,
        };
        if !inside {
            out.push(format!(
                "{at_line}: a restart recorded at {}, not within round {} (which restarted the control-plane from {} for {} ms)",
                at.map_or("an unreadable time".into(), |t| t.to_rfc3339()),
                r.round,
                r.real_ts,
                r.duration_ms
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(k: u64, restarted: bool) -> RoundRecord {
        RoundRecord {
            round: k,
            real_ts: format!("2026-01-01T00:{:02}:00Z", k * 2),
            duration_ms: 5000,
            restarted,
            ..RoundRecord::default()
        }
    }

    fn at(s: &str) -> (String, Option<DateTime<Utc>>) {
        (
            format!("cp-events.jsonl line {s}"),
            DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc()),
        )
    }

    #[test]
    fn a_start_added_or_removed_or_outside_its_round_is_refused() {
        let rs = [round(1, false), round(2, true), round(3, false)];
        let refs: Vec<&RoundRecord> = rs.iter().collect();
        let setup = at("2026-01-01T00:01:00Z");
        let restart = at("2026-01-01T00:04:02Z");
        assert!(problems(&[setup.clone(), restart.clone()], &refs).is_empty());
        // Red-team A6: a start #2 added mid-soak while no round says it restarted.
        let honest: Vec<&RoundRecord> = refs.iter().copied().filter(|r| r.round != 2).collect();
        let p = problems(&[setup.clone(), at("2026-01-01T00:06:01Z")], &honest);
        assert!(p[0].contains("2 control-plane starts recorded, the soak's setup and its rounds' restarts (none) make 1"), "{p:?}");
        // A restart claimed without its start.
        let p = problems(std::slice::from_ref(&setup), &refs);
        assert!(p[0].contains("(round 2) make 2"), "{p:?}");
        // The start recorded in another round than the one that says it restarted.
        let p = problems(&[setup, at("2026-01-01T00:06:02Z")], &refs);
        assert!(p[0].contains("not within round 2"), "{p:?}");
    }
}
