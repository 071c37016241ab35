//! Creates over one keep-alive HTTP/1.1 connection per worker, straight on hyper's
//! client connection: the load path of the driver benchmark beside wrk.
//!
//! The pooled [`crate::client::Client`] costs about twice wrk's CPU per create (pool
//! lookup, URL handling, header maps and a connection task per request), and on a
//! 2-core machine that CPU is taken from the control-plane under test. Here each
//! worker owns its connection and drives it in its own task, and the request's
//! headers and the body around the plan ID are built once.
//!
//! What is recorded is the client's [`Attempt`] with the same rules: one deadline per
//! request, connect included (`connect_timeout` when no connection was made by then,
//! `deadline` after it); a refused connect is `failed`; anything after the request
//! may have left (reset, closed, kernel timeout) is `indeterminate`; a non-success
//! status is `failed` with cause `status` and the API error's `code: message`; a
//! success answer whose body is not JSON keeps its outcome with cause `malformed_body`.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use val_core::load_result::{Attempt, ErrorCause, Outcome};
use val_core::wire::CreateRollout;

use crate::client::{error_chain, ErrorBody};

/// Marker replaced by the plan ID in the body template.
const ID_MARK: &str = "__fleetval_plan_id__";

/// What every connection of one run shares: the address, the deadline and the
/// prebuilt parts of a create request.
#[derive(Debug)]
pub struct CreateTarget {
    /// `host:port` to connect to.
    addr: String,
    host: HeaderValue,
    json: HeaderValue,
    uri: Uri,
    /// The create body before and after the plan ID (`fixtures/rollout-plan.json`).
    body_head: Bytes,
    body_tail: Bytes,
    deadline: Duration,
    deadline_ms: u64,
}

/// A base URL this path cannot serve (only `http://host:port`).
#[derive(Debug, thiserror::Error)]
#[error("keep-alive creates need an http://host:port base URL, got {0:?}")]
pub struct BadBaseUrl(String);

impl CreateTarget {
    /// Creates against `base_url` (e.g. `http://127.0.0.1:18993`), each answered
    /// within `deadline` of its start, connect included.
    pub fn new(base_url: &str, deadline: Duration) -> Result<Arc<CreateTarget>, BadBaseUrl> {
        let bad = || BadBaseUrl(base_url.to_string());
        let hostport = base_url
            .strip_prefix("http://")
            .map(|r| r.trim_end_matches('/'))
            .filter(|h| !h.is_empty() && !h.contains('/'))
            .ok_or_else(bad)?;
        let body =
            serde_json::to_string(&CreateRollout::new(ID_MARK)).expect("CreateRollout serialises");
        let (head, tail) = body.split_once(ID_MARK).expect("the ID is in the body");
        Ok(Arc::new(CreateTarget {
            addr: hostport.to_string(),
            host: HeaderValue::from_str(hostport).map_err(|_| bad())?,
            json: HeaderValue::from_static("application/json"),
            uri: Uri::from_static("/v1/rollouts"),
            body_head: Bytes::copy_from_slice(head.as_bytes()),
            body_tail: Bytes::copy_from_slice(tail.as_bytes()),
            deadline,
            deadline_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
        }))
    }

    /// The deadline of every create, ms (connect included).
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// `POST /v1/rollouts` of the template with this plan ID.
    fn request(&self, id: &str) -> Request<Full<Bytes>> {
        let mut body =
            BytesMut::with_capacity(self.body_head.len() + id.len() + self.body_tail.len());
        body.extend_from_slice(&self.body_head);
        // The ID is a JSON string's content: escape it as serde_json would.
        let quoted = serde_json::to_string(id).expect("a string serialises");
        body.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
        body.extend_from_slice(&self.body_tail);
        let mut req = Request::new(Full::new(body.freeze()));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        let h = req.headers_mut();
        h.insert(HOST, self.host.clone());
        h.insert(CONTENT_TYPE, self.json.clone());
        req
    }
}

type Conn = Pin<Box<http1::Connection<TokioIo<TcpStream>, Full<Bytes>>>>;

/// One worker's connection: opened on first use, reopened after the control-plane
/// closed it or a request on it failed.
pub struct KeepAliveConn {
    target: Arc<CreateTarget>,
    live: Option<(http1::SendRequest<Full<Bytes>>, Conn)>,
}

impl KeepAliveConn {
    /// A worker's connection to `target` (not yet opened).
    pub fn new(target: Arc<CreateTarget>) -> KeepAliveConn {
        KeepAliveConn { target, live: None }
    }

    /// Opens the connection now, within the create deadline, so the first create does
    /// not pay for it (a driver does this before its start barrier, as wrk connects
    /// before it sends). Returns whether it is open; a failure is not recorded here:
    /// the first create then connects itself and records what happens.
    pub async fn preconnect(&mut self) -> bool {
        if self.live.is_none() {
            if let Ok(Ok(l)) = tokio::time::timeout(self.target.deadline, self.connect()).await {
                self.live = Some(l);
            }
        }
        self.live.is_some()
    }

    /// Sends one create with this plan ID and records what happened.
    pub async fn create(&mut self, id: &str) -> Attempt {
        let deadline = self.target.deadline;
        let deadline_ms = Some(self.target.deadline_ms);
        let mut connected = false;
        let timed = tokio::time::timeout(deadline, self.exchange(id, &mut connected)).await;
        let mut a = match timed {
            Ok(a) => a,
            Err(_) => {
                // An unanswered request leaves the connection unusable.
                self.live = None;
                let (cause, what) = if connected {
                    (ErrorCause::Deadline, "no complete answer")
                } else {
                    (ErrorCause::ConnectTimeout, "no connection")
                };
                transport(
                    Outcome::Indeterminate,
                    cause,
                    format!("{what} within the deadline of {} ms", deadline.as_millis()),
                )
            }
        };
        a.deadline_ms = deadline_ms;
        a
    }

    /// Connects when needed, sends, reads the whole answer.
    async fn exchange(&mut self, id: &str, connected: &mut bool) -> Attempt {
        if let Some((_, conn)) = &mut self.live {
            // A connection the control-plane closed while idle is reopened, not used.
            if poll_fn(|cx| Poll::Ready(conn.as_mut().poll(cx).is_ready())).await {
                self.live = None;
            }
        }
        if self.live.is_none() {
            match self.connect().await {
                Ok(l) => self.live = Some(l),
                Err(a) => return a,
            }
        }
        *connected = true;
        let (tx, conn) = self.live.as_mut().expect("connected above");
        let req = self.target.request(id);
        let answer = async {
            let resp = tx.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await.map(|b| b.to_bytes());
            Ok::<_, hyper::Error>((status, body))
        };
        let (answer, conn_ended) = drive(conn, answer).await;
        if conn_ended {
            self.live = None;
        }
        match answer {
            Ok((status, body)) => judge_answer(status, body),
            Err(e) => {
                self.live = None;
                transport(Outcome::Indeterminate, hyper_cause(&e), error_chain(&e))
            }
        }
    }

    /// Opens the TCP connection and the HTTP/1.1 session on it.
    async fn connect(&self) -> Result<(http1::SendRequest<Full<Bytes>>, Conn), Attempt> {
        let stream = TcpStream::connect(&self.target.addr).await.map_err(|e| {
            let cause = match e.kind() {
                std::io::ErrorKind::TimedOut => ErrorCause::TcpTimeout,
                _ => ErrorCause::ConnectFailed,
            };
            transport(Outcome::Failed, cause, format!("connect: {e}"))
        })?;
        // Requests are small and answered one at a time: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let (tx, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| transport(Outcome::Failed, ErrorCause::ConnectFailed, error_chain(&e)))?;
        Ok((tx, Box::pin(conn)))
    }
}

/// Polls `answer` and the connection together in this task (no connection task, no
/// cross-task wake-up per request). Returns the answer and whether the connection
/// ended meanwhile; after it ended, `answer` resolves with hyper's error.
///
/// Each step of an exchange needs the other side once more (the request is queued,
/// then written; the head arrives, then the body is asked for and read), so both are
/// polled in turn a few times per wake-up: otherwise every step would be a wake-up of
/// its own and a trip through the scheduler's queue behind every other worker.
async fn drive<F: Future>(conn: &mut Conn, answer: F) -> (F::Output, bool) {
    let mut answer = std::pin::pin!(answer);
    let mut ended = false;
    let out = poll_fn(|cx| {
        for _ in 0..4 {
            if let Poll::Ready(v) = answer.as_mut().poll(cx) {
                return Poll::Ready(v);
            }
            if ended {
                break;
            }
            ended = conn.as_mut().poll(cx).is_ready();
        }
        Poll::Pending
    })
    .await;
    (out, ended)
}

/// The attempt of an answer: its status and, for a success, whether the body is JSON.
fn judge_answer(status: StatusCode, body: Result<Bytes, hyper::Error>) -> Attempt {
    let outcome = if status.is_success() {
        Outcome::Ok
    } else {
        Outcome::Failed
    };
    let mut a = Attempt {
        outcome,
        status: Some(status.as_u16()),
        error: None,
        cause: None,
        deadline_ms: None,
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            a.cause = Some(match hyper_cause(&e) {
                ErrorCause::Other => ErrorCause::MalformedBody,
                c => c,
            });
            a.error = Some(format!("reading the body: {}", error_chain(&e)));
            return a;
        }
    };
    if status.is_success() {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
            a.cause = Some(ErrorCause::MalformedBody);
            a.error = Some(format!("decoding the {status} body: {e}"));
        }
    } else {
        a.cause = Some(ErrorCause::Status);
        a.error = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|b| format!("{}: {}", b.error.code, b.error.message));
    }
    a
}

/// An attempt that got no answer.
fn transport(outcome: Outcome, cause: ErrorCause, error: String) -> Attempt {
    Attempt {
        outcome,
        status: None,
        error: Some(error),
        cause: Some(cause),
        deadline_ms: None,
    }
}

/// The class of a hyper error after the request may have left: the kernel's
/// `ETIMEDOUT` first, then resets and closes, else `other`.
fn hyper_cause(e: &hyper::Error) -> ErrorCause {
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            return match io.kind() {
                K::TimedOut => ErrorCause::TcpTimeout,
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    ErrorCause::Reset
                }
                _ => ErrorCause::Other,
            };
        }
        src = s.source();
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        ErrorCause::Reset
    } else {
        ErrorCause::Other
    }
}
