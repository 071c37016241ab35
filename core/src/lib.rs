//! `val-core`: what fleetval knows without touching a network or a process. Every
//! module here is a pure function of files (or of values read from them), so a run
//! can be re-judged and verified offline by the `evidence` binary.
//!
//! Layers, each using only those above it:
//!
//! | module | job |
//! |---|---|
//! | [`env`](mod@env), [`fileio`] | leaves: environment variables; atomic writes, sha256, paths, file locks |
//! | [`stats`] | HDR histograms in µs and exact nearest-rank percentiles |
//! | [`prom`] | Prometheus scrape parsing; an absent metric is an error, never 0 |
//! | [`load_result`] | what a load run recorded: outcomes, models, figures |
//! | [`wire`] | the contract's JSON types and one request / CLI call as recorded |
//! | [`ledger`] | the write ledger: ok / fail / unknown writes judged against a final read |
//! | [`check`] | `Check` / `Status` / `Report`, text and versioned JSON |
//! | [`figure`], [`html_blocks`] | what a plan hands the generic outputs: figures to compare; escaping, tables and SVG charts for its page section |
//! | [`plans`] | one folder per VAL plan: its checks and judge, derived files, figures and page sections |
//! | [`evidence`] | run directory, manifest, derived-file registry, `verify`, in-toto statement and SSH signature, JUnit attachment |
//! | [`summary`], [`retention`] | one screen per run for a person; `gc --keep N` |
//! | [`html`], [`diff`] | the HTML report of a run; the A/B comparison of two runs (both over the plans' registry) |
//!
//! The harness (`val-support`: control-plane process, client, load drivers, labs)
//! depends on this crate; nothing here depends on it.

pub mod check;
pub mod diff;
pub mod env;
pub mod escape;
pub mod evidence;
pub mod figure;
pub mod fileio;
pub mod html;
pub mod html_blocks;
pub mod ledger;
pub mod load_result;
pub mod netfault;
pub mod plans;
pub mod prom;
pub mod records;
pub mod retention;
pub mod stats;
pub mod summary;
pub mod wire;

/// The old name of [`fileio`], kept so the harness's and suites' imports still resolve.
pub use fileio as fsx;

pub use check::{Check, CheckSpec, Report, Status};
pub use plans::{Files, Missing};
