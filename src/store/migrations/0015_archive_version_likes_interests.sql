-- The archive version also counts what a thread page shows beyond the mail itself: members'
-- likes, and the interests' names. With these a page cached for readers who are not signed in
-- is keyed by the thread and this one counter, rather than by a handful of queries run on
-- every request to find out whether anything it shows has changed.
CREATE TRIGGER archive_version_likes_insert AFTER INSERT ON likes
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_likes_delete AFTER DELETE ON likes
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_interests_insert AFTER INSERT ON interests
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_interests_update AFTER UPDATE ON interests
BEGIN UPDATE archive_version SET n = n + 1; END;
CREATE TRIGGER archive_version_interests_delete AFTER DELETE ON interests
BEGIN UPDATE archive_version SET n = n + 1; END;
