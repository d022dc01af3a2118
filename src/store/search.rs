//! Full-text search over the FTS5 index: a reader's query turned into a safe FTS5 expression
//! (words, "phrases", -exclusions), ranked by BM25 with the subject weighted above the body.

use rusqlite::params;
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
    /// BM25 score (lower is better, as SQLite reports it).
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResults {
    pub query: String,
    pub total: u64,
    pub results: Vec<SearchHit>,
}

/// Why a query cannot be run, said so a reader can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query is empty: give at least one word to look for")]
    Empty,
    #[error("the query only excludes words: give at least one word to look for as well")]
    OnlyExclusions,
}

/// Turns a reader's query into an FTS5 expression. Every word and phrase is quoted, so FTS5
/// operators typed by a reader are searched for as text instead of failing as syntax.
pub fn fts_query(query: &str) -> Result<String, QueryError> {
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    let mut rest = query.trim();
    while !rest.is_empty() {
        let negative = rest.starts_with('-') && rest.len() > 1;
        if negative {
            rest = &rest[1..];
        }
        let (term, after) = if let Some(stripped) = rest.strip_prefix('"') {
            match stripped.find('"') {
                Some(end) => (&stripped[..end], &stripped[end + 1..]),
                None => (stripped, ""),
            }
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        rest = after.trim_start();
        // Only text FTS5 would index counts; a lone "-" or punctuation is no term.
        if !term.chars().any(char::is_alphanumeric) {
            continue;
        }
        let quoted = format!("\"{}\"", term.replace('"', "\"\""));
        if negative {
            exclude.push(quoted);
        } else {
            include.push(quoted);
        }
    }
    if include.is_empty() {
        return Err(if exclude.is_empty() {
            QueryError::Empty
        } else {
            QueryError::OnlyExclusions
        });
    }
    let mut expr = include.join(" AND ");
    for term in exclude {
        expr = format!("({expr}) NOT {term}");
    }
    Ok(expr)
}

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOrder {
    /// BM25, with a boost for recent mail: readers want last week's answer before a
    /// ten-year-old one of the same relevance.
    Relevance,
    /// Newest first.
    Date,
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
        let expr = match fts_query(query) {
            Ok(e) => e,
            Err(e) => return Ok(Err(e)),
        };
        let total: i64 = self.conn.query_row(
            "SELECT count(*) FROM search WHERE search MATCH ?1",
            [&expr],
            |r| r.get(0),
        )?;
        // bm25 is negative, lower is better: a factor above 1 for recent mail ranks it higher
        // (up to 1.5 for today, 1.25 a year ago, fading after).
        let order_by = match order {
            SearchOrder::Relevance => {
                "score * (1.0 + 0.5 / (1.0 + max(0, unixepoch() - coalesce(m.date, 0)) / 31557600.0)), m.date DESC"
            }
            SearchOrder::Date => "m.date IS NULL, m.date DESC, score",
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT m.message_id, m.thread_id, m.subject, m.from_name, m.from_addr, m.date,
                    bm25(search, 4.0, 2.0, 1.0) AS score
             FROM search JOIN messages m ON m.id = search.rowid
             WHERE search MATCH ?1
             ORDER BY {order_by}
             LIMIT ?2 OFFSET ?3"
        ))?;
        let results = stmt
            .query_map(params![expr, limit as i64, offset as i64], |r| {
                let name: Option<String> = r.get(3)?;
                let addr: Option<String> = r.get(4)?;
                Ok(SearchHit {
                    message_id: r.get(0)?,
                    thread: r.get(1)?,
                    subject: r.get(2)?,
                    from: display_author(name.as_deref(), addr.as_deref()),
                    date: r.get::<_, Option<i64>>(5)?.and_then(rfc3339),
                    score: r.get(6)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Ok(SearchResults {
            query: query.to_owned(),
            total: total as u64,
            results,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_safe_fts_expressions() {
        let cases = [
            ("asthma", Ok("\"asthma\"")),
            ("asthma inhaler", Ok("\"asthma\" AND \"inhaler\"")),
            ("\"peak flow\" -child", Ok("(\"peak flow\") NOT \"child\"")),
            ("NEAR( OR *", Ok("\"NEAR(\" AND \"OR\"")),
            ("say \"hi", Ok("\"say\" AND \"hi\"")),
            ("", Err(QueryError::Empty)),
            ("  - ", Err(QueryError::Empty)),
            ("-spam", Err(QueryError::OnlyExclusions)),
        ];
        for (query, want) in cases {
            assert_eq!(fts_query(query), want.map(str::to_owned), "query {query:?}");
        }
    }
}
