DROP TABLE chain_blocks;
DROP TABLE chain_links;
DROP INDEX entries_xid;
ALTER TABLE entries DROP COLUMN xid;
DROP TRIGGER entries_period_open ON entries;
DROP FUNCTION refuse_closed_period();
DROP TABLE period_history;
DROP TABLE period_closes;
