//! Writing: the calendars the bridge sends (an event with METHOD REQUEST or CANCEL, a
//! member's own copy) and the subscribable feed, in UTC, escaped and folded so that no text
//! from a member can break a line.

use chrono::DateTime;
use icalendar::Component as _;

use super::{Attendee, CalEvent, Method, Organizer, PartStat};

/// A calendar with one event, as the bridge sends it: METHOD `method`, ORGANIZER the bridge,
/// and, for a member's own copy, that member as ATTENDEE with their state. `stamp` is the
/// DTSTAMP (unix seconds).
pub fn write_event(
    method: &Method,
    event: &CalEvent,
    organizer: Organizer<'_>,
    attendee: Option<&Attendee>,
    stamp: i64,
) -> String {
    let mut calendar = calendar_head(method);
    let cancelled = event.cancelled || *method == Method::Cancel;
    let mut vevent = vevent(event, organizer, stamp, cancelled);
    if let Some(attendee) = attendee {
        vevent.append_multi_property(attendee_line(attendee));
    }
    calendar.push(vevent);
    refold(&calendar.to_string())
}

/// A subscribable feed (METHOD:PUBLISH) of events, named for calendar apps.
pub fn write_feed(name: &str, events: &[CalEvent], organizer: Organizer<'_>, stamp: i64) -> String {
    let mut calendar = calendar_head(&Method::Publish);
    let name = one_line(&clean_text(name));
    // The crate escapes X- properties as TEXT but writes NAME (RFC 7986) as it is given.
    calendar.append_property(icalendar::Property::new("NAME", escape_text(&name)));
    calendar.append_property(icalendar::Property::new("X-WR-CALNAME", name));
    calendar.append_property(
        icalendar::Property::new("REFRESH-INTERVAL", "PT1H")
            .add_parameter("VALUE", "DURATION")
            .done(),
    );
    calendar.append_property(icalendar::Property::new("X-PUBLISHED-TTL", "PT1H"));
    for event in events {
        calendar.push(vevent(event, organizer, stamp, event.cancelled));
    }
    refold(&calendar.to_string())
}

const PRODID: &str = "-//listbridge//events//EN";

fn calendar_head(method: &Method) -> icalendar::Calendar {
    let mut calendar = icalendar::Calendar::empty();
    calendar.append_property(icalendar::Property::new("PRODID", PRODID));
    calendar.append_property(icalendar::Property::new("VERSION", "2.0"));
    calendar.append_property(icalendar::Property::new("CALSCALE", "GREGORIAN"));
    let method = match method {
        Method::Request => "REQUEST".to_owned(),
        Method::Publish => "PUBLISH".to_owned(),
        Method::Reply => "REPLY".to_owned(),
        Method::Cancel => "CANCEL".to_owned(),
        // an iTIP method is a token; anything else would break the line
        Method::Other(other) => other
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect(),
    };
    if !method.is_empty() {
        calendar.append_property(icalendar::Property::new("METHOD", method));
    }
    calendar
}

/// A VEVENT with times in UTC: every client reads them, and no VTIMEZONE is needed.
fn vevent(
    event: &CalEvent,
    organizer: Organizer<'_>,
    stamp: i64,
    cancelled: bool,
) -> icalendar::Event {
    let mut vevent = icalendar::Event::new();
    // DTSTAMP and UID are set, so the crate adds neither a clock reading nor a random UID.
    vevent.add_property("UID", one_line(&clean_text(&event.uid)));
    vevent.add_property("SEQUENCE", event.sequence.to_string());
    vevent.add_property("DTSTAMP", utc_text(stamp));
    if event.all_day {
        // DTEND is exclusive and must be later (RFC 5545 §3.6.1): the end's day rounded up,
        // and at least the day after the start.
        let end = event
            .end
            .max(event.start.saturating_add(1))
            .saturating_add(86_399);
        for (key, at) in [("DTSTART", event.start), ("DTEND", end)] {
            vevent.append_property(
                icalendar::Property::new(key, date_text(at))
                    .add_parameter("VALUE", "DATE")
                    .done(),
            );
        }
    } else {
        vevent.add_property("DTSTART", utc_text(event.start));
        vevent.add_property("DTEND", utc_text(event.end));
    }
    vevent.add_property("SUMMARY", clean_text(&event.summary));
    if !event.description.is_empty() {
        vevent.add_property("DESCRIPTION", clean_text(&event.description));
    }
    if let Some(location) = event.location.as_deref().filter(|l| !l.is_empty()) {
        vevent.add_property("LOCATION", clean_text(location));
    }
    if let Some(url) = event
        .url
        .as_deref()
        .map(clean_uri)
        .filter(|u| !u.is_empty())
    {
        vevent.add_property("URL", url);
    }
    let mut organizer_line = icalendar::Property::new(
        "ORGANIZER",
        format!("mailto:{}", clean_uri(organizer.address)),
    );
    let name = clean_param(organizer.name);
    if !name.is_empty() {
        organizer_line.add_parameter("CN", &name);
    }
    vevent.append_property(organizer_line);
    vevent.add_property("STATUS", if cancelled { "CANCELLED" } else { "CONFIRMED" });
    vevent
}

fn attendee_line(attendee: &Attendee) -> icalendar::Property {
    let mut line = icalendar::Property::new(
        "ATTENDEE",
        format!("mailto:{}", clean_uri(&attendee.address)),
    );
    if let Some(name) = attendee
        .name
        .as_deref()
        .map(clean_param)
        .filter(|n| !n.is_empty())
    {
        line.add_parameter("CN", &name);
    }
    let (partstat, rsvp) = match attendee.partstat {
        PartStat::Accepted => ("ACCEPTED", "FALSE"),
        PartStat::Declined => ("DECLINED", "FALSE"),
        PartStat::Tentative => ("TENTATIVE", "FALSE"),
        PartStat::NeedsAction => ("NEEDS-ACTION", "TRUE"),
    };
    line.add_parameter("PARTSTAT", partstat);
    line.add_parameter("RSVP", rsvp);
    line
}

/// Folds every line at 75 octets (RFC 5545 §3.1). The crate folds too, but its last piece
/// can come out at 76 (icalendar 0.17.17's `fold_line` stops at 75 bytes left, forgetting
/// the leading space), so its output is unfolded and folded again here. Nothing we write
/// holds a raw line break, so unfolding undoes only the crate's folds.
fn refold(written: &str) -> String {
    let unfolded = icalendar::parser::unfold(written);
    let mut out = String::with_capacity(unfolded.len() + unfolded.len() / 25);
    for line in unfolded.split_terminator("\r\n") {
        let mut rest = line;
        let mut room = 75;
        while rest.len() > room {
            let mut cut = room;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            // Lax readers drop all the whitespace that opens a continuation: start none with it.
            let opens_with_space = rest
                .get(cut..)
                .is_some_and(|tail| tail.starts_with([' ', '\t']));
            let char_before = rest.get(..cut).and_then(|head| head.char_indices().last());
            if let Some((before, _)) =
                char_before.filter(|&(before, _)| opens_with_space && before > 0)
            {
                cut = before;
            }
            let Some((head, tail)) = rest.split_at_checked(cut) else {
                break;
            };
            out.push_str(head);
            out.push_str("\r\n ");
            rest = tail;
            room = 74;
        }
        out.push_str(rest);
        out.push_str("\r\n");
    }
    out
}

/// Years 0001 to 9999: what a four-digit iCalendar year can say.
fn utc_of(unix: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp(unix.clamp(-62_135_596_800, 253_402_300_799), 0).unwrap_or_default()
}

fn utc_text(unix: i64) -> String {
    utc_of(unix).format("%Y%m%dT%H%M%SZ").to_string()
}

fn date_text(unix: i64) -> String {
    utc_of(unix).format("%Y%m%d").to_string()
}

/// TEXT for the crate to escape: CRLF as LF, no other control characters (a raw CR would
/// survive its escaping and break the line).
fn clean_text(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect()
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\t'], " ")
}

/// A parameter value may not hold a DQUOTE (RFC 5545 §3.1); the crate quotes `:;,` itself.
fn clean_param(s: &str) -> String {
    s.chars()
        .filter(|&c| c != '"')
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// URI values are not escaped by the crate, so nothing may end the line early.
fn clean_uri(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if c.is_whitespace() {
                "%20".to_owned()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// For the one TEXT property the crate writes raw (NAME).
fn escape_text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace(';', "\\;")
        .replace('\n', "\\n")
}
