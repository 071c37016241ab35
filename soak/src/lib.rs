//! VAL12 — the 30-day fleet rollout soak, as one program (`soak`) and a library the
//! tests drive in-process.
//!
//! | module | job |
//! |---|---|
//! | [`config`] | the soak settings (`config.env`), time compression, the soak clock |
//! | [`cpproc`] | the persistent, detached control-plane: start, adopt by pid, liveness, stop |
//! | [`layout`] | the plan's directory layout and the round directories on disk |
//! | [`soakdir`] | an opened soak directory and a round's slot on the soak clock |
//! | [`round`] | one round: plan steps 1–7 plus process and store measurements |
//! | [`report`] | daily summaries and alerts, checkpoints, the final report |
//! | [`sched`] | `soak run`: the built-in scheduler, resumable from the directory |
//! | [`seal`] | `target.json`, `val12-report.json` and `manifest.json`: a verifiable run |
//! | [`archive`] | `soak archive`: tar.gz + sha256, in-process |
//! | [`walk`] | the round's plan count: the paging walk, reading only IDs and cursors |
//!
//! Verdicts are not computed here: they come from the judge in
//! `val_support::plans::val12`, a pure function of the soak directory's files.

pub mod archive;
pub mod config;
pub mod cpproc;
pub mod layout;
pub mod report;
pub mod round;
pub mod sched;
pub mod seal;
pub mod soakdir;
pub mod walk;

pub use config::SoakConfig;
