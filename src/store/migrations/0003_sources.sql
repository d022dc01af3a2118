-- The live bridge: where each IMAP source has got to, and how it is doing.

-- Advanced in the same transaction as the messages it covers, so a crash at any point neither
-- loses nor duplicates a message.
CREATE TABLE imap_cursors (
    source       TEXT PRIMARY KEY,
    mailbox      TEXT NOT NULL,
    uidvalidity  INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL
);

CREATE TABLE source_status (
    source          TEXT PRIMARY KEY,
    state           TEXT NOT NULL,     -- connecting, syncing, idle, polling, failing
    since           INTEGER NOT NULL,  -- when it entered that state (unix seconds)
    last_sync       INTEGER,           -- last time the mailbox was fully read
    last_error      TEXT,
    last_error_at   INTEGER,
    permanent       INTEGER NOT NULL DEFAULT 0  -- the last error needs an admin (auth, mailbox)
);

-- When each raw message was stored: for "messages today" and the delivery lag.
ALTER TABLE raw_messages ADD COLUMN stored_at INTEGER;
