//! The web forum (axum): server-rendered pages that work without JavaScript, Atom feeds, a JSON
//! API and attachment downloads over the store; accounts and sessions (`auth`, `account`),
//! writing (`write`), interests, preferences and likes (`interests`), events with registration
//! (`events`), the moderators' page (`moderation`: held posts, members' flags and hidden posts,
//! decided in `flags`; threading fixes, made in `fixes`), organisers' pages (`engagement`), and
//! erasing an account or purging a message (`erasure`). Handlers read the store and write the
//! outbox (through the forum's actions, `crate::forum`): they never speak IMAP or SMTP. They reach
//! the store through `access` (pooled connections, confined to the request's viewer) and name
//! who may ask in their arguments (`extract`: the signed-in member, a role, a form's token).
//! Every response carries the security headers (a CSP allowing only the site's own script, no
//! framing, nosniff, a strict referrer policy).

mod access;
mod account;
mod addresses;
mod api;
mod auth;
mod charts;
mod engagement;
mod erasure;
mod events;
mod extract;
mod fixes;
mod flags;
mod interests;
mod members;
mod moderation;
mod pages;
mod view;
mod write;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tokio::sync::Notify;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Config;
use crate::store::{DeriveSettings, Session, StoreError};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pool: Arc<access::Pool>,
    config: Arc<Config>,
    /// Rendered thread pages for readers not signed in, keyed by thread, view and the archive's
    /// version (`PageKey`): rendering fifty mails per request would cost more than serving
    /// them, and any change a page shows raises the version, so a cached page is never stale.
    pages: Arc<Bounded<PageKey, axum::body::Bytes>>,
    searches: Arc<Bounded<SearchKey, axum::body::Bytes>>,
    /// A message's rendered text, by the archive's erasure count and Message-ID.
    bodies: Arc<Bounded<BodyKey, Arc<str>>>,
    /// Posts' content as thread pages draw it (parsed, chosen, trimmed, sanitised, escaped),
    /// once for readers who see addresses and once for those who do not: what else differs
    /// between readers (their likes, their own posts' state, their tools) is laid around it.
    /// A page drawn for a signed-in member is never cached whole.
    posts: Arc<Bounded<ContentKey, Arc<str>>>,
    /// What every reader's page of a thread is drawn from (`pages::SharedThread`): a member's
    /// page, never cached whole, is drawn from it without reading the thread again.
    threads: Arc<Bounded<ThreadKey, Arc<pages::SharedThread>>>,
    limits: Arc<auth::Limits>,
    passwords: Arc<auth::Passwords>,
    /// Picture decodes running (`account::AVATAR_DECODES` at most).
    decodes: Arc<tokio::sync::Semaphore>,
    /// Wakes the outbox worker when a handler has queued mail.
    wake: Arc<Notify>,
}

/// A thread page: the thread, its view, and its versions.
#[derive(PartialEq, Eq, Hash)]
struct PageKey {
    thread: i64,
    /// The nested view rather than date order.
    nested: bool,
    /// The archive's version (`Store::archive_version`): it counts every change a thread page
    /// shows (mail, likes, tags and interests, hiding, fixes, erasures), whichever process
    /// made it, so a cached page is never stale.
    archive: (i64, i64),
}

/// A search page: query, page, order, and the archive's version.
#[derive(PartialEq, Eq, Hash)]
struct SearchKey {
    query: String,
    page: usize,
    by_date: bool,
    /// The archive's change counter and erasures (`Store::archive_version`).
    archive: (i64, i64),
}

/// A message's rendered text: the archive's erasure count and the Message-ID.
#[derive(PartialEq, Eq, Hash)]
struct BodyKey {
    erasures: i64,
    message_id: crate::store::MessageId,
}

/// What every reader's page of a thread is drawn from: the thread, the archive's version, and
/// whether addresses are hidden.
#[derive(PartialEq, Eq, Hash)]
struct ThreadKey {
    thread: i64,
    archive: (i64, i64),
    hidden: bool,
}

/// A post's content as a thread page draws it: the message, and whether addresses are hidden.
#[derive(PartialEq, Eq, Hash)]
struct ContentKey {
    body: BodyKey,
    hidden: bool,
}

/// A cache's entries, each with when it was last used.
type Entries<K, V> = std::collections::HashMap<K, (V, Instant)>;

/// A bounded in-memory map, by entries and by bytes. Its keys carry whatever makes an entry
/// stale (an archive version), so entries never need invalidating; when full it simply starts
/// again rather than keep an eviction order. The byte bound keeps the server's memory flat
/// however large the pages it caches, and entries nobody used for a while are let go
/// (`forget_idle`), so that an idle server shrinks back.
pub struct Bounded<K, V> {
    /// Each entry with when it was last used, and the bytes held.
    map: Mutex<(Entries<K, V>, usize)>,
    capacity: usize,
    max_bytes: usize,
    weigh: fn(&V) -> usize,
}

impl<K: std::hash::Hash + Eq, V: Clone> Bounded<K, V> {
    fn new(capacity: usize, max_bytes: usize, weigh: fn(&V) -> usize) -> Self {
        Bounded {
            map: Mutex::default(),
            capacity,
            max_bytes,
            weigh,
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let mut guard = self.map.lock().expect("cache lock");
        let (value, used) = guard.0.get_mut(key)?;
        *used = Instant::now();
        Some(value.clone())
    }

    /// Drops the entries not used for `unused`; how many went.
    fn forget_unused(&self, unused: Duration) -> usize {
        let mut guard = self.map.lock().expect("cache lock");
        let (map, bytes) = &mut *guard;
        let before = map.len();
        let now = Instant::now();
        map.retain(|_, (_, used)| now.duration_since(*used) < unused);
        *bytes = map.values().map(|(v, _)| (self.weigh)(v)).sum();
        before - map.len()
    }

    fn put(&self, key: K, value: V) {
        let weight = (self.weigh)(&value);
        if weight > self.max_bytes / 4 {
            return;
        }
        let mut guard = self.map.lock().expect("cache lock");
        let (map, bytes) = &mut *guard;
        if map.len() >= self.capacity || *bytes + weight > self.max_bytes {
            map.clear();
            *bytes = 0;
        }
        if let Some((old, _)) = map.insert(key, (value, Instant::now())) {
            *bytes -= (self.weigh)(&old);
        }
        *bytes += weight;
    }
}

/// How long a cached page, search or message stays when nobody asks for it again.
const CACHE_UNUSED: Duration = Duration::from_secs(30);

/// Drops what the caches hold unused and gives the memory back, every few seconds until
/// `stop`: after a crawl or a burst of searches the server returns to its idle size within
/// a minute instead of keeping its peak.
pub async fn forget_idle(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(15));
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        let dropped = state.pages.forget_unused(CACHE_UNUSED)
            + state.searches.forget_unused(CACHE_UNUSED)
            + state.bodies.forget_unused(CACHE_UNUSED)
            + state.posts.forget_unused(CACHE_UNUSED)
            + state.threads.forget_unused(CACHE_UNUSED);
        if dropped > 0 {
            let pool = Arc::clone(&state.pool);
            let _ = tokio::task::spawn_blocking(move || pool.release_memory()).await;
        }
    }
}

impl AppState {
    pub fn new(
        config: Config,
        db: impl Into<crate::store::Location>,
        settings: DeriveSettings,
        wake: Arc<Notify>,
    ) -> AppState {
        // `[web] cache_mb` in eighths: two each for thread pages, posts' content and messages'
        // text (for snippets), one for search pages and one for threads as every reader sees
        // them. Each cache lets go of what nobody asked for in a while (`forget_idle`).
        let eighth = ((config.web.cache_mb as usize) << 20) / 8;
        AppState {
            pool: Arc::new(access::Pool::new(
                db.into(),
                settings,
                config.private_lists(),
            )),
            pages: Arc::new(Bounded::new(512, 2 * eighth, |b| b.len())),
            // Search pages for repeated queries; a message's rendered text for snippets (a
            // message changes only when erased, which its key counts; rendering it is most of
            // a search's cost).
            searches: Arc::new(Bounded::new(1024, eighth, |b| b.len())),
            bodies: Arc::new(Bounded::new(8192, 2 * eighth, |b| b.len())),
            posts: Arc::new(Bounded::new(4096, 2 * eighth, |c| c.len())),
            threads: Arc::new(Bounded::new(1024, eighth, |t| t.weight())),
            config: Arc::new(config),
            limits: Arc::new(auth::Limits::new()),
            passwords: Arc::default(),
            decodes: Arc::new(tokio::sync::Semaphore::new(account::AVATAR_DECODES)),
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
        let tag = self.list(list).and_then(|l| l.subject_tag.as_deref());
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
}

impl AppState {
    /// The configured list of this name.
    fn list(&self, name: &str) -> Option<&crate::config::ListConfig> {
        self.config.lists.iter().find(|l| l.name == name)
    }

    /// The frame of a page shown to `session`'s member (or to a reader not signed in), its
    /// search box empty.
    pub(super) fn head(&self, session: Option<&Session>) -> view::Head {
        view::Head {
            site: self.config.web.site_name.clone(),
            query: String::new(),
            me: auth::me(session),
        }
    }

    /// How many password verifications (argon2 runs) this server has made: every password
    /// sign-in makes exactly one, whether or not the address has a password.
    pub fn password_verifications(&self) -> u64 {
        self.passwords.verifications()
    }

    /// What `from:` may match for this reader: names alone for a reader not signed in when
    /// addresses are hidden (a prefix or exact search would confirm an address).
    fn author_match(&self, signed_in: bool) -> crate::store::AuthorMatch {
        if signed_in || !self.config.web.hide_addresses {
            crate::store::AuthorMatch::NamesAndAddresses
        } else {
            crate::store::AuthorMatch::NamesOnly
        }
    }

    /// A list the viewer may read (a private list only for its members and moderators), or
    /// "not found": a private list's name is not confirmed to anyone else.
    async fn readable_list(&self, name: &str) -> Result<(), WebError> {
        let name = name.to_owned();
        if self.read(move |s| s.can_read_list(&name)).await? {
            Ok(())
        } else {
            Err(WebError::NotFound("list"))
        }
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
    /// An address's sign-in mail limit: a link went to it minutes ago and still works.
    LinkSentRecently,
    /// A page for members, asked for by a reader not signed in: to the sign-in page, and back
    /// to this address afterwards.
    SignIn(String),
    Internal,
}

impl WebError {
    /// The one policy for failures the reader cannot correct: logged once, here, with what
    /// failed; the reader is told only that something went wrong.
    fn internal(error: &dyn std::fmt::Display, what: &'static str) -> WebError {
        tracing::error!(error = %error, "{what}");
        WebError::Internal
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        WebError::internal(&e, "store error")
    }
}

/// A blocking task (a store call, a password hash, an image) that panicked or was cancelled.
impl From<tokio::task::JoinError> for WebError {
    fn from(e: tokio::task::JoinError) -> Self {
        WebError::internal(&e, "a blocking task failed")
    }
}

/// Posting, events, moderators' decisions and flags: what reaches a handler is what the form
/// already ruled out, so it is a failure of ours.
impl From<crate::forum::PostError> for WebError {
    fn from(e: crate::forum::PostError) -> Self {
        WebError::internal(&e, "a change could not be stored")
    }
}

impl From<crate::forum::erasure::ErasureError> for WebError {
    fn from(e: crate::forum::erasure::ErasureError) -> Self {
        WebError::internal(&e, "an erasure failed")
    }
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
            WebError::LinkSentRecently => (
                StatusCode::TOO_MANY_REQUESTS,
                "A link is on its way",
                "Sign-in links were mailed to this address in the last few minutes. Use the newest one in your mailbox (each works once, for an hour), or wait a few minutes and ask again.".to_owned(),
            ),
            WebError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The archive could not answer just now. Please try again in a moment.".to_owned(),
            ),
        };
        let page = view::ErrorPage {
            head: view::Head {
                site: "listbridge".to_owned(),
                query: String::new(),
                me: None,
            },
            heading,
            message,
        };
        (status, view::render(&page)).into_response()
    }
}

/// A file to save (`Content-Disposition: attachment`) under `filename`, with the
/// `Cache-Control` given, if any.
pub(super) fn download(
    content_type: &str,
    filename: &str,
    cache_control: Option<&'static str>,
    body: impl IntoResponse,
) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response();
    if let Some(cache) = cache_control {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    response
}

/// Every route of the forum, pattern and handlers. The router is built from this list and the
/// tests walk the same list (`route_patterns`), so a new route cannot escape them.
fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/", get(pages::latest)),
        ("/t/{thread}", get(pages::thread)),
        ("/t/{thread}/mbox", get(api::thread_mbox)),
        ("/t/{thread}/feed.atom", get(api::thread_feed)),
        ("/m/{*message_id}", get(pages::permalink)),
        ("/l/{list}", get(pages::list)),
        ("/l/{list}/feed.atom", get(api::list_feed)),
        (
            "/l/{list}/new",
            get(write::new_thread_form).post(write::post_new_thread),
        ),
        (
            "/t/{thread}/reply",
            get(write::reply_form).post(write::post_reply),
        ),
        ("/signin", get(auth::sign_in_page)),
        ("/signin/link", post(auth::send_link)),
        ("/signin/password", post(auth::sign_in_password)),
        ("/signin/{token}", get(auth::link_page).post(auth::use_link)),
        ("/signout", post(auth::sign_out)),
        ("/signout/everywhere", post(auth::sign_out_everywhere)),
        (
            "/account",
            get(account::account).post(account::save_profile),
        ),
        ("/account/password", post(account::set_password)),
        ("/account/avatar", post(account::upload_avatar)),
        ("/account/export", get(account::export_json)),
        ("/account/export.mbox", get(account::export_mbox)),
        (
            "/account/erase",
            get(erasure::erase_page).post(erasure::erase_account),
        ),
        ("/u/{id}", get(account::profile)),
        ("/u/{id}/avatar", get(account::avatar)),
        ("/admin/inbound", get(write::inbound_log)),
        ("/admin/bounces/resume", post(write::resume_delivery)),
        ("/admin/held", get(moderation::queue)),
        ("/admin/held/{id}", post(moderation::decide)),
        ("/flag", post(flags::flag)),
        ("/admin/flags", post(flags::decide)),
        ("/t/{thread}/split", post(fixes::split)),
        ("/t/{thread}/move", post(fixes::move_post)),
        ("/t/{thread}/merge", post(fixes::merge)),
        ("/admin/fixes/{id}/undo", post(fixes::undo)),
        ("/admin/engagement", get(engagement::page)),
        ("/admin/engagement.csv", get(engagement::csv_file)),
        ("/admin/erasures", get(erasure::admin_page)),
        ("/admin/members", get(members::page)),
        ("/admin/members/{id}/role", post(members::change_role)),
        ("/admin/purge", post(erasure::purge)),
        ("/events", get(events::upcoming)),
        ("/events/past", get(events::past)),
        ("/events.ics", get(events::feed)),
        ("/events/new", get(events::new_form).post(events::create)),
        ("/events/{id}", get(events::page)),
        ("/events/{id}/event.ics", get(events::ics)),
        ("/events/{id}/register", post(events::register)),
        ("/events/{id}/cancel", post(events::cancel)),
        ("/events/{id}/attendees", get(events::attendees)),
        ("/events/{id}/attendees.csv", get(events::attendees_csv)),
        ("/events/{id}/settings", post(events::save_limits)),
        ("/i/{slug}/events.ics", get(events::interest_feed)),
        ("/interests", get(interests::index)),
        ("/i/{slug}", get(interests::interest)),
        ("/i/{slug}/feed.atom", get(interests::feed)),
        ("/t/{thread}/tags", post(interests::tag)),
        ("/t/{thread}/watch", post(interests::watch)),
        ("/like", post(interests::like)),
        (
            "/account/preferences",
            get(interests::my_preferences).post(interests::save_my_preferences),
        ),
        (
            "/preferences/{token}",
            get(interests::link_preferences).post(interests::link_save),
        ),
        (
            "/admin/interests",
            get(interests::admin).post(interests::admin_save),
        ),
        ("/a/{address}", get(pages::author)),
        ("/search", get(pages::search)),
        ("/feed.atom", get(api::site_feed)),
        ("/att/{sha}/{name}", get(api::attachment)),
        ("/api/threads", get(api::threads)),
        ("/api/threads/{thread}", get(api::thread)),
        ("/api/messages/{*message_id}", get(api::message)),
        ("/api/search", get(api::search)),
        ("/static/style.css", get(stylesheet)),
        ("/static/compose.js", get(script)),
        ("/favicon.ico", get(|| async { StatusCode::NO_CONTENT })),
        ("/healthz", get(api::healthz)),
    ]
}

/// The pattern of every route, as the router declares them.
pub fn route_patterns() -> Vec<&'static str> {
    routes().into_iter().map(|(pattern, _)| pattern).collect()
}

/// The router with every route of the forum.
pub fn router(state: AppState) -> Router {
    let identified = axum::middleware::from_fn_with_state(state.clone(), access::identify);
    let addresses_hidden =
        axum::middleware::from_fn_with_state(state.clone(), addresses::hide_from_anonymous);
    routes()
        .into_iter()
        .fold(Router::new(), |router, (pattern, handlers)| {
            router.route(pattern, handlers)
        })
        .fallback(|| async { WebError::NotFound("page") })
        // Inside `identify`'s scope, so that it knows who is reading.
        .layer(addresses_hidden)
        .layer(identified)
        .with_state(state)
        // Forms are small; only the avatar upload needs more (its own limit is checked too).
        .layer(axum::extract::DefaultBodyLimit::max(
            account::AVATAR_MAX_BYTES + 64 * 1024,
        ))
        // A handler's own policy stands (an attachment's is stricter: a sandbox).
        .layer(SetResponseHeaderLayer::if_not_present(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_forgets_what_was_not_used_lately_and_counts_its_bytes_again() {
        let cache: Bounded<u32, String> = Bounded::new(10, 1 << 20, |s| s.len());
        cache.put(1, "one".to_owned());
        cache.put(2, "two".to_owned());
        assert_eq!(cache.forget_unused(Duration::from_secs(60)), 0);
        assert_eq!(cache.get(&1).as_deref(), Some("one"));
        std::thread::sleep(Duration::from_millis(30));
        // Entry 1 is used again; entry 2 has not been for 30 ms.
        assert!(cache.get(&1).is_some());
        assert_eq!(cache.forget_unused(Duration::from_millis(20)), 1);
        assert_eq!(cache.get(&2), None);
        assert_eq!(
            cache.map.lock().unwrap().1,
            3,
            "only entry 1's bytes are left"
        );
    }
}
