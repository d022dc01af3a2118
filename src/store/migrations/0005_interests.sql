-- Interests, delivery preferences, notifications and likes.

-- Interests: seeded from the config, managed by admins on the web. Keywords and patterns are
-- JSON arrays of strings.
CREATE TABLE interests (
    id           INTEGER PRIMARY KEY,
    slug         TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    description  TEXT,
    keywords     TEXT NOT NULL DEFAULT '[]',
    patterns     TEXT NOT NULL DEFAULT '[]',
    created      INTEGER NOT NULL
);

-- Derived (rebuilt by reindex and retag): the interests each message's text matches.
CREATE TABLE message_tags (
    message   INTEGER NOT NULL,
    interest  INTEGER NOT NULL,
    PRIMARY KEY (message, interest)
) WITHOUT ROWID;
CREATE INDEX message_tags_interest ON message_tags(interest, message);

-- Primary: a moderator's hand-set tag on a thread, anchored on one of its messages so it
-- survives reindex; it wins over the rules (present = 0 removes a tag the rules give).
CREATE TABLE manual_tags (
    message_id  TEXT NOT NULL,
    interest    INTEGER NOT NULL REFERENCES interests(id),
    present     INTEGER NOT NULL,
    set_by      INTEGER,
    set_at      INTEGER NOT NULL,
    PRIMARY KEY (message_id, interest)
) WITHOUT ROWID;
CREATE INDEX manual_tags_interest ON manual_tags(interest);

-- A member's choice per interest, and per thread (anchored on the thread's first message id).
CREATE TABLE interest_prefs (
    user_id   INTEGER NOT NULL REFERENCES users(id),
    interest  INTEGER NOT NULL REFERENCES interests(id),
    mode      TEXT NOT NULL CHECK (mode IN ('watch', 'digest', 'mute')),
    PRIMARY KEY (user_id, interest)
) WITHOUT ROWID;
CREATE TABLE thread_prefs (
    user_id     INTEGER NOT NULL REFERENCES users(id),
    message_id  TEXT NOT NULL,
    mode        TEXT NOT NULL CHECK (mode IN ('watch', 'mute')),
    PRIMARY KEY (user_id, message_id)
) WITHOUT ROWID;

-- How mail reaches a member. 'all': every post by mail (members migrated from the old list,
-- until they choose); 'chosen': only what they watch, the rest in their digest; 'none':
-- unsubscribed from mail about posts.
ALTER TABLE users ADD COLUMN delivery TEXT NOT NULL DEFAULT 'chosen' CHECK (delivery IN ('all', 'chosen', 'none'));
ALTER TABLE users ADD COLUMN digest TEXT NOT NULL DEFAULT 'daily' CHECK (digest IN ('off', 'daily', 'weekly'));
ALTER TABLE users ADD COLUMN digest_hour INTEGER NOT NULL DEFAULT 7;
ALTER TABLE users ADD COLUMN digest_weekday INTEGER NOT NULL DEFAULT 1;   -- 1 = Monday
ALTER TABLE users ADD COLUMN last_digest INTEGER;
ALTER TABLE users ADD COLUMN daily_cap INTEGER NOT NULL DEFAULT 50;
ALTER TABLE users ADD COLUMN hear_of_likes INTEGER NOT NULL DEFAULT 0;
UPDATE users SET delivery = 'all';

CREATE TABLE likes (
    user_id     INTEGER NOT NULL REFERENCES users(id),
    message_id  TEXT NOT NULL,
    created     INTEGER NOT NULL,
    PRIMARY KEY (user_id, message_id)
) WITHOUT ROWID;
CREATE INDEX likes_message ON likes(message_id);

-- What each member was mailed about a message, so digests skip it and the daily cap counts.
CREATE TABLE notifications (
    user_id     INTEGER NOT NULL,
    message_id  TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('post', 'digest', 'like')),
    sent_at     INTEGER NOT NULL,
    PRIMARY KEY (user_id, message_id, kind)
) WITHOUT ROWID;
CREATE INDEX notifications_day ON notifications(user_id, sent_at);

-- Host mode and notifications: each recipient's own List-Unsubscribe link.
ALTER TABLE outbox_recipients ADD COLUMN unsubscribe TEXT;

-- Secrets of this installation (the key that signs preference links), made on first use.
CREATE TABLE site_secrets (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
);
