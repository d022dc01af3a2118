//! Reading the archive back out: raw messages for a lossless mbox export, and threads arranged
//! by the pure threader (moderators' fixes applied) for `export threads --json`.

use super::MessageId;
use super::db::params;
use serde::Serialize;

use super::{ListId, StoreError, StoredRaw, ThreadId};
use crate::thread::{ThreadHeaders, ThreadMessage, arrange_fixed};

/// One thread as `listbridge export threads --json` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadExport {
    pub thread: i64,
    pub subject: Option<String>,
    pub messages: Vec<ThreadMessageExport>,
}

/// One real message of a thread, in thread order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadMessageExport {
    pub message_id: MessageId,
    /// The nearest real ancestor, or null.
    pub parent: Option<MessageId>,
    /// The number of real ancestors.
    pub depth: u32,
    /// RFC 3339, UTC.
    pub date: Option<String>,
    pub from: String,
}

/// A message row with what the threader needs.
struct Row {
    headers: ThreadHeaders,
    from: String,
}

impl super::Store {
    /// Streams the stored raw messages in storage order, limited to a list and/or a thread
    /// (a thread's messages with their further copies).
    pub fn for_each_raw(
        &self,
        list: Option<ListId>,
        thread: Option<ThreadId>,
        mut each: impl FnMut(StoredRaw) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, sha256, list_id, envelope, size, data FROM raw_messages r
             WHERE (list_id = ?1 OR ?1 IS NULL)
               AND (id IN (
                     SELECT raw_id FROM messages WHERE thread_id = ?2
                     UNION
                     SELECT c.raw_id FROM message_copies c JOIN messages m ON m.id = c.message
                     WHERE m.thread_id = ?2) OR ?2 IS NULL)
             ORDER BY id",
        )?;
        let mut rows = stmt.query(params![list.map(|l| l.0), thread.map(|t| t.0)])?;
        while let Some(row) = rows.next()? {
            each(StoredRaw::from_row(&row)?)?;
        }
        Ok(())
    }

    /// Every stored raw message as text (bytes that are not UTF-8 replaced), each followed by
    /// a line end, in storage order: what tells whether words are gone from the raw store.
    pub fn raw_text(&self) -> Result<String, StoreError> {
        let mut all = String::new();
        self.for_each_raw(None, None, |raw| {
            all.push_str(&String::from_utf8_lossy(&raw.bytes));
            all.push('\n');
            Ok(())
        })?;
        Ok(all)
    }

    /// Calls `each` with every raw message sent from one of `addresses` (a member's own mail,
    /// for their copy of what is held about them), oldest first.
    pub fn for_each_raw_from(
        &self,
        addresses: &[String],
        mut each: impl FnMut(StoredRaw) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, sha256, list_id, envelope, size, data FROM raw_messages r
              WHERE id IN (SELECT raw_id FROM messages WHERE from_addr = ?1 COLLATE NOCASE
                           UNION
                           SELECT c.raw_id FROM message_copies c JOIN messages m ON m.id = c.message
                            WHERE m.from_addr = ?1 COLLATE NOCASE)
              ORDER BY id",
        )?;
        for address in addresses {
            let mut rows = stmt.query([address])?;
            while let Some(row) = rows.next()? {
                each(StoredRaw::from_row(&row)?)?;
            }
        }
        Ok(())
    }

    /// Whether a thread with this id exists.
    pub fn thread_exists(&self, thread: ThreadId) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM threads WHERE id = ?1",
            [thread.0],
            |r| r.get::<i64>(0),
        )? > 0)
    }

    /// Calls `each` with every thread (optionally of one list), oldest first, arranged.
    pub fn for_each_thread(
        &self,
        list: Option<ListId>,
        mut each: impl FnMut(ThreadExport) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut threads = self.conn.prepare(
            "SELECT id, subject FROM threads WHERE (list_id = ?1 OR ?1 IS NULL) AND message_count > 0
             ORDER BY first_date IS NULL, first_date, id",
        )?;
        let mut rows = threads.query([list.map(|l| l.0)])?;
        while let Some(row) = rows.next()? {
            let thread = ThreadId(row.get(0)?);
            let subject: Option<String> = row.get(1)?;
            each(self.arranged_thread(thread, subject)?)?;
        }
        Ok(())
    }

    /// One thread's messages in thread order, with parents and depths.
    pub fn arranged_thread(
        &self,
        thread: ThreadId,
        subject: Option<String>,
    ) -> Result<ThreadExport, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT message_id, refs, in_reply_to, fallback_parent, date, from_name, from_addr
             FROM messages WHERE thread_id = ?1 ORDER BY id",
        )?;
        let rows: Vec<Row> = stmt
            .query_map([thread.0], |r| {
                let name: Option<String> = r.get(5)?;
                let addr: Option<String> = r.get(6)?;
                Ok(Row {
                    headers: super::read::thread_headers(r, 0)?,
                    from: display_author(name.as_deref(), addr.as_deref()),
                })
            })?
            .collect::<Result<_, _>>()?;
        let inputs: Vec<ThreadMessage<'_>> =
            rows.iter().map(|m| m.headers.thread_message()).collect();
        let fixes = self.thread_fixes_in(thread)?;
        let fixes: Vec<_> = fixes.iter().map(super::ThreadFix::as_fix).collect();
        let messages = arrange_fixed(&inputs, &fixes)
            .into_iter()
            .map(|p| {
                let m = &rows[p.index];
                ThreadMessageExport {
                    message_id: m.headers.message_id.clone(),
                    parent: p.parent.map(|i| rows[i].headers.message_id.clone()),
                    depth: p.depth,
                    date: m.headers.date.and_then(rfc3339),
                    from: m.from.clone(),
                }
            })
            .collect();
        Ok(ThreadExport {
            thread: thread.0,
            subject,
            messages,
        })
    }
}

/// `Name <addr>`, or whichever of the two the mail gave.
pub fn display_author(name: Option<&str>, addr: Option<&str>) -> String {
    match (name, addr) {
        (Some(n), Some(a)) => format!("{n} <{a}>"),
        (Some(n), None) => n.to_owned(),
        (None, Some(a)) => a.to_owned(),
        (None, None) => String::new(),
    }
}

/// Unix seconds as RFC 3339 in UTC.
pub fn rfc3339(secs: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
