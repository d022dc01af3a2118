//! The outbox worker: claims due recipients from the store, hands each message to the SMTP
//! server, and records what happened: sent; a transient failure retried later with backoff; a
//! permanent one stopped with its error kept for the author to see.
//!
//! A few long-lived SMTP connections (lettre's connection, over sockets we open ourselves with
//! TCP_NODELAY: lettre writes a message and its final dot separately, and with Nagle's
//! algorithm that second small write waits ~40 ms for the server's delayed ACK) each take the
//! next message from a queue, so a fan-out to thousands streams through them without
//! reconnecting. Outcomes are recorded in small batches while more rows are claimed, so a crash
//! can leave only the few messages in flight to be sent again (with the same Message-ID).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Notify, mpsc, watch};

use crate::config::{OutboundConfig, TlsMode};
use crate::store::{DeriveSettings, Due, OutboxId, RecipientId, SendOutcome, Store, StoreError};

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
        if config.tls != TlsMode::Plain {
            crate::tls::client_config(config.ca_file.as_deref()).map_err(WorkerError::Setup)?;
        }
        Ok(Transport::Smtp(Arc::new(config.clone())))
    }
}

/// A failed send: whether the server's answer was permanent (5xx), and what it said.
type SendError = (bool, String);

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
        Ok(Err(e)) => Err((false, format!("{what}: {e}"))),
        Err(_) => Err((
            false,
            format!("{what}: no answer within {} s", TIMEOUT.as_secs()),
        )),
    }
}

/// Opens, secures and authenticates one SMTP connection.
async fn connect(config: &OutboundConfig) -> Result<AsyncSmtpConnection, SendError> {
    let server = format!("{}:{}", config.host, config.port);
    let tcp = timed(
        &format!("connecting to {server}"),
        TcpStream::connect(&server),
    )
    .await?;
    tcp.set_nodelay(true)
        .map_err(|e| (false, format!("{server}: {e}")))?;
    let hello = ClientId::default();
    let stream: Box<dyn AsyncTokioStream> = match config.tls {
        TlsMode::Implicit => {
            let tls =
                crate::tls::client_config(config.ca_file.as_deref()).map_err(|e| (true, e))?;
            let name =
                tokio_rustls::rustls::pki_types::ServerName::try_from(config.host.clone())
                    .map_err(|e| (true, format!("{:?} is not a server name: {e}", config.host)))?;
            let stream = timed(
                "the TLS handshake",
                tokio_rustls::TlsConnector::from(tls).connect(name, tcp),
            )
            .await?;
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
            return Err((
                false,
                format!("{server} does not offer STARTTLS ([outbound] tls = \"starttls\")"),
            ));
        }
        let mut params = TlsParameters::builder(config.host.clone());
        if let Some(ca) = &config.ca_file {
            let pem =
                std::fs::read(ca).map_err(|e| (true, format!("ca_file {}: {e}", ca.display())))?;
            params = params.add_root_certificate(
                Certificate::from_pem(&pem).map_err(|e| (true, format!("ca_file: {e}")))?,
            );
        }
        let params = params.build_rustls().map_err(|e| (true, e.to_string()))?;
        timed("STARTTLS", connection.starttls(params, &hello)).await?;
    }
    if let (Some(user), Some(password)) = (&config.user, &config.password) {
        let credentials = Credentials::new(user.clone(), password.expose().to_owned());
        timed(
            "logging in ([outbound] user and password)",
            connection.auth(&[Mechanism::Plain, Mechanism::Login], &credentials),
        )
        .await?;
    }
    Ok(connection)
}

/// One connection's worth of sending: its own long-lived SMTP connection, reopened when the
/// server closed it.
struct Sender {
    config: Option<Arc<OutboundConfig>>,
    connection: Option<AsyncSmtpConnection>,
    last_used: Instant,
}

impl Sender {
    async fn send(&mut self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
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
            self.connection = Some(connect(&config).await?);
        }
        let connection = self.connection.as_mut().expect("connected above");
        let result = tokio::time::timeout(TIMEOUT, connection.send(envelope, bytes)).await;
        self.last_used = Instant::now();
        match result {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                // After a refusal lettre resets or abandons the connection; start afresh.
                if connection.has_broken() {
                    self.connection = None;
                }
                // Only a 5xx answer is permanent; a lost connection or a 4xx is worth another try.
                Err((e.is_permanent(), e.to_string()))
            }
            Err(_) => {
                self.connection = None;
                Err((false, format!("no answer within {} s", TIMEOUT.as_secs())))
            }
        }
    }
}

/// Prints a message decoded, so a link in a quoted-printable body can be followed as printed.
fn print_mail(envelope: &Envelope, bytes: &[u8]) {
    let message = mail_parser::MessageParser::default().parse(bytes);
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

/// What a job came to: sent, retry later, or failed for good.
fn outcome(due: &Due, result: Result<(), SendError>) -> SendOutcome {
    let now = chrono::Utc::now().timestamp();
    match result {
        Ok(()) => SendOutcome::Sent,
        Err((true, error)) => SendOutcome::Failed { error },
        Err((false, error)) if due.attempts + 1 >= MAX_ATTEMPTS => SendOutcome::Failed {
            error: format!("gave up after {} attempts: {error}", due.attempts + 1),
        },
        Err((false, error)) => SendOutcome::Retry {
            at: now + backoff(due.attempts),
            error,
        },
    }
}

/// The envelope and bytes of one recipient's copy (host mode adds their Reply-To).
fn prepare(config: &OutboundConfig, job: &Job) -> Result<(Envelope, Vec<u8>), String> {
    let due = &job.due;
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
    db: std::path::PathBuf,
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
        };
        senders.spawn(async move {
            loop {
                let job = jobs.lock().await.recv().await;
                let Some(job) = job else { break };
                let result = match prepare(&config, &job) {
                    Ok((envelope, bytes)) => sender.send(&envelope, &bytes).await,
                    Err(e) => Err((true, e)),
                };
                let outcome = outcome(&job.due, result);
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
    loop {
        match dispatch(&db, settings, &jobs_tx, &mut done_rx, &wake, &mut stop).await {
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

/// Claims rows ahead of the senders, hands them out, and records outcomes as they come.
async fn dispatch(
    db: &std::path::Path,
    settings: DeriveSettings,
    jobs: &mpsc::Sender<Job>,
    done: &mut mpsc::UnboundedReceiver<(RecipientId, SendOutcome)>,
    wake: &Notify,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    let mut store = Store::open(db, settings)?;
    // The worker reads one queue: a small page cache keeps the daemon's memory flat.
    store.set_cache_kib(4096);
    let recovered = store.recover_outbox()?;
    if recovered > 0 {
        tracing::warn!(recovered, "outbox rows caught mid-send are due again");
    }
    let mut messages: HashMap<OutboxId, Arc<Vec<u8>>> = HashMap::new();
    let mut in_flight = 0usize;
    let mut finished: Vec<(RecipientId, SendOutcome)> = Vec::new();
    let mut last_flush = Instant::now();
    loop {
        let stopping = *stop.borrow();
        if stopping && in_flight == 0 && finished.is_empty() {
            return Ok(());
        }
        // Keep the senders supplied: claim more once half of what is ahead has gone.
        if !stopping && in_flight <= AHEAD / 2 {
            let now = chrono::Utc::now().timestamp();
            let want = AHEAD - in_flight;
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
                in_flight += 1;
                if jobs.send(Job { due: d, bytes }).await.is_err() {
                    return Ok(());
                }
            }
        }
        if in_flight == 0 && finished.is_empty() {
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
        if in_flight > 0 {
            tokio::select! {
                Some(result) = done.recv() => {
                    finished.push(result);
                    in_flight -= 1;
                }
                _ = tokio::time::sleep(FLUSH) => {}
            }
            while let Ok(result) = done.try_recv() {
                finished.push(result);
                in_flight -= 1;
            }
        }
        if !finished.is_empty()
            && (in_flight == 0 || finished.len() >= AHEAD / 2 || last_flush.elapsed() >= FLUSH)
        {
            for (_, outcome) in &finished {
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
            let batch = std::mem::take(&mut finished);
            let now = chrono::Utc::now().timestamp();
            let (s, ()) = blocking(store, move |s| s.finish_sends(&batch, now)).await?;
            store = s;
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
}
