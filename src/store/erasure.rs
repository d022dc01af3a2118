//! Erasure and purge, the store's side: a message's content taken out of every table that holds
//! it (the raw store and its further copies, the search index, attachments no other message
//! carries, tags), either replaced by a redacted stand-in the caller composed or removed; an
//! account's own rows deleted; the audit log of what was done (never what was erased, nor an
//! address in clear); and the tombstones that keep erased mail from coming back with a later
//! import, fetch or reindex.

use std::collections::BTreeSet;

use super::db::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::members::UserId;
use super::{Author, Derived, ListId, MessageKey, RawId, StoreError, ThreadId, Writer};
use crate::mail::hex::hex;
use crate::mail::parse::{ParsedMessage, parse_message};
use crate::mail::render::RenderOptions;
use crate::thread::ThreadHeaders;

/// A row of `erasures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ErasureId(pub i64);

/// What happens to an erased member's archived mail, and to a purged message (`[privacy]
/// erasure`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErasurePolicy {
    /// The message stays as a stand-in (its place in the thread, its date); its text,
    /// attachments and author go.
    #[default]
    Redact,
    /// The message goes entirely; replies keep a placeholder for it.
    Remove,
}

impl ErasurePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ErasurePolicy::Redact => "redact",
            ErasurePolicy::Remove => "remove",
        }
    }

    pub fn parse(s: &str) -> Option<ErasurePolicy> {
        match s {
            "redact" => Some(ErasurePolicy::Redact),
            "remove" => Some(ErasurePolicy::Remove),
            _ => None,
        }
    }
}

/// What an erasure was of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErasureKind {
    /// A member's account and their mail.
    Account,
    /// The mail of an address no member has.
    Address,
    /// One message, purged by an admin.
    Message,
}

impl ErasureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErasureKind::Account => "account",
            ErasureKind::Address => "address",
            ErasureKind::Message => "message",
        }
    }
}

/// Who had it done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The member erased their own account.
    Member,
    /// An admin on the web.
    Admin(UserId),
    /// The command line (an operator of the server).
    Cli,
}

impl Actor {
    fn as_str(self) -> &'static str {
        match self {
            Actor::Member => "member",
            Actor::Admin(_) => "admin",
            Actor::Cli => "cli",
        }
    }
}

/// The start of an audit entry.
#[derive(Debug, Clone)]
pub struct NewErasure<'a> {
    pub at: i64,
    pub kind: ErasureKind,
    pub actor: Actor,
    pub policy: ErasurePolicy,
    /// Hashes of the addresses, or the purged Message-ID ([`address_hashes`]).
    pub target: &'a str,
    pub reason: Option<&'a str>,
}

/// What an erasure took out, for its audit entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ErasureCounts {
    /// Archived messages redacted or removed.
    pub messages: u64,
    /// Further raw copies of them deleted.
    pub copies: u64,
    /// Attachment contents no message carries any more.
    pub attachments: u64,
    /// Other rows deleted: the account, its addresses, sessions, likes, outbox and log rows.
    pub other_rows: u64,
}

impl ErasureCounts {
    pub fn add(&mut self, other: ErasureCounts) {
        self.messages += other.messages;
        self.copies += other.copies;
        self.attachments += other.attachments;
        self.other_rows += other.other_rows;
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ErasureEntry {
    pub id: ErasureId,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub actor_user: Option<i64>,
    pub policy: String,
    pub target: String,
    #[serde(flatten)]
    pub counts: ErasureCounts,
    pub reason: Option<String>,
}

/// A message about to be redacted or removed: what a stand-in is made of, and its raw mail.
#[derive(Debug, Clone)]
pub struct ErasableMessage {
    pub key: MessageKey,
    pub raw: RawId,
    pub raw_sha: Vec<u8>,
    /// What a reader sees, hashed (`messages.content_sha256`): tells a copy of the message.
    pub content_sha: Vec<u8>,
    pub headers: ThreadHeaders,
    pub thread: ThreadId,
    pub list: ListId,
    pub list_name: String,
    pub subject: Option<String>,
    pub author: Author,
    pub envelope: Option<String>,
    pub bytes: Vec<u8>,
}

/// The SHA-256 (hex) of each address, lowercased, space separated: what the audit log keeps
/// of whom it erased (enough to answer "was this address erased?", not to read one).
pub fn address_hashes(addresses: &[String]) -> String {
    addresses
        .iter()
        .map(|a| hex(&Sha256::digest(a.trim().to_lowercase().as_bytes())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Raw mail carrying an attachment: its id, envelope, size and compressed bytes.
type Carrier = (i64, Option<String>, i64, Vec<u8>);

/// What a purge's confirmation shows of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageSummary {
    pub thread: ThreadId,
    pub subject: Option<String>,
    /// `Name <address>`, or whichever of the two the mail gave.
    pub author: String,
    pub date: Option<i64>,
}

/// What a tombstone keeps of an erased message's author.
fn author_hash(address: &str) -> [u8; 32] {
    Sha256::digest(address.trim().to_lowercase().as_bytes()).into()
}

/// What the tombstone of a Message-ID is keyed by.
fn id_hash(message_id: &str) -> [u8; 32] {
    Sha256::digest(message_id.as_bytes()).into()
}

impl Writer<'_> {
    /// Whether these raw bytes were erased (so they are not stored again).
    pub(super) fn raw_erased(&self, sha256: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self
            .tx()
            .prepare_cached("SELECT 1 FROM erased_raw WHERE sha256 = ?1")?
            .exists([&sha256[..]])?)
    }

    /// Whether a message is another copy of erased mail: its id was erased, it is not the
    /// stand-in, and it has the erased message's content or author (a different message that
    /// merely claims the id is archived as any other). Such a copy is deleted again at once,
    /// and its bytes remembered.
    pub(super) fn refuse_erased(
        &self,
        raw: RawId,
        raw_sha: &[u8; 32],
        message_id: &str,
        parsed: &ParsedMessage,
    ) -> Result<bool, StoreError> {
        type Tombstone = (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);
        let found: Option<Tombstone> = self
            .tx()
            .prepare_cached(
                "SELECT content, author, replacement FROM erased_ids WHERE id_hash = ?1",
            )?
            .query_row([&id_hash(message_id)[..]], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let Some((content, author, stand_in)) = found else {
            return Ok(false);
        };
        let same = content == parsed.content_sha256[..]
            || author.is_some_and(|a| {
                parsed
                    .from_addr
                    .as_deref()
                    .is_some_and(|f| a == author_hash(f)[..])
            });
        match stand_in {
            Some(stand_in) if stand_in == raw_sha[..] => Ok(false),
            _ if !same => Ok(false),
            _ => {
                self.tx()
                    .prepare_cached("INSERT OR IGNORE INTO erased_raw(sha256) VALUES (?1)")?
                    .execute([&raw_sha[..]])?;
                self.tx()
                    .prepare_cached("DELETE FROM raw_messages WHERE id = ?1")?
                    .execute([raw.0])?;
                Ok(true)
            }
        }
    }

    /// Starts an audit entry; its counts are filled in by [`Writer::finish_erasure`] in the same
    /// transaction.
    pub fn begin_erasure(&self, e: &NewErasure<'_>) -> Result<ErasureId, StoreError> {
        self.tx().execute(
            "INSERT INTO erasures(at, kind, actor, actor_user, policy, target, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                e.at,
                e.kind.as_str(),
                e.actor.as_str(),
                match e.actor {
                    Actor::Admin(u) => Some(u.0),
                    _ => None,
                },
                e.policy.as_str(),
                e.target,
                e.reason.map(str::trim).filter(|r| !r.is_empty()),
            ],
        )?;
        Ok(ErasureId(self.tx().last_insert_rowid()))
    }

    pub fn finish_erasure(&self, id: ErasureId, counts: ErasureCounts) -> Result<(), StoreError> {
        self.tx().execute(
            "UPDATE erasures SET messages = ?2, copies = ?3, attachments = ?4, other_rows = ?5
             WHERE id = ?1",
            params![
                id.0,
                counts.messages as i64,
                counts.copies as i64,
                counts.attachments as i64,
                counts.other_rows as i64
            ],
        )?;
        Ok(())
    }

    /// The archived messages a member or an address wrote: sent from one of `addresses`, or
    /// written through the bridge by `user` (a web post's raw From is the bridge's address).
    pub fn messages_from(
        &self,
        addresses: &[String],
        user: Option<UserId>,
    ) -> Result<Vec<MessageKey>, StoreError> {
        let mut keys = BTreeSet::new();
        let mut by_address = self
            .tx()
            .prepare_cached("SELECT id FROM messages WHERE from_addr = ?1 COLLATE NOCASE")?;
        for address in addresses {
            for key in by_address.query_map([address], |r| r.get::<i64>(0))? {
                keys.insert(MessageKey(key?));
            }
        }
        if let Some(user) = user {
            let mut posts = self.tx().prepare_cached(
                "SELECT m.id FROM posts p JOIN messages m ON m.message_id = p.message_id
                 WHERE p.user_id = ?1",
            )?;
            for key in posts.query_map([user.0], |r| r.get::<i64>(0))? {
                keys.insert(MessageKey(key?));
            }
        }
        Ok(keys.into_iter().collect())
    }

    /// The message of a Message-ID (also a derived one).
    pub fn message_key(&self, message_id: &str) -> Result<Option<MessageKey>, StoreError> {
        Ok(self
            .tx()
            .prepare_cached("SELECT id FROM messages WHERE message_id = ?1")?
            .query_row([message_id], |r| r.get(0))
            .optional()?
            .map(MessageKey))
    }

    /// A message with what a stand-in is made of.
    pub fn erasable(&self, key: MessageKey) -> Result<Option<ErasableMessage>, StoreError> {
        let mut stmt = self.tx().prepare_cached(
            "SELECT m.id, m.raw_id, r.sha256, m.message_id, m.refs, m.in_reply_to,
                    m.fallback_parent, m.date, m.thread_id, m.list_id, l.name,
                    m.subject, m.from_name, m.from_addr,
                    r.envelope, r.size, r.data, m.content_sha256
             FROM messages m JOIN raw_messages r ON r.id = m.raw_id JOIN lists l ON l.id = m.list_id
             WHERE m.id = ?1",
        )?;
        let mut rows = stmt.query([key.0])?;
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        let raw = RawId(r.get(1)?);
        let size: i64 = r.get(15)?;
        let data: Vec<u8> = r.get(16)?;
        Ok(Some(ErasableMessage {
            key: MessageKey(r.get(0)?),
            raw,
            raw_sha: r.get(2)?,
            content_sha: r.get(17)?,
            headers: super::read::thread_headers(&r, 3)?,
            thread: ThreadId(r.get(8)?),
            list: ListId(r.get(9)?),
            list_name: r.get(10)?,
            subject: r.get(11)?,
            author: Author {
                name: r.get(12)?,
                address: r.get(13)?,
            },
            envelope: r.get(14)?,
            bytes: super::decompress(raw, &data, size as usize)?,
        }))
    }

    /// Replaces a message by its stand-in: the raw row keeps its place (so `reindex` derives
    /// the archive in the same order) but holds the stand-in's bytes; everything derived from
    /// the original goes, and the stand-in is derived in its place. Returns the stand-in's key
    /// (none when a moderator has hidden the message: it stays hidden, only its raw changes).
    pub fn replace_message(
        &self,
        m: &ErasableMessage,
        bytes: &[u8],
        envelope: Option<&str>,
        parsed: &ParsedMessage,
        erasure: ErasureId,
    ) -> Result<(Option<MessageKey>, ErasureCounts), StoreError> {
        let mut counts = self.detach(m)?;
        // A flag's note may quote the message; the flag itself stays.
        self.tx().execute(
            "UPDATE flags SET note = NULL WHERE message_id = ?1",
            [&m.headers.message_id],
        )?;
        let sha = crate::mail::parse::raw_sha256(bytes);
        self.remember_erased(m, Some(&sha), erasure)?;
        self.tx().execute(
            "UPDATE raw_messages SET sha256 = ?2, size = ?3, envelope = ?4, data = ?5 WHERE id = ?1",
            params![
                m.raw.0,
                &sha[..],
                bytes.len() as i64,
                envelope,
                super::compress(bytes)
            ],
        )?;
        let key = match self.derive(m.raw, &sha, m.list, Ok(parsed))? {
            Derived::Message(k) | Derived::Renamed { key: k, .. } | Derived::Copy(k) => Some(k),
            Derived::Hidden => None,
            Derived::Unparseable(_) | Derived::Erased => {
                unreachable!("a stand-in is parseable and allowed its id")
            }
        };
        self.recount_thread(m.thread)?;
        counts.messages = 1;
        Ok((key, counts))
    }

    /// Removes a message entirely: its raw mail and copies, everything derived from it; its
    /// id stays as a placeholder (a ghost) that replies still hang from.
    pub fn remove_message(
        &self,
        m: &ErasableMessage,
        erasure: ErasureId,
    ) -> Result<ErasureCounts, StoreError> {
        let message_id = &m.headers.message_id;
        let mut counts = self.detach(m)?;
        self.remember_erased(m, None, erasure)?;
        self.tx()
            .execute("DELETE FROM raw_messages WHERE id = ?1", [m.raw.0])?;
        counts.other_rows += self.drop_kept_about(message_id)?;
        let first: Option<String> = self
            .tx()
            .query_row(
                "SELECT message_id FROM messages WHERE thread_id = ?1
                 ORDER BY date IS NULL, date, id LIMIT 1",
                [m.thread.0],
                |r| r.get(0),
            )
            .optional()?;
        match first {
            Some(first) => {
                // What was anchored on the message (a hand-set tag, a member's watch, an
                // event) moves to the thread's first message, so the thread keeps it.
                for table in ["manual_tags", "thread_prefs"] {
                    self.tx().execute(
                        &format!(
                            "UPDATE OR IGNORE {table} SET message_id = ?2 WHERE message_id = ?1"
                        ),
                        params![message_id, first],
                    )?;
                    self.tx().execute(
                        &format!("DELETE FROM {table} WHERE message_id = ?1"),
                        [message_id],
                    )?;
                }
                self.tx().execute(
                    "UPDATE events SET message_id = ?2 WHERE message_id = ?1",
                    params![message_id, first],
                )?;
                self.recount_thread(m.thread)?;
            }
            None => {
                // Nothing real is left of the thread: only placeholders, which no message
                // names any more.
                self.execute_each(
                    &[
                        "DELETE FROM manual_tags WHERE message_id = ?1",
                        "DELETE FROM thread_prefs WHERE message_id = ?1",
                    ],
                    message_id,
                )?;
                self.tx()
                    .execute("DELETE FROM thread_ids WHERE thread_id = ?1", [m.thread.0])?;
                self.tx()
                    .execute("DELETE FROM threads WHERE id = ?1", [m.thread.0])?;
            }
        }
        counts.messages = 1;
        Ok(counts)
    }

    /// Deletes whatever the outbox holds of a message (its bytes are its content), and the
    /// bridge's notices and digests that quote it: queued ones are not sent, sent ones are not
    /// kept.
    pub fn drop_outbox_of(&self, message_id: &str) -> Result<u64, StoreError> {
        let ids: Vec<i64> = self
            .tx()
            .prepare_cached(
                "SELECT id FROM outbox WHERE message_id = ?1
                 UNION SELECT outbox_id FROM outbox_quotes WHERE message_id = ?1",
            )?
            .query_map([message_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        self.delete_outboxes(&ids)
    }

    /// Deletes the bridge's mail that quotes a held post (the moderators' notices, the
    /// author's): sent or not.
    pub fn drop_outbox_quoting_held(&self, held: super::HeldId) -> Result<u64, StoreError> {
        let ids: Vec<i64> = self
            .tx()
            .prepare_cached("SELECT outbox_id FROM outbox_quotes WHERE held_id = ?1")?
            .query_map([held.0], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        self.delete_outboxes(&ids)
    }

    /// Deletes the bridge's mail that quotes the held posts `condition` picks (by `key`): a
    /// member's, or an address's.
    fn drop_outbox_quoting_held_where(
        &self,
        condition: &str,
        key: impl crate::store::db::ToValue,
    ) -> Result<u64, StoreError> {
        let held: Vec<i64> = self
            .tx()
            .prepare_cached(&format!("SELECT id FROM held_posts WHERE {condition}"))?
            .query_map([key], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut n = 0;
        for id in held {
            n += self.drop_outbox_quoting_held(super::HeldId(id))?;
        }
        Ok(n)
    }

    /// Deletes outbox messages with their recipients (and what they quote); a post keeps its
    /// row, without its mail.
    fn delete_outboxes(&self, ids: &[i64]) -> Result<u64, StoreError> {
        let tx = self.tx();
        let mut n = 0;
        for id in ids {
            tx.execute(
                "UPDATE posts SET outbox_id = NULL WHERE outbox_id = ?1",
                [id],
            )?;
            tx.execute("DELETE FROM outbox_quotes WHERE outbox_id = ?1", [id])?;
            n += tx.execute("DELETE FROM outbox_recipients WHERE outbox_id = ?1", [id])?;
            n += tx.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
        }
        Ok(n as u64)
    }

    /// Takes out everything derived from a message and its further raw copies; the message's
    /// own raw row is left to the caller (replaced or deleted). Attachments it carried stay
    /// when another message carries them too (served from that one's raw mail from now on).
    fn detach(&self, m: &ErasableMessage) -> Result<ErasureCounts, StoreError> {
        let tx = self.tx();
        let mut counts = ErasureCounts::default();
        let copies: Vec<(i64, Vec<u8>)> = tx
            .prepare_cached(
                "SELECT c.raw_id, r.sha256 FROM message_copies c
                 JOIN raw_messages r ON r.id = c.raw_id WHERE c.message = ?1",
            )?
            .query_map([m.key.0], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut gone: Vec<i64> = copies.iter().map(|(id, _)| *id).collect();
        gone.push(m.raw.0);
        let mut shas: BTreeSet<String> = tx
            .prepare_cached("SELECT sha256 FROM message_attachments WHERE message = ?1")?
            .query_map([m.key.0], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        {
            let mut carried =
                tx.prepare_cached("SELECT sha256 FROM attachments WHERE raw_id = ?1")?;
            for raw in &gone {
                for sha in carried.query_map([raw], |r| r.get::<String>(0))? {
                    shas.insert(sha?);
                }
            }
        }
        tx.execute(
            "DELETE FROM message_attachments WHERE message = ?1",
            [m.key.0],
        )?;
        tx.execute("DELETE FROM message_copies WHERE message = ?1", [m.key.0])?;
        tx.execute("DELETE FROM search WHERE rowid = ?1", [m.key.0])?;
        tx.execute("DELETE FROM message_tags WHERE message = ?1", [m.key.0])?;
        for sha in &shas {
            if !self.keep_attachment(sha, &gone)? {
                counts.attachments += 1;
            }
        }
        tx.execute(
            "UPDATE thread_ids SET message = NULL WHERE message = ?1",
            [m.key.0],
        )?;
        tx.execute("DELETE FROM messages WHERE id = ?1", [m.key.0])?;
        for (raw, sha) in &copies {
            tx.prepare_cached("INSERT OR IGNORE INTO erased_raw(sha256) VALUES (?1)")?
                .execute([sha])?;
            tx.execute("DELETE FROM raw_messages WHERE id = ?1", [raw])?;
        }
        counts.copies = copies.len() as u64;
        Ok(counts)
    }

    /// An attachment whose message is going: kept (moved to another carrier's raw mail when it
    /// was stored in one of the `gone` raw rows) while any other message carries it, else
    /// forgotten. True when it is kept.
    fn keep_attachment(&self, sha: &str, gone: &[i64]) -> Result<bool, StoreError> {
        let tx = self.tx();
        let stored_in: Option<i64> = tx
            .query_row(
                "SELECT raw_id FROM attachments WHERE sha256 = ?1",
                [sha],
                |r| r.get(0),
            )
            .optional()?;
        let Some(stored_in) = stored_in else {
            return Ok(false);
        };
        let carriers: Vec<Carrier> = tx
            .prepare_cached(
                "SELECT DISTINCT r.id, r.envelope, r.size, r.data
                 FROM message_attachments a JOIN messages m ON m.id = a.message
                 JOIN raw_messages r ON r.id = m.raw_id
                 WHERE a.sha256 = ?1 ORDER BY r.id",
            )?
            .query_map([sha], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        if !gone.contains(&stored_in) && !carriers.is_empty() {
            return Ok(true);
        }
        for (raw, envelope, size, data) in &carriers {
            if gone.contains(raw) {
                continue;
            }
            let bytes = super::decompress(RawId(*raw), data, *size as usize)?;
            // Part numbers do not depend on a list's rendering rules.
            let part = parse_message(&bytes, envelope.as_deref(), &RenderOptions::default())
                .ok()
                .and_then(|p| p.attachments.into_iter().find(|a| a.sha256 == sha))
                .map(|a| a.part);
            if let Some(part) = part {
                tx.execute(
                    "UPDATE attachments SET raw_id = ?2, part = ?3 WHERE sha256 = ?1",
                    params![sha, raw, part],
                )?;
                return Ok(true);
            }
        }
        // No other message carries it (or none can be read back): it goes, and so do the
        // listings of it that cannot be served any more.
        tx.execute("DELETE FROM message_attachments WHERE sha256 = ?1", [sha])?;
        tx.execute("DELETE FROM attachments WHERE sha256 = ?1", [sha])?;
        Ok(false)
    }

    /// The raw rows nothing derived stands for: hidden messages and the further copies of
    /// them, each parsed (for its Message-ID, author and content). Few, and read only when
    /// something is erased.
    fn unshown_raws(&self) -> Result<Vec<(RawId, Vec<u8>, ParsedMessage)>, StoreError> {
        let ids: Vec<i64> = self
            .tx()
            .prepare(
                "SELECT id FROM raw_messages EXCEPT SELECT raw_id FROM messages
                 EXCEPT SELECT raw_id FROM message_copies EXCEPT SELECT raw_id FROM unparseable",
            )?
            .query_map((), |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(ids.len());
        let mut read = self.tx().prepare_cached(
            "SELECT id, sha256, list_id, envelope, size, data FROM raw_messages WHERE id = ?1",
        )?;
        for id in ids {
            let mut rows = read.query([id])?;
            let Some(row) = rows.next()? else { continue };
            let raw = super::StoredRaw::from_row(&row)?;
            if let Ok(parsed) = parse_message(
                &raw.bytes,
                raw.envelope.as_deref(),
                &RenderOptions::default(),
            ) {
                out.push((raw.id, raw.sha256.to_vec(), parsed));
            }
        }
        Ok(out)
    }

    /// The hidden messages (and the mail that was a like) a member or an address wrote: they
    /// have no `messages` row, so [`Writer::messages_from`] does not see them. Sent from one
    /// of `addresses`, or written through the bridge by `user`.
    pub fn hidden_from(
        &self,
        addresses: &[String],
        user: Option<UserId>,
    ) -> Result<Vec<String>, StoreError> {
        let hidden: Vec<(String, i64)> = self
            .tx()
            .prepare(
                "SELECT message_id, raw_id FROM hidden_messages
                 UNION SELECT message_id, raw_id FROM mail_likes ORDER BY raw_id",
            )?
            .query_map((), |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        if hidden.is_empty() {
            return Ok(Vec::new());
        }
        let unshown = self.unshown_raws()?;
        let mut found = BTreeSet::new();
        for (message_id, raw) in hidden {
            let by_post = match user {
                Some(user) => self
                    .tx()
                    .prepare_cached("SELECT 1 FROM posts WHERE message_id = ?1 AND user_id = ?2")?
                    .exists(params![message_id, user.0])?,
                None => false,
            };
            let by_address = unshown.iter().any(|(id, _, parsed)| {
                id.0 == raw
                    && parsed.from_addr.as_deref().is_some_and(|from| {
                        addresses
                            .iter()
                            .any(|a| a.trim().eq_ignore_ascii_case(from))
                    })
            });
            if by_post || by_address {
                found.insert(message_id);
            }
        }
        Ok(found.into_iter().collect())
    }

    /// Erases a hidden message (or a mail that was a like): its raw mail and every further copy of it go, whatever the
    /// policy (it was not shown, so no stand-in takes its place: its id stays a placeholder
    /// that replies hang from), with what was kept about it (likes, flags and their notes, the
    /// bridge's mail of it or quoting it). None when no hidden message has that id.
    pub fn erase_hidden(
        &self,
        message_id: &str,
        erasure: ErasureId,
    ) -> Result<Option<ErasureCounts>, StoreError> {
        let found: Option<(i64, Vec<u8>)> = self
            .tx()
            .query_row(
                "SELECT raw_id, content_sha256 FROM hidden_messages WHERE message_id = ?1
                 UNION ALL SELECT raw_id, content_sha256 FROM mail_likes WHERE message_id = ?1",
                [message_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((raw, content)) = found else {
            return Ok(None);
        };
        let unshown = self.unshown_raws()?;
        let Some((_, raw_sha, parsed)) = unshown.iter().find(|(id, _, _)| id.0 == raw) else {
            return Ok(None);
        };
        let mut counts = ErasureCounts {
            messages: 1,
            ..ErasureCounts::default()
        };
        // Further copies: the same Message-ID and content, in raw rows nothing stands for.
        for (id, sha, other) in &unshown {
            if id.0 != raw
                && other.message_id == parsed.message_id
                && other.content_sha256[..] == content[..]
            {
                self.tx()
                    .prepare_cached("INSERT OR IGNORE INTO erased_raw(sha256) VALUES (?1)")?
                    .execute([sha])?;
                self.tx()
                    .execute("DELETE FROM raw_messages WHERE id = ?1", [id.0])?;
                counts.copies += 1;
            }
        }
        self.tombstone(
            raw_sha,
            message_id,
            &content,
            parsed.from_addr.as_deref(),
            None,
            erasure,
        )?;
        self.execute_each(
            &[
                "DELETE FROM hidden_messages WHERE message_id = ?1",
                "DELETE FROM mail_likes WHERE message_id = ?1",
            ],
            message_id,
        )?;
        self.tx()
            .execute("DELETE FROM raw_messages WHERE id = ?1", [raw])?;
        counts.other_rows += self.drop_kept_about(message_id)?;
        Ok(Some(counts))
    }

    /// Deletes what was kept about an erased message: members' likes, flags (a flag's note
    /// may quote it), notifications, the bridge's mail of it or quoting it, the record of a
    /// post written here. Returns how many rows went.
    fn drop_kept_about(&self, message_id: &str) -> Result<u64, StoreError> {
        let rows = self.execute_each(
            &[
                "DELETE FROM likes WHERE message_id = ?1",
                "DELETE FROM notifications WHERE message_id = ?1",
                "DELETE FROM flags WHERE message_id = ?1",
                "DELETE FROM posts WHERE message_id = ?1",
            ],
            message_id,
        )?;
        Ok(self.drop_outbox_of(message_id)? + rows)
    }

    /// Runs each of `statements` with `value` as its one parameter; returns how many rows
    /// they changed in all.
    fn execute_each(
        &self,
        statements: &[&str],
        value: impl crate::store::db::ToValue,
    ) -> Result<u64, StoreError> {
        let mut rows = 0;
        for sql in statements {
            rows += self.tx().execute(sql, [&value])? as u64;
        }
        Ok(rows)
    }

    /// Tombstones: the original bytes, and the Message-ID with the stand-in allowed to carry it.
    fn remember_erased(
        &self,
        m: &ErasableMessage,
        stand_in: Option<&[u8; 32]>,
        erasure: ErasureId,
    ) -> Result<(), StoreError> {
        self.tombstone(
            &m.raw_sha,
            &m.headers.message_id,
            &m.content_sha,
            m.author.address.as_deref(),
            stand_in,
            erasure,
        )
    }

    /// Remembers erased raw bytes (`raw_sha`) and an erased Message-ID with what its message
    /// said and who wrote it (hashed), and the stand-in's bytes allowed to carry the id.
    fn tombstone(
        &self,
        raw_sha: &[u8],
        message_id: &str,
        content_sha: &[u8],
        author: Option<&str>,
        stand_in: Option<&[u8; 32]>,
        erasure: ErasureId,
    ) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached("INSERT OR IGNORE INTO erased_raw(sha256) VALUES (?1)")?
            .execute([raw_sha])?;
        self.tx()
            .prepare_cached(
                "INSERT INTO erased_ids(id_hash, content, author, replacement, erasure)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(id_hash) DO UPDATE SET replacement = excluded.replacement,
                                                    erasure = excluded.erasure",
            )?
            .execute(params![
                &id_hash(message_id)[..],
                content_sha,
                author.map(|a| author_hash(a).to_vec()),
                stand_in.map(|s| &s[..]),
                erasure.0
            ])?;
        // Redacted again (a purged message whose author is erased later), the tombstone keeps
        // the original's content and author: those are what a copy would bring back.
        Ok(())
    }

    /// Deletes a member's own rows (when `user` is given) and every row kept about their
    /// addresses: addresses, sessions, sign-in links, reply keys, likes, preferences,
    /// notifications, event registrations, held posts, the outbox's mail to them and their
    /// posts' mail, the inbound log, bounces, explanations and private lists' rosters. Events they organised and
    /// decisions they took as a moderator stay, without their name on them. Returns how many
    /// rows were deleted.
    pub fn erase_account_rows(
        &self,
        user: Option<UserId>,
        addresses: &[String],
    ) -> Result<u64, StoreError> {
        let tx = self.tx();
        let mut n = 0u64;
        let addresses: Vec<String> = addresses.iter().map(|a| a.trim().to_lowercase()).collect();
        if let Some(user) = user {
            let u = user.0;
            // Their posts' mail: the bytes are their content.
            let post_outbox: Vec<i64> = tx
                .prepare(
                    "SELECT outbox_id FROM posts WHERE user_id = ?1 AND outbox_id IS NOT NULL",
                )?
                .query_map([u], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            n += tx.execute("DELETE FROM posts WHERE user_id = ?1", [u])? as u64;
            for outbox in &post_outbox {
                n += tx.execute(
                    "DELETE FROM outbox_recipients WHERE outbox_id = ?1",
                    [outbox],
                )? as u64;
                n += tx.execute("DELETE FROM outbox WHERE id = ?1", [outbox])? as u64;
            }
            n += self.drop_outbox_quoting_held_where("user_id = ?1", u)?;
            n += self.execute_each(
                &[
                    "DELETE FROM sessions WHERE user_id = ?1",
                    "DELETE FROM reply_keys WHERE user_id = ?1",
                    "DELETE FROM likes WHERE user_id = ?1",
                    "DELETE FROM interest_prefs WHERE user_id = ?1",
                    "DELETE FROM thread_prefs WHERE user_id = ?1",
                    "DELETE FROM notifications WHERE user_id = ?1",
                    "DELETE FROM registrations WHERE user_id = ?1",
                    "DELETE FROM held_posts WHERE user_id = ?1",
                ],
                u,
            )?;
            self.execute_each(
                &[
                    "UPDATE held_posts SET decided_by = NULL WHERE decided_by = ?1",
                    "UPDATE manual_tags SET set_by = NULL WHERE set_by = ?1",
                    "UPDATE events SET organiser = NULL WHERE organiser = ?1",
                ],
                u,
            )?;
        }
        for address in &addresses {
            let outboxes: Vec<i64> = tx
                .prepare_cached(
                    "SELECT DISTINCT outbox_id FROM outbox_recipients WHERE lower(address) = ?1",
                )?
                .query_map([address], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            n += tx.execute(
                "DELETE FROM outbox_recipients WHERE lower(address) = ?1",
                [address],
            )? as u64;
            // Mail that was only for them (a notice, a digest) goes with its last recipient.
            for outbox in outboxes {
                n += tx.execute(
                    "DELETE FROM outbox WHERE id = ?1
                       AND NOT EXISTS (SELECT 1 FROM outbox_recipients WHERE outbox_id = ?1)
                       AND NOT EXISTS (SELECT 1 FROM posts WHERE outbox_id = ?1)",
                    [outbox],
                )? as u64;
            }
            n += self.drop_outbox_quoting_held_where("lower(sender) = ?1", address)?;
            n += self.execute_each(
                &[
                    // Someone else's unconfirmed claim to the address goes with it.
                    "DELETE FROM user_emails WHERE address = ?1 AND verified_at IS NULL",
                    "DELETE FROM sign_in_links WHERE lower(address) = ?1",
                    "DELETE FROM held_posts WHERE lower(sender) = ?1",
                    "DELETE FROM inbound_log WHERE lower(sender) = ?1",
                    "DELETE FROM explanations WHERE lower(address) = ?1",
                    "DELETE FROM bounces WHERE lower(address) = ?1",
                    // Private lists' rosters: who may read them, by address.
                    "DELETE FROM list_members WHERE address = ?1",
                ],
                address,
            )?;
            tx.execute(
                "UPDATE events SET organiser_email = NULL WHERE lower(organiser_email) = ?1",
                [address],
            )?;
        }
        if let Some(user) = user {
            n += tx.execute("DELETE FROM user_emails WHERE user_id = ?1", [user.0])? as u64;
            n += tx.execute("DELETE FROM users WHERE id = ?1", [user.0])? as u64;
        }
        Ok(n)
    }

    /// A member's event places still open (confirmed or waiting, the event not over): to be
    /// given up properly, so the waiting list moves up.
    pub fn open_places(&self, user: UserId, now: i64) -> Result<Vec<super::EventId>, StoreError> {
        Ok(self
            .tx()
            .prepare(
                "SELECT r.event_id FROM registrations r JOIN events e ON e.id = r.event_id
                 WHERE r.user_id = ?1 AND r.state IN ('confirmed', 'waiting')
                   AND e.ends_at > ?2 AND e.cancelled = 0",
            )?
            .query_map(params![user.0, now], |r| r.get(0))?
            .map(|r| r.map(super::EventId))
            .collect::<Result<_, _>>()?)
    }
}

impl super::Store {
    /// A member's verified addresses (their mail in the archive) and all their addresses.
    pub fn member_addresses(&self, user: UserId) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT address, verified_at IS NOT NULL FROM user_emails WHERE user_id = ?1
             ORDER BY is_primary DESC, address",
        )?;
        let rows: Vec<(String, bool)> = stmt
            .query_map([user.0], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let verified = rows.iter().filter(|r| r.1).map(|r| r.0.clone()).collect();
        Ok((verified, rows.into_iter().map(|r| r.0).collect()))
    }

    /// Whether the archive or the forum's logs hold anything from or about these addresses.
    pub fn holds_anything_about(&self, addresses: &[String]) -> Result<bool, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE from_addr = ?1 COLLATE NOCASE)
                 OR EXISTS (SELECT 1 FROM user_emails WHERE address = ?1)
                 OR EXISTS (SELECT 1 FROM held_posts WHERE lower(sender) = ?1)
                 OR EXISTS (SELECT 1 FROM inbound_log WHERE lower(sender) = ?1)
                 OR EXISTS (SELECT 1 FROM outbox_recipients WHERE lower(address) = ?1)
                 OR EXISTS (SELECT 1 FROM sign_in_links WHERE lower(address) = ?1)
                 OR EXISTS (SELECT 1 FROM bounces WHERE lower(address) = ?1)
                 OR EXISTS (SELECT 1 FROM list_members WHERE address = ?1)",
        )?;
        for address in addresses {
            if stmt.query_row([address.trim().to_lowercase()], |r| r.get::<bool>(0))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// What a purge's confirmation shows of a message.
    pub fn message_summary(&self, message_id: &str) -> Result<Option<MessageSummary>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT thread_id, subject, from_name, from_addr, date FROM messages
                 WHERE message_id = ?1",
                [message_id],
                |r| {
                    let name: Option<String> = r.get(2)?;
                    let addr: Option<String> = r.get(3)?;
                    Ok(MessageSummary {
                        thread: ThreadId(r.get(0)?),
                        subject: r.get(1)?,
                        author: super::export::display_author(name.as_deref(), addr.as_deref()),
                        date: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// The audit log, newest first.
    pub fn erasures(&self, limit: usize) -> Result<Vec<ErasureEntry>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, kind, actor, actor_user, policy, target, messages, copies,
                    attachments, other_rows, reason
             FROM erasures ORDER BY id DESC LIMIT ?1",
        )?;
        super::rows_as(&mut stmt, [limit as i64])
    }

    /// Grows with every erasure: page caches keyed by it never serve what was erased, even
    /// when a thread's message count and newest message come back to earlier values.
    pub fn erasure_generation(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT coalesce(max(id), 0) FROM erasures")?
            .query_row((), |r| r.get(0))?)
    }

    /// Deleted content is overwritten with zeros while on (SQLite's secure_delete), so that
    /// what an erasure frees does not linger in the file's free pages.
    /// (SQLite only: PostgreSQL's deleted rows go when it vacuums the table.)
    pub fn set_secure_delete(&self, on: bool) -> Result<(), StoreError> {
        if self.conn.is_postgres() {
            return Ok(());
        }
        self.conn.execute_batch(if on {
            "PRAGMA secure_delete = ON;"
        } else {
            "PRAGMA secure_delete = OFF;"
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::archive::pipeline::{archive_for_tests, reindex};
    use crate::mail::redact::{StandIn, stand_in};
    use crate::store::access::user_for_tests;
    use crate::store::{DeriveSettings, RawOutcome, Role, Store};
    use base64::Engine;

    /// A mail for the test archive, with an optional attachment (name, bytes).
    fn mail(
        id: &str,
        from: &str,
        subject: &str,
        reply_to: Option<&str>,
        body: &str,
        attachment: Option<(&str, &[u8])>,
    ) -> Vec<u8> {
        let reply = reply_to
            .map(|p| format!("In-Reply-To: <{p}>\r\nReferences: <{p}>\r\n"))
            .unwrap_or_default();
        let head = format!(
            "From: {from}\r\nMessage-ID: <{id}>\r\nSubject: {subject}\r\n{reply}\
             Date: Mon, 4 Mar 2024 09:12:00 +0000\r\nMIME-Version: 1.0\r\n"
        );
        match attachment {
            None => format!("{head}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n")
                .into_bytes(),
            Some((name, bytes)) => format!(
                "{head}Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--b\r\n\
                 Content-Type: application/pdf; name=\"{name}\"\r\n\
                 Content-Disposition: attachment; filename=\"{name}\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            )
            .into_bytes(),
        }
    }

    fn add(store: &mut Store, bytes: Vec<u8>, origin: &str) {
        archive_for_tests(store, "snug", bytes, origin);
    }

    const PDF: &[u8] = b"%PDF-1.4 a scan of Mrs Example's referral letter";

    /// Jane starts a thread with an attachment and answers Tom; Tom answers her; Sam forwards
    /// the same attachment in another thread.
    fn archive() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("a.db"), DeriveSettings::default()).unwrap();
        let jane = "\"Jane Doe\" <jane.doe@nhs.net>";
        add(
            &mut store,
            mail(
                "j1@x",
                jane,
                "Spacers",
                None,
                "Zebrafinch spacer notes",
                Some(("letter.pdf", PDF)),
            ),
            "f#1",
        );
        add(
            &mut store,
            mail(
                "t1@x",
                "Tom <tom@example.net>",
                "Re: Spacers",
                Some("j1@x"),
                "Thanks Jane",
                None,
            ),
            "f#2",
        );
        add(
            &mut store,
            mail(
                "j2@x",
                jane,
                "Re: Spacers",
                Some("t1@x"),
                "Quokkaberry follow-up",
                None,
            ),
            "f#3",
        );
        add(
            &mut store,
            mail(
                "s1@x",
                "Sam <sam@example.net>",
                "Referral",
                None,
                "Forwarding this",
                Some(("copy.pdf", PDF)),
            ),
            "f#4",
        );
        (dir, store)
    }

    fn begin(w: &Writer<'_>, kind: ErasureKind) -> ErasureId {
        w.begin_erasure(&NewErasure {
            at: 100,
            kind,
            actor: Actor::Cli,
            policy: ErasurePolicy::Redact,
            target: "x",
            reason: None,
        })
        .unwrap()
    }

    /// Erases one message in an erasure of `kind`, as the orchestrator does: `how` redacts or
    /// removes it and gives back its result and what it erased.
    fn erase<T>(
        store: &mut Store,
        message_id: &str,
        kind: ErasureKind,
        how: impl FnOnce(&Writer<'_>, &ErasableMessage, ErasureId) -> (T, ErasureCounts),
    ) -> T {
        store
            .in_run("erasure", 0, |w| {
                let erasure = begin(w, kind);
                let m = w.erasable(w.message_key(message_id)?.unwrap())?.unwrap();
                let (done, counts) = how(w, &m, erasure);
                w.finish_erasure(erasure, counts)?;
                Ok::<_, StoreError>(done)
            })
            .unwrap()
    }

    /// Redacts one message as the orchestrator does, under a pseudonym.
    fn redact(store: &mut Store, message_id: &str) -> MessageKey {
        erase(store, message_id, ErasureKind::Account, |w, m, erasure| {
            let bytes = stand_in(&StandIn {
                message_id: &m.headers.message_id,
                in_reply_to: m.headers.in_reply_to.as_deref(),
                references: &m.headers.references,
                date: m.headers.date,
                author_name: "Former member",
                author_address: "erased-1@erased.invalid",
                subject: m.subject.as_deref(),
                thread_index: None,
                notice: "This message was erased at its author's request.",
                kind: "account",
            })
            .unwrap();
            let parsed = parse_message(&bytes, None, &RenderOptions::default()).unwrap();
            let (key, counts) = w
                .replace_message(m, &bytes, None, &parsed, erasure)
                .unwrap();
            let key = key.expect("a message not hidden gets its stand-in derived");
            (key, counts)
        })
    }

    fn remove(store: &mut Store, message_id: &str) -> ErasureCounts {
        erase(store, message_id, ErasureKind::Message, |w, m, erasure| {
            let counts = w.remove_message(m, erasure).unwrap();
            (counts, counts)
        })
    }

    fn hits(store: &Store, query: &str) -> u64 {
        store.search(query, 10).unwrap().unwrap().total
    }

    fn attachment_sha(store: &Store, id: &str) -> String {
        store
            .conn
            .query_row(
                "SELECT a.sha256 FROM message_attachments a JOIN messages m ON m.id = a.message
                 WHERE m.message_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
    }

    fn thread_of(store: &Store, id: &str) -> ThreadId {
        store.locate(id).unwrap().unwrap().0
    }

    /// Whether the database file (and its write-ahead log) holds these bytes anywhere, free
    /// pages included.
    fn file_holds(store: &Store, word: &[u8]) -> bool {
        let path = store.location().sqlite_path().expect("a SQLite store");
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        [path.to_owned(), std::path::PathBuf::from(wal)]
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .any(|bytes| bytes.windows(word.len()).any(|w| w == word))
    }

    #[test]
    fn redacting_replaces_the_raw_mail_and_everything_derived_and_survives_reindex() {
        let (_dir, mut store) = archive();
        let thread = thread_of(&store, "j1@x");
        let sha = attachment_sha(&store, "s1@x");
        assert_eq!(hits(&store, "zebrafinch"), 1);
        let before = store.archive_version().unwrap();
        let generation = store.erasure_generation().unwrap();

        redact(&mut store, "j1@x");

        let text = store.raw_text().unwrap();
        assert!(!text.contains("Zebrafinch"), "{text}");
        assert_eq!(hits(&store, "zebrafinch"), 0);
        assert!(store.erasure_generation().unwrap() > generation);
        assert_ne!(
            store.archive_version().unwrap(),
            before,
            "cached pages go stale"
        );
        // The thread holds together: the stand-in keeps its place and id; replies stay.
        assert_eq!(thread_of(&store, "j1@x"), thread);
        assert_eq!(thread_of(&store, "t1@x"), thread);
        assert_eq!(thread_of(&store, "j2@x"), thread);
        let (raw, _) = store.message_raw("j1@x").unwrap().unwrap();
        let raw = String::from_utf8(raw).unwrap();
        assert!(raw.contains("erased at its author's request"), "{raw}");
        assert!(raw.contains("Subject: Spacers"), "{raw}");
        // Sam's copy of the attachment is still served, now from his mail.
        let served = store
            .attachment(&sha)
            .unwrap()
            .expect("still carried by Sam's mail");
        assert!(String::from_utf8_lossy(&served.raw).contains("Forwarding this"));

        // Rebuilding from the raw store gives the redacted archive, not the original.
        reindex(&mut store, &|_| RenderOptions::default(), 0).unwrap();
        assert_eq!(hits(&store, "zebrafinch"), 0);
        assert_eq!(hits(&store, "erased"), 1);
        assert_eq!(thread_of(&store, "j1@x"), thread_of(&store, "j2@x"));
        assert_eq!(thread_of(&store, "t1@x"), thread_of(&store, "j2@x"));
        assert!(store.attachment(&sha).unwrap().is_some());
    }

    #[test]
    fn erased_mail_is_not_archived_again() {
        let (_dir, mut store) = archive();
        let original = mail(
            "j1@x",
            "\"Jane Doe\" <jane.doe@nhs.net>",
            "Spacers",
            None,
            "Zebrafinch spacer notes",
            Some(("letter.pdf", PDF)),
        );
        redact(&mut store, "j1@x");
        let raw_count = store.counts().unwrap().raw;
        // The same bytes again: refused before they are stored.
        let run = store.begin_run("again", 0).unwrap();
        let list = store.list_id("snug").unwrap();
        let w = store.writer(run).unwrap();
        let sha = crate::mail::parse::raw_sha256(&original);
        assert_eq!(
            w.store_raw(&sha, &original, None, list, "again").unwrap(),
            RawOutcome::Erased
        );
        w.commit().unwrap();
        // Another copy (a list's re-delivery, other transport headers): deleted at once.
        let mut copy = b"Received: from list.example by mx\r\n".to_vec();
        copy.extend_from_slice(&original);
        add(&mut store, copy, "imap:again");
        assert_eq!(store.counts().unwrap().raw, raw_count);
        assert!(!store.raw_text().unwrap().contains("Zebrafinch"));
        assert_eq!(hits(&store, "zebrafinch"), 0);

        // A different message that merely claims the erased id (another author, other text)
        // is archived as any other, under a derived id, and survives a rebuild.
        add(
            &mut store,
            mail(
                "j1@x",
                "Sam <sam@example.net>",
                "Clash",
                None,
                "Marmosetgrid",
                None,
            ),
            "f#9",
        );
        assert_eq!(store.counts().unwrap().raw, raw_count + 1);
        assert_eq!(hits(&store, "marmosetgrid"), 1);
        reindex(&mut store, &|_| RenderOptions::default(), 0).unwrap();
        assert_eq!(hits(&store, "marmosetgrid"), 1);
        assert_eq!(hits(&store, "zebrafinch"), 0);
        assert!(
            store
                .message_raw("j1@x")
                .unwrap()
                .unwrap()
                .0
                .starts_with(b"Message-ID")
        );
    }

    #[test]
    fn removing_leaves_a_placeholder_that_replies_hang_from() {
        let (_dir, mut store) = archive();
        let thread = thread_of(&store, "j1@x");
        let sha = attachment_sha(&store, "s1@x");
        let counts = remove(&mut store, "j1@x");
        assert_eq!(counts.messages, 1);
        assert_eq!(counts.attachments, 0, "Sam still carries the attachment");
        assert!(store.locate("j1@x").unwrap().is_none());
        assert_eq!(thread_of(&store, "t1@x"), thread);
        assert_eq!(thread_of(&store, "j2@x"), thread);
        assert!(!store.raw_text().unwrap().contains("Zebrafinch"));
        assert!(store.attachment(&sha).unwrap().is_some());
        let (subject, _) = store.thread_info(thread).unwrap().unwrap();
        assert_eq!(subject.as_deref(), Some("Re: Spacers"), "the earliest left");

        // Sam's message was the last carrier: the attachment goes with it, and so does his
        // thread, which has nothing else.
        let sam_thread = thread_of(&store, "s1@x");
        let counts = remove(&mut store, "s1@x");
        assert_eq!(counts.attachments, 1);
        assert!(store.attachment(&sha).unwrap().is_none());
        assert!(store.thread_info(sam_thread).unwrap().is_none());
        assert!(!store.thread_exists(sam_thread).unwrap());

        reindex(&mut store, &|_| RenderOptions::default(), 0).unwrap();
        assert_eq!(store.counts().unwrap().messages, 2);
        assert_eq!(thread_of(&store, "t1@x"), thread_of(&store, "j2@x"));
    }

    #[test]
    fn erased_words_do_not_linger_in_the_database_file() {
        let (_dir, mut store) = archive();
        // The search index keeps its terms as text (the raw store is compressed, and has the
        // word capitalised): the file holds it before.
        assert!(file_holds(&store, b"quokkaberry"));
        store.set_secure_delete(true).unwrap();
        redact(&mut store, "j2@x");
        store.optimize().unwrap();
        store.set_secure_delete(false).unwrap();
        assert!(!file_holds(&store, b"quokkaberry"));
        assert!(file_holds(&store, b"thanks"), "other members' words stay");
    }

    #[test]
    fn an_accounts_rows_go_and_other_members_rows_stay() {
        let (_dir, mut store) = archive();
        let jane = user_for_tests(&mut store, "Jane Doe", "jane.doe@nhs.net", Role::Member);
        let tom = user_for_tests(&mut store, "Tom", "tom@example.net", Role::Admin);
        for (user, token) in [(jane, b"a"), (tom, b"b")] {
            store.create_session(token, user, "csrf", 0).unwrap();
        }
        store
            .create_sign_in_link(b"link", "Jane.Doe@nhs.net", None, 0, 10)
            .unwrap();
        let roster = ["Jane.Doe@nhs.net".to_owned(), "tom@example.net".to_owned()];
        store.add_list_members("snug", &roster, 0).unwrap();
        let run = store.begin_run("likes", 0).unwrap();
        let w = store.writer(run).unwrap();
        w.add_like(jane, "t1@x", 0).unwrap();
        w.add_like(tom, "j1@x", 0).unwrap();
        w.commit().unwrap();
        let thread = thread_of(&store, "j1@x");
        store.set_thread_pref(jane, thread, Some("watch")).unwrap();

        let run = store.begin_run("erasure", 0).unwrap();
        let w = store.writer(run).unwrap();
        let keys = w
            .messages_from(&["JANE.DOE@nhs.net".to_owned()], Some(jane))
            .unwrap();
        assert_eq!(keys.len(), 2, "both of Jane's messages, whatever the case");
        let n = w
            .erase_account_rows(Some(jane), &["jane.doe@nhs.net".to_owned()])
            .unwrap();
        w.commit().unwrap();
        assert!(n >= 5, "user, address, session, link, like, watch: {n}");
        assert!(store.user(jane).unwrap().is_none());
        assert!(store.user_by_email("jane.doe@nhs.net").unwrap().is_none());
        assert!(store.session(b"a", 1).unwrap().is_none());
        assert!(store.sign_in_link(b"link", 1).unwrap().is_none());
        assert!(
            store.session(b"b", 1).unwrap().is_some(),
            "Tom is still signed in"
        );
        assert_eq!(
            store.list_members("snug").unwrap(),
            vec!["tom@example.net".to_owned()],
            "off the private list's roster"
        );
        let likes = store.likes(&["j1@x", "t1@x"], None).unwrap();
        assert_eq!(likes.get("j1@x").map(|l| l.0), Some(1), "Tom's like stays");
        assert_eq!(
            likes.get("t1@x").map(|l| l.0).unwrap_or(0),
            0,
            "Jane's like goes"
        );
    }

    #[test]
    fn the_audit_log_keeps_counts_and_hashes_not_addresses() {
        let (_dir, mut store) = archive();
        let run = store.begin_run("erasure", 0).unwrap();
        let w = store.writer(run).unwrap();
        let target = address_hashes(&["Jane.Doe@nhs.net".to_owned()]);
        let id = w
            .begin_erasure(&NewErasure {
                at: 100,
                kind: ErasureKind::Account,
                actor: Actor::Admin(UserId(7)),
                policy: ErasurePolicy::Remove,
                target: &target,
                reason: Some(" asked by phone "),
            })
            .unwrap();
        w.finish_erasure(
            id,
            ErasureCounts {
                messages: 2,
                copies: 1,
                attachments: 1,
                other_rows: 9,
            },
        )
        .unwrap();
        w.commit().unwrap();
        let log = store.erasures(10).unwrap();
        assert_eq!(log.len(), 1);
        let e = &log[0];
        assert_eq!((e.kind.as_str(), e.actor.as_str()), ("account", "admin"));
        assert_eq!((e.actor_user, e.policy.as_str()), (Some(7), "remove"));
        assert_eq!(e.counts.messages, 2);
        assert_eq!(e.reason.as_deref(), Some("asked by phone"));
        assert!(!e.target.contains('@'));
        assert_eq!(e.target, address_hashes(&["jane.doe@nhs.net".to_owned()]));
        assert_eq!(e.target.len(), 64);
    }
}
