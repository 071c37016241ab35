//! Shared helpers of the harness tests.

use std::path::Path;

use axum::Router;
use val_support::cp::{CpConfig, Target};

/// Serves `router` on a loopback port 0 and returns its base URL; the server lives
/// as long as the test's runtime.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback port 0");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("mock server");
    });
    format!("http://{addr}")
}

/// A control-plane config for the reference binary, regardless of the environment's
/// `AUTONOMY_*` target, with its data under `dir`.
pub fn reference_config(dir: &Path) -> CpConfig {
    let mut cfg = CpConfig::new("demo", dir, &dir.join("demo-cp.log"));
    cfg.target = Target::Reference;
    cfg.ports = None;
    cfg
}

/// True while a process with this pid exists (a zombie counts: it was not reaped).
pub fn pid_exists(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

/// Writes the files of a passing demo run into `dir` (what a demo lab measures).
pub fn write_demo_files(ctx: &val_support::LabCtx) -> anyhow::Result<()> {
    ctx.write_text("demo-health.txt", "code=200\n")?;
    ctx.write_text(
        "demo-metrics-raw.txt",
        "# TYPE demo_requests counter\ndemo_requests_total{code=\"200\"} 3\ndemo_requests_total{code=\"500\"} 2\n",
    )?;
    let lat: String = (1..=100).map(|i| format!("{}\n", i * 1000)).collect();
    ctx.write_text("demo-latencies-us.txt", &lat)?;
    Ok(())
}
