//! Getting mail in: archive readers (mbox, pipermail, Maildir, single files) that stream raw
//! messages, and the pipeline that stores, threads and indexes them.

pub mod imap;
pub mod pipeline;
pub mod readers;
