//! Splitting one mbox-like stream (mboxo, mboxrd, pipermail) into messages, one at a time
//! (writing them back as mboxrd is `mail::mbox`'s). Memory is one message plus one look-ahead line: lines are
//! appended straight into the message buffer, and a separator is only confirmed once the line
//! after it has been seen.

use std::io::{self, BufRead};

use super::Format;
use super::lines::{
    is_blank, is_envelope_line, is_escaped_from, is_header_line, is_mbox_separator,
    pipermail_sender, trim_eol,
};

/// Longest piece read as one "line": a longer line (a base64 blob with no line breaks) is read in
/// pieces so that one line cannot take unbounded memory before the message size limit sees it.
const MAX_PIECE: usize = 1 << 20;

/// What the splitter hands out.
#[derive(Debug)]
pub(crate) enum Split {
    Message {
        /// The separator line without `From ` and the line end, if the message had one.
        envelope: Option<Vec<u8>>,
        bytes: Vec<u8>,
    },
    /// The message grew past the limit; its bytes were dropped as they came, and reading goes on
    /// at the next separator.
    TooLarge,
}

pub(crate) struct Splitter<R> {
    input: R,
    format: Format,
    limit: usize,
    /// Another message follows (its separator, if any, is in `envelope`, its first line in `carry`).
    more: bool,
    envelope: Option<Vec<u8>>,
    carry: Vec<u8>,
    /// `carry` ends in the middle of a line (a piece of an overlong line).
    carry_partial: bool,
    /// Lines shaped like a separator that were read as message text (no header line after
    /// them): when the archive has fewer messages than such lines, the summary says so.
    pub(crate) unsplit: u64,
}

/// Reads one line (or a piece of at most [`MAX_PIECE`] bytes of an overlong one), appending it.
fn read_piece<R: BufRead>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut n = 0;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(n);
        }
        let room = MAX_PIECE - n;
        // memchr: an archive is millions of lines, and a byte-by-byte search was a fifth of
        // reading one.
        let (take, done) = match memchr::memchr(b'\n', avail) {
            Some(i) if i < room => (i + 1, true),
            _ if avail.len() >= room => (room, true),
            _ => (avail.len(), false),
        };
        buf.extend_from_slice(&avail[..take]);
        r.consume(take);
        n += take;
        if done {
            return Ok(n);
        }
    }
}

fn line_end(buf: &[u8], from: usize) -> usize {
    memchr::memchr(b'\n', &buf[from..]).map_or(buf.len(), |i| from + i + 1)
}

fn envelope_of(line: &[u8]) -> Vec<u8> {
    let line = trim_eol(line);
    line.strip_prefix(b"From ").unwrap_or(line).to_vec()
}

impl<R: BufRead> Splitter<R> {
    /// `format` is Mboxo, Mboxrd or Pipermail. Blank lines before the first separator are
    /// skipped; anything else before it becomes a first message without an envelope (nothing is
    /// dropped when a file is forced to a format it does not quite have).
    pub(crate) fn new(mut input: R, format: Format, limit: usize) -> io::Result<Self> {
        let mut first = Vec::new();
        loop {
            first.clear();
            if read_piece(&mut input, &mut first)? == 0 {
                break;
            }
            if !is_blank(&first) {
                break;
            }
        }
        let mut splitter = Splitter {
            input,
            format,
            limit,
            more: !first.is_empty(),
            envelope: None,
            carry: Vec::new(),
            carry_partial: false,
            unsplit: 0,
        };
        if first.starts_with(b"From ") {
            splitter.envelope = Some(envelope_of(&first));
        } else {
            splitter.carry_partial = !first.ends_with(b"\n");
            splitter.carry = first;
        }
        Ok(splitter)
    }

    fn is_separator(&self, line: &[u8]) -> bool {
        match self.format {
            Format::Pipermail => pipermail_sender(line).is_some(),
            _ => is_mbox_separator(line),
        }
    }

    /// The next message, or `None` at the end of the stream.
    pub(crate) fn next_message(&mut self) -> io::Result<Option<Split>> {
        if !self.more {
            return Ok(None);
        }
        let envelope = self.envelope.take();
        let mut msg = std::mem::take(&mut self.carry);
        // Where the unprocessed lines start; everything before is final message content.
        let mut pos = 0;
        // Start of the previous line if it was blank: it belongs to a separator that may follow.
        let mut blank_at: Option<usize> = None;
        // The line at `pos` continues an overlong line rather than starting one.
        let mut partial = std::mem::take(&mut self.carry_partial);
        let mut too_large = false;
        loop {
            if pos == msg.len() && read_piece(&mut self.input, &mut msg)? == 0 {
                self.more = false;
                // The empty line after the last message belongs to the format, like every other.
                if let Some(b) = blank_at {
                    msg.truncate(b);
                }
                break;
            }
            let mut end = line_end(&msg, pos);
            let at_line_start = !partial;
            partial = !msg[..end].ends_with(b"\n");
            let line = &msg[pos..end];
            let blank = blank_at.is_some();
            // Hand-built and older archives often lack the blank line before a separator; a
            // line of the strict envelope form still starts a message there.
            let (candidate, strict) = if !at_line_start || !line.starts_with(b"From ") {
                (false, false)
            } else if self.format == Format::Pipermail {
                (self.is_separator(line), false)
            } else {
                let strict = is_envelope_line(line);
                (strict || (blank && self.is_separator(line)), strict)
            };
            if candidate {
                // mboxrd escapes every body "From " line, so its separators after a blank line
                // need no proof, nor do strict envelopes there in mboxo (whose writers escape
                // body "From " lines too); otherwise a header line must follow.
                let confirmed = if blank && (self.format == Format::Mboxrd || strict) {
                    true
                } else {
                    if end == msg.len() {
                        read_piece(&mut self.input, &mut msg)?;
                    }
                    is_header_line(&msg[end..line_end(&msg, end)])
                };
                if !confirmed {
                    self.unsplit += 1;
                }
                if confirmed {
                    self.envelope = Some(envelope_of(&msg[pos..end]));
                    self.carry = msg[end..].to_vec();
                    self.carry_partial = !self.carry.is_empty() && !self.carry.ends_with(b"\n");
                    msg.truncate(blank_at.unwrap_or(pos));
                    break;
                }
            }
            if at_line_start && self.format == Format::Mboxrd && is_escaped_from(&msg[pos..end]) {
                msg.remove(pos);
                end -= 1;
            }
            blank_at = (at_line_start && is_blank(&msg[pos..end])).then_some(pos);
            pos = end;
            // Content so far; a trailing blank line and a look-ahead line are still undecided.
            let keep = blank_at.unwrap_or(pos);
            if keep > self.limit {
                // Drop the content and keep only what is undecided.
                too_large = true;
                msg.drain(..keep);
                pos -= keep;
                blank_at = blank_at.map(|_| 0);
            }
        }
        if too_large {
            return Ok(Some(Split::TooLarge));
        }
        Ok(Some(Split::Message {
            envelope,
            bytes: msg,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8], format: Format) -> Vec<(Option<String>, String)> {
        split_limit(input, format, usize::MAX)
    }

    fn split_limit(input: &[u8], format: Format, limit: usize) -> Vec<(Option<String>, String)> {
        let mut s = Splitter::new(input, format, limit).unwrap();
        let mut out = Vec::new();
        while let Some(m) = s.next_message().unwrap() {
            out.push(match m {
                Split::Message { envelope, bytes } => (
                    envelope.map(|e| String::from_utf8(e).unwrap()),
                    String::from_utf8(bytes).unwrap(),
                ),
                Split::TooLarge => (None, "TOO LARGE".into()),
            });
        }
        out
    }

    fn env(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn separators_split_messages_as_each_format_reads_them() {
        // (what the case shows, the input, its format, the messages: envelope and bytes)
        type Case<'a> = (&'a str, &'a [u8], Format, &'a [(Option<&'a str>, &'a str)]);
        let cases: &[Case<'_>] = &[
            (
                "mboxo keeps a quoted From and needs a header after a separator",
                b"From a@example.org Mon Jan  3 10:00:00 2011\nSubject: one\n\n>From the clinic\n\nFrom the ward at 10:30 we met\nlater\n\nFrom b@example.org Mon Jan  3 11:00:00 2011\nSubject: two\n\nbody\n\n",
                Format::Mboxo,
                &[
                    (
                        Some("a@example.org Mon Jan  3 10:00:00 2011"),
                        "Subject: one\n\n>From the clinic\n\nFrom the ward at 10:30 we met\nlater\n",
                    ),
                    (
                        Some("b@example.org Mon Jan  3 11:00:00 2011"),
                        "Subject: two\n\nbody\n",
                    ),
                ],
            ),
            (
                "mboxrd unescapes one level",
                b"From x Thu Jan  1 00:00:00 1970\nA: 1\n\n>From a\n>>From b\n> From c\n\nFrom x Thu Jan  1 00:00:00 1970\n\nno headers\n\n",
                Format::Mboxrd,
                &[
                    (
                        Some("x Thu Jan  1 00:00:00 1970"),
                        "A: 1\n\nFrom a\n>From b\n> From c\n",
                    ),
                    (Some("x Thu Jan  1 00:00:00 1970"), "\nno headers\n"),
                ],
            ),
            (
                "a pipermail separator needs a header but no blank line",
                b"From a at example.org  Tue Jun  1 17:40:49 2004\nFrom: a at example.org (A)\n\nFrom a at example.org  Tue Jun  1 17:40:49 2004\nis body text\nURL: x\nFrom b at example.org  Wed Jun  2 08:00:00 2004\nFrom: b at example.org (B)\n\nend\n\n",
                Format::Pipermail,
                &[
                    (
                        Some("a at example.org  Tue Jun  1 17:40:49 2004"),
                        "From: a at example.org (A)\n\nFrom a at example.org  Tue Jun  1 17:40:49 2004\nis body text\nURL: x\n",
                    ),
                    (
                        Some("b at example.org  Wed Jun  2 08:00:00 2004"),
                        "From: b at example.org (B)\n\nend\n",
                    ),
                ],
            ),
            (
                "CRLF, and blank lines before the first separator",
                b"\r\n\r\nFrom x Thu Jan  1 00:00:00 1970\r\nA: 1\r\n\r\nb\r\n\r\nFrom y Thu Jan  1 00:00:00 1970\r\nB: 2\r\n\r\n",
                Format::Mboxo,
                &[
                    (Some("x Thu Jan  1 00:00:00 1970"), "A: 1\r\n\r\nb\r\n"),
                    (Some("y Thu Jan  1 00:00:00 1970"), "B: 2\r\n"),
                ],
            ),
            (
                "text before the first separator is a message without an envelope",
                b"Stray: text\n\nFrom x Thu Jan  1 00:00:00 1970\nA: 1\n",
                Format::Mboxo,
                &[
                    (None, "Stray: text\n"),
                    (Some("x Thu Jan  1 00:00:00 1970"), "A: 1\n"),
                ],
            ),
            ("nothing", b"", Format::Mboxo, &[]),
            ("blank lines only", b"\n\n", Format::Mboxrd, &[]),
        ];
        for (what, input, format, messages) in cases {
            let want: Vec<(Option<String>, String)> = messages
                .iter()
                .map(|(envelope, bytes)| (envelope.map(str::to_owned), (*bytes).to_owned()))
                .collect();
            assert_eq!(split(input, *format), want, "{what}");
        }
    }

    #[test]
    fn oversized_messages_are_reported_and_skipped() {
        let mut input = b"From x Thu Jan  1 00:00:00 1970\nA: 1\n\n".to_vec();
        input.extend(b"0123456789\n".repeat(100));
        input.extend(b"\nFrom y Thu Jan  1 00:00:00 1970\nB: 2\n\nshort\n");
        assert_eq!(
            split_limit(&input, Format::Mboxo, 200),
            vec![
                (None, "TOO LARGE".into()),
                (env("y Thu Jan  1 00:00:00 1970"), "B: 2\n\nshort\n".into())
            ]
        );
    }

    #[test]
    fn overlong_lines_are_not_split_into_fake_lines() {
        // A "From " at a piece boundary inside a long line must not be unescaped or split on.
        let mut body = vec![b'x'; MAX_PIECE - 1];
        body.extend(b"\n");
        body.extend(vec![b'y'; MAX_PIECE]);
        body.extend(b">From z\n");
        let mut input = b"From x Thu Jan  1 00:00:00 1970\nA: 1\n\n".to_vec();
        input.extend(&body);
        let got = split(&input, Format::Mboxrd);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.as_bytes(), [&b"A: 1\n\n"[..], &body].concat());
    }
}
