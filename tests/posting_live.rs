//! Two-way posting through the real servers of scripts/mailrig: a web reply mailed to the list
//! through Postfix, back over IMAP from Dovecot and shown once, delivered (mirror mode); host
//! mode's copies to members with their own reply addresses, replies by mail accepted from the
//! right member only, auto-replies dropped; web posts waiting while Postfix is down and each
//! delivered once when it returns. Each test has a rig of its own (its own mailboxes).
#![cfg(feature = "rig")]

mod common;

use std::time::Duration;

use common::forum::{Forum, PATIENCE, bare, cli, mail, message_id, parents, store};
use common::rig;
use common::web::{Web, hidden, posted_id};

/// Posts a reply on the web; its Message-ID.
async fn web_reply(web: &mut Web, thread: i64, key: i64, text: &str) -> String {
    let form = web.get(&format!("/t/{thread}/reply?to={key}")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = hidden(&form.body, "csrf");
    let parent = hidden(&form.body, "parent");
    let answer = web
        .post(
            &format!("/t/{thread}/reply"),
            &[
                ("csrf", &csrf),
                ("parent", &parent),
                ("text", text),
                ("action", "post"),
            ],
        )
        .await;
    posted_id(answer)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_web_reply_goes_through_the_list_and_shows_once_delivered() {
    let forum = Forum::start("mirror");
    let (thread, key, seed) = forum.seed_thread("[SNUG] Spacers for the over-80s").await;
    let mut web = forum.sign_in_alice().await;
    let id = web_reply(
        &mut web,
        thread,
        key,
        "We use the *Volumatic* with a mask.\n\n> quoted",
    )
    .await;

    // Shown at once, and its author sees it travel: queued or sent, then delivered when
    // the list's copy comes back over IMAP.
    let page = web.get(&format!("/t/{thread}")).await;
    assert!(page.body.contains("Volumatic"), "{}", page.body);
    forum.wait_until_delivered(&id, "the post is marked delivered", PATIENCE);
    let page = web.get(&format!("/t/{thread}")).await;
    assert!(
        page.body.contains("data-state=\"delivered\""),
        "{}",
        page.body
    );

    // Exactly once on the web and in the archive, the echo kept raw as a copy.
    assert_eq!(page.body.matches("Volumatic").count(), 1, "{}", page.body);
    let parents = parents(&forum.db, &forum.config);
    assert_eq!(parents.get(&id), Some(&Some(seed.clone())), "{parents:?}");
    let mbox = cli(
        &forum.db,
        &forum.config,
        &["export", "mbox", "--thread", &thread.to_string()],
    );
    assert_eq!(
        mbox.matches(&format!("Message-ID: <{id}>")).count()
            + mbox.matches(&format!("Message-Id: <{id}>")).count(),
        2,
        "the post and its echo are both kept raw"
    );

    // What the list got threads in any References-based client.
    let inbox = forum.rig.fetch_inbox(&forum.rig.list).await;
    let echo: Vec<&Vec<u8>> = inbox
        .iter()
        .filter(|m| rig::header(m, "Message-ID").is_some_and(|h| bare(&h) == id))
        .collect();
    assert_eq!(echo.len(), 1, "one copy reached the list");
    let echo = echo[0];
    assert_eq!(
        rig::header(echo, "In-Reply-To").map(|h| bare(&h)),
        Some(seed.clone())
    );
    let refs = rig::header(echo, "References").unwrap();
    assert_eq!(refs.split_whitespace().last().map(bare), Some(seed.clone()));
    assert_eq!(
        rig::header(echo, "Subject").as_deref(),
        Some("Re: [SNUG] Spacers for the over-80s")
    );
    let from = rig::header(echo, "From").unwrap();
    assert!(
        from.contains("via SNUG forum") && from.contains("forum@lists.test"),
        "{from}"
    );
    assert!(rig::header(echo, "List-Id").is_some_and(|h| h.contains("snug.lists.test")));
    assert!(rig::header(echo, "List-Post").is_some_and(|h| h.contains("mailto:list@lists.test")));
    // The archive keeps the real author.
    let author = store(&forum.db).author_name("alice@lists.test").unwrap();
    assert!(author.is_some_and(|a| a.contains("Alice")));

    // A private answer to "Alice Adams via SNUG forum" reaches the bridge's own address:
    // it is kept for moderators, never published.
    let private = rig::unique_message_id("private");
    forum
        .bob_mails(
            &forum.rig.forum_address(),
            &private,
            "Re: Spacers",
            "Just between us.",
        )
        .await;
    forum.wait_for_inbound("the private mail is logged", 10, |e| {
        e.subject.as_deref() == Some("Re: Spacers") && e.action == "dropped"
    });
    assert!(
        store(&forum.db).locate(&bare(&private)).unwrap().is_none(),
        "private mail is not published"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn host_mode_fans_out_and_accepts_replies_only_from_the_right_member() {
    let forum = Forum::start("host");
    let rig = &forum.rig;
    let out = forum.import_roster("# old list\nBob Baker <bob@lists.test>\n");
    assert!(out.starts_with("1 members added"), "{out}");
    let mut web = forum.sign_in_alice().await;
    // Alice asks for every post by mail (members who join on the web start with what they
    // watch, the rest in a digest).
    let prefs = web.get("/account/preferences").await;
    let csrf = hidden(&prefs.body, "csrf");
    let saved = web
        .post(
            "/account/preferences",
            &[("csrf", &csrf), ("delivery", "all"), ("digest", "daily")],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);

    // Alice starts a thread on the web: Bob gets a copy with his own reply address.
    let post = web
        .start_thread("snug", "Flu clinic rota", "Who can cover Saturday?")
        .await;
    let reply_to = forum.reply_address(&rig.bob, 1, &post).await;
    assert!(
        reply_to.starts_with("reply+") && reply_to.ends_with("@lists.test"),
        "{reply_to}"
    );
    forum.wait_until_delivered(&post, "the post is delivered to every member", PATIENCE);
    assert!(
        rig.fetch_inbox(&rig.alice)
            .await
            .iter()
            .all(|m| rig::header(m, "Message-ID").is_none_or(|h| bare(&h) != post)),
        "the author gets no copy of her own post"
    );

    // Bob answers by mail: on the web under Alice's post, and Alice gets it.
    let reply = rig::unique_message_id("bob-reply");
    let refs = format!("In-Reply-To: <{post}>\r\nReferences: <{post}>\r\n");
    forum
        .send_mail(
            "Bob Baker <bob@lists.test>",
            &reply_to,
            &reply,
            "Re: Flu clinic rota",
            (&refs, "I can do Saturday morning."),
        )
        .await;
    forum.wait_until_archived(&reply, "Bob's reply is archived");
    assert_eq!(
        parents(&forum.db, &forum.config).get(&bare(&reply)),
        Some(&Some(post.clone()))
    );
    let got = forum
        .mail_among(&rig.alice, 1, "Alice's copy of Bob's reply", |m| {
            message_id(m) == bare(&reply)
        })
        .await;
    assert!(
        rig::header(&got, "From")
            .unwrap()
            .contains("Bob Baker via SNUG forum")
    );

    // The same mail from another address: refused, explained once, not published.
    let forged = rig::unique_message_id("forged");
    forum
        .send_mail(
            "Alice Adams <alice@lists.test>",
            &reply_to,
            &forged,
            "Re: Flu clinic rota",
            (&refs, "Pretending to be Bob."),
        )
        .await;
    let notice = forum
        .mail_among(&rig.alice, 2, "explaining the refusal", |m| {
            rig::header(m, "In-Reply-To").is_some_and(|h| bare(&h) == bare(&forged))
        })
        .await;
    assert_eq!(
        rig::header(&notice, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert!(
        store(&forum.db).locate(&bare(&forged)).unwrap().is_none(),
        "not published"
    );

    // An auto-reply to Bob's copy: dropped silently, logged.
    let auto = rig::unique_message_id("ooo");
    forum
        .send_mail(
            "Bob Baker <bob@lists.test>",
            &reply_to,
            &auto,
            "Automatic reply: Flu clinic rota",
            (
                "Auto-Submitted: auto-replied\r\n",
                "I am out of the office.",
            ),
        )
        .await;
    forum.wait_for_inbound("the auto-reply is logged", 50, |e| {
        e.action == "dropped" && e.subject.as_deref() == Some("Automatic reply: Flu clinic rota")
    });
    let log = store(&forum.db).inbound_log(50).unwrap();
    let refused = log
        .iter()
        .find(|e| e.action == "refused")
        .expect("the forged reply is logged");
    assert_eq!(refused.reason, "key-mismatch");
    assert!(refused.explained);
    assert!(store(&forum.db).locate(&bare(&auto)).unwrap().is_none());
    // Give the outbox a moment: nothing may go to Bob about his auto-reply.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bobs = rig.fetch_inbox(&rig.bob).await;
    assert!(
        bobs.iter()
            .all(|m| rig::header(m, "In-Reply-To").is_none_or(|h| bare(&h) != bare(&auto))),
        "an auto-reply gets no answer"
    );

    // A new thread mailed to the list by a member: published and sent to the others.
    let fresh = rig::unique_message_id("bob-new");
    forum
        .bob_mails(
            "list@lists.test",
            &fresh,
            "Covid booster schedule",
            "Has anyone seen the new schedule?",
        )
        .await;
    forum.wait_until_archived(&fresh, "Bob's new thread is archived");
    forum
        .wait_for_mail(&rig.alice, "of Bob's new thread", |m| {
            message_id(m) == bare(&fresh)
        })
        .await;

    // From someone who is not a member: refused and logged, not published.
    let stranger = rig::unique_message_id("stranger");
    forum
        .send_mail(
            "Mallory <mallory@elsewhere.test>",
            "list@lists.test",
            &stranger,
            "Cheap pharmacy",
            ("", "Buy now."),
        )
        .await;
    forum.wait_for_inbound("the stranger's mail is refused", 50, |e| {
        e.reason == "unknown-sender"
    });
    assert!(store(&forum.db).locate(&bare(&stranger)).unwrap().is_none());

    // Bounces: after three hard ones, delivery to Bob pauses.
    for n in 0..3 {
        let dsn = format!(
            "From: Mail Delivery System <MAILER-DAEMON@lists.test>\r\nTo: bounces+bob=lists.test@lists.test\r\n\
             Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-{n}-{stamp}>\r\n\
             Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
             --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; lists.test\r\n\r\n\
             Final-Recipient: rfc822; bob@lists.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n",
            stamp = bare(&fresh)
        );
        rig.send_raw(
            "mailer-daemon@lists.test",
            &["bounces+bob=lists.test@lists.test"],
            dsn.as_bytes(),
        )
        .await;
    }
    let db = forum.db.clone();
    forum
        .daemon
        .wait_until(PATIENCE, "three bounces are counted", || {
            store(&db)
                .inbound_log(100)
                .unwrap()
                .iter()
                .filter(|e| e.action == "bounce")
                .count()
                == 3
        });
    // Alice's next post is not queued for Bob.
    web.start_thread("snug", "Rota for December", "Who is on call?")
        .await;
    let db = rusqlite::Connection::open(&forum.db).unwrap();
    let (paused, queued_for_bob): (bool, i64) = db
        .query_row(
            "SELECT (SELECT paused_at IS NOT NULL FROM bounces WHERE address = 'bob@lists.test'),
                    (SELECT count(*) FROM outbox_recipients r JOIN outbox o ON o.id = r.outbox_id
                     WHERE o.message_id = (SELECT message_id FROM messages WHERE subject = 'Rota for December')
                       AND r.address = 'bob@lists.test')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(paused, "three hard bounces pause delivery");
    assert_eq!(queued_for_bob, 0, "a paused address gets no copy");
}

#[tokio::test(flavor = "multi_thread")]
async fn web_posts_wait_while_postfix_is_down_and_go_once_when_it_returns() {
    let forum = Forum::start("mirror");
    let (thread, key, _) = forum.seed_thread("[SNUG] Travel vaccines").await;
    let mut web = forum.sign_in_alice().await;
    forum.rig.stop_postfix();
    let mut ids = Vec::new();
    for n in 1..=3 {
        ids.push(
            web_reply(
                &mut web,
                thread,
                key,
                &format!("Reply number {n} while the server is down."),
            )
            .await,
        );
    }
    forum.daemon.wait_until(PATIENCE, "a failed attempt", || {
        forum.daemon.log().contains("will try again")
    });
    for id in &ids {
        let state = forum.state_of(id).unwrap();
        assert!(state.starts_with("Queued"), "{id}: {state}");
    }
    let page = web.get(&format!("/t/{thread}")).await;
    assert_eq!(
        page.body.matches("data-state=\"queued\"").count(),
        3,
        "{}",
        page.body
    );

    forum.rig.start_postfix();
    for id in &ids {
        forum.wait_until_delivered(id, "each post is delivered", Duration::from_secs(240));
    }
    let inbox = forum.rig.fetch_inbox(&forum.rig.list).await;
    for id in &ids {
        let copies = inbox
            .iter()
            .filter(|m| rig::header(m, "Message-ID").is_some_and(|h| bare(&h) == *id))
            .count();
        assert_eq!(copies, 1, "{id} reached the list {copies} times");
    }
    let counts = store(&forum.db).outbox_counts().unwrap();
    assert_eq!(
        (counts.sent, counts.failed, counts.queued),
        (3, 0, 0),
        "{counts:?}"
    );
}

/// Mirror mode: a member's "+1" to a post, distributed by the list, is a like of it, as in host
/// mode; so is "Like." and a thumbs-up. The raw mail is archived (exported with the rest), the
/// like counted once however many copies come, and the thread shows the like, not a post.
#[tokio::test(flavor = "multi_thread")]
async fn a_plus_one_by_mail_is_a_like_in_mirror_mode() {
    let (forum, mut alice) = Forum::with_alice_and_bob("mirror").await;
    let rig = &forum.rig;
    let (thread, _, seed) = forum.seed_thread("[SNUG] Spacers for small children").await;
    let list = rig.list.user.clone();
    let db = forum.db.clone();
    let raw_count = || store(&db).counts().unwrap().raw;
    let likes = || {
        store(&db)
            .likes(&[seed.as_str()], None)
            .unwrap()
            .get(&seed)
            .map_or(0, |l| l.0)
    };
    let before = raw_count();
    let plus_one = rig::unique_message_id("plus-one");
    let refs = format!("In-Reply-To: <{seed}>\r\nReferences: <{seed}>\r\n");
    let raw = forum
        .send_mail(
            "Bob Baker <bob@lists.test>",
            &list,
            &plus_one,
            "Re: [SNUG] Spacers for small children",
            (
                &refs,
                "+1\r\n\r\nOn Tue, Alice Adams wrote:\r\n> Which spacer do you give patients",
            ),
        )
        .await;
    let taken_in = |more: u64, what: &str| {
        forum
            .daemon
            .wait_until(PATIENCE, what, || raw_count() == before + more)
    };
    taken_in(1, "Bob's +1 is taken in");
    assert_eq!(likes(), 1, "a like of the post");
    let s = store(&db);
    assert!(
        s.locate(&bare(&plus_one)).unwrap().is_none(),
        "+1 is not a post"
    );
    let (found, _) = s.locate(&seed).unwrap().unwrap();
    assert_eq!(found.0, thread);
    assert_eq!(s.thread_posts(found).unwrap().len(), 1);
    drop(s);
    let page = alice.get(&format!("/t/{thread}")).await;
    assert!(page.body.contains("1 like"), "{}", page.body);
    let mbox = cli(&forum.db, &forum.config, &["export", "mbox"]);
    assert!(mbox.contains(&bare(&plus_one)), "the raw mail is exported");

    // Another copy of it (the list delivering twice) changes nothing; a second member's
    // thumbs-up and Alice's "Like." are likes too, each counted once, and none is a post.
    let again = [
        b"Received: from list.example by mx.example\r\n".as_slice(),
        &raw,
    ]
    .concat();
    rig.send_raw("bob@lists.test", &[&list], &again).await;
    let mut ids = vec![plus_one.clone()];
    for (from, word) in [
        ("Alice Adams <alice@lists.test>", "Like."),
        ("Bob Baker <bob@lists.test>", "\u{1F44D}"),
    ] {
        let id = rig::unique_message_id("agree");
        let raw = mail(
            from,
            &list,
            &id,
            "Re: [SNUG] Spacers for small children",
            &refs,
            word,
        );
        rig.send_raw("bob@lists.test", &[&list], &raw).await;
        ids.push(id);
    }
    taken_in(4, "every copy is taken in");
    assert_eq!(likes(), 2, "Bob once, Alice once");
    let s = store(&db);
    for id in &ids {
        assert!(s.locate(&bare(id)).unwrap().is_none(), "{id} is not a post");
    }
    assert_eq!(s.thread_posts(found).unwrap().len(), 1);
    drop(s);
    // Rebuilt from the raw store, the same.
    cli(&forum.db, &forum.config, &["reindex"]);
    let s = store(&db);
    assert_eq!(s.thread_posts(found).unwrap().len(), 1);
    assert!(s.locate(&bare(&plus_one)).unwrap().is_none());
    drop(s);
    assert_eq!(likes(), 2);
}

/// Host mode: a member's reply whose Message-ID is at the bridge's own domain (a client at the
/// forum's own organisation writes it so) is archived, not dropped as the bridge's own mail
/// coming back, which is told by a tag only the bridge writes. A mail to the bridge's own
/// address is answered and listed on /admin/inbound: nothing vanishes without a trace.
#[tokio::test(flavor = "multi_thread")]
async fn a_reply_with_an_id_at_the_bridges_domain_is_archived_and_private_mail_answered() {
    let (forum, mut alice) = Forum::with_alice_and_bob("host").await;
    let rig = &forum.rig;
    let post = alice
        .start_thread("snug", "Flu clinic rota", "Who can cover Saturday?")
        .await;
    let domain = rig.domain.clone();
    assert!(post.ends_with(&format!("@{domain}")), "{post}");
    let reply_to = forum.reply_address(&rig.bob, 1, &post).await;

    // Bob's client names its ids after his (and the bridge's) domain.
    let local = bare(&rig::unique_message_id("bob-reply"))
        .split('@')
        .next()
        .unwrap()
        .to_owned();
    let reply_id = format!("<{local}.thunderbird@{domain}>");
    forum
        .send_mail(
            "Bob Baker <bob@lists.test>",
            &reply_to,
            &reply_id,
            "Re: Flu clinic rota",
            (
                &format!("In-Reply-To: <{post}>\r\nReferences: <{post}>\r\n"),
                "I can do Saturday morning.\r\n\r\n> Who can cover Saturday?",
            ),
        )
        .await;
    forum.wait_until_archived(&reply_id, "Bob's reply is archived");
    let db = forum.db.clone();
    assert!(
        store(&db)
            .inbound_log(20)
            .unwrap()
            .iter()
            .all(|e| !e.reason.contains("loop")),
        "nothing was taken for a loop"
    );

    // A mail to the bridge's own address: not published, but answered and listed.
    let private = rig::unique_message_id("private");
    forum
        .bob_mails(
            &rig.forum_address(),
            &private,
            "A word in private",
            "Just between us.",
        )
        .await;
    let answered = forum
        .wait_for_subject(&rig.bob, "Not published: A word in private")
        .await;
    assert!(answered.contains("directly"), "{answered}");
    assert!(store(&db).locate(&bare(&private)).unwrap().is_none());
    let page = alice.get("/admin/inbound").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("A word in private"), "{}", page.body);
}
