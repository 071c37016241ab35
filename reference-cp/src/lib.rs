//! The reference fleet-rollout control-plane: the executable form of `docs/contract.md`.

pub mod api;
pub mod audit;
pub mod cli;
pub mod cursor;
pub mod envlist;
pub mod faults;
pub mod hostile;
pub mod metrics;
pub mod model;
pub mod rbac;
pub mod server;
pub mod store;
pub mod variants;
