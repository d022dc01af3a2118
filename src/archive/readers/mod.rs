//! Archive readers: turn the paths given to `listbridge import` (mbox, mboxrd, Mailman-2
//! pipermail `.txt`, Maildir trees, single messages; any of them gzipped) into a stream of raw
//! messages, byte for byte as they were stored, one at a time. Memory stays flat however big the
//! archive: one message, a few read buffers, and a bounded look-ahead at the start of each file
//! for format detection. A file that fails is an error item naming it, and reading goes on with
//! the next file.

mod detect;
mod lines;
mod mbox;
mod walk;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;

use detect::Detected;
use mbox::{Split, Splitter};
use walk::{Entry, Item, Kind, Walker};

/// How much of a file is buffered to decide its format (mboxrd shows itself by a `>>From ` line,
/// which may come late).
pub const LOOKAHEAD_BYTES: usize = 4 << 20;

/// Largest message accepted by default. Real list mail is far smaller; the limit is there so that
/// a stray disk image in an archive folder cannot take all memory.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 << 20;

const READ_BUFFER: usize = 64 << 10;

/// One message as it was in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The message exactly as it was, mbox escaping undone (mboxrd only: `>From ` in mboxo is
    /// ambiguous and stays).
    pub bytes: Vec<u8>,
    /// The mbox/pipermail `From ` separator line without `From ` and the line end, if any
    /// (decoded as UTF-8, invalid bytes replaced).
    pub envelope: Option<String>,
    pub origin: Origin,
}

/// Where a message came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub path: PathBuf,
    /// 0-based message number within the file (always 0 for Maildir and single-message files).
    pub index: u64,
}

/// The format of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// mbox with only `^From ` escaped: `>From ` lines are kept as they are.
    Mboxo,
    /// mbox with `^>*From ` escaped: one `>` is taken off `^>+From ` lines.
    Mboxrd,
    /// Mailman-2 pipermail export: nothing escaped; a separator is proved by a header line after it.
    Pipermail,
    /// A file in a Maildir's `cur/` or `new/`.
    Maildir,
    /// A single message file.
    Eml,
}

/// Why a file (or a message in it) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: no such file or folder", .path.display())]
    NotFound { path: PathBuf },
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} is not mail: {reason} (expected mbox, mboxrd, pipermail .txt, a Maildir or a single message, maybe gzipped)",
        .path.display()
    )]
    UnknownFormat { path: PathBuf, reason: &'static str },
    #[error(
        "{}: message {index} is larger than the {limit}-byte limit and was skipped",
        .path.display()
    )]
    TooLarge {
        path: PathBuf,
        index: u64,
        limit: usize,
    },
}

impl ReadError {
    /// The file (or folder) the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::NotFound { path }
            | ReadError::Io { path, .. }
            | ReadError::UnknownFormat { path, .. }
            | ReadError::TooLarge { path, .. } => path,
        }
    }
}

/// Knobs for [`read_paths_with`]; the defaults are what [`read_paths`] uses.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Read every mbox-like file (one detected as mboxo, mboxrd or pipermail) as this format
    /// instead of the detected one. For what detection cannot know: an mboxrd file whose only
    /// escapes are single `>From ` lines looks exactly like mboxo. `Eml` (or `Maildir`) reads such
    /// files whole, as one message.
    pub force: Option<Format>,
    /// A message larger than this is an error item and is skipped.
    pub max_message_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            force: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// Expands the given paths (folders recursively, in sorted order for determinism; a folder with
/// cur/ and/or new/ is a Maildir, nested Maildir++ folders `.Foo` included; hidden files and
/// `tmp/` skipped), detects each file's format, and streams every message. `.gz` (gzip magic,
/// not just the name) is decompressed transparently. Fails at once for a path that does not
/// exist; every later failure is an error item of the iterator.
///
/// In folders, files that are not mail (an `index.html`, a README) are skipped and counted
/// ([`ArchiveReader::files_skipped`]); a file named explicitly that is not mail is an error item.
pub fn read_paths(paths: &[PathBuf]) -> Result<ArchiveReader, ReadError> {
    read_paths_with(paths, &ReadOptions::default())
}

/// [`read_paths`] with options.
pub fn read_paths_with(
    paths: &[PathBuf],
    options: &ReadOptions,
) -> Result<ArchiveReader, ReadError> {
    let mut roots = Vec::with_capacity(paths.len());
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => ReadError::NotFound { path: path.clone() },
            _ => ReadError::Io {
                path: path.clone(),
                source,
            },
        })?;
        roots.push(if meta.is_dir() {
            Entry::Dir(path.clone())
        } else {
            Entry::File(path.clone(), Kind::Detect { explicit: true })
        });
    }
    // A first walk for the total only (metadata, no content), so that progress has an ETA from
    // the start without keeping the list of files.
    let bytes_total = Walker::new(roots.clone())
        .filter_map(Result::ok)
        .map(|item| item.size)
        .sum();
    Ok(ArchiveReader {
        walker: Walker::new(roots),
        options: options.clone(),
        current: None,
        bytes_total,
        bytes_done: 0,
        files_skipped: 0,
        unsplit: 0,
    })
}

/// A single-message file by its name (`.eml`, maybe gzipped).
fn is_eml_name(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy().to_ascii_lowercase();
    name.ends_with(".eml") || name.ends_with(".eml.gz")
}

/// The stream of messages from [`read_paths`].
pub struct ArchiveReader {
    walker: Walker,
    options: ReadOptions,
    current: Option<Current>,
    bytes_total: u64,
    /// On-disk bytes of the files finished.
    bytes_done: u64,
    files_skipped: u64,
    unsplit: u64,
}

/// The file being read.
struct Current {
    path: PathBuf,
    format: Format,
    size: u64,
    /// On-disk bytes read from it so far (before decompression).
    consumed: Arc<AtomicU64>,
    source: Source,
    index: u64,
}

type Input = Box<dyn BufRead + Send>;

/// A compressed archive decompressed on a thread of its own, a few pieces ahead of its reader:
/// inflating is the largest part of reading a `.gz` archive, and splitting and hashing its
/// messages can use the other core meanwhile. (No crate in use offers a read-ahead reader;
/// this is a channel of pieces.)
struct Inflating {
    pieces: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    piece: Cursor<Vec<u8>>,
}

impl Inflating {
    /// Pieces read ahead at most, and their size.
    const AHEAD: usize = 4;
    const PIECE: usize = 256 << 10;

    fn start(mut input: impl Read + Send + 'static) -> Inflating {
        let (send, pieces) = std::sync::mpsc::sync_channel(Self::AHEAD);
        std::thread::spawn(move || {
            loop {
                let mut piece = vec![0; Self::PIECE];
                let read = match input.read(&mut piece) {
                    Ok(0) => return,
                    Ok(n) => {
                        piece.truncate(n);
                        Ok(piece)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = read.is_err();
                // The reader went away (the import stopped): nothing left to do.
                if send.send(read).is_err() || failed {
                    return;
                }
            }
        });
        Inflating {
            pieces,
            piece: Cursor::new(Vec::new()),
        }
    }
}

impl Read for Inflating {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.piece.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.pieces.recv() {
                Ok(piece) => self.piece = Cursor::new(piece?),
                // The thread ended: the end of the archive.
                Err(_) => return Ok(0),
            }
        }
    }
}

enum Source {
    /// The whole file is one message; `None` once it has been read.
    Whole(Option<Input>),
    Split(Splitter<Input>),
}

/// Counts the bytes read from the file itself, under any decompression.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl ArchiveReader {
    /// Sum of the on-disk sizes of all files to read (for a progress bar's ETA).
    pub fn bytes_total(&self) -> u64 {
        self.bytes_total
    }

    /// On-disk (compressed) bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_done
            + self
                .current
                .as_ref()
                .map_or(0, |c| c.consumed.load(Ordering::Relaxed).min(c.size))
    }

    /// The file being read and its format.
    pub fn current_format(&self) -> Option<(PathBuf, Format)> {
        self.current.as_ref().map(|c| (c.path.clone(), c.format))
    }

    /// Files in the given folders that were skipped because they are not mail.
    pub fn files_skipped(&self) -> u64 {
        self.files_skipped
    }

    /// Lines of the mbox files read so far that look like `From ` separators but were read as
    /// message text, since no header line followed them.
    pub fn unsplit_separators(&self) -> u64 {
        self.unsplit
            + match self.current.as_ref().map(|c| &c.source) {
                Some(Source::Split(s)) => s.unsplit,
                _ => 0,
            }
    }

    fn finish_current(&mut self) {
        if let Some(c) = self.current.take() {
            self.bytes_done += c.size;
            if let Source::Split(s) = &c.source {
                self.unsplit += s.unsplit;
            }
        }
    }

    /// Opens a file and works out how to read it; `Ok(None)` when there is nothing to read.
    fn open(&mut self, item: Item) -> Result<Option<Current>, ReadError> {
        let io_err = |source| ReadError::Io {
            path: item.path.clone(),
            source,
        };
        let consumed = Arc::new(AtomicU64::new(0));
        let file = File::open(&item.path).map_err(io_err)?;
        let mut raw = BufReader::with_capacity(
            READ_BUFFER,
            Counting {
                inner: file,
                count: consumed.clone(),
            },
        );
        let gzip = raw.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]);
        let mut input: Input = if gzip {
            Box::new(BufReader::with_capacity(
                READ_BUFFER,
                Inflating::start(MultiGzDecoder::new(raw)),
            ))
        } else {
            Box::new(raw)
        };
        let limit = self.options.max_message_bytes;
        let mut current = Current {
            path: item.path.clone(),
            format: Format::Maildir,
            size: item.size,
            consumed,
            source: Source::Whole(None),
            index: 0,
        };
        let Kind::Detect { explicit } = item.kind else {
            current.source = Source::Whole(Some(input));
            return Ok(Some(current));
        };
        let mut head = Vec::new();
        input
            .by_ref()
            .take(LOOKAHEAD_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(io_err)?;
        let name = item.path.file_name().unwrap_or_default();
        let format = match detect::detect(&head, name) {
            Detected::Format(format) => format,
            // An empty single-message file is still a message someone kept: it is stored raw
            // and counted unparseable, not skipped without a word.
            Detected::Empty if is_eml_name(name) => {
                current.format = Format::Eml;
                current.source = Source::Whole(Some(Box::new(Cursor::new(head).chain(input))));
                return Ok(Some(current));
            }
            Detected::Empty => return Ok(None),
            Detected::Unknown(reason) if explicit => {
                return Err(ReadError::UnknownFormat {
                    path: item.path,
                    reason,
                });
            }
            Detected::Unknown(reason) => {
                tracing::debug!(path = %item.path.display(), reason, "skipping a file that is not mail");
                self.files_skipped += 1;
                return Ok(None);
            }
        };
        let format = match (format, self.options.force) {
            (Format::Mboxo | Format::Mboxrd | Format::Pipermail, Some(Format::Maildir)) => {
                Format::Eml
            }
            (Format::Mboxo | Format::Mboxrd | Format::Pipermail, Some(forced)) => forced,
            (detected, _) => detected,
        };
        let stream: Input = Box::new(Cursor::new(head).chain(input));
        current.format = format;
        current.source = if format == Format::Eml {
            Source::Whole(Some(stream))
        } else {
            Source::Split(Splitter::new(stream, format, limit).map_err(io_err)?)
        };
        Ok(Some(current))
    }

    /// The next item from the current file, `None` when it is done.
    fn next_in_current(&mut self) -> Option<Result<RawMessage, ReadError>> {
        let limit = self.options.max_message_bytes;
        let c = self.current.as_mut()?;
        let index = c.index;
        let origin = || Origin {
            path: c.path.clone(),
            index,
        };
        let result = match &mut c.source {
            Source::Whole(input) => {
                let mut input = input.take()?;
                let mut bytes = Vec::new();
                match input
                    .by_ref()
                    .take(limit as u64 + 1)
                    .read_to_end(&mut bytes)
                {
                    Ok(_) if bytes.len() > limit => Err(ReadError::TooLarge {
                        path: c.path.clone(),
                        index,
                        limit,
                    }),
                    Ok(_) => Ok(RawMessage {
                        bytes,
                        envelope: None,
                        origin: origin(),
                    }),
                    Err(source) => Err(ReadError::Io {
                        path: c.path.clone(),
                        source,
                    }),
                }
            }
            Source::Split(splitter) => match splitter.next_message() {
                Ok(None) => return None,
                Ok(Some(Split::Message { envelope, bytes })) => Ok(RawMessage {
                    bytes,
                    envelope: envelope.map(|e| String::from_utf8_lossy(&e).into_owned()),
                    origin: origin(),
                }),
                Ok(Some(Split::TooLarge)) => Err(ReadError::TooLarge {
                    path: c.path.clone(),
                    index,
                    limit,
                }),
                Err(source) => {
                    // A broken stream (a truncated or corrupt .gz) cannot be resynchronised:
                    // report it and move on to the next file.
                    c.source = Source::Whole(None);
                    Err(ReadError::Io {
                        path: c.path.clone(),
                        source,
                    })
                }
            },
        };
        c.index += 1;
        Some(result)
    }
}

impl Iterator for ArchiveReader {
    type Item = Result<RawMessage, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.current.is_some() {
                if let Some(item) = self.next_in_current() {
                    return Some(item);
                }
                self.finish_current();
                continue;
            }
            let item = match self.walker.next()? {
                Ok(item) => item,
                Err(e) => return Some(Err(e)),
            };
            let size = item.size;
            match self.open(item) {
                Ok(Some(current)) => self.current = Some(current),
                Ok(None) => self.bytes_done += size,
                Err(e) => {
                    self.bytes_done += size;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
