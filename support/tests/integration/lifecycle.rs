//! Control-plane lifecycle against the reference binary: start, kill, restart,
//! pause/resume, stop, early exit, remote targets, and that no process outlives
//! its `ControlPlane` (also when the test panics).

use std::time::Duration;

use val_support::client::{Client, CreateRollout};
use val_support::cp::{self, ControlPlane, CpError, Target};

use super::util::{pid_exists, reference_config};

/// A current-thread runtime for the few async calls of these sync tests.
fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test_log::test]
fn start_kill_restart_keeps_data_and_ports() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cp = ControlPlane::start(reference_config(tmp.path())).unwrap();
    let pid = cp.pid().unwrap();
    let listen = cp.listen_addr().unwrap();
    assert_ne!(listen.port(), 0, "the ready file reports the bound port");
    let rt = rt();
    let c = Client::for_cp(&cp);
    assert_eq!(rt.block_on(c.health()).status, Some(200));
    assert_eq!(
        rt.block_on(c.create(&CreateRollout::new("life-1"))).status,
        Some(201)
    );

    let killed = cp.kill().unwrap();
    assert_eq!(killed.signal, Some(9));
    assert!(!pid_exists(pid), "kill() returns only after the reap");
    assert!(
        rt.block_on(c.health()).status.is_none(),
        "nothing answers after a kill"
    );

    cp.start_again().unwrap();
    assert_eq!(cp.listen_addr(), Some(listen), "restart reuses the ports");
    assert_ne!(cp.pid(), Some(pid));
    let got = rt.block_on(c.get("life-1"));
    assert_eq!(
        got.status,
        Some(200),
        "the store survives SIGKILL: {}",
        got.line()
    );
    assert_eq!(cp.starts(), 2);

    let stopped = cp.restart().unwrap();
    assert!(stopped.graceful, "{stopped:?}");
    assert_eq!(stopped.exit_code, Some(0));
    assert_eq!(rt.block_on(c.health()).status, Some(200));

    let log = std::fs::read_to_string(cp.log_file()).unwrap();
    assert!(
        log.contains("start #3"),
        "the log is appended across restarts:\n{log}"
    );
}

#[test_log::test]
fn pause_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cp = ControlPlane::start(reference_config(tmp.path())).unwrap();
    let url = cp.url().to_string();
    cp.pause().unwrap();
    let paused = cp::http_status(&url, "/v1/health", Duration::from_millis(300));
    assert!(
        paused.is_err(),
        "a SIGSTOPped server answers nothing: {paused:?}"
    );
    cp.resume().unwrap();
    assert_eq!(
        cp::http_status(&url, "/v1/health", Duration::from_secs(5)).unwrap(),
        200
    );
    // A paused process can still be stopped gracefully: stop() continues it.
    cp.pause().unwrap();
    let out = cp.stop().unwrap();
    assert!(out.graceful, "{out:?}");
}

#[test_log::test]
fn drop_kills_and_reaps() {
    let tmp = tempfile::tempdir().unwrap();
    let cp = ControlPlane::start(reference_config(tmp.path())).unwrap();
    let pid = cp.pid().unwrap();
    assert!(pid_exists(pid));
    drop(cp);
    assert!(!pid_exists(pid), "pid {pid} survived Drop");
}

#[test_log::test]
fn drop_on_panic_leaves_no_process() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = reference_config(tmp.path());
    let (tx, rx) = std::sync::mpsc::channel();
    let joined = std::thread::spawn(move || {
        let cp = ControlPlane::start(cfg).unwrap();
        tx.send(cp.pid().unwrap()).unwrap();
        panic!("test body panics while the control-plane runs");
    })
    .join();
    assert!(joined.is_err(), "the thread panicked");
    let pid = rx.recv().unwrap();
    assert!(!pid_exists(pid), "pid {pid} survived a panic");
}

#[test_log::test]
fn early_exit_is_reported_at_once_with_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = reference_config(tmp.path()).faults(&["no-such-fault"]);
    cfg.ready_timeout = Duration::from_secs(60);
    let t0 = std::time::Instant::now();
    let err = ControlPlane::start(cfg).unwrap_err();
    assert!(matches!(err, CpError::EarlyExit { .. }), "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "not reported as a timeout"
    );
    assert!(
        err.to_string().contains("no-such-fault"),
        "log tail shown: {err}"
    );
}

#[test_log::test]
fn faults_reach_the_child_and_unhealthy_can_be_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = reference_config(tmp.path())
        .faults(&["health-fail"])
        .operator("val11-chaos-op");
    let env = cfg.child_env();
    assert_eq!(
        env.get("AUTONOMY_FAULTS").map(String::as_str),
        Some("health-fail")
    );
    assert_eq!(
        env.get("AUTONOMY_RBAC_ENFORCEMENT").map(String::as_str),
        Some("0")
    );
    assert_eq!(
        env.get("AUTONOMY_OPERATOR").map(String::as_str),
        Some("val11-chaos-op")
    );

    // Demanding a 200 from a server whose health is made to fail: a timeout that says why.
    cfg.ready_timeout = Duration::from_secs(2);
    let err = ControlPlane::start(cfg.clone()).unwrap_err();
    assert!(matches!(err, CpError::StartTimeout { .. }), "{err}");
    assert!(err.to_string().contains("503"), "{err}");

    // Accepting any answer: started, so a check can observe the 503.
    let cp = ControlPlane::start(cfg.accept_unhealthy()).unwrap();
    assert_eq!(
        cp::http_status(cp.url(), "/v1/health", Duration::from_secs(5)).unwrap(),
        503
    );
}

#[test_log::test]
fn running_child_sees_only_whitelisted_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let cp = ControlPlane::start(reference_config(tmp.path())).unwrap();
    let environ = std::fs::read(format!("/proc/{}/environ", cp.pid().unwrap())).unwrap();
    for var in environ.split(|b| *b == 0).filter(|v| !v.is_empty()) {
        let key = String::from_utf8_lossy(var.split(|b| *b == b'=').next().unwrap()).into_owned();
        assert!(
            val_support::env::ENV_WHITELIST.contains(&key.as_str()) || key.starts_with("AUTONOMY_"),
            "{key} leaked into the control-plane"
        );
    }
}

#[test_log::test]
fn launch_template_with_picked_ports() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = cp::reference_binary().unwrap();
    let mut cfg = reference_config(tmp.path());
    cfg.target = Target::Binary {
        path: bin,
        args_template: Some(
            "serve --listen {listen} --metrics-listen {metrics} --data-dir {data_dir} --audit-dir {audit_dir}".into(),
        ),
    };
    let mut cp = ControlPlane::start(cfg).unwrap();
    assert_eq!(
        cp::http_status(cp.url(), "/v1/health", Duration::from_secs(5)).unwrap(),
        200
    );
    assert_eq!(cp.record().mode, "binary");
    let port = cp.listen_addr().unwrap().port();
    cp.kill().unwrap();
    cp.start_again().unwrap();
    assert_eq!(cp.listen_addr().unwrap().port(), port);
}

#[test_log::test]
fn remote_target_cannot_be_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let local = ControlPlane::start(reference_config(tmp.path())).unwrap();
    let mut cfg = reference_config(tmp.path());
    cfg.target = Target::Remote {
        url: local.url().to_string(),
        metrics_url: local.metrics_url().map(str::to_string),
    };
    let mut remote = ControlPlane::start(cfg).unwrap();
    assert!(remote.is_remote());
    assert_eq!(remote.pid(), None);
    let err = remote.kill().unwrap_err();
    let reason = err.not_run_reason().expect("NOT_RUN reason");
    assert!(reason.contains("AUTONOMY_CP_URL"), "{reason}");
    assert!(remote.restart().unwrap_err().not_run_reason().is_some());
    assert!(remote.pause().unwrap_err().not_run_reason().is_some());
    drop(remote);
    assert_eq!(
        cp::http_status(local.url(), "/v1/health", Duration::from_secs(5)).unwrap(),
        200,
        "dropping a remote handle leaves the control-plane alone"
    );
}

#[test_log::test]
fn binary_info_for_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let cp = ControlPlane::start(reference_config(tmp.path())).unwrap();
    let b = cp.binary().unwrap();
    assert_eq!(b.sha256.len(), 64);
    assert!(
        b.version.as_deref().unwrap_or("").starts_with("autonomy "),
        "{b:?}"
    );
    let r = cp.record();
    assert_eq!(r.mode, "reference");
    assert_eq!(r.starts, 1);
}

#[test_log::test]
fn fixed_ports_are_used_as_given_and_kept_across_restarts() {
    assert_eq!(cp::plan_ports("val08"), Some((18993, 19093)));
    assert_eq!(cp::plan_ports("val11"), Some((18996, 19096)));
    assert_eq!(cp::plan_ports("val12"), Some((19000, 19100)));
    // The plans' own ports may be taken on a shared machine; any two fixed ports
    // exercise the same path (`FLEETVAL_FIXED_PORTS=1` only fills `cfg.ports`).
    let (listen, metrics) = {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        (
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        )
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = reference_config(tmp.path());
    cfg.ports = Some((listen, metrics));
    let mut cp = ControlPlane::start(cfg).unwrap();
    assert_eq!(cp.listen_addr().unwrap().port(), listen);
    assert_eq!(
        cp.metrics_url(),
        Some(format!("http://127.0.0.1:{metrics}").as_str())
    );
    cp.kill().unwrap();
    cp.start_again().unwrap();
    assert_eq!(
        cp.listen_addr().unwrap().port(),
        listen,
        "restart keeps the port"
    );
}

#[test_log::test]
fn a_taken_fixed_port_is_an_early_exit_with_the_log() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = reference_config(tmp.path());
    cfg.ports = Some((taken, 0));
    let err = ControlPlane::start(cfg).unwrap_err();
    assert!(
        matches!(err, CpError::EarlyExit { .. }),
        "a fixed port is never silently replaced: {err}"
    );
}

/// Starts the reference with `panic-on-health` and asks for health once: it answers
/// 200 and its log shows a panic.
fn panicking_cp(cfg: cp::CpConfig) -> ControlPlane {
    let cp = ControlPlane::start(cfg.faults(&["panic-on-health"])).unwrap();
    let health = rt().block_on(Client::for_cp(&cp).health());
    assert_eq!(
        health.status,
        Some(200),
        "the fault keeps the server healthy"
    );
    cp
}

#[test]
fn a_panic_in_the_log_fails_a_passing_test() {
    let tmp = tempfile::tempdir().unwrap();
    let cp = panicking_cp(reference_config(tmp.path()));
    let pid = cp.pid().unwrap();
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(cp)));
    let payload = dropped.expect_err("dropping the handle panics");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("the control-plane panicked")
            && message.contains("injected fault panic-on-health")
            && message.contains("expect_panic"),
        "the failure names the panic and shows the log: {message}"
    );
    assert!(
        !pid_exists(pid),
        "the process is reaped before the guard fails"
    );
}

#[test]
fn an_expected_panic_passes_and_a_clean_log_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let cp = panicking_cp(reference_config(tmp.path()).expect_panic());
    assert!(cp.unexpected_panic().is_none());
    drop(cp);
    // A later handle on the same log reads only what its own process wrote.
    let cp = ControlPlane::start(reference_config(tmp.path())).unwrap();
    assert_eq!(
        rt().block_on(Client::for_cp(&cp).health()).status,
        Some(200)
    );
    assert!(cp.unexpected_panic().is_none());
}
