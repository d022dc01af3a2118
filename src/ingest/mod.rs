//! Getting mail in: archive readers (mbox, pipermail, Maildir, single files) that stream raw
//! messages, the live IMAP source, the gate that decides what fetched mail becomes (list mail,
//! a member's post to send on, or a log entry), and the pipeline both feed, which stores,
//! threads, tags and indexes them, and recognises the events that mail announces (`events`).

mod events;
pub mod gate;
pub mod held;
pub mod imap;
pub mod pipeline;
pub mod readers;
