//! Search, apart from any store: the language a reader types into the search box, parsed into
//! words, phrases and filters. Each store engine runs a parsed query its own way (SQLite's FTS5
//! today, in `store::search`).

pub mod query;

pub use query::{
    Author, Filters, MAX_PHRASES, MAX_QUERY_CHARS, MAX_TERMS, ParsedQuery, QueryError, SearchOrder,
    cut, fts_query, parse_query,
};
