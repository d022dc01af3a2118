//! `listbridge serve` (and `listbridge demo`, the same over a temporary sample archive): starts
//! the long-running tasks (one per IMAP source, the outbox worker, and the web forum with
//! /healthz) and stops them together on SIGTERM or Ctrl-C, letting in-flight work finish:
//! a batch being stored commits or rolls back whole, never half.

use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::ingest::imap::SourceRunner;
use crate::outbound::worker::Transport;
use crate::store::{DeriveSettings, Location, Store};

/// How long stopping waits for tasks to finish their current step.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Runs until SIGTERM or Ctrl-C.
pub async fn serve(config: Config, db: Location, settings: DeriveSettings) -> anyhow::Result<()> {
    let transport = match &config.outbound {
        Some(out) => Some(Transport::smtp(out)?),
        None => None,
    };
    serve_with(config, db, settings, transport).await
}

/// `serve`, handing outbound mail to `transport` (none: nothing is sent, mail waits queued).
async fn serve_with(
    config: Config,
    db: Location,
    settings: DeriveSettings,
    transport: Option<Transport>,
) -> anyhow::Result<()> {
    let listen = config.web.listen;
    // Signals are caught from the first moment, so a stop never cuts a half-started daemon.
    let signal = shutdown_signal();
    // glibc gives each thread that allocates its own memory arena, which an idle daemon then
    // keeps; two arenas serve a two-core machine's daemon as well.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter, before the sources start allocating.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    // Create or migrate the database before anything runs on it, with the config's interests.
    Store::open(&db, settings)?
        .seed_interests(&config.new_interests(), chrono::Utc::now().timestamp())?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let wake = Arc::new(Notify::new());
    match (&config.outbound, transport) {
        (Some(out), Some(transport)) => {
            tasks.spawn(crate::outbound::worker::run(
                db.clone(),
                settings,
                out.clone(),
                transport,
                Arc::clone(&wake),
                stop_rx.clone(),
            ));
            tracing::info!(host = %out.server.host, port = out.server.port, "outbox worker started");
        }
        _ => tracing::info!("no [outbound] section: nothing can be posted or mailed"),
    }
    if config.outbound.is_some() {
        tasks.spawn(digests(
            Arc::new(config.clone()),
            db.clone(),
            settings,
            Arc::clone(&wake),
            stop_rx.clone(),
        ));
    }
    let shared = Arc::new(config.clone());
    for source in &config.sources {
        let runner = SourceRunner {
            config: source.clone(),
            db: db.clone(),
            settings,
            render: config.render_options(&source.list),
            gate: crate::forum::gate::Gate::new(Arc::clone(&shared), &source.list).map(Arc::new),
            wake: Some(Arc::clone(&wake)),
        };
        tasks.spawn(runner.run(stop_rx.clone()));
        tracing::info!(source = %source.name, host = %source.server.host, mailbox = %source.mailbox, "source started");
    }

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen} ([web] listen): {e}"))?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    let state = crate::web::AppState::new(config.clone(), db.clone(), settings, Arc::clone(&wake));
    tasks.spawn(crate::web::forget_idle(state.clone(), stop_rx.clone()));
    let app = crate::web::router(state);
    let mut web_stop = stop_rx.clone();
    tasks.spawn(async move {
        let shutdown = async move {
            let _ = web_stop.changed().await;
        };
        // With each connection's address, for the sign-in limits per client.
        if let Err(e) = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        {
            tracing::error!(error = %e, "the web server stopped");
        }
    });

    signal.await;
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("some tasks did not stop in time; their open transactions roll back");
    }
    Ok(())
}

/// Every minute, queues the digests and event reminders that have fallen due.
async fn digests(
    config: Arc<Config>,
    db: Location,
    settings: DeriveSettings,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (config, db) = (Arc::clone(&config), db.clone());
        let sent = tokio::task::spawn_blocking(move || {
            let mut store = Store::open(&db, settings).map_err(|e| e.to_string())?;
            let now = chrono::Utc::now().timestamp();
            let digests = crate::outbound::digest::send_due(&mut store, &config, now, false)
                .map_err(|e| format!("digests could not be made: {e}"))?;
            let reminders = crate::forum::events::send_reminders(&mut store, &config, now)
                .map_err(|e| format!("event reminders could not be made: {e}"))?;
            Ok::<_, String>((digests, reminders))
        })
        .await;
        match sent {
            Ok(Ok((0, 0))) => {}
            Ok(Ok((digests, reminders))) => {
                tracing::info!(digests, reminders, "digests and reminders queued");
                wake.notify_one();
            }
            Ok(Err(e)) => tracing::error!(error = %e, "scheduled mail failed"),
            Err(e) => tracing::error!(error = %e, "the digest task failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Registers for SIGTERM and Ctrl-C now; the returned future ends at the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .expect("SIGINT handler installs");
    async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
        }
    }
}

/// `listbridge demo`: the bundled sample archive imported into a temporary database and served
/// until Ctrl-C, then removed.
pub async fn demo(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let dir = private_temp_dir()?;
    let archive = dir.join("sample.mbox");
    std::fs::write(
        &archive,
        include_bytes!("../fixtures/sample/snug-2024.mbox"),
    )?;
    let mut config = Config::parse(
        // The sample's members are made up: their addresses are shown, so that every page
        // (authors' too) can be tried without signing in.
        "[web]\nsite_name = \"SNUG forum (demo)\"\nhide_addresses = false\n\
         [outbound]\nfrom_address = \"forum@demo.invalid\"\n\
         [[lists]]\nname = \"snug\"\naddress = \"snug@demo.invalid\"\n\
         description = \"Primary care clinicians and practice staff\"\nsubject_tag = \"[SNUG]\"\n",
    )
    .map_err(|p| anyhow::anyhow!("the demo config is invalid: {p:?}"))?;
    config.interests = Config::parse(include_str!("../fixtures/sample/interests.toml"))
        .map_err(|p| anyhow::anyhow!("the demo's interests are invalid: {p:?}"))?
        .interests;
    config.web.listen = listen;
    config.web.base_url = format!("http://{listen}");
    config.store.path = dir.join("demo.db");
    let settings = config.derive_settings();
    let (db, render) = (config.store.path.clone(), config.render_options("snug"));
    let interests = config.clone();
    let summary = tokio::task::spawn_blocking(move || {
        let mut store = Store::open(&db, settings)?;
        let now = chrono::Utc::now().timestamp();
        store.seed_interests(&interests.new_interests(), now)?;
        let summary =
            crate::archive::pipeline::import(&mut store, &[archive], "snug", &render, now)?;
        sample_event(&mut store, &interests, now)?;
        Ok::<_, anyhow::Error>(summary)
    })
    .await??;
    eprintln!(
        "listbridge demo: {} messages in {} threads; open http://{listen}/ (Ctrl-C to stop).\n\
         Demo mail is not sent: it is printed here, sign-in links included.",
        summary.imported, summary.threads
    );
    let db = Location::Sqlite(config.store.path.clone());
    let result = serve_with(config, db, settings, Some(Transport::Print)).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The demo's upcoming event: a study day four weeks ahead, announced by a sample organiser.
fn sample_event(store: &mut Store, config: &Config, now: i64) -> anyhow::Result<()> {
    use chrono::TimeZone;
    let (organiser, _) = store.create_user(
        "Dr Priya Shah",
        "priya.shah@demo.invalid",
        crate::store::Role::Moderator,
        now,
    )?;
    let day = chrono::Utc
        .timestamp_opt(now + 28 * 86_400, 0)
        .single()
        .map(|t| t.date_naive())
        .ok_or_else(|| anyhow::anyhow!("no date four weeks from now"))?;
    let london = chrono_tz::Europe::London;
    let at = |hour, minute| {
        day.and_hms_opt(hour, minute, 0)
            .and_then(|t| london.from_local_datetime(&t).earliest())
            .map(|t| t.timestamp())
            .ok_or_else(|| anyhow::anyhow!("no such local time"))
    };
    let asthma = store
        .interest_by_slug("asthma")?
        .map(|i| vec![i.id])
        .unwrap_or_default();
    let description = "A day on asthma in primary care: the new BTS/NICE/SIGN guideline, \
                       inhaler technique with **hands-on spacer practice**, and running a \
                       nurse-led review clinic. For GPs, practice nurses and pharmacists.";
    let (starts_at, ends_at) = (at(9, 30)?, at(16, 30)?);
    let draft = crate::forum::Draft {
        user: organiser,
        author_name: "Dr Priya Shah".to_owned(),
        list: "snug".to_owned(),
        parent: None,
        subject: "Asthma study day".to_owned(),
        text: crate::forum::events::announcement_text(
            description,
            &[
                (
                    "When",
                    crate::forum::events::when_span(starts_at, ends_at, "Europe/London", false),
                ),
                (
                    "Where",
                    "Education Centre, St James's Hospital, Leeds".to_owned(),
                ),
                ("Places", "60".to_owned()),
            ],
        ),
        approved: false,
    };
    let event = crate::store::NewEvent {
        list: crate::store::ListId(0),
        details: crate::store::EventDetails {
            uid: format!("event-demo-{now}@demo.invalid"),
            title: "Asthma study day".to_owned(),
            description: description.to_owned(),
            starts_at,
            ends_at,
            time_zone: "Europe/London".to_owned(),
            place: Some("Education Centre, St James's Hospital, Leeds".to_owned()),
            capacity: Some(60),
            deadline: Some(starts_at - 7 * 86_400),
            organiser: Some(organiser),
            ..Default::default()
        },
        source: "web",
        tickets: vec![
            ("Member".to_owned(), "£40".to_owned()),
            ("Non-member".to_owned(), "£60".to_owned()),
        ],
        interests: asthma,
    };
    crate::forum::events::announce(store, config, &draft, event, now)?;
    Ok(())
}

/// A fresh private folder under the system's temporary directory.
fn private_temp_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let dir = base.join(format!("listbridge-demo-{}-{attempt}", std::process::id()));
        if std::fs::create_dir(&dir).is_ok() {
            return Ok(dir);
        }
    }
    anyhow::bail!("cannot create a temporary folder in {}", base.display())
}
