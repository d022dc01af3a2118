//! The outbox worker: claims due recipients from the store, hands each message to the SMTP
//! server, and records what happened: sent; a transient failure retried later with backoff; a
//! permanent one stopped with its error kept for the author to see.
//!
//! A few long-lived SMTP connections (lettre's connection, over sockets we open ourselves with
//! TCP_NODELAY: lettre writes a message and its final dot separately, and with Nagle's
//! algorithm that second small write waits ~40 ms for the server's delayed ACK) each take the
//! next message from a queue, so a fan-out to thousands streams through them without
//! reconnecting. Outcomes are recorded in small batches while more rows are claimed.
//!
//! SMTP cannot say whether a message was taken when the connection ends between the final dot
//! and the server's answer, or when the bridge stops before recording that answer. A post to a
//! mirrored list is recorded as handed over just before its bytes go; if its outcome is then
//! lost, it waits for the list's copy (which proves it arrived) before going out again, so the
//! list never gets it twice. Other mail has no such proof: it goes out again, with the same
//! Message-ID (see `Store::recover_outbox`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Notify, mpsc, watch};

use crate::config::{Login, MailServer, OutboundConfig, TlsMode};
use crate::store::{
    DeriveSettings, Due, OutboxId, RecipientId, Recovered, SendOutcome, Store, StoreError,
};

/// Connections kept open to the server, each sending one message at a time.
const CONNECTIONS: usize = 4;
/// Rows claimed ahead of the connections: enough to keep them busy, few enough that a crash
/// re-sends little.
const AHEAD: usize = 64;
/// Outcomes are written to the store at least this often while sending.
const FLUSH: Duration = Duration::from_millis(200);
/// A connection idle longer than this is checked (NOOP) before use: servers close idle ones.
const IDLE_CHECK: Duration = Duration::from_secs(30);
/// The longest wait for a connection, a greeting or one command.
const TIMEOUT: Duration = Duration::from_secs(60);
/// After this many transient failures (about two days of backoff), a row fails for good.
const MAX_ATTEMPTS: u32 = 24;

/// Where the worker hands mail.
#[derive(Clone)]
pub enum Transport {
    Smtp(Arc<OutboundConfig>),
    /// `listbridge demo`: nothing leaves the machine; each message is printed to stderr (so a
    /// newcomer can follow a sign-in link).
    Print,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("[outbound] {0}")]
    Setup(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Transport {
    /// The SMTP server `[outbound]` describes; its CA file is read now, so a wrong path stops
    /// `serve` at once with the key to fix.
    pub fn smtp(config: &OutboundConfig) -> Result<Transport, WorkerError> {
        if config.server.tls != TlsMode::Plain {
            crate::tls::client_config(config.server.ca_file.as_deref())
                .map_err(WorkerError::Setup)?;
        }
        Ok(Transport::Smtp(Arc::new(config.clone())))
    }
}

/// A failed send.
#[derive(Debug)]
struct SendError {
    /// The server refused it for good (5xx), or it can never be sent as it is.
    permanent: bool,
    /// The connection failed after the message's bytes started going, without the server's
    /// answer: it may have taken the message.
    in_doubt: bool,
    message: String,
}

impl SendError {
    fn transient(message: String) -> SendError {
        SendError {
            permanent: false,
            in_doubt: false,
            message,
        }
    }

    fn permanent(message: String) -> SendError {
        SendError {
            permanent: true,
            ..SendError::transient(message)
        }
    }
}

/// A TLS stream lettre can speak SMTP over, for implicit TLS on a socket of our own.
#[derive(Debug)]
struct ImplicitTls(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for ImplicitTls {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

async fn timed<T, E: std::fmt::Display>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, SendError> {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(SendError::transient(format!("{what}: {e}"))),
        Err(_) => Err(SendError::transient(format!(
            "{what}: no answer within {} s",
            TIMEOUT.as_secs()
        ))),
    }
}

/// Opens, secures and authenticates one SMTP connection.
async fn connect(config: &MailServer<Option<Login>>) -> Result<AsyncSmtpConnection, SendError> {
    let server = format!("{}:{}", config.host, config.port);
    let tcp = timed(
        &format!("connecting to {server}"),
        TcpStream::connect(&server),
    )
    .await?;
    tcp.set_nodelay(true)
        .map_err(|e| SendError::transient(format!("{server}: {e}")))?;
    let hello = ClientId::default();
    let stream: Box<dyn AsyncTokioStream> = match config.tls {
        TlsMode::Implicit => {
            let (connector, name) = crate::tls::connector(config.ca_file.as_deref(), &config.host)
                .map_err(SendError::permanent)?;
            let stream = timed("the TLS handshake", connector.connect(name, tcp)).await?;
            Box::new(ImplicitTls(stream))
        }
        TlsMode::StartTls | TlsMode::Plain => Box::new(tcp),
    };
    let mut connection = timed(
        "the greeting",
        AsyncSmtpConnection::connect_with_transport(stream, &hello),
    )
    .await?;
    if config.tls == TlsMode::StartTls {
        if !connection.can_starttls() {
            return Err(SendError::transient(format!(
                "{server} does not offer STARTTLS ([outbound] tls = \"starttls\")"
            )));
        }
        let mut params = TlsParameters::builder(config.host.clone());
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| SendError::permanent(format!("ca_file {}: {e}", ca.display())))?;
            params = params.add_root_certificate(
                Certificate::from_pem(&pem)
                    .map_err(|e| SendError::permanent(format!("ca_file: {e}")))?,
            );
        }
        let params = params
            .build_rustls()
            .map_err(|e| SendError::permanent(e.to_string()))?;
        timed("STARTTLS", connection.starttls(params, &hello)).await?;
    }
    if let Some(login) = &config.login {
        let credentials = Credentials::new(login.user.clone(), login.password.expose().to_owned());
        timed(
            "logging in ([outbound] user and password)",
            connection.auth(&[Mechanism::Plain, Mechanism::Login], &credentials),
        )
        .await?;
    }
    Ok(connection)
}

/// One SMTP transaction: MAIL, RCPT, DATA, then `handing` (a post records that its bytes are
/// going), then the bytes and the final dot. `bytes_went` tells the caller, also when this is
/// cut short by a timeout, whether the server may have the message.
async fn transact(
    connection: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    bytes: &[u8],
    bytes_went: &mut bool,
    handing: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), SendError> {
    let info = connection.server_info();
    let mut options = Vec::new();
    if envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|a| !AsRef::<str>::as_ref(a).is_ascii())
    {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            return Err(SendError::permanent(
                "an address is not ASCII and the server does not take SMTPUTF8".to_owned(),
            ));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !bytes.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            return Err(SendError::permanent(
                "the message is not ASCII and the server does not take 8BITMIME".to_owned(),
            ));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    // Before the bytes, the server's refusal is sure: it has nothing. QUIT, as lettre does.
    let refused = |e: lettre::transport::smtp::Error| SendError {
        permanent: e.is_permanent(),
        in_doubt: false,
        message: e.to_string(),
    };
    let mut step = async |command: String| match connection.command(command).await {
        Ok(_) => Ok(()),
        Err(e) => {
            connection.abort().await;
            Err(refused(e))
        }
    };
    step(Mail::new(envelope.from().cloned(), options).to_string()).await?;
    for to in envelope.to() {
        step(Rcpt::new(to.clone(), vec![]).to_string()).await?;
    }
    step(Data.to_string()).await?;
    // The server now waits for the bytes; if recording fails, the connection is dropped before
    // any of them, and the server discards the unfinished transaction.
    handing.await.map_err(|e| {
        SendError::transient(format!("recording that the post is handed over: {e}"))
    })?;
    *bytes_went = true;
    connection.message(bytes).await.map_err(|e| {
        // An answer (4xx, 5xx) says it was not taken; anything else leaves it unknown.
        let answered = e.is_permanent() || e.is_transient();
        SendError {
            permanent: e.is_permanent(),
            in_doubt: !answered,
            message: e.to_string(),
        }
    })?;
    Ok(())
}

/// Where a sender records that a post's bytes are going (`Store::mark_handed`): a connection
/// to the database of its own, opened when first needed.
struct Ledger {
    db: crate::store::Location,
    settings: DeriveSettings,
    store: Option<Store>,
}

impl Ledger {
    async fn mark_handed(&mut self, id: RecipientId) -> Result<(), String> {
        let (db, settings, store) = (self.db.clone(), self.settings, self.store.take());
        let (store, result) = tokio::task::spawn_blocking(move || {
            let store = match store {
                Some(s) => s,
                None => match Store::open(&db, settings) {
                    Ok(s) => s,
                    Err(e) => return (None, Err(e.to_string())),
                },
            };
            let result = store
                .mark_handed(id, chrono::Utc::now().timestamp())
                .map_err(|e| e.to_string());
            (Some(store), result)
        })
        .await
        .map_err(|e| e.to_string())?;
        self.store = store;
        result
    }
}

/// One connection's worth of sending: its own long-lived SMTP connection, reopened when the
/// server closed it.
struct Sender {
    config: Option<Arc<OutboundConfig>>,
    connection: Option<AsyncSmtpConnection>,
    last_used: Instant,
    ledger: Ledger,
}

impl Sender {
    /// Sends one message; `handed`: the row to mark as handed over first (a post to a list).
    async fn send(
        &mut self,
        envelope: &Envelope,
        bytes: &[u8],
        handed: Option<RecipientId>,
    ) -> Result<(), SendError> {
        let Some(config) = self.config.clone() else {
            print_mail(envelope, bytes);
            return Ok(());
        };
        // A connection unused for a while may have been closed by the server: check it first,
        // rather than lose a message to a dead socket.
        if let Some(c) = &mut self.connection
            && self.last_used.elapsed() > IDLE_CHECK
            && !c.test_connected().await
        {
            self.connection = None;
        }
        if self.connection.is_none() {
            self.connection = Some(connect(&config.server).await?);
        }
        let connection = self.connection.as_mut().expect("connected above");
        let ledger = &mut self.ledger;
        let handing = async move {
            match handed {
                Some(id) => ledger.mark_handed(id).await,
                None => Ok(()),
            }
        };
        let mut bytes_went = false;
        let result = tokio::time::timeout(
            TIMEOUT,
            transact(connection, envelope, bytes, &mut bytes_went, handing),
        )
        .await;
        self.last_used = Instant::now();
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                // After a failure the connection is in no state to reuse; start afresh.
                self.connection = None;
                // Only a 5xx answer is permanent; a lost connection or a 4xx is worth another try.
                Err(e)
            }
            Err(_) => {
                self.connection = None;
                Err(SendError {
                    permanent: false,
                    in_doubt: bytes_went,
                    message: format!("no answer within {} s", TIMEOUT.as_secs()),
                })
            }
        }
    }
}

/// Prints a message decoded, so a link in a quoted-printable body can be followed as printed.
fn print_mail(envelope: &Envelope, bytes: &[u8]) {
    let message = crate::mail::parse::mime(bytes);
    let subject = message.as_ref().and_then(|m| m.subject()).unwrap_or("");
    let text = message
        .as_ref()
        .and_then(|m| m.body_text(0))
        .map(|t| t.into_owned())
        .unwrap_or_default();
    eprintln!(
        "---- mail to {} (demo: not sent) ----\nSubject: {subject}\n\n{}\n---- end ----",
        envelope
            .to()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        text.trim_end()
    );
}

/// The envelope sender for a recipient: the bounce address with the recipient in it (VERP),
/// `alice@example.org` as `alice=example.org`.
pub fn envelope_sender(bounce_address: &str, recipient: &str) -> String {
    bounce_address.replace("{recipient}", &recipient.replacen('@', "=", 1))
}

/// When to try again after `attempts` failures: 10 s doubling, at most two hours.
pub fn backoff(attempts: u32) -> i64 {
    (10i64 << attempts.min(10)).min(7200)
}

/// A claimed row and the bytes to send it.
struct Job {
    due: Due,
    bytes: Arc<Vec<u8>>,
}

/// What a job came to: sent, retry later, or failed for good. A post the list may have got
/// waits at least `echo_wait` seconds for the list's copy before it is tried again.
fn outcome(due: &Due, result: Result<(), SendError>, now: i64, echo_wait: i64) -> SendOutcome {
    match result {
        Ok(()) => SendOutcome::Sent,
        Err(e) if e.permanent => SendOutcome::Failed { error: e.message },
        Err(e) if due.attempts + 1 >= MAX_ATTEMPTS => SendOutcome::Failed {
            error: format!("gave up after {} attempts: {}", due.attempts + 1, e.message),
        },
        Err(e) if e.in_doubt && due.confirmed_by_echo => SendOutcome::Retry {
            at: now + backoff(due.attempts).max(echo_wait),
            error: format!(
                "{}; it may have reached the list: waiting for its copy before sending again",
                e.message
            ),
        },
        Err(e) => SendOutcome::Retry {
            at: now + backoff(due.attempts),
            error: e.message,
        },
    }
}

/// The envelope and bytes of one recipient's copy (host mode adds their Reply-To).
fn prepare(config: &OutboundConfig, job: &Job) -> Result<(Envelope, Vec<u8>), String> {
    let due = &job.due.recipient;
    let parse = |a: &str| {
        a.parse::<Address>()
            .map_err(|e| format!("{a} is not a usable address: {e}"))
    };
    let envelope = Envelope::new(
        Some(parse(&envelope_sender(
            &config.bounce_address,
            &due.address,
        ))?),
        vec![parse(&due.address)?],
    )
    .map_err(|e| e.to_string())?;
    let bytes = if due.reply_to.is_some() || due.unsubscribe.is_some() {
        crate::mail::compose::with_recipient_headers(
            &job.bytes,
            due.reply_to.as_deref(),
            due.unsubscribe.as_deref(),
        )
        .map_err(|e| e.to_string())?
    } else {
        job.bytes.to_vec()
    };
    Ok((envelope, bytes))
}

/// Runs the worker until `stop` turns true. `wake` is notified when something is queued.
pub async fn run(
    db: crate::store::Location,
    settings: DeriveSettings,
    config: OutboundConfig,
    transport: Transport,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(AHEAD);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(RecipientId, SendOutcome)>();
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (jobs, done, config) = (Arc::clone(&jobs_rx), done_tx.clone(), Arc::clone(&config));
        let mut sender = Sender {
            config: match &transport {
                Transport::Smtp(c) => Some(Arc::clone(c)),
                Transport::Print => None,
            },
            connection: None,
            last_used: Instant::now(),
            ledger: Ledger {
                db: db.clone(),
                settings,
                store: None,
            },
        };
        senders.spawn(async move {
            loop {
                let job = jobs.lock().await.recv().await;
                let Some(job) = job else { break };
                let handed = job.due.confirmed_by_echo.then_some(job.due.id);
                let result = match prepare(&config, &job) {
                    Ok((envelope, bytes)) => sender.send(&envelope, &bytes, handed).await,
                    Err(e) => Err(SendError::permanent(e)),
                };
                let now = chrono::Utc::now().timestamp();
                let outcome = outcome(&job.due, result, now, config.echo_wait_seconds.into());
                if done.send((job.due.id, outcome)).is_err() {
                    break;
                }
            }
            if let Some(mut c) = sender.connection.take() {
                let _ = tokio::time::timeout(Duration::from_secs(5), c.quit()).await;
            }
        });
    }
    drop(done_tx);
    let mut pending = Pending::default();
    loop {
        let echo_wait = config.echo_wait_seconds.into();
        match dispatch(
            &db,
            settings,
            echo_wait,
            &mut pending,
            &jobs_tx,
            &mut done_rx,
            &wake,
            &mut stop,
        )
        .await
        {
            Ok(()) => break,
            Err(e) => {
                tracing::error!(error = %e, "the outbox worker failed; starting again in 10 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
    drop(jobs_tx);
    while senders.join_next().await.is_some() {}
}

async fn blocking<T: Send + 'static>(
    store: Store,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<(Store, T), StoreError> {
    tokio::task::spawn_blocking(move || {
        let mut store = store;
        let result = f(&mut store);
        result.map(|r| (store, r))
    })
    .await
    .expect("the outbox's store task does not panic")
}

/// What the dispatcher handed to the senders and has not recorded yet. It outlives a dispatcher
/// stopped by a database error, so that the next one records those outcomes rather than take
/// the rows for unsent and send them again.
#[derive(Default)]
struct Pending {
    in_flight: usize,
    finished: Vec<(RecipientId, SendOutcome)>,
}

/// Records the outcomes waiting; kept for the next try when the database fails.
async fn flush(store: Store, pending: &mut Pending) -> Result<Store, WorkerError> {
    for (_, outcome) in &pending.finished {
        match outcome {
            SendOutcome::Sent => {}
            SendOutcome::Retry { error, .. } => {
                tracing::warn!(%error, "sending failed; will try again")
            }
            SendOutcome::Failed { error } => {
                tracing::error!(%error, "sending failed for good")
            }
        }
    }
    let batch = pending.finished.clone();
    let now = chrono::Utc::now().timestamp();
    let (store, ()) = blocking(store, move |s| s.finish_sends(&batch, now)).await?;
    pending.finished.clear();
    Ok(store)
}

/// Claims rows ahead of the senders, hands them out, and records outcomes as they come.
async fn dispatch(
    db: &crate::store::Location,
    settings: DeriveSettings,
    echo_wait: i64,
    pending: &mut Pending,
    jobs: &mpsc::Sender<Job>,
    done: &mut mpsc::UnboundedReceiver<(RecipientId, SendOutcome)>,
    wake: &Notify,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    // After a database error, what was handed out is still being sent: its outcomes are
    // recorded before anything is taken for unsent (a crash leaves none in flight).
    while pending.in_flight > 0 {
        let Some(result) = done.recv().await else {
            break;
        };
        pending.finished.push(result);
        pending.in_flight -= 1;
    }
    let mut store = Store::open(db, settings)?;
    // The worker reads one queue: a small page cache keeps the daemon's memory flat.
    store.set_cache_kib(4096);
    if !pending.finished.is_empty() {
        store = flush(store, pending).await?;
    }
    let recovered = store.recover_outbox(chrono::Utc::now().timestamp(), echo_wait)?;
    if recovered != Recovered::default() {
        tracing::warn!(
            again = recovered.again,
            waiting = recovered.waiting,
            confirmed = recovered.confirmed,
            "outbox rows caught mid-send: due again, posts in doubt waiting for the list's copy, \
             posts the list has sent back"
        );
    }
    let mut messages: HashMap<OutboxId, Arc<Vec<u8>>> = HashMap::new();
    let mut last_flush = Instant::now();
    loop {
        let stopping = *stop.borrow();
        if stopping && pending.in_flight == 0 && pending.finished.is_empty() {
            return Ok(());
        }
        // Keep the senders supplied: claim more once half of what is ahead has gone.
        if !stopping && pending.in_flight <= AHEAD / 2 {
            let now = chrono::Utc::now().timestamp();
            let want = AHEAD - pending.in_flight;
            let (s, due) = blocking(store, move |s| s.claim_due(now, want)).await?;
            store = s;
            if messages.len() > 256 {
                messages.clear();
            }
            for d in due {
                let bytes = match messages.get(&d.outbox) {
                    Some(b) => Arc::clone(b),
                    None => {
                        let id = d.outbox;
                        let (s, bytes) = blocking(store, move |s| s.outbox_message(id)).await?;
                        store = s;
                        let bytes = Arc::new(bytes.unwrap_or_default());
                        messages.insert(id, Arc::clone(&bytes));
                        bytes
                    }
                };
                pending.in_flight += 1;
                if jobs.send(Job { due: d, bytes }).await.is_err() {
                    return Ok(());
                }
            }
        }
        if pending.in_flight == 0 && pending.finished.is_empty() {
            let (s, next) = blocking(store, |s| s.next_due()).await?;
            store = s;
            let now = chrono::Utc::now().timestamp();
            let wait = next.map_or(30, |at| (at - now).clamp(1, 30)) as u64;
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(wait)) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        if pending.in_flight > 0 {
            tokio::select! {
                Some(result) = done.recv() => {
                    pending.finished.push(result);
                    pending.in_flight -= 1;
                }
                _ = tokio::time::sleep(FLUSH) => {}
            }
            while let Ok(result) = done.try_recv() {
                pending.finished.push(result);
                pending.in_flight -= 1;
            }
        }
        if !pending.finished.is_empty()
            && (pending.in_flight == 0
                || pending.finished.len() >= AHEAD / 2
                || last_flush.elapsed() >= FLUSH)
        {
            store = flush(store, pending).await?;
            last_flush = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verp_and_backoff() {
        assert_eq!(
            envelope_sender("bounces+{recipient}@lists.test", "alice@example.org"),
            "bounces+alice=example.org@lists.test"
        );
        assert_eq!(backoff(0), 10);
        assert_eq!(backoff(1), 20);
        assert_eq!(backoff(30), 7200);
    }

    use crate::config::Config;
    use crate::store::{NewRecipient, OutboxKind, PostState, Role};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

    const NOW: i64 = 1_800_000_000;

    fn mirror_config(port: u16) -> Config {
        Config::parse(&format!(
            "[outbound]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"plain\"\n\
             from_address = \"forum@lists.test\"\necho_wait_seconds = 600\n\
             [[lists]]\nname = \"snug\"\naddress = \"snug@lists.test\"\n"
        ))
        .unwrap()
    }

    /// A web post by Jane to the mirrored list, queued at `now`: its Message-ID.
    fn post(store: &mut Store, config: &Config, subject: &str, now: i64) -> String {
        let jane = match store.user_by_email("jane@nhs.test").unwrap() {
            Some(u) => u,
            None => {
                store
                    .create_user("Jane", "jane@nhs.test", Role::Member, NOW)
                    .unwrap()
                    .0
            }
        };
        let draft = crate::forum::Draft {
            user: jane,
            author_name: "Jane".to_owned(),
            list: "snug".to_owned(),
            parent: None,
            subject: subject.to_owned(),
            text: "Which spacer do you give?".to_owned(),
            approved: false,
        };
        crate::forum::post_from_web(store, config, &draft, now).unwrap()
    }

    /// The list's copy of a message coming back over IMAP.
    fn echo(store: &mut Store, bytes: &[u8]) {
        let run = store.begin_run("imap", NOW).unwrap();
        let list = store.list_id("snug").unwrap();
        let mut copy = b"Delivered-To: snug@lists.test\r\n".to_vec();
        copy.extend_from_slice(bytes);
        let item = crate::archive::Incoming {
            bytes: copy,
            envelope: None,
            origin: "imap:test".to_owned(),
        };
        crate::archive::pipeline::store_batch(
            store,
            run,
            list,
            &Default::default(),
            vec![item],
            None,
            None,
            NOW,
        )
        .unwrap();
    }

    #[test]
    fn after_a_crash_only_a_post_that_may_have_reached_the_list_waits_for_its_copy() {
        let config = mirror_config(25);
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("o.db"), DeriveSettings::default()).unwrap();
        let handed = post(&mut store, &config, "Handed over", NOW);
        let unsent = post(&mut store, &config, "Not yet sent", NOW);
        let run = store.begin_run("test", NOW).unwrap();
        let writer = store.writer(run).unwrap();
        let recipient = NewRecipient {
            address: "jane@nhs.test".to_owned(),
            reply_to: None,
            unsubscribe: None,
        };
        writer
            .enqueue(
                OutboxKind::Notice,
                "notice@lists.test",
                None,
                b"x",
                &[recipient],
                NOW,
            )
            .unwrap();
        writer.commit().unwrap();

        // The worker claimed all three; the post's and the notice's bytes had gone when it died.
        let due = store.claim_due(NOW, 10).unwrap();
        assert_eq!(due.iter().filter(|d| d.confirmed_by_echo).count(), 2);
        let bytes_of = |store: &Store, d: &Due| store.outbox_message(d.outbox).unwrap().unwrap();
        let first = due.iter().find(|d| d.confirmed_by_echo).unwrap().clone();
        let first_bytes = bytes_of(&store, &first);
        assert!(String::from_utf8_lossy(&first_bytes).contains(&handed));
        let notice = due.iter().find(|d| !d.confirmed_by_echo).unwrap().clone();
        store.mark_handed(first.id, NOW).unwrap();
        store.mark_handed(notice.id, NOW).unwrap();

        let recovered = store.recover_outbox(NOW, 600).unwrap();
        assert_eq!(
            recovered,
            Recovered {
                again: 2,
                waiting: 1,
                confirmed: 0
            }
        );
        // The unsent post and the notice go again at once (a notice has no copy to wait for:
        // it may arrive twice); the handed-over post waits for the list's copy.
        let again = store.claim_due(NOW, 10).unwrap();
        assert_eq!(again.len(), 2, "{again:?}");
        assert!(again.iter().all(|d| d.id != first.id));
        assert!(matches!(
            store.post_state(&handed).unwrap().unwrap().1,
            PostState::Queued { error: Some(ref e) } if e.contains("waiting for its copy")
        ));
        assert_eq!(store.next_due().unwrap(), Some(NOW + 600));

        // Its copy comes back: it reached the list, and is never sent again.
        echo(&mut store, &first_bytes);
        assert_eq!(
            store.post_state(&handed).unwrap().unwrap().1,
            PostState::Delivered
        );
        assert!(store.claim_due(NOW + 601, 10).unwrap().is_empty());
        assert_eq!(store.next_due().unwrap(), None);
        assert!(store.post_state(&unsent).unwrap().is_some());
    }

    #[test]
    fn a_post_in_doubt_is_sent_again_only_once_the_wait_is_over_and_no_copy_came() {
        let config = mirror_config(25);
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("o.db"), DeriveSettings::default()).unwrap();
        post(&mut store, &config, "Lost at the dot", NOW);
        let due = store.claim_due(NOW, 10).unwrap();
        store.mark_handed(due[0].id, NOW).unwrap();
        store.recover_outbox(NOW, 600).unwrap();
        assert!(store.claim_due(NOW + 599, 10).unwrap().is_empty());
        let again = store.claim_due(NOW + 600, 10).unwrap();
        assert_eq!(
            again.len(),
            1,
            "no copy came back: sent again, with the same bytes"
        );

        // The copy came back while the row was being sent: a crash then leaves nothing to send.
        let bytes = store.outbox_message(again[0].outbox).unwrap().unwrap();
        echo(&mut store, &bytes);
        store.mark_handed(again[0].id, NOW).unwrap();
        let recovered = store.recover_outbox(NOW + 700, 600).unwrap();
        assert_eq!(recovered.confirmed, 1, "{recovered:?}");
        assert_eq!(store.outbox_counts().unwrap().sent, 1);
    }

    /// What the test server does at a message's final dot.
    enum Dot {
        /// Closes the connection without answering: the answer lost, as when the connection
        /// fails at that moment.
        Lose,
        /// Answers that it took the message, once the flag turns true.
        AnswerWhen(watch::Receiver<bool>),
    }

    /// An SMTP server that takes everything up to the final dot of a message, then does what
    /// `dot` says. Keeps the messages it was given.
    async fn server(dot: Dot) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
        let dot = Arc::new(dot);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = Arc::clone(&received);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (kept, dot) = (Arc::clone(&kept), Arc::clone(&dot));
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = tokio::io::BufReader::new(read).lines();
                    write.write_all(b"220 fake ESMTP\r\n").await?;
                    let mut message: Option<String> = None;
                    while let Some(line) = lines.next_line().await? {
                        if line == "."
                            && let Some(m) = message.take()
                        {
                            kept.lock().unwrap().push(m);
                            match &*dot {
                                Dot::Lose => return Ok(()),
                                Dot::AnswerWhen(answer) => {
                                    let _ = answer.clone().wait_for(|a| *a).await;
                                    write.write_all(b"250 2.0.0 queued\r\n").await?;
                                }
                            }
                            continue;
                        }
                        if let Some(m) = message.as_mut() {
                            m.push_str(&line);
                            m.push_str("\r\n");
                            continue;
                        }
                        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                        let answer: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-fake\r\n250 8BITMIME\r\n",
                            "DATA" => {
                                message = Some(String::new());
                                b"354 go ahead\r\n"
                            }
                            "QUIT" => b"221 bye\r\n",
                            _ => b"250 ok\r\n",
                        };
                        write.write_all(answer).await?;
                    }
                    Ok::<_, std::io::Error>(())
                });
            }
        });
        (port, received)
    }

    /// The worker on `db`, sending through the config's SMTP server until told to stop.
    fn start_worker(
        db: &std::path::Path,
        config: &Config,
    ) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let out = config.outbound.clone().unwrap();
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = tokio::spawn(run(
            db.into(),
            DeriveSettings::default(),
            out.clone(),
            Transport::smtp(&out).unwrap(),
            Arc::new(Notify::new()),
            stop_rx,
        ));
        (stop_tx, worker)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_post_whose_answer_is_lost_is_not_sent_again_before_the_wait() {
        let (port, received) = server(Dot::Lose).await;
        let config = mirror_config(port);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let mut store = Store::open(&db, DeriveSettings::default()).unwrap();
        let id = post(
            &mut store,
            &config,
            "Lost answer",
            chrono::Utc::now().timestamp(),
        );
        let (stop_tx, worker) = start_worker(&db, &config);
        let deadline = Instant::now() + Duration::from_secs(30);
        let error = loop {
            if let Some((_, PostState::Queued { error: Some(e) })) = store.post_state(&id).unwrap()
            {
                break e;
            }
            assert!(Instant::now() < deadline, "no outcome recorded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        stop_tx.send(true).unwrap();
        worker.await.unwrap();
        assert!(error.contains("may have reached the list"), "{error}");
        let now = chrono::Utc::now().timestamp();
        let next = store.next_due().unwrap().unwrap();
        assert!(
            next >= now + 590,
            "tried again at {next}, now {now}: sooner than the wait"
        );
        let messages = received.lock().unwrap().clone();
        assert_eq!(messages.len(), 1);
        assert!(messages[0].contains(&id), "{}", messages[0]);

        // The list's copy arrives meanwhile: the post is delivered and never sent again.
        echo(&mut store, messages[0].as_bytes());
        assert_eq!(
            store.post_state(&id).unwrap().unwrap().1,
            PostState::Delivered
        );
        assert_eq!(store.outbox_counts().unwrap().queued, 0);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_database_error_mid_send_loses_no_outcome_and_sends_nothing_twice() {
        let (answer, answering) = watch::channel(false);
        let (port, received) = server(Dot::AnswerWhen(answering)).await;
        let config = mirror_config(port);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let mut store = Store::open(&db, DeriveSettings::default()).unwrap();
        let now = chrono::Utc::now().timestamp();
        let batch = store.begin_run("test", now).unwrap();
        let writer = store.writer(batch).unwrap();
        for n in 0..8 {
            let recipient = NewRecipient {
                address: "jane@nhs.test".to_owned(),
                reply_to: None,
                unsubscribe: None,
            };
            let bytes = format!("Subject: Notice {n}\r\n\r\nNotice {n}.\r\n");
            writer
                .enqueue(
                    OutboxKind::Notice,
                    &format!("notice-{n}@lists.test"),
                    None,
                    bytes.as_bytes(),
                    &[recipient],
                    now,
                )
                .unwrap();
        }
        writer.commit().unwrap();
        let (stop_tx, worker) = start_worker(&db, &config);
        let wait_for = async |what: &str, check: &dyn Fn() -> bool| {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !check() {
                assert!(Instant::now() < deadline, "timed out waiting: {what}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let taken = || received.lock().unwrap().len();
        wait_for("a message on every connection", &|| taken() == CONNECTIONS).await;

        // Another writer (a long import, say) holds the database past its busy timeout while
        // the server takes the messages: recording what was sent fails.
        let lock = rusqlite::Connection::open(&db).unwrap();
        lock.execute_batch("BEGIN IMMEDIATE").unwrap();
        answer.send(true).unwrap();
        wait_for("every message sent", &|| taken() == 8).await;
        tokio::time::sleep(Duration::from_secs(12)).await;
        lock.execute_batch("ROLLBACK").unwrap();

        // The worker starts again after its error and records what was sent: nothing twice.
        wait_for("the outcomes recorded", &|| {
            store.outbox_counts().unwrap().sent == 8
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(taken(), 8, "messages sent again after the database error");
        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), worker)
            .await
            .expect("the worker stops")
            .unwrap();
        assert_eq!(store.outbox_counts().unwrap().sent, 8);
    }

    #[test]
    fn only_an_answer_that_never_came_leaves_a_post_in_doubt() {
        let due = Due {
            id: RecipientId(1),
            outbox: OutboxId(1),
            recipient: NewRecipient {
                address: "snug@lists.test".to_owned(),
                reply_to: None,
                unsubscribe: None,
            },
            attempts: 0,
            confirmed_by_echo: true,
        };
        let failure = |permanent, in_doubt| {
            Err(SendError {
                permanent,
                in_doubt,
                message: "lost".to_owned(),
            })
        };
        let at = |o: SendOutcome| match o {
            SendOutcome::Retry { at, .. } => at - NOW,
            other => panic!("{other:?}"),
        };
        assert_eq!(at(outcome(&due, failure(false, false), NOW, 600)), 10);
        assert_eq!(at(outcome(&due, failure(false, true), NOW, 600)), 600);
        assert!(matches!(
            outcome(&due, failure(true, false), NOW, 600),
            SendOutcome::Failed { .. }
        ));
        // Mail no list copy can confirm is tried again as usual.
        let notice = Due {
            confirmed_by_echo: false,
            ..due
        };
        assert_eq!(at(outcome(&notice, failure(false, true), NOW, 600)), 10);
    }
}
