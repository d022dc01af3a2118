//! Subject normalisation for the weakest threading signal: grouping a reply that carries no
//! usable reference with an earlier message of the same subject. Reply prefixes in the common
//! mail-client languages and list tags such as `[SNUG]` are stripped, so `Re: [SNUG] AW: Topic`
//! and `[SNUG] topic` compare equal. Forward prefixes are kept on purpose: a forward starts a
//! new conversation.

/// Reply prefixes, lowercase, as mail clients write them: English, German (`AW`, `Antwort`),
/// Nordic (`SV`) and Finnish (`VS`), Dutch (`Antw`), French (`Réf`), Italian (`RIF`), Polish
/// (`Odp`), Turkish (`YNT`) and Chinese.
const REPLY_WORDS: &[&str] = &[
    "re", "aw", "antwort", "sv", "vs", "antw", "ref", "réf", "rif", "odp", "ynt", "回复", "回覆",
    "答复",
];

/// The longest `[...]` treated as a list tag; anything longer is part of the subject.
const MAX_TAG_CHARS: usize = 64;

/// The subject reduced for comparison: leading reply prefixes and list tags stripped (in any
/// mix and number), whitespace collapsed, lowercased.
/// The longest subject kept for pages and the index (the raw mail keeps all of it).
const MAX_SUBJECT: usize = 998;

/// A subject is one line of a header (998 characters by RFC 5322); a longer one would be
/// repeated in every title, list and feed that shows it, so it is cut there (at a character
/// boundary) and ends with "…". The raw mail keeps it whole.
pub fn clip_subject(s: &mut String) {
    if s.len() > MAX_SUBJECT {
        let mut cut = MAX_SUBJECT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
}

pub fn normalize_subject(s: &str) -> String {
    let mut rest = s;
    loop {
        let t = rest.trim_start();
        match strip_list_tag(t).or_else(|| strip_reply_prefix(t)) {
            Some(after) => rest = after,
            None => {
                rest = t;
                break;
            }
        }
    }
    rest.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether the subject, after any leading list tags, starts with a reply prefix.
pub fn is_reply_subject(s: &str) -> bool {
    let mut t = s.trim_start();
    while let Some(after) = strip_list_tag(t) {
        t = after.trim_start();
    }
    strip_reply_prefix(t).is_some()
}

/// `[TAG]` at the start of `t` (no whitespace inside, bounded length): the text after it.
pub(super) fn strip_list_tag(t: &str) -> Option<&str> {
    let inner = t.strip_prefix('[')?;
    let close = inner.find(']')?;
    let tag = &inner[..close];
    let plausible = !tag.is_empty()
        && tag.chars().count() <= MAX_TAG_CHARS
        && !tag.contains(|c: char| c.is_whitespace() || c == '[');
    plausible.then(|| &inner[close + 1..])
}

/// A reply prefix at the start of `t`: one of [`REPLY_WORDS`] (any case), an optional count
/// (`[2]`, `(2)`, `^2`), optional spaces (French typography puts one before the colon), then
/// `:` or a full-width `：`. `Réf.`/`Ref.` may end with the period alone.
pub(super) fn strip_reply_prefix(t: &str) -> Option<&str> {
    let word_len = t
        .char_indices()
        .find(|(_, c)| !c.is_alphabetic())
        .map_or(t.len(), |(i, _)| i);
    let word = t[..word_len].to_lowercase();
    if !REPLY_WORDS.contains(&word.as_str()) {
        return None;
    }
    let mut rest = skip_count(&t[word_len..]);
    let is_ref = word == "ref" || word == "réf";
    if is_ref && let Some(after) = rest.strip_prefix('.') {
        // `Réf. :` and `Réf.` are both written.
        return Some(strip_colon(after.trim_start()).unwrap_or(after));
    }
    rest = rest.trim_start_matches([' ', '\t']);
    strip_colon(rest)
}

fn strip_colon(s: &str) -> Option<&str> {
    s.strip_prefix(':').or_else(|| s.strip_prefix('：'))
}

/// `[n]`, `(n)` or `^n` after a prefix word, as some clients count replies.
fn skip_count(s: &str) -> &str {
    let digits_then = |body: &str, close: Option<char>| -> Option<usize> {
        let n = body
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(body.len());
        if n == 0 {
            return None;
        }
        match close {
            Some(c) => body[n..].starts_with(c).then(|| n + c.len_utf8()),
            None => Some(n),
        }
    };
    let counted = match s.chars().next() {
        Some('[') => digits_then(&s[1..], Some(']')),
        Some('(') => digits_then(&s[1..], Some(')')),
        Some('^') => digits_then(&s[1..], None),
        _ => None,
    };
    counted.map_or(s, |n| &s[1 + n..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_table() {
        let cases: &[(&str, &str)] = &[
            ("Hello world", "hello world"),
            ("Re: Hello world", "hello world"),
            ("RE: Hello world", "hello world"),
            ("re: hello   world ", "hello world"),
            ("Re:Hello", "hello"),
            ("Re: Re: RE: Hello", "hello"),
            ("AW: Hallo", "hallo"),
            ("Aw: Hallo", "hallo"),
            ("Antwort: Hallo", "hallo"),
            ("Sv: Hej", "hej"),
            ("SV: Hej", "hej"),
            ("VS: Moi", "moi"),
            ("Antw: Hoi", "hoi"),
            ("RE : Bonjour", "bonjour"),
            ("Réf. : Bonjour", "bonjour"),
            ("Réf. Bonjour", "bonjour"),
            ("RÉF.: Bonjour", "bonjour"),
            ("Re[2]: Hello", "hello"),
            ("RE^2: Hello", "hello"),
            ("Re(2): Hello", "hello"),
            ("Re[12]: Re(3): Hello", "hello"),
            ("[SNUG] Meeting", "meeting"),
            ("Re: [SNUG] Meeting", "meeting"),
            ("[SNUG] Re: Meeting", "meeting"),
            ("[SNUG] Re: [SNUG] AW: Meeting", "meeting"),
            (
                "[R-SIG-Finance] RE: quantmod   question",
                "quantmod question",
            ),
            ("Re: [R-SIG-Finance][SNUG] x", "x"),
            ("回复：会议", "会议"),
            ("Re: ÜBER Straße", "über straße"),
            // Forwards start a new conversation.
            ("Fwd: Hello", "fwd: hello"),
            ("Fw: Hello", "fw: hello"),
            ("Re: Fwd: Hello", "fwd: hello"),
            // Not prefixes.
            ("Regarding: the plan", "regarding: the plan"),
            ("Re something", "re something"),
            ("Reply: x", "reply: x"),
            ("Re[x]: Hello", "re[x]: hello"),
            ("Hello Re: world", "hello re: world"),
            ("Meeting [SNUG]", "meeting [snug]"),
            ("[not a tag] Meeting", "[not a tag] meeting"),
            ("", ""),
            ("Re:", ""),
            ("  \t ", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_subject(raw), *want, "input {raw:?}");
        }
    }

    #[test]
    fn is_reply_table() {
        let cases: &[(&str, bool)] = &[
            ("Re: Hello", true),
            ("RE: Hello", true),
            ("re: hello", true),
            ("AW: Hallo", true),
            ("Sv: Hej", true),
            ("Antw: Hoi", true),
            ("RE : Bonjour", true),
            ("Réf. Bonjour", true),
            ("Re[2]: Hello", true),
            ("RE^2: Hello", true),
            ("Re(2): Hello", true),
            ("[SNUG] Re: Meeting", true),
            ("[SNUG] [R-SIG-Finance] Re: Meeting", true),
            ("  Re: Hello", true),
            ("回复：会议", true),
            ("Hello", false),
            ("[SNUG] Meeting", false),
            ("Fwd: Re: Hello", false),
            ("Fw: Hello", false),
            ("Regarding: x", false),
            ("Hello Re: world", false),
            ("", false),
        ];
        for (raw, want) in cases {
            assert_eq!(is_reply_subject(raw), *want, "input {raw:?}");
        }
    }
}
