-- The dispatcher sends a page of the feed straight away, outside any
-- transaction, and records it with the cursor's move afterwards: the feed
-- is leased to one process meanwhile (lease, lease_until), as a delivery
-- is, so that no two send the same page, and a process that dies loses
-- its lease when lease_until passes.
ALTER TABLE webhook_feed ADD COLUMN lease bigint, ADD COLUMN lease_until timestamptz;
