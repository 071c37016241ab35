//! A figure two runs are compared on (`evidence diff`): a named, measured value with
//! the direction that is better and the gate that judges a worsening. Each plan says
//! which figures it has (`plans::<suite>::figures`); [`crate::diff`] compares them.

use serde::Serialize;

use crate::check::Report;

/// Which direction of a figure is worse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Higher is better (throughput, rates).
    Higher,
    /// Lower is better (latency, losses).
    Lower,
}

/// How a worsening is judged (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Any worsening.
    Exact,
    /// Worse by more than the margin.
    Margin,
    /// Worse by more than the margin and than the noise floor.
    MarginAndFloor,
    /// Never gates.
    Info,
}

/// One figure of one run.
#[derive(Clone, Debug)]
pub struct Figure {
    /// Name, e.g. `N=100 p99`.
    pub name: String,
    /// Unit.
    pub unit: &'static str,
    /// The value, or `None` when not measured.
    pub value: Option<f64>,
    /// Better direction.
    pub better: Better,
    /// Gate.
    pub gate: Gate,
    /// The figure's time equivalent, ms, for the noise floor.
    pub time_ms: Option<f64>,
}

impl Figure {
    pub fn new(
        name: impl Into<String>,
        unit: &'static str,
        value: Option<f64>,
        better: Better,
        gate: Gate,
    ) -> Self {
        Figure {
            name: name.into(),
            unit,
            value,
            better,
            gate,
            time_ms: None,
        }
    }
}

/// The observation of check `id` as its plan's type (`None`: not observed, or not of
/// that type, so a figure is missing rather than silently 0).
pub fn observed<T: serde::de::DeserializeOwned>(report: &Report, id: &str) -> Option<T> {
    let v = report.check(id)?.observed.clone()?;
    serde_json::from_value(v).ok()
}
