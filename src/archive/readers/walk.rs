//! Expanding the paths given to `import` into the files to read, lazily and in a deterministic
//! order: one directory listing at a time, so a huge archive tree costs memory for the
//! directories on the current path only, not for every file in it.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use super::ReadError;
use super::detect::is_pipermail_name;

/// How a file is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Detect the format from the content; `explicit` when the user named the file, so that a
    /// file that is not mail is an error rather than skipped.
    Detect { explicit: bool },
    /// A file in a Maildir's `cur/` or `new/`: one message, whatever it looks like.
    Maildir,
}

#[derive(Debug, Clone)]
pub(crate) enum Entry {
    File(PathBuf, Kind),
    Dir(PathBuf),
}

/// One file to read.
#[derive(Debug)]
pub(crate) struct Item {
    pub path: PathBuf,
    pub kind: Kind,
    /// Size on disk (compressed, for `.gz`), for progress.
    pub size: u64,
}

pub(crate) struct Walker {
    /// Pending entries per directory level; the last frame is the deepest.
    stack: Vec<std::vec::IntoIter<Entry>>,
}

impl Walker {
    pub(crate) fn new(roots: Vec<Entry>) -> Self {
        Walker {
            stack: vec![roots.into_iter()],
        }
    }
}

impl Iterator for Walker {
    type Item = Result<Item, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let frame = self.stack.last_mut()?;
            let Some(entry) = frame.next() else {
                self.stack.pop();
                continue;
            };
            match entry {
                Entry::File(path, kind) => {
                    return Some(match fs::metadata(&path) {
                        Ok(meta) => Ok(Item {
                            path,
                            kind,
                            size: meta.len(),
                        }),
                        Err(source) => Err(ReadError::Io { path, source }),
                    });
                }
                Entry::Dir(path) => match list_dir(&path) {
                    Ok(entries) => self.stack.push(entries.into_iter()),
                    Err(source) => return Some(Err(ReadError::Io { path, source })),
                },
            }
        }
    }
}

fn is_dir(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_dir())
}

/// A Maildir has `cur/` and/or `new/`.
pub(crate) fn is_maildir(path: &Path) -> bool {
    is_dir(&path.join("cur")) || is_dir(&path.join("new"))
}

fn is_hidden(name: &OsString) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// What an entry is, following a symlink to a file but not to a directory (a link back up the
/// tree would loop).
fn entry_type(entry: &fs::DirEntry) -> std::io::Result<(bool, bool)> {
    let ft = entry.file_type()?;
    if !ft.is_symlink() {
        return Ok((ft.is_file(), ft.is_dir()));
    }
    match fs::metadata(entry.path()) {
        Ok(meta) if meta.is_file() => Ok((true, false)),
        _ => {
            tracing::debug!(path = %entry.path().display(), "not following a symlink to a folder (or a dangling one)");
            Ok((false, false))
        }
    }
}

/// The entries of one folder, in reading order. In a Maildir, the messages of `cur/` and `new/`
/// come first, merged and sorted by file name (Maildir names start with the delivery time), then
/// the other entries sorted by name: loose files (detected by content), plain subfolders, and
/// hidden Maildir++ subfolders (`.Foo`). `tmp/` (mail still being delivered) and other hidden
/// entries are skipped.
fn list_dir(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let maildir = is_maildir(dir);
    let mut messages: Vec<(OsString, PathBuf)> = Vec::new();
    let mut others: Vec<(OsString, Entry)> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let (file, folder) = entry_type(&entry)?;
        let path = entry.path();
        if maildir && folder && (name == "cur" || name == "new") {
            for message in fs::read_dir(&path)? {
                let message = message?;
                let name = message.file_name();
                if !is_hidden(&name) && entry_type(&message)?.0 {
                    messages.push((name, message.path()));
                }
            }
        } else if maildir && folder && name == "tmp" {
            continue;
        } else if is_hidden(&name) {
            if maildir && folder && is_maildir(&path) {
                others.push((name, Entry::Dir(path)));
            }
        } else if folder {
            others.push((name, Entry::Dir(path)));
        } else if file {
            others.push((name, Entry::File(path, Kind::Detect { explicit: false })));
        }
    }
    messages.sort();
    others.sort_by(|a, b| a.0.cmp(&b.0));
    // Mailman keeps `2004-June.txt` and a nightly `2004-June.txt.gz` of it side by side: read
    // the plain one, which is the more current, once.
    let plain: std::collections::HashSet<OsString> = others
        .iter()
        .filter(|(name, e)| {
            matches!(e, Entry::File(..)) && is_pipermail_name(&name.to_string_lossy())
        })
        .map(|(name, _)| name.clone())
        .collect();
    others.retain(|(name, _)| {
        let twin = name
            .to_str()
            .and_then(|n| n.strip_suffix(".gz"))
            .is_some_and(|n| plain.contains(OsString::from(n).as_os_str()));
        if twin {
            tracing::debug!(file = ?name, folder = %dir.display(), "skipping a pipermail .gz beside its plain .txt");
        }
        !twin
    });
    Ok(messages
        .into_iter()
        .map(|(_, path)| Entry::File(path, Kind::Maildir))
        .chain(others.into_iter().map(|(_, e)| e))
        .collect())
}
