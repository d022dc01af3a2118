-- A cheap archive version: one counter, raised by triggers in the same transaction as every
-- change a reader of the archive could see (mail stored, removed, moved or retagged; hidden,
-- shown again, fixed, erased). Caches keyed by it (search pages) never read a stale entry and
-- never count the messages to find out. Primary: it only ever grows, so a reindex cannot bring
-- an old key back.
CREATE TABLE archive_version (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    n   INTEGER NOT NULL
);
INSERT INTO archive_version(id, n) VALUES (1, 1);

CREATE TRIGGER archive_version_messages_insert AFTER INSERT ON messages
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_messages_update AFTER UPDATE ON messages
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_messages_delete AFTER DELETE ON messages
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_threads_update AFTER UPDATE ON threads
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_tags_insert AFTER INSERT ON message_tags
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_tags_delete AFTER DELETE ON message_tags
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_manual_insert AFTER INSERT ON manual_tags
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_manual_update AFTER UPDATE ON manual_tags
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_manual_delete AFTER DELETE ON manual_tags
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_hidden_insert AFTER INSERT ON hidden_messages
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_hidden_update AFTER UPDATE ON hidden_messages
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_hidden_delete AFTER DELETE ON hidden_messages
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_fixes_insert AFTER INSERT ON thread_fixes
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_fixes_delete AFTER DELETE ON thread_fixes
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_erasures_insert AFTER INSERT ON erasures
BEGIN UPDATE archive_version SET n = n + 1; END;
