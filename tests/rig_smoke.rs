#![cfg(feature = "rig")]
//! The mail rig itself works: mail sent over SMTP reaches the list's mailbox over IMAP, over
//! implicit TLS and over STARTTLS, and a wrong password is refused promptly.
//! Needs `scripts/mailrig start DIR` and `LISTBRIDGE_RIG=DIR` (scripts/test does both).

mod common;

use std::time::Duration;

use common::rig;
use lettre::AsyncTransport;
use lettre::Message;
use lettre::message::header::ContentType;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn smtp_mail_reaches_the_list_mailbox_over_imaps() {
    let rig = rig::env();
    let id = rig::unique_message_id("smoke");
    let mail = Message::builder()
        .from(rig.alice.user.parse().unwrap())
        .to(rig.list.user.parse().unwrap())
        .subject("Rig smoke test")
        .message_id(Some(id.clone()))
        .header(ContentType::TEXT_PLAIN)
        .body(String::from("Hello from the rig smoke test.\n"))
        .unwrap();
    let response = rig
        .smtp()
        .send(mail)
        .await
        .expect("Postfix accepts the mail");
    assert!(response.is_positive(), "SMTP answer: {response:?}");

    let mut session = rig.imap_login(&rig.list).await;
    session.select("INBOX").await.expect("SELECT INBOX");
    let uid = rig::wait_for_message_id(&mut session, &id, WAIT)
        .await
        .unwrap_or_else(|| panic!("{id} did not reach INBOX within {WAIT:?}"));
    let raw = rig::fetch_raw(&mut session, uid).await;
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        raw.contains(&id),
        "the fetched message is another one:\n{raw}"
    );
    assert!(raw.contains("Hello from the rig smoke test."), "{raw}");
    session.logout().await.expect("LOGOUT");
}

#[tokio::test]
async fn starttls_login_on_the_plain_port() {
    let rig = rig::env();
    let client = rig.imap_starttls().await;
    let mut session = client
        .login(&rig.alice.user, &rig.alice.password)
        .await
        .map_err(|(e, _)| e)
        .expect("login after STARTTLS");
    let mailbox = session.select("INBOX").await.expect("SELECT INBOX");
    assert!(mailbox.uid_validity.is_some(), "{mailbox:?}");
    session.logout().await.expect("LOGOUT");
}

#[tokio::test]
async fn wrong_password_is_an_authentication_error_not_a_hang() {
    let rig = rig::env();
    let client = rig.imap_tls().await;
    let result = tokio::time::timeout(WAIT, client.login(&rig.list.user, "not-the-password"))
        .await
        .expect("Dovecot answered the failed login within 10 s");
    match result {
        Ok(_) => panic!("a wrong password logged in"),
        Err((async_imap::error::Error::No(text), _)) => {
            assert!(
                text.contains("AUTHENTICATIONFAILED") || text.contains("Authentication failed"),
                "{text}"
            )
        }
        Err((e, _)) => panic!("expected a NO answer, got {e:?}"),
    }
}

#[tokio::test]
async fn deliver_seeds_a_mailbox_in_the_order_given() {
    let rig = rig::env();
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..3).map(|_| rig::unique_message_id("seed")).collect();
    for (i, id) in ids.iter().enumerate() {
        let mail = format!(
            "From: {}\r\nTo: {}\r\nSubject: seed {i}\r\nMessage-ID: {id}\r\n\r\nseed {i}\r\n",
            rig.alice.user, rig.bob.user
        );
        std::fs::write(dir.path().join(format!("{i:03}.eml")), mail).unwrap();
    }
    rig.deliver(&rig.bob.user, &[dir.path()]);

    let mut session = rig.imap_login(&rig.bob).await;
    session.select("INBOX").await.expect("SELECT INBOX");
    let mut uids = Vec::new();
    for id in &ids {
        let uid = rig::wait_for_message_id(&mut session, id, WAIT).await;
        uids.push(uid.unwrap_or_else(|| panic!("{id} was not delivered")));
    }
    assert!(
        uids.windows(2).all(|w| w[0] < w[1]),
        "UIDs out of order: {uids:?}"
    );
    session.logout().await.expect("LOGOUT");
}

#[tokio::test]
async fn a_restarted_dovecot_drops_sessions_and_keeps_the_mail_sent_meanwhile() {
    // A restart would break the other tests on the shared rig: this one has its own.
    let rig = rig::PrivateRig::start();
    let mut session = rig.imap_login(&rig.list).await;
    session.select("INBOX").await.expect("SELECT INBOX");

    let restart = {
        let rig_dir = rig.dir.clone();
        std::thread::spawn(move || {
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mailrig");
            let out = std::process::Command::new(script)
                .arg("restart-dovecot")
                .arg(rig_dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        })
    };
    // Sent while Dovecot goes down and comes back: Postfix keeps it and retries.
    let id = rig::unique_message_id("restart");
    let mail = Message::builder()
        .from(rig.bob.user.parse().unwrap())
        .to(rig.list.user.parse().unwrap())
        .subject("Sent across a restart")
        .message_id(Some(id.clone()))
        .body(String::from("still here\n"))
        .unwrap();
    rig.smtp()
        .send(mail)
        .await
        .expect("Postfix accepts the mail");
    restart.join().unwrap();

    let dropped = tokio::time::timeout(WAIT, session.noop())
        .await
        .expect("no hang on a dead session");
    assert!(dropped.is_err(), "the session survived a Dovecot restart");

    let mut session = rig.imap_login(&rig.list).await;
    session.select("INBOX").await.expect("SELECT INBOX");
    let uid = rig::wait_for_message_id(&mut session, &id, Duration::from_secs(20)).await;
    assert!(uid.is_some(), "{id} was lost across the restart");
    session.logout().await.expect("LOGOUT");
}
