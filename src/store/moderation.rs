//! Members' flags on published messages, messages hidden from readers (by a moderator, or by
//! members' flags until a moderator looks), and the log of what moderators did.
//!
//! Hiding is primary data (`hidden_messages`); what it does is take the message out of the
//! derived tables (its row, search entry, tags, attachments), so that every page, feed, search
//! and API answer leaves it out without asking. Its raw mail stays, and deriving (`reindex`)
//! leaves it out again; its Message-ID stays a ghost, so its replies keep their thread.

use super::MessageId;
use super::db::{OptionalExtension, params};

use super::members::UserId;
use super::{StoreError, StoredRaw, ThreadId, Writer};

/// Why a member flags a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagReason {
    /// Patient-identifiable data.
    Patient,
    Abusive,
    Spam,
    Other,
}

impl FlagReason {
    pub const ALL: [FlagReason; 4] = [
        FlagReason::Patient,
        FlagReason::Abusive,
        FlagReason::Spam,
        FlagReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FlagReason::Patient => "patient",
            FlagReason::Abusive => "abusive",
            FlagReason::Spam => "spam",
            FlagReason::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<FlagReason> {
        FlagReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// As moderators and members read it.
    pub fn label(self) -> &'static str {
        match self {
            FlagReason::Patient => "patient-identifiable data",
            FlagReason::Abusive => "abusive",
            FlagReason::Spam => "spam",
            FlagReason::Other => "something else",
        }
    }
}

/// What flagging a post did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flagged {
    /// No published message has that id (or it is hidden already).
    NoSuchPost,
    /// This member has flagged it before.
    Already,
    /// Recorded: whether it is the first open flag on the post, and how many members' flags
    /// are open on it now.
    New { first: bool, open: u32 },
}

/// Who hid a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HideWhy {
    Moderator,
    /// Members' flags reached `[moderation] hide_after_flags`; a moderator decides.
    Flags,
}

impl HideWhy {
    fn as_str(self) -> &'static str {
        match self {
            HideWhy::Moderator => "moderator",
            HideWhy::Flags => "flags",
        }
    }
}

/// What hiding a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hid {
    Hidden,
    /// Hidden already (a moderator's hiding then replaces flags').
    Already,
    NotFound,
}

/// One member's flag, as moderators read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagEntry {
    pub reason: FlagReason,
    pub note: Option<String>,
    pub by: String,
    pub at: i64,
}

/// A post with open flags.
#[derive(Debug, Clone)]
pub struct FlaggedPost {
    pub message_id: MessageId,
    /// Its thread, while it is shown.
    pub thread: Option<ThreadId>,
    /// Hidden by flags (or a moderator) already.
    pub hidden: bool,
    pub list: String,
    /// Its raw mail, for moderators to read.
    pub raw: Vec<u8>,
    pub flags: Vec<FlagEntry>,
}

/// A hidden message.
#[derive(Debug, Clone)]
pub struct HiddenPost {
    pub message_id: MessageId,
    pub why: HideWhy,
    pub by: Option<String>,
    pub at: i64,
    pub note: Option<String>,
    pub list: String,
    pub raw: Vec<u8>,
}

/// A published message, as hiding it or reading it as a like takes it out of the derived
/// tables.
struct Published {
    /// Its row in `messages`.
    key: i64,
    message_id: String,
    raw: i64,
    sha: Vec<u8>,
    thread: i64,
}

/// A line of the moderation log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct LogEntry {
    pub at: i64,
    /// The moderator's name; None for what members' flags did (or a member since erased).
    pub moderator: Option<String>,
    pub action: String,
    pub message_id: Option<MessageId>,
    pub target: Option<String>,
    pub detail: Option<String>,
}

/// message_id, why, hidden by, hidden at, note, raw id.
type HiddenRow = (String, String, Option<String>, i64, Option<String>, i64);

/// A raw message by id (with its list's name).
fn raw_by_id(
    conn: &crate::store::db::Connection,
    raw: i64,
) -> Result<Option<(Vec<u8>, String)>, StoreError> {
    super::read::raw_with_list(
        conn,
        "FROM raw_messages r JOIN lists l ON l.id = r.list_id WHERE r.id = ?1",
        raw,
    )
}

impl super::Store {
    /// Posts with open flags, the oldest flag first, each with its flags.
    pub fn flag_queue(&self, limit: usize) -> Result<Vec<FlaggedPost>, StoreError> {
        let ids: Vec<String> = self
            .conn
            .prepare(
                "SELECT message_id FROM flags WHERE state = 'open'
                  GROUP BY message_id ORDER BY min(created), min(id) LIMIT ?1",
            )?
            .query_map([limit as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut posts = Vec::with_capacity(ids.len());
        for id in ids {
            let shown: Option<(i64, i64)> = self
                .conn
                .query_row(
                    "SELECT thread_id, raw_id FROM messages WHERE message_id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let hidden: Option<i64> = self
                .conn
                .query_row(
                    "SELECT raw_id FROM hidden_messages WHERE message_id = ?1",
                    [&id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(raw_id) = shown.map(|s| s.1).or(hidden) else {
                continue; // its raw mail was erased
            };
            let Some((raw, list)) = raw_by_id(&self.conn, raw_id)? else {
                continue;
            };
            let flags = self
                .conn
                .prepare_cached(
                    "SELECT f.reason, f.note, coalesce(u.display_name, 'a member'), f.created
                       FROM flags f LEFT JOIN users u ON u.id = f.user_id
                      WHERE f.message_id = ?1 AND f.state = 'open' ORDER BY f.created, f.id",
                )?
                .query_map([&id], |r| {
                    Ok(FlagEntry {
                        reason: FlagReason::parse(&r.get::<String>(0)?)
                            .unwrap_or(FlagReason::Other),
                        note: r.get(1)?,
                        by: r.get(2)?,
                        at: r.get(3)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            posts.push(FlaggedPost {
                message_id: id.into(),
                thread: shown.map(|s| ThreadId(s.0)),
                hidden: hidden.is_some(),
                list,
                raw,
                flags,
            });
        }
        Ok(posts)
    }

    /// Hidden messages, the latest first.
    pub fn hidden_posts(&self, limit: usize) -> Result<Vec<HiddenPost>, StoreError> {
        let rows: Vec<HiddenRow> = super::rows_as(
            &mut self.conn.prepare(
                "SELECT h.message_id, h.why, u.display_name, h.hidden_at, h.note, h.raw_id
                   FROM hidden_messages h LEFT JOIN users u ON u.id = h.hidden_by
                  ORDER BY h.hidden_at DESC, h.message_id LIMIT ?1",
            )?,
            [limit as i64],
        )?;
        let mut posts = Vec::with_capacity(rows.len());
        for (message_id, why, by, at, note, raw_id) in rows {
            let Some((raw, list)) = raw_by_id(&self.conn, raw_id)? else {
                continue;
            };
            posts.push(HiddenPost {
                message_id: message_id.into(),
                why: if why == "flags" {
                    HideWhy::Flags
                } else {
                    HideWhy::Moderator
                },
                by,
                at,
                note,
                list,
                raw,
            });
        }
        Ok(posts)
    }

    /// The latest moderators' actions, newest first.
    pub fn moderation_log(&self, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT g.at, u.display_name AS moderator, g.action, g.message_id, g.target, g.detail
               FROM moderation_log g LEFT JOIN users u ON u.id = g.moderator
              ORDER BY g.id DESC LIMIT ?1",
        )?;
        super::rows_as(&mut stmt, [limit as i64])
    }
}

impl Writer<'_> {
    /// A member's flag on a published message; once per member and message.
    pub fn flag(
        &self,
        user: UserId,
        message_id: &str,
        reason: FlagReason,
        note: Option<&str>,
        now: i64,
    ) -> Result<Flagged, StoreError> {
        let shown = self
            .tx()
            .prepare_cached("SELECT 1 FROM messages WHERE message_id = ?1")?
            .exists([message_id])?;
        if !shown {
            return Ok(Flagged::NoSuchPost);
        }
        let added = self.tx().execute(
            "INSERT INTO flags(message_id, user_id, reason, note, created) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(message_id, user_id) DO NOTHING",
            params![message_id, user.0, reason.as_str(), note, now],
        )?;
        if added == 0 {
            return Ok(Flagged::Already);
        }
        let open: u32 = self.tx().query_row(
            "SELECT count(*) FROM flags WHERE message_id = ?1 AND state = 'open'",
            [message_id],
            |r| r.get(0),
        )?;
        Ok(Flagged::New {
            first: open == 1,
            open,
        })
    }

    /// Closes the open flags on a message: upheld (it was hidden) or dismissed.
    pub fn close_flags(
        &self,
        message_id: &str,
        upheld: bool,
        by: UserId,
        now: i64,
    ) -> Result<usize, StoreError> {
        Ok(self.tx().execute(
            "UPDATE flags SET state = ?2, decided_by = ?3, decided_at = ?4
              WHERE message_id = ?1 AND state = 'open'",
            params![
                message_id,
                if upheld { "upheld" } else { "dismissed" },
                by.0,
                now
            ],
        )?)
    }

    /// The content hash of a hidden message, or of a mail that was a like (deriving leaves
    /// both out).
    pub fn hidden_content(&self, message_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tx()
            .prepare_cached(
                "SELECT content_sha256 FROM hidden_messages WHERE message_id = ?1
                 UNION ALL SELECT content_sha256 FROM mail_likes WHERE message_id = ?1",
            )?
            .query_row([message_id], |r| r.get(0))
            .optional()?)
    }

    /// Mirror mode: an archived list mail that is a like ("+1") of `parent` by `user` leaves
    /// the derived tables as a hidden message does (its raw mail stays, and deriving leaves it
    /// out again); the like is counted, once per member. False when it is not archived.
    pub fn like_by_mail(
        &self,
        key: super::MessageKey,
        user: UserId,
        parent: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let Some(message) = self.published("id", key.0)? else {
            return Ok(false);
        };
        self.tx().execute(
            "INSERT INTO mail_likes(message_id, raw_id, content_sha256, parent, user_id, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                message.message_id,
                message.raw,
                message.sha,
                parent,
                user.0,
                now
            ],
        )?;
        self.withdraw(&message)?;
        self.add_like(user, parent, now)?;
        Ok(true)
    }

    /// Hides a published message: recorded, then taken out of every derived table. Its raw
    /// mail (and its copies') stays.
    pub fn hide(
        &self,
        message_id: &str,
        why: HideWhy,
        by: Option<UserId>,
        note: Option<&str>,
        now: i64,
    ) -> Result<Hid, StoreError> {
        let Some(message) = self.published("message_id", message_id)? else {
            if why == HideWhy::Moderator {
                let changed = self.tx().execute(
                    "UPDATE hidden_messages SET why = 'moderator', hidden_by = ?2, note = coalesce(?3, note)
                      WHERE message_id = ?1",
                    params![message_id, by.map(|u| u.0), note],
                )?;
                if changed > 0 {
                    return Ok(Hid::Already);
                }
            } else if self.hidden_content(message_id)?.is_some() {
                return Ok(Hid::Already);
            }
            return Ok(Hid::NotFound);
        };
        self.tx().execute(
            "INSERT INTO hidden_messages(message_id, raw_id, content_sha256, why, hidden_by, hidden_at, note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![message_id, message.raw, message.sha, why.as_str(), by.map(|u| u.0), now, note],
        )?;
        self.withdraw(&message)?;
        Ok(Hid::Hidden)
    }

    /// The published message whose `column` (`id` or `message_id`, never text from a mail) is
    /// `value`.
    fn published(
        &self,
        column: &str,
        value: impl crate::store::db::ToValue,
    ) -> Result<Option<Published>, StoreError> {
        Ok(self
            .tx()
            .prepare_cached(&format!(
                "SELECT id, message_id, raw_id, content_sha256, thread_id FROM messages
                 WHERE {column} = ?1"
            ))?
            .query_row([value], |r| {
                Ok(Published {
                    key: r.get(0)?,
                    message_id: r.get(1)?,
                    raw: r.get(2)?,
                    sha: r.get(3)?,
                    thread: r.get(4)?,
                })
            })
            .optional()?)
    }

    /// Takes a message out of every derived table (its raw mail and its copies' stay).
    fn withdraw(&self, message: &Published) -> Result<(), StoreError> {
        let (key, message_id) = (message.key, message.message_id.as_str());
        let mut raws: Vec<i64> = vec![message.raw];
        for copy in self
            .tx()
            .prepare_cached("SELECT raw_id FROM message_copies WHERE message = ?1")?
            .query_map([key], |r| r.get(0))?
        {
            raws.push(copy?);
        }
        let raws = raws
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        // Integers only in the text: nothing from a mail is spliced into SQL here.
        self.tx().execute_batch(&format!(
            "DELETE FROM search WHERE rowid = {key};
             DELETE FROM message_tags WHERE message = {key};
             DELETE FROM message_attachments WHERE message = {key};
             DELETE FROM attachments WHERE raw_id IN ({raws})
               AND sha256 NOT IN (SELECT sha256 FROM message_attachments);
             DELETE FROM message_copies WHERE message = {key};"
        ))?;
        self.tx().execute(
            "UPDATE thread_ids SET message = NULL WHERE msgid = ?1",
            [message_id],
        )?;
        self.tx()
            .execute("DELETE FROM messages WHERE id = ?1", [key])?;
        self.recount_thread(ThreadId(message.thread))?;
        let label: Option<i64> = self
            .tx()
            .query_row(
                "SELECT thread_id FROM thread_ids WHERE msgid = ?1",
                [message_id],
                |r| r.get(0),
            )
            .optional()?;
        self.touched.borrow_mut().extend(label);
        Ok(())
    }

    /// Forgets that a message is hidden; its raw mail, for the caller to derive again.
    pub fn unhide(&self, message_id: &str) -> Result<Option<StoredRaw>, StoreError> {
        let raw: Option<i64> = self
            .tx()
            .query_row(
                "DELETE FROM hidden_messages WHERE message_id = ?1 RETURNING raw_id",
                [message_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let mut stmt = self.tx().prepare_cached(
            "SELECT id, sha256, list_id, envelope, size, data FROM raw_messages WHERE id = ?1",
        )?;
        let mut rows = stmt.query([raw])?;
        match rows.next()? {
            Some(row) => Ok(Some(StoredRaw::from_row(&row)?)),
            None => Ok(None),
        }
    }

    /// How a message of the archive was hidden, if it is.
    pub fn hidden_why(&self, message_id: &str) -> Result<Option<HideWhy>, StoreError> {
        let why: Option<String> = self
            .tx()
            .query_row(
                "SELECT why FROM hidden_messages WHERE message_id = ?1",
                [message_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(why.map(|w| {
            if w == "flags" {
                HideWhy::Flags
            } else {
                HideWhy::Moderator
            }
        }))
    }

    /// A published message's subject, author and list's name (for telling moderators).
    pub fn message_brief(
        &self,
        message_id: &str,
    ) -> Result<Option<(Option<String>, String, String)>, StoreError> {
        Ok(self
            .tx()
            .query_row(
                "SELECT m.subject, m.from_name, m.from_addr, l.name FROM messages m
                   JOIN lists l ON l.id = m.list_id WHERE m.message_id = ?1",
                [message_id],
                |r| {
                    let name: Option<String> = r.get(1)?;
                    let addr: Option<String> = r.get(2)?;
                    Ok((
                        r.get(0)?,
                        name.or(addr).unwrap_or_else(|| "someone".to_owned()),
                        r.get(3)?,
                    ))
                },
            )
            .optional()?)
    }

    /// A list's name.
    pub fn list_name(&self, list: super::ListId) -> Result<String, StoreError> {
        Ok(self
            .tx()
            .query_row("SELECT name FROM lists WHERE id = ?1", [list.0], |r| {
                r.get(0)
            })?)
    }

    /// Adds a line to the moderation log.
    pub fn log_moderation(
        &self,
        moderator: Option<UserId>,
        action: &str,
        message_id: Option<&str>,
        target: Option<&str>,
        detail: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.tx().execute(
            "INSERT INTO moderation_log(at, moderator, action, message_id, target, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                now,
                moderator.map(|u| u.0),
                action,
                message_id,
                target,
                detail
            ],
        )?;
        Ok(())
    }
}
