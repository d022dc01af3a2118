//! Posts held for a moderator (patient-identifiable data found in them): kept until a
//! moderator approves, edits or rejects them, with the decision and who made it.

use super::db::{OptionalExtension, params};

use super::members::UserId;
use super::{Author, ListId, StoreError, Writer};

/// A row of `held_posts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(transparent)]
pub struct HeldId(pub i64);

/// What is being held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldKind {
    /// A web post's draft: replying to `parent`, or a new thread.
    Web { parent: Option<String> },
    /// A mail, exactly as received.
    Mail { raw: Vec<u8>, origin: String },
}

#[derive(Debug, Clone)]
pub struct Held {
    pub id: HeldId,
    pub kind: HeldKind,
    pub list: ListId,
    pub list_name: String,
    pub user: Option<UserId>,
    /// The name the post was written under, and the address a mail came from.
    pub author: Author,
    pub subject: String,
    pub body: String,
    pub reason: String,
    pub state: String,
    pub created: i64,
    pub note: Option<String>,
}

/// A post to hold.
#[derive(Debug, Clone)]
pub struct NewHeld<'a> {
    pub kind: HeldKind,
    pub list: ListId,
    pub user: Option<UserId>,
    pub author_name: Option<&'a str>,
    pub sender: Option<&'a str>,
    pub subject: &'a str,
    pub body: &'a str,
    pub reason: &'a str,
}

const COLUMNS: &str = "h.id, h.kind, h.list_id, l.name, h.user_id, h.author_name, h.sender, \
     h.subject, h.body, h.parent, h.raw, h.origin, h.reason, h.state, h.created, h.note";

fn row(r: &crate::store::db::Row<'_>) -> crate::store::db::Result<Held> {
    let kind = match r.get::<String>(1)?.as_str() {
        "mail" => HeldKind::Mail {
            raw: r.get::<Option<Vec<u8>>>(10)?.unwrap_or_default(),
            origin: r.get::<Option<String>>(11)?.unwrap_or_default(),
        },
        _ => HeldKind::Web { parent: r.get(9)? },
    };
    Ok(Held {
        id: HeldId(r.get(0)?),
        kind,
        list: ListId(r.get(2)?),
        list_name: r.get(3)?,
        user: r.get::<Option<i64>>(4)?.map(UserId),
        author: Author {
            name: r.get(5)?,
            address: r.get(6)?,
        },
        subject: r.get(7)?,
        body: r.get(8)?,
        reason: r.get(12)?,
        state: r.get(13)?,
        created: r.get(14)?,
        note: r.get(15)?,
    })
}

impl super::Store {
    /// Posts still waiting for a decision, oldest first.
    pub fn held_posts(&self, limit: usize) -> Result<Vec<Held>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM held_posts h JOIN lists l ON l.id = h.list_id
              WHERE h.state = 'held' ORDER BY h.created, h.id LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit as i64], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn held_post(&self, id: HeldId) -> Result<Option<Held>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM held_posts h JOIN lists l ON l.id = h.list_id
                      WHERE h.id = ?1"
                ),
                [id.0],
                row,
            )
            .optional()?)
    }
}

impl Writer<'_> {
    pub fn hold(&self, held: &NewHeld<'_>, now: i64) -> Result<HeldId, StoreError> {
        let (kind, parent, raw, origin) = match &held.kind {
            HeldKind::Web { parent } => ("web", parent.as_deref(), None, None),
            HeldKind::Mail { raw, origin } => {
                ("mail", None, Some(raw.as_slice()), Some(origin.as_str()))
            }
        };
        self.tx().execute(
            "INSERT INTO held_posts(kind, list_id, user_id, sender, subject, body, parent,
                                    author_name, raw, origin, reason, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                kind,
                held.list.0,
                held.user.map(|u| u.0),
                held.sender,
                held.subject,
                held.body,
                parent,
                held.author_name,
                raw,
                origin,
                held.reason,
                now
            ],
        )?;
        Ok(HeldId(self.tx().last_insert_rowid()))
    }

    /// Sets the hash of the key moderators reply to about a held post.
    pub fn set_moderation_key(&self, id: HeldId, key_hash: &[u8]) -> Result<(), StoreError> {
        self.tx().execute(
            "UPDATE held_posts SET mod_key_hash = ?2 WHERE id = ?1",
            params![id.0, key_hash],
        )?;
        Ok(())
    }

    /// The held post a moderation key belongs to.
    pub fn held_by_moderation_key(&self, key_hash: &[u8]) -> Result<Option<HeldId>, StoreError> {
        Ok(self
            .tx()
            .query_row(
                "SELECT id FROM held_posts WHERE mod_key_hash = ?1",
                [key_hash],
                |r| r.get(0),
            )
            .optional()?
            .map(HeldId))
    }

    /// Moderators and admins with an address to mail.
    pub fn moderators(&self) -> Result<Vec<(UserId, String)>, StoreError> {
        let mut stmt = self.tx().prepare(
            "SELECT u.id, (SELECT address FROM user_emails a WHERE a.user_id = u.id
                             AND a.verified_at IS NOT NULL
                           ORDER BY a.is_primary DESC, a.address LIMIT 1)
               FROM users u WHERE u.role IN ('moderator', 'admin') ORDER BY u.id",
        )?;
        let rows = stmt.query_map((), |r| Ok((UserId(r.get(0)?), r.get::<Option<String>>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            if let (user, Some(address)) = row? {
                out.push((user, address));
            }
        }
        Ok(out)
    }

    /// Posts from an address since `since`: archived (by when they were fetched) or held.
    pub fn posts_from_since(&self, address: &str, since: i64) -> Result<u32, StoreError> {
        Ok(self.tx().query_row(
            "SELECT (SELECT count(*) FROM messages m
                       JOIN raw_messages r ON r.id = m.raw_id
                       JOIN import_runs i ON i.id = r.import_run
                      WHERE m.from_addr = ?1 COLLATE NOCASE AND i.started_at >= ?2)
                  + (SELECT count(*) FROM held_posts
                      WHERE sender = ?1 COLLATE NOCASE AND created >= ?2)",
            params![address, since],
            |r| r.get(0),
        )?)
    }

    /// Whether a member is a moderator or admin.
    pub fn is_moderator(&self, user: UserId) -> Result<bool, StoreError> {
        Ok(self.tx().query_row(
            "SELECT count(*) FROM users WHERE id = ?1 AND role IN ('moderator', 'admin')",
            [user.0],
            |r| r.get::<i64>(0),
        )? > 0)
    }

    /// Once a held post is decided, keeps only what the record needs: its subject and text as
    /// the caller masked them, and the moderator's note (masked too); the raw mail goes. With
    /// secure_delete on (every connection has it) the old cells are zeroed as they are
    /// rewritten; the caller empties the write-ahead log after the commit.
    pub fn keep_only_masked(
        &self,
        id: HeldId,
        subject: &str,
        body: &str,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        self.tx().execute(
            "UPDATE held_posts SET subject = ?2, body = ?3, note = ?4, raw = NULL WHERE id = ?1",
            params![id.0, subject, body, note],
        )?;
        Ok(())
    }

    /// Records a moderator's decision; false when it was already decided (a second click).
    pub fn decide_held(
        &self,
        id: HeldId,
        approved: bool,
        by: UserId,
        note: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = self.tx().execute(
            "UPDATE held_posts SET state = ?2, decided_by = ?3, decided_at = ?4, note = ?5
              WHERE id = ?1 AND state = 'held'",
            params![
                id.0,
                if approved { "approved" } else { "rejected" },
                by.0,
                now,
                note
            ],
        )?;
        Ok(changed == 1)
    }
}
