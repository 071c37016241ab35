//! val-support's own tests: one integration binary, one module per area.

mod checks;
mod cli;
mod evidence;
mod keepalive;
mod lab;
mod lifecycle;
mod load;
mod netfault;
mod paging;
mod stats;
mod util;
