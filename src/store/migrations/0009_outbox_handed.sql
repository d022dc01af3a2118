-- A post to a mirrored list whose bytes went to the SMTP server without the server's answer
-- being recorded (the bridge stopped, or the connection failed after the final dot) may have
-- reached the list: it waits for the list's copy instead of going out again at once.
-- handed_at: when its bytes started going to the server, cleared once the outcome is known.
ALTER TABLE outbox_recipients ADD COLUMN handed_at INTEGER;
