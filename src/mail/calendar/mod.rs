//! Events in iCalendar (RFC 5545, with the iTIP methods of RFC 5546): the calendar parts a
//! mail carries (an invitation from Outlook, Google or Apple Calendar, or a member's REPLY to
//! one), read into plain facts, and the calendars the bridge writes itself (a confirmation's
//! `.ics`, a cancellation, the subscribable feed). Pure: times are unix seconds in and out, and
//! the time-zone rules come from the compiled-in tz database (chrono-tz).
//!
//! `read` reads calendar parts and iCalendar text, `zones` turns a TZID (IANA, Windows, or a
//! calendar's own VTIMEZONE rules) into times, and `write` writes the bridge's calendars.

mod read;
mod write;
mod zones;

#[cfg(test)]
mod tests;

pub use read::{calendar_parts, calendar_parts_of, parse_calendar};
pub use write::{write_event, write_feed};
pub use zones::zone;

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
