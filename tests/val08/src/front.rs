//! A TCP front that makes a control-plane's listener slow to accept: a tiny listen
//! backlog and one `accept` per interval, then each accepted connection forwarded to
//! the real control-plane. It reproduces what a valid control-plane with a short
//! accept queue (Python's `socketserver`: 5) does to 100 clients released at once:
//! SYNs beyond the queue are dropped and retransmitted after 1, 2, 4, 8, 16 s, so some
//! connects take seconds while the scenario still ends inside the plan's bound.
//!
//! The front runs on its own thread and single-threaded runtime, so its pauses never
//! stall the load driver's runtime, and stops (closing every forwarded connection)
//! when dropped.

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;

/// How the front accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowAccept {
    /// `listen(2)` backlog of the front's socket.
    pub backlog: u32,
    /// Pause after each accepted connection, ms.
    pub accept_interval_ms: u64,
    /// After this many accepted connections, accept nothing for `stall_ms`.
    pub stall_after: Option<u64>,
    /// Length of that stall, ms.
    pub stall_ms: u64,
}

/// A running front; dropping it stops it.
pub struct SlowAcceptFront {
    addr: SocketAddr,
    config: SlowAccept,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SlowAcceptFront {
    /// Listens on 127.0.0.1 port 0 and forwards to the control-plane at `upstream_url`
    /// (`http://host:port`).
    pub fn start(upstream_url: &str, config: SlowAccept) -> anyhow::Result<SlowAcceptFront> {
        let hostport = upstream_url
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let upstream: SocketAddr = hostport
            .parse()
            .with_context(|| format!("upstream {upstream_url:?} is not http://ip:port"))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("the front's runtime")?;
        let listener = {
            let _in_rt = rt.enter();
            let s = TcpSocket::new_v4().context("socket")?;
            s.bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                .context("bind 127.0.0.1:0")?;
            s.listen(config.backlog).context("listen")?
        };
        let addr = listener.local_addr().context("local_addr")?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("slow-accept-front".into())
            .spawn(move || {
                rt.block_on(async move {
                    tokio::select! {
                        _ = stopped => {}
                        () = accept_loop(listener, upstream, config) => {}
                    }
                });
                // Dropping the runtime here drops every forwarding task and its sockets.
            })
            .context("spawning the front's thread")?;
        Ok(SlowAcceptFront {
            addr,
            config,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The front's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How it accepts.
    pub fn config(&self) -> &SlowAccept {
        &self.config
    }
}

impl Drop for SlowAcceptFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts one connection, forwards it on its own task, waits the interval; repeats.
async fn accept_loop(listener: TcpListener, upstream: SocketAddr, cfg: SlowAccept) {
    let mut accepted = 0u64;
    loop {
        let inbound = match listener.accept().await {
            Ok((s, _)) => s,
            // Out of descriptors or a connection reset in the queue: back off and go on.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        accepted += 1;
        tokio::spawn(forward(inbound, upstream));
        if cfg.stall_after == Some(accepted) {
            tokio::time::sleep(Duration::from_millis(cfg.stall_ms)).await;
        }
        if cfg.accept_interval_ms == 0 {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(cfg.accept_interval_ms)).await;
        }
    }
}

/// Copies bytes both ways until either side closes.
async fn forward(mut inbound: TcpStream, upstream: SocketAddr) {
    if let Ok(mut out) = TcpStream::connect(upstream).await {
        let _ = out.set_nodelay(true);
        let _ = inbound.set_nodelay(true);
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
    }
}
