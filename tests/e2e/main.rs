//! End-to-end tests: each starts its own accesskeyd on port 0 over a fresh
//! database (SQLite, and PostgreSQL and MySQL/MariaDB when configured) and
//! talks to it only over gRPC, through the client crate.

// A test binary has no public API: `pub` in its modules means "shared".
#![allow(unreachable_pub)]

mod fault_proxy;
mod harness;

mod abuse;
mod audit;
mod audit_chain;
mod audit_reading;
mod audit_tools;
mod audit_watch;
mod authority;
mod bad_input;
mod cache;
mod caller_auth;
mod cancellation;
mod cli;
mod cli_roles;
mod connections;
mod console_browser;
mod console_browser_cookies;
mod console_browser_roles;
mod console_keys;
mod console_pages;
mod console_roles;
mod console_roles_guards;
mod console_security;
mod console_sessions;
mod console_transport;
mod console_users;
mod crash;
mod database_faults;
mod database_tls;
mod keys;
mod last_administrator;
mod last_use;
mod limits;
mod linearizability;
mod logs;
mod malformed_keys;
mod metrics;
mod middleware;
mod paging;
mod python_client;
mod replicas;
mod role_authority;
mod role_replicas;
mod roles;
mod secrets;
mod shutdown;
mod standard_services;
mod startup_errors;
mod startup_secrets;
mod storage;
mod storage_faults;
mod tls;
mod users;
mod verify;
mod walkthrough;
