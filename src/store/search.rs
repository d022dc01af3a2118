//! Full-text search, ranked with the subject weighted above the author and the body and a boost
//! for recent mail: on SQLite over the FTS5 index (BM25), on PostgreSQL over the `search`
//! table's tsvector (ts_rank, with the same weights). The query language is parsed in
//! [`crate::search::query`], which gives each engine its expression; this runs it, and checks
//! that the lists and interests it names exist.
//!
//! The SQL is built from fixed fragments only; every value a reader typed is a bound parameter.

use super::MessageId;
use super::db::Value;
use serde::Serialize;

use super::StoreError;
use super::export::{display_author, rfc3339};
use crate::search::query::{
    Author, Field, ParsedQuery, QueryError, SearchOrder, parse_query, shown, tsquery,
};

/// One matching message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub message_id: MessageId,
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
    /// How many messages match in all (not only on this page): exact up to [`EXACT_COUNT`],
    /// an estimate above it (`exact` false: "about").
    pub total: u64,
    pub exact: bool,
    /// The words searched for as text, lowercased, for highlighting: not the excluded ones, not
    /// the filter values (except `subject:` words).
    pub terms: Vec<String>,
    pub results: Vec<SearchHit>,
}

/// Relevance ranks the newest this many matches (and pages up to them); counts are exact up to
/// this many. Both bound a search's work whatever the number of matches.
pub const EXACT_COUNT: usize = 1000;

/// A search that runs longer than this is stopped and the reader asked for a narrower one.
pub const SEARCH_BUDGET: std::time::Duration = std::time::Duration::from_millis(1000);

/// Which page of results a search returns, and within what bounds.
#[derive(Debug, Clone, Copy)]
pub struct SearchPage {
    pub offset: usize,
    pub limit: usize,
    pub order: SearchOrder,
    pub who: AuthorMatch,
    /// Past this the search stops and the reader is asked for a narrower one.
    pub budget: std::time::Duration,
}

impl SearchPage {
    /// The first `limit` results by relevance, `from:` matching names and addresses.
    pub fn first(limit: usize) -> Self {
        SearchPage {
            offset: 0,
            limit,
            order: SearchOrder::Relevance,
            who: AuthorMatch::NamesAndAddresses,
            budget: SEARCH_BUDGET,
        }
    }

    /// The results from `offset` on, in `order`.
    pub fn at(offset: usize, limit: usize, order: SearchOrder) -> Self {
        SearchPage {
            offset,
            order,
            ..SearchPage::first(limit)
        }
    }
    /// The same page, `from:` matching as `who` may.
    pub fn matching(self, who: AuthorMatch) -> Self {
        SearchPage { who, ..self }
    }
}

/// Who `from:` may match: the sender's address as well as their name, or (for readers who
/// may not see addresses) the name alone, so that no prefix or exact search confirms an address
/// one character at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorMatch {
    NamesAndAddresses,
    NamesOnly,
}

/// The words of a `from:` prefix phrase (`"jane d"*`), lowercased, as they must appear in a
/// sender's name.
fn name_words(phrase: &str) -> Vec<String> {
    phrase
        .trim_end_matches('*')
        .trim_matches('"')
        .replace("\"\"", "\"")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The `WHERE` conditions for a parsed query's filters, from fixed SQL fragments, with the
/// reader's values as parameters (in order).
fn filter_sql(
    parsed: &ParsedQuery,
    who: AuthorMatch,
    postgres: bool,
    sql: &mut String,
    args: &mut Vec<Value>,
) {
    let f = &parsed.filters;
    // Whether a message's author matches is asked of the index. With text searched, the
    // question is put to the index's own row (`+` keeps SQLite from turning it into one index
    // lookup per author match), so that it is answered before the message's row is read: a
    // common word from a rare author then costs a pass over the word's matches in the index,
    // not a read of every matching message.
    let by_author = match (postgres, parsed.text.is_some()) {
        (false, true) => "+search.rowid IN (SELECT rowid FROM search WHERE search MATCH ?)",
        (false, false) => "m.id IN (SELECT rowid FROM search WHERE search MATCH ?)",
        (true, _) => {
            "m.id IN (SELECT rowid FROM search
                      WHERE document @@ to_tsquery('listbridge_names', ?))"
        }
    };
    // The author's words as each engine's index is asked for them.
    let author_words = |phrases: &[&str]| -> String {
        if postgres {
            let each: Vec<String> = phrases
                .iter()
                .filter_map(|w| tsquery(&name_words(w).join(" "), Field::Author, true))
                .collect();
            each.join(" | ")
        } else {
            format!("author : ({})", phrases.join(" OR "))
        }
    };
    let authors = |list: &[Author], sql: &mut String, args: &mut Vec<Value>| {
        let mut alternatives = Vec::new();
        let mut words = Vec::new();
        for author in list {
            match (author, who) {
                (Author::Address(a), AuthorMatch::NamesAndAddresses) => {
                    alternatives.push("m.from_addr = ? COLLATE NOCASE".to_owned());
                    args.push(Value::Text(a.clone()));
                }
                // An address is no name: it matches nothing, whoever sent what.
                (Author::Address(_), AuthorMatch::NamesOnly) => {
                    alternatives.push("false".to_owned())
                }
                (Author::Words(w), AuthorMatch::NamesAndAddresses) => words.push(w.as_str()),
                (Author::Words(w), AuthorMatch::NamesOnly) => {
                    // The index's author column holds the address too: each word must also be
                    // in the sender's name.
                    let mut each = vec![by_author.to_owned()];
                    args.push(Value::Text(author_words(&[w])));
                    for word in name_words(w) {
                        // At the start of a word of the name, as the index matches prefixes.
                        each.push(
                            "instr(' ' || replace(replace(replace(replace(
                                 lower(coalesce(m.from_name, '')), '.', ' '), ',', ' '), '-', ' '),
                                 '''', ' '), ' ' || ?) > 0"
                                .to_owned(),
                        );
                        args.push(Value::Text(word));
                    }
                    alternatives.push(format!("({})", each.join(" AND ")));
                }
            }
        }
        if !words.is_empty() {
            alternatives.push(by_author.to_owned());
            args.push(Value::Text(author_words(&words)));
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
        sql.push_str(", false)");
    }
    let lists = |names: &[String], sql: &mut String, args: &mut Vec<Value>| {
        sql.push_str("m.list_id IN (SELECT id FROM lists WHERE ");
        let alternatives = vec!["name = ? COLLATE NOCASE"; names.len()];
        sql.push_str(&alternatives.join(" OR "));
        sql.push(')');
        args.extend(names.iter().map(|n| Value::Text(n.clone())));
    };
    with_and_without(&f.lists, &f.not_lists, sql, args, lists);
    // A thread carries an interest by the rules' tags on any of its messages or a hand-set tag,
    // less a hand-removed one (as the thread page shows it).
    let interests = |names: &[String], sql: &mut String, args: &mut Vec<Value>| {
        let alternatives = vec!["slug = ? COLLATE NOCASE OR name = ? COLLATE NOCASE"; names.len()];
        let chosen = format!(
            "(SELECT id FROM interests WHERE {})",
            alternatives.join(" OR ")
        );
        sql.push_str(&format!(
            "((m.thread_id IN (SELECT m2.thread_id FROM message_tags g JOIN messages m2
                               ON m2.id = g.message WHERE g.interest IN {chosen})
               OR m.thread_id IN (SELECT m2.thread_id FROM manual_tags g JOIN messages m2
                                  ON m2.message_id = g.message_id
                                  WHERE g.present = 1 AND g.interest IN {chosen}))
              AND m.thread_id NOT IN (SELECT m2.thread_id FROM manual_tags g JOIN messages m2
                                      ON m2.message_id = g.message_id
                                      WHERE g.present = 0 AND g.interest IN {chosen}))"
        ));
        for _ in 0..3 {
            for n in names {
                args.push(Value::Text(n.clone()));
                args.push(Value::Text(n.clone()));
            }
        }
    };
    with_and_without(&f.interests, &f.not_interests, sql, args, interests);
    if let Some(after) = f.after {
        sql.push_str(" AND m.date >= ?");
        args.push(Value::Integer(after));
    }
    if let Some(before) = f.before {
        sql.push_str(" AND m.date < ?");
        args.push(Value::Integer(before));
    }
    match (postgres, &parsed.exclude, &parsed.tsquery_exclude) {
        (false, Some(exclude), _) => {
            sql.push_str(" AND m.id NOT IN (SELECT rowid FROM search WHERE search MATCH ?)");
            args.push(Value::Text(exclude.clone()));
        }
        (true, _, Some(exclude)) => {
            sql.push_str(
                " AND m.id NOT IN (SELECT rowid FROM search
                                   WHERE document @@ to_tsquery('listbridge', ?))",
            );
            args.push(Value::Text(exclude.clone()));
        }
        _ => {}
    }
}

/// Adds `clause` for the names a query asks for (`list:a`) and its negation for the names it
/// excludes (`-list:b`).
fn with_and_without(
    with: &[String],
    without: &[String],
    sql: &mut String,
    args: &mut Vec<Value>,
    clause: impl Fn(&[String], &mut String, &mut Vec<Value>),
) {
    for (names, joint) in [(with, " AND "), (without, " AND NOT ")] {
        if !names.is_empty() {
            sql.push_str(joint);
            clause(names, sql, args);
        }
    }
}

/// An estimate rounded to two significant figures ("about 12,000", not "about 12,347").
fn about(n: u64) -> u64 {
    let mut scale = 1;
    while n / scale >= 100 {
        scale *= 10;
    }
    (n + scale / 2) / scale * scale
}

impl super::Store {
    /// Searches the archive; `Ok(Err(..))` is a query the reader should correct.
    pub fn search(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Result<SearchResults, QueryError>, StoreError> {
        self.search_page(query, &SearchPage::first(limit))
    }

    /// One page of results, stopped past its budget (a reader's error: too costly).
    pub fn search_page(
        &self,
        query: &str,
        page: &SearchPage,
    ) -> Result<Result<SearchResults, QueryError>, StoreError> {
        // Past the budget the statement is interrupted, and fails as "interrupted".
        let result = self
            .conn
            .with_budget(page.budget, || self.search_unbounded(query, page));
        match result {
            Err(StoreError::Sql(e)) if e.is_interrupted() => Ok(Err(QueryError::TooCostly)),
            other => other,
        }
    }

    fn search_unbounded(
        &self,
        query: &str,
        page: &SearchPage,
    ) -> Result<Result<SearchResults, QueryError>, StoreError> {
        let SearchPage {
            offset,
            limit,
            order,
            who,
            ..
        } = *page;
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
        for name in parsed
            .filters
            .interests
            .iter()
            .chain(&parsed.filters.not_interests)
        {
            let known: bool = self.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM interests WHERE slug = ?1 COLLATE NOCASE
                                OR name = ?1 COLLATE NOCASE)",
                [name],
                |r| r.get(0),
            )?;
            if !known {
                return Ok(Err(QueryError::NoSuchInterest(shown(name))));
            }
        }

        // FROM and WHERE, shared by the count and the page so the total is exact.
        let postgres = self.conn.is_postgres();
        let mut from_where = String::new();
        let mut args = Vec::new();
        let score = match (&parsed.text, &parsed.tsquery, postgres) {
            (Some(text), _, false) => {
                from_where.push_str(
                    "FROM search JOIN messages m ON m.id = search.rowid
                     JOIN lists l ON l.id = m.list_id
                     WHERE search MATCH ?1",
                );
                args.push(Value::Text(text.clone()));
                "bm25(search, 4.0, 2.0, 1.0)"
            }
            // PostgreSQL's rank is higher for better matches, bm25 lower: negated, one order
            // serves both. Weights as bm25's: subject (A) 4, author (B) 2, body (C) 1.
            (_, Some(tsquery), true) => {
                from_where.push_str(
                    "FROM search JOIN messages m ON m.id = search.rowid
                     JOIN lists l ON l.id = m.list_id
                     WHERE search.document @@ to_tsquery('listbridge', ?1)",
                );
                args.push(Value::Text(tsquery.clone()));
                "-ts_rank('{0.1, 0.25, 0.5, 1.0}', search.document, to_tsquery('listbridge', ?1))"
            }
            _ => {
                from_where.push_str(
                    "FROM messages m JOIN lists l ON l.id = m.list_id
                     WHERE true",
                );
                "CAST(0.0 AS DOUBLE PRECISION)"
            }
        };
        filter_sql(&parsed, who, postgres, &mut from_where, &mut args);

        // Counted up to a bound; past it, estimated from how far back the newest matches
        // reach among all messages (matches are spread over the archive's history).
        let bound = EXACT_COUNT.max(offset + limit);
        // The index hands matches out newest first (by rowid), so the scan stops at the bound.
        let id = if parsed.text.is_some() {
            "search.rowid"
        } else {
            "m.id"
        };
        let reached: Vec<i64> = self
            .conn
            .prepare_cached(&format!(
                "SELECT {id} {from_where} ORDER BY {id} DESC LIMIT {}",
                bound + 1
            ))?
            .query_map(&args, |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let (total, exact) = if reached.len() <= bound {
            (reached.len() as u64, true)
        } else {
            // The first and last row by id rather than min() and max(): on a connection
            // confined to what its reader may see, `messages` is a view, over which min() and
            // max() read every message.
            let (low, high): (i64, i64) = self.conn.query_row(
                "SELECT coalesce((SELECT id FROM messages ORDER BY id LIMIT 1), 0),
                        coalesce((SELECT id FROM messages ORDER BY id DESC LIMIT 1), 0)",
                (),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let oldest = reached[bound - 1];
            let share = (high - oldest + 1) as f64 / (high - low + 1).max(1) as f64;
            let estimate = (bound as f64 / share.max(1e-9)).round() as u64;
            (about(estimate.max(bound as u64 + 1)), false)
        };

        // bm25 is negative, lower is better: a factor above 1 for recent mail ranks it higher
        // (up to 1.5 for today, 1.25 a year ago, fading after). Relevance ranks the newest
        // `bound` matches only (their ids are read above), so that its cost does not grow
        // with the number of matches.
        let order_by = match (order, parsed.text.is_some(), postgres) {
            (SearchOrder::Relevance, true, false) => {
                "score * (1.0 + 0.5 / (1.0 + max(0, unixepoch() - coalesce(m.date, 0)) / 31557600.0)), m.date DESC, m.id DESC"
            }
            (SearchOrder::Relevance, true, true) => {
                "score * (1.0 + 0.5 / (1.0 + greatest(0, unixepoch() - coalesce(m.date, 0)) / 31557600.0)), m.date DESC, m.id DESC"
            }
            (SearchOrder::Date, true, _) => "m.date IS NULL, m.date DESC, score, m.id DESC",
            (_, false, _) => "m.date IS NULL, m.date DESC, m.id DESC",
        };
        let candidates = match (order, parsed.text.is_some(), reached.len() > bound) {
            (SearchOrder::Relevance, true, true) => {
                args.push(Value::Integer(reached[bound - 1]));
                format!(" AND {id} >= ?")
            }
            _ => String::new(),
        };
        // PostgreSQL orders by an output column only by its bare name, not inside an
        // expression: it is given the score's own expression.
        let order_by = match postgres {
            true => order_by.replace("score", &format!("({score})")),
            false => order_by.to_owned(),
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT m.message_id, m.thread_id, m.subject, m.from_name, m.from_addr, m.date,
                    l.name, {score} AS score
             {from_where}{candidates}
             ORDER BY {order_by}
             LIMIT ? OFFSET ?"
        ))?;
        args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        args.push(Value::Integer(i64::try_from(offset).unwrap_or(i64::MAX)));
        let results = stmt
            .query_map(&args, |r| {
                let name: Option<String> = r.get(3)?;
                let addr: Option<String> = r.get(4)?;
                Ok(SearchHit {
                    message_id: r.get(0)?,
                    thread: r.get(1)?,
                    subject: r.get(2)?,
                    from: display_author(name.as_deref(), addr.as_deref()),
                    date: r.get::<Option<i64>>(5)?.and_then(rfc3339),
                    list: r.get(6)?,
                    score: r.get(7)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Ok(SearchResults {
            query: query.to_owned(),
            total,
            exact,
            terms: parsed.terms,
            results,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::pipeline::archive_for_tests;
    use crate::search::query::MAX_TERMS;
    use crate::store::{DeriveSettings, Store};

    /// A message for the test archive: list, id, From, subject, Date, body.
    type Mail<'a> = (&'a str, &'a str, &'a str, &'a str, Option<&'a str>, &'a str);

    fn archive(mails: &[Mail<'_>]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let at = crate::store::location::fresh_for_tests(dir.path(), "search");
        let mut store = Store::open(at, DeriveSettings::default()).unwrap();
        for (list, id, from, subject, date, body) in mails {
            let date = date.map(|d| format!("Date: {d}\r\n")).unwrap_or_default();
            let bytes = format!(
                "From: {from}\r\nMessage-ID: <{id}>\r\nSubject: {subject}\r\n{date}\
                 MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
            );
            archive_for_tests(&mut store, list, bytes.into_bytes(), &format!("test:{id}"));
        }
        (dir, store)
    }

    /// `n` messages that all say "common", one a minute apart.
    fn many(n: usize) -> (tempfile::TempDir, Store) {
        let ids: Vec<String> = (0..n).map(|i| format!("c{i}@x")).collect();
        let dates: Vec<String> = (0..n)
            .map(|i| format!("Mon, 4 Mar 2024 {:02}:{:02}:00 +0000", i / 60 % 24, i % 60))
            .collect();
        let mails: Vec<Mail<'_>> = (0..n)
            .map(|i| {
                let body = if i % 500 == 0 {
                    "common and rare"
                } else {
                    "common words"
                };
                (
                    "snug",
                    ids[i].as_str(),
                    "A <a@x.org>",
                    "Note",
                    Some(dates[i].as_str()),
                    body,
                )
            })
            .collect();
        archive(&mails)
    }

    #[test]
    fn bounded_search_counts_exactly_to_a_bound_then_about() {
        let (_dir, store) = many(EXACT_COUNT + 300);
        let run = |q: &str, offset: usize| {
            store
                .search_page(q, &SearchPage::at(offset, 25, SearchOrder::Relevance))
                .unwrap()
                .unwrap()
        };
        let common = run("common", 0);
        assert!(!common.exact, "{}", common.total);
        // An estimate, rounded: the newest thousand matches reach back over 1000 of 1300.
        assert!(
            (1200..=1400).contains(&common.total) && common.total % 10 == 0,
            "{}",
            common.total
        );
        assert_eq!(common.results.len(), 25);
        // A page past the bound is still served, ranked among the matches up to it.
        assert_eq!(run("common", EXACT_COUNT + 25).results.len(), 25);
        let rare = run("rare", 0);
        assert!(rare.exact);
        assert_eq!(rare.total, 3);
        assert_eq!(about(12_347), 12_000);
        assert_eq!(about(1_001), 1_000);
    }

    #[test]
    fn without_words_many_matches_come_newest_first() {
        let n = EXACT_COUNT + 300;
        let (_dir, store) = many(n);
        let ids = |query: &str, offset: usize| {
            let page = SearchPage::at(offset, 20, SearchOrder::Relevance);
            let found = store.search_page(query, &page).unwrap().unwrap();
            assert!(!found.exact, "{query:?}: more matches than the exact bound");
            found
                .results
                .into_iter()
                .map(|h| h.message_id.into_string())
                .collect::<Vec<_>>()
        };
        let newest = |skip: usize| -> Vec<String> {
            (0..n)
                .rev()
                .skip(skip)
                .take(20)
                .map(|i| format!("c{i}@x"))
                .collect()
        };
        for confined in [false, true] {
            if confined {
                store.confine(&[]).unwrap();
            }
            for query in ["from:a@x.org", "list:snug", "from:a list:snug -rare"] {
                assert_eq!(ids(query, 0), newest(0), "{query:?}, confined {confined}");
                assert_eq!(ids(query, 40), newest(40), "{query:?}, confined {confined}");
            }
        }
    }

    #[test]
    fn a_confined_connection_counts_and_ranks_as_the_archive_does() {
        let (_dir, store) = many(EXACT_COUNT + 300);
        let open = store.search("common", 25).unwrap().unwrap();
        store.confine(&[]).unwrap();
        let confined = store.search("common", 25).unwrap().unwrap();
        assert!(!confined.exact);
        assert_eq!(confined, open);
    }

    #[test]
    fn from_with_text_matches_names_or_addresses_as_allowed() {
        let (_dir, store) = sample();
        store.confine(&[]).unwrap();
        let ids = |query: &str, who: AuthorMatch| {
            let page = SearchPage::first(100).matching(who);
            let mut ids: Vec<String> = store
                .search_page(query, &page)
                .unwrap()
                .unwrap()
                .results
                .into_iter()
                .map(|h| h.message_id.into_string())
                .collect();
            ids.sort();
            ids
        };
        use AuthorMatch::{NamesAndAddresses as Both, NamesOnly};
        let cases: &[(&str, AuthorMatch, &[&str])] = &[
            ("from:jane asthma", Both, &["m1@x", "m6@x"]),
            ("from:jane asthma", NamesOnly, &["m1@x", "m6@x"]),
            ("from:nhs clinic", Both, &["m4@x"]),
            ("from:nhs locum", Both, &["m5@x"]),
            ("from:nhs locum", NamesOnly, &[]),
            ("from:\"jane doe\" flu", Both, &["m4@x"]),
            ("from:\"jane doe\" flu", NamesOnly, &[]),
            (
                "from:brennan from:okafor asthma",
                NamesOnly,
                &["m2@x", "m3@x"],
            ),
        ];
        for (query, who, want) in cases {
            assert_eq!(ids(query, *who), *want, "{query:?} {who:?}");
        }
    }

    #[test]
    fn bounded_search_over_its_time_budget_is_a_readers_error() {
        let (_dir, store) = many(300);
        let slow = store
            .search_page(
                "common",
                &SearchPage {
                    budget: std::time::Duration::ZERO,
                    ..SearchPage::first(25)
                },
            )
            .unwrap();
        assert_eq!(slow, Err(QueryError::TooCostly));
        // And the connection searches normally afterwards.
        assert_eq!(store.search("common", 5).unwrap().unwrap().total, 300);
    }

    fn sample() -> (tempfile::TempDir, Store) {
        archive(&[
            (
                "snug",
                "m1@x",
                "\"Jane Doe\" <jane.doe@nhs.net>",
                "Asthma inhaler technique",
                Some("Mon, 4 Mar 2024 09:12:00 +0000"),
                "Peak flow readings in the over-80s, with a spacer.",
            ),
            (
                "snug",
                "m2@x",
                "\"Tom Okafor\" <t.okafor@example.net>",
                "Re: Asthma inhaler technique",
                Some("Thu, 29 Feb 2024 23:30:00 +0000"),
                "A spacer helps with asthma; see the pharmacy leaflet.",
            ),
            (
                "snug",
                "m3@x",
                "\"Zoë Brennan\" <zoe.b@example.org>",
                "COPD rescue packs",
                Some("Sun, 31 Dec 2023 23:59:59 +0000"),
                "Rescue packs for COPD; asthma is different.",
            ),
            (
                "snug",
                "m4@x",
                "\"J Doe\" <Jane.Doe@NHS.net>",
                "Flu clinic 10:30",
                None,
                "Flu clinic at 10:30 on Saturday.",
            ),
            (
                "gp-managers",
                "m5@x",
                "\"Practice Manager\" <pm@example.nhs.uk>",
                "Locum rates",
                Some("Fri, 1 Mar 2024 00:00:00 +0000"),
                "Asthma review clinics and locum rates.",
            ),
            (
                "gp-managers",
                "m6@x",
                "\"Jane Smith\" <jane.smith@example.org>",
                "Asthma",
                Some("Thu, 1 May 2014 12:00:00 +0000"),
                "Asthma asthma.",
            ),
        ])
    }

    fn found(store: &Store, query: &str, order: SearchOrder) -> Vec<String> {
        let results = store
            .search_page(query, &SearchPage::at(0, 100, order))
            .unwrap()
            .unwrap_or_else(|e| panic!("{query:?}: {e}"));
        assert_eq!(results.total as usize, results.results.len(), "{query:?}");
        results
            .results
            .into_iter()
            .map(|h| h.message_id.into_string())
            .collect()
    }

    /// The ids matching `query`, sorted (for filters, where order is not the point).
    fn matching(store: &Store, query: &str) -> Vec<String> {
        let mut ids = found(store, query, SearchOrder::Relevance);
        ids.sort();
        ids
    }

    #[test]
    fn each_filter_narrows_the_results() {
        let (_dir, store) = sample();
        let cases: &[(&str, &[&str])] = &[
            ("asthma", &["m1@x", "m2@x", "m3@x", "m5@x", "m6@x"]),
            // from: a word or prefix of the author, diacritics and case folded ...
            ("from:jane", &["m1@x", "m4@x", "m6@x"]),
            ("from:JAN", &["m1@x", "m4@x", "m6@x"]),
            ("from:\"jane doe\"", &["m1@x", "m4@x"]),
            ("from:\"Jane S\"", &["m6@x"]),
            ("from:zoe", &["m3@x"]),
            ("from:ZOË", &["m3@x"]),
            ("from:okafor asthma", &["m2@x"]),
            ("from:nhs.uk", &["m5@x"]),
            // ... or an address, exactly, ASCII case ignored.
            ("from:jane.doe@nhs.net", &["m1@x", "m4@x"]),
            ("from:JANE.DOE@nhs.NET", &["m1@x", "m4@x"]),
            ("from:jane@nhs.net", &[]),
            ("from:jane.doe@nhs.ne", &[]),
            ("from:jane.smith@example.org from:zoe", &["m3@x", "m6@x"]),
            ("asthma -from:jane", &["m2@x", "m3@x", "m5@x"]),
            ("-from:jane.doe@nhs.net list:snug", &["m2@x", "m3@x"]),
            ("list:gp-managers", &["m5@x", "m6@x"]),
            ("list:GP-Managers asthma", &["m5@x", "m6@x"]),
            ("list:snug list:gp-managers locum", &["m5@x"]),
            ("asthma -list:snug", &["m5@x", "m6@x"]),
            // Dates: after: from the first second of the period, before: up to it.
            ("after:2024-03", &["m1@x", "m5@x"]),
            ("after:2024-03-01", &["m1@x", "m5@x"]),
            ("after:2024-03-02", &["m1@x"]),
            ("after:2024-02-29", &["m1@x", "m2@x", "m5@x"]),
            ("before:2024-03", &["m2@x", "m3@x", "m6@x"]),
            ("before:2024", &["m3@x", "m6@x"]),
            ("after:2024", &["m1@x", "m2@x", "m5@x"]),
            ("after:2023-12-31 before:2024-03", &["m2@x", "m3@x"]),
            ("asthma before:2015", &["m6@x"]),
            // subject: the subject column only.
            ("subject:asthma", &["m1@x", "m2@x", "m6@x"]),
            ("asthma -subject:asthma", &["m3@x", "m5@x"]),
            ("asthma subject:copd", &["m3@x"]),
            ("subject:\"inhaler technique\" -subject:re", &["m1@x"]),
            ("subject:spacer", &[]),
            // Text that looks like a filter.
            ("10:30", &["m4@x"]),
            ("re: asthma", &["m2@x"]),
            // Exclusions with filters and no word.
            ("list:snug -asthma", &["m4@x"]),
            ("-spacer -clinic after:2014", &["m3@x", "m5@x", "m6@x"]),
            // All together.
            (
                "asthma from:jane list:snug after:2024 subject:inhaler -leaflet",
                &["m1@x"],
            ),
        ];
        for (query, want) in cases {
            assert_eq!(matching(&store, query), *want, "query {query:?}");
        }
    }

    #[test]
    fn filters_alone_list_by_date_newest_first_undated_last() {
        let (_dir, store) = sample();
        for order in [SearchOrder::Relevance, SearchOrder::Date] {
            assert_eq!(
                found(&store, "list:snug", order),
                ["m1@x", "m2@x", "m3@x", "m4@x"]
            );
        }
        let results = store.search("from:jane", 10).unwrap().unwrap();
        assert!(results.results.iter().all(|h| h.score == 0.0));
        assert_eq!(results.terms, Vec::<String>::new());
        assert_eq!(results.results[0].list, "snug");
        assert_eq!(results.results[0].from, "Jane Doe <jane.doe@nhs.net>");
        assert_eq!(
            results.results[0].date.as_deref(),
            Some("2024-03-04T09:12:00Z")
        );
    }

    #[test]
    fn totals_are_exact_and_pages_cover_every_hit_once() {
        let (_dir, store) = sample();
        for query in [
            "asthma",
            "list:snug",
            "asthma -list:gp-managers",
            "from:jane",
        ] {
            for order in [SearchOrder::Relevance, SearchOrder::Date] {
                let all = found(&store, query, order);
                let mut paged = Vec::new();
                for offset in 0..all.len() + 1 {
                    let page = store
                        .search_page(query, &SearchPage::at(offset, 1, order))
                        .unwrap()
                        .unwrap();
                    assert_eq!(page.total as usize, all.len(), "{query:?}");
                    paged.extend(page.results.into_iter().map(|h| h.message_id));
                }
                assert_eq!(paged, all, "{query:?} {order:?}");
            }
        }
    }

    #[test]
    fn unknown_lists_and_malformed_queries_are_reader_errors() {
        let (_dir, store) = sample();
        let err = |q: &str| store.search(q, 10).unwrap().unwrap_err();
        assert_eq!(err("list:nope"), QueryError::NoSuchList("nope".into()));
        assert_eq!(
            err("asthma -list:nope"),
            QueryError::NoSuchList("nope".into())
        );
        assert!(matches!(
            err("before:yesterday"),
            QueryError::BadValue {
                filter: "before",
                ..
            }
        ));
        assert_eq!(
            err("interest:asthma"),
            QueryError::NoSuchInterest("asthma".into()),
            "the sample archive has no interests"
        );
        assert_eq!(err("-asthma"), QueryError::OnlyExclusions);
    }

    #[test]
    fn hostile_queries_never_reach_sqlite_as_syntax() {
        let (_dir, store) = sample();
        let long = "asthma ".repeat(MAX_TERMS);
        let huge_word = "x".repeat(50_000);
        let hostile = [
            "\"",
            "-",
            ":::",
            "a:b:c",
            "from:\"",
            "from:\"\"\"",
            "from:'",
            "from:jane\"",
            "from:a\"b@c",
            "list:'; DROP TABLE messages; --",
            "list:snug' OR '1'='1",
            "subject:\"\"\"\"",
            "subject:a\" OR \"b",
            "* ^ NEAR( ) AND OR NOT {} :",
            "asthma NEAR(asthma spacer, 2)",
            "{subject body}: asthma",
            "subject:asthma*",
            "^asthma",
            "asthma OR copd",
            "asthma AND NOT copd",
            "(asthma",
            "asthma)",
            "\"asthma",
            "-\"",
            "--",
            "- - -asthma",
            "%",
            "from:%",
            "from:_@_",
            "from:%@%",
            "\\",
            "\0",
            "asthma\0copd",
            "Zoë 哮喘 ß ﬁ İ",
            "🙂 asthma 🙂",
            "a\u{301}sthma",
            "\u{202e}amhtsa",
            &long,
            &huge_word,
        ];
        for query in hostile {
            match store.search(query, 5) {
                Ok(_) => {}
                Err(e) => panic!("{query:?} reached SQLite as an error: {e}"),
            }
        }
        // LIKE wildcards and quotes in values are data, not patterns.
        assert_eq!(matching(&store, "from:%@%"), Vec::<String>::new());
        assert_eq!(
            store.search("list:%", 5).unwrap().unwrap_err(),
            QueryError::NoSuchList("%".into())
        );
    }

    #[test]
    fn relevance_leads_with_recent_mail_and_date_orders_newest_first() {
        let (_dir, store) = archive(&[
            (
                "snug",
                "old-subject@x",
                "A <a@x.org>",
                "Spacer spacer",
                Some("Wed, 1 Jan 2020 12:00:00 +0000"),
                "The spacer device: a spacer for every inhaler.",
            ),
            (
                "snug",
                "new-body@x",
                "B <b@x.org>",
                "Clinic notes",
                Some("Mon, 1 Jan 2024 12:00:00 +0000"),
                "A long note about the clinic, rotas, leave, audits, the car park, the coffee \
                 machine, the new printer, the waiting room, and in passing a spacer.",
            ),
            (
                "snug",
                "twin-old@x",
                "C <c@x.org>",
                "Nebuliser cleaning",
                Some("Thu, 1 Jan 2015 12:00:00 +0000"),
                "How to clean a nebuliser.",
            ),
            (
                "snug",
                "twin-new@x",
                "C <c@x.org>",
                "Nebuliser cleaning",
                Some("Fri, 1 Jan 2021 12:00:00 +0000"),
                "How to clean a nebuliser.",
            ),
            (
                "snug",
                "twin-undated@x",
                "C <c@x.org>",
                "Nebuliser cleaning",
                None,
                "How to clean a nebuliser.",
            ),
        ]);
        assert_eq!(
            found(&store, "spacer", SearchOrder::Relevance),
            ["old-subject@x", "new-body@x"]
        );
        assert_eq!(
            found(&store, "spacer", SearchOrder::Date),
            ["new-body@x", "old-subject@x"]
        );
        // Equal text: the recency boost decides, undated mail counts as old.
        assert_eq!(
            found(&store, "nebuliser", SearchOrder::Relevance),
            ["twin-new@x", "twin-old@x", "twin-undated@x"]
        );
        assert_eq!(
            found(&store, "nebuliser", SearchOrder::Date),
            ["twin-new@x", "twin-old@x", "twin-undated@x"]
        );
        let hits = store.search("nebuliser", 10).unwrap().unwrap();
        assert!(hits.results.iter().all(|h| h.score < 0.0));
        assert_eq!(hits.terms, ["nebuliser"]);
    }
}
