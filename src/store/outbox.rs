//! The durable outbox (DESIGN.md invariant 5): the exact bytes to send are stored first, with
//! one row per recipient; the worker claims due rows, sends, and records the outcome. Also what
//! belongs to posting: posts written through the bridge and their delivery state, host-mode
//! reply keys, the log of inbound mail that was not archived, and bounces.

use super::MessageId;
use super::db::{OptionalExtension, params};
use serde::Serialize;

use super::members::UserId;
use super::{ListId, PostRef, StoreError, ThreadId, Writer, compress};

/// A row of `outbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct OutboxId(pub i64);

/// A row of `outbox_recipients`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(transparent)]
pub struct RecipientId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// A web post to a mirrored list's address.
    Post,
    /// Host mode: members' copies of a post.
    Copy,
    /// Mail from the bridge itself: sign-in links, explanations.
    Notice,
}

impl OutboxKind {
    fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Post => "post",
            OutboxKind::Copy => "copy",
            OutboxKind::Notice => "notice",
        }
    }
}

/// One recipient of an outgoing message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct NewRecipient {
    pub address: String,
    /// Host mode: the reply address put in this recipient's copy.
    pub reply_to: Option<String>,
    /// This recipient's one-click unsubscribe link.
    pub unsubscribe: Option<String>,
}

/// A recipient the worker should send to now.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Due {
    pub id: RecipientId,
    pub outbox: OutboxId,
    #[serde(flatten)]
    pub recipient: NewRecipient,
    pub attempts: u32,
    /// A post to a mirrored list: the list's copy coming back over IMAP confirms that it
    /// arrived, so when that is in doubt it waits for the copy rather than go out again.
    pub confirmed_by_echo: bool,
}

/// What `recover_outbox` found of the rows a stopped worker had claimed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Due again at once.
    pub again: usize,
    /// Posts that may have reached their list, waiting for its copy.
    pub waiting: usize,
    /// Posts whose list copy has come back meanwhile: sent.
    pub confirmed: usize,
}

/// How far a post has got, as its author sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum PostState {
    /// Waiting in the outbox (also while the mail server is unreachable).
    Queued { error: Option<String> },
    /// Handed to the mail server; for a mirrored list, waiting for the list's copy.
    Sent,
    /// Mirror: the list's copy came back. Host: every member's copy was handed over.
    Delivered,
    /// The mail server refused it for good.
    Failed { error: String },
}

/// Counts of the outbox's recipient rows by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub queued: u64,
    pub sending: u64,
    pub sent: u64,
    pub failed: u64,
    pub paused: u64,
}

/// A line of the inbound log, for moderators.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct InboundEntry {
    pub id: i64,
    pub received: i64,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub action: String,
    pub reason: String,
    pub explained: bool,
}

/// What `log_inbound` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundAction {
    Refused,
    Dropped,
    Bounce,
}

/// What a mail of the bridge's own quotes: an archived message or a held post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoted<'a> {
    Message(&'a str),
    Held(super::HeldId),
}

impl Writer<'_> {
    /// Records what a queued notice or digest quotes, so that erasing it deletes the mail too.
    pub fn record_quotes(&self, outbox: OutboxId, quoted: &[Quoted<'_>]) -> Result<(), StoreError> {
        let mut insert = self.tx().prepare_cached(
            "INSERT INTO outbox_quotes(outbox_id, message_id, held_id) VALUES (?1, ?2, ?3)",
        )?;
        for q in quoted {
            match q {
                Quoted::Message(id) => insert.execute(params![outbox.0, id, None::<i64>])?,
                Quoted::Held(held) => insert.execute(params![outbox.0, None::<&str>, held.0])?,
            };
        }
        Ok(())
    }

    /// Queues a message: its bytes once, and a row per recipient due now.
    pub fn enqueue(
        &self,
        kind: OutboxKind,
        message_id: &str,
        list: Option<ListId>,
        bytes: &[u8],
        recipients: &[NewRecipient],
        now: i64,
    ) -> Result<OutboxId, StoreError> {
        let tx = self.tx();
        tx.prepare_cached(
            "INSERT INTO outbox(kind, message_id, list_id, size, data, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            kind.as_str(),
            message_id,
            list.map(|l| l.0),
            bytes.len() as i64,
            compress(bytes),
            now
        ])?;
        let id = tx.last_insert_rowid();
        let mut insert = tx.prepare_cached(
            "INSERT INTO outbox_recipients(outbox_id, address, reply_to, unsubscribe, next_attempt)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for r in recipients {
            insert.execute(params![id, r.address, r.reply_to, r.unsubscribe, now])?;
        }
        Ok(OutboxId(id))
    }

    /// Records a post written through the bridge (web, or mailed by a member in host mode).
    pub fn record_post(
        &self,
        message_id: &str,
        user: UserId,
        via: &str,
        outbox: Option<OutboxId>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached(
                "INSERT OR IGNORE INTO posts(message_id, user_id, via, outbox_id, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![message_id, user.0, via, outbox.map(|o| o.0), now])?;
        Ok(())
    }

    /// True when `message_id` was written through the bridge: its list copy coming back is an
    /// echo, marked delivered and kept raw as a copy, never shown twice.
    pub fn is_own_post(&self, message_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx()
            .prepare_cached("SELECT 1 FROM posts WHERE message_id = ?1")?
            .exists([message_id])?)
    }

    /// Remembers a host-mode reply key (its hash) for one member and one thread.
    pub fn add_reply_key(
        &self,
        key_hash: &[u8],
        user: UserId,
        message_id: &str,
        thread: ThreadId,
        expires: i64,
    ) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached(
                "INSERT OR REPLACE INTO reply_keys(key_hash, user_id, message_id, thread_id, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![key_hash, user.0, message_id, thread.0, expires])?;
        Ok(())
    }

    /// A reply key's member, post, thread and expiry.
    pub fn reply_key(
        &self,
        key_hash: &[u8],
    ) -> Result<Option<(UserId, String, ThreadId, i64)>, StoreError> {
        Ok(self
            .tx()
            .prepare_cached(
                "SELECT user_id, message_id, thread_id, expires FROM reply_keys WHERE key_hash = ?1",
            )?
            .query_row([key_hash], |r| {
                Ok((UserId(r.get(0)?), r.get(1)?, ThreadId(r.get(2)?), r.get(3)?))
            })
            .optional()?)
    }

    /// The member owning a verified address (inside the ingest transaction).
    pub fn member_of(&self, address: &str) -> Result<Option<UserId>, StoreError> {
        Ok(self
            .tx()
            .prepare_cached(
                "SELECT user_id FROM user_emails WHERE address = ?1 AND verified_at IS NOT NULL",
            )?
            .query_row([address.to_lowercase()], |r| r.get(0))
            .optional()?
            .map(UserId))
    }

    pub fn member_name(&self, user: UserId) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx()
            .prepare_cached("SELECT display_name FROM users WHERE id = ?1")?
            .query_row([user.0], |r| r.get(0))
            .optional()?)
    }

    /// Keeps inbound mail that was not archived, raw, with why. Logged once per content.
    pub fn log_inbound(
        &self,
        sha256: &[u8; 32],
        bytes: &[u8],
        list: ListId,
        origin: &str,
        sender: Option<&str>,
        subject: Option<&str>,
        action: InboundAction,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let action = match action {
            InboundAction::Refused => "refused",
            InboundAction::Dropped => "dropped",
            InboundAction::Bounce => "bounce",
        };
        Ok(self
            .tx()
            .prepare_cached(
                "INSERT OR IGNORE INTO inbound_log(received, list_id, origin, sender, subject, action,
                    reason, size, sha256, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                now,
                list.0,
                origin,
                sender,
                subject,
                action,
                reason,
                bytes.len() as i64,
                &sha256[..],
                compress(bytes)
            ])?
            == 1)
    }

    /// True the first time this address is due an explanation for this reason today (at most
    /// one a day each, so a loop or a flood cannot make the bridge a spammer).
    pub fn explanation_due(
        &self,
        address: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(self
            .tx()
            .prepare_cached(
                "INSERT OR IGNORE INTO explanations(address, reason, day) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![address.to_lowercase(), reason, now / 86_400])?
            == 1)
    }

    pub fn mark_explained(&self, sha256: &[u8; 32]) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached("UPDATE inbound_log SET explained = 1 WHERE sha256 = ?1")?
            .execute([&sha256[..]])?;
        Ok(())
    }

    /// Counts a bounce against an address; pauses delivery to it after `hard_limit` hard ones.
    pub fn record_bounce(
        &self,
        address: &str,
        permanent: bool,
        hard_limit: u32,
        now: i64,
    ) -> Result<bool, StoreError> {
        let address = address.to_lowercase();
        let (hard, soft) = if permanent { (1, 0) } else { (0, 1) };
        let hard_total: i64 = self
            .tx()
            .prepare_cached(
                "INSERT INTO bounces(address, hard, soft, last_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(address) DO UPDATE SET hard = hard + ?2, soft = soft + ?3, last_at = ?4
                 RETURNING hard",
            )?
            .query_row(params![address, hard, soft, now], |r| r.get(0))?;
        if hard_total >= i64::from(hard_limit) {
            let paused = self
                .tx()
                .prepare_cached(
                    "UPDATE bounces SET paused_at = ?2 WHERE address = ?1 AND paused_at IS NULL",
                )?
                .execute(params![address, now])?;
            return Ok(paused == 1);
        }
        Ok(false)
    }
}

impl super::Store {
    /// After a crash, the rows that were being sent. A message whose bytes had not started
    /// going cannot have reached the server (it discards a transaction cut before the final
    /// dot): due again at once. A post to a mirrored list that was handed over may have reached
    /// the list: marked sent if the list's copy is already archived, else it waits
    /// `echo_wait` seconds for that copy (see `claim_due`) before going out again, with the
    /// same Message-ID. Other mail (host-mode copies, notices) has no such confirmation and is
    /// due again at once: a copy the server had taken just before the crash, its answer not
    /// yet recorded, arrives twice, with one Message-ID.
    pub fn recover_outbox(&mut self, now: i64, echo_wait: i64) -> Result<Recovered, StoreError> {
        let tx = self.conn.transaction()?;
        let confirmed = tx.execute(
            "UPDATE outbox_recipients SET state = 'sent', sent_at = ?1, handed_at = NULL,
                 last_error = NULL
             WHERE state = 'sending' AND outbox_id IN (
                 SELECT o.id FROM outbox o JOIN posts p ON p.message_id = o.message_id
                 WHERE o.kind = 'post' AND p.delivered_at IS NOT NULL)",
            [now],
        )?;
        let waiting = tx.execute(
            "UPDATE outbox_recipients SET state = 'queued', handed_at = NULL,
                 next_attempt = max(next_attempt, ?1 + ?2),
                 last_error = 'may have reached the list: waiting for its copy before sending again'
             WHERE state = 'sending' AND handed_at IS NOT NULL
               AND outbox_id IN (SELECT id FROM outbox WHERE kind = 'post')",
            [now, echo_wait],
        )?;
        let again = tx.execute(
            "UPDATE outbox_recipients SET state = 'queued', handed_at = NULL WHERE state = 'sending'",
            (),
        )?;
        tx.commit()?;
        Ok(Recovered {
            again,
            waiting,
            confirmed,
        })
    }

    /// Records that a post's bytes start going to the server: from now until its outcome is
    /// recorded, whether the list has it is in doubt.
    pub fn mark_handed(&self, id: RecipientId, now: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE outbox_recipients SET handed_at = ?2 WHERE id = ?1")?
            .execute(params![id.0, now])?;
        Ok(())
    }

    /// Claims up to `limit` due rows (marking them `sending`); rows to paused addresses are
    /// set aside as `paused` instead.
    pub fn claim_due(&mut self, now: i64, limit: usize) -> Result<Vec<Due>, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE outbox_recipients SET state = 'paused', last_error = 'delivery to this address is paused after repeated hard bounces'
             WHERE state = 'queued' AND next_attempt <= ?1
               AND address IN (SELECT address FROM bounces WHERE paused_at IS NOT NULL)",
            [now],
        )?;
        // A post whose list copy has come back reached the list: it is never sent again (a
        // retry after a connection lost at the final dot, a post in doubt after a crash).
        tx.execute(
            "UPDATE outbox_recipients SET state = 'sent', sent_at = ?1, last_error = NULL
             WHERE state = 'queued' AND next_attempt <= ?1 AND EXISTS (
                 SELECT 1 FROM outbox o JOIN posts p ON p.message_id = o.message_id
                 WHERE o.id = outbox_recipients.outbox_id AND o.kind = 'post'
                   AND p.delivered_at IS NOT NULL)",
            [now],
        )?;
        let due = {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox_recipients SET state = 'sending'
                 WHERE id IN (SELECT id FROM outbox_recipients
                              WHERE state = 'queued' AND next_attempt <= ?1
                              ORDER BY next_attempt, id LIMIT ?2)
                 RETURNING id, outbox_id AS outbox, address, reply_to, unsubscribe, attempts,
                     coalesce((SELECT kind = 'post' FROM outbox
                               WHERE outbox.id = outbox_recipients.outbox_id), 0)
                       AS confirmed_by_echo",
            )?;
            super::rows_as::<Due>(&mut stmt, params![now, limit as i64])?
        };
        tx.commit()?;
        Ok(due)
    }

    /// When the next queued row falls due, if any.
    pub fn next_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT min(next_attempt) FROM outbox_recipients WHERE state = 'queued'",
            (),
            |r| r.get(0),
        )?)
    }

    /// The bytes to send and the envelope sender's recipient-independent part.
    pub fn outbox_message(&self, id: OutboxId) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .prepare_cached("SELECT data, size FROM outbox WHERE id = ?1")?
            .query_row([id.0], |r| Ok((r.get::<Vec<u8>>(0)?, r.get::<i64>(1)?)))
            .optional()?
            .map(|(data, size)| super::decompress(super::RawId(-id.0), &data, size as usize))
            .transpose()
    }

    /// Records the outcome of sending to each claimed row, in one transaction.
    pub fn finish_sends(
        &mut self,
        outcomes: &[(RecipientId, SendOutcome)],
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut sent = tx.prepare_cached(
                "UPDATE outbox_recipients SET state = 'sent', sent_at = ?2, attempts = attempts + 1,
                    last_error = NULL, handed_at = NULL WHERE id = ?1",
            )?;
            let mut retry = tx.prepare_cached(
                "UPDATE outbox_recipients SET state = 'queued', attempts = attempts + 1,
                    next_attempt = ?2, last_error = ?3, handed_at = NULL WHERE id = ?1",
            )?;
            let mut failed = tx.prepare_cached(
                "UPDATE outbox_recipients SET state = 'failed', attempts = attempts + 1,
                    last_error = ?2, handed_at = NULL WHERE id = ?1",
            )?;
            for (id, outcome) in outcomes {
                match outcome {
                    SendOutcome::Sent => sent.execute(params![id.0, now])?,
                    SendOutcome::Retry { at, error } => retry.execute(params![id.0, at, error])?,
                    SendOutcome::Failed { error } => failed.execute(params![id.0, error])?,
                };
            }
            // Host mode: a post is delivered once no copy of it is waiting any more.
            tx.execute(
                "UPDATE posts SET delivered_at = ?1
                 WHERE delivered_at IS NULL AND outbox_id IN (
                     SELECT o.id FROM outbox o WHERE o.kind = 'copy' AND NOT EXISTS (
                         SELECT 1 FROM outbox_recipients r WHERE r.outbox_id = o.id
                         AND r.state IN ('queued', 'sending')))",
                [now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let mut counts = OutboxCounts::default();
        let mut stmt = self
            .conn
            .prepare("SELECT state, count(*) FROM outbox_recipients GROUP BY state")?;
        let rows = stmt.query_map((), |r| Ok((r.get::<String>(0)?, r.get::<u64>(1)?)))?;
        for row in rows {
            let (state, n) = row?;
            match state.as_str() {
                "queued" => counts.queued = n,
                "sending" => counts.sending = n,
                "sent" => counts.sent = n,
                "failed" => counts.failed = n,
                "paused" => counts.paused = n,
                _ => {}
            }
        }
        Ok(counts)
    }

    /// Where a post written through the bridge has got to; None for other messages.
    pub fn post_state(&self, message_id: &str) -> Result<Option<(UserId, PostState)>, StoreError> {
        let post: Option<(i64, Option<i64>, Option<i64>)> = self
            .conn
            .prepare_cached(
                "SELECT user_id, outbox_id, delivered_at FROM posts WHERE message_id = ?1",
            )?
            .query_row([message_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((user, outbox, delivered)) = post else {
            return Ok(None);
        };
        Ok(Some((
            UserId(user),
            self.delivery_state(outbox, delivered)?,
        )))
    }

    /// Where each of a member's own posts in a thread has got to, by Message-ID: what their
    /// thread page shows beside them, read at once rather than post by post.
    pub fn own_post_states(
        &self,
        user: UserId,
        thread: ThreadId,
    ) -> Result<std::collections::HashMap<MessageId, PostState>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.message_id, p.outbox_id, p.delivered_at
               FROM messages m JOIN posts p ON p.message_id = m.message_id
              WHERE m.thread_id = ?1 AND p.user_id = ?2",
        )?;
        let posts = stmt
            .query_map(params![thread.0, user.0], |r| {
                Ok((r.get::<MessageId>(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        posts
            .into_iter()
            .map(|(id, outbox, delivered)| Ok((id, self.delivery_state(outbox, delivered)?)))
            .collect()
    }

    /// A post's delivery state from its outbox entry's recipients.
    fn delivery_state(
        &self,
        outbox: Option<i64>,
        delivered: Option<i64>,
    ) -> Result<PostState, StoreError> {
        let Some(outbox) = outbox.filter(|_| delivered.is_none()) else {
            return Ok(PostState::Delivered);
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT state, last_error FROM outbox_recipients WHERE outbox_id = ?1",
        )?;
        let rows = stmt.query_map([outbox], |r| {
            Ok((r.get::<String>(0)?, r.get::<Option<String>>(1)?))
        })?;
        let (mut waiting, mut error, mut failed) = (false, None, None);
        for row in rows {
            let (state, last_error) = row?;
            match state.as_str() {
                "queued" | "sending" => {
                    waiting = true;
                    error = error.or(last_error);
                }
                "failed" => failed = failed.or(last_error),
                _ => {}
            }
        }
        Ok(if waiting {
            PostState::Queued { error }
        } else if let Some(error) = failed {
            PostState::Failed { error }
        } else {
            PostState::Sent
        })
    }

    /// The newest inbound log entries.
    pub fn inbound_log(&self, limit: usize) -> Result<Vec<InboundEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, received, sender, subject, action, reason, explained FROM inbound_log
             ORDER BY id DESC LIMIT ?1",
        )?;
        super::rows_as(&mut stmt, [limit as i64])
    }
}

/// What sending to one recipient gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    /// A transient failure: try again at this time.
    Retry {
        at: i64,
        error: String,
    },
    /// A permanent failure: stop, and show the error.
    Failed {
        error: String,
    },
}

/// What a reply needs of the post it answers.
#[derive(Debug, Clone)]
pub struct ReplyTarget {
    pub post: PostRef,
    pub references: Vec<String>,
    pub author: Option<String>,
}

impl super::Store {
    pub fn reply_target(&self, message_id: &str) -> Result<Option<ReplyTarget>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT m.message_id, m.subject, m.refs, m.thread_id, l.name, m.from_name
                 FROM messages m JOIN lists l ON l.id = m.list_id WHERE m.message_id = ?1",
            )?
            .query_row([message_id], |r| {
                Ok(ReplyTarget {
                    post: PostRef {
                        message_id: r.get(0)?,
                        subject: r.get(1)?,
                        thread: ThreadId(r.get(3)?),
                        list: r.get(4)?,
                    },
                    references: super::read::references(r, 2)?,
                    author: r.get(5)?,
                })
            })
            .optional()?)
    }
}

impl Writer<'_> {
    pub fn set_post_outbox(&self, message_id: &str, outbox: OutboxId) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached("UPDATE posts SET outbox_id = ?2 WHERE message_id = ?1")?
            .execute(params![message_id, outbox.0])?;
        Ok(())
    }

    pub fn thread_of_key(&self, key: super::MessageKey) -> Result<ThreadId, StoreError> {
        // A new message in a fixed thread is where the fixes put it, not where headers did.
        self.settle_thread_fixes()?;
        Ok(ThreadId(
            self.tx()
                .prepare_cached("SELECT thread_id FROM messages WHERE id = ?1")?
                .query_row([key.0], |r| r.get(0))?,
        ))
    }
}

impl Writer<'_> {
    pub fn message_exists(&self, message_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx()
            .prepare_cached("SELECT 1 FROM messages WHERE message_id = ?1")?
            .exists([message_id])?)
    }

    /// Whether the archive holds this message in this list (a like by mail may only be given
    /// to a post of the list it came through: never across into a private list).
    pub fn message_in_list(&self, message_id: &str, list: ListId) -> Result<bool, StoreError> {
        Ok(self
            .tx()
            .prepare_cached("SELECT 1 FROM messages WHERE message_id = ?1 AND list_id = ?2")?
            .exists(crate::store::db::params![message_id, list.0])?)
    }
}

/// What the bridge knows of an address's bounces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BounceRecord {
    pub address: String,
    /// Permanent failures counted since delivery last resumed, and temporary ones.
    pub hard: i64,
    pub soft: i64,
    /// The latest bounce.
    pub last_at: i64,
    /// Since when delivery is paused, if it is.
    pub paused_at: Option<i64>,
    /// Mail set aside while paused (not sent when delivery resumes).
    pub held_back: i64,
}

const BOUNCE_COLUMNS: &str = "b.address, b.hard, b.soft, b.last_at, b.paused_at,
     (SELECT count(*) FROM outbox_recipients r WHERE lower(r.address) = b.address
        AND r.state = 'paused') AS held_back";

impl super::Store {
    /// Addresses that bounced: the paused ones first, then the latest.
    pub fn bounce_records(&self, limit: usize) -> Result<Vec<BounceRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {BOUNCE_COLUMNS} FROM bounces b
              ORDER BY b.paused_at IS NULL, b.last_at DESC LIMIT ?1"
        ))?;
        super::rows_as(&mut stmt, [limit as i64])
    }

    /// Lifts the pause on delivery to an address (an admin's decision): its hard bounces are
    /// counted afresh from now. Mail set aside while it was paused stays unsent (it is stale).
    /// The record as it was; None when the address never bounced.
    pub fn resume_delivery(&mut self, address: &str) -> Result<Option<BounceRecord>, StoreError> {
        let address = address.trim().to_lowercase();
        let tx = self.conn.transaction()?;
        let before: Option<BounceRecord> = super::row_as(
            &mut tx.prepare(&format!(
                "SELECT {BOUNCE_COLUMNS} FROM bounces b WHERE b.address = ?1"
            ))?,
            [&address],
        )?;
        if before.as_ref().is_some_and(|b| b.paused_at.is_some()) {
            tx.execute(
                "UPDATE bounces SET paused_at = NULL, hard = 0 WHERE address = ?1",
                [&address],
            )?;
        }
        tx.commit()?;
        Ok(before)
    }
}
