//! The archive core end to end through the command line, on the project's own sample archive:
//! import, summary, idempotence, threads, lossless export round trip, reindex, search, config.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::cli::{fails, listbridge, ok};
use serde_json::Value;

fn sample() -> PathBuf {
    common::fixtures_dir().join("sample/snug-2024.mbox")
}

/// The number after `label` in an import summary.
fn figure(summary: &str, label: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in the summary:\n{summary}"))
}

fn threads_json(db: &Path) -> Value {
    serde_json::from_str(&ok(db, &["export", "threads", "--json"])).expect("valid JSON")
}

#[test]
fn imports_the_sample_archive_and_reports_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::fresh_db(dir.path(), "a");
    let summary = ok(&db, &["import", sample().to_str().unwrap()]);
    common::assert_says(
        &summary,
        &[
            "imported 19 new messages from 21 read",
            "snug-2024.mbox#19: no header lines found",
            "derived id (a different message with a taken Message-ID): 1",
        ],
    );
    assert_eq!(figure(&summary, "duplicates:"), 1);
    assert_eq!(figure(&summary, "unparseable:"), 1);
    assert_eq!(figure(&summary, "threads in the archive:"), 10);

    // Importing again adds nothing.
    let again = ok(&db, &["import", sample().to_str().unwrap()]);
    common::assert_says(&again, &["imported 0 new messages from 21 read"]);
    assert_eq!(figure(&again, "already archived:"), 21);
    assert_eq!(figure(&again, "threads in the archive:"), 10);
}

#[test]
fn threads_the_sample_as_its_references_say() {
    let (_dir, db) = sample_archive();
    let threads = threads_json(&db);
    let p = common::placements(&threads);
    let at = |id: &str| {
        p.get(id)
            .unwrap_or_else(|| panic!("{id} not exported: {p:?}"))
            .clone()
    };
    let parent = |id: &str| at(id).1;
    let depth = |id: &str| at(id).2;
    let thread = |id: &str| at(id).0;

    // Each reply under the message its headers (or, in the window, its subject) name.
    for (reply, to) in [
        // Full References.
        ("asthma-2@example.net", "asthma-1@example.org"),
        ("asthma-3@example.org", "asthma-2@example.net"),
        ("asthma-4@example.org", "asthma-2@example.net"),
        // In-Reply-To only, the reply stored before its parent.
        ("copd-2@example.org", "copd-1@example.org"),
        // Outlook Thread-Index without References.
        ("outlook-2@example.nhs.uk", "outlook-1@example.nhs.uk"),
        // Subject fallback inside the window.
        ("derm-2@example.net", "derm-1@example.org"),
        // A loop: the earlier message as root.
        ("loop-21@example.org", "loop-12@example.org"),
    ] {
        assert_eq!(parent(reply).as_deref(), Some(to), "{reply}");
    }
    // Roots: a first post; a reply to a message the archive never had; the earlier of a loop.
    for root in [
        "asthma-1@example.org",
        "flu-2@example.org",
        "loop-12@example.org",
    ] {
        assert_eq!(parent(root), None, "{root}");
    }
    for (id, want) in [
        ("asthma-3@example.org", 2),
        ("copd-3@example.org", 2),
        ("flu-3@example.net", 0),
    ] {
        assert_eq!(depth(id), want, "{id}");
    }
    // Replies to a message the archive never had: one thread, two roots.
    assert_eq!(thread("flu-2@example.org"), thread("flu-3@example.net"));
    // Subject fallback not outside the window.
    assert_ne!(
        thread("derm-late@example.net"),
        thread("derm-1@example.org")
    );
    // A loop: one thread.
    assert_eq!(thread("loop-12@example.org"), thread("loop-21@example.org"));
    // The clash is kept under a derived id, in a thread of its own.
    let renamed: Vec<&String> = p
        .keys()
        .filter(|k| k.starts_with("copd-1@example.org.dup-"))
        .collect();
    assert_eq!(renamed.len(), 1, "{p:?}");
    assert_ne!(thread(renamed[0]), thread("copd-1@example.org"));
    // A mail without Message-ID gets a deterministic one.
    assert_eq!(
        p.keys()
            .filter(|k| k.ends_with("@generated.listbridge.invalid"))
            .count(),
        1
    );
    // Every real message once, re-deliveries not shown twice.
    assert_eq!(p.len(), 19);
    // Thread order: parents before children.
    for t in threads["threads"].as_array().unwrap() {
        let mut seen = Vec::new();
        for m in t["messages"].as_array().unwrap() {
            if let Some(parent) = m["parent"].as_str() {
                assert!(
                    seen.contains(&parent),
                    "{} before its parent in {t}",
                    m["message_id"]
                );
            }
            seen.push(m["message_id"].as_str().unwrap());
        }
    }
}

#[test]
fn export_round_trips_byte_for_byte_and_reindex_rebuilds_the_same_archive() {
    let dir = tempfile::tempdir().unwrap();
    let first = common::fresh_db(dir.path(), "first");
    ok(&first, &["import", sample().to_str().unwrap()]);
    let exported = ok(&first, &["export", "mbox"]);
    let mbox = dir.path().join("exported.mbox");
    std::fs::write(&mbox, &exported).unwrap();

    let second = common::fresh_db(dir.path(), "second");
    ok(&second, &["import", mbox.to_str().unwrap()]);
    assert_eq!(
        ok(&second, &["export", "mbox"]),
        exported,
        "export → import → export changed bytes"
    );
    assert_eq!(threads_json(&second), threads_json(&first));

    // Every message of the input comes back with the same bytes.
    let originals = raw_messages(&sample());
    let again = raw_messages(&mbox);
    assert_eq!(
        again.len(),
        originals.len(),
        "every stored message is exported"
    );
    for original in &originals {
        assert!(
            again.contains(original),
            "a message was not exported byte for byte"
        );
    }

    let before = threads_json(&first);
    let rebuilt = ok(&first, &["reindex"]);
    assert!(
        rebuilt.contains("rebuilt 19 new messages from 21 read"),
        "{rebuilt}"
    );
    assert_eq!(threads_json(&first), before, "reindex changed the archive");
}

/// A database (in a folder removed when it goes) with the sample imported.
fn sample_archive() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = common::fresh_db(dir.path(), "a");
    ok(&db, &["import", sample().to_str().unwrap()]);
    (dir, db)
}

fn raw_messages(path: &Path) -> Vec<Vec<u8>> {
    listbridge::archive::readers::read_paths(&[path.to_owned()])
        .unwrap()
        .map(|m| m.unwrap().bytes)
        .collect()
}

#[test]
fn exports_one_thread_as_mbox() {
    let (_dir, db) = sample_archive();
    let p = common::placements(&threads_json(&db));
    let thread = p["asthma-1@example.org"].0.to_string();
    let mbox = ok(&db, &["export", "mbox", "--thread", &thread]);
    // Four messages and the re-delivered copy.
    assert_eq!(mbox.matches("\nFrom ").count() + 1, 5, "{mbox}");
    assert!(mbox.contains(">>From now on I will bring my inhaler"));
    let missing = fails(&db, &["export", "mbox", "--thread", "999999"]);
    assert!(missing.contains("no thread 999999"));
}

#[test]
fn searches_subjects_authors_and_bodies() {
    let (_dir, db) = sample_archive();
    let search = |q: &str| -> Value {
        serde_json::from_str(&ok(&db, &["search", "--json", q])).expect("JSON")
    };
    let hits = search("\"In-Check dial\"");
    assert_eq!(hits["total"], 2, "{hits}");
    let hits = search("spacer -pharmacy");
    let ids: Vec<&str> = hits["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["asthma-2@example.net"]);
    // Diacritics folded, RFC 2047 subjects decoded.
    assert_eq!(search("cafe")["total"], 1);
    assert_eq!(search("okafor")["total"], 1, "author names are indexed");
    // A query made only of operators gets a clear error, not a crash.
    let bad = fails(&db, &["search", "--json", "--", "-spam"]);
    assert!(bad.contains("give at least one word"));
}

#[test]
fn check_config_reports_every_problem_with_key_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::fresh_db(dir.path(), "a");
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[store]\npath = 3\n[threading]\nsubject_window_days = \"thirty\"\nsubject_fallbak = true\n",
    )
    .unwrap();
    let out = listbridge(
        &db,
        &["check-config", "--config", config.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3 problems"), "{err}");
    for key in [
        "store.path",
        "threading.subject_window_days",
        "threading.subject_fallbak",
    ] {
        assert!(err.contains(key), "{key} not named: {err}");
    }
    assert!(err.matches("fix:").count() >= 3, "{err}");

    let example = common::fixtures_dir().join("../config.toml.example");
    let out = listbridge(
        &db,
        &["check-config", "--config", example.to_str().unwrap()],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
}

#[test]
fn the_database_path_comes_from_flag_env_config_or_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[store]\npath = \"from-config.db\"\n").unwrap();
    let run = |args: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_listbridge"));
        cmd.current_dir(dir.path())
            .args(args)
            .env_remove("LISTBRIDGE_DB")
            .env_remove("LISTBRIDGE_CONFIG");
        if let Some(db) = env {
            cmd.env("LISTBRIDGE_DB", db);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(run(&["migrate"], None).contains("listbridge.db"));
    assert!(
        run(&["migrate", "--config", config.to_str().unwrap()], None).contains("from-config.db")
    );
    assert!(
        run(
            &["--config", config.to_str().unwrap(), "migrate"],
            Some("env.db")
        )
        .contains("env.db")
    );
    assert!(run(&["migrate", "--db", "flag.db"], Some("env.db")).contains("flag.db"));
    assert!(dir.path().join("flag.db").exists());
}

#[test]
fn subject_grouping_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::fresh_db(dir.path(), "a");
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[threading]\nsubject_fallback = false\n").unwrap();
    ok(
        &db,
        &[
            "--config",
            config.to_str().unwrap(),
            "import",
            sample().to_str().unwrap(),
        ],
    );
    let p = common::placements(&threads_json(&db));
    assert_ne!(p["derm-2@example.net"].0, p["derm-1@example.org"].0);
    assert_eq!(p["derm-2@example.net"].1, None);
    // Real references still thread.
    assert_eq!(
        p["asthma-2@example.net"].1.as_deref(),
        Some("asthma-1@example.org")
    );
}

/// message ids grouped by thread, each group sorted, groups sorted: the thread partition.
fn partition(threads: &Value) -> Vec<Vec<String>> {
    common::partition(threads["threads"].as_array().unwrap().iter().map(|t| {
        t["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message_id"].as_str().unwrap().to_owned())
            .collect()
    }))
}

#[test]
fn threads_do_not_depend_on_arrival_order() {
    arrival_order_check(true);
    arrival_order_check(false);
}

fn arrival_order_check(subject_fallback: bool) {
    // The sample without the Message-ID clash (whose derived id depends on which copy comes
    // first by design) and without the unparseable text, as single files.
    let messages: Vec<Vec<u8>> = raw_messages(&sample())
        .into_iter()
        .filter(|m| {
            let text = String::from_utf8_lossy(m);
            !text.contains("Mark Bellamy") && text.contains("Message-ID")
                || text.contains("Anonymous Locum")
        })
        .collect();
    assert_eq!(messages.len(), 19);
    let n = messages.len();
    let orders = common::arrival_orders(n, 7);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("[threading]\nsubject_fallback = {subject_fallback}\n"),
    )
    .unwrap();
    let mut results = Vec::new();
    for (k, order) in orders.iter().enumerate() {
        let folder = dir.path().join(format!("order{k}"));
        std::fs::create_dir(&folder).unwrap();
        for (rank, &i) in order.iter().enumerate() {
            std::fs::write(folder.join(format!("{rank:03}.eml")), &messages[i]).unwrap();
        }
        let db = common::fresh_db(dir.path(), &format!("order{k}"));
        ok(
            &db,
            &[
                "--config",
                config.to_str().unwrap(),
                "import",
                folder.to_str().unwrap(),
            ],
        );
        let threads = threads_json(&db);
        let parents: Vec<(String, Option<String>)> = common::placements(&threads)
            .into_iter()
            .map(|(id, (_, parent, _))| (id, parent))
            .collect();
        results.push((partition(&threads), parents));
    }
    for (k, result) in results.iter().enumerate().skip(1) {
        assert_eq!(
            result.0, results[0].0,
            "order {k} gives other threads (subject fallback {subject_fallback})"
        );
        assert_eq!(
            result.1, results[0].1,
            "order {k} gives other parents (subject fallback {subject_fallback})"
        );
    }
}

#[test]
fn serve_says_it_needs_sqlite_and_never_shows_a_password() {
    let url = Path::new("postgres://bridge:s3cret@127.0.0.1:1/forum");
    let said = fails(url, &["serve"]);
    assert!(said.contains("serve runs on SQLite only"), "{said}");
    assert!(
        said.contains("postgres://bridge:***@127.0.0.1:1/forum"),
        "{said}"
    );
    assert!(!said.contains("s3cret"), "{said}");
    // Any other command on an unreachable server names it, password masked.
    let said = fails(url, &["status"]);
    assert!(
        said.contains("cannot open the database postgres://bridge:***@"),
        "{said}"
    );
    assert!(!said.contains("s3cret"), "{said}");
}

#[test]
fn the_store_url_must_be_postgres_and_is_shown_masked() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::fresh_db(dir.path(), "a");
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[store]\nurl = \"mysql://bridge@db/forum\"\n").unwrap();
    let out = listbridge(
        &db,
        &["check-config", "--config", config.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("store.url") && err.contains("postgres://"),
        "{err}"
    );

    std::fs::write(
        &config,
        "[store]\nurl = \"postgres://bridge:s3cret@db.example.org/forum\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_listbridge"))
        .args(["check-config", "--config", config.to_str().unwrap()])
        .env_remove("LISTBRIDGE_DB")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("database postgres://bridge:***@db.example.org/forum"),
        "{said}"
    );
    assert!(!said.contains("s3cret"), "{said}");
}
