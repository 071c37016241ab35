//! Contract §9: group commit, SIGKILL durability and graceful SIGTERM.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};

use crate::harness::*;

#[tokio::test]
async fn n_concurrent_creates_give_n_plans_and_exact_count() {
    const N: usize = 300;
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::default());
    let c = client();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..N {
        let (c, url) = (c.clone(), s.at("/v1/rollouts"));
        set.spawn(async move {
            c.post(url)
                .json(&plan(&format!("gc-{i:04}"), "oci://a"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let codes = set.join_all().await;
    assert!(codes.iter().all(|&c| c == 201), "{codes:?}");
    let ids = list_all(&c, &s, 37).await;
    assert_eq!(ids.len(), N);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), N);
    for i in [0, N / 2, N - 1] {
        assert_eq!(get(&c, &s, &format!("/v1/rollouts/gc-{i:04}")).await.0, 200);
    }
    assert_eq!(
        metric(&c, &s, "cp_rollout_plans_total ").await,
        Some(N as f64)
    );
    let created = audit_events(&s.audit_dir())
        .iter()
        .filter(|e| e["event_type"] == "rollout.created")
        .count();
    assert_eq!(created, N);
}

#[tokio::test]
async fn sigkill_during_concurrent_creates_loses_no_acknowledged_plan() {
    const WORKERS: usize = 50;
    let dir = tempdir();
    let mut s = Server::start(dir.path(), Opts::default());
    let c = client();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut sent = 0usize;
    let mut set = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        let (c, url, acked) = (c.clone(), s.at("/v1/rollouts"), acked.clone());
        set.spawn(async move {
            let mut attempts = 0usize;
            for b in 0..10_000 {
                let id = format!("k-w{w}-b{b}");
                attempts += 1;
                match c.post(&url).json(&plan(&id, "oci://a")).send().await {
                    Ok(r) if r.status().is_success() => acked.lock().unwrap().push(id),
                    // The kill: the connection breaks and the worker stops.
                    _ => return attempts,
                }
            }
            attempts
        });
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    kill(s.pid(), Signal::SIGKILL).unwrap();
    while let Some(n) = set.join_next().await {
        sent += n.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "the load reached the server: {} acked",
        acked.len()
    );
    s.restart();
    let stored: std::collections::HashSet<String> =
        list_all(&c, &s, 1000).await.into_iter().collect();
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    eprintln!(
        "SIGKILL test: {WORKERS} workers, {sent} creates sent, {} acknowledged, {} stored after restart, {} acknowledged lost",
        acked.len(),
        stored.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged plans lost: {lost:?}");
    assert_eq!(
        metric(&c, &s, "cp_rollout_plans_total ").await,
        Some(stored.len() as f64)
    );
}

#[tokio::test]
async fn sigterm_drains_checkpoints_and_exits_zero_within_5s() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), Opts::default());
    let c = client();
    for i in 0..20 {
        create(&c, &s, &plan(&format!("t-{i}"), "oci://a")).await;
    }
    // Requests in flight at the signal either complete or fail to connect; none hangs.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (c, url) = (c.clone(), s.at("/v1/rollouts"));
        set.spawn(async move {
            let r = c
                .post(url)
                .json(&plan(&format!("tf-{i}"), "oci://a"))
                .send()
                .await;
            r.map(|r| r.status().as_u16()).ok()
        });
    }
    let started = Instant::now();
    let stop = s.terminate();
    let took = Duration::from_millis(stop.elapsed_ms);
    assert!(
        stop.graceful && took <= Duration::from_secs(5),
        "no exit within 5 s of SIGTERM ({stop:?}); log:\n{}",
        s.log_text()
    );
    assert_eq!(stop.exit_code, Some(0), "{stop:?}");
    eprintln!("SIGTERM exit took {took:?}");
    let acked: Vec<String> = set
        .join_all()
        .await
        .into_iter()
        .enumerate()
        .filter(|(_, st)| st.is_some_and(|st| st == 201))
        .map(|(i, _)| format!("tf-{i}"))
        .collect();
    assert!(started.elapsed() < Duration::from_secs(10));
    let wal = s.data_dir().join("autonomy.db-wal");
    // SQLite may delete the WAL at the last close; any other error must not read as empty.
    let wal_len = match std::fs::metadata(&wal) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => panic!("{}: {e}", wal.display()),
    };
    assert_eq!(wal_len, 0, "WAL checkpointed (TRUNCATE) at shutdown");
    s.restart();
    let stored = list_all(&c, &s, 1000).await;
    assert!(stored.len() >= 20 + acked.len());
    for id in acked {
        assert!(
            stored.contains(&id),
            "{id} acknowledged before SIGTERM but missing"
        );
    }
}
