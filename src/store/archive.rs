//! Writing the archive: the raw bytes first, then what is derived from them (the message row,
//! its thread, its ghosts, its search entry), all in the caller's transaction so a crash leaves
//! either everything or nothing of a batch.
//!
//! Threads are the connected components of Message-IDs (a message's own id, its References,
//! In-Reply-To and any fallback parent), kept in `thread_ids` with ghost rows for ids not seen
//! yet. Joining two components relabels the smaller one, so the result does not depend on the
//! order mail arrives in. The shape inside a thread is computed by the pure threader on demand.

use super::db::{OptionalExtension, Transaction, params};

use super::{
    DeriveSettings, ListId, MessageId, MessageKey, RawId, RunId, StoreError, ThreadId, compress,
};
use crate::mail::parse::{ParsedMessage, Unparseable, derived_message_id, generated_message_id};
use crate::mail::subject::{is_reply_subject, normalize_subject};

/// Which raw messages a database holds, read on a connection of its own: the thread that
/// prepares an import's mail asks it, so that bytes stored before are not parsed again.
pub struct KnownRaw {
    conn: crate::store::db::Connection,
}

impl KnownRaw {
    pub fn open(at: &super::Location) -> Result<KnownRaw, StoreError> {
        let conn = match at {
            super::Location::Sqlite(path) => {
                crate::store::db::Connection::open_sqlite_read_only(path)
            }
            super::Location::Postgres(url) => crate::store::db::Connection::open_postgres(url),
        }
        .map_err(|source| StoreError::Open {
            at: at.clone(),
            source,
        })?;
        Ok(KnownRaw { conn })
    }

    /// Whether these bytes are stored. A hint only: the storing side checks again in its own
    /// transaction before it relies on it.
    pub fn contains(&self, sha256: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM raw_messages WHERE sha256 = ?1)")?
            .query_row([&sha256[..]], |r| r.get(0))?)
    }
}

/// What storing raw bytes found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawOutcome {
    /// Newly stored.
    Stored(RawId),
    /// These exact bytes were already stored by this same run: a duplicate inside the input.
    DuplicateInRun,
    /// These exact bytes were stored by an earlier run: nothing to do.
    AlreadyArchived,
    /// These exact bytes were erased from the archive: not stored again.
    Erased,
}

/// What deriving a stored message gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Derived {
    /// A new message in the archive.
    Message(MessageKey),
    /// Another copy of a message already archived (same Message-ID and body).
    Copy(MessageKey),
    /// A different message claiming a taken Message-ID, kept under a derived id.
    Renamed { key: MessageKey, taken: MessageId },
    /// Nothing could be parsed; kept raw with the reason.
    Unparseable(String),
    /// Another copy of a message erased from the archive: deleted again, nothing derived.
    Erased,
    /// A message a moderator (or members' flags) hid: kept raw, its links still hold its
    /// thread together, nothing else derived.
    Hidden,
}

/// A write transaction on the archive.
pub struct Writer<'c> {
    tx: Transaction<'c>,
    run: RunId,
    settings: DeriveSettings,
    /// Threads (components) this transaction joined or changed: moderators' fixes touching
    /// them are applied again before it commits.
    pub(super) touched: std::cell::RefCell<std::collections::HashSet<i64>>,
    /// Whether this transaction changed what readers see (mail, threads, tags): the archive
    /// version is raised once, at commit (see `raise_archive_version`).
    archive_changed: std::cell::Cell<bool>,
}

impl<'c> Writer<'c> {
    pub(super) fn new(tx: Transaction<'c>, run: RunId, settings: DeriveSettings) -> Self {
        Writer {
            tx,
            run,
            settings,
            touched: Default::default(),
            archive_changed: Default::default(),
        }
    }

    /// Notes that this transaction changes what readers see.
    pub(super) fn archive_changed(&self) {
        self.archive_changed.set(true);
    }

    pub(super) fn tx(&self) -> &Transaction<'c> {
        &self.tx
    }

    pub fn commit(self) -> Result<(), StoreError> {
        // New mail in a fixed thread is placed by the fixes before anyone can read it.
        self.settle_thread_fixes()?;
        if self.archive_changed.get() {
            super::raise_archive_version(&self.tx)?;
        }
        Ok(self.tx.commit()?)
    }

    /// Whether these exact bytes are stored already (by this run or an earlier one); None
    /// when they are not, and storing them would store them.
    pub fn stored_before(&self, sha256: &[u8; 32]) -> Result<Option<RawOutcome>, StoreError> {
        let existing: Option<i64> = self
            .tx
            .prepare_cached("SELECT import_run FROM raw_messages WHERE sha256 = ?1")?
            .query_row([&sha256[..]], |r| r.get(0))
            .optional()?;
        Ok(existing.map(|run| {
            if run == self.run.0 {
                RawOutcome::DuplicateInRun
            } else {
                RawOutcome::AlreadyArchived
            }
        }))
    }

    /// Stores the raw bytes unless these exact bytes are already stored.
    pub fn store_raw(
        &self,
        sha256: &[u8; 32],
        bytes: &[u8],
        envelope: Option<&str>,
        list: ListId,
        origin: &str,
    ) -> Result<RawOutcome, StoreError> {
        if let Some(known) = self.stored_before(sha256)? {
            return Ok(known);
        }
        if self.raw_erased(sha256)? {
            return Ok(RawOutcome::Erased);
        }
        self.tx
            .prepare_cached(
                "INSERT INTO raw_messages(sha256, size, envelope, list_id, origin, import_run, data, stored_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, unixepoch())",
            )?
            .execute(params![
                &sha256[..],
                bytes.len() as i64,
                envelope,
                list.0,
                origin,
                self.run.0,
                compress(bytes),
            ])?;
        Ok(RawOutcome::Stored(RawId(self.tx.last_insert_rowid())))
    }

    /// Derives the message row, thread, ghosts and search entry of a stored raw message.
    pub fn derive(
        &self,
        raw: RawId,
        raw_sha: &[u8; 32],
        list: ListId,
        parsed: Result<&ParsedMessage, &Unparseable>,
    ) -> Result<Derived, StoreError> {
        let parsed = match parsed {
            Ok(p) => p,
            Err(why) => {
                self.tx
                    .prepare_cached("INSERT INTO unparseable(raw_id, reason) VALUES (?1, ?2)")?
                    .execute(params![raw.0, why.to_string()])?;
                return Ok(Derived::Unparseable(why.to_string()));
            }
        };

        let mut message_id = parsed
            .message_id
            .clone()
            .unwrap_or_else(|| MessageId::new(generated_message_id(raw_sha)));
        if self.refuse_erased(raw, raw_sha, &message_id, parsed)? {
            return Ok(Derived::Erased);
        }
        let mut taken = None;
        if let Some((key, content_sha)) = self.message_by_id(&message_id)? {
            // A post written through the bridge comes back from the list with the list's
            // footer or subject tag added: it is the same post, delivered.
            let own_echo = self.is_own_post(&message_id)?;
            if own_echo {
                self.tx
                    .prepare_cached(
                        "UPDATE posts SET delivered_at = unixepoch()
                         WHERE message_id = ?1 AND delivered_at IS NULL",
                    )?
                    .execute([&message_id])?;
                // It reached the list: a copy of it still waiting to go (in doubt after a
                // crash) is not sent again.
                self.tx
                    .prepare_cached(
                        "UPDATE outbox_recipients SET state = 'sent', sent_at = unixepoch(),
                             last_error = NULL
                         WHERE state = 'queued' AND outbox_id IN (
                             SELECT id FROM outbox WHERE message_id = ?1 AND kind = 'post')",
                    )?
                    .execute([&message_id])?;
            }
            if own_echo || content_sha == parsed.content_sha256 {
                self.tx
                    .prepare_cached("INSERT INTO message_copies(raw_id, message) VALUES (?1, ?2)")?
                    .execute(params![raw.0, key.0])?;
                return Ok(Derived::Copy(key));
            }
            taken = Some(message_id.clone());
            message_id = MessageId::new(derived_message_id(&message_id, raw_sha));
        }
        let hidden = match self.hidden_content(&message_id)? {
            None => false,
            Some(sha) if sha == parsed.content_sha256 || self.is_own_post(&message_id)? => true,
            // A different message claiming a hidden one's id: kept apart, as any such clash.
            Some(_) => {
                taken = Some(message_id.clone());
                message_id = MessageId::new(derived_message_id(&message_id, raw_sha));
                self.hidden_content(&message_id)?.is_some()
            }
        };

        // Every id this message links to, in header order, itself excluded.
        let mut linked: Vec<&str> = parsed
            .references
            .iter()
            .map(String::as_str)
            .chain(parsed.in_reply_to.as_deref())
            .filter(|id| *id != message_id.as_str())
            .collect();
        linked.dedup();
        let fallback_parent = if linked.is_empty() {
            self.fallback_parent(&message_id, parsed, list)?
        } else {
            None
        };
        linked.extend(fallback_parent.as_deref());

        let thread = self.join_threads(&message_id, &linked, list)?;
        if hidden {
            let mut ghost = self.tx.prepare_cached(
                "INSERT OR IGNORE INTO thread_ids(msgid, thread_id, message) VALUES (?1, ?2, NULL)",
            )?;
            for id in std::iter::once(message_id.as_str()).chain(linked.iter().copied()) {
                ghost.execute(params![id, thread.0])?;
            }
            return Ok(Derived::Hidden);
        }
        // A post written through the bridge went out From "Name via SITE" at the bridge's
        // address; the archive keeps its real author.
        let author: Option<(String, Option<String>)> = self
            .tx
            .prepare_cached(
                "SELECT u.display_name, (SELECT address FROM user_emails e WHERE e.user_id = u.id
                        AND e.verified_at IS NOT NULL ORDER BY e.is_primary DESC LIMIT 1)
                 FROM posts p JOIN users u ON u.id = p.user_id WHERE p.message_id = ?1",
            )?
            .query_row([&message_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (from_name, from_addr) = match author {
            Some((name, address)) => (Some(name), address),
            None => (parsed.from_name.clone(), parsed.from_addr.clone()),
        };
        let norm_subject = parsed
            .subject
            .as_deref()
            .map(normalize_subject)
            .unwrap_or_default();
        let is_reply = parsed.subject.as_deref().is_some_and(is_reply_subject);
        self.archive_changed();
        self.tx
            .prepare_cached(
                "INSERT INTO messages(raw_id, message_id, original_id, thread_id, list_id, date,
                    from_name, from_addr, subject, norm_subject, is_reply, in_reply_to, refs,
                    fallback_parent, thread_index, content_sha256, problems, preview)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )?
            .execute(params![
                raw.0,
                message_id,
                taken,
                thread.0,
                list.0,
                parsed.date,
                from_name,
                from_addr,
                parsed.subject,
                norm_subject,
                is_reply,
                parsed.in_reply_to,
                parsed.references.join(" "),
                fallback_parent,
                parsed.thread_index.as_ref().map(|t| t.key.as_str()),
                &parsed.content_sha256[..],
                (!parsed.problems.is_empty()).then(|| parsed.problems.join("; ")),
                parsed.preview,
            ])?;
        let key = MessageKey(self.tx.last_insert_rowid());
        self.store_attachments(key, raw, parsed)?;

        self.tx
            .prepare_cached(
                "INSERT INTO thread_ids(msgid, thread_id, message) VALUES (?1, ?2, ?3)
                 ON CONFLICT(msgid) DO UPDATE SET thread_id = excluded.thread_id,
                                                  message = excluded.message",
            )?
            .execute(params![message_id, thread.0, key.0])?;
        let mut ghost = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO thread_ids(msgid, thread_id, message) VALUES (?1, ?2, NULL)",
        )?;
        for id in &linked {
            ghost.execute(params![id, thread.0])?;
        }
        self.update_thread_stats(thread, parsed)?;
        self.adopt_orphans(&message_id, parsed, &norm_subject, list)?;

        let author = match (&from_name, &from_addr) {
            (Some(n), Some(a)) => format!("{n} {a}"),
            (Some(n), None) => n.clone(),
            (None, Some(a)) => a.clone(),
            (None, None) => String::new(),
        };
        self.tx
            .prepare_cached(
                "INSERT INTO search(rowid, subject, author, body) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                key.0,
                parsed.subject.as_deref().unwrap_or(""),
                author,
                parsed.body_text
            ])?;

        Ok(match taken {
            Some(taken) => Derived::Renamed { key, taken },
            None => Derived::Message(key),
        })
    }

    /// Attachments are kept once per content: the first raw message carrying a content is
    /// where it is served from.
    fn store_attachments(
        &self,
        key: MessageKey,
        raw: RawId,
        parsed: &ParsedMessage,
    ) -> Result<(), StoreError> {
        for (position, a) in parsed.attachments.iter().enumerate() {
            self.tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO attachments(sha256, content_type, size, raw_id, part, too_large)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    a.sha256,
                    a.content_type,
                    a.size as i64,
                    raw.0,
                    a.part,
                    a.size as u64 > self.settings.max_attachment_bytes,
                ])?;
            self.tx
                .prepare_cached(
                    "INSERT INTO message_attachments(message, position, sha256, filename, inline, content_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![key.0, position as i64, a.sha256, a.filename, a.inline, a.content_id])?;
        }
        Ok(())
    }

    fn message_by_id(
        &self,
        message_id: &str,
    ) -> Result<Option<(MessageKey, [u8; 32])>, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT id, content_sha256 FROM messages WHERE message_id = ?1")?
            .query_row([message_id], |r| {
                let sha: Vec<u8> = r.get(1)?;
                let mut body = [0u8; 32];
                if sha.len() == 32 {
                    body.copy_from_slice(&sha);
                }
                Ok((MessageKey(r.get(0)?), body))
            })
            .optional()?)
    }

    /// A parent for a message without usable references: Outlook's Thread-Index first, then
    /// (when enabled) for "Re:" replies only, the root of the subject's conversation: the first
    /// message of the same subject in the window before it (by date, then Message-ID, so that
    /// neither arrival order nor row numbers decide).
    fn fallback_parent(
        &self,
        message_id: &str,
        parsed: &ParsedMessage,
        list: ListId,
    ) -> Result<Option<String>, StoreError> {
        if let Some(index) = &parsed.thread_index {
            let mut by_key = self.tx.prepare_cached(
                "SELECT message_id FROM messages WHERE thread_index = ?1 LIMIT 1",
            )?;
            for key in index.parent_key.iter().chain([&index.conversation]) {
                if key == &index.key {
                    continue;
                }
                if let Some(id) = by_key.query_row([key], |r| r.get(0)).optional()? {
                    return Ok(Some(id));
                }
            }
        }
        let (Some(subject), Some(date)) = (parsed.subject.as_deref(), parsed.date) else {
            return Ok(None);
        };
        if !self.settings.subject_fallback || !is_reply_subject(subject) {
            return Ok(None);
        }
        let norm = normalize_subject(subject);
        if norm.is_empty() {
            return Ok(None);
        }
        Ok(self
            .tx
            .prepare_cached(
                "SELECT message_id FROM messages
                 WHERE norm_subject = ?1 AND list_id = ?2 AND date BETWEEN ?3 AND ?4
                   AND (date < ?4 OR message_id < ?5)
                 ORDER BY date, message_id LIMIT 1",
            )?
            .query_row(
                params![
                    norm,
                    list.0,
                    date - self.settings.subject_window_secs,
                    date,
                    message_id
                ],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The other half of the fallbacks, so that they do not depend on arrival order: messages
    /// stored earlier without any parent get this one as their parent when their Outlook
    /// Thread-Index descends from this message's, or when they are "Re:" replies of the same
    /// subject within the window after it; a reply hung by subject under a later message
    /// moves under this one, the new root (and a thread it held together alone splits).
    fn adopt_orphans(
        &self,
        message_id: &str,
        parsed: &ParsedMessage,
        norm_subject: &str,
        list: ListId,
    ) -> Result<(), StoreError> {
        let mut orphans: Vec<(i64, String)> = Vec::new();
        if let Some(index) = &parsed.thread_index {
            orphans.extend(
                self.tx
                    .prepare_cached(
                        "SELECT id, message_id FROM messages
                         WHERE thread_index > ?1 AND thread_index < ?1 || 'g'
                           AND substr(thread_index, 1, length(?1)) = ?1
                           AND refs = '' AND in_reply_to IS NULL AND fallback_parent IS NULL
                           AND message_id != ?2",
                    )?
                    .query_map(params![index.key, message_id], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        if let Some(date) = parsed.date
            && self.settings.subject_fallback
            && !norm_subject.is_empty()
        {
            // One query finds both the replies with no parent yet and those hung under a
            // later message of the subject (this one is the earlier root).
            let found: Vec<(i64, String, bool)> = self
                .tx
                .prepare_cached(
                    "SELECT m.id, m.message_id, m.fallback_parent IS NOT NULL
                     FROM messages m LEFT JOIN messages p ON p.message_id = m.fallback_parent
                     WHERE m.norm_subject = ?1 AND m.list_id = ?2 AND m.is_reply = 1
                       AND m.refs = '' AND m.in_reply_to IS NULL
                       AND m.date BETWEEN ?3 AND ?4 AND (m.date > ?3 OR m.message_id > ?5)
                       AND (m.fallback_parent IS NULL
                            OR (p.norm_subject = ?1
                                AND (p.date > ?3 OR (p.date = ?3 AND p.message_id > ?5))))",
                )?
                .query_map(
                    params![
                        norm_subject,
                        list.0,
                        date,
                        date + self.settings.subject_window_secs,
                        message_id
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?
                .collect::<Result<_, _>>()?;
            for (key, orphan, moved) in found {
                if !moved {
                    orphans.push((key, orphan));
                    continue;
                }
                self.tx
                    .prepare_cached("UPDATE messages SET fallback_parent = ?1 WHERE id = ?2")?
                    .execute(params![message_id, key])?;
                let thread = self.join_threads(message_id, &[orphan.as_str()], list)?;
                self.regroup(thread, list)?;
            }
        }
        for (key, orphan) in orphans {
            let adopted = self
                .tx
                .prepare_cached(
                    "UPDATE messages SET fallback_parent = ?1 WHERE id = ?2 AND fallback_parent IS NULL",
                )?
                .execute(params![message_id, key])?;
            if adopted > 0 {
                self.join_threads(message_id, &[orphan.as_str()], list)?;
            }
        }
        Ok(())
    }

    /// Splits a thread whose messages no longer form one component (a reply hung by subject
    /// moved to another parent): each other component gets a thread of its own, as a fresh
    /// import would give it. Rare, so it reads the whole thread.
    fn regroup(&self, thread: ThreadId, list: ListId) -> Result<(), StoreError> {
        let rows: Vec<crate::thread::ThreadHeaders> = self
            .tx
            .prepare_cached(
                "SELECT message_id, refs, in_reply_to, fallback_parent, date
                 FROM messages WHERE thread_id = ?1 ORDER BY date, message_id",
            )?
            .query_map([thread.0], |r| super::read::thread_headers(r, 0))?
            .collect::<Result<_, _>>()?;
        let view: Vec<crate::thread::ThreadMessage<'_>> = rows
            .iter()
            .map(crate::thread::ThreadHeaders::thread_message)
            .collect();
        let groups = crate::thread::group(&view);
        let count = groups.iter().max().map_or(0, |g| g + 1);
        for g in 1..count {
            self.tx
                .prepare_cached("INSERT INTO threads(list_id, message_count) VALUES (?1, 0)")?
                .execute([list.0])?;
            let new = self.tx.last_insert_rowid();
            self.touched.borrow_mut().insert(new);
            for (m, _) in view.iter().zip(&groups).filter(|(_, k)| **k == g) {
                self.tx
                    .prepare_cached("UPDATE messages SET thread_id = ?1 WHERE message_id = ?2")?
                    .execute(params![new, m.id])?;
                let ids = std::iter::once(m.id)
                    .chain(m.references.iter().map(String::as_str))
                    .chain(m.in_reply_to)
                    .chain(m.fallback_parent);
                for id in ids {
                    self.tx
                        .prepare_cached(
                            "UPDATE thread_ids SET thread_id = ?1 WHERE msgid = ?2 AND thread_id = ?3",
                        )?
                        .execute(params![new, id, thread.0])?;
                }
            }
            self.recount_thread(ThreadId(new))?;
        }
        if count > 1 {
            self.recount_thread(thread)?;
        }
        Ok(())
    }

    /// The thread of a message with these ids: the one they already share, a new one, or the
    /// union of several (the smaller ones relabelled into the oldest).
    fn join_threads(
        &self,
        own: &str,
        linked: &[&str],
        list: ListId,
    ) -> Result<ThreadId, StoreError> {
        let mut found: Vec<i64> = Vec::new();
        let mut lookup = self
            .tx
            .prepare_cached("SELECT thread_id FROM thread_ids WHERE msgid = ?1")?;
        for id in std::iter::once(&own).chain(linked) {
            if let Some(t) = lookup.query_row([id], |r| r.get::<i64>(0)).optional()?
                && !found.contains(&t)
            {
                found.push(t);
            }
        }
        found.sort_unstable();
        let Some((&keep, others)) = found.split_first() else {
            self.tx
                .prepare_cached("INSERT INTO threads(list_id, message_count) VALUES (?1, 0)")?
                .execute([list.0])?;
            let new = self.tx.last_insert_rowid();
            self.touched.borrow_mut().insert(new);
            return Ok(ThreadId(new));
        };
        self.touched.borrow_mut().insert(keep);
        for other in others {
            self.tx
                .prepare_cached("UPDATE thread_ids SET thread_id = ?1 WHERE thread_id = ?2")?
                .execute([keep, *other])?;
            self.tx
                .prepare_cached("UPDATE messages SET thread_id = ?1 WHERE thread_id = ?2")?
                .execute([keep, *other])?;
            self.tx
                .prepare_cached("DELETE FROM threads WHERE id = ?1")?
                .execute([*other])?;
        }
        if !others.is_empty() {
            self.recount_thread(ThreadId(keep))?;
        }
        Ok(ThreadId(keep))
    }

    /// Adds one message to a thread's totals; the thread's subject is its earliest message's.
    fn update_thread_stats(
        &self,
        thread: ThreadId,
        parsed: &ParsedMessage,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "UPDATE threads SET
                    message_count = message_count + 1,
                    subject = CASE WHEN subject IS NULL OR first_date IS NULL OR ?2 < first_date
                                   THEN coalesce(?3, subject) ELSE subject END,
                    first_date = CASE WHEN first_date IS NULL OR ?2 < first_date THEN ?2 ELSE first_date END,
                    last_date = CASE WHEN last_date IS NULL OR ?2 > last_date THEN ?2 ELSE last_date END
                 WHERE id = ?1",
            )?
            .execute(params![thread.0, parsed.date, parsed.subject])?;
        Ok(())
    }

    /// Recomputes a thread's totals from its messages (after threads were joined, or a message
    /// was erased).
    pub(super) fn recount_thread(&self, thread: ThreadId) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "UPDATE threads SET
                    message_count = (SELECT count(*) FROM messages WHERE thread_id = ?1),
                    first_date = (SELECT min(date) FROM messages WHERE thread_id = ?1),
                    last_date = (SELECT max(date) FROM messages WHERE thread_id = ?1),
                    subject = (SELECT subject FROM messages WHERE thread_id = ?1
                               ORDER BY date IS NULL, date, id LIMIT 1)
                 WHERE id = ?1",
            )?
            .execute([thread.0])?;
        Ok(())
    }
}

impl super::Store {
    /// Empties every derived table, so that `reindex` can rebuild them from the raw store.
    pub fn clear_derived(&mut self) -> Result<(), StoreError> {
        // Derived rows hold nothing the raw store does not (what was erased left them, zeroed,
        // when it was erased): emptying them need not pay for zeroing every page.
        let postgres = self.conn.is_postgres();
        if !postgres {
            self.conn.execute_batch("PRAGMA secure_delete = OFF;")?;
        }
        let cleared = self.conn.execute_batch(if postgres {
            "BEGIN;"
        } else {
            "BEGIN IMMEDIATE;"
        });
        let cleared = cleared.and_then(|()| {
            self.conn.execute_batch(
                "DELETE FROM search;
                 DELETE FROM message_tags;
                 DELETE FROM message_attachments;
                 DELETE FROM attachments;
                 DELETE FROM thread_ids;
                 DELETE FROM thread_fix_threads;
                 DELETE FROM message_copies;
                 DELETE FROM unparseable;
                 DELETE FROM messages;
                 DELETE FROM threads;",
            )
        });
        // SQLite numbers new rows on from the highest left, so emptied tables count from 1
        // again and a rebuild gives threads their numbers back; PostgreSQL's sequences are
        // told to.
        let cleared = cleared.and_then(|()| match postgres {
            true => self.conn.execute_batch(
                "SELECT setval(pg_get_serial_sequence(t, 'id'), 1, false)
                 FROM unnest(ARRAY['messages', 'threads']) AS t;",
            ),
            false => Ok(()),
        });
        let cleared = cleared.and_then(|()| self.conn.execute_batch("COMMIT;"));
        // Back on whatever happened (a failed batch leaves its transaction open: rolled back).
        if cleared.is_err() {
            let _ = self.conn.execute_batch("ROLLBACK;");
        }
        if !postgres {
            self.conn.execute_batch("PRAGMA secure_delete = ON;")?;
        }
        cleared?;
        Ok(())
    }

    /// Up to `limit` stored raw messages after `after`, in storage order (for `reindex`, which
    /// writes between batches and so cannot hold a cursor open).
    pub fn raw_batch(
        &self,
        after: Option<RawId>,
        limit: usize,
    ) -> Result<Vec<StoredRaw>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, sha256, list_id, envelope, size, data FROM raw_messages
             WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![after.map_or(0, |r| r.0), limit as i64])?;
        let mut batch = Vec::with_capacity(limit);
        while let Some(row) = rows.next()? {
            batch.push(StoredRaw::from_row(&row)?);
        }
        Ok(batch)
    }
}

/// A raw message as stored, decompressed.
#[derive(Debug, Clone)]
pub struct StoredRaw {
    pub id: RawId,
    pub sha256: [u8; 32],
    pub list: ListId,
    pub envelope: Option<String>,
    pub bytes: Vec<u8>,
}

impl StoredRaw {
    /// From a row of `id, sha256, list_id, envelope, size, data`.
    pub(super) fn from_row(row: &crate::store::db::Row<'_>) -> Result<StoredRaw, StoreError> {
        let id = RawId(row.get(0)?);
        let sha_vec: Vec<u8> = row.get(1)?;
        let mut sha256 = [0u8; 32];
        if sha_vec.len() == 32 {
            sha256.copy_from_slice(&sha_vec);
        }
        let size: i64 = row.get(4)?;
        let data: Vec<u8> = row.get(5)?;
        Ok(StoredRaw {
            id,
            sha256,
            list: ListId(row.get(2)?),
            envelope: row.get(3)?,
            bytes: super::decompress(id, &data, size as usize)?,
        })
    }
}
