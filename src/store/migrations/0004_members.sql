-- Members and two-way posting: accounts, sessions, the outbox, posts written through the
-- bridge, host-mode reply keys, and what inbound mail was refused. Unlike the archive's derived
-- tables these are primary data: `reindex` never clears them.

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    display_name   TEXT NOT NULL,
    organisation   TEXT,
    job_title      TEXT,              -- e.g. "Practice Manager"
    bio            TEXT,
    avatar         BLOB,              -- PNG, resized on upload; NULL: initials are drawn
    role           TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'moderator', 'admin')),
    password_hash  TEXT,              -- argon2id PHC string, only when the member chose one
    created        INTEGER NOT NULL
);

-- A member's addresses. Verified ones link every archived message sent from them to the member.
CREATE TABLE user_emails (
    address      TEXT PRIMARY KEY,    -- lowercased
    user_id      INTEGER NOT NULL REFERENCES users(id),
    verified_at  INTEGER,
    is_primary   INTEGER NOT NULL DEFAULT 0   -- where mail to the member goes
);
CREATE INDEX user_emails_user ON user_emails(user_id);
CREATE INDEX messages_from_addr ON messages(from_addr COLLATE NOCASE);

-- Only hashes of secrets are kept: a copy of the database signs nobody in.
CREATE TABLE sessions (
    token_hash  BLOB PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    csrf        TEXT NOT NULL,
    created     INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    expires     INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE sign_in_links (
    token_hash    BLOB PRIMARY KEY,
    address       TEXT NOT NULL,
    display_name  TEXT,               -- given at sign-up, for a new account
    created       INTEGER NOT NULL,
    expires       INTEGER NOT NULL,
    used_at       INTEGER
);

-- The durable outbox: the exact bytes first, then one row per recipient that the worker sends,
-- retries and finishes. A message is sent to a recipient at most once per row.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('post', 'copy', 'notice')),
    message_id  TEXT NOT NULL,
    list_id     INTEGER REFERENCES lists(id),
    size        INTEGER NOT NULL,
    data        BLOB NOT NULL,        -- zstd of the bytes to send
    created     INTEGER NOT NULL
);
CREATE INDEX outbox_message ON outbox(message_id);

CREATE TABLE outbox_recipients (
    id            INTEGER PRIMARY KEY,
    outbox_id     INTEGER NOT NULL REFERENCES outbox(id),
    address       TEXT NOT NULL,
    reply_to      TEXT,               -- host mode: this recipient's reply+KEY address
    state         TEXT NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'paused')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER NOT NULL,
    last_error    TEXT,
    sent_at       INTEGER
);
CREATE INDEX outbox_due ON outbox_recipients(next_attempt) WHERE state = 'queued';
CREATE INDEX outbox_recipients_outbox ON outbox_recipients(outbox_id);

-- Messages written through the bridge: on the web, or mailed by a member in host mode.
CREATE TABLE posts (
    message_id    TEXT PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    via           TEXT NOT NULL CHECK (via IN ('web', 'mail')),
    outbox_id     INTEGER REFERENCES outbox(id),
    created       INTEGER NOT NULL,
    delivered_at  INTEGER             -- mirror: the list's copy came back; host: every copy sent
);
CREATE INDEX posts_user ON posts(user_id, created);

-- Host mode: the key in each member's reply+KEY address, valid for one member and one thread.
CREATE TABLE reply_keys (
    key_hash    BLOB PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    message_id  TEXT NOT NULL,        -- the post that copy carried
    thread_id   INTEGER NOT NULL,
    expires     INTEGER NOT NULL
);

-- Inbound mail that was not archived (refused, dropped, a bounce), raw, for moderators.
CREATE TABLE inbound_log (
    id          INTEGER PRIMARY KEY,
    received    INTEGER NOT NULL,
    list_id     INTEGER REFERENCES lists(id),
    origin      TEXT NOT NULL,
    sender      TEXT,
    subject     TEXT,
    action      TEXT NOT NULL CHECK (action IN ('refused', 'dropped', 'bounce')),
    reason      TEXT NOT NULL,
    explained   INTEGER NOT NULL DEFAULT 0,
    size        INTEGER NOT NULL,
    sha256      BLOB NOT NULL UNIQUE,  -- the same mail fetched again is logged once
    data        BLOB NOT NULL
);
CREATE INDEX inbound_log_received ON inbound_log(received);

-- One explanation per address, reason and day.
CREATE TABLE explanations (
    address  TEXT NOT NULL,
    reason   TEXT NOT NULL,
    day      INTEGER NOT NULL,
    PRIMARY KEY (address, reason, day)
) WITHOUT ROWID;

CREATE TABLE bounces (
    address    TEXT PRIMARY KEY,
    hard       INTEGER NOT NULL DEFAULT 0,
    soft       INTEGER NOT NULL DEFAULT 0,
    last_at    INTEGER NOT NULL,
    paused_at  INTEGER
);
