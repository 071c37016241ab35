//! The sharded load simulated here as a Kubernetes Indexed Job runs it: four
//! `val08-shard` processes with `JOB_COMPLETION_INDEX` 0..3 and `FLEETVAL_SHARDS=4`
//! against one reference control-plane, meeting at a barrier directory (the shared
//! volume) and a common start time; then `evidence merge` and `evidence verify`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serial_test::file_serial;
use val_support::cp::{ControlPlane, CpConfig, Target};
use val_support::evidence::merge::{merge, MergeRefusal};
use val_support::evidence::{self, Provenance, RunDir};
use val_support::plans::shards::files::{MergedFigures, FIGURES_JSON};
use val_support::plans::shards::records::{ShardCreate, ShardInfo, SHARD_FILE};
use val_support::stats;

const SHARDS: usize = 4;

/// The shard processes; killed and reaped if the test panics before they end.
struct Shards(Vec<Child>);

impl Drop for Shards {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts shard `i` as an Indexed Job's pod would: only its own environment.
fn spawn_shard(i: usize, url: &str, work: &Path, start_at_ms: u128) -> Child {
    Command::new(env!("CARGO_BIN_EXE_val08-shard"))
        .args([
            "--out",
            &work.join(format!("shard-{i}")).display().to_string(),
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("JOB_COMPLETION_INDEX", i.to_string())
        .env("FLEETVAL_SHARDS", SHARDS.to_string())
        .env("AUTONOMY_CP_URL", url)
        .env("FLEETVAL_STAGES", "smoke,n100")
        .env("FLEETVAL_BATCH", "2")
        .env("FLEETVAL_LOAD_ID", "ci")
        .env("FLEETVAL_BARRIER", work.join("barrier"))
        .env("FLEETVAL_BARRIER_TIMEOUT_S", "60")
        .env("FLEETVAL_START_AT", start_at_ms.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn val08-shard")
}

/// Waits for every shard (60 s at most) and asserts each succeeded.
fn wait_all(shards: &mut Shards) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, c) in shards.0.iter_mut().enumerate() {
        loop {
            if let Some(st) = c.try_wait().expect("try_wait") {
                let mut err = String::new();
                if let Some(mut e) = c.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                assert!(st.success(), "shard {i} failed ({st}): {err}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "shard {i} still running after 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Every create a shard recorded for `label`.
fn shard_creates(dir: &Path, label: &str) -> Vec<ShardCreate> {
    let info: ShardInfo = val_support::fsx::read_json(&dir.join(SHARD_FILE)).unwrap();
    let run = info.stages.iter().find(|s| s.label == label).unwrap();
    std::fs::read_to_string(dir.join(&run.records))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A copy of shard `from`, changed by `edit` and resealed so that its files match
/// its manifest: only the edit makes it differ from the shard it copies.
fn resealed(from: &Path, to: &Path, edit: impl FnOnce(&Path)) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    edit(to);
    let run = RunDir::open(to).unwrap();
    evidence::write_manifest(&run, &Provenance::default(), chrono::Utc::now(), None).unwrap();
    to.to_path_buf()
}

/// Edits a shard directory's `shard.json`.
fn edit_info(dir: &Path, edit: impl FnOnce(&mut ShardInfo)) {
    let mut info: ShardInfo = val_support::fsx::read_json(&dir.join(SHARD_FILE)).unwrap();
    edit(&mut info);
    val_support::fsx::write_json_atomic(&dir.join(SHARD_FILE), &info).unwrap();
}

/// Replaces the first `201` of a shard's smoke records by `500`.
fn fail_one_create(dir: &Path) {
    let f = dir.join("stage-smoke-requests.jsonl");
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replacen("\"status\":201", "\"status\":500", 1);
    assert!(text.contains("\"status\":500"), "a create was answered 201");
    std::fs::write(&f, text).unwrap();
}

#[test]
#[file_serial(val08)]
fn selftest_four_shards_merge_to_the_union_and_an_incomplete_set_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let mut cfg = CpConfig::new(
        "val08",
        &work.path().join("cp"),
        &work.path().join("cp.log"),
    );
    cfg.target = Target::Reference;
    let cp = ControlPlane::start(cfg).expect("reference control-plane");
    // After the shards' clock pings (about a second), all four start together.
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 2500;
    let mut shards = Shards(
        (0..SHARDS)
            .map(|i| spawn_shard(i, cp.url(), work.path(), start))
            .collect(),
    );
    wait_all(&mut shards);
    drop(cp);
    let dirs: Vec<PathBuf> = (0..SHARDS)
        .map(|i| work.path().join(format!("shard-{i}")))
        .collect();

    // Each shard recorded the raw pings its clock estimates are re-derived from.
    for d in &dirs {
        let info: ShardInfo = val_support::fsx::read_json(&d.join(SHARD_FILE)).unwrap();
        for c in [&info.clock_before, &info.clock_after] {
            let c = c.as_ref().expect("a clock estimate");
            assert_eq!(c.raw.len(), c.pings, "{}", d.display());
        }
        assert_eq!(info.check(), Ok(()));
    }
    let out = work.path().join("merged");
    merge(&dirs, &out).expect("the four shards merge");
    let v = evidence::verify(&out);
    assert!(v.ok(), "the merged run verifies: {:?}", v.mismatches);
    assert!(v.report.as_ref().unwrap().verdict.all_pass());
    let m: MergedFigures = val_support::fsx::read_json(&out.join(FIGURES_JSON)).unwrap();
    assert_eq!(m.stages.len(), 2);
    for st in &m.stages {
        let all: Vec<ShardCreate> = dirs
            .iter()
            .flat_map(|d| shard_creates(d, &st.label))
            .collect();
        // Counts: the merged count is the sum of the shards', every ID once.
        assert_eq!(st.records, all.len());
        assert_eq!(
            st.records,
            st.per_shard.iter().map(|s| s.records).sum::<usize>()
        );
        assert_eq!(st.records, st.workers * 2, "stage {}", st.label);
        let mut ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "the shards' IDs are disjoint");
        // Percentiles: those of every sample in one list.
        let lat: Vec<u64> = all
            .iter()
            .filter(|c| c.request.status == Some(201))
            .map(|c| c.request.latency_us)
            .collect();
        assert_eq!(st.ok, lat.len());
        assert_eq!(st.p50_us, stats::nearest_rank(&lat, 50.0));
        assert_eq!(st.p90_us, stats::nearest_rank(&lat, 90.0));
        assert_eq!(st.p99_us, stats::nearest_rank(&lat, 99.0));
        assert_eq!(st.max_us, lat.iter().copied().max());
        assert!(st
            .peak_concurrency
            .is_some_and(|p| p >= 1 && p <= st.workers));
        assert!(st.wall_us.is_some() && st.wall_error_us.is_some());
    }
    refusals(work.path(), &dirs);
    merged_negatives(work.path(), &dirs);
}

/// Every set that is not exactly one load is refused, with its reason.
fn refusals(work: &Path, dirs: &[PathBuf]) {
    let out = |n: &str| work.join(n);
    let r = merge(&dirs[..3], &out("m-missing")).unwrap_err();
    assert!(
        matches!(r, MergeRefusal::Missing { ref missing, count: 4 } if missing == &[3]),
        "{r}"
    );
    let twice = [dirs.to_vec(), vec![dirs[1].clone()]].concat();
    let r = merge(&twice, &out("m-twice")).unwrap_err();
    assert!(
        matches!(r, MergeRefusal::Duplicated { index: 1, .. }),
        "{r}"
    );
    let other = resealed(&dirs[3], &out("other-target"), |d| {
        edit_info(d, |i| i.target = "http://127.0.0.1:1".into())
    });
    let r = merge(&[&dirs[..3], &[other]].concat(), &out("m-target")).unwrap_err();
    assert!(
        matches!(r, MergeRefusal::OtherTarget { index: 3, .. }),
        "{r}"
    );
    let other = resealed(&dirs[3], &out("other-config"), |d| {
        edit_info(d, |i| i.config.batch = 3)
    });
    let r = merge(&[&dirs[..3], &[other]].concat(), &out("m-config")).unwrap_err();
    assert!(
        matches!(r, MergeRefusal::OtherConfiguration { index: 3, .. }),
        "{r}"
    );
    // A stage's records read from outside the shard (another shard's file), though
    // the shard's own files all match its manifest.
    let trav = resealed(&dirs[3], &out("trav"), |d| {
        edit_info(d, |i| {
            i.stages[0].records = "../shard-1/stage-smoke-requests.jsonl".into()
        })
    });
    let r = merge(&[&dirs[..3], &[trav]].concat(), &out("m-trav")).unwrap_err();
    assert!(
        matches!(r, MergeRefusal::Unreadable { ref reason, .. } if reason.contains("the shard writes them to")),
        "{r}"
    );
    // Shard 0's records relabelled as shard 1: another shard's workers and IDs.
    let copied = resealed(&dirs[0], &out("copied"), |d| edit_info(d, |i| i.index = 1));
    let r = merge(
        &[&dirs[..1], &[copied], &dirs[2..]].concat(),
        &out("m-copied"),
    )
    .unwrap_err();
    assert!(matches!(r, MergeRefusal::Unreadable { .. }), "{r}");
    // A shard record edited after the shard sealed it.
    let tampered = out("tampered");
    resealed(&dirs[2], &tampered, |_| {});
    let f = tampered.join("stage-smoke-requests.jsonl");
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replacen("\"status\":201", "\"status\":500", 1);
    std::fs::write(&f, text).unwrap();
    let r = merge(
        &[&dirs[..2], &[tampered], &dirs[3..]].concat(),
        &out("m-tampered"),
    )
    .unwrap_err();
    assert!(matches!(r, MergeRefusal::Unreadable { .. }), "{r}");
    for n in [
        "m-missing",
        "m-twice",
        "m-target",
        "m-config",
        "m-tampered",
        "m-trav",
        "m-copied",
    ] {
        assert!(
            !out(n).join("manifest.json").exists(),
            "{n}: nothing sealed"
        );
    }
}

/// Each merged check turns FAIL on its own fault, and a shard record changed inside
/// a sealed merged run is found by verify even when the merged manifest is redone.
fn merged_negatives(work: &Path, dirs: &[PathBuf]) {
    let judged = |name: &str, shards: Vec<PathBuf>| {
        let out = work.join(name);
        merge(&shards, &out).expect("a complete set merges");
        val_support::Report::load(&out.join("val08-merged-report.json")).unwrap()
    };
    let mut with_error = dirs.to_vec();
    with_error[1] = resealed(&dirs[1], &work.join("err-1"), fail_one_create);
    let r = judged("n-errors", with_error);
    assert_eq!(r.status("MERGED-02"), Some(val_support::Status::Fail));
    assert_eq!(r.status("MERGED-01"), Some(val_support::Status::Pass));
    let no_clock: Vec<PathBuf> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            resealed(d, &work.join(format!("noclock-{i}")), |d| {
                edit_info(d, |i| {
                    i.clock_before = None;
                    i.clock_after = None
                })
            })
        })
        .collect();
    let r = judged("n-clock", no_clock);
    assert_eq!(r.status("MERGED-03"), Some(val_support::Status::Fail));
    assert_eq!(r.status("MERGED-02"), Some(val_support::Status::Pass));
    // Inside a merged run: a shard's record edited and the merged manifest redone.
    let out = work.join("n-inside");
    merge(dirs, &out).unwrap();
    fail_one_create(&out.join("shards/shard-0"));
    let run = RunDir::open(&out).unwrap();
    evidence::write_manifest(&run, &Provenance::default(), chrono::Utc::now(), None).unwrap();
    let v = evidence::verify(&out);
    assert!(
        !v.ok(),
        "an edited shard record inside the merged run must not verify"
    );
    assert_eq!(
        v.report.unwrap().status("MERGED-01"),
        Some(val_support::Status::Fail),
        "{:?}",
        v.mismatches
    );
}
