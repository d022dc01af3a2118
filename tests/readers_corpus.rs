#![cfg(feature = "corpora")]
//! The archive readers against the real archives in the outside corpora: message counts from
//! the corpora README, sane message starts, and a lossless mboxrd round trip of linux-audit.
//! `cargo test --release --features corpora --test readers_corpus -- --nocapture` prints the
//! time to stream linux-man (a measurement, not an assertion).

mod common;

use std::path::PathBuf;
use std::time::Instant;

use listbridge::archive::readers::{Format, RawMessage, read_paths};
use listbridge::mail::mbox::write_mboxrd;

fn archive(name: &str) -> PathBuf {
    common::corpora_dir().join("archives").join(name)
}

fn read_all(path: PathBuf) -> Vec<RawMessage> {
    read_paths(&[path])
        .unwrap()
        .map(|m| m.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Every message is non-empty and starts with a header line (`Name: value`).
fn assert_starts_with_header(messages: &[RawMessage]) {
    for m in messages {
        let first = m.bytes.split(|&b| b == b'\n').next().unwrap();
        let colon = first.iter().position(|&b| b == b':');
        assert!(
            colon.is_some_and(|c| c > 0 && first[..c].iter().all(|b| (0x21..=0x7e).contains(b))),
            "{}#{} starts with {:?}",
            m.origin.path.display(),
            m.origin.index,
            String::from_utf8_lossy(first)
        );
    }
}

#[test]
fn linux_audit_count_and_round_trip() {
    let path = archive("linux-audit.mbox.gz");
    let mut reader = read_paths(std::slice::from_ref(&path)).unwrap();
    let first = reader.next().unwrap().unwrap();
    assert_eq!(reader.current_format().unwrap().1, Format::Mboxrd);
    let messages: Vec<_> = std::iter::once(first)
        .chain(reader.map(Result::unwrap))
        .collect();
    assert_eq!(messages.len(), 2_958);
    assert_starts_with_header(&messages);
    assert!(
        messages
            .iter()
            .all(|m| m.envelope.as_deref() == Some("mboxrd@z Thu Jan  1 00:00:00 1970"))
    );

    // write_mboxrd → read_paths gives every message back byte for byte.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("linux-audit.mbox");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&out).unwrap());
    for m in &messages {
        write_mboxrd(&mut w, m.envelope.as_deref(), &m.bytes).unwrap();
    }
    drop(w);
    let back = read_all(out);
    assert_eq!(back.len(), messages.len());
    for (a, b) in messages.iter().zip(&back) {
        assert!(
            a.bytes == b.bytes && a.envelope == b.envelope,
            "message {} differs",
            a.origin.index
        );
    }
}

#[test]
fn linux_man_count_and_stream_time() {
    let start = Instant::now();
    let mut count = 0u64;
    let mut bytes = 0u64;
    let mut reader = read_paths(&[archive("linux-man.mbox.gz")]).unwrap();
    for m in reader.by_ref() {
        let m = m.unwrap();
        assert!(!m.bytes.is_empty());
        count += 1;
        bytes += m.bytes.len() as u64;
    }
    let elapsed = start.elapsed();
    assert_eq!(reader.bytes_read(), reader.bytes_total());
    eprintln!(
        "linux-man: streamed {count} messages, {bytes} bytes, in {:.2} s ({} build)",
        elapsed.as_secs_f64(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    assert_eq!(count, 17_885);
}

#[test]
fn linux_man_messages_start_with_a_header() {
    let messages = read_all(archive("linux-man.mbox.gz"));
    assert_eq!(messages.len(), 17_885);
    assert_starts_with_header(&messages);
}

#[test]
fn pipermail_folder_count() {
    let dir = archive("pipermail/r-sig-finance");
    let mut reader = read_paths(&[dir]).unwrap();
    let mut count = 0;
    let mut files = std::collections::BTreeSet::new();
    while let Some(m) = reader.next() {
        let m = m.unwrap();
        assert_eq!(reader.current_format().unwrap().1, Format::Pipermail);
        files.insert(m.origin.path.clone());
        count += 1;
    }
    assert_eq!(count, 15_332);
    assert_eq!(files.len(), 88);
    assert_eq!(reader.files_skipped(), 1, "ATTRIBUTION.md");
}

#[test]
fn notmuch_maildir_tree() {
    // cur/ and new/ messages, loose files beside them and plain subfolders: 53 files.
    let messages = read_all(common::corpora_dir().join("threading/notmuch/default"));
    assert_eq!(messages.len(), 53);
    assert_starts_with_header(&messages);
}
