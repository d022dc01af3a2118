//! Line classification shared by the mbox and pipermail splitters and by format detection: what
//! counts as a blank line, a header line, an mbox `From ` separator, an asctime date, an escaped
//! `>From ` line. Everything works on raw bytes, because archives are not guaranteed UTF-8.

/// The line without its line end (`\n` or `\r\n`).
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// An empty line, LF or CRLF: the line mbox puts between messages.
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

/// `Name: value` (RFC 5322 field name, then optional white space, then a colon). Used to tell a
/// separator from body text that merely starts with "From ".
pub(crate) fn is_header_line(line: &[u8]) -> bool {
    let name_len = line
        .iter()
        .take_while(|&&b| (0x21..=0x7e).contains(&b) && b != b':')
        .count();
    if name_len == 0 {
        return false;
    }
    let rest = &line[name_len..];
    let rest = &rest[rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count()..];
    rest.first() == Some(&b':')
}

/// `^>+From `: a line mboxrd escaped (one `>` too many).
pub(crate) fn is_escaped_from(line: &[u8]) -> bool {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    quotes > 0 && line[quotes..].starts_with(b"From ")
}

const WEEKDAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// `hh:mm:ss` (the hour may have one digit).
fn is_clock(s: &[u8]) -> bool {
    let mut parts = s.split(|&b| b == b':');
    let (Some(h), Some(m), Some(sec), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    all_digits(h)
        && h.len() <= 2
        && all_digits(m)
        && m.len() == 2
        && all_digits(sec)
        && sec.len() == 2
}

/// If `line` (line end already trimmed) ends in an asctime date `Www Mmm [ d]d hh:mm:ss yyyy`,
/// the offset where that date starts. Pipermail writes exactly this after the sender, and the
/// sender itself may contain spaces (`jdoe at example.com`), so the date is found from the right.
pub(crate) fn asctime_start(line: &[u8]) -> Option<usize> {
    let mut end = line.len();
    let mut tokens = [(0usize, 0usize); 5];
    for slot in tokens.iter_mut().rev() {
        while end > 0 && is_ws(line[end - 1]) {
            end -= 1;
        }
        let mut start = end;
        while start > 0 && !is_ws(line[start - 1]) {
            start -= 1;
        }
        if start == end {
            return None;
        }
        *slot = (start, end);
        end = start;
    }
    let tok = |i: usize| &line[tokens[i].0..tokens[i].1];
    let ok = WEEKDAYS.contains(&tok(0))
        && MONTHS.contains(&tok(1))
        && all_digits(tok(2))
        && tok(2).len() <= 2
        && is_clock(tok(3))
        && all_digits(tok(4))
        && tok(4).len() == 4;
    ok.then_some(tokens[0].0)
}

/// A pipermail separator: `From <sender> <asctime>`. Returns the sender (trimmed), which may
/// contain spaces (`jdoe at example.com`).
pub(crate) fn pipermail_sender(line: &[u8]) -> Option<&[u8]> {
    let line = trim_eol(line);
    let rest = line.strip_prefix(b"From ")?;
    let date = asctime_start(rest)?;
    Some(rest[..date].trim_ascii())
}

/// An mbox separator, loosely: `From `, a sender token, then something with a clock time in
/// it. Writers disagree on the date (asctime, with or without a zone, `From -` from
/// Thunderbird), but all write a time, and body text that starts "From " rarely does.
pub(crate) fn is_mbox_separator(line: &[u8]) -> bool {
    let Some(rest) = trim_eol(line).strip_prefix(b"From ") else {
        return false;
    };
    let sender_len = rest.iter().take_while(|&&b| !is_ws(b)).count();
    if sender_len == 0 {
        return false;
    }
    let date = &rest[sender_len..];
    date.windows(4).any(|w| {
        w[0].is_ascii_digit() && w[1] == b':' && w[2].is_ascii_digit() && w[3].is_ascii_digit()
    })
}

/// The envelope form itself, strictly: `From sender Www Mmm [d]d hh:mm[:ss] yyyy`, with a zone
/// before or after the year as some writers put it (`... 09:55:17 +0000 2020`, `... 2020 GMT`).
/// Strict enough to start a message even without the blank line mbox wants before it.
pub(crate) fn is_envelope_line(line: &[u8]) -> bool {
    let Some(rest) = trim_eol(line).strip_prefix(b"From ") else {
        return false;
    };
    let tokens: Vec<&[u8]> = rest
        .split(|&b| is_ws(b))
        .filter(|t| !t.is_empty())
        .collect();
    (1..tokens.len()).any(|i| WEEKDAYS.contains(&tokens[i]) && is_envelope_date(&tokens[i + 1..]))
}

/// `Mmm [d]d hh:mm[:ss]` then the year, a zone on either side of it allowed.
fn is_envelope_date(t: &[&[u8]]) -> bool {
    let year = |s: &[u8]| all_digits(s) && s.len() == 4;
    let zone = |s: &[u8]| {
        matches!(s.first(), Some(b'+' | b'-')) && all_digits(&s[1..]) && s.len() == 5
            || (2..=5).contains(&s.len()) && s.iter().all(u8::is_ascii_uppercase)
    };
    let clock = |s: &[u8]| {
        is_clock(s)
            || s.split(|&b| b == b':').count() == 2
                && s.split(|&b| b == b':')
                    .all(|p| all_digits(p) && p.len() <= 2)
    };
    if t.len() < 4 || !MONTHS.contains(&t[0]) || !all_digits(t[1]) || t[1].len() > 2 {
        return false;
    }
    if !clock(t[2]) {
        return false;
    }
    match &t[3..] {
        [y] => year(y),
        [a, b] => (zone(a) && year(b)) || (year(a) && zone(b)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line of `rows` read by `read` gives what its row says.
    fn each_line<T: PartialEq + std::fmt::Debug>(
        read: impl Fn(&'static [u8]) -> T,
        rows: &[(&'static [u8], T)],
    ) {
        for (line, want) in rows {
            assert_eq!(read(line), *want, "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn header_lines() {
        each_line(
            is_header_line,
            &[
                (&b"From: a@example.org\n"[..], true),
                (b"Subject:x\r\n", true),
                (b"X-Odd-Header :value\n", true),
                (b"Message-ID: <1@example.org>\n", true),
                (b"\n", false),
                (b"From here on: nothing\n", false),
                (b" folded: continuation\n", false),
                (b"Dear colleagues,\n", false),
                (b":no name\n", false),
            ],
        );
    }

    #[test]
    fn asctime_dates() {
        each_line(
            pipermail_sender,
            &[
                (
                    &b"From edd at debian.org  Tue Jun  1 17:40:49 2004"[..],
                    Some(b"edd at debian.org".as_slice()),
                ),
                (
                    b"From @@chmid1 @ending from @teven@@edu  Tue Jan  8 17:09:09 2019\n",
                    Some(b"@@chmid1 @ending from @teven@@edu"),
                ),
                (
                    b"From j.....  Mon Mar 14 09:00:00 2005\r\n",
                    Some(b"j....."),
                ),
                (b"From the ward Tue Jun  1 2004", None),
                (b"From edd at debian.org  Tue Jun  1 17:40 2004", None),
                (b"From edd at debian.org  Tue Juin  1 17:40:49 2004", None),
                (b"From Tue Jun  1 17:40:49 2004", Some(b"")),
                (b"Tue Jun  1 17:40:49 2004", None),
            ],
        );
    }

    #[test]
    fn mbox_separators() {
        each_line(
            is_mbox_separator,
            &[
                (&b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"[..], true),
                (b"From MAILER-DAEMON Fri Jul  8 12:08:34 2011\n", true),
                (b"From - Sat Jan 03 01:05:34 1996\r\n", true),
                (
                    b"From 1601234567890@xxx Thu Oct 01 09:55:17 +0000 2020\n",
                    true,
                ),
                (b"From the ward round this morning\n", false),
                (b"From  Tue Jun  1 17:40:49 2004\n", false),
                (b">From a Thu Jan  1 00:00:00 1970\n", false),
            ],
        );
    }

    #[test]
    fn envelope_lines() {
        each_line(
            is_envelope_line,
            &[
                (
                    &b"From jane@example.org Mon Apr  1 09:00:00 1996\n"[..],
                    true,
                ),
                (b"From - Sat Jan 03 01:05:34 1996\r\n", true),
                (
                    b"From 1601234567890@xxx Thu Oct 01 09:55:17 +0000 2020\n",
                    true,
                ),
                (b"From a at example.org  Tue Jun  1 17:40:49 2004\n", true),
                (b"From jane@example.org Mon Apr  1 09:00 1996 GMT\n", true),
                (b"From the ward round at 10:30 on Mon Apr 1\n", false),
                (b"From jane@example.org Mon Apr  1 09:00:00\n", false),
                (b"From Mon Apr  1 09:00:00 1996\n", false),
                (b">From jane@example.org Mon Apr  1 09:00:00 1996\n", false),
            ],
        );
    }

    #[test]
    fn escapes() {
        assert!(is_escaped_from(b">From here\n"));
        assert!(is_escaped_from(b">>>From here\n"));
        assert!(!is_escaped_from(b"From here\n"));
        assert!(!is_escaped_from(b"> From here\n"));
    }
}
