//! VAL12's derived files: each round's `recovery.txt`, `list-walk.txt`, (in the
//! rounds that kept their listing) `plans-listed.txt`, `plans-created.txt`,
//! `create-times.txt` and `round-summary.json`, written by the round from its raw
//! records (`recovery.jsonl`, `list-pages.jsonl`, `creates.jsonl`, `round.json`), and
//! the soak's `daily/`, `checkpoints/` and `final-report.{json,txt}`
//! ([`soak_report`](super::soak_report)); `evidence verify` re-derives each with the
//! same functions.

use crate::check::Report;
use crate::plans::{DerivedFile, Files, Missing, RunRef};
use crate::records::{self, ListPage, RecoveryCall};

use super::round_records::{self, CreateRecord};
use super::soak_report::SoakView;

/// A round's derived recovery file.
pub const RECOVERY_TEXT: &str = "recovery.txt";
/// A round's derived list-walk file.
pub const LIST_TEXT: &str = "list-walk.txt";
/// A round's derived listed IDs (only in the rounds the X1 claim is judged at).
pub const LISTED_TEXT: &str = "plans-listed.txt";

/// The derived files of every round that holds raw records.
pub fn derived(run: &RunRef<'_>, report: &Report) -> Result<Vec<DerivedFile>, Missing> {
    let f = Files::new(run.dir);
    let mut out = Vec::new();
    for r in super::rounds(run.dir) {
        let creates = format!("{}/{}", r.rel, round_records::CREATE_RECORDS);
        if f.exists(&creates) {
            let c: Vec<CreateRecord> = f.jsonl(&creates)?;
            out.push(DerivedFile {
                path: format!("{}/{}", r.rel, round_records::CREATED_TEXT),
                text: round_records::created_text(&c),
            });
            out.push(DerivedFile {
                path: format!("{}/{}", r.rel, round_records::TIMES_TEXT),
                text: round_records::times_text(&c),
            });
        }
        let rec = format!("{}/{}", r.rel, super::RECOVERY_RECORDS);
        if f.exists(&rec) {
            let calls: Vec<RecoveryCall> = f.jsonl(&rec)?;
            out.push(DerivedFile {
                path: format!("{}/{RECOVERY_TEXT}", r.rel),
                text: records::recovery_text(&calls),
            });
        }
        let list = format!("{}/{}", r.rel, super::LIST_RECORDS);
        if f.exists(&list) {
            let pages: Vec<ListPage> = f.jsonl(&list)?;
            out.push(DerivedFile {
                path: format!("{}/{LIST_TEXT}", r.rel),
                text: records::list_walk_text(&pages),
            });
            let listed = format!("{}/{LISTED_TEXT}", r.rel);
            if f.exists(&listed) {
                out.push(DerivedFile {
                    path: listed,
                    text: listed_text(&pages),
                });
            }
        }
    }
    // A directory without the soak's settings is no soak (the judge says so); it has
    // no report files to re-derive.
    if f.exists("config.env") {
        let view = SoakView::read(run.dir)?;
        out.extend(super::soak_report::derived(&view, report)?);
    }
    Ok(out)
}

/// `plans-listed.txt`: every ID the walk returned, one per line ([`records::id_text`]).
pub fn listed_text(pages: &[ListPage]) -> String {
    records::all_ids(pages)
        .map(|id| records::id_text(id) + "\n")
        .collect()
}
