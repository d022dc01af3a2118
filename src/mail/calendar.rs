//! Events in iCalendar (RFC 5545, with the iTIP methods of RFC 5546): the calendar parts a
//! mail carries (an invitation from Outlook, Google or Apple Calendar, or a member's REPLY to
//! one), read into plain facts, and the calendars the bridge writes itself (a confirmation's
//! `.ics`, a cancellation, the subscribable feed). Pure: times are unix seconds in and out, and
//! the time-zone rules come from the compiled-in tz database (chrono-tz).

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset};
use chrono::{TimeDelta, TimeZone, Weekday};
use chrono_tz::Tz;
use icalendar::Component as _;
use icalendar::parser::{Component as Node, Property as Line};
use mail_parser::{MessagePart, MimeHeaders, PartType};

/// The iTIP method of a calendar object (RFC 5546 §1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// An invitation (or an update of one).
    Request,
    /// An announcement with no replies expected (feeds, some mailing-list tools).
    Publish,
    /// An attendee's answer.
    Reply,
    /// The event, or one attendee's place in it, is cancelled.
    Cancel,
    /// Absent or anything else (a plain `.ics` attachment).
    Other(String),
}

/// What an attendee answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartStat {
    Accepted,
    Declined,
    Tentative,
    NeedsAction,
}

/// One event as a calendar describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalEvent {
    /// The UID: stable across updates, what calendars match on.
    pub uid: String,
    pub sequence: u32,
    pub summary: String,
    pub description: String,
    /// Unix seconds (UTC).
    pub start: i64,
    pub end: i64,
    /// The IANA zone the event was written in ("Europe/London"), "UTC" when none was given.
    pub time_zone: String,
    /// Whole days (DTSTART;VALUE=DATE).
    pub all_day: bool,
    pub location: Option<String>,
    pub url: Option<String>,
    /// The ORGANIZER's address, without `mailto:`.
    pub organizer: Option<String>,
    /// STATUS:CANCELLED.
    pub cancelled: bool,
}

/// An ATTENDEE line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    /// Without `mailto:`, lower-cased.
    pub address: String,
    pub name: Option<String>,
    pub partstat: PartStat,
}

/// A calendar object read from a mail part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub method: Method,
    /// Each VEVENT with its attendees.
    pub events: Vec<(CalEvent, Vec<Attendee>)>,
    /// What was worked around (an unknown time zone read as UTC, a missing end), for admins.
    pub problems: Vec<String>,
}

/// Why a calendar part could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("the calendar part is not valid iCalendar: {0}")]
    Syntax(String),
    #[error("the calendar has no event (VEVENT)")]
    NoEvent,
    #[error("the event has no {0}")]
    Missing(&'static str),
}

/// Who writes the bridge's calendars: the ORGANIZER of events announced through it, to whom
/// calendar apps send their REPLY.
#[derive(Debug, Clone, Copy)]
pub struct Organizer<'a> {
    pub name: &'a str,
    pub address: &'a str,
}

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

/// The IANA zone of a TZID as calendars write it: an IANA name, a Windows name (Outlook's
/// "GMT Standard Time"), or one of those with a prefix some tools add ("/mozilla.org/…/").
pub fn zone(tzid: &str) -> Option<chrono_tz::Tz> {
    let mut name = clean_tzid(tzid);
    loop {
        if let Some(tz) = known_zone(name) {
            return Some(tz);
        }
        // "/mozilla.org/20070129_1/Europe/London", "/softwarestudio.org/Olson_…/Europe/London"
        name = name.split_once('/')?.1;
    }
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

fn is(node: &Node<'_>, name: &str) -> bool {
    node.name.as_str().eq_ignore_ascii_case(name)
}

fn prop<'n, 'a>(node: &'n Node<'a>, name: &str) -> Option<&'n Line<'a>> {
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

/// A local time in a zone: at a clock change, an ambiguous time (the hour repeated) is the
/// earlier one, and a time that does not exist (the hour skipped) moves forward by the gap.
fn unix_of_local(tz: Tz, local: NaiveDateTime) -> i64 {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.timestamp(),
        LocalResult::Ambiguous(a, b) => a.timestamp().min(b.timestamp()),
        LocalResult::None => {
            // Read with the offset in force before the gap, the clock shows the time past it.
            let before = local
                .checked_sub_signed(TimeDelta::days(1))
                .map_or(0, |day_before| {
                    tz.offset_from_utc_datetime(&day_before)
                        .fix()
                        .local_minus_utc()
                });
            local.and_utc().timestamp() - i64::from(before)
        }
    }
}

/// `20261201`.
fn date_of(s: &str) -> Option<NaiveDate> {
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
fn date_time_of(s: &str) -> Option<(NaiveDateTime, bool)> {
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
fn seconds_of_duration(s: &str) -> Option<i64> {
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

// ---- time zones ----

enum Resolved {
    Zone(Tz),
    /// Only the calendar's own VTIMEZONE knows it (Outlook's "Customized Time Zone").
    Rules(Rules),
    Unknown,
}

fn resolve(tzid: &str, zones: &[&Node<'_>]) -> Resolved {
    if let Some(tz) = zone(tzid) {
        return Resolved::Zone(tz);
    }
    let wanted = clean_tzid(tzid);
    let Some(vtimezone) = zones
        .iter()
        .find(|z| prop(z, "TZID").is_some_and(|p| clean_tzid(p.val.as_str()) == wanted))
    else {
        return Resolved::Unknown;
    };
    if let Some(tz) = prop(vtimezone, "X-LIC-LOCATION").and_then(|p| zone(p.val.as_str())) {
        return Resolved::Zone(tz);
    }
    Rules::read(vtimezone).map_or(Resolved::Unknown, Resolved::Rules)
}

fn clean_tzid(tzid: &str) -> &str {
    tzid.trim().trim_matches(['"', '\'']).trim()
}

fn known_zone(name: &str) -> Option<Tz> {
    if name.is_empty() {
        return None;
    }
    if [
        "UTC",
        "Z",
        "GMT",
        "Etc/UTC",
        "Etc/GMT",
        "Coordinated Universal Time",
    ]
    .iter()
    .any(|alias| alias.eq_ignore_ascii_case(name))
    {
        return Some(Tz::UTC);
    }
    if let Ok(tz) = name.parse::<Tz>() {
        return Some(tz);
    }
    if let Some((_, iana)) = WINDOWS_ZONES
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(name))
    {
        return iana.parse().ok();
    }
    // chrono-tz's own case-insensitive lookup is behind a feature; "europe/london" is rare.
    chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
        .copied()
}

/// Windows time-zone names (Outlook, Exchange) to IANA, after CLDR's windowsZones.xml
/// (territory "001"). Written out here: the crate `windows-timezones` has the same table, but
/// this much is not worth another dependency; a test checks that every name resolves.
const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("Dateline Standard Time", "Etc/GMT+12"),
    ("UTC-11", "Etc/GMT+11"),
    ("Aleutian Standard Time", "America/Adak"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time", "America/Denver"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Central Standard Time", "America/Chicago"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Eastern Standard Time", "America/New_York"),
    ("Eastern Standard Time (Mexico)", "America/Cancun"),
    ("US Eastern Standard Time", "America/Indiana/Indianapolis"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Venezuela Standard Time", "America/Caracas"),
    ("SA Western Standard Time", "America/La_Paz"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("Argentina Standard Time", "America/Argentina/Buenos_Aires"),
    ("SA Eastern Standard Time", "America/Cayenne"),
    ("Montevideo Standard Time", "America/Montevideo"),
    ("UTC-02", "Etc/GMT+2"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    ("UTC", "UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("Morocco Standard Time", "Africa/Casablanca"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("Jordan Standard Time", "Asia/Amman"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Middle East Standard Time", "Asia/Beirut"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("Syria Standard Time", "Asia/Damascus"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Belarus Standard Time", "Europe/Minsk"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Azerbaijan Standard Time", "Asia/Baku"),
    ("Georgian Standard Time", "Asia/Tbilisi"),
    ("Caucasus Standard Time", "Asia/Yerevan"),
    ("Afghanistan Standard Time", "Asia/Kabul"),
    ("Ekaterinburg Standard Time", "Asia/Yekaterinburg"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Sri Lanka Standard Time", "Asia/Colombo"),
    ("Nepal Standard Time", "Asia/Kathmandu"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("Myanmar Standard Time", "Asia/Yangon"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("China Standard Time", "Asia/Shanghai"),
    ("North Asia East Standard Time", "Asia/Irkutsk"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("West Pacific Standard Time", "Pacific/Port_Moresby"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("Vladivostok Standard Time", "Asia/Vladivostok"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Fiji Standard Time", "Pacific/Fiji"),
    ("Tonga Standard Time", "Pacific/Tongatapu"),
    ("Samoa Standard Time", "Pacific/Apia"),
    ("Line Islands Standard Time", "Pacific/Kiritimati"),
];

/// A VTIMEZONE's observances, for a TZID no table knows. Only the yearly "n-th weekday of a
/// month" rules Outlook writes are understood; any other RRULE makes the zone unknown.
struct Rules(Vec<Observance>);

/// A STANDARD or DAYLIGHT block.
struct Observance {
    /// Its DTSTART, in the local time before the change.
    first: NaiveDateTime,
    offset_from: i32,
    offset_to: i32,
    yearly: Option<Yearly>,
}

/// `FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU`.
struct Yearly {
    month: u32,
    week: i8,
    weekday: Weekday,
    until: Option<NaiveDate>,
}

impl Rules {
    fn read(vtimezone: &Node<'_>) -> Option<Rules> {
        let mut observances = Vec::new();
        for block in &vtimezone.components {
            if !is(block, "STANDARD") && !is(block, "DAYLIGHT") {
                continue;
            }
            let first = prop(block, "DTSTART")
                .and_then(|p| date_time_of(p.val.as_str().trim()))?
                .0;
            let offset_to =
                prop(block, "TZOFFSETTO").and_then(|p| utc_offset_of(p.val.as_str()))?;
            let offset_from = prop(block, "TZOFFSETFROM")
                .and_then(|p| utc_offset_of(p.val.as_str()))
                .unwrap_or(offset_to);
            let yearly = match prop(block, "RRULE") {
                Some(rule) => Some(Yearly::read(rule.val.as_str())?),
                None => None,
            };
            observances.push(Observance {
                first,
                offset_from,
                offset_to,
                yearly,
            });
        }
        (!observances.is_empty()).then_some(Rules(observances))
    }

    /// Seconds east of UTC at a local time: the offset of the latest change before it.
    fn offset_at(&self, local: NaiveDateTime) -> i32 {
        let mut latest: Option<(NaiveDateTime, i32)> = None;
        for observance in &self.0 {
            for change in observance.changes_near(local.year()) {
                if change <= local && latest.is_none_or(|(at, _)| change > at) {
                    latest = Some((change, observance.offset_to));
                }
            }
        }
        latest
            .map(|(_, offset)| offset)
            .or_else(|| self.0.iter().min_by_key(|o| o.first).map(|o| o.offset_from))
            .unwrap_or(0)
    }
}

impl Observance {
    /// Its changes in `year` and the year before (the latest change before a January date
    /// may be last year's).
    fn changes_near(&self, year: i32) -> Vec<NaiveDateTime> {
        let Some(rule) = &self.yearly else {
            return vec![self.first];
        };
        [year.saturating_sub(1), year]
            .into_iter()
            .filter_map(|y| {
                let date = rule.date_in(y)?;
                let at = date.and_time(self.first.time());
                (at >= self.first && rule.until.is_none_or(|until| date <= until)).then_some(at)
            })
            .collect()
    }
}

impl Yearly {
    fn read(rule: &str) -> Option<Yearly> {
        let (mut yearly, mut month, mut day, mut until) = (false, None, None, None);
        for part in rule.split(';').filter(|p| !p.trim().is_empty()) {
            let (key, value) = part.split_once('=')?;
            let value = value.trim();
            match key.trim().to_ascii_uppercase().as_str() {
                "FREQ" => yearly = value.eq_ignore_ascii_case("YEARLY"),
                "BYMONTH" => month = value.parse::<u32>().ok().filter(|m| (1..=12).contains(m)),
                "BYDAY" => day = nth_weekday_of(value),
                "UNTIL" => until = date_of(value.get(..8)?),
                "INTERVAL" if value == "1" => {}
                "WKST" => {}
                _ => return None,
            }
        }
        let (week, weekday) = day?;
        yearly.then_some(Yearly {
            month: month?,
            week,
            weekday,
            until,
        })
    }

    fn date_in(&self, year: i32) -> Option<NaiveDate> {
        if self.week > 0 {
            return NaiveDate::from_weekday_of_month_opt(
                year,
                self.month,
                self.weekday,
                u8::try_from(self.week).ok()?,
            );
        }
        let next_month = if self.month == 12 {
            NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, self.month + 1, 1)?
        };
        let last = next_month.pred_opt()?;
        let back =
            (last.weekday().num_days_from_monday() + 7 - self.weekday.num_days_from_monday()) % 7;
        let weeks_back = u32::from(self.week.unsigned_abs()).checked_sub(1)?;
        let date = last.checked_sub_days(Days::new(u64::from(back + 7 * weeks_back)))?;
        (date.month() == self.month).then_some(date)
    }
}

/// `-1SU`, `2SU`.
fn nth_weekday_of(value: &str) -> Option<(i8, Weekday)> {
    let (n, day) = value.split_at_checked(value.len().checked_sub(2)?)?;
    let weekday = match day.to_ascii_uppercase().as_str() {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    };
    let n: i8 = n.strip_prefix('+').unwrap_or(n).parse().ok()?;
    (n != 0 && (-5..=5).contains(&n)).then_some((n, weekday))
}

/// `+0100`, `-0500`, `+053000` in seconds.
fn utc_offset_of(value: &str) -> Option<i32> {
    let value = value.trim();
    let (sign, digits) = match value.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, value.strip_prefix('+')?),
    };
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits.get(..2)?.parse().ok()?;
    let minutes: i32 = digits.get(2..4)?.parse().ok()?;
    let seconds: i32 = digits
        .get(4..)
        .filter(|s| !s.is_empty())
        .map_or(Some(0), |s| s.parse().ok())?;
    (hours < 24 && minutes < 60 && seconds < 60)
        .then_some(sign * (hours * 3600 + minutes * 60 + seconds))
}

// ---- writing ----

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

#[cfg(test)]
mod tests {
    use super::*;

    const OUTLOOK_INVITATION: &[u8] =
        include_bytes!("../../fixtures/events/outlook-invitation.eml");
    const GOOGLE_INVITATION: &[u8] = include_bytes!("../../fixtures/events/google-invitation.eml");
    const OUTLOOK_REPLY: &[u8] = include_bytes!("../../fixtures/events/outlook-reply.eml");
    const GOOGLE_REPLY: &[u8] = include_bytes!("../../fixtures/events/google-reply.eml");
    const APPLE_DECLINE: &[u8] = include_bytes!("../../fixtures/events/apple-decline.eml");
    const OUTLOOK_CANCEL: &[u8] = include_bytes!("../../fixtures/events/outlook-cancel.eml");

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
                    description:
                        "Dear colleagues,\n\nPlease join us for the regional asthma study \
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
        assert_eq!(cal.method, Method::Reply);
        let [(event, attendees)] = cal.events.as_slice() else {
            panic!("one event: {:?}", cal.events);
        };
        assert_eq!(event.uid, OUTLOOK_UID);
        assert_eq!(event.summary, "Accepted: Regional asthma study day");
        assert_eq!((event.start, event.end), (STUDY_DAY_START, STUDY_DAY_END));
        assert_eq!(event.organizer.as_deref(), Some("asha.patel@nhs.test"));
        assert_eq!(
            attendees,
            &[attendee(
                "carol.singh@nhs.test",
                Some("Carol Singh"),
                PartStat::Accepted
            )]
        );
    }

    #[test]
    fn a_google_reply_accepts_the_google_invitation_in_utc() {
        let parts = calendar_parts(GOOGLE_REPLY);
        assert_eq!(parts.len(), 2);
        let cal = parse_calendar(&parts[0]).unwrap();
        assert_eq!(cal, parse_calendar(&parts[1]).unwrap());
        assert_eq!(cal.method, Method::Reply);
        let [(event, attendees)] = cal.events.as_slice() else {
            panic!("one event: {:?}", cal.events);
        };
        assert_eq!(event.uid, GOOGLE_UID);
        assert_eq!((event.start, event.end), (REVIEW_START, REVIEW_END));
        assert_eq!(event.time_zone, "UTC");
        assert_eq!(
            attendees,
            &[attendee(
                "dan.jones@nhs.test",
                Some("Dan Jones"),
                PartStat::Accepted
            )]
        );
    }

    #[test]
    fn an_apple_decline_is_read_from_a_quoted_printable_attachment() {
        let cal = only_calendar(APPLE_DECLINE);
        assert_eq!(cal.method, Method::Reply);
        let [(event, attendees)] = cal.events.as_slice() else {
            panic!("one event: {:?}", cal.events);
        };
        assert_eq!(event.uid, OUTLOOK_UID);
        assert_eq!((event.start, event.end), (STUDY_DAY_START, STUDY_DAY_END));
        assert_eq!(event.time_zone, "Europe/London");
        // =E2=80=99 in the mail, a right single quote once decoded as UTF-8
        assert_eq!(event.location.as_deref(), Some(STUDY_DAY_LOCATION));
        assert_eq!(event.organizer.as_deref(), Some("asha.patel@nhs.test"));
        assert_eq!(
            attendees,
            &[attendee(
                "carol.singh@nhs.test",
                Some("Carol Singh"),
                PartStat::Declined
            )]
        );
    }

    #[test]
    fn an_outlook_cancellation_cancels_the_invitation() {
        let cal = only_calendar(OUTLOOK_CANCEL);
        assert_eq!(cal.method, Method::Cancel);
        let [(event, _)] = cal.events.as_slice() else {
            panic!("one event: {:?}", cal.events);
        };
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
        let cal =
            one_event("DTSTART;TZID=Foo:20270312T093000\r\nDTEND;TZID=Foo:20270312T163000\r\n")
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

        let two =
            one_event("DTSTART;VALUE=DATE:20270312\r\nDTEND;VALUE=DATE:20270314\r\n").unwrap();
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
            text.contains(
                "\r\nATTENDEE;PARTSTAT=ACCEPTED;RSVP=FALSE:mailto:dan.jones@nhs.test\r\n"
            )
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

    // ---- zones ----

    #[test]
    fn windows_names_map_to_their_iana_zones() {
        for (windows, iana) in [
            ("GMT Standard Time", "Europe/London"),
            ("Greenwich Standard Time", "Atlantic/Reykjavik"),
            ("W. Europe Standard Time", "Europe/Berlin"),
            ("Romance Standard Time", "Europe/Paris"),
            ("Central Europe Standard Time", "Europe/Budapest"),
            ("Central European Standard Time", "Europe/Warsaw"),
            ("E. Europe Standard Time", "Europe/Chisinau"),
            ("FLE Standard Time", "Europe/Kiev"),
            ("GTB Standard Time", "Europe/Bucharest"),
            ("Russian Standard Time", "Europe/Moscow"),
            ("Eastern Standard Time", "America/New_York"),
            ("Central Standard Time", "America/Chicago"),
            ("Mountain Standard Time", "America/Denver"),
            ("Pacific Standard Time", "America/Los_Angeles"),
            ("US Mountain Standard Time", "America/Phoenix"),
            ("Atlantic Standard Time", "America/Halifax"),
            ("AUS Eastern Standard Time", "Australia/Sydney"),
            ("India Standard Time", "Asia/Kolkata"),
            ("China Standard Time", "Asia/Shanghai"),
            ("Tokyo Standard Time", "Asia/Tokyo"),
            ("Singapore Standard Time", "Asia/Singapore"),
            ("New Zealand Standard Time", "Pacific/Auckland"),
            ("South Africa Standard Time", "Africa/Johannesburg"),
            ("Arabian Standard Time", "Asia/Dubai"),
            ("UTC", "UTC"),
            ("Coordinated Universal Time", "UTC"),
            ("gmt standard time", "Europe/London"),
        ] {
            assert_eq!(zone(windows).map(|tz| tz.name()), Some(iana), "{windows}");
        }
        for (windows, iana) in WINDOWS_ZONES {
            assert_eq!(zone(windows).map(|tz| tz.name()), Some(*iana), "{windows}");
        }
    }

    #[test]
    fn zone_names_are_found_behind_quotes_and_prefixes() {
        for (tzid, iana) in [
            ("Europe/London", "Europe/London"),
            ("  \"Europe/London\" ", "Europe/London"),
            ("/mozilla.org/20070129_1/Europe/London", "Europe/London"),
            (
                "/softwarestudio.org/Olson_20011030_5/America/New_York",
                "America/New_York",
            ),
            (
                "/citadel.org/20190914_1/America/Argentina/Buenos_Aires",
                "America/Argentina/Buenos_Aires",
            ),
            ("europe/london", "Europe/London"),
            ("GMT", "UTC"),
            ("Z", "UTC"),
            ("Etc/UTC", "UTC"),
        ] {
            assert_eq!(zone(tzid).map(|tz| tz.name()), Some(iana), "{tzid:?}");
        }
        for unknown in [
            "",
            "\"\"",
            "/",
            "Foo",
            "Mars/Olympus_Mons",
            "Customized Time Zone",
        ] {
            assert_eq!(zone(unknown), None, "{unknown:?}");
        }
    }
}
