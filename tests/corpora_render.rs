//! The rendering layer against real outside mail (../shared/corpora): mail-parser's 107 MIME
//! messages, in LF and CRLF form, checked field by field against the JSON that mail-parser 0.11.6
//! wrote for them (our subject, sender, date, Message-ID and chosen text must say the same thing,
//! apart from the repairs we make on purpose, which are detected and counted apart), and every
//! message of the linux-man archive rendered without a panic and without a replacement character
//! that a correctly declared charset does not explain. These tests fail, never skip, when the
//! corpora are missing.
#![cfg(feature = "corpora")]

mod common;

use std::collections::BTreeMap;

use listbridge::archive::readers::read_paths;
use listbridge::mail::render::{
    RenderOptions, Rendered, chosen_text, render_message, transfer_decoded, unflow,
};
use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};
use serde_json::Value;

const SUITES: [&str; 4] = ["rfc", "legacy", "thirdparty", "malformed"];
const FFFD: char = '\u{FFFD}';

/// How one field of one message compared.
enum Outcome {
    Agree,
    /// A difference we make on purpose; the label says which.
    Intentional(&'static str),
    /// Not comparable at our layer; the label says why.
    Skipped(&'static str),
    Disagree(String),
}

/// The counts for one field over the whole corpus.
#[derive(Default)]
struct Tally {
    agree: usize,
    intentional: BTreeMap<&'static str, usize>,
    skipped: BTreeMap<&'static str, usize>,
    disagree: Vec<String>,
}

impl Tally {
    fn add(&mut self, file: &str, outcome: Outcome) {
        match outcome {
            Outcome::Agree => self.agree += 1,
            Outcome::Intentional(why) => *self.intentional.entry(why).or_default() += 1,
            Outcome::Skipped(why) => *self.skipped.entry(why).or_default() += 1,
            Outcome::Disagree(diff) => self.disagree.push(format!("{file}: {diff}")),
        }
    }

    /// Messages that said the same, on purpose different ones included, over those compared.
    fn ratio(&self) -> (usize, usize) {
        let same = self.agree + self.intentional.values().sum::<usize>();
        (same, same + self.disagree.len())
    }

    fn report(&self, field: &str) {
        let (same, compared) = self.ratio();
        println!(
            "{field:<10} {same}/{compared} agree ({} exactly, intentional {:?}, skipped {:?})",
            self.agree, self.intentional, self.skipped
        );
        for d in &self.disagree {
            println!("  DIFF {field} {d}");
        }
    }
}

/// The two forms the JSON was written for.
fn lf_and_crlf(bytes: &[u8]) -> [(&'static str, Vec<u8>); 2] {
    let (lf, crlf) = common::lf_and_crlf(bytes);
    [("json", lf), ("crlf.json", crlf)]
}

/// The value of the last header of that name, as mail-parser's getters take the last one.
fn json_header<'j>(json: &'j Value, name: &str) -> Option<&'j Value> {
    json["parts"][0]["headers"]
        .as_array()?
        .iter()
        .rev()
        .find(|h| h["name"] == name)
        .map(|h| &h["value"])
}

fn json_text<'j>(json: &'j Value, name: &str) -> Option<&'j str> {
    json_header(json, name)?["Text"].as_str()
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A short view of where two strings part.
fn short_diff(ours: &str, theirs: &str) -> String {
    let at = ours
        .char_indices()
        .zip(theirs.chars())
        .find(|((_, a), b)| a != b)
        .map_or(ours.len().min(theirs.len()), |((i, _), _)| i);
    let at = (0..=at)
        .rev()
        .find(|&i| theirs.is_char_boundary(i) && ours.is_char_boundary(i));
    let at = at.unwrap_or(0);
    let window = |s: &str| s[at..].chars().take(60).collect::<String>();
    format!(
        "from char {at} (lengths {} vs {}): ours {:?} / mail-parser {:?}",
        ours.len(),
        theirs.len(),
        window(ours),
        window(theirs)
    )
}

fn compare_subject(rendered: &Rendered, json: &Value) -> Outcome {
    let theirs = json_text(json, "subject").map(collapse);
    let ours = rendered.subject.clone().filter(|s| !s.is_empty());
    let theirs = theirs.filter(|s| !s.is_empty());
    match (&ours, &theirs) {
        (a, b) if a == b => Outcome::Agree,
        // Raw 8-bit headers: the parser replaces the bytes, we read them as windows-1252.
        (Some(a), Some(b)) if b.contains(FFFD) && !a.contains(FFFD) => {
            Outcome::Intentional("8-bit header re-decoded")
        }
        _ => Outcome::Disagree(format!("ours {ours:?} / mail-parser {theirs:?}")),
    }
}

fn compare_from(message: &Message<'_>, rendered: &Rendered, json: &Value) -> Outcome {
    let Some(value) = json_header(json, "from") else {
        return match rendered.from.is_empty() {
            true => Outcome::Agree,
            false => Outcome::Disagree(format!("ours {:?} / mail-parser none", rendered.from)),
        };
    };
    let address = &value["Address"];
    let first = address["List"]
        .get(0)
        .or_else(|| address["Group"].get(0).and_then(|g| g["addresses"].get(0)));
    let Some(first) = first else {
        return match rendered.from.is_empty() {
            true => Outcome::Agree,
            false => Outcome::Disagree(format!("ours {:?} / mail-parser none", rendered.from)),
        };
    };
    let email = first["address"].as_str();
    let name = first["name"]
        .as_str()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    // The address is the parser's own; the name is our display, which may repair it.
    let our_email = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address());
    if our_email != email {
        return Outcome::Disagree(format!(
            "address ours {our_email:?} / mail-parser {email:?}"
        ));
    }
    let expected = match (name, email) {
        (Some(n), Some(a)) => format!("{n} <{a}>"),
        (Some(n), None) => n.to_owned(),
        (None, Some(a)) => a.to_owned(),
        (None, None) => String::new(),
    };
    if rendered.from == expected {
        Outcome::Agree
    } else if expected.contains(FFFD) && !rendered.from.contains(FFFD) {
        Outcome::Intentional("8-bit header re-decoded")
    } else {
        Outcome::Disagree(format!(
            "ours {:?} / mail-parser {expected:?}",
            rendered.from
        ))
    }
}

fn compare_date(rendered: &Rendered, json: &Value) -> Outcome {
    // mail-parser's own DateTime, read back from the JSON, converts exactly as we do.
    let theirs = json_header(json, "date")
        .and_then(|v| v.get("DateTime"))
        .map(|d| serde_json::from_value::<mail_parser::DateTime>(d.clone()).expect("a DateTime"))
        .filter(|d| d.is_valid())
        .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0))
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    if rendered.date == theirs {
        Outcome::Agree
    } else {
        Outcome::Disagree(format!("ours {:?} / mail-parser {theirs:?}", rendered.date))
    }
}

fn compare_message_id(rendered: &Rendered, json: &Value) -> Outcome {
    let theirs = json_text(json, "message_id").filter(|s| !s.is_empty());
    if rendered.message_id.as_deref() == theirs {
        Outcome::Agree
    } else {
        Outcome::Disagree(format!(
            "ours {:?} / mail-parser {theirs:?}",
            rendered.message_id
        ))
    }
}

fn is_flowed(part: &MessagePart<'_>) -> Option<bool> {
    let ct = part.content_type()?;
    let flowed = ct
        .attribute("format")
        .is_some_and(|f| f.eq_ignore_ascii_case("flowed"));
    flowed.then(|| {
        ct.attribute("delsp")
            .is_some_and(|d| d.eq_ignore_ascii_case("yes"))
    })
}

/// The chosen text rebuilt from the JSON's parts the way `chosen_text` builds it from ours:
/// every text_body part in order, HTML ones turned into text, joined by a newline; format=flowed
/// parts unwrapped when `unwrap` is set.
fn expected_body(message: &Message<'_>, json: &Value, unwrap: bool) -> Option<String> {
    let mut text = String::new();
    for index in json["text_body"].as_array()? {
        let index = index.as_u64()? as usize;
        let body = &json["parts"][index]["body"];
        let piece = if let Some(t) = body["Text"].as_str() {
            match message.parts.get(index).and_then(is_flowed) {
                Some(delsp) if unwrap => unflow(t, delsp),
                _ => t.to_owned(),
            }
        } else if let Some(h) = body["Html"].as_str() {
            mail_parser::decoders::html::html_to_text(h)
        } else {
            continue;
        };
        if !text.is_empty() && !piece.is_empty() {
            text.push('\n');
        }
        text.push_str(&piece);
    }
    Some(text.replace("\r\n", "\n"))
}

fn compare_body(message: &Message<'_>, json: &Value) -> Outcome {
    let ours = chosen_text(message);
    let text_body = json["text_body"].as_array().cloned().unwrap_or_default();
    let Some(first) = text_body.first().and_then(Value::as_u64) else {
        // No text body at all: we fall back to html_body only when there is one.
        let html = json["html_body"].as_array().is_some_and(|a| !a.is_empty());
        return match (ours.text.trim().is_empty(), html) {
            (true, false) => Outcome::Agree,
            (false, true) => Outcome::Intentional("html_body turned into text"),
            _ => Outcome::Disagree(format!("no text_body, ours {:?}", short(&ours.text))),
        };
    };
    let first_body = &json["parts"][first as usize]["body"];
    if first_body.get("Html").is_some() {
        // text_body leads with HTML: the message is HTML-only, so only check both say something.
        let theirs = first_body["Html"].as_str().unwrap_or_default();
        return match (
            ours.html_only,
            ours.text.trim().is_empty(),
            theirs.trim().is_empty(),
        ) {
            (true, false, false) | (true, true, true) => {
                Outcome::Skipped("html-only: both non-empty (loose)")
            }
            _ => Outcome::Disagree(format!(
                "html-only: ours html_only={} {:?}",
                ours.html_only,
                short(&ours.text)
            )),
        };
    }
    if first_body.get("Text").is_none() {
        return Outcome::Skipped("text_body[0] is not text");
    }
    let (Some(theirs), Some(unwrapped)) = (
        expected_body(message, json, false),
        expected_body(message, json, true),
    ) else {
        return Outcome::Skipped("unreadable JSON");
    };
    if ours.text == theirs {
        return Outcome::Agree;
    }
    if ours.text == unwrapped {
        // RFC 3676: we join the soft-broken lines of format=flowed text, the parser keeps them.
        return Outcome::Intentional("format=flowed unwrapped");
    }
    let theirs = unwrapped;
    let ascii = |s: &str| s.chars().filter(char::is_ascii).collect::<String>();
    if theirs.contains(FFFD) && !ours.text.contains(FFFD) && ascii(&ours.text) == ascii(&theirs) {
        // A part declared UTF-8 (or undeclared) with 8-bit bytes: the parser replaces them, we
        // re-read them as windows-1252; everything else is the same.
        return Outcome::Intentional("lying charset repaired");
    }
    if theirs.strip_suffix('\r') == Some(ours.text.as_str()) {
        // A file ending in a lone CR (no LF after it): the JSON's mail-parser 0.11.6 kept that
        // CR in the body, the newer release we build with drops it.
        return Outcome::Intentional("final lone CR (mail-parser release)");
    }
    Outcome::Disagree(short_diff(&ours.text, &theirs))
}

fn short(s: &str) -> String {
    s.chars().take(60).collect()
}

#[test]
fn mail_parser_corpus_agrees_with_mail_parser_json() {
    let src = common::corpora_dir().join("mime/mail-parser/eml");
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut files = 0;
    for suite in SUITES {
        for eml in common::eml_files(&src.join(suite)) {
            files += 1;
            let stem = eml.file_stem().unwrap().to_string_lossy().into_owned();
            for (json_ext, bytes) in lf_and_crlf(&std::fs::read(&eml).unwrap()) {
                let name = format!("{suite}/{stem}.{json_ext}");
                let json: Value = serde_json::from_str(
                    &std::fs::read_to_string(eml.with_file_name(format!("{stem}.{json_ext}")))
                        .unwrap(),
                )
                .unwrap();
                let message = MessageParser::default()
                    .parse(&bytes[..])
                    .unwrap_or_else(|| panic!("{name}: mail-parser gives no message"));
                let rendered = render_message(&message, &RenderOptions::default(), &|_| None);
                let t = &mut tallies;
                t.entry("subject")
                    .or_default()
                    .add(&name, compare_subject(&rendered, &json));
                t.entry("from")
                    .or_default()
                    .add(&name, compare_from(&message, &rendered, &json));
                t.entry("date")
                    .or_default()
                    .add(&name, compare_date(&rendered, &json));
                t.entry("message-id")
                    .or_default()
                    .add(&name, compare_message_id(&rendered, &json));
                t.entry("body")
                    .or_default()
                    .add(&name, compare_body(&message, &json));
            }
        }
    }
    assert_eq!(files, 107, "the corpus README promises 107 messages");
    for (field, tally) in &tallies {
        tally.report(field);
    }
    for field in ["subject", "from", "message-id", "date"] {
        let (same, compared) = tallies[field].ratio();
        assert_eq!(same, compared, "{field} must agree everywhere");
    }
    let (same, compared) = tallies["body"].ratio();
    assert!(
        same * 100 >= compared * 95,
        "the chosen body agrees for only {same} of {compared}"
    );
}

/// Why a piece of text may hold U+FFFD without a fault of ours, or `None` when its bytes are
/// declared in a charset that decodes them cleanly (so a U+FFFD there would be our fault).
fn charset_excuse(charset: Option<&str>, bytes: &[u8]) -> Option<String> {
    let Some(label) = charset.map(str::trim).filter(|c| !c.is_empty()) else {
        return Some("undeclared charset".to_owned());
    };
    // RFC 2231 allows a language after the charset: `utf-8*en`.
    let label = label.split('*').next().unwrap_or(label);
    let Some(encoding) = encoding_rs::Encoding::for_label(label.as_bytes()) else {
        return Some(format!("unknown charset {}", label.to_ascii_lowercase()));
    };
    match encoding.decode_without_bom_handling_and_without_replacement(bytes) {
        None => Some(format!("invalid bytes for {}", encoding.name())),
        Some(text) if text.contains(FFFD) => Some("U+FFFD in the source".to_owned()),
        Some(_) => None,
    }
}

/// Why the body's text parts may hold U+FFFD, or the parts to blame when none explains it.
fn body_excuse(message: &Message<'_>) -> Result<String, String> {
    let mut excuses = Vec::new();
    let mut blamed = Vec::new();
    let mut parts: Vec<u32> = message
        .text_body
        .iter()
        .chain(&message.html_body)
        .copied()
        .collect();
    parts.sort_unstable();
    parts.dedup();
    for index in parts {
        let Some(part) = message.parts.get(index as usize) else {
            continue;
        };
        // Our text of a part only holds U+FFFD where the parser's does (a repair never adds
        // one), so the parts to look at are those.
        let (PartType::Text(decoded) | PartType::Html(decoded)) = &part.body else {
            continue;
        };
        if !decoded.contains(FFFD) {
            continue;
        }
        let charset = part.content_type().and_then(|ct| ct.attribute("charset"));
        let excuse = match transfer_decoded(message, part) {
            Some(bytes) => charset_excuse(charset, &bytes),
            None => Some("broken transfer encoding".to_owned()),
        };
        match excuse {
            Some(e) => excuses.push(e),
            None => blamed.push(format!("part {index} ({charset:?}) decodes cleanly")),
        }
    }
    match (blamed.is_empty(), excuses.is_empty()) {
        (true, false) => Ok(excuses.join(", ")),
        (true, true) => Err("no part holds U+FFFD yet the body does".to_owned()),
        (false, _) => Err(blamed.join("; ")),
    }
}

/// Why a header may hold U+FFFD: raw 8-bit bytes, or an RFC 2047 word that is not clean.
fn header_excuse(message: &Message<'_>, name: &str) -> Result<String, String> {
    static WORD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"=\?([^?\s]*)\?([bBqQ])\?([^?\s]*)\?=").unwrap()
    });
    let header = message
        .root_part()
        .headers
        .iter()
        .rev()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .ok_or("no such header")?;
    let raw = &message.raw_message()[header.offset_start() as usize..header.offset_end() as usize];
    let Ok(raw) = std::str::from_utf8(raw) else {
        return Ok("raw 8-bit header".to_owned());
    };
    if raw.contains(FFFD) {
        return Ok("U+FFFD in the source".to_owned());
    }
    // Each encoded word must hold whole characters (RFC 2047, 5), so each is checked alone; the
    // bytes of all of them together tell whether a sender split a character between two words.
    let mut excuses = Vec::new();
    let mut joined = Vec::new();
    let mut charsets = std::collections::BTreeSet::new();
    for word in WORD.captures_iter(raw) {
        let text = word[3].as_bytes();
        let bytes = if word[2].eq_ignore_ascii_case("b") {
            mail_parser::decoders::base64::base64_decode(text)
        } else {
            let spaced: Vec<u8> = text
                .iter()
                .map(|&b| if b == b'_' { b' ' } else { b })
                .collect();
            mail_parser::decoders::quoted_printable::quoted_printable_decode(&spaced)
        };
        let Some(bytes) = bytes else {
            excuses.push("broken encoded word".to_owned());
            continue;
        };
        excuses.extend(charset_excuse(Some(&word[1]), &bytes));
        joined.extend_from_slice(&bytes);
        charsets.insert(word[1].to_ascii_lowercase());
    }
    excuses.dedup();
    if excuses.is_empty() {
        return Err(format!("{name}: {raw:?} is clean"));
    }
    let mut why = excuses.join(", ");
    if let [charset] = Vec::from_iter(charsets).as_slice()
        && charset_excuse(Some(charset), &joined).is_none()
    {
        why.push_str(" (a character split between two encoded words)");
    }
    Ok(why)
}

#[test]
fn linux_man_renders_without_unexplained_replacement_characters() {
    let path = common::corpora_dir().join("archives/linux-man.mbox.gz");
    let options = RenderOptions::default();
    let (mut messages, mut unparsed) = (0usize, 0usize);
    let mut with_fffd: BTreeMap<&str, usize> = BTreeMap::new();
    let mut excuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut faults = Vec::new();
    // What the check covers: body parts holding non-ASCII text, by declared charset.
    let mut non_ascii_parts: BTreeMap<String, usize> = BTreeMap::new();
    for item in read_paths(&[path]).expect("the archive opens") {
        let raw = item.expect("every message reads");
        messages += 1;
        let Some(message) = MessageParser::default().parse(&raw.bytes[..]) else {
            unparsed += 1;
            continue;
        };
        let r = render_message(&message, &options, &|_| None);
        for &index in &message.text_body {
            if let Some(part) = message.parts.get(index as usize)
                && let PartType::Text(text) = &part.body
                && !text.is_ascii()
            {
                let charset = part.content_type().and_then(|ct| ct.attribute("charset"));
                let label = charset.map_or("(none)".to_owned(), str::to_ascii_lowercase);
                *non_ascii_parts.entry(label).or_default() += 1;
            }
        }
        let fields = [
            ("subject", r.subject.as_deref().unwrap_or_default()),
            ("from", r.from.as_str()),
            ("body", r.body.as_str()),
            ("elided", r.elided.as_str()),
        ];
        for (field, text) in fields {
            if !text.contains(FFFD) {
                continue;
            }
            *with_fffd.entry(field).or_default() += 1;
            let verdict = match field {
                "subject" => header_excuse(&message, "Subject"),
                "from" => header_excuse(&message, "From"),
                _ => body_excuse(&message),
            };
            match verdict {
                Ok(why) => *excuses.entry(format!("{field}: {why}")).or_default() += 1,
                Err(why) => faults.push(format!("message {}: {field}: {why}", raw.origin.index)),
            }
        }
    }
    println!("linux-man: {messages} messages, {unparsed} not parsed, U+FFFD in {with_fffd:?}");
    println!("  non-ASCII text parts by declared charset: {non_ascii_parts:?}");
    for (why, n) in &excuses {
        println!("  explained {n:>5}  {why}");
    }
    for f in &faults {
        println!("  FAULT {f}");
    }
    assert_eq!(
        messages, 17_885,
        "the corpus README promises 17,885 messages"
    );
    assert!(
        faults.is_empty(),
        "{} U+FFFD where the declared charset decodes cleanly",
        faults.len()
    );
}
