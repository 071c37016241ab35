//! Load drivers and request outcomes.
//!
//! - [`closed`]: N workers × B sequential requests, every worker its own task, all
//!   released together; wall-clock runs from the first send to the last answer.
//!   [`closed_each`] is the same with a state per worker (its own connection), and
//!   [`closed_for`] runs it for a duration instead of a count (as wrk does).
//! - [`open`]: a constant arrival rate for a bounded duration; latency is measured
//!   from the *intended* send time, so a stall shows up as latency instead of being
//!   hidden by requests that were never sent (coordinated omission).
//!
//! Every request is classified as Jepsen does ([`Outcome`]).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use val_core::load_result::*;
use val_core::stats;

/// µs between two instants (0 if `b` is before `a`).
fn us_between(a: Instant, b: Instant) -> u64 {
    stats::duration_us(b.saturating_duration_since(a))
}

/// Runs the closed model: `op(worker, index)` with 1-based worker and index.
/// Workers are released together by a barrier, so N=100 means 100 requests in flight.
pub async fn closed<F, Fut>(model: ClosedModel, op: F) -> LoadResult
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Attempt> + Send + 'static,
{
    closed_each(
        model,
        |_| async {},
        move |(), w, b| {
            let f = op(w, b);
            async move { ((), f.await) }
        },
    )
    .await
}

/// [`closed`] with a state per worker (e.g. its own connection): `init(worker)` makes
/// it in the worker's task before the barrier (a connection opened there is open
/// before any worker sends, so the first sends of N workers overlap however slowly
/// the host schedules the connects), and `op(state, worker, index)` hands it back
/// with the attempt. The same timing and records as [`closed`].
pub async fn closed_each<S, I, IFut, F, Fut>(model: ClosedModel, init: I, op: F) -> LoadResult
where
    S: Send + 'static,
    I: Fn(usize) -> IFut,
    IFut: Future<Output = S> + Send + 'static,
    F: Fn(S, usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (S, Attempt)> + Send + 'static,
{
    closed_inner(model, None, init, op).await
}

/// [`closed_each`] for a duration, as wrk runs: after `duration` from the release no
/// worker sends again (those in flight are answered and recorded), and `per_worker`
/// is only a cap. Wall-clock exceeds `duration` by at most one request's latency, where
/// a fixed count per worker ends with a tail of ever fewer workers in flight.
pub async fn closed_for<S, I, IFut, F, Fut>(
    model: ClosedModel,
    duration: Duration,
    init: I,
    op: F,
) -> LoadResult
where
    S: Send + 'static,
    I: Fn(usize) -> IFut,
    IFut: Future<Output = S> + Send + 'static,
    F: Fn(S, usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (S, Attempt)> + Send + 'static,
{
    closed_inner(model, Some(duration), init, op).await
}

/// The closed model's workers, with an optional duration after the release.
async fn closed_inner<S, I, IFut, F, Fut>(
    model: ClosedModel,
    duration: Option<Duration>,
    init: I,
    op: F,
) -> LoadResult
where
    S: Send + 'static,
    I: Fn(usize) -> IFut,
    IFut: Future<Output = S> + Send + 'static,
    F: Fn(S, usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (S, Attempt)> + Send + 'static,
{
    let op = Arc::new(op);
    let barrier = Arc::new(tokio::sync::Barrier::new(model.workers.max(1)));
    let released = Arc::new(std::sync::OnceLock::new());
    let mut handles = Vec::with_capacity(model.workers);
    for w in 1..=model.workers {
        let (op, barrier, released) = (op.clone(), barrier.clone(), released.clone());
        let ready = init(w);
        handles.push(tokio::spawn(async move {
            let mut state = Some(ready.await);
            barrier.wait().await;
            let stop = duration.map(|d| *released.get_or_init(Instant::now) + d);
            let mut out = Vec::with_capacity(model.per_worker.min(4096));
            for b in 1..=model.per_worker {
                let start = Instant::now();
                if stop.is_some_and(|s| start >= s) {
                    break;
                }
                let (s, a) = op(state.take().expect("handed back"), w, b).await;
                state = Some(s);
                out.push((w, b, start, Instant::now(), a));
            }
            out
        }));
    }
    let mut raw = Vec::with_capacity(model.workers * model.per_worker.min(4096));
    for h in handles {
        match h.await {
            Ok(v) => raw.extend(v),
            // A panicking operation is a harness bug; surface it instead of dropping records.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    assemble(LoadModel::Closed(model), raw, None)
}

/// Runs the closed model's workers one after another instead of together: worker w+1
/// sends its first request after worker w's last answer, so at most one request is in
/// flight. The same requests as [`closed`] under the same model; it exists for negative
/// tests of checks that must tell observed concurrency from configured concurrency.
pub async fn closed_sequential<F, Fut>(model: ClosedModel, op: F) -> LoadResult
where
    F: Fn(usize, usize) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let mut raw = Vec::with_capacity(model.workers * model.per_worker);
    for w in 1..=model.workers {
        for b in 1..=model.per_worker {
            let start = Instant::now();
            let a = op(w, b).await;
            raw.push((w, b, start, Instant::now(), a));
        }
    }
    assemble(LoadModel::Closed(model), raw, None)
}

/// Runs the open model: `op(index)` (1-based) at `rate_per_sec` for `duration_ms`,
/// each request timed from its intended send time.
pub async fn open<F, Fut>(model: OpenModel, op: F) -> LoadResult
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Attempt> + Send + 'static,
{
    let n = model.requests();
    let op = Arc::new(op);
    let slots = Arc::new(tokio::sync::Semaphore::new(model.max_in_flight.max(1)));
    let interval = if model.rate_per_sec > 0.0 {
        Duration::from_secs_f64(1.0 / model.rate_per_sec)
    } else {
        Duration::ZERO
    };
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let intended = t0 + interval.mul_f64(i as f64);
        tokio::time::sleep_until(intended.into()).await;
        let op = op.clone();
        let slots = slots.clone();
        handles.push(tokio::spawn(async move {
            let _permit = slots.acquire_owned().await.expect("semaphore never closed");
            let a = op(i + 1).await;
            (0usize, i + 1, intended, Instant::now(), a)
        }));
    }
    let mut raw = Vec::with_capacity(n);
    for h in handles {
        match h.await {
            Ok(v) => raw.push(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    assemble(LoadModel::Open(model), raw, Some(t0))
}

/// Builds the records and the wall-clock from raw (worker, index, start, end, attempt).
fn assemble(
    model: LoadModel,
    mut raw: Vec<(usize, usize, Instant, Instant, Attempt)>,
    origin: Option<Instant>,
) -> LoadResult {
    raw.sort_by_key(|r| (r.0, r.1));
    let first = raw.iter().map(|r| r.2).min();
    let last = raw.iter().map(|r| r.3).max();
    let origin = origin.or(first);
    let records = raw
        .into_iter()
        .map(|(worker, index, start, end, a)| {
            let o = origin.expect("records imply an origin");
            let (start_offset_us, end_offset_us) = (us_between(o, start), us_between(o, end));
            RequestRecord {
                worker,
                index,
                outcome: a.outcome,
                status: a.status,
                // Derived from the two offsets rather than truncated on its own, so a
                // record always says latency = end - start exactly and a latency edited
                // apart from its offsets is a record the driver did not write.
                latency_us: end_offset_us - start_offset_us,
                start_offset_us,
                end_offset_us,
                error: a.error,
                cause: a.cause,
                deadline_ms: a.deadline_ms,
            }
        })
        .collect();
    LoadResult {
        model,
        records,
        wall_us: match (first, last) {
            (Some(f), Some(l)) => Some(us_between(f, l)),
            _ => None,
        },
    }
}
