//! The page models (askama templates, escaping by default) and the small formatting helpers
//! they share: dates, sizes, permalinks, pagination.

use askama::Template;
use axum::response::Html;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters escaped in a Message-ID inside a path (it keeps `@`, `.`, `-`, `_`, `+`, `$`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'@')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'+')
    .remove(b'$');

pub const PAGE_SIZE: usize = 25;

pub fn render(page: &impl Template) -> Html<String> {
    Html(page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "template error");
        "<!DOCTYPE html><title>Error</title><p>The page could not be drawn.</p>".to_owned()
    }))
}

pub fn permalink(message_id: &str) -> String {
    format!("/m/{}", utf8_percent_encode(message_id, PATH_SEGMENT))
}

pub fn author_link(address: &str) -> String {
    format!("/a/{}", utf8_percent_encode(address, PATH_SEGMENT))
}

pub fn iso(secs: Option<i64>) -> String {
    secs.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

pub fn human(secs: Option<i64>) -> String {
    secs.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| d.format("%-d %b %Y, %H:%M").to_string())
        .unwrap_or_else(|| "date unknown".to_owned())
}

pub fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{} KB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// Page numbers from 1; links keep the other query parameters.
pub struct Pager {
    pub page: usize,
    pub pages: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    pub fn new(page: usize, total: u64, link: impl Fn(usize) -> String) -> Pager {
        let pages = (total as usize).div_ceil(PAGE_SIZE).max(1);
        Pager {
            page,
            pages,
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        }
    }
}

pub struct ThreadRow {
    pub thread: i64,
    pub subject: String,
    pub list: String,
    pub replies: u64,
    pub participants: String,
    pub last_iso: String,
    pub last_human: String,
    pub preview: String,
}

#[derive(Template)]
#[template(path = "threads.html")]
pub struct ThreadsPage {
    pub site: String,
    pub query: String,
    pub heading: String,
    pub feed: Option<String>,
    pub threads: Vec<ThreadRow>,
    pub total: u64,
    pub page: usize,
    pub pages: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
}

pub struct AttachmentLink {
    pub name: String,
    pub href: String,
    pub kind: String,
    pub size: String,
    pub servable: bool,
}

pub struct PostView {
    pub key: i64,
    pub author: String,
    pub author_link: Option<String>,
    pub permalink: String,
    pub date_iso: String,
    pub date_human: String,
    /// The post it answers: (key, author).
    pub parent: Option<(i64, String)>,
    pub indent: u32,
    pub body: String,
    pub elided: String,
    pub html: Option<String>,
    pub attachments: Vec<AttachmentLink>,
    /// Messages forwarded inside this one, shown nested.
    pub forwarded: Vec<ForwardedView>,
}

/// A forwarded message (message/rfc822) inside a post.
pub struct ForwardedView {
    pub subject: String,
    pub from: String,
    pub date: String,
    pub body: String,
}

#[derive(Template)]
#[template(path = "thread.html")]
pub struct ThreadPage {
    pub site: String,
    pub query: String,
    pub thread: i64,
    pub subject: String,
    pub list: String,
    pub nested: bool,
    pub posts: Vec<PostView>,
}

pub struct ResultView {
    pub permalink: String,
    pub subject: String,
    pub from: String,
    pub date_iso: String,
    pub date_human: String,
    /// Escaped text with `<mark>` around the matched words.
    pub snippet: String,
}

#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub site: String,
    pub query: String,
    pub problem: Option<String>,
    pub total: u64,
    pub by_date: bool,
    pub date_link: String,
    pub relevance_link: String,
    pub results: Vec<ResultView>,
    pub page: usize,
    pub pages: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub site: String,
    pub query: String,
    pub heading: &'static str,
    pub message: String,
}
