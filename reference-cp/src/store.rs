//! The durable store: SQLite in WAL mode, one writer thread doing group commit, a few readers.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::gauge::Gauge;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use thiserror::Error;
use tokio::sync::{oneshot, Semaphore};

use crate::audit::{AuditEvent, AuditLog};
use crate::model::{rfc3339, Rollout, Strategy};

/// Most write operations committed in one transaction.
pub const MAX_BATCH: usize = 1024;
/// Write operations that may wait for the writer before requests get 503.
pub const QUEUE_CAPACITY: usize = 8192;
/// Read connections (WAL readers) kept open.
const READERS: usize = 4;

/// Schema migrations; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    // v1. `seq` is AUTOINCREMENT so a deleted newest row never has its number reused:
    // a cursor handed out earlier keeps meaning the same position.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
     CREATE TABLE plans (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         id TEXT NOT NULL UNIQUE,
         spec TEXT NOT NULL,
         created_at TEXT NOT NULL,
         phase TEXT NOT NULL,
         attempts INTEGER NOT NULL DEFAULT 0,
         updated_at TEXT NOT NULL,
         updated_us INTEGER NOT NULL
     );
     CREATE INDEX plans_phase_updated ON plans (phase, updated_us);",
];

/// Errors a store operation can answer with.
#[derive(Debug, Error)]
pub enum StoreError {
    /// No plan with that ID.
    #[error("rollout {0:?} not found")]
    NotFound(String),
    /// The request conflicts with the stored state.
    #[error("{0}")]
    Conflict(String),
    /// The write queue is full.
    #[error("the store is overloaded; retry shortly")]
    Overloaded,
    /// An injected fault made the operation fail.
    #[error("{0}")]
    Injected(String),
    /// SQLite or the file system failed.
    #[error("store failure: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Internal(e.to_string())
    }
}

/// The result of a create.
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    /// A new row was stored.
    Created(Rollout),
    /// The same ID and spec were already stored; nothing was written.
    Replayed(Rollout),
}

/// The result of a successful rollback execution.
#[derive(Debug, Clone)]
pub struct RollbackOutcome {
    /// Phase before.
    pub phase_before: String,
    /// Phase after.
    pub phase_after: String,
}

/// A write sent to the writer thread.
enum WriteOp {
    Create {
        id: String,
        spec: Value,
        actor: String,
        reply: oneshot::Sender<Result<CreateOutcome, StoreError>>,
    },
    Rollback {
        id: String,
        strategy: Strategy,
        reason: String,
        actor: String,
        fail: bool,
        reply: oneshot::Sender<Result<RollbackOutcome, StoreError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Start-time options for [`Store::open`].
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Skip `rollback.executed` audit events (fault `audit-drop`).
    pub audit_drop: bool,
    /// Delete the newest plan at start (fault `lose-writes-on-restart`).
    pub lose_newest: bool,
    /// Set every phase to `active` at start (fault `phase-reset-on-restart`).
    pub phase_reset: bool,
    /// Keep only the newest N plans, deleting older ones after each create (fault `evict-oldest`).
    pub evict_beyond: Option<u64>,
    /// An identical replay writes the creation again (fault `replay-rewrites`).
    pub replay_rewrites: bool,
    /// `synchronous=OFF` (fault `no-fsync`; the audit log's half is in [`AuditLog`]).
    pub no_fsync: bool,
    /// Acknowledge a batch whose commit or audit write failed (fault `ack-on-write-error`).
    pub ack_on_write_error: bool,
}

/// The order of the stuck scan's list, which is also the order `limit` cuts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StuckOrder {
    /// Oldest `updated_at` first: the reference's order.
    Staleness,
    /// Creation order (variant `stuck-creation-order`).
    Creation,
}

/// Handle to the store, shared by all requests.
pub struct Store {
    tx: Mutex<Option<SyncSender<WriteOp>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    reader_slots: Semaphore,
    writable: Arc<AtomicBool>,
    secret: Vec<u8>,
    path: PathBuf,
}

/// Opens a connection with the pragmas every connection needs (`synchronous=OFF` only
/// under the fault `no-fsync`).
fn connect(path: &Path, no_fsync: bool) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // Only the writer writes, so a reader waits at most for a checkpoint; never a 5xx for BUSY.
    conn.busy_timeout(Duration::from_secs(10))?;
    let sync = if no_fsync { "OFF" } else { "FULL" };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON;"
    ))?;
    Ok(conn)
}

/// Applies pending migrations.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Internal(format!(
            "store schema version {version} is newer than this binary ({known})"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Reads (or creates once) the cursor MAC secret.
fn cursor_secret(conn: &Connection) -> Result<Vec<u8>, StoreError> {
    let mut fresh = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut fresh))
        .map_err(|e| StoreError::Internal(format!("reading /dev/urandom: {e}")))?;
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('cursor_secret', ?1)",
        params![&fresh[..]],
    )?;
    Ok(conn.query_row(
        "SELECT value FROM meta WHERE key = 'cursor_secret'",
        [],
        |r| r.get(0),
    )?)
}

/// Microseconds since the epoch.
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// Maps a `plans` row (id, spec, created_at, phase, attempts, updated_at) to a rollout.
fn row_to_rollout(r: &rusqlite::Row<'_>) -> rusqlite::Result<Rollout> {
    let spec: String = r.get(1)?;
    Ok(Rollout {
        id: r.get(0)?,
        spec: serde_json::from_str(&spec).unwrap_or(Value::Null),
        created_at: r.get(2)?,
        phase: r.get(3)?,
        attempts: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

/// Columns [`row_to_rollout`] expects.
const ROLLOUT_COLS: &str = "id, spec, created_at, phase, attempts, updated_at";

impl Store {
    /// Opens (creating if absent) `DIR/autonomy.db`, migrates, applies start faults, and starts the writer.
    pub fn open(
        data_dir: &Path,
        audit: AuditLog,
        plans_gauge: Gauge,
        opts: StoreOptions,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Internal(format!("creating {}: {e}", data_dir.display())))?;
        let path = data_dir.join("autonomy.db");
        let mut conn = connect(&path, opts.no_fsync)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Internal(format!(
                "journal_mode is {mode}, not wal"
            )));
        }
        migrate(&mut conn)?;
        let secret = cursor_secret(&conn)?;
        if opts.lose_newest {
            conn.execute(
                "DELETE FROM plans WHERE seq = (SELECT MAX(seq) FROM plans)",
                [],
            )?;
        }
        if opts.phase_reset {
            conn.execute("UPDATE plans SET phase = 'active'", [])?;
        }
        let count: i64 = conn.query_row("SELECT COUNT(*) FROM plans", [], |r| r.get(0))?;
        plans_gauge.set(count);

        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(connect(&path, opts.no_fsync)?);
        }
        let writable = Arc::new(AtomicBool::new(true));
        let (tx, rx) = mpsc::sync_channel(QUEUE_CAPACITY);
        let writer = Writer {
            conn,
            audit,
            audit_drop: opts.audit_drop,
            ack_on_write_error: opts.ack_on_write_error,
            evict_beyond: opts.evict_beyond,
            replay_rewrites: opts.replay_rewrites,
            gauge: plans_gauge,
            writable: writable.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Internal(format!("spawning writer: {e}")))?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            readers: Mutex::new(readers),
            reader_slots: Semaphore::new(READERS),
            writable,
            secret,
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The secret that authenticates list cursors.
    pub fn cursor_secret(&self) -> &[u8] {
        &self.secret
    }

    /// False while the last batch's commit or audit write failed (a full disk, a failed
    /// fsync) until a later batch is durable again, and once the writer stopped.
    pub fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed) && self.tx.lock().expect("store lock").is_some()
    }

    /// Queues a write, or answers `Overloaded` when the queue is full.
    fn submit(&self, op: WriteOp) -> Result<(), StoreError> {
        let guard = self.tx.lock().expect("store lock");
        let tx = guard
            .as_ref()
            .ok_or_else(|| StoreError::Internal("the store is shutting down".into()))?;
        match tx.try_send(op) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(StoreError::Overloaded),
            Err(TrySendError::Disconnected(_)) => {
                Err(StoreError::Internal("the store writer has stopped".into()))
            }
        }
    }

    /// Queues the write that `op` builds around a reply channel, and awaits the writer's
    /// answer, which comes only after the batch holding it has committed.
    async fn call<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> WriteOp,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.submit(op(reply))?;
        rx.await
            .unwrap_or_else(|_| Err(StoreError::Internal("the store writer has stopped".into())))
    }

    /// Creates a plan; answers once it is committed (or was already stored).
    pub async fn create(
        &self,
        id: String,
        spec: Value,
        actor: String,
    ) -> Result<CreateOutcome, StoreError> {
        self.call(|reply| WriteOp::Create {
            id,
            spec,
            actor,
            reply,
        })
        .await
    }

    /// Executes a retry or rollback; `fail` injects a failure after validation.
    pub async fn rollback(
        &self,
        id: String,
        strategy: Strategy,
        reason: String,
        actor: String,
        fail: bool,
    ) -> Result<RollbackOutcome, StoreError> {
        self.call(|reply| WriteOp::Rollback {
            id,
            strategy,
            reason,
            actor,
            fail,
            reply,
        })
        .await
    }

    /// Drains queued writes, checkpoints the WAL and stops the writer.
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        let sender = self.tx.lock().expect("store lock").take();
        if let Some(tx) = sender {
            // A blocking send: the shutdown marker must not be dropped because the queue is full.
            let sent =
                tokio::task::spawn_blocking(move || tx.send(WriteOp::Shutdown { reply }).is_ok())
                    .await
                    .unwrap_or(false);
            if sent {
                let _ = rx.await;
            }
        }
        let handle = self.writer.lock().expect("store lock").take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    /// Runs `f` on a read connection off the async runtime.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self
            .reader_slots
            .acquire()
            .await
            .map_err(|_| StoreError::Internal("reader pool closed".into()))?;
        let conn = self
            .readers
            .lock()
            .expect("reader lock")
            .pop()
            .ok_or_else(|| StoreError::Internal("reader pool empty".into()))?;
        let (result, conn) = tokio::task::spawn_blocking(move || {
            let r = f(&conn);
            (r, conn)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("reader task: {e}")))?;
        self.readers.lock().expect("reader lock").push(conn);
        result
    }

    /// One plan by ID.
    pub async fn get(&self, id: String) -> Result<Option<Rollout>, StoreError> {
        self.read(move |c| {
            let sql = format!("SELECT {ROLLOUT_COLS} FROM plans WHERE id = ?1");
            Ok(c.prepare_cached(&sql)?
                .query_row([&id], row_to_rollout)
                .optional()?)
        })
        .await
    }

    /// Up to `limit` plans after (or from, when `inclusive`) `seq`, in creation order, with their seq.
    pub async fn list(
        &self,
        seq: i64,
        inclusive: bool,
        limit: usize,
    ) -> Result<Vec<(i64, Rollout)>, StoreError> {
        self.read(move |c| {
            let op = if inclusive { ">=" } else { ">" };
            let sql = format!(
                "SELECT {ROLLOUT_COLS}, seq FROM plans WHERE seq {op} ?1 ORDER BY seq LIMIT ?2"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt
                .query_map(params![seq, limit as i64], |r| {
                    Ok((r.get(6)?, row_to_rollout(r)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// Plans in `published`/`active` not updated since `cutoff`: the full count, and
    /// (id, phase, updated_us) of the first `limit` of them (all when `None`) in `order`.
    pub async fn stuck(
        &self,
        cutoff: DateTime<Utc>,
        limit: Option<usize>,
        order: StuckOrder,
    ) -> Result<(u64, Vec<StuckRow>), StoreError> {
        let cutoff = micros(cutoff);
        // SQLite reads `LIMIT -1` as "no limit".
        let limit = limit.map_or(-1, |n| n as i64);
        self.read(move |c| {
            // One snapshot for both statements, so the count and the page agree.
            let tx = c.unchecked_transaction()?;
            // Index-only: a range of `plans_phase_updated` per phase, no table rows read.
            let count: i64 = tx
                .prepare_cached(
                    "SELECT COUNT(*) FROM plans
                 WHERE phase IN ('published', 'active') AND updated_us <= ?1",
                )?
                .query_row([cutoff], |r| r.get(0))?;
            // Within one phase the index is already in (updated_us, seq) order (seq is
            // the rowid it carries), so each phase is an ordered index range that stops
            // after `limit` entries; only the merged page is sorted and joined to its rows.
            // A single `phase IN (...) ORDER BY` would sort every stuck plan instead.
            // Creation order is only a variant, so it may walk the table by rowid.
            let sql = match order {
                StuckOrder::Creation => {
                    "SELECT id, phase, updated_us FROM plans
                     WHERE phase IN ('published', 'active') AND updated_us <= ?1
                     ORDER BY seq LIMIT ?2"
                }
                StuckOrder::Staleness => {
                    "SELECT p.id, p.phase, p.updated_us FROM (
                     SELECT seq, updated_us FROM (
                         SELECT seq, updated_us FROM plans
                         WHERE phase = 'published' AND updated_us <= ?1
                         ORDER BY updated_us, seq LIMIT ?2)
                     UNION ALL
                     SELECT seq, updated_us FROM (
                         SELECT seq, updated_us FROM plans
                         WHERE phase = 'active' AND updated_us <= ?1
                         ORDER BY updated_us, seq LIMIT ?2)
                     ORDER BY updated_us, seq LIMIT ?2
                 ) AS s JOIN plans AS p ON p.seq = s.seq
                 ORDER BY s.updated_us, s.seq"
                }
            };
            let mut stmt = tx.prepare_cached(sql)?;
            let rows = stmt
                .query_map(params![cutoff, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            drop(stmt);
            tx.finish()?;
            Ok((count as u64, rows))
        })
        .await
    }
}

/// One stuck plan as the store reports it: (id, phase, updated_us).
pub type StuckRow = (String, String, i64);

/// The writer thread's state: the only connection that writes.
struct Writer {
    conn: Connection,
    audit: AuditLog,
    audit_drop: bool,
    ack_on_write_error: bool,
    evict_beyond: Option<u64>,
    replay_rewrites: bool,
    gauge: Gauge,
    writable: Arc<AtomicBool>,
}

/// A computed reply, sent only after the batch is durable.
enum Pending {
    Create(
        oneshot::Sender<Result<CreateOutcome, StoreError>>,
        Result<CreateOutcome, StoreError>,
    ),
    Rollback(
        oneshot::Sender<Result<RollbackOutcome, StoreError>>,
        Result<RollbackOutcome, StoreError>,
    ),
}

impl Pending {
    /// Replaces a successful result by `err` (the batch did not become durable).
    fn fail(self, err: &str) -> Self {
        match self {
            Pending::Create(tx, _) => Pending::Create(tx, Err(StoreError::Internal(err.into()))),
            Pending::Rollback(tx, Ok(_)) => {
                Pending::Rollback(tx, Err(StoreError::Internal(err.into())))
            }
            p => p,
        }
    }

    /// Sends the reply; a caller that gave up is fine.
    fn send(self) {
        match self {
            Pending::Create(tx, r) => {
                let _ = tx.send(r);
            }
            Pending::Rollback(tx, r) => {
                let _ = tx.send(r);
            }
        }
    }
}

impl Writer {
    /// Group commit loop: take everything queued (up to MAX_BATCH), one transaction, one fsync, then reply.
    fn run(mut self, rx: Receiver<WriteOp>) {
        let mut stop: Option<oneshot::Sender<()>> = None;
        while stop.is_none() {
            let Ok(first) = rx.recv() else { break };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            let ops: Vec<WriteOp> = batch
                .into_iter()
                .filter_map(|op| match op {
                    WriteOp::Shutdown { reply } => {
                        stop = Some(reply);
                        None
                    }
                    op => Some(op),
                })
                .collect();
            self.commit_batch(ops);
        }
        // Shutdown is sent after the sender is taken, so nothing can follow it; drain defensively.
        let rest: Vec<WriteOp> = rx.try_iter().collect();
        self.commit_batch(rest);
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::warn!("WAL checkpoint at shutdown failed: {e}");
        }
        if let Some(reply) = stop {
            let _ = reply.send(());
        }
    }

    /// Applies `ops` in one transaction, makes it and its audit events durable, then replies.
    fn commit_batch(&mut self, ops: Vec<WriteOp>) {
        if ops.is_empty() {
            return;
        }
        let now = Utc::now();
        let mut events = Vec::new();
        let mut created = 0i64;
        let mut pending = Vec::with_capacity(ops.len());
        let began = self.conn.execute_batch("BEGIN IMMEDIATE");
        if let Err(e) = began {
            self.writable.store(false, Ordering::Relaxed);
            let msg = format!("begin transaction: {e}");
            for op in ops {
                reply_error(op, &msg);
            }
            return;
        }
        for op in ops {
            match op {
                WriteOp::Create {
                    id,
                    spec,
                    actor,
                    reply,
                } => {
                    let r = self.savepoint(|w| w.create(&id, &spec, now));
                    if let Ok(CreateOutcome::Created(_)) = &r {
                        created += 1;
                        events.push(AuditEvent {
                            ts: rfc3339(now),
                            event_type: "rollout.created".into(),
                            actor,
                            resource: id,
                            outcome: "success".into(),
                            strategy: None,
                            reason: None,
                        });
                    }
                    pending.push(Pending::Create(reply, r));
                }
                WriteOp::Rollback {
                    id,
                    strategy,
                    reason,
                    actor,
                    fail,
                    reply,
                } => {
                    let r = self.savepoint(|w| w.rollback(&id, strategy, fail, now));
                    let outcome = match &r {
                        Ok(_) => Some("success"),
                        Err(StoreError::Injected(_)) => Some("failure"),
                        Err(_) => None,
                    };
                    if let (Some(outcome), false) = (outcome, self.audit_drop) {
                        events.push(AuditEvent {
                            ts: rfc3339(now),
                            event_type: "rollback.executed".into(),
                            actor,
                            resource: id,
                            outcome: outcome.into(),
                            strategy: Some(strategy.as_str().into()),
                            reason: Some(reason),
                        });
                    }
                    pending.push(Pending::Rollback(reply, r));
                }
                WriteOp::Shutdown { reply } => {
                    let _ = reply.send(());
                }
            }
        }
        let durable = self
            .conn
            .execute_batch("COMMIT")
            .map_err(|e| {
                let _ = self.conn.execute_batch("ROLLBACK");
                created = 0;
                format!("commit: {e}")
            })
            .and_then(|()| {
                self.audit
                    .append_durable(&events, now)
                    .map_err(|e| format!("audit log write: {e}"))
            });
        self.gauge.inc_by(created);
        match durable {
            Ok(()) => {
                self.writable.store(true, Ordering::Relaxed);
                if created > 0 {
                    self.evict();
                }
                pending.into_iter().for_each(Pending::send)
            }
            Err(msg) if self.ack_on_write_error => {
                tracing::error!(
                    "batch not durable, acknowledged anyway (fault ack-on-write-error): {msg}"
                );
                self.writable.store(false, Ordering::Relaxed);
                pending.into_iter().for_each(Pending::send)
            }
            Err(msg) => {
                // Nothing of the batch is acknowledged. SQLite rolled the transaction
                // back (a failed WAL fsync leaves its frames past the last commit, where
                // the next commit overwrites them), so nothing unacknowledged is served
                // either; health says so until a batch is durable again.
                tracing::error!("batch not durable: {msg}");
                self.writable.store(false, Ordering::Relaxed);
                pending.into_iter().for_each(|p| p.fail(&msg).send());
            }
        }
    }

    /// Fault `evict-oldest`: deletes all but the newest N plans, in its own transaction
    /// after the creates committed, and before they are acknowledged so that a client
    /// sees the eviction as soon as it sees its 201.
    fn evict(&mut self) {
        let Some(keep) = self.evict_beyond else {
            return;
        };
        // With N or fewer plans the subquery is NULL and nothing matches.
        let evicted = self
            .conn
            .prepare_cached(
                "DELETE FROM plans WHERE seq <= (SELECT seq FROM plans ORDER BY seq DESC LIMIT 1 OFFSET ?1)",
            )
            .and_then(|mut stmt| stmt.execute([i64::try_from(keep).unwrap_or(i64::MAX)]));
        match evicted {
            Ok(n) => {
                self.gauge.dec_by(n as i64);
            }
            Err(e) => tracing::warn!("evict-oldest: deleting plans beyond {keep} failed: {e}"),
        }
    }

    /// Runs `f` inside a savepoint so a failing operation cannot poison the rest of the batch.
    fn savepoint<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.execute_batch("SAVEPOINT op")?;
        let r = f(self);
        let end = if r.is_ok() {
            "RELEASE op"
        } else {
            "ROLLBACK TO op; RELEASE op"
        };
        self.conn.execute_batch(end)?;
        r
    }

    /// Inserts a plan, or recognises an idempotent replay or a conflict.
    fn create(
        &mut self,
        id: &str,
        spec: &Value,
        now: DateTime<Utc>,
    ) -> Result<CreateOutcome, StoreError> {
        let sql = format!("SELECT {ROLLOUT_COLS} FROM plans WHERE id = ?1");
        let existing = self
            .conn
            .prepare_cached(&sql)?
            .query_row([id], row_to_rollout)
            .optional()?;
        if let Some(stored) = existing {
            if &stored.spec == spec && self.replay_rewrites {
                return self.rewrite_creation(stored, now);
            }
            return if &stored.spec == spec {
                Ok(CreateOutcome::Replayed(stored))
            } else {
                Err(StoreError::Conflict(format!(
                    "rollout {id:?} already exists with a different spec"
                )))
            };
        }
        let ts = rfc3339(now);
        self.conn
            .prepare_cached(
                "INSERT INTO plans (id, spec, created_at, phase, attempts, updated_at, updated_us)
                 VALUES (?1, ?2, ?3, 'published', 0, ?3, ?4)",
            )?
            .execute(params![id, spec.to_string(), ts, micros(now)])?;
        Ok(CreateOutcome::Created(Rollout {
            id: id.to_owned(),
            created_at: ts.clone(),
            spec: spec.clone(),
            phase: "published".into(),
            attempts: 0,
            updated_at: ts,
        }))
    }

    /// Fault `replay-rewrites`: the replay is written as a new creation of the same row.
    fn rewrite_creation(
        &mut self,
        stored: Rollout,
        now: DateTime<Utc>,
    ) -> Result<CreateOutcome, StoreError> {
        let ts = rfc3339(now);
        self.conn
            .prepare_cached(
                "UPDATE plans SET created_at = ?2, phase = 'published', attempts = 0,
                 updated_at = ?2, updated_us = ?3 WHERE id = ?1",
            )?
            .execute(params![stored.id, ts, micros(now)])?;
        Ok(CreateOutcome::Created(Rollout {
            created_at: ts.clone(),
            phase: "published".into(),
            attempts: 0,
            updated_at: ts,
            ..stored
        }))
    }

    /// Applies a retry or rollback.
    fn rollback(
        &mut self,
        id: &str,
        strategy: Strategy,
        fail: bool,
        now: DateTime<Utc>,
    ) -> Result<RollbackOutcome, StoreError> {
        let phase: Option<String> = self
            .conn
            .prepare_cached("SELECT phase FROM plans WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        let phase = phase.ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        if phase == "rolled_back" {
            return Err(StoreError::Conflict(format!(
                "rollout {id:?} is rolled_back, which is terminal"
            )));
        }
        if fail {
            return Err(StoreError::Injected(format!(
                "{} of {id:?} failed (injected fault)",
                strategy.as_str()
            )));
        }
        let after = match strategy {
            Strategy::Retry => "active",
            Strategy::Rollback => "rolled_back",
        };
        let bump = i64::from(strategy == Strategy::Retry);
        self.conn
            .prepare_cached(
                "UPDATE plans SET phase = ?2, attempts = attempts + ?3, updated_at = ?4, updated_us = ?5
                 WHERE id = ?1",
            )?
            .execute(params![id, after, bump, rfc3339(now), micros(now)])?;
        Ok(RollbackOutcome {
            phase_before: phase,
            phase_after: after.into(),
        })
    }
}

/// Answers an op that never ran with an internal error.
fn reply_error(op: WriteOp, msg: &str) {
    let err = || StoreError::Internal(msg.to_owned());
    match op {
        WriteOp::Create { reply, .. } => {
            let _ = reply.send(Err(err()));
        }
        WriteOp::Rollback { reply, .. } => {
            let _ = reply.send(Err(err()));
        }
        WriteOp::Shutdown { reply } => {
            let _ = reply.send(());
        }
    }
}
