//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The outside test corpora: `$LISTBRIDGE_CORPORA`, else `../shared/corpora` beside the project.
/// Panics with a clear message when the folder is missing: corpus tests fail, never skip.
pub fn corpora_dir() -> PathBuf {
    let dir = std::env::var_os("LISTBRIDGE_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora"));
    assert!(
        dir.join("README.md").is_file(),
        "the test corpora are missing at {}: put them there or set LISTBRIDGE_CORPORA \
         (the self-contained suite runs with plain `cargo test`, without the corpus feature)",
        dir.display()
    );
    dir
}

/// The project's own fixtures folder.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Arrival orders to import `n` messages in: as given, reversed, odd places then even ones
/// backwards, and a stride of `step` (prime to `n`) through them.
pub fn arrival_orders(n: usize, step: usize) -> Vec<Vec<usize>> {
    vec![
        (0..n).collect(),
        (0..n).rev().collect(),
        (0..n)
            .filter(|i| i % 2 == 1)
            .chain((0..n).filter(|i| i % 2 == 0).rev())
            .collect(),
        (0..n).map(|i| (i * step) % n).collect(),
    ]
}

/// Where `export threads --json` (its output read as JSON) puts each message: its id to its
/// thread, parent and depth.
pub fn placements(
    threads: &serde_json::Value,
) -> std::collections::BTreeMap<String, (i64, Option<String>, u64)> {
    let mut found = std::collections::BTreeMap::new();
    for t in threads["threads"].as_array().unwrap() {
        for m in t["messages"].as_array().unwrap() {
            found.insert(
                m["message_id"].as_str().unwrap().to_owned(),
                (
                    t["thread"].as_i64().unwrap(),
                    m["parent"].as_str().map(str::to_owned),
                    m["depth"].as_u64().unwrap(),
                ),
            );
        }
    }
    found
}

/// The thread partition: the message ids of each thread sorted, the threads sorted.
pub fn partition(threads: impl IntoIterator<Item = Vec<String>>) -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = threads
        .into_iter()
        .map(|mut ids| {
            ids.sort();
            ids
        })
        .collect();
    groups.sort();
    groups
}

/// The `.eml` files of a folder, sorted by name.
pub fn eml_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
}

/// A message with bare LF line ends and the same with CRLF.
pub fn lf_and_crlf(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let lf: Vec<u8> = bytes.iter().copied().filter(|&b| b != b'\r').collect();
    let mut crlf = Vec::with_capacity(lf.len() + lf.len() / 20);
    for &b in &lf {
        if b == b'\n' {
            crlf.push(b'\r');
        }
        crlf.push(b);
    }
    (lf, crlf)
}

/// Whether the database file or its write-ahead log holds these bytes anywhere (free pages
/// included).
pub fn database_holds(db: &std::path::Path, bytes: &[u8]) -> bool {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    [db.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .any(|file| file.windows(bytes.len()).any(|w| w == bytes))
}

/// Asserts that `text` contains each of `wanted`, showing the text when it does not.
pub fn assert_says(text: &str, wanted: &[&str]) {
    for want in wanted {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
}

pub mod app;
pub mod cli;

#[cfg(feature = "rig")]
pub mod rig;

#[cfg(any(feature = "rig", feature = "browser"))]
pub mod daemon;

#[cfg(any(feature = "rig", feature = "browser"))]
pub mod web;

#[cfg(feature = "rig")]
pub mod forum;

/// A new, empty archive for one test, given as `--db` would take it: the SQLite file
/// `dir/NAME.db`, or a database of its own on the PostgreSQL test cluster when
/// `LISTBRIDGE_TEST_ENGINE=postgres` (scripts/test runs such suites once on each engine).
pub fn fresh_db(dir: &std::path::Path, name: &str) -> PathBuf {
    match listbridge::store::location::fresh_for_tests(dir, name) {
        listbridge::store::Location::Sqlite(path) => path,
        listbridge::store::Location::Postgres(url) => PathBuf::from(url),
    }
}
