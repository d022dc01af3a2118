//! Erasure and purge end to end, without a socket or a mail server: a member whose address
//! wrote part of an imported archive (and who posted on the web) erases her account through
//! the web; an admin purges one message through the web; another archive erases by the command
//! line with the "remove" policy. Each time the erased text must be gone from the pages, search
//! (web, API and `listbridge search`), feeds, attachments, `export mbox` and the raw store,
//! and stay gone after `listbridge reindex` and a second import; other members' mail stays, and
//! replies still thread; the audit log says what was done without saying what was erased.

mod common;

use std::collections::HashMap;
use std::ops::Deref;
use std::path::PathBuf;
use std::process::Output;

use axum::http::StatusCode;
use common::app::{Answer, Visitor, encode, hidden};
use listbridge::store::Role;
use serde_json::json;

const CONFIG: &str = "[web]\nsite_name = \"Test forum\"\nbase_url = \"https://forum.test\"\n\
     [outbound]\nfrom_address = \"forum@lists.test\"\n\
     [[lists]]\nname = \"snug\"\naddress = \"snug@lists.example.org\"\nsubject_tag = \"[SNUG]\"\n";

/// Words that appear only in Erin's mail, and in the message the admin purges.
const ERIN_WORDS: &[&str] = &["Wombatclinic", "Pangolinroster", "07700 900123"];
const PURGED_WORDS: &[&str] = &["Ocelotpatient", "wrong list"];
/// Other members' words, which must stay.
const OTHERS_WORDS: &[&str] = &["Bobsreply", "Carolsreply", "Bobsanswer"];

/// The forum over the erasure archive, imported by the command line.
struct Site(common::app::Site);

impl Deref for Site {
    type Target = common::app::Site;

    fn deref(&self) -> &common::app::Site {
        &self.0
    }
}

fn archive_file() -> PathBuf {
    common::fixtures_dir().join("erasure/archive.mbox")
}

impl Site {
    fn new(extra_config: &str) -> Site {
        let site = Site(common::app::Site::new(&format!("{CONFIG}{extra_config}")));
        let out = site.cli(&["import", archive_file().to_str().unwrap(), "--list", "snug"]);
        assert!(out.status.success(), "{}", stderr(&out));
        site
    }

    /// Opens a one-time sign-in link and presses its button.
    async fn use_link(&self, who: &mut Visitor, link: &str) {
        let done = self.press_link(who, link, Some("/")).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert!(who.cookies.contains_key("lb_session"));
    }

    /// Signs `address` up through a mailed link.
    async fn sign_up(&self, who: &mut Visitor, address: &str, name: &str) {
        let sent = self
            .ask_link(who, &[("email", address), ("name", name)])
            .await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
        let link = self.mailed_link(address);
        self.use_link(who, &link).await;
    }

    /// `who` asks to erase their account, confirming with `confirm`, with the form token `csrf`.
    async fn erase_account(&self, who: &mut Visitor, csrf: &str, confirm: &str) -> Answer {
        self.post(
            who,
            "/account/erase",
            &[("csrf", csrf), ("confirm", confirm)],
        )
        .await
    }

    /// `who` sends the purge form for `message_id` with the form token `csrf`: with a reason
    /// (or none), confirmed or to review.
    async fn purge(
        &self,
        who: &mut Visitor,
        csrf: &str,
        message_id: &str,
        (reason, confirm): (Option<&str>, bool),
    ) -> Answer {
        let mut form = vec![("csrf", csrf), ("message_id", message_id)];
        form.extend(reason.map(|r| ("reason", r)));
        if confirm {
            form.push(("confirm", "yes"));
        }
        self.post(who, "/admin/purge", &form).await
    }

    /// An admin made with `listbridge admin create`, signed in with the printed link.
    async fn admin(&self) -> Visitor {
        let printed = self.cli_ok(&["admin", "create", "admin@forum.test", "--name", "Ada"]);
        let link = printed
            .split_whitespace()
            .find(|w| w.starts_with("https://forum.test/signin/"))
            .expect("a sign-in link")
            .trim_start_matches("https://forum.test")
            .to_owned();
        let mut admin = Visitor::default();
        self.use_link(&mut admin, &link).await;
        admin
    }

    /// The threads of Erin's nebuliser question, the rota and the letter.
    fn threads(&self) -> [i64; 3] {
        [
            "e1.nebuliser@nhs.net",
            "b1.rota@nhs.net",
            "c2.letter@nhs.net",
        ]
        .map(|id| self.thread_of(id))
    }

    fn thread_of(&self, message_id: &str) -> i64 {
        self.store()
            .locate(message_id)
            .unwrap()
            .expect(message_id)
            .0
            .0
    }

    /// The web address of each attachment of a message.
    fn attachment_urls(&self, message_id: &str) -> Vec<String> {
        let (raw, _) = self.store().message_raw(message_id).unwrap().unwrap();
        let parsed = listbridge::mail::parse::parse_message(
            &raw,
            None,
            &listbridge::mail::render::RenderOptions::default(),
        )
        .unwrap();
        parsed
            .attachments
            .iter()
            .map(|a| {
                format!(
                    "/att/{}/{}",
                    a.sha256,
                    a.filename.as_deref().unwrap_or("attachment")
                )
            })
            .collect()
    }

    /// Every raw message of the store, decompressed, as text.
    fn raw_store(&self) -> String {
        self.store().raw_text().unwrap()
    }

    /// What every public view of the archive shows: the thread pages, the latest threads,
    /// searches (web and API) for each word, feeds, the threads' mbox, the API's threads and
    /// messages, `listbridge search` and `export mbox`, and the raw store; each with where it
    /// came from.
    async fn everything(&self, threads: &[i64], message_ids: &[&str], words: &[&str]) -> Seen {
        let mut seen = Vec::new();
        let mut pages = vec![
            "/".to_owned(),
            "/feed.atom".to_owned(),
            "/l/snug".to_owned(),
            "/api/threads".to_owned(),
        ];
        for t in threads {
            for page in ["", "?view=nested", "/feed.atom", "/mbox"] {
                pages.push(format!("/t/{t}{page}"));
            }
            pages.push(format!("/api/threads/{t}"));
        }
        for id in message_ids {
            pages.push(format!("/api/messages/{id}"));
        }
        for page in pages {
            let answer = self.get_anonymous(&page).await;
            if answer.status == StatusCode::OK {
                seen.push((page, answer.body, None));
            }
        }
        // A search shows its own query: that word is looked for in the results only.
        for word in words {
            for page in [
                format!("/search?q={}", encode(word)),
                format!("/api/search?q={}", encode(word)),
            ] {
                let answer = self.get_anonymous(&page).await;
                assert_eq!(answer.status, StatusCode::OK, "{page}");
                seen.push((page, answer.body, Some(word.to_string())));
            }
            seen.push((
                format!("listbridge search {word}"),
                self.cli_ok(&["search", word, "--json"]),
                Some(word.to_string()),
            ));
        }
        seen.push((
            "export mbox".to_owned(),
            self.cli_ok(&["export", "mbox"]),
            None,
        ));
        seen.push(("the raw store".to_owned(), self.raw_store(), None));
        Seen(seen)
    }
}

/// Views of the archive: where each came from, what it showed, and the word it searched for.
struct Seen(Vec<(String, String, Option<String>)>);

impl Seen {
    fn assert_absent(&self, words: &[&str], when: &str) {
        for (source, text, query) in &self.0 {
            let lower = text.to_lowercase();
            for word in words {
                // A search shows its query: searching for what is gone must find nothing.
                if query
                    .as_deref()
                    .is_some_and(|q| q.eq_ignore_ascii_case(word))
                {
                    let none = text.contains("role=\"status\">0 messages match")
                        || text.contains("\"total\": 0")
                        || text.contains("\"total\":0");
                    assert!(none, "{when}: {source} still finds something: {text}");
                    continue;
                }
                if let Some(at) = lower.find(&word.to_lowercase()) {
                    let from = lower[..at]
                        .char_indices()
                        .rev()
                        .nth(80)
                        .map_or(0, |(i, _)| i);
                    let to = (at + 80).min(text.len());
                    panic!(
                        "{when}: {word:?} is still in {source}: ...{}...",
                        text.get(from..to).unwrap_or(text)
                    );
                }
            }
        }
    }

    fn assert_present(&self, words: &[&str], when: &str) {
        for word in words {
            assert!(
                self.0.iter().any(|(_, text, _)| text.contains(word)),
                "{when}: {word:?} is missing everywhere"
            );
        }
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_absent(text: &str, words: &[&str], when: &str) {
    Seen(vec![(String::new(), text.to_owned(), None)]).assert_absent(words, when);
}

fn assert_present(text: &str, words: &[&str], when: &str) {
    Seen(vec![(String::new(), text.to_owned(), None)]).assert_present(words, when);
}

/// `export threads --json`: each real message's parent and thread.
fn arrangement(site: &Site) -> HashMap<String, (i64, Option<String>)> {
    let json: serde_json::Value =
        serde_json::from_str(&site.cli_ok(&["export", "threads", "--json"])).unwrap();
    common::placements(&json)
        .into_iter()
        .map(|(id, (thread, parent, _))| (id, (thread, parent)))
        .collect()
}

fn search_total(site: &Site, word: &str) -> u64 {
    let json: serde_json::Value =
        serde_json::from_str(&site.cli_ok(&["search", word, "--json"])).unwrap();
    json["total"].as_u64().unwrap()
}

/// The words every view is searched for: Erin's, the purged message's, the others', `more`.
fn words(more: &[&'static str]) -> Vec<&'static str> {
    [ERIN_WORDS, PURGED_WORDS, OTHERS_WORDS, more].concat()
}

/// Asserts that an audit entry has each field of `want` as `want` gives it.
fn assert_entry(entry: &serde_json::Value, want: serde_json::Value) {
    for (key, value) in want.as_object().unwrap() {
        assert_eq!(&entry[key], value, "{key} of {entry}");
    }
}

fn audit_log(site: &Site) -> Vec<serde_json::Value> {
    let json: serde_json::Value =
        serde_json::from_str(&site.cli_ok(&["erasures", "--json"])).unwrap();
    json["erasures"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_member_erases_her_account_on_the_web_and_an_admin_purges_a_message() {
    let site = Site::new("");
    let threads @ [nebuliser, rota, _] = site.threads();
    let ids = [
        "e1.nebuliser@nhs.net",
        "b2.nebuliser@nhs.net",
        "e2.rota@nhs.net",
        "c1.rota@nhs.net",
        "c2.letter@nhs.net",
        "b3.letter@nhs.net",
    ];
    let words = words(&["Capybaraweb", "Nebuliser", "Erin"]);
    let erin_attachments = site.attachment_urls("e1.nebuliser@nhs.net");
    let letter_attachments = site.attachment_urls("c2.letter@nhs.net");
    assert_eq!((erin_attachments.len(), letter_attachments.len()), (1, 1));
    let arranged = arrangement(&site);

    // Erin joins (her archived mail becomes hers) and replies on the web.
    let mut erin = Visitor::default();
    site.sign_up(&mut erin, "Erin.Example@nhs.net", "Erin Example")
        .await;
    let account = site.get(&mut erin, "/account").await;
    common::assert_says(&account.body, &["href=\"/account/erase\""]);
    let csrf = hidden(&account.body, "csrf");
    let (_, bob_key) = site.store().locate("b1.rota@nhs.net").unwrap().unwrap();
    let form = site
        .get(&mut erin, &format!("/t/{rota}/reply?to={bob_key}"))
        .await;
    let parent = hidden(&form.body, "parent");
    let posted = site
        .reply(
            &mut erin,
            rota,
            (&csrf, &parent),
            ("Capybaraweb: I can do the first weekend too.", "post"),
        )
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    let erin_user = site
        .store()
        .user_by_email("erin.example@nhs.net")
        .unwrap()
        .unwrap();

    // Another member, who stays.
    let mut member = Visitor::default();
    site.sign_up(&mut member, "dan@nhs.net", "Dan").await;
    let page = site.get(&mut member, &format!("/t/{nebuliser}")).await;
    assert_present(
        &page.body,
        &["Wombatclinic", "Erin Example"],
        "a member's view",
    );

    // Before: everything is there (so the checks below can fail), and pages, searches and
    // snippets are cached for readers who are not signed in.
    let before = site.everything(&threads, &ids, &words).await;
    before.assert_present(&["Wombatclinic", "Pangolinroster", "Capybaraweb"], "before");
    before.assert_present(PURGED_WORDS, "before");
    before.assert_present(OTHERS_WORDS, "before");
    for url in erin_attachments.iter().chain(&letter_attachments) {
        assert_eq!(
            site.get_anonymous(url).await.status,
            StatusCode::OK,
            "{url}"
        );
    }
    assert_eq!(search_total(&site, "wombatclinic"), 1);

    // A wrong confirmation erases nothing; a forged form is refused.
    let page = site.get(&mut erin, "/account/erase").await;
    assert_eq!(page.status, StatusCode::OK);
    common::assert_says(&page.body, &["3 archived messages"]);
    let wrong = site.erase_account(&mut erin, &csrf, "yes").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("nothing has been erased"));
    let forged = site
        .erase_account(&mut erin, "forged", "erase my account")
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(site.store().user(erin_user).unwrap().is_some());

    // Erased.
    let mut old_cookies = erin.clone();
    let done = site
        .erase_account(&mut erin, &csrf, " Erase my  account ")
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    common::assert_says(&done.body, &["Your account is erased"]);
    assert!(!erin.cookies.contains_key("lb_session"), "signed out");
    let again = site.get(&mut old_cookies, "/account").await;
    assert_eq!(
        again.status,
        StatusCode::SEE_OTHER,
        "the old session is gone"
    );
    let store = site.store();
    assert!(store.user(erin_user).unwrap().is_none());
    assert!(
        store
            .user_by_email("erin.example@nhs.net")
            .unwrap()
            .is_none()
    );
    drop(store);
    assert_eq!(
        site.get_anonymous(&format!("/u/{}", erin_user.0))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // A member (who sees addresses) finds nothing of Erin, and is still signed in.
    assert_eq!(
        site.get(&mut member, "/a/erin.example@nhs.net")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    for t in threads {
        let page = site.get(&mut member, &format!("/t/{t}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_absent(
            &page.body,
            &["erin", "Wombatclinic", "Capybaraweb"],
            "a member's view",
        );
    }

    let after = site.everything(&threads, &ids, &words).await;
    let erased: Vec<&str> = ERIN_WORDS
        .iter()
        .chain(&["Capybaraweb", "erin.example", "Erin Example"])
        .copied()
        .collect();
    after.assert_absent(&erased, "after erasure");
    after.assert_present(OTHERS_WORDS, "after erasure");
    after.assert_present(PURGED_WORDS, "after erasure (not purged yet)");
    after.assert_present(&["erased at its author", "Former member"], "after erasure");
    for url in &erin_attachments {
        assert_eq!(
            site.get_anonymous(url).await.status,
            StatusCode::NOT_FOUND,
            "{url}"
        );
    }
    // Replies still hang together; the subject stays.
    assert_eq!(arrangement(&site), arranged_with_post(&arranged, &site));
    let thread = site.get_anonymous(&format!("/t/{nebuliser}")).await;
    common::assert_says(&thread.body, &["Nebuliser servicing"]);

    // The audit entry says what, who and how much, and nothing of Erin.
    let log = audit_log(&site);
    assert_eq!(log.len(), 1);
    let entry = &log[0];
    // Three messages: two archived mails and the web post.
    assert_entry(
        entry,
        json!({"kind": "account", "actor": "member", "policy": "redact", "messages": 3,
               "attachments": 1}),
    );
    assert_absent(
        &entry.to_string(),
        &["erin", "example@", "Wombat"],
        "the audit log",
    );

    // A rebuild from the raw store, and the same archive imported again, bring nothing back.
    site.cli_ok(&["reindex"]);
    let imported = site.cli_ok(&["import", archive_file().to_str().unwrap(), "--list", "snug"]);
    assert!(
        imported.contains("erased earlier, not stored again: 2"),
        "{imported}"
    );
    let rebuilt = site.everything(&threads, &ids, &words).await;
    rebuilt.assert_absent(&erased, "after reindex and import");
    rebuilt.assert_present(OTHERS_WORDS, "after reindex and import");
    assert_eq!(search_total(&site, "wombatclinic"), 0);
    assert_eq!(arrangement(&site), arranged_with_post(&arranged, &site));

    // An admin purges Carol's letter; a member may not.
    let dan = site.get(&mut member, "/account").await;
    let dan_csrf = hidden(&dan.body, "csrf");
    assert_eq!(
        site.get(&mut member, "/admin/erasures").await.status,
        StatusCode::FORBIDDEN
    );
    let refused = site
        .purge(
            &mut member,
            &dan_csrf,
            "c2.letter@nhs.net",
            (Some("x"), true),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let mut admin = site.admin().await;
    let page = site.get(&mut admin, "/admin/erasures").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    common::assert_says(&page.body, &["account erased"]);
    let admin_csrf = hidden(&page.body, "csrf");
    let no_reason = site
        .purge(&mut admin, &admin_csrf, "c2.letter@nhs.net", (None, false))
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    let link = "https://forum.test/m/c2.letter@nhs.net#m-1";
    let review = site
        .purge(
            &mut admin,
            &admin_csrf,
            link,
            (Some("patient-identifiable letter"), false),
        )
        .await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    common::assert_says(&review.body, &["Purge this message?"]);
    common::assert_says(&review.body, &["Carol Third"]);
    assert_present(&site.raw_store(), PURGED_WORDS, "after review only");
    let purged = site
        .purge(
            &mut admin,
            &admin_csrf,
            &hidden(&review.body, "message_id"),
            (Some(&hidden(&review.body, "reason")), true),
        )
        .await;
    assert_eq!(purged.status, StatusCode::SEE_OTHER, "{}", purged.body);
    assert!(purged.location.starts_with("/admin/erasures?done="));

    let after = site.everything(&threads, &ids, &words).await;
    after.assert_absent(PURGED_WORDS, "after the purge");
    after.assert_absent(&erased, "after the purge");
    after.assert_present(OTHERS_WORDS, "after the purge");
    after.assert_present(&["removed by the forum"], "after the purge");
    for url in &letter_attachments {
        assert_eq!(
            site.get_anonymous(url).await.status,
            StatusCode::NOT_FOUND,
            "{url}"
        );
    }
    let (stand_in, _) = site
        .store()
        .message_raw("c2.letter@nhs.net")
        .unwrap()
        .unwrap();
    let stand_in = String::from_utf8(stand_in).unwrap();
    assert!(
        stand_in.contains("Subject: (removed)") && !stand_in.contains("Clinic letter"),
        "the subject goes too: {stand_in}"
    );
    assert!(
        stand_in.contains("Carol Third"),
        "the author stays: {stand_in}"
    );
    let arranged_now = arrangement(&site);
    assert_eq!(
        arranged_now["b3.letter@nhs.net"].1.as_deref(),
        Some("c2.letter@nhs.net"),
        "the reply still answers the purged message"
    );

    let log = audit_log(&site);
    assert_eq!(log.len(), 2);
    let entry = &log[0];
    assert_entry(
        entry,
        json!({"kind": "message", "actor": "admin", "target": "c2.letter@nhs.net",
               "reason": "patient-identifiable letter", "attachments": 1}),
    );
    let admin_id = site
        .store()
        .user_by_email("admin@forum.test")
        .unwrap()
        .unwrap();
    assert_eq!(entry["actor_user"], admin_id.0);
    let page = site.get(&mut admin, "/admin/erasures").await;
    assert!(page.body.contains("patient-identifiable letter"));

    site.cli_ok(&["reindex"]);
    let rebuilt = site.everything(&threads, &ids, &words).await;
    rebuilt.assert_absent(PURGED_WORDS, "after the purge and reindex");
    rebuilt.assert_present(OTHERS_WORDS, "after the purge and reindex");
    assert_eq!(arrangement(&site), arranged_now);
}

/// The archive's arrangement as it was, with Erin's web post added where it went.
fn arranged_with_post(
    before: &HashMap<String, (i64, Option<String>)>,
    site: &Site,
) -> HashMap<String, (i64, Option<String>)> {
    let now = arrangement(site);
    let mut expected = before.clone();
    for (id, place) in &now {
        if !before.contains_key(id) {
            assert_eq!(
                place.1.as_deref(),
                Some("b1.rota@nhs.net"),
                "only the web post is new: {id}"
            );
            expected.insert(id.clone(), place.clone());
        }
    }
    assert_eq!(now.len(), before.len() + 1, "{now:?}");
    expected
}

#[tokio::test]
async fn the_command_line_removes_an_address_mail_and_purges_when_the_policy_is_remove() {
    let site = Site::new("[privacy]\nerasure = \"remove\"\n");
    let threads = site.threads();
    let ids = [
        "e1.nebuliser@nhs.net",
        "e2.rota@nhs.net",
        "c2.letter@nhs.net",
    ];
    let words = words(&[]);
    let erin_attachments = site.attachment_urls("e1.nebuliser@nhs.net");
    site.everything(&threads, &ids, &words)
        .await
        .assert_present(&["Wombatclinic", "Ocelotpatient"], "before");

    // Erin never joined: her address's mail is erased all the same.
    let bad = site.cli(&["erase", "--address", "nobody@nowhere.test"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("nothing is held"), "{}", stderr(&bad));
    let said = site.cli_ok(&[
        "erase",
        "--address",
        "ERIN.EXAMPLE@nhs.net",
        "--reason",
        "asked by letter",
    ]);
    assert!(said.contains("2 messages removed"), "{said}");
    let out = site.cli_ok(&["purge", "<c2.letter@nhs.net>", "--reason", "patient letter"]);
    assert!(out.contains("purged <c2.letter@nhs.net>"), "{out}");
    let missing = site.cli(&["purge", "c2.letter@nhs.net", "--reason", "again"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("no message"),
        "{}",
        stderr(&missing)
    );

    for when in ["after removal", "after reindex"] {
        let all = site.everything(&threads, &ids, &words).await;
        all.assert_absent(ERIN_WORDS, when);
        all.assert_absent(PURGED_WORDS, when);
        all.assert_absent(&["erin.example", "Former member"], when);
        all.assert_present(OTHERS_WORDS, when);
        for url in &erin_attachments {
            assert_eq!(
                site.get_anonymous(url).await.status,
                StatusCode::NOT_FOUND,
                "{when}: {url}"
            );
        }
        let store = site.store();
        for id in [
            "e1.nebuliser@nhs.net",
            "e2.rota@nhs.net",
            "c2.letter@nhs.net",
        ] {
            assert!(store.locate(id).unwrap().is_none(), "{when}: {id}");
        }
        drop(store);
        // Replies keep their threads through the placeholder of the message they answered.
        let arranged = arrangement(&site);
        assert_eq!(
            arranged["c1.rota@nhs.net"].0, arranged["b1.rota@nhs.net"].0,
            "{when}"
        );
        assert_eq!(
            arranged["c1.rota@nhs.net"].1.as_deref(),
            Some("b1.rota@nhs.net"),
            "{when}: Carol's reply now hangs from Bob's post"
        );
        assert!(arranged.contains_key("b2.nebuliser@nhs.net"), "{when}");
        assert!(arranged.contains_key("b3.letter@nhs.net"), "{when}");
        site.cli_ok(&["reindex"]);
    }

    let log = audit_log(&site);
    assert_eq!(log.len(), 2);
    assert_entry(
        &log[1],
        json!({"kind": "address", "actor": "cli", "policy": "remove", "messages": 2,
               "reason": "asked by letter"}),
    );
    assert_entry(&log[0], json!({"kind": "message"}));
    assert_absent(&log[1].to_string(), &["erin"], "the audit log");
    let text = site.cli_ok(&["erasures"]);
    assert!(text.contains("address by cli, policy remove"), "{text}");
    assert!(text.contains("reason: patient letter"), "{text}");
}

/// Asserts that nothing of `word` is left in the database file: no blob of mail holds it,
/// none of `blobs` (those that held it before) is there, and neither the word (a flag's note
/// quotes it) nor its lower case is.
fn assert_gone_from_file(site: &Site, word: &str, blobs: &[Vec<u8>]) {
    assert!(blobs_holding(site, &[word]).is_empty(), "{word} in a blob");
    for blob in blobs {
        assert!(
            !file_holds(site, middle(blob)),
            "mail with {word} left in the file"
        );
    }
    for form in [word.to_owned(), word.to_lowercase()] {
        assert!(!file_holds(site, form.as_bytes()), "{form} in the file");
    }
}

/// Each row's id and stored (compressed) data of a table of mail.
fn ids_and_data(conn: &rusqlite::Connection, table: &str) -> Vec<(i64, Vec<u8>)> {
    conn.prepare(&format!("SELECT id, data FROM {table}"))
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Every compressed blob the database keeps of mail (raw store, outbox) whose text holds one
/// of `words`: as stored, so that the file can be searched for the very bytes.
fn blobs_holding(site: &Site, words: &[&str]) -> Vec<Vec<u8>> {
    let store = site.store();
    let conn = rusqlite::Connection::open(&site.db).unwrap();
    let mut found = Vec::new();
    let rows = ids_and_data(&conn, "raw_messages");
    let mut texts = HashMap::new();
    store
        .for_each_raw(None, None, |r| {
            texts.insert(r.id.0, String::from_utf8_lossy(&r.bytes).into_owned());
            Ok(())
        })
        .unwrap();
    for (id, data) in rows {
        if texts
            .get(&id)
            .is_some_and(|t| words.iter().any(|w| t.contains(w)))
        {
            found.push(data);
        }
    }
    let rows = ids_and_data(&conn, "outbox");
    for (id, data) in rows {
        let text = store
            .outbox_message(listbridge::store::OutboxId(id))
            .unwrap()
            .unwrap_or_default();
        if words
            .iter()
            .any(|w| String::from_utf8_lossy(&text).contains(w))
        {
            found.push(data);
        }
    }
    found
}

/// Whether the database file or its write-ahead log holds these bytes (free pages included).
fn file_holds(site: &Site, bytes: &[u8]) -> bool {
    common::database_holds(&site.db, bytes)
}

/// A window from the middle of a blob: what the file is searched for.
fn middle(blob: &[u8]) -> &[u8] {
    let len = blob.len().min(48);
    let from = (blob.len() - len) / 2;
    &blob[from..from + len]
}

/// A post a moderator hid has no archived row, but its raw mail (and a further copy of it),
/// a member's flag quoting it and the moderators' mail about the flag are still its words:
/// erasing its author, or purging it, reaches all of them, in the database file itself.
#[tokio::test]
async fn erasing_reaches_hidden_posts_and_what_quotes_them() {
    let site = Site::new("");
    let (mut dan, dan_csrf) = site.member("dan@nhs.net", "Dan", Role::Member).await;
    let (mut mo, mo_csrf) = site.member("mo@nhs.net", "Mo", Role::Moderator).await;
    for (id, note) in [
        (
            "e2.rota@nhs.net",
            "It says Pangolinroster, which is a patient's name",
        ),
        ("c2.letter@nhs.net", "Ocelotpatient is named here"),
    ] {
        let flagged = site
            .post(
                &mut dan,
                "/flag",
                &[
                    ("csrf", &dan_csrf),
                    ("message_id", id),
                    ("reason", "patient"),
                    ("note", note),
                ],
            )
            .await;
        assert_eq!(flagged.status, StatusCode::OK, "{}", flagged.body);
        let hid = site
            .post(
                &mut mo,
                "/admin/flags",
                &[("csrf", &mo_csrf), ("message_id", id), ("action", "hide")],
            )
            .await;
        assert_eq!(hid.status, StatusCode::SEE_OTHER, "{}", hid.body);
        assert!(site.store().locate(id).unwrap().is_none(), "{id} is hidden");
    }
    // A further copy of Erin's hidden post (another delivery) arrives and stays hidden.
    let original = std::fs::read_to_string(archive_file()).unwrap();
    let at = original.find("Message-ID: <e2.rota@nhs.net>").unwrap();
    let start = original[..at].rfind("\nFrom erin.example@nhs.net").unwrap() + 1;
    let end = start + original[start..].find("\nFrom carol").unwrap() + 1;
    let copy = original[start..end].replacen(
        "\nFrom: Erin",
        "\nReceived: from list.example by mx.example\nFrom: Erin",
        1,
    );
    let copy_file = site.dir().join("copy.mbox");
    std::fs::write(&copy_file, copy).unwrap();
    site.cli_ok(&["import", copy_file.to_str().unwrap(), "--list", "snug"]);

    let erin = blobs_holding(&site, &["Pangolinroster"]);
    assert!(
        erin.len() >= 3,
        "the hidden post, its copy, the moderators' mail"
    );
    let carol = blobs_holding(&site, &["Ocelotpatient"]);
    assert!(carol.len() >= 2, "the hidden post, the moderators' mail");
    for blob in erin.iter().chain(&carol) {
        assert!(file_holds(&site, middle(blob)), "the file holds it before");
    }
    assert!(
        file_holds(&site, b"Pangolinroster, which is"),
        "the flag's note"
    );

    let said = site.cli_ok(&["erase", "--address", "erin.example@nhs.net"]);
    assert!(said.contains("2 messages"), "{said}");
    assert_gone_from_file(&site, "Pangolinroster", &erin);
    assert!(
        file_holds(&site, middle(&carol[0])),
        "Carol's post is not Erin's"
    );

    // Purging the hidden letter: its raw mail and what quotes it go.
    let out = site.cli_ok(&["purge", "c2.letter@nhs.net", "--reason", "patient letter"]);
    assert!(out.contains("purged <c2.letter@nhs.net>"), "{out}");
    assert_gone_from_file(&site, "Ocelotpatient", &carol);

    // Neither comes back with a reindex or the same archive imported again.
    site.cli_ok(&["reindex"]);
    site.cli_ok(&["import", archive_file().to_str().unwrap(), "--list", "snug"]);
    site.cli_ok(&["import", copy_file.to_str().unwrap(), "--list", "snug"]);
    let all = site
        .everything(&[], &[], &["Pangolinroster", "Ocelotpatient"])
        .await;
    all.assert_absent(
        &["Pangolinroster", "Ocelotpatient"],
        "after reindex and import",
    );
    all.assert_present(OTHERS_WORDS, "after reindex and import");
}
