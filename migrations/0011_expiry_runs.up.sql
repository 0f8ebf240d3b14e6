-- An expiry run is identified, so that an admin can undo it exactly: each
-- run's row, and the entry it posted per customer. An undo reverses those
-- entries (their points return to the lots they came from) and is recorded
-- on the run, with who undid it, why, and the Idempotency-Key of the
-- request, so that a retry of the undo can be told from another request.
CREATE TABLE expiry_runs (
    id             bigserial PRIMARY KEY,
    as_of          timestamptz NOT NULL,
    actor          text NOT NULL,
    started_at     timestamptz NOT NULL,
    customers      integer NOT NULL DEFAULT 0 CHECK (customers >= 0),
    points         bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
    undone_at      timestamptz,
    undo_actor     text,
    undo_reason    text,
    undo_key       text UNIQUE,
    undo_hash      bytea,
    undo_customers integer,
    undo_points    bigint,
    CHECK ((undone_at IS NULL) = (undo_actor IS NULL) AND (undone_at IS NULL) = (undo_reason IS NULL)
       AND (undone_at IS NULL) = (undo_customers IS NULL) AND (undone_at IS NULL) = (undo_points IS NULL)),
    CHECK (undo_key IS NULL OR undone_at IS NOT NULL)
);

CREATE TABLE expiry_run_entries (
    run_id   bigint NOT NULL REFERENCES expiry_runs (id),
    entry_id bigint NOT NULL UNIQUE REFERENCES entries (id),
    PRIMARY KEY (run_id, entry_id)
);
