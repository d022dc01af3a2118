//! Getting mail in: archive readers (mbox, pipermail, Maildir, single files) that stream raw
//! messages, the live IMAP source, the gate that decides what fetched mail becomes (list mail,
//! a member's post to send on, a post held for a moderator, or a log entry), and the pipeline
//! both feed, which stores, threads, tags and indexes them, and recognises the events that mail
//! announces (`events`); a moderator's decision on a held post is carried out in `held`, and
//! moderators' work on published mail (flags, hiding, threading fixes) in `moderation`.

mod events;
pub mod gate;
pub mod held;
pub mod imap;
pub mod moderation;
pub mod pipeline;
pub mod readers;
