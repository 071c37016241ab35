//! The plan's deadline, not the harness's taste: creates through a listener that
//! accepts slowly with a backlog of 5 (as Python's `socketserver` does). 100 workers
//! released at once overflow that queue, so dropped SYNs are retransmitted and some
//! connects take seconds; a create counts as an error only when it has no answer by
//! the deadline derived from the plan's 30 s bound (`val08::CREATE_DEADLINE`).

use serial_test::file_serial;
use val08::{requests_file, CreateRecord, SlowAccept, CREATE_DEADLINE};
use val_support::load::{ErrorCause, Outcome};
use val_support::plans::val08::Config;
use val_support::Lab;

/// The N=100 tier's typed request records.
fn n100_records(lab: &Lab) -> Vec<CreateRecord> {
    let path = lab.run_dir().join(requests_file("scenario-n100"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// Accepts as fast as one task can with a backlog of 5, as Python's `socketserver`
/// does: 100 workers released at once overflow the queue, SYNs are dropped and retried
/// after 1, 2, 4 s, and connects take seconds, yet every create is answered well inside
/// the plan's bound, so the zero-error checks PASS. VAL08-07 may rightly go either way
/// for such a listener and is not asserted.
///
/// Why not slower: a front that accepts one connection every 3 ms, or pauses 6 s, on
/// this shared 2-core machine left some handshakes unfinished until the kernel gave up
/// on them (`ETIMEDOUT` after about 31 s, cause `tcp_timeout`): an error the plan's curl
/// would see as well, so such a listener rightly fails.
#[test]
#[file_serial(val08)]
fn val08_05_variant_slow_accept_within_bound() {
    let front = SlowAccept {
        backlog: 5,
        accept_interval_ms: 0,
        stall_after: None,
        stall_ms: 0,
    };
    let lab = val08::slow_accept(front, &Config::default()).expect("the slow-accept lab ran");
    for id in [
        "VAL08-01", "VAL08-02", "VAL08-03", "VAL08-04", "VAL08-05", "VAL08-06", "VAL08-08",
        "VAL08-09",
    ] {
        lab.assert_check(id);
    }
    let recs = n100_records(&lab);
    assert_eq!(recs.len(), 500);
    let deadline_ms = CREATE_DEADLINE.as_millis() as u64;
    assert!(
        recs.iter().all(|r| r.request.outcome == Outcome::Ok
            && r.request.deadline_ms == Some(deadline_ms)
            && r.request.cause.is_none()),
        "every N=100 create answered 201 under the {deadline_ms} ms deadline"
    );
    let slowest = recs.iter().map(|r| r.request.latency_us).max().unwrap_or(0);
    let over_5s = recs
        .iter()
        .filter(|r| r.request.latency_us > 5_000_000)
        .count();
    eprintln!("N=100 through the front: slowest create {slowest} µs; {over_5s} over 5 s");
}

/// The same listener pauses 36 s instead, in the middle of the N=100 tier (after the
/// 1 + 10 + 50 tiers' 305 connections and 200 more): the creates queued or dropped
/// then have no answer by the 35 s deadline, so VAL08-05 and 08 turn red (and 06: the
/// tier outlasts 30 s), and each such create records its cause and the deadline used.
#[test]
#[file_serial(val08)]
fn val08_05_negative_slow_accept_past_deadline() {
    let front = SlowAccept {
        backlog: 5,
        accept_interval_ms: 0,
        stall_after: Some(505),
        stall_ms: 36_000,
    };
    let lab = val08::slow_accept(front, &Config::default()).expect("the slow-accept lab ran");
    let red = lab.red_checks();
    for id in ["VAL08-05", "VAL08-06", "VAL08-08"] {
        assert!(
            red.contains(id),
            "{id} not red: {red:?}\n{}",
            lab.report().to_text()
        );
    }
    for id in ["VAL08-01", "VAL08-02", "VAL08-03", "VAL08-04"] {
        lab.assert_check(id);
    }
    let deadline_ms = CREATE_DEADLINE.as_millis() as u64;
    let errors: Vec<_> = n100_records(&lab)
        .into_iter()
        .filter(|r| r.request.outcome != Outcome::Ok)
        .collect();
    assert!(!errors.is_empty());
    // Queued connections wait for an answer past the deadline; SYNs dropped by the full
    // queue are retried until the connect deadline; a handshake whose last ACK the full
    // queue dropped is given up by the kernel first (tcp_timeout, about 31 s).
    for r in &errors {
        assert_eq!(r.request.deadline_ms, Some(deadline_ms), "{r:?}");
        match r.request.cause {
            Some(ErrorCause::ConnectTimeout | ErrorCause::Deadline) => {
                assert!(r.request.latency_us >= deadline_ms * 1000, "{r:?}")
            }
            Some(ErrorCause::TcpTimeout) => {}
            _ => panic!("a stalled listener's error has a timeout cause: {r:?}"),
        }
    }
    assert!(
        errors.iter().any(|r| matches!(
            r.request.cause,
            Some(ErrorCause::ConnectTimeout | ErrorCause::Deadline)
        )),
        "some create reached the harness's own deadline: {errors:?}"
    );
}
