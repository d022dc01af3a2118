//! Reader tests against the hand-written archives in `fixtures/archives/` and against small
//! archives written on the fly (round trips, broken files, limits).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::mail::mbox::{DEFAULT_ENVELOPE, write_mboxrd};

use super::*;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/archives")
        .join(rel)
}

fn read_all(paths: &[PathBuf]) -> Vec<RawMessage> {
    read_paths(paths).unwrap().map(|m| m.unwrap()).collect()
}

/// A fixture's path and every message read from it.
fn read_fixture(rel: &str) -> (PathBuf, Vec<RawMessage>) {
    let path = fixture(rel);
    let messages = read_all(std::slice::from_ref(&path));
    (path, messages)
}

fn text(m: &RawMessage) -> &str {
    std::str::from_utf8(&m.bytes).unwrap()
}

/// The file name and index of each message, for order checks.
fn names(messages: &[RawMessage]) -> Vec<(String, u64)> {
    messages
        .iter()
        .map(|m| {
            (
                m.origin
                    .path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                m.origin.index,
            )
        })
        .collect()
}

fn formats(paths: &[PathBuf]) -> Vec<Format> {
    let mut reader = read_paths(paths).unwrap();
    let mut out = Vec::new();
    while let Some(item) = reader.next() {
        item.unwrap();
        out.push(reader.current_format().unwrap().1);
    }
    out
}

#[test]
fn mboxo_fixture() {
    let (path, messages) = read_fixture("mbox/clinic-mboxo.mbox");
    assert_eq!(messages.len(), 3);
    assert_eq!(formats(&[path]), [Format::Mboxo; 3]);
    assert_eq!(
        messages[0].envelope.as_deref(),
        Some("alice.morgan@example.org Mon Mar  4 09:12:44 2024")
    );
    assert!(text(&messages[0]).ends_with(
        "\n>From the audit last year, half of our patients used a spacer wrongly.\n\nAlice\n"
    ));
    assert!(text(&messages[1]).contains(
        "\n\nFrom the ward round at 10:30 we sent a leaflet\nhome with each patient.\n\nBob\n"
    ));
    assert!(text(&messages[1]).ends_with("Bob\n"));
    assert!(text(&messages[2]).starts_with("From: Carol Singh"));
    assert!(text(&messages[2]).ends_with("play it back.\n"));
    assert_eq!(
        messages.iter().map(|m| m.origin.index).collect::<Vec<_>>(),
        [0, 1, 2]
    );
}

#[test]
fn mboxrd_fixture() {
    let path = fixture("mbox/clinic-mboxrd.mbox");
    assert_eq!(formats(std::slice::from_ref(&path)), [Format::Mboxrd; 2]);
    let messages = read_all(&[path]);
    assert!(
        text(&messages[0]).ends_with(
            "year?\nFrom May the meningitis ACWY certificate is checked at the border.\n"
        )
    );
    assert!(text(&messages[1]).contains("Dan wrote:\n>From May the meningitis"));
    assert!(text(&messages[1]).ends_with("\n>>From Eve, who checked the travel health pages.\n"));
}

#[test]
fn gzip_fixture_with_two_members() {
    let (path, messages) = read_fixture("mbox/foot-checks.mbox.gz");
    assert_eq!(messages.len(), 2);
    assert!(text(&messages[0]).contains("Subject: Diabetic foot checks\n"));
    assert!(text(&messages[1]).ends_with("trained them.\n"));
    assert_eq!(messages[1].origin, Origin { path, index: 1 });
}

#[test]
fn maildir_fixture() {
    let messages = read_all(&[fixture("maildir")]);
    assert_eq!(
        names(&messages),
        [
            ("1717775100.M1P100.mail.example.org,S=301:2,S".into(), 0),
            ("1717780000.M2P200.mail.example.org".into(), 0),
            ("1717900000.M3P300.mail.example.org:2,RS".into(), 0),
            ("1717900500.M4P400.mail.example.org".into(), 0),
        ]
    );
    // CRLF stays CRLF; a Maildir message has no envelope.
    assert!(text(&messages[0]).starts_with("Return-Path: <hana.kowalski@example.org>\r\n"));
    assert!(text(&messages[0]).ends_with("ask.\r\n"));
    assert!(messages.iter().all(|m| m.envelope.is_none()));
    assert_eq!(formats(&[fixture("maildir")]), [Format::Maildir; 4]);
    let mut reader = read_paths(&[fixture("maildir")]).unwrap();
    assert_eq!(reader.by_ref().count(), 4);
    assert_eq!(reader.files_skipped(), 1, "dovecot-uidlist");
}

#[test]
fn pipermail_fixture() {
    let path = fixture("pipermail/2024q2.txt");
    assert_eq!(formats(std::slice::from_ref(&path)), [Format::Pipermail; 4]);
    let messages = read_all(&[path]);
    assert_eq!(messages.len(), 4);
    assert_eq!(
        messages[0].envelope.as_deref(),
        Some("hana.kowalski at example.org  Fri Jun  7 16:45:00 2024")
    );
    assert!(text(&messages[0]).ends_with(
        "certificate?\n\nFrom next month our patients will ask.\nFrom ian.doyle at example.org  Fri Jun  7 18:06:40 2024\nwas pasted into this body, with no header line after it.\n"
    ));
    // The separator straight after a body line: nothing dropped from the message before it.
    assert!(text(&messages[1]).ends_with("attachments/20240607/hrt-leaflet.pdf>\n"));
    assert!(text(&messages[2]).starts_with("From: jo.patel at example.org (Jo Patel)\n"));
    assert!(text(&messages[2]).ends_with("six months long.\n"));
    assert_eq!(
        messages[3].envelope.as_deref(),
        Some("m@r|@@h@h @end|ng |rom ex@mp|e@org  Sun Jun  9 03:35:00 2024")
    );
    assert!(text(&messages[3]).ends_with("takes referrals.\n"));
}

#[test]
fn single_message_fixture() {
    let (path, messages) = read_fixture("single/asthma-plan.eml");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].bytes, std::fs::read(&path).unwrap());
    assert_eq!(formats(&[path]), [Format::Eml]);
}

#[test]
fn whole_fixture_folder_in_sorted_order_skipping_what_is_not_mail() {
    let root = fixture("");
    let mut reader = read_paths(std::slice::from_ref(&root)).unwrap();
    let messages: Vec<_> = reader.by_ref().map(Result::unwrap).collect();
    let files: Vec<_> = names(&messages).into_iter().map(|(n, _)| n).collect();
    let mut order = files.clone();
    order.dedup();
    assert_eq!(messages.len(), 4 + 3 + 2 + 2 + 4 + 1);
    assert_eq!(
        order,
        [
            "1717775100.M1P100.mail.example.org,S=301:2,S",
            "1717780000.M2P200.mail.example.org",
            "1717900000.M3P300.mail.example.org:2,RS",
            "1717900500.M4P400.mail.example.org",
            "clinic-mboxo.mbox",
            "clinic-mboxrd.mbox",
            "foot-checks.mbox.gz",
            "2024q2.txt",
            "asthma-plan.eml",
        ]
    );
    assert_eq!(reader.files_skipped(), 2, "README.md and dovecot-uidlist");
    assert_eq!(reader.bytes_read(), reader.bytes_total());
    assert!(reader.current_format().is_none());
}

/// Tricky bodies for the mboxrd round trip.
const TRICKY: &[&[u8]] = &[
    b"Subject: escaped\n\n>From the clinic\n>>From the ward\nFrom the start of a line\n",
    b"From: first line of the message is a From header\nSubject: x\n\nbody\n",
    b"From the very start, no header at all\n\nbody\n",
    b"Subject: crlf\r\n\r\nFrom a CRLF line\r\n>From another\r\n\r\n",
    b"Subject: trailing blank lines\n\nbody\n\n\n",
    b"Subject: no final newline\n\nbody",
    b"",
    b"\nempty header section\n",
];

fn write_archive(dir: &Path, name: &str, messages: &[(Option<&str>, &[u8])]) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    for (envelope, bytes) in messages {
        write_mboxrd(&mut f, *envelope, bytes).unwrap();
    }
    path
}

fn expected_back(bytes: &[u8]) -> Vec<u8> {
    // mbox cannot say "no final newline": write_mboxrd adds one.
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        bytes.to_vec()
    } else {
        [bytes, b"\n"].concat()
    }
}

#[test]
fn write_mboxrd_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let envelopes = [
        None,
        Some("jdoe@example.org Mon Jan  1 10:00:00 2024"),
        Some("jdoe at example.org  Tue Jun  1 17:40:49 2004"),
    ];
    let messages: Vec<(Option<&str>, &[u8])> = TRICKY
        .iter()
        .enumerate()
        .map(|(i, b)| (envelopes[i % envelopes.len()], *b))
        .collect();
    let path = write_archive(dir.path(), "export.mbox", &messages);
    let back = read_all(&[path]);
    assert_eq!(back.len(), messages.len());
    for ((envelope, bytes), got) in messages.iter().zip(&back) {
        assert_eq!(
            got.envelope.as_deref(),
            Some(envelope.unwrap_or(DEFAULT_ENVELOPE))
        );
        assert_eq!(
            String::from_utf8_lossy(&got.bytes),
            String::from_utf8_lossy(&expected_back(bytes))
        );
    }
}

#[test]
fn single_escape_files_look_like_mboxo_unless_forced() {
    // With no `>>From ` line, an mboxrd file is indistinguishable from mboxo: the `>` stays,
    // unless the reader is told the format.
    let dir = tempfile::tempdir().unwrap();
    let bytes: &[u8] = b"Subject: x\n\nFrom the ward\n";
    let path = write_archive(dir.path(), "one", &[(None, bytes)]);
    let auto = read_all(std::slice::from_ref(&path));
    assert_eq!(auto[0].bytes, b"Subject: x\n\n>From the ward\n");
    let forced = ReadOptions {
        force: Some(Format::Mboxrd),
        ..ReadOptions::default()
    };
    let back: Vec<_> = read_paths_with(&[path], &forced)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(back[0].bytes, bytes);
    // Each tricky body alone round-trips when the format is known.
    for (i, bytes) in TRICKY.iter().enumerate() {
        let path = write_archive(dir.path(), &format!("t{i}"), &[(None, bytes)]);
        let back: Vec<_> = read_paths_with(&[path], &forced)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].bytes, expected_back(bytes), "tricky body {i}");
    }
}

#[test]
fn missing_path_fails_at_once() {
    let err = read_paths(&[fixture("mbox"), fixture("no-such-file.mbox")])
        .err()
        .unwrap();
    assert!(matches!(&err, ReadError::NotFound { path } if path.ends_with("no-such-file.mbox")));
    assert!(err.to_string().contains("no-such-file.mbox"));
}

#[test]
fn a_bad_file_is_an_error_item_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let not_mail = dir.path().join("notes.txt");
    std::fs::write(&not_mail, "# shopping list\n").unwrap();
    // A gzip stream cut short after its first message.
    let gz = std::fs::read(fixture("mbox/foot-checks.mbox.gz")).unwrap();
    let truncated = dir.path().join("truncated.mbox.gz");
    std::fs::write(&truncated, &gz[..gz.len() / 2 + 20]).unwrap();
    let good = fixture("single/asthma-plan.eml");
    let items: Vec<_> = read_paths(&[not_mail.clone(), truncated.clone(), good])
        .unwrap()
        .collect();
    let summary: Vec<String> = items
        .iter()
        .map(|i| match i {
            Ok(m) => format!(
                "ok {}",
                m.origin.path.file_name().unwrap().to_string_lossy()
            ),
            Err(e) => format!("err {}", e.path().file_name().unwrap().to_string_lossy()),
        })
        .collect();
    assert_eq!(summary.first().map(String::as_str), Some("err notes.txt"));
    assert!(
        summary.contains(&"err truncated.mbox.gz".to_string()),
        "{summary:?}"
    );
    assert_eq!(
        summary.last().map(String::as_str),
        Some("ok asthma-plan.eml")
    );
    let Err(ReadError::UnknownFormat { reason, .. }) = &items[0] else {
        panic!("{:?}", items[0])
    };
    assert!(reason.contains("header line"));
}

#[test]
fn gzip_is_detected_by_magic_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let gz_named_plain = dir.path().join("foot.mbox");
    std::fs::copy(fixture("mbox/foot-checks.mbox.gz"), &gz_named_plain).unwrap();
    let plain_named_gz = dir.path().join("plan.eml.gz");
    std::fs::copy(fixture("single/asthma-plan.eml"), &plain_named_gz).unwrap();
    let messages = read_all(&[gz_named_plain, plain_named_gz]);
    assert_eq!(messages.len(), 3);
    assert!(text(&messages[2]).starts_with("From: Lena Novak"));
}

#[test]
fn oversized_messages_are_error_items() {
    let paths = [
        fixture("mbox/clinic-mboxo.mbox"),
        fixture("single/asthma-plan.eml"),
    ];
    // The limit is the size of the smallest message, the third.
    let sizes: Vec<usize> = read_all(&paths).iter().map(|m| m.bytes.len()).collect();
    assert_eq!(sizes.iter().min(), Some(&sizes[2]));
    let options = ReadOptions {
        max_message_bytes: sizes[2],
        ..ReadOptions::default()
    };
    let items: Vec<_> = read_paths_with(&paths, &options).unwrap().collect();
    let kinds: Vec<_> = items
        .iter()
        .map(|i| match i {
            Ok(m) => format!("ok {}", m.origin.index),
            Err(ReadError::TooLarge { index, .. }) => format!("too large {index}"),
            Err(e) => format!("{e}"),
        })
        .collect();
    assert_eq!(kinds, ["too large 0", "too large 1", "ok 2", "too large 0"]);
}

#[test]
fn pipermail_gz_twin_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let txt = std::fs::read(fixture("pipermail/2024q2.txt")).unwrap();
    std::fs::write(dir.path().join("2024q2.txt"), &txt).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&txt).unwrap();
    std::fs::write(dir.path().join("2024q2.txt.gz"), gz.finish().unwrap()).unwrap();
    assert_eq!(read_all(&[dir.path().to_path_buf()]).len(), 4);
    // Named explicitly, both are read.
    assert_eq!(
        read_all(&[
            dir.path().join("2024q2.txt"),
            dir.path().join("2024q2.txt.gz")
        ])
        .len(),
        8
    );
}

#[test]
fn progress_counts_on_disk_bytes() {
    let path = fixture("mbox/foot-checks.mbox.gz");
    let size = std::fs::metadata(&path).unwrap().len();
    let mut reader = read_paths(&[path]).unwrap();
    assert_eq!((reader.bytes_total(), reader.bytes_read()), (size, 0));
    reader.next().unwrap().unwrap();
    assert!(reader.bytes_read() <= size);
    assert!(reader.by_ref().all(|m| m.is_ok()));
    assert_eq!(reader.bytes_read(), size);
}

#[test]
fn reader_is_send() {
    fn is_send<T: Send>() {}
    is_send::<ArchiveReader>();
    is_send::<ReadError>();
}

#[test]
fn export_envelopes_mark_mboxrd_and_keep_the_date() {
    use crate::mail::mbox::export_envelope;
    assert_eq!(export_envelope(None), "mboxrd@z Thu Jan  1 00:00:00 1970");
    assert_eq!(
        export_envelope(Some("jdoe at example.org  Tue Jan  8 17:09:09 2019")),
        "mboxrd@z Tue Jan  8 17:09:09 2019"
    );
    assert_eq!(
        export_envelope(Some("mboxrd@z Thu Jan  1 00:00:00 1970")),
        "mboxrd@z Thu Jan  1 00:00:00 1970"
    );
}
