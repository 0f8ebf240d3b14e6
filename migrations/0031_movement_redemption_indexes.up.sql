-- The indexes of the rows a money movement and a redemption write, as
-- 0024 did for a shipment event's: each one left names the query it
-- serves; those no query needs go, so that each row enters fewer indexes.
--   * money_movements_id (kind, id) served the look-ups of a movement by
--     its id in any space (an admin's reversal, a reversal's replay) and
--     the rebate check's deposits in id order. The primary key held the
--     same columns after the space; led by (kind, id) instead, it serves
--     those and the look-ups within a space alike (an equality on every
--     column finds the row whatever their order; ON CONFLICT (space, kind,
--     id) infers it the same way).
--   * money_movements_entry: no query looks a movement up by its entry,
--     and entries are never deleted or rekeyed, so the foreign key never
--     searches it.
--   * redemptions_id (id), the same for redemptions: the primary key led
--     by the id serves the look-ups in any space (an admin's cancellation,
--     a cancellation's replay) and within one (ON CONFLICT (space, id)).
-- A deposit or a charge so enters two indexes instead of four, a
-- redemption three instead of four.
CREATE UNIQUE INDEX money_movements_kind_id_space ON money_movements (kind, id, space);
ALTER TABLE money_movements DROP CONSTRAINT money_movements_pkey,
    ADD CONSTRAINT money_movements_pkey PRIMARY KEY USING INDEX money_movements_kind_id_space;
DROP INDEX money_movements_id;
DROP INDEX money_movements_entry;

CREATE UNIQUE INDEX redemptions_id_space ON redemptions (id, space);
ALTER TABLE redemptions DROP CONSTRAINT redemptions_pkey,
    ADD CONSTRAINT redemptions_pkey PRIMARY KEY USING INDEX redemptions_id_space;
DROP INDEX redemptions_id;

COMMENT ON INDEX money_movements_pkey IS
    'primary key: a movement by kind and id, in its space (moveTx''s stored request of a retry, moneyMovement, a group''s check of the ids taken, reverseMoney''s lock) or in any (reverseMoney, ReverseMoneyWithKey''s replay); RebateCheck''s deposits in id order';
COMMENT ON INDEX money_movements_customer IS
    'prepaid.History: a customer''s movements, the latest first';

COMMENT ON INDEX redemptions_pkey IS
    'primary key: a redemption by id, in its space (the stored request of a retry, a group''s check of the ids taken, Redeem''s ON CONFLICT (space, id)) or in any (qRedemption: Redemption, CancelRedemption, CancelRedemptionWithKey''s replay)';
COMMENT ON INDEX redemptions_customer_sku IS
    'catalog''s limits: the units of a product a customer redeemed and did not cancel (qRedeemedBy, qRedeemedByMany)';
COMMENT ON INDEX redemptions_customer_entry IS
    'catalog.CustomerRedemptions: a customer''s redemptions, newest first by entry, paged by entry id';
