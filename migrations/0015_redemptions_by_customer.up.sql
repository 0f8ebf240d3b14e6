-- A customer's redemptions, newest first by entry, paged by entry id
-- (catalog.CustomerRedemptions: the portal's and the API's list).
CREATE INDEX redemptions_customer_entry ON redemptions (customer_id, entry_id DESC);
