//! Reading: the calendar parts of a mail, and iCalendar text into plain facts (events, their
//! attendees and times, and what was worked around). Hostile input gives an error or a
//! problem noted, never a panic.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use icalendar::parser::{Component as Node, Property as Line};
use mail_parser::{MessagePart, MimeHeaders, PartType};

use super::zones::{Resolved, resolve, unix_of_local};
use super::{Attendee, CalEvent, Calendar, CalendarError, Method, PartStat};

/// The decoded text of every calendar part of a mail (`text/calendar`, `application/ics`, or
/// an attachment named `*.ics`), in order. Cheap for mail without one.
///
/// Parts of attached messages (a forwarded invitation) are not this mail's and are left out;
/// blank parts are left out too.
pub fn calendar_parts(message: &[u8]) -> Vec<String> {
    if !mentions(message, b"calendar") && !mentions(message, b"ics") {
        return Vec::new();
    }
    match crate::mail::parse::mime(message) {
        Some(parsed) => calendar_parts_of(&parsed),
        None => Vec::new(),
    }
}

/// [`calendar_parts`] of a mail already parsed.
pub fn calendar_parts_of(message: &mail_parser::Message<'_>) -> Vec<String> {
    message
        .parts
        .iter()
        .filter(|part| is_calendar_part(part))
        .filter_map(part_text)
        .collect()
}

/// Reads one calendar part.
pub fn parse_calendar(text: &str) -> Result<Calendar, CalendarError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).trim();
    if text.is_empty() {
        return Err(CalendarError::Syntax("the calendar part is empty".into()));
    }
    let unfolded = icalendar::parser::unfold(text);
    too_deep(&unfolded)?;
    let roots = icalendar::parser::read_calendar_simple(&unfolded)
        .map_err(|e| syntax_error(&unfolded, e.input))?;

    let mut method = None;
    let mut zones = Vec::new();
    let mut vevents = Vec::new();
    for root in &roots {
        if is(root, "VCALENDAR") {
            if method.is_none() {
                method = prop(root, "METHOD").map(|p| method_of(&text_of(p)));
            }
            zones.extend(root.components.iter().filter(|c| is(c, "VTIMEZONE")));
            vevents.extend(root.components.iter().filter(|c| is(c, "VEVENT")));
        } else if is(root, "VEVENT") {
            vevents.push(root);
        } else if is(root, "VTIMEZONE") {
            zones.push(root);
        }
    }

    let mut problems = Vec::new();
    let mut events = Vec::new();
    let mut first_error = None;
    for vevent in vevents {
        match read_event(vevent, &zones, &mut problems) {
            Ok(event) => events.push(event),
            Err(e) => {
                note(&mut problems, format!("an event was left out: {e}"));
                first_error.get_or_insert(e);
            }
        }
    }
    if events.is_empty() {
        return Err(first_error.unwrap_or(CalendarError::NoEvent));
    }
    Ok(Calendar {
        method: method.unwrap_or(Method::Other(String::new())),
        events,
        problems,
    })
}

// ---- reading mail ----

fn mentions(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn is_calendar_part(part: &MessagePart<'_>) -> bool {
    let typed = part.content_type().is_some_and(|ct| {
        let sub = ct.subtype().unwrap_or_default();
        (ct.ctype().eq_ignore_ascii_case("text") && sub.eq_ignore_ascii_case("calendar"))
            || (ct.ctype().eq_ignore_ascii_case("application") && sub.eq_ignore_ascii_case("ics"))
    });
    typed
        || part
            .attachment_name()
            .is_some_and(|name| name.trim().to_ascii_lowercase().ends_with(".ics"))
}

fn part_text(part: &MessagePart<'_>) -> Option<String> {
    let text = match &part.body {
        // mail-parser has undone the transfer encoding and the charset of text/* parts.
        PartType::Text(text) => text.to_string(),
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
            let charset = part.content_type().and_then(|ct| ct.attribute("charset"));
            match charset
                .and_then(|c| mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()))
            {
                Some(decode) => decode(bytes),
                None => String::from_utf8_lossy(bytes).into_owned(),
            }
        }
        _ => return None,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    (!text.trim().is_empty()).then(|| text.to_owned())
}

// ---- reading iCalendar ----

/// Deeper nesting is no calendar (VCALENDAR > VEVENT > VALARM is 3) and would only deepen
/// the parser's recursion, which fuzzed input could take to a stack overflow.
const MAX_DEPTH: usize = 12;

fn too_deep(text: &str) -> Result<(), CalendarError> {
    let mut depth = 0usize;
    for line in text.lines() {
        let line = line.trim_start();
        if starts_with_ci(line, "BEGIN:") {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(CalendarError::Syntax("components nested too deeply".into()));
            }
        } else if starts_with_ci(line, "END:") {
            depth = depth.saturating_sub(1);
        }
    }
    Ok(())
}

fn syntax_error(text: &str, rest: &str) -> CalendarError {
    let offset = text.len().saturating_sub(rest.len());
    let line = text
        .get(..offset)
        .map_or(0, |done| done.matches('\n').count())
        + 1;
    let near = clip(rest.lines().next().unwrap_or_default());
    CalendarError::Syntax(format!("unreadable at line {line} (unfolded): {near:?}"))
}

fn read_event(
    vevent: &Node<'_>,
    zones: &[&Node<'_>],
    problems: &mut Vec<String>,
) -> Result<(CalEvent, Vec<Attendee>), CalendarError> {
    let uid = prop(vevent, "UID")
        .map(|p| text_of(p).trim().to_owned())
        .filter(|uid| !uid.is_empty())
        .ok_or(CalendarError::Missing("UID"))?;
    let sequence = match prop(vevent, "SEQUENCE") {
        None => 0,
        Some(p) => p.val.as_str().trim().parse().unwrap_or_else(|_| {
            note(
                problems,
                format!("event {}: SEQUENCE is not a number; 0 is taken", clip(&uid)),
            );
            0
        }),
    };

    let dtstart = prop(vevent, "DTSTART").ok_or(CalendarError::Missing("start (DTSTART)"))?;
    let start = moment(dtstart, zones, problems).ok_or_else(|| {
        CalendarError::Syntax(format!(
            "the start {:?} of event {} is not a date or date-time",
            clip(dtstart.val.as_str()),
            clip(&uid)
        ))
    })?;
    let (usual, usual_words) = if start.all_day {
        (86_400, "a day")
    } else {
        (3_600, "an hour")
    };
    let end = if let Some(dtend) = prop(vevent, "DTEND") {
        moment(dtend, zones, problems).map(|m| m.unix)
    } else if let Some(duration) = prop(vevent, "DURATION") {
        seconds_of_duration(duration.val.as_str()).and_then(|d| start.unix.checked_add(d))
    } else {
        None
    };
    let end = match end {
        Some(end) if end >= start.unix => end,
        _ => {
            note(
                problems,
                format!(
                    "event {} has no end after its start (DTEND, DURATION); it is taken to \
                     last {usual_words}",
                    clip(&uid)
                ),
            );
            start.unix + usual
        }
    };

    let event = CalEvent {
        sequence,
        summary: prop(vevent, "SUMMARY")
            .map(|p| text_of(p).trim().to_owned())
            .unwrap_or_default(),
        description: prop(vevent, "DESCRIPTION").map(text_of).unwrap_or_default(),
        start: start.unix,
        end,
        time_zone: start.zone,
        all_day: start.all_day,
        location: prop(vevent, "LOCATION").and_then(|p| non_empty(text_of(p).trim())),
        url: prop(vevent, "URL").and_then(|p| non_empty(p.val.as_str().trim())),
        organizer: prop(vevent, "ORGANIZER").and_then(|p| non_empty(&address_of(p.val.as_str()))),
        cancelled: prop(vevent, "STATUS")
            .is_some_and(|p| text_of(p).trim().eq_ignore_ascii_case("CANCELLED")),
        uid,
    };
    let attendees = vevent
        .properties
        .iter()
        .filter(|p| p.name.as_str().eq_ignore_ascii_case("ATTENDEE"))
        .filter_map(attendee_of)
        .collect();
    Ok((event, attendees))
}

fn attendee_of(line: &Line<'_>) -> Option<Attendee> {
    let mut address = address_of(line.val.as_str());
    if address.is_empty() {
        address = address_of(param(line, "EMAIL").unwrap_or_default());
    }
    if address.is_empty() {
        return None;
    }
    let partstat = match param(line, "PARTSTAT").map(str::trim) {
        Some(s) if s.eq_ignore_ascii_case("ACCEPTED") => PartStat::Accepted,
        Some(s) if s.eq_ignore_ascii_case("DECLINED") => PartStat::Declined,
        Some(s) if s.eq_ignore_ascii_case("TENTATIVE") => PartStat::Tentative,
        _ => PartStat::NeedsAction,
    };
    Some(Attendee {
        address,
        name: param(line, "CN").and_then(|n| non_empty(n.trim())),
        partstat,
    })
}

fn method_of(value: &str) -> Method {
    let value = value.trim().to_ascii_uppercase();
    match value.as_str() {
        "REQUEST" => Method::Request,
        "PUBLISH" => Method::Publish,
        "REPLY" => Method::Reply,
        "CANCEL" => Method::Cancel,
        _ => Method::Other(value),
    }
}

pub(super) fn is(node: &Node<'_>, name: &str) -> bool {
    node.name.as_str().eq_ignore_ascii_case(name)
}

pub(super) fn prop<'n, 'a>(node: &'n Node<'a>, name: &str) -> Option<&'n Line<'a>> {
    node.properties
        .iter()
        .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
}

fn param<'l>(line: &'l Line<'_>, key: &str) -> Option<&'l str> {
    line.params
        .iter()
        .find(|p| p.key.as_str().eq_ignore_ascii_case(key))
        .and_then(|p| p.val.as_ref())
        .map(|v| v.as_str())
}

/// A TEXT value unescaped. The crate unescapes the properties it knows, but only under their
/// upper-case names; a lower-case `summary:` comes through raw.
fn text_of(line: &Line<'_>) -> String {
    let value = line.val.as_str();
    if line.name.as_str().chars().any(char::is_lowercase) {
        unescape_text(value)
    } else {
        value.to_owned()
    }
}

fn unescape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(c @ ('\\' | ',' | ';' | ':')) => out.push(c),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// `mailto:Asha.Patel@nhs.test` → `asha.patel@nhs.test`.
fn address_of(value: &str) -> String {
    let value = value.trim();
    let value = match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("mailto:") => {
            value.get(7..).unwrap_or_default()
        }
        _ => value,
    };
    value.trim().to_lowercase()
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// At most 60 characters of input-derived text for a message.
fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Problems are for admins: each once, and not without end on hostile input.
fn note(problems: &mut Vec<String>, problem: String) {
    if problems.len() < 32 && !problems.contains(&problem) {
        problems.push(problem);
    }
}

// ---- times ----

/// A DTSTART or DTEND read.
struct Moment {
    unix: i64,
    all_day: bool,
    zone: String,
}

impl Moment {
    fn utc(naive: NaiveDateTime, all_day: bool) -> Moment {
        Moment {
            unix: naive.and_utc().timestamp(),
            all_day,
            zone: "UTC".into(),
        }
    }
}

fn moment(line: &Line<'_>, zones: &[&Node<'_>], problems: &mut Vec<String>) -> Option<Moment> {
    let value = line.val.as_str().trim();
    let is_date = param(line, "VALUE").is_some_and(|v| v.trim().eq_ignore_ascii_case("DATE"));
    if is_date || value.len() == 8 {
        let date = date_of(value.get(..8)?)?;
        return Some(Moment::utc(date.and_time(NaiveTime::MIN), true));
    }
    let (local, is_utc) = date_time_of(value)?;
    if is_utc {
        return Some(Moment::utc(local, false));
    }
    let Some(tzid) = param(line, "TZID") else {
        note(
            problems,
            format!(
                "the time {:?} has no time zone (floating time); it is read as UTC",
                clip(value)
            ),
        );
        return Some(Moment::utc(local, false));
    };
    match resolve(tzid, zones) {
        Resolved::Zone(tz) => Some(Moment {
            unix: unix_of_local(tz, local),
            all_day: false,
            zone: tz.name().to_owned(),
        }),
        Resolved::Rules(rules) => {
            note(
                problems,
                format!(
                    "time zone {:?} is not known; the times are converted by the calendar's \
                     own VTIMEZONE rules and shown in UTC",
                    clip(tzid)
                ),
            );
            let offset = i64::from(rules.offset_at(local));
            Some(Moment {
                unix: local.and_utc().timestamp() - offset,
                all_day: false,
                zone: "UTC".into(),
            })
        }
        Resolved::Unknown => {
            note(
                problems,
                format!(
                    "time zone {:?} is not known; the times are read as UTC",
                    clip(tzid)
                ),
            );
            Some(Moment::utc(local, false))
        }
    }
}

/// `20261201`.
pub(super) fn date_of(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::from_ymd_opt(
        s.get(..4)?.parse().ok()?,
        s.get(4..6)?.parse().ok()?,
        s.get(6..)?.parse().ok()?,
    )
}

/// `20261201T090000` and whether a `Z` followed.
pub(super) fn date_time_of(s: &str) -> Option<(NaiveDateTime, bool)> {
    let (s, is_utc) = match s.strip_suffix(['Z', 'z']) {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    let (date, time) = s.split_once(['T', 't'])?;
    if time.len() != 6 || !time.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let time = NaiveTime::from_hms_opt(
        time.get(..2)?.parse().ok()?,
        time.get(2..4)?.parse().ok()?,
        // a leap second (60) is read as the second before
        time.get(4..)?.parse::<u32>().ok()?.min(59),
    )?;
    Some((date_of(date)?.and_time(time), is_utc))
}

/// RFC 5545 §3.3.6: `P1D`, `PT1H30M`, `-P2W`, in seconds.
pub(super) fn seconds_of_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let s = s.strip_prefix(['P', 'p'])?;
    let mut total: i64 = 0;
    let mut number: Option<i64> = None;
    let mut in_time = false;
    let mut any = false;
    for c in s.chars() {
        if let Some(digit) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(i64::from(digit))?,
            );
            continue;
        }
        let unit = match (c.to_ascii_uppercase(), in_time) {
            ('T', false) if number.is_none() => {
                in_time = true;
                continue;
            }
            ('W', false) => 604_800,
            ('D', false) => 86_400,
            ('H', true) => 3_600,
            ('M', true) => 60,
            ('S', true) => 1,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
        any = true;
    }
    if number.is_some() || !any {
        return None;
    }
    Some(if negative { -total } else { total })
}
