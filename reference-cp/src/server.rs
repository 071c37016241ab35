//! `autonomy serve`: open the store, bind both listeners, report readiness, shut down gracefully.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::audit::AuditLog;
use crate::faults::Faults;
use crate::metrics::Metrics;
use crate::rbac::{self, Tokens};
use crate::store::{Store, StoreOptions};
use crate::variants::Variants;

/// Environment variable naming the audit directory.
pub const AUDIT_DIR_ENV: &str = "AUTONOMY_AUDIT_DIR";

/// Resolved `serve` configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// API listen address.
    pub listen: String,
    /// Metrics listen address.
    pub metrics_listen: String,
    /// Store directory.
    pub data_dir: PathBuf,
    /// Audit directory.
    pub audit_dir: PathBuf,
    /// Tokens file.
    pub tokens_file: Option<PathBuf>,
    /// Where to write the ready JSON.
    pub ready_file: Option<PathBuf>,
    /// Whether RBAC is enforced.
    pub rbac: bool,
    /// Active faults.
    pub faults: Faults,
    /// Active variants.
    pub variants: Variants,
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory, fsynced, then renamed.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("ready");
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Accept-queue length asked of the kernel (capped by net.core.somaxconn). The default
/// that `TcpListener::bind` uses overflows when hundreds of clients connect at once,
/// and a dropped SYN is retried only after a second: a 1 s p99 that is not the server's.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds a listener, naming the flag in the error.
async fn bind(addr: &str, flag: &str) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let sock_addr = tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("{flag} {addr}: cannot resolve"))?
        .next()
        .with_context(|| format!("{flag} {addr}: resolves to no address"))?;
    let socket = if sock_addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .with_context(|| format!("{flag} {addr}: cannot create a socket"))?;
    // Same as TcpListener::bind: a restart on the same port must not wait out TIME_WAIT.
    socket
        .set_reuseaddr(true)
        .with_context(|| format!("{flag} {addr}: SO_REUSEADDR"))?;
    socket
        .bind(sock_addr)
        .with_context(|| format!("{flag} {addr}: cannot bind"))?;
    let l = socket
        .listen(LISTEN_BACKLOG)
        .with_context(|| format!("{flag} {addr}: cannot listen"))?;
    let local = l.local_addr().context("reading the bound address")?;
    Ok((l, local))
}

/// Resolves once SIGTERM or SIGINT arrives.
async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// Runs the server until SIGTERM/SIGINT; returns after the store is drained and checkpointed.
pub async fn serve(cfg: ServeConfig) -> anyhow::Result<()> {
    if !cfg.faults.is_empty() {
        tracing::warn!("test-only faults active: {:?}", cfg.faults);
    }
    if !cfg.variants.is_empty() {
        tracing::info!("variants active: {:?}", cfg.variants);
    }
    let tokens = match (cfg.rbac, &cfg.tokens_file) {
        (true, Some(p)) => Some(Tokens::load(p)?),
        (true, None) => bail!("{}=1 requires --tokens-file", rbac::RBAC_ENV),
        (false, _) => None,
    };
    // Install the handlers before reporting ready, so a harness's SIGTERM right after readiness is never lost.
    let signal = shutdown_signal();
    tokio::pin!(signal);

    let metrics = Arc::new(Metrics::new(&cfg.faults));
    let mut audit = AuditLog::open(&cfg.audit_dir)
        .with_context(|| format!("opening audit dir {}", cfg.audit_dir.display()))?;
    if cfg.faults.no_fsync {
        audit = audit.without_fsync();
    }
    let opts = StoreOptions {
        audit_drop: cfg.faults.audit_drop,
        lose_newest: cfg.faults.lose_writes_on_restart,
        phase_reset: cfg.faults.phase_reset_on_restart,
        evict_beyond: cfg.faults.evict_oldest,
        replay_rewrites: cfg.faults.replay_rewrites,
        no_fsync: cfg.faults.no_fsync,
        ack_on_write_error: cfg.faults.ack_on_write_error,
    };
    let store = Arc::new(
        Store::open(&cfg.data_dir, audit, metrics.plans.clone(), opts)
            .with_context(|| format!("opening the store in {}", cfg.data_dir.display()))?,
    );
    let (api_l, api_addr) = bind(&cfg.listen, "--listen").await?;
    let (met_l, met_addr) = bind(&cfg.metrics_listen, "--metrics-listen").await?;

    let state = Arc::new(AppState::new(
        store.clone(),
        metrics.clone(),
        cfg.faults.clone(),
        cfg.variants.clone(),
        tokens,
    ));
    if cfg.faults.writes_fail_after_sigcont {
        // Installed before readiness so that no SIGCONT after a harness's SIGSTOP is missed.
        use tokio::signal::unix::{signal, SignalKind};
        let mut cont = signal(SignalKind::from_raw(nix::libc::SIGCONT))
            .context("installing SIGCONT handler")?;
        let st = state.clone();
        tokio::spawn(async move {
            while cont.recv().await.is_some() {
                st.resumed.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let until_stop = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let api_stop = until_stop(stop_rx.clone());
    let api_task = tokio::spawn(async move {
        axum::serve(api_l, api::api_router(state))
            .with_graceful_shutdown(api_stop)
            .await
    });
    let met_stop = until_stop(stop_rx);
    let met_task = tokio::spawn(async move {
        axum::serve(met_l, api::metrics_router(metrics))
            .with_graceful_shutdown(met_stop)
            .await
    });

    let pid = std::process::id();
    if let Some(path) = &cfg.ready_file {
        let ready = serde_json::json!({"listen": api_addr.to_string(), "metrics": met_addr.to_string(), "pid": pid});
        write_atomic(path, ready.to_string().as_bytes())
            .with_context(|| format!("writing ready file {}", path.display()))?;
    }
    eprintln!("autonomy ready listen={api_addr} metrics={met_addr} pid={pid}");

    let which = signal.await?;
    tracing::info!("{which}: draining");
    let _ = stop_tx.send(true);
    // In-flight requests finish (their writes are still queued to the writer); idle keep-alive
    // connections close at once. The bound keeps the whole exit well under 5 s.
    let drained = tokio::time::timeout(Duration::from_secs(3), async {
        let _ = api_task.await;
        let _ = met_task.await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still open after 3 s; closing the store anyway");
    }
    if tokio::time::timeout(Duration::from_millis(1500), store.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("store drain timed out");
    }
    tracing::info!("stopped");
    Ok(())
}
