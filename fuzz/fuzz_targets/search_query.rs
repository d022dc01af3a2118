//! Fuzzes the reader's search box: `fts_query` and a real search in a small SQLite archive. Any
//! text must give results or a `QueryError` to show; an SQL error (an FTS5 syntax error leaking
//! through the quoting) or a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use listbridge::config::Config;
use listbridge::search::{SearchOrder, fts_query};
use listbridge::store::{DeriveSettings, Store};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// The archive searched: the sample list with its interests, built once per process.
fn store() -> &'static Mutex<Store> {
    static STORE: OnceLock<(Mutex<Store>, tempfile::TempDir)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temporary folder");
            let mut config = Config::parse(
                "[[lists]]\nname = \"snug\"\nsubject_tag = \"[SNUG]\"\n[[lists]]\nname = \"other\"\n",
            )
            .expect("config");
            config.interests = Config::parse(include_str!("../../fixtures/sample/interests.toml"))
                .expect("interests")
                .interests;
            let mut store =
                Store::open(&dir.path().join("f.db"), DeriveSettings::default()).expect("store");
            store
                .seed_interests(&config.new_interests(), 0)
                .expect("interests seeded");
            let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
            listbridge::archive::pipeline::import(
                &mut store,
                &[fixtures.join("sample/snug-2024.mbox")],
                "snug",
                &config.render_options("snug"),
                0,
            )
            .expect("import");
            listbridge::archive::pipeline::import(
                &mut store,
                &[fixtures.join("archives/single/asthma-plan.eml")],
                "other",
                &config.render_options("other"),
                0,
            )
            .expect("import");
            (Mutex::new(store), dir)
        })
        .0
}

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    let _ = fts_query(&query);
    let store = store().lock().unwrap_or_else(|e| e.into_inner());
    for (offset, limit, order) in [(0, 20, SearchOrder::Relevance), (3, 5, SearchOrder::Date)] {
        if let Err(e) = store.search_page(&query, offset, limit, order) {
            panic!("an SQL error reached the reader for {query:?}: {e}");
        }
    }
});
