//! The panic guard: a control-plane whose log shows `panicked at` fails the test that
//! drove it, even when every assertion passed (as apache/iggy's server handle does).
//! A panic in a detached task leaves the server up and healthy, so nothing but its
//! log would ever tell.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

/// What Rust's default panic hook prints (`thread '…' panicked at file:line:col:`).
pub const PANIC_MARKER: &str = "panicked at";
/// Lines of log shown from the first panic on.
const EXCERPT_LINES: usize = 12;

/// The length of `log` now: where the part written by a new handle starts.
pub fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// The panics the log shows from byte `from` on: their count and an excerpt from the
/// first one; `None` when there is none (or the log cannot be read).
pub fn panic_excerpt(log: &Path, from: u64) -> Option<(usize, String)> {
    let mut f = std::fs::File::open(log).ok()?;
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let count = lines.iter().filter(|l| l.contains(PANIC_MARKER)).count();
    let first = lines.iter().position(|l| l.contains(PANIC_MARKER))?;
    let excerpt = lines[first..lines.len().min(first + EXCERPT_LINES)].join("\n");
    Some((count, excerpt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_panic_after_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("cp.log");
        let old = "thread 'main' panicked at old.rs:1:1:\nearlier handle\n";
        std::fs::write(&log, old).unwrap();
        let from = log_len(&log);
        assert_eq!(
            panic_excerpt(&log, from),
            None,
            "the old panic is not this handle's"
        );
        let new = "listening\nthread 'tokio-runtime-worker' panicked at src/api.rs:9:5:\nboom\n\
                   thread 'x' panicked at src/api.rs:9:5:\n";
        std::fs::write(&log, format!("{old}{new}")).unwrap();
        let (count, excerpt) = panic_excerpt(&log, from).unwrap();
        assert_eq!(count, 2);
        assert!(excerpt.starts_with("thread 'tokio-runtime-worker' panicked at src/api.rs"));
        assert!(excerpt.contains("boom"), "{excerpt}");
        assert_eq!(panic_excerpt(&dir.path().join("none.log"), 0), None);
    }
}
