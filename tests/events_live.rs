//! Events through the real servers of scripts/mailrig: invitations written the way Outlook and
//! Google Calendar write them, mailed through Postfix, become events; a member's calendar
//! REPLY (accept, then an Apple Calendar decline) takes and gives up their place, and the
//! confirmation and cancellation mails that reach their Dovecot mailbox carry an `.ics` that
//! Python's `icalendar` package reads and round-trips with the event's own UID; 200 members
//! registering at once for 100 places get exactly 100 places and 100 waiting-list positions.
#![cfg(feature = "rig")]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::forum::{Forum, PATIENCE, store};
use common::rig;
use common::web::{Web, hidden};
use listbridge::store::{EventId, Place, UserId};

fn fixture(name: &str) -> Vec<u8> {
    let path = common::fixtures_dir().join("events").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixture's UID, read from the file itself (so the test follows the fixture).
fn uid_of(raw: &[u8]) -> String {
    let parts = listbridge::mail::calendar::calendar_parts(raw);
    let cal = listbridge::mail::calendar::parse_calendar(&parts[0]).unwrap();
    cal.events[0].0.uid.clone()
}

/// A fixture written for other people, sent as Bob: his address and name put in.
fn as_bob(raw: &[u8], address: &str, name: &str) -> Vec<u8> {
    String::from_utf8_lossy(raw)
        .replace(address, "bob@lists.test")
        .replace(name, "Bob Baker")
        .into_bytes()
}

fn event_by_uid(db: &std::path::Path, uid: &str) -> Option<EventId> {
    store(db)
        .events(true, 0, None, 100)
        .unwrap()
        .into_iter()
        .find(|e| e.details.uid == uid)
        .map(|e| e.id)
}

/// A forum in mirror mode with Bob Baker (bob@lists.test) imported from the old list's
/// roster: the forum and his account.
fn mirror_with_bob() -> (Forum, UserId) {
    let forum = Forum::start("mirror");
    forum.import_roster("Bob Baker <bob@lists.test>\n");
    let bob = store(&forum.db)
        .user_by_email("bob@lists.test")
        .unwrap()
        .expect("Bob is a member");
    (forum, bob)
}

/// Mails each invitation (fixture, sender) to the list and waits until every one is an event:
/// their UIDs and events, in order.
async fn invitations_become_events<const N: usize>(
    forum: &Forum,
    what: &str,
    invitations: [(&str, &str); N],
) -> [(String, EventId); N] {
    let list = &forum.rig.list.user;
    let mut uids = Vec::new();
    for (name, sender) in invitations {
        let raw = fixture(name);
        uids.push(uid_of(&raw));
        forum.rig.send_raw(sender, &[list], &raw).await;
    }
    let mut found = Vec::new();
    forum.daemon.wait_until(PATIENCE, what, || {
        found = uids
            .iter()
            .map_while(|uid| event_by_uid(&forum.db, uid))
            .collect();
        found.len() == N
    });
    let events: Vec<(String, EventId)> = uids.into_iter().zip(found).collect();
    events.try_into().unwrap()
}

/// Bob mails the bridge a calendar answer (a fixture written as Carol Singh's) and it gives him
/// `place` in `event`: the mail, and what Python reads in the `.ics` of the mail then among
/// his first `count` whose subject starts with `subject`.
async fn bob_answers(
    forum: &Forum,
    (name, what): (&str, &str),
    (event, bob, place): (EventId, UserId, Place),
    (count, subject): (usize, &str),
) -> (Vec<u8>, serde_json::Value) {
    let rig = &forum.rig;
    let answer = as_bob(&fixture(name), "carol.singh@nhs.test", "Carol Singh");
    rig.send_raw("bob@lists.test", &[&rig.forum_address()], &answer)
        .await;
    let db = forum.db.clone();
    forum.daemon.wait_until(PATIENCE, what, || {
        store(&db).place(event, bob).unwrap() == Some(place)
    });
    let told = forum
        .mail_among(&rig.bob, count, subject, |m| {
            rig::header(m, "Subject").is_some_and(|s| s.starts_with(subject))
        })
        .await;
    (answer, python_reads(&invite(&told)))
}

/// Checks an `.ics` with Python's icalendar package: what it read, as JSON, after checking that
/// writing it out and reading it again gives the same calendar.
fn python_reads(ics: &str) -> serde_json::Value {
    let script = r#"
import json, sys
try:
    import icalendar
except ImportError:
    sys.exit("Python's icalendar package is missing: pip install icalendar (scripts/test does)")
text = sys.stdin.buffer.read()
cal = icalendar.Calendar.from_ical(text)
again = icalendar.Calendar.from_ical(cal.to_ical())
assert again.to_ical() == cal.to_ical(), "the calendar does not round-trip"
events = [c for c in cal.walk("VEVENT")]
assert len(events) == 1, f"{len(events)} events"
e = events[0]
att = e.get("ATTENDEE")
print(json.dumps({
    "method": str(cal.get("METHOD")),
    "uid": str(e.get("UID")),
    "sequence": int(e.get("SEQUENCE", 0)),
    "summary": str(e.get("SUMMARY")),
    "start": e.decoded("DTSTART").isoformat(),
    "end": e.decoded("DTEND").isoformat(),
    "status": str(e.get("STATUS")),
    "organizer": str(e.get("ORGANIZER")),
    "attendee": str(att) if att is not None else None,
    "partstat": str(att.params.get("PARTSTAT")) if att is not None else None,
}))
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed to check the .ics files");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Python's icalendar could not read the .ics: {}\n{ics}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `invite.ics` attachment of a mail.
fn invite(raw: &[u8]) -> String {
    let parts = listbridge::mail::calendar::calendar_parts(raw);
    assert!(
        !parts.is_empty(),
        "no calendar in the mail:\n{}",
        String::from_utf8_lossy(raw)
    );
    parts.last().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn calendar_invitations_and_replies_by_mail_register_members() {
    let (forum, bob) = mirror_with_bob();
    let rig = &forum.rig;

    // Outlook's and Google's invitations, mailed to the list, become events.
    let [(outlook_uid, outlook_event), (google_uid, google_event)] = invitations_become_events(
        &forum,
        "both invitations become events",
        [
            ("outlook-invitation.eml", "asha.patel@nhs.test"),
            ("google-invitation.eml", "ben.okafor@nhs.test"),
        ],
    )
    .await;
    assert!(
        outlook_uid.starts_with("040000008200E00074C5B7101A82E008"),
        "Outlook's UID form"
    );
    let event = store(&forum.db).event(outlook_event).unwrap().unwrap();
    assert_eq!(event.details.title, "Regional asthma study day");
    assert_eq!(event.details.time_zone, "Europe/London");
    // 09:30 GMT on 12 March 2027 (winter: GMT is UTC).
    assert_eq!(event.details.starts_at, 1_804_843_800);
    assert_eq!(event.source, "mail");
    let thread = event
        .thread
        .expect("the invitation is archived as the event's thread");
    // Google's twin parts (alternative and invite.ics) made one event, not two.
    assert_eq!(
        store(&forum.db)
            .events(true, 0, None, 100)
            .unwrap()
            .iter()
            .filter(|e| e.details.uid == google_uid)
            .count(),
        1
    );
    let google_shown = store(&forum.db).event(google_event).unwrap().unwrap();
    assert!(google_shown.thread.is_some());

    // The web shows it as an event, tied to its thread, and in the feed.
    let mut web = Web::new(&forum.base);
    let page = web.get(&format!("/events/{}", outlook_event.0)).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Regional asthma study day"),
        "{}",
        page.body
    );
    assert!(page.body.contains("09:30–16:30 (GMT)"), "{}", page.body);
    assert!(page.body.contains(&format!("href=\"/t/{}\"", thread.0)));
    let thread_page = web.get(&format!("/t/{}", thread.0)).await;
    assert!(
        thread_page
            .body
            .contains(&format!("/events/{}", outlook_event.0)),
        "the thread links its event"
    );
    let feed = web.get("/events.ics").await;
    assert_eq!(feed.status, 200);
    // (Folded lines: compare without the fold breaks.)
    let unfolded = feed.body.replace("\r\n ", "");
    assert!(unfolded.contains(&outlook_uid) && unfolded.contains(&google_uid));

    // Bob accepts from Outlook: he has a place, and his confirmation reaches his mailbox
    // with the event for his calendar under its own UID.
    let (accept, read) = bob_answers(
        &forum,
        (
            "outlook-reply.eml",
            "Bob's calendar answer gives him a place",
        ),
        (outlook_event, bob, Place::Confirmed),
        (1, "Registered:"),
    )
    .await;
    let accept_id = rig::header(&accept, "Message-ID").unwrap();
    assert_eq!(read["method"], "REQUEST");
    assert_eq!(read["uid"], outlook_uid.as_str());
    assert_eq!(read["start"], "2027-03-12T09:30:00+00:00");
    assert_eq!(read["end"], "2027-03-12T16:30:00+00:00");
    assert_eq!(read["partstat"], "ACCEPTED");
    assert_eq!(read["attendee"], "mailto:bob@lists.test");
    assert_eq!(read["organizer"], format!("mailto:{}", rig.forum_address()));
    let first_sequence = read["sequence"].as_i64().unwrap();
    // The answer is not a post: not in the archive, but in the inbound log.
    assert!(
        store(&forum.db)
            .locate(&common::forum::bare(&accept_id))
            .unwrap()
            .is_none(),
        "a calendar answer is not published"
    );
    let log = store(&forum.db).inbound_log(50).unwrap();
    assert!(
        log.iter()
            .any(|e| e.reason.contains("calendar reply") && e.reason.contains("place confirmed")),
        "{log:?}"
    );

    // Bob declines from Apple Calendar: his place goes, and the cancellation takes the
    // same UID out of his calendar with a higher SEQUENCE.
    let (_, read) = bob_answers(
        &forum,
        ("apple-decline.eml", "Bob's decline gives up his place"),
        (outlook_event, bob, Place::Cancelled),
        (2, "Cancelled:"),
    )
    .await;
    assert_eq!(read["method"], "CANCEL");
    assert_eq!(read["uid"], outlook_uid.as_str());
    assert_eq!(read["status"], "CANCELLED");
    assert!(read["sequence"].as_i64().unwrap() > first_sequence);
    // The event's own file parses too.
    let ics = web
        .get(&format!("/events/{}/event.ics", outlook_event.0))
        .await;
    assert_eq!(python_reads(&ics.body)["uid"], outlook_uid.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_members_registering_at_once_fill_exactly_one_hundred_places() {
    let forum = Forum::start("mirror");
    let rig = &forum.rig;
    // Two hundred members whose mail Postfix takes and discards.
    let lines: String = (0..200)
        .map(|n| format!("Member {n} <{}>\n", rig.member_address(n)))
        .collect();
    forum.import_roster(&lines);

    // The organiser announces it on the web.
    let mut alice = forum.sign_in_alice().await;
    let form = alice.get("/events/new").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = hidden(&form.body, "csrf");
    let created = alice
        .post(
            "/events/new",
            &[
                ("csrf", &csrf),
                ("list", "snug"),
                ("title", "Annual conference 2027"),
                ("description", "Two days of talks and workshops."),
                ("starts", "2027-06-10T09:00"),
                ("ends", "2027-06-11T17:00"),
                ("time_zone", "Europe/London"),
                ("place", "Harrogate Convention Centre"),
                ("capacity", "100"),
                ("tickets", "Member | £120\nNon-member | £180"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let path = created.location.unwrap();
    let event = EventId(path.trim_start_matches("/events/").parse().unwrap());
    let ticket = store(&forum.db).event(event).unwrap().unwrap().tickets[0]
        .id
        .0
        .to_string();

    // Each member signed in (a session made in the store, as signing in would).
    let now = chrono::Utc::now().timestamp();
    let mut clients = Vec::new();
    {
        let s = store(&forum.db);
        for n in 0..200 {
            let user: UserId = s.user_by_email(&rig.member_address(n)).unwrap().unwrap();
            let token = listbridge::tokens::new_token();
            let csrf = listbridge::tokens::new_token();
            s.create_session(&listbridge::tokens::hash(&token), user, &csrf, now)
                .unwrap();
            let mut web = Web::new(&forum.base);
            web.set_cookie("lb_session", &token);
            clients.push((user, web, csrf));
        }
    }
    // A forged form takes no place.
    {
        let (user, web, _) = &mut clients[0];
        let forged = web
            .post(
                &format!("{path}/register"),
                &[("csrf", "forged"), ("ticket", &ticket)],
            )
            .await;
        assert_eq!(forged.status, 403);
        assert_eq!(store(&forum.db).place(event, *user).unwrap(), None);
    }
    let started = std::time::Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(user, mut web, csrf)| {
            let (path, ticket) = (format!("{path}/register"), ticket.clone());
            tokio::spawn(async move {
                let answer = web
                    .post(&path, &[("csrf", &csrf), ("ticket", &ticket)])
                    .await;
                (user, answer.status, answer.body)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let took = started.elapsed();
    let failed: Vec<_> = answers.iter().filter(|(_, s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} registrations failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    let places: Vec<Place> = {
        let s = store(&forum.db);
        answers
            .iter()
            .map(|(u, _, _)| s.place(event, *u).unwrap().expect("registered"))
            .collect()
    };
    let confirmed = places.iter().filter(|p| **p == Place::Confirmed).count();
    let mut waiting: Vec<u32> = places
        .iter()
        .filter_map(|p| match p {
            Place::Waiting(n) => Some(*n),
            _ => None,
        })
        .collect();
    waiting.sort_unstable();
    assert_eq!(confirmed, 100);
    assert_eq!(waiting, (1..=100).collect::<Vec<u32>>());
    // What each member was told matches what they got.
    let told_place = answers
        .iter()
        .filter(|(_, _, body)| body.contains("You have a place."))
        .count();
    assert_eq!(told_place, 100);
    let shown = store(&forum.db).event(event).unwrap().unwrap();
    assert_eq!((shown.confirmed, shown.waiting), (100, 100));
    eprintln!("200 concurrent registrations took {took:?}");

    // The organiser's export lists all two hundred, in order.
    let csv = alice.get(&format!("{path}/attendees.csv")).await;
    assert_eq!(csv.status, 200);
    let rows: Vec<&str> = csv.body.lines().collect();
    assert_eq!(rows.len(), 201, "a header and 200 rows");
    assert_eq!(
        rows.iter().filter(|r| r.contains(",confirmed,")).count(),
        100
    );
    assert_eq!(rows.iter().filter(|r| r.contains(",waiting,")).count(), 100);
    assert!(
        rows[1..].iter().all(|r| r.contains(",Member,")),
        "{}",
        rows[1]
    );
    // A member cannot see the attendee list.
    let mut someone = Web::new(&forum.base);
    assert_eq!(
        someone.get(&format!("{path}/attendees.csv")).await.status,
        303
    );

    // Ten more places: the first ten on the waiting list move up, in order.
    let attendees = alice.get(&format!("{path}/attendees")).await;
    let csrf = hidden(&attendees.body, "csrf");
    let first_ten: Vec<UserId> = {
        let s = store(&forum.db);
        answers
            .iter()
            .map(|(u, _, _)| *u)
            .filter(|u| matches!(s.place(event, *u).unwrap(), Some(Place::Waiting(n)) if n <= 10))
            .collect()
    };
    assert_eq!(first_ten.len(), 10);
    let saved = alice
        .post(
            &format!("{path}/settings"),
            &[
                ("csrf", &csrf),
                ("capacity", "110"),
                ("deadline", ""),
                ("payment_url", ""),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let s = store(&forum.db);
    assert!(
        first_ten
            .iter()
            .all(|u| s.place(event, *u).unwrap() == Some(Place::Confirmed))
    );
    let shown = s.event(event).unwrap().unwrap();
    assert_eq!((shown.confirmed, shown.waiting), (110, 90));

    // Every confirmation and waiting-list mail is queued: 200 mails to members.
    let c = store(&forum.db).outbox_counts().unwrap();
    assert!(
        c.queued + c.sending + c.sent + c.failed + c.paused >= 200,
        "{c:?}"
    );
}

/// Mirror mode: a member's Outlook answer to an invitation sent to the list reaches the bridge
/// through the list, which (as lists do for DMARC) rewrote its From to the list's own address:
/// the answer's ATTENDEE line names the member, so it counts; an answer from someone with no
/// account here is logged and never answered to the list itself.
#[tokio::test(flavor = "multi_thread")]
async fn calendar_answers_that_come_through_the_list_are_counted() {
    let (forum, bob) = mirror_with_bob();
    let rig = &forum.rig;
    let list = rig.list.user.clone();
    let [(_, event)] = invitations_become_events(
        &forum,
        "the invitation becomes an event",
        [("outlook-invitation.eml", "asha.patel@nhs.test")],
    )
    .await;

    // Outlook's REPLY with the answerer's own ATTENDEE line, as the list distributes it.
    let reply = |who: &str, name: &str, id: &str| {
        let ics = listbridge::mail::calendar::calendar_parts(&fixture("outlook-reply.eml"))[0]
            .replace("carol.singh@nhs.test", who)
            .replace("Carol Singh", name);
        format!(
            "From: \"{name} via SNUG\" <{list}>\r\nReply-To: {name} <{who}>\r\n\
             To: {list}\r\nList-Id: SNUG <snug.lists.test>\r\n\
             Subject: [SNUG] Accepted: Regional asthma study day\r\n\
             Date: Tue, 2 Mar 2027 14:03:12 +0000\r\nMessage-ID: <{id}@outlook.test>\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: text/calendar; charset=\"utf-8\"; method=REPLY\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{ics}"
        )
        .into_bytes()
    };
    rig.send_raw(
        &list,
        &[&list],
        &reply("bob@lists.test", "Bob Baker", "bob-accepts"),
    )
    .await;
    let db = forum.db.clone();
    forum.daemon.wait_until(
        PATIENCE,
        "Bob's answer through the list gives him a place",
        || store(&db).place(event, bob).unwrap() == Some(Place::Confirmed),
    );
    assert!(
        store(&forum.db)
            .locate("bob-accepts@outlook.test")
            .unwrap()
            .is_none(),
        "a calendar answer is not published"
    );

    // Someone with no account here: logged, not published, and the list is not answered.
    rig.send_raw(
        &list,
        &[&list],
        &reply("dan.jones@nhs.test", "Dan Jones", "dan-accepts"),
    )
    .await;
    let mut dan = None;
    forum
        .daemon
        .wait_until(PATIENCE, "Dan's answer is in the inbound log", || {
            dan = store(&db).inbound_log(50).unwrap().into_iter().find(|e| {
                e.subject.as_deref().is_some_and(|s| s.contains("Accepted"))
                    && e.action == "refused"
            });
            dan.is_some()
        });
    assert!(
        store(&forum.db)
            .locate("dan-accepts@outlook.test")
            .unwrap()
            .is_none()
    );
    assert!(
        !dan.unwrap().explained,
        "the refusal was mailed to the list itself"
    );

    // A stranger's mail (From is not the list's own address) whose ATTENDEE line names
    // Bob, declining: anyone can write that line, so Bob keeps his place.
    let forged = String::from_utf8(reply("bob@lists.test", "Bob Baker", "forged-decline"))
        .unwrap()
        .replacen(
            &format!("From: \"Bob Baker via SNUG\" <{list}>"),
            "From: Mallory <mallory@evil.test>",
            1,
        )
        .replace("PARTSTAT=ACCEPTED", "PARTSTAT=DECLINED")
        .replace("Subject: [SNUG] Accepted:", "Subject: [SNUG] Declined:");
    assert!(
        forged.contains("PARTSTAT=DECLINED") && forged.contains("mallory@evil.test"),
        "the forged answer declines in Bob's name"
    );
    rig.send_raw("mallory@evil.test", &[&list], forged.as_bytes())
        .await;
    forum.wait_for_inbound("the forged answer is in the inbound log", 50, |e| {
        e.subject.as_deref().is_some_and(|s| s.contains("Declined")) && e.action == "refused"
    });
    assert_eq!(
        store(&forum.db).place(event, bob).unwrap(),
        Some(Place::Confirmed),
        "a stranger's forged calendar answer gave up Bob's place"
    );
}
