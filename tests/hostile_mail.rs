//! Mail built to blow up time or memory: MIME nested thousands deep, forwarded messages inside
//! forwarded messages, a header line of megabytes and a hundred thousand header lines, quoting
//! thousands of levels deep, a body of one enormous line. Each goes through the whole path
//! (raw store, parse, thread, render, index, the thread page and search) and must come out
//! stored byte for byte, shown, and searchable, without a crash.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use listbridge::config::Config;
use listbridge::store::{DeriveSettings, Store};
use listbridge::web::{AppState, router};
use tower::ServiceExt;

fn headers(id: &str, subject: &str) -> String {
    format!(
        "From: Mallory <mallory@example.org>\r\nTo: snug@lists.example.org\r\n\
         Subject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n"
    )
}

/// A mail with the usual headers, then `rest` (more headers and the body), under its id.
fn mail_of(id: &'static str, subject: &str, rest: &[&str]) -> (&'static str, Vec<u8>) {
    (id, (headers(id, subject) + &rest.concat()).into_bytes())
}

/// Every hostile mail, with a word its shown text must still carry.
fn hostile() -> Vec<(&'static str, Vec<u8>)> {
    let mut mails = Vec::new();

    // multipart inside multipart, 5,000 deep.
    let depth = 5_000;
    let mut mail = headers("deep-mime@x", "Deep MIME");
    mail.push_str("Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
    for level in 0..depth {
        mail.push_str(&format!(
            "--b{level}\r\nContent-Type: multipart/mixed; boundary=\"b{}\"\r\n\r\n",
            level + 1
        ));
    }
    mail.push_str(&format!(
        "--b{depth}\r\nContent-Type: text/plain\r\n\r\nfloorword at the bottom\r\n"
    ));
    for level in (0..=depth).rev() {
        mail.push_str(&format!("--b{level}--\r\n"));
    }
    mails.push(("deep-mime@x", mail.into_bytes()));

    // A forwarded message inside a forwarded message, 2,000 deep.
    let mut inner =
        String::from("From: a@example.org\r\nSubject: innermost\r\n\r\nthe last one\r\n");
    for _ in 0..2_000 {
        inner = format!(
            "From: b@example.org\r\nSubject: fwd\r\nContent-Type: message/rfc822\r\n\r\n{inner}"
        );
    }
    // (What lies deeper than the forwards the page shows is cut off; the top is shown.)
    let mail = format!(
        "{}Content-Type: multipart/mixed; boundary=\"top\"\r\n\r\n--top\r\n\
         Content-Type: text/plain\r\n\r\nfloorword above the forwards\r\n--top\r\n\
         Content-Type: message/rfc822\r\n\r\n{inner}\r\n--top--\r\n",
        headers("deep-rfc822@x", "Deep forwards")
    );
    mails.push(("deep-rfc822@x", mail.into_bytes()));

    // A 4 MB subject line, and 100,000 header lines.
    let mut mail = headers(
        "huge-header@x",
        &format!("floorword {}", "A".repeat(4 << 20)),
    );
    for n in 0..100_000 {
        mail.push_str(&format!("X-Junk-{n}: {}\r\n", "j".repeat(20)));
    }
    mail.push_str("Content-Type: text/plain\r\n\r\nfloorword after the headers\r\n");
    mails.push(("huge-header@x", mail.into_bytes()));

    // Quoting 20,000 levels deep, then 50,000 lines of changing depth.
    let changing: String = (0..50_000)
        .map(|n| format!("{} q\r\n", ">".repeat(n % 97)))
        .collect();
    mails.push(mail_of(
        "deep-quote@x",
        "Deep quoting",
        &[
            "Content-Type: text/plain\r\n\r\nfloorword on top\r\n",
            &">".repeat(20_000),
            " bottom\r\n",
            &changing,
        ],
    ));

    // HTML nested 100,000 elements deep.
    mails.push(mail_of(
        "deep-html@x",
        "Deep HTML",
        &[
            "Content-Type: text/html; charset=utf-8\r\n\r\n<p>floorword</p>",
            &"<div><blockquote>".repeat(50_000),
            "bottom",
            &"</blockquote></div>".repeat(50_000),
            "\r\n",
        ],
    ));

    // One line of 8 MB, with a word at its start.
    mails.push(mail_of(
        "long-line@x",
        "Long line",
        &[
            "Content-Type: text/plain\r\n\r\nfloorword ",
            &"x".repeat(8 << 20),
            "\r\n",
        ],
    ));

    mails
}

#[tokio::test]
async fn mail_built_to_exhaust_the_bridge_is_stored_shown_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let config = Config::parse(
        "[web]\nhide_addresses = false\n[[lists]]\nname = \"snug\"\n\
         [attachments]\nmax_size_mb = 25\n",
    )
    .unwrap();
    let mails = hostile();
    let files: Vec<std::path::PathBuf> = mails
        .iter()
        .enumerate()
        .map(|(n, (_, bytes))| {
            let path = dir.path().join(format!("hostile-{n}.eml"));
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect();
    let mut store = Store::open(&db, DeriveSettings::default()).unwrap();
    let started = std::time::Instant::now();
    let summary = listbridge::archive::pipeline::import(
        &mut store,
        &files,
        "snug",
        &config.render_options("snug"),
        0,
    )
    .unwrap();
    println!("imported in {:?}: {summary:?}", started.elapsed());
    assert_eq!(summary.imported, mails.len() as u64, "{summary:?}");

    let app = router(AppState::new(
        config,
        db.clone(),
        DeriveSettings::default(),
        Default::default(),
    ));
    for (id, bytes) in &mails {
        // Stored byte for byte.
        let (raw, _) = store.message_raw(id).unwrap().expect(id);
        assert!(raw == *bytes, "{id} was not stored as it came");
        // Shown.
        let (thread, _) = store.locate(id).unwrap().expect(id);
        let started = std::time::Instant::now();
        let response = app
            .clone()
            .oneshot(
                Request::get(format!("/t/{}", thread.0))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let page = response.into_body().collect().await.unwrap().to_bytes();
        println!(
            "{id}: page of {} bytes in {:?}",
            page.len(),
            started.elapsed()
        );
        assert_eq!(status, StatusCode::OK, "{id}");
        // What is shown grows with what came, no faster (a header is not repeated megabytes over).
        assert!(
            page.len() < 64 * 1024 + 6 * bytes.len(),
            "{id}: a page of {} bytes for a mail of {}",
            page.len(),
            bytes.len()
        );
        if *id == "huge-header@x" {
            assert!(page.len() < 64 * 1024, "{id}: {} bytes", page.len());
        }
        assert!(
            String::from_utf8_lossy(&page).contains("floorword"),
            "{id}: the page does not show the mail's text"
        );
    }
    // Found.
    let response = app
        .clone()
        .oneshot(
            Request::get("/api/search?q=floorword")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let found: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(found["total"], mails.len(), "{found}");
}
