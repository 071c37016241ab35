//! One proxied connection: two pumps (request and answer) that consult the active fault
//! set at every chunk, and the record of how the connection ended.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{ConnEnd, ConnRecord, Direction, FaultKind, Shared, State};

/// The longest wait for the upstream connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest quiet gap while reading an answer that `ack_lost` will drop.
const CAPTURE_IDLE: Duration = Duration::from_secs(1);
/// Largest dropped answer kept in the record.
const CAPTURE_MAX: usize = 64 * 1024;

/// How one pump ended.
#[derive(Debug, PartialEq)]
enum PumpEnd {
    Closed,
    Reset,
    Cut,
    Shutdown,
    AckLost(Option<u16>, String),
    Error(String),
}

/// The fault kinds acting on `dir` of a connection with this draw.
fn acting(state: &State, dir: Direction, draw: f64) -> Vec<FaultKind> {
    state
        .faults
        .iter()
        .filter(|f| f.direction.covers(dir) && draw < f.toxicity)
        .map(|f| f.kind.clone())
        .collect()
}

/// A stable per-connection seed: the proxy's seed mixed with the connection number.
fn conn_seed(seed: u64, n: u64, salt: u64) -> u64 {
    seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// Serves connection number `n` and records how it ended.
pub(crate) async fn serve(shared: Arc<Shared>, client: TcpStream, n: u64) {
    let accepted_us = shared.offset_us();
    let draw: f64 = StdRng::seed_from_u64(conn_seed(shared.seed, n, 0)).random();
    let line = Mutex::new(None);
    let bytes = [AtomicU64::new(0), AtomicU64::new(0)];
    let end = run(&shared, client, n, draw, &line, &bytes).await;
    let (end, error, dropped_status, dropped_body) = match end {
        PumpEnd::Closed => (ConnEnd::Closed, None, None, None),
        PumpEnd::Reset => (ConnEnd::Reset, None, None, None),
        PumpEnd::Cut => (ConnEnd::Cut, None, None, None),
        PumpEnd::Shutdown => (ConnEnd::Shutdown, None, None, None),
        PumpEnd::AckLost(s, b) => (ConnEnd::AckLost, None, s, Some(b)),
        PumpEnd::Error(e) if e.starts_with("upstream: ") => {
            (ConnEnd::UpstreamUnreachable, Some(e), None, None)
        }
        PumpEnd::Error(e) => (ConnEnd::Error, Some(e), None, None),
    };
    let rec = ConnRecord {
        proxy: shared.name.clone(),
        conn: n,
        accepted_us,
        ended_us: shared.offset_us(),
        draw,
        request_line: line.lock().expect("line lock").clone(),
        bytes_up: bytes[0].load(Ordering::SeqCst),
        bytes_down: bytes[1].load(Ordering::SeqCst),
        end,
        error,
        dropped_status,
        dropped_body,
    };
    shared.conns.lock().expect("conn lock").push(rec);
}

/// Connects upstream and runs both pumps until both close or one ends abnormally, in
/// which case the client's connection is reset (RST, not FIN): a client must not
/// mistake a cut for a complete answer.
async fn run(
    shared: &Shared,
    client: TcpStream,
    n: u64,
    draw: f64,
    line: &Mutex<Option<String>>,
    bytes: &[AtomicU64; 2],
) -> PumpEnd {
    let state = shared.state.borrow().clone();
    let now = acting(&state, Direction::Both, draw);
    if state.closed || now.contains(&FaultKind::Down) {
        return reset(client, PumpEnd::Cut);
    }
    if now.contains(&FaultKind::Reset) {
        return reset(client, PumpEnd::Reset);
    }
    let upstream = *shared.upstream.lock().expect("upstream lock");
    let up = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return reset(client, PumpEnd::Error(format!("upstream: {e}"))),
        Err(_) => return reset(client, PumpEnd::Error("upstream: connect timed out".into())),
    };
    let _ = client.set_nodelay(true);
    let _ = up.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = up.into_split();
    let end = {
        let p_up = Pump {
            dir: Direction::Upstream,
            rx: shared.state.subscribe(),
            draw,
            rng: StdRng::seed_from_u64(conn_seed(shared.seed, n, 1)),
            line,
            bytes: &bytes[0],
        };
        let p_down = Pump {
            dir: Direction::Downstream,
            rx: shared.state.subscribe(),
            draw,
            rng: StdRng::seed_from_u64(conn_seed(shared.seed, n, 2)),
            line,
            bytes: &bytes[1],
        };
        let up_f = p_up.run(&mut cr, &mut uw);
        let down_f = p_down.run(&mut ur, &mut cw);
        tokio::pin!(up_f, down_f);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            let end = tokio::select! {
                e = &mut up_f, if !up_done => { up_done = true; e }
                e = &mut down_f, if !down_done => { down_done = true; e }
            };
            if end != PumpEnd::Closed || (up_done && down_done) {
                break end;
            }
        }
    };
    if end != PumpEnd::Closed {
        let _ = cr.as_ref().set_zero_linger();
        let _ = ur.as_ref().set_zero_linger();
    }
    end
}

/// Resets `client` (zero linger, then close) and returns `end`.
fn reset(client: TcpStream, end: PumpEnd) -> PumpEnd {
    let _ = client.set_zero_linger();
    drop(client);
    end
}

/// One direction of a connection.
struct Pump<'a> {
    dir: Direction,
    rx: watch::Receiver<State>,
    draw: f64,
    rng: StdRng,
    line: &'a Mutex<Option<String>>,
    bytes: &'a AtomicU64,
}

impl Pump<'_> {
    /// Forwards `src` to `dst` chunk by chunk, applying the faults acting at each chunk.
    async fn run(mut self, src: &mut OwnedReadHalf, dst: &mut OwnedWriteHalf) -> PumpEnd {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = tokio::select! {
                r = src.read(&mut buf) => match r {
                    Ok(0) => {
                        if let Some(end) = self.hold_while_blackholed().await {
                            return end;
                        }
                        let _ = dst.shutdown().await;
                        return PumpEnd::Closed;
                    }
                    Ok(n) => n,
                    Err(e) => return PumpEnd::Error(e.to_string()),
                },
                c = self.rx.changed() => {
                    if c.is_err() {
                        return PumpEnd::Shutdown;
                    }
                    // A switch acts on idle connections too: `down` cuts, `reset` resets.
                    if let Some(end) = self.interrupt() {
                        return end;
                    }
                    continue;
                }
            };
            if self.dir == Direction::Upstream {
                let mut l = self.line.lock().expect("line lock");
                if l.is_none() {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    *l = Some(text.lines().next().unwrap_or_default().to_string());
                }
            }
            if let Some(end) = self.interrupt() {
                return end;
            }
            let kinds = acting(&self.rx.borrow(), self.dir, self.draw);
            if kinds.contains(&FaultKind::Blackhole) {
                continue;
            }
            if let Some(prefix) = kinds.iter().find_map(|k| match k {
                FaultKind::AckLost { request_prefix } => Some(request_prefix.clone()),
                _ => None,
            }) {
                let matches = self
                    .line
                    .lock()
                    .expect("line lock")
                    .as_deref()
                    .is_some_and(|l| l.starts_with(&prefix));
                if self.dir == Direction::Downstream && matches {
                    return capture_dropped(src, buf[..n].to_vec()).await;
                }
            }
            if let Err(e) = self.forward(&kinds, &buf[..n], dst).await {
                return PumpEnd::Error(e.to_string());
            }
        }
    }

    /// A blackhole swallows the end of the stream too: while it acts, the close is held
    /// back (the peer sees silence, not a FIN); a switch that cuts ends the pump.
    async fn hold_while_blackholed(&mut self) -> Option<PumpEnd> {
        while acting(&self.rx.borrow(), self.dir, self.draw).contains(&FaultKind::Blackhole) {
            if self.rx.changed().await.is_err() {
                return Some(PumpEnd::Shutdown);
            }
            if let Some(end) = self.interrupt() {
                return Some(end);
            }
        }
        None
    }

    /// `down`, `reset` or shutdown acting now, as the end they cause.
    fn interrupt(&self) -> Option<PumpEnd> {
        let state = self.rx.borrow();
        if state.closed {
            return Some(PumpEnd::Shutdown);
        }
        let kinds = acting(&state, self.dir, self.draw);
        if kinds.contains(&FaultKind::Down) {
            Some(PumpEnd::Cut)
        } else if kinds.contains(&FaultKind::Reset) {
            Some(PumpEnd::Reset)
        } else {
            None
        }
    }

    /// Writes one chunk with latency, slicing and bandwidth applied.
    async fn forward(
        &mut self,
        kinds: &[FaultKind],
        chunk: &[u8],
        dst: &mut OwnedWriteHalf,
    ) -> std::io::Result<()> {
        for k in kinds {
            if let FaultKind::Latency { ms, jitter_ms } = k {
                let lo = ms.saturating_sub(*jitter_ms);
                let d = self.rng.random_range(lo..=ms + jitter_ms);
                tokio::time::sleep(Duration::from_millis(d)).await;
            }
        }
        let slicer = kinds.iter().find_map(|k| match k {
            FaultKind::Slicer { bytes, delay_us } => Some((*bytes.max(&1), *delay_us)),
            _ => None,
        });
        match slicer {
            Some((size, delay_us)) => {
                for (i, slice) in chunk.chunks(size).enumerate() {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_micros(delay_us)).await;
                    }
                    dst.write_all(slice).await?;
                }
            }
            None => dst.write_all(chunk).await?,
        }
        self.bytes.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        for k in kinds {
            if let FaultKind::Bandwidth { bytes_per_s } = k {
                let us = chunk.len() as u64 * 1_000_000 / (*bytes_per_s).max(1);
                tokio::time::sleep(Duration::from_micros(us)).await;
            }
        }
        Ok(())
    }
}

/// Reads the rest of the answer whose first chunk is `got` (until its Content-Length is
/// complete, the control-plane closes, or it goes quiet) and returns it as dropped.
async fn capture_dropped(src: &mut OwnedReadHalf, mut got: Vec<u8>) -> PumpEnd {
    let mut buf = vec![0u8; 16 * 1024];
    while !answer_complete(&got) && got.len() < CAPTURE_MAX {
        match tokio::time::timeout(CAPTURE_IDLE, src.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let (status, body) = split_answer(&got);
    PumpEnd::AckLost(status, body)
}

/// The end of an answer's header block, if it has arrived.
fn header_end(got: &[u8]) -> Option<usize> {
    got.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Whether the header block and `Content-Length` bytes of body have arrived.
fn answer_complete(got: &[u8]) -> bool {
    let Some(end) = header_end(got) else {
        return false;
    };
    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
    let len = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    len.is_some_and(|len| got.len() >= end + len)
}

/// The status of the status line and the body, verbatim (lossy UTF-8).
fn split_answer(got: &[u8]) -> (Option<u16>, String) {
    let end = header_end(got).unwrap_or(got.len());
    let head = String::from_utf8_lossy(&got[..end]);
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok());
    (status, String::from_utf8_lossy(&got[end..]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_complete_at_its_content_length() {
        let a = b"HTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\n{\"a\"";
        assert!(!answer_complete(&a[..a.len() - 1]));
        assert!(answer_complete(a));
        assert_eq!(split_answer(a), (Some(201), "{\"a\"".to_string()));
        assert_eq!(split_answer(b"garbage"), (None, String::new()));
    }
}
