//! Events that arrive by mail. An archived message carrying an invitation (an iCalendar
//! REQUEST or PUBLISH, or a plain `.ics` attachment) becomes an event tied to its thread; a
//! later one with the same UID and a higher SEQUENCE updates it, and a CANCEL (or
//! STATUS:CANCELLED) cancels it. A member's REPLY from their calendar (Outlook, Gmail, Apple)
//! takes or gives up their place, like the buttons on the event's page; it is logged, not
//! published, as those products treat "Accepted: …" answers.

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

use crate::config::Config;
use crate::mail::calendar::{self, Calendar, Method, PartStat};
use crate::store::{EventId, ListId, MessageKey, NewEvent, Place, Registered, StoreError, Writer};

use super::pipeline::Prepared;

/// Whether a mail may carry a calendar at all: most do not, and this skips parsing them again.
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

/// The calendars of a mail that parse, each with the method it was sent with.
fn calendars(bytes: &[u8]) -> Vec<Calendar> {
    if !may_carry_calendar(bytes) {
        return Vec::new();
    }
    calendar::calendar_parts(bytes)
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

/// Whether a mail carries a calendar that can be read.
pub(super) fn carries_calendar(bytes: &[u8]) -> bool {
    !calendars(bytes).is_empty()
}

/// The calendar answers (REPLY) a mail carries.
pub(super) fn replies(bytes: &[u8]) -> Vec<Calendar> {
    calendars(bytes)
        .into_iter()
        .filter(|c| c.method == Method::Reply)
        .collect()
}

/// Makes or updates the events an archived message announces. Returns the events it changed
/// (true: cancelled), whose members are to be told.
pub(super) fn recognise(
    writer: &Writer<'_>,
    list: ListId,
    key: MessageKey,
    p: &Prepared,
) -> Result<Vec<(EventId, bool)>, StoreError> {
    let mut changes = Vec::new();
    let found = calendars(&p.item.bytes);
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
        for (event, _) in cal.events {
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
                            uid: event.uid.clone(),
                            sequence: event.sequence,
                            message_id: message_id.clone(),
                            list,
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
                            capacity: None,
                            deadline: None,
                            payment_url: None,
                            organiser,
                            organiser_email,
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

/// What a member's calendar answer did, for the inbound log.
pub(super) fn answer(
    writer: &Writer<'_>,
    config: &Config,
    member: crate::store::UserId,
    sender: &str,
    replies: &[Calendar],
    now: i64,
) -> Result<String, StoreError> {
    let mut done = Vec::new();
    for cal in replies {
        for (event, attendees) in &cal.events {
            let Some(id) = writer.event_by_uid(&event.uid)? else {
                done.push(format!("an answer about an unknown event ({})", event.uid));
                continue;
            };
            // The answer is the sender's own ATTENDEE line, else the first one there.
            let partstat = attendees
                .iter()
                .find(|a| a.address.eq_ignore_ascii_case(sender))
                .or(attendees.first())
                .map_or(PartStat::NeedsAction, |a| a.partstat);
            let outcome = match partstat {
                PartStat::Accepted => {
                    match crate::outbound::events::register_in(
                        writer, config, id, member, None, "mail", now,
                    ) {
                        Ok(r) => described(r),
                        Err(crate::outbound::PostError::Store(e)) => return Err(e),
                        Err(e) => format!("registered, but no mail could be queued: {e}"),
                    }
                }
                PartStat::Declined => {
                    match crate::outbound::events::cancel_in(writer, config, id, member, now) {
                        Ok(Some(_)) => "place cancelled".to_owned(),
                        Ok(None) => "declined, held no place".to_owned(),
                        Err(crate::outbound::PostError::Store(e)) => return Err(e),
                        Err(e) => format!("cancelled, but no mail could be queued: {e}"),
                    }
                }
                PartStat::Tentative | PartStat::NeedsAction => {
                    "a tentative answer: no place taken".to_owned()
                }
            };
            done.push(format!("event {}: {outcome}", id.0));
        }
    }
    Ok(format!("calendar reply: {}", done.join("; ")))
}

fn described(outcome: Registered) -> String {
    match outcome {
        Registered::Now {
            place: Place::Confirmed,
            ..
        } => "registered, place confirmed".to_owned(),
        Registered::Now {
            place: Place::Waiting(n),
            ..
        } => format!("registered on the waiting list (number {n})"),
        Registered::Now { .. } => "registered".to_owned(),
        Registered::Already(_) => "already registered".to_owned(),
        Registered::Closed => "registration is closed".to_owned(),
    }
}
