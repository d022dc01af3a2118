//! Getting mail in: archive readers (mbox, pipermail, Maildir, single files) that stream raw
//! messages, the live IMAP source, and the pipeline both feed, which stores, threads and
//! indexes them.

pub mod gate;
pub mod imap;
pub mod pipeline;
pub mod readers;
