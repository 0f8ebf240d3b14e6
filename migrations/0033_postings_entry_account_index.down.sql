DROP INDEX CONCURRENTLY IF EXISTS postings_entry_account;
