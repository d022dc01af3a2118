//! How handlers reach the store: a small pool of open connections (readers confined to what the
//! request's viewer may see, writers not), lent off the async threads; and the `identify`
//! middleware, which finds the request's signed-in member once and carries their identity to
//! every read the request makes.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{AppState, WebError, extract};
use crate::config::Config;
use crate::store::{DeriveSettings, Location, Session, Store, StoreError, UserId};

impl AppState {
    /// Runs `f` on a pooled reader's connection, off the async threads, confined to what the
    /// request's viewer may see (see `identify`; outside a request: a reader not signed in).
    pub(super) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, WebError> {
        let viewer = VIEWER.try_with(|v| *v).ok().flatten();
        self.on_pool(&self.pool.reading, move |pool| pool.read_as(viewer, f))
            .await
    }

    /// The session a cookie's token names (hashed), on a pooled reader's connection.
    pub(super) async fn session(
        &self,
        token_hash: [u8; 32],
        now: i64,
    ) -> Result<Option<Session>, WebError> {
        self.on_pool(&self.pool.reading, move |pool| {
            pool.session(&token_hash, now)
        })
        .await
    }

    /// Runs `f` with write access on a pooled store connection, off the async threads.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, WebError> {
        self.on_pool(&self.pool.writing, move |pool| pool.with_mut(f))
            .await
    }

    /// Runs `f` on the pool off the async threads, once `turns` lets it (see `readers`).
    async fn on_pool<T: Send + 'static>(
        &self,
        turns: &Arc<tokio::sync::Semaphore>,
        f: impl FnOnce(&Pool) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, WebError> {
        let pool = Arc::clone(&self.pool);
        let turn = Arc::clone(turns)
            .acquire_owned()
            .await
            .expect("the pool's semaphores are never closed");
        Ok(tokio::task::spawn_blocking(move || {
            let _turn = turn;
            f(&pool)
        })
        .await??)
    }

    /// Carries out a forum action that may queue mail: `f` runs in one write with the
    /// configuration and the time now; when it succeeded, the outbox worker is woken.
    pub(super) async fn act<T, E>(
        &self,
        f: impl FnOnce(&mut Store, &Arc<Config>, i64) -> Result<Result<T, E>, StoreError>
        + Send
        + 'static,
    ) -> Result<T, WebError>
    where
        T: Send + 'static,
        E: Send + 'static,
        WebError: From<E>,
    {
        let config = Arc::clone(&self.config);
        let now = chrono::Utc::now().timestamp();
        let done = self.write(move |s| f(s, &config, now)).await??;
        self.wake.notify_one();
        Ok(done)
    }
}

tokio::task_local! {
    /// The member a request is answered for (None: not signed in), set once per request by
    /// `identify` and read by `AppState::read`: the reader's identity travels with the request,
    /// so no handler can forget to pass it, and a read outside a request sees only what a
    /// reader not signed in sees.
    pub(super) static VIEWER: Option<UserId>;
}

/// Middleware: finds the request's signed-in member (by the session cookie) and answers the
/// request with every store read confined to what they may see; handlers find the session in
/// the request (`extract::Viewer`) rather than look it up again. What a shared cache may keep
/// is decided here too (`cache_policy`), since only here is who asked known for every route.
pub(super) async fn identify(
    axum::extract::State(state): axum::extract::State<AppState>,
    jar: axum_extra::extract::CookieJar,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let session = match state.viewer(&jar).await {
        Ok(session) => session,
        Err(e) => return e.into_response(),
    };
    let viewer = session.as_ref().map(|s| s.user.id);
    request
        .extensions_mut()
        .insert(extract::Identified(session));
    let mut response = VIEWER.scope(viewer, next.run(request)).await;
    cache_policy(viewer.is_some(), response.headers_mut());
    response
}

/// What caches may keep of an answer. Every answer varies with the cookie (a signed-in
/// member's pages, private lists' events and attachments, addresses shown). An answer to a
/// signed-in member is for them alone: `private` whatever the handler said. An answer that
/// sets a cookie is kept by nobody. An answer to a reader not signed in is the same for every
/// such reader, so a handler's `public` stands for it.
fn cache_policy(signed_in: bool, headers: &mut HeaderMap) {
    headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    if headers.contains_key(header::SET_COOKIE) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return;
    }
    if !signed_in {
        return;
    }
    let given = headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let kept: Vec<&str> = given
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.eq_ignore_ascii_case("public"))
        .filter(|d| !d.eq_ignore_ascii_case("private"))
        .collect();
    let policy = if kept.iter().any(|d| d.eq_ignore_ascii_case("no-store")) {
        "no-store".to_owned()
    } else if kept.is_empty() {
        "private, no-cache".to_owned()
    } else {
        format!("private, {}", kept.join(", "))
    };
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CACHE_CONTROL, value);
    }
}

/// SQLite's page cache per pooled connection: the OS caches the file, and a larger cache
/// measured no faster while each reader's grew the server's memory by as much.
const CONNECTION_CACHE_KIB: u32 = 1024;

/// Connections that write at once. A request beyond them waits for a connection to come back
/// rather than open one: opening (the schema read, a reader's confinement) costs more than
/// most pages.
const WRITERS: usize = 4;

/// Connections that read at once: twice the cores, between 2 and 8. More readers than that
/// only take turns on the cores, and each holds its own page cache, statements and schema
/// (about 4 MB after a crawl of the archive), so they bound the server's memory too.
fn readers() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |cores| 2 * cores.get())
        .clamp(2, 8)
}

/// A few open connections, reused: opening SQLite per request would cost more than most pages.
/// Readers' connections are confined (`Store::confine`) to the viewer's lists; writers' are
/// not, so a handler that writes checks what it writes about with a read first.
pub(super) struct Pool {
    pub(super) db: Location,
    pub(super) settings: DeriveSettings,
    /// The private lists' names, from the config.
    pub(super) private: Vec<String>,
    pub(super) readers: Mutex<Vec<Store>>,
    pub(super) writers: Mutex<Vec<Store>>,
    /// How many connections read at once (`readers`).
    pub(super) reading_at_once: usize,
    /// Turns to read and to write (see `readers`).
    pub(super) reading: Arc<tokio::sync::Semaphore>,
    pub(super) writing: Arc<tokio::sync::Semaphore>,
}

impl Pool {
    pub(super) fn new(db: Location, settings: DeriveSettings, private: Vec<String>) -> Pool {
        let readers = readers();
        Pool {
            db,
            settings,
            private,
            readers: Mutex::new(Vec::new()),
            writers: Mutex::new(Vec::new()),
            reading_at_once: readers,
            reading: Arc::new(tokio::sync::Semaphore::new(readers)),
            writing: Arc::new(tokio::sync::Semaphore::new(WRITERS)),
        }
    }

    fn read_as<T>(
        &self,
        viewer: Option<UserId>,
        f: impl FnOnce(&Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.lend_reader(|store| store.set_viewer(viewer), f)
    }

    /// The session a cookie's token names (hashed). Sessions and members are no list's rows:
    /// the answer does not depend on whom the connection was last confined to, so none is
    /// named for it, and a member's reads that follow on the same connection find it naming
    /// them already (`Store::set_viewer` writes only when the viewer changes).
    fn session(&self, token_hash: &[u8], now: i64) -> Result<Option<Session>, StoreError> {
        self.lend_reader(|_| Ok(()), |store| store.session(token_hash, now))
    }

    /// Lends a reader's connection (confined when opened) to `f`, after `prepare`.
    fn lend_reader<T>(
        &self,
        prepare: impl FnOnce(&Store) -> Result<(), StoreError>,
        f: impl FnOnce(&Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.lend(
            &self.readers,
            self.reading_at_once,
            |store| store.confine(&self.private),
            prepare,
            |store| f(store),
        )
    }

    /// Gives back what the idle connections' caches and the allocator hold (see
    /// `forget_idle`).
    pub(super) fn release_memory(&self) {
        for idle in [&self.readers, &self.writers] {
            for store in idle.lock().expect("pool lock").iter() {
                store.shrink_cache();
            }
        }
        crate::store::give_back_freed_memory();
    }

    fn with_mut<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.lend(&self.writers, WRITERS, |_| Ok(()), |_| Ok(()), f)
    }

    /// Lends a connection from `idle` (or a new one, made ready by `open`) to `f`, after
    /// `prepare`, and keeps it for the next request unless `keep` are idle already.
    fn lend<T>(
        &self,
        idle: &Mutex<Vec<Store>>,
        keep: usize,
        open: impl FnOnce(&Store) -> Result<(), StoreError>,
        prepare: impl FnOnce(&Store) -> Result<(), StoreError>,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = idle.lock().expect("pool lock").pop();
        let mut store = match pooled {
            Some(s) => s,
            None => {
                let store = Store::open(&self.db, self.settings)?;
                // Many small reads: the OS caches the file; SQLite's own cache stays small,
                // so that the server's memory does not grow with the archive.
                store.set_cache_kib(CONNECTION_CACHE_KIB);
                open(&store)?;
                store
            }
        };
        prepare(&store)?;
        let result = f(&mut store);
        let mut idle = idle.lock().expect("pool lock");
        if idle.len() < keep {
            idle.push(store);
        }
        result
    }
}
