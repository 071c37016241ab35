//! placeholder until the val12 issue lands
