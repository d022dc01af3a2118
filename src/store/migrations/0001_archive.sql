-- The archive core: raw store first, everything else derived from it (rebuildable by reindex).

CREATE TABLE lists (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE
);

-- The original bytes of every message, compressed (zstd), exactly as received. Never derived.
CREATE TABLE raw_messages (
    id          INTEGER PRIMARY KEY,
    sha256      BLOB NOT NULL UNIQUE,
    size        INTEGER NOT NULL,
    envelope    TEXT,              -- the mbox "From " line, without "From ", when there was one
    list_id     INTEGER NOT NULL REFERENCES lists(id),
    origin      TEXT NOT NULL,     -- where it came from: file and message number, or IMAP source
    import_run  INTEGER NOT NULL,  -- which import or fetch stored it (tells duplicates within a run)
    data        BLOB NOT NULL
);

-- Derived: one row per distinct message.
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    raw_id          INTEGER NOT NULL UNIQUE REFERENCES raw_messages(id),
    message_id      TEXT NOT NULL UNIQUE,   -- normalised (no brackets); derived when missing or taken
    original_id     TEXT,                   -- the Message-ID as written, when it differs from message_id
    thread_id       INTEGER NOT NULL REFERENCES threads(id),
    list_id         INTEGER NOT NULL REFERENCES lists(id),
    date            INTEGER,                -- unix seconds, NULL when the mail gives none
    from_name       TEXT,
    from_addr       TEXT,
    subject         TEXT,
    norm_subject    TEXT NOT NULL,          -- for the subject fallback
    is_reply        INTEGER NOT NULL,       -- the subject says it is a reply ("Re:", "AW:", ...)
    in_reply_to     TEXT,
    refs            TEXT NOT NULL,          -- References ids, space separated, header order
    fallback_parent TEXT,                   -- parent from Thread-Index or subject, when refs give none
    thread_index    TEXT,                   -- Outlook Thread-Index, hex
    content_sha256  BLOB NOT NULL,          -- tells a re-delivery (same id, same content) from a clash
    problems        TEXT                    -- what was wrong with the mail, for admins
);
CREATE INDEX messages_thread ON messages(thread_id, date);
CREATE INDEX messages_subject ON messages(norm_subject, date);
CREATE INDEX messages_thread_index ON messages(thread_index) WHERE thread_index IS NOT NULL;
CREATE INDEX messages_date ON messages(date);

-- Derived: further copies of a message (same Message-ID and body, other transport headers),
-- kept raw for export, not shown twice.
CREATE TABLE message_copies (
    raw_id      INTEGER PRIMARY KEY REFERENCES raw_messages(id),
    message     INTEGER NOT NULL REFERENCES messages(id)
);
CREATE INDEX message_copies_message ON message_copies(message);

-- Derived: raw messages nothing could be made of, with the reason.
CREATE TABLE unparseable (
    raw_id  INTEGER PRIMARY KEY REFERENCES raw_messages(id),
    reason  TEXT NOT NULL
);

CREATE TABLE threads (
    id             INTEGER PRIMARY KEY,
    list_id        INTEGER NOT NULL REFERENCES lists(id),
    subject        TEXT,
    first_date     INTEGER,
    last_date      INTEGER,
    message_count  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX threads_last ON threads(last_date);

-- Derived: every Message-ID seen, real or only referenced ("ghost": message IS NULL), and the
-- thread it belongs to. Threads are the connected components of these ids.
CREATE TABLE thread_ids (
    msgid      TEXT PRIMARY KEY,
    thread_id  INTEGER NOT NULL,
    message    INTEGER
) WITHOUT ROWID;
CREATE INDEX thread_ids_thread ON thread_ids(thread_id);

-- Derived: full-text index over subject, author and body text; rowid = messages.id. Contentless
-- (the text lives in the raw store), so the index adds little beside the compressed mail.
CREATE VIRTUAL TABLE search USING fts5(
    subject, author, body,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TABLE import_runs (
    id          INTEGER PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    what        TEXT NOT NULL
);
