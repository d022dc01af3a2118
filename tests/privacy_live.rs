//! Patient-identifiable data through the real servers of scripts/mailrig (host mode): a web
//! post and a member's mail that contain an NHS number are held before anything is archived or
//! sent, their authors are told why (on the web, and by mail through Postfix to Dovecot), and
//! a moderator publishes one (corrected) and rejects the other with a reason the author reads.
#![cfg(feature = "rig")]

mod common;

use common::forum::{Forum, PATIENCE, store};
use common::rig;
use common::web::{Answer, Web, hidden};

/// The subjects in a mailbox.
async fn subjects(rig: &rig::PrivateRig, account: &rig::Account) -> Vec<String> {
    rig.fetch_inbox(account)
        .await
        .iter()
        .filter_map(|m| rig::header(m, "Subject"))
        .collect()
}

/// Alice starts a thread on the web with a patient's NHS number in it: it is held (202).
async fn alice_posts_a_number(alice: &mut Web) -> Answer {
    let held = alice
        .post_new_thread(
            "snug",
            "Referral question",
            "Mrs K, NHS number 943 476 5919, was referred twice.",
        )
        .await;
    assert_eq!(held.status, 202, "{}", held.body);
    held
}

/// Bob mails the list a post with an NHS number, beside the web post Alice has held: both
/// are held.
async fn bob_mails_a_number(forum: &Forum, id: &str) {
    forum
        .bob_mails(
            &forum.rig.list.user,
            id,
            "Discharge summary",
            "The summary for 9434765919 never arrived.",
        )
        .await;
    forum.wait_until_held(2, "Bob's mail is held");
}

/// Alice deciding on held posts with the token of the held posts' page.
struct Moderating {
    alice: Web,
    csrf: String,
}

impl Moderating {
    fn new(alice: Web, page: &Answer) -> Moderating {
        let csrf = hidden(&page.body, "csrf");
        Moderating { alice, csrf }
    }

    async fn decide(&mut self, id: i64, fields: &[(&str, &str)]) -> Answer {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        self.alice.post(&format!("/admin/held/{id}"), &form).await
    }

    async fn reject(&mut self, id: i64, reason: &str) -> Answer {
        self.decide(id, &[("action", "reject"), ("reason", reason)])
            .await
    }

    /// Publishes the post, with its text replaced when `text` is given.
    async fn approve(&mut self, id: i64, text: Option<&str>) -> Answer {
        match text {
            Some(text) => {
                self.decide(id, &[("action", "approve"), ("text", text)])
                    .await
            }
            None => self.decide(id, &[("action", "approve")]).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_with_an_nhs_number_are_held_until_a_moderator_decides() {
    let (forum, mut alice) = Forum::with_alice_and_bob("host").await;
    let rig = &forum.rig;
    let archived = || store(&forum.db).counts().unwrap().messages;
    let queued = || {
        let c = store(&forum.db).outbox_counts().unwrap();
        c.queued + c.sending + c.sent + c.failed + c.paused
    };
    let (messages_before, queued_before) = (archived(), queued());

    // A web post naming a patient's NHS number is held: nothing archived, nothing queued.
    let held = alice_posts_a_number(&mut alice).await;
    assert!(held.body.contains("held for a moderator"), "{}", held.body);
    assert!(held.body.contains("*** *** *919") && !held.body.contains("943 476 5919"));
    // Only the moderators' mail about it is queued (Alice is the one moderator).
    assert_eq!((archived(), queued()), (messages_before, queued_before + 1));

    // Bob's mail with one is held too, and he is told by mail.
    let list = rig.list.user.clone();
    let id = rig::unique_message_id("bob-nhs");
    bob_mails_a_number(&forum, &id).await;
    assert_eq!(archived(), messages_before, "nothing of it is archived");
    rig.wait_for_inbox_count(&rig.bob, 1, PATIENCE).await;
    assert!(
        subjects(rig, &rig.bob)
            .await
            .iter()
            .any(|s| s == "Held for a moderator: Discharge summary"),
        "Bob is told"
    );

    // The moderator's queue shows both, and why.
    let page = alice.get("/admin/held").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Referral question") && page.body.contains("Discharge summary"));
    let held = store(&forum.db).held_posts(10).unwrap();
    let (web_post, bobs) = (held[0].id.0, held[1].id.0);
    let mut queue = Moderating::new(alice, &page);

    // Rejecting needs a reason; with one, Bob is told it.
    let no_reason = queue.reject(bobs, " ").await;
    assert_eq!(no_reason.status, 400);
    let rejected = queue
        .reject(bobs, "Please send it again without the patient's number.")
        .await;
    assert_eq!(rejected.status, 303, "{}", rejected.body);
    let refusal = forum
        .mail_among(&rig.bob, 2, "rejecting Bob's post", |m| {
            rig::header(m, "Subject").as_deref() == Some("Not published: Discharge summary")
        })
        .await;
    assert!(String::from_utf8_lossy(&refusal).contains("without the patient's number"));
    assert_eq!(archived(), messages_before);

    // Publishing the web post with the number taken out: archived and sent to Bob.
    let published = queue
        .approve(web_post, Some("Mrs K was referred twice."))
        .await;
    assert_eq!(published.status, 303, "{}", published.body);
    assert_eq!(archived(), messages_before + 1);
    let hits = store(&forum.db)
        .search("referred twice", 10)
        .unwrap()
        .unwrap();
    assert_eq!(hits.results.len(), 1);
    assert!(
        store(&forum.db)
            .search("9434765919", 10)
            .unwrap()
            .unwrap()
            .results
            .is_empty()
    );
    rig.wait_for_inbox_count(&rig.bob, 3, PATIENCE).await;
    assert!(
        subjects(rig, &rig.bob)
            .await
            .iter()
            .any(|s| s == "Referral question")
    );
    // A second click on the same decision does nothing.
    let again = queue.approve(web_post, None).await;
    assert_eq!(again.location.as_deref(), Some("/admin/held?done=gone"));
    assert_eq!(archived(), messages_before + 1);
    assert!(store(&forum.db).held_posts(10).unwrap().is_empty());

    // A moderator who lives in mail: Alice is told of each held post, the number masked,
    // and answers Bob's next one with "approve".
    let id = rig::unique_message_id("bob-nhs-2");
    forum
        .bob_mails(
            &list,
            &id,
            "Clinic letter",
            "Letter for 943-476-5919 is ready; please collect it.",
        )
        .await;
    let text = forum
        .wait_for_subject(&rig.alice, "Held for moderation: Clinic letter")
        .await;
    assert!(
        text.contains("*** *** *919") && !text.contains("943-476-5919"),
        "{text}"
    );
    let reply_to =
        common::forum::bare(&rig::header(text.as_bytes(), "Reply-To").expect("a Reply-To"));
    assert!(reply_to.starts_with("reply+"), "{reply_to}");
    forum
        .send_mail(
            "Alice Adams <alice@lists.test>",
            &reply_to,
            &rig::unique_message_id("alice-approve"),
            "Re: Held for moderation: Clinic letter",
            ("", "Approve\n\n> A post to snug by Bob Baker is held"),
        )
        .await;
    forum.wait_until_archived(&id, "Alice's answer publishes Bob's mail");
    assert!(store(&forum.db).held_posts(10).unwrap().is_empty());
    assert_eq!(archived(), messages_before + 2);
}

/// Host mode with `unknown_senders = "hold"`: a stranger's post waits for a moderator instead
/// of being refused, and once published it reaches the members as any post does.
#[tokio::test(flavor = "multi_thread")]
async fn a_strangers_post_is_held_and_published_by_a_moderator() {
    let forum = Forum::start_with("host", "unknown_senders = \"hold\"\n");
    let rig = &forum.rig;
    let mut alice = forum.alice_and_bob().await;
    let list = rig.list.user.clone();
    let id = rig::unique_message_id("stranger");
    forum
        .send_mail(
            "Dr Sam Stranger <sam@elsewhere.test>",
            &list,
            &id,
            "Locum cover in March",
            (
                "",
                "Is anyone on this list looking for locum sessions in March?",
            ),
        )
        .await;
    forum.wait_until_held(1, "the stranger's post is held");
    let held = store(&forum.db).held_posts(10).unwrap().remove(0);
    assert!(held.reason.contains("not a member"), "{}", held.reason);
    let wanted = common::forum::bare(&id);
    assert!(store(&forum.db).locate(&wanted).unwrap().is_none());

    let page = alice.get("/admin/held").await;
    let published = Moderating::new(alice, &page).approve(held.id.0, None).await;
    assert_eq!(published.status, 303, "{}", published.body);
    assert!(
        store(&forum.db).locate(&wanted).unwrap().is_some(),
        "published"
    );
    // Bob, a member who gets every post, receives it.
    forum
        .wait_for_subject(&rig.bob, "Locum cover in March")
        .await;
}

/// A held post's moderators' mail goes out at once (not at the outbox's next round); once a
/// moderator decides (a mail rejected, a web post published corrected) only the masked form
/// and the decision are kept: the number's digits are in neither the database file nor its
/// write-ahead log; and the moderation log lists both decisions.
#[tokio::test(flavor = "multi_thread")]
async fn a_decided_held_post_keeps_only_its_masked_form_and_is_logged() {
    let (forum, mut alice) = Forum::with_alice_and_bob("host").await;
    let rig = &forum.rig;
    alice_posts_a_number(&mut alice).await;
    // The outbox's own round is up to 30 seconds away: the handler wakes it.
    rig.wait_for_inbox_count(&rig.alice, 1, std::time::Duration::from_secs(10))
        .await;
    let request = rig.fetch_inbox(&rig.alice).await;
    assert_eq!(
        rig::header(&request[0], "Subject").as_deref(),
        Some("Held for moderation: Referral question")
    );

    bob_mails_a_number(&forum, &rig::unique_message_id("bob-nhs")).await;
    let db = forum.db.clone();
    let digits: [&[u8]; 2] = [b"9434765919", b"943 476 5919"];
    for d in digits {
        assert!(
            common::database_holds(&db, d),
            "held: the full text is kept"
        );
    }
    let held = store(&db).held_posts(10).unwrap();
    let (web_post, bobs) = (held[0].id, held[1].id);

    let page = alice.get("/admin/held").await;
    let mut queue = Moderating::new(alice, &page);
    let rejected = queue
        .reject(bobs.0, "Not with 9434765919 in it, please.")
        .await;
    assert_eq!(rejected.status, 303, "{}", rejected.body);
    let published = queue
        .approve(web_post.0, Some("Mrs K was referred twice."))
        .await;
    assert_eq!(published.status, 303, "{}", published.body);

    for d in digits {
        assert!(
            !common::database_holds(&db, d),
            "{} is still in the database file or its log",
            String::from_utf8_lossy(d)
        );
    }
    let s = store(&db);
    let (web, mail) = (
        s.held_post(web_post).unwrap().unwrap(),
        s.held_post(bobs).unwrap().unwrap(),
    );
    assert_eq!(
        (web.state.as_str(), mail.state.as_str()),
        ("approved", "rejected")
    );
    assert!(web.body.contains("*** *** *919"), "{}", web.body);
    assert!(mail.body.contains("*919") && !mail.body.contains("9434765919"));
    assert!(
        matches!(mail.kind, listbridge::store::HeldKind::Mail { ref raw, .. } if raw.is_empty())
    );

    // The moderation log lists both decisions, masked.
    let page = queue.alice.get("/admin/held").await;
    let log = &page.body[page.body.find("id=\"log\"").expect("the log")..];
    assert!(log.contains("published a held post"), "{log}");
    assert!(log.contains("rejected a held post"), "{log}");
    assert!(
        log.contains("Referral question") && log.contains("Discharge summary"),
        "{log}"
    );
    assert!(!log.contains("9434765919"), "{log}");
}
