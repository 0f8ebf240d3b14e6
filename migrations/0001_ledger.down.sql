DROP TABLE api_keys;
DROP TABLE balance_buckets;
DROP TABLE postings;
DROP TABLE entries;
DROP TABLE accounts;
DROP TABLE assets;
DROP FUNCTION check_postings_balance();
DROP FUNCTION forbid_change();
