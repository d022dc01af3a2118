//! Accounts and posting on the web, without a socket or a mail server: sign-up by a mailed link
//! (the mail is read back from the outbox), one-time links, password sign-in, CSRF on every
//! form, forged session cookies, rate limits, profile problems said in words, and a reply that
//! lands in the archive and the outbox in one step.

mod common;

use std::ops::Deref;

use axum::http::StatusCode;
use common::app::{Answer, Visitor, hidden};
use listbridge::store::{DeriveSettings, Role, Store, UserId};

const CONFIG: &str = "[web]\nsite_name = \"Test forum\"\nbase_url = \"https://forum.test\"\n\
     [outbound]\nfrom_address = \"forum@lists.test\"\n\
     [[lists]]\nname = \"snug\"\naddress = \"snug@lists.test\"\nsubject_tag = \"[SNUG]\"\n";

/// The forum over the sample archive.
struct Site(common::app::Site);

impl Deref for Site {
    type Target = common::app::Site;

    fn deref(&self) -> &common::app::Site {
        &self.0
    }
}

impl Site {
    fn new() -> Site {
        Site(common::app::Site::with_sample(CONFIG))
    }

    /// The forum with Jane (jane@nhs.net) signed up through a mailed link: the forum, her
    /// visitor and the form token of her account page.
    async fn with_jane() -> (Site, Visitor, String) {
        let site = Site::new();
        let mut jane = Visitor::default();
        site.sign_in(&mut jane, "jane@nhs.net", "Jane").await;
        let account = site.get(&mut jane, "/account").await;
        let csrf = hidden(&account.body, "csrf");
        (site, jane, csrf)
    }

    /// What the archive's search finds for `query` (the first ten).
    fn finds(&self, query: &str) -> Vec<listbridge::store::SearchHit> {
        self.store().search(query, 10).unwrap().unwrap().results
    }

    /// `who` resumes delivery to a paused address on the inbound page.
    async fn resume(&self, who: (&mut Visitor, &str), address: &str) -> Answer {
        self.submit(who, "/admin/bounces/resume", &[("address", address)])
            .await
    }

    /// `who` gives `member` this role on the members page.
    async fn set_role(&self, who: (&mut Visitor, &str), member: UserId, role: &str) -> Answer {
        let uri = format!("/admin/members/{}/role", member.0);
        self.submit(who, &uri, &[("role", role)]).await
    }

    /// Signs `address` up (or in) through a mailed link.
    async fn sign_in(&self, who: &mut Visitor, address: &str, name: &str) -> Answer {
        let sent = self
            .ask_link(who, &[("email", address), ("name", name), ("next", "/t/1")])
            .await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
        assert!(sent.body.contains("Check your mail"));
        let link = self.mailed_link(address);
        self.press_link(who, &link, Some("/t/1")).await
    }
}

#[tokio::test]
async fn sign_up_by_link_then_post_a_reply_that_is_archived_and_queued() {
    let site = Site::new();
    let mut jane = Visitor::default();
    let done = site
        .sign_in(&mut jane, "Jane.Doe@NHS.net", "Jane Doe")
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(
        done.location, "/account?welcome=1",
        "a new member is shown her account first"
    );
    let account = site.get(&mut jane, "/account").await;
    common::assert_says(&account.body, &["value=\"Jane Doe\""]);
    assert!(account.body.contains("jane.doe@nhs.net"));

    // A link works once.
    let mut other = Visitor::default();
    site.ask_link(&mut other, &[("email", "jane.doe@nhs.net")])
        .await;
    let link = site.mailed_link("jane.doe@nhs.net");
    let path = link.split('?').next().unwrap().to_owned();
    let confirm = site.get(&mut other, &link).await;
    let token = hidden(&confirm.body, "form_token");
    let first = site
        .post(&mut other, &path, &[("form_token", &token)])
        .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(
        first.location, "/",
        "a known member goes where she was going"
    );
    let again = site
        .post(&mut other, &path, &[("form_token", &token)])
        .await;
    assert_eq!(again.status, StatusCode::GONE, "{}", again.body);

    // Profile problems are said in words.
    let csrf = hidden(&account.body, "csrf");
    let bad = site
        .save_profile((&mut jane, &csrf), &[("display_name", " ")])
        .await;
    bad.assert_refused("Your name must be 1 to 80 characters");
    let good = site
        .save_profile(
            (&mut jane, &csrf),
            &[
                ("display_name", "Dr Jane Doe"),
                ("job_title", "GP partner"),
                ("organisation", "Hammersmith"),
            ],
        )
        .await;
    assert_eq!(
        (good.status, good.location.as_str()),
        (StatusCode::SEE_OTHER, "/account?saved=profile")
    );

    // A reply: preview first, then post; archived at once under its real author, and queued.
    let form = site.get(&mut jane, "/t/1/reply?to=1").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let parent = hidden(&form.body, "parent");
    let reply = async |jane: &mut Visitor, text: &str, action: &str| {
        site.reply(jane, 1, (&csrf, &parent), (text, action)).await
    };
    let preview = reply(&mut jane, "Use **two** puffs <script>x</script>", "preview").await;
    assert_eq!(preview.status, StatusCode::OK);
    common::assert_says(&preview.body, &["<strong>two</strong>"]);
    assert!(
        !preview.body.contains("<script>x"),
        "raw HTML is shown as text"
    );
    let empty = reply(&mut jane, "  ", "post").await;
    empty.assert_refused("Write something before posting");
    let posted = reply(&mut jane, "Use two puffs and a spacer.", "post").await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    let id = percent_encoding::percent_decode_str(posted.location.trim_start_matches("/m/"))
        .decode_utf8()
        .unwrap()
        .into_owned();
    let store = Store::open(&site.db, DeriveSettings::default()).unwrap();
    let (thread, _) = store.locate(&id).unwrap().expect("archived at once");
    assert_eq!(thread.0, 1, "in the thread it answers");
    let (user, state) = store.post_state(&id).unwrap().unwrap();
    assert_eq!(state, listbridge::store::PostState::Queued { error: None });
    assert_eq!(
        store.user(user).unwrap().unwrap().display_name,
        "Dr Jane Doe"
    );
    assert_eq!(
        store.author_name("jane.doe@nhs.net").unwrap().as_deref(),
        Some("Dr Jane Doe <jane.doe@nhs.net>")
    );
    let page = site.get(&mut jane, "/t/1").await;
    assert!(
        page.body.contains("data-state=\"queued\""),
        "the author sees her post queued"
    );
    let anonymous = site.get(&mut Visitor::default(), "/t/1").await;
    assert!(anonymous.body.contains("Use two puffs and a spacer."));
    assert!(
        !anonymous.body.contains("data-state"),
        "only the author sees the state"
    );

    // Sign out everywhere ends every session of hers.
    let out = site
        .post(&mut jane, "/signout/everywhere", &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let account = site.get(&mut other, "/account").await;
    assert_eq!(
        account.status,
        StatusCode::SEE_OTHER,
        "the other device is signed out too"
    );
}

#[tokio::test]
async fn forms_refuse_forged_tokens_and_cookies() {
    let (site, mut jane, csrf) = Site::with_jane().await;
    let form = site.get(&mut jane, "/t/1/reply?to=1").await;
    let parent = hidden(&form.body, "parent");

    // Every signed-in form refuses a missing or wrong token.
    for (path, fields) in [
        ("/account", vec![("display_name", "Mallory")]),
        (
            "/account/password",
            vec![
                ("password", "correct horse battery"),
                ("confirm", "correct horse battery"),
            ],
        ),
        (
            "/t/1/reply",
            vec![
                ("parent", parent.as_str()),
                ("text", "forged"),
                ("action", "post"),
            ],
        ),
        (
            "/l/snug/new",
            vec![
                ("subject", "forged"),
                ("text", "forged"),
                ("action", "post"),
            ],
        ),
        ("/signout/everywhere", vec![]),
    ] {
        for token in ["", "forged-token"] {
            let mut with = fields.clone();
            with.push(("csrf", token));
            let answer = site.post(&mut jane, path, &with).await;
            assert!(
                answer.status == StatusCode::FORBIDDEN
                    || answer.status == StatusCode::UNPROCESSABLE_ENTITY,
                "{path} with csrf {token:?}: {}",
                answer.status
            );
        }
    }
    assert!(site.finds("forged").is_empty(), "nothing forged was posted");
    let store = Store::open(&site.db, DeriveSettings::default()).unwrap();
    assert_eq!(
        store.outbox_counts().unwrap().queued,
        1,
        "only the sign-in mail is queued"
    );

    // The real token works: the refusals above were the tokens' doing.
    let real = site
        .save_profile((&mut jane, &csrf), &[("display_name", "Jane")])
        .await;
    assert_eq!(real.status, StatusCode::SEE_OTHER);

    // Forms before sign-in want their double-submit token.
    let mut stranger = Visitor::default();
    let answer = site
        .post(
            &mut stranger,
            "/signin/link",
            &[("form_token", "x"), ("email", "a@b.org")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    // A made-up session cookie is nobody.
    let mut forger = Visitor::default();
    forger.cookies.insert("lb_session".into(), "A".repeat(43));
    let answer = site.get(&mut forger, "/account").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(answer.location.starts_with("/signin"));
    let answer = site
        .post(
            &mut forger,
            "/t/1/reply",
            &[("csrf", "x"), ("parent", &parent), ("text", "x")],
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "no post without a session"
    );
}

#[tokio::test]
async fn passwords_sign_in_and_guessing_is_limited() {
    let (site, mut jane, csrf) = Site::with_jane().await;
    let short = site
        .set_password((&mut jane, &csrf), "short", "short")
        .await;
    short.assert_refused("at least 12 characters");
    let set = site
        .set_password(
            (&mut jane, &csrf),
            "correct horse battery",
            "correct horse battery",
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER);
    let stored = Store::open(&site.db, DeriveSettings::default())
        .unwrap()
        .password_hash("jane@nhs.net")
        .unwrap()
        .unwrap()
        .1;
    assert!(stored.starts_with("$argon2id$"), "{stored}");

    let mut laptop = Visitor::default();
    let page = site.get(&mut laptop, "/signin").await;
    let token = hidden(&page.body, "form_token");
    let wrong = site
        .password_sign_in(&mut laptop, &token, "jane@nhs.net", "wrong guess here")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("do not match"));
    let right = site
        .password_sign_in(&mut laptop, &token, "jane@nhs.net", "correct horse battery")
        .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert!(laptop.cookies.contains_key("lb_session"));

    // Guessing: after a few tries on one address, the form says to wait.
    let mut guesser = Visitor::default();
    let page = site.get(&mut guesser, "/signin").await;
    let token = hidden(&page.body, "form_token");
    let mut statuses = Vec::new();
    for n in 0..8 {
        let guess = format!("guess number {n}");
        let answer = site
            .password_sign_in(&mut guesser, &token, "victim@nhs.net", &guess)
            .await;
        statuses.push(answer.status.as_u16());
    }
    assert!(statuses[..5].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
}

/// Hostile input through the forms, end to end: every XSS vector of `fixtures/xss/` posted as
/// a member's text (and one as the subject and the display name) comes back inert on the
/// pages; SQL-looking searches are answered, never obeyed; an oversized post is refused with
/// what to shorten, an oversized body before it is read.
#[tokio::test]
async fn hostile_input_is_refused_or_made_harmless() {
    let (site, mut jane, _) = Site::with_jane().await;
    let form = site.get(&mut jane, "/l/snug/new").await;
    let csrf = hidden(&form.body, "csrf");
    let vectors: Vec<String> =
        std::fs::read_to_string(common::fixtures_dir().join("xss/vectors.txt"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| l.replace("{{NL}}", "\n").replace("{{TAB}}", "\t"))
            .collect();
    assert!(vectors.len() > 100, "{} vectors", vectors.len());
    let text = vectors.join("\n\n");
    let posted = site
        .post(
            &mut jane,
            "/l/snug/new",
            &[
                ("csrf", &csrf),
                (
                    "subject",
                    "<script>alert(1)</script> \"><img src=x onerror=alert(2)>",
                ),
                ("text", &text),
                ("action", "post"),
            ],
        )
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    let landed = site.get(&mut jane, &posted.location).await;
    let page = site.get(&mut jane, &landed.location).await;
    assert_eq!(page.status, StatusCode::OK, "{}", landed.location);
    let anonymous = site.get(&mut Visitor::default(), &landed.location).await;
    for body in [&page.body, &anonymous.body] {
        assert_inert(body);
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "the subject, shown as text"
        );
    }

    // A display name with markup is shown as text on the profile.
    let account = site.get(&mut jane, "/account").await;
    let csrf = hidden(&account.body, "csrf");
    let saved = site
        .save_profile(
            (&mut jane, &csrf),
            &[("display_name", "<img src=x onerror=alert(3)>")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let me = site.get(&mut jane, "/account").await;
    assert_inert(&me.body);
    assert!(
        me.body.contains("&#60;img src=x onerror=alert(3)&#62;")
            || me.body.contains("&lt;img src=x onerror=alert(3)&gt;"),
        "the name, shown as text"
    );

    // SQL in a search is a search for words, or a query to correct: never a server error,
    // and nothing changes.
    let before = Store::open(&site.db, DeriveSettings::default())
        .unwrap()
        .counts()
        .unwrap();
    for q in [
        "'%20OR%201=1%20--",
        "%22;%20DROP%20TABLE%20messages;%20--",
        "x%27)%20UNION%20SELECT%20*%20FROM%20sessions--",
        "NEAR(a%20b",
        "subject:%22",
    ] {
        for path in ["/search", "/api/search"] {
            let answer = site
                .get(&mut Visitor::default(), &format!("{path}?q={q}"))
                .await;
            assert!(
                answer.status == StatusCode::OK || answer.status == StatusCode::BAD_REQUEST,
                "{path}?q={q}: {}",
                answer.status
            );
        }
    }
    let after = Store::open(&site.db, DeriveSettings::default())
        .unwrap()
        .counts()
        .unwrap();
    assert_eq!((before.messages, before.raw), (after.messages, after.raw));

    // Too long a post: what to shorten. Far too large a form: refused before it is read.
    let form = site.get(&mut jane, "/l/snug/new").await;
    let csrf = hidden(&form.body, "csrf");
    let long = "a".repeat(60_000);
    let refused = site.new_thread((&mut jane, &csrf), "Long", &long).await;
    refused.assert_refused("Shorten the post");
    let huge = "a".repeat(6 << 20);
    let refused = site.new_thread((&mut jane, &csrf), "Huge", &huge).await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(site.finds("Huge").is_empty());
}

/// Nothing in a page a browser could run beyond our own script file. (The vectors appear as
/// text, escaped: only what is inside a tag is checked for schemes and handlers.)
fn assert_inert(body: &str) {
    let lower = body.to_lowercase();
    assert_eq!(
        lower.matches("<script").count(),
        lower
            .matches("<script src=\"/static/compose.js\" defer></script>")
            .count(),
        "a script element"
    );
    for bad in [
        "<iframe",
        "<object",
        "<embed",
        "<svg",
        "<math",
        "<style",
        "<base",
        "<meta http",
    ] {
        assert!(!lower.contains(bad), "{bad} in the page");
    }
    // Each tag's attributes: no handler names, no script-bearing URLs in values.
    let tag = regex::Regex::new(
        r#"<[a-z][a-z0-9]*((?:\s+[^\s=>]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*/?>"#,
    )
    .unwrap();
    let attribute =
        regex::Regex::new(r#"([^\s=>]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?"#).unwrap();
    for t in tag.captures_iter(&lower) {
        for a in attribute.captures_iter(&t[1]) {
            let name = &a[1];
            let value = a
                .get(2)
                .map_or("", |v| v.as_str().trim_matches(['"', '\'']));
            assert!(!name.starts_with("on"), "an event handler: {}", &t[0]);
            for scheme in ["javascript:", "vbscript:", "data:text/html"] {
                assert!(!value.trim().starts_with(scheme), "{scheme} in {}", &t[0]);
            }
            assert_ne!(name, "srcdoc", "{}", &t[0]);
        }
    }
}

/// A member downloads what is held about them: their profile, addresses and posts as JSON, and
/// the raw mail from their addresses as an mbox; a reader not signed in gets neither.
#[tokio::test]
async fn a_member_downloads_what_is_held_about_them() {
    let site = Site::new();
    // Amira wrote to the sample list before she joined: her mail is hers.
    let mut amira = Visitor::default();
    site.sign_in(&mut amira, "amira.khan@example.org", "Amira Khan")
        .await;
    let json = site.get(&mut amira, "/account/export").await;
    assert_eq!(json.status, StatusCode::OK);
    let data: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(data["profile"]["display_name"], "Amira Khan");
    assert_eq!(data["addresses"][0], "amira.khan@example.org");
    let posts = data["posts"].as_array().unwrap();
    assert!(!posts.is_empty(), "her archived posts");
    let mbox = site.get(&mut amira, "/account/export.mbox").await;
    assert_eq!(mbox.status, StatusCode::OK);
    let messages =
        mbox.body.matches("\nFrom ").count() + usize::from(mbox.body.starts_with("From "));
    // Every post's raw mail, and any re-delivered copy of it kept raw.
    assert!(
        messages >= posts.len(),
        "{messages} mails for {} posts",
        posts.len()
    );
    for p in posts {
        let id = p["message_id"].as_str().unwrap();
        assert!(mbox.body.contains(id), "{id} missing from the mbox");
    }
    assert!(
        mbox.body
            .lines()
            .filter(|l| l.starts_with("From:"))
            .all(|l| l.to_lowercase().contains("amira.khan@example.org")),
        "only her own mail"
    );
    for path in ["/account/export", "/account/export.mbox"] {
        let anonymous = site.get(&mut Visitor::default(), path).await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER, "{path}");
    }
}

/// Delivery to an address paused after repeated hard bounces is lifted by an admin, on the web
/// (`/admin/inbound`, with the bounce history) or with `listbridge members resume ADDRESS`;
/// mail to it then goes out again. Moderators see the history, only admins resume.
#[tokio::test]
async fn an_admin_resumes_delivery_to_a_paused_address() {
    let site = Site::new();
    let now = chrono::Utc::now().timestamp();
    let pause = |address: &str| {
        let mut store = site.store();
        let run = store.begin_run("bounces", now).unwrap();
        let w = store.writer(run).unwrap();
        w.record_bounce(address, false, 3, now).unwrap();
        for _ in 0..3 {
            w.record_bounce(address, true, 3, now).unwrap();
        }
        w.commit().unwrap();
    };
    pause("gone@gp.test");
    pause("moved@gp.test");
    // Mail to a paused address is set aside, not sent.
    let queue_to = |address: &str| {
        let mut store = site.store();
        let run = store.begin_run("notice", now).unwrap();
        let w = store.writer(run).unwrap();
        w.enqueue(
            listbridge::store::OutboxKind::Notice,
            &format!("n{}@lists.test", address.len()),
            None,
            b"Subject: x\r\n\r\nx\r\n",
            &[listbridge::store::NewRecipient {
                address: address.to_owned(),
                reply_to: None,
                unsubscribe: None,
            }],
            now,
        )
        .unwrap();
        w.commit().unwrap();
        store.claim_due(now + 1, 10).unwrap().len()
    };
    assert_eq!(queue_to("gone@gp.test"), 0, "paused");

    let (mut mo, _) = site.member("mo@nhs.net", "Mo", Role::Moderator).await;
    let page = site.get(&mut mo, "/admin/inbound").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("gone@gp.test") && page.body.contains("paused since"));
    assert!(
        page.body.contains("<td>3</td><td>1</td>"),
        "the history: {}",
        page.body
    );
    assert!(
        !page.body.contains("/admin/bounces/resume"),
        "moderators do not resume"
    );
    let csrf = hidden(&page.body, "csrf");
    let refused = site.resume((&mut mo, &csrf), "gone@gp.test").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let (mut ada, csrf) = site.member("ada@nhs.net", "Ada", Role::Admin).await;
    let page = site.get(&mut ada, "/admin/inbound").await;
    common::assert_says(&page.body, &["/admin/bounces/resume"]);
    let done = site.resume((&mut ada, &csrf), "Gone@gp.test").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = site.get(&mut ada, &done.location).await;
    common::assert_says(&page.body, &["Delivery to gone@gp.test is resumed"]);
    assert_eq!(queue_to("gone@gp.test"), 1, "mail to it goes out again");
    let again = site.resume((&mut ada, &csrf), "gone@gp.test").await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "not paused any more");

    // The command line, with the history.
    let said = site.cli_ok(&["members", "resume", "moved@gp.test"]);
    assert!(said.contains("3 hard and 1 soft bounces"), "{said}");
    assert!(said.contains("resumed"), "{said}");
    assert_eq!(queue_to("moved@gp.test"), 1);
    let twice = site.cli(&["members", "resume", "moved@gp.test"]);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("not paused"));
    let never = site.cli(&["members", "resume", "nobody@gp.test"]);
    assert!(!never.status.success());
}

/// Roles from the product: an admin appoints and removes moderators and admins on the members
/// page (which lists each member's role, addresses, lists and mail) or with `listbridge members
/// role ADDRESS ROLE`; each change is in the moderation log, and the last admin stays one.
#[tokio::test]
async fn an_admin_changes_roles_on_the_members_page_and_the_command_line() {
    let site = Site::new();
    let (mut ada, csrf) = site.member("ada@nhs.net", "Ada", Role::Admin).await;
    let (mut dan, _) = site.member("dan@nhs.net", "Dan", Role::Member).await;
    let dan_id = site.store().user_by_email("dan@nhs.net").unwrap().unwrap();
    let ada_id = site.store().user_by_email("ada@nhs.net").unwrap().unwrap();
    assert_eq!(
        site.get(&mut dan, "/admin/held").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        site.get(&mut dan, "/admin/members").await.status,
        StatusCode::FORBIDDEN
    );
    let page = site.get(&mut ada, "/admin/members").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    common::assert_says(&page.body, &["dan@nhs.net"]);
    assert!(
        page.body
            .contains(&format!("/admin/members/{}/role", dan_id.0))
    );

    // Dan becomes a moderator on the web.
    let done = site.set_role((&mut ada, &csrf), dan_id, "moderator").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location, "/admin/members?done=changed");
    assert_eq!(
        site.get(&mut dan, "/admin/held").await.status,
        StatusCode::OK
    );
    assert_eq!(
        site.get(&mut dan, "/admin/members").await.status,
        StatusCode::FORBIDDEN,
        "moderators do not manage members"
    );
    let log = site.get(&mut ada, "/admin/held").await.body;
    assert!(
        log.contains("changed a role")
            && log.contains(&format!("member {}: member to moderator", dan_id.0)),
        "{log}"
    );

    // The command line makes him an admin, and back to a member.
    let said = site.cli_ok(&["members", "role", "Dan@nhs.net", "admin"]);
    assert!(said.contains("is now admin (was moderator)"), "{said}");
    site.cli_ok(&["members", "role", "dan@nhs.net", "member"]);
    assert_eq!(
        site.get(&mut dan, "/admin/held").await.status,
        StatusCode::FORBIDDEN
    );
    assert!(
        !site
            .cli(&["members", "role", "nobody@nhs.net", "admin"])
            .status
            .success()
    );

    // Ada is the only admin: she cannot be demoted, by either way.
    let refused = site.set_role((&mut ada, &csrf), ada_id, "member").await;
    assert_eq!(refused.location, "/admin/members?done=last-admin");
    let cli = site.cli(&["members", "role", "ada@nhs.net", "moderator"]);
    assert!(!cli.status.success());
    assert!(String::from_utf8_lossy(&cli.stderr).contains("only admin"));
    assert_eq!(
        site.get(&mut ada, "/admin/members").await.status,
        StatusCode::OK
    );
    let log = site.get(&mut ada, "/admin/held").await.body;
    assert_eq!(log.matches("changed a role").count(), 3, "{log}");
}
