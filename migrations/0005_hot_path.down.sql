DROP TRIGGER api_keys_no_delete ON api_keys;
DROP TRIGGER customers_no_delete ON customers;
DROP TRIGGER accounts_no_delete ON accounts;
DROP FUNCTION forbid_delete();

ALTER TABLE customer_months ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE events ADD FOREIGN KEY (key_id) REFERENCES api_keys (id), ADD FOREIGN KEY (entry_id) REFERENCES entries (id);
ALTER TABLE shipments ADD FOREIGN KEY (customer_id) REFERENCES customers (id), ADD FOREIGN KEY (entry_id) REFERENCES entries (id);
ALTER TABLE points_lots ADD FOREIGN KEY (account_id) REFERENCES accounts (id), ADD FOREIGN KEY (entry_id) REFERENCES entries (id);
ALTER TABLE postings ADD FOREIGN KEY (entry_id) REFERENCES entries (id), ADD FOREIGN KEY (account_id, asset) REFERENCES accounts (id, asset);
