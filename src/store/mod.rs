//! The archive's storage: one database, a SQLite file (WAL) by default or PostgreSQL (see
//! [`Location`] and the connection layer [`db`]), holding the raw store, the derived tables
//! (messages, threads, ids, attachments, the full-text index), the IMAP sources' cursors and
//! states, and the bookkeeping of imports; members and sessions, the outbox and the inbound log,
//! interests, preferences, likes and what digests are made of; events and registrations; posts
//! held for moderators; erasure and purge, with their audit log and tombstones; moderators'
//! threading fixes, members' flags, hidden messages and the moderation log. The read side
//! serves exports, search, the web and the engagement figures. Migrations are embedded and
//! forward-only; a database written by a newer listbridge is refused, not touched. Which
//! tables are primary and which derived (rebuilt by `reindex`) is mapped in [`tables`].

/// A table's row number as a type of its own, so that one table's rows are never taken for
/// another's; read from its column as the bare integer.
macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $crate::store::db::ToValue for $name {
            fn to_value(&self) -> $crate::store::db::Value {
                $crate::store::db::Value::Integer(self.0)
            }
        }

        impl $crate::store::db::FromValue for $name {
            const WANTED: &'static str = stringify!($name);
            fn from_value(value: $crate::store::db::ValueRef<'_>) -> Option<Self> {
                i64::from_value(value).map($name)
            }
        }
    };
}

mod access;
mod archive;
pub(crate) mod db;
mod digest;
mod engagement;
mod erasure;
mod events;
mod export;
mod fixes;
mod held;
mod interests;
pub mod location;
mod members;
mod moderation;
mod outbox;
mod read;
mod search;
mod sources;
pub mod tables;

pub use archive::{Derived, KnownRaw, RawOutcome, StoredRaw, Writer};
pub use digest::{DigestFilter, DigestMember, DigestPost, ThreadInterests};
pub use engagement::{Engagement, InterestActivity, LikedPost, Period, Unanswered};
pub use erasure::{
    Actor, ErasableMessage, ErasureCounts, ErasureEntry, ErasureId, ErasureKind, ErasurePolicy,
    MessageSummary, NewErasure, address_hashes,
};
pub use events::{
    Attendee, Cancelled, DueReminder, Event, EventDetails, EventId, NewEvent, Place, Registered,
    Ticket, TicketId,
};
pub use export::{ThreadExport, ThreadMessageExport};
pub use fixes::{FixId, FixKind, ThreadFix};
pub use held::{Held, HeldId, HeldKind, NewHeld};
pub use interests::{
    Audience, Interest, InterestId, InterestMode, InterestTagger, NewInterest, Preferences,
    RetagChange, RetagReport,
};
pub use location::Location;
pub use members::{
    MemberOverview, MemberPost, Role, RoleChange, SESSION_SECONDS, Session, User, UserId,
};
pub use moderation::{
    FlagEntry, FlagReason, Flagged, FlaggedPost, Hid, HiddenPost, HideWhy, LogEntry,
};
pub use outbox::*;
pub use read::{
    Author, PackedRaw, Page, PostRef, StoredAttachment, ThreadFilter, ThreadPost, ThreadSummary,
};
pub use search::{AuthorMatch, SearchHit, SearchPage, SearchResults};
pub use sources::{Cursor, SourceState, SourceStatus};

use std::path::Path;

use db::{Connection, OptionalExtension};

/// Embedded migrations, applied in order; the schema version is SQLite's `user_version`.
const MIGRATIONS: &[(&str, &str)] = &[
    ("archive core", include_str!("migrations/0001_archive.sql")),
    ("reading mail", include_str!("migrations/0002_reading.sql")),
    ("live sources", include_str!("migrations/0003_sources.sql")),
    (
        "members and posting",
        include_str!("migrations/0004_members.sql"),
    ),
    ("interests", include_str!("migrations/0005_interests.sql")),
    ("events", include_str!("migrations/0006_events.sql")),
    ("held posts", include_str!("migrations/0007_held.sql")),
    (
        "private lists",
        include_str!("migrations/0008_private_lists.sql"),
    ),
    (
        "outbox: posts in doubt",
        include_str!("migrations/0009_outbox_handed.sql"),
    ),
    ("erasure", include_str!("migrations/0010_erasure.sql")),
    (
        "thread fixes, flags and hidden messages",
        include_str!("migrations/0011_thread_fixes.sql"),
    ),
    (
        "what the bridge's mail quotes, likes by mail",
        include_str!("migrations/0012_quotes_and_mail_likes.sql"),
    ),
    (
        "a cheap archive version",
        include_str!("migrations/0013_archive_version.sql"),
    ),
    (
        "the archive version raised once per import transaction",
        include_str!("migrations/0014_archive_version_per_transaction.sql"),
    ),
    (
        "the archive version counts likes and interests",
        include_str!("migrations/0015_archive_version_likes_interests.sql"),
    ),
];

/// PostgreSQL's migrations: the schema version each brings the database to, its name, its SQL.
/// A new PostgreSQL database starts at the schema SQLite's migrations reach at version 15;
/// every later version has a migration for each engine.
const POSTGRES_MIGRATIONS: &[(u32, &str, &[&str])] = &[(
    15,
    "the archive, members, events and moderation (as SQLite at version 15)",
    &[
        include_str!("migrations/postgres/0015_sqlite_functions.sql"),
        include_str!("migrations/postgres/0015_schema.sql"),
    ],
)];

/// The advisory lock under which one node at a time migrates a PostgreSQL database.
const MIGRATION_LOCK: i64 = 0x6c69_7374_6d69_6772;

/// The schema version this binary writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub use crate::mail::ids::MessageId;

// Message ids go to and from the database as text.
impl db::ToValue for MessageId {
    fn to_value(&self) -> db::Value {
        db::Value::Text(self.as_str().to_owned())
    }
}

impl db::FromValue for MessageId {
    const WANTED: &'static str = "a Message-ID";
    fn from_value(value: db::ValueRef<'_>) -> Option<Self> {
        String::from_value(value).map(MessageId::new)
    }
}

row_id!(
    /// A row of `raw_messages`.
    RawId
);
row_id!(
    /// A row of `messages`.
    MessageKey
);
row_id!(
    /// A row of `threads`.
    ThreadId
);
row_id!(
    /// A row of `lists`.
    ListId
);
row_id!(
    /// A row of `import_runs`: one import, fetch or reindex.
    RunId
);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {at}: {source}")]
    Open { at: Location, source: db::Error },
    #[error(
        "the database {at} has schema version {found}, newer than this listbridge knows ({known}): \
         upgrade listbridge, or point --db at another database"
    )]
    TooNew {
        at: Location,
        found: u32,
        known: u32,
    },
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: u32,
        name: &'static str,
        source: db::Error,
    },
    #[error("database error: {0}")]
    Sql(db::Error),
    #[error("the stored message {0:?} cannot be decompressed: {1}")]
    Corrupt(RawId, std::io::Error),
    #[error("writing the output failed: {0}")]
    Output(#[from] std::io::Error),
    #[error("no list named {0:?} in the archive")]
    NoSuchList(String),
    #[error("the raw mail of message {0} was not read with it")]
    NotRead(i64),
}

// Not `#[from]`: the database's error is this one's message, not a cause to repeat after it.
impl From<db::Error> for StoreError {
    fn from(e: db::Error) -> StoreError {
        StoreError::Sql(e)
    }
}

/// Hands memory the process has freed back to the system: glibc keeps freed memory in its
/// arenas, and an idle daemon should not hold its peak.
pub fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Every row of a query as `T`, each column matched to the field of its name
/// (`SELECT u.id AS user, …`). A read model is described once, by its derive, instead of
/// field by field at each query; a column added or moved cannot shift the others.
pub(crate) fn rows_as<T: serde::de::DeserializeOwned>(
    stmt: &mut db::Statement<'_>,
    params: impl db::Params,
) -> Result<Vec<T>, StoreError> {
    Ok(stmt.query_as(params)?)
}

/// The one row of a query as `T`, like [`rows_as`]; `None` when there is none.
pub(crate) fn row_as<T: serde::de::DeserializeOwned>(
    stmt: &mut db::Statement<'_>,
    params: impl db::Params,
) -> Result<Option<T>, StoreError> {
    Ok(stmt.query_row(params, |row| row.to_model()).optional()?)
}

/// A 0/1 column as a flag where serde sees it only as a number: inside a
/// `#[serde(flatten)]` struct the row's value arrives buffered, and serde reads no integer as
/// a bool by itself.
pub(crate) fn int_flag<'de, D: serde::Deserializer<'de>>(value: D) -> Result<bool, D::Error> {
    Ok(<i64 as serde::Deserialize>::deserialize(value)? != 0)
}

/// What `open` did to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    pub from: u32,
    pub to: u32,
}

/// Settings of what the store derives from raw mail (threads, attachments).
#[derive(Debug, Clone, Copy)]
pub struct DeriveSettings {
    /// Group "Re:" replies that carry no usable reference with the latest earlier message of
    /// the same normalised subject.
    pub subject_fallback: bool,
    /// How far back (seconds) the subject fallback looks.
    pub subject_window_secs: i64,
    /// Attachments larger than this are listed but not served.
    pub max_attachment_bytes: u64,
}

impl Default for DeriveSettings {
    fn default() -> Self {
        DeriveSettings {
            subject_fallback: true,
            subject_window_secs: 30 * 86_400,
            max_attachment_bytes: 25 << 20,
        }
    }
}

/// Prepared statements kept per connection (see `Store::open`).
const STATEMENT_CACHE: usize = 128;

pub struct Store {
    conn: Connection,
    location: Location,
    threading: DeriveSettings,
    migration: MigrationReport,
    /// On a confined connection, whom `temp.viewer` names (`set_viewer`), once known: a
    /// member's requests in a row then write nothing before their reads.
    viewer: std::cell::Cell<Option<Option<UserId>>>,
}

impl Store {
    /// Opens (creating if needed) the database at `at` (a SQLite file, or a PostgreSQL
    /// database) and brings its schema up to date.
    pub fn open(at: impl Into<Location>, threading: DeriveSettings) -> Result<Store, StoreError> {
        let location = at.into();
        let open_error = |source| StoreError::Open {
            at: location.clone(),
            source,
        };
        let (conn, migration) = match &location {
            Location::Sqlite(path) => {
                let conn = Self::open_sqlite(path).map_err(open_error)?;
                let migration = migrate(&conn, &location)?;
                (conn, migration)
            }
            Location::Postgres(url) => {
                let conn = Connection::open_postgres(url).map_err(open_error)?;
                let migration = migrate_postgres(&conn, &location)?;
                (conn, migration)
            }
        };
        Ok(Store {
            conn,
            location,
            threading,
            migration,
            viewer: std::cell::Cell::new(None),
        })
    }

    /// A SQLite connection set up as every store's is.
    fn open_sqlite(path: &Path) -> Result<Connection, db::Error> {
        let conn = Connection::open_sqlite(path)?;
        // rusqlite keeps 16 prepared statements per connection by default; a thread page alone
        // asks about twenty questions, and each one evicted would be compiled again per request.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // secure_delete is on for every connection, not only while erasing: a row rewritten or
        // deleted earlier (a flag's note, a held post's text, a page split) leaves its old bytes
        // in free space, which a later erasure's own deletes never reach; zeroing them as they
        // are freed is what keeps an erased or decided post's words out of the file.
        // WAL lets readers (the web) work during an import; NORMAL is durable at each commit's
        // checkpoint and safe against corruption, which is what a crash-resumable import needs.
        // Switching a new database to WAL takes a lock SQLite does not wait for: when several
        // processes open it at once, the losers are told "busy" at once and try again.
        let mut tries = 0;
        loop {
            let done = conn.execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA cache_size = -32768;
                 PRAGMA temp_store = MEMORY;
                 PRAGMA secure_delete = ON;",
            );
            match done {
                Err(e) if e.is_busy() && tries < 200 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other,
            }
        }?;
        Ok(conn)
    }

    /// Where the archive is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// What opening did to the schema (for `listbridge migrate`).
    pub fn migration(&self) -> MigrationReport {
        self.migration
    }

    /// The list of that name, created on first use.
    pub fn list_id(&mut self, name: &str) -> Result<ListId, StoreError> {
        self.conn
            .execute("INSERT OR IGNORE INTO lists(name) VALUES (?1)", [name])?;
        let id = self
            .conn
            .query_row("SELECT id FROM lists WHERE name = ?1", [name], |r| r.get(0))?;
        Ok(ListId(id))
    }

    /// The list of that name, if the archive has it.
    pub fn find_list(&self, name: &str) -> Result<ListId, StoreError> {
        self.conn
            .query_row("SELECT id FROM lists WHERE name = ?1", [name], |r| r.get(0))
            .optional()?
            .map(ListId)
            .ok_or_else(|| StoreError::NoSuchList(name.to_owned()))
    }

    /// Every list in the archive.
    pub fn lists(&self) -> Result<Vec<(ListId, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name FROM lists ORDER BY id")?;
        let lists = stmt
            .query_map((), |r| Ok((ListId(r.get(0)?), r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(lists)
    }

    /// Records the start of an import, fetch or reindex.
    pub fn begin_run(&mut self, what: &str, now_unix: i64) -> Result<RunId, StoreError> {
        self.conn.execute(
            "INSERT INTO import_runs(started_at, what) VALUES (?1, ?2)",
            crate::store::db::params![now_unix, what],
        )?;
        Ok(RunId(self.conn.last_insert_rowid()))
    }

    /// A write transaction for storing and deriving messages.
    pub fn writer(&mut self, run: RunId) -> Result<Writer<'_>, StoreError> {
        // IMMEDIATE: a writer takes the write lock at once (waiting its turn), so what it reads
        // before writing (places left in an event, a reply key) cannot change under it, and it
        // never fails half-way on a lock it could not upgrade.
        let tx = self.conn.write_transaction()?;
        Ok(Writer::new(tx, run, self.threading))
    }

    /// `work` in the write transaction of a new run named `what`, committed when it succeeds
    /// (dropped, so rolled back, when it fails).
    pub fn in_run<T, E: From<StoreError>>(
        &mut self,
        what: &str,
        now_unix: i64,
        work: impl FnOnce(&Writer<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let run = self.begin_run(what, now_unix)?;
        let writer = self.writer(run)?;
        let done = work(&writer)?;
        writer.commit()?;
        Ok(done)
    }

    /// Counts of what the archive holds.
    pub fn counts(&self) -> Result<ArchiveCounts, StoreError> {
        let count = |sql: &str| -> Result<u64, StoreError> {
            Ok(self.conn.query_row(sql, (), |r| r.get::<i64>(0))? as u64)
        };
        Ok(ArchiveCounts {
            raw: count("SELECT count(*) FROM raw_messages")?,
            messages: count("SELECT count(*) FROM messages")?,
            copies: count("SELECT count(*) FROM message_copies")?,
            unparseable: count("SELECT count(*) FROM unparseable")?,
            // A thread a moderator's fix emptied keeps its row (to redirect), uncounted.
            threads: count("SELECT count(*) FROM threads WHERE message_count > 0")?,
            ghosts: count("SELECT count(*) FROM thread_ids WHERE message IS NULL")?,
        })
    }

    /// Gives back the memory SQLite holds for this connection's cache (after a large sync).
    pub fn release_memory(&self) {
        self.shrink_cache();
        give_back_freed_memory();
    }

    /// Frees this connection's page cache (the allocator may keep the memory: see
    /// `give_back_freed_memory`).
    pub fn shrink_cache(&self) {
        if !self.conn.is_postgres() {
            let _ = self.conn.execute_batch("PRAGMA shrink_memory;");
        }
    }

    /// Caps this connection's page cache (a long-running source needs little).
    pub fn set_cache_kib(&self, kib: u32) {
        if !self.conn.is_postgres() {
            let _ = self
                .conn
                .execute_batch(&format!("PRAGMA cache_size = -{kib};"));
        }
    }

    /// Copies the write-ahead log into the database file and empties it, so that what a
    /// transaction overwrote is not left in the log's older frames.
    /// Readers in the middle of a read hold the log's frames: it tries for a few seconds (the
    /// busy timeout each time), and says so in the log when they still held it.
    /// (PostgreSQL keeps no such log of old rows: nothing to do.)
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        if self.conn.is_postgres() {
            return Ok(());
        }
        for _ in 0..3 {
            let busy: i64 = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", (), |r| r.get(0))?;
            if busy == 0 {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        tracing::warn!(
            "the write-ahead log could not be emptied (readers held it): it is emptied at the next checkpoint"
        );
        Ok(())
    }

    /// Reclaims space and refreshes the planner's statistics after a large change.
    pub fn optimize(&self) -> Result<(), StoreError> {
        if self.conn.is_postgres() {
            self.conn.execute_batch("ANALYZE")?;
            return Ok(());
        }
        self.conn.execute_batch(
            "INSERT INTO search(search) VALUES ('optimize');
                 PRAGMA optimize;
                 PRAGMA wal_checkpoint(TRUNCATE);",
        )?;
        Ok(())
    }
}

/// Brings a PostgreSQL database's schema up to date, in one transaction, one node at a time.
fn migrate_postgres(conn: &Connection, at: &Location) -> Result<MigrationReport, StoreError> {
    let migrate = || -> Result<Result<MigrationReport, StoreError>, StoreError> {
        conn.execute_batch("BEGIN")?;
        conn.query_row("SELECT pg_advisory_xact_lock(?1)", [MIGRATION_LOCK], |_| {
            Ok(())
        })?;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
        let found: u32 = conn.query_row(
            "SELECT coalesce(max(version), 0) FROM schema_version",
            (),
            |r| r.get(0),
        )?;
        if found > SCHEMA_VERSION {
            return Ok(Err(StoreError::TooNew {
                at: at.clone(),
                found,
                known: SCHEMA_VERSION,
            }));
        }
        for &(version, name, files) in POSTGRES_MIGRATIONS.iter().filter(|m| m.0 > found) {
            files
                .iter()
                .try_for_each(|sql| conn.execute_batch(sql))
                .and_then(|()| conn.execute_batch("DELETE FROM schema_version"))
                .and_then(|()| {
                    conn.execute(
                        "INSERT INTO schema_version (version) VALUES (?1)",
                        [version],
                    )
                    .map(drop)
                })
                .map_err(|source| StoreError::Migration {
                    version,
                    name,
                    source,
                })?;
        }
        conn.execute_batch("COMMIT")?;
        Ok(Ok(MigrationReport {
            from: found,
            to: SCHEMA_VERSION,
        }))
    };
    let done = migrate().and_then(|report| report);
    if done.is_err() {
        // Nothing of a failed migration stays (PostgreSQL's DDL is transactional).
        let _ = conn.execute_batch("ROLLBACK");
    }
    done
}

/// Totals over the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveCounts {
    /// Stored raw messages (every distinct byte sequence).
    pub raw: u64,
    /// Distinct messages shown.
    pub messages: u64,
    /// Further copies of a message (re-deliveries), kept raw, not shown twice.
    pub copies: u64,
    /// Raw messages nothing could be parsed from.
    pub unparseable: u64,
    pub threads: u64,
    /// Ids referenced by some message but not (yet) in the archive.
    pub ghosts: u64,
}

fn migrate(conn: &Connection, at: &Location) -> Result<MigrationReport, StoreError> {
    let found: u32 = conn.query_row("PRAGMA user_version", (), |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            at: at.clone(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as u32 + 1;
        let apply = || -> crate::store::db::Result<()> {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            // Another process may have applied it while we waited for the lock.
            let now: u32 = conn.query_row("PRAGMA user_version", (), |r| r.get(0))?;
            if now >= version {
                return conn.execute_batch("COMMIT");
            }
            conn.execute_batch(sql)?;
            conn.execute_batch(&format!("PRAGMA user_version = {version}; COMMIT"))
        };
        if let Err(source) = apply() {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(StoreError::Migration {
                version,
                name,
                source,
            });
        }
    }
    Ok(MigrationReport {
        from: found,
        to: SCHEMA_VERSION,
    })
}

/// Raises the archive version (what caches of pages and searches are keyed by), inside the
/// transaction that changed the archive, so no reader sees the change under the old version.
pub(crate) fn raise_archive_version(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE archive_version SET n = n + 1 WHERE id = 1")?
        .execute(())?;
    Ok(())
}

/// Compression of the raw store: zstd keeps every byte and shrinks mail about three to four
/// times. Level 3 costs a fifth less time than 6 for 1% more space; one context per thread is
/// reused, since setting one up per message was a measurable share of an import.
pub(crate) fn compress(bytes: &[u8]) -> Vec<u8> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = slot.get_or_insert_with(|| {
            zstd::bulk::Compressor::new(3).expect("a zstd context can be created")
        });
        compressor
            .compress(bytes)
            .expect("zstd compression into memory cannot fail")
    })
}

pub(crate) fn decompress(raw: RawId, data: &[u8], size: usize) -> Result<Vec<u8>, StoreError> {
    thread_local! {
        // A decompression context is costly to make (about as much as decompressing a
        // message): each thread keeps one for the messages it reads.
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DECOMPRESSOR
        .with(|cell| {
            let mut slot = cell.borrow_mut();
            let decompressor = match slot.as_mut() {
                Some(d) => d,
                None => slot.insert(zstd::bulk::Decompressor::new()?),
            };
            decompressor.decompress(data, size)
        })
        .map_err(|e| StoreError::Corrupt(raw, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every schema version SQLite reaches, PostgreSQL reaches too: a new SQLite migration
    /// needs its PostgreSQL twin, or a PostgreSQL database would say it is up to date without
    /// the change.
    #[test]
    fn postgres_migrations_reach_the_same_version() {
        let last = POSTGRES_MIGRATIONS.last().map(|m| m.0);
        assert_eq!(last, Some(SCHEMA_VERSION));
        let versions: Vec<u32> = POSTGRES_MIGRATIONS.iter().map(|m| m.0).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        drop(Store::open(&path, DeriveSettings::default()).unwrap());
        let conn = Connection::open_sqlite(&path).unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
            .unwrap();
        drop(conn);
        let err = Store::open(&path, DeriveSettings::default())
            .err()
            .expect("a newer schema must be refused");
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
        assert!(err.to_string().contains("upgrade listbridge"));
    }

    #[test]
    fn concurrent_openers_migrate_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    Store::open(&path, DeriveSettings::default()).map(|_| ())
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().expect("every concurrent opener succeeds");
        }
    }

    #[test]
    fn migrates_once_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let first = Store::open(&path, DeriveSettings::default()).unwrap();
        assert_eq!(
            first.migration(),
            MigrationReport {
                from: 0,
                to: SCHEMA_VERSION
            }
        );
        drop(first);
        let again = Store::open(&path, DeriveSettings::default()).unwrap();
        assert_eq!(again.migration().from, SCHEMA_VERSION);
    }

    /// PostgreSQL's schema is where SQLite's migrations lead: the same tables and columns, the
    /// same named indexes and triggers; its full-text table keeps the words, not the text.
    #[cfg(feature = "rig")]
    #[test]
    fn postgres_schema_matches_the_sqlite_migrations() {
        use db::params;
        use std::collections::{BTreeMap, BTreeSet};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        drop(Store::open(&path, DeriveSettings::default()).unwrap());
        let lite = Connection::open_sqlite(&path).unwrap();
        let url = std::env::var("LISTBRIDGE_PG").expect("LISTBRIDGE_PG is set (scripts/pgrig)");
        let pg = Connection::open_postgres(&url).unwrap();
        let schema = format!("schema_test_{}", std::process::id());
        pg.execute_batch(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path = {schema}"
        ))
        .unwrap();
        pg.execute_batch(include_str!("migrations/postgres/0015_schema.sql"))
            .unwrap();
        let pairs = |conn: &Connection, sql: &str| -> Vec<(String, String)> {
            conn.prepare(sql).unwrap().query_as(()).unwrap()
        };
        let names = |conn: &Connection, sql: &str| -> BTreeSet<String> {
            let rows: Vec<(String,)> = conn.prepare(sql).unwrap().query_as(()).unwrap();
            rows.into_iter().map(|(name,)| name).collect()
        };
        let tables = |rows: Vec<(String, String)>| {
            let mut tables = BTreeMap::<String, Vec<String>>::new();
            for (table, column) in rows {
                tables.entry(table).or_default().push(column);
            }
            tables
        };
        // FTS5's own shadow tables and hidden columns are SQLite's business.
        let mut expected = tables(pairs(
            &lite,
            "SELECT m.name, c.name FROM sqlite_master m, pragma_table_xinfo(m.name) c
             WHERE m.type = 'table' AND m.name NOT GLOB 'sqlite_*' AND m.name NOT GLOB 'search_*'
               AND c.hidden = 0 ORDER BY m.name, c.cid",
        ));
        let search = expected.get_mut("search").unwrap();
        search.insert(0, "rowid".to_owned());
        search.push("document".to_owned());
        let found = tables(pairs(
            &pg,
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
        ));
        assert_eq!(found, expected);
        for kind in ["index", "trigger"] {
            let sqlite_names = names(
                &lite,
                &format!(
                    "SELECT name FROM sqlite_master WHERE type = '{kind}' AND sql IS NOT NULL"
                ),
            );
            let pg_names = names(
                &pg,
                "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema()
                 UNION SELECT tgname::text FROM pg_trigger JOIN pg_class ON pg_class.oid = tgrelid
                 WHERE relnamespace = current_schema()::regnamespace AND NOT tgisinternal",
            );
            let missing: Vec<_> = sqlite_names.difference(&pg_names).collect();
            assert!(
                missing.is_empty(),
                "{kind} missing on PostgreSQL: {missing:?}"
            );
        }
        pg.execute(
            "INSERT INTO search(rowid, subject, author, body) VALUES (?1, ?2, ?3, ?4)",
            params![7_i64, "Zebrafinch", "Ann", "Running the clinics"],
        )
        .unwrap();
        let (text, words): (i64, i64) = pg
            .query_row(
                "SELECT count(subject) + count(author) + count(body),
                        count(*) FILTER (WHERE document @@ to_tsquery('listbridge', 'clinic & ann'))
                 FROM search WHERE rowid = ?1",
                [7_i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((text, words), (0, 1));
        pg.execute_batch(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
    }
}
