//! `val-support`: the harness the fleetval VAL suites share, so that a suite file holds
//! checks, not plumbing. It measures; judging lives below it in `val-core`, which it
//! re-exports ([`check`], [`plans`], [`evidence`], [`stats`], [`prom`], [`fsx`],
//! [`env`](mod@env)) so that a suite depends on one crate.
//!
//! Layers, each using only those above it (and `val-core`):
//!
//! | module | job |
//! |---|---|
//! | [`runkey`] | leaf: the directory the test processes of one run share |
//! | [`workroot`] | leaf: a test's own directory, named after it, removed when it passes |
//! | [`cp`] | control-plane lifecycle (start, stop, kill, pause, restart, Drop) and target selection |
//! | [`load`] | closed and open load drivers (the records are `val_core::load_result`) |
//! | [`netfault`] | TCP fault proxy on loopback (latency, bandwidth, slicer, blackhole, reset, down, ack-lost) |
//! | [`client`] | typed async client of docs/contract.md, paging helper, `autonomy` CLI runner |
//! | [`keepalive`] | creates over one keep-alive hyper connection per worker (the benchmark's load path) |
//! | [`operator_cli`] | the plans' CLI calls, typed: `rollback execute`, `audit query` |
//! | [`lab`] | run-once coordination of a suite's lab, negative (isolated) labs |
//! | [`browser`] | the HTML report rendered and checked in headless Chromium |
//!
//! # How a suite uses it
//!
//! A suite has one lab function (measure: start the control-plane, run the scenarios,
//! write raw files) and one judge in `plans::<suite>` (judge: read the raw files,
//! return one [`check::Check`] per plan ID). Every check test calls [`lab::shared`],
//! which runs the lab once per test run (nextest or cargo test), judges it, writes
//! `<suite>-report.{txt,json}` and `manifest.json`, and hands back the report:
//!
//! ```no_run
//! use val_support::client::CreateRollout;
//! use val_support::lab::{self, Lab, LabCtx};
//! use val_support::load::{self, ClosedModel};
//!
//! /// The measurement: writes raw evidence only, judges nothing.
//! fn run_lab(ctx: &mut LabCtx) -> anyhow::Result<()> {
//!     let cp = ctx.start_cp()?;
//!     let client = ctx.client(&cp);
//!     let health = ctx.block_on(client.health());
//!     ctx.write_text("demo-health.txt", &format!("code={}\n", health.code()))?;
//!
//!     let model = ClosedModel { workers: 10, per_worker: 5 };
//!     ctx.load_model("scenario-n10", &model);
//!     let c = client.clone();
//!     let result = ctx.block_on(load::closed(model, move |w, b| {
//!         let c = c.clone();
//!         async move { c.create(&CreateRollout::new(&format!("demo-w{w}-b{b}"))).await.attempt() }
//!     }));
//!     ctx.write_json("scenario-n10/records.json", &result)?;
//!     let scrape = ctx.block_on(client.metrics());
//!     ctx.write_text("demo-metrics-raw.txt", &scrape.text)?;
//!     Ok(()) // `cp` is dropped here: SIGKILL + reap
//! }
//!
//! fn lab() -> Lab {
//!     lab::shared("demo", run_lab)
//! }
//!
//! #[test]
//! fn demo_01_health() {
//!     lab().assert_check("DEMO-01"); // panics with observed, threshold, note, files
//! }
//!
//! // A negative lab: the same lab with a fault injected must turn the check red.
//! #[test]
//! fn demo_01_fails_when_health_fails() {
//!     let lab = lab::isolated("demo", &["health-fail"], &(), |ctx, _cfg| run_lab(ctx)).unwrap();
//!     assert_eq!(lab.status("DEMO-01"), Some(val_support::check::Status::Fail));
//!     assert!(lab.report().check("DEMO-01").unwrap().observed.is_some());
//! }
//! ```
//!
//! The judge of that suite (see [`plans::demo`]) uses [`check::CheckSpec::observe`],
//! which takes the observation as a `Result`: a missing file or field is FAIL with a
//! note, never a default. Verdicts can be recomputed offline with
//! `cargo run -p val-core --bin evidence -- verify evidence/<suite>/latest`.
//!
//! Environment: `EVIDENCE_DIR` (evidence root), `AUTONOMY_BIN`, `AUTONOMY_CP_ARGS`,
//! `AUTONOMY_CP_URL`, `AUTONOMY_METRICS_URL` (target selection, see [`cp`]),
//! `FLEETVAL_FIXED_PORTS=1` (the plans' ports), `FLEETVAL_NEGATIVE_DIR`.
//! docs/evidence.md documents the run directory, the manifest and the report schema.

pub mod browser;
pub mod client;
pub mod cp;
pub mod keepalive;
pub mod lab;
pub mod ledger_load;
pub mod load;
pub mod netfault;
pub mod operator_cli;
pub mod runkey;
pub mod workroot;

pub use val_core::{
    check, diff, env, evidence, fsx, html, ledger, plans, prom, records, stats, wire,
};

pub use check::{Check, CheckSpec, Report, Status};
pub use client::{Cli, CliRun, Client, CreateRollout, Recorded};
pub use cp::{ControlPlane, CpConfig, CpError};
pub use lab::{Lab, LabCtx};
pub use load::{Attempt, ClosedModel, LoadResult, OpenModel, Outcome};
pub use operator_cli::AuditQuery;
pub use plans::{Files, Missing};
