//! Outbound messages (RFC 5322) as the exact bytes the outbox stores and the SMTP worker later
//! sends (DESIGN invariant 5): posts written on the web, host-mode redistribution of a member's
//! emailed post, the per-recipient Reply-To copy, and system notices. Everything is a function
//! of its inputs: the date, the Message-ID and its randomness are handed in, so composing the
//! same post twice gives the same bytes. lettre's message builder formats the headers (RFC 2047
//! encoding, folding) and the MIME body; its transports are not used here.
//!
//! Mail we send carries the bridge's own address in From ("Jane Doe via Site"), never the
//! author's: a list post From someone else's domain fails DMARC at every receiver that checks.

use std::time::{Duration, UNIX_EPOCH};

use lettre::Message;
use lettre::message::header::{self, HeaderName, HeaderValue, Headers};
use lettre::message::{Mailbox, Mailboxes, MultiPart, SinglePart};

use super::markup;
use super::subject::{strip_list_tag, strip_reply_prefix};

/// References longer than this keep the root and the nearest ancestors (RFC 5322 §3.6.4
/// practice, as Thunderbird trims them): very long headers get truncated by some servers.
const MAX_REFERENCES: usize = 20;

/// Why a message could not be composed. Permanent: the same inputs fail the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("{0:?} is not a usable mail address; check the configured address or the member's")]
    Address(String),
    #[error("the mail to redistribute has no header block")]
    NoHeaders,
}

/// Who the bridge is when it sends.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    pub site_name: &'a str,
    /// The bridge's own address: every From we write.
    pub from_address: &'a str,
    pub base_url: &'a str,
}

/// The list a message goes to, for its List-* headers (RFC 2369, 2919, 8058).
#[derive(Debug, Clone)]
pub struct ListInfo<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    /// The posting address.
    pub address: &'a str,
    pub archive_url: String,
    pub unsubscribe_url: Option<String>,
}

/// An iCalendar object a mail carries (RFC 6047); `method` (REQUEST, CANCEL, PUBLISH) says
/// what it asks of the reader's calendar.
#[derive(Debug, Clone, Copy)]
pub struct CalendarPart<'a> {
    pub method: &'a str,
    pub ics: &'a str,
}

/// A post written on the web.
#[derive(Debug, Clone)]
pub struct Post<'a> {
    /// Without angle brackets.
    pub message_id: &'a str,
    /// Unix seconds; written as RFC 2822 in +0000.
    pub date: i64,
    pub author_name: &'a str,
    pub subject: &'a str,
    pub in_reply_to: Option<&'a str>,
    /// Already built by [`references_for`].
    pub references: &'a [String],
    /// The light-formatting source ([`markup`]).
    pub text: &'a str,
    /// The post on the web, linked in a short footer.
    pub permalink: Option<&'a str>,
    /// An event's invitation, as a third alternative that calendar-aware readers show with
    /// accept and decline buttons (the form Outlook sends).
    pub calendar: Option<CalendarPart<'a>>,
}

/// A system mail to one person (sign-in link, why a mail was not accepted).
#[derive(Debug, Clone)]
pub struct Notice<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    /// Without angle brackets.
    pub message_id: &'a str,
    pub date: i64,
    pub in_reply_to: Option<&'a str>,
    /// `auto-generated` or `auto-replied` (RFC 3834); anything else is sent as
    /// `auto-generated`.
    pub auto_submitted: &'a str,
    /// A calendar update for this person (a confirmed place, a cancellation).
    pub calendar: Option<CalendarPart<'a>>,
}

/// A web post as a multipart/alternative mail to the list.
pub fn compose_post(
    post: &Post,
    list: &ListInfo,
    identity: &Identity,
) -> Result<Vec<u8>, ComposeError> {
    let mut builder = Message::builder()
        .from(via(post.author_name, identity)?)
        .to(mailbox(None, list.address)?)
        .subject(post.subject)
        .date(UNIX_EPOCH + since_epoch(post.date))
        .message_id(Some(bracket(post.message_id)));
    if let Some(parent) = post.in_reply_to {
        builder = builder.in_reply_to(bracket(parent));
    }
    if !post.references.is_empty() {
        let refs: Vec<String> = post.references.iter().map(|r| bracket(r)).collect();
        builder = builder.references(refs.join(" "));
    }
    let mut plain = post.text.trim_end().replace("\r\n", "\n");
    let mut html = markup::to_html(post.text);
    if let Some(link) = post.permalink {
        plain.push_str(&format!("\n\n-- \nRead and reply on the web: {link}"));
        let href = super::sanitize::escape_markup(link);
        html.push_str(&format!(
            "<hr>\n<p>Read and reply on the web: <a href=\"{href}\">{href}</a></p>\n"
        ));
    }
    plain.push('\n');
    let html = format!("<!DOCTYPE html>\n<html><body>\n{html}</body></html>\n");
    let mut body = MultiPart::alternative_plain_html(plain, html);
    if let Some(calendar) = post.calendar {
        body = body.singlepart(calendar_part(calendar));
    }
    let mut message = builder
        .multipart(body)
        .map_err(|_| ComposeError::Address(list.address.to_string()))?;
    let headers = message.headers_mut();
    for value in list_headers(list, identity) {
        headers.insert_raw(value);
    }
    headers.insert_raw(custom("X-Listbridge-Markup", "light"));
    Ok(message.formatted())
}

/// The subject of a reply: exactly one `Re: ` before the parent's subject, stacked reply
/// prefixes in any language removed, list tags kept (`Re: [SNUG] Topic`).
pub fn reply_subject(parent_subject: &str) -> String {
    let mut tags: Vec<&str> = Vec::new();
    let mut rest = parent_subject;
    loop {
        let t = rest.trim_start();
        if let Some(after) = strip_list_tag(t) {
            let tag = &t[..t.len() - after.len()];
            // Mailman adds its tag again on every pass; one copy is enough.
            if !tags.iter().any(|seen| seen.eq_ignore_ascii_case(tag)) {
                tags.push(tag);
            }
            rest = after;
        } else if let Some(after) = strip_reply_prefix(t) {
            rest = after;
        } else {
            rest = t;
            break;
        }
    }
    let topic = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    let topic = if topic.is_empty() {
        "(no subject)".to_string()
    } else {
        topic
    };
    if tags.is_empty() {
        format!("Re: {topic}")
    } else {
        format!("Re: {} {topic}", tags.join(" "))
    }
}

/// The References of a reply: the parent's References, then the parent, without duplicates;
/// more than [`MAX_REFERENCES`] keep the first (the thread's root) and the nearest ancestors.
pub fn references_for(parent_id: &str, parent_references: &[String]) -> Vec<String> {
    let parent = bare(parent_id);
    let mut out: Vec<String> = Vec::with_capacity(parent_references.len() + 1);
    for id in parent_references.iter().map(|r| bare(r)) {
        if !id.is_empty() && id != parent && !out.contains(&id) {
            out.push(id);
        }
    }
    if !parent.is_empty() {
        out.push(parent);
    }
    if out.len() > MAX_REFERENCES {
        out.drain(1..out.len() - (MAX_REFERENCES - 1));
    }
    out
}

/// A Message-ID of the bridge's own mail (no brackets): [`new_message_id`]'s random part with a
/// tag, keyed with the site's secret, that only the bridge can write and check
/// (`lb.RANDOM.TAG@domain`): its own mail coming back is told by [`is_own_message_id`], never
/// by the domain, which members at the same organisation share.
pub fn own_message_id(secret: &[u8], random: &[u8; 16], domain: &str) -> String {
    let plain = new_message_id(random, domain);
    let (local, domain) = plain.rsplit_once('@').expect("an id has a domain");
    format!("{local}.{}@{domain}", id_tag(secret, local))
}

/// Whether a Message-ID (bare or in brackets) is one [`own_message_id`] made with this secret.
pub fn is_own_message_id(secret: &[u8], id: &str) -> bool {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    let Some((local, _)) = id.rsplit_once('@') else {
        return false;
    };
    let Some((random, tag)) = local.rsplit_once('.') else {
        return false;
    };
    let expected = id_tag(secret, random);
    random.starts_with("lb.")
        && tag.len() == expected.len()
        // Compared whole, without an early exit.
        && tag
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// 80 bits of HMAC-SHA256 over an id's random part, in lowercase base32 (16 characters).
fn id_tag(secret: &[u8], random: &str) -> String {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"listbridge message-id\0");
    mac.update(random.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut bytes = [0u8; 16];
    bytes[..10].copy_from_slice(&digest[..10]);
    // The same base32 as the random part: 10 bytes are 16 characters.
    let encoded = new_message_id(&bytes, "x");
    encoded["lb.".len().."lb.".len() + 16].to_owned()
}

/// A Message-ID (no brackets): `lb.` and the 128 random bits handed in, in lowercase base32
/// (26 characters), at our domain. The bridge's own mail carries [`own_message_id`]'s form.
pub fn new_message_id(random: &[u8; 16], domain: &str) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(30 + domain.len());
    out.push_str("lb.");
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in random {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out.push('@');
    out.push_str(domain);
    out
}

/// Headers a redistributed mail keeps (lowercase names; every `content-*` is kept too).
/// Everything else is dropped: the old route (Received, DKIM, ARC, Return-Path), the old
/// originator (From, Sender, Reply-To, which we replace), old list headers, and whatever
/// internal headers the member's server added (spam scores, originating IPs).
const REDISTRIBUTE_KEEP: &[&str] = &[
    "message-id",
    "subject",
    "date",
    "in-reply-to",
    "references",
    "mime-version",
    "to",
    "cc",
    // Outlook threads by these; they say nothing about the sender's route.
    "thread-index",
    "thread-topic",
];

/// A member's emailed post as the list sends it on (host mode): the body and MIME structure
/// byte for byte, the message's identity kept, a new From (the bridge's, DMARC-safe) and the
/// list's headers. Headers may end in CRLF or LF; the output headers end in CRLF.
pub fn redistribute(
    raw: &[u8],
    author_name: &str,
    list: &ListInfo,
    identity: &Identity,
) -> Result<Vec<u8>, ComposeError> {
    let (fields, body) = split_header(raw).ok_or(ComposeError::NoHeaders)?;
    let mut headers = Headers::new();
    headers.set(header::From::from(Mailboxes::from(via(
        author_name,
        identity,
    )?)));
    let mut out = headers.to_string().into_bytes();
    for field in &fields {
        let name = field.name.to_ascii_lowercase();
        if REDISTRIBUTE_KEEP.contains(&name.as_str()) || name.starts_with("content-") {
            for line in &field.lines {
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    let mut tail = Headers::new();
    for value in list_headers(list, identity) {
        tail.insert_raw(value);
    }
    tail.insert_raw(custom("Precedence", "list"));
    out.extend_from_slice(tail.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Ok(out)
}

/// The per-recipient copy of a composed message: `Reply-To: <reply_to>` first (host mode's
/// `reply+KEY@domain`), replacing any Reply-To the message had, the rest unchanged.
pub fn with_reply_to(message: &[u8], reply_to: &str) -> Result<Vec<u8>, ComposeError> {
    with_recipient_headers(message, Some(reply_to), None)
}

/// One recipient's copy: their Reply-To (host mode's `reply+KEY`) and their own one-click
/// List-Unsubscribe (RFC 2369, RFC 8058) put first, replacing any the message had; the other
/// bytes stay exactly as composed.
pub fn with_recipient_headers(
    message: &[u8],
    reply_to: Option<&str>,
    unsubscribe: Option<&str>,
) -> Result<Vec<u8>, ComposeError> {
    let mut headers = Headers::new();
    if let Some(reply_to) = reply_to {
        headers.set(header::ReplyTo::from(Mailboxes::from(mailbox(
            None, reply_to,
        )?)));
    }
    let mut replaced: Vec<&str> = Vec::new();
    if reply_to.is_some() {
        replaced.push("reply-to");
    }
    if let Some(url) = unsubscribe {
        if url.contains(['\r', '\n', '<', '>']) {
            return Err(ComposeError::Address(url.to_owned()));
        }
        headers.insert_raw(custom("List-Unsubscribe", &format!("<{url}>")));
        headers.insert_raw(custom(
            "List-Unsubscribe-Post",
            "List-Unsubscribe=One-Click",
        ));
        replaced.extend(["list-unsubscribe", "list-unsubscribe-post"]);
    }
    let mut out = headers.to_string().into_bytes();
    match split_header(message) {
        Some((fields, body))
            if fields
                .iter()
                .any(|f| replaced.iter().any(|r| f.name.eq_ignore_ascii_case(r))) =>
        {
            for field in fields
                .iter()
                .filter(|f| !replaced.iter().any(|r| f.name.eq_ignore_ascii_case(r)))
            {
                for line in &field.lines {
                    out.extend_from_slice(line);
                    out.extend_from_slice(b"\r\n");
                }
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(body);
        }
        // Nothing to replace: the bytes stay exactly as composed.
        _ => out.extend_from_slice(message),
    }
    Ok(out)
}

/// A plain-text system mail from the site itself, marked as automatic (RFC 3834) so that
/// vacation responders do not answer it and loops cannot start.
pub fn compose_notice(notice: &Notice, identity: &Identity) -> Result<Vec<u8>, ComposeError> {
    let mut builder = Message::builder()
        .from(mailbox(Some(identity.site_name), identity.from_address)?)
        .to(mailbox(None, notice.to)?)
        .subject(notice.subject)
        .date(UNIX_EPOCH + since_epoch(notice.date))
        .message_id(Some(bracket(notice.message_id)));
    if let Some(parent) = notice.in_reply_to {
        builder = builder
            .in_reply_to(bracket(parent))
            .references(bracket(parent));
    }
    let mut text = notice.text.trim_end().replace("\r\n", "\n");
    text.push('\n');
    let built = match notice.calendar {
        // Google Calendar's form, which every calendar reader recognises: the text and the
        // calendar as alternatives, and the same calendar as an `invite.ics` attachment.
        Some(calendar) => builder.multipart(
            MultiPart::mixed()
                .multipart(
                    MultiPart::alternative()
                        .singlepart(SinglePart::plain(text))
                        .singlepart(calendar_part(calendar)),
                )
                .singlepart(
                    lettre::message::Attachment::new("invite.ics".to_owned()).body(
                        calendar.ics.to_owned(),
                        header::ContentType::parse("application/ics")
                            .expect("a valid content type"),
                    ),
                ),
        ),
        None => builder.singlepart(SinglePart::plain(text)),
    };
    let mut message = built.map_err(|_| ComposeError::Address(notice.to.to_string()))?;
    let auto = match notice.auto_submitted {
        "auto-replied" => "auto-replied",
        _ => "auto-generated",
    };
    let headers = message.headers_mut();
    headers.insert_raw(custom("Auto-Submitted", auto));
    headers.insert_raw(custom("X-Auto-Response-Suppress", "All"));
    headers.insert_raw(custom("X-Loop", identity.from_address));
    Ok(message.formatted())
}

/// A digest: text plus an HTML alternative, from the site, marked as automatic (RFC 3834).
/// The HTML is built by the caller from escaped parts.
pub fn compose_digest(
    notice: &Notice,
    html: &str,
    identity: &Identity,
) -> Result<Vec<u8>, ComposeError> {
    let builder = Message::builder()
        .from(mailbox(Some(identity.site_name), identity.from_address)?)
        .to(mailbox(None, notice.to)?)
        .subject(notice.subject)
        .date(UNIX_EPOCH + since_epoch(notice.date))
        .message_id(Some(bracket(notice.message_id)));
    let mut text = notice.text.trim_end().replace("\r\n", "\n");
    text.push('\n');
    let html = format!("<!DOCTYPE html>\n<html><body>\n{html}\n</body></html>\n");
    let mut message = builder
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|_| ComposeError::Address(notice.to.to_string()))?;
    let headers = message.headers_mut();
    headers.insert_raw(custom("Auto-Submitted", "auto-generated"));
    headers.insert_raw(custom("X-Auto-Response-Suppress", "All"));
    headers.insert_raw(custom("X-Loop", identity.from_address));
    Ok(message.formatted())
}

/// A `text/calendar` part with its method (RFC 6047 §2.4).
fn calendar_part(calendar: CalendarPart) -> SinglePart {
    let method = if calendar
        .method
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        calendar.method
    } else {
        "PUBLISH"
    };
    SinglePart::builder()
        .header(
            header::ContentType::parse(&format!("text/calendar; charset=utf-8; method={method}"))
                .expect("a valid content type"),
        )
        .body(calendar.ics.to_owned())
}

/// The list headers every mail to the list carries, and X-Loop with our address.
fn list_headers(list: &ListInfo, identity: &Identity) -> Vec<HeaderValue> {
    let mut values = vec![
        custom(
            "List-Id",
            &format!("{} <{}>", phrase(list.name), list_id(list)),
        ),
        custom("List-Post", &format!("<mailto:{}>", list.address)),
        custom("List-Archive", &format!("<{}>", list.archive_url)),
    ];
    if let Some(url) = &list.unsubscribe_url {
        values.push(custom("List-Unsubscribe", &format!("<{url}>")));
        values.push(custom(
            "List-Unsubscribe-Post",
            "List-Unsubscribe=One-Click",
        ));
    }
    values.push(custom("X-Loop", identity.from_address));
    values
}

/// `<list name>.<domain of the posting address>` (RFC 2919), the name reduced to the
/// characters a dot-atom allows.
fn list_id(list: &ListInfo) -> String {
    let label: String = list
        .name
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let label = label.trim_matches(['-', '.']);
    let label = if label.is_empty() { "list" } else { label };
    let domain = list
        .address
        .rsplit_once('@')
        .map_or("localhost", |(_, d)| d)
        .to_lowercase();
    format!("{label}.{domain}")
}

/// A display phrase: quoted when it holds characters an atom may not (RFC 5322 §3.2.3).
fn phrase(name: &str) -> String {
    let name = name.trim();
    let atom = |c: char| c.is_alphanumeric() || c == ' ' || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if name.chars().all(atom) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

pub(super) fn custom(name: &'static str, value: &str) -> HeaderValue {
    // A CR or LF in a value is RFC 2047-encoded by lettre, so no header can be injected.
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

/// `"<author> via <site>" <from_address>`; the site alone when the author has no name.
fn via(author: &str, identity: &Identity) -> Result<Mailbox, ComposeError> {
    let author = author.split_whitespace().collect::<Vec<_>>().join(" ");
    let name = if author.is_empty() {
        identity.site_name.to_string()
    } else {
        format!("{author} via {}", identity.site_name)
    };
    mailbox(Some(&name), identity.from_address)
}

pub(super) fn mailbox(name: Option<&str>, address: &str) -> Result<Mailbox, ComposeError> {
    let email = address
        .trim()
        .parse()
        .map_err(|_| ComposeError::Address(address.to_string()))?;
    Ok(Mailbox::new(name.map(str::to_string), email))
}

/// The handed-in date for lettre, which takes a point in time (never the clock's here). Dates
/// before 1970 cannot be written by lettre; they do not occur for mail we compose now.
pub(super) fn since_epoch(seconds: i64) -> Duration {
    Duration::from_secs(seconds.max(0).unsigned_abs())
}

fn bare(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

pub(super) fn bracket(id: &str) -> String {
    format!("<{}>", bare(id))
}

/// One header field as it was written: its name and its lines (continuations included),
/// without line ends.
struct Field<'r> {
    name: String,
    lines: Vec<&'r [u8]>,
}

/// The header fields and the body of a raw message. The header block ends at the first empty
/// line (CRLF or LF); without one the whole input is headers. A continuation line (starting
/// with a space or tab) belongs to the field before it; a leading `From ` mbox line or any
/// other line without a colon is dropped, as it is not a header.
fn split_header(raw: &[u8]) -> Option<(Vec<Field<'_>>, &[u8])> {
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut body_start = raw.len();
    for (start, with_end) in super::parse::lines_at(raw) {
        let line = with_end.strip_suffix(b"\n").unwrap_or(with_end);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            body_start = start + with_end.len();
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(last) = fields.last_mut() {
                last.lines.push(line);
            }
        } else if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = String::from_utf8_lossy(&line[..colon]).trim().to_string();
            fields.push(Field {
                name,
                lines: vec![line],
            });
        }
    }
    (!fields.is_empty()).then_some((fields, &raw[body_start..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{MessageParser, MimeHeaders};

    const IDENTITY: Identity<'static> = Identity {
        site_name: "NHS Forum",
        from_address: "forum@lists.test",
        base_url: "https://forum.test",
    };

    fn list(unsubscribe: bool) -> ListInfo<'static> {
        ListInfo {
            name: "SNUG",
            description: Some("School nurses"),
            address: "snug@lists.test",
            archive_url: "https://forum.test/l/snug".into(),
            unsubscribe_url: unsubscribe.then(|| "https://forum.test/unsub/abc".into()),
        }
    }

    fn assert_headers(m: &mail_parser::Message<'_>, expect: &[(&str, &str)]) {
        for (name, want) in expect {
            assert_eq!(header(m, name).as_deref(), Some(*want), "header {name}");
        }
    }

    fn header<'a>(m: &'a mail_parser::Message<'a>, name: &str) -> Option<String> {
        m.header_raw(name).map(|v| {
            v.replace("\r\n", "")
                .replace('\n', "")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    #[test]
    fn reply_subject_table() {
        let cases: &[(&str, &str)] = &[
            ("Topic", "Re: Topic"),
            ("Re: Topic", "Re: Topic"),
            ("Re: Re: RE: Topic", "Re: Topic"),
            ("Re[2]: Topic", "Re: Topic"),
            ("AW: Re: SV: Antw: Topic", "Re: Topic"),
            ("[SNUG] Topic", "Re: [SNUG] Topic"),
            ("Re: [SNUG] Topic", "Re: [SNUG] Topic"),
            ("[SNUG] Re: Topic", "Re: [SNUG] Topic"),
            ("Re: [SNUG] AW: [snug] Topic", "Re: [SNUG] Topic"),
            ("Fwd: Topic", "Re: Fwd: Topic"),
            ("  Topic   with  space ", "Re: Topic with space"),
            ("Regarding: x", "Re: Regarding: x"),
            ("", "Re: (no subject)"),
            ("Re:", "Re: (no subject)"),
            ("Über Straße", "Re: Über Straße"),
        ];
        for (parent, want) in cases {
            assert_eq!(reply_subject(parent), *want, "parent {parent:?}");
        }
    }

    #[test]
    fn references_table() {
        let ids = |n: usize| -> Vec<String> { (0..n).map(|i| format!("m{i}@x")).collect() };
        let s = |v: &[&str]| -> Vec<String> { v.iter().map(|x| x.to_string()).collect() };
        let cases: Vec<(&str, Vec<String>, Vec<String>)> = vec![
            ("p@x", vec![], s(&["p@x"])),
            ("p@x", s(&["a@x", "b@x"]), s(&["a@x", "b@x", "p@x"])),
            (
                "<p@x>",
                s(&["<a@x>", "a@x", "p@x", "b@x"]),
                s(&["a@x", "b@x", "p@x"]),
            ),
            ("p@x", s(&["", " "]), s(&["p@x"])),
        ];
        for (parent, refs, want) in cases {
            assert_eq!(
                references_for(parent, &refs),
                want,
                "parent {parent} {refs:?}"
            );
        }
        // 30 ancestors + parent: the root and the 19 nearest remain.
        let long = references_for("p@x", &ids(30));
        assert_eq!(long.len(), 20);
        assert_eq!(long[0], "m0@x");
        assert_eq!(long[1], "m12@x");
        assert_eq!(long[18], "m29@x");
        assert_eq!(long[19], "p@x");
        assert_eq!(references_for("p@x", &ids(19)).len(), 20);
    }

    #[test]
    fn own_message_ids_are_told_by_their_tag_not_their_domain() {
        let id = own_message_id(b"secret", &[7; 16], "lists.test");
        assert!(id.starts_with("lb.") && id.ends_with("@lists.test"), "{id}");
        assert!(is_own_message_id(b"secret", &id));
        assert!(is_own_message_id(b"secret", &format!("<{id}>")));
        assert!(!is_own_message_id(b"another site", &id));
        // A member's id at the same domain, an id of the old unsigned form, a forged tag.
        for other in [
            "CAF3x9@lists.test".to_owned(),
            new_message_id(&[7; 16], "lists.test"),
            id.replacen(".", ".x", 2),
            format!("{}a@lists.test", id.split('@').next().unwrap()),
        ] {
            assert!(!is_own_message_id(b"secret", &other), "{other}");
        }
    }

    #[test]
    fn message_ids_are_ours_and_distinct() {
        let a = new_message_id(&[0; 16], "lists.test");
        assert_eq!(a, format!("lb.{}@lists.test", "a".repeat(26)));
        let b = new_message_id(&[0xff; 16], "lists.test");
        assert_eq!(b, format!("lb.{}4@lists.test", "7".repeat(25)));
        let mut r = [0u8; 16];
        r[0] = 0b0000_1000;
        assert_eq!(new_message_id(&r, "d"), format!("lb.b{}@d", "a".repeat(25)));
        assert_eq!(
            crate::mail::ids::parse_message_id(&format!("<{a}>")),
            Some(a)
        );
    }

    fn post<'a>(refs: &'a [String], permalink: Option<&'a str>, author: &'a str) -> Post<'a> {
        Post {
            message_id: "lb.abc@lists.test",
            date: 1_700_000_000,
            author_name: author,
            subject: "Re: [SNUG] Inhaler spacers",
            in_reply_to: Some("parent@mail.test"),
            references: refs,
            text: "Thanks, **very** useful.\n\n- one\n- two\n\n<script>x</script>",
            permalink,
            calendar: None,
        }
    }

    #[test]
    fn composed_post_parses_back() {
        let refs = vec!["root@mail.test".to_string(), "parent@mail.test".to_string()];
        let bytes = compose_post(
            &post(&refs, Some("https://forum.test/t/1#p2"), "Jane Doe"),
            &list(true),
            &IDENTITY,
        )
        .unwrap();
        let m = MessageParser::default().parse(&bytes).expect("parses");
        let from = m.from().and_then(|a| a.first()).unwrap();
        assert_eq!(from.name(), Some("Jane Doe via NHS Forum"));
        assert_eq!(from.address(), Some("forum@lists.test"));
        assert_eq!(
            m.to().and_then(|a| a.first()).and_then(|a| a.address()),
            Some("snug@lists.test")
        );
        assert_eq!(m.subject(), Some("Re: [SNUG] Inhaler spacers"));
        assert_eq!(m.date().unwrap().to_timestamp(), 1_700_000_000);
        assert!(header(&m, "Date").unwrap().ends_with("+0000"));
        assert_eq!(m.message_id(), Some("lb.abc@lists.test"));
        assert_eq!(
            header(&m, "In-Reply-To").as_deref(),
            Some("<parent@mail.test>")
        );
        assert_eq!(
            crate::mail::ids::parse_references(&header(&m, "References").unwrap()),
            refs
        );
        let expect: &[(&str, &str)] = &[
            ("MIME-Version", "1.0"),
            ("List-Id", "SNUG <snug.lists.test>"),
            ("List-Post", "<mailto:snug@lists.test>"),
            ("List-Archive", "<https://forum.test/l/snug>"),
            ("List-Unsubscribe", "<https://forum.test/unsub/abc>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("X-Loop", "forum@lists.test"),
            ("X-Listbridge-Markup", "light"),
        ];
        assert_headers(&m, expect);
        let ct = m.content_type().unwrap();
        assert_eq!(
            (ct.ctype(), ct.subtype()),
            ("multipart", Some("alternative"))
        );
        // lettre writes the wire form: CRLF line ends.
        let text = m.body_text(0).unwrap().replace("\r\n", "\n");
        assert!(text.starts_with("Thanks, **very** useful."), "{text}");
        assert!(
            text.ends_with("\n-- \nRead and reply on the web: https://forum.test/t/1#p2\n"),
            "{text:?}"
        );
        let html = m.body_html(0).unwrap();
        assert!(html.contains("<strong>very</strong>"), "{html}");
        assert!(html.contains("<li>one</li>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(
            html.contains("href=\"https://forum.test/t/1#p2\""),
            "{html}"
        );
        let text_part = m.text_part(0).unwrap();
        assert_eq!(
            text_part.content_type().unwrap().attribute("charset"),
            Some("utf-8")
        );
    }

    #[test]
    fn composed_post_without_extras() {
        let compose = || {
            compose_post(
                &Post {
                    in_reply_to: None,
                    ..post(&[], None, "Zoë Brontë-Ωmega")
                },
                &list(false),
                &IDENTITY,
            )
            .unwrap()
        };
        let bytes = compose();
        let head = String::from_utf8_lossy(&bytes);
        // The non-ASCII display name is RFC 2047-encoded, not raw UTF-8 in the header.
        let from_line = head.lines().find(|l| l.starts_with("From:")).unwrap();
        assert!(from_line.contains("=?utf-8?"), "{from_line}");
        let m = MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(
            m.from().and_then(|a| a.first()).and_then(|a| a.name()),
            Some("Zoë Brontë-Ωmega via NHS Forum")
        );
        for absent in [
            "In-Reply-To",
            "References",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
        ] {
            assert_eq!(header(&m, absent), None, "{absent}");
        }
        assert!(!m.body_text(0).unwrap().contains("Read and reply"));
        // The same inputs give the same bytes: nothing is taken from a clock or randomness.
        assert_eq!(normalise_boundary(&bytes), normalise_boundary(&compose()));
    }

    /// lettre draws a random MIME boundary; everything else must be identical.
    fn normalise_boundary(bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let m = MessageParser::default().parse(bytes).unwrap();
        let boundary = m
            .content_type()
            .unwrap()
            .attribute("boundary")
            .unwrap()
            .to_string();
        text.replace(&boundary, "BOUNDARY")
    }

    #[test]
    fn header_injection_is_not_possible() {
        let bytes = compose_post(
            &Post {
                subject: "Hi\r\nBcc: victim@evil.test",
                ..post(&[], None, "Eve\r\nX-Evil: 1")
            },
            &list(false),
            &IDENTITY,
        )
        .unwrap();
        let m = MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(header(&m, "Bcc"), None);
        assert_eq!(header(&m, "X-Evil"), None);
        assert_eq!(
            compose_post(
                &post(&[], None, "J"),
                &ListInfo {
                    address: "not an address",
                    ..list(false)
                },
                &IDENTITY
            ),
            Err(ComposeError::Address("not an address".into()))
        );
    }

    const MEMBER_MAIL: &str = "Return-Path: <jane@gp.test>\n\
Received: from mx.gp.test by lists.test;\n\tMon, 1 Jan 2024 10:00:00 +0000\n\
DKIM-Signature: v=1; a=rsa-sha256; d=gp.test;\n b=abcdef\n\
ARC-Seal: i=1; cv=none\n\
Authentication-Results: lists.test; dkim=pass\n\
Delivered-To: snug@lists.test\n\
From: Jane Doe <jane@gp.test>\n\
Sender: jane@gp.test\n\
Reply-To: jane@gp.test\n\
To: snug@lists.test\n\
Cc: Bob <bob@gp.test>\n\
Subject: Spacers\n\
Date: Mon, 1 Jan 2024 10:00:00 +0000\n\
Message-ID: <m1@gp.test>\n\
References: <a@x>\n <b@x>\n\
List-Id: old <old.list>\n\
Precedence: bulk\n\
X-Loop: old@list\n\
X-Spam-Score: 0.1\n\
MIME-Version: 1.0\n\
Content-Type: multipart/mixed;\n boundary=\"XX\"\n\
\n\
--XX\n\
Content-Type: text/plain\n\
\n\
Body line\n\
--XX--\n";

    #[test]
    fn redistribute_keeps_body_and_identity() {
        for crlf in [false, true] {
            let raw = if crlf {
                MEMBER_MAIL.replace('\n', "\r\n")
            } else {
                MEMBER_MAIL.to_string()
            };
            let out = redistribute(raw.as_bytes(), "Jane Doe", &list(true), &IDENTITY).unwrap();
            let body_at = raw.find(if crlf { "\r\n\r\n" } else { "\n\n" }).unwrap()
                + if crlf { 4 } else { 2 };
            assert!(
                out.ends_with(&raw.as_bytes()[body_at..]),
                "body kept byte for byte"
            );
            let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            let head = String::from_utf8_lossy(&out[..head_end + 2]).into_owned();
            assert!(
                !head.replace("\r\n", "").contains('\n'),
                "CRLF headers: {head:?}"
            );
            let m = MessageParser::default().parse(&out).unwrap();
            let from = m.from().and_then(|a| a.first()).unwrap();
            assert_eq!(from.name(), Some("Jane Doe via NHS Forum"));
            assert_eq!(from.address(), Some("forum@lists.test"));
            assert_eq!(m.message_id(), Some("m1@gp.test"));
            assert_eq!(header(&m, "References").as_deref(), Some("<a@x> <b@x>"));
            assert_eq!(header(&m, "Cc").as_deref(), Some("Bob <bob@gp.test>"));
            assert_eq!(m.subject(), Some("Spacers"));
            assert_eq!(header(&m, "Precedence").as_deref(), Some("list"));
            assert_eq!(header(&m, "X-Loop").as_deref(), Some("forum@lists.test"));
            assert_eq!(
                header(&m, "List-Id").as_deref(),
                Some("SNUG <snug.lists.test>")
            );
            assert_eq!(m.body_text(0).as_deref(), Some("Body line"));
            let ct = m.content_type().unwrap();
            assert_eq!(
                (ct.ctype(), ct.attribute("boundary")),
                ("multipart", Some("XX"))
            );
            for dropped in [
                "Return-Path",
                "Received",
                "DKIM-Signature",
                "ARC-Seal",
                "Authentication-Results",
                "Delivered-To",
                "Sender",
                "Reply-To",
                "X-Spam-Score",
            ] {
                assert_eq!(header(&m, dropped), None, "{dropped} dropped");
            }
            // Exactly one of each header we set.
            for once in ["From", "List-Id", "X-Loop", "Precedence"] {
                let n = m
                    .headers()
                    .iter()
                    .filter(|h| h.name().eq_ignore_ascii_case(once))
                    .count();
                assert_eq!(n, 1, "{once}");
            }
        }
        assert_eq!(
            redistribute(b"", "J", &list(false), &IDENTITY),
            Err(ComposeError::NoHeaders)
        );
    }

    #[test]
    fn reply_to_goes_first() {
        let composed = compose_post(&post(&[], None, "J"), &list(false), &IDENTITY).unwrap();
        let copy = with_reply_to(&composed, "reply+k3y@lists.test").unwrap();
        assert!(copy.starts_with(b"Reply-To: reply+k3y@lists.test\r\n"));
        assert!(copy.ends_with(&composed), "the rest is unchanged");
        let m = MessageParser::default().parse(&copy).unwrap();
        assert_eq!(
            m.reply_to()
                .and_then(|a| a.first())
                .and_then(|a| a.address()),
            Some("reply+k3y@lists.test")
        );
        // An existing Reply-To is replaced, not doubled.
        let copy2 = with_reply_to(&copy, "reply+other@lists.test").unwrap();
        let m = MessageParser::default().parse(&copy2).unwrap();
        let n = m
            .headers()
            .iter()
            .filter(|h| h.name() == "Reply-To")
            .count();
        assert_eq!(n, 1);
        assert_eq!(
            m.reply_to()
                .and_then(|a| a.first())
                .and_then(|a| a.address()),
            Some("reply+other@lists.test")
        );
        assert!(with_reply_to(&composed, "bad\r\nBcc: x@y").is_err());
    }

    #[test]
    fn notice_is_automatic() {
        let bytes = compose_notice(
            &Notice {
                to: "jane@gp.test",
                subject: "Your mail to SNUG was not posted",
                text: "Dear Jane,\r\nplease write from your member address.\r\n",
                message_id: "lb.n1@lists.test",
                date: 1_700_000_000,
                in_reply_to: Some("m1@gp.test"),
                auto_submitted: "auto-replied",
                calendar: None,
            },
            &IDENTITY,
        )
        .unwrap();
        let m = MessageParser::default().parse(&bytes).unwrap();
        let from = m.from().and_then(|a| a.first()).unwrap();
        assert_eq!(
            (from.name(), from.address()),
            (Some("NHS Forum"), Some("forum@lists.test"))
        );
        let expect: &[(&str, &str)] = &[
            ("To", "jane@gp.test"),
            ("Auto-Submitted", "auto-replied"),
            ("X-Auto-Response-Suppress", "All"),
            ("X-Loop", "forum@lists.test"),
            ("In-Reply-To", "<m1@gp.test>"),
            ("Message-ID", "<lb.n1@lists.test>"),
        ];
        assert_headers(&m, expect);
        let ct = m.content_type().unwrap();
        assert_eq!((ct.ctype(), ct.subtype()), ("text", Some("plain")));
        assert_eq!(
            m.body_text(0)
                .map(|t| t.replace("\r\n", "\n"))
                .as_deref()
                .map(str::trim_end),
            Some("Dear Jane,\nplease write from your member address.")
        );
        let other = compose_notice(
            &Notice {
                to: "jane@gp.test",
                subject: "s",
                text: "t",
                message_id: "n2@lists.test",
                date: 0,
                in_reply_to: None,
                auto_submitted: "no",
                calendar: None,
            },
            &IDENTITY,
        )
        .unwrap();
        let m = MessageParser::default().parse(&other).unwrap();
        assert_eq!(
            header(&m, "Auto-Submitted").as_deref(),
            Some("auto-generated")
        );
        assert!(
            compose_notice(
                &Notice {
                    to: "nobody",
                    subject: "s",
                    text: "t",
                    message_id: "n3@lists.test",
                    date: 0,
                    in_reply_to: None,
                    auto_submitted: "auto-generated",
                    calendar: None,
                },
                &IDENTITY
            )
            .is_err()
        );
    }
}
