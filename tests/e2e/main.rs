//! End-to-end tests: each starts its own accesskeyd on port 0 over a fresh
//! SQLite file and talks to it only over gRPC, through the client crate.

// A test binary has no public API: `pub` in its modules means "shared".
#![allow(unreachable_pub)]

mod caller_auth;
mod harness;
mod keys;
mod paging;
mod secrets;
mod standard_services;
mod users;
mod verify;
