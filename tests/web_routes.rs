//! Every route of the forum, without a socket: the routes are the list the router is built
//! from, so a new route cannot be left untested; each is called with good, missing and hostile
//! parameters, and must answer without a server error, with the security headers.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use listbridge::config::Config;
use listbridge::store::{DeriveSettings, Store};
use listbridge::web::{AppState, router};
use tower::ServiceExt;

/// The route patterns, from the list the router is built from.
fn declared_routes() -> Vec<String> {
    listbridge::web::route_patterns()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn app() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let mut config = Config::parse(
        // Addresses shown: these pages are about the archive (tests/private_lists.rs hides them).
        "[web]\nsite_name = \"Test forum\"\nhide_addresses = false\n[[lists]]\nname = \"snug\"\nsubject_tag = \"[SNUG]\"\n",
    )
    .unwrap();
    config.interests = Config::parse(include_str!("../fixtures/sample/interests.toml"))
        .unwrap()
        .interests;
    let mut store = Store::open(&db, DeriveSettings::default()).unwrap();
    store.seed_interests(&config.new_interests(), 0).unwrap();
    listbridge::archive::pipeline::import(
        &mut store,
        &[common::fixtures_dir().join("sample/snug-2024.mbox")],
        "snug",
        &config.render_options("snug"),
        0,
    )
    .unwrap();
    // An event, announced by the archive's first message.
    let list = store.list_id("snug").unwrap();
    let first = store.thread_posts(listbridge::store::ThreadId(1)).unwrap();
    common::app::create_event(
        &mut store,
        &common::app::study_day(
            "event-1@test",
            first[0].headers.message_id.clone(),
            list,
            ("Asthma study day", "Talks and **workshops**."),
            "Leeds",
            40,
        ),
    );
    drop(store);
    (
        router(AppState::new(
            config,
            db,
            DeriveSettings::default(),
            Default::default(),
        )),
        dir,
    )
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Concrete addresses for a pattern: a good one first, then bad and hostile ones.
fn examples(pattern: &str) -> Vec<(String, Option<StatusCode>)> {
    let ok = Some(StatusCode::OK);
    let missing = Some(StatusCode::NOT_FOUND);
    let fill = |thread: &str, message: &str, list: &str, address: &str, sha: &str| {
        let interest = if thread == "1" {
            "asthma"
        } else {
            "no-such-interest"
        };
        pattern
            .replace("{slug}", interest)
            .replace("{thread}", thread)
            .replace("{*message_id}", message)
            .replace("{list}", list)
            .replace("{address}", address)
            .replace("{sha}", sha)
            .replace("{name}", "audit.pdf")
            .replace("{token}", "no-such-token")
            .replace("{id}", thread)
    };
    let good = fill(
        "1",
        "asthma-1@example.org",
        "snug",
        "amira.khan@example.org",
        "0".repeat(64).as_str(),
    );
    let mut cases = vec![(
        good.clone(),
        if pattern.contains("{sha}") {
            missing
        } else {
            ok
        },
    )];
    if pattern.contains('{') {
        cases.push((
            fill(
                "999999",
                "no-such@example.org",
                "nolist",
                "nobody@example.org",
                &"f".repeat(64),
            ),
            missing,
        ));
        cases.push((
            fill("abc", "%00%ff", "..%2f..", "%3Cscript%3E", "not-hex"),
            None,
        ));
        cases.push((fill("-1", "%3C%3E", "%20", "%20", "%2e%2e"), None));
    }
    for hostile in [
        "?page=-1",
        "?page=abc",
        "?page=99999999999999999999",
        "?q=%22",
        "?q=NEAR(",
        "?q=*",
        "?q=-",
        "?q=%00",
        "?sort=drop%20table",
        "?view=%3Cscript%3E",
        "?q=",
    ] {
        cases.push((format!("{good}{hostile}"), None));
    }
    if pattern == "/m/{*message_id}" {
        cases[0].1 = Some(StatusCode::SEE_OTHER);
    }
    if pattern == "/favicon.ico" {
        cases[0].1 = Some(StatusCode::NO_CONTENT);
    }
    // Pages for members send a reader who is not signed in to the sign-in page.
    if [
        "/l/{list}/new",
        "/t/{thread}/reply",
        "/account",
        "/admin/inbound",
        "/admin/engagement",
        "/admin/engagement.csv",
        "/events/new",
        "/admin/held",
        "/account/export",
        "/account/export.mbox",
        "/events/{id}/attendees",
        "/events/{id}/attendees.csv",
        "/t/{thread}/reply",
        "/account/preferences",
        "/admin/interests",
        "/account/erase",
        "/admin/erasures",
        "/admin/members",
    ]
    .contains(&pattern)
    {
        cases[0].1 = Some(StatusCode::SEE_OTHER);
        // Whether a missing thread is looked up before or after sign-in is the handler's.
        cases[1].1 = None;
    }
    // Forms that only take a POST.
    if [
        "/signin/link",
        "/signin/password",
        "/signout",
        "/signout/everywhere",
        "/account/password",
        "/account/avatar",
        "/t/{thread}/tags",
        "/t/{thread}/watch",
        "/like",
        "/events/{id}/register",
        "/events/{id}/cancel",
        "/events/{id}/settings",
        "/admin/held/{id}",
        "/admin/purge",
        "/flag",
        "/admin/flags",
        "/t/{thread}/split",
        "/t/{thread}/move",
        "/t/{thread}/merge",
        "/admin/fixes/{id}/undo",
        "/admin/bounces/resume",
        "/admin/members/{id}/role",
    ]
    .contains(&pattern)
    {
        // A GET is refused before the address is looked at.
        for case in cases.iter_mut().filter(|c| c.1.is_some()) {
            case.1 = Some(StatusCode::METHOD_NOT_ALLOWED);
        }
    }
    if pattern == "/account" {
        cases[0].1 = Some(StatusCode::SEE_OTHER);
    }
    if pattern == "/signin/{token}" || pattern == "/preferences/{token}" {
        // An unknown link reads as a used or expired one.
        cases[0].1 = Some(StatusCode::GONE);
        cases[1].1 = Some(StatusCode::GONE);
    }
    if pattern.starts_with("/u/{id}") {
        // The sample archive has no members.
        cases[0].1 = Some(StatusCode::NOT_FOUND);
    }
    if pattern == "/api/search" {
        // An empty or operator-only query is the reader's to correct: 400 with a message.
        cases[0] = ("/api/search?q=spacer".to_owned(), ok);
    }
    cases
}

#[tokio::test]
async fn every_route_answers_without_a_server_error() {
    let (app, _dir) = app();
    let routes = declared_routes();
    assert!(routes.len() >= 15, "routes found: {routes:?}");
    let mut checked = 0;
    for pattern in &routes {
        for (uri, want) in examples(pattern) {
            let (status, headers, body) = get(&app, &uri).await;
            assert!(!status.is_server_error(), "{uri} answered {status}: {body}");
            if let Some(want) = want {
                assert_eq!(status, want, "{uri}: {body}");
            }
            assert_eq!(
                headers
                    .get(header::X_CONTENT_TYPE_OPTIONS)
                    .map(|v| v.to_str().unwrap()),
                Some("nosniff"),
                "{uri}"
            );
            let csp = headers
                .get(header::CONTENT_SECURITY_POLICY)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            assert!(csp.contains("default-src 'none'"), "{uri}: CSP {csp:?}");
            // Scripts only from our own files (the compose helper), never inline.
            assert!(
                !csp.contains("unsafe-inline")
                    && !csp.contains("unsafe-eval")
                    && csp.contains("script-src 'self';"),
                "{uri}: CSP allows more script than our own files: {csp}"
            );
            if status == StatusCode::OK
                && headers
                    .get(header::CONTENT_TYPE)
                    .is_some_and(|t| t.to_str().unwrap().starts_with("text/html"))
            {
                assert_eq!(
                    body.matches("<script").count(),
                    body.matches("<script src=\"/static/compose.js\" defer></script>")
                        .count(),
                    "{uri} has a script other than the compose helper"
                );
                assert!(
                    body.contains("<main id=\"main\""),
                    "{uri} has no main landmark"
                );
            }
            checked += 1;
        }
    }
    println!("{} routes, {checked} requests", routes.len());
    let (status, _, _) = get(&app, "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_show_the_archive() {
    let (app, _dir) = app();
    let (_, _, home) = get(&app, "/").await;
    assert!(
        home.contains("Asthma inhaler technique in the over-80s"),
        "{home}"
    );
    assert!(
        !home.contains("[SNUG] Asthma"),
        "the list tag is hidden in titles"
    );
    let (_, _, thread) = get(&app, "/t/1").await;
    assert!(thread.contains("In-Check dial"));
    assert!(
        thread.contains("<details class=\"elided\">"),
        "quoted text is folded away"
    );
    let (status, headers, _) = get(&app, "/m/asthma-2@example.net").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/t/1#m-")
    );
    let (_, _, search) = get(&app, "/search?q=%22In-Check+dial%22").await;
    assert!(search.contains("2 messages match"), "{search}");
    assert!(search.contains("<mark>"), "{search}");
    let (_, _, empty) = get(&app, "/search?q=").await;
    assert!(empty.contains("Type a few words"), "{empty}");
    let (status, _, feed) = get(&app, "/feed.atom").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        feed.starts_with("<?xml") && feed.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">")
    );
    let (_, headers, mbox) = get(&app, "/t/1/mbox").await;
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    assert!(mbox.starts_with("From mboxrd@z "));
    let (_, _, api) = get(&app, "/api/threads/1").await;
    let json: serde_json::Value = serde_json::from_str(&api).unwrap();
    assert_eq!(json["messages"].as_array().unwrap().len(), 4);
    assert!(
        json["messages"][1]["body"]
            .as_str()
            .unwrap()
            .contains("In-Check")
    );
}

#[tokio::test]
async fn forwarded_mail_is_shown_nested_in_the_post() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    let mail = dir.path().join("fwd.eml");
    std::fs::write(
        &mail,
        "From: Nadia <nadia@example.org>\r\nSubject: Fwd: Flu vaccine delivery dates\r\nMessage-ID: <fwd-1@example.org>\r\n\
         Date: Tue, 1 Oct 2024 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nSee the supplier's note below.\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\
         From: Supplier <orders@supplier.example>\r\nSubject: Delivery dates\r\nDate: Mon, 30 Sep 2024 15:00:00 +0000\r\n\r\n\
         Vaccines arrive on 7 October.\r\n--b--\r\n",
    )
    .unwrap();
    let config = Config::parse("").unwrap();
    let mut store = Store::open(&db, DeriveSettings::default()).unwrap();
    listbridge::archive::pipeline::import(
        &mut store,
        &[mail],
        "main",
        &config.render_options("main"),
        0,
    )
    .unwrap();
    drop(store);
    let app = router(AppState::new(
        config,
        db,
        DeriveSettings::default(),
        Default::default(),
    ));
    let (status, headers, _) = get(&app, "/m/fwd-1@example.org").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let thread = headers[header::LOCATION]
        .to_str()
        .unwrap()
        .split('#')
        .next()
        .unwrap()
        .to_owned();
    let (_, _, page) = get(&app, &thread).await;
    assert!(page.contains("Forwarded message: Delivery dates"), "{page}");
    assert!(page.contains("Vaccines arrive on 7 October."), "{page}");
    assert!(
        page.contains("See the supplier&#39;s note below.")
            || page.contains("See the supplier's note below."),
        "{page}"
    );
}

/// A forum with a public list and a private one (both with an address, so both can be written
/// to), members allowed to announce events, and a private event: for the walk of writes.
struct WriteForum {
    site: common::app::Site,
    thread: i64,
    event: i64,
    /// The private message's attachment.
    sha: String,
}

const PRIVATE_MESSAGE: &str = "kestrel-1@closed.example";

fn write_forum() -> WriteForum {
    let site = common::app::Site::new(&format!(
        "[web]\nsite_name = \"Test forum\"\nbase_url = \"https://forum.test\"\n\
         [events]\norganisers = \"members\"\n\
         [outbound]\nfrom_address = \"forum@lists.test\"\n\
         [[lists]]\nname = \"snug\"\nsubject_tag = \"[SNUG]\"\naddress = \"snug@lists.example.org\"\n\
         [[lists]]\nname = \"closed\"\nprivate = true\nsubject_tag = \"[Closed]\"\naddress = \"closed@lists.example.org\"\n{}",
        include_str!("../fixtures/sample/interests.toml")
    ));
    site.import_sample_and_closed();
    let mut store = site.store();
    store
        .add_list_members("closed", &["cara.jones@closed.example".to_owned()], 0)
        .unwrap();
    let (thread, _) = store.locate(PRIVATE_MESSAGE).unwrap().unwrap();
    let sha = site.attachment_sha(PRIVATE_MESSAGE);
    let list = store.find_list("closed").unwrap();
    let event = common::app::create_event(&mut store, &common::app::kestrel_day(list));
    drop(store);
    WriteForum {
        site,
        thread: thread.0,
        event: event.0,
        sha,
    }
}

impl WriteForum {
    /// Cara Jones, on the private list's roster, signed in: her visitor and CSRF token.
    async fn cara(&self) -> (common::app::Visitor, String) {
        self.site
            .member(
                "cara.jones@closed.example",
                "Cara Jones",
                listbridge::store::Role::Member,
            )
            .await
    }

    /// A pattern with every parameter pointing at the private list.
    fn fill(&self, pattern: &str) -> String {
        let id = if pattern.starts_with("/events/") {
            self.event
        } else {
            self.thread
        };
        common::app::private_route(pattern, self.thread, &self.sha, &id.to_string())
    }

    /// A POST of every field any form has, complete and valid, aimed at the private list.
    async fn post(&self, who: &mut common::app::Visitor, csrf: &str, uri: &str) -> StatusCode {
        let form = [
            ("csrf", csrf),
            ("list", "closed"),
            ("message_id", PRIVATE_MESSAGE),
            ("parent", PRIVATE_MESSAGE),
            ("subject", "Kestrel rota, again"),
            ("text", "A reply for the Kestrel partners."),
            ("action", "post"),
            ("mode", "watch"),
            ("reason", "spam"),
            ("note", "a note"),
            ("title", "Kestrel ward evening"),
            ("description", "An evening for the partners."),
            ("starts", "2031-03-12T18:00"),
            ("ends", "2031-03-12T20:00"),
            ("time_zone", "Europe/London"),
            ("place", "Leeds"),
            ("capacity", "20"),
            ("ticket", ""),
            ("interest", "asthma"),
        ];
        self.site.post(who, uri, &form).await.status
    }

    /// The rows writes could add or change, table by table.
    fn footprint(&self) -> Vec<(&'static str, i64)> {
        let conn = rusqlite::Connection::open(&self.site.db).unwrap();
        [
            "messages",
            "posts",
            "outbox",
            "events",
            "registrations",
            "held_posts",
            "likes",
            "flags",
            "thread_prefs",
            "manual_tags",
            "hidden_messages",
            "thread_fixes",
            "moderation_log",
        ]
        .into_iter()
        .map(|t| {
            let n = conn
                .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .unwrap();
            (t, n)
        })
        .collect()
    }
}

/// Item 1 of the side doors: every write path is held to the rule of reads. Every route is
/// POSTed a complete, valid form aimed at a private list (its list name, thread, message and
/// event) by each role: a reader not signed in and a member off the roster change nothing
/// (the event form does not even offer the list); the roster's member and a moderator can
/// announce in it, so the forms sent are ones that do write.
#[tokio::test]
async fn side_door_1_writes_follow_the_read_rule_for_every_role() {
    use listbridge::store::Role;
    let forum = write_forum();
    let site = &forum.site;
    let (outsider, outsider_csrf) = site
        .member("olly@other.example", "Olly Reed", Role::Member)
        .await;
    let (member, member_csrf) = forum.cara().await;
    let (moderator, moderator_csrf) = site
        .member("mo@mods.example", "Mo Dee", Role::Moderator)
        .await;

    let mut writes = 0;
    for (role, who, csrf) in [
        (
            "a reader not signed in",
            common::app::Visitor::default(),
            "",
        ),
        (
            "a member off the roster",
            outsider.clone(),
            outsider_csrf.as_str(),
        ),
    ] {
        // Reads: the private list is not there for them, nor offered on the event form.
        let mut reader = who.clone();
        let list = site.get(&mut reader, "/l/closed").await;
        assert_eq!(list.status, StatusCode::NOT_FOUND, "{role} reads the list");
        if role.starts_with("a member") {
            let form = site.get(&mut reader, "/events/new").await;
            assert_eq!(form.status, StatusCode::OK, "{}", form.body);
            assert!(
                form.body.contains("value=\"snug\"") && !form.body.contains("value=\"closed\""),
                "the event form offers {role} the private list:\n{}",
                form.body
            );
        }
        for pattern in declared_routes() {
            // Signing out would make the rest of the walk anonymous.
            if pattern.starts_with("/signout") {
                continue;
            }
            let uri = forum.fill(&pattern);
            let before = forum.footprint();
            let mut visitor = who.clone();
            let status = forum.post(&mut visitor, csrf, &uri).await;
            assert!(!status.is_server_error(), "POST {uri} as {role}: {status}");
            assert_eq!(
                forum.footprint(),
                before,
                "POST {uri} as {role} ({status}) wrote into the private list"
            );
            writes += 1;
        }
    }
    assert!(writes >= 120, "{writes} writes walked");

    // The roster's member and a moderator: offered the list, and the same form announces.
    for (role, mut who, csrf) in [
        ("the roster's member", member, member_csrf),
        ("a moderator", moderator, moderator_csrf),
    ] {
        let list = site.get(&mut who, "/l/closed").await;
        assert_eq!(list.status, StatusCode::OK, "{role} reads the list");
        let form = site.get(&mut who, "/events/new").await;
        assert!(
            form.body.contains("value=\"closed\""),
            "{role} is not offered the list"
        );
        let events = |f: &[(&str, i64)]| f.iter().find(|(t, _)| *t == "events").unwrap().1;
        let before = events(&forum.footprint());
        let status = forum.post(&mut who, &csrf, "/events/new").await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{role} announces");
        assert_eq!(events(&forum.footprint()), before + 1, "{role} announces");
        let status = forum
            .post(&mut who, &csrf, &format!("/t/{}/reply", forum.thread))
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{role} replies");
    }
}

/// Item 10 of the side doors: nothing that depends on who asks is marked for a shared cache.
/// Every route, pointed at the private list, answers with `Vary: Cookie`; every answer to a
/// signed-in member (the roster's, who sees the private events and attachment) is `private`
/// or `no-store`, never `public`; an answer that sets a cookie is `no-store`.
#[tokio::test]
async fn side_door_10_answers_for_someone_are_not_shared() {
    let forum = write_forum();
    let site = &forum.site;
    let (member, _) = forum.cara().await;
    let mut walked = 0;
    for (role, who) in [
        ("the roster's member", member.clone()),
        ("a reader not signed in", common::app::Visitor::default()),
    ] {
        let signed_in = !who.cookies.is_empty();
        for pattern in declared_routes() {
            let uri = forum.fill(&pattern);
            let answer = site.get(&mut who.clone(), &uri).await;
            let header = |name: header::HeaderName| -> String {
                answer
                    .headers
                    .get_all(name)
                    .iter()
                    .map(|v| v.to_str().unwrap().to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let (cache, vary) = (header(header::CACHE_CONTROL), header(header::VARY));
            assert!(
                vary.contains("cookie"),
                "GET {uri} as {role} ({}): Vary {vary:?}",
                answer.status
            );
            if signed_in {
                assert!(
                    (cache.contains("private") || cache.contains("no-store"))
                        && !cache.contains("public"),
                    "GET {uri} as {role} ({}): Cache-Control {cache:?}",
                    answer.status
                );
            }
            if answer.headers.contains_key(header::SET_COOKIE) {
                assert_eq!(cache, "no-store", "GET {uri} as {role} sets a cookie");
            }
            walked += 1;
        }
    }
    assert!(walked >= 120, "{walked} answers walked");
    // The two the probe found: the calendar feed with the private event, and the attachment.
    let mut cara = member;
    let feed = site.get(&mut cara, "/events.ics").await;
    assert!(
        feed.body.contains("Kestrel ward study day"),
        "{}",
        feed.body
    );
    let attachment = site
        .get(&mut cara, &format!("/att/{}/kestrel-rota.txt", forum.sha))
        .await;
    assert_eq!(attachment.status, StatusCode::OK);
    for answer in [&feed, &attachment] {
        let cache = answer.headers[header::CACHE_CONTROL].to_str().unwrap();
        assert!(cache.starts_with("private"), "{cache}");
    }
}

/// Item 11 of the side doors: an attachment keeps its own policy (a sandbox, nothing loaded),
/// which the site-wide one does not replace; pages keep the site-wide one.
#[tokio::test]
async fn side_door_11_attachments_keep_their_sandbox() {
    let forum = write_forum();
    let site = &forum.site;
    let (mut cara, _) = forum.cara().await;
    let attachment = site
        .get(&mut cara, &format!("/att/{}/kestrel-rota.txt", forum.sha))
        .await;
    assert_eq!(attachment.status, StatusCode::OK);
    common::assert_says(&attachment.body, &["Quillfeather"]);
    let csp: Vec<_> = attachment
        .headers
        .get_all(header::CONTENT_SECURITY_POLICY)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(csp, ["default-src 'none'; sandbox"]);
    let page = site.get(&mut cara, "/l/closed").await;
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("sandbox"),
        "{csp}"
    );
}
