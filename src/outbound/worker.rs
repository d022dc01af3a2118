//! The outbox worker: claims due recipients from the store, hands each message to the SMTP
//! server through a small pool of reused connections (lettre), and records what happened:
//! sent; a transient failure retried later with backoff; a permanent one stopped with its error
//! kept for the author to see. Rows are finished in small batches, so a crash can leave only
//! the few messages in flight to be sent again (with the same Message-ID).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::{Notify, watch};

use crate::config::{OutboundConfig, TlsMode};
use crate::store::{DeriveSettings, Due, OutboxId, SendOutcome, Store, StoreError};

/// Rows claimed per round: small, so a crash re-sends little.
const CLAIM: usize = 64;
/// Messages handed to the server at once (over the pooled connections).
const CONCURRENT: usize = 8;
/// Connections kept open to the server.
const CONNECTIONS: u32 = 4;
/// After this many transient failures (about two days of backoff), a row fails for good.
const MAX_ATTEMPTS: u32 = 24;

/// Where the worker hands mail.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
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
    /// The SMTP transport `[outbound]` describes.
    pub fn smtp(config: &OutboundConfig) -> Result<Transport, WorkerError> {
        let setup = |e: &dyn std::fmt::Display| WorkerError::Setup(e.to_string());
        let mut tls = None;
        if config.tls != TlsMode::Plain {
            let mut params = TlsParameters::builder(config.host.clone());
            if let Some(ca) = &config.ca_file {
                let pem = std::fs::read(ca)
                    .map_err(|e| WorkerError::Setup(format!("ca_file {}: {e}", ca.display())))?;
                params = params
                    .add_root_certificate(Certificate::from_pem(&pem).map_err(|e| setup(&e))?);
            }
            tls = Some(params.build_rustls().map_err(|e| setup(&e))?);
        }
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
                .port(config.port)
                .timeout(Some(Duration::from_secs(60)))
                .pool_config(PoolConfig::new().max_size(CONNECTIONS))
                .tls(match (config.tls, tls) {
                    (TlsMode::Implicit, Some(p)) => Tls::Wrapper(p),
                    (TlsMode::StartTls, Some(p)) => Tls::Required(p),
                    _ => Tls::None,
                });
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Transport::Smtp(builder.build()))
    }

    async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), (bool, String)> {
        match self {
            Transport::Smtp(smtp) => {
                smtp.send_raw(envelope, bytes)
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        // Only a 5xx answer is permanent; a refused connection, a timeout or a 4xx
                        // is worth another try.
                        (e.is_permanent(), e.to_string())
                    })
            }
            Transport::Print => {
                eprintln!(
                    "---- mail to {} (demo: not sent) ----\n{}\n---- end ----",
                    envelope
                        .to()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    String::from_utf8_lossy(bytes)
                );
                Ok(())
            }
        }
    }
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

/// Runs the worker until `stop` turns true. `wake` is notified when something is queued.
pub async fn run(
    db: std::path::PathBuf,
    settings: DeriveSettings,
    config: OutboundConfig,
    transport: Transport,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match run_until_error(&db, settings, &config, &transport, &wake, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, "the outbox worker failed; starting again in 10 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
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

async fn run_until_error(
    db: &std::path::Path,
    settings: DeriveSettings,
    config: &OutboundConfig,
    transport: &Transport,
    wake: &Notify,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    let mut store = Store::open(db, settings)?;
    let recovered = store.recover_outbox()?;
    if recovered > 0 {
        tracing::warn!(recovered, "outbox rows caught mid-send are due again");
    }
    let mut messages: HashMap<OutboxId, Arc<Vec<u8>>> = HashMap::new();
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let now = chrono::Utc::now().timestamp();
        let (s, due) = blocking(store, move |s| s.claim_due(now, CLAIM)).await?;
        store = s;
        if due.is_empty() {
            let (s, next) = blocking(store, |s| s.next_due()).await?;
            store = s;
            let wait = next.map_or(30, |at| (at - now).clamp(1, 30)) as u64;
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(wait)) => {}
                _ = stop.changed() => return Ok(()),
            }
            continue;
        }
        if messages.len() > 256 {
            messages.clear();
        }
        for d in &due {
            if !messages.contains_key(&d.outbox) {
                let id = d.outbox;
                let (s, bytes) = blocking(store, move |s| s.outbox_message(id)).await?;
                store = s;
                messages.insert(id, Arc::new(bytes.unwrap_or_default()));
            }
        }
        let outcomes: Vec<_> = futures::stream::iter(due)
            .map(|d| {
                let bytes = messages[&d.outbox].clone();
                async move {
                    let outcome = send_one(config, transport, &d, &bytes).await;
                    (d.id, outcome)
                }
            })
            .buffer_unordered(CONCURRENT)
            .collect()
            .await;
        for (_, outcome) in &outcomes {
            match outcome {
                SendOutcome::Sent => {}
                SendOutcome::Retry { error, .. } => {
                    tracing::warn!(%error, "sending failed; will try again")
                }
                SendOutcome::Failed { error } => tracing::error!(%error, "sending failed for good"),
            }
        }
        let now = chrono::Utc::now().timestamp();
        let (s, ()) = blocking(store, move |s| s.finish_sends(&outcomes, now)).await?;
        store = s;
    }
}

async fn send_one(
    config: &OutboundConfig,
    transport: &Transport,
    due: &Due,
    bytes: &[u8],
) -> SendOutcome {
    let now = chrono::Utc::now().timestamp();
    let parse = |a: &str| a.parse::<Address>();
    let envelope = match (
        parse(&envelope_sender(&config.bounce_address, &due.address)),
        parse(&due.address),
    ) {
        (Ok(from), Ok(to)) => Envelope::new(Some(from), vec![to]),
        (Err(e), _) | (_, Err(e)) => {
            return SendOutcome::Failed {
                error: format!("{} is not a usable address: {e}", due.address),
            };
        }
    };
    let envelope = match envelope {
        Ok(e) => e,
        Err(e) => {
            return SendOutcome::Failed {
                error: e.to_string(),
            };
        }
    };
    let copy;
    let bytes = match &due.reply_to {
        Some(reply_to) => match crate::mail::compose::with_reply_to(bytes, reply_to) {
            Ok(c) => {
                copy = c;
                &copy[..]
            }
            Err(e) => {
                return SendOutcome::Failed {
                    error: e.to_string(),
                };
            }
        },
        None => bytes,
    };
    match transport.send(&envelope, bytes).await {
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
