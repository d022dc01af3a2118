//! Writing messages as mboxrd, the archive's export format: pure byte shuffling, shared by the
//! command line's export and the web's downloads (the readers in `archive::readers` read it back).

use std::io::{self, Write};

/// The envelope written when a message has none (mail that came in over IMAP, say).
pub const DEFAULT_ENVELOPE: &str = "MAILER-DAEMON Thu Jan  1 00:00:00 1970";

/// The envelope listbridge's own export writes: the sender `mboxrd@z` marks the file as mboxrd
/// for any reader (public-inbox's convention), and the original envelope's date is kept, since
/// it dates mail that has no Date header.
pub fn export_envelope(original: Option<&str>) -> String {
    let date = original
        .map(|env| {
            let fields: Vec<&str> = env.split_whitespace().collect();
            if fields.len() >= 6 {
                let d = &fields[fields.len() - 5..];
                // asctime pads the day to two columns.
                format!("{} {} {:>2} {} {}", d[0], d[1], d[2], d[3], d[4])
            } else {
                String::new()
            }
        })
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "Thu Jan  1 00:00:00 1970".to_owned());
    format!("mboxrd@z {date}")
}

/// `^>*From `: a line mboxrd must escape when writing.
pub fn needs_escape(line: &[u8]) -> bool {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    line[quotes..].starts_with(b"From ")
}

/// Writes one message as mboxrd: `From ` + envelope (or [`DEFAULT_ENVELOPE`]) + `\n`, the bytes
/// with every line matching `^>*From ` given one more `>`, a final `\n` if the bytes do not end
/// with one (mbox cannot say "no final newline", so that one case reads back with a `\n` more),
/// then one empty line. Empty bytes get no added `\n`, so they read back empty. Line breaks in
/// the envelope become spaces: the separator must stay one line.
pub fn write_mboxrd<W: Write>(w: &mut W, envelope: Option<&str>, bytes: &[u8]) -> io::Result<()> {
    let envelope = envelope.unwrap_or(DEFAULT_ENVELOPE);
    w.write_all(b"From ")?;
    if envelope.contains(['\r', '\n']) {
        w.write_all(envelope.replace(['\r', '\n'], " ").as_bytes())?;
    } else {
        w.write_all(envelope.as_bytes())?;
    }
    w.write_all(b"\n")?;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if needs_escape(line) {
            w.write_all(b">")?;
        }
        w.write_all(line)?;
    }
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        w.write_all(b"\n")?;
    }
    w.write_all(b"\n")
}

/// The separator an export writes for a message: the envelope it was imported with, as it
/// was, else [`export_envelope`]'s for mail that came without one.
pub fn envelope_for_export(original: Option<&str>) -> String {
    match original {
        Some(env) if !env.trim().is_empty() => env.to_owned(),
        _ => export_envelope(None),
    }
}

/// Writes messages one after another as [`write_mboxrd`] does, except that a message whose
/// bytes end without a line end gets one only when another message follows it: mbox has no
/// other way to end a message, but the last one needs none, so an archive whose last line had
/// no newline is given back byte for byte.
pub struct MboxWriter<W: Write> {
    w: W,
    /// The message written last ended with a line end (or was empty); `None` before the first.
    last_terminated: Option<bool>,
}

impl<W: Write> MboxWriter<W> {
    pub fn new(w: W) -> Self {
        MboxWriter {
            w,
            last_terminated: None,
        }
    }

    pub fn write(&mut self, envelope: &str, bytes: &[u8]) -> io::Result<()> {
        self.close_last()?;
        self.w.write_all(b"From ")?;
        self.w
            .write_all(envelope.replace(['\r', '\n'], " ").as_bytes())?;
        self.w.write_all(b"\n")?;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            if needs_escape(line) {
                self.w.write_all(b">")?;
            }
            self.w.write_all(line)?;
        }
        self.last_terminated = Some(bytes.is_empty() || bytes.ends_with(b"\n"));
        Ok(())
    }

    fn close_last(&mut self) -> io::Result<()> {
        match self.last_terminated.take() {
            Some(true) => self.w.write_all(b"\n"),
            Some(false) => self.w.write_all(b"\n\n"),
            None => Ok(()),
        }
    }

    /// Ends the file: the empty line after the last message, unless its last line had no line
    /// end.
    pub fn finish(mut self) -> io::Result<W> {
        if self.last_terminated == Some(true) {
            self.w.write_all(b"\n")?;
        }
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_that_need_escaping() {
        assert!(needs_escape(b"From here\n"));
        assert!(needs_escape(b">>From here\n"));
        assert!(!needs_escape(b">From: header-like\n"));
        assert!(!needs_escape(b"Fromage\n"));
    }

    #[test]
    fn write_escapes_and_terminates() {
        let mut out = Vec::new();
        write_mboxrd(&mut out, None, b"A: 1\n\nFrom x\n>From y\n> From z\nlast").unwrap();
        write_mboxrd(&mut out, Some("e Thu Jan  1 00:00:00 1970"), b"").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nA: 1\n\n>From x\n>>From y\n> From z\nlast\n\nFrom e Thu Jan  1 00:00:00 1970\n\n"
        );
    }

    #[test]
    fn the_writer_adds_no_newline_to_a_last_line_without_one() {
        let mut w = MboxWriter::new(Vec::new());
        w.write("a@example.org Mon Apr  1 09:00:00 1996", b"A: 1\n\nno end")
            .unwrap();
        w.write(
            "b@example.org Mon Apr  1 10:00:00 1996",
            b"B: 2\n\nFrom x\nlast",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(w.finish().unwrap()).unwrap(),
            "From a@example.org Mon Apr  1 09:00:00 1996\nA: 1\n\nno end\n\n\
             From b@example.org Mon Apr  1 10:00:00 1996\nB: 2\n\n>From x\nlast"
        );
        let mut w = MboxWriter::new(Vec::new());
        w.write(&envelope_for_export(None), b"A: 1\n").unwrap();
        w.write(
            &envelope_for_export(Some("x Thu Jan  1 00:00:00 1970")),
            b"",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(w.finish().unwrap()).unwrap(),
            "From mboxrd@z Thu Jan  1 00:00:00 1970\nA: 1\n\nFrom x Thu Jan  1 00:00:00 1970\n\n"
        );
    }
}
