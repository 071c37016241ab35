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

/// A listener that stops accepting for 20 s when the N=100 tier starts (after the
/// 1 + 10 + 50 tiers' 305 connections): the tier's first 100 creates wait in the accept
/// queue for what is left of it, over 15 s, longer than the harness once allowed a
/// create (5 s connect, 10 s client default), yet every create is answered inside the plan's
/// bound, so 01..06, 08 and 09 PASS. VAL08-07 may rightly go either way for such a
/// listener and is not asserted.
///
/// The queue holds 128 so the test does not depend on SYN retransmits. With Python's
/// backlog of 5 and accepts as fast as one task can, most runs answered all 500
/// creates (slowest 4.4 s and 7.7 s in two), but on this shared 2-core machine some
/// runs lost 15–46 creates to the kernel's own give-up (`ETIMEDOUT` after about 31 s,
/// cause `tcp_timeout`), which the plan's curl would see as well: a true FAIL of such
/// a listener, and no ground for a test that must PASS.
#[test]
#[file_serial(val08_waits)]
fn val08_05_variant_slow_accept_within_bound() {
    let front = SlowAccept {
        backlog: 128,
        accept_interval_ms: 0,
        stall_after: Some(305),
        stall_ms: 20_000,
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
        recs.iter().all(|r| r.outcome == Outcome::Ok
            && r.deadline_ms == Some(deadline_ms)
            && r.cause.is_none()),
        "every N=100 create answered 201 under the {deadline_ms} ms deadline"
    );
    let waited = recs.iter().filter(|r| r.latency_us >= 15_000_000).count();
    assert_eq!(
        waited, 100,
        "the first create of each worker waited out the pause"
    );
}

/// A listener that stops accepting for 36 s when the N=100 tier starts (after the
/// 1 + 10 + 50 tiers' 305 connections): its first 100 creates wait in the accept queue
/// and have no answer by the 35 s deadline, so VAL08-05 and 08 turn red (and 06: the
/// tier outlasts 30 s), and each such create records cause `deadline` and the deadline
/// used. The queue holds 128 here, so every waiting connection is past its handshake
/// and the outcome does not depend on SYN retransmits (with 5, the storms after the
/// pause doubled the test's time); a steady slower rate fails only by retransmit luck.
#[test]
#[file_serial(val08_waits)]
fn val08_05_negative_slow_accept_past_deadline() {
    let front = SlowAccept {
        backlog: 128,
        accept_interval_ms: 0,
        stall_after: Some(305),
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
        .filter(|r| r.outcome != Outcome::Ok)
        .collect();
    assert!(!errors.is_empty());
    assert_eq!(
        errors.len(),
        100,
        "the N=100 tier's first creates: {errors:?}"
    );
    for r in &errors {
        assert_eq!(r.index, 1, "{r:?}");
        assert_eq!(r.deadline_ms, Some(deadline_ms), "{r:?}");
        assert_eq!(r.cause, Some(ErrorCause::Deadline), "{r:?}");
        assert!(r.latency_us >= deadline_ms * 1000, "{r:?}");
    }
}
