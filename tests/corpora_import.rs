//! The archive core against real outside mail (../shared/corpora): notmuch's threading corpus,
//! mail-parser's MIME messages, two real list archives and a pipermail export. These tests fail,
//! never skip, when the corpora are missing.
#![cfg(feature = "corpora")]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use listbridge::archive::pipeline::{ImportSummary, import};
use listbridge::archive::readers::read_paths;
use listbridge::mail::mbox::{export_envelope, write_mboxrd};
use listbridge::mail::parse::parse_message;
use listbridge::mail::render::RenderOptions;
use listbridge::store::{DeriveSettings, MessageId, Store, ThreadExport};
use serde_json::Value;

fn open(dir: &Path, name: &str) -> Store {
    Store::open(dir.join(name), DeriveSettings::default()).expect("store opens")
}

fn import_paths(store: &mut Store, paths: &[PathBuf]) -> ImportSummary {
    import(store, paths, "main", &RenderOptions::default(), 0).expect("import succeeds")
}

fn threads(store: &Store) -> Vec<ThreadExport> {
    let mut all = Vec::new();
    store
        .for_each_thread(None, |t| {
            all.push(t);
            Ok(())
        })
        .unwrap();
    all
}

fn exported_mbox(store: &Store) -> Vec<u8> {
    let mut out = Vec::new();
    store
        .for_each_raw(None, None, |raw| {
            write_mboxrd(
                &mut out,
                Some(&export_envelope(raw.envelope.as_deref())),
                &raw.bytes,
            )?;
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn notmuch_default_corpus_gives_notmuchs_threads() {
    let corpora = common::corpora_dir();
    let notmuch = corpora.join("threading/notmuch");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(notmuch.join("expected.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), "n.db");
    let summary = import_paths(&mut store, &[notmuch.join("default")]);
    assert_eq!(summary.read, 53);
    assert_eq!(summary.imported, 52);
    assert_eq!(summary.duplicates, 1);
    assert!(summary.unparseable.is_empty(), "{:?}", summary.unparseable);
    assert_eq!(summary.threads, 24);

    let ours = threads(&store);
    let mut our_sizes: Vec<usize> = ours.iter().map(|t| t.messages.len()).collect();
    let mut their_sizes: Vec<usize> = expected["thread_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap() as usize)
        .collect();
    our_sizes.sort_unstable();
    their_sizes.sort_unstable();
    assert_eq!(our_sizes, their_sizes);

    // Pair threads by their root's date and author, then compare the depth sequences.
    let mut unmatched = Vec::new();
    for theirs in expected["threads"].as_array().unwrap() {
        let msgs = theirs["messages"].as_array().unwrap();
        let want: Vec<u64> = msgs.iter().map(|m| m["depth"].as_u64().unwrap()).collect();
        let key = |date: &str, author: &str| {
            format!("{date} {}", author.chars().take(20).collect::<String>())
        };
        let want_first = key(
            msgs[0]["date"].as_str().unwrap(),
            msgs[0]["author"].as_str().unwrap(),
        );
        let found = ours.iter().find(|t| {
            let first = &t.messages[0];
            let name = first.from.split(" <").next().unwrap_or_default();
            t.messages.len() == want.len()
                && key(&first.date.clone().unwrap_or_default()[..10], name) == want_first
        });
        match found {
            Some(t) => {
                let got: Vec<u64> = t.messages.iter().map(|m| u64::from(m.depth)).collect();
                assert_eq!(got, want, "depths differ in thread {:?}", theirs["subject"]);
            }
            None => unmatched.push(want_first),
        }
    }
    assert!(
        unmatched.is_empty(),
        "threads with no match (root date, author): {unmatched:?}"
    );
}

fn ids_in(thread: &ThreadExport) -> Vec<&str> {
    thread
        .messages
        .iter()
        .map(|m| m.message_id.as_str())
        .collect()
}

#[test]
fn notmuch_ghost_root_parent_priority_and_loop_cases() {
    let notmuch = common::corpora_dir().join("threading/notmuch");
    let dir = tempfile::tempdir().unwrap();

    let mut store = open(dir.path(), "ghost.db");
    import_paths(&mut store, &[notmuch.join("threading/ghost-root")]);
    let all = threads(&store);
    let by_id: HashMap<&str, (usize, Option<&str>)> = all
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            t.messages
                .iter()
                .map(move |m| (m.message_id.as_str(), (i, m.parent.as_deref())))
        })
        .collect();
    let find = |needle: &str| -> (usize, Option<&str>) {
        let id = if needle.ends_with('@') {
            format!("{needle}example.org")
        } else {
            needle.to_owned()
        };
        *by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{id} not in the archive: {by_id:?}"))
    };
    let gregor = find("87bmc6lp3h.fsf@len.workgroup");
    let rt: Vec<_> = by_id
        .iter()
        .filter(|(id, _)| id.starts_with("rt-"))
        .collect();
    assert_eq!(rt.len(), 2, "the two RT messages: {by_id:?}");
    for (_, (thread, _)) in &rt {
        assert_eq!(
            *thread, gregor.0,
            "RT messages thread with Gregor's message"
        );
    }
    // The AutoReply answers Gregor's message; the other RT message is a second root.
    let roots = all[gregor.0]
        .messages
        .iter()
        .filter(|m| m.parent.is_none())
        .count();
    assert_eq!(roots, 2, "{:?}", all[gregor.0]);

    let real_root = find("000-real-root@");
    for (needle, parent) in [
        ("001-child@", "000-real-root@"),
        ("001-fake-message-root@", "001-child@"),
        ("001-grand-child@", "001-child@"),
        ("001-great-grand-child@", "001-grand-child@"),
        ("001-grand-child2@", "001-child@"),
    ] {
        let (thread, got) = find(needle);
        assert_eq!(thread, real_root.0, "{needle} is in real-root's thread");
        assert!(
            got.is_some_and(|p| p.contains(parent)),
            "{needle}'s parent should be {parent}, is {got:?}"
        );
    }

    let mut store = open(dir.path(), "priority.db");
    import_paths(&mut store, &[notmuch.join("threading/parent-priority/cur")]);
    let all = threads(&store);
    assert_eq!(all.len(), 1, "{all:?}");
    let depths: Vec<u32> = all[0].messages.iter().map(|m| m.depth).collect();
    assert_eq!(depths, [0, 1, 2], "{:?}", ids_in(&all[0]));

    let mut store = open(dir.path(), "loop.db");
    let summary = import_paths(&mut store, &[notmuch.join("broken/loop")]);
    assert_eq!(summary.imported, 2);
    let all = threads(&store);
    assert_eq!(all.len(), 1);
    let dates: Vec<&str> = all[0]
        .messages
        .iter()
        .map(|m| m.date.as_deref().unwrap())
        .collect();
    // Thu, 16 Jun 2016 22:14:41 -0400 first, then Fri, 17 Jun 2016 22:14:41 -0400 (in UTC).
    assert_eq!(dates, ["2016-06-17T02:14:41Z", "2016-06-18T02:14:41Z"]);
}

#[test]
fn every_mime_corpus_message_imports_lf_and_crlf() {
    let src = common::corpora_dir().join("mime/mail-parser/eml");
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    let mut count = 0;
    for suite in ["rfc", "legacy", "thirdparty", "malformed"] {
        for file in common::eml_files(&src.join(suite)) {
            let (lf, crlf) = common::lf_and_crlf(&std::fs::read(&file).unwrap());
            let name = file.file_stem().unwrap().to_string_lossy().into_owned();
            for (variant, data) in [("lf", lf), ("crlf", crlf)] {
                let d = inputs.join(variant).join(suite);
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join(format!("{name}.eml")), data).unwrap();
            }
            count += 1;
        }
    }
    assert_eq!(count, 107);
    let mut store = open(dir.path(), "mime.db");
    let summary = import_paths(&mut store, std::slice::from_ref(&inputs));
    assert_eq!(summary.read, 214, "{summary:?}");
    assert!(summary.read_errors.is_empty(), "{:?}", summary.read_errors);
    let counts = store.counts().unwrap();
    // Nothing lost: every distinct input is stored raw, and each stored mail is a message,
    // a further copy of one, or a reported unparseable mail.
    let distinct: std::collections::HashSet<Vec<u8>> = walk(&inputs)
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(counts.raw, distinct.len() as u64);
    assert_eq!(
        counts.messages + counts.copies + counts.unparseable,
        counts.raw
    );
    assert_eq!(summary.unparseable.len() as u64, counts.unparseable);
    println!(
        "mime corpus: {} read, {} raw stored, {} messages, {} copies, {} unparseable: {:?}",
        summary.read,
        counts.raw,
        counts.messages,
        counts.copies,
        counts.unparseable,
        summary.unparseable
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p)
            } else {
                files.push(p)
            }
        }
    }
    files
}

/// Imports a real list archive and checks the invariants the corpora README lists.
fn check_list_archive(file: &str, read: u64, distinct: u64) {
    let path = common::corpora_dir().join("archives").join(file);
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), "a.db");
    let summary = import_paths(&mut store, std::slice::from_ref(&path));
    println!("{file}: {summary:?}");
    assert_eq!(summary.read, read);
    assert_eq!(summary.imported, distinct, "{summary:?}");
    assert_eq!(summary.duplicates, read - distinct);
    assert!(summary.unparseable.is_empty());
    assert_eq!(
        summary.renamed, 0,
        "the corpus's repeated ids are re-deliveries of the same mail"
    );

    // A second import adds nothing.
    let again = import_paths(&mut store, std::slice::from_ref(&path));
    assert_eq!((again.imported, again.already_archived), (0, read));

    // Export reproduces every message's bytes.
    let exported = dir.path().join("export.mbox");
    std::fs::write(&exported, exported_mbox(&store)).unwrap();
    let mut original = read_paths(std::slice::from_ref(&path))
        .unwrap()
        .map(|m| m.unwrap().bytes);
    let mut back = read_paths(&[exported]).unwrap().map(|m| m.unwrap().bytes);
    let mut n = 0;
    loop {
        match (original.next(), back.next()) {
            (None, None) => break,
            (Some(a), Some(b)) => assert!(a == b, "message {n} differs after export"),
            (a, b) => panic!(
                "export has a different message count at {n}: {:?} {:?}",
                a.is_some(),
                b.is_some()
            ),
        }
        n += 1;
    }
    assert_eq!(n, read);

    // Every reply whose parent is in the archive sits under it.
    let mut place: HashMap<MessageId, (i64, Option<MessageId>)> = HashMap::new();
    for t in threads(&store) {
        for m in t.messages {
            place.insert(m.message_id, (t.thread, m.parent));
        }
    }
    let mut checked = 0;
    let mut wrong = Vec::new();
    for raw in read_paths(&[path]).unwrap() {
        let raw = raw.unwrap();
        let parsed = parse_message(&raw.bytes, None, &RenderOptions::default()).unwrap();
        let (Some(id), Some(parent)) = (
            parsed.message_id,
            parsed.in_reply_to.or(parsed.references.last().cloned()),
        ) else {
            continue;
        };
        if id == parent {
            continue; // a self-reference names no parent
        }
        let (Some(me), Some(them)) = (place.get(id.as_str()), place.get(parent.as_str())) else {
            continue;
        };
        checked += 1;
        if me.0 != them.0 || me.1.as_deref() != Some(parent.as_str()) {
            wrong.push((id, parent, me.clone()));
        }
    }
    println!(
        "{file}: {checked} replies with their parent in the archive, {} misplaced",
        wrong.len()
    );
    assert!(checked > 0);
    assert!(
        wrong.is_empty(),
        "replies not under their parent: {:?}",
        &wrong[..wrong.len().min(10)]
    );
}

#[test]
fn linux_audit_imports_completely_and_exports_losslessly() {
    check_list_archive("linux-audit.mbox.gz", 2958, 2883);
}

#[test]
fn linux_man_imports_completely_and_exports_losslessly() {
    check_list_archive("linux-man.mbox.gz", 17_885, 17_879);
}

#[test]
fn pipermail_sample_imports_with_real_authors() {
    let folder = common::corpora_dir().join("archives/pipermail/r-sig-finance");
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), "p.db");
    let summary = import_paths(&mut store, &[folder]);
    println!("pipermail: {summary:?}");
    assert_eq!(summary.read, 15_332);
    assert!(summary.unparseable.is_empty());
    let mut authors: BTreeMap<String, u64> = BTreeMap::new();
    for t in threads(&store) {
        for m in t.messages {
            *authors.entry(m.from).or_default() += 1;
        }
    }
    let total: u64 = authors.values().sum();
    let obfuscated: u64 = authors
        .iter()
        .filter(|(a, _)| a.contains(" at "))
        .map(|(_, n)| n)
        .sum();
    let with_name: u64 = authors
        .iter()
        .filter(|(a, _)| {
            !a.is_empty() && !a.starts_with('<') && !a.contains('@') || a.contains(" <")
        })
        .map(|(_, n)| n)
        .sum();
    let with_addr: u64 = authors
        .iter()
        .filter(|(a, _)| a.contains('@'))
        .map(|(_, n)| n)
        .sum();
    println!(
        "pipermail authors: {total} messages, {with_name} with a name, {with_addr} with an address, {obfuscated} still obfuscated"
    );
    assert_eq!(obfuscated, 0, "some authors are still 'user at host'");
    // pipermail gives some authors as a bare address, and from 2018 only the name survives
    // the mangling; every message keeps at least one of the two.
    let anonymous = authors.get("").copied().unwrap_or(0);
    assert!(
        anonymous * 1000 <= total,
        "{anonymous} of {total} messages have no author"
    );
    assert!(
        with_name * 100 >= total * 95,
        "names recovered for {with_name} of {total}"
    );
    assert!(
        with_addr * 100 >= total * 90,
        "addresses recovered for {with_addr} of {total}"
    );
}

/// Thread partition: message ids grouped by thread, sorted.
fn partition(store: &Store) -> Vec<Vec<String>> {
    common::partition(
        threads(store)
            .iter()
            .map(|t| ids_in(t).into_iter().map(str::to_owned).collect()),
    )
}

#[test]
fn linux_audit_threads_the_same_in_reverse_order() {
    let path = common::corpora_dir().join("archives/linux-audit.mbox.gz");
    let dir = tempfile::tempdir().unwrap();
    let messages: Vec<_> = read_paths(std::slice::from_ref(&path))
        .unwrap()
        .map(|m| m.unwrap())
        .collect();
    let reversed = dir.path().join("reversed.mbox");
    let mut out = Vec::new();
    for m in messages.iter().rev() {
        write_mboxrd(&mut out, m.envelope.as_deref(), &m.bytes).unwrap();
    }
    std::fs::write(&reversed, out).unwrap();

    let mut forward = open(dir.path(), "f.db");
    import_paths(&mut forward, &[path]);
    let mut backward = open(dir.path(), "b.db");
    import_paths(&mut backward, &[reversed]);
    let (f, b) = (partition(&forward), partition(&backward));
    assert_eq!(f.len(), b.len(), "thread counts differ");
    assert!(f == b, "the thread partition depends on the import order");
}
