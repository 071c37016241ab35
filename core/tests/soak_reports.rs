//! Issue 17's soak attacks, each performed on a sealed soak directory written file by
//! file as the soak writes it: the reports a person reads (`round-summary.json`,
//! `plans-created.txt`, `create-times.txt`, `daily/`, `checkpoints/`,
//! `final-report.{json,txt}`) are re-derived from the rounds' raw records by
//! `evidence verify`, and what the judge reads from those records cannot be thinned
//! (a recovery call or a create dropped) without a red check.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use val_core::check::{Report, Status};
use val_core::evidence::{self, derived, Provenance, RunDir};
use val_core::plans::val12::round_records::{CreateRecord, RoundRecord};
use val_core::plans::val12::soak_report::SoakView;
use val_core::plans::val12::{self, Calendar};
use val_core::plans::RunRef;
use val_core::records::{self, ListPage, RecoveryCall};
use val_core::wire::CliRun;

use common::rehash;

/// Rounds of the synthetic soak: a quarter day, a round every 30 simulated minutes.
const ROUNDS: u64 = 12;
/// Creates per round.
const CREATES: u64 = 10;
/// Recovery cap per round (the stuck scan lists one more than this).
const CAP: u64 = 2;

/// A finished, compressed soak of [`ROUNDS`] rounds: its settings and what differs.
#[derive(Default)]
struct SoakSpec {
    /// Rounds whose `/v1/health` answered 503.
    unhealthy: Vec<u64>,
    /// Rounds that found the control-plane dead and could not restart it: no workload.
    failed_restart: Vec<u64>,
}

/// Writes a file, creating its directory.
fn put(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// The soak directory's round directory of round `k` (its simulated time's name).
fn round_rel(k: u64) -> String {
    let s = (k - 1) * 1800;
    format!(
        "rounds/2026-01-01/round-{:02}{:02}{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// One recovery call for `id`, ok or failed.
fn call(id: &str, ok: bool) -> RecoveryCall {
    RecoveryCall {
        plan_id: id.into(),
        call: CliRun {
            args: ["rollback", "execute", "--resource", id]
                .map(String::from)
                .to_vec(),
            exit_code: Some(if ok { 0 } else { 5 }),
            signal: None,
            stdout: if ok {
                format!("outcome=success plan_id={id}")
            } else {
                String::new()
            },
            stderr: String::new(),
            duration_ms: 5,
            timed_out: false,
            spawn_error: None,
            env: Default::default(),
        },
    }
}

/// The raw records of round `k` whose restart failed, as the soak writes them.
fn write_failed_round(dir: &Path, rel: &str, mut rec: RoundRecord) {
    rec.restarted = true;
    rec.restart_ok = Some(false);
    rec.scan_http_code = None;
    rec.scan_limit = None;
    rec.metrics_http_code = None;
    rec.errors = vec!["restart failed: it did not start".into()];
    put(dir, &format!("{rel}/health.txt"), "code=000\nnot running\n");
    put(
        dir,
        &format!("{rel}/restart.txt"),
        "restart_ok=false error=x\n",
    );
    for f in [
        "creates.jsonl",
        "recovery.jsonl",
        "list-pages.jsonl",
        "metrics-scrape.prom",
    ] {
        put(dir, &format!("{rel}/{f}"), "");
    }
    put(
        dir,
        &format!("{rel}/stuck-scan.json"),
        "{\"error\":\"control-plane not running\"}\n",
    );
    put(
        dir,
        &format!("{rel}/round.json"),
        &serde_json::to_string_pretty(&rec).unwrap(),
    );
}

/// The raw records of round `k`.
fn write_round(dir: &Path, spec: &SoakSpec, k: u64, all_ids: &mut Vec<String>) {
    let rel = round_rel(k);
    let sim = (k - 1) as f64 * 1800.0;
    let real = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap()
        + chrono::Duration::milliseconds((sim / 7.2) as i64);
    let rec = RoundRecord {
        round: k,
        ts: format!("2026-01-01T{}Z", &rel[rel.len() - 6..]),
        real_ts: real.to_rfc3339(),
        sim_elapsed_s: sim,
        day: 1,
        scan_http_code: Some("200".into()),
        scan_limit: Some(CAP + 1),
        metrics_http_code: Some("200".into()),
        pid: Some(4242),
        rss_kb: Some(20_000 + k),
        open_fds: Some(30),
        duration_ms: 40,
        ..RoundRecord::default()
    };
    if spec.failed_restart.contains(&k) {
        return write_failed_round(dir, &rel, rec);
    }
    let code = if spec.unhealthy.contains(&k) {
        503
    } else {
        200
    };
    put(
        dir,
        &format!("{rel}/health.txt"),
        &format!("code={code}\n{{}}\n"),
    );
    let creates: Vec<CreateRecord> = (1..=CREATES)
        .map(|i| CreateRecord {
            plan_id: format!("soak-{k}-{i:02}"),
            status: Some(201),
            latency_us: 1000 * i + k,
            error: None,
        })
        .collect();
    all_ids.extend(creates.iter().map(|c| c.plan_id.clone()));
    put(
        dir,
        &format!("{rel}/creates.jsonl"),
        &records::to_jsonl(&creates),
    );
    // Three plans stuck, listed youngest first: the round recovers the two stalest.
    let stuck: Vec<Value> = (1..=CAP + 1)
        .map(|i| json!({"id": format!("soak-1-{i:02}"), "diagnosis": "retry it", "stale_seconds": i * 100}))
        .collect();
    put(
        dir,
        &format!("{rel}/stuck-scan.json"),
        &json!({"stuck_count": CAP + 1, "stuck": stuck}).to_string(),
    );
    let calls = [call("soak-1-03", true), call("soak-1-02", true)];
    put(
        dir,
        &format!("{rel}/recovery.jsonl"),
        &records::to_jsonl(&calls),
    );
    let cal = Calendar {
        interval_s: 1800.0,
        day_s: 86400.0,
        scale: 0.25 / 30.0,
        duration_days: 0.25,
    };
    let due = val12::ids_due(k, sim, &cal);
    let page = ListPage {
        page: 1,
        // One page of every plan: asked for with a limit that holds them.
        limit: Some(u32::try_from(all_ids.len().max(1)).unwrap()),
        status: Some(200),
        well_formed: true,
        items: all_ids.len(),
        ids: due.then(|| all_ids.clone()),
        next_cursor: Some(String::new()),
        latency_us: 100,
        ..ListPage::default()
    };
    put(
        dir,
        &format!("{rel}/list-pages.jsonl"),
        &records::to_jsonl(&[page]),
    );
    if due {
        put(dir, &format!("{rel}/plans-listed.txt"), "");
    }
    put(
        dir,
        &format!("{rel}/metrics-scrape.prom"),
        &format!("cp_http_requests_total{{route=\"x\"}} {}\n", k * 30),
    );
    put(
        dir,
        &format!("{rel}/round.json"),
        &serde_json::to_string_pretty(&rec).unwrap(),
    );
}

/// Writes the soak's raw files, ends it, derives every report and seals it; returns
/// the soak directory (`<tmp>/val12/soak`).
fn sealed_soak(tmp: &Path, spec: &SoakSpec) -> PathBuf {
    let dir = tmp.join("val12/soak");
    put(
        &dir,
        "config.env",
        &format!(
            "TIME_FACTOR=7200\nROUND_INTERVAL_S=1800\nSTUCK_THRESHOLD_S=3600\nDAY_S=86400\n\
             DURATION_DAYS=0.25\nCALENDAR_SCALE={}\nCREATES_PER_ROUND={CREATES}\n\
             RECOVERY_CAP={CAP}\nWARMUP_ROUNDS=2\nRSS_BUDGET_MB=512\nP99_LIMIT_MS=500\n\
             FAULTS=\nSIM_START=2026-01-01T00:00:00Z\n",
            0.25 / 30.0
        ),
    );
    put(
        &dir,
        "setup-summary.txt",
        "status=ok\nhealth_code=200\nstart_ms=120\n",
    );
    put(&dir, "alerts.log", "");
    let mut ids = Vec::new();
    for k in 1..=ROUNDS {
        write_round(&dir, spec, k, &mut ids);
    }
    // The alerts the soak issued, as its round and daily writers word them.
    let view = SoakView::read(&dir).unwrap();
    let alerts: String = val12::alerts::expected_bodies(&view)
        .iter()
        .map(|b| format!("2026-01-01T00:10:00Z {b}\n"))
        .collect();
    put(&dir, "alerts.log", &alerts);
    // The soak has ended: its final report's presence says so.
    put(&dir, "final-report.json", "{}");
    reseal(&dir);
    let v = evidence::verify(&dir);
    assert!(
        v.ok(),
        "the honest soak does not verify: {:?}",
        v.mismatches
    );
    dir
}

/// What `soak teardown` does: every derived file written again from the raw records,
/// then the manifest over every file.
fn reseal(dir: &Path) {
    // Twice: the judge reads whether the checkpoint files exist, and the first pass
    // may be what writes them.
    for _ in 0..2 {
        // A soak whose reports cannot be derived (an attack verify must refuse) is
        // sealed as it is.
        let Ok(d) = derived::derive(&RunRef {
            dir,
            suite: "val12",
            run_id: "soak",
            faults: &[],
        }) else {
            break;
        };
        for f in &d.files {
            put(dir, &f.path, &f.text);
        }
    }
    let run = RunDir::open(dir).unwrap();
    // The soak ran from just before its first round to after its last (the rounds'
    // real times start at SIM_START's instant in these fixtures).
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let prov = Provenance {
        started_at: Some(start),
        config: BTreeMap::new(),
        ..Provenance::default()
    };
    let ended = start + chrono::Duration::hours(1);
    evidence::write_manifest(&run, &prov, ended, None).unwrap();
}

/// Replaces `from` by `to` in the soak's file `rel` (which must hold it).
fn edit(dir: &Path, rel: &str, from: &str, to: &str) {
    let p = dir.join(rel);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{rel} holds no {from:?}:\n{text}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

/// The soak's judged report.
fn judged(dir: &Path) -> Report {
    Report::load(&dir.join("val12-report.json")).unwrap()
}

/// A check's status and note in `r`.
fn check(r: &Report, id: &str) -> (Status, String) {
    let c = r.check(id).unwrap();
    (c.status, c.note.clone().unwrap_or_default())
}

/// verify's mismatches of `dir`, which must hold one containing each of `want`.
fn mismatches_name(dir: &Path, want: &[&str]) -> Vec<String> {
    let v = evidence::verify(dir);
    for w in want {
        assert!(
            v.mismatches.iter().any(|m| m.contains(w)),
            "no mismatch names {w:?}: {:?}",
            v.mismatches
        );
    }
    v.mismatches
}

#[test]
fn a_sealed_soak_re_derives_every_report_a_person_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(tmp.path(), &SoakSpec::default());
    let v = evidence::verify(&dir);
    for rel in [
        "final-report.json",
        "final-report.txt",
        "daily/2026-01-01-summary.json",
        &format!("{}/round-summary.json", round_rel(7)),
        &format!("{}/plans-created.txt", round_rel(7)),
        &format!("{}/create-times.txt", round_rel(7)),
    ] {
        assert!(dir.join(rel).is_file(), "{rel} was not derived");
    }
    // 12 rounds × (summary, created, times, recovery, list walk), plus listings, the
    // day, the final report's two files and the two reports.
    assert!(v.derived_checked >= 12 * 5 + 5, "{}", v.derived_checked);
    // Each report file, edited and rehashed, differs from its re-derivation.
    for (rel, from, to) in [
        (
            "daily/2026-01-01-summary.json",
            "\"rounds_healthy\": 12",
            "\"rounds_healthy\": 13",
        ),
        (
            &format!("{}/round-summary.json", round_rel(4)) as &str,
            "\"health\": \"ok\"",
            "\"health\": \"failed\"",
        ),
    ] {
        let before = std::fs::read_to_string(dir.join(rel)).unwrap();
        edit(&dir, rel, from, to);
        rehash(&dir, &[rel]);
        mismatches_name(&dir, &[&format!("derived {rel}: differs")]);
        std::fs::write(dir.join(rel), before).unwrap();
        rehash(&dir, &[rel]);
    }
    assert!(evidence::verify(&dir).ok());
}

#[test]
fn one_round_answering_503_is_a_fail_in_the_final_report_and_an_edit_back_to_pass_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // The issue's attack, first without any edit of a report: round 5's health record
    // turns 503 after the soak was sealed with every round healthy, and the manifest
    // is rehashed for it. The final report written before no longer derives.
    let dir = sealed_soak(tmp.path(), &SoakSpec::default());
    let fin = std::fs::read_to_string(dir.join("final-report.txt")).unwrap();
    assert!(fin.contains("Uptime %: 100.0 (target"), "{fin}");
    assert!(
        fin.contains("Overall: PASS under profile compressed"),
        "{fin}"
    );
    let health = format!("{}/health.txt", round_rel(5));
    edit(&dir, &health, "code=200", "code=503");
    rehash(&dir, &[&health]);
    mismatches_name(
        &dir,
        &[
            "derived final-report.txt: differs",
            "derived final-report.json: differs",
            "check VAL12-08",
        ],
    );

    // Sealed over the 503 round: the judged report and both final-report files say
    // FAIL, with the uptime computed from the records (11 healthy of 12).
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(
        tmp.path(),
        &SoakSpec {
            unhealthy: vec![5],
            ..SoakSpec::default()
        },
    );
    assert_eq!(check(&judged(&dir), "VAL12-08").0, Status::Fail);
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("final-report.json")).unwrap())
            .unwrap();
    assert_eq!(json["healthy_rounds"], 11);
    assert_eq!(json["failed_rounds"], 1);
    let uptime = json["uptime_pct"].as_f64().unwrap();
    assert!((uptime - 1100.0 / 12.0).abs() < 1e-9, "{uptime}");
    let c08 = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "VAL12-08")
        .unwrap();
    assert_eq!(c08["status"], "FAIL");
    assert_eq!(json["verdict"]["custom"], false);
    let txt = std::fs::read_to_string(dir.join("final-report.txt")).unwrap();
    assert!(txt.contains("Uptime %: 91.667 (target ≥ 99.9%)"), "{txt}");
    assert!(txt.contains("Healthy rounds: 11\n"), "{txt}");
    let line08 = txt.lines().find(|l| l.starts_with("VAL12-08 ")).unwrap();
    assert!(line08.contains(": FAIL ("), "{line08}");
    assert!(
        txt.contains("Overall: FAIL under profile compressed"),
        "{txt}"
    );

    // The text edited back to PASS and 100 % uptime, rehashed: a verify mismatch.
    let forged = txt
        .replace("Uptime %: 91.667", "Uptime %: 100")
        .replace(line08, &line08.replace(": FAIL (", ": PASS ("))
        .replace("Overall: FAIL", "Overall: PASS");
    std::fs::write(dir.join("final-report.txt"), forged).unwrap();
    rehash(&dir, &["final-report.txt"]);
    mismatches_name(&dir, &["derived final-report.txt: differs"]);
}

#[test]
fn a_recovery_call_deleted_or_swapped_for_a_fresher_plan_turns_the_rollback_rate_red() {
    // Red-team D8: one call deleted from a round's recovery.jsonl while its stuck scan
    // still lists the plan, under the cap; every derived file rewritten to match.
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(tmp.path(), &SoakSpec::default());
    assert_eq!(check(&judged(&dir), "VAL12-10").0, Status::Pass);
    let rec = format!("{}/recovery.jsonl", round_rel(2));
    let text = std::fs::read_to_string(dir.join(&rec)).unwrap();
    let second = text.lines().nth(1).unwrap().to_string() + "\n";
    std::fs::write(dir.join(&rec), text.replace(&second, "")).unwrap();
    reseal(&dir);
    let r = judged(&dir);
    let (status, note) = check(&r, "VAL12-10");
    assert_eq!(status, Status::Fail, "{}", r.to_text());
    assert!(
        note.contains("plan soak-1-02 was listed by the round's stuck scan within the cap of 2")
            && note.contains("has no recovery call"),
        "{note}"
    );
    assert_eq!(check(&r, "VAL12-06").0, Status::Fail);

    // Over the cap which plans are recovered is not the round's choice: the two
    // stalest, in staleness order. A call for the freshest plan instead is red too.
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(tmp.path(), &SoakSpec::default());
    let swapped = [call("soak-1-03", true), call("soak-1-01", true)];
    put(&dir, &rec, &records::to_jsonl(&swapped));
    reseal(&dir);
    let (status, note) = check(&judged(&dir), "VAL12-10");
    assert_eq!(status, Status::Fail);
    assert!(note.contains("has no recovery call"), "{note}");
    let reordered = [call("soak-1-02", true), call("soak-1-03", true)];
    put(&dir, &rec, &records::to_jsonl(&reordered));
    reseal(&dir);
    let (status, note) = check(&judged(&dir), "VAL12-10");
    assert_eq!(status, Status::Fail);
    assert!(
        note.contains("not the stalest listed plans in staleness order"),
        "{note}"
    );
}

#[test]
fn a_create_record_or_a_create_time_removed_is_refused() {
    // Red-team K5: the slowest create time removed from create-times.txt (rehashed):
    // the text no longer derives from creates.jsonl.
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(tmp.path(), &SoakSpec::default());
    let times = format!("{}/create-times.txt", round_rel(1));
    let text = std::fs::read_to_string(dir.join(&times)).unwrap();
    let slowest = text.lines().last().unwrap().to_string() + "\n";
    std::fs::write(dir.join(&times), text.replace(&slowest, "")).unwrap();
    rehash(&dir, &[&times]);
    mismatches_name(&dir, &[&format!("derived {times}: differs")]);

    // The slowest create record removed from creates.jsonl itself, every derived file
    // rewritten to match: round 1 holds fewer creates than the soak makes, so the
    // checks that read it are red, never a better p99.
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(tmp.path(), &SoakSpec::default());
    let creates = format!("{}/creates.jsonl", round_rel(1));
    let text = std::fs::read_to_string(dir.join(&creates)).unwrap();
    let slowest = text.lines().last().unwrap().to_string() + "\n";
    std::fs::write(dir.join(&creates), text.replace(&slowest, "")).unwrap();
    reseal(&dir);
    // Provenance refuses it (config.env says how many creates a round makes) ...
    let v = evidence::verify(&dir);
    assert!(
        v.mismatches.iter().any(|m| m.contains("CREATES_PER_ROUND")),
        "{:?}",
        v.mismatches
    );
    // ... and the judge, reading the same records, is red on its own.
    let r = judged(&dir);
    for id in ["VAL12-02", "VAL12-04"] {
        let (status, note) = check(&r, id);
        assert_eq!(status, Status::Fail, "{id}: {}", r.to_text());
        assert!(
            note.contains("9 creates recorded, the soak makes 10 per round"),
            "{id}: {note}"
        );
    }
    // Every create record of round 3 removed, as if the round could not run: its own
    // record says it ran, so the creates it made are missing, not absent.
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(tmp.path(), &SoakSpec::default());
    put(&dir, &format!("{}/creates.jsonl", round_rel(3)), "");
    reseal(&dir);
    let r = judged(&dir);
    let (status, note) = check(&r, "VAL12-09");
    assert_eq!(status, Status::Fail, "{}", r.to_text());
    assert!(
        note.contains("0 creates recorded, the soak makes 10"),
        "{note}"
    );
    // The control: a round whose restart failed recorded no creates, and that is read as
    // a round without a workload, not as missing creates.
    let tmp = tempfile::tempdir().unwrap();
    let spec = SoakSpec {
        failed_restart: vec![8],
        ..SoakSpec::default()
    };
    let dir = sealed_soak(tmp.path(), &spec);
    let r = judged(&dir);
    assert_eq!(
        check(&r, "VAL12-09"),
        (Status::Pass, String::new()),
        "{}",
        r.to_text()
    );
    assert_eq!(check(&r, "VAL12-08").0, Status::Fail);
    // A record with a field the soak never writes is unreadable (strict records).
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(tmp.path(), &SoakSpec::default());
    edit(&dir, &creates, "{", "{\"ok\":true,");
    rehash(&dir, &[&creates]);
    let m = mismatches_name(&dir, &["derive"]);
    assert!(!m.is_empty());
}

#[test]
fn a_round_directory_copied_or_renamed_is_refused_without_a_panic() {
    // Red-team A25: round 7 copied into a second directory (a later simulated name)
    // and the soak resealed: verify names the round recorded twice, never panics.
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(tmp.path(), &SoakSpec::default());
    let copy = format!("{}11", &round_rel(7)[..round_rel(7).len() - 2]);
    let st = std::process::Command::new("cp")
        .arg("-r")
        .arg(dir.join(round_rel(7)))
        .arg(dir.join(&copy))
        .status()
        .unwrap();
    assert!(st.success());
    reseal(&dir);
    let m = mismatches_name(&dir, &["round 7 is in two directories"]);
    assert!(!evidence::verify(&dir).ok(), "{m:?}");

    // Red-team A4: the directories of rounds 3 and 4 swapped, every report re-derived:
    // a directory's name must be its round.json's simulated instant.
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(tmp.path(), &SoakSpec::default());
    let (a, b) = (dir.join(round_rel(3)), dir.join(round_rel(4)));
    let t = dir.join("rounds/swap");
    std::fs::rename(&a, &t).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(&t, &b).unwrap();
    reseal(&dir);
    mismatches_name(
        &dir,
        &[
            &format!("round 3 is in {}", round_rel(4)),
            &format!("round 4 is in {}", round_rel(3)),
        ],
    );

    // Two rounds whose simulated times do not rise with their numbers (both the
    // record and the directory moved): out of order.
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(tmp.path(), &SoakSpec::default());
    edit(
        &dir,
        &format!("{}/round.json", round_rel(5)),
        "\"sim_elapsed_s\": 7200.0",
        "\"sim_elapsed_s\": 3600.0",
    );
    reseal(&dir);
    mismatches_name(&dir, &["round 5 (", "is not later than round 4"]);
}

#[test]
fn an_alert_deleted_added_or_moved_outside_the_run_is_refused() {
    // Round 5 answered 503: the round raised a health alert and the complete day an
    // uptime alert.
    let spec = SoakSpec {
        unhealthy: vec![5],
        ..SoakSpec::default()
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(tmp.path(), &spec);
    let log = std::fs::read_to_string(dir.join("alerts.log")).unwrap();
    assert!(
        log.contains("ALERT cp_health_failed consecutive_failures=1 round=5 day=1")
            && log.contains("ALERT daily_uptime_pct="),
        "{log}"
    );
    // Red-team A1: the health alert deleted, every report re-derived and resealed.
    let health = log
        .lines()
        .find(|l| l.contains("cp_health_failed"))
        .unwrap();
    put(&dir, "alerts.log", &log.replace(&format!("{health}\n"), ""));
    reseal(&dir);
    mismatches_name(
        &dir,
        &["alerts.log: \"ALERT cp_health_failed consecutive_failures=1 round=5 day=1\" issued 0 time(s), the rounds' records imply 1"],
    );
    // An alert added that no record implies.
    put(
        &dir,
        "alerts.log",
        &format!("{log}2026-01-01T00:20:00Z ALERT cp_health_failed consecutive_failures=1 round=6 day=1\n"),
    );
    reseal(&dir);
    mismatches_name(
        &dir,
        &["round=6 day=1\" issued 1 time(s), the rounds' records imply 0"],
    );
    // A figure changed in an alert.
    put(&dir, "alerts.log", &log.replace("round=5", "round=4"));
    reseal(&dir);
    mismatches_name(
        &dir,
        &[
            "round=4 day=1\" issued 1 time(s)",
            "round=5 day=1\" issued 0 time(s)",
        ],
    );
    // The alerts as issued, one stamped after the run ended or not stamped at all.
    put(
        &dir,
        "alerts.log",
        &log.replacen("2026-01-01T00:10:00Z", "2026-01-02T00:10:00Z", 1),
    );
    reseal(&dir);
    mismatches_name(
        &dir,
        &["alerts.log line 1: issued at 2026-01-02T00:10:00Z, outside the run's"],
    );
    put(
        &dir,
        "alerts.log",
        &log.replacen("2026-01-01T00:10:00Z ", "", 1),
    );
    reseal(&dir);
    mismatches_name(
        &dir,
        &[
            "alerts.log line 1: \"ALERT",
            "does not start with an RFC 3339 time",
        ],
    );
    // As issued, it verifies.
    put(&dir, "alerts.log", &log);
    reseal(&dir);
    let v = evidence::verify(&dir);
    assert!(v.ok(), "{:?}", v.mismatches);
}

/// The audit store a control-plane writes for the soak's recovery calls: one
/// `rollback.executed` event per call, 1 ms into its round, with the call's outcome.
fn write_audit_store(dir: &Path) {
    let mut lines = String::new();
    for k in 1..=ROUNDS {
        let rel = round_rel(k);
        let rec: RoundRecord = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{rel}/round.json"))).unwrap(),
        )
        .unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(&rec.real_ts).unwrap()
            + chrono::Duration::milliseconds(1);
        let Ok(text) = std::fs::read_to_string(dir.join(format!("{rel}/recovery.jsonl"))) else {
            continue;
        };
        for line in text.lines() {
            let c: RecoveryCall = serde_json::from_str(line).unwrap();
            let ok = val12::recovery_succeeded(&c.call);
            lines += &format!(
                "{}\n",
                json!({"ts": at.to_rfc3339(), "event_type": "rollback.executed", "actor": "val12-soak-op",
                       "resource": c.plan_id, "outcome": if ok { "success" } else { "failure" },
                       "strategy": "retry", "reason": "soak-auto-recovery"})
            );
        }
    }
    put(dir, "audit-store/audit-2026-01-01.jsonl", &lines);
}

#[test]
fn an_audit_store_that_contradicts_a_successful_recovery_turns_the_rollback_rate_red() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(tmp.path(), &SoakSpec::default());
    write_audit_store(&dir);
    reseal(&dir);
    assert!(evidence::verify(&dir).ok());
    assert_eq!(check(&judged(&dir), "VAL12-10").0, Status::Pass);
    let store = "audit-store/audit-2026-01-01.jsonl";
    let honest = std::fs::read_to_string(dir.join(store)).unwrap();
    // Red-team A30: the store marks a rollback the call reports as a success a failure.
    let first = honest.lines().next().unwrap();
    let plan = serde_json::from_str::<Value>(first).unwrap()["resource"]
        .as_str()
        .unwrap()
        .to_string();
    put(
        &dir,
        store,
        &honest.replacen("\"outcome\":\"success\"", "\"outcome\":\"failure\"", 1),
    );
    reseal(&dir);
    let r = judged(&dir);
    for id in ["VAL12-06", "VAL12-10"] {
        let (status, note) = check(&r, id);
        assert_eq!(status, Status::Fail, "{id}: {}", r.to_text());
        assert!(
            note.contains(&format!(
                "the recovery of plan {plan} succeeded by its call, but audit-store/ records its rollback.executed in this round with outcome \"failure\""
            )),
            "{id}: {note}"
        );
    }
    // The event removed: a store that records rollbacks holds none for this one.
    put(&dir, store, &honest.replacen(&format!("{first}\n"), "", 1));
    reseal(&dir);
    let (status, note) = check(&judged(&dir), "VAL12-10");
    assert_eq!(status, Status::Fail);
    assert!(
        note.contains("holds no rollback.executed of it in this round"),
        "{note}"
    );
}

/// Round `k`'s scrape with the counter labelled by method, route and code, `errors`
/// of its creates answered 500 (cumulative over the soak's rounds).
fn labelled_scrape(k: u64, errors: u64) -> String {
    format!(
        "cp_http_requests_total{{method=\"GET\",route=\"/v1/health\",code=\"200\"}} {k}\n\
         cp_http_requests_total{{method=\"POST\",route=\"/v1/rollouts\",code=\"201\"}} {}\n\
         cp_http_requests_total{{method=\"POST\",route=\"/v1/rollouts/{{id}}/rollback\",code=\"200\"}} {}\n{}",
        k * CREATES - errors,
        k * CAP,
        if errors > 0 {
            format!("cp_http_requests_total{{method=\"POST\",route=\"/v1/rollouts\",code=\"500\"}} {errors}\n")
        } else {
            String::new()
        }
    )
}

#[test]
fn a_post_the_control_plane_counted_as_failed_while_the_creates_say_201_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sealed_soak(tmp.path(), &SoakSpec::default());
    for k in 1..=ROUNDS {
        put(
            &dir,
            &format!("{}/metrics-scrape.prom", round_rel(k)),
            &labelled_scrape(k, 0),
        );
    }
    reseal(&dir);
    let r = judged(&dir);
    assert_eq!(check(&r, "VAL12-09").0, Status::Pass, "{}", r.to_text());
    // Red-team A19: round 7's scrape counts a create answered 500 (and one 201 fewer)
    // while creates.jsonl still holds 10 answers 201.
    assert_scrape_red(&dir, 7, "the previous round's scrape");
    // Red-team R5: the same in the soak's first round, which has no previous scrape:
    // its counters rose from 0 when the control-plane started.
    put(
        &dir,
        &format!("{}/metrics-scrape.prom", round_rel(7)),
        &labelled_scrape(7, 0),
    );
    assert_scrape_red(&dir, 1, "the control-plane's start (0)");
}

/// Round `k`'s scrape made to count one POST answered 500 that its creates do not
/// show: VAL12-09 turns red, naming the round and what the increase was counted from.
fn assert_scrape_red(dir: &Path, k: u64, since: &str) {
    put(
        dir,
        &format!("{}/metrics-scrape.prom", round_rel(k)),
        &labelled_scrape(k, 1),
    );
    reseal(dir);
    let r = judged(dir);
    let (status, note) = check(&r, "VAL12-09");
    assert_eq!(status, Status::Fail, "{}", r.to_text());
    assert!(
        note.contains(&format!(
            "{}/metrics-scrape.prom: the control-plane counted 1 more POST answers outside 2xx than {since}, the round's records show 0",
            round_rel(k)
        )),
        "{note}"
    );
}
