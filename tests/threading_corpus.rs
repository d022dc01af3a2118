#![cfg(feature = "corpora")]
//! The threader against notmuch's own test corpus: the 53-file `default/` maildir must give
//! the 24 threads, and inside each the depths, that notmuch shows (`expected.json`), and the
//! ghost-root, parent-priority and loop cases must come out as notmuch's tests expect. Mail is
//! read with mail-parser and our id parsers on the raw header values, as ingest does.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use listbridge::mail::ids::{parse_in_reply_to, parse_message_id, parse_references};
use listbridge::thread::{ThreadMessage, arrange, group};
use mail_parser::MessageParser;

/// What the test needs from one mail file.
#[derive(Debug, Clone)]
struct Mail {
    file: PathBuf,
    id: String,
    references: Vec<String>,
    in_reply_to: Option<String>,
    date: i64,
    author: String,
    subject: String,
}

fn notmuch_dir() -> PathBuf {
    common::corpora_dir().join("threading/notmuch")
}

/// Every file under `dir`, recursively, sorted by path.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read_mail(file: &Path) -> Mail {
    let bytes = std::fs::read(file).unwrap();
    let message = MessageParser::default()
        .parse(&bytes)
        .unwrap_or_else(|| panic!("{}: mail-parser failed", file.display()));
    let id = message
        .header_raw("Message-ID")
        .and_then(parse_message_id)
        .unwrap_or_else(|| panic!("{}: no usable Message-ID", file.display()));
    let author = message
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.name().filter(|n| !n.is_empty()).or(a.address()))
        .unwrap_or_default()
        .to_owned();
    Mail {
        file: file.to_path_buf(),
        id,
        references: message
            .header_raw("References")
            .map(parse_references)
            .unwrap_or_default(),
        in_reply_to: message
            .header_raw("In-Reply-To")
            .and_then(parse_in_reply_to),
        date: message.date().map(|d| d.to_timestamp()).unwrap_or(0),
        author,
        subject: message.subject().unwrap_or_default().to_owned(),
    }
}

fn view(mails: &[Mail]) -> Vec<ThreadMessage<'_>> {
    mails
        .iter()
        .map(|m| ThreadMessage {
            id: &m.id,
            references: &m.references,
            in_reply_to: m.in_reply_to.as_deref(),
            fallback_parent: None,
            date: m.date,
        })
        .collect()
}

/// One arranged message: (depth, mail index, parent mail index).
type Row = (u32, usize, Option<usize>);

/// Groups then arranges, as the store does: threads in order of first appearance, each in
/// thread order, indices into `mails`.
fn threads(mails: &[Mail]) -> Vec<Vec<Row>> {
    let all = view(mails);
    let numbers = group(&all);
    let count = numbers.iter().max().map_or(0, |n| n + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (i, &n) in numbers.iter().enumerate() {
        members[n].push(i);
    }
    members
        .iter()
        .map(|idx| {
            let subset: Vec<ThreadMessage> = idx.iter().map(|&i| all[i]).collect();
            arrange(&subset)
                .iter()
                .map(|p| (p.depth, idx[p.index], p.parent.map(|q| idx[q])))
                .collect()
        })
        .collect()
}

/// `YYYY-MM-DD` in UTC (notmuch's test suite runs with TZ=UTC).
fn utc_day(ts: i64) -> String {
    // Howard Hinnant's days-to-civil.
    let z = ts.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The author as notmuch-tree prints it: cut to 20 characters.
fn author20(author: &str) -> String {
    author.chars().take(20).collect()
}

/// The subject as notmuch-tree prints it: leading `Re: ` stripped.
fn tree_subject(subject: &str) -> String {
    let mut s = subject.trim();
    while let Some(rest) = s.strip_prefix("Re:").or_else(|| s.strip_prefix("re:")) {
        s = rest.trim_start();
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One message line as the expected tree shows it: (depth, date, author).
type Line = (u32, String, String);

fn describe(lines: &[Line]) -> String {
    lines
        .iter()
        .fold(String::new(), |mut s, (depth, date, author)| {
            let _ = writeln!(s, "    {}{date} {author}", "  ".repeat(*depth as usize));
            s
        })
}

#[test]
fn notmuch_default_corpus_threads_as_notmuch_does() {
    let files = files_under(&notmuch_dir().join("default"));
    assert_eq!(files.len(), 53, "files under threading/notmuch/default");

    let mut seen = HashSet::new();
    let mut duplicates = Vec::new();
    let mut mails = Vec::new();
    for file in &files {
        let mail = read_mail(file);
        if seen.insert(mail.id.clone()) {
            mails.push(mail);
        } else {
            duplicates.push(mail.id);
        }
    }
    assert_eq!(
        duplicates,
        ["20091117232137.GA7669@griffis1.net"],
        "exactly one duplicate Message-ID"
    );
    assert_eq!(mails.len(), 52);

    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(notmuch_dir().join("expected.json")).unwrap(),
    )
    .unwrap();
    let ours = threads(&mails);
    assert_eq!(ours.len(), 24, "thread count");
    assert_eq!(expected["thread_count"], 24);

    let mut want_sizes: Vec<u64> = expected["thread_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let mut got_sizes: Vec<u64> = ours.iter().map(|t| t.len() as u64).collect();
    want_sizes.sort_unstable();
    got_sizes.sort_unstable();
    assert_eq!(got_sizes, want_sizes, "thread size multiset");

    // Pair each expected thread with ours by its root: (date, author, subject).
    let root_key = |date: &str, author: &str, subject: &str| {
        (date.to_owned(), author20(author), tree_subject(subject))
    };
    let mut by_root: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for (t, rows) in ours.iter().enumerate() {
        let root = &mails[rows[0].1];
        let key = root_key(&utc_day(root.date), &root.author, &root.subject);
        assert!(
            by_root.insert(key.clone(), t).is_none(),
            "two of our threads share root {key:?}"
        );
    }

    let mut failures = String::new();
    let mut paired = HashSet::new();
    for thread in expected["threads"].as_array().unwrap() {
        let msgs = thread["messages"].as_array().unwrap();
        let want: Vec<Line> = msgs
            .iter()
            .map(|m| {
                (
                    u32::try_from(m["depth"].as_u64().unwrap()).unwrap(),
                    m["date"].as_str().unwrap().to_owned(),
                    m["author"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let root = &msgs[0];
        let key = root_key(
            root["date"].as_str().unwrap(),
            root["author"].as_str().unwrap(),
            root["subject_resolved"].as_str().unwrap(),
        );
        let Some(&t) = by_root.get(&key) else {
            let _ = writeln!(
                failures,
                "expected thread {} has no thread of ours with root {key:?}:\n{}",
                thread["index"],
                describe(&want)
            );
            continue;
        };
        paired.insert(t);
        let got: Vec<Line> = ours[t]
            .iter()
            .map(|&(depth, i, _)| (depth, utc_day(mails[i].date), author20(&mails[i].author)))
            .collect();
        let want_depths: Vec<u32> = want.iter().map(|l| l.0).collect();
        let got_depths: Vec<u32> = got.iter().map(|l| l.0).collect();
        if got != want || got_depths != want_depths {
            let _ = writeln!(
                failures,
                "thread {:?} differs\n  expected (depth, date, author):\n{}  ours:\n{}  files:\n{}",
                key.2,
                describe(&want),
                describe(&got),
                ours[t].iter().fold(String::new(), |mut s, &(_, i, _)| {
                    let _ = writeln!(s, "    {}", mails[i].file.display());
                    s
                }),
            );
        }
    }
    assert_eq!(paired.len(), 24, "every thread paired once\n{failures}");
    assert!(
        failures.is_empty(),
        "threading differs from notmuch:\n{failures}"
    );
}

/// Reads a folder's mails and returns their threads, each as (file name, depth, parent file
/// name) in thread order.
fn named_threads(dir: &str) -> Vec<Vec<(String, u32, Option<String>)>> {
    let mails: Vec<Mail> = files_under(&notmuch_dir().join(dir))
        .iter()
        .map(|f| read_mail(f))
        .collect();
    let name = |i: usize| {
        mails[i]
            .file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    threads(&mails)
        .iter()
        .map(|rows| {
            rows.iter()
                .map(|&(depth, i, parent)| (name(i), depth, parent.map(name)))
                .collect()
        })
        .collect()
}

fn entry(name: &str, depth: u32, parent: Option<&str>) -> (String, u32, Option<String>) {
    (name.to_owned(), depth, parent.map(str::to_owned))
}

#[test]
fn ghost_root_corpus() {
    let mut threads = named_threads("threading/ghost-root");
    threads.sort_by_key(|t| std::cmp::Reverse(t.len()));
    assert_eq!(threads.len(), 2, "{threads:#?}");
    // real-root -> child -> {fake-root, grand-child -> great-grand-child, grand-child2}
    assert_eq!(
        threads[0],
        [
            entry("real-root", 0, None),
            entry("child", 1, Some("real-root")),
            entry("fake-root", 2, Some("child")),
            entry("grand-child", 2, Some("child")),
            entry("great-grand-child", 3, Some("grand-child")),
            entry("grand-child2", 2, Some("child")),
        ]
    );
    // Gregor's message with the RT AutoReply under it, and the RT "Resolved" message as a
    // second top-level tree: both RT mails hang off the missing RT-Ticket id.
    let gregor = "1529425589.M615261P21663.len:2,S";
    assert_eq!(
        threads[1],
        [
            entry(gregor, 0, None),
            entry("1532672447.R3166642290392477575.len:2,S", 1, Some(gregor)),
            entry("1532672447.R6968667928580738175.len:2,S", 0, None),
        ]
    );
}

#[test]
fn parent_priority_corpus() {
    assert_eq!(
        named_threads("threading/parent-priority/cur"),
        [[
            entry("root", 0, None),
            entry("child", 1, Some("root")),
            entry("grand-child", 2, Some("child")),
        ]]
    );
}

#[test]
fn loop_corpus() {
    assert_eq!(
        named_threads("broken/loop"),
        [[
            entry("loop-12", 0, None),
            entry("loop-21", 1, Some("loop-12"))
        ]]
    );
}
