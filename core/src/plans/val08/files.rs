//! VAL08's derived files: the plan's summary files, each tier's worker files and the
//! summary half of each scenario report, recomputed from the create records
//! (`scenario-n{N}-requests.jsonl`) by `evidence verify`.

use std::path::Path;

use crate::check::Report;
use crate::plans::{DerivedFile, Files, Missing, RunRef};

/// VAL08: the plan's summary files, and per tier its worker files (from its create
/// records) and the summary part of its scenario report.
pub fn derived(run: &RunRef<'_>, _: &Report) -> Result<Vec<DerivedFile>, Missing> {
    let f = Files::new(run.dir);
    let mut out: Vec<DerivedFile> = Vec::new();
    let batch = super::Config::read(&f)
        .map(|c| c.batch)
        .unwrap_or(super::DEFAULT_BATCH);
    for n in scenario_tiers(run.dir) {
        let dir = super::scenario_dir(n);
        out.extend(super::requests::worker_files(&f, &dir, n)?);
        out.push(DerivedFile {
            path: super::report_file_in(&dir),
            text: scenario_report(&f, &dir, n, batch, super::plan_id)?,
        });
    }
    out.extend(
        super::summaries(run.dir)
            .into_iter()
            .map(|(path, text)| DerivedFile { path, text }),
    );
    Ok(out)
}

/// The tiers N whose `scenario-n{N}/scenario-report.txt` exists, ascending. The
/// report's raw half (the wall-clock) is a measurement, so a tier without one has
/// nothing to derive.
fn scenario_tiers(dir: &Path) -> Vec<usize> {
    let mut tiers: Vec<usize> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n: usize = name.strip_prefix("scenario-n")?.parse().ok()?;
            (super::scenario_dir(n) == name).then_some(n)
        })
        .filter(|n| {
            dir.join(super::report_file_in(&super::scenario_dir(*n)))
                .is_file()
        })
        .collect();
    tiers.sort_unstable();
    tiers
}

/// A scenario report in full: its raw wall-clock lines (rebuilt from the two Unix µs
/// values it records) followed by the tier's summary recomputed from the create
/// records with the judge's code. The lab writes the raw half first, then this.
pub fn scenario_report(
    f: &Files,
    dir: &str,
    n: usize,
    batch: usize,
    id: fn(usize, usize, usize) -> String,
) -> Result<String, Missing> {
    let rel = super::report_file_in(dir);
    let kv = f.kv(&rel)?;
    let wall = match (kv.u64("first_send_unix_us"), kv.u64("last_answer_unix_us")) {
        (Ok(first), Ok(last)) => {
            let wall = last.checked_sub(first).ok_or_else(|| {
                Missing::Absent(format!(
                    "{rel}: last answer {last} before first send {first}"
                ))
            })?;
            (Some(first), Some(wall))
        }
        (Err(_), Err(_)) => (None, None),
        (Err(m), _) | (_, Err(m)) => return Err(m),
    };
    let raw = super::scenario_report_text(wall.0, wall.1);
    let s = super::scenario_in(f, dir, n, batch, id)?;
    Ok(format!("{raw}{}", s.summary_text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_error_text_in_a_scenario_report_cannot_change_its_observations() {
        use crate::load_result::{ErrorCause, Outcome};
        use crate::plans::val08::requests::{requests_file, to_jsonl, CreateRecord};
        use crate::plans::val08::{plan_id, scenario_dir, scenario_in};
        let dir = tempfile::tempdir().unwrap();
        let f = Files::new(dir.path());
        let sdir = scenario_dir(1);
        let injected = "boom last_answer_unix_us=1 first_send_unix_us=0 status=201\nok=500";
        let records: Vec<CreateRecord> = (1..=2)
            .map(|b| CreateRecord {
                id: plan_id(1, 1, b),
                worker: 1,
                index: b,
                outcome: if b == 1 { Outcome::Failed } else { Outcome::Ok },
                status: Some(if b == 1 { 500 } else { 201 }),
                latency_us: 10,
                start_offset_us: 0,
                end_offset_us: 10,
                error: (b == 1).then(|| injected.to_string()),
                cause: (b == 1).then_some(ErrorCause::Status),
                deadline_ms: None,
            })
            .collect();
        std::fs::create_dir_all(dir.path().join(&sdir)).unwrap();
        std::fs::write(dir.path().join(requests_file(&sdir)), to_jsonl(&records)).unwrap();
        let report = dir.path().join(crate::plans::val08::report_file_in(&sdir));
        std::fs::write(
            &report,
            crate::plans::val08::scenario_report_text(Some(1_000_000), Some(2_000)),
        )
        .unwrap();
        let full = scenario_report(&f, &sdir, 1, 2, plan_id).unwrap();
        assert!(
            full.contains("last_answer_unix_us=1 "),
            "the raw text is kept: {full}"
        );
        std::fs::write(&report, &full).unwrap();
        // Read back with the raw text in it: same observations, same bytes.
        let s = scenario_in(&f, &sdir, 1, 2, plan_id).unwrap();
        assert_eq!((s.wall_us, s.ok, s.errors), (Some(2_000), 1, 1));
        assert_eq!(scenario_report(&f, &sdir, 1, 2, plan_id).unwrap(), full);
    }
}
