//! The table map (`listbridge::store::tables`) says what `reindex` does: over an archive
//! imported by the command line and touched by a member, clearing the derived tables for a
//! reindex empties every table the map calls derived and leaves every primary one as it was.

mod common;

use common::app::Site;
use listbridge::store::Role;
use listbridge::store::tables::{DERIVED, PRIMARY};

const CONFIG: &str = "[web]\nsite_name = \"Test forum\"\nbase_url = \"https://forum.test\"\n\
     [[lists]]\nname = \"snug\"\naddress = \"snug@lists.test\"\nsubject_tag = \"[SNUG]\"\n";

fn counts(site: &Site, tables: &[&str]) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open(&site.db).unwrap();
    tables
        .iter()
        .map(|t| {
            let n = conn
                .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .unwrap();
            ((*t).to_owned(), n)
        })
        .collect()
}

#[tokio::test]
async fn clearing_for_a_reindex_empties_the_derived_tables_and_no_primary_one() {
    let site = Site::new(CONFIG);
    let sample = common::fixtures_dir().join("sample/snug-2024.mbox");
    site.cli_ok(&["import", sample.to_str().unwrap(), "--list", "snug"]);
    // A member, signed in, so that accounts and sessions are not empty either.
    site.member("jane@snug.example", "Jane Member", Role::Member)
        .await;

    let derived = counts(&site, DERIVED);
    for table in ["messages", "threads", "thread_ids", "search"] {
        assert!(
            derived.iter().any(|(t, n)| t == table && *n > 0),
            "{table} is empty after an import: {derived:?}"
        );
    }
    let primary = counts(&site, PRIMARY);
    for table in ["lists", "raw_messages", "import_runs", "users", "sessions"] {
        assert!(
            primary.iter().any(|(t, n)| t == table && *n > 0),
            "{table} is empty: {primary:?}"
        );
    }

    site.store().clear_derived().unwrap();
    for (table, n) in counts(&site, DERIVED) {
        assert_eq!(
            n, 0,
            "{table} still has rows after clearing the derived tables"
        );
    }
    assert_eq!(
        counts(&site, PRIMARY),
        primary,
        "clearing the derived tables changed a primary one"
    );

    // And `reindex` makes the derived tables again.
    site.cli_ok(&["reindex"]);
    assert_eq!(counts(&site, DERIVED), derived, "after reindex");
}
