//! What digests are made of: the members due one, and the posts of a period with their
//! threads' interests and likes. Chosen per member by `outbound::digest`.

use std::collections::{HashMap, HashSet};

use super::db::params;
use serde::Deserialize;

use super::interests::{InterestId, InterestMode};
use super::members::UserId;
use super::{Author, PostRef, StoreError, ThreadId};

/// Each thread's interests.
pub type ThreadInterests = HashMap<ThreadId, Vec<InterestId>>;

/// A member who may be due a digest.
#[derive(Debug, Clone, Deserialize)]
pub struct DigestMember {
    pub user: UserId,
    pub address: String,
    /// "daily" or "weekly".
    pub digest: String,
    pub hour: u32,
    pub weekday: u32,
    /// Their last digest, or when they joined or started getting digests.
    pub last: Option<i64>,
}

/// A post of the period, with what a digest needs of it.
#[derive(Debug, Clone, Deserialize)]
pub struct DigestPost {
    #[serde(flatten)]
    pub post: PostRef,
    #[serde(flatten)]
    pub author: Author,
    pub date: i64,
    pub preview: String,
    pub likes: u64,
}

/// One member's filters: what they were already mailed, their own addresses, their choices.
#[derive(Debug, Clone, Default)]
pub struct DigestFilter {
    pub mailed: HashSet<String>,
    pub own_addresses: HashSet<String>,
    pub interests: HashMap<InterestId, InterestMode>,
    pub muted_threads: HashSet<ThreadId>,
    /// Private lists the member is not on (by name): nothing of them goes in their digest.
    pub hidden_lists: HashSet<String>,
}

impl super::Store {
    pub fn digest_members(&self) -> Result<Vec<DigestMember>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            // A member never sent one counts from when they joined (that second included):
            // their first digest comes at their chosen hour, not the minute they join.
            "SELECT u.id AS user, e.address, u.digest, u.digest_hour AS hour,
                    u.digest_weekday AS weekday, coalesce(u.last_digest, u.created - 1) AS last
             FROM users u JOIN user_emails e ON e.user_id = u.id
             WHERE e.is_primary = 1 AND e.verified_at IS NOT NULL
               AND u.digest != 'off' AND u.delivery != 'none'
               AND NOT EXISTS (SELECT 1 FROM bounces b WHERE b.address = e.address
                               AND b.paused_at IS NOT NULL)
             ORDER BY u.id",
        )?;
        super::rows_as(&mut stmt, ())
    }

    /// Posts dated in (since, until], with their threads' interests.
    pub fn digest_posts(
        &self,
        since: i64,
        until: i64,
    ) -> Result<(Vec<DigestPost>, ThreadInterests), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.message_id, m.thread_id AS thread, coalesce(t.subject, m.subject) AS subject,
                    l.name AS list, m.from_name AS name, m.from_addr AS address, m.date,
                    coalesce(m.preview, '') AS preview,
                    (SELECT count(*) FROM likes k WHERE k.message_id = m.message_id) AS likes
             FROM messages m JOIN threads t ON t.id = m.thread_id JOIN lists l ON l.id = m.list_id
             WHERE m.date > ?1 AND m.date <= ?2
             ORDER BY m.date",
        )?;
        let posts: Vec<DigestPost> = super::rows_as(&mut stmt, params![since, until])?;
        let mut interests = HashMap::new();
        for p in &posts {
            if let std::collections::hash_map::Entry::Vacant(slot) = interests.entry(p.post.thread)
            {
                slot.insert(
                    self.thread_interest_ids(p.post.thread)?
                        .into_iter()
                        .collect(),
                );
            }
        }
        Ok((posts, interests))
    }

    /// What shapes one member's digest.
    pub fn digest_filter(
        &self,
        user: UserId,
        since: i64,
        private_lists: &[String],
    ) -> Result<DigestFilter, StoreError> {
        let mut filter = DigestFilter {
            hidden_lists: self
                .hidden_lists(Some(user), private_lists)?
                .into_iter()
                .collect(),
            interests: self.interest_prefs(user)?,
            own_addresses: self.user_emails(user)?.into_iter().collect(),
            ..DigestFilter::default()
        };
        let mut mailed = self.conn.prepare_cached(
            "SELECT message_id FROM notifications WHERE user_id = ?1 AND kind = 'post' AND sent_at > ?2",
        )?;
        for id in mailed.query_map(params![user.0, since - 86_400], |r| r.get(0))? {
            filter.mailed.insert(id?);
        }
        let mut muted = self.conn.prepare_cached(
            "SELECT m.thread_id FROM thread_prefs tp JOIN messages m ON m.message_id = tp.message_id
             WHERE tp.user_id = ?1 AND tp.mode = 'mute'",
        )?;
        for t in muted.query_map([user.0], |r| r.get(0))? {
            filter.muted_threads.insert(ThreadId(t?));
        }
        Ok(filter)
    }
}

impl super::Writer<'_> {
    pub fn set_last_digest(&self, user: UserId, at: i64) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached("UPDATE users SET last_digest = ?2 WHERE id = ?1")?
            .execute(params![user.0, at])?;
        Ok(())
    }
}
