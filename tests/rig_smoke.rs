#![cfg(feature = "rig")]
//! The mail rig itself works: mail sent over SMTP reaches the list's mailbox over IMAP, over
//! implicit TLS and over STARTTLS, and a wrong password is refused promptly; the bridge's own
//! addresses reach the list's mailbox with their recipient in Delivered-To, mail for the
//! members' domain is thrown away, and Postfix stops and starts alone without losing mail.
//! Needs `scripts/mailrig start DIR` and `LISTBRIDGE_RIG=DIR` (scripts/test does both).

mod common;

use std::time::Duration;

use common::rig;
use lettre::AsyncTransport;
use lettre::message::header::ContentType;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn smtp_mail_reaches_the_list_mailbox_over_imaps() {
    let rig = rig::env();
    let id = rig::unique_message_id("smoke");
    let mail = rig::message(&rig.alice.user, &rig.list.user, "Rig smoke test", &id)
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
        let rig: rig::Rig = (*rig).clone();
        std::thread::spawn(move || rig.restart_dovecot())
    };
    // Sent while Dovecot goes down and comes back: Postfix keeps it and retries.
    let id = rig::unique_message_id("restart");
    let mail = rig::message(&rig.bob.user, &rig.list.user, "Sent across a restart", &id)
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

/// A plain message with this Message-ID, To: header and subject.
fn raw_message(from: &str, to: &str, subject: &str, message_id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\
         Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n{subject}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn the_bridges_addresses_reach_the_list_inbox_with_the_recipient_in_delivered_to() {
    let rig = rig::env();
    let addresses = [
        rig.reply_address("k123"),
        rig.bounce_address("alice=example.org"),
        rig.forum_address(),
    ];
    let mut sent = Vec::new();
    for address in &addresses {
        let id = rig::unique_message_id("bridge-address");
        let raw = raw_message(&rig.alice.user, address, "To a bridge address", &id);
        rig.send_raw(&rig.alice.user, &[address], &raw).await;
        sent.push((address, id));
    }

    let mut session = rig.imap_login(&rig.list).await;
    session.select("INBOX").await.expect("SELECT INBOX");
    for (address, id) in &sent {
        let uid = rig::wait_for_message_id(&mut session, id, WAIT)
            .await
            .unwrap_or_else(|| panic!("mail to {address} did not reach the list's INBOX"));
        let raw = rig::fetch_raw(&mut session, uid).await;
        assert_eq!(
            rig::header(&raw, "Delivered-To").as_deref(),
            Some(address.as_str()),
            "{}",
            String::from_utf8_lossy(&raw)
        );
        assert_eq!(rig::header(&raw, "To").as_deref(), Some(address.as_str()));
    }
    session.logout().await.expect("LOGOUT");
}

#[tokio::test]
async fn one_message_to_two_reply_addresses_is_two_copies_each_with_its_recipient() {
    let rig = rig::env();
    let (a, b) = (rig.reply_address("two-a"), rig.reply_address("two-b"));
    let id = rig::unique_message_id("two-replies");
    let raw = raw_message(&rig.bob.user, &format!("{a}, {b}"), "Two reply keys", &id);
    rig.send_raw(&rig.bob.user, &[&a, &b], &raw).await;

    let mut session = rig.imap_login(&rig.list).await;
    session.select("INBOX").await.expect("SELECT INBOX");
    let deadline = std::time::Instant::now() + WAIT;
    let uids = loop {
        session.noop().await.expect("NOOP");
        let uids = session
            .uid_search(format!("HEADER Message-ID \"{id}\""))
            .await
            .expect("UID SEARCH");
        if uids.len() >= 2 || std::time::Instant::now() >= deadline {
            break uids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(uids.len(), 2, "copies of {id}: {uids:?}");
    let mut recipients = Vec::new();
    for uid in uids {
        let raw = rig::fetch_raw(&mut session, uid).await;
        recipients.push(rig::header(&raw, "Delivered-To").unwrap_or_default());
    }
    recipients.sort();
    assert_eq!(recipients, [a, b]);
    session.logout().await.expect("LOGOUT");
}

#[tokio::test]
async fn mail_to_the_members_domain_is_accepted_and_delivered_nowhere() {
    let rig = rig::env();
    let member = rig.member_address(42);
    assert_eq!(member, "m0042@members.test");
    let id = rig::unique_message_id("member");
    let raw = raw_message(&rig.forum_address(), &member, "To a member", &id);
    let response = rig.send_raw(&rig.forum_address(), &[&member], &raw).await;

    // Done with it for good once Postfix logs its outcome: then nothing holds it any more.
    let queue_id = rig::queue_id(&response);
    let outcome = rig.wait_for_postfix_outcome(&queue_id, &member, WAIT).await;
    assert!(
        outcome.contains("postfix/discard") && outcome.contains("status=sent"),
        "{outcome}"
    );
    let files = rig.delivered_files_containing(&id);
    assert!(files.is_empty(), "{id} was delivered: {files:?}");
}

#[tokio::test]
async fn a_stopped_postfix_refuses_connections_and_a_started_one_delivers() {
    // Stopping Postfix would break the other tests on the shared rig: this one has its own.
    let rig = rig::PrivateRig::start();
    rig.stop_postfix();
    let refused = std::net::TcpStream::connect((rig.smtp_host.as_str(), rig.smtp_port))
        .expect_err("the SMTP port of a stopped Postfix accepts connections");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    // Queued while Postfix is down: delivered once it is back.
    let queued = rig::unique_message_id("queued");
    let raw = raw_message(&rig.alice.user, &rig.bob.user, "Queued meanwhile", &queued);
    rig.enqueue(&rig.alice.user, &rig.bob.user, &raw);

    rig.start_postfix();
    let id = rig::unique_message_id("restarted");
    let raw = raw_message(&rig.bob.user, &rig.alice.user, "After the start", &id);
    rig.send_raw(&rig.bob.user, &[&rig.alice.user], &raw).await;

    for (account, id) in [(&rig.alice, &id), (&rig.bob, &queued)] {
        let mut session = rig.imap_login(account).await;
        session.select("INBOX").await.expect("SELECT INBOX");
        let uid = rig::wait_for_message_id(&mut session, id, WAIT).await;
        assert!(uid.is_some(), "{id} did not reach {}", account.user);
        session.logout().await.expect("LOGOUT");
    }
    // A private rig starts empty: exactly the one message each.
    assert_eq!(rig.wait_for_inbox_count(&rig.alice, 1, WAIT).await, 1);
    let bobs = rig.fetch_inbox(&rig.bob).await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(
        rig::header(&bobs[0], "Message-ID").as_deref(),
        Some(queued.as_str())
    );
}
