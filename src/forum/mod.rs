//! The forum's actions: what a member, a moderator or an admin does, each carried out as one
//! transaction that checks, composes its mail with `mail/`, and writes the archive and the
//! outbox together. Posting and notices (`post`), who wants what by mail (`notify`), the gate a
//! fetched mail passes (`gate`: host-mode posts, refusals, likes and calendar answers by mail),
//! held posts and their decisions (`held`, with the moderators' mail in `moderators`), flags,
//! hiding and threading fixes (`moderation`), events and registrations (`events`) and erasure
//! (`erasure`). Web handlers and the mail gate call these; nothing here speaks IMAP or SMTP
//! (the outbound worker sends what is queued).

pub mod erasure;
pub mod events;
pub mod gate;
pub mod held;
pub mod moderation;
pub mod moderators;
pub mod notify;
pub mod post;

pub use post::{
    Draft, OneMail, identity, list_info, post_from_web, post_with, queue_mail, queue_notice,
    send_copies, send_sign_in_link, tell_author_of_like,
};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("posting is not set up: the config has no [outbound] section")]
    NotConfigured,
    #[error("there is no list named {0:?} to post to")]
    NoSuchList(String),
    #[error("the list {0:?} has no address in the config, so nothing can be sent to it")]
    NoAddress(String),
    #[error("the message you are replying to is not in the archive")]
    NoSuchParent,
    #[error("the post is empty: write something first")]
    Empty,
    #[error("the mail could not be written: {0}")]
    Compose(#[from] crate::mail::compose::ComposeError),
    /// Not an error of the post: it is held for a moderator (nothing published or sent).
    #[error(
        "your post is held for a moderator: {0}. It has not been published or sent to anyone; a moderator will review it"
    )]
    Held(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
