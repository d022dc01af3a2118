-- Erasure and purge: an audit of each account erased and each message purged, and what keeps
-- erased mail from coming back with a later import, fetch or reindex. Primary data: `reindex`
-- never clears these. Nothing here holds what was erased, nor an address in clear.

CREATE TABLE erasures (
    id           INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('account', 'address', 'message')),
    -- Who asked: the member themselves, an admin on the web (actor_user), or the command line.
    actor        TEXT NOT NULL CHECK (actor IN ('member', 'admin', 'cli')),
    -- The admin's member id; no foreign key, since the log outlives accounts.
    actor_user   INTEGER,
    policy       TEXT NOT NULL CHECK (policy IN ('redact', 'remove')),
    -- account, address: SHA-256 (hex) of each erased address, space separated; message: the
    -- purged Message-ID (an identifier the archive keeps anyway: replies reference it).
    target       TEXT NOT NULL,
    messages     INTEGER NOT NULL DEFAULT 0,   -- archived messages redacted or removed
    copies       INTEGER NOT NULL DEFAULT 0,   -- further raw copies of them deleted
    attachments  INTEGER NOT NULL DEFAULT 0,   -- attachment contents no longer held at all
    other_rows   INTEGER NOT NULL DEFAULT 0,   -- account, addresses, sessions, likes, outbox, logs
    reason       TEXT
);
CREATE INDEX erasures_at ON erasures(at);

-- The SHA-256 of every raw message erased: the same bytes fetched or imported again are not
-- stored again.
CREATE TABLE erased_raw (
    sha256  BLOB PRIMARY KEY
) WITHOUT ROWID;

-- The SHA-256 of each erased message's Message-ID, so another copy of it (other transport
-- headers, another archive file) is not archived again. A copy is told from a different message
-- that merely claims the same id by its content hash (messages.content_sha256) or its author
-- (the SHA-256 of the address). `replacement` is the SHA-256 of the redacted message stored in
-- its place (the only raw message allowed to carry that id), NULL when the message was removed.
CREATE TABLE erased_ids (
    id_hash      BLOB PRIMARY KEY,
    content      BLOB NOT NULL,
    author       BLOB,
    replacement  BLOB,
    erasure      INTEGER NOT NULL REFERENCES erasures(id)
) WITHOUT ROWID;
