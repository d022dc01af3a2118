//! listbridge: turns a busy mailing list into a searchable web forum without taking email away
//! from anyone. The library holds everything; `main.rs` only dispatches the command line.
//!
//! Dependency rule: `mail/`, `thread`, `tags` and `search/` are pure (no tokio, rusqlite,
//! network or clock they are not handed); `store/`, `ingest/` and `outbound/` do the I/O around them, and
//! `web/` only reads the store and writes the outbox.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod erasure;
pub mod ingest;
pub mod mail;
pub mod outbound;
pub mod search;
pub mod store;
pub mod tags;
pub mod thread;
pub mod tls;
pub mod tokens;
pub mod web;
