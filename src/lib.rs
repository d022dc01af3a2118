//! listbridge: turns a busy mailing list into a searchable web forum without taking email away
//! from anyone. The library holds everything; `main.rs` only dispatches the command line.
//!
//! Layers, from the top down (imports only run downwards):
//! - `main`, `daemon`, `cli`: the commands and the daemon's tasks;
//! - `web/` (pages) and the doors `ingest/` (IMAP in) and `outbound/` (SMTP out);
//! - `forum/`: the actions of members, moderators and admins, one transaction each;
//! - `archive/`: mail in (readers, the pipeline, `archive_one`);
//! - `store/`: the storage interface and its engine;
//! - the pure core, `mail/`, `thread`, `tags`, `tokens`, `search/` (no tokio, database, network or clock
//!   they are not handed).
//!
//! `config` is read by every layer and acts on none.

pub mod archive;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod forum;
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
