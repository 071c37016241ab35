//! CONF-07: schemathesis fuzzes the control-plane from docs/openapi.yaml, when installed.
//!
//! `.ci/run` installs it hash-pinned; elsewhere a missing schemathesis makes CONF-07
//! NOT_RUN with the reason (and the CI test of CONF-07 red).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use val_support::lab::LabCtx;
use val_support::plans::conformance::{self as plan, SchemathesisRun};

use crate::Env;

/// Longest schemathesis run before it is killed.
const TIME_LIMIT: Duration = Duration::from_secs(240);

/// The repository root (this package is `tests/conformance`).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `SCHEMATHESIS` when set, else `schemathesis` on `PATH`.
fn program() -> Option<PathBuf> {
    if let Some(p) = val_support::env::nonempty("SCHEMATHESIS") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("schemathesis"))
        .find(|p| p.is_file())
}

/// How the bounded run ended: exit code, signal, timed out, stdout and stderr.
struct Ended {
    exit_code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

/// Reads `pipe` to its end on a thread of its own (a chatty child cannot block on a
/// full pipe).
fn drain<R: std::io::Read + Send + 'static>(mut pipe: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = pipe.read_to_end(&mut b);
        b
    })
}

/// Runs `cmd` to completion or [`TIME_LIMIT`], capturing stdout and stderr apart.
fn run_bounded(mut cmd: Command) -> Result<Ended> {
    use std::os::unix::process::ExitStatusExt as _;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawn schemathesis")?;
    let out = drain(child.stdout.take().expect("piped"));
    let err = drain(child.stderr.take().expect("piped"));
    let t0 = Instant::now();
    let (status, timed_out) = loop {
        if let Some(s) = child.try_wait()? {
            break (s, false);
        }
        if t0.elapsed() > TIME_LIMIT {
            // Killed and reaped here: nothing outlives the lab.
            let _ = child.kill();
            break (child.wait()?, true);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = |h: std::thread::JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
    };
    Ok(Ended {
        exit_code: status.code(),
        signal: status.signal(),
        timed_out,
        stdout: text(out),
        stderr: text(err),
    })
}

/// Runs every phase against the control-plane and keeps the JUnit report as evidence.
pub fn run(ctx: &LabCtx, env: &Env, examples: u32) -> Result<()> {
    let Some(st) = program() else {
        ctx.not_run("CONF-07", "schemathesis is not installed (`.ci/run` installs it from .ci/schemathesis-requirements.txt; or set SCHEMATHESIS)")?;
        return Ok(());
    };
    let mut version = String::new();
    if let Ok(mut c) = Command::new(&st)
        .arg("--version")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        if let Some(mut o) = c.stdout.take() {
            let _ = o.read_to_string(&mut version);
        }
        let _ = c.wait();
    }
    let reports = ctx.work_dir().join("schemathesis-reports");
    let _ = std::fs::remove_dir_all(&reports);
    let repo = repo();
    let args: Vec<String> = vec![
        "--config-file".into(),
        repo.join(".ci/schemathesis.toml").display().to_string(),
        "run".into(),
        repo.join("docs/openapi.yaml").display().to_string(),
        "--url".into(),
        env.cp.url().to_string(),
        "--phases".into(),
        "examples,coverage,fuzzing,stateful".into(),
        "--checks".into(),
        "all".into(),
        "--max-examples".into(),
        examples.to_string(),
        "--seed".into(),
        "22".into(),
        "--report".into(),
        "junit".into(),
        "--report-dir".into(),
        reports.display().to_string(),
        "--no-color".into(),
    ];
    let mut cmd = Command::new(&st);
    // Its cache (`.schemathesis/`) goes to the lab's work dir, not the source tree.
    cmd.args(&args)
        .env("NO_COLOR", "1")
        .current_dir(ctx.work_dir());
    std::fs::create_dir_all(ctx.run_dir().join("schemathesis"))?;
    // Its output is kept in the typed record; `schemathesis/output.txt` is derived.
    let ended = run_bounded(cmd)?;
    if let Some(junit) = std::fs::read_dir(&reports).ok().and_then(|rd| {
        rd.flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "xml"))
    }) {
        ctx.write(plan::SCHEMATHESIS_JUNIT, &std::fs::read(junit)?)?;
    }
    let mut command = vec![st.display().to_string()];
    command.extend(args);
    let run = SchemathesisRun {
        command,
        version: version.trim().to_string(),
        exit_code: ended.exit_code,
        signal: ended.signal,
        timed_out: ended.timed_out,
        stdout: ended.stdout,
        stderr: ended.stderr,
    };
    ctx.write_json(plan::SCHEMATHESIS_FILE, &run)?;
    Ok(())
}
