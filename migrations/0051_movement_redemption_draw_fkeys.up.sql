-- The rows a money movement and a redemption write lose the foreign keys
-- their hot path checked, as the partner events' tables did in 0005. Each
-- check is a query run for every row inserted, and it locks the row it
-- finds (FOR KEY SHARE): the entry just inserted by the same transaction,
-- which rewrites that entry's tuple header and logs it once more. pg_stat_
-- statements over make bench's scenario 4 put the movements' insert at 47
-- µs a row, the redemptions' at 65.
--
-- What they guaranteed still holds, by other means:
--   * the rows they reference are never deleted: entries, customers are
--     append-only or undeletable already; products and points lots are
--     made undeletable here (the service never deletes either);
--   * the rows that reference them are written by the statements that
--     write what they reference, in the same transaction (a movement's and
--     a redemption's entry, a draw's entry and lot), or after checking it
--     under a lock (the customer, the product);
--   * reconciliation checks every reference (references_intact for the
--     draws, movement_rows_intact, redemption_rows_intact), so a broken
--     one would be reported, not silent.
-- The references written only when a movement is reversed or a redemption
-- cancelled (reversal_entry_id, cancel_entry_id) keep their keys: those
-- paths are rare, and the keys cost nothing on the hot path.
ALTER TABLE money_movements
    DROP CONSTRAINT money_movements_entry_id_fkey,
    DROP CONSTRAINT money_movements_customer_id_fkey;
ALTER TABLE redemptions
    DROP CONSTRAINT redemptions_entry_id_fkey,
    DROP CONSTRAINT redemptions_customer_id_fkey,
    DROP CONSTRAINT redemptions_sku_fkey;
ALTER TABLE lot_draws
    DROP CONSTRAINT lot_draws_entry_id_fkey,
    DROP CONSTRAINT lot_draws_lot_id_fkey;

CREATE TRIGGER products_no_delete BEFORE DELETE OR TRUNCATE ON products
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_delete();
CREATE TRIGGER points_lots_no_delete BEFORE DELETE OR TRUNCATE ON points_lots
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_delete();
