//! The fault proxy against a tiny HTTP responder: each fault does what it says, and
//! every switch and connection is recorded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use val_support::netfault::{ConnEnd, Direction, Fault, FaultKind, FaultProxy};

/// The responder's answer to every request.
const ANSWER: &[u8] =
    b"HTTP/1.1 201 Created\r\ncontent-length: 15\r\nconnection: close\r\n\r\n{\"id\":\"plan-1\"}";

/// Answers every connection's first request with [`ANSWER`] and closes.
async fn responder() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let _ = s.write_all(ANSWER).await;
            });
        }
    });
    addr
}

/// One request through `addr`: the answer's bytes, or the I/O error's kind.
async fn call(addr: SocketAddr) -> Result<Vec<u8>, std::io::ErrorKind> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.kind())?;
    s.write_all(b"POST /v1/rollouts HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .await
        .map_err(|e| e.kind())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.map_err(|e| e.kind())?;
    Ok(out)
}

/// A proxy in front of a fresh responder.
async fn setup(name: &str) -> FaultProxy {
    FaultProxy::start(name, responder().await, 7).unwrap()
}

#[tokio::test]
async fn passes_through_when_healed() {
    let p = setup("pass").await;
    assert_eq!(call(p.addr()).await.unwrap(), ANSWER);
    p.shutdown().await;
    let c = p.connections();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].end, ConnEnd::Closed);
    assert_eq!(c[0].bytes_down, ANSWER.len() as u64);
    assert_eq!(
        c[0].request_line.as_deref(),
        Some("POST /v1/rollouts HTTP/1.1")
    );
}

#[tokio::test]
async fn latency_slicer_and_bandwidth_delay_but_deliver() {
    let p = setup("slow").await;
    for (kind, at_least) in [
        (
            FaultKind::Latency {
                ms: 50,
                jitter_ms: 10,
            },
            80,
        ),
        (
            FaultKind::Slicer {
                bytes: 10,
                delay_us: 20_000,
            },
            60,
        ),
        (FaultKind::Bandwidth { bytes_per_s: 1_000 }, 60),
    ] {
        p.set(vec![Fault::always(kind.clone())], "slow");
        let t = Instant::now();
        assert_eq!(call(p.addr()).await.unwrap(), ANSWER, "{kind:?}");
        assert!(
            t.elapsed() >= Duration::from_millis(at_least),
            "{kind:?}: {:?}",
            t.elapsed()
        );
    }
    assert_eq!(p.switches().len(), 3);
}

#[tokio::test]
async fn down_refuses_and_heal_takes_the_port_back() {
    let p = setup("down").await;
    p.set(vec![Fault::always(FaultKind::Down)], "down");
    assert!(p.wait_listening(false, Duration::from_secs(2)).await);
    assert_eq!(
        call(p.addr()).await.unwrap_err(),
        std::io::ErrorKind::ConnectionRefused
    );
    p.heal("up");
    assert!(p.wait_listening(true, Duration::from_secs(2)).await);
    assert_eq!(call(p.addr()).await.unwrap(), ANSWER);
}

#[tokio::test]
async fn reset_resets_and_blackhole_never_answers() {
    let p = setup("rb").await;
    p.set(vec![Fault::always(FaultKind::Reset)], "reset");
    let r = call(p.addr()).await;
    // Reset before any answer: an error, or at most an empty read.
    assert!(r.as_ref().map_or(true, |v| v.is_empty()), "{r:?}");
    p.set(vec![Fault::always(FaultKind::Blackhole)], "blackhole");
    let r = tokio::time::timeout(Duration::from_millis(300), call(p.addr())).await;
    assert!(r.is_err(), "a blackhole answers nothing: {r:?}");
    p.shutdown().await;
    let c = p.connections();
    assert_eq!(c[0].end, ConnEnd::Reset);
    assert_eq!(c[1].bytes_down, 0);
}

#[tokio::test]
async fn ack_lost_forwards_then_drops_the_answer_and_records_it() {
    let p = setup("ack").await;
    let ack_lost = |prefix: &str| Fault {
        kind: FaultKind::AckLost {
            request_prefix: prefix.into(),
        },
        direction: Direction::Downstream,
        toxicity: 1.0,
    };
    // Another request line is not affected.
    p.set(vec![ack_lost("GET /")], "ack-lost for reads only");
    assert_eq!(call(p.addr()).await.unwrap(), ANSWER);
    p.set(vec![ack_lost("POST /v1/rollouts")], "ack-lost for creates");
    let r = call(p.addr()).await;
    assert!(r.as_ref().map_or(true, |v| v.is_empty()), "{r:?}");
    p.shutdown().await;
    let c = p.connections();
    assert_eq!(c[1].end, ConnEnd::AckLost);
    assert_eq!(c[1].dropped_status, Some(201));
    assert_eq!(c[1].dropped_body.as_deref(), Some("{\"id\":\"plan-1\"}"));
}

#[tokio::test]
async fn toxicity_picks_connections_by_seeded_draw() {
    let p = setup("tox").await;
    p.set(
        vec![Fault {
            kind: FaultKind::Reset,
            direction: Direction::Both,
            toxicity: 0.5,
        }],
        "half the connections reset",
    );
    for _ in 0..20 {
        let _ = call(p.addr()).await;
    }
    p.shutdown().await;
    let c = p.connections();
    let reset = c.iter().filter(|r| r.end == ConnEnd::Reset).count();
    assert!((1..20).contains(&reset), "{reset} of 20 reset");
    assert!(c
        .iter()
        .all(|r| (r.end == ConnEnd::Reset) == (r.draw < 0.5)));
}
