//! Format detection from a file's first bytes (already decompressed) and its name. Content
//! decides; the name only settles what content cannot (a pipermail file whose first sender is
//! not obfuscated, an mboxrd file with no `>>From ` line early on).

use std::ffi::OsStr;

use super::Format;
use super::lines::{
    is_blank, is_escaped_from, is_header_line, is_mbox_separator, pipermail_sender,
};
use crate::mail::address::is_obfuscated;

/// What a file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detected {
    /// Mboxo, Mboxrd, Pipermail or Eml.
    Format(Format),
    /// No bytes at all (or only blank lines): nothing to read.
    Empty,
    /// Not mail; the reason says what it looked like.
    Unknown(&'static str),
}

/// The separator sender public-inbox writes (and listbridge's own export), which marks a file
/// as mboxrd whatever date follows it.
const MBOXRD_SEPARATOR_PREFIX: &[u8] = b"From mboxrd@z ";

/// Detects the format of a file from `head` (its first bytes, decompressed; up to the look-ahead
/// size) and its file name.
pub(crate) fn detect(head: &[u8], file_name: &OsStr) -> Detected {
    if let Some(reason) = other_compression(head) {
        return Detected::Unknown(reason);
    }
    let mut rest = head;
    while let Some(line) = first_line(rest).filter(|l| is_blank(l)) {
        rest = &rest[line.len()..];
    }
    let Some(first) = first_line(rest) else {
        return Detected::Empty;
    };
    let name = file_name.to_string_lossy();
    if first.starts_with(b"From ") {
        if let Some(sender) = pipermail_sender(first) {
            let obfuscated = is_obfuscated(&String::from_utf8_lossy(sender));
            if !is_mbox_name(&name) && (obfuscated || is_pipermail_name(&name)) {
                return Detected::Format(Format::Pipermail);
            }
        }
        if !is_mbox_separator(first) {
            return Detected::Unknown(
                "it starts with a \"From \" line that is not an mbox separator",
            );
        }
        let mboxrd = first.starts_with(MBOXRD_SEPARATOR_PREFIX)
            || is_mboxrd_name(&name)
            || rest
                .split(|&b| b == b'\n')
                .any(|line| line.starts_with(b">>") && is_escaped_from(line));
        return Detected::Format(if mboxrd {
            Format::Mboxrd
        } else {
            Format::Mboxo
        });
    }
    if is_header_line(first) {
        return Detected::Format(Format::Eml);
    }
    Detected::Unknown("it does not start with a header line or an mbox \"From \" separator")
}

/// The first line of `buf` with its line end (or all of `buf` if it has no line end), if any.
fn first_line(buf: &[u8]) -> Option<&[u8]> {
    if buf.is_empty() {
        return None;
    }
    Some(
        buf.iter()
            .position(|&b| b == b'\n')
            .map_or(buf, |i| &buf[..=i]),
    )
}

fn other_compression(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("it is zstd-compressed: decompress it first")
    } else if head.starts_with(b"BZh") && head.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        Some("it is bzip2-compressed: decompress it first")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("it is xz-compressed: decompress it first")
    } else if head.starts_with(b"PK\x03\x04") {
        Some("it is a zip file: unpack it first")
    } else {
        None
    }
}

fn strip_gz(name: &str) -> &str {
    name.strip_suffix(".gz").unwrap_or(name)
}

fn is_mbox_name(name: &str) -> bool {
    let name = strip_gz(name);
    name.ends_with(".mbox") || name.ends_with(".mboxrd")
}

fn is_mboxrd_name(name: &str) -> bool {
    strip_gz(name).ends_with(".mboxrd")
}

/// Mailman 2's archive periods: `2004.txt` (yearly), `2004-June.txt` (monthly), `2004q2.txt`
/// (quarterly), `Week-of-Mon-20040531.txt` (weekly), `20040601.txt` (daily); each maybe `.gz`.
pub(crate) fn is_pipermail_name(name: &str) -> bool {
    let Some(stem) = strip_gz(name).strip_suffix(".txt") else {
        return false;
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(date) = stem.strip_prefix("Week-of-Mon-") {
        return digits(date, 8);
    }
    if digits(stem, 4) || digits(stem, 8) {
        return true;
    }
    let (year, period) = stem.split_at(stem.len().min(4));
    if !digits(year, 4) {
        return false;
    }
    if let Some(q) = period.strip_prefix('q') {
        return matches!(q, "1" | "2" | "3" | "4");
    }
    period.strip_prefix('-').is_some_and(|month| {
        month.len() >= 3
            && month.as_bytes()[0].is_ascii_uppercase()
            && month.bytes().skip(1).all(|b| b.is_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(head: &str, name: &str) -> Detected {
        detect(head.as_bytes(), OsStr::new(name))
    }

    #[test]
    fn detection_table() {
        use Detected::{Empty, Format as F, Unknown};
        let pm = "From jdoe at example.org  Tue Jun  1 17:40:49 2004\nFrom: jdoe at example.org (J Doe)\n";
        let plain_pm = "From jdoe@example.org  Tue Jun  1 17:40:49 2004\nFrom: jdoe@example.org\n";
        let mangled = "From @@chmid1 @ending from @teven@@edu  Tue Jan  8 17:09:09 2019\nFrom: x\n";
        let mbox =
            "From jdoe@example.org Tue Jun  1 17:40:49 2004\nFrom: jdoe@example.org\n\n>From a\n";
        for (head, name, want) in [
            (pm, "2004q2.txt", F(Format::Pipermail)),
            (pm, "anything", F(Format::Pipermail)),
            (mangled, "x.txt.gz", F(Format::Pipermail)),
            (plain_pm, "2004-June.txt.gz", F(Format::Pipermail)),
            (plain_pm, "list.txt", F(Format::Mboxo)),
            (pm, "export.mbox", F(Format::Mboxo)),
            (mbox, "a.mbox", F(Format::Mboxo)),
            (mbox, "a.mboxrd.gz", F(Format::Mboxrd)),
            (
                "From mboxrd@z Thu Jan  1 00:00:00 1970\nA: b\n",
                "x",
                F(Format::Mboxrd),
            ),
            (
                "From a Thu Jan  1 00:00:00 1970\nA: b\n\n>>From c\n",
                "x",
                F(Format::Mboxrd),
            ),
            (
                "\n\r\nFrom a Thu Jan  1 00:00:00 1970\nA: b\n",
                "x",
                F(Format::Mboxo),
            ),
            (
                "Return-Path: <a@example.org>\nFrom: a\n",
                "1.eml",
                F(Format::Eml),
            ),
            ("From: a@example.org\n", "msg", F(Format::Eml)),
            ("", "x", Empty),
            ("\n\n", "x", Empty),
            (
                "# Attribution\n",
                "ATTRIBUTION.md",
                Unknown("it does not start with a header line or an mbox \"From \" separator"),
            ),
            (
                "<!DOCTYPE html>\n",
                "index.html",
                Unknown("it does not start with a header line or an mbox \"From \" separator"),
            ),
            (
                "From the ward round\n",
                "notes",
                Unknown("it starts with a \"From \" line that is not an mbox separator"),
            ),
        ] {
            assert_eq!(det(head, name), want, "{name}: {head:?}");
        }
        assert!(matches!(
            detect(&[0x28, 0xb5, 0x2f, 0xfd, 0], OsStr::new("a.zst")),
            Unknown(r) if r.contains("zstd")
        ));
    }

    #[test]
    fn pipermail_names() {
        for (name, want) in [
            ("2004q2.txt.gz", true),
            ("2004-June.txt", true),
            ("2004.txt", true),
            ("20040601.txt.gz", true),
            ("Week-of-Mon-20040531.txt", true),
            ("2004q5.txt", false),
            ("2004-june.txt", false),
            ("notes.txt", false),
            ("2004q2.mbox", false),
        ] {
            assert_eq!(is_pipermail_name(name), want, "{name}");
        }
    }
}
