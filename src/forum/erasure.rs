//! Erasure and purge: a member erasing their account (or an admin erasing an account or an
//! address), and an admin purging one message. Each runs in one transaction over the store:
//! the mail is redacted (replaced in the raw store by a stand-in composed by `mail::redact`)
//! or removed, by the configured `[privacy] erasure` policy; an account's own rows go; places
//! at events are given up so the waiting list moves up; an audit entry records what was done.
//! Afterwards the search index is compacted and the write-ahead log emptied, with SQLite's
//! secure delete on, so that what was erased does not linger in the database file.

use crate::config::Config;
use crate::mail::compose::ComposeError;
use crate::mail::parse::parse_message;
use crate::mail::redact::{StandIn, stand_in, stand_in_envelope, thread_index_header};
use crate::store::{
    Actor, ErasableMessage, ErasureCounts, ErasureId, ErasureKind, ErasurePolicy, InterestTagger,
    NewErasure, Store, StoreError, UserId, Writer, address_hashes,
};

/// The name an erased member's messages are shown under.
pub const PSEUDONYM_NAME: &str = "Former member";
/// The body of an erased member's message.
pub const ERASED_NOTICE: &str = "This message was erased at its author's request.";
/// The subject of a purged message, unless the admin keeps the original.
pub const PURGED_SUBJECT: &str = "(removed)";
/// The body of a purged message.
pub const PURGED_NOTICE: &str = "This message was removed by the forum's administrators.";

/// Whose data is erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A member: their account and the mail of every address they verified.
    Member(UserId),
    /// An address: its member's whole account when one has verified it, else the archived mail
    /// sent from it and what the forum logged about it (someone who never joined).
    Address(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error("there is no member {0}: see the member number on their profile page (/u/NUMBER)")]
    NoSuchMember(i64),
    #[error(
        "nothing is held about {0:?}: no member has that address and no archived mail comes from it"
    )]
    NothingHeld(String),
    #[error(
        "there is no message <{0}> in the archive: give its Message-ID (as in the message's \
         permanent link, /m/ID) exactly"
    )]
    NoSuchMessage(String),
    #[error("the redacted stand-in could not be written: {0}")]
    Compose(#[from] ComposeError),
    #[error("giving up an event place failed: {0}")]
    Events(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an erasure or purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    pub erasure: ErasureId,
    pub policy: ErasurePolicy,
    #[serde(flatten)]
    pub counts: ErasureCounts,
}

/// A Message-ID as someone may paste it: bare, in angle brackets, or as the message's
/// permanent link (`https://forum.example.org/m/ID`, percent-encoded).
pub fn message_id_from(input: &str) -> Option<String> {
    let input = input.trim();
    let id = match input.find("/m/") {
        Some(at) => percent_encoding::percent_decode_str(&input[at + 3..])
            .decode_utf8()
            .ok()?
            .into_owned(),
        None => input.to_owned(),
    };
    let id = id.split(['#', '?']).next().unwrap_or_default();
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_owned())
}

/// Erases a member's account, or an address's mail, by the configured policy.
pub fn erase(
    store: &mut Store,
    config: &Config,
    target: &Target,
    actor: Actor,
    reason: Option<&str>,
    now: i64,
) -> Result<Erased, ErasureError> {
    let (user, verified, all) = match target {
        Target::Member(user) => {
            if store.user(*user)?.is_none() {
                return Err(ErasureError::NoSuchMember(user.0));
            }
            let (verified, all) = store.member_addresses(*user)?;
            (Some(*user), verified, all)
        }
        Target::Address(address) => {
            let address = address.trim().to_lowercase();
            match store.user_by_email(&address)? {
                Some(user) => {
                    let (verified, all) = store.member_addresses(user)?;
                    (Some(user), verified, all)
                }
                None => (None, vec![address.clone()], vec![address]),
            }
        }
    };
    // Only a hidden message (which has no archived row) may be held about the address yet:
    // that is looked for in the transaction.
    let nothing_shown = user.is_none() && !store.holds_anything_about(&all)?;
    let policy = config.privacy.erasure;
    let tagger = store.tagger()?;
    let target_text = address_hashes(&all);
    with_secure_delete(store, |store| {
        let run = store.begin_run("erasure", now)?;
        let writer = store.writer(run)?;
        // Hidden messages are found before the account's rows go (a web post is found by its
        // author's posts).
        let hidden = writer.hidden_from(&verified, user)?;
        if nothing_shown
            && hidden.is_empty()
            && let Target::Address(address) = target
        {
            return Err(ErasureError::NothingHeld(address.clone()));
        }
        if let Some(user) = user {
            for event in writer.open_places(user, now)? {
                crate::forum::events::cancel_in(&writer, config, event, user, now)
                    .map_err(|e| ErasureError::Events(e.to_string()))?;
            }
        }
        let erasure = writer.begin_erasure(&NewErasure {
            at: now,
            kind: if user.is_some() {
                ErasureKind::Account
            } else {
                ErasureKind::Address
            },
            actor,
            policy,
            target: &target_text,
            reason,
        })?;
        // One pseudonym per erasure, random (not derived from the address, which could then
        // be recognised): the member's messages stay recognisably one person's.
        let token = crate::mail::hex::hex(&crate::tokens::random_bytes::<4>());
        let pseudonym = format!("erased-{token}@erased.invalid");
        let mut counts = ErasureCounts::default();
        let keys = writer.messages_from(&verified, user)?;
        // The account goes first: a web post's author is looked up through the account when
        // its stand-in is derived, and must not be found.
        counts.other_rows += writer.erase_account_rows(user, &all)?;
        for key in keys {
            let Some(m) = writer.erasable(key)? else {
                continue;
            };
            let how = Redaction {
                author_name: PSEUDONYM_NAME,
                author_address: &pseudonym,
                subject: m.subject.as_deref(),
                notice: ERASED_NOTICE,
                kind: "account",
                envelope: stand_in_envelope(m.envelope.as_deref(), &pseudonym),
            };
            counts.add(erase_message(
                &writer, config, &tagger, &m, policy, &how, erasure,
            )?);
        }
        for message_id in &hidden {
            if let Some(done) = writer.erase_hidden(message_id, erasure)? {
                counts.add(done);
            }
        }
        finish(writer, erasure, policy, counts)
    })
}

/// Purges one message by the configured policy: its text, attachments and raw mail go (its
/// subject too unless `keep_subject`); its author stays, since it is the content that had to
/// go. `reason` is kept in the audit log.
pub fn purge(
    store: &mut Store,
    config: &Config,
    message_id: &str,
    keep_subject: bool,
    actor: Actor,
    reason: &str,
    now: i64,
) -> Result<Erased, ErasureError> {
    let policy = config.privacy.erasure;
    let tagger = store.tagger()?;
    with_secure_delete(store, |store| {
        let run = store.begin_run("purge", now)?;
        let writer = store.writer(run)?;
        let Some(m) = writer
            .message_key(message_id)?
            .map(|key| writer.erasable(key))
            .transpose()?
            .flatten()
        else {
            // A message a moderator hid (or a "+1" that became a like) has no archived row;
            // its raw mail is purged all the same (removed, whatever the policy: nobody saw it, so no stand-in is shown).
            if writer.hidden_content(message_id)?.is_none() {
                return Err(ErasureError::NoSuchMessage(message_id.to_owned()));
            }
            let erasure = writer.begin_erasure(&NewErasure {
                at: now,
                kind: ErasureKind::Message,
                actor,
                policy,
                target: message_id,
                reason: Some(reason),
            })?;
            let counts = writer
                .erase_hidden(message_id, erasure)?
                .unwrap_or_default();
            return finish(writer, erasure, policy, counts);
        };
        let erasure = writer.begin_erasure(&NewErasure {
            at: now,
            kind: ErasureKind::Message,
            actor,
            policy,
            target: &m.headers.message_id,
            reason: Some(reason),
        })?;
        let name = m.author.name_or_address().unwrap_or("Unknown").to_owned();
        // An author whose address cannot be written back keeps their name only.
        let address = m
            .author
            .address
            .clone()
            .filter(|a| a.parse::<lettre::Address>().is_ok())
            .unwrap_or_else(|| "unknown@erased.invalid".to_owned());
        let how = Redaction {
            author_name: &name,
            author_address: &address,
            subject: Some(match &m.subject {
                Some(subject) if keep_subject => subject,
                _ => PURGED_SUBJECT,
            }),
            notice: PURGED_NOTICE,
            kind: "message",
            envelope: m.envelope.clone(),
        };
        let counts = erase_message(&writer, config, &tagger, &m, policy, &how, erasure)?;
        finish(writer, erasure, policy, counts)
    })
}

/// Records in the audit entry what an erasure did, and commits it.
fn finish(
    writer: Writer<'_>,
    erasure: ErasureId,
    policy: ErasurePolicy,
    counts: ErasureCounts,
) -> Result<Erased, ErasureError> {
    writer.finish_erasure(erasure, counts)?;
    writer.commit()?;
    Ok(Erased {
        erasure,
        policy,
        counts,
    })
}

/// What a redacted message's stand-in shows.
struct Redaction<'a> {
    author_name: &'a str,
    author_address: &'a str,
    subject: Option<&'a str>,
    notice: &'a str,
    kind: &'a str,
    envelope: Option<String>,
}

/// Redacts or removes one message, with whatever the outbox still holds of it.
fn erase_message(
    writer: &Writer<'_>,
    config: &Config,
    tagger: &InterestTagger,
    m: &ErasableMessage,
    policy: ErasurePolicy,
    how: &Redaction<'_>,
    erasure: ErasureId,
) -> Result<ErasureCounts, ErasureError> {
    let headers = &m.headers;
    let outbox = writer.drop_outbox_of(&headers.message_id)?;
    let mut counts = match policy {
        ErasurePolicy::Remove => writer.remove_message(m, erasure)?,
        ErasurePolicy::Redact => {
            // A reply found only by its subject or Thread-Index names its parent outright, so
            // the stand-in keeps its place however the archive is rebuilt.
            let in_reply_to = headers
                .in_reply_to
                .as_deref()
                .or(if headers.references.is_empty() {
                    headers.fallback_parent.as_deref()
                } else {
                    None
                });
            let thread_index = thread_index_header(&m.bytes);
            let bytes = stand_in(&StandIn {
                message_id: &headers.message_id,
                in_reply_to,
                references: &headers.references,
                date: headers.date,
                author_name: how.author_name,
                author_address: how.author_address,
                subject: how.subject,
                thread_index: thread_index.as_deref(),
                notice: how.notice,
                kind: how.kind,
            })?;
            let parsed = parse_message(
                &bytes,
                how.envelope.as_deref(),
                &config.render_options(&m.list_name),
            )
            .expect("a stand-in is well-formed mail");
            let (key, counts) =
                writer.replace_message(m, &bytes, how.envelope.as_deref(), &parsed, erasure)?;
            if let Some(key) = key {
                crate::archive::tag_one(writer, key, &parsed, tagger)?;
            }
            counts
        }
    };
    counts.other_rows += outbox;
    Ok(counts)
}

/// Runs an erasure with SQLite's secure delete on (as every connection has it: see
/// `Store::open`), then compacts the search index (the tokens of deleted rows stay in its
/// segments until they are merged) and empties the write-ahead log.
fn with_secure_delete<T>(
    store: &mut Store,
    f: impl FnOnce(&mut Store) -> Result<T, ErasureError>,
) -> Result<T, ErasureError> {
    store.set_secure_delete(true)?;
    let done = f(store)?;
    store.optimize()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_read_from_what_admins_paste() {
        for (input, want) in [
            ("abc@nhs.net", Some("abc@nhs.net")),
            (" <abc@nhs.net> ", Some("abc@nhs.net")),
            (
                "https://forum.example.org/m/abc%2B1@nhs.net#m-5",
                Some("abc+1@nhs.net"),
            ),
            ("/m/abc@nhs.net", Some("abc@nhs.net")),
            ("", None),
            ("<>", None),
            ("two words", None),
        ] {
            assert_eq!(message_id_from(input).as_deref(), want, "{input:?}");
        }
    }
}
