//! The table map: which tables of the database hold primary data and which are derived.
//!
//! **Primary** tables hold what nothing else can give back: the raw store (`raw_messages`, the
//! bytes of every message exactly as received, and `lists`, the names its rows belong to), the
//! bookkeeping of imports and fetches (`import_runs`, the IMAP sources' cursors and status),
//! members and their accounts, sessions, addresses, preferences, likes and what they were
//! mailed; the outbox and the posts written through the bridge; the inbound log; interests and
//! moderators' hand-set tags; events and registrations; posts held for moderators; erasures and
//! their tombstones; moderators' threading fixes, members' flags, hidden messages and the
//! moderation log; and the installation's secrets. A backup must keep every one of them.
//! Rows that must outlive a reindex name a message by its Message-ID, never by a derived row's
//! number.
//!
//! **Derived** tables are what ingesting makes of the raw store: messages and their copies,
//! threads and the Message-IDs that join them, attachments, the interests each message's text
//! matches, the thread numbers given to split or moved parts, the mail nothing could be made
//! of, and the full-text index (with the shadow tables SQLite keeps for it). `listbridge
//! reindex` empties exactly these ([`super::Store::clear_derived`]) and rebuilds them from
//! `raw_messages`, applying the primary decisions (erasures, hidden messages, threading fixes)
//! on the way. They can be dropped from a copy of the database and made again.
//!
//! A new table goes in one list or the other: the test below reads the schema of a freshly
//! migrated database and fails on a table in neither or in both, and `tests/table_map.rs`
//! checks that clearing for a reindex empties every derived table and no primary one.

/// Tables that cannot be rebuilt: the raw store, accounts, decisions and logs.
pub const PRIMARY: &[&str] = &[
    // The raw store.
    "lists",
    "raw_messages",
    // Imports and live sources.
    "import_runs",
    "imap_cursors",
    "source_status",
    // Members.
    "users",
    "user_emails",
    "sessions",
    "sign_in_links",
    "list_members",
    "interest_prefs",
    "thread_prefs",
    "likes",
    "notifications",
    // Posting and delivery.
    "posts",
    "reply_keys",
    "outbox",
    "outbox_recipients",
    "outbox_quotes",
    "inbound_log",
    "explanations",
    "bounces",
    // Interests.
    "interests",
    "manual_tags",
    // Events.
    "events",
    "event_tickets",
    "event_interests",
    "registrations",
    // Moderation.
    "held_posts",
    "thread_fixes",
    "flags",
    "hidden_messages",
    "mail_likes",
    "moderation_log",
    // Erasure.
    "erasures",
    "erased_raw",
    "erased_ids",
    // The installation.
    "site_secrets",
    // The archive's version, for caches: it only grows, a reindex included.
    "archive_version",
];

/// Tables `listbridge reindex` empties and rebuilds from the raw store. A full-text (virtual)
/// table's shadow tables go with it.
pub const DERIVED: &[&str] = &[
    "messages",
    "message_copies",
    "unparseable",
    "threads",
    "thread_ids",
    "thread_fix_threads",
    "attachments",
    "message_attachments",
    "message_tags",
    "search",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeriveSettings, Store};

    /// Every table of a freshly migrated database, without SQLite's own and without the
    /// shadow tables of virtual tables (FTS5 keeps `NAME_data`, `NAME_idx`, ...): those are
    /// derived with their virtual table.
    fn live_tables(store: &Store) -> Vec<String> {
        let mut stmt = store
            .conn
            .prepare(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table'
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .unwrap();
        let tables: Vec<(String, String)> = stmt
            .query_map((), |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let virtual_tables: Vec<&str> = tables
            .iter()
            .filter(|(_, sql)| sql.to_uppercase().starts_with("CREATE VIRTUAL TABLE"))
            .map(|(name, _)| name.as_str())
            .collect();
        let shadow = |name: &str| {
            virtual_tables.iter().any(|v| {
                name.strip_prefix(v).is_some_and(|rest| {
                    ["_data", "_idx", "_content", "_docsize", "_config"].contains(&rest)
                })
            })
        };
        tables
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|name| !shadow(name))
            .collect()
    }

    #[test]
    fn every_table_is_primary_or_derived() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("t.db"), DeriveSettings::default()).unwrap();
        let live = live_tables(&store);
        assert!(
            live.len() >= 40 && live.iter().any(|t| t == "raw_messages"),
            "the schema was not read: {live:?}"
        );
        let mut wrong = Vec::new();
        for table in &live {
            let primary = PRIMARY.contains(&table.as_str());
            let derived = DERIVED.contains(&table.as_str());
            if primary && derived {
                wrong.push(format!("{table} is listed as both primary and derived"));
            } else if !primary && !derived {
                wrong.push(format!(
                    "{table} is listed as neither primary nor derived (src/store/tables.rs)"
                ));
            }
        }
        // And the lists name no table the schema lacks (a renamed or dropped one).
        for table in PRIMARY.iter().chain(DERIVED) {
            if !live.iter().any(|t| t == table) {
                wrong.push(format!("{table} is listed but not in the schema"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
