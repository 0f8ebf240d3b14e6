-- Closed periods. A month (Asia/Shanghai) is closed by finance once
-- reconciliation passes; a close covers the month and everything before it,
-- so the closed periods are always one prefix of time, ending at the latest
-- close's ends_at, and no entry may be effective before that instant.
CREATE TABLE period_closes (
    month     text PRIMARY KEY CHECK (month ~ '^[0-9]{4}-[0-9]{2}$'),
    starts_at timestamptz NOT NULL,
    ends_at   timestamptz NOT NULL UNIQUE CHECK (ends_at > starts_at),
    closed_at timestamptz NOT NULL,
    closed_by text NOT NULL,
    -- SHA-256 of the canonical rendering of the month's figures.
    digest    bytea NOT NULL
);

-- Every close and reopening, with who, when, why and the digest then: the
-- history stays when a month is reopened (its period_closes row goes).
CREATE TABLE period_history (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    month  text NOT NULL,
    action text NOT NULL CHECK (action IN ('close', 'reopen')),
    actor  text NOT NULL,
    reason text NOT NULL DEFAULT '',
    at     timestamptz NOT NULL,
    digest bytea NOT NULL
);
CREATE INDEX period_history_month ON period_history (month, id);
CREATE TRIGGER period_history_append_only BEFORE UPDATE OR DELETE ON period_history
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- An entry effective before the end of the latest closed month is refused.
-- One check per statement (PostMany inserts many entries in one); a close
-- takes a lock on entries that waits for every writer in flight, so an
-- entry is either in the closed figures or checked against the close.
CREATE FUNCTION refuse_closed_period() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    through timestamptz;
    bad     record;
BEGIN
    SELECT max(ends_at) INTO through FROM period_closes;
    IF through IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT n.id, n.effective_at INTO bad FROM new_entries n WHERE n.effective_at < through LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'entry % is effective in a closed period', bad.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'period_closed',
                  DETAIL = to_char(through AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER entries_period_open AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_closed_period();

-- The tamper-evident chain. Each entry records the transaction that wrote
-- it; a sealer links committed entries in (xid, id) order, below the
-- horizon of transactions in flight, so that no entry can later appear
-- before one already linked. Entries written before this migration all
-- committed long ago: xid 0, linked in id order.
ALTER TABLE entries ADD COLUMN xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE entries ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX entries_xid ON entries (xid, id);

-- link = SHA-256(previous link || the entry's canonical content); the
-- first link's previous link is 32 zero bytes.
CREATE TABLE chain_links (
    seq      bigint PRIMARY KEY CHECK (seq > 0),
    entry_id bigint NOT NULL UNIQUE,
    xid      xid8 NOT NULL,
    link     bytea NOT NULL,
    block    bigint NOT NULL
);
-- A block is what one sealing pass linked.
CREATE TABLE chain_blocks (
    id        bigint PRIMARY KEY,
    first_seq bigint NOT NULL,
    last_seq  bigint NOT NULL,
    head      bytea NOT NULL,
    sealed_at timestamptz NOT NULL
);
CREATE TRIGGER chain_links_append_only BEFORE UPDATE OR DELETE ON chain_links
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER chain_blocks_append_only BEFORE UPDATE OR DELETE ON chain_blocks
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- TRUNCATE skips row triggers: refuse it too, as on entries and postings.
CREATE TRIGGER period_history_no_truncate BEFORE TRUNCATE ON period_history
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER chain_links_no_truncate BEFORE TRUNCATE ON chain_links
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER chain_blocks_no_truncate BEFORE TRUNCATE ON chain_blocks
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
