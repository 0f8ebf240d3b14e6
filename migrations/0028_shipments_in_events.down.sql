-- Shipments in a table of their own again, as 0027 kept them.
DROP VIEW shipments;

CREATE TABLE shipments (
    shipment_id     text PRIMARY KEY,
    customer_id     text NOT NULL,
    amount          numeric NOT NULL CHECK (amount > 0),
    refunded        numeric NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    occurred_at     timestamptz NOT NULL,
    month           text NOT NULL,
    points_volume   bigint NOT NULL,
    points_campaign bigint NOT NULL,
    points_reversed bigint NOT NULL DEFAULT 0,
    points_dropped  bigint NOT NULL DEFAULT 0,
    rated_at        timestamptz,
    entry_id        bigint,
    rule_version    integer NOT NULL,
    points_owed     bigint NOT NULL DEFAULT 0
);
COMMENT ON INDEX shipments_pkey IS
    'primary key: a shipment by id (the run''s completed shipments, a refund''s or a rating''s shipment, foreign keys of referral_bonuses and points_owed)';

INSERT INTO shipments (shipment_id, customer_id, amount, refunded, occurred_at, month, points_volume, points_campaign,
    points_reversed, points_dropped, rated_at, entry_id, rule_version, points_owed)
SELECT shipment_id, customer_id, amount, refunded, occurred_at, month, points_volume, points_campaign,
    points_reversed, points_dropped, rated_at, entry_id, rule_version, points_owed
FROM events WHERE shipment_id IS NOT NULL;

ALTER TABLE referral_bonuses DROP CONSTRAINT referral_bonuses_shipment_id_fkey,
    ADD CONSTRAINT referral_bonuses_shipment_id_fkey FOREIGN KEY (shipment_id) REFERENCES shipments (shipment_id);
ALTER TABLE points_owed DROP CONSTRAINT points_owed_shipment_id_fkey,
    ADD CONSTRAINT points_owed_shipment_id_fkey FOREIGN KEY (shipment_id) REFERENCES shipments (shipment_id);

ALTER TABLE events DROP CONSTRAINT events_shipment_id_key,
    DROP CONSTRAINT events_shipment_whole,
    DROP COLUMN shipment_id, DROP COLUMN amount, DROP COLUMN refunded, DROP COLUMN occurred_at, DROP COLUMN month,
    DROP COLUMN points_volume, DROP COLUMN points_campaign, DROP COLUMN points_reversed, DROP COLUMN points_dropped,
    DROP COLUMN points_owed, DROP COLUMN rated_at, DROP COLUMN rule_version;
