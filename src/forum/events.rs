//! Events by mail: the announcement of an event created on the web (a new thread carrying the
//! invitation), and each member's own mail about their place: a confirmation with the event
//! for their calendar, a waiting-list notice, a cancellation that takes it out of their
//! calendar again, the news that a place came free, and a reminder before it starts; and a
//! member's answer from their calendar (Outlook, Gmail, Apple: a REPLY), which takes or gives up
//! their place like the buttons on the event's page. Every
//! calendar the bridge sends uses the event's one UID, with a SEQUENCE that only grows for a
//! member, so calendars update their entry instead of adding another.

use crate::config::Config;
use crate::mail::calendar::{self, Attendee, CalEvent, Calendar, Method, Organizer, PartStat};
use crate::mail::compose::CalendarPart;
use crate::store::{
    Cancelled, Event, EventDetails, EventId, NewEvent, Place, Registered, Store, StoreError,
    TicketId, UserId, Writer,
};

use super::{Draft, PostError};

/// An event's address on the web.
pub fn event_url(config: &Config, event: EventId) -> String {
    format!("{}/events/{}", config.web.base_url, event.0)
}

/// The bridge as organiser: calendar apps send their REPLY to its address.
fn organizer(config: &Config) -> Option<Organizer<'_>> {
    let out = config.outbound.as_ref()?;
    Some(Organizer {
        name: &config.web.site_name,
        address: &out.from_address,
    })
}

/// The calendar entry of an event's details, `revision` raising its SEQUENCE for one
/// member's copy; no link, organiser or cancellation, which the callers add.
fn calendar_entry(details: &EventDetails, revision: u32) -> CalEvent {
    CalEvent {
        uid: details.uid.clone(),
        sequence: details.sequence + revision,
        summary: details.title.clone(),
        description: details.description.clone(),
        start: details.starts_at,
        end: details.ends_at,
        time_zone: details.time_zone.clone(),
        all_day: details.all_day,
        location: details.place.clone().or_else(|| details.online_url.clone()),
        url: None,
        organizer: None,
        cancelled: false,
    }
}

/// The calendar facts of a stored event; `revision` raises the SEQUENCE for one member's copy.
pub fn cal_event(config: &Config, event: &Event, revision: u32) -> CalEvent {
    let url = event_url(config, event.id);
    let mut description = event.details.description.trim().to_owned();
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    description.push_str(&format!("Details and registration: {url}"));
    CalEvent {
        description,
        url: Some(url),
        organizer: config.outbound.as_ref().map(|o| o.from_address.clone()),
        cancelled: event.cancelled,
        ..calendar_entry(&event.details, revision)
    }
}

/// When an event happens, as people say it: "Friday 12 March 2027, 09:30–16:30 (GMT)".
pub fn when(event: &EventDetails) -> String {
    when_span(
        event.starts_at,
        event.ends_at,
        &event.time_zone,
        event.all_day,
    )
}

/// [`when`] from its parts, in the zone `time_zone`.
pub fn when_span(starts_at: i64, ends_at: i64, time_zone: &str, all_day: bool) -> String {
    use chrono::TimeZone;
    let tz: chrono_tz::Tz = time_zone.parse().unwrap_or(chrono_tz::UTC);
    let (Some(start), Some(end)) = (
        tz.timestamp_opt(starts_at, 0).single(),
        tz.timestamp_opt(ends_at, 0).single(),
    ) else {
        return String::new();
    };
    if all_day {
        let last = tz.timestamp_opt(ends_at - 1, 0).single().unwrap_or(end);
        return if last.date_naive() == start.date_naive() {
            start.format("%A %-d %B %Y").to_string()
        } else {
            format!(
                "{} to {}",
                start.format("%A %-d %B %Y"),
                last.format("%A %-d %B %Y")
            )
        };
    }
    if start.date_naive() == end.date_naive() {
        format!(
            "{}, {}–{} ({})",
            start.format("%A %-d %B %Y"),
            start.format("%H:%M"),
            end.format("%H:%M"),
            start.format("%Z")
        )
    } else {
        format!(
            "{}, {} to {}, {} ({})",
            start.format("%A %-d %B %Y"),
            start.format("%H:%M"),
            end.format("%A %-d %B %Y"),
            end.format("%H:%M"),
            start.format("%Z")
        )
    }
}

/// The text of an announcement: the organiser's description, then the facts.
pub fn announcement_text(description: &str, facts: &[(&str, String)]) -> String {
    let mut text = description.trim().to_owned();
    text.push_str("\n\n");
    for (label, value) in facts {
        if !value.is_empty() {
            text.push_str(&format!("- **{label}:** {value}\n"));
        }
    }
    text
}

/// Announces an event created on the web: a new thread on its list whose mail carries the
/// invitation, and the event tied to it, in one transaction.
pub fn announce(
    store: &mut Store,
    config: &Config,
    draft: &Draft,
    event: NewEvent,
    now: i64,
) -> Result<(String, EventId), PostError> {
    let organizer = organizer(config).ok_or(PostError::NotConfigured)?;
    let cal = CalEvent {
        organizer: Some(organizer.address.to_owned()),
        ..calendar_entry(&event.details, 0)
    };
    let ics = calendar::write_event(&Method::Request, &cal, organizer, None, now);
    let (message_id, id) = super::post_with(
        store,
        config,
        draft,
        Some(CalendarPart {
            method: "REQUEST",
            ics: &ics,
        }),
        now,
        |writer, list, message_id| {
            writer.create_event(
                &NewEvent {
                    list,
                    details: EventDetails {
                        message_id: message_id.into(),
                        ..event.details
                    },
                    ..event
                },
                now,
            )
        },
    )?;
    Ok((message_id, id))
}

/// A member's request for a place at an event.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    pub event: EventId,
    pub user: UserId,
    /// The ticket type they chose, when the event has them.
    pub ticket: Option<TicketId>,
    /// Where it came from: "web" or "mail".
    pub via: &'a str,
}

/// Registers a member (web or mail) and queues their mail about it, in one transaction.
pub fn register(
    store: &mut Store,
    config: &Config,
    registration: Registration<'_>,
    now: i64,
) -> Result<Registered, PostError> {
    store.in_run("registration", now, |writer| {
        register_in(writer, config, registration, now)
    })
}

/// [`register`] inside a caller's transaction (the mail gate's).
pub fn register_in(
    writer: &Writer<'_>,
    config: &Config,
    Registration {
        event,
        user,
        ticket,
        via,
    }: Registration<'_>,
    now: i64,
) -> Result<Registered, PostError> {
    let outcome = writer.register(event, user, ticket, via, now)?;
    if let Registered::Now { place, revision } = outcome {
        tell(
            writer,
            config,
            event,
            user,
            place,
            revision,
            Change::Registered,
            now,
        )?;
    }
    Ok(outcome)
}

/// Cancels a member's place and queues the mails: theirs, and the next on the waiting list's
/// when a place came free.
pub fn cancel(
    store: &mut Store,
    config: &Config,
    event: EventId,
    user: UserId,
    now: i64,
) -> Result<Option<Cancelled>, PostError> {
    store.in_run("cancellation", now, |writer| {
        cancel_in(writer, config, event, user, now)
    })
}

/// [`cancel`] inside a caller's transaction.
pub fn cancel_in(
    writer: &Writer<'_>,
    config: &Config,
    event: EventId,
    user: UserId,
    now: i64,
) -> Result<Option<Cancelled>, PostError> {
    let outcome = writer.cancel_registration(event, user, now)?;
    if let Some(c) = outcome {
        tell(
            writer,
            config,
            event,
            user,
            Place::Cancelled,
            c.revision,
            Change::Cancelled,
            now,
        )?;
        if let Some((next, revision)) = c.promoted {
            tell(
                writer,
                config,
                event,
                next,
                Place::Confirmed,
                revision,
                Change::Promoted,
                now,
            )?;
        }
    }
    Ok(outcome)
}

/// The organiser's new limits for an event; the members moved up from the waiting list are
/// told. Returns how many moved up.
pub fn set_limits(
    store: &mut Store,
    config: &Config,
    event: EventId,
    capacity: Option<u32>,
    deadline: Option<i64>,
    payment_url: Option<&str>,
    now: i64,
) -> Result<usize, PostError> {
    store.in_run("event limits", now, |writer| {
        let promoted = writer.set_event_limits(event, capacity, deadline, payment_url, now)?;
        for (user, revision) in &promoted {
            tell(
                writer,
                config,
                event,
                *user,
                Place::Confirmed,
                *revision,
                Change::Promoted,
                now,
            )?;
        }
        Ok(promoted.len())
    })
}

/// Queues the reminders due now; how many.
pub fn send_reminders(store: &mut Store, config: &Config, now: i64) -> Result<usize, PostError> {
    if config.events.reminder_hours == 0 || config.outbound.is_none() {
        return Ok(0);
    }
    let ahead = i64::from(config.events.reminder_hours) * 3600;
    store.in_run("event reminders", now, |writer| {
        let due = writer.due_reminders(now, ahead)?;
        for reminder in &due {
            tell(
                writer,
                config,
                reminder.event,
                reminder.user,
                Place::Confirmed,
                reminder.revision,
                Change::Reminder,
                now,
            )?;
            writer.mark_reminded(reminder.event, reminder.user, now)?;
        }
        Ok(due.len())
    })
}

/// Tells every member with a place that the organiser changed the event (their calendar
/// entry is updated) or cancelled it (their calendar entry is removed).
pub fn tell_registrants(
    writer: &Writer<'_>,
    config: &Config,
    event: EventId,
    cancelled: bool,
    now: i64,
) -> Result<(), PostError> {
    for (user, place, revision) in writer.registered_members(event)? {
        let change = if cancelled {
            Change::EventCancelled
        } else if place == Place::Confirmed {
            Change::Updated
        } else {
            continue;
        };
        tell(writer, config, event, user, place, revision, change, now)?;
    }
    Ok(())
}

/// Why a member is mailed about their place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Registered,
    Cancelled,
    Promoted,
    Reminder,
    Updated,
    EventCancelled,
}

/// Queues one member's mail about their place in an event.
fn tell(
    writer: &Writer<'_>,
    config: &Config,
    event: EventId,
    user: UserId,
    place: Place,
    revision: u32,
    change: Change,
    now: i64,
) -> Result<(), PostError> {
    let (Some(organizer), Some(event), Some(address)) = (
        organizer(config),
        writer.event(event)?,
        writer.mail_address(user)?,
    ) else {
        // No way to mail (no [outbound], or a member without a verified address): the place
        // itself is recorded all the same and shows on the web.
        return Ok(());
    };
    let url = event_url(config, event.id);
    let when = when(&event.details);
    let site = &config.web.site_name;
    let title = &event.details.title;
    // The member's calendar entry is kept up to date while they have a place, taken out when
    // it is gone, and not made while they wait.
    let (method, partstat) = match (change, place) {
        (Change::EventCancelled | Change::Cancelled, _)
        | (Change::Registered, Place::Cancelled) => (Some(Method::Cancel), PartStat::Declined),
        (Change::Registered, Place::Waiting(_)) => (None, PartStat::Tentative),
        _ => (Some(Method::Request), PartStat::Accepted),
    };
    let (subject, lead) = match (change, place) {
        (Change::EventCancelled, _) => (
            format!("Event cancelled: {title}"),
            format!(
                "The organiser has cancelled \"{title}\". The attached update takes it out of your calendar."
            ),
        ),
        (Change::Updated, _) => (
            format!("Event updated: {title}"),
            format!(
                "The organiser has changed \"{title}\"; your place stands. The attached update brings your calendar up to date."
            ),
        ),
        (Change::Reminder, _) => (
            format!("Reminder: {title}"),
            format!("A reminder that you have a place at \"{title}\"."),
        ),
        (Change::Promoted, _) => (
            format!("A place is yours: {title}"),
            format!(
                "A place came free at \"{title}\" and it is now yours: you were next on the waiting list. It is in the attached invitation for your calendar.\nIf you can no longer come, cancel on the event's page so that the next person can have it."
            ),
        ),
        (Change::Registered, Place::Confirmed) => (
            format!("Registered: {title}"),
            format!(
                "You have a place at \"{title}\". The attached invitation puts it in your calendar.\nIf you cannot come after all, cancel on the event's page so that someone else can have it."
            ),
        ),
        (Change::Registered, Place::Waiting(position)) => (
            format!("Waiting list: {title}"),
            format!(
                "\"{title}\" is full, so you are on its waiting list (number {position}). If a place comes free it goes to the next person on the list, and we will mail you at once."
            ),
        ),
        (Change::Registered | Change::Cancelled, _) => (
            format!("Cancelled: your place at {title}"),
            format!(
                "Your place at \"{title}\" is cancelled, as you asked. The attached update takes it out of your calendar. You can register again on the event's page while places are open."
            ),
        ),
    };
    let mut text = format!("Hello,\n\n{lead}\n\n{title}\n{when}\n");
    if let Some(place) = &event.details.place {
        text.push_str(&format!("{place}\n"));
    }
    if let Some(link) = &event.details.online_url {
        text.push_str(&format!("Online: {link}\n"));
    }
    if matches!(change, Change::Registered | Change::Promoted)
        && place == Place::Confirmed
        && let Some(pay) = &event.details.payment_url
    {
        text.push_str(&format!(
            "\nPayment is taken by the organiser: pay for your ticket at {pay}\n"
        ));
    }
    text.push_str(&format!("\nThe event's page: {url}\n\n-- \n{site}\n"));
    let name = writer.member_name(user)?;
    let ics = method.map(|method| {
        let attendee = Attendee {
            address: address.to_lowercase(),
            name,
            partstat,
        };
        let cal = cal_event(config, &event, revision);
        (
            method.clone(),
            calendar::write_event(&method, &cal, organizer, Some(&attendee), now),
        )
    });
    let part = ics.as_ref().map(|(method, ics)| CalendarPart {
        method: match method {
            Method::Cancel => "CANCEL",
            _ => "REQUEST",
        },
        ics,
    });
    let mail = super::OneMail {
        to: &address,
        subject: &subject,
        text: &text,
        in_reply_to: None,
        reply_to: None,
        calendar: part,
    };
    super::queue_mail(writer, config, mail, now)?;
    Ok(())
}

/// What a member's calendar answer did, for the inbound log.
pub fn answer(
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
                    match register_in(
                        writer,
                        config,
                        Registration {
                            event: id,
                            user: member,
                            ticket: None,
                            via: "mail",
                        },
                        now,
                    ) {
                        Ok(r) => described(r),
                        Err(PostError::Store(e)) => return Err(e),
                        Err(e) => format!("registered, but no mail could be queued: {e}"),
                    }
                }
                PartStat::Declined => match cancel_in(writer, config, id, member, now) {
                    Ok(Some(_)) => "place cancelled".to_owned(),
                    Ok(None) => "declined, held no place".to_owned(),
                    Err(PostError::Store(e)) => return Err(e),
                    Err(e) => format!("cancelled, but no mail could be queued: {e}"),
                },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeriveSettings, Role};

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn confirmed_members_are_reminded_once_when_the_event_is_near() {
        let config = Config::parse(
            "[outbound]\nfrom_address = \"forum@lists.test\"\n[events]\nreminder_hours = 24\n\
             [[lists]]\nname = \"snug\"\naddress = \"snug@lists.test\"\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("r.db"), DeriveSettings::default()).unwrap();
        let list = store.list_id("snug").unwrap();
        let (jane, _) = store
            .create_user("Jane", "jane@nhs.test", Role::Member, NOW)
            .unwrap();
        let run = store.begin_run("test", NOW).unwrap();
        let writer = store.writer(run).unwrap();
        let starts = NOW + 30 * 3600;
        let event = writer
            .create_event(
                &NewEvent {
                    list,
                    details: EventDetails {
                        uid: "soon@test".to_owned(),
                        message_id: "soon@test".into(),
                        title: "Journal club".to_owned(),
                        starts_at: starts,
                        ends_at: starts + 3600,
                        time_zone: "Europe/London".to_owned(),
                        place: Some("Library".to_owned()),
                        capacity: Some(10),
                        ..EventDetails::default()
                    },
                    source: "web",
                    tickets: Vec::new(),
                    interests: Vec::new(),
                },
                NOW,
            )
            .unwrap();
        writer.commit().unwrap();
        let registration = Registration {
            event,
            user: jane,
            ticket: None,
            via: "web",
        };
        register(&mut store, &config, registration, NOW).unwrap();
        assert_eq!(store.outbox_counts().unwrap().queued, 1, "the confirmation");
        // 30 hours ahead: not yet; 23 hours ahead: once.
        assert_eq!(send_reminders(&mut store, &config, NOW).unwrap(), 0);
        assert_eq!(
            send_reminders(&mut store, &config, starts - 23 * 3600).unwrap(),
            1
        );
        assert_eq!(
            send_reminders(&mut store, &config, starts - 22 * 3600).unwrap(),
            0
        );
        assert_eq!(store.outbox_counts().unwrap().queued, 2);
        let mut due = store.claim_due(starts, 10).unwrap();
        due.sort_by_key(|d| d.outbox.0);
        let reminder = store.outbox_message(due[1].outbox).unwrap().unwrap();
        let text = String::from_utf8_lossy(&reminder);
        assert!(text.contains("Subject: Reminder: Journal club"), "{text}");
        assert!(text.contains("METHOD:REQUEST"), "{text}");
        assert_eq!(due[1].recipient.address, "jane@nhs.test");
    }

    #[test]
    fn times_read_as_people_say_them_in_the_event_zone() {
        // 12 March 2027 09:30 UTC is 09:30 GMT; 20 May 2027 13:00 UTC is 14:00 BST.
        assert_eq!(
            when_span(1_804_843_800, 1_804_869_000, "Europe/London", false),
            "Friday 12 March 2027, 09:30–16:30 (GMT)"
        );
        assert_eq!(
            when_span(1_810_818_000, 1_810_821_600, "Europe/London", false),
            "Thursday 20 May 2027, 14:00–15:00 (BST)"
        );
        assert_eq!(
            when_span(1_804_809_600, 1_804_896_000, "UTC", true),
            "Friday 12 March 2027"
        );
    }
}
