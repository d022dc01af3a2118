//! Interests: which of the admins' interest rules a thread is about, from its subject and body.
//! Each interest has keywords (words and phrases, every one a synonym: "COPD" and "chronic
//! obstructive pulmonary disease") and, for the rare hard case, regular expressions. A
//! [`Tagger`] is built once from all the rules and then tags each message by scanning it once:
//! one Aho-Corasick automaton over every keyword, plus one `RegexSet` over every pattern. Pure:
//! no I/O, no clock; the rules come from the caller.
//!
//! How keywords match, and why:
//!
//! - **Folding.** Text and keywords are folded the same way: compatibility-decomposed (NFKD)
//!   with combining marks dropped ("Ménière" = "Meniere", "ﬁ" = "fi"), a few letters that do
//!   not decompose spelled out ("anæmia" = "anaemia", "ß" = "ss"), non-ASCII letters
//!   lowercased (ASCII case is left to the automaton, which ignores it), apostrophes dropped
//!   ("Crohn's" = "Crohns", so a possessive reads as the plural below), and every run of other
//!   non-alphanumeric characters (spaces, line breaks, hyphens, punctuation) made one space.
//!   So "chronic\n  obstructive pulmonary disease" matches the phrase, and "X-ray" = "x ray".
//! - **Whole words.** The folded text starts and ends with a space and each folded keyword is
//!   searched with a space on both sides, so a match always starts and ends on word boundaries
//!   ("CAT" never matches "category", "ECG" matches "(ECG):"). Because of that, the
//!   leftmost-longest search never lets a keyword that ends inside a word hide a shorter one
//!   that does not ("flu jab" does not hide "flu" in "flu jabbing"); a longer phrase does hide
//!   the keywords inside it, which is what makes a specific phrase win over its parts.
//! - **Plurals.** A keyword whose last word is two letters or more also matches with "s"
//!   added ("GPs", "inhalers"), and with "es" when the word is three letters or more
//!   ("rashes"). Cheaper than asking admins to list every plural; the false matches it could
//!   make ("flues") are not words anyone writes. Irregular plurals ("children") are synonyms.
//! - **Capitals.** A keyword written in capitals, with two to four letters and digits in all
//!   ("CAT", "MS", "IT", "A&E", "GP"), matches only text written in capitals, with a lowercase
//!   plural "s" allowed ("GPs", but not "GPS"): these abbreviations are also ordinary words or
//!   names ("my cat", "Ms Jones", "it", "Ed"). Write such a keyword in lowercase ("copd") to
//!   match it in any case. Measured on `fixtures/tags/labelled.json` (`tests/tags_precision.rs`).
//!
//! Patterns are matched case-insensitively against the subject and the body as written (not
//! folded), so they can use punctuation ("150/90"); they must supply their own `\b`, which is
//! taken as an ASCII word boundary (for speed; see `ascii_word_boundaries`).

use std::cell::RefCell;
use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};
use regex::{RegexBuilder, RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// One interest's matching rules, as admins manage them and the config seeds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterestRules {
    /// Short stable name ("copd"), used in addresses and settings.
    pub slug: String,
    /// What readers see ("COPD").
    pub name: String,
    /// Words and phrases, each one a synonym; matched as whole words, case and diacritics folded.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Regular expressions for what keywords cannot say; rare.
    #[serde(default)]
    pub patterns: Vec<String>,
}

/// Why a set of rules cannot be used; each names the interest and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error(
        "interest \"{interest}\": keyword {keyword:?} has no letters or digits to match; \
         remove it or write the word itself"
    )]
    EmptyKeyword { interest: String, keyword: String },
    #[error(
        "interest \"{interest}\": pattern {pattern:?} is not a valid regular expression: \
         {reason}; fix it, or use keywords instead"
    )]
    BadPattern {
        interest: String,
        pattern: String,
        reason: String,
    },
    #[error(
        "the interest rules are too large to compile together ({0}); use fewer or simpler \
         keywords and patterns"
    )]
    TooLarge(String),
}

/// Reads `[[interests]]` tables (slug, name, keywords, patterns; other keys such as
/// `description` are left to their owners) from TOML text, as in `fixtures/tags/interests.toml`.
pub fn parse_rules_toml(text: &str) -> Result<Vec<InterestRules>, String> {
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        interests: Vec<InterestRules>,
    }
    toml::from_str::<File>(text)
        .map(|file| file.interests)
        .map_err(|e| e.to_string())
}

/// Who a keyword of the automaton belongs to, and how its case is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    interest: u32,
    /// Written in capitals: the text must be too (see the module comment).
    capitals: bool,
    /// Bytes of plural suffix at the end of this spelling (0, 1 or 2), which may be lowercase.
    suffix: u8,
}

/// All the interest rules compiled for matching; built once, shared by every message.
#[derive(Debug, Clone)]
pub struct Tagger {
    /// Every folded keyword spelling, with its delimiting spaces.
    keywords: AhoCorasick,
    /// For each automaton pattern, the interests it stands for.
    owners: Vec<Vec<Owner>>,
    patterns: RegexSet,
    /// For each pattern of the set, its interest.
    pattern_interest: Vec<usize>,
}

thread_local! {
    /// The folded text of the message being tagged, reused so tagging does not allocate it
    /// for every message.
    static FOLDED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Above this many keyword spellings the automaton is an NFA rather than a DFA (memory).
const DFA_SPELLINGS: usize = 20_000;

/// A folded buffer larger than this is not kept between messages.
const KEEP_BUFFER_BYTES: usize = 1 << 20;

impl Tagger {
    /// Compiles `rules`; indices returned by [`Tagger::tag`] are positions in `rules`.
    pub fn new(rules: &[InterestRules]) -> Result<Tagger, TagError> {
        let mut spellings: Vec<String> = Vec::new();
        let mut owners: Vec<Vec<Owner>> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut set_patterns = Vec::new();
        let mut pattern_interest = Vec::new();

        for (interest, rule) in rules.iter().enumerate() {
            for keyword in &rule.keywords {
                let folded = fold_keyword(keyword);
                if folded.len() <= 2 {
                    return Err(TagError::EmptyKeyword {
                        interest: rule.slug.clone(),
                        keyword: keyword.clone(),
                    });
                }
                let capitals = written_in_capitals(keyword);
                for (spelling, suffix) in spellings_of(&folded, capitals) {
                    let slot = *index.entry(spelling.clone()).or_insert_with(|| {
                        spellings.push(spelling);
                        owners.push(Vec::new());
                        owners.len() - 1
                    });
                    let owner = Owner {
                        interest: interest as u32,
                        capitals,
                        suffix,
                    };
                    if !owners[slot].contains(&owner) {
                        owners[slot].push(owner);
                    }
                }
            }
            for pattern in &rule.patterns {
                // Compiled alone first, so that the error names the interest and the pattern.
                RegexBuilder::new(pattern)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| TagError::BadPattern {
                        interest: rule.slug.clone(),
                        pattern: pattern.clone(),
                        reason: e.to_string(),
                    })?;
                set_patterns.push(ascii_word_boundaries(pattern));
                pattern_interest.push(interest);
            }
        }

        let keywords = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            // Every spelling starts with a space, so a prefilter would stop at every word.
            .prefilter(false)
            // A full DFA (one table lookup a byte) measured a quarter faster than the default
            // NFA on the benchmark; it costs about 7 MB for 200 interests, so a rule set far
            // larger than any list needs falls back to the compact NFA.
            .kind(Some(if spellings.len() <= DFA_SPELLINGS {
                AhoCorasickKind::DFA
            } else {
                AhoCorasickKind::ContiguousNFA
            }))
            .build(&spellings)
            .map_err(|e| TagError::TooLarge(e.to_string()))?;
        let patterns = RegexSetBuilder::new(set_patterns)
            .case_insensitive(true)
            .build()
            .map_err(|e| TagError::TooLarge(e.to_string()))?;
        Ok(Tagger {
            keywords,
            owners,
            patterns,
            pattern_interest,
        })
    }

    /// The interests a message is about, from its subject and body: indices into the rules
    /// given to [`Tagger::new`], sorted, without repeats. A phrase does not run from the
    /// subject into the body.
    pub fn tag(&self, subject: &str, body: &str) -> Vec<usize> {
        self.tag_parts(&[subject, body])
    }

    /// The interests one text is about, as [`Tagger::tag`].
    pub fn tag_text(&self, text: &str) -> Vec<usize> {
        self.tag_parts(&[text])
    }

    fn tag_parts(&self, parts: &[&str]) -> Vec<usize> {
        let mut found = Vec::new();
        FOLDED.with(|cell| {
            let mut folded = cell.borrow_mut();
            folded.clear();
            folded.reserve(parts.iter().map(|p| p.len() + 2).sum());
            folded.push(b' ');
            for (n, part) in parts.iter().enumerate() {
                if n > 0 {
                    // No keyword holds a line break, so none matches across it.
                    folded.extend_from_slice(b"\n ");
                }
                fold_into(part, &mut folded);
            }
            self.scan(&folded, &mut found);
            if folded.capacity() > KEEP_BUFFER_BYTES {
                *folded = Vec::new();
            }
        });
        if !self.pattern_interest.is_empty() {
            for part in parts {
                // `is_match` first: most messages match no pattern, and it allocates nothing.
                if self.patterns.is_match(part) {
                    found.extend(
                        self.patterns
                            .matches(part)
                            .iter()
                            .map(|i| self.pattern_interest[i]),
                    );
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Pushes the interests of every keyword in `folded` (which starts and ends with a space).
    fn scan(&self, folded: &[u8], found: &mut Vec<usize>) {
        let mut at = 0;
        while let Some(m) = self.keywords.find(Input::new(folded).range(at..)) {
            // The next keyword may start at this one's closing space ("asthma copd").
            at = m.end() - 1;
            let word = &folded[m.start() + 1..m.end() - 1];
            for owner in &self.owners[m.pattern().as_usize()] {
                if !owner.capitals || in_capitals(word, owner.suffix) {
                    found.push(owner.interest as usize);
                }
            }
        }
    }
}

/// `pattern` with its `\b` and `\B` made ASCII word boundaries. A Unicode boundary makes the
/// regex engine's fast DFA give up on any text with a non-ASCII byte (most mail has one, in a
/// name or a signature) and fall back to a far slower engine; the ASCII boundary differs only
/// next to a non-ASCII letter, which patterns for English clinical text hardly ever meet.
fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        // Every escape is a backslash and one character, so `\\b` is never read as `\b`.
        match chars.next() {
            // `\b{start}` and its kin are left alone.
            Some(b @ ('b' | 'B')) if chars.peek() != Some(&'{') => {
                out.push_str("(?-u:\\");
                out.push(b);
                out.push(')');
            }
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Is `keyword` an abbreviation written in capitals (two to four letters and digits, at
/// least two letters, no lowercase letter)? See the module comment.
fn written_in_capitals(keyword: &str) -> bool {
    let letters = keyword.chars().filter(|c| c.is_alphabetic()).count();
    let alphanumerics = keyword.chars().filter(|c| c.is_alphanumeric()).count();
    letters >= 2
        && alphanumerics <= 4
        && keyword
            .chars()
            .filter(|c| c.is_alphabetic())
            .all(|c| c.is_ascii_uppercase())
}

/// Does the matched text stand in capitals, but for a lowercase plural suffix?
fn in_capitals(word: &[u8], suffix: u8) -> bool {
    let (stem, suffix) = word.split_at(word.len() - suffix as usize);
    !stem.iter().any(u8::is_ascii_lowercase) && suffix.iter().all(u8::is_ascii_lowercase)
}

/// A keyword folded like text, lowercase, with its delimiting spaces (" x ray ").
fn fold_keyword(keyword: &str) -> String {
    let mut folded = vec![b' '];
    fold_into(keyword, &mut folded);
    folded.make_ascii_lowercase();
    // Folding keeps valid UTF-8: it copies ASCII and pushes whole encoded characters.
    String::from_utf8(folded).unwrap_or_default()
}

/// The spellings searched for a folded keyword, each with the length of its plural suffix.
fn spellings_of(folded: &str, capitals: bool) -> Vec<(String, u8)> {
    let mut spellings = vec![(folded.to_owned(), 0)];
    let inner = &folded[1..folded.len() - 1];
    let last = inner.rsplit(' ').next().unwrap_or_default();
    let letters = last.chars().filter(|c| c.is_alphabetic()).count();
    if letters == last.chars().count() {
        if letters >= 2 {
            spellings.push((format!(" {inner}s "), 1));
        }
        if letters >= 3 && !capitals {
            spellings.push((format!(" {inner}es "), 2));
        }
    }
    spellings
}

/// What each ASCII byte becomes in folded text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ascii {
    Keep,
    Separator,
    Drop,
}

static ASCII: [Ascii; 128] = {
    let mut table = [Ascii::Separator; 128];
    let mut b = 0;
    while b < 128 {
        if (b as u8).is_ascii_alphanumeric() {
            table[b] = Ascii::Keep;
        }
        b += 1;
    }
    table[b'\'' as usize] = Ascii::Drop;
    table
};

/// Appends `text` folded (see the module comment) to `out`, which ends with a space, and
/// leaves `out` ending with a space.
fn fold_into(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphanumeric() {
            // Most of a mail is runs of ASCII letters, copied whole.
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            out.extend_from_slice(&bytes[start..i]);
        } else if b < 0x80 {
            match ASCII[b as usize] {
                Ascii::Keep => out.push(b),
                Ascii::Separator => separator(out),
                Ascii::Drop => {}
            }
            i += 1;
        } else {
            // `i` is on a character boundary: ASCII bytes and whole characters are consumed.
            let c = text[i..].chars().next().unwrap_or_default();
            i += c.len_utf8();
            fold_char(c, out);
        }
    }
    separator(out);
}

fn separator(out: &mut Vec<u8>) {
    if out.last() != Some(&b' ') {
        out.push(b' ');
    }
}

fn push_char(c: char, out: &mut Vec<u8>) {
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
}

/// Folds one non-ASCII character.
fn fold_char(c: char, out: &mut Vec<u8>) {
    let spelled = match c {
        // Apostrophes and invisible characters stand inside words.
        '\u{2018}'
        | '\u{2019}'
        | '\u{02BC}'
        | '\u{00AD}'
        | '\u{200B}'..='\u{200D}'
        | '\u{2060}'
        | '\u{FEFF}' => return,
        // Letters that do not decompose, spelled as British medical writing spells them.
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        'ß' | 'ẞ' => "ss",
        'ø' | 'Ø' => "o",
        'ł' | 'Ł' => "l",
        'đ' | 'Đ' => "d",
        'ı' => "i",
        _ => "",
    };
    if !spelled.is_empty() {
        out.extend_from_slice(spelled.as_bytes());
        return;
    }
    if is_combining_mark(c) {
        return;
    }
    if !c.is_alphanumeric() {
        separator(out);
        return;
    }
    decompose_compatible(c, |d| {
        if is_combining_mark(d) {
        } else if d.is_ascii_alphanumeric() {
            out.push(d as u8);
        } else if d.is_alphanumeric() && !d.is_ascii() {
            d.to_lowercase().for_each(|l| push_char(l, out));
        } else {
            separator(out);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<InterestRules> {
        let rule = |slug: &str, keywords: &[&str], patterns: &[&str]| InterestRules {
            slug: slug.into(),
            name: slug.into(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            patterns: patterns.iter().map(|k| k.to_string()).collect(),
        };
        vec![
            rule(
                "copd",
                &["COPD", "chronic obstructive pulmonary disease", "emphysema"],
                &[],
            ),
            rule("imaging", &["CAT", "CT scan", "x-ray", "MRI"], &[]),
            rule("cardio", &["ECG", "MI", "heart attack"], &[]),
            rule("vaccination", &["flu jab", "vaccine"], &[]),
            rule("infections", &["flu", "influenza"], &[]),
            rule("ent", &["Ménière's disease", "tinnitus"], &[]),
            rule("gp", &["GP", "A&E"], &[]),
            rule(
                "hypertension",
                &["hypertension"],
                &[r"\b1[4-9]\d/\d{2,3}\b"],
            ),
            rule("anaemia", &["anaemia", "anemia"], &[]),
            rule("dermatology", &["rash", "eczema"], &[]),
            rule("diabetes", &["copd diabetes clinic", "hba1c"], &[]),
        ]
    }

    fn tagged(tagger: &Tagger, subject: &str, body: &str) -> Vec<String> {
        let rules = rules();
        tagger
            .tag(subject, body)
            .into_iter()
            .map(|i| rules[i].slug.clone())
            .collect()
    }

    #[test]
    fn tags_by_whole_words_folded() {
        let tagger = Tagger::new(&rules()).unwrap();
        let cases: &[(&str, &str, &[&str])] = &[
            // Word boundaries.
            ("Categories", "This category of communication", &[]),
            ("", "Requested a CAT scan today", &["imaging"]),
            ("", "Rate on the (ECG): 110", &["cardio"]),
            ("", "ECGs all normal; the ECGmachine was not", &["cardio"]),
            ("", "Fluid restriction and influence of diet", &[]),
            ("", "the flu is back", &["infections"]),
            ("", "Flu jab clinic on Saturday", &["vaccination"]),
            ("", "Flu jabbing at the weekend", &["infections"]),
            ("", "Semiannual review in Miami", &[]),
            // Case and capitals.
            ("", "COPD review", &["copd"]),
            ("", "copd review", &[]),
            ("", "Checked her Cat, it was fine", &[]),
            ("", "Ms Jones had an mi? no: an MI", &["cardio"]),
            ("", "GPs and A&E are busy", &["gp"]),
            ("", "The GPS in my car", &[]),
            ("", "a&e is quiet", &[]),
            // Folding: diacritics, apostrophes, ligatures, phrases across lines.
            ("", "Possible MENIERE'S DISEASE", &["ent"]),
            ("", "possible Ménière’s disease", &["ent"]),
            ("", "Menieres disease", &["ent"]),
            ("", "Anæmia and anemia", &["anaemia"]),
            (
                "",
                "Known Chronic\n  Obstructive\tpulmonary-disease",
                &["copd"],
            ),
            ("", "chronic obstructive airways", &[]),
            // Plurals.
            (
                "",
                "two X-Rays and some rashes",
                &["imaging", "dermatology"],
            ),
            ("", "X-rayed", &[]),
            // Longest phrase wins; consecutive keywords both count.
            ("", "the COPD diabetes clinic", &["diabetes"]),
            ("", "asthma COPD emphysema ECG", &["copd", "cardio"]),
            // Subject and body both count, but a phrase does not run across them.
            ("Tinnitus", "and eczema", &["ent", "dermatology"]),
            ("chronic obstructive", "pulmonary disease", &[]),
            // Patterns see the text as written.
            ("", "BP 162/95 at home", &["hypertension"]),
            ("", "BP 120/80", &[]),
            ("", "", &[]),
        ];
        for (subject, body, want) in cases {
            assert_eq!(
                tagged(&tagger, subject, body),
                *want,
                "{subject:?} / {body:?}"
            );
        }
    }

    #[test]
    fn tag_text_is_tag_of_one_text() {
        let tagger = Tagger::new(&rules()).unwrap();
        assert_eq!(tagger.tag_text("HbA1c and COPD"), vec![0, 10]);
    }

    #[test]
    fn folds_text() {
        let cases = [
            ("Ménière's", " menieres "),
            ("  X-ray,\r\n\tCT... ", " x ray ct "),
            ("ﬁbrosis ÆSTHETIC", " fibrosis aestHETIC "),
            ("Straße", " strasse "),
            ("", " "),
            ("!!!", " "),
        ];
        for (text, want) in cases {
            let mut out = vec![b' '];
            fold_into(text, &mut out);
            let got = String::from_utf8(out).unwrap();
            assert_eq!(got.to_lowercase(), want.to_lowercase(), "{text:?}");
        }
    }

    #[test]
    fn patterns_get_ascii_word_boundaries() {
        for (pattern, want) in [
            (r"\bbp\b", r"(?-u:\b)bp(?-u:\b)"),
            (r"a\Bb", r"a(?-u:\B)b"),
            (r"\\b\d", r"\\b\d"),
            (r"\b{start}x", r"\b{start}x"),
            (r"x\", r"x\"),
        ] {
            assert_eq!(ascii_word_boundaries(pattern), want, "{pattern}");
        }
        // So a class never holds a boundary to rewrite (invalid on purpose).
        #[allow(clippy::invalid_regex)]
        let in_class = regex::Regex::new(r"[\b]");
        assert!(in_class.is_err());
    }

    #[test]
    fn capitals_rule() {
        for (keyword, capitals) in [
            ("CAT", true),
            ("COPD", true),
            ("A&E", true),
            ("GP", true),
            ("copd", false),
            ("Cat", false),
            ("EMISX", false),
            ("B12", false),
            ("HIV1", true),
        ] {
            assert_eq!(written_in_capitals(keyword), capitals, "{keyword}");
        }
    }

    #[test]
    fn bad_rules_are_named() {
        let mut rules = rules();
        rules[3].patterns.push("(unclosed".into());
        match Tagger::new(&rules) {
            Err(TagError::BadPattern {
                interest, pattern, ..
            }) => {
                assert_eq!(
                    (interest.as_str(), pattern.as_str()),
                    ("vaccination", "(unclosed")
                );
            }
            other => panic!("expected a bad pattern, got {other:?}"),
        }
        let mut rules = self::rules();
        rules[1].keywords.push(" -- ".into());
        let err = Tagger::new(&rules).unwrap_err();
        assert!(
            matches!(err, TagError::EmptyKeyword { ref interest, .. } if interest == "imaging")
        );
        assert!(err.to_string().contains("\"imaging\""), "{err}");
    }

    #[test]
    fn no_rules_tag_nothing() {
        let tagger = Tagger::new(&[]).unwrap();
        assert!(tagger.tag("COPD", "asthma").is_empty());
    }

    #[test]
    fn parses_rules_toml() {
        let rules = parse_rules_toml(
            "[[interests]]\nslug = \"copd\"\nname = \"COPD\"\ndescription = \"lungs\"\n\
             keywords = [\"COPD\"]\n",
        )
        .unwrap();
        assert_eq!(rules[0].keywords, ["COPD"]);
        assert!(rules[0].patterns.is_empty());
        assert!(parse_rules_toml("[[interests]]\nslug = 1").is_err());
    }
}
