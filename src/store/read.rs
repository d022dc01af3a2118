//! What the web reads: thread lists (latest first, per list, per author), one thread's posts
//! with their raw mail for rendering, where a Message-ID lives, and attachments by hash.

use super::MessageId;
use super::db::OptionalExtension;
use serde::Serialize;

use super::export::display_author;
use super::{ListId, StoreError, ThreadId};
use crate::thread::ThreadHeaders;

/// A thread as lists of threads show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadSummary {
    pub thread: i64,
    pub subject: Option<String>,
    pub list: String,
    pub first_date: Option<i64>,
    pub last_date: Option<i64>,
    pub messages: u64,
    /// Distinct author names, earliest first (a few).
    pub participants: Vec<String>,
    pub participant_count: u64,
    /// The opening post's first words.
    pub preview: String,
}

/// A post as lists of posts name it: its id, its thread, the subject and the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PostRef {
    pub message_id: MessageId,
    pub thread: ThreadId,
    pub subject: Option<String>,
    pub list: String,
}

/// Who wrote a message, as its From header gave them: a name, an address, either or both.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
pub struct Author {
    pub name: Option<String>,
    pub address: Option<String>,
}

impl Author {
    /// The name, else the address: how a post's author is named in a list of posts.
    pub fn name_or_address(&self) -> Option<&str> {
        self.name.as_deref().or(self.address.as_deref())
    }
}

/// One post of a thread, with its raw mail for rendering.
#[derive(Debug, Clone)]
pub struct ThreadPost {
    pub key: i64,
    pub headers: ThreadHeaders,
    pub from_name: Option<String>,
    pub from_addr: Option<String>,
    pub subject: Option<String>,
    /// Its raw mail, compressed; None when the thread was read without it
    /// (`Store::thread_post_headers`).
    pub raw: Option<PackedRaw>,
}

impl ThreadPost {
    /// The post's raw mail.
    pub fn raw_bytes(&self) -> Result<Vec<u8>, StoreError> {
        match &self.raw {
            Some(raw) => raw.bytes(),
            None => Err(StoreError::NotRead(self.key)),
        }
    }
}

/// The threading headers of a `messages` row, from the five columns starting at `first`:
/// `message_id, refs, in_reply_to, fallback_parent, date` in that order.
pub(super) fn thread_headers(
    r: &crate::store::db::Row<'_>,
    first: usize,
) -> crate::store::db::Result<ThreadHeaders> {
    Ok(ThreadHeaders {
        message_id: r.get(first)?,
        references: references(r, first + 1)?,
        in_reply_to: r.get(first + 2)?,
        fallback_parent: r.get(first + 3)?,
        date: r.get(first + 4)?,
    })
}

/// The References of a `messages` row, from its `refs` column at `index` (the ids stored
/// space-separated).
pub(super) fn references(
    r: &crate::store::db::Row<'_>,
    index: usize,
) -> crate::store::db::Result<Vec<String>> {
    let refs: String = r.get(index)?;
    Ok(refs.split_whitespace().map(str::to_owned).collect())
}

/// A message's raw mail as stored, compressed: decompressed when asked for, so that a page
/// drawn from messages rendered before does not pay for it.
#[derive(Debug, Clone)]
pub struct PackedRaw {
    id: super::RawId,
    size: usize,
    data: Vec<u8>,
}

impl PackedRaw {
    pub fn bytes(&self) -> Result<Vec<u8>, StoreError> {
        super::decompress(self.id, &self.data, self.size)
    }
}

/// id, subject, list, first date, last date, message count.
type ThreadRow = (i64, Option<String>, String, Option<i64>, Option<i64>, i64);

/// An attachment as stored: in the raw message (decompressed) that first carried it.
#[derive(Debug, Clone)]
pub struct StoredAttachment {
    pub content_type: String,
    /// Over `[attachments] max_size_mb`: listed, not served.
    pub too_large: bool,
    pub raw: Vec<u8>,
    /// The MIME part number inside `raw`.
    pub part: u32,
}

/// A page of results and whether more follow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// Which threads a list shows.
#[derive(Debug, Clone, Copy)]
pub enum ThreadFilter<'a> {
    All,
    List(ListId),
    Author(&'a str),
    Interest(super::InterestId),
}

impl super::Store {
    /// Threads by last activity, newest first.
    pub fn latest_threads(
        &self,
        filter: ThreadFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> Result<Page<ThreadSummary>, StoreError> {
        let (clause, arg): (&str, crate::store::db::Value) = match filter {
            ThreadFilter::All => ("?1 IS NULL", crate::store::db::Value::Null),
            ThreadFilter::List(l) => ("t.list_id = ?1", l.0.into()),
            ThreadFilter::Author(a) => (
                "t.id IN (SELECT thread_id FROM messages WHERE from_addr = ?1 COLLATE NOCASE)",
                a.to_owned().into(),
            ),
            // The rules' tags and hand-set ones, less the hand-removed (as thread_interests).
            ThreadFilter::Interest(i) => (
                "(t.id IN (SELECT m.thread_id FROM message_tags g JOIN messages m ON m.id = g.message
                           WHERE g.interest = ?1)
                  OR t.id IN (SELECT m.thread_id FROM manual_tags g JOIN messages m
                              ON m.message_id = g.message_id WHERE g.interest = ?1 AND g.present = 1))
                 AND t.id NOT IN (SELECT m.thread_id FROM manual_tags g JOIN messages m
                                  ON m.message_id = g.message_id WHERE g.interest = ?1 AND g.present = 0)",
                i.0.into(),
            ),
        };
        let total: i64 = self
            .conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM threads t WHERE {clause} AND t.message_count > 0"
            ))?
            .query_row([&arg], |r| r.get(0))?;
        let sql = format!(
            "SELECT t.id, t.subject, l.name, t.first_date, t.last_date, t.message_count
             FROM threads t JOIN lists l ON l.id = t.list_id
             WHERE {clause} AND t.message_count > 0
             ORDER BY t.last_date IS NULL, t.last_date DESC, t.id DESC
             LIMIT ?2 OFFSET ?3"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows: Vec<ThreadRow> = super::rows_as(
            &mut stmt,
            crate::store::db::params![arg, limit as i64, offset as i64],
        )?;
        let mut items = Vec::with_capacity(rows.len());
        for (thread, subject, list, first_date, last_date, messages) in rows {
            let mut people = self.conn.prepare_cached(
                "SELECT coalesce(from_name, from_addr, '') FROM messages WHERE thread_id = ?1
                 GROUP BY coalesce(from_addr, from_name) ORDER BY min(date), min(id)",
            )?;
            let names: Vec<String> = people
                .query_map([thread], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let preview: String = self
                .conn
                .prepare_cached(
                    "SELECT preview FROM messages WHERE thread_id = ?1 ORDER BY date IS NULL, date, id LIMIT 1",
                )?
                .query_row([thread], |r| r.get(0))
                .optional()?
                .unwrap_or_default();
            items.push(ThreadSummary {
                thread,
                subject,
                list,
                first_date,
                last_date,
                messages: messages as u64,
                participant_count: names.len() as u64,
                participants: names.into_iter().take(4).collect(),
                preview,
            });
        }
        Ok(Page {
            items,
            total: total as u64,
        })
    }

    /// A thread's subject and list, if it exists.
    pub fn thread_info(
        &self,
        thread: ThreadId,
    ) -> Result<Option<(Option<String>, String)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT t.subject, l.name FROM threads t JOIN lists l ON l.id = t.list_id
                  WHERE t.id = ?1 AND t.message_count > 0",
            )?
            .query_row([thread.0], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// What changes whenever the archive changes as readers see it (mail stored, removed,
    /// moved or retagged; hidden, shown, fixed, erased): for caching search pages. A counter
    /// the same transactions raise (migration 0013's triggers), read as one row, never a scan.
    /// The second part counts erasures, after which no message's cached text may be served.
    pub fn archive_version(&self) -> Result<(i64, i64), StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT n, (SELECT coalesce(max(id), 0) FROM erasures)
                 FROM main.archive_version WHERE id = 1",
            )?
            .query_row((), |r| Ok((r.get(0)?, r.get(1)?)))?)
    }

    /// Every post of a thread with its raw mail, in storage order (the threader orders them).
    pub fn thread_posts(&self, thread: ThreadId) -> Result<Vec<ThreadPost>, StoreError> {
        self.read_thread_posts(thread, true)
    }

    /// Every post of a thread without its raw mail (`Store::packed_raw` reads one): a thread
    /// page draws most posts from content it keeps, and reading fifty messages' bytes would
    /// cost more than the rest of the page.
    pub fn thread_post_headers(&self, thread: ThreadId) -> Result<Vec<ThreadPost>, StoreError> {
        self.read_thread_posts(thread, false)
    }

    fn read_thread_posts(
        &self,
        thread: ThreadId,
        with_raw: bool,
    ) -> Result<Vec<ThreadPost>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.id, m.message_id, m.refs, m.in_reply_to, m.fallback_parent, m.date,
                    m.from_name, m.from_addr, m.subject, m.raw_id
             FROM messages m WHERE m.thread_id = ?1 ORDER BY m.id",
        )?;
        // Apart: SQLite reads every column a row returns, a large blob too.
        let mut raw = self
            .conn
            .prepare_cached("SELECT size, data FROM raw_messages WHERE id = ?1")?;
        let mut rows = stmt.query([thread.0])?;
        let mut posts = Vec::new();
        while let Some(r) = rows.next()? {
            let mut post = ThreadPost {
                key: r.get(0)?,
                headers: thread_headers(&r, 1)?,
                from_name: r.get(6)?,
                from_addr: r.get(7)?,
                subject: r.get(8)?,
                raw: None,
            };
            if with_raw {
                let id = super::RawId(r.get(9)?);
                post.raw = Some(raw.query_row([id.0], |r| {
                    Ok(PackedRaw {
                        id,
                        size: r.get::<i64>(0)? as usize,
                        data: r.get(1)?,
                    })
                })?);
            }
            posts.push(post);
        }
        Ok(posts)
    }

    /// A stored message's raw mail, compressed, by its key (`ThreadPost::key`).
    pub fn packed_raw(&self, message: i64) -> Result<PackedRaw, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT r.id, r.size, r.data FROM messages m JOIN raw_messages r ON r.id = m.raw_id
                  WHERE m.id = ?1",
            )?
            .query_row([message], |r| {
                Ok(PackedRaw {
                    id: super::RawId(r.get(0)?),
                    size: r.get::<i64>(1)? as usize,
                    data: r.get(2)?,
                })
            })?)
    }

    /// Which of `ids` (Message-IDs) are also someone's address: a sender's in the archive
    /// (any list) or a member's. Anyone can give a mail such an id, so a page for a reader
    /// who may not see addresses does not write one.
    pub fn ids_known_as_addresses(
        &self,
        ids: &[MessageId],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM main.messages WHERE from_addr = ?1 COLLATE NOCASE)
                 OR EXISTS (SELECT 1 FROM main.user_emails WHERE address = lower(?1))",
        )?;
        let mut known = std::collections::HashSet::new();
        for id in ids {
            if id.contains('@') && stmt.query_row([id.as_str()], |r| r.get::<bool>(0))? {
                known.insert(id.to_lowercase());
            }
        }
        Ok(known)
    }

    /// The thread and message key of a Message-ID (also a derived one).
    pub fn locate(&self, message_id: &str) -> Result<Option<(ThreadId, i64)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT thread_id, id FROM messages WHERE message_id = ?1")?
            .query_row([message_id], |r| Ok((ThreadId(r.get(0)?), r.get(1)?)))
            .optional()?)
    }

    /// An attachment by content hash.
    pub fn attachment(&self, sha256: &str) -> Result<Option<StoredAttachment>, StoreError> {
        let found: Option<(String, bool, i64, u32)> = self
            .conn
            .prepare_cached(
                "SELECT content_type, too_large, raw_id, part FROM attachments WHERE sha256 = ?1",
            )?
            .query_row([sha256], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((content_type, too_large, raw_id, part)) = found else {
            return Ok(None);
        };
        let (size, data): (i64, Vec<u8>) = self.conn.query_row(
            "SELECT size, data FROM raw_messages WHERE id = ?1",
            [raw_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let raw = super::decompress(super::RawId(raw_id), &data, size as usize)?;
        Ok(Some(StoredAttachment {
            content_type,
            too_large,
            raw,
            part,
        }))
    }

    /// A message's raw mail and its list's name.
    pub fn message_raw(&self, message_id: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        raw_with_list(
            &self.conn,
            "FROM messages m JOIN raw_messages r ON r.id = m.raw_id
             JOIN lists l ON l.id = m.list_id WHERE m.message_id = ?1",
            message_id,
        )
    }

    /// An author's display name from their address, if they wrote anything.
    pub fn author_name(&self, address: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT from_name, from_addr FROM messages WHERE from_addr = ?1 COLLATE NOCASE
                 ORDER BY date DESC LIMIT 1",
            )?
            .query_row([address], |r| {
                let name: Option<String> = r.get(0)?;
                let addr: Option<String> = r.get(1)?;
                Ok(display_author(name.as_deref(), addr.as_deref()))
            })
            .optional()?)
    }
}

/// One raw message, decompressed, with its list's name: `from_where` joins `raw_messages r`
/// and `lists l` and selects the row by `?1`.
pub(super) fn raw_with_list(
    conn: &crate::store::db::Connection,
    from_where: &str,
    key: impl crate::store::db::ToValue,
) -> Result<Option<(Vec<u8>, String)>, StoreError> {
    let found: Option<(i64, i64, Vec<u8>, String)> = conn
        .prepare_cached(&format!("SELECT r.id, r.size, r.data, l.name {from_where}"))?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    found
        .map(|(id, size, data, list)| {
            Ok((
                super::decompress(super::RawId(id), &data, size as usize)?,
                list,
            ))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use crate::archive::pipeline::archive_for_tests;
    use crate::store::{DeriveSettings, Store, StoreError, ThreadId};

    #[test]
    fn a_thread_is_read_with_or_without_its_raw_mail() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("a.db"), DeriveSettings::default()).unwrap();
        for (id, parent) in [("a@x", None), ("b@x", Some("a@x"))] {
            let reply = parent
                .map(|p| format!("In-Reply-To: <{p}>\r\n"))
                .unwrap_or_default();
            let mail = format!(
                "From: x@y\r\nMessage-ID: <{id}>\r\n{reply}Subject: s\r\n\r\nbody {id}\r\n"
            );
            archive_for_tests(&mut store, "main", mail.into_bytes(), id);
        }
        let all = store.thread_posts(ThreadId(1)).unwrap();
        assert_eq!(all.len(), 2);
        assert!(
            String::from_utf8(all[1].raw_bytes().unwrap())
                .unwrap()
                .contains("body b@x")
        );

        let headers = store.thread_post_headers(ThreadId(1)).unwrap();
        assert_eq!(headers[0].headers.message_id.as_str(), "a@x");
        assert_eq!(headers[1].headers, all[1].headers);
        assert!(matches!(
            headers[1].raw_bytes(),
            Err(StoreError::NotRead(_))
        ));
        let raw = store.packed_raw(headers[1].key).unwrap();
        assert_eq!(raw.bytes().unwrap(), all[1].raw_bytes().unwrap());
    }
}
