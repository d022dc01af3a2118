//! Who may read what: private lists and their rosters, and the one check that keeps a private
//! list's content away from everyone else. A connection that serves readers is *confined*: TEMP
//! views named like the archive's tables (`messages`, `threads`, `raw_messages`, attachments,
//! tags, events, held posts...) shadow them, showing only the rows of lists the current viewer
//! may read. SQLite resolves an unqualified name in `temp` before `main`, so every query the
//! store runs on such a connection is filtered, including ones written after this module, and
//! no handler can forget the check. Writers use unconfined connections; a confined connection
//! refuses writes to the shadowed tables (views are read-only), which is the safe failure.

use super::db::{OptionalExtension, params};

use super::{ListId, Store, StoreError, UserId};

/// The temp schema of a confined connection. `hidden_lists` is the single definition of who
/// may not see a list: it is private (named in `temp.private_lists`, from the config), and the
/// viewer is neither a moderator or admin nor, by one of their verified addresses, on its
/// roster. The views of [`LIST_ROWS`] and [`MESSAGE_ROWS`] follow it (see [`confine_sql`]).
const CONFINE: &str = "
CREATE TEMP TABLE private_lists (name TEXT PRIMARY KEY);
CREATE TEMP TABLE viewer (user_id INTEGER NOT NULL);
CREATE TEMP VIEW hidden_lists AS
    SELECT l.id FROM main.lists l
    WHERE l.name IN (SELECT name FROM temp.private_lists)
      AND NOT EXISTS (
        SELECT 1 FROM temp.viewer v JOIN main.users u ON u.id = v.user_id
        WHERE u.role IN ('moderator', 'admin')
           OR EXISTS (SELECT 1 FROM main.list_members lm
                      JOIN main.user_emails e ON e.address = lm.address
                      WHERE lm.list_id = l.id AND e.user_id = u.id
                        AND e.verified_at IS NOT NULL));
CREATE TEMP VIEW lists AS SELECT * FROM main.lists
    WHERE id NOT IN (SELECT id FROM temp.hidden_lists);
CREATE TEMP VIEW thread_ids AS SELECT * FROM main.thread_ids
    WHERE thread_id NOT IN (SELECT t.id FROM main.threads t
                            WHERE t.list_id IN (SELECT id FROM temp.hidden_lists));
CREATE TEMP VIEW unparseable AS SELECT * FROM main.unparseable
    WHERE raw_id NOT IN (SELECT r.id FROM main.raw_messages r
                         WHERE r.list_id IN (SELECT id FROM temp.hidden_lists));
CREATE TEMP VIEW inbound_log AS SELECT * FROM main.inbound_log
    WHERE list_id IS NULL OR list_id NOT IN (SELECT id FROM temp.hidden_lists);
";

/// Tables whose rows belong to a list by their `list_id`.
const LIST_ROWS: &[&str] = &[
    "raw_messages",
    "messages",
    "threads",
    "events",
    "held_posts",
];

/// Tables whose rows belong to a message by their `message` column (a `messages` row).
const MESSAGE_ROWS: &[&str] = &["message_copies", "message_attachments", "message_tags"];

/// The whole temp schema: [`CONFINE`], a view over each of [`LIST_ROWS`] and [`MESSAGE_ROWS`],
/// and last the attachments, seen through the confined `message_attachments`.
fn confine_sql() -> String {
    let mut sql = CONFINE.to_owned();
    for table in LIST_ROWS {
        sql.push_str(&format!(
            "CREATE TEMP VIEW {table} AS SELECT * FROM main.{table}
    WHERE list_id NOT IN (SELECT id FROM temp.hidden_lists);
"
        ));
    }
    for table in MESSAGE_ROWS {
        sql.push_str(&format!(
            "CREATE TEMP VIEW {table} AS SELECT * FROM main.{table}
    WHERE message NOT IN (SELECT m.id FROM main.messages m
                          WHERE m.list_id IN (SELECT id FROM temp.hidden_lists));
"
        ));
    }
    sql.push_str(
        "CREATE TEMP VIEW attachments AS SELECT * FROM main.attachments a
    WHERE EXISTS (SELECT 1 FROM temp.message_attachments ma WHERE ma.sha256 = a.sha256);
",
    );
    sql
}

impl Store {
    /// Confines this connection to what a viewer may read (see the module note), with
    /// `private` the names of the private lists. Done once, when a reader's connection opens.
    pub fn confine(&self, private: &[String]) -> Result<(), StoreError> {
        self.conn.execute_batch(&confine_sql())?;
        let mut insert = self
            .conn
            .prepare("INSERT OR IGNORE INTO temp.private_lists(name) VALUES (?1)")?;
        for name in private {
            insert.execute([name])?;
        }
        Ok(())
    }

    /// Whose eyes this confined connection serves from now on: a member, or nobody signed in.
    pub fn set_viewer(&self, user: Option<UserId>) -> Result<(), StoreError> {
        if self.viewer.get() == Some(user) {
            return Ok(());
        }
        // Unknown until both statements are done: a failure between them leaves it unknown.
        self.viewer.set(None);
        // Prepared once per connection: this runs before the reads of every other viewer.
        self.conn
            .prepare_cached("DELETE FROM temp.viewer")?
            .execute(())?;
        if let Some(user) = user {
            self.conn
                .prepare_cached("INSERT INTO temp.viewer(user_id) VALUES (?1)")?
                .execute([user.0])?;
        }
        self.viewer.set(Some(user));
        Ok(())
    }

    /// On a confined connection: whether the viewer may read the list named `name` (a list
    /// the config names but the archive has no mail of yet included).
    pub fn can_read_list(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM temp.private_lists WHERE name = ?1)
                 OR EXISTS (SELECT 1 FROM temp.lists WHERE name = ?1)
                 OR EXISTS (SELECT 1 FROM temp.viewer v JOIN main.users u ON u.id = v.user_id
                            WHERE u.role IN ('moderator', 'admin'))",
            [name],
            |r| r.get(0),
        )?)
    }

    /// The names of the lists of `private` that `user` may not read (for mail: fan-out and
    /// digests, which run on unconfined connections). The same rule as the confined views.
    pub fn hidden_lists(
        &self,
        user: Option<UserId>,
        private: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut hidden = Vec::new();
        let mut readable = self.conn.prepare_cached(
            "SELECT EXISTS (
                 SELECT 1 FROM main.users u WHERE u.id = ?2
                   AND (u.role IN ('moderator', 'admin')
                        OR EXISTS (SELECT 1 FROM main.lists l
                                   JOIN main.list_members lm ON lm.list_id = l.id
                                   JOIN main.user_emails e ON e.address = lm.address
                                   WHERE l.name = ?1 AND e.user_id = u.id
                                     AND e.verified_at IS NOT NULL)))",
        )?;
        for name in private {
            if !readable.query_row(params![name, user.map(|u| u.0)], |r| r.get::<bool>(0))? {
                hidden.push(name.clone());
            }
        }
        Ok(hidden)
    }

    /// Puts addresses on a list's roster (lowercased); returns how many were new.
    pub fn add_list_members(
        &mut self,
        list: &str,
        addresses: &[String],
        now: i64,
    ) -> Result<usize, StoreError> {
        let list = self.list_id(list)?;
        let tx = self.conn.transaction()?;
        let mut added = 0;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO list_members(list_id, address, added) VALUES (?1, ?2, ?3)",
            )?;
            for address in addresses {
                added += insert.execute(params![list.0, address.trim().to_lowercase(), now])?;
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// Takes addresses off a list's roster; returns how many were on it.
    pub fn remove_list_members(
        &mut self,
        list: &str,
        addresses: &[String],
    ) -> Result<usize, StoreError> {
        let Some(list) = self.existing_list(list)? else {
            return Err(StoreError::NoSuchList(list.to_owned()));
        };
        let tx = self.conn.transaction()?;
        let mut removed = 0;
        {
            let mut delete =
                tx.prepare_cached("DELETE FROM list_members WHERE list_id = ?1 AND address = ?2")?;
            for address in addresses {
                removed += delete.execute(params![list.0, address.trim().to_lowercase()])?;
            }
        }
        tx.commit()?;
        Ok(removed)
    }

    /// A list's roster, by address.
    pub fn list_members(&self, list: &str) -> Result<Vec<String>, StoreError> {
        let Some(list) = self.existing_list(list)? else {
            return Err(StoreError::NoSuchList(list.to_owned()));
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT address FROM list_members WHERE list_id = ?1 ORDER BY address",
        )?;
        let rows = stmt.query_map([list.0], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn existing_list(&self, name: &str) -> Result<Option<ListId>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT id FROM main.lists WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?
            .map(ListId))
    }
}

/// Creates a member with one verified address, for the crate's unit tests of what members
/// may see and what erasing them leaves.
#[cfg(test)]
pub(crate) fn user_for_tests(
    store: &mut Store,
    name: &str,
    address: &str,
    role: super::Role,
) -> UserId {
    store.create_user(name, address, role, 0).unwrap().0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::pipeline::archive_for_tests;
    use crate::store::{DeriveSettings, Role};

    fn archive(store: &mut Store, list: &str, id: &str) {
        archive_for_tests(store, list, mail(list, id), &format!("test:{id}"));
    }

    fn mail(list_tag: &str, id: &str) -> Vec<u8> {
        format!(
            "From: Ann <ann@example.org>\r\nTo: {list_tag}@example.org\r\nSubject: {list_tag} news\r\n\
             Message-ID: <{id}>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nabout {list_tag}\r\n"
        )
        .into_bytes()
    }

    fn count(store: &Store, table: &str) -> i64 {
        store
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), (), |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_confined_reader_sees_a_private_list_only_as_its_member() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let mut store = Store::open(&db, DeriveSettings::default()).unwrap();
        archive(&mut store, "open", "o1@x");
        archive(&mut store, "closed", "c1@x");
        let member = user_for_tests(&mut store, "Cara", "cara@example.org", Role::Member);
        let outsider = user_for_tests(&mut store, "Olly", "olly@example.org", Role::Member);
        store
            .add_list_members("closed", &["Cara@Example.org".to_owned()], 0)
            .unwrap();

        let reader = Store::open(&db, DeriveSettings::default()).unwrap();
        reader.confine(&["closed".to_owned()]).unwrap();
        // The same viewer twice in a row (nothing to write), and back and forth between them.
        for (who, expected) in [
            (None, 1),
            (Some(outsider), 1),
            (Some(member), 2),
            (Some(member), 2),
            (None, 1),
            (Some(member), 2),
            (Some(outsider), 1),
        ] {
            reader.set_viewer(who).unwrap();
            for table in ["messages", "threads", "raw_messages", "thread_ids"] {
                assert_eq!(count(&reader, table), expected, "{table} for {who:?}");
            }
        }
        // The unconfined rule agrees with the views.
        let private = ["closed".to_owned()];
        assert_eq!(store.hidden_lists(None, &private).unwrap(), private);
        assert_eq!(
            store.hidden_lists(Some(outsider), &private).unwrap(),
            private
        );
        assert!(
            store
                .hidden_lists(Some(member), &private)
                .unwrap()
                .is_empty()
        );
        // Off the roster, out of sight again; and a confined connection cannot write the archive.
        store
            .remove_list_members("closed", &["cara@example.org".to_owned()])
            .unwrap();
        reader.set_viewer(Some(member)).unwrap();
        assert_eq!(count(&reader, "messages"), 1);
        assert!(reader.conn.execute("DELETE FROM messages", ()).is_err());
    }
}
