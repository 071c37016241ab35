//! Integration tests of the `autonomy` binary through real HTTP on port 0.

mod api;
mod bad_input;
mod cli;
mod durability;
mod faults;
mod harness;
mod openapi;
mod rbac;
mod variants;
