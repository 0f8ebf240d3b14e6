-- Prepaid money movements: deposits (with their rebate), charges drawn from
-- prepaid, withdrawals (with their clawback). Each is one entry; this table
-- keeps the request (for idempotency) and what was decided, with the rule
-- version that priced it, so that finance can trace every rebate.
CREATE TABLE money_movements (
    kind              text NOT NULL CHECK (kind IN ('deposit', 'charge', 'withdrawal')),
    id                text NOT NULL CHECK (id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    customer_id       text NOT NULL REFERENCES customers (id),
    amount            numeric NOT NULL CHECK (amount > 0),
    occurred_at       timestamptz NOT NULL,
    shipment_id       text,
    -- deposit: the rate applied and the rebate granted (rate recorded even
    -- when the rebate rounds to zero); charge: what was drawn from each;
    -- withdrawal: the rebate clawed back.
    rate              numeric,
    rebate            numeric,
    from_principal    numeric,
    from_rebate       numeric,
    clawback          numeric,
    rule_version      integer NOT NULL,
    request_hash      bytea NOT NULL,
    entry_id          bigint REFERENCES entries (id),
    reversal_entry_id bigint REFERENCES entries (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id)
);
CREATE INDEX money_movements_customer ON money_movements (customer_id);
CREATE INDEX money_movements_entry ON money_movements (entry_id);

-- Finance reads postings by time.
CREATE INDEX postings_effective ON postings (effective_at);
