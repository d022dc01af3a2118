//! Full-text search over the FTS5 index, ranked by BM25 with the subject weighted above the body
//! and a boost for recent mail.
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
//! - `interest:NAME`: recognised, but interests do not exist yet: the query is refused with a
//!   message saying so rather than the filter being silently dropped.
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
//!
//! The SQL is built from fixed fragments only; every value a reader typed is a bound parameter.

use rusqlite::types::Value;
use serde::Serialize;

use super::StoreError;
use super::export::{display_author, rfc3339};

/// One matching message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub message_id: String,
    pub thread: i64,
    pub subject: Option<String>,
    pub from: String,
    pub date: Option<String>,
    /// The name of the list the message came through.
    pub list: String,
    /// BM25 score (lower is better, as SQLite reports it); 0 for a query of filters only.
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResults {
    pub query: String,
    /// How many messages match in all (not only on this page).
    pub total: u64,
    /// The words searched for as text, lowercased, for highlighting: not the excluded ones, not
    /// the filter values (except `subject:` words).
    pub terms: Vec<String>,
    pub results: Vec<SearchHit>,
}

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
    #[error(
        "interest:{0} cannot be used yet: interests are not available in this archive yet; \
         search for the word itself instead"
    )]
    InterestsUnavailable(String),
    #[error("-{0}: cannot be excluded: use {1}: for the other side of a date")]
    CannotExclude(&'static str, &'static str),
    #[error("after:{after} is not earlier than before:{before}: no message can match both")]
    EmptyDateRange { after: String, before: String },
    #[error("there is no list called \"{0}\": check the name on the lists page")]
    NoSuchList(String),
    #[error("the query has more than {MAX_TERMS} words and filters: shorten it")]
    TooLong,
}

/// More words and filters than this is no search anyone types; refusing it bounds the work.
pub const MAX_TERMS: usize = 64;

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
    pub filters: Filters,
    /// See [`SearchResults::terms`].
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
            if key == Key::Interest {
                return Err(QueryError::InterestsUnavailable(shown(value.trim())));
            }
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

/// A term as an FTS5 string: quoted, so nothing in it is an operator.
fn quote(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// A reader's value in an error message: bounded, so a pasted page is not echoed back.
fn shown(value: &str) -> String {
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
    let mut include = Vec::new();
    let mut exclude = Vec::new();
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
    for piece in pieces(query)? {
        match piece {
            Piece::Text { negative, term } => {
                if !indexable(term) {
                    continue;
                }
                if negative {
                    exclude.push(quote(term));
                } else {
                    include.push(quote(term));
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
                    Key::Interest => return Err(QueryError::InterestsUnavailable(shown(value))),
                    Key::Subject => {
                        if !indexable(value) {
                            return Err(bad());
                        }
                        let term = format!("subject : {}", quote(value));
                        if negative {
                            exclude.push(term);
                        } else {
                            include.push(term);
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
    Ok(ParsedQuery {
        text,
        exclude,
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

/// The `WHERE` conditions for a parsed query's filters, from fixed SQL fragments, with the
/// reader's values as parameters (in order).
fn filter_sql(parsed: &ParsedQuery, sql: &mut String, args: &mut Vec<Value>) {
    let f = &parsed.filters;
    let authors = |list: &[Author], sql: &mut String, args: &mut Vec<Value>| {
        let mut alternatives = Vec::new();
        let mut words = Vec::new();
        for author in list {
            match author {
                Author::Address(a) => {
                    alternatives.push("m.from_addr = ? COLLATE NOCASE");
                    args.push(Value::Text(a.clone()));
                }
                Author::Words(w) => words.push(w.as_str()),
            }
        }
        if !words.is_empty() {
            alternatives.push("m.id IN (SELECT rowid FROM search WHERE search MATCH ?)");
            args.push(Value::Text(format!("author : ({})", words.join(" OR "))));
        }
        sql.push_str(&alternatives.join(" OR "));
    };
    if !f.from.is_empty() {
        sql.push_str(" AND (");
        authors(&f.from, sql, args);
        sql.push(')');
    }
    if !f.not_from.is_empty() {
        // coalesce: a message without an address is not from the excluded one.
        sql.push_str(" AND NOT coalesce(");
        authors(&f.not_from, sql, args);
        sql.push_str(", 0)");
    }
    let lists = |names: &[String], sql: &mut String, args: &mut Vec<Value>| {
        sql.push_str("m.list_id IN (SELECT id FROM lists WHERE ");
        let alternatives = vec!["name = ? COLLATE NOCASE"; names.len()];
        sql.push_str(&alternatives.join(" OR "));
        sql.push(')');
        args.extend(names.iter().map(|n| Value::Text(n.clone())));
    };
    if !f.lists.is_empty() {
        sql.push_str(" AND ");
        lists(&f.lists, sql, args);
    }
    if !f.not_lists.is_empty() {
        sql.push_str(" AND NOT ");
        lists(&f.not_lists, sql, args);
    }
    if let Some(after) = f.after {
        sql.push_str(" AND m.date >= ?");
        args.push(Value::Integer(after));
    }
    if let Some(before) = f.before {
        sql.push_str(" AND m.date < ?");
        args.push(Value::Integer(before));
    }
    if let Some(exclude) = &parsed.exclude {
        sql.push_str(" AND m.id NOT IN (SELECT rowid FROM search WHERE search MATCH ?)");
        args.push(Value::Text(exclude.clone()));
    }
}

impl super::Store {
    /// Searches the archive; `Ok(Err(..))` is a query the reader should correct.
    pub fn search(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Result<SearchResults, QueryError>, StoreError> {
        self.search_page(query, 0, limit, SearchOrder::Relevance)
    }

    /// One page of results.
    pub fn search_page(
        &self,
        query: &str,
        offset: usize,
        limit: usize,
        order: SearchOrder,
    ) -> Result<Result<SearchResults, QueryError>, StoreError> {
        let parsed = match parse_query(query) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        for name in parsed.filters.lists.iter().chain(&parsed.filters.not_lists) {
            let known: bool = self.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM lists WHERE name = ?1 COLLATE NOCASE)",
                [name],
                |r| r.get(0),
            )?;
            if !known {
                return Ok(Err(QueryError::NoSuchList(shown(name))));
            }
        }

        // FROM and WHERE, shared by the count and the page so the total is exact.
        let mut from_where = String::new();
        let mut args = Vec::new();
        let score = match &parsed.text {
            Some(text) => {
                from_where.push_str(
                    "FROM search JOIN messages m ON m.id = search.rowid
                     JOIN lists l ON l.id = m.list_id
                     WHERE search MATCH ?",
                );
                args.push(Value::Text(text.clone()));
                "bm25(search, 4.0, 2.0, 1.0)"
            }
            None => {
                from_where.push_str(
                    "FROM messages m JOIN lists l ON l.id = m.list_id
                     WHERE 1",
                );
                "0.0"
            }
        };
        filter_sql(&parsed, &mut from_where, &mut args);

        let total: i64 = self
            .conn
            .prepare_cached(&format!("SELECT count(*) {from_where}"))?
            .query_row(rusqlite::params_from_iter(&args), |r| r.get(0))?;

        // bm25 is negative, lower is better: a factor above 1 for recent mail ranks it higher
        // (up to 1.5 for today, 1.25 a year ago, fading after).
        let order_by = match (order, parsed.text.is_some()) {
            (SearchOrder::Relevance, true) => {
                "score * (1.0 + 0.5 / (1.0 + max(0, unixepoch() - coalesce(m.date, 0)) / 31557600.0)), m.date DESC, m.id DESC"
            }
            (SearchOrder::Date, true) => "m.date IS NULL, m.date DESC, score, m.id DESC",
            (_, false) => "m.date IS NULL, m.date DESC, m.id DESC",
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT m.message_id, m.thread_id, m.subject, m.from_name, m.from_addr, m.date,
                    l.name, {score} AS score
             {from_where}
             ORDER BY {order_by}
             LIMIT ? OFFSET ?"
        ))?;
        args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        args.push(Value::Integer(i64::try_from(offset).unwrap_or(i64::MAX)));
        let results = stmt
            .query_map(rusqlite::params_from_iter(&args), |r| {
                let name: Option<String> = r.get(3)?;
                let addr: Option<String> = r.get(4)?;
                Ok(SearchHit {
                    message_id: r.get(0)?,
                    thread: r.get(1)?,
                    subject: r.get(2)?,
                    from: display_author(name.as_deref(), addr.as_deref()),
                    date: r.get::<_, Option<i64>>(5)?.and_then(rfc3339),
                    list: r.get(6)?,
                    score: r.get(7)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Ok(SearchResults {
            query: query.to_owned(),
            total: total as u64,
            terms: parsed.terms,
            results,
        }))
    }
}
