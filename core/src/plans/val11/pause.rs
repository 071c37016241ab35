//! VAL11-12's raw records and the text derived from them.
//!
//! The pause scenario leaves JSON Lines of strict structs: the calls of each phase
//! (`pause/{before,during,after}.jsonl`, one [`OpRecord`] per call), the list walk after
//! the pause (`pause/list.jsonl`, one [`ListPage`] per page), and one [`PauseRecord`]
//! (`pause/pause.json`): the client timeout, when the process was stopped and
//! continued, and the binding of each of the four files. `val11-pause.txt`, which a
//! person reads, is derived from the pause record and re-derived by `evidence verify`.

use serde::{Deserialize, Serialize};

use super::kill_rounds::{bound, consistent, Binding, OpRecord};
use crate::plans::{DerivedFile, Files, Missing};
use crate::records::ListPage;

/// The pause record.
pub const PAUSE_RECORD: &str = "pause/pause.json";
/// The derived summary of the pause.
pub const PAUSE_TEXT: &str = "val11-pause.txt";
/// The list walk after the pause.
pub const LIST_FILE: &str = "pause/list.jsonl";
/// The phases of the scenario, in order.
pub const PHASES: [&str; 3] = ["before", "during", "after"];

/// `pause/<phase>.jsonl`.
pub fn ops_file(phase: &str) -> String {
    format!("pause/{phase}.jsonl")
}

/// The pause itself, and what it binds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseRecord {
    /// The client timeout of the calls sent while paused, ms.
    pub client_timeout_ms: u64,
    /// The client timeout of the calls after SIGCONT, ms.
    pub after_timeout_ms: u64,
    /// When SIGSTOP was sent (RFC 3339, the harness's clock).
    pub paused_at: String,
    /// When SIGCONT was sent.
    pub resumed_at: String,
    /// The process paused.
    pub pid: Option<u32>,
    /// `pause/before.jsonl`.
    pub before: Binding,
    /// `pause/during.jsonl`.
    pub during: Binding,
    /// `pause/after.jsonl`.
    pub after: Binding,
    /// `pause/list.jsonl`.
    pub list: Binding,
}

impl PauseRecord {
    /// The binding of `phase`'s file.
    fn binding(&self, phase: &str) -> &Binding {
        match phase {
            "before" => &self.before,
            "during" => &self.during,
            _ => &self.after,
        }
    }
}

/// The pause's records, each as the pause record binds it.
pub struct PauseRun {
    /// The pause record.
    pub pause: PauseRecord,
    /// Calls before the pause.
    pub before: Vec<OpRecord>,
    /// Calls while paused.
    pub during: Vec<OpRecord>,
    /// Calls after SIGCONT.
    pub after: Vec<OpRecord>,
    /// The list walk after the pause.
    pub pages: Vec<ListPage>,
}

/// Reads the pause record and every file it binds.
pub fn read(f: &Files) -> Result<PauseRun, Missing> {
    let pause: PauseRecord = f.json(PAUSE_RECORD)?;
    let ops = |phase: &str| {
        let rel = ops_file(phase);
        consistent(&rel, bound(f, &rel, pause.binding(phase), PAUSE_RECORD)?)
    };
    Ok(PauseRun {
        before: ops("before")?,
        during: ops("during")?,
        after: ops("after")?,
        pages: bound(f, LIST_FILE, &pause.list, PAUSE_RECORD)?,
        pause,
    })
}

/// The text of `val11-pause.txt`.
pub fn text(p: &PauseRecord) -> String {
    format!(
        "client_timeout_ms={} after_timeout_ms={} paused_at={} resumed_at={} pid={}\n",
        p.client_timeout_ms,
        p.after_timeout_ms,
        crate::escape::escape(&p.paused_at),
        crate::escape::escape(&p.resumed_at),
        p.pid.map_or_else(|| "none".to_string(), |p| p.to_string())
    )
}

/// `val11-pause.txt`, when the pause record can be read (else the judge fails
/// VAL11-12 with the reason).
pub fn derived_files(f: &Files) -> Vec<DerivedFile> {
    f.json::<PauseRecord>(PAUSE_RECORD)
        .map(|p| DerivedFile {
            path: PAUSE_TEXT.to_string(),
            text: text(&p),
        })
        .into_iter()
        .collect()
}
