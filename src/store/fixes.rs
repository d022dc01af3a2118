//! Moderators' threading fixes: splits, moves and merges, kept by Message-ID as primary data
//! and applied whenever threads are derived (live ingest, import, a web post, `reindex`).
//!
//! Deriving works as before: `thread_ids` labels every id with its natural thread (a connected
//! component of References), and that label's `threads` row holds the thread. Before a
//! transaction that touched a fixed thread commits, the messages of every natural thread the
//! fixes tie together are handed to the pure [`partition`](crate::thread::partition), and
//! each message's `thread_id` is set to what it says: a natural thread's own row, or a row of
//! its own for a split (or moved) part, remembered in `thread_fix_threads` so that its number
//! holds from one ingest to the next. Rows are never deleted here: a thread a merge emptied
//! keeps its row, with no messages, so that its old address can lead to where they went
//! (lists of threads leave such rows out).

use super::MessageId;
use std::collections::{HashMap, HashSet};

use super::db::{Connection, OptionalExtension, params};

use super::members::UserId;
use super::{StoreError, ThreadId, Writer};
use crate::thread::{Fix, Part, ThreadHeaders, ThreadMessage, partition};

/// A row of `thread_fixes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(transparent)]
pub struct FixId(pub i64);

/// What a fix does (see [`Fix`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixKind {
    Split,
    Move { target: String, as_reply: bool },
    Merge { target: String },
}

/// A fix as stored, with who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadFix {
    pub id: FixId,
    pub message_id: MessageId,
    pub kind: FixKind,
    pub by: Option<String>,
    pub at: i64,
}

impl ThreadFix {
    /// The fix as the threader takes it.
    pub fn as_fix(&self) -> Fix<'_> {
        match &self.kind {
            FixKind::Split => Fix::Split {
                message: &self.message_id,
            },
            FixKind::Move { target, as_reply } => Fix::Move {
                message: &self.message_id,
                target,
                as_reply: *as_reply,
            },
            FixKind::Merge { target } => Fix::Merge {
                message: &self.message_id,
                target,
            },
        }
    }

    /// The Message-IDs it names.
    fn ids(&self) -> impl Iterator<Item = &str> {
        let target = match &self.kind {
            FixKind::Split => None,
            FixKind::Move { target, .. } | FixKind::Merge { target } => Some(target.as_str()),
        };
        std::iter::once(self.message_id.as_str()).chain(target)
    }
}

fn fix_row(r: &crate::store::db::Row<'_>) -> crate::store::db::Result<ThreadFix> {
    let kind: String = r.get(1)?;
    let target: Option<String> = r.get(3)?;
    let kind = match (kind.as_str(), target) {
        ("move", Some(target)) => FixKind::Move {
            target,
            as_reply: r.get(4)?,
        },
        ("merge", Some(target)) => FixKind::Merge { target },
        _ => FixKind::Split,
    };
    Ok(ThreadFix {
        id: FixId(r.get(0)?),
        message_id: r.get(2)?,
        kind,
        by: r.get(5)?,
        at: r.get(6)?,
    })
}

const FIX_COLUMNS: &str = "f.id, f.kind, f.message_id, f.target, f.as_reply, \
     (SELECT display_name FROM users u WHERE u.id = f.created_by), f.created_at";

/// Every fix, in the order they apply.
fn all_fixes(conn: &Connection) -> Result<Vec<ThreadFix>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {FIX_COLUMNS} FROM thread_fixes f ORDER BY f.id"
    ))?;
    let rows = stmt.query_map((), fix_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The natural thread (label) of a Message-ID, real or only referenced.
fn label(conn: &Connection, id: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT thread_id FROM thread_ids WHERE msgid = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// A message of a natural thread, as settling needs it.
struct Member {
    key: i64,
    headers: ThreadHeaders,
    row: i64,
    list: i64,
    label: i64,
}

impl super::Store {
    /// Every fix in force, in the order they apply.
    pub fn thread_fixes(&self) -> Result<Vec<ThreadFix>, StoreError> {
        all_fixes(&self.conn)
    }

    /// The splits and moves of messages in a thread, in order: what arranging it needs.
    pub fn thread_fixes_in(&self, thread: ThreadId) -> Result<Vec<ThreadFix>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {FIX_COLUMNS} FROM thread_fixes f
              WHERE f.kind != 'merge'
                AND f.message_id IN (SELECT message_id FROM messages WHERE thread_id = ?1)
              ORDER BY f.id"
        ))?;
        let rows = stmt.query_map([thread.0], fix_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Where the messages of a thread that has none left went (merged or moved away, or a
    /// split undone): for following an old address.
    pub fn thread_moved(&self, thread: ThreadId) -> Result<Option<ThreadId>, StoreError> {
        let natural: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT m.thread_id FROM thread_ids i JOIN messages m ON m.id = i.message
                  WHERE i.thread_id = ?1 AND m.thread_id != ?1
                  ORDER BY m.date IS NULL, m.date, m.id LIMIT 1",
            )?
            .query_row([thread.0], |r| r.get(0))
            .optional()?;
        if natural.is_some() {
            return Ok(natural.map(ThreadId));
        }
        // A split's thread emptied again: where its first post went (or, that post hidden,
        // the earliest post of its natural thread).
        Ok(self
            .conn
            .prepare_cached(
                "SELECT m.thread_id FROM thread_fix_threads f
                   JOIN thread_ids i ON i.msgid = f.message_id
                   JOIN thread_ids o ON o.thread_id = i.thread_id
                   JOIN messages m ON m.id = o.message
                  WHERE f.thread_id = ?1 AND m.thread_id != ?1
                  ORDER BY m.message_id = f.message_id DESC, m.date IS NULL, m.date, m.id
                  LIMIT 1",
            )?
            .query_row([thread.0], |r| r.get(0))
            .optional()?
            .map(ThreadId))
    }

    /// A thread's first message (by date): the Message-ID that stands for it in a fix.
    pub fn first_message(&self, thread: ThreadId) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT message_id FROM messages WHERE thread_id = ?1
                  ORDER BY date IS NULL, date, id LIMIT 1",
            )?
            .query_row([thread.0], |r| r.get(0))
            .optional()?)
    }
}

impl Writer<'_> {
    /// Records a fix (a split or move replaces the message's earlier one) and applies it.
    pub fn add_thread_fix(
        &self,
        message_id: &str,
        kind: &FixKind,
        by: UserId,
        now: i64,
    ) -> Result<FixId, StoreError> {
        let (name, target, as_reply) = match kind {
            FixKind::Split => ("split", None, false),
            FixKind::Move { target, as_reply } => ("move", Some(target.as_str()), *as_reply),
            FixKind::Merge { target } => ("merge", Some(target.as_str()), false),
        };
        let mut seeds: HashSet<i64> = HashSet::new();
        if name != "merge" {
            // The fix it replaces may have tied other threads in: they are settled too.
            let old: Option<Option<String>> = self
                .tx()
                .query_row(
                    "SELECT target FROM thread_fixes WHERE message_id = ?1 AND kind != 'merge'",
                    [message_id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(Some(old)) = old {
                seeds.extend(label(self.tx(), &old)?);
            }
            self.tx().execute(
                "DELETE FROM thread_fixes WHERE message_id = ?1 AND kind != 'merge'",
                [message_id],
            )?;
        }
        self.tx().execute(
            "INSERT INTO thread_fixes(kind, message_id, target, as_reply, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![name, message_id, target, as_reply, by.0, now],
        )?;
        let id = FixId(self.tx().last_insert_rowid());
        for named in std::iter::once(message_id).chain(target) {
            seeds.extend(label(self.tx(), named)?);
        }
        self.settle(&seeds, true)?;
        Ok(id)
    }

    /// The thread a message is shown in now.
    pub fn thread_of_message(&self, message_id: &str) -> Result<Option<ThreadId>, StoreError> {
        Ok(self
            .tx()
            .prepare_cached("SELECT thread_id FROM messages WHERE message_id = ?1")?
            .query_row([message_id], |r| r.get(0))
            .optional()?
            .map(ThreadId))
    }

    /// A thread's first message (by date), inside the transaction.
    pub fn first_message_of(&self, thread: ThreadId) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx()
            .prepare_cached(
                "SELECT message_id FROM messages WHERE thread_id = ?1
                  ORDER BY date IS NULL, date, id LIMIT 1",
            )?
            .query_row([thread.0], |r| r.get(0))
            .optional()?)
    }

    /// How many messages a thread shows now.
    pub fn thread_size(&self, thread: ThreadId) -> Result<u64, StoreError> {
        Ok(self.tx().query_row(
            "SELECT count(*) FROM messages WHERE thread_id = ?1",
            [thread.0],
            |r| r.get::<i64>(0),
        )? as u64)
    }

    /// Takes a fix back; the threads it touched return to what the other fixes make them.
    pub fn remove_thread_fix(&self, id: FixId) -> Result<Option<ThreadFix>, StoreError> {
        let fix = self
            .tx()
            .query_row(
                &format!("SELECT {FIX_COLUMNS} FROM thread_fixes f WHERE f.id = ?1"),
                [id.0],
                fix_row,
            )
            .optional()?;
        let Some(fix) = fix else {
            return Ok(None);
        };
        let mut seeds = HashSet::new();
        for named in fix.ids() {
            seeds.extend(label(self.tx(), named)?);
        }
        self.tx()
            .execute("DELETE FROM thread_fixes WHERE id = ?1", [id.0])?;
        self.settle(&seeds, true)?;
        Ok(Some(fix))
    }

    /// Applies the fixes to the threads this transaction touched (called before it commits,
    /// and before a caller reads back which thread a new message joined).
    pub fn settle_thread_fixes(&self) -> Result<(), StoreError> {
        let touched: HashSet<i64> = std::mem::take(&mut *self.touched.borrow_mut());
        if touched.is_empty() {
            return Ok(());
        }
        self.settle(&touched, false)
    }

    /// Places every message of the natural threads that fixes tie to `seeds` (and, when
    /// `force`, of the seeds themselves, which a removed fix may have left behind).
    fn settle(&self, seeds: &HashSet<i64>, force: bool) -> Result<(), StoreError> {
        let fixes = all_fixes(self.tx())?;
        if fixes.is_empty() && !force {
            return Ok(());
        }
        // Natural threads tied together by fixes: a union-find over their labels.
        let mut tie: HashMap<i64, i64> = HashMap::new();
        fn find(tie: &HashMap<i64, i64>, mut x: i64) -> i64 {
            while let Some(&up) = tie.get(&x).filter(|&&up| up != x) {
                x = up;
            }
            x
        }
        for fix in &fixes {
            let mut labels = Vec::new();
            for id in fix.ids() {
                labels.extend(label(self.tx(), id)?);
            }
            for &l in &labels {
                tie.entry(l).or_insert(l);
            }
            for pair in labels.windows(2) {
                let (a, b) = (find(&tie, pair[0]), find(&tie, pair[1]));
                if a != b {
                    tie.insert(a.max(b), a.min(b));
                }
            }
        }
        let wanted: HashSet<i64> = seeds
            .iter()
            .filter(|l| tie.contains_key(l))
            .map(|&l| find(&tie, l))
            .collect();
        let mut labels: Vec<i64> = tie
            .keys()
            .copied()
            .filter(|&l| wanted.contains(&find(&tie, l)))
            .collect();
        if force {
            labels.extend(seeds.iter().filter(|l| !tie.contains_key(l)));
        }
        if labels.is_empty() {
            return Ok(());
        }
        labels.sort_unstable();

        let members = self.members_of(&labels)?;
        let inputs: Vec<ThreadMessage<'_>> =
            members.iter().map(|m| m.headers.thread_message()).collect();
        let member_labels: Vec<i64> = members.iter().map(|m| m.label).collect();
        let fix_views: Vec<Fix<'_>> = fixes.iter().map(ThreadFix::as_fix).collect();
        let parts = partition(&inputs, &member_labels, &fix_views);

        let mut cut_rows: HashMap<&str, i64> = HashMap::new();
        let mut changed: HashSet<i64> = HashSet::new();
        for (m, part) in members.iter().zip(&parts) {
            let row = match *part {
                Part::Natural(l) => l,
                Part::Cut(at) => match cut_rows.get(at) {
                    Some(&row) => row,
                    None => {
                        let row = self.cut_row(at, m.list)?;
                        cut_rows.insert(at, row);
                        row
                    }
                },
            };
            if row != m.row {
                self.tx()
                    .prepare_cached("UPDATE messages SET thread_id = ?2 WHERE id = ?1")?
                    .execute([m.key, row])?;
                self.archive_changed();
                changed.insert(row);
                changed.insert(m.row);
            }
        }
        for row in changed {
            self.recount_thread(ThreadId(row))?;
        }
        Ok(())
    }

    /// The messages of these natural threads.
    fn members_of(&self, labels: &[i64]) -> Result<Vec<Member>, StoreError> {
        let mut stmt = self.tx().prepare_cached(
            "SELECT m.id, m.message_id, m.refs, m.in_reply_to, m.fallback_parent, m.date,
                    m.thread_id, m.list_id
               FROM thread_ids i JOIN messages m ON m.id = i.message
              WHERE i.thread_id = ?1
              ORDER BY m.id",
        )?;
        let mut members = Vec::new();
        for &l in labels {
            let rows = stmt.query_map([l], |r| {
                Ok(Member {
                    key: r.get(0)?,
                    headers: super::read::thread_headers(r, 1)?,
                    row: r.get(6)?,
                    list: r.get(7)?,
                    label: l,
                })
            })?;
            for row in rows {
                members.push(row?);
            }
        }
        Ok(members)
    }

    /// The row of the thread cut at `at`: the one it had, or a new one.
    fn cut_row(&self, at: &str, list: i64) -> Result<i64, StoreError> {
        // A row that is some natural thread's cannot be reused (only a bug would make it so,
        // but two threads sharing a row would be worse than a new number).
        let kept: Option<i64> = self
            .tx()
            .prepare_cached(
                "SELECT f.thread_id FROM thread_fix_threads f
                  WHERE f.message_id = ?1
                    AND EXISTS (SELECT 1 FROM threads t WHERE t.id = f.thread_id)
                    AND NOT EXISTS (SELECT 1 FROM thread_ids i WHERE i.thread_id = f.thread_id)",
            )?
            .query_row([at], |r| r.get(0))
            .optional()?;
        if let Some(row) = kept {
            return Ok(row);
        }
        self.tx()
            .prepare_cached("INSERT INTO threads(list_id, message_count) VALUES (?1, 0)")?
            .execute([list])?;
        let row = self.tx().last_insert_rowid();
        self.tx()
            .prepare_cached(
                "INSERT OR REPLACE INTO thread_fix_threads(message_id, thread_id) VALUES (?1, ?2)",
            )?
            .execute(params![at, row])?;
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::access::user_for_tests;
    use crate::store::{DeriveSettings, HideWhy, Role, Store};

    /// The archive with threading mistakes, and a moderator.
    fn archive() -> (tempfile::TempDir, Store, UserId) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("a.db"), DeriveSettings::default()).unwrap();
        let mbox = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/moderation/mistakes.mbox");
        crate::archive::pipeline::import(&mut store, &[mbox], "snug", &Default::default(), 0)
            .unwrap();
        let mo = user_for_tests(&mut store, "Mo", "mo@example.org", Role::Moderator);
        (dir, store, mo)
    }

    fn thread(store: &Store, name: &str) -> Option<i64> {
        store
            .locate(&format!("{name}@snug.example"))
            .unwrap()
            .map(|(t, _)| t.0)
    }

    fn with_writer<T>(store: &mut Store, f: impl FnOnce(&Writer<'_>) -> T) -> T {
        let run = store.begin_run("test", 0).unwrap();
        let writer = store.writer(run).unwrap();
        let out = f(&writer);
        writer.commit().unwrap();
        out
    }

    #[test]
    fn a_split_part_keeps_its_row_and_its_replies_when_its_first_post_is_hidden() {
        let (_dir, mut store, mo) = archive();
        let spacer = thread(&store, "spacer-1").unwrap();
        assert_eq!(thread(&store, "flu-3"), Some(spacer), "the mistake");
        let fix = with_writer(&mut store, |w| {
            w.add_thread_fix("flu-1@snug.example", &FixKind::Split, mo, 1)
                .unwrap()
        });
        let flu = thread(&store, "flu-1").unwrap();
        assert_ne!(flu, spacer);
        assert_eq!(thread(&store, "flu-3"), Some(flu));
        assert_eq!(store.counts().unwrap().threads, 6);

        // Hiding the post the split was made at leaves a ghost there: its replies stay split,
        // in the same thread.
        with_writer(&mut store, |w| {
            w.hide("flu-1@snug.example", HideWhy::Moderator, Some(mo), None, 2)
                .unwrap()
        });
        assert_eq!(thread(&store, "flu-1"), None);
        assert_eq!(thread(&store, "flu-2"), Some(flu));
        assert_eq!(thread(&store, "flu-3"), Some(flu));
        assert_eq!(thread(&store, "spacer-2"), Some(spacer));

        // Taken back: everything where the headers put it; the emptied thread leads there.
        with_writer(&mut store, |w| w.remove_thread_fix(fix).unwrap());
        assert_eq!(thread(&store, "flu-2"), Some(spacer));
        assert_eq!(thread(&store, "flu-3"), Some(spacer));
        assert_eq!(store.thread_info(ThreadId(flu)).unwrap(), None);
        assert_eq!(
            store.thread_moved(ThreadId(flu)).unwrap(),
            Some(ThreadId(spacer))
        );
        assert!(store.thread_fixes().unwrap().is_empty());
    }

    #[test]
    fn a_split_replaced_by_a_move_and_a_merge_of_the_result() {
        let (_dir, mut store, mo) = archive();
        let nurse = thread(&store, "nurse-1").unwrap();
        let pcn = thread(&store, "pcn-minutes").unwrap();
        with_writer(&mut store, |w| {
            w.add_thread_fix("flu-1@snug.example", &FixKind::Split, mo, 1)
                .unwrap();
            // A later fix of the same post replaces the split: moved under nurse-1.
            w.add_thread_fix(
                "flu-1@snug.example",
                &FixKind::Move {
                    target: "nurse-1@snug.example".to_owned(),
                    as_reply: true,
                },
                mo,
                2,
            )
            .unwrap();
        });
        assert_eq!(store.thread_fixes().unwrap().len(), 1);
        assert_eq!(thread(&store, "flu-3"), Some(nurse));
        let arranged = store.arranged_thread(ThreadId(nurse), None).unwrap();
        let flu_1 = arranged
            .messages
            .iter()
            .find(|m| m.message_id == "flu-1@snug.example")
            .unwrap();
        assert_eq!(flu_1.parent.as_deref(), Some("nurse-1@snug.example"));
        // That thread merged into the minutes: all of it, moved posts included.
        with_writer(&mut store, |w| {
            w.add_thread_fix(
                "nurse-1@snug.example",
                &FixKind::Merge {
                    target: "pcn-minutes@snug.example".to_owned(),
                },
                mo,
                3,
            )
            .unwrap()
        });
        for name in ["nurse-1", "flu-1", "flu-3", "pcn-minutes"] {
            assert_eq!(thread(&store, name), Some(pcn), "{name}");
        }
        assert_eq!(
            store.thread_moved(ThreadId(nurse)).unwrap(),
            Some(ThreadId(pcn))
        );
    }
}
