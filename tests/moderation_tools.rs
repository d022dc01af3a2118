//! Moderators' tools end to end, without a socket or a mail server. An archive with threading
//! mistakes (`fixtures/moderation`) is imported with the command line; a moderator signed in
//! on the web splits, merges and moves; the pages and `export threads --json` show the fixed
//! threads, later mail lands where the fixes say, and `listbridge reindex` keeps every fix. A
//! member flags a post and a moderator hides it: gone from the pages, search and the API,
//! still in `export mbox`, still hidden after reindex; enough members' flags hide a post by
//! themselves. Members get 403 on moderators' actions and flag a post once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use common::app::{Answer, Site, Visitor};
use listbridge::store::{DeriveSettings, Role, Store};
use serde_json::Value;

const CONFIG: &str = "[web]\nsite_name = \"SNUG forum\"\nbase_url = \"https://forum.test\"\n\
    [outbound]\nfrom_address = \"forum@lists.test\"\n\
    [moderation]\nhide_after_flags = 2\n\
    [[lists]]\nname = \"snug\"\naddress = \"snug@lists.test\"\nsubject_tag = \"[SNUG]\"\n";

/// The forum over the archive with mistakes.
struct Forum(Site);

impl Deref for Forum {
    type Target = Site;

    fn deref(&self) -> &Site {
        &self.0
    }
}

impl DerefMut for Forum {
    fn deref_mut(&mut self) -> &mut Site {
        &mut self.0
    }
}

impl Forum {
    /// The forum over the archive with mistakes, imported by the command line.
    fn new() -> Forum {
        let forum = Forum(Site::new(CONFIG));
        let mistakes = fixture("mistakes.mbox");
        forum.cli_ok(&["import", mistakes.to_str().unwrap(), "--list", "snug"]);
        forum
    }

    /// Each message's (thread, parent, depth) by `export threads --json`.
    fn placements(&self) -> BTreeMap<String, (i64, Option<String>, u64)> {
        let json: Value =
            serde_json::from_str(&self.cli_ok(&["export", "threads", "--json"])).unwrap();
        for t in json["threads"].as_array().unwrap() {
            let messages = t["messages"].as_array().unwrap();
            assert!(!messages.is_empty(), "an empty thread is exported: {t}");
        }
        common::placements(&json)
    }

    /// The threads as sets of short names (`flu-1` for `flu-1@snug.example`), thread numbers
    /// left out (reindex may change them), with each message's parent.
    fn shape(&self) -> BTreeSet<Vec<(String, Option<String>)>> {
        let mut threads: BTreeMap<i64, Vec<(String, Option<String>)>> = BTreeMap::new();
        for (id, (thread, parent, _)) in self.placements() {
            threads
                .entry(thread)
                .or_default()
                .push((short(&id), parent.as_deref().map(short)));
        }
        threads
            .into_values()
            .map(|mut t| {
                t.sort();
                t
            })
            .collect()
    }

    fn thread_of(&self, name: &str) -> i64 {
        self.placements()[&full(name)].0
    }

    /// Mo Moderator and Jane Member, signed in: each one's visitor and form token.
    async fn mo_and_jane(&self) -> ((Visitor, String), (Visitor, String)) {
        let mo = self
            .member("mo@snug.example", "Mo Moderator", Role::Moderator)
            .await;
        let jane = self
            .member("jane@snug.example", "Jane Member", Role::Member)
            .await;
        (mo, jane)
    }

    /// `who` sends the form at `uri` with these fields and their form token `csrf`.
    async fn act(
        &self,
        (who, csrf): (&mut Visitor, &str),
        uri: &str,
        fields: &[(&str, &str)],
    ) -> Answer {
        let mut form = fields.to_vec();
        form.push(("csrf", csrf));
        self.post(who, uri, &form).await
    }

    /// Splits `thread` at `message_id`.
    async fn split(&self, by: (&mut Visitor, &str), thread: i64, message_id: &str) -> Answer {
        let uri = format!("/t/{thread}/split");
        self.act(by, &uri, &[("message_id", message_id)]).await
    }

    /// Moves the message `name` (short) of `thread` under the post or thread `to` names.
    async fn move_post(
        &self,
        by: (&mut Visitor, &str),
        thread: i64,
        name: &str,
        to: &str,
    ) -> Answer {
        let uri = format!("/t/{thread}/move");
        self.act(by, &uri, &[("message_id", &full(name)), ("to", to)])
            .await
    }

    /// Flags `message_id` with these fields (reason, note).
    async fn flag(
        &self,
        by: (&mut Visitor, &str),
        message_id: &str,
        fields: &[(&str, &str)],
    ) -> Answer {
        let mut form = vec![("message_id", message_id)];
        form.extend_from_slice(fields);
        self.act(by, "/flag", &form).await
    }

    /// A moderator's `action` on a flagged post: hide, dismiss or unhide.
    async fn on_flags(&self, by: (&mut Visitor, &str), message_id: &str, action: &str) -> Answer {
        self.act(
            by,
            "/admin/flags",
            &[("message_id", message_id), ("action", action)],
        )
        .await
    }
}

fn fixture(name: &str) -> PathBuf {
    common::fixtures_dir().join("moderation").join(name)
}

fn full(name: &str) -> String {
    format!("{name}@snug.example")
}

fn short(id: &str) -> String {
    id.trim_end_matches("@snug.example").to_owned()
}

/// A thread's messages in `shape` form, from (name, parent) pairs.
fn thread(messages: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    let mut t: Vec<(String, Option<String>)> = messages
        .iter()
        .map(|(m, p)| ((*m).to_owned(), p.map(str::to_owned)))
        .collect();
    t.sort();
    t
}

/// The archive as imported, mistakes and all.
fn as_imported() -> BTreeSet<Vec<(String, Option<String>)>> {
    [
        thread(&[
            ("spacer-1", None),
            ("spacer-2", Some("spacer-1")),
            ("spacer-3", Some("spacer-1")),
            // A new topic started by answering the wrong mail; flu-3's client kept only the
            // root in References.
            ("flu-1", Some("spacer-2")),
            ("flu-2", Some("flu-1")),
            ("flu-3", Some("flu-2")),
        ]),
        thread(&[("nurse-1", None)]),
        // An answer whose client dropped the references and changed the subject.
        thread(&[("nurse-2", None)]),
        thread(&[("pcn-minutes", None)]),
        // "Re: Minutes" without references joined the first "Minutes" before it, the wrong
        // meeting's.
        thread(&[
            ("asthma-minutes", None),
            ("minutes-reply", Some("asthma-minutes")),
        ]),
    ]
    .into_iter()
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn moderators_fix_threading_mistakes_and_the_fixes_survive_reindex() {
    let mut forum = Forum::new();
    assert_eq!(forum.shape(), as_imported());
    let ((mut mo, mo_csrf), (mut jane, jane_csrf)) = forum.mo_and_jane().await;
    let spacer = forum.thread_of("spacer-1");
    let nurse_2 = forum.thread_of("nurse-2");
    let nurse_1 = forum.thread_of("nurse-1");
    let minutes = forum.thread_of("minutes-reply");

    // Moderators see the tools on a thread's page; members only the flag form.
    let page = forum.get(&mut mo, &format!("/t/{spacer}")).await;
    assert!(
        page.body.contains("Split the thread here")
            && page.body.contains("Merge this whole thread")
    );
    let page = forum.get(&mut jane, &format!("/t/{spacer}")).await;
    common::assert_says(&page.body, &["Flag the post"]);
    assert!(
        !page.body.contains("Split the thread here")
            && !page.body.contains("Merge this whole thread")
    );

    // A member cannot use them, with a valid form or not; nothing changes.
    let flu_1 = full("flu-1");
    for (uri, form) in [
        (
            format!("/t/{spacer}/split"),
            vec![("message_id", flu_1.as_str())],
        ),
        (
            format!("/t/{spacer}/move"),
            vec![("message_id", flu_1.as_str()), ("to", "/t/1")],
        ),
        (format!("/t/{nurse_2}/merge"), vec![("into", "/t/1")]),
        ("/admin/fixes/1/undo".to_owned(), vec![]),
        (
            "/admin/flags".to_owned(),
            vec![("message_id", flu_1.as_str()), ("action", "hide")],
        ),
    ] {
        let refused = forum.act((&mut jane, &jane_csrf), &uri, &form).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{uri}: {}",
            refused.body
        );
    }
    assert_eq!(
        forum.get(&mut jane, "/admin/held").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(forum.shape(), as_imported());
    // Nor can a moderator's form without its token.
    let forged = forum
        .post(
            &mut mo,
            &format!("/t/{spacer}/split"),
            &[("message_id", &flu_1), ("csrf", "forged")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // Split at the hijacking post: it and its replies become a thread.
    let split = forum.split((&mut mo, &mo_csrf), spacer, &flu_1).await;
    assert_eq!(split.status, StatusCode::SEE_OTHER, "{}", split.body);
    let flu = forum.thread_of("flu-1");
    assert_ne!(flu, spacer);
    assert_eq!(split.location, format!("/t/{flu}"));
    let page = forum
        .get(&mut Visitor::default(), &format!("/t/{spacer}"))
        .await;
    assert!(page.body.contains("small-volume spacer") && !page.body.contains("October flu clinic"));
    let page = forum
        .get(&mut Visitor::default(), &format!("/t/{flu}"))
        .await;
    assert!(
        page.body.contains("October flu clinic") && page.body.contains("Hillside"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("small-volume spacer"));
    // Splitting where a thread starts would change nothing: refused, said why.
    let first = forum
        .split((&mut mo, &mo_csrf), spacer, &full("spacer-1"))
        .await;
    assert_eq!(first.status, StatusCode::BAD_REQUEST);
    common::assert_says(&first.body, &["starts the thread"]);

    // Merge the orphaned answer's thread into the thread it answers, by its full address.
    let into = format!("https://forum.test/t/{nurse_1}");
    let merged = forum
        .act(
            (&mut mo, &mo_csrf),
            &format!("/t/{nurse_2}/merge"),
            &[("into", &into)],
        )
        .await;
    assert_eq!(
        (merged.status, merged.location.as_str()),
        (StatusCode::SEE_OTHER, format!("/t/{nurse_1}").as_str())
    );
    // The merged thread's old address leads to the thread it joined; the permalink follows.
    let old = forum
        .get(&mut Visitor::default(), &format!("/t/{nurse_2}"))
        .await;
    assert!(old.status.is_redirection(), "{}", old.status);
    assert_eq!(old.location, format!("/t/{nurse_1}"));
    let permalink = forum
        .get(&mut Visitor::default(), "/m/nurse-2@snug.example")
        .await;
    assert!(
        permalink.location.starts_with(&format!("/t/{nurse_1}#m-")),
        "{}",
        permalink.location
    );
    // The merged thread is no longer listed on its own.
    let home = forum.get(&mut Visitor::default(), "/").await;
    assert!(
        !home.body.contains("Nurse vacancies: we have two"),
        "{}",
        home.body
    );

    // Move the misfiled answer under the post it answers, given by the post's permalink.
    let moved = forum
        .move_post(
            (&mut mo, &mo_csrf),
            minutes,
            "minutes-reply",
            "/m/pcn-minutes%40snug.example",
        )
        .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    let pcn = forum.thread_of("pcn-minutes");
    assert_eq!(moved.location, format!("/t/{pcn}"));
    // Under one of its own replies: refused, nothing changed.
    let flu = forum.thread_of("flu-1");
    let under_itself = forum
        .move_post((&mut mo, &mo_csrf), flu, "flu-1", "flu-3@snug.example")
        .await;
    assert_eq!(under_itself.status, StatusCode::BAD_REQUEST);
    common::assert_says(&under_itself.body, &["its own replies"]);
    assert_eq!(forum.thread_of("flu-1"), flu);
    // A place that is no thread or post is refused, with what to give.
    let nowhere = forum
        .move_post((&mut mo, &mo_csrf), spacer, "spacer-3", "the other thread")
        .await;
    assert_eq!(nowhere.status, StatusCode::BAD_REQUEST);
    common::assert_says(&nowhere.body, &["/t/123"]);

    let fixed: BTreeSet<_> = [
        thread(&[
            ("spacer-1", None),
            ("spacer-2", Some("spacer-1")),
            ("spacer-3", Some("spacer-1")),
        ]),
        thread(&[
            ("flu-1", None),
            ("flu-2", Some("flu-1")),
            ("flu-3", Some("flu-2")),
        ]),
        thread(&[("nurse-1", None), ("nurse-2", None)]),
        thread(&[
            ("pcn-minutes", None),
            ("minutes-reply", Some("pcn-minutes")),
        ]),
        thread(&[("asthma-minutes", None)]),
    ]
    .into_iter()
    .collect();
    assert_eq!(forum.shape(), fixed);
    let placed = forum.placements();
    assert_eq!(
        placed[&full("minutes-reply")].2,
        1,
        "depth under the post it answers"
    );

    // Mail that arrives later follows the fixes: a reply in the split-off conversation, whose
    // References still name the thread it was split from.
    forum.cli_ok(&[
        "import",
        fixture("late-reply.mbox").to_str().unwrap(),
        "--list",
        "snug",
    ]);
    let mut with_late = fixed.clone();
    with_late.remove(&thread(&[
        ("flu-1", None),
        ("flu-2", Some("flu-1")),
        ("flu-3", Some("flu-2")),
    ]));
    with_late.insert(thread(&[
        ("flu-1", None),
        ("flu-2", Some("flu-1")),
        ("flu-3", Some("flu-2")),
        ("flu-4", Some("flu-2")),
    ]));
    assert_eq!(forum.shape(), with_late);
    assert_eq!(
        forum.thread_of("flu-4"),
        flu,
        "the split thread keeps its number"
    );

    // The moderation page lists the fixes and says who did what.
    let queue = forum.get(&mut mo, "/admin/held").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert_eq!(queue.body.matches("Take back").count(), 3, "{}", queue.body);
    for action in [
        "<strong>split</strong>",
        "<strong>merge</strong>",
        "<strong>move</strong>",
    ] {
        assert!(
            queue.body.contains(action),
            "{action} not in the log: {}",
            queue.body
        );
    }
    assert!(queue.body.contains("Mo Moderator"));

    // Reindexing rebuilds every thread from the raw mail: the fixes are kept.
    forum.cli_ok(&["reindex"]);
    forum.restart();
    assert_eq!(forum.shape(), with_late);
    let flu = forum.thread_of("flu-1");
    let page = forum
        .get(&mut Visitor::default(), &format!("/t/{flu}"))
        .await;
    assert!(page.body.contains("Riverside") && !page.body.contains("small-volume spacer"));

    // A fix taken back: the answer returns to where its headers put it, and stays there.
    let fixes = Store::open(&forum.db, DeriveSettings::default())
        .unwrap()
        .thread_fixes()
        .unwrap();
    let move_fix = fixes
        .iter()
        .find(|f| f.message_id == full("minutes-reply"))
        .unwrap();
    let undone = forum
        .act(
            (&mut mo, &mo_csrf),
            &format!("/admin/fixes/{}/undo", move_fix.id.0),
            &[],
        )
        .await;
    assert_eq!(undone.status, StatusCode::SEE_OTHER, "{}", undone.body);
    let mut undone_shape = with_late.clone();
    undone_shape.remove(&thread(&[
        ("pcn-minutes", None),
        ("minutes-reply", Some("pcn-minutes")),
    ]));
    undone_shape.remove(&thread(&[("asthma-minutes", None)]));
    undone_shape.insert(thread(&[("pcn-minutes", None)]));
    undone_shape.insert(thread(&[
        ("asthma-minutes", None),
        ("minutes-reply", Some("asthma-minutes")),
    ]));
    assert_eq!(forum.shape(), undone_shape);
    let queue = forum.get(&mut mo, "/admin/held").await;
    assert!(queue.body.contains("<strong>undo</strong>"));
    forum.cli_ok(&["reindex"]);
    assert_eq!(forum.shape(), undone_shape);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flagged_post_is_hidden_and_stays_hidden_through_reindex() {
    let mut forum = Forum::new();
    let ((mut mo, mo_csrf), (mut jane, jane_csrf)) = forum.mo_and_jane().await;
    let (mut raj, raj_csrf) = forum
        .member("raj@snug.example", "Raj Member", Role::Member)
        .await;
    let spacer = forum.thread_of("spacer-1");
    let post = full("spacer-3");
    let page = forum.get(&mut jane, &format!("/t/{spacer}")).await;
    assert!(page.body.contains("Mrs Quenby"));

    // Flags need the form's token and a reason.
    let forged = forum
        .post(
            &mut jane,
            "/flag",
            &[
                ("message_id", &post),
                ("reason", "patient"),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let no_reason = forum.flag((&mut jane, &jane_csrf), &post, &[]).await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    let signed_out = forum
        .post(
            &mut Visitor::default(),
            "/flag",
            &[("message_id", &post), ("reason", "spam"), ("csrf", "x")],
        )
        .await;
    assert_eq!(
        signed_out.status,
        StatusCode::SEE_OTHER,
        "readers are sent to sign in"
    );

    // Jane flags the post naming a patient; once.
    let flagged = forum
        .flag(
            (&mut jane, &jane_csrf),
            &post,
            &[
                ("reason", "patient"),
                ("note", "Names a patient and where she lives"),
            ],
        )
        .await;
    assert_eq!(flagged.status, StatusCode::OK, "{}", flagged.body);
    assert!(flagged.body.contains("The moderators have been told"));
    let again = forum
        .flag((&mut jane, &jane_csrf), &post, &[("reason", "abusive")])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

    // The moderator is mailed: who flagged what and why, never the post's text.
    let mail = mailed(&forum.db, "mo@snug.example");
    assert!(
        mail.contains("Flagged: Re: [SNUG] Spacer devices"),
        "{mail}"
    );
    assert!(
        mail.contains("patient-identifiable data") && mail.contains("Jane Member"),
        "{mail}"
    );
    assert!(
        !mail.contains("Quenby"),
        "the flagged text is not mailed: {mail}"
    );

    // The queue shows the post with its flag; the moderator hides it.
    let queue = forum.get(&mut mo, "/admin/held").await;
    assert!(queue.body.contains("Flagged posts") && queue.body.contains("Mrs Quenby"));
    assert!(queue.body.contains("Names a patient and where she lives"));
    let hid = forum.on_flags((&mut mo, &mo_csrf), &post, "hide").await;
    assert_eq!(
        (hid.status, hid.location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/held?done=hidden")
    );

    assert_hidden(&forum, spacer).await;
    // Still in the raw store: exported byte for byte.
    let mbox = forum.cli_ok(&["export", "mbox"]);
    assert!(mbox.contains("Message-ID: <spacer-3@snug.example>") && mbox.contains("Mrs Quenby"));

    // Reindexing keeps it hidden.
    forum.cli_ok(&["reindex"]);
    forum.restart();
    assert_hidden(&forum, spacer).await;
    let mbox = forum.cli_ok(&["export", "mbox"]);
    assert!(mbox.contains("Mrs Quenby"));

    // Two members' flags hide a post by themselves (hide_after_flags = 2) until a moderator
    // looks; dismissing them shows it again.
    let nurse = full("nurse-1");
    for (who, csrf) in [(&mut jane, &jane_csrf), (&mut raj, &raj_csrf)] {
        let done = forum.flag((who, csrf), &nurse, &[("reason", "spam")]).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    }
    let permalink = forum
        .get(&mut Visitor::default(), "/m/nurse-1@snug.example")
        .await;
    assert_eq!(
        permalink.status,
        StatusCode::NOT_FOUND,
        "hidden by two flags"
    );
    let mail = mailed(&forum.db, "mo@snug.example");
    assert!(mail.contains("Hidden by members' flags"), "{mail}");
    let queue = forum.get(&mut mo, "/admin/held").await;
    common::assert_says(&queue.body, &["hidden until you decide"]);
    assert!(
        queue.body.contains("<strong>hidden by flags</strong>"),
        "the log says flags hid it: {}",
        queue.body
    );
    let dismissed = forum.on_flags((&mut mo, &mo_csrf), &nurse, "dismiss").await;
    assert_eq!(dismissed.location, "/admin/held?done=dismissed");
    let permalink = forum
        .get(&mut Visitor::default(), "/m/nurse-1@snug.example")
        .await;
    assert_eq!(permalink.status, StatusCode::SEE_OTHER, "shown again");

    // The moderator can show the hidden post again too; it is searchable again.
    let shown = forum.on_flags((&mut mo, &mo_csrf), &post, "unhide").await;
    assert_eq!(shown.location, "/admin/held?done=shown");
    let page = forum
        .get(&mut Visitor::default(), &format!("/t/{spacer}"))
        .await;
    assert!(page.body.contains("Mrs Quenby"));
    let found: Value = serde_json::from_str(
        &forum
            .get(&mut Visitor::default(), "/api/search?q=Quenby")
            .await
            .body,
    )
    .unwrap();
    assert_eq!(found["total"], 1, "{found}");
}

/// The flagged post is on no page, in no search or feed and no API answer.
async fn assert_hidden(forum: &Forum, spacer: i64) {
    let mut reader = Visitor::default();
    let page = forum.get(&mut reader, &format!("/t/{spacer}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("small-volume spacer"),
        "the thread is still there"
    );
    assert!(!page.body.contains("Quenby"), "{}", page.body);
    let search = forum.get(&mut reader, "/search?q=Quenby").await;
    assert!(!search.body.contains("/m/spacer-3"), "{}", search.body);
    let found: Value =
        serde_json::from_str(&forum.get(&mut reader, "/api/search?q=Quenby").await.body).unwrap();
    assert_eq!(found["total"], 0, "{found}");
    let api = forum
        .get(&mut reader, "/api/messages/spacer-3@snug.example")
        .await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    let api = forum
        .get(&mut reader, &format!("/api/threads/{spacer}"))
        .await;
    assert!(
        api.body.contains("spacer-2@snug.example") && !api.body.contains("spacer-3"),
        "{}",
        api.body
    );
    let feed = forum
        .get(&mut reader, &format!("/t/{spacer}/feed.atom"))
        .await;
    assert!(!feed.body.contains("Quenby"));
    assert_eq!(
        forum
            .get(&mut reader, "/m/spacer-3@snug.example")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(!forum.placements().contains_key(&full("spacer-3")));
}

/// Every notice queued to `address` so far, as text (subject and body), without sending them.
fn mailed(db: &Path, address: &str) -> String {
    let mut store = Store::open(db, DeriveSettings::default()).unwrap();
    let due = store.claim_due(i64::MAX, 1000).unwrap();
    let mut text = String::new();
    for d in due
        .iter()
        .filter(|d| d.recipient.address.eq_ignore_ascii_case(address))
    {
        let raw = store.outbox_message(d.outbox).unwrap().unwrap();
        let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
        text.push_str(message.subject().unwrap_or_default());
        text.push('\n');
        text.push_str(&message.body_text(0).unwrap_or_default());
        text.push('\n');
    }
    store.recover_outbox(0, 1800).unwrap();
    text
}
