-- Fails when two spaces hold the same id: they cannot share one space again.
DROP INDEX money_movements_id;
ALTER TABLE money_movements DROP CONSTRAINT money_movements_pkey, ADD PRIMARY KEY (kind, id);
ALTER TABLE money_movements DROP COLUMN space;
DROP INDEX redemptions_id;
ALTER TABLE redemptions DROP CONSTRAINT redemptions_pkey, ADD PRIMARY KEY (id);
ALTER TABLE redemptions DROP COLUMN space;
ALTER TABLE events DROP CONSTRAINT events_pkey, ADD PRIMARY KEY (key_id, event_id);
ALTER TABLE events DROP COLUMN space;
DROP INDEX api_keys_partner;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_partner_role;
ALTER TABLE api_keys DROP COLUMN partner_id;
DROP TABLE partners;
