//! placeholder until the val11 issue lands
