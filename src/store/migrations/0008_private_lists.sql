-- Private lists: who may read them. The roster is kept by address, so a member of the old list
-- is one before they ever sign in; any verified address of an account makes the account a
-- member. Primary data: `reindex` never clears it. Which lists are private is the config's say.
CREATE TABLE list_members (
    list_id  INTEGER NOT NULL REFERENCES lists(id),
    address  TEXT NOT NULL,          -- lowercased
    added    INTEGER NOT NULL,
    PRIMARY KEY (list_id, address)
) WITHOUT ROWID;
CREATE INDEX list_members_address ON list_members(address);

-- Readers' connections filter every query by list (see store/access.rs): these keep it cheap.
CREATE INDEX messages_list ON messages(list_id);
CREATE INDEX threads_list ON threads(list_id);
CREATE INDEX raw_messages_list ON raw_messages(list_id);
