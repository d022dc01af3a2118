//! Old archives as they really are, end to end through the command line, on hand-written
//! fixtures in `fixtures/old-archives/`: phrase-form In-Reply-To, ids that name nothing, two
//! Message-ID headers, subject grouping under the root whatever the arrival order.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn listbridge(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_listbridge"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("LISTBRIDGE_DB")
        .env_remove("LISTBRIDGE_CONFIG")
        .output()
        .expect("the listbridge binary runs")
}

fn ok(db: &Path, args: &[&str]) -> String {
    let out = listbridge(db, args);
    assert!(
        out.status.success(),
        "listbridge {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn fixture(name: &str) -> PathBuf {
    common::fixtures_dir().join("old-archives").join(name)
}

/// One placed message of `export threads --json`.
#[derive(Debug, Clone, PartialEq)]
struct Placed {
    thread: i64,
    parent: Option<String>,
    from: String,
}

/// message_id -> where it sits.
fn placements(db: &Path) -> BTreeMap<String, Placed> {
    let threads: Value =
        serde_json::from_str(&ok(db, &["export", "threads", "--json"])).expect("valid JSON");
    let mut map = BTreeMap::new();
    for t in threads["threads"].as_array().unwrap() {
        for m in t["messages"].as_array().unwrap() {
            map.insert(
                m["message_id"].as_str().unwrap().to_owned(),
                Placed {
                    thread: t["thread"].as_i64().unwrap(),
                    parent: m["parent"].as_str().map(str::to_owned),
                    from: m["from"].as_str().unwrap_or_default().to_owned(),
                },
            );
        }
    }
    map
}

/// The message id of the one message whose author contains `who`.
fn by_author<'a>(p: &'a BTreeMap<String, Placed>, who: &str) -> (&'a String, &'a Placed) {
    let found: Vec<_> = p.iter().filter(|(_, m)| m.from.contains(who)).collect();
    assert_eq!(found.len(), 1, "one message by {who}: {p:#?}");
    found[0]
}

fn import(dir: &Path, name: &str, subject_fallback: bool, paths: &[&Path]) -> PathBuf {
    let db = dir.join(format!("{name}.db"));
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!("[threading]\nsubject_fallback = {subject_fallback}\n"),
    )
    .unwrap();
    let mut args = vec!["--config", config.to_str().unwrap(), "import"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    ok(&db, &args);
    db
}

/// The fixture's messages, each as its separator line and bytes.
fn messages(mbox: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(mbox).unwrap();
    let mut out: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("From ") && !line.starts_with("From: ") {
            out.push(String::new());
        }
        out.last_mut().unwrap().push_str(line);
    }
    out
}

#[test]
fn phrase_in_reply_to_and_ids_that_name_nothing_do_not_join_threads() {
    let dir = tempfile::tempdir().unwrap();
    let db = import(dir.path(), "a", true, &[&fixture("threading.mbox")]);
    let p = placements(&db);
    // The Z-Mail replies name Jane's address, not a message: each goes under its own
    // subject's first message, and the two conversations stay apart.
    let bob = &p["9604021030.AA01234@mail.example.net"];
    let carol = &p["199605030915.JAA00042@example.com"];
    assert_eq!(bob.parent.as_deref(), Some("zm-spacers@mail.example.org"));
    assert_eq!(carol.parent.as_deref(), Some("zm-rota@mail.example.org"));
    assert_ne!(bob.thread, carol.thread);
    assert!(!p.contains_key("jane@example.org"));
    // Two Message-ID headers: the first is the message's.
    assert!(p.contains_key("audit-first@example.org"), "{p:#?}");
    assert!(!p.contains_key("redelivered-1@archiver.example.net"));
    assert_eq!(
        p["audit-reply@example.org"].parent.as_deref(),
        Some("audit-first@example.org")
    );
    // `<no.id>` twice, three years apart, and `<x>`: each message keeps an id of its own.
    assert!(!p.contains_key("no.id") && !p.contains_key("x"), "{p:#?}");
    let (joe_id, joe) = by_author(&p, "Joe Red");
    let (kim_id, kim) = by_author(&p, "Kim Pink");
    let (_, oz) = by_author(&p, "Oz Tan");
    assert_ne!(joe_id, kim_id);
    assert_ne!(joe.thread, kim.thread);
    assert_ne!(oz.thread, joe.thread);
    assert_ne!(oz.thread, kim.thread);
    // Lee's reply names `<no.id>`: it finds Kim's post by its subject, never Joe's.
    assert_ne!(p["lee-1@example.org"].thread, joe.thread);
}

#[test]
fn subject_replies_hang_under_the_root_and_same_subjects_without_re_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let db = import(dir.path(), "a", true, &[&fixture("threading.mbox")]);
    let p = placements(&db);
    let root = &p["closure-root@example.org"];
    for reply in ["closure-reply-1@example.org", "closure-reply-2@example.org"] {
        assert_eq!(
            p[reply].parent.as_deref(),
            Some("closure-root@example.org"),
            "{reply}"
        );
    }
    // Same subject, no "Re:", no references: a thread of its own.
    assert_ne!(p["closure-other@example.org"].thread, root.thread);
    assert_ne!(p["flu-1@example.org"].thread, p["flu-2@example.org"].thread);
}

#[test]
fn threads_do_not_depend_on_import_order_or_reindex() {
    let dir = tempfile::tempdir().unwrap();
    let msgs = messages(&fixture("threading.mbox"));
    let n = msgs.len();
    let orders: Vec<Vec<usize>> = vec![
        (0..n).collect(),
        (0..n).rev().collect(),
        (0..n)
            .filter(|i| i % 2 == 1)
            .chain((0..n).filter(|i| i % 2 == 0).rev())
            .collect(),
        (0..n).map(|i| (i * 5) % n).collect(),
    ];
    let shape = |db: &Path| -> Vec<(String, Option<String>, Vec<String>)> {
        let p = placements(db);
        p.iter()
            .map(|(id, m)| {
                let mut mates: Vec<String> = p
                    .iter()
                    .filter(|(_, o)| o.thread == m.thread)
                    .map(|(i, _)| i.clone())
                    .collect();
                mates.sort();
                (id.clone(), m.parent.clone(), mates)
            })
            .collect()
    };
    let mut first = None;
    for (k, order) in orders.iter().enumerate() {
        // One mbox per order, so arrival order is the file order.
        let path = dir.path().join(format!("order{k}.mbox"));
        let text: String = order.iter().map(|&i| msgs[i].clone() + "\n").collect();
        std::fs::write(&path, text).unwrap();
        let db = import(dir.path(), &format!("order{k}"), true, &[&path]);
        let got = shape(&db);
        ok(&db, &["reindex"]);
        assert_eq!(shape(&db), got, "reindex changes order {k}");
        match &first {
            None => first = Some(got),
            Some(want) => assert_eq!(&got, want, "order {k} gives other threads"),
        }
    }
}

#[test]
fn with_subject_grouping_off_nothing_is_joined_by_subject() {
    let dir = tempfile::tempdir().unwrap();
    let db = import(dir.path(), "off", false, &[&fixture("threading.mbox")]);
    let p = placements(&db);
    for (reply, root) in [
        (
            "9604021030.AA01234@mail.example.net",
            "zm-spacers@mail.example.org",
        ),
        (
            "199605030915.JAA00042@example.com",
            "zm-rota@mail.example.org",
        ),
        ("closure-reply-1@example.org", "closure-root@example.org"),
        ("closure-reply-2@example.org", "closure-root@example.org"),
    ] {
        assert_eq!(p[reply].parent, None, "{reply}");
        assert_ne!(p[reply].thread, p[root].thread, "{reply}");
    }
    assert_ne!(
        p["9604021030.AA01234@mail.example.net"].thread,
        p["199605030915.JAA00042@example.com"].thread
    );
}
