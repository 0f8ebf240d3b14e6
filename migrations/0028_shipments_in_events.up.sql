-- A shipment is kept in the row of the event that completed it, not in a
-- row of its own: the event row already holds its customer and its entry,
-- and every shipment has exactly one event (a refused event writes
-- nothing). One row and one index entry fewer per shipment event.
--
-- shipments stays, as a view of those rows, so what reads shipments reads
-- the same columns; refunds and ratings update it through the view (a
-- simple view is updatable). The service inserts a shipment with its
-- event (loyalty.shipmentRows); an insert into the view is refused (the
-- event's own columns are missing).
--
-- So a server of the release before cannot record a shipment on this
-- schema (its insert into shipments is refused, and nothing is written):
-- the README's upgrade note asks to stop those servers before it runs.
ALTER TABLE events
    ADD COLUMN shipment_id     text,
    ADD COLUMN amount          numeric CHECK (amount > 0),
    ADD COLUMN refunded        numeric CHECK (refunded >= 0 AND refunded <= amount),
    ADD COLUMN occurred_at     timestamptz,
    ADD COLUMN month           text,
    ADD COLUMN points_volume   bigint,
    ADD COLUMN points_campaign bigint,
    -- Points taken back by refunds, points that could not be and were
    -- dropped (before shortfalls were owed), and points owed.
    ADD COLUMN points_reversed bigint,
    ADD COLUMN points_dropped  bigint,
    ADD COLUMN points_owed     bigint,
    ADD COLUMN rated_at        timestamptz,
    ADD COLUMN rule_version    integer,
    ADD CONSTRAINT events_shipment_whole CHECK (shipment_id IS NULL OR (type = 'shipment.completed'
        AND amount IS NOT NULL AND refunded IS NOT NULL AND occurred_at IS NOT NULL AND month IS NOT NULL
        AND points_volume IS NOT NULL AND points_campaign IS NOT NULL AND points_reversed IS NOT NULL
        AND points_dropped IS NOT NULL AND points_owed IS NOT NULL AND rule_version IS NOT NULL));

-- Every shipment moves into its event's row; a shipment without one stops
-- the migration (the service never wrote one).
UPDATE events e SET shipment_id = s.shipment_id, amount = s.amount, refunded = s.refunded,
    occurred_at = s.occurred_at, month = s.month, points_volume = s.points_volume,
    points_campaign = s.points_campaign, points_reversed = s.points_reversed,
    points_dropped = s.points_dropped, points_owed = s.points_owed, rated_at = s.rated_at,
    rule_version = s.rule_version
FROM shipments s
WHERE e.type = 'shipment.completed' AND e.result ->> 'shipment_id' = s.shipment_id;

DO $$
DECLARE
    lost text;
BEGIN
    SELECT s.shipment_id INTO lost FROM shipments s
    WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.shipment_id = s.shipment_id) LIMIT 1;
    IF lost IS NOT NULL THEN
        RAISE EXCEPTION 'shipment % has no shipment.completed event to move into', lost;
    END IF;
    -- The view reads the event's customer and entry: a shipment naming
    -- others (the service writes both from one value) would lose its own.
    SELECT s.shipment_id INTO lost FROM shipments s JOIN events e ON e.shipment_id = s.shipment_id
    WHERE e.customer_id <> s.customer_id OR e.entry_id IS DISTINCT FROM s.entry_id LIMIT 1;
    IF lost IS NOT NULL THEN
        RAISE EXCEPTION 'shipment % names another customer or entry than its shipment.completed event', lost;
    END IF;
END $$;

-- A shipment by id: unique, over every row (events of other types hold
-- NULL), so that referral_bonuses and points_owed keep their foreign keys.
ALTER TABLE events ADD CONSTRAINT events_shipment_id_key UNIQUE (shipment_id);
COMMENT ON INDEX events_shipment_id_key IS
    'a shipment by id (the run''s completed shipments, a refund''s or a rating''s shipment, foreign keys of referral_bonuses and points_owed)';

ALTER TABLE referral_bonuses DROP CONSTRAINT referral_bonuses_shipment_id_fkey,
    ADD CONSTRAINT referral_bonuses_shipment_id_fkey FOREIGN KEY (shipment_id) REFERENCES events (shipment_id);
ALTER TABLE points_owed DROP CONSTRAINT points_owed_shipment_id_fkey,
    ADD CONSTRAINT points_owed_shipment_id_fkey FOREIGN KEY (shipment_id) REFERENCES events (shipment_id);

DROP TABLE shipments;

CREATE VIEW shipments AS
SELECT shipment_id, customer_id, amount, refunded, occurred_at, month, points_volume, points_campaign,
    points_reversed, points_dropped, rated_at, entry_id, rule_version, points_owed
FROM events WHERE shipment_id IS NOT NULL;
