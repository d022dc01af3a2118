//! Old archives as they really are, end to end through the command line, on hand-written
//! fixtures in `fixtures/old-archives/`: phrase-form In-Reply-To, ids that name nothing, two
//! Message-ID headers, subject grouping under the root whatever the arrival order.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::cli::{listbridge, ok};
use serde_json::Value;

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

/// Where `threading.mbox`, imported with the subject fallback on, puts each message.
fn threading_placements() -> BTreeMap<String, Placed> {
    let dir = tempfile::tempdir().unwrap();
    placements(&import(
        dir.path(),
        "a",
        true,
        &[&fixture("threading.mbox")],
    ))
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
    let p = threading_placements();
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
    let p = threading_placements();
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
    let orders = common::arrival_orders(n, 5);
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

/// The messages of an mbox as the archive reads them: (envelope, bytes).
fn read_back(path: &Path) -> Vec<(Option<String>, Vec<u8>)> {
    listbridge::archive::readers::read_paths(&[path.to_owned()])
        .unwrap()
        .map(|m| {
            let m = m.unwrap();
            (m.envelope, m.bytes)
        })
        .collect()
}

#[test]
fn hand_built_mbox_empty_and_headerless_mail_are_all_read_and_given_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let singles = ok(
        &dir.path().join("singles.db"),
        &[
            "import",
            fixture("empty.eml").to_str().unwrap(),
            fixture("blank-first.eml").to_str().unwrap(),
        ],
    );
    common::assert_says(
        &singles,
        &[
            "0 new messages from 2 read",
            "unparseable:      2",
            "empty.eml#0: the message is empty",
            "blank-first.eml#0: no header lines",
        ],
    );
    let out = listbridge(&dir.path().join("singles.db"), &["export", "mbox"], None);
    assert_eq!(
        read_back_bytes(&out.stdout, dir.path()),
        [
            Vec::new(),
            std::fs::read(fixture("blank-first.eml")).unwrap()
        ]
    );

    let summary = ok(
        &db,
        &["import", fixture("hand-built.mbox").to_str().unwrap()],
    );
    // Eight separators start messages, blank line before them or not; the ninth line shaped
    // like one has no header after it, and the summary says so.
    common::assert_says(
        &summary,
        &[
            "7 new messages from 8 read",
            "unparseable:      1",
            "hand-built.mbox#6: no header lines",
            "fewer messages than separator lines: 1 ",
        ],
    );
    let p = placements(&db);
    for id in 1..=8 {
        let id = format!("hb-{id}@example.org");
        assert_eq!(
            p.contains_key(&id),
            id != "hb-7@example.org",
            "{id}: {p:#?}"
        );
    }
    // The military zone no longer swallows the Message-ID (hb-5 is found above), and the
    // pipermail author's encoded local part becomes a real address.
    let json = ok(&db, &["search", "message six", "--json"]);
    assert!(json.contains("g\u{fc}l@example.org"), "{json}");

    // Export gives every message back: its envelope as it was, its bytes, and no newline
    // added to the last line.
    // An export is mboxrd; with the original envelopes kept, its name says so to a reader.
    let exported = dir.path().join("export.mboxrd");
    let out = listbridge(&db, &["export", "mbox"], None);
    assert!(out.status.success());
    std::fs::write(&exported, &out.stdout).unwrap();
    assert!(out.stdout.ends_with(b"The last line has no newline."));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\nFrom cal@example.org Mon Jan  6 11:00:00 +0000 1997\n"));
    assert!(text.contains("\nFrom - Mon Jan  6 12:00:00 1997\n"));
    assert!(!text.contains("mboxrd@z Mon Jan"), "{text}");
    let mut want = read_back(&fixture("hand-built.mbox"));
    want.sort();
    let mut got = read_back(&exported);
    got.sort();
    assert_eq!(got.len(), 8);
    assert_eq!(got, want);
}

/// The message bytes of an exported mbox, read back from a file in `dir`.
fn read_back_bytes(mbox: &[u8], dir: &Path) -> Vec<Vec<u8>> {
    let path = dir.join("read-back.mboxrd");
    std::fs::write(&path, mbox).unwrap();
    read_back(&path).into_iter().map(|(_, b)| b).collect()
}

#[test]
fn trimming_folds_only_device_sign_offs_and_dash_names_and_keeps_interleaved_attributions() {
    use listbridge::mail::trim::{TrimOptions, trim};
    let dir = fixture("trim");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".txt") && !name.ends_with(".trimmed.txt")
        })
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 8);
    let mut wrong = Vec::new();
    for case in cases {
        let body = std::fs::read_to_string(&case).unwrap();
        let want = std::fs::read_to_string(case.with_extension("trimmed.txt")).unwrap();
        let got = trim(&body, &TrimOptions::default());
        if got.text.trim() != want.trim() {
            wrong.push((case.file_name().unwrap().to_owned(), got.text));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
