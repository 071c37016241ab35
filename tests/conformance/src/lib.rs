//! Contract conformance: the lab (measurement only).
//!
//! [`run_lab`] drives one control-plane (the reference, `AUTONOMY_BIN`, or a running one
//! at `AUTONOMY_CP_URL`) through docs/contract.md and writes raw, typed records; the
//! verdicts come from `val_support::plans::conformance::judge`, which `evidence verify`
//! re-runs. Every check is beyond the VAL plans: this suite has its own report, and no
//! VAL verdict reads it. Run it first when pointing fleetval at a new control-plane
//! (docs/your-control-plane.md).
//!
//! The CLI of CONF-06 is `AUTONOMY_CLI` when set, else the control-plane's binary.

use anyhow::{Context, Result};
use serde::Serialize;
use val_support::client::Client;
use val_support::cp::ControlPlane;
use val_support::lab::{self, Lab, LabCtx};

mod cli;
mod http;
mod restart;
mod schemathesis;
mod sections;

/// Which sections a lab runs (a negative lab runs only the one its fault targets).
#[derive(Clone, Debug, Serialize)]
pub struct LabConfig {
    /// CONF-01.
    pub bad_input: bool,
    /// CONF-02.
    pub paging: bool,
    /// Plans created before the paging walk.
    pub paging_plans: usize,
    /// CONF-03.
    pub replay: bool,
    /// CONF-04 and CONF-05 (they read what the other sections did).
    pub observe: bool,
    /// CONF-06.
    pub cli: bool,
    /// CONF-07.
    pub schemathesis: bool,
    /// Examples per operation and phase for schemathesis.
    pub schemathesis_examples: u32,
    /// CONF-08.
    pub restart: bool,
    /// Plans created before the SIGKILL of CONF-08.
    pub restart_plans: usize,
}

impl LabConfig {
    /// Every section.
    pub fn full() -> LabConfig {
        LabConfig {
            bad_input: true,
            paging: true,
            paging_plans: 240,
            replay: true,
            observe: true,
            cli: true,
            schemathesis: true,
            schemathesis_examples: 25,
            restart: true,
            restart_plans: 12,
        }
    }

    /// No section; enable the one a negative test needs.
    pub fn none() -> LabConfig {
        LabConfig {
            bad_input: false,
            paging: false,
            replay: false,
            observe: false,
            cli: false,
            schemathesis: false,
            restart: false,
            ..LabConfig::full()
        }
    }
}

/// The check IDs of each section, for NOT_RUN records of the sections a lab skips.
const SECTION_CHECKS: &[(&str, &[&str])] = &[
    ("bad_input", &["CONF-01"]),
    ("paging", &["CONF-02"]),
    ("replay", &["CONF-03"]),
    ("observe", &["CONF-04", "CONF-05"]),
    ("cli", &["CONF-06"]),
    ("schemathesis", &["CONF-07"]),
    ("restart", &["CONF-08"]),
];

/// The shared lab of this test run (runs once; every check test reuses it).
pub fn shared() -> Lab {
    lab::shared("conformance", |ctx| run_lab(ctx, &LabConfig::full()))
}

/// A negative lab: `faults` injected into the reference control-plane.
pub fn isolated(faults: &[&str], cfg: &LabConfig) -> Result<Lab> {
    Ok(lab::isolated("conformance", faults, cfg, run_lab)?)
}

/// A variant lab: the reference behaving as another valid control-plane may.
pub fn variant(variants: &[&str], cfg: &LabConfig) -> Result<Lab> {
    Ok(lab::variant("conformance", variants, cfg, run_lab)?)
}

/// What the sections share: the control-plane, its client, and a run-unique ID prefix
/// (a running control-plane may hold plans of earlier runs).
pub(crate) struct Env {
    pub cp: ControlPlane,
    pub client: Client,
    pub prefix: String,
    /// Plans created and acknowledged so far.
    pub created: Vec<String>,
    /// Successful executions `(id, strategy, actor, reason)`.
    pub executed: Vec<(String, String, String, String)>,
    /// `GET /v1/rollouts/{id}` answered 200, counted by the lab.
    pub get_one_200: u64,
    /// Requests to unmatched paths.
    pub unmatched: u64,
}

/// The lab: each enabled section in order; the restart and schemathesis last, since
/// one kills the process and the other fills the store with generated plans.
pub fn run_lab(ctx: &mut LabCtx, cfg: &LabConfig) -> Result<()> {
    ctx.config("conformance", cfg);
    let enabled = |name: &str| match name {
        "bad_input" => cfg.bad_input,
        "paging" => cfg.paging,
        "replay" => cfg.replay,
        "observe" => cfg.observe,
        "cli" => cfg.cli,
        "schemathesis" => cfg.schemathesis,
        _ => cfg.restart,
    };
    for (section, ids) in SECTION_CHECKS.iter().filter(|(s, _)| !enabled(s)) {
        for id in *ids {
            ctx.not_run(id, &format!("section {section} not run by this lab"))?;
        }
    }
    let cp = ctx.start_cp().context("starting the control-plane")?;
    let client = ctx.client(&cp);
    let prefix = format!("conf-{:08x}", rand::random::<u32>());
    let mut env = Env {
        cp,
        client,
        prefix,
        created: Vec::new(),
        executed: Vec::new(),
        get_one_200: 0,
        unmatched: 0,
    };
    if cfg.bad_input {
        sections::bad_input(ctx, &mut env).context("CONF-01 bad input")?;
    }
    if cfg.paging {
        sections::paging(ctx, &mut env, cfg.paging_plans).context("CONF-02 paging")?;
    }
    if cfg.replay {
        sections::replay(ctx, &mut env).context("CONF-03 replay")?;
    }
    if cfg.cli {
        cli::run(ctx, &mut env).context("CONF-06 CLI")?;
    }
    if cfg.observe {
        sections::observe(ctx, &mut env).context("CONF-04/05 metrics and audit")?;
    }
    if cfg.restart {
        restart::run(ctx, &mut env, cfg.restart_plans).context("CONF-08 restart")?;
    }
    if cfg.schemathesis {
        schemathesis::run(ctx, &env, cfg.schemathesis_examples).context("CONF-07 schemathesis")?;
    }
    Ok(())
}
