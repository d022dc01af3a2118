//! Interests and what hangs on them: the interests themselves (seeded from the config, edited
//! by admins), the tags the rules give each message (derived, rebuilt by `retag` and
//! `reindex`), moderators' hand-set tags (which win over the rules), members' delivery
//! preferences per interest and per thread, likes, and the record of what each member was
//! mailed.

use std::collections::{BTreeSet, HashMap};

use super::db::{OptionalExtension, params};
use serde::Serialize;

use super::members::UserId;
use super::{MessageKey, StoreError, ThreadId, Writer};
use crate::tags::{InterestRules, Tagger};

/// A row of `interests`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct InterestId(pub i64);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interest {
    pub id: InterestId,
    #[serde(flatten)]
    pub rules: InterestRules,
    pub description: Option<String>,
}

/// A member's choice for an interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InterestMode {
    /// Every post by mail.
    Watch,
    /// In the digest.
    Digest,
    /// Neither.
    Mute,
}

impl InterestMode {
    pub fn as_str(self) -> &'static str {
        match self {
            InterestMode::Watch => "watch",
            InterestMode::Digest => "digest",
            InterestMode::Mute => "mute",
        }
    }
    pub fn parse(s: &str) -> Option<InterestMode> {
        match s {
            "watch" => Some(InterestMode::Watch),
            "digest" => Some(InterestMode::Digest),
            "mute" => Some(InterestMode::Mute),
            _ => None,
        }
    }
}

/// An interest to create when it is not there yet (from the configuration's `[[interests]]`).
#[derive(Debug, Clone, Copy)]
pub struct NewInterest<'a> {
    pub rules: &'a InterestRules,
    pub description: Option<&'a str>,
}

/// The compiled rules of every interest, for tagging messages.
pub struct InterestTagger {
    tagger: Option<Tagger>,
    ids: Vec<InterestId>,
}

impl InterestTagger {
    /// The interests a message's subject and new text match.
    pub fn tag(&self, subject: &str, body: &str) -> Vec<InterestId> {
        match &self.tagger {
            Some(t) => t
                .tag(subject, body)
                .into_iter()
                .map(|i| self.ids[i])
                .collect(),
            None => Vec::new(),
        }
    }
}

/// What `retag` changed: per interest, threads that gained and lost it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetagReport {
    pub messages: u64,
    pub interests: Vec<RetagChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetagChange {
    pub interest: String,
    pub threads_before: u64,
    pub threads_after: u64,
    pub gained: u64,
    pub lost: u64,
}

fn interest_row(r: &crate::store::db::Row<'_>) -> crate::store::db::Result<Interest> {
    let keywords: String = r.get(4)?;
    let patterns: String = r.get(5)?;
    Ok(Interest {
        id: InterestId(r.get(0)?),
        rules: InterestRules {
            slug: r.get(1)?,
            name: r.get(2)?,
            keywords: serde_json::from_str(&keywords).unwrap_or_default(),
            patterns: serde_json::from_str(&patterns).unwrap_or_default(),
        },
        description: r.get(3)?,
    })
}

const INTEREST_COLUMNS: &str = "id, slug, name, description, keywords, patterns";

/// The SQL of a thread's interests: the rules' tags on any of its messages, plus hand-set
/// tags, minus hand-removed ones. `?1` is the thread.
pub(super) const THREAD_INTERESTS: &str = "
    SELECT interest FROM (
        SELECT DISTINCT t.interest FROM message_tags t JOIN messages m ON m.id = t.message
        WHERE m.thread_id = ?1
        UNION
        SELECT mt.interest FROM manual_tags mt JOIN messages m ON m.message_id = mt.message_id
        WHERE m.thread_id = ?1 AND mt.present = 1)
    WHERE interest NOT IN (
        SELECT mt.interest FROM manual_tags mt JOIN messages m ON m.message_id = mt.message_id
        WHERE m.thread_id = ?1 AND mt.present = 0)";

impl super::Store {
    pub fn interests(&self) -> Result<Vec<Interest>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {INTEREST_COLUMNS} FROM interests ORDER BY name"
        ))?;
        let rows = stmt.query_map((), interest_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn interest_by_slug(&self, slug: &str) -> Result<Option<Interest>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {INTEREST_COLUMNS} FROM interests WHERE slug = ?1"
            ))?
            .query_row([slug], interest_row)
            .optional()?)
    }

    /// Adds the config's interests that the database does not have yet (by slug): the config
    /// seeds, the web edits after. Returns how many were added.
    pub fn seed_interests(
        &self,
        interests: &[NewInterest<'_>],
        now: i64,
    ) -> Result<usize, StoreError> {
        let mut added = 0;
        for i in interests {
            added += usize::from(
                self.put_interest(*i, now, "DO NOTHING")
                    .optional()?
                    .is_some(),
            );
        }
        Ok(added)
    }

    /// Creates or updates an interest by slug.
    pub fn save_interest(&self, interest: &Interest, now: i64) -> Result<InterestId, StoreError> {
        let new = NewInterest {
            rules: &interest.rules,
            description: interest.description.as_deref(),
        };
        Ok(self.put_interest(
            new,
            now,
            "DO UPDATE SET name = excluded.name, description = excluded.description,
                 keywords = excluded.keywords, patterns = excluded.patterns",
        )?)
    }

    /// Writes an interest; `on_conflict` says what one of the same slug gets. The id of the row
    /// written (no row when the conflict left it alone).
    fn put_interest(
        &self,
        interest: NewInterest<'_>,
        now: i64,
        on_conflict: &str,
    ) -> crate::store::db::Result<InterestId> {
        let rules = interest.rules;
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO interests(slug, name, description, keywords, patterns, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(slug) {on_conflict}
                 RETURNING id"
            ))?
            .query_row(
                params![
                    rules.slug,
                    rules.name,
                    interest.description,
                    serde_json::to_string(&rules.keywords).expect("strings serialise"),
                    serde_json::to_string(&rules.patterns).expect("strings serialise"),
                    now
                ],
                |r| r.get(0).map(InterestId),
            )
    }

    pub fn delete_interest(&mut self, id: InterestId) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for table in ["message_tags", "manual_tags", "interest_prefs"] {
            tx.execute(&format!("DELETE FROM {table} WHERE interest = ?1"), [id.0])?;
        }
        tx.execute("DELETE FROM interests WHERE id = ?1", [id.0])?;
        tx.commit()?;
        Ok(())
    }

    /// The compiled rules of every interest. An interest whose rules do not compile (a bad
    /// pattern typed on the web) is left out with a warning rather than stopping ingest.
    pub fn tagger(&self) -> Result<InterestTagger, StoreError> {
        let (rules, ids): (Vec<InterestRules>, Vec<InterestId>) = self
            .interests()?
            .into_iter()
            .map(|i| (i.rules, i.id))
            .unzip();
        if rules.is_empty() {
            return Ok(InterestTagger { tagger: None, ids });
        }
        // One compile for all: only when it fails is each interest tried alone, to find and
        // leave out the one at fault.
        if let Ok(tagger) = Tagger::new(&rules) {
            return Ok(InterestTagger {
                tagger: Some(tagger),
                ids,
            });
        }
        let (rules, ids): (Vec<InterestRules>, Vec<InterestId>) = rules
            .into_iter()
            .zip(ids)
            .filter(|(r, _)| match Tagger::new(std::slice::from_ref(r)) {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(interest = %r.slug, error = %e, "an interest's rules do not compile; left out");
                    false
                }
            })
            .unzip();
        let tagger = Tagger::new(&rules).ok();
        Ok(InterestTagger { tagger, ids })
    }

    pub fn thread_interest_ids(
        &self,
        thread: ThreadId,
    ) -> Result<BTreeSet<InterestId>, StoreError> {
        let mut stmt = self.conn.prepare_cached(THREAD_INTERESTS)?;
        let rows = stmt.query_map([thread.0], |r| Ok(InterestId(r.get(0)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A moderator adds (present) or removes a tag on a thread by hand; it wins over the rules
    /// and survives reindex (it is anchored on the thread's first message).
    pub fn set_manual_tag(
        &self,
        thread: ThreadId,
        interest: InterestId,
        present: bool,
        by: UserId,
        now: i64,
    ) -> Result<(), StoreError> {
        let anchor: Option<String> = self
            .conn
            .query_row(
                "SELECT message_id FROM messages WHERE thread_id = ?1 ORDER BY date, id LIMIT 1",
                [thread.0],
                |r| r.get(0),
            )
            .optional()?;
        let Some(anchor) = anchor else {
            return Ok(());
        };
        // Earlier hand-set tags of this interest on other messages of the thread give way.
        self.conn.execute(
            "DELETE FROM manual_tags WHERE interest = ?2 AND message_id IN
                 (SELECT message_id FROM messages WHERE thread_id = ?1)",
            params![thread.0, interest.0],
        )?;
        self.conn.execute(
            "INSERT INTO manual_tags(message_id, interest, present, set_by, set_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![anchor, interest.0, present, by.0, now],
        )?;
        Ok(())
    }

    /// Threads carrying an interest, by last activity.
    pub fn interest_threads(
        &self,
        interest: InterestId,
        offset: usize,
        limit: usize,
    ) -> Result<super::Page<super::ThreadSummary>, StoreError> {
        self.latest_threads(super::ThreadFilter::Interest(interest), offset, limit)
    }

    /// Likes of each of these messages, and whether `viewer` likes it.
    pub fn likes(
        &self,
        message_ids: &[&str],
        viewer: Option<UserId>,
    ) -> Result<HashMap<String, (u64, bool)>, StoreError> {
        let mut found = HashMap::new();
        let mut count = self.conn.prepare_cached(
            "SELECT count(*), coalesce(sum(user_id = ?2), 0) FROM likes WHERE message_id = ?1",
        )?;
        for id in message_ids {
            let (n, mine): (u64, i64) = count
                .query_row(params![id, viewer.map_or(-1, |v| v.0)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            if n > 0 {
                found.insert((*id).to_owned(), (n, mine > 0));
            }
        }
        Ok(found)
    }

    /// Likes of each post of a thread that has any, by Message-ID, and whether `viewer` likes
    /// it: what a thread page shows, in one read.
    pub fn thread_likes(
        &self,
        thread: ThreadId,
        viewer: Option<UserId>,
    ) -> Result<HashMap<String, (u64, bool)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT l.message_id, count(*), coalesce(sum(l.user_id = ?2), 0)
               FROM messages m JOIN likes l ON l.message_id = m.message_id
              WHERE m.thread_id = ?1 GROUP BY l.message_id",
        )?;
        let rows = stmt.query_map(params![thread.0, viewer.map_or(-1, |v| v.0)], |r| {
            Ok((r.get::<String>(0)?, (r.get(1)?, r.get::<i64>(2)? > 0)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Likes a post, or takes the like back; true when the member now likes it.
    pub fn toggle_like(
        &self,
        user: UserId,
        message_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let removed = self.conn.execute(
            "DELETE FROM likes WHERE user_id = ?1 AND message_id = ?2",
            params![user.0, message_id],
        )?;
        if removed == 0 {
            self.conn.execute(
                "INSERT INTO likes(user_id, message_id, created) VALUES (?1, ?2, ?3)",
                params![user.0, message_id, now],
            )?;
        }
        Ok(removed == 0)
    }

    /// A member's choices: per interest, and their delivery, digest and like settings.
    pub fn interest_prefs(
        &self,
        user: UserId,
    ) -> Result<HashMap<InterestId, InterestMode>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT interest, mode FROM interest_prefs WHERE user_id = ?1")?;
        let rows = stmt.query_map([user.0], |r| {
            Ok((InterestId(r.get(0)?), r.get::<String>(1)?))
        })?;
        let mut prefs = HashMap::new();
        for row in rows {
            let (id, mode) = row?;
            if let Some(m) = InterestMode::parse(&mode) {
                prefs.insert(id, m);
            }
        }
        Ok(prefs)
    }

    /// Saves a member's choices; choosing ends "every post by mail" for a migrated member.
    pub fn save_preferences(
        &mut self,
        user: UserId,
        prefs: &Preferences,
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM interest_prefs WHERE user_id = ?1", [user.0])?;
        for (interest, mode) in &prefs.interests {
            tx.execute(
                "INSERT INTO interest_prefs(user_id, interest, mode) VALUES (?1, ?2, ?3)",
                params![user.0, interest.0, mode.as_str()],
            )?;
        }
        tx.execute(
            // A member who starts getting digests (or changes between daily and weekly) gets
            // the first at their next chosen hour, covering what came since: the change is
            // their last digest, a second before so that second's posts are in the next.
            // (The right-hand sides read the row as it was.)
            "UPDATE users SET delivery = ?2, digest = ?3, digest_hour = ?4, digest_weekday = ?5,
                 daily_cap = ?6, hear_of_likes = ?7,
                 last_digest = CASE
                     WHEN ?2 != 'none' AND ?3 != 'off'
                          AND (CASE WHEN delivery = 'none' THEN 'off' ELSE digest END) != ?3
                     THEN ?8 - 1 ELSE last_digest END
             WHERE id = ?1",
            params![
                user.0,
                prefs.delivery,
                prefs.digest,
                prefs.digest_hour,
                prefs.digest_weekday,
                prefs.daily_cap,
                prefs.hear_of_likes,
                now
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn preferences(&self, user: UserId) -> Result<Preferences, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT delivery, digest, digest_hour, digest_weekday, daily_cap, hear_of_likes
             FROM users WHERE id = ?1",
        )?;
        let prefs: Option<Preferences> = super::row_as(&mut stmt, [user.0])?;
        let prefs = prefs.ok_or(super::db::Error::NoRows)?;
        Ok(Preferences {
            interests: self.interest_prefs(user)?,
            ..prefs
        })
    }

    /// A member watches or mutes a thread (None: back to their interests' choices).
    pub fn set_thread_pref(
        &self,
        user: UserId,
        thread: ThreadId,
        mode: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM thread_prefs WHERE user_id = ?1 AND message_id IN
                 (SELECT message_id FROM messages WHERE thread_id = ?2)",
            params![user.0, thread.0],
        )?;
        if let Some(mode) = mode {
            self.conn.execute(
                "INSERT INTO thread_prefs(user_id, message_id, mode)
                 SELECT ?1, message_id, ?3 FROM messages WHERE thread_id = ?2
                 ORDER BY date, id LIMIT 1",
                params![user.0, thread.0, mode],
            )?;
        }
        Ok(())
    }

    pub fn thread_pref(
        &self,
        user: UserId,
        thread: ThreadId,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT tp.mode FROM thread_prefs tp JOIN messages m ON m.message_id = tp.message_id
                 WHERE tp.user_id = ?1 AND m.thread_id = ?2 LIMIT 1",
            )?
            .query_row(params![user.0, thread.0], |r| r.get(0))
            .optional()?)
    }

    /// Re-applies the interests' current rules to every message: the tags the rules give are
    /// rebuilt (hand-set tags stay), and the report says per interest how many threads gained
    /// and lost it.
    pub fn retag(
        &mut self,
        tagger: &InterestTagger,
        text_of: &TextOf<'_>,
    ) -> Result<RetagReport, StoreError> {
        let before = self.threads_per_interest()?;
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM message_tags", ())?;
        let mut messages = 0u64;
        {
            let mut rows = tx.prepare(
                "SELECT m.id, r.id, r.size, r.data, l.name FROM messages m
                 JOIN raw_messages r ON r.id = m.raw_id JOIN lists l ON l.id = m.list_id",
            )?;
            let mut insert = tx
                .prepare("INSERT OR IGNORE INTO message_tags(message, interest) VALUES (?1, ?2)")?;
            let mut cursor = rows.query(())?;
            while let Some(r) = cursor.next()? {
                let key: i64 = r.get(0)?;
                let raw_id = super::RawId(r.get(1)?);
                let size: i64 = r.get(2)?;
                let data: Vec<u8> = r.get(3)?;
                let list: String = r.get(4)?;
                let raw = super::decompress(raw_id, &data, size as usize)?;
                messages += 1;
                if let Some((subject, body)) = text_of(&raw, &list) {
                    for id in tagger.tag(&subject, &body) {
                        insert.execute(params![key, id.0])?;
                    }
                }
            }
        }
        super::raise_archive_version(&tx)?;
        tx.commit()?;
        let after = self.threads_per_interest()?;
        let mut interests = Vec::new();
        for i in self.interests()? {
            let empty = BTreeSet::new();
            let b = before.get(&i.id).unwrap_or(&empty);
            let a = after.get(&i.id).unwrap_or(&empty);
            interests.push(RetagChange {
                interest: i.rules.slug,
                threads_before: b.len() as u64,
                threads_after: a.len() as u64,
                gained: a.difference(b).count() as u64,
                lost: b.difference(a).count() as u64,
            });
        }
        Ok(RetagReport {
            messages,
            interests,
        })
    }

    fn threads_per_interest(&self) -> Result<HashMap<InterestId, BTreeSet<i64>>, StoreError> {
        let mut map: HashMap<InterestId, BTreeSet<i64>> = HashMap::new();
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT t.interest, m.thread_id FROM message_tags t
             JOIN messages m ON m.id = t.message",
        )?;
        let rows = stmt.query_map((), |r| Ok((InterestId(r.get(0)?), r.get::<i64>(1)?)))?;
        for row in rows {
            let (i, t) = row?;
            map.entry(i).or_default().insert(t);
        }
        Ok(map)
    }
}

/// Gives a raw message's subject and new text, rendered by its list's rules.
pub type TextOf<'a> = dyn Fn(&[u8], &str) -> Option<(String, String)> + 'a;

/// A member's delivery choices.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Preferences {
    #[serde(skip_deserializing)] // read from its own table
    pub interests: HashMap<InterestId, InterestMode>,
    /// "all", "chosen" or "none".
    pub delivery: String,
    /// "off", "daily" or "weekly".
    pub digest: String,
    /// UTC hour of the digest.
    pub digest_hour: u32,
    /// 1 = Monday ... 7 = Sunday, for weekly digests.
    pub digest_weekday: u32,
    /// Mails about posts a day at most; the rest wait for the digest.
    pub daily_cap: u32,
    pub hear_of_likes: bool,
}

impl Writer<'_> {
    /// Records the interests the rules give a message.
    pub fn tag_message(&self, key: MessageKey, interests: &[InterestId]) -> Result<(), StoreError> {
        let mut insert = self.tx().prepare_cached(
            "INSERT OR IGNORE INTO message_tags(message, interest) VALUES (?1, ?2)",
        )?;
        for i in interests {
            insert.execute(params![key.0, i.0])?;
        }
        if !interests.is_empty() {
            self.archive_changed();
        }
        Ok(())
    }

    pub fn thread_interest_ids(
        &self,
        thread: ThreadId,
    ) -> Result<BTreeSet<InterestId>, StoreError> {
        let mut stmt = self.tx().prepare_cached(THREAD_INTERESTS)?;
        let rows = stmt.query_map([thread.0], |r| Ok(InterestId(r.get(0)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl super::Store {
    /// This installation's key for signing links (made once, kept in the database).
    pub fn site_secret(&self) -> Result<Vec<u8>, StoreError> {
        site_secret(&self.conn)
    }
}

/// What decides whether a member is mailed about a post.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Audience {
    pub user: UserId,
    pub address: String,
    /// "all", "chosen" or "none".
    pub delivery: String,
    pub daily_cap: u32,
    /// Mails about posts in the last 24 hours.
    pub sent_today: u32,
    /// Their choices for the post's interests (read after the member's row).
    #[serde(skip_deserializing)]
    pub interests: HashMap<InterestId, InterestMode>,
    /// Their choice for the post's thread: "watch" or "mute".
    pub thread: Option<String>,
}

impl Writer<'_> {
    /// Every member with a deliverable address who may read `thread` (a private list's thread:
    /// its roster and the moderators; `private_lists` names the private lists), with their
    /// choices that bear on a post in it carrying `interests`.
    pub fn audience(
        &self,
        thread: ThreadId,
        interests: &BTreeSet<InterestId>,
        private_lists: &[String],
        now: i64,
    ) -> Result<Vec<Audience>, StoreError> {
        let tx = self.tx();
        let list: Option<(i64, String)> = tx
            .query_row(
                "SELECT l.id, l.name FROM threads t JOIN lists l ON l.id = t.list_id WHERE t.id = ?1",
                [thread.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let roster_only = list
            .as_ref()
            .filter(|(_, name)| private_lists.contains(name))
            .map(|(id, _)| *id);
        let mut members: Vec<Audience> = {
            let mut stmt = tx.prepare_cached(
                "SELECT u.id AS user, e.address, u.delivery, u.daily_cap,
                        (SELECT count(*) FROM notifications n WHERE n.user_id = u.id
                         AND n.kind = 'post' AND n.sent_at > ?1) AS sent_today
                 FROM users u JOIN user_emails e ON e.user_id = u.id
                 WHERE e.is_primary = 1 AND e.verified_at IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM bounces b WHERE b.address = e.address
                                   AND b.paused_at IS NOT NULL)
                   AND (u.role IN ('moderator', 'admin')
                        OR EXISTS (SELECT 1 FROM list_members lm
                                   JOIN user_emails v ON v.address = lm.address
                                   WHERE lm.list_id = ?2 AND v.user_id = u.id
                                     AND v.verified_at IS NOT NULL)
                        OR ?2 IS NULL)
                 ORDER BY u.id",
            )?;
            super::rows_as(
                &mut stmt,
                crate::store::db::params![now - 86_400, roster_only],
            )?
        };
        let index: HashMap<UserId, usize> = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.user, i))
            .collect();
        let mut prefs =
            tx.prepare_cached("SELECT user_id, mode FROM interest_prefs WHERE interest = ?1")?;
        for interest in interests {
            let rows = prefs.query_map([interest.0], |r| {
                Ok((UserId(r.get(0)?), r.get::<String>(1)?))
            })?;
            for row in rows {
                let (user, mode) = row?;
                if let (Some(&i), Some(mode)) = (index.get(&user), InterestMode::parse(&mode)) {
                    members[i].interests.insert(*interest, mode);
                }
            }
        }
        let mut threads = tx.prepare_cached(
            "SELECT tp.user_id, tp.mode FROM thread_prefs tp
             JOIN messages m ON m.message_id = tp.message_id WHERE m.thread_id = ?1",
        )?;
        let rows =
            threads.query_map([thread.0], |r| Ok((UserId(r.get(0)?), r.get::<String>(1)?)))?;
        for row in rows {
            let (user, mode) = row?;
            if let Some(&i) = index.get(&user) {
                members[i].thread = Some(mode);
            }
        }
        Ok(members)
    }

    /// Remembers that these members were mailed about a message (the digest skips it; the
    /// daily cap counts it).
    pub fn record_notifications(
        &self,
        users: &[UserId],
        message_id: &str,
        kind: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut insert = self.tx().prepare_cached(
            "INSERT OR IGNORE INTO notifications(user_id, message_id, kind, sent_at)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for u in users {
            insert.execute(params![u.0, message_id, kind, now])?;
        }
        Ok(())
    }

    pub fn site_secret(&self) -> Result<Vec<u8>, StoreError> {
        site_secret(self.tx())
    }

    /// Likes a post on behalf of a member (a "+1" by mail); false when they already did.
    pub fn add_like(&self, user: UserId, message_id: &str, now: i64) -> Result<bool, StoreError> {
        Ok(self.tx().execute(
            "INSERT OR IGNORE INTO likes(user_id, message_id, created) VALUES (?1, ?2, ?3)",
            params![user.0, message_id, now],
        )? == 1)
    }
}

impl Writer<'_> {
    /// A member who writes in a thread watches it from then on, unless they chose otherwise
    /// for it (as in Discourse).
    pub fn watch_own_thread(
        &self,
        user: UserId,
        message_id: &str,
        thread: ThreadId,
    ) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached(
                "INSERT OR IGNORE INTO thread_prefs(user_id, message_id, mode)
                 SELECT ?1, ?2, 'watch' WHERE NOT EXISTS (
                     SELECT 1 FROM thread_prefs tp JOIN messages m ON m.message_id = tp.message_id
                     WHERE tp.user_id = ?1 AND m.thread_id = ?3)",
            )?
            .execute(params![user.0, message_id, thread.0])?;
        Ok(())
    }
}

impl super::Store {
    /// Who should hear of a like of this message: its author (a member who asked to), their
    /// address, and the post's subject.
    pub fn like_audience(
        &self,
        message_id: &str,
    ) -> Result<Option<(UserId, String, String)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT u.id, e.address, coalesce(m.subject, '')
                 FROM messages m
                 JOIN user_emails e ON e.address = lower(m.from_addr) AND e.verified_at IS NOT NULL
                 JOIN users u ON u.id = e.user_id
                 WHERE m.message_id = ?1 AND u.hear_of_likes = 1 AND u.delivery != 'none'",
                [message_id],
                |r| Ok((UserId(r.get(0)?), r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }
}

/// The link-signing key, made on first use.
fn site_secret(conn: &crate::store::db::Connection) -> Result<Vec<u8>, StoreError> {
    let fresh = crate::tokens::random_bytes::<32>();
    conn.execute(
        "INSERT OR IGNORE INTO site_secrets(name, value) VALUES ('links', ?1)",
        [&fresh[..]],
    )?;
    Ok(conn.query_row(
        "SELECT value FROM site_secrets WHERE name = 'links'",
        (),
        |r| r.get(0),
    )?)
}
