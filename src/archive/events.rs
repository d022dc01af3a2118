//! Events that arrive by mail. An archived message carrying an invitation (an iCalendar
//! REQUEST or PUBLISH, or a plain `.ics` attachment) becomes an event tied to its thread; a
//! later one with the same UID and a higher SEQUENCE updates it, and a CANCEL (or
//! STATUS:CANCELLED) cancels it. (A member's REPLY from their calendar is the forum's to act
//! on: `forum::events::answer`.)

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use mail_parser::Message;

use crate::mail::calendar::{self, Calendar, Method};
use crate::store::{EventDetails, EventId, ListId, MessageKey, NewEvent, StoreError, Writer};

use super::Prepared;

/// Whether a mail may carry a calendar at all: most do not, and this skips looking.
fn may_carry_calendar(bytes: &[u8]) -> bool {
    static HINTS: OnceLock<AhoCorasick> = OnceLock::new();
    HINTS
        .get_or_init(|| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(["text/calendar", "application/ics", ".ics"])
                .expect("fixed patterns build")
        })
        .is_match(bytes)
}

/// The calendars of a mail (`message` is its one parse) that can be read, each with the method
/// it was sent with.
pub(crate) fn calendars(message: Option<&Message<'_>>, raw: &[u8]) -> Vec<Calendar> {
    let Some(message) = message.filter(|_| may_carry_calendar(raw)) else {
        return Vec::new();
    };
    calendar::calendar_parts_of(message)
        .iter()
        .filter_map(|part| match calendar::parse_calendar(part) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "a calendar part could not be read");
                None
            }
        })
        .collect()
}

/// Makes or updates the events an archived message announces. Returns the events it changed
/// (true: cancelled), whose members are to be told.
pub fn recognise(
    writer: &Writer<'_>,
    list: ListId,
    key: MessageKey,
    p: &Prepared,
) -> Result<Vec<(EventId, bool)>, StoreError> {
    let mut changes = Vec::new();
    let found = &p.calendars;
    if found.is_empty() {
        return Ok(changes);
    }
    let Some(message_id) = writer.message_id_of(key)? else {
        return Ok(changes);
    };
    let parsed = p.parsed.as_ref().ok();
    let from = parsed.and_then(|m| m.from_addr.clone());
    let date = parsed.and_then(|m| m.date).unwrap_or(0);
    for cal in found {
        if cal.method == Method::Reply {
            continue;
        }
        let cancel = cal.method == Method::Cancel;
        for (event, _) in &cal.events {
            let gone = cancel || event.cancelled;
            match writer.event_by_uid(&event.uid)? {
                Some(id) => {
                    let changed = writer.update_event_from_calendar(
                        id,
                        event.sequence,
                        &event.summary,
                        &event.description,
                        event.start,
                        event.end,
                        &event.time_zone,
                        event.all_day,
                        event.location.as_deref(),
                        event.url.as_deref(),
                        gone,
                        date,
                    )?;
                    if changed {
                        changes.push((id, gone));
                    }
                }
                None if !gone => {
                    // The organiser is the member whose calendar sent it, or who mailed it.
                    let organiser_email = event.organizer.clone().or_else(|| from.clone());
                    let mut organiser = None;
                    for address in [event.organizer.as_deref(), from.as_deref()]
                        .into_iter()
                        .flatten()
                    {
                        if organiser.is_none() {
                            organiser = writer.member_of(address)?;
                        }
                    }
                    writer.create_event(
                        &NewEvent {
                            list,
                            details: EventDetails {
                                uid: event.uid.clone(),
                                sequence: event.sequence,
                                message_id: message_id.clone().into(),
                                title: if event.summary.trim().is_empty() {
                                    parsed
                                        .and_then(|m| m.subject.clone())
                                        .unwrap_or_else(|| "(untitled event)".to_owned())
                                } else {
                                    event.summary.clone()
                                },
                                description: event.description.clone(),
                                starts_at: event.start,
                                ends_at: event.end,
                                time_zone: event.time_zone.clone(),
                                all_day: event.all_day,
                                place: event.location.clone(),
                                online_url: event.url.clone(),
                                organiser,
                                organiser_email,
                                ..EventDetails::default()
                            },
                            source: "mail",
                            tickets: Vec::new(),
                            interests: Vec::new(),
                        },
                        date,
                    )?;
                }
                // A cancellation of an event never seen: nothing to cancel.
                None => {}
            }
        }
    }
    Ok(changes)
}
