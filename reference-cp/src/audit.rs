//! The audit log (contract §6): JSON Lines, one file per UTC day, fsynced before an answer.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// RFC 3339 time of the event.
    pub ts: String,
    /// `rollout.created` or `rollback.executed`.
    pub event_type: String,
    /// Who caused it.
    pub actor: String,
    /// The plan ID.
    pub resource: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Rollback strategy, `null` for creates.
    pub strategy: Option<String>,
    /// Rollback reason, `null` for creates.
    pub reason: Option<String>,
}

/// The file that holds one UTC day's events.
pub fn day_file(dir: &Path, day: NaiveDate) -> PathBuf {
    dir.join(format!("audit-{}.jsonl", day.format("%Y-%m-%d")))
}

/// Appends events to the current day file; owned by the store's writer thread.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    open: Option<(NaiveDate, File)>,
    fsync: bool,
}

impl AuditLog {
    /// Creates the directory if needed; files are opened on first write.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            open: None,
            fsync: true,
        })
    }

    /// Never fsyncs (fault `no-fsync`): events survive a process kill, not a power loss.
    pub fn without_fsync(mut self) -> Self {
        self.fsync = false;
        self
    }

    /// Writes `events` as one append and fsyncs it; returns once they are durable.
    pub fn append_durable(&mut self, events: &[AuditEvent], now: DateTime<Utc>) -> io::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let day = now.date_naive();
        if self.open.as_ref().map(|(d, _)| *d) != Some(day) {
            let path = day_file(&self.dir, day);
            let created = !path.exists();
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            if created && self.fsync {
                // A new directory entry is durable only once the directory itself is synced.
                File::open(&self.dir)?.sync_all()?;
            }
            self.open = Some((day, file));
        }
        let mut buf = Vec::with_capacity(events.len() * 192);
        for e in events {
            serde_json::to_writer(&mut buf, e).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        let (_, file) = self.open.as_mut().expect("opened above");
        let len_before = file.metadata()?.len();
        let written =
            file.write_all(&buf)
                .and_then(|()| if self.fsync { file.sync_data() } else { Ok(()) });
        if written.is_err() {
            // A full disk can leave half a line behind, and the next append would glue
            // an acknowledged event onto it, unreadable: cut the file back to the last
            // whole line, and reopen it on the next write.
            let _ = file.set_len(len_before);
            self.open = None;
        }
        written
    }
}

/// Filters for `autonomy audit query`.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Exact event type.
    pub event_type: Option<String>,
    /// Exact actor.
    pub actor: Option<String>,
    /// Inclusive lower bound.
    pub start: Option<DateTime<Utc>>,
    /// Inclusive upper bound.
    pub end: Option<DateTime<Utc>>,
}

/// Day files in `dir`, oldest first.
fn day_files(dir: &Path) -> io::Result<Vec<(NaiveDate, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(date) = name
            .strip_prefix("audit-")
            .and_then(|n| n.strip_suffix(".jsonl"))
        else {
            continue;
        };
        if let Ok(day) = NaiveDate::parse_from_str(date, "%Y-%m-%d") {
            out.push((day, path));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every event in `dir` matching `q`, oldest first; returns them and the count of unreadable lines.
pub fn query(dir: &Path, q: &Query) -> io::Result<(Vec<AuditEvent>, usize)> {
    let mut events = Vec::new();
    let mut bad = 0;
    for (_, path) in day_files(dir)? {
        for line in BufReader::new(File::open(&path)?).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            // A torn last line (crash mid-append of an unacknowledged event) is skipped, not fatal.
            let Ok(event) = serde_json::from_str::<AuditEvent>(&line) else {
                bad += 1;
                continue;
            };
            if q.event_type
                .as_deref()
                .is_some_and(|t| t != event.event_type)
                || q.actor.as_deref().is_some_and(|a| a != event.actor)
            {
                continue;
            }
            if q.start.is_some() || q.end.is_some() {
                let Ok(ts) = DateTime::parse_from_rfc3339(&event.ts) else {
                    bad += 1;
                    continue;
                };
                let ts = ts.with_timezone(&Utc);
                if q.start.is_some_and(|s| ts < s) || q.end.is_some_and(|e| ts > e) {
                    continue;
                }
            }
            events.push(event);
        }
    }
    events.sort_by(|a, b| a.ts.cmp(&b.ts));
    Ok((events, bad))
}

/// Parses an age such as `31d` or `12h`.
pub fn parse_age(s: &str) -> Result<Duration, String> {
    let err = || format!("invalid age {s:?}: expected Nd or Nh, e.g. 31d");
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| err())?;
    if n < 0 {
        return Err(err());
    }
    match unit {
        "d" => Duration::try_days(n).ok_or_else(err),
        "h" => Duration::try_hours(n).ok_or_else(err),
        _ => Err(err()),
    }
}

/// Deletes day files whose whole day ended before `now - age`; returns how many.
pub fn prune(dir: &Path, age: Duration, now: DateTime<Utc>) -> io::Result<usize> {
    let cutoff = now - age;
    let mut removed = 0;
    for (day, path) in day_files(dir)? {
        let day_end = (day + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc();
        if day_end <= cutoff {
            fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event at `ts` of `event_type` by `actor`.
    fn ev(ts: &str, event_type: &str, actor: &str) -> AuditEvent {
        AuditEvent {
            ts: ts.into(),
            event_type: event_type.into(),
            actor: actor.into(),
            resource: "p".into(),
            outcome: "success".into(),
            strategy: None,
            reason: None,
        }
    }

    #[test]
    fn append_query_prune() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(dir.path()).unwrap();
        let old: DateTime<Utc> = "2020-01-01T10:00:00Z".parse().unwrap();
        let now: DateTime<Utc> = "2020-03-01T10:00:00Z".parse().unwrap();
        log.append_durable(
            &[ev("2020-01-01T10:00:00.000000Z", "rollout.created", "a")],
            old,
        )
        .unwrap();
        log.append_durable(
            &[
                ev("2020-03-01T10:00:00.000000Z", "rollback.executed", "a"),
                ev("2020-03-01T10:00:01.000000Z", "rollback.executed", "b"),
            ],
            now,
        )
        .unwrap();
        let q = Query {
            event_type: Some("rollback.executed".into()),
            actor: Some("b".into()),
            ..Query::default()
        };
        let (found, bad) = query(dir.path(), &q).unwrap();
        assert_eq!((found.len(), bad), (1, 0));
        let q = Query {
            start: Some("2020-02-01T00:00:00Z".parse().unwrap()),
            ..Query::default()
        };
        assert_eq!(query(dir.path(), &q).unwrap().0.len(), 2);
        assert_eq!(
            prune(dir.path(), parse_age("31d").unwrap(), now).unwrap(),
            1
        );
        assert_eq!(query(dir.path(), &Query::default()).unwrap().0.len(), 2);
        assert!(parse_age("31x").is_err() && parse_age("d").is_err());
    }
}
