-- Reading mail: what thread lists show of each message, and attachments addressed by content.

ALTER TABLE messages ADD COLUMN preview TEXT NOT NULL DEFAULT '';

-- One row per distinct attachment content: stored once, in the raw message that first carried
-- it (the part number says where), served by its hash.
CREATE TABLE attachments (
    sha256        TEXT PRIMARY KEY,
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL,
    raw_id        INTEGER NOT NULL REFERENCES raw_messages(id),
    part          INTEGER NOT NULL,
    too_large     INTEGER NOT NULL      -- over [attachments] max_size_mb: listed, not served
) WITHOUT ROWID;

CREATE TABLE message_attachments (
    message     INTEGER NOT NULL REFERENCES messages(id),
    position    INTEGER NOT NULL,
    sha256      TEXT NOT NULL REFERENCES attachments(sha256),
    filename    TEXT,
    inline      INTEGER NOT NULL,
    content_id  TEXT,
    PRIMARY KEY (message, position)
) WITHOUT ROWID;
CREATE INDEX message_attachments_sha ON message_attachments(sha256);
