//! Mail out: the worker that hands the outbox to SMTP (retrying transient failures, stopping on
//! permanent ones, never sending a message twice) and the digests it is given to send. What to
//! send is decided by the forum's actions, which queue it in the store; nothing here decides.

pub mod digest;
pub mod worker;
