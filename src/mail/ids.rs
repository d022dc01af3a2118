//! Message-ID parsing for the Message-ID, References and In-Reply-To headers. Input is the raw,
//! possibly folded header value exactly as a mail carries it, garbage included; output is the
//! bare id (no angle brackets, no whitespace) that threading and deduplication compare. The
//! rules follow notmuch (lib/message-id.c, lib/add-message.cc): RFC 5322 comments are skipped,
//! unstructured text around the ids is ignored, and whitespace inside an id is dropped.

use std::collections::HashMap;
use std::fmt;

/// A message's id as threading compares it: bare, without angle brackets (what
/// `parse_message_id` gives). Its own type so that an id is never taken for an address, a
/// subject or another string, and the reverse: the address-hiding and threading rules both turn
/// on telling them apart.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// An id already in bare form (from the archive, or made by the bridge).
    pub fn new(id: impl Into<String>) -> MessageId {
        MessageId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::ops::Deref for MessageId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for MessageId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for MessageId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for MessageId {
    fn from(id: String) -> MessageId {
        MessageId(id)
    }
}

impl From<&str> for MessageId {
    fn from(id: &str) -> MessageId {
        MessageId(id.to_owned())
    }
}

impl PartialEq<str> for MessageId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for MessageId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<&str> for MessageId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// The id a Message-ID header gives: the first `<...>`, or a bare `local@domain` token when
/// the header has no brackets at all. `None` for an empty or garbage header.
pub fn parse_message_id(raw: &str) -> Option<String> {
    bracketed(raw, true)
        .into_iter()
        .next()
        .or_else(|| bracketed(raw, false).into_iter().next())
        .or_else(|| bare_id(raw))
}

/// Every `<...>` id of a References header in header order. Comments and any text between or
/// after the ids are ignored. When an id appears twice only its last occurrence is kept, as
/// notmuch and JWZ do: the later position is the one nearer the message.
pub fn parse_references(raw: &str) -> Vec<String> {
    let ids = bracketed(raw, true);
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        last.insert(id.as_str(), i);
    }
    ids.iter()
        .enumerate()
        .filter(|(i, id)| last.get(id.as_str()) == Some(i))
        .map(|(_, id)| id.clone())
        .collect()
}

/// The id an In-Reply-To header names, surviving the garbage real mailers put around it:
/// `Your message of "Tue, 17 Nov 2009 ..." <id@host>` (MH), `<id@host> (Someone's message of
/// "...")` (Gnus), free text after the id. When several ids are given the last one wins, as in
/// notmuch's own fallback parse (an MH-style header may name the author's `<address>` before
/// the id). Only text outside comments and quoted strings is searched first; an id found only
/// inside them is still better than none.
pub fn parse_in_reply_to(raw: &str) -> Option<String> {
    bracketed(raw, true)
        .pop()
        .or_else(|| bracketed(raw, false).pop())
        .or_else(|| bare_id(raw))
}

/// The In-Reply-To id only when the header is clean: exactly one `<id>` without whitespace
/// inside, with nothing but whitespace and comments around it. notmuch takes a clean
/// In-Reply-To as the parent, else the last References entry, else the leniently parsed
/// In-Reply-To ([`parse_in_reply_to`]); a caller that wants exactly that order can pass the
/// lenient id to the threader only when this is `Some` or References is empty.
pub fn parse_in_reply_to_strict(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let open = skip_space_and_comments(bytes, 0);
    if bytes.get(open) != Some(&b'<') {
        return None;
    }
    let len = bytes[open + 1..].iter().position(|&b| b == b'>')?;
    let id = &raw[open + 1..open + 1 + len];
    let after = skip_space_and_comments(bytes, open + len + 2);
    let clean = after == bytes.len()
        && !id.is_empty()
        && !id.contains(|c: char| c.is_whitespace() || "<>()\"".contains(c));
    clean.then(|| id.to_owned())
}

/// Whether an id can name one message: `local@domain` with both sides non-empty. Ids without
/// an `@` (`<12345.ABC>`, `<no.id>`, a single character) are what broken mailers write for
/// every message alike, so threading by them would join strangers; such a message keeps its
/// own derived id instead, and a reference to one links nothing.
pub fn identifies_one_message(id: &str) -> bool {
    match id.rsplit_once('@') {
        Some((local, domain)) => !local.trim_matches('@').is_empty() && !domain.is_empty(),
        None => false,
    }
}

/// The parent an In-Reply-To header names, checked against the message's References (already
/// parsed). A clean header (one `<id>`, comments aside) is believed. Otherwise the header is in
/// a phrase form (`Name <user@host> "Re: subject" (date)`, `Your message of "date" <id>`),
/// where a bracketed token is often the replied-to author's address: then References decides
/// (the id is kept only when References names it too), and without References the last
/// bracketed token that does not stand where an address stands is taken.
pub fn reply_parent(raw: &str, references: &[String]) -> Option<String> {
    if let Some(id) = parse_in_reply_to_strict(raw) {
        return Some(id);
    }
    let candidates = bracket_candidates(raw);
    if !references.is_empty() {
        return candidates
            .into_iter()
            .rev()
            .map(|(id, _)| id)
            .find(|id| references.contains(id));
    }
    if candidates.is_empty() {
        return parse_in_reply_to(raw);
    }
    candidates
        .into_iter()
        .rev()
        .find(|(_, address)| !address)
        .map(|(id, _)| id)
}

/// Every `<...>` outside comments and quoted strings, each with whether it stands where an
/// address stands: right after a name (a word ending in a letter that is not one of the
/// connecting words of the "Your message of ..." forms), or right before a quoted string (the
/// subject Z-Mail and early Eudora write after the address).
fn bracket_candidates(raw: &str) -> Vec<(String, bool)> {
    const CONNECTING: [&str; 10] = [
        "of", "message", "mail", "to", "re", "dated", "id", "is", "on", "in",
    ];
    let bytes = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => i = comment_end(bytes, i).unwrap_or(i + 1),
            b'"' => i = quoted_end(bytes, i).unwrap_or(i + 1),
            b'<' => {
                let start = skip_space_and_comments(bytes, i + 1);
                let Some(len) = bytes[start..].iter().position(|&b| b == b'>') else {
                    break;
                };
                let end = start + len + 1;
                if let Some(id) = clean_id(&raw[start..start + len]) {
                    let before = raw[..i].trim_end();
                    let word = before
                        .rsplit(|c: char| c.is_whitespace())
                        .next()
                        .unwrap_or("");
                    let after_name = word.chars().last().is_some_and(char::is_alphabetic)
                        && !CONNECTING.contains(&word.to_ascii_lowercase().as_str());
                    let before_quote =
                        bytes.get(skip_space_and_comments(bytes, end)) == Some(&b'"');
                    out.push((id, after_name || before_quote));
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

/// The contents of every `<...>` in `raw`, cleaned, empty ones dropped. With `structured`,
/// comments `( ... )` and quoted strings `"..."` are skipped whole, so brackets inside them do
/// not count; an unclosed comment or quote is taken as an ordinary character instead of
/// swallowing the rest of the header.
fn bracketed(raw: &str, structured: bool) -> Vec<String> {
    let bytes = raw.as_bytes();
    let mut ids = Vec::new();
    let mut i = 0;
    // Only ASCII delimiters are matched, so every slice boundary below is a char boundary.
    while i < bytes.len() {
        match bytes[i] {
            b'(' if structured => i = comment_end(bytes, i).unwrap_or(i + 1),
            b'"' if structured => i = quoted_end(bytes, i).unwrap_or(i + 1),
            b'<' => {
                let mut start = i + 1;
                if structured {
                    start = skip_space_and_comments(bytes, start);
                }
                match bytes[start..].iter().position(|&b| b == b'>') {
                    Some(len) => {
                        ids.extend(clean_id(&raw[start..start + len]));
                        i = start + len + 1;
                    }
                    None => {
                        // A header cut short: keep the last id only if it still looks whole.
                        let rest = raw[start..].trim();
                        if !rest.contains(char::is_whitespace) && looks_like_id(rest) {
                            ids.extend(clean_id(rest));
                        }
                        break;
                    }
                }
            }
            _ => i += 1,
        }
    }
    ids
}

/// Whitespace removed (folding may split an id); a stray `<` keeps only what follows it.
fn clean_id(inner: &str) -> Option<String> {
    let inner = inner.rsplit('<').next().unwrap_or(inner);
    let id: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    (!id.is_empty()).then_some(id)
}

/// Index just past the comment opening at `open`, nesting and `\` escapes honoured; `None`
/// when it never closes.
fn comment_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Index just past the quoted string opening at `open`; `None` when it never closes.
fn quoted_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'"' => return Some(i + 1),
            _ => {}
        }
        i += 1;
    }
    None
}

fn skip_space_and_comments(bytes: &[u8], mut i: usize) -> usize {
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i) {
            Some(b'(') => match comment_end(bytes, i) {
                Some(end) => i = end,
                None => return i,
            },
            _ => return i,
        }
    }
}

/// A header without brackets that is nothing but one `local@domain` token (comments aside).
fn bare_id(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut text = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'('
            && let Some(end) = comment_end(bytes, i)
        {
            text.push(' ');
            i = end;
            continue;
        }
        let next = raw[i..].chars().next().map_or(1, char::len_utf8);
        text.push_str(&raw[i..i + next]);
        i += next;
    }
    let mut tokens = text.split_whitespace();
    let token = tokens.next()?;
    (tokens.next().is_none() && looks_like_id(token)).then(|| token.to_owned())
}

/// `local@domain`: one `@` with text on both sides and none of the characters that mark an
/// address list, a phrase or a broken bracket.
fn looks_like_id(token: &str) -> bool {
    let Some((local, domain)) = token.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !token.contains(|c: char| c.is_whitespace() || "<>()[]\",;\\".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("<abc@example.org>", Some("abc@example.org")),
            ("  <abc@example.org>  ", Some("abc@example.org")),
            ("\r\n <abc@\r\n example.org>", Some("abc@example.org")),
            (
                "<abc@example.org> <def@example.org>",
                Some("abc@example.org"),
            ),
            (
                "(comment <no@no>) <abc@example.org>",
                Some("abc@example.org"),
            ),
            ("<(comment) abc@example.org>", Some("abc@example.org")),
            (
                "garbage <abc@example.org> trailing",
                Some("abc@example.org"),
            ),
            ("abc@example.org", Some("abc@example.org")),
            ("  abc@example.org (the id)", Some("abc@example.org")),
            ("<12345.ABC>", Some("12345.ABC")),
            ("<<abc@example.org>>", Some("abc@example.org")),
            ("<abc@example.org", Some("abc@example.org")),
            ("<abc@exa mple", None),
            ("", None),
            ("   ", None),
            ("<>", None),
            ("< >", None),
            ("garbage", None),
            ("two words@x", None),
            ("a@b@c", None),
            ("(<abc@example.org>)", Some("abc@example.org")),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_message_id(raw).as_deref(), *want, "input {raw:?}");
        }
    }

    #[test]
    fn references_table() {
        let cases: &[(&str, &[&str])] = &[
            ("<a@x> <b@x> <c@x>", &["a@x", "b@x", "c@x"]),
            ("<a@x>\r\n\t<b@x>", &["a@x", "b@x"]),
            ("<a@x><b@x>", &["a@x", "b@x"]),
            // notmuch T510: garbage at the end of References is ignored.
            ("<foo@five.com> (garbage)", &["foo@five.com"]),
            ("<a@x> (comment <c@x>) <b@x>", &["a@x", "b@x"]),
            ("<a@x> junk text, more junk <b@x> trailing", &["a@x", "b@x"]),
            ("<a@x> <> <b@x>", &["a@x", "b@x"]),
            // Duplicates keep the last occurrence.
            ("<a@x> <b@x> <a@x> <c@x>", &["b@x", "a@x", "c@x"]),
            ("<a@x> <a@x>", &["a@x"]),
            ("", &[]),
            ("no ids here", &[]),
            ("a@x b@x", &[]),
            ("<a@x> (unclosed <b@x>", &["a@x", "b@x"]),
            ("<a@x> <b@", &["a@x"]),
            ("<a@x> <b@y", &["a@x", "b@y"]),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_references(raw), *want, "input {raw:?}");
        }
    }

    #[test]
    fn in_reply_to_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("<a@x>", Some("a@x")),
            (" <a@x> ", Some("a@x")),
            // Gnus: a comment after the id, folded.
            (
                "<20091117190054.GU3165@dottiness.seas.harvard.edu> (Lars\r\n\tKellogg-Stedman's \
                 message of \"Tue, 17 Nov 2009 14:00:54 -0500\")",
                Some("20091117190054.GU3165@dottiness.seas.harvard.edu"),
            ),
            // MH: free text and a quoted date before the id.
            (
                "Your message of \"Tue, 17 Nov 2009 14:00:54 EST.\" <id@host.example>",
                Some("id@host.example"),
            ),
            (
                "Your message of December 31 1999 <bar@baz.com>",
                Some("bar@baz.com"),
            ),
            // MH with the author's address first: the id is the last one.
            (
                "Message from John Doe <john@doe.example> of \"Tue, 17 Nov 2009\" <id@host>",
                Some("id@host"),
            ),
            ("<id@host> from \"John <x@y>\" at Nov 17", Some("id@host")),
            ("<id@host> garbage after the id", Some("id@host")),
            ("<a@x> <b@x>", Some("b@x")),
            ("(<inside@comment>)", Some("inside@comment")),
            ("bare@token", Some("bare@token")),
            // notmuch T510: "mumble" names nothing.
            ("mumble", None),
            ("", None),
            ("<>", None),
            ("Your message of Tuesday", None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_in_reply_to(raw).as_deref(), *want, "input {raw:?}");
        }
    }

    #[test]
    fn strict_in_reply_to_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("<a@x>", Some("a@x")),
            ("  <a@x>\r\n ", Some("a@x")),
            (
                "(comment) <a@x> (Someone's message of \"Tue\")",
                Some("a@x"),
            ),
            ("Your message of December 31 1999 <bar@baz.com>", None),
            ("<a@x> garbage", None),
            ("<a@x> <b@x>", None),
            ("<a @x>", None),
            ("<a@x", None),
            ("<>", None),
            ("mumble", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(
                parse_in_reply_to_strict(raw).as_deref(),
                *want,
                "input {raw:?}"
            );
        }
    }

    #[test]
    fn non_ascii_garbage_does_not_split_chars() {
        assert_eq!(
            parse_in_reply_to("Votre message du «mardi» é <a@x>").as_deref(),
            Some("a@x")
        );
        assert_eq!(parse_message_id("été@x").as_deref(), Some("été@x"));
        assert_eq!(parse_message_id("(é) ü"), None);
    }

    #[test]
    fn ids_that_cannot_name_one_message() {
        for (id, want) in [
            ("abc@example.org", true),
            ("a@b", true),
            ("12345.ABC", false),
            ("no.id", false),
            ("x", false),
            ("@example.org", false),
            ("abc@", false),
        ] {
            assert_eq!(identifies_one_message(id), want, "{id:?}");
        }
    }

    #[test]
    fn reply_parent_tells_ids_from_addresses() {
        let refs = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            ("<a@x>", &[], Some("a@x")),
            (
                "<a@x> (Someone's message of \"Tue\")",
                &["r@x"],
                Some("a@x"),
            ),
            // Z-Mail: the replied-to author's address, the subject, the date.
            (
                "Jane Doe <jane@example.org> \"Re: spacers\" (Apr  4,  9:30)",
                &[],
                None,
            ),
            (
                "<jane@example.org> \"Re: spacers\" (Apr  4,  9:30)",
                &[],
                None,
            ),
            // ... and References decide when they are there.
            (
                "Jane Doe <jane@example.org> \"Re: spacers\" (Apr  4,  9:30)",
                &["p@x"],
                None,
            ),
            (
                "Your message of \"Tue, 17 Nov 2009\" <id@host>",
                &[],
                Some("id@host"),
            ),
            (
                "Your message of \"Tue, 17 Nov 2009\" <id@host>",
                &["id@host"],
                Some("id@host"),
            ),
            (
                "Your message of \"Tue, 17 Nov 2009\" <id@host>",
                &["other@host"],
                None,
            ),
            (
                "Your message of December 31 1999 <bar@baz.com>",
                &[],
                Some("bar@baz.com"),
            ),
            (
                "Message from John Doe <john@doe.example> of \"Tue\" <id@host>",
                &[],
                Some("id@host"),
            ),
            ("mumble", &[], None),
            ("bare@token", &[], Some("bare@token")),
        ];
        for (raw, r, want) in cases {
            assert_eq!(
                reply_parent(raw, &refs(r)).as_deref(),
                *want,
                "input {raw:?}"
            );
        }
    }
}
