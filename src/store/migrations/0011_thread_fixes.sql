-- Moderators' fixes and decisions on published mail. The fixes, flags, hidden messages and the
-- log are primary data (reindex keeps them), keyed by Message-ID, since thread numbers may
-- change on reindex. Only new tables: nothing here alters another migration's.

-- Threading fixes, applied in order of id whenever threads are derived: a split at a message
-- (it and its replies become a thread), a move (it and its replies join the thread holding
-- `target`: as a reply to it, or as a tree of their own), a merge (the thread holding
-- `message_id` joins the thread holding `target`). A message has at most one split or move;
-- a new one replaces the old.
CREATE TABLE thread_fixes (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('split', 'move', 'merge')),
    message_id  TEXT NOT NULL,
    target      TEXT,
    as_reply    INTEGER NOT NULL DEFAULT 0,
    created_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    CHECK ((kind = 'split') = (target IS NULL))
);
CREATE UNIQUE INDEX thread_fixes_cut ON thread_fixes(message_id) WHERE kind IN ('split', 'move');

-- Derived (emptied by reindex): the thread a split or moved message's part was given, so that
-- its number holds from one ingest to the next and its old address can be followed.
CREATE TABLE thread_fix_threads (
    message_id  TEXT PRIMARY KEY,
    thread_id   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX thread_fix_threads_thread ON thread_fix_threads(thread_id);

-- Members' flags on published messages: one per member and message, whatever became of it.
CREATE TABLE flags (
    id          INTEGER PRIMARY KEY,
    message_id  TEXT NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    reason      TEXT NOT NULL CHECK (reason IN ('patient', 'abusive', 'spam', 'other')),
    note        TEXT,
    created     INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'upheld', 'dismissed')),
    decided_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    decided_at  INTEGER,
    UNIQUE (message_id, user_id)
);
CREATE INDEX flags_state ON flags(state, created);

-- Messages kept out of pages, search, feeds and the API: hidden by a moderator, or by members'
-- flags until a moderator looks. Their raw mail stays in the raw store (and in `export mbox`);
-- deriving leaves them out. `content_sha256` tells the hidden message from a different one
-- claiming its Message-ID.
CREATE TABLE hidden_messages (
    message_id      TEXT PRIMARY KEY,
    raw_id          INTEGER NOT NULL REFERENCES raw_messages(id) ON DELETE CASCADE,
    content_sha256  BLOB NOT NULL,
    why             TEXT NOT NULL CHECK (why IN ('moderator', 'flags')),
    hidden_by       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    hidden_at       INTEGER NOT NULL,
    note            TEXT
) WITHOUT ROWID;

-- Who did what, when: moderators' fixes, hiding and flag decisions (and hiding by flags, with
-- no moderator).
CREATE TABLE moderation_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    moderator   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    action      TEXT NOT NULL,
    message_id  TEXT,
    target      TEXT,
    detail      TEXT
);
CREATE INDEX moderation_log_at ON moderation_log(at);
