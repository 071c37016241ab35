//! Create load recorded as a write ledger ([`val_core::ledger`]): every attempt is one
//! [`LedgerEntry`] with its send and answer instants on the lab's clock. The network
//! and storage faults of VAL11 judge their ledgers; this is the one loop that writes
//! them, so a fix to how an attempt is recorded reaches every lab at once.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use val_core::ledger::LedgerEntry;

use crate::client::{Client, CreateRollout, Recorded};
use crate::wire::Rollout;

/// One create through `client` as a ledger entry on `epoch`'s clock, with the answer
/// as the client recorded it.
pub async fn create(
    client: &Client,
    req: &CreateRollout,
    epoch: Instant,
) -> (LedgerEntry, Recorded<Rollout>) {
    let sent = epoch.elapsed().as_micros() as u64;
    let rec = client.create(req).await;
    let answered = epoch.elapsed().as_micros() as u64;
    let e = LedgerEntry::new(
        &req.plan.metadata.id,
        rec.status,
        rec.error.clone(),
        sent,
        Some(answered),
    );
    (e, rec)
}

/// How long each worker goes on.
#[derive(Clone, Debug)]
pub enum Until {
    /// Until the flag is set (checked before each create).
    Stopped(Arc<AtomicBool>),
    /// This many creates per worker.
    Count(usize),
}

/// A closed set of create workers, each creating one plan after another.
#[derive(Clone)]
pub struct CreateWorkers {
    /// Worker numbers (they name the plan IDs).
    pub workers: Range<usize>,
    /// The plan ID of worker `w`'s `n`-th create (from 1).
    pub id: Arc<dyn Fn(usize, usize) -> String + Send + Sync>,
    /// How long each worker goes on.
    pub until: Until,
    /// A pause after a create that was not acknowledged, so a worker facing a refusing
    /// control-plane does not spin (`None`: go straight on).
    pub pause_after_failure: Option<Duration>,
}

impl CreateWorkers {
    /// Starts the workers on `rt`; each handle yields its worker's attempts in order.
    pub fn spawn(
        &self,
        rt: &tokio::runtime::Runtime,
        client: &Client,
        epoch: Instant,
    ) -> Vec<JoinHandle<Vec<LedgerEntry>>> {
        self.workers
            .clone()
            .map(|w| {
                let (client, me) = (client.clone(), self.clone());
                rt.spawn(async move { me.work(&client, w, epoch).await })
            })
            .collect()
    }

    /// One worker's loop.
    async fn work(&self, client: &Client, w: usize, epoch: Instant) -> Vec<LedgerEntry> {
        let mut out = Vec::new();
        for n in 1.. {
            let go_on = match &self.until {
                Until::Stopped(stop) => !stop.load(Ordering::SeqCst),
                Until::Count(count) => n <= *count,
            };
            if !go_on {
                break;
            }
            let (e, _) = create(client, &CreateRollout::new(&(self.id)(w, n)), epoch).await;
            let acked = e.status.is_some_and(|s| (200..300).contains(&s));
            out.push(e);
            if let (false, Some(pause)) = (acked, self.pause_after_failure) {
                tokio::time::sleep(pause).await;
            }
        }
        out
    }
}

/// Waits for every worker and returns all attempts ordered by send instant; a worker
/// that panicked is an error, never a shorter ledger.
pub fn join(
    rt: &tokio::runtime::Runtime,
    handles: Vec<JoinHandle<Vec<LedgerEntry>>>,
) -> Result<Vec<LedgerEntry>, tokio::task::JoinError> {
    let mut all = Vec::new();
    for h in handles {
        all.extend(rt.block_on(h)?);
    }
    all.sort_by_key(|e| e.sent_us);
    Ok(all)
}
