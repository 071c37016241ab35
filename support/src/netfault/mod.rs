//! A TCP fault proxy on loopback (no root): every harness client and the CLI talk to
//! the control-plane through it, and the lab switches faults on and off.
//!
//! Faults (see [`val_core::netfault::FaultKind`]) act per direction and per
//! connection: each accepted connection draws one seeded number in [0, 1), and a fault
//! acts on it while the draw is below the fault's toxicity. Switching the fault set
//! acts on open connections at their next chunk, as toxiproxy's toxics do. `down`
//! closes the listening socket, so new connections are refused by the kernel (a real
//! `connection refused`, not an accept-then-close), and cuts the open ones.
//!
//! Every switch and every connection is recorded ([`FaultSwitch`], [`ConnRecord`]);
//! the lab writes them as JSON Lines. A loopback proxy is not a switch: it cannot
//! reorder packets between hosts or partition one direction of a TCP handshake.

mod conn;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use val_core::netfault::{ConnEnd, ConnRecord, Direction, Fault, FaultKind, FaultSwitch};

/// A proxy that could not start or rebind.
#[derive(Debug, Error)]
pub enum ProxyError {
    /// Binding the listening socket failed.
    #[error("fault proxy {name}: binding {addr}: {source}")]
    Bind {
        /// The proxy's name.
        name: String,
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// The active fault set, as every connection task sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub(crate) faults: Vec<Fault>,
    /// False once the proxy is shut down.
    pub(crate) closed: bool,
}

impl State {
    fn is_down(&self) -> bool {
        self.faults.iter().any(|f| f.kind == FaultKind::Down)
    }
}

/// What the proxy and its connection tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) seed: u64,
    pub(crate) t0: Instant,
    pub(crate) upstream: Mutex<SocketAddr>,
    pub(crate) state: watch::Sender<State>,
    pub(crate) conns: Mutex<Vec<ConnRecord>>,
    switches: Mutex<Vec<FaultSwitch>>,
    next_conn: AtomicU64,
    listening: AtomicBool,
}

impl Shared {
    pub(crate) fn offset_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }
}

/// A running fault proxy; dropping it stops accepting and cuts every connection.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

/// Binds `addr` with `SO_REUSEADDR`, so `down` then heal can take the same port back.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` in front of `upstream`, on the current tokio
    /// runtime. `seed` fixes every random choice (toxicity draws, jitter).
    pub fn start(name: &str, upstream: SocketAddr, seed: u64) -> Result<FaultProxy, ProxyError> {
        let err = |addr, source| ProxyError::Bind {
            name: name.to_string(),
            addr,
            source,
        };
        let any: SocketAddr = "127.0.0.1:0".parse().expect("static address");
        let listener = bind(any).map_err(|e| err(any, e))?;
        let addr = listener.local_addr().map_err(|e| err(any, e))?;
        let shared = Arc::new(Shared {
            name: name.to_string(),
            seed,
            t0: Instant::now(),
            upstream: Mutex::new(upstream),
            state: watch::Sender::new(State::default()),
            conns: Mutex::new(Vec::new()),
            switches: Mutex::new(Vec::new()),
            next_conn: AtomicU64::new(0),
            listening: AtomicBool::new(true),
        });
        let accept = tokio::spawn(accept_loop(shared.clone(), listener, addr));
        Ok(FaultProxy {
            addr,
            shared,
            accept,
        })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Points the proxy at a new control-plane address (after a restart on a new port).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self.shared.upstream.lock().expect("upstream lock") = upstream;
    }

    /// Makes exactly `faults` active from now on, and records the switch.
    pub fn set(&self, faults: Vec<Fault>, note: &str) {
        let mut switches = self.shared.switches.lock().expect("switch lock");
        let seq = switches.len() as u64 + 1;
        switches.push(FaultSwitch {
            proxy: self.shared.name.clone(),
            seq,
            at: crate::fsx::rfc3339(chrono::Utc::now()),
            offset_us: self.shared.offset_us(),
            faults: faults.clone(),
            note: note.to_string(),
        });
        self.shared.state.send_modify(|s| s.faults = faults);
    }

    /// No fault from now on.
    pub fn heal(&self, note: &str) {
        self.set(Vec::new(), note);
    }

    /// Whether the proxy holds its listening socket now (false while `down` has closed
    /// it). A switch acts asynchronously: a lab that needs to know when a partition
    /// really began or ended polls this.
    pub fn listening(&self) -> bool {
        self.shared.listening.load(Ordering::SeqCst)
    }

    /// Polls [`listening`](Self::listening) until it equals `want` or `within` passes;
    /// returns whether it does.
    pub async fn wait_listening(&self, want: bool, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while self.listening() != want && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        self.listening() == want
    }

    /// The instant the proxy's clock counts from.
    pub fn started(&self) -> Instant {
        self.shared.t0
    }

    /// µs since the proxy started (the clock of its records).
    pub fn offset_us(&self) -> u64 {
        self.shared.offset_us()
    }

    /// Every switch so far.
    pub fn switches(&self) -> Vec<FaultSwitch> {
        self.shared.switches.lock().expect("switch lock").clone()
    }

    /// Every connection that has ended so far, by connection number.
    pub fn connections(&self) -> Vec<ConnRecord> {
        let mut c = self.shared.conns.lock().expect("conn lock").clone();
        c.sort_by_key(|r| r.conn);
        c
    }

    /// Gives open connections a moment to end on their own (a client closing right
    /// after its answer is `closed`, not `shutdown`), then stops accepting, cuts the rest
    /// and waits (bounded) until each has recorded how it ended.
    pub async fn shutdown(&self) {
        self.wait_ended(Duration::from_millis(250)).await;
        self.shared.state.send_modify(|s| s.closed = true);
        self.wait_ended(Duration::from_secs(2)).await;
    }

    /// Waits up to `within` until every accepted connection has a record.
    async fn wait_ended(&self, within: Duration) {
        let started = self.shared.next_conn.load(Ordering::SeqCst) as usize;
        let deadline = Instant::now() + within;
        while self.shared.conns.lock().expect("conn lock").len() < started
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.state.send_modify(|s| s.closed = true);
        self.accept.abort();
    }
}

/// Accepts until shut down; while `down`, holds no listening socket at all.
async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, addr: SocketAddr) {
    let mut rx = shared.state.subscribe();
    let mut listener = Some(listener);
    loop {
        let state = rx.borrow_and_update().clone();
        if state.closed {
            return;
        }
        if state.is_down() {
            listener = None;
            shared.listening.store(false, Ordering::SeqCst);
            if rx.changed().await.is_err() {
                return;
            }
            continue;
        }
        let l = match listener.take() {
            Some(l) => l,
            None => match rebind(addr, &mut rx).await {
                Some(l) => {
                    shared.listening.store(true, Ordering::SeqCst);
                    l
                }
                None => return,
            },
        };
        tokio::select! {
            r = l.accept() => {
                if let Ok((stream, _)) = r {
                    let n = shared.next_conn.fetch_add(1, Ordering::SeqCst) + 1;
                    tokio::spawn(conn::serve(shared.clone(), stream, n));
                }
            }
            r = rx.changed() => {
                if r.is_err() {
                    return;
                }
            }
        }
        listener = Some(l);
    }
}

/// Takes the port back after a `down`; retries while a closing socket still holds it.
async fn rebind(addr: SocketAddr, rx: &mut watch::Receiver<State>) -> Option<TcpListener> {
    loop {
        if rx.borrow().closed {
            return None;
        }
        match bind(addr) {
            Ok(l) => return Some(l),
            Err(e) => {
                tracing::warn!(%addr, "fault proxy rebind failed, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
