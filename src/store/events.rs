//! Events and registrations: an event tied to the thread that announced it, its ticket types
//! and interests, and each member's place (confirmed, waiting, cancelled). Every change to
//! places happens inside a writer's transaction, which SQLite runs one at a time (writers
//! begin IMMEDIATE), so two members taking the last place at once never both get it; the
//! same transaction queues the mails that tell them.

use super::MessageId;
use super::db::{Connection, OptionalExtension, params};

use super::interests::InterestId;
use super::members::UserId;
use super::{ListId, StoreError, ThreadId, Writer};

row_id!(
    /// A row of `events`.
    EventId
);
row_id!(
    /// A row of `event_tickets`.
    TicketId
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: TicketId,
    pub name: String,
    pub price: String,
}

/// What an organiser says of an event, by calendar or on the web: the facts a stored
/// [`Event`] shows and a [`NewEvent`] is made of.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct EventDetails {
    pub uid: String,
    pub sequence: u32,
    pub message_id: MessageId,
    pub title: String,
    pub description: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub time_zone: String,
    #[serde(deserialize_with = "super::int_flag")]
    pub all_day: bool,
    pub place: Option<String>,
    pub online_url: Option<String>,
    pub capacity: Option<u32>,
    pub deadline: Option<i64>,
    pub payment_url: Option<String>,
    pub organiser: Option<UserId>,
    pub organiser_email: Option<String>,
}

/// An event as pages and mails show it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Event {
    pub id: EventId,
    pub list: String,
    /// The announcing thread, once its message is archived.
    pub thread: Option<ThreadId>,
    #[serde(flatten)]
    pub details: EventDetails,
    pub cancelled: bool,
    pub source: String,
    pub confirmed: u32,
    pub waiting: u32,
    /// Read from their own table after the event's row.
    #[serde(skip)]
    pub tickets: Vec<Ticket>,
}

impl Event {
    /// Places still free; `None` without a limit.
    pub fn places_left(&self) -> Option<u32> {
        self.details
            .capacity
            .map(|c| c.saturating_sub(self.confirmed))
    }

    /// Whether registration is open at `now` (not cancelled, before the deadline, or before
    /// the start when there is none).
    pub fn open_at(&self, now: i64) -> bool {
        !self.cancelled && now < self.details.deadline.unwrap_or(self.details.starts_at)
    }
}

/// What a new event is made of.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub list: ListId,
    pub details: EventDetails,
    /// "web" or "mail".
    pub source: &'static str,
    /// (name, price) in order.
    pub tickets: Vec<(String, String)>,
    pub interests: Vec<InterestId>,
}

/// A member's place in an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Confirmed,
    /// On the waiting list, at this position (1 = next).
    Waiting(u32),
    Cancelled,
}

impl Place {
    pub fn as_str(self) -> &'static str {
        match self {
            Place::Confirmed => "confirmed",
            Place::Waiting(_) => "waiting",
            Place::Cancelled => "cancelled",
        }
    }
}

/// What registering did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// A new place (or a cancelled one taken again), with the registration's new revision.
    Now { place: Place, revision: u32 },
    /// Nothing changed: the member already had this place.
    Already(Place),
    /// Registration is closed (past the deadline, started, or cancelled).
    Closed,
}

/// What cancelling did: the member's revision, and who moved up from the waiting list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled {
    pub was: Place,
    pub revision: u32,
    pub promoted: Option<(UserId, u32)>,
}

/// One line of an attendee list.
#[derive(Debug, Clone)]
pub struct Attendee {
    pub user: UserId,
    pub name: String,
    pub address: Option<String>,
    pub organisation: Option<String>,
    pub place: Place,
    pub ticket: Option<String>,
    pub registered: i64,
    pub via: String,
}

/// A confirmed member due a reminder.
#[derive(Debug, Clone)]
pub struct DueReminder {
    pub event: EventId,
    pub user: UserId,
    pub revision: u32,
}

/// The columns of an [`Event`], named after its fields.
const EVENT_COLUMNS: &str = "e.id, e.uid, e.sequence, e.message_id, l.name AS list, \
     m.thread_id AS thread, e.title, e.description, e.starts_at, e.ends_at, e.time_zone, \
     e.all_day, e.place, e.online_url, e.capacity, e.deadline, e.payment_url, e.organiser, \
     e.organiser_email, e.cancelled, e.source, \
     (SELECT count(*) FROM registrations r WHERE r.event_id = e.id AND r.state = 'confirmed') \
       AS confirmed, \
     (SELECT count(*) FROM registrations r WHERE r.event_id = e.id AND r.state = 'waiting') \
       AS waiting";

const EVENT_FROM: &str = "FROM events e JOIN lists l ON l.id = e.list_id \
     LEFT JOIN messages m ON m.message_id = e.message_id";

fn load_event(conn: &Connection, id: EventId) -> Result<Option<Event>, StoreError> {
    let sql = format!("SELECT {EVENT_COLUMNS} {EVENT_FROM} WHERE e.id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let Some(mut event) = super::row_as::<Event>(&mut stmt, [id.0])? else {
        return Ok(None);
    };
    event.tickets = tickets(conn, id)?;
    Ok(Some(event))
}

fn tickets(conn: &Connection, id: EventId) -> Result<Vec<Ticket>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, price FROM event_tickets WHERE event_id = ?1 ORDER BY position",
    )?;
    let rows = stmt.query_map([id.0], |r| {
        Ok(Ticket {
            id: TicketId(r.get(0)?),
            name: r.get(1)?,
            price: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A member's place, with their position when waiting.
fn place_of(conn: &Connection, event: EventId, user: UserId) -> Result<Option<Place>, StoreError> {
    let row: Option<(i64, String, i64)> = conn
        .query_row(
            "SELECT id, state, queued FROM registrations WHERE event_id = ?1 AND user_id = ?2",
            params![event.0, user.0],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((id, state, queued)) = row else {
        return Ok(None);
    };
    Ok(Some(match state.as_str() {
        "confirmed" => Place::Confirmed,
        "waiting" => {
            let ahead: u32 = conn.query_row(
                "SELECT count(*) FROM registrations WHERE event_id = ?1 AND state = 'waiting'
                   AND (queued < ?2 OR (queued = ?2 AND id < ?3))",
                params![event.0, queued, id],
                |r| r.get(0),
            )?;
            Place::Waiting(ahead + 1)
        }
        _ => Place::Cancelled,
    }))
}

impl super::Store {
    pub fn event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        load_event(&self.conn, id)
    }

    /// The event a thread announces, if any.
    pub fn event_of_thread(&self, thread: ThreadId) -> Result<Option<EventId>, StoreError> {
        // Asked on every thread page: prepared once per connection.
        Ok(self
            .conn
            .prepare_cached(
                "SELECT e.id FROM events e JOIN messages m ON m.message_id = e.message_id
                  WHERE m.thread_id = ?1 ORDER BY e.id LIMIT 1",
            )?
            .query_row([thread.0], |r| r.get(0))
            .optional()?
            .map(EventId))
    }

    /// Upcoming events (not yet ended at `now`, soonest first) or past ones (latest first),
    /// optionally only those filed under `interest` (by the organiser or by their thread's
    /// tags).
    pub fn events(
        &self,
        upcoming: bool,
        now: i64,
        interest: Option<InterestId>,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let (when, order) = if upcoming {
            ("e.ends_at >= ?1", "e.starts_at ASC")
        } else {
            ("e.ends_at < ?1", "e.starts_at DESC")
        };
        let filter = if interest.is_some() {
            "AND (e.id IN (SELECT event_id FROM event_interests WHERE interest = ?2)
                  OR m.thread_id IN (SELECT m2.thread_id FROM message_tags t
                                       JOIN messages m2 ON m2.id = t.message
                                      WHERE t.interest = ?2))"
        } else {
            "AND ?2 IS NULL"
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} {EVENT_FROM} WHERE {when} {filter} ORDER BY {order}, e.id LIMIT ?3"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut events: Vec<Event> =
            super::rows_as(&mut stmt, params![now, interest.map(|i| i.0), limit as i64])?;
        for event in &mut events {
            event.tickets = tickets(&self.conn, event.id)?;
        }
        Ok(events)
    }

    /// The interests an event was filed under by its organiser.
    pub fn event_interest_ids(&self, event: EventId) -> Result<Vec<InterestId>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT interest FROM event_interests WHERE event_id = ?1")?;
        let rows = stmt.query_map([event.0], |r| Ok(InterestId(r.get(0)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A member's place in an event.
    pub fn place(&self, event: EventId, user: UserId) -> Result<Option<Place>, StoreError> {
        place_of(&self.conn, event, user)
    }

    /// A member's registrations, for their copy of what is held about them: (event, title,
    /// start, state).
    pub fn member_registrations(
        &self,
        user: UserId,
    ) -> Result<Vec<(EventId, String, i64, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT e.id, e.title, e.starts_at, r.state FROM registrations r
               JOIN events e ON e.id = r.event_id WHERE r.user_id = ?1 ORDER BY e.starts_at",
        )?;
        let rows = stmt.query_map([user.0], |r| {
            Ok((EventId(r.get(0)?), r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Everyone registered (confirmed first, then the waiting list in order, then those who
    /// cancelled), for organisers.
    pub fn attendees(&self, event: EventId) -> Result<Vec<Attendee>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT r.user_id, u.display_name, u.organisation, r.state, t.name, r.queued, r.via,
                    (SELECT address FROM user_emails a WHERE a.user_id = r.user_id
                       AND a.verified_at IS NOT NULL ORDER BY a.is_primary DESC, a.address LIMIT 1)
               FROM registrations r JOIN users u ON u.id = r.user_id
               LEFT JOIN event_tickets t ON t.id = r.ticket
              WHERE r.event_id = ?1
              ORDER BY CASE r.state WHEN 'confirmed' THEN 0 WHEN 'waiting' THEN 1 ELSE 2 END,
                       r.queued, r.id",
        )?;
        let rows = stmt.query_map([event.0], |r| {
            Ok((
                UserId(r.get(0)?),
                r.get::<String>(1)?,
                r.get::<Option<String>>(2)?,
                r.get::<String>(3)?,
                r.get::<Option<String>>(4)?,
                r.get::<i64>(5)?,
                r.get::<String>(6)?,
                r.get::<Option<String>>(7)?,
            ))
        })?;
        let mut waiting = 0;
        let mut out = Vec::new();
        for row in rows {
            let (user, name, organisation, state, ticket, registered, via, address) = row?;
            let place = match state.as_str() {
                "confirmed" => Place::Confirmed,
                "waiting" => {
                    waiting += 1;
                    Place::Waiting(waiting)
                }
                _ => Place::Cancelled,
            };
            out.push(Attendee {
                user,
                name,
                address,
                organisation,
                place,
                ticket,
                registered,
                via,
            });
        }
        Ok(out)
    }
}

impl Writer<'_> {
    pub fn event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        load_event(self.tx(), id)
    }

    /// The Message-ID of an archived message.
    pub fn message_id_of(&self, key: super::MessageKey) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx()
            .query_row(
                "SELECT message_id FROM messages WHERE id = ?1",
                [key.0],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn event_by_uid(&self, uid: &str) -> Result<Option<EventId>, StoreError> {
        Ok(self
            .tx()
            .query_row("SELECT id FROM events WHERE uid = ?1", [uid], |r| r.get(0))
            .optional()?
            .map(EventId))
    }

    pub fn create_event(&self, new: &NewEvent, now: i64) -> Result<EventId, StoreError> {
        let details = &new.details;
        self.tx().execute(
            "INSERT INTO events(uid, sequence, message_id, list_id, title, description, starts_at,
                                ends_at, time_zone, all_day, place, online_url, capacity, deadline,
                                payment_url, organiser, organiser_email, source, created, updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                     ?18, ?19, ?19)",
            params![
                details.uid,
                details.sequence,
                details.message_id,
                new.list.0,
                details.title,
                details.description,
                details.starts_at,
                details.ends_at,
                details.time_zone,
                details.all_day,
                details.place,
                details.online_url,
                details.capacity,
                details.deadline,
                details.payment_url,
                details.organiser.map(|u| u.0),
                details.organiser_email,
                new.source,
                now
            ],
        )?;
        let id = EventId(self.tx().last_insert_rowid());
        for (position, (name, price)) in new.tickets.iter().enumerate() {
            self.tx().execute(
                "INSERT INTO event_tickets(event_id, name, price, position) VALUES (?1, ?2, ?3, ?4)",
                params![id.0, name, price, position as i64],
            )?;
        }
        for interest in &new.interests {
            self.tx().execute(
                "INSERT OR IGNORE INTO event_interests(event_id, interest) VALUES (?1, ?2)",
                params![id.0, interest.0],
            )?;
            // The announcing thread carries them too, as a hand-set tag on its first message,
            // so members who follow those interests hear of it.
            self.tx().execute(
                "INSERT OR REPLACE INTO manual_tags(message_id, interest, present, set_by, set_at)
                 VALUES (?1, ?2, 1, ?3, ?4)",
                params![
                    details.message_id,
                    interest.0,
                    details.organiser.map(|u| u.0),
                    now
                ],
            )?;
        }
        Ok(id)
    }

    /// An organiser's update of an event that came by mail (a new SEQUENCE of the same UID):
    /// its calendar facts change, its places stay. Older or equal sequences are ignored (a
    /// re-delivery). True when it changed.
    pub fn update_event_from_calendar(
        &self,
        id: EventId,
        sequence: u32,
        title: &str,
        description: &str,
        starts_at: i64,
        ends_at: i64,
        time_zone: &str,
        all_day: bool,
        place: Option<&str>,
        online_url: Option<&str>,
        cancelled: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = self.tx().execute(
            "UPDATE events SET sequence = ?2, title = ?3, description = ?4, starts_at = ?5,
                    ends_at = ?6, time_zone = ?7, all_day = ?8, place = ?9, online_url = ?10,
                    cancelled = ?11, updated = ?12
              WHERE id = ?1 AND sequence < ?2",
            params![
                id.0,
                sequence,
                title,
                description,
                starts_at,
                ends_at,
                time_zone,
                all_day,
                place,
                online_url,
                cancelled,
                now
            ],
        )?;
        Ok(changed > 0)
    }

    /// Takes a place for `user`: confirmed while places are left, else on the waiting list.
    /// A member already confirmed or waiting keeps their place (their ticket type may change).
    pub fn register(
        &self,
        event: EventId,
        user: UserId,
        ticket: Option<TicketId>,
        via: &str,
        now: i64,
    ) -> Result<Registered, StoreError> {
        let Some(e) = load_event(self.tx(), event)? else {
            return Ok(Registered::Closed);
        };
        if let Some(place @ (Place::Confirmed | Place::Waiting(_))) =
            place_of(self.tx(), event, user)?
        {
            if ticket.is_some() {
                self.tx().execute(
                    "UPDATE registrations SET ticket = ?3 WHERE event_id = ?1 AND user_id = ?2",
                    params![event.0, user.0, ticket.map(|t| t.0)],
                )?;
            }
            return Ok(Registered::Already(place));
        }
        if !e.open_at(now) {
            return Ok(Registered::Closed);
        }
        // Nobody jumps the queue: while anyone waits, a newcomer waits behind them.
        let full = e.places_left() == Some(0) || e.waiting > 0;
        let state = if full { "waiting" } else { "confirmed" };
        self.tx().execute(
            "INSERT INTO registrations(event_id, user_id, ticket, state, queued, updated, via)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
             ON CONFLICT(event_id, user_id) DO UPDATE SET
                 ticket = excluded.ticket, state = excluded.state, queued = excluded.queued,
                 updated = excluded.updated, via = excluded.via, revision = revision + 1,
                 reminded = NULL",
            params![event.0, user.0, ticket.map(|t| t.0), state, now, via],
        )?;
        let place = place_of(self.tx(), event, user)?.unwrap_or(Place::Cancelled);
        Ok(Registered::Now {
            place,
            revision: self.revision(event, user)?,
        })
    }

    /// Gives up a member's place; the first on the waiting list takes a freed confirmed place.
    /// `None` when they had none.
    pub fn cancel_registration(
        &self,
        event: EventId,
        user: UserId,
        now: i64,
    ) -> Result<Option<Cancelled>, StoreError> {
        let was = match place_of(self.tx(), event, user)? {
            Some(p @ (Place::Confirmed | Place::Waiting(_))) => p,
            _ => return Ok(None),
        };
        self.tx().execute(
            "UPDATE registrations SET state = 'cancelled', updated = ?3, revision = revision + 1
              WHERE event_id = ?1 AND user_id = ?2",
            params![event.0, user.0, now],
        )?;
        let revision = self.revision(event, user)?;
        let promoted = if was == Place::Confirmed {
            self.promote(event, now)?
        } else {
            None
        };
        Ok(Some(Cancelled {
            was,
            revision,
            promoted,
        }))
    }

    /// The organiser changes the places, the deadline or the payment page. More places go to
    /// the waiting list in order: the members who moved up, with their revisions. Fewer places
    /// than are taken leave the confirmed members their places (nobody loses one), and newcomers
    /// wait.
    pub fn set_event_limits(
        &self,
        event: EventId,
        capacity: Option<u32>,
        deadline: Option<i64>,
        payment_url: Option<&str>,
        now: i64,
    ) -> Result<Vec<(UserId, u32)>, StoreError> {
        self.tx().execute(
            "UPDATE events SET capacity = ?2, deadline = ?3, payment_url = ?4, updated = ?5
              WHERE id = ?1",
            params![event.0, capacity, deadline, payment_url, now],
        )?;
        let mut promoted = Vec::new();
        while let Some(next) = self.promote(event, now)? {
            promoted.push(next);
        }
        Ok(promoted)
    }

    /// Moves the first waiting member up when a place is free.
    fn promote(&self, event: EventId, now: i64) -> Result<Option<(UserId, u32)>, StoreError> {
        let Some(e) = load_event(self.tx(), event)? else {
            return Ok(None);
        };
        if e.places_left() == Some(0) || e.cancelled {
            return Ok(None);
        }
        let next: Option<i64> = self
            .tx()
            .query_row(
                "SELECT user_id FROM registrations WHERE event_id = ?1 AND state = 'waiting'
                  ORDER BY queued, id LIMIT 1",
                [event.0],
                |r| r.get(0),
            )
            .optional()?;
        let Some(user) = next.map(UserId) else {
            return Ok(None);
        };
        self.tx().execute(
            "UPDATE registrations SET state = 'confirmed', updated = ?3, revision = revision + 1
              WHERE event_id = ?1 AND user_id = ?2",
            params![event.0, user.0, now],
        )?;
        Ok(Some((user, self.revision(event, user)?)))
    }

    fn revision(&self, event: EventId, user: UserId) -> Result<u32, StoreError> {
        Ok(self.tx().query_row(
            "SELECT revision FROM registrations WHERE event_id = ?1 AND user_id = ?2",
            params![event.0, user.0],
            |r| r.get(0),
        )?)
    }

    /// Confirmed places in events starting within `ahead` seconds of `now` whose members have
    /// not been reminded yet.
    pub fn due_reminders(&self, now: i64, ahead: i64) -> Result<Vec<DueReminder>, StoreError> {
        let mut stmt = self.tx().prepare(
            "SELECT r.event_id, r.user_id, r.revision FROM registrations r
               JOIN events e ON e.id = r.event_id
              WHERE r.state = 'confirmed' AND r.reminded IS NULL AND e.cancelled = 0
                AND e.starts_at > ?1 AND e.starts_at <= ?1 + ?2
              ORDER BY e.starts_at, r.id",
        )?;
        let rows = stmt.query_map(params![now, ahead], |r| {
            Ok(DueReminder {
                event: EventId(r.get(0)?),
                user: UserId(r.get(1)?),
                revision: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn mark_reminded(&self, event: EventId, user: UserId, now: i64) -> Result<(), StoreError> {
        self.tx().execute(
            "UPDATE registrations SET reminded = ?3 WHERE event_id = ?1 AND user_id = ?2",
            params![event.0, user.0, now],
        )?;
        Ok(())
    }

    /// The members with a place (confirmed or waiting) in an event, for telling them of a
    /// change or a cancellation.
    pub fn registered_members(
        &self,
        event: EventId,
    ) -> Result<Vec<(UserId, Place, u32)>, StoreError> {
        let mut stmt = self.tx().prepare(
            "SELECT user_id, state, revision FROM registrations
              WHERE event_id = ?1 AND state != 'cancelled' ORDER BY id",
        )?;
        let rows = stmt.query_map([event.0], |r| {
            Ok((UserId(r.get(0)?), r.get::<String>(1)?, r.get::<u32>(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (user, state, revision) = row?;
            let place = if state == "confirmed" {
                Place::Confirmed
            } else {
                Place::Waiting(0)
            };
            out.push((user, place, revision));
        }
        Ok(out)
    }

    /// Where mail to a member goes: their primary verified address.
    pub fn mail_address(&self, user: UserId) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx()
            .query_row(
                "SELECT address FROM user_emails WHERE user_id = ?1 AND verified_at IS NOT NULL
                  ORDER BY is_primary DESC, address LIMIT 1",
                [user.0],
                |r| r.get(0),
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeriveSettings, Role, Store};

    const NOW: i64 = 1_800_000_000;

    fn event(store: &mut Store, capacity: Option<u32>, deadline: Option<i64>) -> EventId {
        let list = store.list_id("snug").unwrap();
        in_test_run(store, NOW, |writer| {
            writer.create_event(
                &NewEvent {
                    list,
                    details: EventDetails {
                        uid: format!("uid-{capacity:?}-{deadline:?}@test"),
                        message_id: "announce@test".into(),
                        title: "Study day".to_owned(),
                        starts_at: NOW + 86_400 * 30,
                        ends_at: NOW + 86_400 * 30 + 3600,
                        time_zone: "Europe/London".to_owned(),
                        place: Some("Leeds".to_owned()),
                        capacity,
                        deadline,
                        ..EventDetails::default()
                    },
                    source: "web",
                    tickets: vec![("Member".to_owned(), "£40".to_owned())],
                    interests: Vec::new(),
                },
                NOW,
            )
        })
    }

    /// `work` in a run of its own, committed.
    fn in_test_run<T>(
        store: &mut Store,
        at: i64,
        work: impl FnOnce(&Writer<'_>) -> Result<T, StoreError>,
    ) -> T {
        store.in_run("test", at, work).unwrap()
    }

    /// A new store holding one event with `capacity` places and `n` members (the store's
    /// folder is kept alive by the first of the four).
    fn event_with_members(
        capacity: Option<u32>,
        n: usize,
    ) -> (tempfile::TempDir, Store, EventId, Vec<UserId>) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("e.db"), DeriveSettings::default()).unwrap();
        let e = event(&mut store, capacity, None);
        let m = members(&mut store, n);
        (dir, store, e, m)
    }

    fn members(store: &mut Store, n: usize) -> Vec<UserId> {
        (0..n)
            .map(|i| {
                store
                    .create_user(&format!("M{i}"), &format!("m{i}@test"), Role::Member, NOW)
                    .unwrap()
                    .0
            })
            .collect()
    }

    fn register(store: &mut Store, e: EventId, u: UserId, at: i64) -> Registered {
        in_test_run(store, at, |writer| writer.register(e, u, None, "web", at))
    }

    /// The place a registration newly took; `None` when it took none.
    fn new_place(registered: Registered) -> Option<Place> {
        match registered {
            Registered::Now { place, .. } => Some(place),
            _ => None,
        }
    }

    fn cancel(store: &mut Store, e: EventId, u: UserId) -> Option<Cancelled> {
        in_test_run(store, NOW, |writer| {
            writer.cancel_registration(e, u, NOW + 5)
        })
    }

    #[test]
    fn places_fill_then_the_waiting_list_moves_up_in_order() {
        let (_dir, mut store, e, m) = event_with_members(Some(2), 4);
        let placed: Vec<Registered> = m.iter().map(|u| register(&mut store, e, *u, NOW)).collect();
        assert_eq!(
            placed[0],
            Registered::Now {
                place: Place::Confirmed,
                revision: 0
            }
        );
        assert_eq!(
            placed[1..]
                .iter()
                .map(|r| new_place(*r))
                .collect::<Vec<_>>(),
            [
                Some(Place::Confirmed),
                Some(Place::Waiting(1)),
                Some(Place::Waiting(2))
            ]
        );
        assert_eq!(
            register(&mut store, e, m[0], NOW),
            Registered::Already(Place::Confirmed)
        );
        let shown = store.event(e).unwrap().unwrap();
        assert_eq!(
            (shown.confirmed, shown.waiting, shown.places_left()),
            (2, 2, Some(0))
        );

        // The second confirmed member cancels: the first waiting one moves up, told by revision.
        let c = cancel(&mut store, e, m[1]).unwrap();
        assert_eq!(c.was, Place::Confirmed);
        assert_eq!(c.promoted.map(|(u, _)| u), Some(m[2]));
        assert_eq!(store.place(e, m[2]).unwrap(), Some(Place::Confirmed));
        assert_eq!(store.place(e, m[3]).unwrap(), Some(Place::Waiting(1)));
        assert_eq!(store.place(e, m[1]).unwrap(), Some(Place::Cancelled));
        // Cancelling twice does nothing; leaving the waiting list promotes nobody.
        assert_eq!(cancel(&mut store, e, m[1]), None);
        let c = cancel(&mut store, e, m[3]).unwrap();
        assert_eq!((c.was, c.promoted), (Place::Waiting(1), None));
        // Coming back after cancelling: a new place at the back, with a higher revision.
        match register(&mut store, e, m[1], NOW + 10) {
            Registered::Now {
                place: Place::Waiting(1),
                revision,
            } => assert!(revision >= 2),
            other => panic!("{other:?}"),
        }
        let list = store.attendees(e).unwrap();
        let order: Vec<(UserId, Place)> = list.iter().map(|a| (a.user, a.place)).collect();
        assert_eq!(
            order,
            vec![
                (m[0], Place::Confirmed),
                (m[2], Place::Confirmed),
                (m[1], Place::Waiting(1)),
                (m[3], Place::Cancelled),
            ]
        );
        assert_eq!(list[0].address.as_deref(), Some("m0@test"));
    }

    #[test]
    fn more_places_go_to_the_waiting_list_in_order_and_fewer_take_none_away() {
        let (_dir, mut store, e, m) = event_with_members(Some(1), 4);
        for u in &m {
            register(&mut store, e, *u, NOW);
        }
        let promoted = in_test_run(&mut store, NOW, |writer| {
            writer.set_event_limits(e, Some(3), None, Some("https://pay.example"), NOW)
        });
        assert_eq!(
            promoted.iter().map(|(u, _)| *u).collect::<Vec<_>>(),
            vec![m[1], m[2]]
        );
        assert_eq!(store.place(e, m[3]).unwrap(), Some(Place::Waiting(1)));
        let promoted = in_test_run(&mut store, NOW, |writer| {
            writer.set_event_limits(e, Some(1), None, None, NOW)
        });
        assert!(promoted.is_empty());
        let shown = store.event(e).unwrap().unwrap();
        assert_eq!(
            (shown.confirmed, shown.waiting, shown.places_left()),
            (3, 1, Some(0))
        );
        assert_eq!(shown.details.payment_url, None);
    }

    #[test]
    fn registration_closes_at_the_deadline_and_an_unlimited_event_never_fills() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("e.db"), DeriveSettings::default()).unwrap();
        let closing = event(&mut store, Some(10), Some(NOW + 100));
        let open = event(&mut store, None, None);
        let m = members(&mut store, 30);
        assert_eq!(
            new_place(register(&mut store, closing, m[0], NOW + 99)),
            Some(Place::Confirmed)
        );
        assert_eq!(
            register(&mut store, closing, m[1], NOW + 100),
            Registered::Closed
        );
        for u in &m {
            assert_eq!(
                new_place(register(&mut store, open, *u, NOW)),
                Some(Place::Confirmed)
            );
        }
        let shown = store.event(open).unwrap().unwrap();
        assert_eq!(
            (shown.confirmed, shown.waiting, shown.places_left()),
            (30, 0, None)
        );
    }

    #[test]
    fn concurrent_registrations_never_oversell_the_last_places() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let mut store = Store::open(&path, DeriveSettings::default()).unwrap();
        let e = event(&mut store, Some(25), None);
        let m = members(&mut store, 60);
        drop(store);
        let handles: Vec<_> = m
            .into_iter()
            .map(|u| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut store = Store::open(&path, DeriveSettings::default()).unwrap();
                    register(&mut store, e, u, NOW)
                })
            })
            .collect();
        let outcomes: Vec<Registered> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let places: Vec<Place> = outcomes.into_iter().filter_map(new_place).collect();
        let confirmed = places.iter().filter(|p| **p == Place::Confirmed).count();
        let mut positions: Vec<u32> = places
            .iter()
            .filter_map(|p| match p {
                Place::Waiting(n) => Some(*n),
                _ => None,
            })
            .collect();
        positions.sort_unstable();
        assert_eq!(confirmed, 25);
        assert_eq!(positions, (1..=35).collect::<Vec<u32>>());
        let store = Store::open(&path, DeriveSettings::default()).unwrap();
        let shown = store.event(e).unwrap().unwrap();
        assert_eq!((shown.confirmed, shown.waiting), (25, 35));
    }
}
