-- Points a refund could not take back (the customer, or the referrer whose
-- bonus it cancels, held too few) are owed: one row per refund and customer
-- that it left a shortfall. The refund's entry debits the customer's
-- points_owed account by owed; settlements, oldest refund first, move
-- points from the customer's points to it until settled = owed.
CREATE TABLE points_owed (
    refund_entry_id bigint NOT NULL REFERENCES entries (id),
    customer_id     text NOT NULL REFERENCES customers (id),
    shipment_id     text NOT NULL REFERENCES shipments (shipment_id),
    due             bigint NOT NULL CHECK (due > 0),   -- what the refund was to take back
    owed            bigint NOT NULL CHECK (owed > 0 AND owed <= due), -- what it could not
    settled         bigint NOT NULL DEFAULT 0 CHECK (settled >= 0 AND settled <= owed),
    PRIMARY KEY (refund_entry_id, customer_id)
);
CREATE INDEX points_owed_open ON points_owed (customer_id, refund_entry_id) WHERE settled < owed;

-- Which refunds each settlement entry settled, and by how much.
CREATE TABLE points_settlements (
    settlement_entry_id bigint NOT NULL REFERENCES entries (id),
    refund_entry_id     bigint NOT NULL,
    customer_id         text NOT NULL,
    points              bigint NOT NULL CHECK (points > 0),
    PRIMARY KEY (settlement_entry_id, refund_entry_id),
    FOREIGN KEY (refund_entry_id, customer_id) REFERENCES points_owed (refund_entry_id, customer_id)
);
CREATE INDEX points_settlements_refund ON points_settlements (refund_entry_id, customer_id);

-- A shipment's points owed by its refunds (points_dropped keeps what
-- refunds let go before shortfalls were owed).
ALTER TABLE shipments ADD COLUMN points_owed bigint NOT NULL DEFAULT 0;
