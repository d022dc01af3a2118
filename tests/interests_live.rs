//! Interests and mail through the real servers of scripts/mailrig (host mode): a member who
//! watches "Asthma" and mutes "X-rays" (chosen from the signed link in a mail, without signing
//! in) gets every asthma post, no X-ray post, and a digest with the rest; "+1" by mail is a like,
//! not a post; one-click unsubscribe works with a plain POST and no cookie.
#![cfg(feature = "rig")]

mod common;

use common::forum::{Forum, PATIENCE, bare, cli, message_id, store};
use common::rig;
use common::web::Web;

/// Waits until every queued mail has been handed to Postfix.
fn outbox_drained(forum: &Forum) {
    let db = forum.db.clone();
    forum.daemon.wait_until(PATIENCE, "the outbox is sent", || {
        let c = store(&db).outbox_counts().unwrap();
        c.queued == 0 && c.sending == 0
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_gets_what_they_watch_a_digest_of_the_rest_and_can_unsubscribe_in_one_click() {
    let (forum, mut alice) = Forum::with_alice_and_bob("host").await;
    let rig = &forum.rig;

    // Bob came from the old list: he gets every post, with his own preferences link.
    let first = alice
        .start_thread(
            "snug",
            "Asthma reviews this winter",
            "Who runs the asthma clinic?",
        )
        .await;
    let copy = forum
        .wait_for_mail(&rig.bob, "of the first post", |m| message_id(m) == first)
        .await;
    let unsubscribe = bare(&rig::header(&copy, "List-Unsubscribe").expect("List-Unsubscribe"));
    assert_eq!(
        rig::header(&copy, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        unsubscribe.starts_with(&format!("{}/preferences/", forum.base)),
        "{unsubscribe}"
    );

    // From that link, without signing in: watch Asthma, mute X-rays, the rest in a digest.
    let mut bob = Web::new(&forum.base);
    let page = bob.get(&unsubscribe).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("name=\"interest.asthma\""));
    let saved = bob
        .post(
            &unsubscribe,
            &[
                ("delivery", "chosen"),
                ("interest.asthma", "watch"),
                ("interest.x-rays", "mute"),
                ("digest", "daily"),
                ("digest_hour", "7"),
                ("daily_cap", "50"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    // His profile shows what he follows.
    let bob_id = store(&forum.db)
        .user_by_email("bob@lists.test")
        .unwrap()
        .unwrap()
        .0;
    let profile = bob.get(&format!("/u/{bob_id}")).await;
    assert!(
        profile.body.contains("href=\"/i/asthma\""),
        "{}",
        profile.body
    );
    assert!(!profile.body.contains("href=\"/i/x-rays\""));

    let asthma = alice
        .start_thread(
            "snug",
            "Spacer or dry powder inhaler?",
            "For a 6 year old with asthma.",
        )
        .await;
    let xray = alice
        .start_thread(
            "snug",
            "X-ray walk-in closed",
            "The CXR walk-in at St Mary's is shut this week.",
        )
        .await;
    let locum = alice
        .start_thread(
            "snug",
            "Locum rates for 2026",
            "What are you paying locums now?",
        )
        .await;
    forum
        .wait_for_mail(&rig.bob, "of the asthma post", |m| message_id(m) == asthma)
        .await;
    outbox_drained(&forum);
    let bobs = rig.fetch_inbox(&rig.bob).await;
    let ids: Vec<String> = bobs.iter().map(|m| message_id(m)).collect();
    assert!(!ids.contains(&xray), "a muted interest's post reached Bob");
    assert!(
        !ids.contains(&locum),
        "an unwatched post is for the digest, not a mail"
    );

    // The digest: the rest, not the muted, not what he already had.
    let out = cli(&forum.db, &forum.config, &["digests", "--all"]);
    assert!(out.contains("digests queued"), "{out}");
    let digest = forum
        .wait_for_mail(&rig.bob, "with the digest", |m| {
            rig::header(m, "Subject").is_some_and(|s| s.contains("digest"))
        })
        .await;
    let parsed = mail_parser::MessageParser::default()
        .parse(&digest)
        .unwrap();
    let text = parsed.body_text(0).unwrap().into_owned();
    assert!(
        parsed.body_html(0).is_some(),
        "a digest has an HTML part too"
    );
    assert!(text.contains("Locum rates for 2026"), "{text}");
    assert!(!text.contains("X-ray walk-in closed"), "muted: {text}");
    assert!(
        !text.contains("Spacer or dry powder"),
        "already mailed: {text}"
    );
    assert!(
        text.contains("== Practice management =="),
        "grouped by interest: {text}"
    );
    assert!(rig::header(&digest, "List-Unsubscribe").is_some());

    // "+1" by mail to the asthma post: a like, not a post.
    let copy = forum
        .wait_for_mail(&rig.bob, "of the asthma post", |m| message_id(m) == asthma)
        .await;
    let reply_to = bare(&rig::header(&copy, "Reply-To").unwrap());
    let plus_one = rig::unique_message_id("plus-one");
    forum
        .send_mail(
            "Bob Baker <bob@lists.test>",
            &reply_to,
            &plus_one,
            "Re: Spacer or dry powder inhaler?",
            (
                &format!("In-Reply-To: <{asthma}>\r\nReferences: <{asthma}>\r\n"),
                "+1\r\n\r\nOn Wed, Alice Adams wrote:\r\n> For a 6 year old with asthma.",
            ),
        )
        .await;
    let (db, liked) = (forum.db.clone(), asthma.clone());
    forum
        .daemon
        .wait_until(PATIENCE, "the like is counted", || {
            store(&db)
                .likes(&[liked.as_str()], None)
                .unwrap()
                .get(&liked)
                .map(|l| l.0)
                == Some(1)
        });
    let s = store(&forum.db);
    assert!(
        s.locate(&bare(&plus_one)).unwrap().is_none(),
        "+1 is not a post"
    );
    let (thread, _) = s.locate(&asthma).unwrap().unwrap();
    assert_eq!(s.thread_posts(thread).unwrap().len(), 1);
    let page = alice.get(&format!("/t/{}", thread.0)).await;
    assert!(page.body.contains("1 like"), "the count shows on the post");

    // One-click unsubscribe: a plain POST, no cookie, as a mail client sends it.
    let mut client = Web::new(&forum.base);
    let done = client
        .post(&unsubscribe, &[("List-Unsubscribe", "One-Click")])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(!client.has_cookie("lb_session"));
    let before = rig.fetch_inbox(&rig.bob).await.len();
    let later = alice
        .start_thread("snug", "Asthma action plans", "Templates, anyone?")
        .await;
    outbox_drained(&forum);
    let after = rig.fetch_inbox(&rig.bob).await;
    assert_eq!(after.len(), before, "nothing more after unsubscribing");
    assert!(after.iter().all(|m| message_id(m) != later));
    let prefs = s
        .preferences(listbridge::store::UserId(
            s.user_by_email("bob@lists.test").unwrap().unwrap().0,
        ))
        .unwrap();
    assert_eq!(
        (prefs.delivery.as_str(), prefs.digest.as_str()),
        ("none", "off")
    );
}
