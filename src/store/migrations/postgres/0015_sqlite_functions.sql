-- The few SQLite functions the store's queries call, defined on PostgreSQL with SQLite's
-- meaning, so that a query is written once for both engines.

-- Seconds since 1970 now (PostgreSQL's now() is the transaction's start: the same for a
-- statement's rows, as in SQLite).
CREATE FUNCTION unixepoch() RETURNS bigint
    LANGUAGE sql STABLE
    AS $$ SELECT extract(epoch FROM now())::bigint $$;

-- Where `needle` first starts in `haystack`, from 1; 0 when it does not.
CREATE FUNCTION instr(haystack text, needle text) RETURNS bigint
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT strpos(haystack, needle)::bigint $$;
