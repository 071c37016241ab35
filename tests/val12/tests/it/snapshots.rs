//! The reports' shapes, snapshotted with insta (measured values redacted).

use super::shared;

/// `rounds/2026-11-23/round-114732/x` → `rounds/[date]/round-[hhmmss]/x`: round
/// directories are named by the (simulated) clock, which starts at the real start time.
fn redact_round_dir(path: &str) -> String {
    let mut parts: Vec<&str> = path.split('/').collect();
    if parts.len() >= 3 && parts[0] == "rounds" && parts[1] != "*" {
        parts[1] = "[date]";
        parts[2] = "round-[hhmmss]";
    }
    parts.join("/")
}

/// The JSON report's shape on the smoke soak-lite. Measured values (latencies, start
/// time, recovery counts and rates, which depend on how many plans the host's timing
/// made stuck) are redacted; what a PASS pins down (round counts, create counts of
/// round 1, plans at round 10, healthy rounds, the scaled VAL12-09 target) is kept.
#[test]
fn val12_report_json_snapshot() {
    let lab = shared();
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.run_dir().join("val12-report.json")).unwrap(),
    )
    .unwrap();
    insta::assert_json_snapshot!("val12_report_json", report, {
        ".run_id" => "[run_id]",
        ".target.path" => "[binary path]",
        ".target.sha256" => "[binary sha256]",
        ".target.url" => "[url]",
        ".checks[].evidence[]" => insta::dynamic_redaction(|v, _| {
            redact_round_dir(v.as_str().expect("evidence entries are strings"))
        }),
        ".checks[0].observed.start_ms" => "[ms]",
        ".checks[3].observed" => "[p99_ms]",
        ".checks[5].observed.attempts" => "[count]",
        ".checks[5].observed.ok" => "[count]",
        ".checks[5].observed.fail" => "[count]",
        ".checks[5].observed.rate" => "[rate]",
        ".checks[6].observed" => "[p99_ms]",
        ".checks[8].observed.total_creates" => "[count]",
        ".checks[9].observed.attempts" => "[count]",
        ".checks[9].observed.ok" => "[count]",
        ".checks[9].observed.fail" => "[count]",
        ".checks[9].observed.rate" => "[rate]",
        ".checks[11].observed.max_round_p99_ms" => "[p99_ms]",
        ".checks[11].observed.worst_round" => "[round]",
    });
}

/// A JSON value's shape: every leaf becomes its type name, arrays keep the shape of
/// their first element, so measured values never reach a snapshot.
fn shape(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Null => "<null>".into(),
        Value::Bool(_) => "<bool>".into(),
        Value::Number(_) => "<number>".into(),
        Value::String(_) => "<string>".into(),
        Value::Array(a) => Value::Array(a.iter().take(1).map(shape).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
    }
}

/// The soak's own `final-report.json` (what an operator's tooling reads): its keys and
/// value types. The checks inside it are the ones snapshotted above, so only their IDs
/// and verdicts are kept.
#[test]
fn val12_final_report_json_shape_snapshot() {
    let lab = shared();
    let mut fin: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.run_dir().join("final-report.json")).unwrap(),
    )
    .unwrap();
    let checks: Vec<String> = fin["checks"]
        .as_array()
        .expect("final-report.json has checks")
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["id"].as_str().unwrap(),
                c["status"].as_str().unwrap()
            )
        })
        .collect();
    fin["checks"] = serde_json::Value::Null;
    let mut snap = shape(&fin);
    snap["checks"] = serde_json::json!(checks);
    insta::assert_json_snapshot!("val12_final_report_json_shape", snap);
}
