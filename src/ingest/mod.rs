//! Doors that bring mail: the live IMAP source (IDLE, with a polling fallback), which fetches
//! new mail and hands each batch to the archive's pipeline with the forum's gate, advancing its
//! cursor in the batch's transaction.

pub mod imap;
