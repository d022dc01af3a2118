-- What the bridge's own mail quotes: a digest's or a notice's bytes carry words of archived
-- messages or of a held post, under the notice's own Message-ID. Erasing or purging a message,
-- or a held post's author, deletes the mail that quotes it, sent or not. Primary, as the outbox.
CREATE TABLE outbox_quotes (
    outbox_id   INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    message_id  TEXT,
    held_id     INTEGER,
    CHECK ((message_id IS NULL) <> (held_id IS NULL))
);
CREATE INDEX outbox_quotes_message ON outbox_quotes(message_id) WHERE message_id IS NOT NULL;
CREATE INDEX outbox_quotes_held ON outbox_quotes(held_id) WHERE held_id IS NOT NULL;
CREATE INDEX outbox_quotes_outbox ON outbox_quotes(outbox_id);

-- Mirror mode: a list mail whose whole new text is "+1" (or "like", a thumbs-up) from a member
-- is a like of the post it answers. Its raw mail stays in the raw store (exported with the
-- list's archive); deriving leaves it out, as a hidden message, and the like is in `likes`.
-- `content_sha256` tells it from a different message claiming its Message-ID.
CREATE TABLE mail_likes (
    message_id      TEXT PRIMARY KEY,
    raw_id          INTEGER NOT NULL REFERENCES raw_messages(id) ON DELETE CASCADE,
    content_sha256  BLOB NOT NULL,
    parent          TEXT NOT NULL,
    user_id         INTEGER REFERENCES users(id) ON DELETE SET NULL,
    at              INTEGER NOT NULL
) WITHOUT ROWID;
