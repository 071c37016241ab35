//! VAL12 — the 30-day fleet rollout soak, as one program (`soak`) and a library the
//! tests drive in-process.
//!
//! | module | job |
//! |---|---|
//! | [`config`] | the soak settings (`config.env`), time compression, the soak clock |
//! | [`persistent_cp`] | the soak's persistent, detached control-plane process: start, adopt by pid, liveness, stop (the harness's `CpProcess` underneath) |
//! | [`dir_layout`] | paths of the plan's directory layout, the round directories on disk and their `round-summary.json` |
//! | [`opened_soak`] | a soak opened from its `config.env` (settings, clock, addresses) and a round's slot on the soak clock |
//! | [`round`] | one round: plan steps 1–7 plus process and store measurements |
//! | [`report`] | daily summaries and alerts, checkpoints, the final report |
//! | [`lifecycle`] | `soak setup`, `soak run` (the built-in scheduler, resumable from the directory) and `soak teardown` |
//! | [`operator`] | what the operator reads: the per-round line and its ETA, `soak status` (read-only) |
//! | [`seal`] | `target.json`, `val12-report.json` and `manifest.json`: a verifiable run |
//! | [`archive`] | `soak archive`: tar.gz + sha256, in-process |
//! | [`walk`] | the round's plan count: the paging walk, reading only IDs and cursors |
//!
//! Verdicts are not computed here: they come from the judge in
//! `val_support::plans::val12`, a pure function of the soak directory's files.

pub mod archive;
pub mod config;
pub mod dir_layout;
pub mod lifecycle;
pub mod opened_soak;
pub mod operator;
pub mod persistent_cp;
pub mod report;
pub mod round;
pub mod seal;
pub mod walk;

pub use config::SoakConfig;
