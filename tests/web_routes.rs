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
    let run = store.begin_run("test", 0).unwrap();
    let writer = store.writer(run).unwrap();
    writer
        .create_event(
            &listbridge::store::NewEvent {
                uid: "event-1@test".to_owned(),
                sequence: 0,
                message_id: first[0].message_id.clone(),
                list,
                title: "Asthma study day".to_owned(),
                description: "Talks and **workshops**.".to_owned(),
                starts_at: 4_000_000_000,
                ends_at: 4_000_003_600,
                time_zone: "Europe/London".to_owned(),
                all_day: false,
                place: Some("Leeds".to_owned()),
                online_url: None,
                capacity: Some(40),
                deadline: None,
                payment_url: None,
                organiser: None,
                organiser_email: None,
                source: "web",
                tickets: Vec::new(),
                interests: Vec::new(),
            },
            0,
        )
        .unwrap();
    writer.commit().unwrap();
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
