//! HTTP as the records need it: through the harness's client, or byte for byte.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;
use val_support::client::{Client, Method, Recorded};
use val_support::plans::conformance::HttpRecord;

/// Timeout of one raw exchange.
const RAW_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Recorded`] answer as a record of case `case`.
pub fn record<T>(case: &str, r: &Recorded<T>) -> HttpRecord {
    HttpRecord {
        case: case.to_string(),
        method: r.method.clone(),
        target: r.path.clone(),
        status: r.status,
        body: r.text.clone(),
        error: r.error.clone().filter(|_| r.status.is_none()),
    }
}

/// Any request through the client, recorded (the body is sent verbatim).
pub async fn send(
    c: &Client,
    case: &str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> HttpRecord {
    let r: Recorded<Value> = c.request(method, path, &[], body).await;
    record(case, &r)
}

/// `GET /v1/rollouts/{id}`, recorded.
pub async fn get(c: &Client, id: &str) -> HttpRecord {
    send(c, "get", Method::GET, &format!("/v1/rollouts/{id}"), None).await
}

/// One HTTP/1.1 exchange with the request target sent byte for byte, so no client
/// normalises `%2e%2e` or a long path away before the control-plane sees it.
pub fn raw(
    base_url: &str,
    case: &str,
    method: &str,
    target: &str,
    body: Option<&[u8]>,
) -> HttpRecord {
    let mut rec = HttpRecord {
        case: case.to_string(),
        method: method.to_string(),
        target: target.to_string(),
        status: None,
        body: String::new(),
        error: None,
    };
    match raw_exchange(base_url, method, target, body) {
        Ok((status, text)) => {
            rec.status = Some(status);
            rec.body = text;
        }
        Err(e) => rec.error = Some(e),
    }
    rec
}

/// Sends the request, reads the whole answer (`Connection: close`), and returns the
/// status and the (de-chunked) body.
fn raw_exchange(
    base_url: &str,
    method: &str,
    target: &str,
    body: Option<&[u8]>,
) -> Result<(u16, String), String> {
    let addr = base_url.trim_start_matches("http://").trim_end_matches('/');
    let mut t = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    t.set_read_timeout(Some(RAW_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    t.write_all(head.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    t.write_all(body).map_err(|e| format!("send: {e}"))?;
    let mut out = Vec::new();
    t.read_to_end(&mut out).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or("no end of headers in the answer")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line: {head:?}"))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    Ok((
        status,
        if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        },
    ))
}

/// The payload of a chunked body.
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
