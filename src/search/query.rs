//! The search language: what a reader can type, parsed into an FTS5 expression of its words
//! and phrases (each one quoted) and the filters an engine applies. Pure: no store is asked;
//! whether a named list or interest exists is for the engine to say.
//!
//! # Query syntax (what a reader can type)
//!
//! - `asthma inhaler`: messages with every word (in the subject, the author or the body).
//! - `"peak flow"`: the phrase. An unclosed quote runs to the end of the query.
//! - `-spacer`, `-"peak flow"`: leave out messages with that word or phrase.
//! - `from:jane`, `from:"Jane Doe"`: a word, or the start of a word, of the author (the name or
//!   the address as indexed, diacritics and case folded: `from:zoe` finds "Zoë"; `from:nhs.net`
//!   finds addresses at that domain). A value with an `@` (`from:jane@example.org`) is an address
//!   and must match the sender's address exactly (ASCII case ignored).
//! - `list:snug`: messages of that list (name case ignored). An unknown list is said so.
//! - `after:2024-03-15`, `after:2024-03`, `after:2024`: sent on or after the first second (UTC)
//!   of that day, month or year. `before:` the same, strictly before it. So `after:2024-03`
//!   starts on 1 March 2024, `before:2024` ends on 31 December 2023, and a whole year is
//!   `after:2024 before:2025`. `/` may stand for `-` (`2024/03/15`). Messages without a date
//!   never match a date filter.
//! - `subject:word`, `subject:"a phrase"`: the word or phrase in the subject only.
//! - `interest:NAME` (its slug or name, case-insensitive): messages in threads carrying the
//!   interest (the rules' tags and moderators' hand-set ones); `-interest:` leaves them out;
//!   an unknown interest is refused with a message rather than matching nothing.
//! - Filter names are case-insensitive (`From:`). Repeated `from:` or `list:` values are
//!   alternatives (`from:jane from:tom` is mail from either); different filters all apply;
//!   repeated `after:`/`before:` keep the narrowest. `-from:`, `-list:` and `-subject:` exclude;
//!   `-after:`/`-before:` are refused (write the other one).
//! - Any other `key:value` (`re:asthma`, `10:30`, `http://…`) is plain text. Every word and phrase
//!   is quoted before it reaches FTS5, so its operators (`AND OR NOT NEAR * ^ : ( ) { }`) typed by
//!   a reader are searched for as text instead of failing as syntax.
//! - A query of filters only (`from:jane list:snug`) lists the matching messages newest first;
//!   so does a query of filters and exclusions. Exclusions alone are refused (they would list
//!   nearly the whole archive).

/// Why a query cannot be run, said so a reader can fix it. (Messages carry no final full stop:
/// the web adds one.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query is empty: give at least one word to look for")]
    Empty,
    #[error("the query only excludes words: give at least one word to look for as well")]
    OnlyExclusions,
    #[error("{filter}: needs a value straight after the colon, with no space: {example}")]
    MissingValue {
        filter: &'static str,
        example: &'static str,
    },
    #[error("{filter}:{value} is not understood: {filter}: takes {expected}")]
    BadValue {
        filter: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("there is no interest called \"{0}\": check the name on the interests page")]
    NoSuchInterest(String),
    #[error("-{0}: cannot be excluded: use {1}: for the other side of a date")]
    CannotExclude(&'static str, &'static str),
    #[error("after:{after} is not earlier than before:{before}: no message can match both")]
    EmptyDateRange { after: String, before: String },
    #[error("there is no list called \"{0}\": check the name on the lists page")]
    NoSuchList(String),
    #[error("the query has more than {MAX_TERMS} words and filters: shorten it")]
    TooLong,
    #[error("the query has more than {MAX_PHRASES} phrases in quotes: keep the few that matter")]
    TooManyPhrases,
    #[error(
        "this search took too long to answer: use fewer or rarer words, or narrow it with \
         list:, from:, interest: or after:"
    )]
    TooCostly,
}

/// More words and filters than this is no search anyone types; refusing it bounds the work.
pub const MAX_TERMS: usize = 64;

/// Phrases (quoted, of more than one word) cost the most to match: a few are enough.
pub const MAX_PHRASES: usize = 8;

/// A query is read up to this many characters (the search box, the API and the command line
/// alike); the rest is cut.
pub const MAX_QUERY_CHARS: usize = 500;

/// `query` cut to [`MAX_QUERY_CHARS`].
pub fn cut(query: &str) -> String {
    query.chars().take(MAX_QUERY_CHARS).collect()
}

/// The filters of a query. Every field narrows the results; an empty one does nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// `from:` values: a message matches if any one does.
    pub from: Vec<Author>,
    /// `-from:` values: a message matching any one is left out.
    pub not_from: Vec<Author>,
    /// `list:` names (any one).
    pub lists: Vec<String>,
    /// `-list:` names.
    pub not_lists: Vec<String>,
    /// `interest:` slugs or names (any one).
    pub interests: Vec<String>,
    /// `-interest:` slugs or names.
    pub not_interests: Vec<String>,
    /// `after:`: date >= this (unix seconds, UTC).
    pub after: Option<i64>,
    /// `before:`: date < this (unix seconds, UTC).
    pub before: Option<i64>,
}

impl Filters {
    fn is_empty(&self) -> bool {
        *self == Filters::default()
    }
}

/// A `from:` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    /// Has an `@`: the sender's address, exactly (ASCII case ignored).
    Address(String),
    /// An FTS5 prefix phrase over the author column (`"jane doe"*`).
    Words(String),
}

/// A reader's query, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedQuery {
    /// The FTS5 expression messages must match (words, phrases, `subject:` words, less the
    /// exclusions); `None` when the query has no word to look for.
    pub text: Option<String>,
    /// With no `text`: the FTS5 expression of what to leave out (`-word`s), if any.
    pub exclude: Option<String>,
    /// The same two as PostgreSQL `tsquery` text (see [`tsquery`]).
    pub tsquery: Option<String>,
    pub tsquery_exclude: Option<String>,
    pub filters: Filters,
    /// See [`SearchResults::terms`](crate::store::SearchResults::terms).
    pub terms: Vec<String>,
}

/// One piece of a query as typed.
enum Piece<'a> {
    Text {
        negative: bool,
        term: &'a str,
    },
    Filter {
        negative: bool,
        key: Key,
        value: &'a str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    From,
    List,
    Before,
    After,
    Subject,
    Interest,
}

impl Key {
    fn parse(name: &str) -> Option<Key> {
        Some(match name.to_ascii_lowercase().as_str() {
            "from" => Key::From,
            "list" => Key::List,
            "before" => Key::Before,
            "after" => Key::After,
            "subject" => Key::Subject,
            "interest" => Key::Interest,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Key::From => "from",
            Key::List => "list",
            Key::Before => "before",
            Key::After => "after",
            Key::Subject => "subject",
            Key::Interest => "interest",
        }
    }

    fn example(self) -> &'static str {
        match self {
            Key::From => "from:jane, from:\"Jane Doe\" or from:jane@example.org",
            Key::List => "list:snug",
            Key::Before => "before:2024-03-15, before:2024-03 or before:2024",
            Key::After => "after:2024-03-15, after:2024-03 or after:2024",
            Key::Subject => "subject:asthma or subject:\"peak flow\"",
            Key::Interest => "interest:asthma",
        }
    }
}

/// Splits a query into words, phrases and filters. Never fails on text; only a known filter
/// with nothing after its colon is an error.
fn pieces(query: &str) -> Result<Vec<Piece<'_>>, QueryError> {
    let mut out = Vec::new();
    let mut rest = query.trim_start();
    while !rest.is_empty() {
        if out.len() >= MAX_TERMS {
            return Err(QueryError::TooLong);
        }
        let mut negative = false;
        if let Some(r) = rest.strip_prefix('-')
            && r.starts_with(|c: char| !c.is_whitespace())
        {
            negative = true;
            rest = r;
        }
        let after;
        if let Some(r) = rest.strip_prefix('"') {
            let (term, a) = until_quote(r);
            out.push(Piece::Text { negative, term });
            after = a;
        } else if let Some((key, r)) = filter_key(rest) {
            let (value, a) = match r.strip_prefix('"') {
                Some(r) => until_quote(r),
                None => until_space(r),
            };
            if value.trim().is_empty() {
                return Err(QueryError::MissingValue {
                    filter: key.name(),
                    example: key.example(),
                });
            }
            out.push(Piece::Filter {
                negative,
                key,
                value: value.trim(),
            });
            after = a;
        } else {
            let (term, a) = until_space(rest);
            out.push(Piece::Text { negative, term });
            after = a;
        }
        rest = after.trim_start();
    }
    Ok(out)
}

/// `from:…` and the like: a known filter name, a colon, and what follows.
fn filter_key(s: &str) -> Option<(Key, &str)> {
    let end = s.find(|c: char| !c.is_ascii_alphabetic())?;
    let rest = s[end..].strip_prefix(':')?;
    Some((Key::parse(&s[..end])?, rest))
}

/// Up to the closing quote (or the end), and what follows it.
fn until_quote(s: &str) -> (&str, &str) {
    match s.find('"') {
        Some(end) => (&s[..end], &s[end + 1..]),
        None => (s, ""),
    }
}

fn until_space(s: &str) -> (&str, &str) {
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// Text FTS5 would index: a term without any is no term (a lone `-`, `*`, `:::`).
fn indexable(term: &str) -> bool {
    term.chars().any(char::is_alphanumeric)
}

/// Where in a message a term is looked for: anywhere, or in one field. PostgreSQL's index
/// weighs the subject A, the author B and the body C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Anywhere,
    Subject,
    Author,
}

/// A word or phrase as PostgreSQL `tsquery` text: its words (only letters and digits, each
/// quoted, so nothing in it is an operator) one after the other, limited to `field`, the last
/// one a prefix when `prefix`. None when it has no word.
pub fn tsquery(term: &str, field: Field, prefix: bool) -> Option<String> {
    let weight = match field {
        Field::Anywhere => "",
        Field::Subject => "A",
        Field::Author => "B",
    };
    let words: Vec<String> = term
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let last = words.len().checked_sub(1)?;
    let lexemes: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let star = if prefix && i == last { "*" } else { "" };
            match (star, weight) {
                ("", "") => format!("'{w}'"),
                _ => format!("'{w}':{star}{weight}"),
            }
        })
        .collect();
    Some(match lexemes.len() {
        1 => lexemes.concat(),
        _ => format!("({})", lexemes.join(" <-> ")),
    })
}

/// A term as an FTS5 string: quoted, so nothing in it is an operator.
fn quote(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// A reader's value in an error message: bounded, so a pasted page is not echoed back.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().count() > MAX {
        format!("{}…", value.chars().take(MAX).collect::<String>())
    } else {
        value.to_owned()
    }
}

/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (or with `/`): the first second of that period, UTC.
fn period_start(value: &str) -> Option<i64> {
    let parts: Vec<&str> = value.split(['-', '/']).collect();
    let number = |s: &str, digits: std::ops::RangeInclusive<usize>| {
        (digits.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let year = number(parts.first()?, 4..=4)? as i32;
    let month = match parts.get(1) {
        Some(m) => number(m, 1..=2)?,
        None => 1,
    };
    let day = match parts.get(2) {
        Some(d) => number(d, 1..=2)?,
        None => 1,
    };
    if parts.len() > 3 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day)?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// Parses a reader's query (see the module documentation for the syntax).
pub fn parse_query(query: &str) -> Result<ParsedQuery, QueryError> {
    // Control characters separate words (FTS5 would read a NUL as the end of the expression).
    let query: String = query
        .chars()
        .take(MAX_QUERY_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut phrases = 0;
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    // The same terms for PostgreSQL.
    let mut ts_include: Vec<String> = Vec::new();
    let mut ts_exclude: Vec<String> = Vec::new();
    let mut filters = Filters::default();
    let mut terms: Vec<String> = Vec::new();
    let mut dates: (Option<&str>, Option<&str>) = (None, None);
    let mut add_terms = |text: &str| {
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let word = word.to_lowercase();
            if !terms.contains(&word) {
                terms.push(word);
            }
        }
    };
    for piece in pieces(&query)? {
        match piece {
            Piece::Text { negative, term } => {
                if !indexable(term) {
                    continue;
                }
                if term
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .count()
                    > 1
                {
                    phrases += 1;
                    if phrases > MAX_PHRASES {
                        return Err(QueryError::TooManyPhrases);
                    }
                }
                // The same word twice finds nothing more and costs twice.
                let into = if negative { &mut exclude } else { &mut include };
                let term_sql = quote(term);
                if into.contains(&term_sql) {
                    continue;
                }
                into.push(term_sql);
                let ts = if negative {
                    &mut ts_exclude
                } else {
                    &mut ts_include
                };
                ts.extend(tsquery(term, Field::Anywhere, false));
                if !negative {
                    add_terms(term);
                }
            }
            Piece::Filter {
                negative,
                key,
                value,
            } => {
                let bad = || QueryError::BadValue {
                    filter: key.name(),
                    value: shown(value),
                    expected: match key {
                        Key::Before | Key::After => "a date written 2024-03-15, 2024-03 or 2024",
                        Key::From => "a name, a word of a name, or an address",
                        _ => "a word, or a phrase in quotes",
                    },
                };
                match key {
                    Key::Interest => {
                        let into = if negative {
                            &mut filters.not_interests
                        } else {
                            &mut filters.interests
                        };
                        if !into.iter().any(|l| l.eq_ignore_ascii_case(value)) {
                            into.push(value.to_owned());
                        }
                    }
                    Key::Subject => {
                        if !indexable(value) {
                            return Err(bad());
                        }
                        let term = format!("subject : {}", quote(value));
                        let ts = tsquery(value, Field::Subject, false);
                        if negative {
                            exclude.push(term);
                            ts_exclude.extend(ts);
                        } else {
                            include.push(term);
                            ts_include.extend(ts);
                            add_terms(value);
                        }
                    }
                    Key::From => {
                        let value = value.trim_start_matches('<').trim_end_matches('>');
                        let author = match value.find('@') {
                            Some(at) if at > 0 => Author::Address(value.to_owned()),
                            _ if indexable(value) => Author::Words(format!("{}*", quote(value))),
                            _ => return Err(bad()),
                        };
                        let into = if negative {
                            &mut filters.not_from
                        } else {
                            &mut filters.from
                        };
                        if !into.contains(&author) {
                            into.push(author);
                        }
                    }
                    Key::List => {
                        let into = if negative {
                            &mut filters.not_lists
                        } else {
                            &mut filters.lists
                        };
                        if !into.iter().any(|l| l.eq_ignore_ascii_case(value)) {
                            into.push(value.to_owned());
                        }
                    }
                    Key::Before | Key::After => {
                        if negative {
                            let other = if key == Key::Before {
                                "after"
                            } else {
                                "before"
                            };
                            return Err(QueryError::CannotExclude(key.name(), other));
                        }
                        let start = period_start(value).ok_or_else(bad)?;
                        // Several of the same: the narrowest range holds.
                        if key == Key::Before {
                            if filters.before.is_none_or(|b| start < b) {
                                filters.before = Some(start);
                                dates.1 = Some(value);
                            }
                        } else if filters.after.is_none_or(|a| start > a) {
                            filters.after = Some(start);
                            dates.0 = Some(value);
                        }
                    }
                }
            }
        }
    }
    if let (Some(after), Some(before)) = (filters.after, filters.before)
        && after >= before
    {
        return Err(QueryError::EmptyDateRange {
            after: shown(dates.0.unwrap_or_default()),
            before: shown(dates.1.unwrap_or_default()),
        });
    }
    if include.is_empty() && filters.is_empty() {
        return Err(if exclude.is_empty() {
            QueryError::Empty
        } else {
            QueryError::OnlyExclusions
        });
    }
    // One NOT over an OR of the exclusions: FTS5 limits how deep an expression nests.
    let (text, exclude) = match (include.is_empty(), exclude.is_empty()) {
        (true, true) => (None, None),
        (true, false) => (None, Some(exclude.join(" OR "))),
        (false, true) => (Some(include.join(" AND ")), None),
        (false, false) => (
            Some(format!(
                "({}) NOT ({})",
                include.join(" AND "),
                exclude.join(" OR ")
            )),
            None,
        ),
    };
    let (tsquery, tsquery_exclude) = match (ts_include.is_empty(), ts_exclude.is_empty()) {
        (true, true) => (None, None),
        (true, false) => (None, Some(ts_exclude.join(" | "))),
        (false, true) => (Some(ts_include.join(" & ")), None),
        (false, false) => (
            Some(format!(
                "({}) & !({})",
                ts_include.join(" & "),
                ts_exclude.join(" | ")
            )),
            None,
        ),
    };
    Ok(ParsedQuery {
        text,
        exclude,
        tsquery,
        tsquery_exclude,
        filters,
        terms,
    })
}

/// Turns a reader's query into the FTS5 expression of its text part (words, phrases,
/// `subject:` words, exclusions). Every word and phrase is quoted, so FTS5 operators typed by a
/// reader are searched for as text instead of failing as syntax. The filters are checked but
/// not part of the expression: a query of filters only has none ([`QueryError::Empty`], or
/// [`QueryError::OnlyExclusions`]); [`parse_query`] gives the whole query.
pub fn fts_query(query: &str) -> Result<String, QueryError> {
    let parsed = parse_query(query)?;
    match (parsed.text, parsed.exclude) {
        (Some(text), _) => Ok(text),
        (None, Some(_)) => Err(QueryError::OnlyExclusions),
        (None, None) => Err(QueryError::Empty),
    }
}

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOrder {
    /// BM25, with a boost for recent mail: readers want last week's answer before a
    /// ten-year-old one of the same relevance. A query of filters only has no relevance: it is
    /// ordered by date.
    Relevance,
    /// Newest first.
    Date,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds at midnight UTC.
    fn day(y: i32, m: u32, d: u32) -> i64 {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp()
    }

    fn words(w: &str) -> Author {
        Author::Words(w.to_owned())
    }

    #[test]
    fn builds_safe_tsqueries_for_postgres() {
        let tsq = |q: &str| {
            let p = parse_query(q).unwrap();
            (p.tsquery, p.tsquery_exclude)
        };
        assert_eq!(
            tsq("asthma inhaler"),
            (Some("'asthma' & 'inhaler'".into()), None)
        );
        assert_eq!(
            tsq("\"peak flow\" -steroid -\"oral route\""),
            (
                Some("(('peak' <-> 'flow')) & !('steroid' | ('oral' <-> 'route'))".into()),
                None
            )
        );
        assert_eq!(tsq("subject:Clinic"), (Some("'clinic':A".into()), None));
        assert_eq!(tsq("-spam list:main"), (None, Some("'spam'".into())));
        // Operators and quotes typed by a reader are only separators.
        assert_eq!(
            tsq("a':*|b&!c <-> d"),
            (Some("('a' <-> 'b' <-> 'c') & 'd'".into()), None)
        );
        assert_eq!(
            tsquery("Jane D", Field::Author, true).unwrap(),
            "('jane':B <-> 'd':*B)"
        );
        assert_eq!(tsquery("--", Field::Anywhere, false), None);
    }

    #[test]
    fn builds_safe_fts_expressions() {
        let cases = [
            ("asthma", Ok("\"asthma\"")),
            ("  asthma   inhaler ", Ok("\"asthma\" AND \"inhaler\"")),
            (
                "\"peak flow\" -child",
                Ok("(\"peak flow\") NOT (\"child\")"),
            ),
            ("a -b -\"c d\"", Ok("(\"a\") NOT (\"b\" OR \"c d\")")),
            ("NEAR( OR *", Ok("\"NEAR(\" AND \"OR\"")),
            ("AND OR NOT", Ok("\"AND\" AND \"OR\" AND \"NOT\"")),
            ("NEAR(a b, 3)", Ok("\"NEAR(a\" AND \"b,\" AND \"3)\"")),
            (
                "a* ^b {subject}:x col:y",
                Ok("\"a*\" AND \"^b\" AND \"{subject}:x\" AND \"col:y\""),
            ),
            ("say \"hi", Ok("\"say\" AND \"hi\"")),
            ("quote\"inside", Ok("\"quote\"\"inside\"")),
            ("it's", Ok("\"it's\"")),
            // Unknown keys and times are text, not errors.
            ("re: asthma", Ok("\"re:\" AND \"asthma\"")),
            ("Re:asthma", Ok("\"Re:asthma\"")),
            ("clinic 10:30", Ok("\"clinic\" AND \"10:30\"")),
            (
                "http://example.org/a?b=c",
                Ok("\"http://example.org/a?b=c\""),
            ),
            ("interest rates", Ok("\"interest\" AND \"rates\"")),
            ("Zoë 哮喘 ß", Ok("\"Zoë\" AND \"哮喘\" AND \"ß\"")),
            (
                "'; DROP TABLE messages; --",
                Ok("\"DROP\" AND \"TABLE\" AND \"messages;\""),
            ),
            ("x --verbose", Ok("(\"x\") NOT (\"-verbose\")")),
            (
                "asthma\0copd\u{7}x",
                Ok("\"asthma\" AND \"copd\" AND \"x\""),
            ),
            ("subject:asthma", Ok("subject : \"asthma\"")),
            (
                "Subject:\"peak flow\" -subject:re",
                Ok("(subject : \"peak flow\") NOT (subject : \"re\")"),
            ),
            (
                "subject:\"a\"\"b\" x",
                Ok("subject : \"a\" AND \"b\" AND \"x\""),
            ),
            ("", Err(QueryError::Empty)),
            ("  - ", Err(QueryError::Empty)),
            ("-", Err(QueryError::Empty)),
            (":::", Err(QueryError::Empty)),
            ("\"", Err(QueryError::Empty)),
            ("\"\" \"", Err(QueryError::Empty)),
            ("* ^ ( ) {} :", Err(QueryError::Empty)),
            ("🙂", Err(QueryError::Empty)),
            ("-spam", Err(QueryError::OnlyExclusions)),
            ("-spam -\"junk mail\"", Err(QueryError::OnlyExclusions)),
            // A query of filters has no text expression: `parse_query` gives the rest.
            ("from:jane", Err(QueryError::Empty)),
            ("-spam list:snug", Err(QueryError::OnlyExclusions)),
        ];
        for (query, want) in cases {
            assert_eq!(fts_query(query), want.map(str::to_owned), "query {query:?}");
        }
    }

    #[test]
    fn parses_filters() {
        let none = Filters::default;
        let cases: Vec<(&str, Option<&str>, Filters)> = vec![
            (
                "from:jane",
                None,
                Filters {
                    from: vec![words("\"jane\"*")],
                    ..none()
                },
            ),
            (
                "From:\"Jane Doe\" asthma",
                Some("\"asthma\""),
                Filters {
                    from: vec![words("\"Jane Doe\"*")],
                    ..none()
                },
            ),
            (
                "from:Jane.Doe@NHS.net",
                None,
                Filters {
                    from: vec![Author::Address("Jane.Doe@NHS.net".into())],
                    ..none()
                },
            ),
            (
                "from:<jane@x.org> from:@nhs.net",
                None,
                Filters {
                    from: vec![Author::Address("jane@x.org".into()), words("\"@nhs.net\"*")],
                    ..none()
                },
            ),
            (
                "from:jane from:tom from:jane -from:spam@x.org",
                None,
                Filters {
                    from: vec![words("\"jane\"*"), words("\"tom\"*")],
                    not_from: vec![Author::Address("spam@x.org".into())],
                    ..none()
                },
            ),
            (
                "from:\"O\"Brien\"",
                Some("\"Brien\"\"\""),
                Filters {
                    from: vec![words("\"O\"*")],
                    ..none()
                },
            ),
            (
                "list:snug LIST:Snug -list:test",
                None,
                Filters {
                    lists: vec!["snug".into()],
                    not_lists: vec!["test".into()],
                    ..none()
                },
            ),
            (
                "list:\"gp managers\" x",
                Some("\"x\""),
                Filters {
                    lists: vec!["gp managers".into()],
                    ..none()
                },
            ),
            (
                "after:2024-03",
                None,
                Filters {
                    after: Some(day(2024, 3, 1)),
                    ..none()
                },
            ),
            (
                "before:2024",
                None,
                Filters {
                    before: Some(day(2024, 1, 1)),
                    ..none()
                },
            ),
            (
                "after:2024-03-05 before:2024/04 copd",
                Some("\"copd\""),
                Filters {
                    after: Some(day(2024, 3, 5)),
                    before: Some(day(2024, 4, 1)),
                    ..none()
                },
            ),
            (
                "after:2024-2-9 before:2024-02-29",
                None,
                Filters {
                    after: Some(day(2024, 2, 9)),
                    before: Some(day(2024, 2, 29)),
                    ..none()
                },
            ),
            (
                "after:2023 after:2024-06 before:2025 before:2024-12-25",
                None,
                Filters {
                    after: Some(day(2024, 6, 1)),
                    before: Some(day(2024, 12, 25)),
                    ..none()
                },
            ),
            (
                "from:jane list:snug after:2020 subject:asthma -\"peak flow\"",
                Some("(subject : \"asthma\") NOT (\"peak flow\")"),
                Filters {
                    from: vec![words("\"jane\"*")],
                    lists: vec!["snug".into()],
                    after: Some(day(2020, 1, 1)),
                    ..none()
                },
            ),
        ];
        for (query, text, filters) in cases {
            let parsed = parse_query(query).unwrap_or_else(|e| panic!("{query:?}: {e}"));
            assert_eq!(parsed.text.as_deref(), text, "query {query:?}");
            assert_eq!(parsed.filters, filters, "query {query:?}");
        }
        // Filters and exclusions without a word: the exclusions are kept apart.
        let parsed = parse_query("-spam -\"junk mail\" list:snug").unwrap();
        assert_eq!(parsed.text, None);
        assert_eq!(parsed.exclude.as_deref(), Some("\"spam\" OR \"junk mail\""));
        // Highlight terms: words and subject words, not exclusions or filter values.
        let parsed =
            parse_query("Asthma \"peak flow\" subject:COPD -spacer from:jane asthma").unwrap();
        assert_eq!(parsed.terms, ["asthma", "peak", "flow", "copd"]);
    }

    #[test]
    fn refuses_malformed_filters_saying_what_to_write() {
        let long = "a ".repeat(5000);
        let cases: Vec<(&str, &str)> = vec![
            (
                "before:yesterday",
                "before:yesterday is not understood: before: takes a date written 2024-03-15",
            ),
            (
                "after:2024-13-45",
                "after:2024-13-45 is not understood: after: takes a date",
            ),
            ("after:2024-02-30", "after:2024-02-30 is not understood"),
            ("after:24", "after:24 is not understood"),
            ("after:20240305", "after:20240305 is not understood"),
            (
                "after:2024-03-05-01",
                "after:2024-03-05-01 is not understood",
            ),
            ("before:-2024", "before:-2024 is not understood"),
            ("before:2024-003", "before:2024-003 is not understood"),
            ("before:２０２４", "before:２０２４ is not understood"),
            (
                "from:",
                "from: needs a value straight after the colon, with no space: from:jane",
            ),
            ("asthma from: jane", "from: needs a value"),
            ("list:\"\"", "list: needs a value"),
            ("subject:", "subject: needs a value"),
            ("before: 2024", "before: needs a value"),
            ("from:***", "from:*** is not understood: from: takes a name"),
            (
                "subject:\"* ^\"",
                "subject:* ^ is not understood: subject: takes a word",
            ),
            ("interest:", "interest: needs a value"),
            ("-before:2024", "-before: cannot be excluded: use after:"),
            ("-after:2024", "-after: cannot be excluded: use before:"),
            (
                "after:2024 before:2024",
                "after:2024 is not earlier than before:2024",
            ),
            (
                "after:2024-06 before:2024-03-01",
                "after:2024-06 is not earlier than before:2024-03-01",
            ),
            (&long, "more than 64 words"),
        ];
        for (query, want) in cases {
            let err = parse_query(query).expect_err(query).to_string();
            assert!(err.contains(want), "query {query:?}: {err}");
            assert!(!err.ends_with('.'), "the web adds the full stop: {err}");
        }
        // A reader's pasted page is not echoed back whole.
        let err = parse_query(&format!("before:{}", "x".repeat(10_000))).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
        // Exactly the limit is fine; one long word is fine.
        assert!(parse_query(&"a ".repeat(MAX_TERMS)).is_ok());
        assert!(parse_query(&"a".repeat(100_000)).is_ok());
    }
}
