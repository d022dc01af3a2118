//! Abuse resistance of mail coming in (host mode): reply keys guessed, expired or used from
//! another address are refused; an address that sends the list more than
//! `posts_per_hour` posts in an hour has the rest refused with an explanation, and nothing of
//! them archived or sent on; other members are not affected.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use listbridge::archive::Incoming;
use listbridge::archive::pipeline::ImportSummary;
use listbridge::config::Config;
use listbridge::forum::gate::Gate;
use listbridge::forum::held::take_in;
use listbridge::store::{DeriveSettings, Role, Store};

/// A forum over a database in a temporary folder, its members made, taking mail in as a
/// fetch from a list's mailbox does (one gate a list, kept between fetches).
struct Forum {
    config: Arc<Config>,
    store: Store,
    gates: HashMap<String, Gate>,
    dir: tempfile::TempDir,
}

const NOW: i64 = 1_800_000_000;

impl Forum {
    fn new(config: &str, members: &[(&str, &str)]) -> Forum {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("l.db"), DeriveSettings::default()).unwrap();
        for (name, address) in members {
            store.create_user(name, address, Role::Member, NOW).unwrap();
        }
        Forum {
            config: Arc::new(Config::parse(config).unwrap()),
            store,
            gates: HashMap::new(),
            dir,
        }
    }

    /// One fetch of `items` from `list`'s mailbox at `now`.
    fn take(&mut self, list: &str, items: Vec<Incoming>, now: i64) -> ImportSummary {
        let gate = self
            .gates
            .entry(list.to_owned())
            .or_insert_with(|| Gate::new(Arc::clone(&self.config), list).unwrap());
        let id = self.store.list_id(list).unwrap();
        let run = self.store.begin_run("fetch", now).unwrap();
        take_in(
            gate,
            &mut self.store,
            run,
            id,
            &self.config.render_options(list),
            items,
            None,
            now,
        )
        .unwrap()
    }
}

/// A mail as a fetch hands it over, `origin` saying where it was read.
fn incoming(text: String, origin: String) -> Incoming {
    Incoming {
        bytes: text.into_bytes(),
        envelope: None,
        origin,
    }
}

fn post(from: &str, n: usize) -> Incoming {
    incoming(
        format!(
            "From: {from}\r\nTo: snug@lists.test\r\nSubject: Post {n}\r\n\
             Message-ID: <flood-{n}-{}@mail.test>\r\nDate: Tue, 24 Nov 2026 09:00:00 +0000\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nPost number {n} from {from}.\r\n",
            from.replace('@', ".")
        ),
        format!("test#{n}"),
    )
}

#[test]
fn an_address_over_the_hourly_limit_is_refused_and_others_are_not() {
    let mut forum = Forum::new(
        "[outbound]\nfrom_address = \"forum@lists.test\"\n\
         [[lists]]\nname = \"snug\"\naddress = \"snug@lists.test\"\nmode = \"host\"\n\
         posts_per_hour = 3\n",
        &[("Bob", "bob@nhs.test"), ("Carol", "carol@nhs.test")],
    );
    // Bob sends five in one fetch, then Carol one.
    let mut items: Vec<Incoming> = (0..5).map(|n| post("bob@nhs.test", n)).collect();
    items.push(post("carol@nhs.test", 9));
    let summary = forum.take("snug", items, NOW);
    let store = &mut forum.store;
    assert_eq!(
        summary.imported,
        4,
        "three of Bob's and Carol's: {summary:?} {:?}",
        store.inbound_log(10).unwrap()
    );
    assert_eq!(summary.not_archived, 2);
    let log = store.inbound_log(10).unwrap();
    let refused: Vec<_> = log.iter().filter(|e| e.reason == "too-many").collect();
    assert_eq!(refused.len(), 2, "{log:?}");
    assert!(
        refused
            .iter()
            .all(|e| e.sender.as_deref() == Some("bob@nhs.test"))
    );
    // One explanation (one a day per reason), saying what to do.
    let due = store.claim_due(i64::MAX, 100).unwrap();
    let explanations: Vec<String> = due
        .iter()
        .filter(|d| d.recipient.address == "bob@nhs.test")
        .map(|d| {
            String::from_utf8_lossy(&store.outbox_message(d.outbox).unwrap().unwrap()).into_owned()
        })
        .filter(|m| m.contains("Subject: Not published"))
        .collect();
    assert_eq!(explanations.len(), 1);
    assert!(
        explanations[0].contains("at most 3 messages"),
        "{}",
        explanations[0]
    );

    // An hour later Bob may post again.
    let later = forum.take("snug", vec![post("bob@nhs.test", 7)], NOW + 3601);
    assert_eq!(later.imported, 1);
}

/// A reply to `to` from `from`, numbered `n`.
fn reply(from: &str, to: &str, n: usize) -> Incoming {
    incoming(
        format!(
            "From: {from}\r\nTo: {to}\r\nSubject: Re: Post 0\r\n\
             Message-ID: <reply-{n}@mail.test>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nReply number {n}.\r\n"
        ),
        format!("test#r{n}"),
    )
}

#[test]
fn reply_keys_guessed_expired_or_used_by_another_are_refused() {
    let mut forum = Forum::new(
        "[outbound]\nfrom_address = \"forum@lists.test\"\n\
         [[lists]]\nname = \"snug\"\naddress = \"snug@lists.test\"\nmode = \"host\"\n",
        &[("Bob", "bob@nhs.test"), ("Carol", "carol@nhs.test")],
    );
    let now = NOW;
    let bob = forum.store.user_by_email("bob@nhs.test").unwrap().unwrap();
    // Carol starts a thread; Bob's copy carried a key, and an older copy's key has expired.
    assert_eq!(
        forum
            .take("snug", vec![post("carol@nhs.test", 0)], now)
            .imported,
        1
    );
    let first = "flood-0-carol.nhs.test@mail.test";
    let (thread, _) = forum.store.locate(first).unwrap().unwrap();
    let (valid, expired) = (
        listbridge::tokens::new_reply_key(),
        listbridge::tokens::new_reply_key(),
    );
    let (valid, expired) = (valid.as_str(), expired.as_str());
    let run = forum.store.begin_run("keys", now).unwrap();
    let writer = forum.store.writer(run).unwrap();
    for (key, expires) in [(valid, now + 86_400), (expired, now - 1)] {
        writer
            .add_reply_key(&listbridge::tokens::hash(key), bob, first, thread, expires)
            .unwrap();
    }
    writer.commit().unwrap();
    let to = |key: &str| format!("reply+{key}@lists.test");

    let summary = forum.take(
        "snug",
        vec![
            // A key of the right form that nobody was given.
            reply("bob@nhs.test", &to(&listbridge::tokens::new_reply_key()), 1),
            reply("carol@nhs.test", &to(valid), 2),
            reply("bob@nhs.test", &to(expired), 3),
        ],
        now,
    );
    assert_eq!(summary.imported, 0, "{summary:?}");
    let reasons: Vec<(Option<String>, String)> = forum
        .store
        .inbound_log(10)
        .unwrap()
        .into_iter()
        .map(|e| (e.sender, e.reason))
        .collect();
    for (sender, reason) in [
        ("bob@nhs.test", "key-mismatch"),
        ("carol@nhs.test", "key-mismatch"),
        ("bob@nhs.test", "key-expired"),
    ] {
        assert!(
            reasons.contains(&(Some(sender.to_owned()), reason.to_owned())),
            "{sender} {reason} not in {reasons:?}"
        );
    }
    for n in 1..=3 {
        assert!(
            forum
                .store
                .locate(&format!("reply-{n}@mail.test"))
                .unwrap()
                .is_none()
        );
    }
    // Bob's own key works, and keeps working for his next reply in the thread.
    let summary = forum.take(
        "snug",
        vec![
            reply("bob@nhs.test", &to(valid), 4),
            reply("bob@nhs.test", &to(valid), 5),
        ],
        now,
    );
    assert_eq!(summary.imported, 2, "{summary:?}");
    assert_eq!(
        forum
            .store
            .locate("reply-4@mail.test")
            .unwrap()
            .map(|(t, _)| t),
        Some(thread)
    );
}

/// Mirror mode: a member's "+1" answering a post of another, private list (its Message-ID
/// known or guessed) is not a like there: a like by mail stays within the list it came
/// through, so nothing is written into a list off its roster, and whether the mail becomes a
/// like tells nobody that the id exists there. It is archived in its own list as a post.
#[test]
fn a_like_by_mail_never_reaches_into_another_list() {
    let mut forum = Forum::new(
        "[outbound]\nfrom_address = \"forum@lists.test\"\n\
         [[lists]]\nname = \"snug\"\naddress = \"snug@lists.test\"\n\
         [[lists]]\nname = \"closed\"\naddress = \"closed@lists.test\"\nprivate = true\n",
        &[("Bob", "bob@nhs.test")],
    );
    let mail = |id: &str, to: &str, extra: &str, text: &str| {
        incoming(
            format!(
                "From: Bob <bob@nhs.test>\r\nTo: {to}\r\nSubject: Re: Rota\r\n\
                 Message-ID: <{id}>\r\n{extra}Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            ),
            format!("test#{id}"),
        )
    };
    forum.take(
        "closed",
        vec![mail(
            "secret-1@closed.test",
            "closed@lists.test",
            "",
            "The closed list's post.",
        )],
        NOW,
    );
    forum.take(
        "snug",
        vec![
            mail("open-1@mail.test", "snug@lists.test", "", "An open post."),
            mail(
                "plus-across@mail.test",
                "snug@lists.test",
                "In-Reply-To: <secret-1@closed.test>\r\n",
                "+1",
            ),
            mail(
                "plus-here@mail.test",
                "snug@lists.test",
                "In-Reply-To: <open-1@mail.test>\r\n",
                "+1",
            ),
        ],
        NOW,
    );
    let likes_on = |id: &str| -> i64 {
        rusqlite::Connection::open(forum.dir.path().join("l.db"))
            .unwrap()
            .query_row(
                "SELECT count(*) FROM mail_likes WHERE parent = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(
        likes_on("secret-1@closed.test"),
        0,
        "a like reached the private list"
    );
    assert!(
        forum
            .store
            .locate("plus-across@mail.test")
            .unwrap()
            .is_some(),
        "the +1 across lists is archived in its own list, as a post"
    );
    // Within its own list a "+1" is still a like.
    assert_eq!(likes_on("open-1@mail.test"), 1);
    assert!(forum.store.locate("plus-here@mail.test").unwrap().is_none());
}
