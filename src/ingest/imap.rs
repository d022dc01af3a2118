//! Live ingest from an IMAP mailbox: connect (implicit TLS, STARTTLS, or plain on loopback),
//! read everything after the cursor in batches, then wait in IDLE (re-issued before RFC 2177's
//! 29-minute limit) or poll where the server has no IDLE. Each batch of messages is stored in
//! one transaction together with the cursor, so a crash at any point neither loses nor
//! duplicates a message. Failures are classified: transient ones reconnect with exponential
//! backoff and jitter, permanent ones (login, missing mailbox) are reported and retried slowly.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use async_imap::types::UnsolicitedResponse;
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};

use crate::archive::Incoming;
use crate::archive::pipeline::{ImportSummary, store_batch};
use crate::config::{Login, MailServer, SourceConfig, TlsMode};
use crate::forum::gate::Gate;
use crate::forum::held::take_in;
use crate::mail::render::RenderOptions;
use crate::store::{Cursor, DeriveSettings, SourceState, Store, StoreError};

/// Messages stored per transaction during a sync.
const BATCH: usize = 200;
/// IDLE is re-issued well before the 29 minutes after which RFC 2177 lets a server drop us.
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
/// The longest wait for a connection, a greeting, a login or one command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Backoff after transient failures: doubled from the first to the last, with jitter.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_LAST: Duration = Duration::from_secs(60);
/// After a permanent failure (a wrong password, say), tried again only this often.
const PERMANENT_RETRY: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("TLS with {host} failed: {reason}")]
    Tls { host: String, reason: String },
    #[error("the server does not offer STARTTLS; set tls = \"implicit\" or check the port")]
    NoStartTls,
    #[error("the server refused the login for {user}: {reason}")]
    Login { user: String, reason: String },
    #[error("mailbox {mailbox:?} cannot be opened: {reason}")]
    Mailbox { mailbox: String, reason: String },
    #[error("the server gives no UIDVALIDITY for {0:?}, so messages cannot be tracked")]
    NoUidValidity(String),
    #[error("IMAP error: {0}")]
    Protocol(#[from] async_imap::error::Error),
    #[error("no answer from the server within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImapError {
    /// Whether retrying soon cannot help: an admin has to fix something.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ImapError::Login { .. }
                | ImapError::Mailbox { .. }
                | ImapError::NoStartTls
                | ImapError::NoUidValidity(_)
                | ImapError::Tls { .. }
        )
    }
}

/// One configured source, run until shutdown.
pub struct SourceRunner {
    pub config: SourceConfig,
    pub db: crate::store::Location,
    pub settings: DeriveSettings,
    pub render: RenderOptions,
    /// What passes into the archive (None: everything, when the bridge sends no mail).
    pub gate: Option<Arc<Gate>>,
    /// Woken after each batch: the gate may have queued mail.
    pub wake: Option<Arc<Notify>>,
}

impl SourceRunner {
    /// Keeps the archive in step with the mailbox until `shutdown` turns true. Never returns
    /// an error: failures are logged, recorded in the status and retried.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let name = self.config.name.clone();
        let mut backoff = BACKOFF_FIRST;
        let store = match Store::open(&self.db, self.settings) {
            Ok(s) => {
                // A source writes batches; a small cache keeps an idle daemon small.
                s.set_cache_kib(4096);
                Arc::new(Mutex::new(s))
            }
            Err(e) => {
                tracing::error!(source = %name, error = %e, "cannot open the database; this source stops");
                return;
            }
        };
        loop {
            if *shutdown.borrow() {
                return;
            }
            set_state(&store, &name, SourceState::Connecting, None);
            let outcome = self.session(&store, &mut shutdown, &mut backoff).await;
            let wait = match outcome {
                Ok(()) => return, // shutdown requested
                Err(e) => {
                    let permanent = e.is_permanent();
                    if permanent {
                        tracing::error!(source = %name, error = %e, "source failed; fix the configuration, retrying every 5 minutes");
                    } else {
                        tracing::warn!(source = %name, error = %e, retry_in = ?backoff, "source failed; reconnecting");
                    }
                    set_state(
                        &store,
                        &name,
                        SourceState::Failing,
                        Some((&e.to_string(), permanent)),
                    );
                    if permanent {
                        PERMANENT_RETRY
                    } else {
                        let wait = jitter(backoff);
                        backoff = (backoff * 2).min(BACKOFF_LAST);
                        wait
                    }
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One connection: log in, sync, wait for more, until an error or shutdown.
    async fn session(
        &self,
        store: &Arc<Mutex<Store>>,
        shutdown: &mut watch::Receiver<bool>,
        backoff: &mut Duration,
    ) -> Result<(), ImapError> {
        let c = &self.config;
        let mut session = connect(&c.server).await?;
        let mailbox = timed(async {
            if c.delete_after_import {
                session.select(&c.mailbox).await
            } else {
                session.examine(&c.mailbox).await
            }
        })
        .await?
        .map_err(|e| ImapError::Mailbox {
            mailbox: c.mailbox.clone(),
            reason: e.to_string(),
        })?;
        let uidvalidity = mailbox
            .uid_validity
            .ok_or_else(|| ImapError::NoUidValidity(c.mailbox.clone()))?;
        let can_idle = timed(session.capabilities()).await??.has_str("IDLE");
        tracing::debug!(source = %c.name, idle = can_idle, uidvalidity, "mailbox opened");
        let run = {
            let mut s = store.lock().expect("store lock");
            s.begin_run(&format!("imap {}", c.name), now())?
        };
        let list = {
            let mut s = store.lock().expect("store lock");
            s.list_id(&c.list)?
        };
        let mut cursor = {
            let s = store.lock().expect("store lock");
            s.cursor(&c.name)?
        };
        if let Some(old) = &cursor
            && (old.uidvalidity != uidvalidity || old.mailbox != c.mailbox)
        {
            tracing::warn!(source = %c.name, "UIDVALIDITY changed: reading the whole mailbox again (archived messages are recognised and skipped)");
            cursor = None;
        }
        let mut cursor = cursor.unwrap_or(Cursor {
            mailbox: c.mailbox.clone(),
            uidvalidity,
            last_uid: 0,
        });
        cursor.uidvalidity = uidvalidity;

        loop {
            set_state(store, &c.name, SourceState::Syncing, None);
            let summary = self
                .sync(&mut session, store, run, list, &mut cursor)
                .await?;
            if summary.read > 0 {
                tracing::info!(source = %c.name, read = summary.read, new = summary.imported, "synced");
            }
            {
                let s = store.lock().expect("store lock");
                s.set_source_synced(&c.name, now())?;
                // An idle daemon gives back the page cache a large sync filled.
                s.release_memory();
            }
            *backoff = BACKOFF_FIRST; // a good sync resets the backoff
            if *shutdown.borrow() {
                let _ = timed(session.logout()).await;
                return Ok(());
            }
            // Mail that arrived during the fetch was announced then (EXISTS), and a server does
            // not announce it again when IDLE starts: such news means another sync first, or
            // the last mail of a burst would wait for the next one.
            let mut news = false;
            while let Ok(response) = session.unsolicited_responses.try_recv() {
                news |= matches!(
                    response,
                    UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
                );
            }
            if news {
                continue;
            }
            if can_idle {
                set_state(store, &c.name, SourceState::Idle, None);
                let mut idle = session.idle();
                timed(idle.init()).await??;
                let (wait, stop) = idle.wait_with_timeout(IDLE_RENEW);
                let stopped = tokio::select! {
                    response = wait => { response?; false }
                    _ = shutdown.changed() => true,
                };
                drop(stop);
                session = timed(idle.done()).await??;
                if stopped {
                    let _ = timed(session.logout()).await;
                    return Ok(());
                }
                let _ = IdleResponse::Timeout; // every answer (new mail or renewal) leads to a sync
            } else {
                set_state(store, &c.name, SourceState::Polling, None);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(u64::from(c.poll_seconds))) => {}
                    _ = shutdown.changed() => {
                        let _ = timed(session.logout()).await;
                        return Ok(());
                    }
                }
                timed(session.noop()).await??;
            }
        }
    }

    /// Reads every message after the cursor and stores it, a batch per transaction with the
    /// cursor advanced in the same transaction.
    async fn sync(
        &self,
        session: &mut Session<Conn>,
        store: &Arc<Mutex<Store>>,
        run: crate::store::RunId,
        list: crate::store::ListId,
        cursor: &mut Cursor,
    ) -> Result<ImportSummary, ImapError> {
        let c = &self.config;
        let mut total = ImportSummary::default();
        let mut stored_uids: Vec<u32> = Vec::new();
        let mut pending: Option<(StoreTask, Cursor)> = None;
        {
            let mut fetches =
                timed(session.uid_fetch(format!("{}:*", cursor.last_uid + 1), "(UID BODY.PEEK[])"))
                    .await??;
            let mut batch: Vec<Incoming> = Vec::new();
            let mut batch_last = cursor.last_uid;
            loop {
                let next = tokio::time::timeout(COMMAND_TIMEOUT, fetches.try_next())
                    .await
                    .map_err(|_| ImapError::Timeout(COMMAND_TIMEOUT))??;
                let done = next.is_none();
                if let Some(fetch) = next {
                    let Some(uid) = fetch.uid else { continue };
                    // "n:*" also answers with the last message when n is past the end.
                    if uid <= cursor.last_uid {
                        continue;
                    }
                    let bytes = fetch.body().map(<[u8]>::to_vec).unwrap_or_default();
                    batch.push(Incoming {
                        bytes,
                        envelope: None,
                        origin: format!("imap:{}:{}:{}", c.name, cursor.uidvalidity, uid),
                    });
                    batch_last = batch_last.max(uid);
                    stored_uids.push(uid);
                }
                if batch.len() >= BATCH || (done && !batch.is_empty()) {
                    let new_cursor = Cursor {
                        last_uid: batch_last,
                        ..cursor.clone()
                    };
                    let items = std::mem::take(&mut batch);
                    // One batch is parsed and stored while the next is read from the server:
                    // the two halves run on the two cores instead of taking turns.
                    if let Some((previous, covered)) = pending.take() {
                        total.add(&finish(previous).await?);
                        *cursor = covered;
                    }
                    pending = Some((
                        self.spawn_store(store, run, list, items, new_cursor.clone()),
                        new_cursor,
                    ));
                }
                if done {
                    break;
                }
            }
        }
        if let Some((previous, covered)) = pending.take() {
            total.add(&finish(previous).await?);
            *cursor = covered;
        }
        if c.delete_after_import && !stored_uids.is_empty() {
            let set = stored_uids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            timed(async {
                let updates = session.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?;
                let _: Vec<_> = updates.try_collect().await?;
                let expunged = session.uid_expunge(&set).await?;
                let _: Vec<_> = expunged.try_collect().await?;
                Ok::<_, async_imap::error::Error>(())
            })
            .await??;
        }
        Ok(total)
    }

    /// Parses and stores a batch with its cursor, off the async threads.
    fn spawn_store(
        &self,
        store: &Arc<Mutex<Store>>,
        run: crate::store::RunId,
        list: crate::store::ListId,
        items: Vec<Incoming>,
        cursor: Cursor,
    ) -> StoreTask {
        let store = Arc::clone(store);
        let render = self.render.clone();
        let source = self.config.name.clone();
        let gate = self.gate.clone();
        let wake = self.wake.clone();
        tokio::task::spawn_blocking(move || {
            let mut s = store.lock().expect("store lock");
            let now = chrono::Utc::now().timestamp();
            let cursor = Some((source.as_str(), &cursor));
            let summary = match gate.as_deref() {
                Some(gate) => take_in(gate, &mut s, run, list, &render, items, cursor, now),
                None => store_batch(&mut s, run, list, &render, items, cursor, None, now)
                    .map(|batch| batch.summary),
            };
            if let Some(wake) = wake {
                wake.notify_one();
            }
            summary
        })
    }
}

type StoreTask = tokio::task::JoinHandle<Result<ImportSummary, StoreError>>;

async fn finish(task: StoreTask) -> Result<ImportSummary, ImapError> {
    task.await
        .expect("the storing task does not panic")
        .map_err(ImapError::Store)
}

fn set_state(
    store: &Arc<Mutex<Store>>,
    source: &str,
    state: SourceState,
    error: Option<(&str, bool)>,
) {
    let s = store.lock().expect("store lock");
    if let Err(e) = s.set_source_state(source, state, now(), error) {
        tracing::warn!(source, error = %e, "cannot record the source's state");
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Up to a quarter more or less, so that many bridges do not reconnect in step.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let factor = 0.75 + f64::from(nanos % 1000) / 2000.0;
    d.mul_f64(factor)
}

async fn timed<T>(future: impl std::future::Future<Output = T>) -> Result<T, ImapError> {
    tokio::time::timeout(COMMAND_TIMEOUT, future)
        .await
        .map_err(|_| ImapError::Timeout(COMMAND_TIMEOUT))
}

/// Opens the connection, secures it as configured and logs in.
pub async fn connect(c: &MailServer<Login>) -> Result<Session<Conn>, ImapError> {
    let address = format!("{}:{}", c.host, c.port);
    let tcp = timed(TcpStream::connect(&address))
        .await?
        .map_err(|source| ImapError::Connect {
            address: address.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let client = match c.tls {
        TlsMode::Implicit => {
            let tls = tls_handshake(c, tcp).await?;
            let mut client = async_imap::Client::new(Conn::Tls(Box::new(tls)));
            read_greeting(&mut client).await?;
            client
        }
        TlsMode::Plain => {
            let mut client = async_imap::Client::new(Conn::Plain(tcp));
            read_greeting(&mut client).await?;
            client
        }
        TlsMode::StartTls => {
            let mut client = async_imap::Client::new(Conn::Plain(tcp));
            read_greeting(&mut client).await?;
            timed(client.run_command_and_check_ok("STARTTLS", None))
                .await?
                .map_err(|_| ImapError::NoStartTls)?;
            let Conn::Plain(tcp) = client.into_inner() else {
                unreachable!("the connection is plain before STARTTLS")
            };
            // No greeting after STARTTLS: the server waits for our next command.
            async_imap::Client::new(Conn::Tls(Box::new(tls_handshake(c, tcp).await?)))
        }
    };
    timed(client.login(&c.login.user, c.login.password.expose()))
        .await?
        .map_err(|(e, _)| match e {
            async_imap::error::Error::No(reason) | async_imap::error::Error::Bad(reason) => {
                ImapError::Login {
                    user: c.login.user.clone(),
                    reason,
                }
            }
            other => ImapError::Protocol(other),
        })
}

async fn read_greeting(client: &mut async_imap::Client<Conn>) -> Result<(), ImapError> {
    match timed(client.read_response()).await? {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ImapError::Protocol(
            async_imap::error::Error::ConnectionLost,
        )),
        Err(e) => Err(ImapError::Protocol(e.into())),
    }
}

async fn tls_handshake(
    c: &MailServer<Login>,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ImapError> {
    let fail = |reason: String| ImapError::Tls {
        host: c.host.clone(),
        reason,
    };
    let (connector, name) = crate::tls::connector(c.ca_file.as_deref(), &c.host).map_err(fail)?;
    timed(connector.connect(name, tcp))
        .await?
        .map_err(|e| fail(e.to_string()))
}

/// The connection to the server, plain or TLS, as one type for the IMAP client.
#[derive(Debug)]
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_failures() {
        let login = ImapError::Login {
            user: "u".into(),
            reason: "no".into(),
        };
        assert!(login.is_permanent());
        assert!(
            ImapError::Mailbox {
                mailbox: "x".into(),
                reason: "no".into()
            }
            .is_permanent()
        );
        assert!(!ImapError::Timeout(COMMAND_TIMEOUT).is_permanent());
        assert!(!ImapError::Protocol(async_imap::error::Error::ConnectionLost).is_permanent());
        let refused = ImapError::Connect {
            address: "127.0.0.1:1".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        assert!(!refused.is_permanent(), "a server restarting comes back");
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(8));
            assert!(
                d >= Duration::from_secs(6) && d <= Duration::from_secs(10),
                "{d:?}"
            );
        }
    }
}
