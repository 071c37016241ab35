//! VAL08's raw create records: `scenario-n{N}-requests.jsonl` (and the ramp's
//! `ramp-n{N}-requests.jsonl`), one [`CreateRecord`] per create the driver sent. They
//! are the only record of the creates the judges read: the plan's worker files
//! (`scenario-n{N}/worker-{w}.txt`) are derived from them ([`worker_files`]) and
//! re-derived by `evidence verify`, so an edited worker line is a mismatch and an
//! edited record changes the verdict.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{worker_file_in, worker_file_text, WorkerLine};
use crate::load_result::{ErrorCause, Outcome};
use crate::plans::{DerivedFile, Files, Missing};

/// The records file of the scenario directory `dir`: beside it, as
/// `<dir>-requests.jsonl` (the directory holds the plan's files and nothing else).
pub fn requests_file(dir: &str) -> String {
    format!("{dir}-requests.jsonl")
}

/// One create as the driver recorded it. Strict: an unknown field, a missing one or
/// a value of the wrong type (a `cause` that is not one of [`ErrorCause`]'s names)
/// makes the file unreadable, and the tier is not judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRecord {
    /// Plan ID sent.
    pub id: String,
    /// Worker number, 1-based.
    pub worker: usize,
    /// The create's number within its worker, 1-based.
    pub index: usize,
    /// Outcome class as the driver saw it.
    pub outcome: Outcome,
    /// HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// Send → answer, µs.
    pub latency_us: u64,
    /// Send offset from the scenario's start, µs.
    pub start_offset_us: u64,
    /// Answer offset from the scenario's start, µs.
    pub end_offset_us: u64,
    /// Error text (transport error, API error, or why the body was not read as the
    /// created plan), when any.
    pub error: Option<String>,
    /// Class of the error, when any.
    pub cause: Option<ErrorCause>,
    /// The request's deadline (connect included), ms.
    pub deadline_ms: Option<u64>,
}

impl CreateRecord {
    /// Why the record contradicts itself (`None` when it does not): outcome `ok`
    /// exactly when a 2xx answered, and a cause for every record that is not ok or
    /// carries an error, and a latency equal to its own answer offset minus its send
    /// offset (the driver derives it from the two, same clock, no rounding of its
    /// own). The driver writes them so; a record that breaks this was not written by
    /// it.
    pub fn inconsistency(&self) -> Option<String> {
        if self.end_offset_us.checked_sub(self.start_offset_us) != Some(self.latency_us) {
            return Some(format!(
                "latency_us {} but its offsets span {} (start {}, end {})",
                self.latency_us,
                self.end_offset_us as i128 - self.start_offset_us as i128,
                self.start_offset_us,
                self.end_offset_us
            ));
        }
        let success = self.status.is_some_and(|s| (200..300).contains(&s));
        if (self.outcome == Outcome::Ok) != success {
            return Some(format!(
                "outcome {} with status {}",
                self.outcome.as_str(),
                self.status.map_or_else(|| "none".into(), |s| s.to_string())
            ));
        }
        if self.cause.is_none() && (self.outcome != Outcome::Ok || self.error.is_some()) {
            return Some(format!(
                "outcome {} with an error and no cause",
                self.outcome.as_str()
            ));
        }
        None
    }

    /// An ok create: answered 201 with nothing gone wrong. The driver decodes the
    /// body and checks that it names the plan sent; a body that is not JSON, or that
    /// names another plan, is recorded with cause `malformed_body` and its error, so
    /// "no error and no cause" is "a well-formed body naming its ID".
    pub fn answered_201_cleanly(&self) -> bool {
        self.outcome == Outcome::Ok
            && self.status == Some(201)
            && self.error.is_none()
            && self.cause.is_none()
    }

    /// The record as a line of the plan's worker file.
    pub fn worker_line(&self) -> WorkerLine {
        WorkerLine {
            id: self.id.clone(),
            status: self.status,
            latency_us: self.latency_us,
            outcome: self.outcome.as_str().to_string(),
            send_offset_us: self.start_offset_us,
            answer_offset_us: self.end_offset_us,
            error: self.error.clone(),
        }
    }
}

/// The create records of the scenario directory `dir`, in file order; unreadable
/// (absent, not strictly one record per line, or a record contradicting itself) is
/// [`Missing`].
pub fn read(f: &Files, dir: &str) -> Result<Vec<CreateRecord>, Missing> {
    let rel = requests_file(dir);
    let records: Vec<CreateRecord> = f.jsonl(&rel)?;
    if let Some((i, why)) = records
        .iter()
        .enumerate()
        .find_map(|(i, r)| r.inconsistency().map(|w| (i, w)))
    {
        return Err(Missing::Absent(format!("{rel}: record {}: {why}", i + 1)));
    }
    Ok(records)
}

/// The records grouped by worker, each worker's in file order.
pub fn by_worker(records: &[CreateRecord]) -> BTreeMap<usize, Vec<&CreateRecord>> {
    let mut out: BTreeMap<usize, Vec<&CreateRecord>> = BTreeMap::new();
    for r in records {
        out.entry(r.worker).or_default().push(r);
    }
    out
}

/// The plan's worker files of an `n`-worker scenario in `dir`, derived from its
/// records: one per worker 1..=n (a worker without records gets its header only).
pub fn worker_files(f: &Files, dir: &str, n: usize) -> Result<Vec<DerivedFile>, Missing> {
    let records = read(f, dir)?;
    let by = by_worker(&records);
    Ok((1..=n)
        .map(|w| {
            let lines: Vec<WorkerLine> = by
                .get(&w)
                .map(|rs| rs.iter().map(|r| r.worker_line()).collect())
                .unwrap_or_default();
            DerivedFile {
                path: worker_file_in(dir, w),
                text: worker_file_text(n, w, &lines),
            }
        })
        .collect())
}

/// The text of a records file: one record per line.
pub fn to_jsonl(records: &[CreateRecord]) -> String {
    crate::records::to_jsonl(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(id: &str) -> CreateRecord {
        CreateRecord {
            id: id.into(),
            worker: 1,
            index: 1,
            outcome: Outcome::Ok,
            status: Some(201),
            latency_us: 10,
            start_offset_us: 0,
            end_offset_us: 10,
            error: None,
            cause: None,
            deadline_ms: Some(35_000),
        }
    }

    #[test]
    fn a_record_is_strict_and_consistent() {
        let line = serde_json::to_string(&ok("a")).unwrap();
        let back: CreateRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, ok("a"));
        assert!(back.answered_201_cleanly());
        for bad in [
            line.replacen('{', "{\"extra\":{\"y\":2},", 1),
            line.replace("\"cause\":null", "\"cause\":{\"x\":1}"),
            line.replace("\"cause\":null", "\"cause\":\"gremlins\""),
        ] {
            assert!(serde_json::from_str::<CreateRecord>(&bad).is_err(), "{bad}");
        }
        let mut r = ok("a");
        r.status = Some(500);
        assert!(r.inconsistency().is_some(), "ok with a 500");
        r.outcome = Outcome::Failed;
        assert!(r.inconsistency().is_some(), "failed without a cause");
        r.cause = Some(ErrorCause::Status);
        assert_eq!(r.inconsistency(), None);
        assert!(!r.answered_201_cleanly());
        let mut r = ok("a");
        r.error = Some("decoding the 201 body: EOF".into());
        assert!(r.inconsistency().is_some(), "an error without a cause");
        r.cause = Some(ErrorCause::MalformedBody);
        assert_eq!(r.inconsistency(), None);
        assert!(!r.answered_201_cleanly(), "a malformed body is not ok");
        let mut r = ok("a");
        r.latency_us = 9;
        assert!(
            r.inconsistency().is_some(),
            "latency below its offsets' span"
        );
        r.latency_us = 11;
        assert!(
            r.inconsistency().is_some(),
            "latency above its offsets' span"
        );
        r.end_offset_us = 0;
        r.latency_us = 0;
        r.start_offset_us = 5;
        assert!(r.inconsistency().is_some(), "answered before it was sent");
    }
}
