//! The bridge daemon against the real servers of scripts/mailrig (Dovecot over IMAP, Postfix
//! over SMTP): initial sync, IDLE delivery, faults (server restart, cut connections, SIGKILL),
//! a UIDVALIDITY change and a wrong password. Each test uses its own mailbox.
#![cfg(feature = "rig")]

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::forum::runtime;
use common::rig::{self, Account, Rig};
use futures::TryStreamExt;
use listbridge::store::{ArchiveCounts, DeriveSettings, Store};
use serde_json::Value;

/// A source as written into the daemon's config.
struct Source<'a> {
    name: &'a str,
    account: &'a Account,
    password: &'a str,
    mailbox: &'a str,
    port: u16,
    tls: &'a str,
    poll_seconds: u32,
    /// More `key = value` lines for the source.
    settings: &'a str,
}

impl<'a> Source<'a> {
    /// The usual source: implicit TLS to the rig's IMAPS port, with the account's password.
    fn imaps(name: &'a str, account: &'a Account, mailbox: &'a str, rig: &Rig) -> Source<'a> {
        Source {
            name,
            account,
            password: &account.password,
            mailbox,
            port: rig.imaps_port,
            tls: "implicit",
            poll_seconds: 3600,
            settings: "",
        }
    }

    /// The same source reached through `relay`.
    fn via(self, relay: &Relay) -> Source<'a> {
        Source {
            port: relay.port,
            ..self
        }
    }
}

fn write_config(dir: &Path, rig: &Rig, sources: &[Source<'_>]) -> PathBuf {
    let mut text = String::from("[web]\nlisten = \"127.0.0.1:0\"\n");
    for s in sources {
        text.push_str(&format!(
            "[[sources]]\nname = \"{}\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"{}\"\nuser = \"{}\"\n\
             password = \"{}\"\nmailbox = \"{}\"\nca_file = \"{}\"\npoll_seconds = {}\n{}",
            s.name,
            s.port,
            s.tls,
            s.account.user,
            s.password,
            s.mailbox,
            rig.ca_file.display(),
            s.poll_seconds,
            s.settings
        ));
    }
    let file = dir.join("config.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// What a test runs the bridge on: a database `NAME.db` and a config naming `sources`, in a
/// folder of their own.
struct Bridge {
    dir: tempfile::TempDir,
    db: PathBuf,
    config: PathBuf,
}

impl Bridge {
    fn new(name: &str, rig: &Rig, sources: &[Source<'_>]) -> Bridge {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(format!("{name}.db"));
        let config = write_config(dir.path(), rig, sources);
        Bridge { dir, db, config }
    }

    fn start(&self) -> Daemon {
        Daemon::start(&self.db, &self.config)
    }
}

/// How long a first sync of a small mailbox may take.
const SYNC: Duration = Duration::from_secs(30);

/// Whether the database is there and holds `raw` raw messages.
fn archived(db: &Path, raw: u64) -> bool {
    db.exists() && counts(db).raw == raw
}

fn daemon_log_of(db: &Path) -> String {
    std::fs::read_to_string(db.with_extension("log")).unwrap_or_default()
}

fn counts(db: &Path) -> ArchiveCounts {
    Store::open(db, DeriveSettings::default())
        .unwrap()
        .counts()
        .unwrap()
}

fn status(db: &Path, source: &str) -> Value {
    let out = common::cli::listbridge(db, &["status", "--json"], None);
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    all["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == source)
        .cloned()
        .unwrap_or(Value::Null)
}

fn synced_since(db: &Path, source: &str, since: i64) -> bool {
    status(db, source)["last_sync"]
        .as_i64()
        .is_some_and(|t| t >= since)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A fresh folder in `account`'s mailbox holding `messages`, in order.
fn fill_folder(rig: &Rig, account: &Account, tag: &str, messages: &[Vec<u8>]) -> String {
    let folder = format!(
        "{tag}-{}",
        rig::unique_message_id("f")
            .trim_matches(['<', '>'])
            .replace(['@', '.'], "-")
    );
    runtime().block_on(async {
        let mut session = rig.imap_login(account).await;
        session.create(&folder).await.unwrap();
        for m in messages {
            session.append(&folder, None, None, m).await.unwrap();
        }
        session.logout().await.unwrap();
    });
    folder
}

/// A message with CRLF line ends, as IMAP serves it.
fn crlf(bytes: &[u8]) -> Vec<u8> {
    common::lf_and_crlf(bytes).1
}

/// The sample's messages without its stray non-mail file.
fn sample_mail_only() -> Vec<Vec<u8>> {
    sample_messages()
        .into_iter()
        .filter(|m| !m.starts_with(b"this is not a mail"))
        .collect()
}

fn sample_messages() -> Vec<Vec<u8>> {
    listbridge::archive::readers::read_paths(
        &[common::fixtures_dir().join("sample/snug-2024.mbox")],
    )
    .unwrap()
    .map(|m| crlf(&m.unwrap().bytes))
    .collect()
}

fn threads_json(db: &Path) -> Value {
    serde_json::from_str(&common::cli::ok(db, &["export", "threads", "--json"])).unwrap()
}

#[test]
fn initial_sync_gives_the_archive_a_file_import_gives() {
    let rig = rig::env();
    // Mail only: a file import skips (and reports) a stray non-mail file in a folder, while a
    // mailbox stores it raw; that case has its own checks.
    let messages = sample_mail_only();
    let folder = fill_folder(rig, &rig.alice, "initial", &messages);
    let bridge = Bridge::new(
        "imap",
        rig,
        &[Source::imaps("initial", &rig.alice, &folder, rig)],
    );
    let dir = &bridge.dir;

    // The same messages, as IMAP serves them (CRLF), imported from files.
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    for (i, m) in messages.iter().enumerate() {
        std::fs::write(files.join(format!("{i:03}.eml")), m).unwrap();
    }
    let from_files = dir.path().join("files.db");
    common::cli::ok(&from_files, &["import", files.to_str().unwrap()]);

    let db = &bridge.db;
    let daemon = bridge.start();
    let want = counts(&from_files);
    daemon.wait_until(SYNC, "the initial sync", || archived(db, want.raw));
    assert_eq!(daemon.stop(), Some(0), "a clean stop on SIGTERM");
    assert_eq!(counts(db), want);
    assert_eq!(threads_json(db), threads_json(&from_files));
}

#[test]
fn a_mail_sent_through_postfix_arrives_through_idle() {
    let rig = rig::env();
    // STARTTLS on the plain port, to exercise that path too.
    let bridge = Bridge::new(
        "idle",
        rig,
        &[Source {
            port: rig.imap_port,
            tls: "starttls",
            ..Source::imaps("list", &rig.list, "INBOX", rig)
        }],
    );
    let db = &bridge.db;
    let daemon = bridge.start();
    let started = now();
    daemon.wait_until(
        Duration::from_secs(60),
        "the first sync of the list's INBOX",
        || {
            db.exists()
                && status(db, "list")["state"] == "idle"
                && synced_since(db, "list", started)
        },
    );

    let message_id = rig::unique_message_id("idle");
    let sent = Instant::now();
    runtime().block_on(async {
        use lettre::AsyncTransport;
        let email = rig::message(
            "Alice <alice@lists.test>",
            "list@lists.test",
            "Asthma clinic rota",
            &message_id,
        )
        .body("Who can cover Thursday?".to_owned())
        .unwrap();
        rig.smtp().send(email).await.unwrap();
    });
    let id = message_id.trim_matches(['<', '>']).to_owned();
    daemon.wait_until(Duration::from_secs(20), "the mail in the archive", || {
        Store::open(db, DeriveSettings::default())
            .unwrap()
            .search("rota", 5)
            .unwrap()
            .is_ok_and(|r| r.results.iter().any(|h| h.message_id == id))
    });
    println!(
        "from SMTP to the archive through IDLE: {:?}",
        sent.elapsed()
    );
    assert_eq!(daemon.stop(), Some(0));
}

/// A TCP relay to Dovecot whose connections can be cut under the client.
struct Relay {
    port: u16,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Relay {
    fn to(upstream: u16) -> Relay {
        Relay::start(upstream, false)
    }

    /// A relay that hides IDLE from the server's capabilities (plain IMAP only): a server
    /// without IDLE, to exercise the polling fallback.
    fn without_idle(upstream: u16) -> Relay {
        Relay::start(upstream, true)
    }

    fn start(upstream: u16, hide_idle: bool) -> Relay {
        let runtime = runtime();
        let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let registry = Arc::clone(&links);
        runtime.spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let link = tokio::spawn(async move {
                    let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    if !hide_idle {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let (mut client_read, mut client_write) = inbound.into_split();
                    let (mut server_read, mut server_write) = outbound.into_split();
                    let up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    });
                    let mut buf = vec![0u8; 65536];
                    while let Ok(n) = server_read.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        // Same length, another name: the capability list no longer offers IDLE.
                        let text = String::from_utf8_lossy(&buf[..n]).replace(" IDLE", " XDLE");
                        if client_write.write_all(text.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                    up.abort();
                });
                registry.lock().unwrap().push(link);
            }
        });
        Relay {
            port,
            links,
            _runtime: runtime,
        }
    }

    /// Drops every open connection: the network cut under the client.
    fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

#[test]
fn every_message_exactly_once_through_restarts_cuts_and_kills() {
    // Its own servers: restarting Dovecot must not disturb the other tests running meanwhile.
    let private = rig::PrivateRig::start();
    let rig: &Rig = &private;
    // A mailbox big enough that faults land mid-sync.
    let messages: Vec<Vec<u8>> = (0..3000)
        .map(|i| {
            let parent = if i % 4 == 0 { String::new() } else { format!("In-Reply-To: <faults-{}@rig.test>\r\n", i - 1) };
            crlf(format!(
                "From: Member {m} <member{m}@example.org>\nSubject: Faults thread {t}\nDate: Mon, 4 Mar 2024 10:{mm:02}:00 +0000\n\
                 Message-ID: <faults-{i}@rig.test>\n{parent}\nMessage {i} of the fault test, about spirometry and peak flow.\n",
                m = i % 50,
                t = i / 4,
                mm = i % 60,
            ).as_bytes())
        })
        .collect();
    let folder = fill_folder(rig, &rig.bob, "faults", &messages);
    let relay = Relay::to(rig.imaps_port);
    // Through the relay with implicit TLS: the relay passes bytes, TLS is end to end.
    let bridge = Bridge::new(
        "faults",
        rig,
        &[Source::imaps("faults", &rig.bob, &folder, rig).via(&relay)],
    );
    let db = &bridge.db;

    let mut seed: u64 = 0xfa017;
    let mut random = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut progress = Vec::new();
    for round in 0..20 {
        let daemon = bridge.start();
        std::thread::sleep(Duration::from_millis(100 + random(400)));
        match round {
            5 => {
                rig.restart_dovecot();
                std::thread::sleep(Duration::from_millis(200 + random(300)));
            }
            10 | 15 => {
                relay.cut();
                std::thread::sleep(Duration::from_millis(200 + random(300)));
            }
            _ => {}
        }
        daemon.kill();
        progress.push(if db.exists() { counts(db).raw } else { 0 });
    }
    println!("stored after each kill: {progress:?}");

    let daemon = bridge.start();
    daemon.wait_until(
        Duration::from_secs(120),
        "the sync to complete after the faults",
        || db.exists() && counts(db).messages == 3000,
    );
    std::thread::sleep(Duration::from_millis(500));
    let log = daemon.log();
    assert_eq!(daemon.stop(), Some(0), "{log}");
    let c = counts(db);
    assert_eq!(
        (c.raw, c.messages, c.copies, c.unparseable),
        (3000, 3000, 0, 0),
        "every message exactly once"
    );
    let threads = threads_json(db);
    let ids: std::collections::HashSet<&str> = threads["threads"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| {
            t["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["message_id"].as_str().unwrap())
        })
        .collect();
    assert_eq!(ids.len(), 3000);
    assert_eq!(threads["threads"].as_array().unwrap().len(), 750);
}

#[test]
fn a_server_without_idle_is_polled() {
    let rig = rig::env();
    let messages = sample_mail_only();
    let folder = fill_folder(rig, &rig.alice, "polling", &messages[..3]);
    let relay = Relay::without_idle(rig.imap_port);
    let bridge = Bridge::new(
        "poll",
        rig,
        &[Source {
            tls: "plain",
            // Often enough for a test (the config's minimum is 5 seconds).
            poll_seconds: 5,
            ..Source::imaps("poll", &rig.alice, &folder, rig).via(&relay)
        }],
    );
    let db = &bridge.db;
    let daemon = bridge.start();
    daemon.wait_until(SYNC, "the first sync, then polling", || {
        archived(db, 3) && status(db, "poll")["state"] == "polling"
    });
    runtime().block_on(async {
        let mut session = rig.imap_login(&rig.alice).await;
        session
            .append(&folder, None, None, &messages[3])
            .await
            .unwrap();
        session.logout().await.unwrap();
    });
    daemon.wait_until(SYNC, "the new mail, found by polling", || {
        counts(db).raw == 4
    });
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn a_new_uidvalidity_resyncs_without_duplicates() {
    let rig = rig::env();
    let messages = sample_messages();
    let folder = fill_folder(rig, &rig.alice, "uidvalidity", &messages);
    let bridge = Bridge::new("uv", rig, &[Source::imaps("uv", &rig.alice, &folder, rig)]);
    let db = &bridge.db;
    let daemon = bridge.start();
    daemon.wait_until(SYNC, "the first sync", || {
        archived(db, messages.len() as u64)
    });
    assert_eq!(daemon.stop(), Some(0));
    let before = counts(db);

    // The mailbox deleted and made again with the same mail: a new UIDVALIDITY.
    runtime().block_on(async {
        let mut session = rig.imap_login(&rig.alice).await;
        let old = session.examine(&folder).await.unwrap().uid_validity;
        session.close().await.unwrap();
        session.delete(&folder).await.unwrap();
        session.create(&folder).await.unwrap();
        for m in &messages {
            session.append(&folder, None, None, m).await.unwrap();
        }
        let new = session.examine(&folder).await.unwrap().uid_validity;
        assert_ne!(old, new, "Dovecot gave the new mailbox a new UIDVALIDITY");
        session.logout().await.unwrap();
    });
    let restarted = now();
    let daemon = bridge.start();
    daemon.wait_until(SYNC, "the resync", || {
        daemon.log().contains("UIDVALIDITY changed")
            && status(db, "uv")["state"] == "idle"
            && synced_since(db, "uv", restarted)
    });
    assert_eq!(daemon.stop(), Some(0));
    let log = std::fs::read_to_string(db.with_extension("log")).unwrap_or_default();
    let after = counts(db);
    assert_eq!(
        after,
        before,
        "the resync added something\n{}",
        daemon_log_of(db)
    );
    assert!(log.contains("UIDVALIDITY changed"), "{log}");
}

#[test]
fn a_wrong_password_is_reported_and_other_sources_keep_working() {
    let rig = rig::env();
    let messages = sample_messages();
    let folder = fill_folder(rig, &rig.alice, "good", &messages[..5]);
    let bridge = Bridge::new(
        "pw",
        rig,
        &[
            Source {
                password: "not-the-password",
                ..Source::imaps("bad", &rig.list, "INBOX", rig)
            },
            Source::imaps("good", &rig.alice, &folder, rig),
        ],
    );
    let db = &bridge.db;
    let daemon = bridge.start();
    daemon.wait_until(
        SYNC,
        "the good source to sync and the bad one to fail",
        || archived(db, 5) && status(db, "bad")["state"] == "failing",
    );
    let bad = status(db, "bad");
    assert_eq!(bad["permanent"], true, "{bad}");
    let error = bad["last_error"].as_str().unwrap();
    assert!(
        error.contains("refused the login") && error.contains(&rig.list.user),
        "{error}"
    );
    assert!(
        !error.contains("not-the-password"),
        "a password in the status: {error}"
    );
    let log = daemon.log();
    assert!(
        log.contains("bad") && log.contains("refused the login"),
        "{log}"
    );
    assert!(!log.contains("not-the-password"), "a password in the log");
    assert_eq!(status(db, "good")["state"], "idle");
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn imap_fetch_is_read_only_by_default() {
    let rig = rig::env();
    let folder = fill_folder(rig, &rig.alice, "readonly", &sample_messages()[..3]);
    let bridge = Bridge::new("ro", rig, &[Source::imaps("ro", &rig.alice, &folder, rig)]);
    let daemon = bridge.start();
    daemon.wait_until(SYNC, "the sync", || archived(&bridge.db, 3));
    assert_eq!(daemon.stop(), Some(0));
    runtime().block_on(async {
        let mut session = rig.imap_login(&rig.alice).await;
        let mailbox = session.examine(&folder).await.unwrap();
        assert_eq!(mailbox.exists, 3, "nothing deleted");
        let flags: Vec<_> = session
            .fetch("1:*", "FLAGS")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        for f in &flags {
            assert!(
                !f.flags().any(|fl| matches!(
                    fl,
                    async_imap::types::Flag::Seen | async_imap::types::Flag::Deleted
                )),
                "the bridge changed a flag"
            );
        }
        session.logout().await.unwrap();
    });
}

#[test]
fn delete_after_import_empties_the_mailbox_only_once_archived() {
    let rig = rig::env();
    let folder = fill_folder(rig, &rig.alice, "delete", &sample_messages()[..4]);
    let bridge = Bridge::new(
        "del",
        rig,
        &[Source {
            settings: "delete_after_import = true\n",
            ..Source::imaps("del", &rig.alice, &folder, rig)
        }],
    );
    let db = &bridge.db;
    let daemon = bridge.start();
    daemon.wait_until(SYNC, "the sync", || {
        archived(db, 4) && status(db, "del")["state"] == "idle"
    });
    assert_eq!(daemon.stop(), Some(0));
    runtime().block_on(async {
        let mut session = rig.imap_login(&rig.alice).await;
        let mailbox = session.examine(&folder).await.unwrap();
        assert_eq!(
            mailbox.exists, 0,
            "archived mail is deleted from the mailbox"
        );
        session.logout().await.unwrap();
    });
}
