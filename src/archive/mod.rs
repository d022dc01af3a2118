//! Mail in: the archive readers (mbox, mboxrd, Maildir, pipermail, single files) that stream raw
//! messages, the pipeline that imports, re-derives and stores fetched batches, and the one step
//! every way in shares (`archive_one`: store the raw bytes, derive, tag), with the events an
//! archived invitation announces (`events`). What a fetched mail becomes beyond list mail is
//! decided by a gate handed in (the forum's); nothing here acts for a member or speaks IMAP.

pub mod events;
pub mod pipeline;
pub mod readers;

use crate::mail::calendar::Calendar;
use mail_parser::Message;

use crate::mail::parse::{ParsedMessage, Unparseable, mime, raw_sha256, read_message};
use crate::mail::render::RenderOptions;
use crate::store::{
    Derived, EventId, InterestTagger, ListId, MessageKey, RawId, RawOutcome, StoreError, UserId,
    Writer,
};

pub use pipeline::{ImportSummary, IngestError, Problem};

/// A raw message on its way in, from an archive file or a live source.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub bytes: Vec<u8>,
    pub envelope: Option<String>,
    /// Where it came from (`FILE#N`, or `imap:SOURCE:UIDVALIDITY:UID`).
    pub origin: String,
}

/// One message hashed and parsed once, ready to store (for imports, parsing happens off the
/// storing thread). Every later step reads what is here instead of parsing the bytes again.
pub struct Prepared {
    pub item: Incoming,
    pub sha: [u8; 32],
    pub parsed: Result<ParsedMessage, Unparseable>,
    /// The calendars it carries that could be read (most mail carries none).
    pub calendars: Vec<Calendar>,
    /// The MIME parse itself, kept when a gate will ask it what the mail is (sender,
    /// recipients, classification); None otherwise, or when nothing could be parsed.
    pub message: Option<Message<'static>>,
    /// Input bytes consumed when it was read, for the progress bar.
    pub(crate) bytes_read: u64,
}

impl Prepared {
    /// Read for the archive alone (imports, reindex, web posts): the MIME parse is let go once
    /// the facts are read.
    pub fn new(item: Incoming, render: &RenderOptions, bytes_read: u64) -> Prepared {
        Prepared::read(item, render, bytes_read, false)
    }

    /// Read for a gate as well, which asks the same parse what the mail is.
    pub fn for_gate(item: Incoming, render: &RenderOptions) -> Prepared {
        Prepared::read(item, render, 0, true)
    }

    fn read(item: Incoming, render: &RenderOptions, bytes_read: u64, keep: bool) -> Prepared {
        let sha = raw_sha256(&item.bytes);
        Prepared::parse(item, sha, render, bytes_read, keep)
    }

    /// Parses bytes already hashed (an import hashes first, to skip what it stored before).
    pub(crate) fn hashed(
        item: Incoming,
        sha: [u8; 32],
        render: &RenderOptions,
        bytes_read: u64,
    ) -> Prepared {
        Prepared::parse(item, sha, render, bytes_read, false)
    }

    fn parse(
        item: Incoming,
        sha: [u8; 32],
        render: &RenderOptions,
        bytes_read: u64,
        keep: bool,
    ) -> Prepared {
        let message = mime(&item.bytes);
        let parsed = read_message(
            &item.bytes,
            message.as_ref(),
            item.envelope.as_deref(),
            render,
        );
        let calendars = events::calendars(message.as_ref(), &item.bytes);
        // Owned only where it is kept: a live batch is small, an import is not.
        let message = message.filter(|_| keep).map(Message::into_owned);
        Prepared {
            item,
            sha,
            parsed,
            calendars,
            message,
            bytes_read,
        }
    }
}

/// What a gate decided for one fetched message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Archive it as list mail.
    Archive,
    /// Host mode: archive it and send it to the other members (as a member's, or, approved by
    /// a moderator, as a non-member's).
    Publish { author: Option<UserId> },
    /// Kept in the inbound log, not archived (already done by the gate).
    Logged,
    /// A moderator's answer about a held post (logged by the gate): the caller carries the
    /// decision out once the batch is committed, since publishing is a transaction of its own.
    Decided(HeldDecision),
}

/// A moderator's decision on a held post, read from their mail or made on the web.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldDecision {
    pub held: crate::store::HeldId,
    pub moderator: UserId,
    pub decision: crate::mail::decision::Decision,
}

/// What decides, for a live source, what each fetched mail becomes beyond list mail (the
/// forum's gate: host-mode posts, refusals, likes, moderators' and calendar answers). It is
/// handed to the pipeline, which calls it inside the batch's transaction.
pub trait Admit {
    /// Decides for one message before it is stored; logging, bounce counting and explanations
    /// are written on `writer`.
    fn admit(
        &self,
        writer: &Writer<'_>,
        list: ListId,
        mail: &Prepared,
        now: i64,
    ) -> Result<Verdict, StoreError>;

    /// The message admitted as `verdict` is archived as `key`, and the events it announced
    /// changed (true: cancelled): the members' copies and the registrants' news are queued.
    fn archived(
        &self,
        writer: &Writer<'_>,
        list: ListId,
        mail: &Prepared,
        key: MessageKey,
        verdict: &Verdict,
        events_changed: &[(EventId, bool)],
        now: i64,
    ) -> Result<(), StoreError>;
}

/// What came of archiving one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Archived {
    /// The raw bytes were stored; what deriving them gave.
    Stored(Derived),
    /// Nothing stored: the same bytes are already there (or were erased).
    NotStored(RawOutcome),
}

impl Archived {
    /// The message in the archive, when this made or renamed one.
    pub fn key(&self) -> Option<MessageKey> {
        match self {
            Archived::Stored(derived) => derived_key(derived),
            Archived::NotStored(_) => None,
        }
    }
}

/// The one step every way in shares: the raw bytes stored first, then what is derived from
/// them (threads, the search index) and the interests they are tagged with.
pub fn archive_one(
    writer: &Writer<'_>,
    list: ListId,
    mail: &Prepared,
    tagger: &InterestTagger,
) -> Result<Archived, StoreError> {
    let item = &mail.item;
    match writer.store_raw(
        &mail.sha,
        &item.bytes,
        item.envelope.as_deref(),
        list,
        &item.origin,
    )? {
        RawOutcome::Stored(raw) => Ok(Archived::Stored(derive_one(
            writer,
            raw,
            &mail.sha,
            list,
            mail.parsed.as_ref(),
            tagger,
        )?)),
        other => Ok(Archived::NotStored(other)),
    }
}

/// Derives one stored raw message and tags it: importing, `reindex`, and showing a hidden
/// message again share this.
pub fn derive_one(
    writer: &Writer<'_>,
    raw: RawId,
    sha: &[u8; 32],
    list: ListId,
    parsed: Result<&ParsedMessage, &Unparseable>,
    tagger: &InterestTagger,
) -> Result<Derived, StoreError> {
    let derived = writer.derive(raw, sha, list, parsed)?;
    if let (Some(key), Ok(parsed)) = (derived_key(&derived), parsed) {
        tag_one(writer, key, parsed, tagger)?;
    }
    Ok(derived)
}

/// Tags an archived message with the interests its subject and new text match.
pub fn tag_one(
    writer: &Writer<'_>,
    key: MessageKey,
    parsed: &ParsedMessage,
    tagger: &InterestTagger,
) -> Result<(), StoreError> {
    let subject = parsed.subject.as_deref().unwrap_or("");
    writer.tag_message(key, &tagger.tag(subject, &parsed.body_text))
}

/// The message a derivation made (a new one, or one kept under a derived id).
fn derived_key(derived: &Derived) -> Option<MessageKey> {
    match derived {
        Derived::Message(k) | Derived::Renamed { key: k, .. } => Some(*k),
        _ => None,
    }
}
