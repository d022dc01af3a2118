//! From raw bytes to the facts the archive keeps about a message: ids, author, date, subject,
//! thread signals and the text to index. Pure: the same bytes always give the same result, and
//! nothing here can fail on bad mail except by saying what is wrong with it.

use mail_parser::{HeaderName, Message, MessageParser};
use sha2::{Digest, Sha256};

use super::hex::hex;
use super::ids::MessageId;
use super::render::{Attachment, RenderOptions, chosen_text, preview, render_message};
use super::subject::clip_subject;
use super::thread_index::{ThreadIndex, decode_thread_index};
use super::{address, ids};

/// The most body text indexed per message: enough for any real post, bounded for a runaway one.
const MAX_INDEXED_BODY: usize = 256 * 1024;

/// What the archive derives from one message.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMessage {
    /// The Message-ID as the mail gives it (normalised, no brackets), if it gives a usable one.
    pub message_id: Option<MessageId>,
    pub references: Vec<String>,
    pub in_reply_to: Option<String>,
    pub thread_index: Option<ThreadIndex>,
    pub subject: Option<String>,
    pub from_name: Option<String>,
    pub from_addr: Option<String>,
    /// Unix seconds: the Date header, else the mbox envelope's date.
    pub date: Option<i64>,
    /// What the author wrote (quotes, signatures and footers removed), for the search index.
    pub body_text: String,
    /// The start of that text, for thread lists.
    pub preview: String,
    pub attachments: Vec<Attachment>,
    /// Hash of what a reader sees (author, subject, decoded text): equal for re-deliveries and
    /// re-sends of one message that differ only in transport headers, MIME boundaries or the
    /// Date, different for two messages that merely claim the same Message-ID.
    pub content_sha256: [u8; 32],
    /// Things wrong with the mail that were worked around, for admins.
    pub problems: Vec<String>,
}

/// Why nothing could be derived from a message (it is still stored raw).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unparseable {
    #[error("the message is empty")]
    Empty,
    #[error("no header lines found at the start of the message")]
    NoHeaders,
    #[error("the MIME parser could not read the message")]
    Parser,
}

/// The SHA-256 of a message's raw bytes: its identity in the raw store.
pub fn raw_sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A deterministic Message-ID for a mail that has none, from the hash of its bytes.
pub fn generated_message_id(raw_sha: &[u8; 32]) -> String {
    format!("{}@generated.listbridge.invalid", hex(&raw_sha[..16]))
}

/// The id under which a second, different message claiming an existing Message-ID is kept.
pub fn derived_message_id(message_id: &str, raw_sha: &[u8; 32]) -> String {
    format!("{message_id}.dup-{}", hex(&raw_sha[..6]))
}

/// The MIME parse of a raw message, done once per message on its way in: what the archive
/// derives (`read_message`), what the gate asks (`mail::accept`) and the calendars it carries
/// all read this one parse. None when the parser finds nothing to read.
pub fn mime(raw: &[u8]) -> Option<Message<'_>> {
    match pad_short_date_zone(raw) {
        Some(padded) => MessageParser::default()
            .parse(&padded[..])
            .map(Message::into_owned),
        None => MessageParser::default().parse(raw),
    }
}

/// A copy of `raw` with two spaces after a one- or two-letter zone ending the Date field
/// (`... 11:11:00 S`, `... UT`, `... AM`), or `None` when there is none (nearly always).
/// mail-parser 0.11 reads every alphabetic zone as three letters, so a shorter one at the end
/// of the line takes the line end and the next header (the Message-ID, the Subject) with it;
/// the spaces are read instead. RFC 5322 gives military zones no offset, which is what the
/// parser then assumes.
fn pad_short_date_zone(raw: &[u8]) -> Option<Vec<u8>> {
    let mut in_date = false;
    let mut pad_at = None;
    for (start, line) in lines_at(raw) {
        let content = line
            .strip_suffix(b"\n")
            .map_or(line, |l| l.strip_suffix(b"\r").unwrap_or(l));
        if content.is_empty() {
            break;
        }
        let continuation = matches!(line[0], b' ' | b'\t');
        if !continuation {
            in_date = line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"Date:");
            if !in_date && pad_at.is_some() {
                break;
            }
        }
        if in_date {
            let trimmed = content.trim_ascii_end();
            let token = trimmed
                .rsplit(|b| b.is_ascii_whitespace())
                .next()
                .unwrap_or_default();
            let short = (1..=2).contains(&token.len())
                && token.iter().all(u8::is_ascii_alphabetic)
                && trimmed.len() > token.len();
            pad_at = short.then_some(start + trimmed.len());
        }
    }
    let at = pad_at?;
    let mut padded = Vec::with_capacity(raw.len() + 2);
    padded.extend_from_slice(&raw[..at]);
    padded.extend_from_slice(b"  ");
    padded.extend_from_slice(&raw[at..]);
    Some(padded)
}

/// Parses a raw message. `envelope` is the mbox separator line (without `From `), used for the
/// date when the mail has no usable Date header.
pub fn parse_message(
    raw: &[u8],
    envelope: Option<&str>,
    render: &RenderOptions,
) -> Result<ParsedMessage, Unparseable> {
    read_message(raw, mime(raw).as_ref(), envelope, render)
}

/// [`parse_message`] on a message already parsed by [`mime`] (`message` is `mime(raw)`).
pub fn read_message(
    raw: &[u8],
    message: Option<&Message<'_>>,
    envelope: Option<&str>,
    render: &RenderOptions,
) -> Result<ParsedMessage, Unparseable> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Unparseable::Empty);
    }
    if !starts_with_header(raw) {
        return Err(Unparseable::NoHeaders);
    }
    let message = message.ok_or(Unparseable::Parser)?;
    let mut problems = Vec::new();

    // The first Message-ID is the message's own: archivers add another when they deliver a
    // message again.
    let message_id = match first_header_raw(message, HeaderName::MessageId) {
        Some(value) => match ids::parse_message_id(value) {
            Some(id) if ids::identifies_one_message(&id) => Some(id),
            Some(id) => {
                problems.push(format!(
                    "Message-ID <{id}> cannot name one message; a derived id is used"
                ));
                None
            }
            None => {
                problems.push("unusable Message-ID header".to_owned());
                None
            }
        },
        None => {
            problems.push("no Message-ID header".to_owned());
            None
        }
    };
    let mut references = message
        .header_raw("References")
        .map(ids::parse_references)
        .unwrap_or_default();
    references.retain(|id| ids::identifies_one_message(id));
    let in_reply_to = message
        .header_raw("In-Reply-To")
        .and_then(|raw| ids::reply_parent(raw, &references))
        .filter(|id| ids::identifies_one_message(id));
    let thread_index = message
        .header_raw("Thread-Index")
        .and_then(|v| decode_thread_index(v.trim()));

    let (from_name, from_addr) = author(message);

    let date = match message.date().filter(|d| d.is_valid()) {
        Some(d) => Some(d.to_timestamp()),
        None => {
            let from_envelope = envelope.and_then(envelope_date);
            problems.push(if from_envelope.is_some() {
                "no usable Date header; the mbox envelope date is used".to_owned()
            } else {
                "no usable Date header".to_owned()
            });
            from_envelope
        }
    };

    // The hash covers the whole chosen text, so that changing trimming rules later does not
    // change which messages count as the same.
    let mut full_text = chosen_text(message).text;
    truncate_at_char(&mut full_text, MAX_INDEXED_BODY);
    let subject = message.subject().map(|s| s.trim().to_owned());
    let content_sha256 = content_hash(&from_addr, &subject, &full_text, raw);
    let subject = subject.map(|mut s| {
        clip_subject(&mut s);
        s
    });
    let rendered = render_message(message, render, &|_| None);
    let mut body_text = rendered.body;
    truncate_at_char(&mut body_text, MAX_INDEXED_BODY);

    Ok(ParsedMessage {
        message_id: message_id.map(MessageId::new),
        references,
        in_reply_to,
        thread_index,
        subject,
        from_name,
        from_addr,
        date,
        preview: preview(&body_text),
        body_text,
        attachments: rendered.attachments,
        content_sha256,
        problems,
    })
}

/// The raw value of the first header called `name` (mail-parser's own look-up gives the last).
fn first_header_raw<'a>(message: &'a Message<'_>, name: HeaderName<'static>) -> Option<&'a str> {
    let h = message.headers().iter().find(|h| h.name == name)?;
    let raw = message
        .raw_message()
        .get(h.offset_start as usize..h.offset_end as usize)?;
    std::str::from_utf8(raw).ok()
}

/// Whether the message starts with something shaped like a header field (`Name:`), which tells
/// mail from a stray text file.
fn starts_with_header(raw: &[u8]) -> bool {
    let first = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    match first.iter().position(|&b| b == b':') {
        Some(colon) if colon > 0 => first[..colon]
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b':'),
        _ => false,
    }
}

/// The content fingerprint. Mail with no text at all (attachments only) falls back to its raw
/// body bytes, so two different attachments are never taken for one message.
fn content_hash(
    from: &Option<String>,
    subject: &Option<String>,
    text: &str,
    raw: &[u8],
) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [
        from.as_deref().unwrap_or(""),
        subject.as_deref().unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    if text.trim().is_empty() {
        h.update(body_bytes(raw));
    } else {
        h.update(text.as_bytes());
    }
    h.finalize().into()
}

/// The bytes after the header block (empty when there is no body).
fn body_bytes(raw: &[u8]) -> &[u8] {
    lines_at(raw)
        .find(|(_, line)| *line == b"\n" || *line == b"\r\n")
        .map_or(&[], |(start, line)| &raw[start + line.len()..])
}

/// The lines of `raw`, each with its line end and the offset it starts at.
pub(super) fn lines_at(raw: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    raw.split_inclusive(|&b| b == b'\n').scan(0, |start, line| {
        let at = *start;
        *start += line.len();
        Some((at, line))
    })
}

/// Display name and address of the author, de-obfuscating pipermail's `user at host` forms.
fn author(message: &mail_parser::Message<'_>) -> (Option<String>, Option<String>) {
    let (name, addr) = name_and_address(message.from());
    // The raw header, or (when it is not valid UTF-8 and the parser only made a name of it)
    // that name, may be pipermail's obfuscated form.
    let raw = message
        .header_raw("From")
        .map(|s| s.trim().to_owned())
        .or_else(|| name.clone().filter(|_| addr.is_none()));
    if let Some(raw) = raw
        && address::is_obfuscated(&raw)
    {
        // An encoded local part (`=?iso-8859-1?q?j=F6rg?= at host`) would be taken for a
        // name inside the brackets: the two halves are decoded on their own.
        if let Some(found) = address::parse_obfuscated(&raw)
            && let Some(addr) = found.address.filter(|a| a.starts_with("=?"))
        {
            let name = found.name.and_then(|n| decode_words(&n));
            return checked_address(name, Some(addr));
        }
        // Let the MIME parser read the de-obfuscated form, so encoded words in names decode.
        let header = format!("From: {}\n\n", address::deobfuscate(&raw));
        if let Some(m) = MessageParser::default().parse(header.as_bytes()) {
            let (name, addr) = name_and_address(m.from());
            return checked_address(name, addr);
        }
    }
    checked_address(name, addr)
}

/// The author with only a valid address: an RFC 2047 encoded local part (pipermail wrote
/// `=?iso-8859-1?q?j=F6rg?= at host`) is decoded; an address that stays invalid (spaces, no or
/// two `@`, from a garbled form) is dropped and the name kept, or the decoded local part
/// becomes the name when there is none.
fn checked_address(name: Option<String>, addr: Option<String>) -> (Option<String>, Option<String>) {
    let Some(addr) = addr else {
        return (name, None);
    };
    let (local, host) = match addr.rsplit_once('@') {
        Some((local, host)) => (local.to_owned(), host),
        None => (addr.clone(), ""),
    };
    let local = if local.starts_with("=?") && local.ends_with("?=") {
        decode_words(&local).unwrap_or(local)
    } else {
        local
    };
    let valid_part = |s: &str| {
        !s.is_empty()
            && !s.contains(|c: char| {
                c.is_whitespace() || c.is_control() || "@<>()[]\\,;:\"".contains(c)
            })
    };
    if valid_part(&local) && valid_part(host) && host.contains('.') || host.starts_with('[') {
        return (name, Some(format!("{local}@{host}")));
    }
    let name = name.or_else(|| Some(local.trim().to_owned()).filter(|l| !l.is_empty()));
    (name, None)
}

/// RFC 2047 encoded words decoded, by the MIME parser reading them as a Subject.
fn decode_words(text: &str) -> Option<String> {
    let header = format!("Subject: {text}\n\n");
    MessageParser::default()
        .parse(header.as_bytes())
        .and_then(|m| m.subject().map(str::to_owned))
}

fn name_and_address(from: Option<&mail_parser::Address<'_>>) -> (Option<String>, Option<String>) {
    let Some(first) = from.and_then(|a| a.first()) else {
        return (None, None);
    };
    let name = first
        .name()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let addr = first
        .address()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty());
    (name, addr)
}

/// The date at the end of an mbox separator (`sender Www Mmm dd hh:mm:ss yyyy`), as unix seconds.
fn envelope_date(envelope: &str) -> Option<i64> {
    let fields: Vec<&str> = envelope.split_whitespace().collect();
    let n = fields.len();
    if n < 5 {
        return None;
    }
    let (month, day, time, year) = (fields[n - 4], fields[n - 3], fields[n - 2], fields[n - 1]);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let day: u32 = day.parse().ok()?;
    let year: i32 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (
        hms.next()??,
        hms.next()??,
        hms.next().flatten().unwrap_or(0),
    );
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(h, m, s)?;
    let secs = date.and_utc().timestamp();
    // The public-inbox placeholder date (1970) says nothing.
    (secs > 0).then_some(secs)
}

fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_facts_of_a_reply() {
        let raw = b"From: \"Dr Jane Doe\" <jane@example.org>\r\n\
            Subject: Re: [SNUG] Asthma inhaler technique\r\n\
            Date: Tue, 3 Mar 2020 10:00:00 +0000\r\n\
            Message-ID: <b@example.org>\r\n\
            In-Reply-To: <a@example.org>\r\n\
            References: <root@example.org> <a@example.org>\r\n\
            \r\n\
            Spacers help.\r\n";
        let m = parse_message(raw, None, &RenderOptions::default()).unwrap();
        assert_eq!(m.message_id.as_deref(), Some("b@example.org"));
        assert_eq!(m.in_reply_to.as_deref(), Some("a@example.org"));
        assert_eq!(m.references, ["root@example.org", "a@example.org"]);
        assert_eq!(m.from_name.as_deref(), Some("Dr Jane Doe"));
        assert_eq!(m.from_addr.as_deref(), Some("jane@example.org"));
        assert_eq!(m.date, Some(1_583_229_600));
        assert!(m.body_text.contains("Spacers help."));
        assert!(m.problems.is_empty(), "{:?}", m.problems);
    }

    #[test]
    fn falls_back_to_the_envelope_date_and_reports_it() {
        let raw = b"From: a@example.org\nSubject: hi\n\nbody\n";
        let m = parse_message(
            raw,
            Some("a@example.org Tue Mar  3 10:00:00 2020"),
            &RenderOptions::default(),
        )
        .unwrap();
        assert_eq!(m.date, Some(1_583_229_600));
        assert!(m.problems.iter().any(|p| p.contains("envelope date")));
        assert!(m.problems.iter().any(|p| p.contains("no Message-ID")));
    }

    #[test]
    fn recovers_pipermail_authors() {
        let raw = b"From: jdoe at example.org (John Doe)\nSubject: x\nMessage-ID: <x@y>\n\nhi\n";
        let m = parse_message(raw, None, &RenderOptions::default()).unwrap();
        assert_eq!(m.from_name.as_deref(), Some("John Doe"));
        assert_eq!(m.from_addr.as_deref(), Some("jdoe@example.org"));
    }

    #[test]
    fn says_why_a_message_is_unparseable() {
        assert_eq!(
            parse_message(b"", None, &RenderOptions::default()),
            Err(Unparseable::Empty)
        );
        assert_eq!(
            parse_message(b" \n\n", None, &RenderOptions::default()),
            Err(Unparseable::Empty)
        );
        assert_eq!(
            parse_message(
                b"just some text\nwithout headers\n",
                None,
                &RenderOptions::default()
            ),
            Err(Unparseable::NoHeaders)
        );
    }

    #[test]
    fn content_hash_ignores_transport_headers_and_mime_boundaries() {
        let a = parse_message(
            b"Received: x\nMessage-ID: <a@b>\n\nsame\n",
            None,
            &RenderOptions::default(),
        )
        .unwrap();
        let b = parse_message(
            b"Received: y\nMessage-ID: <a@b>\n\nsame\n",
            None,
            &RenderOptions::default(),
        )
        .unwrap();
        let c = parse_message(
            b"Received: y\nMessage-ID: <a@b>\n\nother\n",
            None,
            &RenderOptions::default(),
        )
        .unwrap();
        assert_eq!(a.content_sha256, b.content_sha256);
        assert_ne!(a.content_sha256, c.content_sha256);
        let multipart = |boundary: &str| {
            format!(
                "Message-ID: <m@b>\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\n\n\
                 --{boundary}\nContent-Type: text/plain\n\nhello\n--{boundary}--\n"
            )
        };
        let d =
            parse_message(multipart("one").as_bytes(), None, &RenderOptions::default()).unwrap();
        let e =
            parse_message(multipart("two").as_bytes(), None, &RenderOptions::default()).unwrap();
        assert_eq!(d.content_sha256, e.content_sha256);
    }

    #[test]
    fn recovers_pipermail_authors_with_8bit_names() {
        let raw = b"From: oyvfos at yahoo.no (\xd8yvind Foshaug)\nMessage-ID: <x@y>\n\nhi\n";
        let m = parse_message(raw, None, &RenderOptions::default()).unwrap();
        assert_eq!(m.from_addr.as_deref(), Some("oyvfos@yahoo.no"));
        assert!(
            m.from_name.as_deref().unwrap().ends_with("yvind Foshaug"),
            "{:?}",
            m.from_name
        );
    }

    #[test]
    fn decodes_encoded_names_in_pipermail_authors() {
        let raw =
            b"From: jdoe at example.org (=?utf-8?q?Fran=C3=A7oise?=)\nMessage-ID: <x@y>\n\nhi\n";
        let m = parse_message(raw, None, &RenderOptions::default()).unwrap();
        assert_eq!(m.from_name.as_deref(), Some("Fran\u{e7}oise"));
        assert_eq!(m.from_addr.as_deref(), Some("jdoe@example.org"));
    }

    #[test]
    fn ids_for_mail_without_or_with_a_taken_message_id() {
        let sha = raw_sha256(b"x");
        assert_eq!(generated_message_id(&sha), generated_message_id(&sha));
        assert!(generated_message_id(&sha).ends_with("@generated.listbridge.invalid"));
        assert_ne!(derived_message_id("a@b", &sha), "a@b");
    }

    #[test]
    fn a_one_letter_military_zone_keeps_the_next_header() {
        for zone in ["S", "Z", "UT", "a"] {
            for eol in ["\n", "\r\n"] {
                let raw = format!(
                    "From: a@example.org{eol}Date: Tue, 1 Apr 1997 11:11:00 {zone}{eol}\
                     Message-ID: <mil@example.org>{eol}Subject: Zulu time{eol}{eol}body{eol}"
                );
                let m = parse_message(raw.as_bytes(), None, &RenderOptions::default()).unwrap();
                assert_eq!(m.message_id.as_deref(), Some("mil@example.org"), "{zone:?}");
                assert_eq!(m.subject.as_deref(), Some("Zulu time"), "{zone:?}");
                assert_eq!(m.date, Some(859_893_060), "{zone:?}");
            }
        }
        // The last header before the body: the body stays the body.
        let raw = b"Message-ID: <m@x>\nDate: Tue, 1 Apr 1997 11:11:00 S\n\nSubject: not a header\n";
        let m = parse_message(raw, None, &RenderOptions::default()).unwrap();
        assert_eq!(m.subject, None);
        assert!(m.body_text.contains("not a header"), "{:?}", m.body_text);
        assert_eq!(
            pad_short_date_zone(b"Date: Tue, 1 Apr 1997 11:11:00 +0000\n\nS\n"),
            None
        );
    }

    #[test]
    fn pipermail_encoded_local_parts_and_garbled_authors() {
        let author = |from: &str| {
            let raw = format!("From: {from}\nMessage-ID: <x@y>\n\nhi\n");
            let m = parse_message(raw.as_bytes(), None, &RenderOptions::default()).unwrap();
            (m.from_name, m.from_addr)
        };
        assert_eq!(
            author("=?iso-8859-1?q?j=F6rg?= at example.org (=?iso-8859-1?q?J=F6rg_M=FCller?=)"),
            (
                Some("J\u{f6}rg M\u{fc}ller".to_owned()),
                Some("j\u{f6}rg@example.org".to_owned())
            )
        );
        assert_eq!(
            author("=?iso-8859-1?q?jdoe?= at example.org"),
            (None, Some("jdoe@example.org".to_owned()))
        );
        // A name encoded where the local part should be: no address can be made of it.
        let (name, addr) = author("=?iso-8859-1?q?Jos=E9_Garc=EDa?= at example.org");
        assert_eq!(addr, None);
        assert_eq!(name.as_deref(), Some("Jos\u{e9} Garc\u{ed}a"));
        for garbled in [
            "x m@iii@g oii y (Xavier Young)",
            "x y m@iii@g oii z (Xavier Young)",
            "x m@iii@g oii y@z (Xavier Young)",
        ] {
            let (name, addr) = author(garbled);
            assert_eq!(addr, None, "{garbled}");
            assert_eq!(name.as_deref(), Some("Xavier Young"), "{garbled}");
        }
    }
}
