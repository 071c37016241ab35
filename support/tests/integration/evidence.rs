//! Run directories, manifests, reports and `evidence verify`.

use std::path::{Path, PathBuf};

use val_support::check::{Report, Status};
use val_support::evidence::{self, Manifest};
use val_support::fsx;
use val_support::lab::{self, Lab};

use super::util::write_demo_files;

/// A passing demo lab under a fresh evidence root.
fn demo_lab(root: &Path) -> Lab {
    lab::try_shared_at(root, "demo", |ctx| {
        ctx.config("tiers", &[1, 10, 50, 100]);
        ctx.load_model(
            "scenario-n10",
            &val_support::load::ClosedModel {
                workers: 10,
                per_worker: 5,
            },
        );
        // The requests record the load model is held against by `evidence verify`.
        let requests: String = (1..=10)
            .flat_map(|w| (1..=5).map(move |i| (w, i)))
            .map(|(w, i)| format!("{{\"id\":\"demo-{w}-{i}\",\"worker\":{w},\"index\":{i}}}\n"))
            .collect();
        ctx.write_text("scenario-n10-requests.jsonl", &requests)?;
        write_demo_files(ctx)?;
        Ok(())
    })
    .unwrap()
}

/// Loads a run directory's manifest.
fn manifest(run: &Path) -> Manifest {
    fsx::read_json(&run.join("manifest.json")).unwrap()
}

#[test]
fn run_directory_layout_and_latest() {
    let root = tempfile::tempdir().unwrap();
    let lab = demo_lab(root.path());
    let run = lab.run_dir();
    assert_eq!(run.parent().unwrap(), root.path().join("demo"));
    let name = run.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.len() > 17 && name.as_bytes()[8] == b'T' && name.contains("Z-"),
        "{name}"
    );
    let latest = std::fs::canonicalize(root.path().join("demo/latest")).unwrap();
    assert_eq!(latest, std::fs::canonicalize(run).unwrap());
    for f in [
        "demo-report.json",
        "demo-report.txt",
        "manifest.json",
        "demo-health.txt",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    assert!(
        lab.report().verdict.plan_pass(),
        "{}",
        lab.report().to_text()
    );
    lab.assert_check("DEMO-01");
}

#[test]
fn manifest_contents() {
    let root = tempfile::tempdir().unwrap();
    let lab = demo_lab(root.path());
    let m = manifest(lab.run_dir());
    assert_eq!(m.schema, evidence::MANIFEST_SCHEMA);
    assert_eq!(m.suite, "demo");
    assert_eq!(m.run_id, lab.report().run_id);
    assert!(!m.negative);
    assert!(m.started_at <= m.ended_at);
    assert_eq!(m.harness_version, env!("CARGO_PKG_VERSION"));
    assert!(
        m.tools.rustc.as_deref().unwrap_or("").starts_with("rustc "),
        "{:?}",
        m.tools
    );
    assert_eq!(
        m.tools.nextest.is_some(),
        std::env::var("NEXTEST_VERSION").is_ok()
    );
    assert!(m.host.cpus.unwrap_or(0) > 0);
    assert!(m.host.memory_bytes.unwrap_or(0) > 0);
    assert!(m.git.dirty.is_some(), "git state recorded: {:?}", m.git);
    assert_eq!(m.config["tiers"], serde_json::json!([1, 10, 50, 100]));
    assert_eq!(m.load_model["scenario-n10"]["workers"], 10);
    assert!(m.percentile_method.contains("nearest-rank"));
    assert!(m.faults.is_empty());
    assert_eq!(m.lab_error, None);
    // Every file but the manifest, each with its real sha256.
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "demo-health.txt",
            "demo-latencies-us.txt",
            "demo-latency-summary.txt",
            "demo-metrics-raw.txt",
            "demo-report.json",
            "demo-report.txt",
            // The lab's configuration, from which the report's profile is derived (no
            // target.json: the demo lab starts no control-plane).
            "lab-config.json",
            "scenario-n10-requests.jsonl"
        ]
    );
    for f in &m.files {
        assert_eq!(
            f.sha256,
            fsx::sha256_file(&lab.run_dir().join(&f.path)).unwrap()
        );
    }
}

#[test]
fn manifest_records_the_control_plane_binary() {
    let root = tempfile::tempdir().unwrap();
    let lab = lab::isolated_at(
        root.path(),
        "demo",
        &["create-delay-ms=1"],
        &serde_json::json!({"n": 1}),
        |ctx, _| {
            let mut cfg = ctx.cp_config();
            cfg.target = val_support::cp::Target::Reference;
            cfg.ports = None;
            let cp = ctx.start_cp_with(cfg)?;
            let health = ctx.block_on(ctx.client(&cp).health());
            ctx.write_text("demo-health.txt", &format!("code={}\n", health.code()))?;
            Ok(())
        },
    )
    .unwrap();
    let m = manifest(lab.run_dir());
    assert!(m.negative);
    assert_eq!(m.faults, ["create-delay-ms=1"]);
    assert_eq!(m.config["lab"], serde_json::json!({"n": 1}));
    let cp = m.control_plane.expect("control-plane recorded");
    let bin = cp.binary.expect("binary recorded");
    assert_eq!(bin.sha256, fsx::sha256_file(Path::new(&bin.path)).unwrap());
    assert!(bin.version.clone().unwrap().starts_with("autonomy "));
    assert_eq!(
        cp.env.get("AUTONOMY_FAULTS").map(String::as_str),
        Some("create-delay-ms=1")
    );
    assert!(lab.run_dir().join("demo-cp.log").is_file());
    // The typed start record: the binary started (with its sha256) and its faults.
    let events = std::fs::read_to_string(lab.run_dir().join("demo-cp-events.jsonl")).unwrap();
    let starts: Vec<val_support::wire::StartRecord> = events
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<val_support::wire::HarnessNote>(l)
                .unwrap()
                .start
        })
        .collect();
    assert_eq!(starts.len(), 1, "{events}");
    assert_eq!(starts[0].binary.path, bin.path);
    assert_eq!(starts[0].binary.sha256, bin.sha256);
    assert_eq!(starts[0].faults(), ["create-delay-ms=1"]);
    let v = evidence::verify(lab.run_dir());
    assert!(v.ok(), "{:?}", v.mismatches);
    assert_eq!(lab.status("DEMO-01"), Some(Status::Pass));
    assert_eq!(lab.report().faults, ["create-delay-ms=1"]);
    assert!(
        !root.path().join("demo/latest").exists(),
        "negative labs never move latest"
    );
}

#[test]
fn verify_accepts_an_untouched_run() {
    let root = tempfile::tempdir().unwrap();
    let lab = demo_lab(root.path());
    let v = evidence::verify(lab.run_dir());
    assert!(v.ok(), "{:?}", v.mismatches);
    assert_eq!(v.checks_recomputed, 3);
}

/// Rewrites a JSON file through a closure.
fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// Re-hashes (and re-sizes) one file in the manifest, as someone covering their
/// tracks would.
fn rehash(run: &Path, rel: &str) {
    let sha = fsx::sha256_file(&run.join(rel)).unwrap();
    let bytes = std::fs::metadata(run.join(rel)).unwrap().len();
    edit_json(&run.join("manifest.json"), |m| {
        for f in m["files"].as_array_mut().unwrap() {
            if f["path"] == rel {
                f["sha256"] = serde_json::json!(sha);
                f["bytes"] = serde_json::json!(bytes);
            }
        }
    });
}

#[test]
fn verify_catches_a_hand_edited_report() {
    let root = tempfile::tempdir().unwrap();
    let failing = lab::try_shared_at(root.path(), "demo", |ctx| {
        write_demo_files(ctx)?;
        ctx.write_text("demo-health.txt", "code=503\n")?;
        Ok(())
    })
    .unwrap();
    let run: PathBuf = failing.run_dir().to_path_buf();
    assert_eq!(failing.status("DEMO-01"), Some(Status::Fail));
    edit_json(&run.join("demo-report.json"), |r| {
        r["checks"][0]["status"] = serde_json::json!("PASS");
        r["checks"][0]["observed"] = serde_json::json!(200);
        r["verdict"]["full"] = serde_json::json!(true);
    });
    let v = evidence::verify(&run);
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.contains("demo-report.json") && m.contains("sha256")),
        "{:?}",
        v.mismatches
    );
    // Even with the manifest re-hashed, the recomputed verdict disagrees.
    rehash(&run, "demo-report.json");
    let v = evidence::verify(&run);
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.contains("DEMO-01") && m.contains("stored status PASS, recomputed FAIL")),
        "{:?}",
        v.mismatches
    );
    assert!(
        v.mismatches.iter().any(|m| m.starts_with("verdict")),
        "{:?}",
        v.mismatches
    );
}

#[test]
fn verify_catches_a_changed_raw_file() {
    let root = tempfile::tempdir().unwrap();
    let lab = demo_lab(root.path());
    let run = lab.run_dir();
    std::fs::write(run.join("demo-health.txt"), "code=500\n").unwrap();
    let v = evidence::verify(run);
    assert!(
        v.mismatches.iter().any(|m| m.contains("demo-health.txt")),
        "{:?}",
        v.mismatches
    );
    rehash(run, "demo-health.txt");
    let v = evidence::verify(run);
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.contains("DEMO-01") && m.contains("recomputed FAIL")),
        "{:?}",
        v.mismatches
    );
    // A file slipped in afterwards is caught too.
    std::fs::write(run.join("extra.txt"), "x").unwrap();
    assert!(evidence::verify(run)
        .mismatches
        .iter()
        .any(|m| m.contains("extra.txt")));
}

#[test]
fn report_json_shape() {
    let root = tempfile::tempdir().unwrap();
    let lab = demo_lab(root.path());
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.run_dir().join("demo-report.json")).unwrap(),
    )
    .unwrap();
    // Only the run id varies: the demo lab's "measurements" are fixed by the test.
    insta::assert_json_snapshot!("demo_report_json_shape", report, {".run_id" => "[run_id]"});
    let back = Report::load(&lab.run_dir().join("demo-report.json")).unwrap();
    assert_eq!(&back, lab.report());
}

#[test]
fn failing_report_json_shape() {
    let root = tempfile::tempdir().unwrap();
    let lab = lab::isolated_at(root.path(), "demo", &["health-fail"], &(), |ctx, _| {
        ctx.write_text("demo-health.txt", "code=503\n")?;
        ctx.not_run("DEMO-03", "latency not measured in this test")?;
        Ok(())
    })
    .unwrap();
    insta::assert_json_snapshot!("demo_failing_report_json_shape", lab.report(), {".run_id" => "[run_id]"});
    assert!(lab.report().to_text().contains("NEGATIVE RUN"));
}

#[test]
fn a_lab_that_leaves_a_symlink_gets_no_manifest_blessing() {
    let root = tempfile::tempdir().unwrap();
    let err = lab::try_shared_at(root.path(), "demo", |ctx| {
        write_demo_files(ctx)?;
        std::os::unix::fs::symlink("demo-health.txt", ctx.run_dir().join("alias.txt"))?;
        Ok(())
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("alias.txt: symlink"),
        "the lab fails on it: {err}"
    );
    let run = err.run_dir.clone().expect("the run directory is named");
    let v = evidence::verify(&run);
    assert!(
        v.mismatches.iter().any(|m| m.contains("refused alias.txt")),
        "{:?}",
        v.mismatches
    );
}

#[test]
fn a_lab_run_verifies_with_every_derived_file_re_derived() {
    let root = tempfile::tempdir().unwrap();
    let lab = demo_lab(root.path());
    let v = evidence::verify(&root.path().join("demo/latest"));
    assert!(v.ok(), "{:?}", v.mismatches);
    assert_eq!(
        v.derived_checked, 3,
        "the demo plan derives its two reports and its latency summary"
    );
    assert_eq!(
        v.run_digest.as_deref(),
        Some(
            fsx::sha256_file(&lab.run_dir().join("manifest.json"))
                .unwrap()
                .as_str()
        )
    );
    assert_eq!(v.report.as_ref(), Some(lab.report()));
}

/// A lab against a control-plane it did not start (`AUTONOMY_CP_URL`): no start
/// record, and the run still verifies, its target saying so.
#[test]
fn a_lab_against_a_remote_control_plane_verifies_without_start_records() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let served =
        val_support::ControlPlane::start(super::util::reference_config(work.path())).unwrap();
    let url = served.url().to_string();
    let lab = lab::isolated_at(
        root.path(),
        "demo",
        &[],
        &serde_json::json!({"n": 1}),
        |ctx, _| {
            let mut cfg = ctx.cp_config();
            cfg.target = val_support::cp::Target::Remote {
                url: url.clone(),
                metrics_url: None,
            };
            let cp = ctx.start_cp_with(cfg)?;
            let health = ctx.block_on(ctx.client(&cp).health());
            ctx.write_text("demo-health.txt", &format!("code={}\n", health.code()))?;
            Ok(())
        },
    )
    .unwrap();
    assert!(!lab.run_dir().join("demo-cp-events.jsonl").exists());
    let v = evidence::verify(lab.run_dir());
    assert!(v.ok(), "{:?}", v.mismatches);
    let target = lab.report().target.line();
    assert!(
        target.contains("remote url")
            && target.contains("(not started by the harness: no start events)"),
        "{target}"
    );
    drop(served);
}
