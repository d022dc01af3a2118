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
