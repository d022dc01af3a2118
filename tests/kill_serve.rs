//! The crash-safety acceptance test (DESIGN.md invariants 2 and 5): `listbridge serve` killed
//! with SIGKILL at 50 moments while it syncs a busy list mailbox over IMAP and members post on
//! the web, and started again each time. The moments are pseudo-random, seeded and printed, so
//! a failure can be replayed. Mirror mode: each web post is mailed to the list through Postfix
//! and comes back over IMAP into the mailbox the bridge reads. After every kill the archive,
//! the outbox and the list's mailbox are checked for anything doubled; at the end everything
//! must have arrived: every mail archived once, every post the web acknowledged queued once,
//! received by the list once, and shown once.
#![cfg(feature = "rig")]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::daemon::{Daemon, free_port};
use common::forum::{admin_link, bare, cli, mail, runtime, write_config};
use common::rig::{self, PrivateRig, Rig};
use common::web::{Web, hidden};

const KILLS: usize = 50;
/// Mails in the list's mailbox before the first start, so the first kills land in the initial
/// sync.
const SEEDED: usize = 2000;
/// Mails sent to the list through Postfix meanwhile, one every `MAIL_EVERY`, whether the
/// bridge is up or not.
const LIVE: usize = 400;
const MAIL_EVERY: Duration = Duration::from_millis(150);
/// Members posting on the web, each a new thread every 200 to 600 ms while the web answers
/// (under the limit of ten posts at once per member, which a restart resets).
const POSTERS: usize = 8;
/// `[outbound] echo_wait_seconds`: longer than a post takes to come back here even while the
/// bridge catches up after a restart, short enough that a post which never reached the list
/// is sent again before the test ends.
const ECHO_WAIT: u32 = 30;
/// The longest a kill waits after a start; the moments spread over [50 ms, this).
const LONGEST_LIFE_MS: u64 = 2500;
const SEED: u64 = 0x6b11_5e7e;

/// A pseudo-random number below `n`, from a seeded LCG.
fn random(state: &mut u64, n: u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*state >> 33) % n
}

fn seeded_id(i: usize) -> String {
    format!("kill-seed-{i}@rig.test")
}

fn live_id(i: usize) -> String {
    format!("kill-live-{i}@rig.test")
}

/// A list mail: one thread in five starts a thread; the others answer a thread's first mail.
fn list_mail(id: &str, root: Option<&str>, n: usize) -> Vec<u8> {
    let subject = match root {
        Some(r) => format!("Re: [SNUG] Kill test thread {r}"),
        None => format!("[SNUG] Kill test thread {id}"),
    };
    let extra = root.map_or(String::new(), |r| format!("In-Reply-To: <{r}>\r\n"));
    mail(
        &format!("Member {m} <member{m}@example.org>", m = n % 37),
        "list@lists.test",
        &format!("<{id}>"),
        &subject,
        &extra,
        &format!("Mail {n} of the kill test, about inhaler technique and peak flow."),
    )
}

/// What the posters saw, shared between their tasks.
#[derive(Default)]
struct Tally {
    /// Message-IDs of the posts the web acknowledged (303 to the post's permalink).
    acked: Vec<String>,
    /// Posts whose request the kill cut: not acknowledged; each may or may not exist.
    cut: usize,
    /// Posts refused by the per-member limit (429): not made.
    limited: usize,
}

/// One member posting new threads until `stop`; a request the kill cuts is counted, not failed.
async fn poster(
    mut web: Web,
    k: usize,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
) -> Result<(), String> {
    let mut state = SEED ^ (k as u64 + 1);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let form = match web.try_get("/l/snug/new").await {
            Ok(form) if form.status == 200 => form,
            Ok(other) => {
                return Err(format!(
                    "the new-thread form: {} {}",
                    other.status, other.body
                ));
            }
            // Down or being started: try again soon.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let csrf = hidden(&form.body, "csrf");
        n += 1;
        let subject = format!("Kill test post {k}-{n}");
        let text = format!("Post {n} of poster {k}: who covers the *asthma* clinic on Friday?");
        let fields = [
            ("csrf", csrf.as_str()),
            ("subject", subject.as_str()),
            ("text", text.as_str()),
            ("action", "post"),
        ];
        match web.try_post("/l/snug/new", &fields).await {
            Ok(a) if a.status == 303 => {
                let location = a.location.unwrap_or_default();
                let id = location
                    .strip_prefix("/m/")
                    .ok_or_else(|| format!("posting answered 303 to {location:?}"))?;
                let id = percent_encoding::percent_decode_str(id)
                    .decode_utf8()
                    .map_err(|e| e.to_string())?
                    .into_owned();
                tally.lock().unwrap().acked.push(id);
            }
            Ok(a) if a.status == 429 => tally.lock().unwrap().limited += 1,
            Ok(a) => return Err(format!("posting: {} {}", a.status, a.body)),
            Err(_) => tally.lock().unwrap().cut += 1,
        }
        tokio::time::sleep(Duration::from_millis(200 + random(&mut state, 400))).await;
    }
    Ok(())
}

fn open(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

fn strings(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The Message-IDs held more than once in the list's INBOX: what the list received twice.
fn doubled(inbox: &[Vec<u8>]) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for m in inbox {
        let id = rig::header(m, "Message-ID").map_or_else(|| "(none)".to_owned(), |h| bare(&h));
        *seen.entry(id).or_default() += 1;
    }
    let mut twice: Vec<String> = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, n)| format!("{id} x{n}"))
        .collect();
    twice.sort();
    twice
}

/// The checks that hold at any moment, the bridge stopped: nothing doubled in the archive, the
/// outbox or the list's mailbox, and every post acknowledged so far archived and queued.
/// Returns (messages archived, posts, posts caught mid-send, of them with bytes gone).
async fn check_nothing_doubled(
    db: &Path,
    rig: &Rig,
    acked: &[String],
    after: &str,
) -> (i64, i64, i64, i64) {
    let conn = open(db);
    let twice = strings(
        &conn,
        "SELECT m.message_id FROM message_copies c JOIN messages m ON m.id = c.message
         GROUP BY m.id HAVING count(*) > 1",
    );
    assert!(
        twice.is_empty(),
        "{after}: posts that came back from the list twice: {twice:?}"
    );
    let copied = strings(
        &conn,
        "SELECT m.message_id FROM message_copies c JOIN messages m ON m.id = c.message
         WHERE m.message_id NOT IN (SELECT message_id FROM posts)",
    );
    assert!(
        copied.is_empty(),
        "{after}: mails archived twice: {copied:?}"
    );
    let derived = strings(
        &conn,
        "SELECT message_id FROM messages WHERE message_id LIKE '%.dup-%'",
    );
    assert!(
        derived.is_empty(),
        "{after}: mails archived under a second id: {derived:?}"
    );
    assert_eq!(
        count(&conn, "SELECT count(*) FROM unparseable"),
        0,
        "{after}"
    );
    let queued_twice = strings(
        &conn,
        "SELECT message_id FROM outbox WHERE kind = 'post' GROUP BY message_id
         HAVING count(*) > 1",
    );
    assert!(
        queued_twice.is_empty(),
        "{after}: posts queued twice: {queued_twice:?}"
    );
    // The scenario is what it should be: each post is one message to the list, nothing else
    // (its members' copies, kind 'copy', have no recipients here: nobody else watches).
    let other = strings(
        &conn,
        "SELECT o.kind || ' to ' || r.address FROM outbox o JOIN outbox_recipients r
         ON r.outbox_id = o.id WHERE o.kind != 'post' OR r.address != 'list@lists.test'
         OR r.state IN ('failed', 'paused')",
    );
    assert!(
        other.is_empty(),
        "{after}: other mail in the outbox: {other:?}"
    );
    let posts = count(&conn, "SELECT count(*) FROM posts");
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM posts p JOIN outbox o ON o.message_id = p.message_id
             JOIN outbox_recipients r ON r.outbox_id = o.id"
        ),
        posts,
        "{after}: every post queued once, to the list"
    );
    let mut find = conn
        .prepare(
            "SELECT count(*) FROM posts p JOIN outbox o ON o.message_id = p.message_id
             JOIN messages m ON m.message_id = p.message_id
             WHERE p.message_id = ?1 AND o.kind = 'post'",
        )
        .unwrap();
    for id in acked {
        let n: i64 = find.query_row([id], |r| r.get(0)).unwrap();
        assert_eq!(
            n, 1,
            "{after}: the acknowledged post {id} is not archived and queued once"
        );
    }
    let messages = count(&conn, "SELECT count(*) FROM messages");
    let (caught, handed): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(handed_at) FROM outbox_recipients WHERE state = 'sending'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    drop(find);
    drop(conn);

    let inbox = rig.fetch_inbox(&rig.list).await;
    let twice = doubled(&inbox);
    assert!(
        twice.is_empty(),
        "{after}: the list received these more than once: {twice:?}"
    );
    (messages, posts, caught, handed)
}

#[test]
fn serve_killed_at_fifty_moments_loses_and_doubles_nothing() {
    let started = Instant::now();
    let private = PrivateRig::start();
    let rig: &Rig = &private;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = write_config(dir.path(), rig, port, "mirror");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen(
        "[outbound]\n",
        &format!("[outbound]\necho_wait_seconds = {ECHO_WAIT}\n"),
        1,
    );
    assert!(text.contains("echo_wait_seconds"), "{text}");
    std::fs::write(&config, text).unwrap();
    let db = dir.path().join("forum.db");
    let web_up = |daemon: &Daemon| {
        daemon.wait_until(Duration::from_secs(30), "the web server answers", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    };

    let rt = runtime();
    // The members sign in once; their sessions live in the database, through every restart.
    let links: Vec<String> = (0..POSTERS)
        .map(|k| {
            admin_link(
                &db,
                &config,
                &format!("alice+p{k}@lists.test"),
                &format!("Poster {k}"),
            )
        })
        .collect();
    let daemon = Daemon::start(&db, &config);
    web_up(&daemon);
    let webs: Vec<Web> = rt.block_on(async {
        let mut webs = Vec::new();
        for link in &links {
            let mut web = Web::new(&base);
            web.sign_in_with_link(link).await;
            webs.push(web);
        }
        webs
    });
    assert_eq!(daemon.stop(), Some(0));

    // The list's mailbox before the first start.
    let seed_dir = dir.path().join("seeded");
    std::fs::create_dir(&seed_dir).unwrap();
    for i in 0..SEEDED {
        let root = (i % 5 != 0).then(|| seeded_id(i - i % 5));
        std::fs::write(
            seed_dir.join(format!("{i:05}.eml")),
            list_mail(&seeded_id(i), root.as_deref(), i),
        )
        .unwrap();
    }
    rig.deliver(&rig.list.user, &[&seed_dir]);

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let posters: Vec<_> = webs
        .into_iter()
        .enumerate()
        .map(|(k, web)| rt.spawn(poster(web, k, Arc::clone(&stop), Arc::clone(&tally))))
        .collect();
    let mailer = {
        let rig = rig.clone();
        rt.spawn(async move {
            for i in 0..LIVE {
                let root = seeded_id((i * 7) % SEEDED / 5 * 5);
                let raw = list_mail(&live_id(i), Some(&root), SEEDED + i);
                rig.send_raw("alice@lists.test", &["list@lists.test"], &raw)
                    .await;
                tokio::time::sleep(MAIL_EVERY).await;
            }
        })
    };

    let mut state = SEED;
    let mut moments = Vec::new();
    let (mut caught_total, mut handed_total, mut kills_mid_send) = (0, 0, 0);
    let mut archived = 0;
    for kill in 1..=KILLS {
        let mut daemon = Daemon::start(&db, &config);
        let life = 50 + random(&mut state, LONGEST_LIFE_MS - 50);
        moments.push(life);
        std::thread::sleep(Duration::from_millis(life));
        assert!(
            daemon.running(),
            "the daemon stopped by itself before kill {kill}:\n{}",
            daemon.log()
        );
        daemon.kill();
        let acked = tally.lock().unwrap().acked.clone();
        let after = format!("after kill {kill} ({life} ms after the start)");
        let (messages, posts, caught, handed) =
            rt.block_on(check_nothing_doubled(&db, rig, &acked, &after));
        assert!(
            messages >= archived,
            "{after}: the archive shrank from {archived} to {messages} messages"
        );
        archived = messages;
        caught_total += caught;
        handed_total += handed;
        kills_mid_send += i64::from(caught > 0);
        println!(
            "kill {kill:2} at {life:4} ms: {messages} messages archived, {posts} posts, \
             {caught} outbox rows mid-send ({handed} handed over)"
        );
    }
    println!("seed {SEED:#x}; kill moments (ms after each start): {moments:?}");

    // Everything the posters and the mailer did, then the bridge left to finish.
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for p in posters {
            p.await
                .expect("a poster panicked")
                .expect("a poster failed");
        }
        mailer.await.expect("the mailer failed");
    });
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    let daemon = Daemon::start(&db, &config);
    let expected_mail = (SEEDED + LIVE) as i64;
    let mut last = String::new();
    daemon.wait_until(
        Duration::from_secs(180),
        "every mail archived, every post delivered and the outbox empty",
        || {
            let conn = open(&db);
            let state: (i64, i64, i64, i64) = conn
                .query_row(
                    "SELECT (SELECT count(*) FROM messages),
                            (SELECT count(*) FROM posts),
                            (SELECT count(*) FROM posts WHERE delivered_at IS NULL),
                            (SELECT count(*) FROM outbox_recipients WHERE state != 'sent')",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap();
            last = format!("{state:?}");
            let (messages, posts, undelivered, unsent) = state;
            messages == expected_mail + posts && undelivered == 0 && unsent == 0
        },
    );
    let log = daemon.log();
    assert_eq!(daemon.stop(), Some(0), "{log}");
    println!("(messages, posts, undelivered, unsent) at the end: {last}");

    // The archive: every mail and every post shown once; each post kept raw twice (as written
    // and as the list sent it back), each mail once.
    let conn = open(&db);
    let posts = strings(&conn, "SELECT message_id FROM posts");
    drop(conn);
    let acked: HashSet<&String> = tally.acked.iter().collect();
    let post_set: HashSet<&String> = posts.iter().collect();
    let missing: Vec<_> = acked.difference(&post_set).collect();
    assert!(missing.is_empty(), "acknowledged posts lost: {missing:?}");
    let (messages, ..) = rt.block_on(check_nothing_doubled(&db, rig, &tally.acked, "at the end"));
    assert_eq!(messages, expected_mail + posts.len() as i64);

    let threads: serde_json::Value =
        serde_json::from_str(&cli(&db, &config, &["export", "threads", "--json"])).unwrap();
    let mut shown: HashMap<String, usize> = HashMap::new();
    for t in threads["threads"].as_array().unwrap() {
        for m in t["messages"].as_array().unwrap() {
            *shown
                .entry(m["message_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let mbox = cli(&db, &config, &["export", "mbox"]);
    let mut raw: HashMap<String, usize> = HashMap::new();
    for line in mbox.lines() {
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("message-id")
        {
            *raw.entry(bare(value.trim())).or_default() += 1;
        }
    }
    let inbox = rt.block_on(rig.fetch_inbox(&rig.list));
    let mut received: HashMap<String, usize> = HashMap::new();
    for m in &inbox {
        if let Some(id) = rig::header(m, "Message-ID") {
            *received.entry(bare(&id)).or_default() += 1;
        }
    }
    let mails: Vec<String> = (0..SEEDED)
        .map(seeded_id)
        .chain((0..LIVE).map(live_id))
        .collect();
    for id in &mails {
        assert_eq!(shown.get(id), Some(&1), "{id} shown");
        assert_eq!(raw.get(id), Some(&1), "{id} kept raw");
        assert_eq!(received.get(id), Some(&1), "{id} in the list's mailbox");
    }
    for id in &posts {
        assert_eq!(shown.get(id), Some(&1), "post {id} shown");
        assert_eq!(raw.get(id), Some(&2), "post {id} kept raw, and its copy");
        assert_eq!(received.get(id), Some(&1), "post {id} received by the list");
    }
    assert_eq!(shown.values().sum::<usize>(), mails.len() + posts.len());
    assert_eq!(inbox.len(), mails.len() + posts.len(), "the list's mailbox");

    println!(
        "{KILLS} kills survived; {} mails ({SEEDED} in the mailbox at the start, {LIVE} through \
         Postfix meanwhile) archived once each; {} posts made on the web ({} acknowledged, {} \
         requests cut by a kill, {} refused by the posting limit), each queued once, received \
         by the list once and shown once; {kills_mid_send} kills caught the outbox mid-send \
         ({caught_total} rows, {handed_total} of them after the bytes had gone); duplicates \
         found: 0; {:.0} s in all",
        mails.len(),
        posts.len(),
        tally.acked.len(),
        tally.cut,
        tally.limited,
        started.elapsed().as_secs_f64()
    );
}
