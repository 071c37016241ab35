//! VAL11 chaos suite: one test per check against the shared lab, one negative test per
//! check against an isolated lab with the matching fault, and the report's shape.

mod checks;
mod html;
mod negative;
mod network_negative;
mod report_shape;
mod storage;
