//! VAL11 page: the writes' fate (lost / duplicate / unknown) in every kill, pause,
//! network and storage round first, then the control-plane's lifecycle (starts, kills,
//! graceful stops, the pause, the CLI restart), the client outcomes around each SIGKILL
//! of the kill rounds, and the calls made before, during and after the pause.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use maud::{html, Markup};

use crate::check::{Report, Status};
use crate::html_blocks::chart::{self, Lane, LineChart, Marker, Series, BAD, GREY, OK, WARN};
use crate::html_blocks::{link, table, Chart, KeyCell, KeyTable, Section};
use crate::plans::val11::kill_rounds::{self, OpRecord};
use crate::plans::val11::observations::{Durability, KillRounds, Pause};
use crate::plans::val11::{lab_notes, pause};
use crate::plans::{Files, Page};
use crate::wire::HarnessNote;

/// The page of a run.
pub const PAGE: Page = Page {
    key_figures,
    sections,
    charts: CHARTS,
};

/// Charts of a VAL11 run.
pub const CHARTS: &[&str] = &["val11-lifecycle", "val11-kill-rounds", "val11-pause"];

/// The harness's typed events of the control-plane's life (never the raw log, whose
/// control-plane output could forge a marker line).
const CP_EVENTS: &str = "val11-cp-events.jsonl";
/// Width of a bin of the kill-round chart, ms.
const BIN_MS: f64 = 10.0;

/// The harness's events of the control-plane: time and text, from the typed record;
/// an unreadable record gives no events (the chart then says so rather than guess).
fn log_events(f: &Files) -> Vec<(DateTime<FixedOffset>, String)> {
    let Ok(notes) = f.jsonl::<HarnessNote>(CP_EVENTS) else {
        return Vec::new();
    };
    notes
        .into_iter()
        .filter_map(|n| Some((DateTime::parse_from_rfc3339(&n.at).ok()?, n.note)))
        .collect()
}

/// Seconds from `t0` to `t`.
fn secs(t0: &DateTime<FixedOffset>, t: &DateTime<FixedOffset>) -> f64 {
    (*t - *t0).num_microseconds().unwrap_or(0) as f64 / 1e6
}

/// The lifecycle timeline.
fn lifecycle(f: &Files) -> Result<Markup, String> {
    let events = log_events(f);
    let Some(t0) = events.first().map(|e| e.0) else {
        return Err(format!("{CP_EVENTS}: no harness events"));
    };
    let mut up = Lane {
        label: "control-plane".into(),
        spans: Vec::new(),
        ticks: Vec::new(),
    };
    let mut up_since: Option<f64> = None;
    let (mut kills, mut stops, mut starts) = (0, 0, 0);
    for (t, note) in &events {
        let x = secs(&t0, t);
        if note.starts_with("start #") {
            starts += 1;
            up.ticks.push((x, chart::PALETTE[0]));
        } else if note.starts_with("healthy") {
            up_since = Some(x);
        } else if note.starts_with("SIGKILL") || note.starts_with("stopped") {
            if let Some(s) = up_since.take() {
                up.spans.push((s, x, OK));
            }
            if note.starts_with("SIGKILL") {
                kills += 1;
                up.ticks.push((x, BAD));
            } else {
                stops += 1;
                up.ticks.push((x, GREY));
            }
        }
    }
    if let (Some(s), Some((t, _))) = (up_since, events.last()) {
        up.spans.push((s, secs(&t0, t), OK));
    }
    let mut lanes = vec![up];
    let pause = f.json::<pause::PauseRecord>(pause::PAUSE_RECORD).ok();
    let at = |t: Option<&String>| {
        t.and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .map(|t| secs(&t0, &t))
    };
    let (paused, resumed) = (
        at(pause.as_ref().map(|p| &p.paused_at)),
        at(pause.as_ref().map(|p| &p.resumed_at)),
    );
    if let (Some(p), Some(r)) = (paused, resumed) {
        lanes.push(Lane {
            label: "SIGSTOP pause".into(),
            spans: vec![(p, r, WARN)],
            ticks: vec![],
        });
    }
    let cli = f
        .json::<lab_notes::CliRestart>(lab_notes::CLI_RESTART)
        .ok()
        .and_then(|c| DateTime::parse_from_rfc3339(&c.start_time).ok());
    if let Some(t) = cli {
        lanes.push(Lane {
            label: "CLI call cut by a kill".into(),
            spans: vec![],
            ticks: vec![(secs(&t0, &t), chart::PALETTE[3])],
        });
    }
    // VAL11-14..17: the fault proxies' switch records (`network/*/faults.jsonl`).
    for (label, spans) in crate::plans::val11::network::fault_spans(f) {
        let at = |t: &str| DateTime::parse_from_rfc3339(t).ok().map(|t| secs(&t0, &t));
        let spans = spans
            .iter()
            .filter_map(|(a, b)| Some((at(a)?, at(b)?, BAD)));
        lanes.push(Lane {
            label,
            spans: spans.collect(),
            ticks: vec![],
        });
    }
    chart::timeline(
        &format!(
            "Control-plane lifecycle: {starts} starts, {kills} SIGKILLs, {stops} graceful stops"
        ),
        &format!("seconds since the first start ({})", t0.to_rfc3339()),
        &lanes,
    )
}

/// One kill round's raw figures.
struct KillRound {
    round: usize,
    killed_after_us: Option<u64>,
    counts: BTreeMap<&'static str, usize>,
    ops: Vec<OpRecord>,
}

/// Every kill round whose records are readable, as its kill record binds them.
fn kill_rounds(f: &Files) -> Vec<KillRound> {
    let Ok((_, kills)) = kill_rounds::kills(f) else {
        return Vec::new();
    };
    kills
        .iter()
        .filter_map(|k| {
            let (ops, _) = kill_rounds::round_files(f, k).ok()?;
            let mut counts = BTreeMap::new();
            for op in &ops {
                *counts.entry(op.fate().as_str()).or_default() += 1;
            }
            Some(KillRound {
                round: k.round,
                killed_after_us: Some(k.killed_after_us),
                counts,
                ops,
            })
        })
        .collect()
}

/// Calls started per bin around the kill, per outcome, all rounds aligned on their kill.
fn kill_chart(rounds: &[KillRound]) -> Result<Markup, String> {
    let mut bins: BTreeMap<(&'static str, i64), f64> = BTreeMap::new();
    let mut any = false;
    for r in rounds {
        let Some(k) = r.killed_after_us else { continue };
        for op in &r.ops {
            any = true;
            let rel_ms = (op.start_offset_us as f64 - k as f64) / 1000.0;
            *bins
                .entry((op.fate().as_str(), (rel_ms / BIN_MS).floor() as i64))
                .or_default() += 1.0;
        }
    }
    if !any {
        return Err("no kill round with both its operations and its kill time".into());
    }
    let (lo, hi) = bins.keys().fold((i64::MAX, i64::MIN), |(lo, hi), (_, b)| {
        (lo.min(*b), hi.max(*b))
    });
    let series = [("ok", OK), ("failed", BAD), ("indeterminate", WARN)]
        .into_iter()
        .map(|(name, color)| Series {
            label: name.to_string(),
            color,
            points: (lo..=hi)
                .map(|b| {
                    (
                        b as f64 * BIN_MS,
                        bins.get(&(name, b)).copied().unwrap_or(0.0),
                    )
                })
                .collect(),
            dots: false,
        })
        .collect();
    LineChart {
        title: format!(
            "Client outcomes around the SIGKILL ({} rounds, aligned on the kill)",
            rounds.len()
        ),
        x_desc: format!("ms from the kill (calls started per {BIN_MS} ms)"),
        y_desc: "calls started".into(),
        series,
        vlines: vec![Marker {
            at: 0.0,
            label: "SIGKILL".into(),
            color: BAD,
        }],
        y_from_zero: true,
        ..LineChart::default()
    }
    .svg()
}

/// The pause scenario: latency of each call by the time it was sent.
fn pause_chart(f: &Files) -> Result<Markup, String> {
    let mut by: BTreeMap<&'static str, Vec<(f64, f64)>> = BTreeMap::new();
    let mut during_span: Option<(f64, f64)> = None;
    let mut any = false;
    let run = pause::read(f).map_err(|e| e.to_string())?;
    for (phase, ops) in [
        ("before", &run.before),
        ("during", &run.during),
        ("after", &run.after),
    ] {
        for op in ops {
            any = true;
            let x = op.start_offset_us as f64 / 1e6;
            by.entry(op.fate().as_str())
                .or_default()
                .push((x, op.latency_us as f64 / 1000.0));
            if phase == "during" {
                let end = x + op.latency_us as f64 / 1e6;
                during_span = Some(match during_span {
                    None => (x, end),
                    Some((a, b)) => (a.min(x), b.max(end)),
                });
            }
        }
    }
    if !any {
        return Err("pause/*.jsonl: no recorded call".into());
    }
    let timeout_ms = Some(run.pause.client_timeout_ms);
    let series = [("ok", OK), ("failed", BAD), ("indeterminate", WARN)]
        .into_iter()
        .filter_map(|(name, color)| {
            by.remove(name).map(|mut points| {
                points.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
                Series {
                    label: name.to_string(),
                    color,
                    points,
                    dots: true,
                }
            })
        })
        .collect();
    LineChart {
        title: "Calls before, during and after the SIGSTOP pause".into(),
        x_desc: "seconds since the scenario's first call (send time)".into(),
        y_desc: "latency, ms".into(),
        series,
        hlines: timeout_ms
            .map(|t| Marker {
                at: t as f64,
                label: format!("client timeout {t} ms"),
                color: chart::GREY,
            })
            .into_iter()
            .collect(),
        bands: during_span
            .map(|(a, b)| chart::Band {
                from: a,
                to: b,
                label: "calls sent while paused".into(),
                color: WARN,
            })
            .into_iter()
            .collect(),
        y_from_zero: true,
        ..LineChart::default()
    }
    .svg()
}

/// Sections of a VAL11 run.
pub fn sections(f: &Files) -> Vec<Section> {
    let rounds = kill_rounds(f);
    let rows: Vec<Vec<Markup>> = rounds
        .iter()
        .map(|r| {
            let n = |k: &str| r.counts.get(k).copied().unwrap_or(0);
            vec![
                html! { (r.round) },
                html! { (r.killed_after_us.map(|k| format!("{:.1}", k as f64 / 1000.0)).unwrap_or_else(|| "absent".into())) },
                html! { (r.ops.len()) },
                html! { (n("ok")) },
                html! { (n("failed")) },
                html! { (n("indeterminate")) },
                html! {
                    (link(&kill_rounds::ops_file(r.round))) " "
                    (link(&kill_rounds::list_file(r.round))) " "
                    (link(&kill_rounds::kill_text_file(r.round)))
                },
            ]
        })
        .collect();
    let legend = chart::legend_html(&[
        ("up (healthy until stopped)", OK),
        ("start", chart::PALETTE[0]),
        ("SIGKILL", BAD),
        ("SIGTERM stop", GREY),
        ("SIGSTOP pause", WARN),
        ("CLI call cut by a kill", chart::PALETTE[3]),
        ("network fault active (fault proxy)", BAD),
    ]);
    vec![Section {
        title: "Chaos timeline".into(),
        intro: html! {
            p {
                "From the harness's typed events in " (link(CP_EVENTS)) ", " (link(pause::PAUSE_RECORD)) ", "
                (link(lab_notes::CLI_RESTART)) " and the per-operation records of the kill rounds and the pause. "
                "Outcomes follow Jepsen: ok (2xx), failed (definitely not applied), indeterminate (may have been applied). "
                "Whether each acknowledged write survived is in the key figures and the checks (VAL11-03, -04, -11, -12)."
            }
        },
        charts: vec![
            Chart {
                id: CHARTS[0],
                caption: "Each lane is one kind of event; green spans are the control-plane up (healthy until stopped or killed).".into(),
                svg: lifecycle(f).map(|svg| html! { (svg) (legend) }),
            },
            Chart { id: CHARTS[1], caption: "Creates started per 10 ms bin, by outcome, summed over the kill rounds with each round's SIGKILL at 0.".into(), svg: kill_chart(&rounds) },
            Chart { id: CHARTS[2], caption: "Every call of the pause scenario: send time and latency, by outcome; the shaded band spans the calls sent while the process was stopped.".into(), svg: pause_chart(f) },
        ],
        after: table(&["kill round", "killed after ms", "creates", "ok", "failed", "indeterminate", "raw files"], &rows),
    }]
}

/// A count that a check records either as a number or as the list it counts.
#[derive(Clone, Copy, Debug, Default)]
struct Count(Option<usize>);

impl<'de> serde::Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(Count(match v {
            serde_json::Value::Number(n) => n.as_u64().map(|n| n as usize),
            serde_json::Value::Array(a) => Some(a.len()),
            _ => None,
        }))
    }
}

/// The write-ledger figures of a network or storage check (VAL11-14..16 at the top
/// level of the observation, VAL11-18..20 under `ledger`): typed here for the page.
#[derive(Clone, Debug, Default, serde::Deserialize)]
struct LedgerFigures {
    #[serde(default)]
    attempted: Count,
    #[serde(default)]
    acknowledged: Count,
    #[serde(default)]
    lost: Count,
    #[serde(default)]
    duplicates: Count,
    #[serde(default)]
    unknown: Count,
    #[serde(default)]
    unknown_present: Count,
    /// The check measures acknowledged and lost only (VAL11-03): the other columns
    /// are not its figures.
    #[serde(skip)]
    lost_only: bool,
}

/// One row of the writes table: attempted, acknowledged, lost, duplicates, unknown,
/// unknown-present, and the check's status.
fn ledger_row(
    label: String,
    l: &LedgerFigures,
    check: &crate::check::Check,
) -> (String, Vec<KeyCell>) {
    let shown = |c: Count| c.0.map_or("absent".to_string(), |n| n.to_string());
    let zero = |c: Count| KeyCell::judged(shown(c), c.0 == Some(0));
    let other = |c: Count, judged: bool| match (l.lost_only, judged) {
        (true, _) => KeyCell::context("not measured"),
        (false, true) => zero(c),
        (false, false) => KeyCell::context(shown(c)),
    };
    (
        label,
        vec![
            other(l.attempted, false),
            KeyCell::context(shown(l.acknowledged)),
            zero(l.lost),
            other(l.duplicates, true),
            other(l.unknown, false),
            other(l.unknown_present, false),
            KeyCell::status(check),
        ],
    )
}

/// The rows of the kill rounds (VAL11-11), from its typed observation.
fn kill_rows(c: &crate::check::Check) -> Vec<(String, Vec<KeyCell>)> {
    let Some(obs) = c
        .observed
        .clone()
        .and_then(|v| serde_json::from_value::<KillRounds>(v).ok())
    else {
        return vec![ledger_row(
            "kill rounds (SIGKILL under load)".into(),
            &LedgerFigures::default(),
            c,
        )];
    };
    obs.per_round
        .iter()
        .map(|r| {
            let l = LedgerFigures {
                attempted: Count(Some(r.attempted)),
                acknowledged: Count(Some(r.acked)),
                lost: Count(Some(r.lost.len())),
                duplicates: Count(Some(r.duplicates.len())),
                unknown: Count(Some(r.indeterminate)),
                unknown_present: Count(Some(r.indeterminate_present)),
                lost_only: false,
            };
            ledger_row(
                format!("kill round {} (SIGKILL at {} ms)", r.round, r.kill_at_ms),
                &l,
                c,
            )
        })
        .collect()
}

/// The row of one check other than the kill rounds, or none for a check it does not
/// cover.
fn check_row(c: &crate::check::Check) -> Option<(String, Vec<KeyCell>)> {
    let v = c.observed.clone().unwrap_or_default();
    let l: LedgerFigures = match c.id.as_str() {
        "VAL11-03" => {
            let d = serde_json::from_value::<Durability>(v).ok();
            LedgerFigures {
                acknowledged: Count(d.as_ref().map(|d| d.acked_pre_kill)),
                lost: Count(d.as_ref().map(|d| d.missing_acked.len())),
                lost_only: true,
                ..LedgerFigures::default()
            }
        }
        "VAL11-12" => {
            let p = serde_json::from_value::<Pause>(v).ok();
            LedgerFigures {
                attempted: Count(
                    p.as_ref()
                        .map(|p| p.before_calls + p.during_calls + p.after_calls),
                ),
                acknowledged: Count(p.as_ref().map(|p| p.acked)),
                lost: Count(p.as_ref().map(|p| p.lost.len())),
                duplicates: Count(p.as_ref().map(|p| p.duplicates.len())),
                unknown: Count(p.as_ref().map(|p| p.indeterminate_creates)),
                unknown_present: Count(p.as_ref().map(|p| p.indeterminate_present)),
                lost_only: false,
            }
        }
        "VAL11-14" | "VAL11-15" | "VAL11-16" => serde_json::from_value(v).unwrap_or_default(),
        "VAL11-18" | "VAL11-19" | "VAL11-20" => {
            serde_json::from_value(v["ledger"].clone()).unwrap_or_default()
        }
        _ => return None,
    };
    let label = match c.id.as_str() {
        "VAL11-03" => "SIGKILL after acknowledged creates",
        "VAL11-12" => "SIGSTOP pause",
        "VAL11-14" => "network partition",
        "VAL11-15" => "answers dropped after commit",
        "VAL11-16" => "added latency",
        "VAL11-18" => "power cuts (unsynced writes discarded)",
        "VAL11-19" => "disk full (ENOSPC)",
        _ => "fsync failure",
    };
    Some(ledger_row(label.into(), &l, c))
}

/// The fate of the writes in every kill, pause, network and storage round, from the
/// checks' typed observations: lost and duplicate must be 0; unknown (no answer) may
/// or may not have been applied, and is shown with how many were found present. A
/// check that did not run in this lab has no row.
pub fn key_figures(_: &Files, report: Option<&Report>) -> Vec<KeyTable> {
    let Some(r) = report else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for c in r.checks.iter().filter(|c| c.status != Status::NotRun) {
        if c.id == "VAL11-11" {
            rows.extend(kill_rows(c));
        } else {
            rows.extend(check_row(c));
        }
    }
    if rows.is_empty() {
        return Vec::new();
    }
    vec![KeyTable {
        title: "Writes through every fault (acknowledged = must survive; unknown = may)".into(),
        row_head: "round".into(),
        columns: vec![
            ("attempted".into(), String::new()),
            ("acknowledged".into(), String::new()),
            ("lost".into(), "= 0".into()),
            ("duplicates".into(), "= 0".into()),
            ("unknown".into(), String::new()),
            ("unknown, present after".into(), String::new()),
            ("check".into(), "passes".into()),
        ],
        rows,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// F10 of the red team: the control-plane's own output, written raw into the log,
    /// prints harness-looking marker lines; the lifecycle counts only the typed events.
    #[test]
    fn lifecycle_counts_typed_events_not_forged_log_lines() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let notes = [
            (
                "2026-01-01T00:00:00.000000Z",
                "start #1 of val11: autonomy serve",
            ),
            ("2026-01-01T00:00:00.100000Z", "healthy after 100 ms"),
            (
                "2026-01-01T00:00:01.000000Z",
                "SIGKILLed by the harness: signal: 9",
            ),
        ];
        let text: String = notes
            .iter()
            .map(|(at, note)| {
                let n = HarnessNote {
                    at: at.to_string(),
                    note: note.to_string(),
                    start: None,
                };
                serde_json::to_string(&n).unwrap() + "\n"
            })
            .collect();
        std::fs::write(d.join(CP_EVENTS), text).unwrap();
        let forged =
            "=== fleetval 2026-01-01T00:00:02.000000Z SIGKILLed by the harness: signal: 9\n\
                      === fleetval 2026-01-01T00:00:02.100000Z start #99 of val11: fake\n";
        std::fs::write(d.join("val11-cp.log"), forged).unwrap();
        let html = lifecycle(&Files::new(d)).unwrap().into_string();
        assert!(html.contains("1 starts, 1 SIGKILLs"), "{html}");
        // Without the typed record the chart says so; it never falls back to the log.
        std::fs::remove_file(d.join(CP_EVENTS)).unwrap();
        assert!(lifecycle(&Files::new(d)).is_err());
    }

    /// A check with `observed`, `status` and `id`.
    fn check(id: &str, status: Status, observed: serde_json::Value) -> crate::check::Check {
        crate::check::Check {
            id: id.into(),
            title: String::new(),
            status,
            observed: Some(observed),
            threshold: String::new(),
            evidence: Vec::new(),
            note: None,
        }
    }

    #[test]
    fn key_figures_give_every_kill_round_its_lost_and_duplicates() {
        let round = |n: usize, lost: &[&str]| {
            serde_json::json!({"round": n, "seed": "s", "kill_at_ms": 100 + n, "attempted": 20, "acked": 15,
                "failed": 1, "indeterminate": 4, "indeterminate_present": 2, "indeterminate_absent": 2,
                "present": 17, "lost": lost, "unexpected": [], "duplicates": [], "ids_attempted_twice": [],
                "sequence_gaps": [], "paging_complete": true, "interrupted": true})
        };
        let obs = serde_json::json!({"acked": 30, "duplicates": 0, "indeterminate": 8, "indeterminate_present": 4,
            "lost": 1, "per_round": [round(1, &[]), round(2, &["p-9"])], "rounds": 2, "rounds_passed": 1, "unexpected": 0});
        let rows = kill_rows(&check("VAL11-11", Status::Fail, obs));
        assert_eq!(rows.len(), 2, "one row per round");
        assert_eq!(rows[0].1[2], KeyCell::judged("0", true));
        assert_eq!(
            rows[1].1[2],
            KeyCell::judged("1", false),
            "the lost write is red"
        );
        assert_eq!(rows[1].1[3], KeyCell::judged("0", true));
        assert_eq!(rows[1].1[4], KeyCell::context("4"), "unknown is context");
        // A storage check's ledger sits under `ledger`; an unreadable one is absent and red.
        let storage = serde_json::json!({"ledger": {"attempted": 9, "acknowledged": 6, "lost": [], "duplicates": [],
            "unknown": 3, "unknown_present": ["a"]}});
        let (_, cells) = check_row(&check("VAL11-19", Status::Pass, storage)).unwrap();
        assert_eq!(cells[0], KeyCell::context("9"));
        assert_eq!(cells[5], KeyCell::context("1"), "a list is counted");
        let (_, cells) =
            check_row(&check("VAL11-18", Status::Fail, serde_json::json!({}))).unwrap();
        assert_eq!(cells[2], KeyCell::judged("absent", false));
        assert!(check_row(&check("VAL11-01", Status::Pass, serde_json::json!({}))).is_none());
    }
}
