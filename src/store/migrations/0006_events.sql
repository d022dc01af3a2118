-- Events: announcements with registration, a capacity and a waiting list.

-- Primary: an event, tied to the thread that announced it through its first message's
-- Message-ID (so it survives reindex). `uid` is the iCalendar UID calendars match on: the
-- invitation's own when the event came by mail, one of ours when it was created on the web.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    uid             TEXT NOT NULL UNIQUE,
    sequence        INTEGER NOT NULL DEFAULT 0,
    message_id      TEXT NOT NULL,
    list_id         INTEGER NOT NULL REFERENCES lists(id),
    title           TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    starts_at       INTEGER NOT NULL,
    ends_at         INTEGER NOT NULL,
    time_zone       TEXT NOT NULL,
    all_day         INTEGER NOT NULL DEFAULT 0,
    place           TEXT,
    online_url      TEXT,
    -- NULL: no limit.
    capacity        INTEGER CHECK (capacity IS NULL OR capacity >= 0),
    -- NULL: registration open until the event starts.
    deadline        INTEGER,
    -- The organiser's own payment page, linked out (payment stays with them).
    payment_url     TEXT,
    organiser       INTEGER REFERENCES users(id),
    organiser_email TEXT,
    cancelled       INTEGER NOT NULL DEFAULT 0,
    source          TEXT NOT NULL CHECK (source IN ('web', 'mail')),
    created         INTEGER NOT NULL,
    updated         INTEGER NOT NULL
);
CREATE INDEX events_starts ON events(starts_at);
CREATE INDEX events_message ON events(message_id);

-- Ticket types with the price shown (e.g. "Member", "£40").
CREATE TABLE event_tickets (
    id        INTEGER PRIMARY KEY,
    event_id  INTEGER NOT NULL REFERENCES events(id),
    name      TEXT NOT NULL,
    price     TEXT NOT NULL DEFAULT '',
    position  INTEGER NOT NULL
);
CREATE INDEX event_tickets_event ON event_tickets(event_id, position);

-- The interests an event was filed under by its organiser (a mailed invitation's come from
-- its thread's tags).
CREATE TABLE event_interests (
    event_id  INTEGER NOT NULL REFERENCES events(id),
    interest  INTEGER NOT NULL REFERENCES interests(id),
    PRIMARY KEY (event_id, interest)
) WITHOUT ROWID;

-- One row per member and event. The waiting list is ordered by `queued` then id; `revision`
-- counts the calendar updates sent to this member, so each one's SEQUENCE is higher than the
-- last and calendars replace rather than duplicate.
CREATE TABLE registrations (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER NOT NULL REFERENCES events(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    ticket      INTEGER REFERENCES event_tickets(id),
    state       TEXT NOT NULL CHECK (state IN ('confirmed', 'waiting', 'cancelled')),
    queued      INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    via         TEXT NOT NULL CHECK (via IN ('web', 'mail')),
    revision    INTEGER NOT NULL DEFAULT 0,
    reminded    INTEGER,
    UNIQUE (event_id, user_id)
);
CREATE INDEX registrations_state ON registrations(event_id, state, queued);
