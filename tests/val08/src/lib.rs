//! placeholder until the val08 issue lands
