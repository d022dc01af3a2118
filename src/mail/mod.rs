//! The pure mail layer: what a message says about itself (ids, subjects, addresses, thread
//! signals) and what a reader sees of it (the chosen text, trimmed; sanitised HTML;
//! attachments), what goes out (`compose`: posts, copies, notices, digests; `markup`: light
//! formatting), what incoming mail is (`accept`: echoes, bounces, auto-replies, reply keys), what
//! stands in for erased mail (`redact`), and the mboxrd the archive exports (`mbox`).
//! No I/O, no clock, no database: everything here is a function of its inputs.

pub mod accept;
pub mod address;
pub mod calendar;
pub mod compose;
pub mod decision;
pub mod hex;
pub mod hiding;
pub mod ids;
pub mod markup;
pub mod mbox;
pub mod parse;
pub mod privacy;
pub mod redact;
pub mod render;
pub mod sanitize;
pub mod subject;
pub mod thread_index;
pub mod trim;
