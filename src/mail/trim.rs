//! Reply trimming: splits a plain-text post into what its author wrote (`text`) and everything
//! else (`elided`): quoted history and its "On DATE, X wrote:" attribution, forwarded or
//! Outlook-embedded mail, signatures, mobile footers, legal disclaimers and the list's own
//! footer. Nothing is thrown away; the web folds `elided` under the post. The approach follows
//! Discourse's email_reply_trimmer (whose test corpus checks it): every line is classified once
//! by small line-anchored patterns, then a few rules over that sequence of classes decide what
//! to keep. Work is linear in the body whatever it holds, and no input can make it panic.
//! It is long because the classes are many (attributions and footers in a dozen languages and
//! every major client's forms) and they belong together: one classifier, read in one place.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// Per-list trimming settings (from the config; the lead wires them).
#[derive(Debug, Clone, Default)]
pub struct TrimOptions {
    /// Extra footer starts of the legacy list, e.g. a Mailman footer's first line
    /// ("_______________________________________________" followed by a line naming the list) or a
    /// LISTSERV "To unsubscribe" line; each is a regex matched against a whole trimmed line.
    /// A pattern counts when it matches anywhere in that line (anchor it with `^...$` to demand
    /// the whole line). Only unquoted lines outside code blocks are tested; the first one that
    /// matches starts the footer, which runs to the end of the body.
    pub footer_patterns: Vec<Regex>,
}

/// A body split into the author's words and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trimmed {
    /// What the author wrote: the kept lines as they were (CRLF made LF), without leading blank
    /// lines or trailing whitespace. Never empty for a body with any non-blank character.
    pub text: String,
    /// The removed lines in their original order ("" when nothing was removed), with quote
    /// markers written as `>` and wrapped attribution lines joined into one.
    pub elided: String,
}

/// Lines longer than this are never attributions, headers or signatures: skipping the patterns
/// for them keeps pathological bodies (megabyte lines) cheap.
const MAX_PATTERN_LINE: usize = 1000;
/// An attribution wrapped over several lines is only looked for among lines this short.
const MAX_JOIN_LINE: usize = 300;
/// Line breaks a wrapped attribution may span (as Discourse: more is not a header any more).
const MAX_JOIN_NEWLINES: usize = 4;
/// A mobile footer ("Sent from my iPhone") is a short line; a long one is prose.
const MAX_SIGNATURE_CHARS: usize = 80;
/// A disclaimer ends the post and is at most this many non-blank lines.
const MAX_DISCLAIMER_LINES: usize = 30;
/// A separator line followed by more plain text than this is a section break, not a signature.
const LONG_TAIL_LINES: usize = 20;

/// What one (logical) line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Empty,
    /// A line made only of separator characters (`-- `, `____`, `====`, `ᐧ`, ...).
    Delimiter,
    /// A mobile-client footer.
    Signature,
    /// "On DATE, X wrote:" and its many forms.
    Attribution,
    /// "Begin forwarded message:", "-----Original Message-----" and friends.
    Forward,
    /// An embedded mail header: "From: ...", "Sent: ...".
    Header,
    Quote,
    Text,
    /// OpenPGP clear-signing armour.
    Armour,
}

impl Kind {
    fn is_marker(self) -> bool {
        matches!(self, Kind::Attribution | Kind::Forward)
    }
}

/// One logical line: usually one line of the body, several when an attribution was wrapped.
#[derive(Debug)]
struct Line<'a> {
    /// First and last line of the body it covers.
    first: usize,
    last: usize,
    /// Normalised text: quote markers as `>`, a wrapped attribution joined with spaces.
    norm: Cow<'a, str>,
    quoted: bool,
    /// Inside a ``` fenced block: always text.
    code: bool,
    kind: Kind,
}

/// Splits `body` into the author's text and the elided rest. See the module comment.
pub fn trim(body: &str, options: &TrimOptions) -> Trimmed {
    let body = normalize_newlines(body);
    let raw: Vec<&str> = body.split('\n').collect();
    let lines = prepare(&raw);
    let kept = select(&lines, options);

    let has_text = kept.iter().any(|&i| lines[i].kind == Kind::Text);
    if !has_text || kept.len() == lines.len() {
        // Only quotes, markers or a signature: a post is never empty, so it stays whole.
        return Trimmed {
            text: tidy(&body),
            elided: String::new(),
        };
    }

    let mut text = String::with_capacity(body.len());
    for &i in &kept {
        for raw_line in &raw[lines[i].first..=lines[i].last] {
            text.push_str(raw_line);
            text.push('\n');
        }
    }
    let mut in_text = vec![false; lines.len()];
    for &i in &kept {
        in_text[i] = true;
    }
    let mut elided = String::with_capacity(body.len());
    for (line, _) in lines.iter().zip(&in_text).filter(|(_, kept)| !**kept) {
        elided.push_str(&line.norm);
        elided.push('\n');
    }
    Trimmed {
        text: tidy(&text),
        elided: tidy(&elided),
    }
}

/// An embedded/forwarded email inside a body: (text before it, the embedded email) — see the
/// corpus `embedded/` and `before/` files. Found at the first block of at least three mail
/// headers (Outlook, Gmail forwards) followed by a body, else after a forward marker ("Begin
/// forwarded message:") followed by text or quotes, whose quoting is then undone by one level.
/// A plain quoted reply ("On DATE, X wrote:" and `>` lines) is not an embedded email.
pub fn extract_embedded(body: &str) -> Option<(String, String)> {
    let body = normalize_newlines(body);
    let raw: Vec<&str> = body.split('\n').collect();
    let lines = prepare(&raw);
    let kinds: Vec<Kind> = lines.iter().map(|l| l.kind).collect();

    if let Some(start) = header_block_start(&kinds) {
        let embedded = raw[lines[start].first..].join("\n");
        return Some((before_embedded(&raw, &lines, start), tidy(&embedded)));
    }
    let marker = forward_marker(&kinds)?;
    let mut embedded = String::new();
    for line in &lines[marker + 1..] {
        embedded.push_str(unquote_once(&line.norm));
        embedded.push('\n');
    }
    Some((before_embedded(&raw, &lines, marker), tidy(&embedded)))
}

/// CRLF (and a lone CR, as old Macs wrote) become LF.
fn normalize_newlines(body: &str) -> Cow<'_, str> {
    if body.contains('\r') {
        Cow::Owned(body.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(body)
    }
}

/// Leading blank lines and trailing whitespace removed; the first line keeps its indentation
/// (it may be code).
fn tidy(s: &str) -> String {
    let s = s.trim_end();
    let mut start = 0;
    for line in s.split_inclusive('\n') {
        if !line.trim().is_empty() {
            break;
        }
        start += line.len();
    }
    s[start..].to_string()
}

// ---------------------------------------------------------------------------------------------
// Classification

/// Classifies every line, joining attributions that a mail client wrapped over several lines.
fn prepare<'a>(raw: &[&'a str]) -> Vec<Line<'a>> {
    let code = fenced(raw);
    let mut lines = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let line = raw[i];
        if code[i] {
            lines.push(Line {
                first: i,
                last: i,
                norm: Cow::Borrowed(line),
                quoted: false,
                code: true,
                kind: Kind::Text,
            });
            i += 1;
            continue;
        }
        let prefix = quote_prefix(line);
        let (marks, content) = match &prefix {
            Some((end, marks)) => (marks.as_str(), &line[*end..]),
            None => ("", line),
        };
        // Almost every line is none of the forms below; one search tells so.
        let ordinary = content.len() <= MAX_PATTERN_LINE && !ANY_FORM.is_match(content);
        if !ordinary && let Some((last, joined)) = join_attribution(raw, &code, i, content) {
            lines.push(Line {
                first: i,
                last,
                norm: Cow::Owned(format!("{marks}{joined}")),
                quoted: prefix.is_some(),
                code: false,
                kind: Kind::Attribution,
            });
            i = last + 1;
            continue;
        }
        lines.push(Line {
            first: i,
            last: i,
            norm: match &prefix {
                Some(_) => Cow::Owned([marks, content].concat()),
                None => Cow::Borrowed(line),
            },
            quoted: prefix.is_some(),
            code: false,
            kind: classify(line, content, prefix.is_some(), ordinary),
        });
        i += 1;
    }
    mark_short_attributions(&mut lines);
    mark_armour(&mut lines);
    lines
}

/// Lines inside ``` fences (fences included): code, where `--` or `#` mean nothing special.
fn fenced(raw: &[&str]) -> Vec<bool> {
    let mut code = vec![false; raw.len()];
    let mut i = 0;
    while i < raw.len() {
        let open = raw[i].trim_end();
        if let Some(lang) = open.strip_prefix("```")
            && lang.chars().all(|c| c.is_alphanumeric() || c == '_')
        {
            match (i + 1..raw.len()).find(|&j| raw[j].trim_end() == "```") {
                Some(close) => {
                    code[i..=close].iter_mut().for_each(|c| *c = true);
                    i = close + 1;
                    continue;
                }
                // No closing fence after this one, so none after any later opening either.
                None => break,
            }
        }
        i += 1;
    }
    code
}

/// The quote markers at the start of a line: where they end and how they read with every
/// marker written as `>`. Besides `>`, Supercite's `Name>` and the `|` some clients use count;
/// a line ending in `|` is a table row, not a quote.
fn quote_prefix(line: &str) -> Option<(usize, String)> {
    let trimmed = line.trim();
    let table_row = trimmed.len() > 1 && trimmed.ends_with('|');
    let mut pos = 0;
    let mut marks = String::new();
    loop {
        let rest = &line[pos..];
        let blanks = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        let after = &rest[blanks..];
        // A run of `>` is taken whole: deep nesting costs one copy, not one step per level.
        let run = after.len() - after.trim_start_matches('>').len();
        if run > 0 {
            marks.push_str(&rest[..blanks + run]);
            pos += blanks + run;
            continue;
        }
        let len = if after.starts_with('|') && !table_row {
            1
        } else {
            named_marker(after)
        };
        if len == 0 {
            break;
        }
        marks.push_str(&rest[..blanks]);
        marks.push('>');
        pos += blanks + len;
    }
    (pos > 0).then_some((pos, marks))
}

/// Length of a Supercite marker (`Richard>`, `C>`) at the start of `s`, or 0.
fn named_marker(s: &str) -> usize {
    let mut letters = 0;
    let mut len = 0;
    for c in s.chars() {
        if !c.is_alphabetic() || letters == 10 {
            break;
        }
        letters += 1;
        len += c.len_utf8();
    }
    if letters == 0 || !s[len..].starts_with('>') {
        return 0;
    }
    match s[len + 1..].chars().next() {
        None | Some(' ' | '\t' | '>' | '|') => len + 1,
        Some(_) => 0,
    }
}

/// The class of one unjoined line; `content` is the line after its quote markers. `ordinary`:
/// [`ANY_FORM`] found nothing in `content`, so only blank and separator lines remain possible.
fn classify(line: &str, content: &str, quoted: bool, ordinary: bool) -> Kind {
    if content.trim().is_empty() {
        return if quoted { Kind::Quote } else { Kind::Empty };
    }
    let short = content.len() <= MAX_PATTERN_LINE;
    if !quoted && is_delimiter(line) {
        return Kind::Delimiter;
    }
    if ordinary {
        return if quoted { Kind::Quote } else { Kind::Text };
    }
    if !quoted {
        if short && is_signature(content) {
            return Kind::Signature;
        }
        if is_header(content) {
            return Kind::Header;
        }
    }
    // Attributions count inside quotes too: they mark where older history starts.
    if short && let Some(kind) = marker_kind(content) {
        return kind;
    }
    if quoted { Kind::Quote } else { Kind::Text }
}

fn is_delimiter(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && t.chars().all(|c| "-_,=+~#*ᐧ—–".contains(c))
}

/// A `=====` line right under a line of text underlines a heading.
fn is_underline(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3 && t.chars().all(|c| c == '=')
}

/// One regex matching where any of `patterns` matches (each keeps its own flags): one search
/// per line instead of one per pattern, which was most of the cost on ordinary lines.
fn any_of(patterns: &[&str]) -> Regex {
    let alternation: Vec<String> = patterns.iter().map(|p| format!("(?:{p})")).collect();
    Regex::new(&alternation.join("|")).expect("valid regex")
}

static MARKDOWN_LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[([^\]\n]+)\]\([^)\n]+\)").expect("valid regex"));
static URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<[^>\n]*>|https?://\S+").expect("valid regex"));
static SIGNATURES: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        // English
        r"(?i)^\s*\w+ from mobile",
        r"(?i)^\s*From my .{1,20}$",
        r"(?i)^\s*Get Outlook for ",
        // French, German, Italian, Norwegian/Danish, Portuguese, Spanish
        r"(?i)^\s*Envoyé (?:depuis|de) (?:mon|Yahoo Mail)",
        r"(?i)^\s*Von meinem .+ gesendet",
        r"(?i)^\s*Diese Nachricht wurde von .+ gesendet",
        r"(?i)^\s*Inviato da ",
        r"(?i)^\s*Sendt fra min ",
        r"(?i)^\s*Enviado (?:do|desde) (?:meu|mi) ",
        // Dutch, Swedish, Polish, Russian
        r"(?i)^\s*(?:Verzonden (?:met|vanaf mijn)|Verstuurd vanaf mijn) ",
        r"(?i)^\s*(?:Skickat )?från min ",
        r"(?i)^\s*Wysłane z ",
        r"(?i)^\s*Отправлено с ",
        // Japanese, Chinese
        r"^\s*\S+から送信",
        r"^\s*(?:从|從)我的.{1,20}(?:发送|傳送)",
    ])
});

/// "Sent from my ...", "Sent with ...", and what follows (an article dropped).
static SENT_FROM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*[(<]*Sent (?:from|via|with|by|using) (?:(?:my|a|an|the|our) )?(\S.*)")
        .expect("valid regex")
});
/// Words that make "Sent from my ..." a device or app sign-off.
static DEVICE_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:mobile|phone|cell|cellphone|cellular|smartphone|tablet|device|handheld|iphone|ipad|ipod|android|blackberry|galaxy|samsung|nokia|pixel|mail|e-?mail|webmail|app|watch|pda|kindle|outlook|gmail)\W*$",
    )
    .expect("valid regex")
});

/// "Sent from my ..." names a device or an app: a product name right after it (a capital or a
/// digit: iPhone, TI-85, Windows Mail, Airmail) or a device word among its first words
/// ("my mobile device", "a phone", "mail for windows 10"); "Sent from my desk, I can confirm"
/// and "Sent from a magnificent torch of pixels" are sentences.
fn is_device_sign_off(plain: &str) -> bool {
    let Some(rest) = SENT_FROM.captures(plain).and_then(|c| c.get(1)) else {
        return false;
    };
    let mut words = rest.as_str().split_whitespace();
    let first = words.next().unwrap_or_default();
    first
        .chars()
        .any(|c| c.is_uppercase() || c.is_ascii_digit())
        || std::iter::once(first)
            .chain(words.take(2))
            .any(|w| DEVICE_WORDS.is_match(w))
}

/// A mobile-client footer: short, and in one of the known forms.
fn is_signature(content: &str) -> bool {
    // The cheap tests first: almost no line has a link or is a footer.
    let plain = match content.contains('[') {
        true => MARKDOWN_LINK.replace_all(content, "$1"),
        false => Cow::Borrowed(content),
    };
    (SIGNATURES.is_match(&plain) || is_device_sign_off(&plain))
        && URL.replace_all(&plain, "").trim().chars().count() <= MAX_SIGNATURE_CHARS
}

/// A dash sign-off closing a post: `-Bob`, `– Jane Doe` (a name of up to three words). An em
/// dash (`—Ryan`) is left alone, as the reference trimmer's corpus keeps it.
static DASH_SIGN_OFF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:-|--|–)\s?\p{Lu}[\p{L}.'’\-]*(?:\s\p{Lu}[\p{L}.'’\-]*){0,2}\s*$")
        .expect("valid regex")
});

static DATE_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^[\s*]*(?:Sent|Date|Datum|Sendt|Gesendet|Enviada em|Enviado|Envoyé|Fecha|Data|Skickat|Le|Verzonden|Wysłano|Отправлено|Дата|送信日時|发送时间|日期)[\s*]*[:：].*\d",
    )
    .expect("valid regex")
});
static TEXT_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^[\s*]*(?:From|To|Cc|Bcc|Reply-To|Subject|De|Expéditeur|À|A|Destinataire|Répondre à|Objet|Von|An|Betreff|Kopie|Para|Assunto|Asunto|Da|Risposta|Oggetto|Van|Aan|Onderwerp|Beantwoorden - Aan|Från|Till|Ämne|Kopia|Fra|Til|Emne|Kopi|Od|Do|Temat|DW|От|Кому|Тема|Копия|差出人|宛先|件名|发件人|收件人|主题|抄送)[\s*]*[:：].*\w",
    )
    .expect("valid regex")
});

/// An embedded mail header line ("From: ...", "Gesendet: ...") in one of the common languages.
fn is_header(content: &str) -> bool {
    let head = prefix_of(content, 300);
    DATE_HEADER.is_match(head) || TEXT_HEADER.is_match(head)
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn prefix_of(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// "On DATE, X wrote:" in its language forms: a leading word, the date and author (`mid`, which
/// must hold a digit and no second "wrote"), then the verb at the end of the line.
static LEAD_ATTRIBUTIONS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    const TAIL: &str = r"[\s.:：>\-]*$";
    let lead = r"(?i)^[\s<>*\-]*";
    [
        // English (Gmail, Apple Mail, Thunderbird, Zoho), Usenet
        format!(r"{lead}(?:On|At)\s(?P<mid>.+?)(?-u:\b)(?:wrote|writes){TAIL}"),
        format!(r"{lead}In message\s(?P<mid>.+?)(?-u:\b)writes{TAIL}"),
        // French, German, Dutch, Italian, Polish, Portuguese, Spanish
        format!(r"{lead}Le\s(?P<mid>.+?)(?-u:\b)(?:a\s+écrit|nous\s+a\s+dit){TAIL}"),
        format!(
            r"{lead}Am\s(?P<mid>.+?)(?-u:\b)(?:(?:schrieben\s+Sie|geschrieben){TAIL}|schrieb\s.*[:：]\s*$)"
        ),
        format!(
            r"{lead}Op\s(?P<mid>.+?)(?-u:\b)(?:het\s+volgende\s+geschreven{TAIL}|schreef\s.*[:：]\s*$)"
        ),
        format!(r"{lead}Il\s(?P<mid>.+?)(?-u:\b)ha\s+scritto{TAIL}"),
        format!(r"{lead}(?:Dnia|Dňa)\s(?P<mid>.+?)(?-u:\b)napisał(?:\(a\))?{TAIL}"),
        format!(r"{lead}Em\s(?P<mid>.+?)(?-u:\b)escreveu{TAIL}"),
        format!(r"{lead}El\s(?P<mid>.+?)(?-u:\b)escribió{TAIL}"),
        // Swedish, Danish, Norwegian: "Den 5 juni 2017 kl. 12:22 skrev X:"
        format!(r"{lead}(?P<mid>.+?)(?-u:\b)skrev\s.*[:：]\s*$"),
        // Russian, Ukrainian, Polish (Gmail): "DATE пользователь X написал:"
        format!(
            r"{lead}(?P<mid>.*(?:19|20)\d\d.*?)\s(?:написала?|написал\(а\)|napisał(?:\(a\))?|пише|написав)\s*[:：]\s*$"
        ),
        // Chinese, Japanese
        format!(r"{lead}(?P<mid>.+?)写道{TAIL}"),
        format!(r"{lead}(?P<mid>.+?)(?:のメール|のメッセージ|は書きました|が書きました)[:：]\s*$"),
    ]
    .iter()
    .map(|p| Regex::new(p).expect("valid regex"))
    .collect()
});
/// Attribution forms without a leading word.
static OTHER_ATTRIBUTIONS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // "X <x@y> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:"
        r"(?i)^.+(?-u:\b)(?:wrote|schrieb)\s+(?:on|am)(?-u:\b).*\d.*[:：]\s*$",
        // "codinghorror via Discourse Meta <info@discourse.org> schrieb:"
        r"(?i)^.+\svia\s.+\s(?:wrote|schrieb):?\s*$",
        // "Some One <info@discourse.org> wrote:"
        r"(?i)^.*(?-u:\b)[\w.+\-]+@[\w.\-]+\.\w{2,}(?-u:\b).*(?-u:\b)(?:wrote|writes|schrieb)\s*:?\s*$",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("valid regex"))
    .collect()
});
/// "2015-10-18 0:17 GMT+03:00 Matt Palmer <info@discourse.org>:", "2013/7/20 X <x@y>".
static DATE_SOMEONE_EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:19|20)\d\d.{1,80}<[^@<>]+@[^@<>.]+\.[^@<>]+>:?\s*$").expect("valid regex")
});
/// Single-line forms never wrapped: "2016-03-03 17:21 GMT+01:00 Some One",
/// "Posted by X on 01/21/2016".
static FIXED_ATTRIBUTIONS: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"^\s*(?:19|20)\d\d-\d\d-\d\d \d\d?:\d\d GMT[+\-]\d\d:\d\d [\w\s]+$",
        // `\s*$`: tested on trimmed lines, and by ANY_FORM on untrimmed ones.
        r"(?i)^\s*Posted by .+ on \d{2}/\d{2}/\d{4}\s*$",
    ])
});
static FORWARDS: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?i)^[\s>*]*(?:Begin forwarded message|Début du message transféré|Anfang der weitergeleiteten Nachricht|Inicio del mensaje reenviado|Inizio messaggio inoltrato|Início da mensagem reencaminhada|Begin doorgestuurd bericht)\s*:",
        r"(?i)^[\s>*]*-{2,}\s*(?:Forwarded|Original|Reply) Message\s*-{2,}",
        r"(?i)^[\s>*]*-{2,}\s*(?:Message transféré|Message d'origine|Ursprüngliche Nachricht|Weitergeleitete Nachricht|Mensaje original|Mensaje reenviado|Messaggio originale|Messaggio inoltrato|Mensagem original|Mensagem encaminhada|Oorspronkelijk bericht|Doorgestuurd bericht|Ursprungligt meddelande|Vidarebefordrat meddelande|Oprindelig meddelelse|Videresendt meddelelse|Opprinnelig melding|Videresendt melding|Wiadomość oryginalna|Przekazana wiadomość|Исходное сообщение|Пересылаемое сообщение|Пересланное сообщение|原始邮件|転送されたメッセージ|元のメッセージ)\s*-{2,}",
    ])
});
/// The verbs of the attribution forms, as plain literals (a fast first test).
static VERB: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)wrote|writes|écrit|nous a dit|schrieb|geschrieben|schreef|scritto|napisa|escreveu|escribió|skrev|написал|пише|написав|写道|のメール|のメッセージ|書きました",
    )
    .expect("valid regex")
});
/// A line ending in its verb (trailing punctuation is removed before, and allowed after the verb
/// only so that [`ANY_FORM`] can use this pattern on untrimmed lines).
static VERB_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:wrote|writes|écrit|nous a dit|schrieb|geschrieben|schrieben Sie|scritto|napisał|napisał\(a\)|escreveu|escribió|写道)[\s.:：>\-]*$",
    )
    .expect("valid regex")
});
/// A superset of the line forms: where none of it matches, a line is no signature, header,
/// marker or start of a wrapped attribution. The forms tested on trimmed text allow trailing
/// blanks before their `$`; a colon or `>` ending the line stands for the forms that must end
/// so (an attribution, "DATE X <x@y>").
static ANY_FORM: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        JOIN_HINT.as_str(),
        SIGNATURES.as_str(),
        SENT_FROM.as_str(),
        DATE_HEADER.as_str(),
        TEXT_HEADER.as_str(),
        FORWARDS.as_str(),
        FIXED_ATTRIBUTIONS.as_str(),
        VERB_END.as_str(),
        r"[:：>]\s*$",
        // A Markdown link: the footer forms are tested with links made plain.
        r"\[",
    ])
});
/// A second verb inside `mid` means the pattern spanned two attributions or a sentence.
static WROTE_WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)(?:wrote|writes|schrieb|schreef|escreveu|skrev)(?-u:\b)|escribió|napisał|写道")
        .expect("valid regex")
});
static TIME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d[:.]\d\d").expect("valid regex"));
static DATE_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\s>]*(?:19|20)\d\d[\-/.]\d").expect("valid regex"));
/// Lines that may begin a wrapped attribution; only these are tried for joining.
static JOIN_HINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^[\s<>*\-]*(?:On|At|Le|Am|Op|Il|Em|El|Dnia|Dňa|Den|In message)\s|(?:19|20)\d\d|(?-u:\b)(?:wrote|schrieb)\s+(?:on|am)(?-u:\b)|在|пользователь",
    )
    .expect("valid regex")
});
/// A short line ending in "wrote:" is an attribution when a quote follows it.
static WROTE_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:^|\s)(?:wrote|writes|said|says|schrieb|a écrit|escribió|ha scritto|escreveu|schreef|skrev|napisał(?:\(a\))?|написала?|пише)\s*[:：]\s*$|写道[:：]?\s*$",
    )
    .expect("valid regex")
});

/// An attribution ending in its verb ("wrote", "schrieb X:", ...).
fn is_wrote_attribution(c: &str) -> bool {
    let c = c.trim();
    // Every form ends in a colon or in its verb, and holds a verb: two literal checks that spare
    // the full patterns on ordinary lines.
    let tail = c.trim_end_matches(|ch: char| ch.is_whitespace() || ".:：>-".contains(ch));
    if !(c.ends_with([':', '：']) || VERB_END.is_match(tail)) || !VERB.is_match(c) {
        return false;
    }
    for re in LEAD_ATTRIBUTIONS.iter() {
        if let Some(caps) = re.captures(c) {
            let mid = caps.name("mid").map_or("", |m| m.as_str());
            // A date, no second verb, and a colon, a time or an address: "On Monday I wrote"
            // is prose.
            let tail = c.trim_end_matches(|ch: char| ch.is_whitespace() || ".>-".contains(ch));
            let firm = tail.ends_with([':', '：']) || TIME.is_match(c) || c.contains('@');
            if mid.chars().any(|ch| ch.is_ascii_digit()) && !WROTE_WORD.is_match(mid) && firm {
                return true;
            }
        }
    }
    OTHER_ATTRIBUTIONS.iter().any(|re| re.is_match(c))
}

/// "DATE X <x@y>:" without a verb (Gmail in several languages).
fn is_email_attribution(c: &str) -> bool {
    let c = c.trim();
    if !(c.ends_with('>') || c.ends_with(">:")) {
        return false;
    }
    DATE_SOMEONE_EMAIL.is_match(c) && (TIME.is_match(c) || DATE_START.is_match(c))
}

fn marker_kind(content: &str) -> Option<Kind> {
    let c = content.trim();
    if FORWARDS.is_match(c) {
        Some(Kind::Forward)
    } else if is_wrote_attribution(c) || is_email_attribution(c) || FIXED_ATTRIBUTIONS.is_match(c) {
        Some(Kind::Attribution)
    } else {
        None
    }
}

/// An attribution starting at line `i` and wrapped over up to four more lines (blank ones
/// included), joined with single spaces: (last line used, joined text).
fn join_attribution(
    raw: &[&str],
    code: &[bool],
    i: usize,
    content: &str,
) -> Option<(usize, String)> {
    // The hint first: one search that rules out almost every line.
    if content.trim().is_empty()
        || content.len() > MAX_JOIN_LINE
        || !JOIN_HINT.is_match(content)
        || is_header(content)
        || ends_sentence(content)
        || is_wrote_attribution(content)
    {
        return None;
    }
    // A form with the verb wins over "DATE X <x@y>", which can match early: "On DATE X <x@y>"
    // + "wrote:" must join whole.
    let complete = marker_kind(content).is_some();
    let mut joined = content.to_string();
    let mut without_verb = None;
    for (newlines, j) in (i + 1..raw.len()).enumerate() {
        if newlines >= MAX_JOIN_NEWLINES || code[j] {
            break;
        }
        let next = raw[j].trim_start();
        if next.is_empty() {
            continue;
        }
        if raw[j].len() > MAX_JOIN_LINE {
            break;
        }
        joined.push(' ');
        joined.push_str(next);
        if is_wrote_attribution(&joined) {
            return Some((j, joined));
        }
        if !complete && without_verb.is_none() && is_email_attribution(&joined) {
            without_verb = Some((j, joined.clone()));
        }
    }
    without_verb
}

/// A line ending a sentence ("...we met.", "really?") does not continue on the next line.
/// Short abbreviations ("janv.", "28.") do.
fn ends_sentence(s: &str) -> bool {
    let t = s.trim_end();
    if t.ends_with(['!', '?']) {
        return true;
    }
    match t.strip_suffix('.') {
        Some(before) => {
            let letters = before
                .chars()
                .rev()
                .take_while(|c| c.is_alphabetic())
                .count();
            letters >= 5
        }
        None => false,
    }
}

/// "Bob wrote:" (no date) followed by a quote is an attribution too.
fn mark_short_attributions(lines: &mut [Line]) {
    let mut next_non_empty: Option<Kind> = None;
    for line in lines.iter_mut().rev() {
        if line.kind == Kind::Text
            && !line.code
            && line.norm.len() <= 150
            && next_non_empty == Some(Kind::Quote)
            && WROTE_END.is_match(&line.norm)
        {
            line.kind = Kind::Attribution;
        }
        if line.kind != Kind::Empty {
            next_non_empty = Some(line.kind);
        }
    }
}

/// OpenPGP clear-signing armour: the header with its Hash line, and the signature block.
fn mark_armour(lines: &mut [Line]) {
    if let Some(first) = lines.iter().position(|l| l.kind != Kind::Empty)
        && lines[first].norm.trim() == "-----BEGIN PGP SIGNED MESSAGE-----"
    {
        lines[first].kind = Kind::Armour;
        if let Some(next) = lines.get_mut(first + 1)
            && next.norm.starts_with("Hash:")
        {
            next.kind = Kind::Armour;
        }
    }
    let mut i = 0;
    while i < lines.len() {
        if lines[i].norm.trim() == "-----BEGIN PGP SIGNATURE-----" {
            let Some(end) =
                (i..lines.len()).find(|&j| lines[j].norm.trim() == "-----END PGP SIGNATURE-----")
            else {
                // No end after this start, so none after a later one either.
                break;
            };
            lines[i..=end]
                .iter_mut()
                .for_each(|l| l.kind = Kind::Armour);
            i = end;
        }
        i += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Selection: which logical lines are the author's. Each step works on `kept`, the indices still
// in the post, and runs in one pass.

fn select(lines: &[Line], options: &TrimOptions) -> Vec<usize> {
    let kind = |i: usize| lines[i].kind;
    let mut kept: Vec<usize> = (0..lines.len())
        .filter(|&i| kind(i) != Kind::Armour)
        .collect();

    // The list footer and everything after it.
    if let Some(p) = (0..kept.len()).find(|&p| is_footer_start(lines, &kept, p, options)) {
        kept.truncate(p);
    }
    // Everything after a signature separator (with two exceptions, see the function).
    if let Some(p) = cutting_delimiter(lines, &kept) {
        kept.truncate(p);
    }
    // Mobile footers, wherever they are.
    kept.retain(|&i| kind(i) != Kind::Signature);

    // Bottom posting: attribution, quoted history, then the reply: keep only the reply.
    if let Some(first) = kept.iter().position(|&i| kind(i) != Kind::Empty)
        && kind(kept[first]).is_marker()
        && let Some(reply) = kept.iter().position(|&i| kind(i) == Kind::Text)
        && reply > first + 1
        && kept[reply..]
            .iter()
            .all(|&i| matches!(kind(i), Kind::Text | Kind::Empty))
    {
        kept.drain(..reply);
    }

    // Top posting without quote marks: text, then an attribution with no quote after it; the
    // rest is the older mail.
    let after_last_quote = kept
        .iter()
        .rposition(|&i| kind(i) == Kind::Quote)
        .map_or(0, |q| q + 1);
    for p in after_last_quote..kept.len() {
        if !kind(kept[p]).is_marker() {
            continue;
        }
        let mut t = p;
        while t > 0 && kind(kept[t - 1]) == Kind::Empty {
            t -= 1;
        }
        if t > 0 && kind(kept[t - 1]) == Kind::Text {
            kept.truncate(t);
            break;
        }
    }

    // A short sign-off after the quoted history ("Tom", "Thanks, Jane") does not make that
    // quote an interleaved answer: the quote goes, the sign-off stays.
    if let Some(last) = kept.iter().rposition(|&i| kind(i) == Kind::Text) {
        let mut start = last;
        while start > 0 && matches!(kind(kept[start - 1]), Kind::Text | Kind::Empty) {
            start -= 1;
        }
        let sign_off: Vec<usize> = kept[start..=last]
            .iter()
            .copied()
            .filter(|&i| kind(i) == Kind::Text)
            .collect();
        if start > 0
            && kind(kept[start - 1]) == Kind::Quote
            && sign_off.len() <= 2
            && sign_off.iter().all(|&i| is_sign_off(&lines[i].norm))
        {
            let mut quote = start;
            while quote > 0
                && matches!(
                    kind(kept[quote - 1]),
                    Kind::Quote | Kind::Attribution | Kind::Forward | Kind::Empty
                )
            {
                quote -= 1;
            }
            if kept[..quote].iter().any(|&i| kind(i) == Kind::Text) {
                kept.drain(quote..start);
            }
        }
    }

    // The quoted history at the end of the post, after the author's text.
    let mut tail = kept.len();
    while tail > 0
        && matches!(
            kind(kept[tail - 1]),
            Kind::Quote | Kind::Attribution | Kind::Forward | Kind::Empty
        )
    {
        tail -= 1;
    }
    if tail > 0 {
        kept.truncate(tail);
    }

    // Markers left between interleaved answers go, except an attribution that introduces an
    // interleaved reply (its quote, an answer, another quote): it says who wrote what the
    // answers answer, and stays with those quotes.
    let introduces_interleaving = |p: usize| {
        if kind(kept[p]) != Kind::Attribution {
            return false;
        }
        let mut quote_blocks = 0;
        let mut last = Kind::Empty;
        for &i in &kept[p + 1..] {
            match kind(i) {
                Kind::Empty => continue,
                Kind::Quote if last != Kind::Quote => quote_blocks += 1,
                k if k.is_marker() => break,
                _ => {}
            }
            if last == Kind::Empty && kind(i) != Kind::Quote && quote_blocks == 0 {
                return false;
            }
            last = kind(i);
        }
        quote_blocks >= 2
    };
    let keep: Vec<bool> = (0..kept.len())
        .map(|p| !kind(kept[p]).is_marker() || introduces_interleaving(p))
        .collect();
    let mut flags = keep.into_iter();
    kept.retain(|_| flags.next().unwrap_or(true));

    // A dash sign-off ending the post ("-Bob") is folded like a signature, unless it ends a
    // list of dashed lines.
    if let Some(last) = kept.iter().rposition(|&i| kind(i) != Kind::Empty)
        && kind(kept[last]) == Kind::Text
        && !lines[kept[last]].quoted
        && DASH_SIGN_OFF.is_match(&lines[kept[last]].norm)
    {
        let before = kept[..last]
            .iter()
            .rev()
            .find(|&&i| kind(i) != Kind::Empty)
            .copied();
        let in_list = before.is_some_and(|i| {
            let t = lines[i].norm.trim_start();
            t.starts_with(['-', '–', '—', '*', '•'])
        });
        if !in_list && kept[..last].iter().any(|&i| kind(i) == Kind::Text) {
            kept.truncate(last);
        }
    }

    remove_header_blocks(lines, &mut kept);
    drop_trailing_quotes(lines, &mut kept);
    if let Some(p) = disclaimer_start(lines, &kept) {
        kept.truncate(p);
        drop_trailing_quotes(lines, &mut kept);
    }
    kept
}

/// Whether the line at `kept[p]` starts the list footer: a configured pattern, or Mailman's
/// default (a line of underscores, then a line naming the mailing list or its listinfo page).
fn is_footer_start(lines: &[Line], kept: &[usize], p: usize, options: &TrimOptions) -> bool {
    let line = &lines[kept[p]];
    if line.quoted || line.code {
        return false;
    }
    let t = line.norm.trim();
    if t.is_empty() {
        return false;
    }
    if options.footer_patterns.iter().any(|re| re.is_match(t)) {
        return true;
    }
    t.len() >= 5
        && t.chars().all(|c| c == '_')
        && kept[p + 1..]
            .iter()
            .map(|&i| lines[i].norm.to_lowercase())
            .filter(|l| !l.trim().is_empty())
            .take(2)
            .any(|l| l.contains("mailing list") || l.contains("listinfo"))
}

/// The first separator line that ends the author's text, as a position in `kept`. A `-- `
/// always does; a `=====` under a line of text underlines a heading, and a separator followed
/// by a long run of plain text is a section break.
fn cutting_delimiter(lines: &[Line], kept: &[usize]) -> Option<usize> {
    // Per position: non-blank lines after it, and whether they are all plain text.
    let mut plain_after = vec![(0usize, true); kept.len() + 1];
    for p in (0..kept.len()).rev() {
        let (count, plain) = plain_after[p + 1];
        plain_after[p] = match lines[kept[p]].kind {
            Kind::Empty => (count, plain),
            Kind::Text => (count + 1, plain),
            _ => (count + 1, false),
        };
    }
    for (p, &i) in kept.iter().enumerate() {
        if lines[i].kind != Kind::Delimiter {
            continue;
        }
        if lines[i].norm.trim() != "--" {
            let under_text = p > 0
                && lines[kept[p - 1]].kind == Kind::Text
                && lines[kept[p - 1]].last + 1 == lines[i].first;
            if under_text && is_underline(&lines[i].norm) {
                continue;
            }
            let (count, plain) = plain_after[p + 1];
            if plain && count > LONG_TAIL_LINES {
                continue;
            }
        }
        return Some(p);
    }
    None
}

/// Outlook-style header blocks ("From:/Sent:/To:/Subject:"): three or more after the author's
/// text end it; any other block of two or more is removed. A lone "A: yes" stays text.
fn remove_header_blocks(lines: &[Line], kept: &mut Vec<usize>) {
    let kind = |p: usize, kept: &[usize]| lines[kept[p]].kind;
    let mut header: Vec<bool> = (0..kept.len())
        .map(|p| kind(p, kept) == Kind::Header)
        .collect();
    // A header value wrapped onto one or two more lines ("Subject: long\n subject").
    let mut p = 1;
    while p < kept.len() {
        if header[p - 1] && kind(p, kept) == Kind::Text {
            let run = (p..kept.len().min(p + 3))
                .take_while(|&q| kind(q, kept) == Kind::Text)
                .count();
            if run <= 2 && p + run < kept.len() && header[p + run] {
                header[p..p + run].iter_mut().for_each(|h| *h = true);
                p += run;
                continue;
            }
        }
        p += 1;
    }
    // Blocks of consecutive header lines, as [start, end).
    let mut blocks = Vec::new();
    let mut p = 0;
    while p < kept.len() {
        if header[p] {
            let start = p;
            while p < kept.len() && header[p] {
                p += 1;
            }
            blocks.push((start, p));
        } else {
            p += 1;
        }
    }
    for &(start, end) in &blocks {
        if end - start < 3 {
            continue;
        }
        let mut t = start;
        while t > 0 && matches!(kind(t - 1, kept), Kind::Empty | Kind::Quote) {
            t -= 1;
        }
        if t > 0 && kind(t - 1, kept) == Kind::Text {
            kept.truncate(t);
            return;
        }
    }
    let mut drop = vec![false; kept.len()];
    for &(start, end) in blocks.iter().filter(|(s, e)| e - s >= 2) {
        drop[start..end].iter_mut().for_each(|d| *d = true);
    }
    let mut p = 0;
    kept.retain(|_| {
        p += 1;
        !drop[p - 1]
    });
}

/// A line that can only be a sign-off: a name or a closing word or two ("Tom", "Thanks,
/// Jane", "Best wishes"), not an answer ("Yes, from Monday.").
fn is_sign_off(line: &str) -> bool {
    let line = line.trim();
    !line.is_empty()
        && line.chars().count() <= 30
        && line.split_whitespace().count() <= 3
        && !line.ends_with(['.', '?', '!', ':'])
        && !line.chars().any(|c| c.is_ascii_digit())
}

/// Quotes and blank lines ending the post go, once there is some text of the author's.
fn drop_trailing_quotes(lines: &[Line], kept: &mut Vec<usize>) {
    if !kept.iter().any(|&i| lines[i].kind == Kind::Text) {
        return;
    }
    while let Some(&i) = kept.last() {
        if !matches!(lines[i].kind, Kind::Quote | Kind::Empty) {
            break;
        }
        kept.pop();
    }
}

static LEGAL_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:confidential\w*|privileged|vertraulich\w*|confidentiel\w*|riservat\w*|confidencial\w*)\b")
        .expect("valid regex")
});
static LEGAL_CONDITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)intended (?:solely |only )?(?:for|recipient|addressee)|if you (?:are not|have received)|received (?:this|it) (?:e-?mail |message )?in error|unauthori[sz]ed|prohibited|not the intended|nicht der (?:richtige|beabsichtigte) (?:Adressat|Empfänger)",
    )
    .expect("valid regex")
});
static LEGAL_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\W*(?:disclaimer|confidentiality(?: notice)?|legal notice|important notice)\W*$",
    )
    .expect("valid regex")
});

/// Where a legal disclaimer ending the post starts, as a position in `kept`: a paragraph (not
/// the first) that speaks of confidentiality and of recipients, with no quote after it and at
/// most [`MAX_DISCLAIMER_LINES`] lines to the end.
fn disclaimer_start(lines: &[Line], kept: &[usize]) -> Option<usize> {
    let kind = |p: usize| lines[kept[p]].kind;
    let mut lines_after = vec![0usize; kept.len() + 1];
    let mut quote_after = vec![false; kept.len() + 1];
    for p in (0..kept.len()).rev() {
        lines_after[p] = lines_after[p + 1] + usize::from(kind(p) != Kind::Empty);
        quote_after[p] = quote_after[p + 1] || kind(p) == Kind::Quote;
    }
    let first_text = (0..kept.len()).find(|&p| kind(p) == Kind::Text)?;
    for p in first_text + 1..kept.len() {
        if kind(p) != Kind::Text
            || kind(p - 1) != Kind::Empty
            || quote_after[p]
            || lines_after[p] > MAX_DISCLAIMER_LINES
        {
            continue;
        }
        // The paragraph, or the next one too after a "DISCLAIMER" heading; bounded.
        let mut paragraph = String::new();
        let mut q = p;
        let mut skipped_heading = false;
        while q < kept.len() && q < p + 12 && paragraph.len() < 1200 {
            let line = &lines[kept[q]];
            if line.kind == Kind::Empty {
                if !skipped_heading && q == p + 1 && LEGAL_HEADING.is_match(&lines[kept[p]].norm) {
                    skipped_heading = true;
                    q += 1;
                    continue;
                }
                break;
            }
            paragraph.push_str(prefix_of(&line.norm, 400));
            paragraph.push(' ');
            q += 1;
        }
        if LEGAL_SUBJECT.is_match(&paragraph) && LEGAL_CONDITION.is_match(&paragraph) {
            return Some(p);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Embedded mail

/// The first line of a block of at least three header lines (blank, quote and separator lines
/// may sit between them) that a body follows.
fn header_block_start(kinds: &[Kind]) -> Option<usize> {
    let mut i = 0;
    while i < kinds.len() {
        if kinds[i] != Kind::Header {
            i += 1;
            continue;
        }
        let mut headers = 0;
        let mut j = i;
        while j < kinds.len() {
            match kinds[j] {
                Kind::Header => headers += 1,
                Kind::Empty | Kind::Delimiter => {}
                Kind::Quote if headers < 3 => {}
                Kind::Quote | Kind::Text if headers >= 3 => return Some(i),
                _ => break,
            }
            j += 1;
        }
        i = j.max(i + 1);
    }
    None
}

/// The first forward marker followed, past blank and separator lines, by text or a quote.
fn forward_marker(kinds: &[Kind]) -> Option<usize> {
    (0..kinds.len()).find(|&i| {
        kinds[i] == Kind::Forward
            && kinds[i + 1..]
                .iter()
                .find(|k| !matches!(k, Kind::Empty | Kind::Delimiter))
                .is_some_and(|k| matches!(k, Kind::Text | Kind::Quote))
    })
}

/// The text before the embedded mail starting at logical line `start`, without the separator,
/// marker and blank lines that introduce it.
fn before_embedded(raw: &[&str], lines: &[Line], start: usize) -> String {
    let kind = |p: usize| lines[p].kind;
    let mut end = start;
    let mut m = end;
    while m > 0 && matches!(kind(m - 1), Kind::Empty | Kind::Quote | Kind::Delimiter) {
        m -= 1;
    }
    if m > 0 && kind(m - 1).is_marker() {
        end = m - 1;
    } else {
        while end > 0 && matches!(kind(end - 1), Kind::Empty | Kind::Delimiter) {
            end -= 1;
        }
        while end > 0 && kind(end - 1).is_marker() {
            end -= 1;
        }
    }
    while end > 0 && kind(end - 1) == Kind::Empty {
        end -= 1;
    }
    if end == 0 {
        return String::new();
    }
    tidy(&raw[..=lines[end - 1].last].join("\n"))
}

/// One level of quoting removed from a normalised line.
fn unquote_once(line: &str) -> &str {
    match line.strip_prefix('>') {
        Some(rest) => rest.trim_start(),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trimmed(body: &str) -> Trimmed {
        trim(body, &TrimOptions::default())
    }

    /// (name, body, expected text, expected elided)
    const CASES: &[(&str, &str, &str, &str)] = &[
        (
            "plain text",
            "Just text.\n\nTwo paragraphs.",
            "Just text.\n\nTwo paragraphs.",
            "",
        ),
        (
            "gmail english",
            "Sounds good.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Jane Doe <jane@example.org> wrote:\n> Shall we meet?\n>\n> Jane",
            "Sounds good.",
            "On Mon, Jan 1, 2024 at 10:00 AM Jane Doe <jane@example.org> wrote:\n> Shall we meet?\n>\n> Jane",
        ),
        (
            "attribution wrapped over two lines",
            "Yes.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Jane Doe <\njane@example.org> wrote:\n\n> Shall we?",
            "Yes.",
            "On Mon, Jan 1, 2024 at 10:00 AM Jane Doe < jane@example.org> wrote:\n\n> Shall we?",
        ),
        (
            "apple mail",
            "Fine by me.\n\n> On 1 Jan 2024, at 10:00, Jane Doe <jane@example.org> wrote:\n>\n> Shall we?",
            "Fine by me.",
            "> On 1 Jan 2024, at 10:00, Jane Doe <jane@example.org> wrote:\n>\n> Shall we?",
        ),
        (
            "thunderbird",
            "Agreed.\n\nOn 01/01/2024 10:00, Jane Doe wrote:\n> Shall we?",
            "Agreed.",
            "On 01/01/2024 10:00, Jane Doe wrote:\n> Shall we?",
        ),
        (
            "french",
            "D'accord.\n\nLe lun. 1 janv. 2024 à 10:00, Jeanne <j@example.fr> a écrit :\n> On se voit ?",
            "D'accord.",
            "Le lun. 1 janv. 2024 à 10:00, Jeanne <j@example.fr> a écrit :\n> On se voit ?",
        ),
        (
            "german",
            "Gut.\n\nAm 01.01.2024 um 10:00 schrieb Hans <h@example.de>:\n> Treffen wir uns?",
            "Gut.",
            "Am 01.01.2024 um 10:00 schrieb Hans <h@example.de>:\n> Treffen wir uns?",
        ),
        (
            "german gmail",
            "Gut.\n\nHans <h@example.de> schrieb am Mo., 1. Jan. 2024 um 10:00 Uhr:\n> Treffen?",
            "Gut.",
            "Hans <h@example.de> schrieb am Mo., 1. Jan. 2024 um 10:00 Uhr:\n> Treffen?",
        ),
        (
            "spanish",
            "Vale.\n\nEl lun, 1 ene 2024 a las 10:00, Juan (<j@example.es>) escribió:\n> ¿Nos vemos?",
            "Vale.",
            "El lun, 1 ene 2024 a las 10:00, Juan (<j@example.es>) escribió:\n> ¿Nos vemos?",
        ),
        (
            "italian",
            "Va bene.\n\nIl giorno lun 1 gen 2024 alle ore 10:00 Gianni <g@example.it> ha scritto:\n> Ci vediamo?",
            "Va bene.",
            "Il giorno lun 1 gen 2024 alle ore 10:00 Gianni <g@example.it> ha scritto:\n> Ci vediamo?",
        ),
        (
            "dutch",
            "Prima.\n\nOp ma 1 jan. 2024 om 10:00 schreef Jan <j@example.nl>:\n> Zien we elkaar?",
            "Prima.",
            "Op ma 1 jan. 2024 om 10:00 schreef Jan <j@example.nl>:\n> Zien we elkaar?",
        ),
        (
            "portuguese",
            "Certo.\n\nEm seg., 1 de jan. de 2024 às 10:00, João <j@example.pt> escreveu:\n> Vamos?",
            "Certo.",
            "Em seg., 1 de jan. de 2024 às 10:00, João <j@example.pt> escreveu:\n> Vamos?",
        ),
        (
            "swedish",
            "Bra.\n\nDen mån 1 jan. 2024 kl 10:00 skrev Sven <s@example.se>:\n> Ses vi?",
            "Bra.",
            "Den mån 1 jan. 2024 kl 10:00 skrev Sven <s@example.se>:\n> Ses vi?",
        ),
        (
            "danish",
            "Fint.\n\nDen man. 1. jan. 2024 kl. 10.00 skrev Lars <l@example.dk>:\n> Ses vi?",
            "Fint.",
            "Den man. 1. jan. 2024 kl. 10.00 skrev Lars <l@example.dk>:\n> Ses vi?",
        ),
        (
            "norwegian",
            "Greit.\n\nman. 1. jan. 2024 kl. 10:00 skrev Ola <o@example.no>:\n> Ses vi?",
            "Greit.",
            "man. 1. jan. 2024 kl. 10:00 skrev Ola <o@example.no>:\n> Ses vi?",
        ),
        (
            "polish",
            "Dobrze.\n\npon., 1 sty 2024 o 10:00 Jan <j@example.pl> napisał(a):\n> Spotkamy się?",
            "Dobrze.",
            "pon., 1 sty 2024 o 10:00 Jan <j@example.pl> napisał(a):\n> Spotkamy się?",
        ),
        (
            "russian",
            "Да.\n\nпн, 1 янв. 2024 г. в 10:00, Иван <i@example.ru>:\n> Встретимся?",
            "Да.",
            "пн, 1 янв. 2024 г. в 10:00, Иван <i@example.ru>:\n> Встретимся?",
        ),
        (
            "japanese",
            "はい。\n\n2024年1月1日(月) 10:00 Taro <t@example.jp>:\n> 会いましょうか？",
            "はい。",
            "2024年1月1日(月) 10:00 Taro <t@example.jp>:\n> 会いましょうか？",
        ),
        (
            "chinese",
            "好的。\n\n在 2024年1月1日，上午10:00，Li <l@example.cn> 写道：\n> 见面吗？",
            "好的。",
            "在 2024年1月1日，上午10:00，Li <l@example.cn> 写道：\n> 见面吗？",
        ),
        (
            "outlook original message",
            "See attached.\n\n-----Original Message-----\nFrom: Jane Doe\nSent: Monday, January 1, 2024 10:00 AM\nTo: Team\nSubject: Rota\n\nPlease send the rota.",
            "See attached.",
            "-----Original Message-----\nFrom: Jane Doe\nSent: Monday, January 1, 2024 10:00 AM\nTo: Team\nSubject: Rota\n\nPlease send the rota.",
        ),
        (
            "outlook header block",
            "Done.\n\nFrom: Jane Doe <jane@example.org>\nSent: 01 January 2024 10:00\nTo: Team <team@example.org>\nSubject: Rota\n\nPlease send the rota.",
            "Done.",
            "From: Jane Doe <jane@example.org>\nSent: 01 January 2024 10:00\nTo: Team <team@example.org>\nSubject: Rota\n\nPlease send the rota.",
        ),
        (
            "exchange underscore line",
            "Done.\n________________________________\nFrom: Jane Doe\nSent: 01 January 2024 10:00\nTo: Team\nSubject: Rota\n\nPlease.",
            "Done.",
            "________________________________\nFrom: Jane Doe\nSent: 01 January 2024 10:00\nTo: Team\nSubject: Rota\n\nPlease.",
        ),
        (
            "gmail forward",
            "FYI\n\n---------- Forwarded message ---------\nFrom: Jane <jane@example.org>\nDate: Mon, Jan 1, 2024 at 10:00 AM\nSubject: Rota\nTo: <team@example.org>\n\nThe rota.",
            "FYI",
            "---------- Forwarded message ---------\nFrom: Jane <jane@example.org>\nDate: Mon, Jan 1, 2024 at 10:00 AM\nSubject: Rota\nTo: <team@example.org>\n\nThe rota.",
        ),
        (
            "quote at end",
            "I agree.\n\n> Earlier point\n> more",
            "I agree.",
            "> Earlier point\n> more",
        ),
        (
            "signature separator",
            "Thanks all.\n\n-- \nDr Jane Doe\nThe Surgery",
            "Thanks all.",
            "-- \nDr Jane Doe\nThe Surgery",
        ),
        (
            "mobile footer",
            "On my way.\n\nSent from my iPhone",
            "On my way.",
            "Sent from my iPhone",
        ),
        (
            "outlook mobile",
            "Yes.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>",
            "Yes.",
            "Get Outlook for iOS<https://aka.ms/o0ukef>",
        ),
        (
            "disclaimer",
            "See you at 3.\n\nJane\n\nThis email and any attachments are confidential and intended solely for the addressee. If you have received it in error, please delete it.",
            "See you at 3.\n\nJane",
            "This email and any attachments are confidential and intended solely for the addressee. If you have received it in error, please delete it.",
        ),
        (
            "nhsmail disclaimer after stars",
            "Noted.\n\n********************\n\nThis message may contain confidential information. If you are not the intended recipient please inform the sender.",
            "Noted.",
            "********************\n\nThis message may contain confidential information. If you are not the intended recipient please inform the sender.",
        ),
        (
            "mailman footer",
            "My answer.\n\n_______________________________________________\nGP-list mailing list\nGP-list@lists.example.org\nhttps://lists.example.org/mailman/listinfo/gp-list",
            "My answer.",
            "_______________________________________________\nGP-list mailing list\nGP-list@lists.example.org\nhttps://lists.example.org/mailman/listinfo/gp-list",
        ),
        (
            "mailman footer after a quote",
            "My answer.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Jane <j@example.org> wrote:\n> Question?\n\n_______________________________________________\nGP-list mailing list\nhttps://lists.example.org/mailman/listinfo/gp-list",
            "My answer.",
            "On Mon, Jan 1, 2024 at 10:00 AM Jane <j@example.org> wrote:\n> Question?\n\n_______________________________________________\nGP-list mailing list\nhttps://lists.example.org/mailman/listinfo/gp-list",
        ),
        (
            "interleaved reply keeps its quotes",
            "On Mon, Jan 1, 2024 at 10:00 AM Jane <j@example.org> wrote:\n> First question?\nYes.\n\n> Second question?\nNo.\n\n> Thanks\n> Jane\n\n-- \nBob",
            // The attribution stays with the quotes it introduces.
            "On Mon, Jan 1, 2024 at 10:00 AM Jane <j@example.org> wrote:\n> First question?\nYes.\n\n> Second question?\nNo.",
            "> Thanks\n> Jane\n\n-- \nBob",
        ),
        (
            "greeting, quote, then the answer",
            "Hi Jane,\n\nOn Mon, Jan 1, 2024 at 10:00 AM Jane <j@example.org> wrote:\n> Does the clinic open at 8?\n\nYes, from Monday.\n\nBob",
            "Hi Jane,\n\n> Does the clinic open at 8?\n\nYes, from Monday.\n\nBob",
            "On Mon, Jan 1, 2024 at 10:00 AM Jane <j@example.org> wrote:",
        ),
        (
            "bottom post",
            "On Mon, Jan 1, 2024 at 10:00 AM Jane <j@example.org> wrote:\n> Does the clinic open at 8?\n\nYes, from Monday.",
            "Yes, from Monday.",
            "On Mon, Jan 1, 2024 at 10:00 AM Jane <j@example.org> wrote:\n> Does the clinic open at 8?",
        ),
        (
            "quote only stays whole",
            "> Only a quote\n> here",
            "> Only a quote\n> here",
            "",
        ),
        (
            "crlf",
            "Line one\r\nLine two\r\n\r\n> quoted\r\n",
            "Line one\nLine two",
            "> quoted",
        ),
        (
            "heading underline is not a separator",
            "Agenda\n======\n\n1. Rota\n2. Audit",
            "Agenda\n======\n\n1. Rota\n2. Audit",
            "",
        ),
        (
            "a lone header-like line is text",
            "Q: Does it work?\nA: Yes, it does.",
            "Q: Does it work?\nA: Yes, it does.",
            "",
        ),
        (
            "code fence protects separators",
            "Look:\n\n```\n--\n####\n```\n\nDone.",
            "Look:\n\n```\n--\n####\n```\n\nDone.",
            "",
        ),
        (
            "supercite and pipe quotes",
            "Right.\n\n2013/7/20 Jane <jane@example.org>\n\n| quoted one\nJane> quoted two",
            "Right.",
            "2013/7/20 Jane <jane@example.org>\n\n> quoted one\n> quoted two",
        ),
        (
            "pgp armour",
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSigned words.\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----",
            "Signed words.",
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----",
        ),
        (
            "prose starting with On is not an attribution",
            "On Monday I wrote to the trust.\n\n> their reply\n\nNo answer yet.",
            "On Monday I wrote to the trust.\n\n> their reply\n\nNo answer yet.",
            "",
        ),
    ];

    #[test]
    fn trims_each_form() {
        let mut failures = Vec::new();
        for (name, body, text, elided) in CASES {
            let got = trimmed(body);
            if got.text != *text || got.elided != *elided {
                failures.push(format!(
                    "{name}:\n  text   {:?}\n  want   {text:?}\n  elided {:?}\n  want   {elided:?}",
                    got.text, got.elided
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn configured_footer_patterns() {
        let options = TrimOptions {
            footer_patterns: vec![Regex::new(r"^To unsubscribe from the \S+ list").unwrap()],
        };
        let body = "Clinic closed Friday.\n\nTo unsubscribe from the GP-L list, write to LISTSERV@example.org\nwith UNSUBSCRIBE GP-L";
        let got = trim(body, &options);
        assert_eq!(got.text, "Clinic closed Friday.");
        assert_eq!(
            got.elided,
            "To unsubscribe from the GP-L list, write to LISTSERV@example.org\nwith UNSUBSCRIBE GP-L"
        );
        // A quoted footer line is part of the quote, not the footer.
        let quoted = "> To unsubscribe from the GP-L list, now\n\nMy answer.";
        assert_eq!(trim(quoted, &options).text, quoted);
    }

    #[test]
    fn extracts_embedded_mail() {
        let body = "FYI\n\n---------- Forwarded message ---------\nFrom: Jane <jane@example.org>\nDate: Mon, Jan 1, 2024 at 10:00 AM\nSubject: Rota\nTo: <team@example.org>\n\nThe rota.";
        assert_eq!(
            extract_embedded(body),
            Some((
                "FYI".to_string(),
                "From: Jane <jane@example.org>\nDate: Mon, Jan 1, 2024 at 10:00 AM\nSubject: Rota\nTo: <team@example.org>\n\nThe rota.".to_string()
            ))
        );
        let apple = "Look.\n\n> Begin forwarded message:\n>\n> From: Jane <jane@example.org>\n> Subject: Rota\n>\n> The rota.";
        assert_eq!(
            extract_embedded(apple),
            Some((
                "Look.".to_string(),
                "From: Jane <jane@example.org>\nSubject: Rota\n\nThe rota.".to_string()
            ))
        );
        assert_eq!(extract_embedded("Just text."), None);
        assert_eq!(
            extract_embedded(
                "Yes.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Jane <j@example.org> wrote:\n> Q?"
            ),
            None
        );
    }

    /// Deep quote nesting must stay linear: one megabyte of `>` in 100 lines of depth 10,000.
    #[test]
    fn deeply_nested_quotes() {
        let mut body = String::from("Reply on top.\n\n");
        let quote_line = format!("{} quoted\n", ">".repeat(10_000));
        for _ in 0..100 {
            body.push_str(&quote_line);
        }
        let got = trimmed(&body);
        assert_eq!(got.text, "Reply on top.");
        assert!(got.elided.starts_with(">>>>"));
        assert_eq!(got.elided.lines().count(), 100);

        // The same depth spelled "> > > ...", and one unbroken megabyte line.
        let spaced = format!("Top.\n\n{} deep\n", "> ".repeat(500_000));
        assert_eq!(trimmed(&spaced).text, "Top.");
        let one_line = ">".repeat(1_000_000);
        assert_eq!(trimmed(&one_line).text, one_line);
    }

    #[test]
    fn odd_input_never_panics() {
        let long = "x".repeat(200_000);
        let long_attribution = format!("On 1 Jan 2024 {} wrote:", "a".repeat(100_000));
        let many_fences = "```a\n".repeat(5_000);
        let bodies: Vec<String> = vec![
            String::new(),
            " \n\t\n".to_string(),
            "\r\r\n\r".to_string(),
            "> only\n>> quotes\n> > here".to_string(),
            "-- \nOnly a signature".to_string(),
            "--\n____\n====\n***".to_string(),
            "Sent from my iPhone".to_string(),
            "From: a\nTo: b\nSubject: c".to_string(),
            "On Mon, Jan 1, 2024 at 10:00 AM Jane <j@example.org> wrote:".to_string(),
            "-----BEGIN PGP SIGNATURE-----\nno end".to_string(),
            long.clone(),
            format!("{long}\n> {long}\nOn 1 Jan 2024, {long} wrote:"),
            long_attribution,
            many_fences,
            "```\nunclosed".to_string(),
            "Ωμέγα — 日本語のテキスト\n> 引用\n\nالعربية\n😀 emoji line".to_string(),
            "\u{0}\u{1}\u{7f}\u{feff}\u{200b}".to_string(),
            "é>".repeat(1000),
            "|".to_string(),
            "| a | b |\n|---|---|".to_string(),
            ">\n>\n>".to_string(),
            "\n\n\nOn\n\nwrote:\n\n\n".to_string(),
            "Q\n_____\n\n".to_string(),
        ];
        for body in &bodies {
            let got = trimmed(body);
            if !body.trim().is_empty() {
                assert!(!got.text.trim().is_empty(), "empty text for {body:?}");
            }
            let _ = extract_embedded(body);
        }
        // Nothing to remove: the body stays, without its surrounding blank lines.
        assert_eq!(trimmed("\n\nHello\n\n").text, "Hello");
        assert_eq!(trimmed("").text, "");
        assert_eq!(
            trimmed("-- \nOnly a signature").text,
            "-- \nOnly a signature"
        );
    }

    #[test]
    fn a_sign_off_after_the_quote_keeps_the_quote_folded() {
        let body =
            "Use a spacer.\n\nOn Mon, 4 Mar 2024, Amira wrote:\n> How do you check?\n\nTom\n";
        let t = trim(body, &TrimOptions::default());
        assert_eq!(t.text, "Use a spacer.\n\nTom");
        assert!(t.elided.contains("> How do you check?"), "{t:?}");
        // An answer after the quote is an interleaved reply: the quote stays.
        let body = "Hi Jane,\n\n> Can you cover Monday?\n\nYes, from Monday.\n";
        let t = trim(body, &TrimOptions::default());
        assert!(t.text.contains("> Can you cover Monday?"), "{t:?}");
    }
}
