//! What a reader sees of a message: the chosen body (text/plain preferred, HTML-only mail turned
//! into text), decoded in the right characters, unwrapped when format=flowed, split into what
//! the author wrote and what is folded away, the sanitised HTML, the attachments and forwarded
//! messages. One code path for import, IMAP, reindex and `listbridge show`.

use std::borrow::Cow;

use mail_parser::{Encoding, Message, MessagePart, MimeHeaders, PartType};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::hex::hex;
use super::markup;
use super::sanitize::{SanitizeOptions, sanitize_html};
use super::subject::clip_subject;
use super::trim::{TrimOptions, trim};

/// How deep forwarded messages inside forwarded messages are shown.
const MAX_FORWARD_DEPTH: usize = 3;
/// The longest preview kept for thread lists.
const PREVIEW_CHARS: usize = 280;

/// Per-list rendering settings.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    pub trim: TrimOptions,
    /// The legacy list's subject tag (`[SNUG]`), removed from titles.
    pub subject_tag: Option<String>,
    /// Whether remote images load (a reader's consent); never during import.
    pub allow_remote_images: bool,
    /// The domain of our own Message-IDs. A post written on our web pages (marked
    /// `X-Listbridge-Markup: light` and carrying a Message-ID at this domain) shows its light
    /// formatting; the same header on anyone else's mail means nothing, so it is not trusted.
    pub own_domain: Option<String>,
}

/// A message as the archive shows it (`listbridge show --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rendered {
    pub subject: Option<String>,
    pub from: String,
    /// RFC 3339, UTC.
    pub date: Option<String>,
    pub message_id: Option<String>,
    /// What the author wrote: the chosen text with quotes, signatures and footers removed.
    pub body: String,
    /// What was folded away, in order; empty when nothing was.
    pub elided: String,
    /// The sanitised HTML of an HTML-only message.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Messages forwarded as message/rfc822 parts, rendered the same way.
    pub forwarded: Vec<Rendered>,
    /// Interests matched (filled by the tagger).
    pub tags: Vec<String>,
}

/// A part offered for download or shown inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// The part's number in the message, as the MIME parser numbers them.
    pub part: u32,
    pub filename: Option<String>,
    pub content_type: String,
    pub size: usize,
    /// SHA-256 of the decoded contents: attachments are stored and served by it.
    pub sha256: String,
    /// Shown inside the message (an image referenced by `cid:`) rather than listed.
    pub inline: bool,
    pub content_id: Option<String>,
}

/// Renders a parsed message.
pub fn render_message(
    message: &Message<'_>,
    options: &RenderOptions,
    part_url: &dyn Fn(&Attachment) -> Option<String>,
) -> Rendered {
    let mut root = render_one(message, options, part_url);
    // Forwarded messages, breadth first and bounded, never by recursion on mail data.
    let mut queue: Vec<(Vec<usize>, &Message<'_>, usize)> = nested_messages(message)
        .into_iter()
        .enumerate()
        .map(|(i, m)| (vec![i], m, 1))
        .collect();
    while let Some((path, nested, depth)) = (!queue.is_empty()).then(|| queue.remove(0)) {
        let rendered = render_one(nested, options, part_url);
        let mut slot = &mut root.forwarded;
        for &i in &path[..path.len() - 1] {
            slot = &mut slot[i].forwarded;
        }
        slot.push(rendered);
        if depth < MAX_FORWARD_DEPTH {
            for (i, m) in nested_messages(nested).into_iter().enumerate() {
                let mut child = path.clone();
                child.push(i);
                queue.push((child, m, depth + 1));
            }
        }
    }
    root
}

fn nested_messages<'m>(message: &'m Message<'m>) -> Vec<&'m Message<'m>> {
    message
        .parts
        .iter()
        .filter_map(|p| match &p.body {
            PartType::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn render_one(
    message: &Message<'_>,
    options: &RenderOptions,
    part_url: &dyn Fn(&Attachment) -> Option<String>,
) -> Rendered {
    let attachments = attachments(message);
    // `cid:` images point at the message's own parts, served wherever the caller serves them.
    let cid_url = |cid: &str| {
        attachments
            .iter()
            .find(|a| a.content_id.as_deref() == Some(cid))
            .and_then(part_url)
    };
    let chosen = chosen_text(message);
    let trimmed = trim(&chosen.text, &options.trim);
    let ours_in_markup = !chosen.html_only && written_on_our_pages(message, options);
    // From the trimmed text, so the formatted view folds away what the plain one does.
    let html = ours_in_markup.then(|| markup::to_html(&trimmed.text));
    let html = html.or_else(|| {
        chosen.html_only.then(|| {
            message
                .html_body
                .first()
                .and_then(|&i| message.parts.get(i as usize))
                .map(|part| {
                    sanitize_html(
                        &part_text(message, part),
                        &SanitizeOptions {
                            allow_remote_images: options.allow_remote_images,
                            cid_url: &cid_url,
                        },
                    )
                })
                .unwrap_or_default()
        })
    });
    Rendered {
        subject: display_subject(message, options.subject_tag.as_deref()),
        from: display_from(message),
        date: message
            .date()
            .filter(|d| d.is_valid())
            .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0))
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        message_id: message
            .header_raw("Message-ID")
            .and_then(super::ids::parse_message_id),
        body: trimmed.text,
        elided: trimmed.elided,
        html,
        attachments,
        forwarded: Vec::new(),
        tags: Vec::new(),
    }
}

/// Whether the message is one of our own web posts in light formatting: the markup header and
/// a Message-ID at our own domain (see [`RenderOptions::own_domain`]).
fn written_on_our_pages(message: &Message<'_>, options: &RenderOptions) -> bool {
    let Some(own_domain) = options.own_domain.as_deref() else {
        return false;
    };
    let light = message
        .header_raw("X-Listbridge-Markup")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("light"));
    light
        && message
            .header_raw("Message-ID")
            .and_then(super::ids::parse_message_id)
            .and_then(|id| id.rsplit_once('@').map(|(_, d)| d.to_string()))
            .is_some_and(|d| d.eq_ignore_ascii_case(own_domain.trim()))
}

/// The text a message is read by, before trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenText {
    pub text: String,
    /// The message has HTML and no plain text: the text was made from the HTML.
    pub html_only: bool,
}

/// text/plain preferred; HTML-only mail turned into text. Every text body part, in order.
pub fn chosen_text(message: &Message<'_>) -> ChosenText {
    let mut text = String::new();
    let mut saw_plain = false;
    let mut saw_html = false;
    for &index in &message.text_body {
        let Some(part) = message.parts.get(index as usize) else {
            continue;
        };
        let piece = match &part.body {
            PartType::Text(_) => {
                saw_plain = true;
                let decoded = part_text(message, part);
                if is_flowed(part) {
                    unflow(&decoded, delsp(part))
                } else {
                    decoded.into_owned()
                }
            }
            PartType::Html(_) => {
                saw_html = true;
                mail_parser::decoders::html::html_to_text(&part_text(message, part))
            }
            _ => continue,
        };
        if !text.is_empty() && !piece.is_empty() {
            text.push('\n');
        }
        text.push_str(&piece);
    }
    if !saw_plain && !saw_html && !message.html_body.is_empty() {
        // A message whose only body is HTML reached through html_body alone.
        if let Some(part) = message
            .html_body
            .first()
            .and_then(|&i| message.parts.get(i as usize))
        {
            saw_html = true;
            text = mail_parser::decoders::html::html_to_text(&part_text(message, part));
        }
    }
    // Most text has no CR at all: a byte search spares a copy through a substring search.
    if text.contains('\r') {
        text = text.replace("\r\n", "\n");
    }
    ChosenText {
        text,
        html_only: saw_html && !saw_plain,
    }
}

/// A text part's characters. The MIME parser decodes by the declared charset; a part declared
/// UTF-8 (or with no charset) whose bytes are not valid UTF-8 comes out with replacement
/// characters, so its bytes are decoded again: valid UTF-8 runs as UTF-8, the stray bytes as
/// windows-1252, the usual truth behind unlabelled 8-bit mail.
fn part_text<'m>(message: &'m Message<'_>, part: &'m MessagePart<'_>) -> Cow<'m, str> {
    let decoded: &str = match &part.body {
        PartType::Text(t) | PartType::Html(t) => t,
        _ => return Cow::Borrowed(""),
    };
    let declared_utf8 = part
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .is_none_or(|c| {
            let c = c.to_ascii_lowercase();
            c == "utf-8" || c == "utf8"
        });
    if !decoded.contains('\u{FFFD}') || !declared_utf8 {
        return Cow::Borrowed(decoded);
    }
    let Some(bytes) = transfer_decoded(message, part) else {
        return Cow::Borrowed(decoded);
    };
    Cow::Owned(utf8_or_windows_1252(&bytes))
}

/// A part's body bytes with the transfer encoding undone; `None` when it is broken. Base64
/// is read past the line breaks and spaces that mail puts in it.
pub fn transfer_decoded<'m>(
    message: &'m Message<'_>,
    part: &MessagePart<'_>,
) -> Option<Cow<'m, [u8]>> {
    let raw = message.raw_message();
    let body = raw.get(part.offset_body as usize..(part.offset_end as usize).min(raw.len()))?;
    match part.encoding {
        Encoding::None => Some(Cow::Borrowed(body)),
        Encoding::QuotedPrintable => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body).map(Cow::Owned)
        }
        Encoding::Base64 => {
            let compact: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            mail_parser::decoders::base64::base64_decode(&compact).map(Cow::Owned)
        }
    }
}

/// Valid UTF-8 runs as they are, every other byte as windows-1252.
fn utf8_or_windows_1252(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len()).max(1).min(rest.len());
                out.push_str(
                    &encoding_rs::WINDOWS_1252
                        .decode_without_bom_handling(&rest[..bad])
                        .0,
                );
                bytes = &rest[bad..];
            }
        }
    }
}

fn is_flowed(part: &MessagePart<'_>) -> bool {
    part.content_type()
        .and_then(|ct| ct.attribute("format"))
        .is_some_and(|f| f.eq_ignore_ascii_case("flowed"))
}

fn delsp(part: &MessagePart<'_>) -> bool {
    part.content_type()
        .and_then(|ct| ct.attribute("delsp"))
        .is_some_and(|f| f.eq_ignore_ascii_case("yes"))
}

/// Unwraps format=flowed text (RFC 3676): a line ending in a space continues on the next line
/// of the same quote depth; space-stuffing is removed; the signature separator stays a line.
pub fn unflow(text: &str, delsp: bool) -> String {
    let text = text.replace("\r\n", "\n");
    let had_newline = text.ends_with('\n');
    let body = text.strip_suffix('\n').unwrap_or(&text);
    let mut out = String::with_capacity(text.len());
    let mut open: Option<usize> = None; // quote depth of a paragraph still being joined
    for line in body.split('\n') {
        let depth = line.chars().take_while(|&c| c == '>').count();
        let mut content = &line[depth..];
        if content.starts_with(' ') {
            content = &content[1..]; // space-stuffing, or the space after quote marks
        }
        let is_sig = content == "-- ";
        let flowed = !is_sig && content.ends_with(' ');
        match open {
            Some(d) if d == depth && !is_sig => {}
            Some(_) => {
                out.push('\n');
                start_line(&mut out, depth);
            }
            None => start_line(&mut out, depth),
        }
        if flowed {
            out.push_str(if delsp {
                &content[..content.len() - 1]
            } else {
                content
            });
            open = Some(depth);
        } else {
            out.push_str(content);
            out.push('\n');
            open = None;
        }
    }
    if open.is_some() {
        out.push('\n');
    }
    if !had_newline {
        out.pop();
    }
    out
}

fn start_line(out: &mut String, depth: usize) {
    if depth > 0 {
        out.extend(std::iter::repeat_n('>', depth));
        out.push(' ');
    }
}

/// The subject, its 8-bit bytes re-decoded when needed, without the list's tag.
fn display_subject(message: &Message<'_>, tag: Option<&str>) -> Option<String> {
    let subject = header_text(message, "Subject", message.subject()?)?;
    let subject = match tag {
        Some(tag) if !tag.is_empty() => subject.replacen(tag, "", 1),
        _ => subject,
    };
    let mut collapsed = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    // As the archive keeps it (`parse`): one header line's worth, the raw mail has the rest.
    clip_subject(&mut collapsed);
    Some(collapsed)
}

fn display_from(message: &Message<'_>) -> String {
    let Some(first) = message.from().and_then(|a| a.first()) else {
        return String::new();
    };
    let name = first
        .name()
        .and_then(|n| header_text(message, "From", n))
        .filter(|n| !n.trim().is_empty());
    match (name, first.address()) {
        (Some(n), Some(a)) => format!("{} <{a}>", n.trim()),
        (Some(n), None) => n.trim().to_owned(),
        (None, Some(a)) => a.to_owned(),
        (None, None) => String::new(),
    }
}

/// A header's decoded text; when the parser had to replace bytes (raw 8-bit, no RFC 2047), the
/// header's raw bytes decoded as windows-1252 give the characters instead.
fn header_text(message: &Message<'_>, name: &str, decoded: &str) -> Option<String> {
    if !decoded.contains('\u{FFFD}') {
        return Some(decoded.to_owned());
    }
    let header = message
        .root_part()
        .headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))?;
    let raw = message
        .raw_message()
        .get(header.offset_start() as usize..header.offset_end() as usize)?;
    if std::str::from_utf8(raw).is_ok() {
        return Some(decoded.to_owned());
    }
    let text = utf8_or_windows_1252(raw);
    let unfolded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.eq_ignore_ascii_case("From") {
        // Keep the display name part only: what precedes an address in angle brackets.
        let name_part = unfolded
            .split('<')
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches('"');
        return Some(name_part.to_owned()).filter(|n| !n.is_empty());
    }
    Some(unfolded)
}

fn attachments(message: &Message<'_>) -> Vec<Attachment> {
    message
        .attachments
        .iter()
        .filter_map(|&index| {
            let part = message.parts.get(index as usize)?;
            let contents: &[u8] = match &part.body {
                PartType::Binary(b) | PartType::InlineBinary(b) => b,
                PartType::Text(t) | PartType::Html(t) => t.as_bytes(),
                PartType::Message(_) | PartType::Multipart(_) => return None,
            };
            let content_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_owned())
                .to_ascii_lowercase();
            let content_id = part.content_id().map(|id| {
                id.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            });
            // A part with a Content-ID that is not explicitly an attachment is there to be
            // referenced from the HTML (multipart/related), not listed.
            let explicit_attachment = part
                .content_disposition()
                .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
            let inline = content_id.is_some() && !explicit_attachment;
            Some(Attachment {
                part: index,
                filename: part.attachment_name().map(str::to_owned),
                content_type,
                size: contents.len(),
                sha256: hex(&Sha256::digest(contents)),
                inline,
                content_id,
            })
        })
        .collect()
}

/// The first characters of the new text, on one line, for thread lists.
pub fn preview(body: &str) -> String {
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}…", flat[..cut].trim_end()),
        None => flat,
    }
}

/// The content type and disposition an attachment is served with: types a browser could run
/// or render as active content in our origin are served as a download of opaque bytes.
pub fn safe_delivery(content_type: &str) -> (&'static str, bool) {
    const SHOWN: [&str; 8] = [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "text/plain",
        "application/pdf",
        "audio/mpeg",
        "video/mp4",
    ];
    match SHOWN.iter().find(|t| content_type.eq_ignore_ascii_case(t)) {
        Some(t) if *t == "text/plain" => ("text/plain; charset=utf-8", false),
        Some(t) => (t, false),
        None => ("application/octet-stream", true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn render(raw: &[u8]) -> Rendered {
        let message = MessageParser::default().parse(raw).unwrap();
        render_message(&message, &RenderOptions::default(), &|_| None)
    }

    #[test]
    fn prefers_plain_text_and_trims_it() {
        let r = render(
            b"From: Jane <jane@example.org>\nSubject: Re: [SNUG] Asthma\nMessage-ID: <a@b>\n\
              Content-Type: multipart/alternative; boundary=x\n\n--x\nContent-Type: text/plain\n\n\
              Use a spacer.\n\nOn Mon, 4 Mar 2024, Tom wrote:\n> What do you use?\n--x\n\
              Content-Type: text/html\n\n<p>Use a <b>spacer</b>.</p>\n--x--\n",
        );
        assert_eq!(r.body, "Use a spacer.");
        assert!(r.elided.contains("> What do you use?"));
        assert_eq!(r.html, None, "text/plain is preferred");
        assert_eq!(r.from, "Jane <jane@example.org>");
        assert_eq!(r.message_id.as_deref(), Some("a@b"));
    }

    #[test]
    fn html_only_mail_gets_text_and_sanitised_html() {
        let r = render(
            b"From: a@b\nSubject: x\nContent-Type: text/html\n\n\
              <p>Hello <script>alert(1)</script><a href=\"javascript:alert(1)\">there</a></p>",
        );
        assert!(r.body.contains("Hello"), "{r:?}");
        let html = r.html.unwrap();
        assert!(
            html.contains("Hello") && !html.contains("script") && !html.contains("javascript"),
            "{html}"
        );
    }

    #[test]
    fn repairs_lying_charsets_and_8bit_headers() {
        let r = render(b"From: \xd8yvind <o@example.no>\nSubject: Caf\xe9 meeting\nContent-Type: text/plain; charset=utf-8\n\nCaf\xe9 au lait\n");
        assert_eq!(r.subject.as_deref(), Some("Café meeting"));
        assert_eq!(r.from, "Øyvind <o@example.no>");
        assert_eq!(r.body, "Café au lait");
        // Mostly UTF-8 with one stray Latin-1 byte: the UTF-8 stays UTF-8.
        let r = render(
            "Subject: x\n\ncafé and na\u{0}ve\n"
                .replace('\u{0}', "\u{1}")
                .as_bytes(),
        );
        assert_eq!(r.body, "café and na\u{1}ve");
        let mut mixed = b"Subject: x\n\nna\xefve caf".to_vec();
        mixed.extend_from_slice("é\n".as_bytes());
        assert_eq!(render(&mixed).body, "naïve café");
    }

    #[test]
    fn decodes_charsets_of_real_archives() {
        let cases: [(&[u8], &str); 4] = [
            (
                b"Content-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4\n",
                "Привет",
            ),
            (
                b"Content-Type: text/plain; charset=iso-8859-2\n\n\xb3\xf3d\xbc\n",
                "łódź",
            ),
            (
                b"Content-Type: text/plain; charset=windows-1252\n\n\x93quoted\x94\n",
                "\u{201c}quoted\u{201d}",
            ),
            (
                b"Content-Type: text/plain; charset=utf-7\n\nHi Mom -+Jjo--!\n",
                "Hi Mom -☺-!",
            ),
        ];
        for (raw, want) in cases {
            let mut mail = b"From: a@b\nSubject: s\n".to_vec();
            mail.extend_from_slice(raw);
            assert_eq!(render(&mail).body, want);
        }
    }

    #[test]
    fn unwraps_format_flowed() {
        let text = "This is a long \nparagraph that \nflows.\n> quoted \n> on.\n-- \nsig\n";
        assert_eq!(
            unflow(text, false),
            "This is a long paragraph that flows.\n> quoted on.\n-- \nsig\n"
        );
        assert_eq!(unflow("one-\ntwo\n", false), "one-\ntwo\n");
        assert_eq!(
            unflow("stuffed \n From here\n", false),
            "stuffed From here\n"
        );
        assert_eq!(unflow("del \nsp\n", true), "delsp\n");
    }

    #[test]
    fn lists_attachments_by_content_hash_and_shows_forwards() {
        let r = render(
            b"From: a@b\nSubject: fwd\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\
              Content-Type: text/plain\n\nSee below.\n--x\nContent-Type: application/pdf; name=\"audit.pdf\"\n\
              Content-Disposition: attachment; filename=\"audit.pdf\"\nContent-Transfer-Encoding: base64\n\n\
              JVBERi0xLjQK\n--x\nContent-Type: message/rfc822\n\nFrom: Tom <t@example.org>\nSubject: Original\n\n\
              The original text.\n--x--\n",
        );
        assert_eq!(r.attachments.len(), 1, "{:?}", r.attachments);
        let a = &r.attachments[0];
        assert_eq!(
            (a.filename.as_deref(), a.content_type.as_str(), a.size),
            (Some("audit.pdf"), "application/pdf", 9)
        );
        assert_eq!(a.sha256.len(), 64);
        assert_eq!(r.forwarded.len(), 1);
        assert_eq!(r.forwarded[0].subject.as_deref(), Some("Original"));
        assert_eq!(r.forwarded[0].body, "The original text.");
    }

    #[test]
    fn cid_images_point_at_the_served_part() {
        let message = MessageParser::default()
            .parse(
                b"From: a@b\nSubject: x\nContent-Type: multipart/related; boundary=r\n\n--r\n\
                  Content-Type: text/html\n\n<p>Chart: <img src=\"cid:chart@x\" alt=\"chart\"></p>\n--r\n\
                  Content-Type: image/png\nContent-ID: <chart@x>\nContent-Disposition: inline\n\
                  Content-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--r--\n",
            )
            .unwrap();
        let r = render_message(&message, &RenderOptions::default(), &|a| {
            Some(format!("/att/{}", a.sha256))
        });
        let sha = &r
            .attachments
            .iter()
            .find(|a| a.inline)
            .expect("the inline image")
            .sha256;
        assert!(r.html.unwrap().contains(&format!("src=\"/att/{sha}\"")));
    }

    #[test]
    fn our_light_formatted_posts_show_their_formatting() {
        use crate::mail::compose::{Identity, ListInfo, Post, compose_post};
        let composed = |message_id: &str| {
            compose_post(
                &Post {
                    message_id,
                    date: 1_700_000_000,
                    author_name: "Jane",
                    subject: "Spacers",
                    in_reply_to: None,
                    references: &[],
                    text: "Use a **spacer**.\n\n- one\n- two",
                    permalink: Some("https://forum.test/t/1"),
                    calendar: None,
                },
                &ListInfo {
                    name: "snug",
                    description: None,
                    address: "snug@lists.test",
                    archive_url: "https://forum.test/l/snug".into(),
                    unsubscribe_url: None,
                },
                &Identity {
                    site_name: "Forum",
                    from_address: "forum@lists.test",
                    base_url: "https://forum.test",
                },
            )
            .unwrap()
        };
        let ours = composed("lb.1@lists.test");
        let theirs = composed("x1@elsewhere.test");
        let plain = b"Message-ID: <p@lists.test>\nX-Listbridge-Markup: light-ish\n\n**x**\n";
        let cases: &[(&[u8], Option<&str>, Option<&str>)] = &[
            (
                &ours,
                Some("lists.test"),
                Some(
                    "<p>Use a <strong>spacer</strong>.</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n",
                ),
            ),
            (
                &ours,
                Some("LISTS.TEST"),
                Some(
                    "<p>Use a <strong>spacer</strong>.</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n",
                ),
            ),
            (&ours, None, None),
            (&ours, Some("other.test"), None),
            (&theirs, Some("lists.test"), None),
            (plain, Some("lists.test"), None),
        ];
        for (raw, own_domain, want) in cases {
            let message = MessageParser::default().parse(raw).unwrap();
            let options = RenderOptions {
                own_domain: own_domain.map(str::to_string),
                ..Default::default()
            };
            let rendered = render_message(&message, &options, &|_| None);
            assert_eq!(rendered.html.as_deref(), *want, "own domain {own_domain:?}");
            // The plain body is the same either way, the footer folded away.
            assert!(rendered.body.starts_with("Use a **spacer**.") || *raw == plain);
            assert!(
                !rendered.body.contains("Read and reply"),
                "{}",
                rendered.body
            );
        }
    }

    #[test]
    fn strips_the_list_tag_from_titles() {
        let message = MessageParser::default()
            .parse(b"Subject: Re: [SNUG]  Asthma\n\nx\n")
            .unwrap();
        let options = RenderOptions {
            subject_tag: Some("[SNUG]".into()),
            ..Default::default()
        };
        assert_eq!(
            render_message(&message, &options, &|_| None)
                .subject
                .as_deref(),
            Some("Re: Asthma")
        );
    }

    #[test]
    fn serves_active_content_as_downloads() {
        assert_eq!(safe_delivery("image/png"), ("image/png", false));
        assert_eq!(
            safe_delivery("text/html"),
            ("application/octet-stream", true)
        );
        assert_eq!(
            safe_delivery("image/svg+xml"),
            ("application/octet-stream", true)
        );
        assert_eq!(
            safe_delivery("TEXT/PLAIN"),
            ("text/plain; charset=utf-8", false)
        );
    }

    #[test]
    fn previews_are_short_and_flat() {
        assert_eq!(preview("a\n\nb  c"), "a b c");
        let long = "word ".repeat(200);
        assert!(preview(&long).chars().count() <= PREVIEW_CHARS + 1);
        assert!(preview(&long).ends_with('…'));
    }
}
