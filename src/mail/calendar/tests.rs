//! Reading the calendars of Outlook, Google and Apple, hostile ones, and the bridge's own
//! calendars read back.

use super::read::seconds_of_duration;
use super::*;

const OUTLOOK_INVITATION: &[u8] = include_bytes!("../../../fixtures/events/outlook-invitation.eml");
const GOOGLE_INVITATION: &[u8] = include_bytes!("../../../fixtures/events/google-invitation.eml");
const OUTLOOK_REPLY: &[u8] = include_bytes!("../../../fixtures/events/outlook-reply.eml");
const GOOGLE_REPLY: &[u8] = include_bytes!("../../../fixtures/events/google-reply.eml");
const APPLE_DECLINE: &[u8] = include_bytes!("../../../fixtures/events/apple-decline.eml");
const OUTLOOK_CANCEL: &[u8] = include_bytes!("../../../fixtures/events/outlook-cancel.eml");

const OUTLOOK_UID: &str = "040000008200E00074C5B7101A82E00800000000D0C6A2E1B66BDB0100000000000\
                               0000010000000A3F6C1D2E94B7A4C8E2D5F9013B6A7C4";
const GOOGLE_UID: &str = "7kukuqrfedlm2f9t6vbb4q5ffq@google.com";
const STUDY_DAY_LOCATION: &str =
    "Postgraduate Centre, Lecture Theatre 2, St Elsewhere\u{2019}s Hospital";
/// 2027-03-12 09:30 and 16:30 in London, which is on GMT until 28 March.
const STUDY_DAY_START: i64 = 1_804_843_800;
const STUDY_DAY_END: i64 = 1_804_869_000;
/// 2027-06-17 13:30 and 17:00 in London on BST (UTC+1): 12:30Z and 16:00Z.
const REVIEW_START: i64 = 1_813_235_400;
const REVIEW_END: i64 = 1_813_248_000;

const BRIDGE: Organizer<'static> = Organizer {
    name: "Respiratory forum",
    address: "events@list.test",
};

/// The one calendar part of a fixture, read.
fn only_calendar(mail: &[u8]) -> Calendar {
    let parts = calendar_parts(mail);
    assert_eq!(parts.len(), 1, "{parts:?}");
    parse_calendar(&parts[0]).unwrap()
}

/// The event of a calendar with one, checking the method.
fn only_event(cal: &Calendar, method: Method) -> (&CalEvent, &[Attendee]) {
    assert_eq!(cal.method, method);
    let [(event, attendees)] = cal.events.as_slice() else {
        panic!("one event: {:?}", cal.events);
    };
    (event, attendees)
}

/// A reply's event and the one attendee who answered.
fn only_answer(cal: &Calendar) -> (&CalEvent, &Attendee) {
    let (event, attendees) = only_event(cal, Method::Reply);
    let [answerer] = attendees else {
        panic!("one attendee: {attendees:?}");
    };
    (event, answerer)
}

fn calendar(body: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{body}END:VCALENDAR\r\n")
}

fn one_event(body: &str) -> Result<Calendar, CalendarError> {
    parse_calendar(&calendar(&format!(
        "BEGIN:VEVENT\r\nUID:u1\r\n{body}END:VEVENT\r\n"
    )))
}

fn attendee(address: &str, name: Option<&str>, partstat: PartStat) -> Attendee {
    Attendee {
        address: address.into(),
        name: name.map(Into::into),
        partstat,
    }
}

// ---- the fixtures ----

#[test]
fn an_outlook_invitation_is_read_from_its_base64_part() {
    let cal = only_calendar(OUTLOOK_INVITATION);
    assert_eq!(cal.method, Method::Request);
    assert_eq!(cal.problems, Vec::<String>::new());
    assert_eq!(
        cal.events,
        vec![(
            CalEvent {
                uid: OUTLOOK_UID.into(),
                sequence: 0,
                summary: "Regional asthma study day".into(),
                description: "Dear colleagues,\n\nPlease join us for the regional asthma study \
                                  day. The morning covers the new BTS/SIGN/NICE guideline and \
                                  biologics referral; the afternoon is case-based, in small \
                                  groups.\n\nLunch is provided. Please accept or decline so that \
                                  we can plan numbers.\n\nAsha\n"
                    .into(),
                start: STUDY_DAY_START,
                end: STUDY_DAY_END,
                time_zone: "Europe/London".into(),
                all_day: false,
                location: Some(STUDY_DAY_LOCATION.into()),
                url: None,
                organizer: Some("asha.patel@nhs.test".into()),
                cancelled: false,
            },
            vec![attendee(
                "forum@list.test",
                Some("forum@list.test"),
                PartStat::NeedsAction
            )],
        )]
    );
}

#[test]
fn a_google_invitation_comes_twice_and_both_copies_agree() {
    let parts = calendar_parts(GOOGLE_INVITATION);
    assert_eq!(parts.len(), 2, "the inline part and invite.ics");
    let inline = parse_calendar(&parts[0]).unwrap();
    let attached = parse_calendar(&parts[1]).unwrap();
    assert_eq!(inline, attached);

    assert_eq!(inline.method, Method::Request);
    assert_eq!(inline.problems, Vec::<String>::new());
    let [(event, attendees)] = inline.events.as_slice() else {
        panic!("one event: {:?}", inline.events);
    };
    assert_eq!(event.uid, GOOGLE_UID);
    assert_eq!(event.summary, "Paediatric wheeze case review");
    assert_eq!((event.start, event.end), (REVIEW_START, REVIEW_END));
    assert_eq!(event.time_zone, "Europe/London");
    assert_eq!(
        event.location.as_deref(),
        Some("Seminar Room 3, Children's Outpatients, Royal Infirmary")
    );
    assert_eq!(event.organizer.as_deref(), Some("ben.okafor@nhs.test"));
    assert_eq!(event.sequence, 0);
    assert!(!event.cancelled);
    // folded over several lines, one fold right before a space
    assert!(
        event.description.starts_with(
            "Monthly case review for the paediatric respiratory network. Bring one anonymised \
                 case of preschool wheeze where the diagnosis or the treatment step was not \
                 clear; we will take four cases, twenty minutes each, then agree the points"
        ),
        "{:?}",
        event.description
    );
    assert!(
        event
            .description
            .contains("\n\nDial-in details follow nearer the day.\n")
    );
    assert_eq!(
        attendees,
        &[
            attendee(
                "ben.okafor@nhs.test",
                Some("Ben Okafor"),
                PartStat::Accepted
            ),
            attendee(
                "forum@list.test",
                Some("forum@list.test"),
                PartStat::NeedsAction
            ),
            attendee(
                "dan.jones@nhs.test",
                Some("Dan Jones"),
                PartStat::NeedsAction
            ),
            attendee(
                "elodie.martin@nhs.test",
                Some("Elodie Martin"),
                PartStat::Tentative
            ),
        ]
    );
}

#[test]
fn an_outlook_reply_accepts_the_outlook_invitation() {
    let cal = only_calendar(OUTLOOK_REPLY);
    let event = carol_answers_the_study_day(&cal, PartStat::Accepted);
    assert_eq!(event.summary, "Accepted: Regional asthma study day");
}

/// Carol's answer to Asha's Outlook invitation, whichever program wrote it.
fn carol_answers_the_study_day(cal: &Calendar, partstat: PartStat) -> &CalEvent {
    let (event, answerer) = only_answer(cal);
    assert_eq!(event.uid, OUTLOOK_UID);
    assert_eq!((event.start, event.end), (STUDY_DAY_START, STUDY_DAY_END));
    assert_eq!(event.organizer.as_deref(), Some("asha.patel@nhs.test"));
    let carol = attendee("carol.singh@nhs.test", Some("Carol Singh"), partstat);
    assert_eq!(answerer, &carol);
    event
}

#[test]
fn a_google_reply_accepts_the_google_invitation_in_utc() {
    let parts = calendar_parts(GOOGLE_REPLY);
    assert_eq!(parts.len(), 2);
    let cal = parse_calendar(&parts[0]).unwrap();
    assert_eq!(cal, parse_calendar(&parts[1]).unwrap());
    let (event, answerer) = only_answer(&cal);
    assert_eq!(event.uid, GOOGLE_UID);
    assert_eq!((event.start, event.end), (REVIEW_START, REVIEW_END));
    assert_eq!(event.time_zone, "UTC");
    let dan = attendee("dan.jones@nhs.test", Some("Dan Jones"), PartStat::Accepted);
    assert_eq!(answerer, &dan);
}

#[test]
fn an_apple_decline_is_read_from_a_quoted_printable_attachment() {
    let cal = only_calendar(APPLE_DECLINE);
    let event = carol_answers_the_study_day(&cal, PartStat::Declined);
    assert_eq!(event.time_zone, "Europe/London");
    // =E2=80=99 in the mail, a right single quote once decoded as UTF-8
    assert_eq!(event.location.as_deref(), Some(STUDY_DAY_LOCATION));
}

#[test]
fn an_outlook_cancellation_cancels_the_invitation() {
    let cal = only_calendar(OUTLOOK_CANCEL);
    let (event, _) = only_event(&cal, Method::Cancel);
    assert_eq!(event.uid, OUTLOOK_UID);
    assert_eq!(event.sequence, 1);
    assert!(event.cancelled);
    assert_eq!(event.summary, "Canceled: Regional asthma study day");
    assert_eq!((event.start, event.end), (STUDY_DAY_START, STUDY_DAY_END));
}

// ---- finding the parts ----

#[test]
fn mail_without_a_calendar_has_no_parts() {
    let plain = b"From: a@nhs.test\r\nSubject: Spacers\r\n\r\nWhich spacer do you use?\r\n";
    assert!(calendar_parts(plain).is_empty());
    // past the quick check ("topics"), but still no calendar part
    let topics = b"From: a@nhs.test\r\nSubject: Topics\r\nContent-Type: text/plain\r\n\r\n\
                       Topics for the next meeting.\r\n";
    assert!(calendar_parts(topics).is_empty());
    assert!(calendar_parts(b"").is_empty());
}

#[test]
fn a_mail_that_is_only_a_calendar_is_one_part() {
    let mail = format!(
        "From: a@nhs.test\r\nSubject: x\r\n\
             Content-Type: text/calendar; method=PUBLISH\r\n\r\n{}",
        calendar("BEGIN:VEVENT\r\nUID:solo\r\nDTSTART:20270101T100000Z\r\nEND:VEVENT\r\n")
    );
    let parts = calendar_parts(mail.as_bytes());
    assert_eq!(parts.len(), 1);
    assert_eq!(parse_calendar(&parts[0]).unwrap().events[0].0.uid, "solo");
}

#[test]
fn an_ics_attachment_of_another_type_in_latin1_is_decoded() {
    let mail = "From: a@nhs.test\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
                    Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
                    Content-Type: text/plain\r\n\r\nSee the attachment.\r\n--b\r\n\
                    Content-Type: application/octet-stream; charset=iso-8859-1\r\n\
                    Content-Disposition: attachment; filename=\"Clinic.ICS\"\r\n\
                    Content-Transfer-Encoding: base64\r\n\r\n\
                    QkVHSU46VkVWRU5UDQpVSUQ6bDENCkRUU1RBUlQ6MjAyNzAxMDFUMTAwMDAwWg0KU1VN\r\n\
                    TUFSWTpDYWbpDQpFTkQ6VkVWRU5UDQo=\r\n--b--\r\n";
    let parts = calendar_parts(mail.as_bytes());
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!(
        parse_calendar(&parts[0]).unwrap().events[0].0.summary,
        "Café"
    );
}

#[test]
fn a_forwarded_message_keeps_its_invitation() {
    let inner = String::from_utf8_lossy(OUTLOOK_INVITATION);
    let mail = format!(
        "From: b@nhs.test\r\nSubject: Fwd: study day\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n\
             Content-Type: text/plain\r\n\r\nFYI\r\n--outer\r\n\
             Content-Type: message/rfc822\r\n\r\n{inner}\r\n--outer--\r\n"
    );
    assert!(calendar_parts(mail.as_bytes()).is_empty());
}

// ---- reading times ----

#[test]
fn outlook_zone_names_quoted_or_not_and_mozilla_prefixes_resolve() {
    for tzid in [
        "TZID=\"GMT Standard Time\"",
        "TZID=GMT Standard Time",
        "TZID=Europe/London",
        "TZID=/mozilla.org/20070129_1/Europe/London",
    ] {
        let cal = one_event(&format!("DTSTART;{tzid}:20270312T093000\r\n")).unwrap();
        let event = &cal.events[0].0;
        assert_eq!(event.start, STUDY_DAY_START, "{tzid}");
        assert_eq!(event.time_zone, "Europe/London", "{tzid}");
    }
    let berlin = one_event("DTSTART;TZID=W. Europe Standard Time:20270617T100000\r\n").unwrap();
    assert_eq!(berlin.events[0].0.start, REVIEW_START - 4 * 3600 - 1800); // 08:00Z
    assert_eq!(berlin.events[0].0.time_zone, "Europe/Berlin");
}

#[test]
fn an_unknown_zone_is_read_as_utc_with_a_problem() {
    let cal = one_event("DTSTART;TZID=Foo:20270312T093000\r\nDTEND;TZID=Foo:20270312T163000\r\n")
        .unwrap();
    let event = &cal.events[0].0;
    assert_eq!((event.start, event.end), (STUDY_DAY_START, STUDY_DAY_END));
    assert_eq!(event.time_zone, "UTC");
    assert_eq!(
        cal.problems,
        ["time zone \"Foo\" is not known; the times are read as UTC"]
    );
}

#[test]
fn a_floating_time_is_read_as_utc_with_a_problem() {
    let cal = one_event("DTSTART:20270312T093000\r\nDURATION:PT7H\r\n").unwrap();
    let event = &cal.events[0].0;
    assert_eq!((event.start, event.end), (STUDY_DAY_START, STUDY_DAY_END));
    assert_eq!(event.time_zone, "UTC");
    assert_eq!(cal.problems.len(), 1);
    assert!(cal.problems[0].contains("floating"), "{:?}", cal.problems);
}

#[test]
fn a_customised_outlook_zone_is_converted_by_its_own_rules() {
    let zone = "BEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\n\
                    BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\n\
                    TZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\n\
                    END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\n\
                    TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n\
                    RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\n\
                    END:VTIMEZONE\r\n";
    let cal = parse_calendar(&calendar(&format!(
        "{zone}BEGIN:VEVENT\r\nUID:c\r\n\
             DTSTART;TZID=\"Customized Time Zone\":20270617T103000\r\n\
             DTEND;TZID=\"Customized Time Zone\":20271215T100000\r\nEND:VEVENT\r\n"
    )))
    .unwrap();
    let event = &cal.events[0].0;
    assert_eq!(event.start, REVIEW_START - 4 * 3600, "summer: UTC+2"); // 08:30Z
    assert_eq!(
        event.end - event.start,
        (181 * 86_400) - 1800 + 3600,
        "winter: UTC+1, 17 Jun 10:30 to 15 Dec 10:00"
    );
    assert_eq!(event.time_zone, "UTC");
    assert!(cal.problems[0].contains("VTIMEZONE"), "{:?}", cal.problems);
}

#[test]
fn a_vtimezone_naming_its_iana_zone_is_that_zone() {
    let cal = parse_calendar(&calendar(
        "BEGIN:VTIMEZONE\r\nTZID:Lisbon and London\r\nX-LIC-LOCATION:Europe/London\r\n\
             END:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:x\r\n\
             DTSTART;TZID=Lisbon and London:20270617T133000\r\nEND:VEVENT\r\n",
    ))
    .unwrap();
    assert_eq!(cal.events[0].0.start, REVIEW_START);
    assert_eq!(cal.events[0].0.time_zone, "Europe/London");
}

#[test]
fn clock_changes_take_the_earlier_time_or_move_past_the_gap() {
    // 28 March 2027: London's clocks go from 01:00 GMT to 02:00 BST; 01:30 never happens.
    let gap = one_event("DTSTART;TZID=Europe/London:20270328T013000\r\n").unwrap();
    assert_eq!(
        gap.events[0].0.start,
        1_806_195_600 + 1800,
        "02:30 BST = 01:30Z"
    );
    // 31 October 2027: 01:30 happens twice, first in BST (00:30Z).
    let twice = one_event("DTSTART;TZID=Europe/London:20271031T013000\r\n").unwrap();
    assert_eq!(twice.events[0].0.start, 1_824_944_400 - 1800);
}

#[test]
fn whole_days_are_midnight_utc_and_last_a_day_by_default() {
    let cal = one_event("DTSTART;VALUE=DATE:20270312\r\n").unwrap();
    let event = &cal.events[0].0;
    assert!(event.all_day);
    assert_eq!(event.start, 1_804_809_600);
    assert_eq!(event.end, 1_804_809_600 + 86_400);
    assert_eq!(event.time_zone, "UTC");
    assert!(cal.problems[0].contains("a day"), "{:?}", cal.problems);

    let two = one_event("DTSTART;VALUE=DATE:20270312\r\nDTEND;VALUE=DATE:20270314\r\n").unwrap();
    assert_eq!(two.events[0].0.end - two.events[0].0.start, 2 * 86_400);
    assert!(two.problems.is_empty());
}

#[test]
fn a_missing_end_is_an_hour_later_and_a_duration_is_added() {
    let cal = one_event("DTSTART:20270312T093000Z\r\n").unwrap();
    assert_eq!(cal.events[0].0.end, STUDY_DAY_START + 3600);
    assert!(cal.problems[0].contains("an hour"), "{:?}", cal.problems);

    let cal = one_event("DTSTART:20270312T093000Z\r\nDURATION:P1DT2H30M\r\n").unwrap();
    assert_eq!(cal.events[0].0.end, STUDY_DAY_START + 86_400 + 9_000);
    assert!(cal.problems.is_empty());

    // an end before the start is no end
    let cal = one_event("DTSTART:20270312T093000Z\r\nDTEND:20270312T083000Z\r\n").unwrap();
    assert_eq!(cal.events[0].0.end, STUDY_DAY_START + 3600);
    assert_eq!(cal.problems.len(), 1);
}

#[test]
fn durations_are_read_to_the_second() {
    assert_eq!(seconds_of_duration("PT1H30M"), Some(5_400));
    assert_eq!(seconds_of_duration("P2W"), Some(1_209_600));
    assert_eq!(seconds_of_duration("-P0DT0H30M0S"), Some(-1_800));
    assert_eq!(seconds_of_duration("P1D"), Some(86_400));
    for bad in [
        "",
        "P",
        "PT",
        "1H",
        "PT1",
        "P1H",
        "PT1D",
        "P99999999999999999999D",
        "PT1HX",
    ] {
        assert_eq!(seconds_of_duration(bad), None, "{bad:?}");
    }
}

// ---- reading properties ----

#[test]
fn properties_and_values_are_read_whatever_their_case() {
    let cal = parse_calendar(
        "begin:vcalendar\r\nmethod:request\r\nbegin:vevent\r\nuid:lower\r\n\
             dtstart:20270312t093000z\r\nsummary:Spacers\\, masks\\; and more\r\n\
             organizer:MAILTO:Asha.Patel@NHS.test\r\nstatus:cancelled\r\n\
             attendee;partstat=declined;cn=Carol:MAILTO:Carol@NHS.test\r\n\
             end:vevent\r\nend:vcalendar\r\n",
    )
    .unwrap();
    assert_eq!(cal.method, Method::Request);
    let (event, attendees) = &cal.events[0];
    assert_eq!(event.summary, "Spacers, masks; and more");
    assert_eq!(event.start, STUDY_DAY_START);
    assert_eq!(event.organizer.as_deref(), Some("asha.patel@nhs.test"));
    assert!(event.cancelled);
    assert_eq!(
        attendees,
        &[attendee(
            "carol@nhs.test",
            Some("Carol"),
            PartStat::Declined
        )]
    );
}

#[test]
fn an_absent_or_unusual_method_is_other() {
    let none = one_event("DTSTART:20270312T093000Z\r\n").unwrap();
    assert_eq!(none.method, Method::Other(String::new()));
    let counter = parse_calendar(&calendar(
        "METHOD:Counter\r\nBEGIN:VEVENT\r\nUID:c\r\nDTSTART:20270312T093000Z\r\nEND:VEVENT\r\n",
    ))
    .unwrap();
    assert_eq!(counter.method, Method::Other("COUNTER".into()));
}

#[test]
fn an_attendee_without_partstat_needs_action_and_a_link_location_stays() {
    let cal = one_event(
        "DTSTART:20270312T093000Z\r\nATTENDEE:mailto:x@nhs.test\r\n\
             ATTENDEE;EMAIL=y@nhs.test;CN=Y:\r\nLOCATION:https://meet.nhs.test/j/123\r\n\
             URL:https://list.test/events/7\r\nSEQUENCE:3\r\n",
    )
    .unwrap();
    let (event, attendees) = &cal.events[0];
    assert_eq!(
        attendees,
        &[
            attendee("x@nhs.test", None, PartStat::NeedsAction),
            attendee("y@nhs.test", Some("Y"), PartStat::NeedsAction),
        ]
    );
    assert_eq!(
        event.location.as_deref(),
        Some("https://meet.nhs.test/j/123")
    );
    assert_eq!(event.url.as_deref(), Some("https://list.test/events/7"));
    assert_eq!(event.sequence, 3);
}

// ---- what cannot be read ----

#[test]
fn what_is_not_a_calendar_says_why() {
    for bad in [
        "",
        "   \r\n",
        "hello world",
        "BEGIN:",
        "BEGIN:VCALENDAR\r\nEND:VEVENT\r\n",
    ] {
        assert!(
            matches!(parse_calendar(bad), Err(CalendarError::Syntax(_))),
            "{bad:?}: {:?}",
            parse_calendar(bad)
        );
    }
    assert_eq!(
        parse_calendar(&calendar("PRODID:x\r\n")),
        Err(CalendarError::NoEvent)
    );
    assert_eq!(
        parse_calendar(&calendar("BEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\n")),
        Err(CalendarError::NoEvent)
    );
    assert_eq!(
        parse_calendar(&calendar(
            "BEGIN:VEVENT\r\nDTSTART:20270312T093000Z\r\nEND:VEVENT\r\n"
        )),
        Err(CalendarError::Missing("UID"))
    );
    assert_eq!(
        one_event("SUMMARY:No start\r\n"),
        Err(CalendarError::Missing("start (DTSTART)"))
    );
    assert!(matches!(
        one_event("DTSTART:tomorrow\r\n"),
        Err(CalendarError::Syntax(_))
    ));
}

#[test]
fn a_bad_event_is_left_out_and_the_good_one_kept() {
    let cal = parse_calendar(&calendar(
        "BEGIN:VEVENT\r\nDTSTART:20270312T093000Z\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:good\r\nDTSTART:20270312T093000Z\r\nEND:VEVENT\r\n",
    ))
    .unwrap();
    assert_eq!(cal.events.len(), 1);
    assert_eq!(cal.events[0].0.uid, "good");
    assert!(
        cal.problems.iter().any(|p| p.contains("UID")),
        "{:?}",
        cal.problems
    );
}

#[test]
fn deep_nesting_is_refused_before_the_parser_recurses() {
    let deep = "BEGIN:X\r\n".repeat(100_000);
    assert!(matches!(
        parse_calendar(&deep),
        Err(CalendarError::Syntax(_))
    ));
}

#[test]
fn no_prefix_of_a_real_calendar_panics() {
    for mail in [OUTLOOK_INVITATION, GOOGLE_INVITATION, APPLE_DECLINE] {
        let text = &calendar_parts(mail)[0];
        let ends = text.char_indices().map(|(i, _)| i).chain([text.len()]);
        let mut read = 0;
        for end in ends {
            if parse_calendar(&text[..end]).is_ok() {
                read += 1;
            }
        }
        // only the whole calendar (and it with its last line ending cut) is complete
        assert!((1..=3).contains(&read), "{read} prefixes read");
    }
}

#[test]
fn hostile_lines_do_not_panic() {
    for body in [
        "DTSTART;TZID=:20270312T093000\r\n",
        "DTSTART;TZID=\"\":20270312T093000\r\n",
        "DTSTART;TZID=/:20270312T093000\r\n",
        "DTSTART;VALUE=DATE:2027\u{e9}312\r\n",
        "DTSTART:20271312T093000Z\r\n",
        "DTSTART:20270312T250000Z\r\n",
        "DTSTART:2027031\u{e9}T093000Z\r\n",
        "DTSTART:20270312T093000Z\r\nDURATION:P9999999999999W\r\n",
        "DTSTART:99991231T235959Z\r\nDURATION:P9999W\r\n",
        "DTSTART:20270312T093000Z\r\nSEQUENCE:-1\r\n",
        "DTSTART:20270312T093000Z\r\nATTENDEE;CN=\"unterminated:mailto:a@b\r\n",
        "DTSTART:20270312T093000Z\r\nORGANIZER:mailto\u{e9}:x\r\n",
        "DTSTART:20270312T093000Z\r\n@@@\r\n;;;\r\n:::\r\n",
        "DTSTART:20270312T093000Z\r\nDESCRIPTION:trailing backslash\\\r\n",
    ] {
        let _ = one_event(body);
    }
    let zones = [
        "BEGIN:VTIMEZONE\r\nTZID:Z1\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\n\
             TZOFFSETTO:+9999\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
        "BEGIN:VTIMEZONE\r\nTZID:Z1\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\n\
             TZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=13;BYDAY=-9SU\r\nEND:STANDARD\r\n\
             END:VTIMEZONE\r\n",
        "BEGIN:VTIMEZONE\r\nTZID:Z1\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\n\
             TZOFFSETTO:-0100\r\nRRULE:FREQ=YEARLY;BYMONTH=2;BYDAY=5SU;UNTIL=1\r\nEND:STANDARD\r\n\
             END:VTIMEZONE\r\n",
    ];
    for zone in zones {
        let text = calendar(&format!(
            "{zone}BEGIN:VEVENT\r\nUID:z\r\nDTSTART;TZID=Z1:20270312T093000\r\nEND:VEVENT\r\n"
        ));
        let cal = parse_calendar(&text).unwrap();
        assert!(!cal.problems.is_empty(), "{zone}");
    }
}

// ---- writing ----

fn study_day() -> CalEvent {
    CalEvent {
        uid: "evt-42@list.test".into(),
        sequence: 2,
        summary: "Regional asthma study day, part 2; the Café session".into(),
        description: "Bring a case.\nLunch is provided, and there is parking; \
                          ask at the desk (\\ not /).\n\n"
            .repeat(4),
        start: STUDY_DAY_START,
        end: STUDY_DAY_END,
        time_zone: "UTC".into(),
        all_day: false,
        location: Some(STUDY_DAY_LOCATION.into()),
        url: Some("https://list.test/events/42".into()),
        organizer: Some(BRIDGE.address.into()),
        cancelled: false,
    }
}

/// CRLF only, and no line over 75 octets.
fn assert_well_formed(text: &str) {
    assert!(text.ends_with("\r\n"));
    assert!(
        !text.replace("\r\n", "").contains(['\r', '\n']),
        "bare CR or LF"
    );
    for line in text.split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
}

#[test]
fn an_invitation_written_reads_back_the_same() {
    let event = study_day();
    let member = attendee(
        "carol.singh@nhs.test",
        Some("Singh, Carol"),
        PartStat::NeedsAction,
    );
    let text = write_event(
        &Method::Request,
        &event,
        BRIDGE,
        Some(&member),
        1_804_843_800,
    );
    assert_well_formed(&text);
    let unfolded = icalendar::parser::unfold(&text);
    for line in [
        "BEGIN:VCALENDAR\r\nPRODID:-//listbridge//events//EN\r\nVERSION:2.0\r\n\
             CALSCALE:GREGORIAN\r\nMETHOD:REQUEST\r\n",
        "\r\nDTSTAMP:20270312T093000Z\r\n",
        "\r\nDTSTART:20270312T093000Z\r\n",
        "\r\nDTEND:20270312T163000Z\r\n",
        "\r\nSEQUENCE:2\r\n",
        "\r\nSTATUS:CONFIRMED\r\n",
        "\r\nORGANIZER;CN=Respiratory forum:mailto:events@list.test\r\n",
        "\r\nATTENDEE;CN=\"Singh, Carol\";PARTSTAT=NEEDS-ACTION;RSVP=TRUE:\
             mailto:carol.singh@nhs.test\r\n",
    ] {
        assert!(unfolded.contains(line), "{line:?} not in\n{text}");
    }
    assert!(!text.contains("VTIMEZONE"));
    assert!(text.matches("DESCRIPTION").count() == 1);

    let cal = parse_calendar(&text).unwrap();
    assert_eq!(cal.method, Method::Request);
    assert_eq!(cal.problems, Vec::<String>::new());
    assert_eq!(cal.events, vec![(event, vec![member])]);
}

#[test]
fn every_length_of_line_is_folded_within_75_octets() {
    // "SUMMARY:" and 142 more octets is 150: the crate alone leaves a last line of 76.
    for length in 60..400 {
        for fill in ["x", "é", "€ ", " "] {
            let summary: String = fill.repeat(length).chars().take(length).collect();
            let event = CalEvent {
                summary: summary.trim().to_owned(),
                ..study_day()
            };
            let text = write_event(&Method::Request, &event, BRIDGE, None, 0);
            assert_well_formed(&text);
            assert_eq!(parse_calendar(&text).unwrap().events[0].0, event);
        }
    }
}

#[test]
fn a_cancellation_written_reads_back_cancelled() {
    let event = CalEvent {
        sequence: 3,
        ..study_day()
    };
    let member = attendee("dan.jones@nhs.test", None, PartStat::Accepted);
    let text = write_event(&Method::Cancel, &event, BRIDGE, Some(&member), 0);
    assert_well_formed(&text);
    assert!(text.contains("\r\nMETHOD:CANCEL\r\n"));
    assert!(text.contains("\r\nSTATUS:CANCELLED\r\n"));
    assert!(
        text.contains("\r\nATTENDEE;PARTSTAT=ACCEPTED;RSVP=FALSE:mailto:dan.jones@nhs.test\r\n")
    );
    let cal = parse_calendar(&text).unwrap();
    assert_eq!(cal.method, Method::Cancel);
    assert_eq!(
        cal.events,
        vec![(
            CalEvent {
                cancelled: true,
                ..event
            },
            vec![member]
        )]
    );
}

#[test]
fn a_whole_day_is_written_as_dates() {
    let event = CalEvent {
        all_day: true,
        start: 1_804_809_600,
        end: 1_804_809_600 + 2 * 86_400,
        description: String::new(),
        location: None,
        url: None,
        ..study_day()
    };
    let text = write_event(&Method::Publish, &event, BRIDGE, None, 0);
    assert!(
        text.contains("\r\nDTSTART;VALUE=DATE:20270312\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nDTEND;VALUE=DATE:20270314\r\n"), "{text}");
    assert!(!text.contains("DESCRIPTION") && !text.contains("LOCATION"));
    assert!(!text.contains("ATTENDEE"));
    let cal = parse_calendar(&text).unwrap();
    assert_eq!(cal.events, vec![(event.clone(), vec![])]);

    // DTEND must come after DTSTART: an end within the first day is the day after
    let short = CalEvent {
        end: event.start + 3600,
        ..event
    };
    let text = write_event(&Method::Publish, &short, BRIDGE, None, 0);
    assert!(text.contains("\r\nDTEND;VALUE=DATE:20270313\r\n"), "{text}");
}

#[test]
fn text_that_could_break_a_line_is_escaped_or_dropped() {
    let event = CalEvent {
        uid: "a\r\nb".into(),
        summary: "one\r\ntwo\u{7}".into(),
        url: Some("https://x.test/a b\r\nX-EVIL:1".into()),
        ..study_day()
    };
    let organizer = Organizer {
        name: "Quote \" and\nnewline",
        address: "events@list.test\r\nX-EVIL:1",
    };
    let text = write_event(
        &Method::Other("X-CUSTOM\r\nBAD".into()),
        &event,
        organizer,
        None,
        0,
    );
    assert_well_formed(&text);
    assert!(!text.contains("\r\nX-EVIL"), "{text}");
    assert!(text.contains("\r\nMETHOD:X-CUSTOMBAD\r\n"));
    let cal = parse_calendar(&text).unwrap();
    let read = &cal.events[0].0;
    assert_eq!(read.summary, "one\ntwo");
    assert_eq!(read.uid, "a b");
    assert_eq!(read.url.as_deref(), Some("https://x.test/a%20bX-EVIL:1"));
}

#[test]
fn a_feed_holds_every_event_and_refreshes_hourly() {
    let first = study_day();
    let second = CalEvent {
        uid: "evt-43@list.test".into(),
        sequence: 0,
        summary: "Inhaler technique clinic".into(),
        start: REVIEW_START,
        end: REVIEW_END,
        cancelled: true,
        ..study_day()
    };
    let text = write_feed(
        "Respiratory forum, events",
        &[first.clone(), second.clone()],
        BRIDGE,
        REVIEW_START,
    );
    assert_well_formed(&text);
    for line in [
        "\r\nMETHOD:PUBLISH\r\n",
        "\r\nNAME:Respiratory forum\\, events\r\n",
        "\r\nX-WR-CALNAME:Respiratory forum\\, events\r\n",
        "\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n",
        "\r\nX-PUBLISHED-TTL:PT1H\r\n",
        "\r\nDTSTAMP:20270617T123000Z\r\n",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
    assert!(!text.contains("ATTENDEE"));
    assert_eq!(text.matches("BEGIN:VEVENT").count(), 2);
    let cal = parse_calendar(&text).unwrap();
    assert_eq!(cal.method, Method::Publish);
    assert_eq!(cal.events, vec![(first, vec![]), (second, vec![])]);
}
