//! Conformance suite: one test per check against the shared lab, one negative test per
//! check against an isolated lab with a contract-breaking fault, and the variants.

pub mod checks;
mod negative;
