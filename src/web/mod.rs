//! The web forum (axum): server-rendered pages that work without JavaScript, Atom feeds, a JSON
//! API and attachment downloads over the store; accounts and sessions (`auth`, `account`),
//! writing (`write`), interests, preferences and likes (`interests`), events with registration
//! (`events`), the moderators' queue of held posts (`moderation`), organisers' pages
//! (`engagement`), and erasing an account or purging a message (`erasure`). Handlers read the
//! store and write the outbox (through `outbound`'s posting functions): they never speak IMAP
//! or SMTP. Every response carries the security headers (a
//! CSP allowing only the site's own script, no framing, nosniff, a strict referrer policy).

mod account;
mod api;
mod auth;
mod charts;
mod engagement;
mod erasure;
mod events;
mod interests;
mod moderation;
mod pages;
mod view;
mod write;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Notify;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Config;
use crate::store::{DeriveSettings, Store, StoreError};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pool: Arc<Pool>,
    config: Arc<Config>,
    /// Rendered thread pages, keyed by thread, view and the thread's version (message count and
    /// newest message): rendering fifty mails per request would cost more than serving them,
    /// and a changed thread has a new key, so a cached page is never stale.
    pages: Arc<Bounded<PageKey, axum::body::Bytes>>,
    searches: Arc<Bounded<SearchKey, axum::body::Bytes>>,
    /// A message's rendered text, by the archive's erasure count and Message-ID.
    bodies: Arc<Bounded<(i64, String), Arc<str>>>,
    limits: Arc<auth::Limits>,
    /// Wakes the outbox worker when a handler has queued mail.
    wake: Arc<Notify>,
}

/// A thread page: thread, view, and its versions (messages, newest, likes, hand-set tags and
/// erasures).
type PageKey = (i64, bool, i64, i64, (i64, i64, i64));

/// A search page: query, page, by date, and the archive's version (newest message, count,
/// erasures).
type SearchKey = (String, usize, bool, i64, i64, i64);

/// A bounded in-memory map. Its keys carry whatever makes an entry stale (an archive version),
/// so entries never need invalidating; when full it simply starts again rather than track use.
pub struct Bounded<K, V> {
    map: Mutex<std::collections::HashMap<K, V>>,
    capacity: usize,
}

impl<K: std::hash::Hash + Eq, V: Clone> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Bounded {
            map: Mutex::default(),
            capacity,
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        self.map.lock().expect("cache lock").get(key).cloned()
    }

    fn put(&self, key: K, value: V) {
        let mut map = self.map.lock().expect("cache lock");
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert(key, value);
    }
}

impl AppState {
    pub fn new(
        config: Config,
        db: PathBuf,
        settings: DeriveSettings,
        wake: Arc<Notify>,
    ) -> AppState {
        AppState {
            pool: Arc::new(Pool {
                db,
                settings,
                idle: Mutex::new(Vec::new()),
            }),
            config: Arc::new(config),
            pages: Arc::new(Bounded::new(512)),
            // Search pages for repeated queries; a message's rendered text for snippets (a
            // message changes only when erased, which its key counts; rendering it is most of
            // a search's cost).
            searches: Arc::new(Bounded::new(1024)),
            bodies: Arc::new(Bounded::new(8192)),
            limits: Arc::new(auth::Limits::new()),
            wake,
        }
    }

    /// A thread's title: its subject without the list's tag and without "Re:" prefixes (a
    /// thread whose first message we have is a reply still has a topic, not a reply).
    fn thread_title(&self, subject: Option<&str>, list: &str) -> String {
        let mut title = self.subject(subject, list);
        loop {
            let lower = title.to_lowercase();
            let Some(prefix) = ["re:", "aw:", "sv:", "vs:", "antw:"]
                .iter()
                .find(|p| lower.starts_with(*p))
            else {
                break;
            };
            title = title[prefix.len()..].trim_start().to_owned();
        }
        if title.is_empty() {
            "(no subject)".to_owned()
        } else {
            title
        }
    }

    /// A subject as titles show it: without the list's tag (`[SNUG]`).
    fn subject(&self, subject: Option<&str>, list: &str) -> String {
        let subject = subject.unwrap_or("").trim();
        let tag = self
            .config
            .lists
            .iter()
            .find(|l| l.name == list)
            .and_then(|l| l.subject_tag.as_deref());
        let shown = match tag {
            Some(tag) => subject
                .replacen(tag, "", 1)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            None => subject.to_owned(),
        };
        if shown.is_empty() {
            "(no subject)".to_owned()
        } else {
            shown
        }
    }

    /// Runs `f` on a pooled store connection, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, WebError> {
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || pool.with(f))
            .await
            .map_err(|_| WebError::Internal)?
            .map_err(|e| {
                tracing::error!(error = %e, "store error");
                WebError::Internal
            })
    }
}

impl AppState {
    /// Runs `f` with write access on a pooled store connection, off the async threads.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, WebError> {
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || pool.with_mut(f))
            .await
            .map_err(|_| WebError::Internal)?
            .map_err(|e| {
                tracing::error!(error = %e, "store error");
                WebError::Internal
            })
    }
}

/// A few open connections, reused: opening SQLite per request would cost more than most pages.
struct Pool {
    db: PathBuf,
    settings: DeriveSettings,
    idle: Mutex<Vec<Store>>,
}

impl Pool {
    fn with<T>(&self, f: impl FnOnce(&Store) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.with_mut(|s| f(s))
    }

    fn with_mut<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().expect("pool lock").pop();
        let mut store = match pooled {
            Some(s) => s,
            None => Store::open(&self.db, self.settings)?,
        };
        let result = f(&mut store);
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < 16 {
            idle.push(store);
        }
        result
    }
}

/// What can go wrong in a handler, as a page a reader understands.
#[derive(Debug)]
pub enum WebError {
    NotFound(&'static str),
    BadRequest(String),
    /// A form without its valid token (a forged or stale form), or a page above one's role.
    Forbidden,
    /// A one-time link already used or expired.
    Gone(&'static str),
    /// A rate limit: what there were too many of.
    TooMany(&'static str),
    /// A page for members, asked for by a reader not signed in: to the sign-in page, and back
    /// to this address afterwards.
    SignIn(String),
    Internal,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match self {
            WebError::SignIn(back) => {
                return axum::response::Redirect::to(&format!(
                    "/signin?next={}",
                    percent_encoding::utf8_percent_encode(&back, percent_encoding::NON_ALPHANUMERIC)
                ))
                .into_response();
            }
            WebError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "Not found",
                format!("There is no {what} at this address. It may have been mistyped."),
            ),
            WebError::BadRequest(why) => (StatusCode::BAD_REQUEST, "That did not work", why),
            WebError::Forbidden => (
                StatusCode::FORBIDDEN,
                "That did not work",
                "This form has expired or did not come from this site, or the page is not open to your account. Go back, reload the page and try again.".to_owned(),
            ),
            WebError::Gone(why) => (StatusCode::GONE, "This link no longer works", why.to_owned()),
            WebError::TooMany(what) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Please wait a moment",
                format!("There have been too many {what}. Wait a few minutes, then try again."),
            ),
            WebError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The archive could not answer just now. Please try again in a moment.".to_owned(),
            ),
        };
        let page = view::ErrorPage {
            site: "listbridge".to_owned(),
            query: String::new(),
            me: None,
            heading,
            message,
        };
        (status, view::render(&page)).into_response()
    }
}

/// The router with every route of the forum.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::latest))
        .route("/t/{thread}", get(pages::thread))
        .route("/t/{thread}/mbox", get(api::thread_mbox))
        .route("/t/{thread}/feed.atom", get(api::thread_feed))
        .route("/m/{*message_id}", get(pages::permalink))
        .route("/l/{list}", get(pages::list))
        .route("/l/{list}/feed.atom", get(api::list_feed))
        .route(
            "/l/{list}/new",
            get(write::new_thread_form).post(write::post_new_thread),
        )
        .route(
            "/t/{thread}/reply",
            get(write::reply_form).post(write::post_reply),
        )
        .route("/signin", get(auth::sign_in_page))
        .route("/signin/link", post(auth::send_link))
        .route("/signin/password", post(auth::sign_in_password))
        .route("/signin/{token}", get(auth::link_page).post(auth::use_link))
        .route("/signout", post(auth::sign_out))
        .route("/signout/everywhere", post(auth::sign_out_everywhere))
        .route(
            "/account",
            get(account::account).post(account::save_profile),
        )
        .route("/account/password", post(account::set_password))
        .route("/account/avatar", post(account::upload_avatar))
        .route("/account/export", get(account::export_json))
        .route("/account/export.mbox", get(account::export_mbox))
        .route(
            "/account/erase",
            get(erasure::erase_page).post(erasure::erase_account),
        )
        .route("/u/{id}", get(account::profile))
        .route("/u/{id}/avatar", get(account::avatar))
        .route("/admin/inbound", get(write::inbound_log))
        .route("/admin/held", get(moderation::queue))
        .route("/admin/held/{id}", post(moderation::decide))
        .route("/admin/engagement", get(engagement::page))
        .route("/admin/engagement.csv", get(engagement::csv_file))
        .route("/admin/erasures", get(erasure::admin_page))
        .route("/admin/purge", post(erasure::purge))
        .route("/events", get(events::upcoming))
        .route("/events/past", get(events::past))
        .route("/events.ics", get(events::feed))
        .route("/events/new", get(events::new_form).post(events::create))
        .route("/events/{id}", get(events::page))
        .route("/events/{id}/event.ics", get(events::ics))
        .route("/events/{id}/register", post(events::register))
        .route("/events/{id}/cancel", post(events::cancel))
        .route("/events/{id}/attendees", get(events::attendees))
        .route("/events/{id}/attendees.csv", get(events::attendees_csv))
        .route("/events/{id}/settings", post(events::save_limits))
        .route("/i/{slug}/events.ics", get(events::interest_feed))
        .route("/interests", get(interests::index))
        .route("/i/{slug}", get(interests::interest))
        .route("/i/{slug}/feed.atom", get(interests::feed))
        .route("/t/{thread}/tags", post(interests::tag))
        .route("/t/{thread}/watch", post(interests::watch))
        .route("/like", post(interests::like))
        .route(
            "/account/preferences",
            get(interests::my_preferences).post(interests::save_my_preferences),
        )
        .route(
            "/preferences/{token}",
            get(interests::link_preferences).post(interests::link_save),
        )
        .route(
            "/admin/interests",
            get(interests::admin).post(interests::admin_save),
        )
        .route("/a/{address}", get(pages::author))
        .route("/search", get(pages::search))
        .route("/feed.atom", get(api::site_feed))
        .route("/att/{sha}/{name}", get(api::attachment))
        .route("/api/threads", get(api::threads))
        .route("/api/threads/{thread}", get(api::thread))
        .route("/api/messages/{*message_id}", get(api::message))
        .route("/api/search", get(api::search))
        .route("/static/style.css", get(stylesheet))
        .route("/static/compose.js", get(script))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/healthz", get(api::healthz))
        .fallback(|| async { WebError::NotFound("page") })
        .with_state(state)
        // Forms are small; only the avatar upload needs more (its own limit is checked too).
        .layer(axum::extract::DefaultBodyLimit::max(
            account::AVATAR_MAX_BYTES + 64 * 1024,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
                 form-action 'self'; \
                 base-uri 'none'; frame-ancestors 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/style.css"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/compose.js"),
    )
}
