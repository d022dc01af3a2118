//! The import pipeline: read → hash → parse on one thread, store → derive → index on another,
//! so both cores work. Messages are committed in batches; every step is idempotent (raw bytes
//! are keyed by their hash), so an interrupted import run again ends with exactly the archive
//! an uninterrupted one gives.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::readers::{ReadError, read_paths};
use super::{Admit, Archived, HeldDecision, Incoming, Prepared, Verdict, archive_one, derive_one};
use crate::mail::parse::{parse_message, raw_sha256};
use crate::mail::render::RenderOptions;
use crate::store::{
    Derived, InterestTagger, KnownRaw, ListId, RawOutcome, Store, StoreError, Writer,
};

/// Messages per transaction: large enough that commits cost little, small enough that an
/// interrupted import loses only seconds of work.
const BATCH: usize = 2000;
/// How many parsed messages may wait between the two threads (bounds memory).
const QUEUE: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A message that is stored raw but from which nothing could be derived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub origin: String,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    /// Messages read from the input.
    pub read: u64,
    /// New messages in the archive.
    pub imported: u64,
    /// Copies of a message already imported: the same bytes twice in the input, or the same
    /// Message-ID and body delivered again with other transport headers (kept raw).
    pub duplicates: u64,
    /// Messages an earlier import had already stored: nothing to do.
    pub already_archived: u64,
    /// Copies of mail erased from the archive (an account erased, a message purged): not
    /// stored again.
    pub erased: u64,
    /// Different messages claiming a Message-ID already taken, kept under a derived id.
    pub renamed: u64,
    /// Stored raw, nothing derived, with the reason.
    pub unparseable: Vec<Problem>,
    /// Files or parts of files that could not be read.
    pub read_errors: Vec<String>,
    /// Files in the given folders that are not mail (an index.html, a README), left alone.
    pub skipped_files: u64,
    /// Lines shaped like mbox `From ` separators that were read as message text (no header
    /// line followed them): the input had that many separator lines more than messages.
    pub unsplit_separators: u64,
    /// Live sources: mail kept in the inbound log instead of the archive (refused in host
    /// mode, auto-replies, bounces).
    pub not_archived: u64,
    /// Messages a moderator (or members' flags) hid: kept raw, not shown.
    pub hidden: u64,
    /// Threads in the archive after the import.
    pub threads: u64,
    pub seconds: f64,
}

impl ImportSummary {
    /// Adds another summary's counts to this one.
    pub fn add(&mut self, other: &ImportSummary) {
        self.read += other.read;
        self.imported += other.imported;
        self.duplicates += other.duplicates;
        self.already_archived += other.already_archived;
        self.erased += other.erased;
        self.renamed += other.renamed;
        self.not_archived += other.not_archived;
        self.hidden += other.hidden;
        self.unparseable.extend(other.unparseable.iter().cloned());
        self.read_errors.extend(other.read_errors.iter().cloned());
    }

    /// Counts what archiving one message gave.
    fn tally_archived(&mut self, archived: Archived, origin: &str) {
        match archived {
            Archived::Stored(derived) => self.tally(derived, origin),
            Archived::NotStored(RawOutcome::DuplicateInRun) => self.duplicates += 1,
            Archived::NotStored(RawOutcome::AlreadyArchived) => self.already_archived += 1,
            Archived::NotStored(RawOutcome::Erased) => self.erased += 1,
            Archived::NotStored(RawOutcome::Stored(_)) => {
                unreachable!("a stored message is derived")
            }
        }
    }

    /// Counts what deriving one stored message gave.
    fn tally(&mut self, derived: Derived, origin: &str) {
        match derived {
            Derived::Message(_) => self.imported += 1,
            Derived::Copy(_) => self.duplicates += 1,
            Derived::Renamed { taken, .. } => {
                tracing::info!(
                    origin,
                    "a different message claims a taken Message-ID; kept under a derived id"
                );
                tracing::debug!(origin, message_id = %taken, "the taken Message-ID");
                self.imported += 1;
                self.renamed += 1;
            }
            Derived::Erased => self.erased += 1,
            Derived::Hidden => self.hidden += 1,
            Derived::Unparseable(reason) => {
                tracing::warn!(origin, %reason, "stored raw, nothing derived");
                self.unparseable.push(Problem {
                    origin: origin.to_owned(),
                    reason,
                });
            }
        }
    }
}

/// What storing a fetched batch did, and the moderators' decisions its mail carried, for the
/// caller to carry out now that the batch is committed.
#[derive(Debug, Default)]
pub struct Batch {
    pub summary: ImportSummary,
    pub decisions: Vec<HeldDecision>,
}

/// Archives one message to `list` as a source would (no gate, default rendering), for the
/// crate's unit tests of what reads the archive.
#[cfg(test)]
pub(crate) fn archive_for_tests(store: &mut Store, list: &str, bytes: Vec<u8>, origin: &str) {
    let run = store.begin_run("test", 0).unwrap();
    let list = store.list_id(list).unwrap();
    let item = Incoming {
        bytes,
        envelope: None,
        origin: origin.to_owned(),
    };
    let render = RenderOptions::default();
    store_batch(store, run, list, &render, vec![item], None, None, 0).unwrap();
}

/// Stores a batch of fetched messages in one transaction, advancing the source's cursor in the
/// same transaction when one is given: the batch and the cursor land together or not at all.
/// With a gate (the bridge sends mail), each message passes it first: host-mode posts are
/// fanned out, refused mail, auto-replies and bounces go to the inbound log.
pub fn store_batch(
    store: &mut Store,
    run: crate::store::RunId,
    list: ListId,
    render: &RenderOptions,
    items: Vec<Incoming>,
    cursor: Option<(&str, &crate::store::Cursor)>,
    gate: Option<&dyn Admit>,
    now: i64,
) -> Result<Batch, StoreError> {
    let mut batch = Batch::default();
    let summary = &mut batch.summary;
    let tagger = store.tagger()?;
    let writer = store.writer(run)?;
    for item in items {
        summary.read += 1;
        let mail = match gate {
            Some(_) => Prepared::for_gate(item, render),
            None => Prepared::new(item, render, 0),
        };
        let verdict = match gate {
            Some(g) => g.admit(&writer, list, &mail, now)?,
            None => Verdict::Archive,
        };
        match verdict {
            Verdict::Logged => summary.not_archived += 1,
            Verdict::Decided(decision) => {
                summary.not_archived += 1;
                batch.decisions.push(decision);
            }
            Verdict::Archive | Verdict::Publish { .. } => {
                let Some(key) = store_one(&writer, list, &mail, summary, &tagger)? else {
                    continue;
                };
                let changed = super::events::recognise(&writer, list, key, &mail)?;
                if let Some(g) = gate {
                    g.archived(&writer, list, &mail, key, &verdict, &changed, now)?;
                }
            }
        }
    }
    if let Some((source, cursor)) = cursor {
        writer.set_cursor(source, cursor)?;
    }
    writer.commit()?;
    Ok(batch)
}

/// Imports every message under `paths` into `list`.
pub fn import(
    store: &mut Store,
    paths: &[PathBuf],
    list_name: &str,
    render: &RenderOptions,
    now_unix: i64,
) -> Result<ImportSummary, IngestError> {
    let started = Instant::now();
    let reader = read_paths(paths)?;
    let list = store.list_id(list_name)?;
    let run = store.begin_run(&format!("import into {list_name}"), now_unix)?;
    let progress = Progress::new(reader.bytes_total());

    let (tx, rx) = mpsc::sync_channel::<Result<Ready, String>>(QUEUE);
    // Without the read connection every message is parsed, as before: slower, not wrong.
    let stored = KnownRaw::open(store.location()).ok();
    let producer_render = render.clone();
    let producer = std::thread::spawn(move || {
        let mut reader = reader;
        while let Some(item) = reader.next() {
            let prepared = item
                .map(|raw| {
                    let incoming = Incoming {
                        origin: format!("{}#{}", raw.origin.path.display(), raw.origin.index),
                        bytes: raw.bytes,
                        envelope: raw.envelope,
                    };
                    let bytes_read = reader.bytes_read();
                    let sha = raw_sha256(&incoming.bytes);
                    let known = stored.as_ref().and_then(|s| s.contains(&sha).ok());
                    if known == Some(true) {
                        Ready::StoredBefore {
                            item: incoming,
                            sha,
                            bytes_read,
                        }
                    } else {
                        Ready::Parsed(Box::new(Prepared::hashed(
                            incoming,
                            sha,
                            &producer_render,
                            bytes_read,
                        )))
                    }
                })
                .map_err(|e| e.to_string());
            if tx.send(prepared).is_err() {
                break; // the storing side stopped on an error
            }
        }
        (reader.files_skipped(), reader.unsplit_separators())
    });

    let mut summary = ImportSummary::default();
    let result = store_all(store, run, list, render, rx, &progress, &mut summary);
    // The reading thread ends by itself once the channel is gone (on error) or the input is.
    (summary.skipped_files, summary.unsplit_separators) = producer.join().unwrap_or((0, 0));
    result?;
    progress.finish();
    if summary.imported > 0 {
        store.optimize()?;
    }
    summary.threads = store.counts()?.threads;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// What the reading thread hands the storing one.
enum Ready {
    Parsed(Box<Prepared>),
    /// Bytes the archive held when they were read: hashed but not parsed, since storing them
    /// again does nothing (re-importing an archive costs little more than reading it).
    StoredBefore {
        item: Incoming,
        sha: [u8; 32],
        bytes_read: u64,
    },
}

/// The storing side: everything from the channel, committed in batches.
fn store_all(
    store: &mut Store,
    run: crate::store::RunId,
    list: ListId,
    render: &RenderOptions,
    rx: mpsc::Receiver<Result<Ready, String>>,
    progress: &Progress,
    summary: &mut ImportSummary,
) -> Result<(), IngestError> {
    let tagger = store.tagger()?;
    let mut writer = store.writer(run)?;
    let mut in_batch = 0;
    for item in rx {
        let ready = match item {
            Ok(ready) => ready,
            Err(e) => {
                tracing::warn!(error = %e, "skipping unreadable input");
                summary.read_errors.push(e);
                continue;
            }
        };
        summary.read += 1;
        let p = match ready {
            Ready::Parsed(p) => *p,
            // The reader's look was a hint; this transaction's answer is the one that counts
            // (an erasure may have removed the bytes since).
            Ready::StoredBefore {
                item,
                sha,
                bytes_read,
            } => match writer.stored_before(&sha)? {
                Some(outcome) => {
                    summary.tally_archived(Archived::NotStored(outcome), &item.origin);
                    progress.update(bytes_read, summary.read);
                    continue;
                }
                None => Prepared::hashed(item, sha, render, bytes_read),
            },
        };
        if let Some(key) = store_one(&writer, list, &p, summary, &tagger)? {
            // An old invitation in an imported archive is a past event: nobody to tell.
            super::events::recognise(&writer, list, key, &p)?;
        }
        in_batch += 1;
        if in_batch >= BATCH {
            writer.commit()?;
            writer = store.writer(run)?;
            in_batch = 0;
        }
        progress.update(p.bytes_read, summary.read);
    }
    writer.commit()?;
    Ok(())
}

fn store_one(
    writer: &Writer<'_>,
    list: ListId,
    mail: &Prepared,
    summary: &mut ImportSummary,
    tagger: &InterestTagger,
) -> Result<Option<crate::store::MessageKey>, StoreError> {
    let archived = archive_one(writer, list, mail, tagger)?;
    let key = archived.key();
    summary.tally_archived(archived, &mail.item.origin);
    Ok(key)
}

/// Rebuilds every derived table from the raw store, in storage order, as an import would,
/// rendering each list's mail by that list's current rules.
pub fn reindex(
    store: &mut Store,
    render_for: &dyn Fn(&str) -> RenderOptions,
    now_unix: i64,
) -> Result<ImportSummary, IngestError> {
    let render: std::collections::HashMap<ListId, RenderOptions> = store
        .lists()?
        .into_iter()
        .map(|(id, name)| (id, render_for(&name)))
        .collect();
    let started = Instant::now();
    let total = store.counts()?.raw;
    store.clear_derived()?;
    let tagger = store.tagger()?;
    let run = store.begin_run("reindex", now_unix)?;
    let progress = Progress::new(total);
    let mut summary = ImportSummary::default();
    let mut after = None;
    loop {
        let batch = store.raw_batch(after, BATCH)?;
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        let writer = store.writer(run)?;
        for raw in &batch {
            summary.read += 1;
            let options = render.get(&raw.list).cloned().unwrap_or_default();
            let parsed = parse_message(&raw.bytes, raw.envelope.as_deref(), &options);
            let derived = derive_one(
                &writer,
                raw.id,
                &raw.sha256,
                raw.list,
                parsed.as_ref(),
                &tagger,
            )?;
            summary.tally(derived, &format!("raw message {}", raw.id.0));
        }
        writer.commit()?;
        progress.update(summary.read, summary.read);
    }
    progress.finish();
    store.optimize()?;
    summary.threads = store.counts()?.threads;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// A progress bar on a terminal; plain log lines every few seconds otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_log: std::cell::Cell<Instant>,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg} ETA {eta}",
                )
                .expect("the progress template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            last_log: std::cell::Cell::new(Instant::now()),
        }
    }

    /// `position` counts toward the total (input bytes, or messages for reindex).
    fn update(&self, position: u64, messages: u64) {
        let rate = messages as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        match &self.bar {
            Some(bar) => {
                bar.set_position(position);
                bar.set_message(format!("{messages} messages, {rate:.0}/s"));
            }
            None if self.last_log.get().elapsed() >= Duration::from_secs(5) => {
                self.last_log.set(Instant::now());
                tracing::info!(messages, per_second = rate as u64, "importing");
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeriveSettings;

    fn mail(id: &str) -> Vec<u8> {
        format!(
            "From: Ann <ann@example.org>\r\nMessage-ID: <{id}>\r\nSubject: Spacers {id}\r\n\r\n\
             Which spacer do you use?\r\n"
        )
        .into_bytes()
    }

    fn mbox(dir: &std::path::Path, ids: &[&str]) -> PathBuf {
        let mut text = Vec::new();
        for id in ids {
            text.extend_from_slice(b"From ann@example.org Mon Jan  1 00:00:00 2024\n");
            text.extend(mail(id).into_iter().filter(|&b| b != b'\r'));
            text.push(b'\n');
        }
        let path = dir.join("list.mbox");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn importing_again_finds_every_message_stored_and_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("a.db"), DeriveSettings::default()).unwrap();
        let path = mbox(dir.path(), &["a@x", "b@x", "c@x"]);
        let render = RenderOptions::default();
        let first = import(&mut store, std::slice::from_ref(&path), "snug", &render, 0).unwrap();
        assert_eq!((first.read, first.imported), (3, 3));
        let again = import(&mut store, &[path], "snug", &render, 0).unwrap();
        assert_eq!(
            (again.read, again.imported, again.already_archived),
            (3, 0, 3)
        );
        assert_eq!(store.counts().unwrap().messages, 3);
    }

    #[test]
    fn bytes_the_reader_thought_stored_are_archived_when_they_are_not() {
        // The reader's look is a hint: between it and the storing transaction the bytes may
        // have gone (erased, or the database replaced). They must then be parsed and stored.
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("a.db"), DeriveSettings::default()).unwrap();
        let list = store.list_id("snug").unwrap();
        let run = store.begin_run("test", 0).unwrap();
        let (tx, rx) = mpsc::sync_channel(4);
        let bytes = mail("gone@x");
        tx.send(Ok(Ready::StoredBefore {
            sha: raw_sha256(&bytes),
            item: Incoming {
                bytes,
                envelope: None,
                origin: "test:1".to_owned(),
            },
            bytes_read: 0,
        }))
        .unwrap();
        drop(tx);
        let mut summary = ImportSummary::default();
        let render = RenderOptions::default();
        let progress = Progress::new(0);
        store_all(&mut store, run, list, &render, rx, &progress, &mut summary).unwrap();
        assert_eq!((summary.read, summary.imported), (1, 1));
        let found = store.search("spacer", 5).unwrap().unwrap();
        assert_eq!(found.total, 1, "parsed and indexed");
    }
}
