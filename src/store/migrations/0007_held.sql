-- Posts held for a moderator before anything is published or sent: a web post (its draft) or
-- a mail (its raw bytes, stored exactly as received). Approving publishes it as it would have
-- been; rejecting tells the author why. Decisions are kept with who made them.
CREATE TABLE held_posts (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('web', 'mail')),
    list_id      INTEGER NOT NULL REFERENCES lists(id),
    user_id      INTEGER REFERENCES users(id),
    sender       TEXT,
    subject      TEXT NOT NULL DEFAULT '',
    -- web: the draft's text; mail: the decoded text, for the moderator to read.
    body         TEXT NOT NULL DEFAULT '',
    -- web: the Message-ID replied to, if any.
    parent       TEXT,
    author_name  TEXT,
    -- mail: the raw message, as received (held mail is rare: kept uncompressed).
    raw          BLOB,
    origin       TEXT,
    reason       TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'approved', 'rejected')),
    created      INTEGER NOT NULL,
    decided_by   INTEGER REFERENCES users(id),
    decided_at   INTEGER,
    note         TEXT,
    -- The hash of the key in the Reply-To of the moderators' mail about it: a moderator's
    -- reply ("approve", "reject: why") decides it.
    mod_key_hash BLOB
);
CREATE INDEX held_posts_state ON held_posts(state, created);
CREATE UNIQUE INDEX held_posts_mod_key ON held_posts(mod_key_hash) WHERE mod_key_hash IS NOT NULL;
