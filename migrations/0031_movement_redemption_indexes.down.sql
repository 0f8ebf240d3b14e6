COMMENT ON INDEX money_movements_customer IS NULL;
COMMENT ON INDEX redemptions_customer_sku IS NULL;
COMMENT ON INDEX redemptions_customer_entry IS NULL;

CREATE UNIQUE INDEX money_movements_space_kind_id ON money_movements (space, kind, id);
ALTER TABLE money_movements DROP CONSTRAINT money_movements_pkey,
    ADD CONSTRAINT money_movements_pkey PRIMARY KEY USING INDEX money_movements_space_kind_id;
CREATE INDEX money_movements_id ON money_movements (kind, id);
CREATE INDEX money_movements_entry ON money_movements (entry_id);

CREATE UNIQUE INDEX redemptions_space_id ON redemptions (space, id);
ALTER TABLE redemptions DROP CONSTRAINT redemptions_pkey,
    ADD CONSTRAINT redemptions_pkey PRIMARY KEY USING INDEX redemptions_space_id;
CREATE INDEX redemptions_id ON redemptions (id);
