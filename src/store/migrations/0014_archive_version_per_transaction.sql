-- The archive version's triggers on the tables an import writes for every message (messages
-- added or moved, threads' counts, tags added) go: a trigger makes each such statement open a
-- statement savepoint, and every savepoint makes the full-text index flush what it holds to
-- disk, so an import wrote thousands of tiny index segments and merged them again (a third
-- slower). The code that writes these tables raises the version once per transaction instead
-- (`raise_archive_version`); the rarer changes (hiding, fixes, erasures, hand-set tags, rows
-- deleted) keep their triggers.
DROP TRIGGER archive_version_messages_insert;
DROP TRIGGER archive_version_messages_update;
DROP TRIGGER archive_version_threads_update;
DROP TRIGGER archive_version_tags_insert;
