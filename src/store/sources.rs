//! Bookkeeping of the live IMAP sources: the cursor (mailbox, UIDVALIDITY, last UID) that
//! advances with the messages it covers, and each source's state for `listbridge status`.

use super::db::{OptionalExtension, params};
use serde::Serialize;

use super::{StoreError, Writer};

/// How far a source has read its mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub mailbox: String,
    pub uidvalidity: u32,
    pub last_uid: u32,
}

/// What a source is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceState {
    Connecting,
    Syncing,
    Idle,
    Polling,
    Failing,
}

impl SourceState {
    fn as_str(self) -> &'static str {
        match self {
            SourceState::Connecting => "connecting",
            SourceState::Syncing => "syncing",
            SourceState::Idle => "idle",
            SourceState::Polling => "polling",
            SourceState::Failing => "failing",
        }
    }
}

/// One source as `listbridge status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SourceStatus {
    pub source: String,
    pub state: String,
    pub since: i64,
    pub last_sync: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    /// The last error needs an admin (wrong password, missing mailbox).
    pub permanent: bool,
    /// Messages this source stored since midnight UTC.
    pub messages_today: u64,
    /// Median seconds from a message's Date to its arrival in the store, over the last 100
    /// (worked out after the row is read).
    pub lag_seconds: Option<i64>,
    pub last_uid: Option<u32>,
}

impl Writer<'_> {
    /// Advances a source's cursor, in the transaction that stores the messages it covers.
    pub fn set_cursor(&self, source: &str, cursor: &Cursor) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached(
                "INSERT INTO imap_cursors(source, mailbox, uidvalidity, last_uid) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(source) DO UPDATE SET mailbox = excluded.mailbox,
                     uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid",
            )?
            .execute(params![source, cursor.mailbox, cursor.uidvalidity, cursor.last_uid])?;
        Ok(())
    }
}

impl super::Store {
    pub fn cursor(&self, source: &str) -> Result<Option<Cursor>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT mailbox, uidvalidity, last_uid FROM imap_cursors WHERE source = ?1",
                [source],
                |r| {
                    Ok(Cursor {
                        mailbox: r.get(0)?,
                        uidvalidity: r.get(1)?,
                        last_uid: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records a source's state; `error` (with whether it is permanent) when it failed.
    pub fn set_source_state(
        &self,
        source: &str,
        state: SourceState,
        now: i64,
        error: Option<(&str, bool)>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO source_status(source, state, since, last_error, last_error_at, permanent)
             VALUES (?1, ?2, ?3, ?4, CASE WHEN ?4 IS NULL THEN NULL ELSE ?3 END, ?5)
             ON CONFLICT(source) DO UPDATE SET
                 since = CASE WHEN state = excluded.state THEN since ELSE excluded.since END,
                 state = excluded.state,
                 last_error = coalesce(excluded.last_error, last_error),
                 last_error_at = coalesce(excluded.last_error_at, last_error_at),
                 permanent = CASE WHEN excluded.last_error IS NULL THEN permanent ELSE excluded.permanent END",
            params![source, state.as_str(), now, error.map(|e| e.0), error.is_some_and(|e| e.1)],
        )?;
        Ok(())
    }

    /// Marks a completed read of the whole mailbox; a success clears the error flag.
    pub fn set_source_synced(&self, source: &str, now: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE source_status SET last_sync = ?2, permanent = 0 WHERE source = ?1",
            params![source, now],
        )?;
        Ok(())
    }

    /// Every source's status, by name.
    pub fn source_statuses(&self, now: i64) -> Result<Vec<SourceStatus>, StoreError> {
        let midnight = now - now.rem_euclid(86_400);
        let mut stmt = self.conn.prepare(
            "SELECT s.source, s.state, s.since, s.last_sync, s.last_error, s.last_error_at, s.permanent,
                    (SELECT count(*) FROM raw_messages r
                      WHERE r.origin LIKE 'imap:' || s.source || ':%' AND r.stored_at >= ?1)
                      AS messages_today,
                    c.last_uid
             FROM source_status s LEFT JOIN imap_cursors c ON c.source = s.source
             ORDER BY s.source",
        )?;
        let mut statuses: Vec<SourceStatus> = super::rows_as(&mut stmt, [midnight])?;
        for status in &mut statuses {
            let mut lags: Vec<i64> = self
                .conn
                .prepare_cached(
                    "SELECT r.stored_at - m.date FROM raw_messages r JOIN messages m ON m.raw_id = r.id
                     WHERE r.origin LIKE 'imap:' || ?1 || ':%' AND m.date IS NOT NULL
                     ORDER BY r.id DESC LIMIT 100",
                )?
                .query_map([&status.source], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            lags.sort_unstable();
            status.lag_seconds = lags.get(lags.len() / 2).copied();
        }
        Ok(statuses)
    }
}
