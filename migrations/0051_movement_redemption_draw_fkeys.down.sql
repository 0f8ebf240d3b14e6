DROP TRIGGER points_lots_no_delete ON points_lots;
DROP TRIGGER products_no_delete ON products;

ALTER TABLE lot_draws
    ADD CONSTRAINT lot_draws_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES points_lots (id),
    ADD CONSTRAINT lot_draws_entry_id_fkey FOREIGN KEY (entry_id) REFERENCES entries (id);
ALTER TABLE redemptions
    ADD CONSTRAINT redemptions_sku_fkey FOREIGN KEY (sku) REFERENCES products (sku),
    ADD CONSTRAINT redemptions_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id),
    ADD CONSTRAINT redemptions_entry_id_fkey FOREIGN KEY (entry_id) REFERENCES entries (id);
ALTER TABLE money_movements
    ADD CONSTRAINT money_movements_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id),
    ADD CONSTRAINT money_movements_entry_id_fkey FOREIGN KEY (entry_id) REFERENCES entries (id);
