//! Stand-ins for erased and purged mail: the bytes the raw store keeps in place of a message
//! whose content must go, so that `reindex` and `export mbox` give the redacted message, never
//! the original. A stand-in keeps what holds the conversation together (its Message-ID, the
//! ids it answers, its date, Outlook's Thread-Index) and a short notice as its body; its author
//! and subject are whatever the caller decides to keep.

use std::time::UNIX_EPOCH;

use lettre::message::Mailboxes;
use lettre::message::header::{self, ContentTransferEncoding, Headers};

use super::compose::{ComposeError, bracket, custom, mailbox, since_epoch};

/// What a stand-in says about the message it replaces.
#[derive(Debug, Clone)]
pub struct StandIn<'a> {
    /// The message's id as the archive knows it (a derived `.dup-` id included), without
    /// brackets, so that the stand-in is derived under the same id.
    pub message_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    /// Unix seconds; none when the original had no usable date.
    pub date: Option<i64>,
    /// The author shown: a pseudonym, or the original author when only the content goes.
    pub author_name: &'a str,
    pub author_address: &'a str,
    /// The subject kept, if any.
    pub subject: Option<&'a str>,
    /// The original Thread-Index header, verbatim: replies found by it keep their parent.
    pub thread_index: Option<&'a str>,
    /// The body: why the content is gone.
    pub notice: &'a str,
    /// `X-Listbridge-Erased`: "account" or "message", for tools reading an export.
    pub kind: &'a str,
}

/// The stand-in's bytes (CRLF line ends, headers RFC 2047-encoded and folded by lettre).
pub fn stand_in(s: &StandIn<'_>) -> Result<Vec<u8>, ComposeError> {
    let mut headers = Headers::new();
    headers.set(header::MessageId::from(bracket(s.message_id)));
    if let Some(date) = s.date {
        headers.set(header::Date::new(UNIX_EPOCH + since_epoch(date)));
    }
    headers.set(header::From::from(Mailboxes::from(mailbox(
        Some(s.author_name),
        s.author_address,
    )?)));
    if let Some(subject) = s.subject.filter(|s| !s.trim().is_empty()) {
        headers.set(header::Subject::from(subject.to_owned()));
    }
    if let Some(parent) = s.in_reply_to {
        headers.set(header::InReplyTo::from(bracket(parent)));
    }
    if !s.references.is_empty() {
        let refs: Vec<String> = s.references.iter().map(|r| bracket(r)).collect();
        headers.set(header::References::from(refs.join(" ")));
    }
    // Base64 only: anything else in it is dropped rather than written into a header.
    if let Some(index) = s
        .thread_index
        .map(|i| i.split_whitespace().collect::<String>())
        .filter(|i| {
            !i.is_empty()
                && i.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        })
    {
        headers.insert_raw(custom("Thread-Index", &index));
    }
    headers.set(header::MIME_VERSION_1_0);
    headers.set(header::ContentType::TEXT_PLAIN);
    let body = format!(
        "{}\r\n",
        s.notice.trim().replace("\r\n", "\n").replace('\n', "\r\n")
    );
    headers.set(if body.is_ascii() {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    });
    headers.insert_raw(custom("X-Listbridge-Erased", s.kind));
    let mut out = headers.to_string().into_bytes();
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    Ok(out)
}

/// A message's Thread-Index header value, if it has one (read from its raw bytes).
pub fn thread_index_header(raw: &[u8]) -> Option<String> {
    let message = mail_parser::MessageParser::default().parse_headers(raw)?;
    message
        .header_raw("Thread-Index")
        .map(|v| v.split_whitespace().collect::<String>())
}

/// The envelope ("From " line, without "From ") of a stand-in: the original's date kept, its
/// sender replaced by the stand-in's author; none when the original had none.
pub fn stand_in_envelope(original: Option<&str>, author_address: &str) -> Option<String> {
    let fields: Vec<&str> = original?.split_whitespace().collect();
    if fields.len() < 6 {
        return None;
    }
    Some(format!(
        "{author_address} {}",
        fields[fields.len() - 5..].join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::parse::parse_message;
    use crate::mail::render::RenderOptions;

    fn sample<'a>(refs: &'a [String]) -> StandIn<'a> {
        StandIn {
            message_id: "abc.123@nhs.net",
            in_reply_to: Some("parent@nhs.net"),
            references: refs,
            date: Some(1_704_103_200),
            author_name: "Former member",
            author_address: "erased-0a1b2c3d@erased.invalid",
            subject: Some("Re: [SNUG] Spacers für Kinder"),
            thread_index: Some("AdQ8 zYl+AAAB"),
            notice: "This message was erased at its author's request.",
            kind: "account",
        }
    }

    #[test]
    fn a_stand_in_parses_back_to_the_same_thread_signals_and_nothing_else() {
        let refs = vec!["root@nhs.net".to_owned(), "parent@nhs.net".to_owned()];
        let bytes = stand_in(&sample(&refs)).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\r\n\r\nThis message was erased"), "{text}");
        assert!(text.contains("X-Listbridge-Erased: account"), "{text}");
        assert!(text.contains("Thread-Index: AdQ8zYl+AAAB"), "{text}");
        let parsed = parse_message(&bytes, None, &RenderOptions::default()).unwrap();
        assert_eq!(parsed.message_id.as_deref(), Some("abc.123@nhs.net"));
        assert_eq!(parsed.in_reply_to.as_deref(), Some("parent@nhs.net"));
        assert_eq!(parsed.references, refs);
        assert_eq!(parsed.date, Some(1_704_103_200));
        assert_eq!(parsed.from_name.as_deref(), Some("Former member"));
        assert_eq!(
            parsed.from_addr.as_deref(),
            Some("erased-0a1b2c3d@erased.invalid")
        );
        assert_eq!(
            parsed.subject.as_deref(),
            Some("Re: [SNUG] Spacers für Kinder")
        );
        assert_eq!(
            parsed.body_text.trim(),
            "This message was erased at its author's request."
        );
        assert!(parsed.attachments.is_empty());
    }

    #[test]
    fn without_a_subject_date_or_references_the_stand_in_still_parses() {
        let mut s = sample(&[]);
        s.subject = None;
        s.date = None;
        s.in_reply_to = None;
        s.thread_index = Some("not base64!\r\nInjected: yes");
        let bytes = stand_in(&s).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("Subject:"), "{text}");
        assert!(
            !text.contains("Injected"),
            "a bad Thread-Index is dropped: {text}"
        );
        let parsed = parse_message(&bytes, None, &RenderOptions::default()).unwrap();
        assert_eq!(parsed.subject, None);
        assert_eq!(parsed.in_reply_to, None);
        assert!(parsed.references.is_empty());
    }

    #[test]
    fn a_bad_author_address_is_refused() {
        let mut s = sample(&[]);
        s.author_address = "not an address";
        assert!(stand_in(&s).is_err());
    }

    #[test]
    fn envelopes_keep_their_date_and_lose_their_sender() {
        assert_eq!(
            stand_in_envelope(
                Some("jane@nhs.net Tue Jan  2 09:00:00 2024"),
                "erased-1@erased.invalid"
            )
            .as_deref(),
            Some("erased-1@erased.invalid Tue Jan 2 09:00:00 2024")
        );
        assert_eq!(stand_in_envelope(Some("jane@nhs.net"), "x@y.invalid"), None);
        assert_eq!(stand_in_envelope(None, "x@y.invalid"), None);
    }

    #[test]
    fn thread_index_is_read_from_the_headers() {
        let raw = b"Message-ID: <a@b>\r\nThread-Index: AdQ8zYl+\r\n AAAB\r\n\r\nbody\r\n";
        assert_eq!(thread_index_header(raw).as_deref(), Some("AdQ8zYl+AAAB"));
        assert_eq!(thread_index_header(b"Message-ID: <a@b>\r\n\r\nx"), None);
    }
}
