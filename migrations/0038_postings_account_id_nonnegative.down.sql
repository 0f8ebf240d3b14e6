DROP INDEX CONCURRENTLY IF EXISTS postings_account_id_nonnegative;
